#!/usr/bin/env bash
# Installs what is missing, builds the main example (the Fashion-MNIST CNN), trains and evaluates it.
set -euo pipefail
cd "$(dirname "$0")/.."
# Idle OpenMP threads sleep instead of spinning, unless the caller chose otherwise (README, "Threads").
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
scripts/setup.sh
cmake --preset release -DLEPTON_BUILD_EXAMPLES=ON
cmake --build --preset release -j "$(nproc)" --target fashion_mnist_cnn
exec build/release/examples/fashion_mnist_cnn "$@"
