#!/usr/bin/python3
"""Export small transformer, GPT-style, recurrent and control-flow models from torch.nn to ONNX.

The real-model corpus of the parity tests beside the torchvision CNNs: what PyTorch 1.13's
exporter writes for the layers of text, speech and sequence models. Weights are random
(fixed seeds); nothing is downloaded.

  transformer_encoder  token ids [batch, seq] int64 + padding mask [batch, seq] bool ->
                       nn.TransformerEncoder (2 layers, 4 heads, GELU) -> mean pool -> logits
                       (opset 14: LayerNormalization is decomposed; Where, Expand, Softmax, Erf)
  gpt_decoder          token ids [batch, seq] int64 + attention mask [batch, seq] int64 ->
                       a GPT-2-shaped decoder (pre-norm blocks, causal + padding mask, tied
                       embeddings) -> next-token logits [batch, seq, vocab] (opset 14)
  recurrent            features [batch, time, 20] -> Conv1d -> 2-layer bidirectional LSTM ->
                       GRU -> Linear (opset 14)
  control_flow         a scripted module: Loop over a run-time trip count with a carried state,
                       If on the data's sign (opset 14)

Each MODEL.onnx comes with MODEL.inputs/NAME.npy (inputs at batch 2, one padded sequence) and
MODEL.torch/NAME.npy (PyTorch's outputs for them). Symbolic axes: batch, seq / time.

Usage: /usr/bin/python3 tests/tools/export_sequence_models.py [OUT_DIR] [--models a,b] [--force]
OUT_DIR defaults to tests/data/sequence/ (git-ignored; existing models are kept as a cache).
"""
import argparse
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "data" / "sequence"
OPSET = 14
VOCAB = 96


def _torch():
    import torch
    return torch


def transformer_encoder():
    torch = _torch()
    nn = torch.nn

    class Encoder(nn.Module):
        def __init__(self, d=64, heads=4, layers=2, classes=5, max_len=128):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, d)
            self.pos = nn.Parameter(torch.randn(max_len, d) * 0.02)
            layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=4 * d, dropout=0.1,
                                               activation="gelu", batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d)
            self.head = nn.Linear(d, classes)

        def forward(self, tokens, padding_mask):
            t = tokens.shape[1]
            x = self.embed(tokens) + self.pos[:t]
            x = self.encoder(x, src_key_padding_mask=padding_mask)
            keep = (~padding_mask).unsqueeze(-1).to(x.dtype)
            pooled = (self.norm(x) * keep).sum(1) / keep.sum(1).clamp(min=1.0)
            return self.head(pooled)

    torch.manual_seed(1)
    model = Encoder().eval()
    g = torch.Generator().manual_seed(11)
    tokens = torch.randint(0, VOCAB, (2, 24), generator=g)
    mask = torch.zeros(2, 24, dtype=torch.bool)
    mask[1, 17:] = True  # the second sequence is 17 long, padded to 24
    return model, {"tokens": tokens, "padding_mask": mask}, ["logits"], {
        "tokens": {0: "batch", 1: "seq"}, "padding_mask": {0: "batch", 1: "seq"},
        "logits": {0: "batch"}}


