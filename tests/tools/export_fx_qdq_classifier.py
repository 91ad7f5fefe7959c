#!/usr/bin/python3
"""Quantizes the Fashion-MNIST classifier (train_fashion_classifier.py: same architecture, same
seed and training) with PyTorch FX static post-training quantization (prepare_fx / convert_fx,
qnnpack: per-tensor uint8 activations, per-tensor symmetric int8 weights) and exports it as a
QDQ ONNX model (QuantizeLinear/DequantizeLinear around float ops, opset 13), the form PyTorch
quantization users hand to ONNX Runtime. Conv + BN + ReLU are fused; Linear + ReLU are not
(torch 1.13 cannot export quantized::linear_relu).

Writes into OUT_DIR (default tests/data/fashion/, git-ignored; an existing export is kept):
  classifier_fx_qdq.onnx   input "input" [batch,1,28,28], output "logits" [batch,10]
  classifier_fx_qdq.json   {"pytorch_int8_accuracy": ..., "float_accuracy": ..., ...}
  classifier_fx_float_state.pt      the trained float weights (a re-export skips training)
  test_images.npy, test_labels.npy   as train_fashion_classifier.py writes them
Calibration: the first 2,000 training images. Run with /usr/bin/python3 (torch 1.13 CPU).
"""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.backend_config import BackendConfig, get_qnnpack_backend_config
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_fashion_classifier as tfc  # noqa: E402

ENGINE = "qnnpack"  # Debian's torch has qnnpack and onednn, no fbgemm


def backend_config():
    """qnnpack's, without the Linear + ReLU fusion: torch 1.13 cannot export
    quantized::linear_relu to ONNX (the ReLU stays a separate quantized op)."""
    def fuses_linear_relu(pattern):
        flat = pattern if isinstance(pattern, tuple) else (pattern,)
        return nn.Linear in flat and any(p in (nn.ReLU, torch.nn.functional.relu, torch.relu)
                                         for p in flat)
    base = get_qnnpack_backend_config()
    kept = [c for pattern, c in base.configs.items() if not fuses_linear_relu(pattern)]
    return BackendConfig(base.name).set_backend_pattern_configs(kept)


def accuracy(model, x, y):
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(x[i:i + 1000])).argmax(1)
                          for i in range(0, len(x), 1000)])
    return float((pred.numpy() == y).mean())


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else tfc.REPO / "tests" / "data" / "fashion"
    out.mkdir(parents=True, exist_ok=True)
    if (out / "classifier_fx_qdq.onnx").exists() and (out / "classifier_fx_qdq.json").exists():
        print(f"export_fx_qdq_classifier: cached in {out}")
        return
    torch.manual_seed(0)
    torch.set_num_threads(2)
    torch.backends.quantized.engine = ENGINE
    start = time.time()
    xtr, ytr = tfc.load("train")
    xte, yte = tfc.load("test")
    cached = out / "classifier_fx_float_state.pt"  # the float model, to re-export quickly
    if cached.exists():
        model = tfc.make_model()
        model.load_state_dict(torch.load(cached))
        model.eval()
    else:
        model = tfc.train_model(xtr, ytr)
        torch.save(model.state_dict(), cached)
    float_acc = accuracy(model, xte, yte)

    example = (torch.zeros(1, 1, 28, 28),)
    prepared = prepare_fx(model, get_default_qconfig_mapping(ENGINE), example,
                          backend_config=backend_config())
    with torch.no_grad():
        for i in range(0, 2000, 200):
            prepared(torch.from_numpy(xtr[i:i + 200]))
    quantized = convert_fx(prepared)
    int8_acc = accuracy(quantized, xte, yte)

    tmp = out / "classifier_fx_qdq.onnx.tmp"
    torch.onnx.export(quantized, example, str(tmp), input_names=["input"],
                      output_names=["logits"], opset_version=13,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    os.replace(tmp, out / "classifier_fx_qdq.onnx")
    if not (out / "test_images.npy").exists():
        np.save(out / "test_images.npy", xte)
        np.save(out / "test_labels.npy", yte)
    (out / "classifier_fx_qdq.json").write_text(json.dumps(
        {"pytorch_int8_accuracy": int8_acc, "float_accuracy": float_acc, "engine": ENGINE,
         "calibration_images": 2000, "samples": int(len(yte))}))
    print(f"export_fx_qdq_classifier: float {float_acc:.4f}, FX int8 ({ENGINE}) {int8_acc:.4f} "
          f"({time.time() - start:.1f} s) -> {out}")


if __name__ == "__main__":
    main()
