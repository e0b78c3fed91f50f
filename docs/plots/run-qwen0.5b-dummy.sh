#!/usr/bin/env bash
# Serving benchmarks of the dummy Qwen2.5-0.5B-shaped model (random bf16 weights of the real shapes), measured side
# by side: for each comparison two `loom serve` processes run at once and `loom bench serve` interleaves their runs
# (rate 1 on A, rate 1 on B, rate 2 on A, ...), so drift in the machine's load touches both alike.
# Usage: docs/plots/run-qwen0.5b-dummy.sh [chunked|prefix|all]   (MODEL=dir OUT=dir to override)
set -euo pipefail
cd "$(dirname "$0")/../.."
model="${MODEL:-tests/fixtures/dummy-configs/qwen2.5-0.5b}"
out="${OUT:-docs/plots}"
common=(--model "$model" --dummy-weights --kv-cache-memory 256MiB)
pids=()

start_server() { # port, extra serve flags...
  local port=$1; shift
  ./loom serve --port "$port" "${common[@]}" "$@" >"/tmp/loom-serve-$port.log" 2>&1 &
  pids+=($!)
}

stop_servers() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap stop_servers EXIT

./loom --help >/dev/null # build once before the servers start

if [[ "${1:-all}" == chunked || "${1:-all}" == all ]]; then
  start_server 8311 --no-enable-prefix-caching --max-num-batched-tokens 64
  start_server 8312 --no-enable-prefix-caching --no-enable-chunked-prefill --max-num-batched-tokens 512
  ./loom bench serve --base-url http://127.0.0.1:8311 --base-url http://127.0.0.1:8312 --label chunked-on --label chunked-off \
    --model "$model" --dataset-name random --random-input-len 256 --random-output-len 16 --num-prompts 6 \
    --request-rate "${CHUNKED_RATES:-0.1,0.3}" --ignore-eos --goodput ttft:10000 tpot:1000 --disable-tqdm \
    --metadata "server_flags=--dummy-weights --kv-cache-memory 256MiB --no-enable-prefix-caching; on: --max-num-batched-tokens 64; off: --no-enable-chunked-prefill --max-num-batched-tokens 512" \
    --save-result --result-dir "$out/qwen0.5b-chunked-prefill"
  stop_servers
fi

if [[ "${1:-all}" == prefix || "${1:-all}" == all ]]; then
  start_server 8321
  start_server 8322 --no-enable-prefix-caching
  ./loom bench serve --base-url http://127.0.0.1:8321 --base-url http://127.0.0.1:8322 --label prefix-on --label prefix-off \
    --model "$model" --dataset-name random --random-prefix-len 256 --random-input-len 16 --random-output-len 8 --num-prompts 6 \
    --request-rate "${PREFIX_RATES:-0.2,inf}" --ignore-eos --goodput ttft:10000 tpot:1000 --disable-tqdm \
    --metadata "server_flags=--dummy-weights --kv-cache-memory 256MiB (block 16, max-num-batched-tokens 512, chunked prefill on); off: --no-enable-prefix-caching" \
    --save-result --result-dir "$out/qwen0.5b-prefix-caching"
  stop_servers
fi
