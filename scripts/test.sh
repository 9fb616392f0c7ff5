#!/usr/bin/env bash
# Installs what is missing, builds Lepton's tests and runs them all through CTest:
# with g++ (release preset: the doctest suite, compile-fail, header, example and
# packaging tests), then with clang under AddressSanitizer and UBSan (sanitize
# preset: the doctest suite again, and every fuzz target for LEPTON_FUZZ_SECONDS).
set -euo pipefail
cd "$(dirname "$0")/.."
# Idle OpenMP threads sleep instead of spinning, unless the caller chose otherwise (README, "Threads").
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
scripts/setup.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)"
ctest --preset release -j "$(nproc)"
cmake --preset sanitize
cmake --build --preset sanitize -j "$(nproc)"
ctest --preset sanitize -j "$(nproc)"
