#!/usr/bin/env bash
# Colocated vs disaggregated goodput on a DistServe-like workload (long prompts, short answers), in one invocation:
#   colocated:      2 replicas, each `loom serve --kv-role both`, behind `loom router` (cache_aware, --model)
#   disaggregated:  1 `--kv-role prefill` + 1 `--kv-role decode` replica behind `loom router --pd-disaggregation`
# Every replica gets --threads $THREADS, so both configurations run the same kernel threads on the same cores.
# Each configuration: start everything on 127.0.0.1, wait for /health, run `loom bench serve --goodput`, read the
# replicas' /metrics (KV pulled, prefix hits), stop everything. Then prints one table. Every process runs under
# `timeout`; the trap stops whatever is left. Usage (all optional, as environment variables):
#   MODEL=models/demo NUM_PROMPTS=48 RATE=4 INPUT_LEN=736 OUTPUT_LEN=24 RANGE=0.3 TTFT_SLO=1000 TPOT_SLO=60 \
#   THREADS=1 SEED=0 ROUNDS=1 OUT=/tmp/pd-goodput tools/pd-goodput.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${MODEL:-$root/models/demo}"
num_prompts="${NUM_PROMPTS:-48}" rate="${RATE:-4}" input_len="${INPUT_LEN:-736}" output_len="${OUTPUT_LEN:-24}"
range="${RANGE:-0.3}" ttft_slo="${TTFT_SLO:-1000}" tpot_slo="${TPOT_SLO:-60}" threads="${THREADS:-1}" seed="${SEED:-0}"
out="${OUT:-/tmp/pd-goodput}" base="${PORT_BASE:-18400}" rounds="${ROUNDS:-1}"
mkdir -p "$out"
"$root/loom" --help >/dev/null # builds the Release CLI if the sources changed
dll="$root/artifacts/cli/loom.dll"
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap stop_all EXIT
start() { local log="$1"; shift; timeout 1800 dotnet "$dll" "$@" >"$out/$log.log" 2>&1 & pids+=($!); }
wait_healthy() {
  for port in "$@"; do
    for _ in $(seq 1 300); do curl -sf "127.0.0.1:$port/health" >/dev/null && continue 2; sleep 1; done
    echo "127.0.0.1:$port never became healthy (logs in $out)" >&2; exit 1
  done
}
gauge() { curl -s "127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {s += $2} END {printf "%.0f\n", s}'; }
replica() { start "$1" serve --model "$model" --threads "$threads" --port "$2" --kv-port "$3" --kv-role "$4"; }

run_bench() { # label
  dotnet "$dll" bench serve --base-url "http://127.0.0.1:$base" --label "$1" --model "$model" --dataset-name random \
    --random-input-len "$input_len" --random-output-len "$output_len" --random-range-ratio "$range" --ignore-eos \
    --num-prompts "$num_prompts" --request-rate "$rate" --seed "$seed" --num-warmups 2 --disable-tqdm \
    --goodput "ttft:$ttft_slo" "tpot:$tpot_slo" --save-result --plot false --result-dir "$out" --result-filename "$1.json" \
    >"$out/$1.bench.log" 2>&1
}

colocated() { # run label
  echo "$1: 2 x --kv-role both behind loom router" >&2
  replica "$1-a" $((base + 1)) $((base + 11)) both
  replica "$1-b" $((base + 2)) $((base + 12)) both
  wait_healthy $((base + 1)) $((base + 2))
  start "$1-router" router --port "$base" --replica "http://127.0.0.1:$((base + 1))" --replica "http://127.0.0.1:$((base + 2))" --model "$model"
  wait_healthy "$base"
  run_bench "$1"
  echo "0 0" >"$out/$1.kv"
  stop_all
}

disaggregated() { # run label
  echo "$1: 1 prefill + 1 decode behind loom router --pd-disaggregation" >&2
  replica "$1-prefill" $((base + 1)) $((base + 11)) prefill
  replica "$1-decode" $((base + 2)) $((base + 12)) decode
  wait_healthy $((base + 1)) $((base + 2))
  start "$1-router" router --port "$base" --pd-disaggregation --prefill "http://127.0.0.1:$((base + 1))" \
    --decode "http://127.0.0.1:$((base + 2))" --model "$model"
  wait_healthy "$base"
  run_bench "$1"
  echo "$(gauge $((base + 2)) loom_kv_pulled_bytes_total) $(gauge $((base + 2)) loom_kv_pulls_total)" >"$out/$1.kv"
  curl -s "127.0.0.1:$base/metrics" | grep '^loom_router_pd_routing_decisions_total' >"$out/$1.decisions" || true
  stop_all
}

# Alternating rounds, so a change in the machine's load between runs shows up as spread instead of as a difference.
labels=()
for round in $(seq 1 "$rounds"); do
  colocated "colocated-$round"; disaggregated "disaggregated-$round"
  labels+=("colocated-$round" "disaggregated-$round")
done

python3 - "$out" "$ttft_slo" "$tpot_slo" "${labels[@]}" <<'PY'
import json, sys
out, ttft, tpot, labels = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
print(f"SLOs: TTFT <= {ttft} ms, TPOT <= {tpot} ms")
print("| configuration | completed | goodput (req/s) | throughput (req/s) | TTFT p50 / p90 / p99 (ms) | TPOT p50 / p90 / p99 (ms) | KV pulled per request |")
print("|---|---|---|---|---|---|---|")
for label in labels:
    r = json.load(open(f"{out}/{label}.json"))
    pulled, pulls = (int(x) for x in open(f"{out}/{label}.kv").read().split())
    # The pulls include bench serve's warmups and readiness probe; the measured requests' share follows from input_lens.
    kv = "none (no transfer)" if pulls == 0 else f"{pulled / pulls / 1024:.0f} KiB ({pulls} pulls, {pulled / 2**20:.1f} MiB)"
    pct = lambda m: " / ".join(f"{r[f'{p}_{m}_ms']:.0f}" for p in ("median", "p90", "p99"))
    print(f"| {label} | {r['completed']}/{r['completed'] + r['failed']} | {r['request_goodput']:.2f} | {r['request_throughput']:.2f} | {pct('ttft')} | {pct('tpot')} | {kv} |")
PY
