#!/usr/bin/env bash
# Export the sequence-model corpus (transformer encoder, GPT-style decoder, LSTM/GRU, Loop/If;
# opset 14) to ONNX, with the inputs and PyTorch's outputs the parity tests compare.
# Usage: tests/tools/export_sequence_models.sh [OUT_DIR] [--models a,b] [--force]
# Default OUT_DIR: tests/data/sequence/ (git-ignored; existing files are kept as a cache).
# Exits 0 with a "skipped:" line when /usr/bin/python3 has no torch or numpy
# (install them with packaging/install-deps.sh --peers).
set -euo pipefail

PY=/usr/bin/python3   # Debian's interpreter; the python3 first on PATH may lack torch
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ ! -x "$PY" ]] || ! "$PY" -c 'import torch, numpy' >/dev/null 2>&1; then
  echo "export_sequence_models: skipped: python3-torch not installed (/usr/bin/python3 cannot import torch)"
  exit 0
fi

exec "$PY" "$here/export_sequence_models.py" "$@"
