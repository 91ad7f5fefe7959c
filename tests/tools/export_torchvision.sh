#!/usr/bin/env bash
# Export torchvision architectures (random weights, opset 13) to ONNX for tests and benchmarks.
# Usage: tests/tools/export_torchvision.sh [OUT_DIR] [--models a,b] [--check] [--force]
# Default OUT_DIR: tests/data/torchvision/ (git-ignored; existing files are kept as a cache).
# Exits 0 with a "skipped:" line when /usr/bin/python3 has no torch/torchvision
# (install them with packaging/install-deps.sh --peers).
set -euo pipefail

PY=/usr/bin/python3   # Debian's interpreter; the python3 first on PATH may lack torch
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ ! -x "$PY" ]] || ! "$PY" -c 'import torch' >/dev/null 2>&1; then
  echo "export_torchvision: skipped: python3-torch not installed (/usr/bin/python3 cannot import torch)"
  exit 0
fi
if ! "$PY" -c 'import torchvision' >/dev/null 2>&1; then
  echo "export_torchvision: skipped: python3-torchvision not installed (/usr/bin/python3 cannot import torchvision)"
  exit 0
fi

exec "$PY" "$here/export_torchvision.py" "$@"
