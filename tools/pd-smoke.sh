#!/usr/bin/env bash
# P/D proof across processes: a prefill and a decode `loom serve` on 127.0.0.1 (demo model), KV over gRPC.
# Checks greedy token equality with the prefill server's own answer, the lease released on pull and on timeout
# (/metrics back to idle), and a decoder that cannot reach its prefiller under both failure policies.
# Bounded (every process under `timeout`) and self-stopping. Usage: tools/pd-smoke.sh [path/to/loom.dll]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dll="${1:-$root/src/Loom.Cli/bin/Debug/net10.0/loom.dll}"
model="$root/models/demo"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
serve() { timeout 300 dotnet "$dll" serve --model "$model" "$@" >/dev/null 2>&1 & pids+=($!); }
serve --port 18301 --kv-role prefill --kv-port 18311 --kv-lease-timeout 3
serve --port 18302 --kv-role decode
serve --port 18303 --kv-role decode --kv-load-failure-policy fail
for port in 18301 18302 18303; do
  for _ in $(seq 1 120); do curl -sf "localhost:$port/health" >/dev/null && break; sleep 1; done
done
post() { curl -s -o /tmp/pd-smoke.out -w '%{http_code}' "localhost:$1/v1/completions" -H 'content-type: application/json' -d "$2"; }
field() { python3 -c "import sys,json; d=json.load(open('/tmp/pd-smoke.out')); print(json.dumps($1))"; }
body='{"prompt":"The capital of France is a city that many people visit because","max_tokens":12,"temperature":0,"return_token_ids":true,"ignore_eos":true'
held() { curl -s localhost:18301/metrics | awk '/^loom_kv_held_requests/ {print $2}'; }
fail=0
check() { if [[ "$2" == "$3" ]]; then echo "ok   $1"; else echo "FAIL $1: '$2' != '$3'"; fail=1; fi; }

post 18301 "$body}" >/dev/null; single=$(field 'd["choices"][0]["token_ids"]')
post 18301 "$body,\"kv_transfer_params\":{\"do_remote_decode\":true}}" >/dev/null; kv=$(field 'd["kv_transfer_params"]')
check "prefill holds the KV" "$(held)" 1
post 18302 "$body,\"kv_transfer_params\":$kv}" >/dev/null
check "decode equals one server" "$(field 'd["choices"][0]["token_ids"]')" "$single"
check "pull released the lease" "$(held)" 0
post 18301 "$body,\"kv_transfer_params\":{\"do_remote_decode\":true}}" >/dev/null; sleep 4
check "unpulled lease expired" "$(held)" 0
check "KV usage back to idle" "$(curl -s localhost:18301/metrics | awk '/^loom_kv_cache_usage_perc/ {print $2}')" 0
gone='{"do_remote_prefill":true,"remote_engine_id":"x","remote_request_id":"r","remote_block_ids":[0],"remote_host":"127.0.0.1","remote_port":1}'
post 18302 "$body,\"kv_transfer_params\":$gone}" >/dev/null
check "unreachable prefiller, recompute" "$(field 'd["choices"][0]["token_ids"]')" "$single"
check "unreachable prefiller, fail" "$(post 18303 "$body,\"kv_transfer_params\":$gone}")" 500
exit $fail
