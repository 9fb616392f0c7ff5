#!/usr/bin/env bash
# Installs the Debian packages Lepton's build, tests and examples need, when missing.
set -euo pipefail

packages=(g++ cmake ninja-build pkg-config ccache zlib1g-dev
          libxtensor-dev libxsimd-dev xtl-dev nlohmann-json3-dev doctest-dev libbenchmark-dev
          libopenblas-dev libcsv-dev dataset-fashion-mnist fortunes doxygen python3 libstb-dev
          clang libomp-dev libclang-rt-14-dev libfuzzer-14-dev openmpi-bin libopenmpi-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
