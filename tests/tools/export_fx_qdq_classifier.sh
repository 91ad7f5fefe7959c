#!/usr/bin/env bash
# Wrapper: quantizes the Fashion-MNIST classifier with PyTorch FX and exports QDQ ONNX, if torch
# and the data are present (export_fx_qdq_classifier.py).
set -euo pipefail
PY=/usr/bin/python3
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -x "$PY" ]] || ! "$PY" -c 'import torch' >/dev/null 2>&1; then
  echo "export_fx_qdq_classifier: skipped: python3-torch not installed"; exit 0
fi
if [[ ! -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]]; then
  echo "export_fx_qdq_classifier: skipped: dataset-fashion-mnist not installed"; exit 0
fi
exec "$PY" "$here/export_fx_qdq_classifier.py" "$@"
