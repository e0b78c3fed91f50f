#!/usr/bin/env bash
# Prefill and decode, Loom against native llama.cpp on the same GGUF files, side by side in one run at one load.
#   tools/llamacpp/compare-native.sh FILE.gguf [FILE.gguf ...]      (THREADS=1|2, ROUNDS=2, PROMPT=128|512)
# llama.cpp: llama-bench pp$PROMPT and tg64 (built by build-native.sh). Loom: `loom bench throughput` with one request
# of PROMPT prompt tokens and 1 output (prefill, one step: the budget is 512) and one of 8 prompt tokens and 64
# outputs (decode, a short prefill included, so slightly pessimistic for Loom), each after three unmeasured warm-up
# requests (llama-bench warms up too; at 2 threads the JIT's tier-1 compiler has no free core, so one warm-up left
# part of the measured request running unoptimised code). The two alternate per file, the order
# flipping each round; each cell is the better round. Decode bound: bytes per token of the file over the read
# bandwidth measured just before the file's rounds (`Loom.Benchmarks bandwidth --bound-only`), each engine's decode as
# a share of it. Prints a markdown table with the load average of each row.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
threads=${THREADS:-2}
rounds=${ROUNDS:-2}
prompt=${PROMPT:-128}
bin=${LLAMACPP_BIN:-$("$here/build-native.sh")} # LLAMACPP_BIN: an existing build's bin directory
"$root/loom" --help >/dev/null # builds the CLI in Release once
dotnet build -c Release "$root/tests/Loom.Benchmarks" >/dev/null
bench="$root/tests/Loom.Benchmarks/bin/Release/net10.0/Loom.Benchmarks.dll"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
llama() { # file pp tg
  "$bin/llama-bench" -m "$1" -p "$2" -n "$3" -r 3 -t "$threads" -o csv 2>/dev/null | tail -1 | awk -F, '{gsub(/"/,"",$(NF-1)); print $(NF-1)}'
}
loom() { # file input output
  "$root/loom" bench throughput --model "$1" --num-prompts 1 --input-len "$2" --output-len "$3" --threads "$threads" --num-warmups 3 \
    --max-num-batched-tokens 512 --kv-cache-memory 256MiB --disable-tqdm --output-json "$out/r.json" >/dev/null 2>&1
  python3 -c "import json,sys;d=json.load(open('$out/r.json'));print(round(d['total_prompt_tokens']/d['elapsed_time'] if $3==1 else d['total_output_tokens']/d['elapsed_time'],1))"
}
best() { printf '%s\n' "$@" | sort -g | tail -1; }
echo "| file | threads | llama.cpp pp$prompt t/s | Loom prefill t/s | ratio | llama.cpp tg64 t/s | Loom decode t/s | ratio | bound t/s | llama.cpp / bound | Loom / bound | load avg |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
for file in "$@"; do
  lp=(); lt=(); mp=(); mt=()
  bound=$(dotnet "$bench" bandwidth --threads "$threads" --bound-only "$file" | cut -d' ' -f2)
  for ((r = 0; r < rounds; r++)); do
    if ((r % 2 == 0)); then lp+=("$(llama "$file" "$prompt" 0)"); lt+=("$(llama "$file" 0 64)"); mp+=("$(loom "$file" "$prompt" 1)"); mt+=("$(loom "$file" 8 64)")
    else mp+=("$(loom "$file" "$prompt" 1)"); mt+=("$(loom "$file" 8 64)"); lp+=("$(llama "$file" "$prompt" 0)"); lt+=("$(llama "$file" 0 64)"); fi
  done
  a=$(best "${lp[@]}"); b=$(best "${mp[@]}"); c=$(best "${lt[@]}"); d=$(best "${mt[@]}")
  printf '| %s | %s | %s | %s | %.2f | %s | %s | %.2f | %s | %.0f %% | %.0f %% | %s |\n' "$(basename "$file")" "$threads" "$a" "$b" \
    "$(echo "$b / $a" | bc -l)" "$c" "$d" "$(echo "$d / $c" | bc -l)" "$bound" "$(echo "100 * $c / $bound" | bc -l)" \
    "$(echo "100 * $d / $bound" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
done
