#!/usr/bin/env bash
# Serving benchmarks of the dummy Qwen2.5-0.5B-shaped model (random bf16 weights of the real shapes), measured side
# by side: for each comparison two `loom serve` processes run at once and `loom bench serve` interleaves their runs
# (rate 1 on A, rate 1 on B, rate 2 on A, ...), so drift in the machine's load touches both alike.
# Usage: docs/plots/run-qwen0.5b-dummy.sh [chunked|prefix|all]   (MODEL=dir OUT=dir to override)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-docs/plots}"

# `loom serve` needs a tokenizer, and no real Qwen tokenizer ships with the repository: the model folder gets the
# dummy config and the fixture Qwen2 tokenizer (3,000 tokens), its vocabulary padded with plain tokens " w<id>" up
# to the config's 151,936 so that every id the random weights generate decodes. Prompts are sent as token ids.
make_model_dir() {
  local dir="${TMPDIR:-/tmp}/qwen2.5-0.5b-dummy"
  mkdir -p "$dir"
  cp tests/fixtures/dummy-configs/qwen2.5-0.5b/config.json tests/fixtures/tokenizers/bytebpe-qwen/tokenizer_config.json "$dir/"
  python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
config = json.load(open(d + "/config.json"))
tok = json.load(open("tests/fixtures/tokenizers/bytebpe-qwen/tokenizer.json"))
vocab = tok["model"]["vocab"]
for i in range(len(vocab), config["vocab_size"]):
    vocab["\u0120w%d" % i] = i
json.dump(tok, open(d + "/tokenizer.json", "w"), ensure_ascii=False)
PY
  echo "$dir"
}
model="${MODEL:-$(make_model_dir)}"
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
