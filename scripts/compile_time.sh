#!/usr/bin/env bash
# Times the compile-time translation unit (bench/compile_time/cnn_batchnorm_checkpoint.cpp:
# a CNN with BatchNorm, fit, save_weights and load_weights) at -O2 with g++, header-only and
# with LEPTON_SEPARATE_IO / LEPTON_SEPARATE_KERNELS, and the implementation unit those need.
# Prints user seconds, best of N runs (default 3), and the CPU.
#   scripts/compile_time.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
cxx="${CXX:-g++}"
flags=(-std=c++20 -O2 -march=native -fopenmp -DXTENSOR_USE_XSIMD -Iinclude -c)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
best() {  # best() label source defines...
  local label="$1" source="$2"; shift 2
  local best_time=""
  for _ in $(seq "$runs"); do
    local t
    t=$({ /usr/bin/time -f "%U" "$cxx" "${flags[@]}" "$@" "$source" -o "$out/unit.o" >/dev/null; } 2>&1 | tail -1)
    if [[ -z "$best_time" ]] || awk "BEGIN{exit !($t < $best_time)}"; then best_time="$t"; fi
  done
  printf '%-60s %6.2f s\n' "$label" "$best_time"
}
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'); $("$cxx" --version | head -1); best of $runs"
unit=bench/compile_time/cnn_batchnorm_checkpoint.cpp
best "header-only" "$unit"
best "LEPTON_SEPARATE_IO" "$unit" -DLEPTON_SEPARATE_IO
best "LEPTON_SEPARATE_IO and LEPTON_SEPARATE_KERNELS" "$unit" -DLEPTON_SEPARATE_IO -DLEPTON_SEPARATE_KERNELS
best "the implementation unit (tests/separate_compilation/impl.cpp)" tests/separate_compilation/impl.cpp \
  -DLEPTON_SEPARATE_IO -DLEPTON_SEPARATE_KERNELS
