#!/usr/bin/env bash
# Serving at 16 concurrent users, Loom against native llama-server on the same GGUF file, one client, runs interleaved.
#   tools/llamacpp/compare-serve.sh FILE.gguf [FILE.gguf ...]   (THREADS=2, PROMPTS=32, CONCURRENCY=16, ROUNDS=2,
#                                                               INPUT=128, OUTPUT=64, LOOM_ARGS="extra loom serve flags")
# llama-server: -np CONCURRENCY -c 256*CONCURRENCY -t THREADS (one slot per user, each with room for prompt and
# output). Loom: `loom serve --threads THREADS` with its defaults. Client: `loom bench serve`, random token-id prompts,
# --ignore-eos, both servers measured in one invocation, alternating run by run. Results (vLLM-style JSON and plots)
# go to RESULT_DIR (default: a temporary folder, printed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
threads=${THREADS:-2}; prompts=${PROMPTS:-32}; concurrency=${CONCURRENCY:-16}; rounds=${ROUNDS:-2}
input=${INPUT:-128}; output=${OUTPUT:-64}
bin=$("$here/build-native.sh")
"$root/loom" --help >/dev/null # builds the CLI in Release once
results=${RESULT_DIR:-$(mktemp -d)}
mkdir -p "$results"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
for file in "$@"; do
  name=$(basename "$file" .gguf)
  lport=$(free_port); mport=$(free_port)
  "$bin/llama-server" -m "$file" -np "$concurrency" -c $((256 * concurrency)) -t "$threads" --host 127.0.0.1 \
    --port "$lport" >"$results/$name-llama-server.log" 2>&1 &
  pids+=($!)
  # shellcheck disable=SC2086
  "$root/loom" serve --model "$file" --threads "$threads" --port "$mport" --host 127.0.0.1 ${LOOM_ARGS:-} \
    >"$results/$name-loom.log" 2>&1 &
  pids+=($!)
  for ((r = 0; r < rounds; r++)); do
    "$root/loom" bench serve --base-url "http://127.0.0.1:$mport" --label "loom-$name" \
      --base-url "http://127.0.0.1:$lport" --label "llama-server-$name" \
      --dataset-name random --random-input-len "$input" --random-output-len "$output" --ignore-eos \
      --num-prompts "$prompts" --max-concurrency "$concurrency" --num-warmups 2 --seed "$r" --disable-tqdm \
      --save-result --result-dir "$results" --metadata "file=$name" "threads=$threads" "round=$r" \
      "load=$(cut -d' ' -f1 /proc/loadavg)"
  done
  cleanup; pids=()
done
echo "results: $results"
