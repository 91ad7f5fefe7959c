#!/usr/bin/python3
"""PyTorch side of tests/bench/train_bench.sh: trains the same architecture as
`whittle-cli train --arch A` (core/models/architectures.cpp) on Fashion-MNIST for a fixed number
of steps and prints one JSON line with the steady-state throughput (warm-up steps excluded).

Usage: /usr/bin/python3 train_bench_torch.py --arch resnet20|mobilenetv2-tiny [--steps N]
       [--warmup W] [--batch B] [--threads T] [--data-dir DIR]

Same recipe as the CLI run of the benchmark: SGD (momentum 0.9, weight decay 5e-4), batch 128,
no augmentation, BatchNorm in training mode (eps 1e-5, ONNX momentum 0.9 = PyTorch 0.1),
softmax cross-entropy. Data: the Debian dataset-fashion-mnist IDX files, normalised as the CLI
does ((x/255 - 0.2860) / 0.3530), shuffled once; held as uint8 like the CLI's IdxDataset.
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


# ---- Architectures: the graphs of core/models/architectures.cpp --------------------------------

class BasicBlock(nn.Module):
    def __init__(self, in_c, out_c, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_c, out_c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_c)
        self.conv2 = nn.Conv2d(out_c, out_c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_c)
        self.shortcut = None
        if stride != 1 or in_c != out_c:
            self.shortcut = nn.Sequential(nn.Conv2d(in_c, out_c, 1, stride, 0, bias=False),
                                          nn.BatchNorm2d(out_c))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.shortcut is None else self.shortcut(x)
        return F.relu(y + s)


class ResNet20(nn.Module):
    def __init__(self, channels=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, in_c = [], 16
        for stage, width in enumerate((16, 32, 64)):
            for block in range(3):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(in_c, width, stride))
                in_c = width
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class InvertedResidual(nn.Module):
    def __init__(self, in_c, out_c, t, stride):
        super().__init__()
        hidden = in_c * t
        layers = []
        if t != 1:
            layers += [nn.Conv2d(in_c, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden),
                       nn.ReLU6()]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
                   nn.BatchNorm2d(hidden), nn.ReLU6(),
                   nn.Conv2d(hidden, out_c, 1, 1, 0, bias=False), nn.BatchNorm2d(out_c)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and in_c == out_c

    def forward(self, x):
        y = self.body(x)
        return y + x if self.residual else y


class MobileNetV2Tiny(nn.Module):
    def __init__(self, channels=1, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, 16, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(16), nn.ReLU6())
        blocks, in_c = [], 16
        for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 2, 2),
                           (6, 96, 1, 1)):
            for i in range(n):
                blocks.append(InvertedResidual(in_c, c, t, s if i == 0 else 1))
                in_c = c
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Conv2d(in_c, 256, 1, 1, 0, bias=False),
                                  nn.BatchNorm2d(256), nn.ReLU6())
        self.classifier = nn.Linear(256, classes)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(x)


def init_he(model):
    # He-normal weights, zero biases, BN (1, 0): as the built-in architectures.
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def fashion_batches(data_dir, batch_size):
    """Fashion-MNIST's training set as uint8 (like the CLI's IdxDataset), shuffled once with
    torch's seed; returns batch(step) -> (normalised float images [B,1,28,28], labels)."""
    images = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))
    labels = torch.from_numpy(read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"))
                              .astype(np.int64))
    images = torch.from_numpy(images.copy())  # uint8 [N, 28, 28]
    n = images.shape[0]
    order = torch.randperm(n)

    def batch(step):
        start = (step * batch_size) % (n - batch_size)
        idx = order[start:start + batch_size]
        x = images[idx].unsqueeze(1).float().div_(255.0).sub_(0.2860).div_(0.3530)
        return x, labels[idx]
    return batch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", required=True, choices=["resnet20", "mobilenetv2-tiny"])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    batch = fashion_batches(a.data_dir, a.batch)

    model = ResNet20() if a.arch == "resnet20" else MobileNetV2Tiny()
    init_he(model)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
    params = sum(p.numel() for p in model.parameters())

    t0 = None
    loss = None
    for step in range(a.steps):
        if step == a.warmup:
            t0 = time.perf_counter()
        x, y = batch(step)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    timed = a.steps - a.warmup
    print(json.dumps({"arch": a.arch, "params": params, "steps": a.steps, "warmup": a.warmup,
                      "images_per_second": timed * a.batch / seconds,
                      "ms_per_step": 1000.0 * seconds / timed,
                      "final_loss": float(loss), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    sys.exit(main())
