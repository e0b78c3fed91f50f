#!/usr/bin/env bash
# Throughput of two commits side by side: builds each in its own worktree (Release), then runs the same
# `loom bench throughput` workloads alternately in ABBA order and prints one line per run plus the best of each side.
#   tools/compare-commits.sh OLD NEW            (commits, branches or tags; ROUNDS=4 THREADS=2 by default)
# Used for issue 11's regression check (docs/perf.md, "Seams redesign: old against new").
set -euo pipefail
old=${1:?usage: compare-commits.sh OLD NEW}; new=${2:?usage: compare-commits.sh OLD NEW}
rounds=${ROUNDS:-4}; threads=${THREADS:-2}
root=$(git rev-parse --show-toplevel); work=${WORK:-$(mktemp -d /tmp/loom-compare.XXXXXX)}
q=tests/fixtures/dummy-configs/qwen2.5-0.5b
declare -A workloads=(
  [demo-offline]="--model models/demo --num-prompts 64 --input-len 128 --output-len 64"
  [demo-single]="--model models/demo --num-prompts 1 --input-len 8 --output-len 1000"
  [q05-offline]="--model $q --dummy-weights --kv-cache-memory 256MiB --num-prompts 8 --input-len 32 --output-len 32"
  [q05-single]="--model $q --dummy-weights --kv-cache-memory 256MiB --num-prompts 1 --input-len 8 --output-len 128"
)
for side in old new; do
  rev=${!side}; dir=$work/$side
  [[ -d $dir ]] || git -C "$root" worktree add -q --detach "$dir" "$rev"
  echo "building $side ($rev) in $dir" >&2
  (cd "$dir" && dotnet build src/Loom.Cli -c Release -o artifacts/cli > artifacts.log 2>&1) || { echo "build of $rev failed: $dir/artifacts.log" >&2; exit 1; }
done
results=$work/results.txt; : > "$results"
for round in $(seq 1 "$rounds"); do
  if (( round % 2 )); then order="old new"; else order="new old"; fi
  for side in $order; do
    for w in demo-offline demo-single q05-offline q05-single; do
      json=$work/$side-$w-$round.json; load=$(cut -d' ' -f1 /proc/loadavg)
      (cd "$work/$side" && timeout 600 dotnet artifacts/cli/loom.dll bench throughput --threads "$threads" ${workloads[$w]} \
        --disable-tqdm --output-json "$json" > "$work/$side-$w-$round.log" 2>&1) || true
      rate=$(python3 -c "import json;print(round(json.load(open('$json'))['output_tokens_per_second'],2))" 2>/dev/null || echo failed)
      echo "$round $side $w $rate load=$load" | tee -a "$results"
    done
  done
done
echo "best output tok/s (old / new):"
for w in demo-offline demo-single q05-offline q05-single; do
  best() { grep " $1 $w " "$results" | awk '$4 != "failed" {print $4}' | sort -g | tail -1; }
  echo "  $w: $(best old) / $(best new)"
done
