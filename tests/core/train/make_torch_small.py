#!/usr/bin/python3
"""Writes tests/core/train/torch_small.onnx: a small CNN exported by PyTorch (opset 13, random
weights, seed 0) with the idioms real exports carry: x.view(x.size(0), -1) (Shape → Gather →
Unsqueeze → Concat → Reshape), BatchNorm2d, Dropout, a residual Add. Run with /usr/bin/python3."""
import os
import torch
import torch.nn as nn

torch.manual_seed(0)


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(8 * 7 * 7, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = x + torch.relu(self.conv2(x))
        x = self.pool(x)
        x = x.view(x.size(0), -1)
        return self.fc(self.drop(x))


model = Small()
# Distinct BN values: PyTorch's exporter merges initializers with equal contents (running_var of
# ones would become Identity(bn1.weight)), which is not what a trained model looks like.
with torch.no_grad():
    model.bn1.weight.uniform_(0.5, 1.5)
    model.bn1.bias.normal_(0, 0.1)
    model.bn1.running_mean.normal_(0, 0.1)
    model.bn1.running_var.uniform_(0.5, 1.5)
model.eval()
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_small.onnx")
torch.onnx.export(model, torch.zeros(2, 1, 28, 28), out, opset_version=13,
                  input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                  do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
print(out)
