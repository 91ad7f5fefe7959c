#!/usr/bin/env bash
# README command 2: install what is missing, build, and run every test with ctest.
# Installs the peers too (PyTorch exports the torchvision models of the round-trip test).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/packaging/install-deps.sh" --peers
"$root/packaging/build.sh" -DWHITTLE_BUILD_TESTS=ON
# Real architectures for the round-trip and parity tests, a PyTorch-trained Fashion-MNIST
# classifier for the accuracy test and its FX int8 QDQ export for the int8 agreement test:
# made once, cached under tests/data/ (git-ignored).
"$root/tests/tools/export_torchvision.sh"
"$root/tests/tools/train_fashion_classifier.sh"
"$root/tests/tools/export_fx_qdq_classifier.sh"
build=${WHITTLE_BUILD_DIR:-$root/build}
export QT_QPA_PLATFORM=offscreen
cd "$build"
ctest --output-on-failure -j "${WHITTLE_JOBS:-$(nproc)}" --timeout 1200
