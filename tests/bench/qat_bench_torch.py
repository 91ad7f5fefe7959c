#!/usr/bin/python3
"""PyTorch side of tests/bench/compress_bench.sh's QAT speed row: quantization-aware training of
the same ResNet-20 / MobileNetV2-tiny as `whittle-cli train --arch A` with PyTorch 1.13's FX
graph mode (torch.ao.quantization.quantize_fx.prepare_qat_fx, the default "fbgemm" QAT qconfig:
per-channel symmetric int8 weights, per-tensor affine uint8 activations, Conv+BN+ReLU fused with
BatchNorm folding simulated), and prints one JSON line with the steady-state training throughput
(warm-up steps excluded), like train_bench_torch.py.

Usage: /usr/bin/python3 qat_bench_torch.py --arch resnet20|mobilenetv2-tiny [--steps N]
       [--warmup W] [--batch B] [--threads T] [--data-dir DIR]
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch.ao.quantization import get_default_qat_qconfig_mapping
from torch.ao.quantization.quantize_fx import prepare_qat_fx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_bench_torch import MobileNetV2Tiny, ResNet20, fashion_batches, init_he  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", required=True, choices=["resnet20", "mobilenetv2-tiny"])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lr", type=float, default=0.001)
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    batch = fashion_batches(a.data_dir, a.batch)

    model = ResNet20() if a.arch == "resnet20" else MobileNetV2Tiny()
    init_he(model)
    model.train()
    example = (batch(0)[0],)
    qat = prepare_qat_fx(model, get_default_qat_qconfig_mapping("fbgemm"), example)
    qat.train()
    opt = torch.optim.SGD(qat.parameters(), lr=a.lr, momentum=0.9)

    t0 = None
    loss = None
    for step in range(a.steps):
        if step == a.warmup:
            t0 = time.perf_counter()
        x, y = batch(step)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(qat(x), y)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    timed = a.steps - a.warmup
    print(json.dumps({"arch": a.arch, "steps": a.steps, "warmup": a.warmup,
                      "images_per_second": timed * a.batch / seconds,
                      "ms_per_step": 1000.0 * seconds / timed,
                      "final_loss": float(loss), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    sys.exit(main())
