#!/usr/bin/env bash
# Builds Loom's optional native CPU kernels (loom_cpu_kernels.c: AVX512-VNNI tiles; loom_f16_kernels.c: the F16C tile)
# into the shared library given as $1.
# Called by Loom.Backends.csproj on Linux x64; exits 0 without a library where no C compiler is found (Loom then runs
# its managed kernels) or where the compiler fails (said on the build log; the load tests then fail on a machine whose
# CPU the kernels target, so a broken native build is not silent there).
set -euo pipefail
out=$1
here=$(dirname "$0")
src=("$here/loom_cpu_kernels.c" "$here/loom_f16_kernels.c")
cc=${CC:-}
if [[ -z "$cc" ]]; then
  for candidate in cc gcc clang clang-14; do
    if command -v "$candidate" >/dev/null 2>&1; then cc=$candidate; break; fi
  done
fi
if [[ -z "$cc" ]]; then
  echo "loom: no C compiler found; the native CPU kernels (AVX512-VNNI, F16C) are not built, Loom uses its managed kernels"
  rm -f "$out"
  exit 0
fi
mkdir -p "$(dirname "$out")"
if ! "$cc" -O3 -fPIC -shared -fvisibility=hidden -ffp-contract=off -Wall -Wextra -Werror -o "$out.tmp" "${src[@]}"; then
  echo "loom: $cc could not build the native CPU kernels; Loom uses its managed kernels"
  rm -f "$out" "$out.tmp"
  exit 0
fi
mv "$out.tmp" "$out"
