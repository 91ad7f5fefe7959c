#!/usr/bin/env bash
# The one list of Debian 12 packages Whittle needs to build, test and run.
# Installs only what is missing (apt-get update first), so a second run is fast.
# Usage: packaging/install-deps.sh [--peers]   (--peers adds PyTorch and friends for benchmarks)
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  qt6-base-dev qt6-base-dev-tools qt6-charts-dev qt6-svg-dev libqt6opengl6-dev libxkbcommon-dev libgl-dev
  libeigen3-dev libdnnl-dev ocl-icd-opencl-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  nlohmann-json3-dev libcli11-dev libfmt-dev libstb-dev libexpected-dev
  zlib1g-dev libgtest-dev libgmock-dev libbenchmark-dev
  xvfb xauth imagemagick fonts-dejavu-core
  libonnx-testdata python3-onnx python3-numpy
)
PEER_PACKAGES=(python3-torch python3-torchvision dataset-fashion-mnist hyperfine graphviz)

want=("${BUILD_PACKAGES[@]}")
[[ "${1:-}" == "--peers" ]] && want+=("${PEER_PACKAGES[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime from npm, the peer for parity and speed checks (its install script would try to
# download CUDA parts; the bundled CPU library needs none of that).
if [[ "${1:-}" == "--peers" ]]; then
  peers="$(cd "$(dirname "$0")/.." && pwd)/tests/peers"
  if [[ ! -e "$peers/node_modules/onnxruntime-node/package.json" ]]; then
    if ! command -v npm >/dev/null; then
      DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y --no-install-recommends nodejs npm
    fi
    (cd "$peers" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund)
  fi
fi
