#!/usr/bin/python3
"""Trains a small CNN on Fashion-MNIST with PyTorch (half an epoch, fixed seed) and exports it to
ONNX, for the three-way accuracy check (Whittle vs ONNX Runtime vs PyTorch).

Writes into OUT_DIR (default tests/data/fashion/, git-ignored; an existing model is kept):
  classifier.onnx      input "input" [batch,1,28,28], output "logits" [batch,10]
  classifier.json      {"pytorch_accuracy": ..., "samples": 10000}
  test_images.npy      the 10,000 test images, float32 [10000,1,28,28], normalised as CLI.md says
  test_labels.npy      int64 [10000]
Preprocessing is CLI.md's: (x/255 - 0.2860) / 0.3530. Data: Debian's dataset-fashion-mnist.
"""
import gzip
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]
DATA = Path("/usr/share/datasets/fashion-mnist")
MEAN, STD = 0.2860, 0.3530


def read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def load(split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(DATA / f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    labels = read_idx(DATA / f"{prefix}-labels-idx1-ubyte.gz", 8).astype(np.int64)
    x = ((images.astype(np.float32) / 255.0) - MEAN) / STD
    return x.astype(np.float32), labels


def make_model():
    """The classifier's architecture (export_fx_qdq_classifier.py quantizes the same one)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))


def train_model(xtr, ytr):
    """Half an epoch of SGD from seed 0 (the caller seeds); returns the model in eval mode."""
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    perm = torch.randperm(len(xtr))
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for i in range(0, 30000, 128):  # half an epoch: enough for ~85 %, quick on CI
        idx = perm[i:i + 128]
        loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "tests" / "data" / "fashion"
    out.mkdir(parents=True, exist_ok=True)
    if (out / "classifier.onnx").exists() and (out / "classifier.json").exists():
        print(f"train_fashion_classifier: cached in {out}")
        return
    torch.manual_seed(0)
    torch.set_num_threads(2)
    xtr, ytr = load("train")
    xte, yte = load("test")
    start = time.time()
    model = train_model(xtr, ytr)
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(xte[i:i + 1000])).argmax(1)
                          for i in range(0, len(xte), 1000)])
    accuracy = float((pred.numpy() == yte).mean())
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), str(out / "classifier.onnx.tmp"),
                      input_names=["input"], output_names=["logits"], opset_version=13,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    os.replace(out / "classifier.onnx.tmp", out / "classifier.onnx")
    np.save(out / "test_images.npy", xte)
    np.save(out / "test_labels.npy", yte)
    (out / "classifier.json").write_text(json.dumps(
        {"pytorch_accuracy": accuracy, "samples": int(len(yte)),
         "predictions_checksum": int(pred.numpy().astype(np.int64).sum())}))
    print(f"train_fashion_classifier: accuracy {accuracy:.4f} after half an epoch "
          f"({time.time() - start:.1f} s) -> {out}")


if __name__ == "__main__":
    main()
