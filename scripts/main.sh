#!/usr/bin/env bash
# Installs what is missing, builds the main example and trains it on Fashion-MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release -DLEPTON_BUILD_EXAMPLES=ON
cmake --build --preset release -j "$(nproc)" --target fashion_mnist_mlp
exec build/release/examples/fashion_mnist_mlp "$@"
