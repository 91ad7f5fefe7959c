#!/usr/bin/env bash
# Wrapper: trains/exports the PyTorch Fashion-MNIST classifier if torch and the data are present.
set -euo pipefail
PY=/usr/bin/python3
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -x "$PY" ]] || ! "$PY" -c 'import torch' >/dev/null 2>&1; then
  echo "train_fashion_classifier: skipped: python3-torch not installed"; exit 0
fi
if [[ ! -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]]; then
  echo "train_fashion_classifier: skipped: dataset-fashion-mnist not installed"; exit 0
fi
exec "$PY" "$here/train_fashion_classifier.py" "$@"
