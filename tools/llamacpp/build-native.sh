#!/usr/bin/env bash
# Builds llama.cpp natively (GGML_NATIVE=ON: AVX-512 VNNI/BF16 where the CPU has them) from the source that
# node-llama-cpp's npm package carries as a git bundle, and prints the directory holding llama-bench, llama-server and
# llama-quantize. Cached: a second run with the same source tag returns at once. Needs git, cmake and g++ (Debian).
# Usage: tools/llamacpp/build-native.sh [--print-dir]   (LOOM_LLAMACPP_CACHE overrides the cache root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bundle="$here/node_modules/node-llama-cpp/llama/gitRelease.bundle"
if [[ ! -f $bundle ]]; then
  npm install --no-save --prefix "$here" >&2
fi
tag=$(sed -n 's/.*"tag": *"\([^"]*\)".*/\1/p' "$here/node_modules/node-llama-cpp/llama/llama.cpp.info.json")
cache=${LOOM_LLAMACPP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/loom/llamacpp}
src="$cache/src-$tag"
out="$cache/build-$tag-native"
if [[ -x $out/bin/llama-bench && -x $out/bin/llama-server && -x $out/bin/llama-quantize ]]; then
  echo "$out/bin"
  exit 0
fi
for tool in git cmake g++; do
  command -v "$tool" >/dev/null || { echo "build-native.sh: $tool is missing (apt-get install git cmake g++)" >&2; exit 2; }
done
mkdir -p "$cache"
if [[ ! -d $src/.git ]]; then
  rm -rf "$src"
  git clone --quiet "$bundle" "$src" >&2
fi
# nice: on a shared 2-core machine the build must not starve the test suite.
nice -n 19 cmake -S "$src" -B "$out" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
nice -n 19 cmake --build "$out" -j"$(nproc)" --target llama-bench llama-server llama-quantize >&2
echo "$out/bin"
