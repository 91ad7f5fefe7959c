#!/usr/bin/python3
"""Export torchvision architectures with random weights to ONNX (opset 13).

Real CNN structures for parity, speed and layout work. Weights are random
(torch.manual_seed(0)); nothing is downloaded, so this works offline.

Usage: /usr/bin/python3 tests/tools/export_torchvision.py [OUT_DIR] [--models a,b] [--check] [--force]

OUT_DIR defaults to tests/data/torchvision/ in the repository (git-ignored).
A model whose .onnx already exists is skipped (the folder is a cache) unless --force.
Each model: input "input" [batch,3,224,224] float32, output "logits" [batch,1000],
batch is a dynamic axis named "batch". Exported in eval mode.

Needs /usr/bin/python3 with python3-torch and python3-torchvision (Debian);
--check also needs python3-onnx. Use export_torchvision.sh for a wrapper that
skips cleanly when torch is missing.
"""
import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "data" / "torchvision"
OPSET = 13

# name -> extra constructor keyword arguments
MODELS = {
    "resnet18": {},
    "mobilenet_v2": {},
    "squeezenet1_0": {},
    "shufflenet_v2_x1_0": {},
    "efficientnet_b0": {},
    "densenet121": {},
    "mnasnet0_5": {},
    "googlenet": {"aux_logits": False, "init_weights": True},
}


def build(name, extra):
    import torch
    import torchvision

    ctor = getattr(torchvision.models, name)
    torch.manual_seed(0)
    try:
        model = ctor(weights=None, **extra)  # torchvision >= 0.13
    except TypeError:
        model = ctor(pretrained=False, **extra)  # older torchvision
    return model.eval()


def export(name, extra, path):
    import torch

    model = build(name, extra)
    dummy = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    tmp = path.with_name(path.name + ".part")
    with torch.no_grad():
        torch.onnx.export(
            model,
            dummy,
            str(tmp),
            opset_version=OPSET,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            do_constant_folding=True,
            export_params=True,
        )
    os.replace(tmp, path)  # only complete files enter the cache


def check(path):
    import onnx

    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    return len(model.graph.node), model.opset_import[0].version


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", nargs="?", default=str(DEFAULT_OUT))
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma-separated subset (default: all %d)" % len(MODELS))
    ap.add_argument("--check", action="store_true",
                    help="onnx.load + onnx.checker.check_model every file (needs python3-onnx)")
    ap.add_argument("--force", action="store_true", help="re-export even if the file exists")
    args = ap.parse_args()

    names = [m for m in args.models.split(",") if m]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        print("export_torchvision: unknown model(s): %s (known: %s)"
              % (", ".join(unknown), ", ".join(MODELS)), file=sys.stderr)
        return 1

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    failed = 0
    for name in names:
        path = out / (name + ".onnx")
        t0 = time.perf_counter()
        status = "cached"
        if args.force or not path.exists():
            try:
                export(name, MODELS[name], path)
                status = "exported"
            except Exception as e:  # keep going with the other models
                print("%-20s FAILED: %s" % (name, e), file=sys.stderr)
                failed += 1
                continue
        dt = time.perf_counter() - t0
        line = "%-20s %-8s %8.1f MB %7.2f s  %s" % (
            name, status, path.stat().st_size / 1e6, dt, path)
        if args.check:
            try:
                nodes, opset = check(path)
                line += "  check ok (%d nodes, opset %d)" % (nodes, opset)
            except Exception as e:
                line += "  CHECK FAILED: %s" % str(e).splitlines()[0]
                failed += 1
        print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