def gpt_decoder():
    torch = _torch()
    nn = torch.nn

    class Attention(nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.heads = heads
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)

        def forward(self, x, bias):
            b, t, d = x.shape
            q, k, v = self.qkv(x).split(d, dim=2)
            shape = (b, t, self.heads, d // self.heads)
            q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
            att = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads) + bias
            y = att.softmax(-1) @ v
            return self.proj(y.transpose(1, 2).reshape(b, t, d))

    class Block(nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.ln1 = nn.LayerNorm(d)
            self.attn = Attention(d, heads)
            self.ln2 = nn.LayerNorm(d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        def forward(self, x, bias):
            x = x + self.attn(self.ln1(x), bias)
            return x + self.mlp(self.ln2(x))

    class Gpt(nn.Module):
        def __init__(self, d=64, heads=4, layers=2, max_len=128):
            super().__init__()
            self.wte = nn.Embedding(VOCAB, d)
            self.wpe = nn.Embedding(max_len, d)
            self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
            self.ln_f = nn.LayerNorm(d)

        def forward(self, tokens, attention_mask):
            t = tokens.shape[1]
            positions = torch.arange(t, device=tokens.device)
            x = self.wte(tokens) + self.wpe(positions)
            causal = torch.ones(t, t, dtype=torch.bool).tril()
            allowed = causal[None, None] & attention_mask[:, None, None, :].bool()
            bias = torch.zeros(allowed.shape).masked_fill(~allowed, -1e4)
            for block in self.blocks:
                x = block(x, bias)
            return self.ln_f(x) @ self.wte.weight.t()  # tied embeddings

    torch.manual_seed(2)
    model = Gpt().eval()
    g = torch.Generator().manual_seed(12)
    tokens = torch.randint(0, VOCAB, (2, 20), generator=g)
    mask = torch.ones(2, 20, dtype=torch.int64)
    mask[1, :6] = 0  # left padding, as batched generation does
    return model, {"tokens": tokens, "attention_mask": mask}, ["logits"], {
        "tokens": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
        "logits": {0: "batch", 1: "seq"}}


def recurrent():
    torch = _torch()
    nn = torch.nn

    class Recurrent(nn.Module):
        def __init__(self, features=20, hidden=32, classes=6):
            super().__init__()
            self.conv = nn.Conv1d(features, hidden, 3, padding=1)
            self.lstm = nn.LSTM(hidden, hidden, num_layers=2, bidirectional=True,
                                batch_first=True)
            self.gru = nn.GRU(2 * hidden, hidden, batch_first=True)
            self.head = nn.Linear(hidden, classes)

        def forward(self, features):
            x = torch.relu(self.conv(features.transpose(1, 2))).transpose(1, 2)
            x, _ = self.lstm(x)
            x, h = self.gru(x)
            return self.head(x), h

    torch.manual_seed(3)
    model = Recurrent().eval()
    x = torch.randn(2, 30, 20, generator=torch.Generator().manual_seed(13))
    return model, {"features": x}, ["frames", "state"], {
        "features": {0: "batch", 1: "time"}, "frames": {0: "batch", 1: "time"},
        "state": {1: "batch"}}


def control_flow():
    torch = _torch()
    nn = torch.nn

    class Body(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.Linear(16, 16)
            self.pos = nn.Linear(16, 4)
            self.neg = nn.Linear(16, 4)

        def forward(self, x, steps):
            h = x
            for _ in range(int(steps)):
                h = torch.tanh(self.cell(h)) + x
            if bool(h.sum() > 0):
                y = self.pos(h)
            else:
                y = torch.sigmoid(self.neg(h)) - 1.0
            return y

    torch.manual_seed(4)
    model = torch.jit.script(Body().eval())
    x = torch.randn(2, 16, generator=torch.Generator().manual_seed(14))
    return model, {"x": x, "steps": torch.tensor(3, dtype=torch.int64)}, ["y"], {
        "x": {0: "batch"}, "y": {0: "batch"}}


MODELS = {
    "transformer_encoder": transformer_encoder,
    "gpt_decoder": gpt_decoder,
    "recurrent": recurrent,
    "control_flow": control_flow,
}


def save_npys(folder, names, tensors):
    import numpy as np
    folder.mkdir(parents=True, exist_ok=True)
    for name, t in zip(names, tensors):
        np.save(folder / (name + ".npy"), t.detach().numpy())


def export(name, path):
    torch = _torch()
    model, inputs, output_names, axes = MODELS[name]()
    names = list(inputs)
    args = tuple(inputs[n] for n in names)
    tmp = path.with_name(path.name + ".part")
    torch.onnx.export(model, args, str(tmp), opset_version=OPSET, input_names=names,
                      output_names=output_names, dynamic_axes=axes, do_constant_folding=True)
    with torch.no_grad():
        outs = model(*args)
    outs = outs if isinstance(outs, tuple) else (outs,)
    stem = path.with_suffix("")
    save_npys(Path(str(stem) + ".inputs"), names, args)
    save_npys(Path(str(stem) + ".torch"), output_names, outs)
    os.replace(tmp, path)  # the model last: a complete .onnx means complete folders


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", nargs="?", default=str(DEFAULT_OUT))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--force", action="store_true", help="re-export even if the file exists")
    args = ap.parse_args()
    names = [m for m in args.models.split(",") if m]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        print("export_sequence_models: unknown model(s): %s (known: %s)"
              % (", ".join(unknown), ", ".join(MODELS)), file=sys.stderr)
        return 1
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    import warnings
    warnings.filterwarnings("ignore")
    failed = 0
    for name in names:
        path = out / (name + ".onnx")
        t0 = time.perf_counter()
        status = "cached"
        if args.force or not path.exists():
            try:
                export(name, path)
                status = "exported"
            except Exception as e:  # keep going with the other models
                print("%-20s FAILED: %s" % (name, e), file=sys.stderr)
                failed += 1
                continue
        print("%-20s %-8s %7.2f s  %s" % (name, status, time.perf_counter() - t0, path),
              flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
