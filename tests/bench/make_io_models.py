#!/usr/bin/python3
"""Write the two models of the ONNX I/O benchmark (tests/bench/onnx_io_bench.sh).

  nodes100k.onnx  ~100,000 nodes: a residual CNN chain. Stem Conv->BN->Relu (3->8 channels,
                  3x3 stride 2), then N blocks of Conv(1x1, 8->8)->BatchNormalization->Relu->Add
                  (residual from the block input), then GlobalAveragePool->Flatten->Gemm(8->10).
                  Every block has its own small initializers, so node count dominates, not bytes.
  big100mb.onnx   ~100 MB of float32 initializers (raw_data): an MLP of L layers of width W,
                  alternating Gemm(transB=1)+Relu and MatMul+Add+Relu.

Both: opset 13, input "input" with a dynamic batch axis "batch", output "logits", valid per
onnx.checker. Deterministic (numpy seed 0). Existing files are kept unless --force.

Usage: /usr/bin/python3 tests/bench/make_io_models.py [OUT_DIR] [--nodes N] [--mb M] [--force]
OUT_DIR defaults to /tmp/whittle-bench. Needs python3-onnx and python3-numpy.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
C = 8           # channels of the residual chain
BIG_WIDTH = 312  # 312*312*4 + 312*4 = 390,624 bytes per layer; 256 layers ~ 100.0 MB


def init(name, array):
    return numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name)  # raw_data


def make_nodes_model(target_nodes, rng):
    fixed = 3 + 3  # stem Conv/BN/Relu + head GAP/Flatten/Gemm
    blocks = max(1, (target_nodes - fixed) // 4)
    nodes, inits = [], []

    def bn(prefix, x, y):
        inits.extend([
            init(prefix + ".weight", 1.0 + 0.1 * rng.standard_normal(C)),
            init(prefix + ".bias", 0.1 * rng.standard_normal(C)),
            init(prefix + ".running_mean", 0.1 * rng.standard_normal(C)),
            init(prefix + ".running_var", 1.0 + 0.1 * rng.random(C)),
        ])
        nodes.append(helper.make_node(
            "BatchNormalization",
            [x, prefix + ".weight", prefix + ".bias", prefix + ".running_mean", prefix + ".running_var"],
            [y], name=prefix, epsilon=1e-5, momentum=0.9))

    # stem
    inits.append(init("stem.conv.weight", rng.standard_normal((C, 3, 3, 3)) * np.sqrt(2 / 27)))
    nodes.append(helper.make_node("Conv", ["input", "stem.conv.weight"], ["stem.conv"], name="stem.conv",
                                  kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    bn("stem.bn", "stem.conv", "stem.bn")
    nodes.append(helper.make_node("Relu", ["stem.bn"], ["stem.relu"], name="stem.relu"))
    x = "stem.relu"

    scale = np.sqrt(2 / C) * 0.1  # keep the residual sum bounded over many blocks
    for i in range(blocks):
        p = "blocks.%d" % i
        inits.append(init(p + ".conv.weight", rng.standard_normal((C, C, 1, 1)) * scale))
        nodes.append(helper.make_node("Conv", [x, p + ".conv.weight"], [p + ".conv"],  # no bias before BN
                                      name=p + ".conv", kernel_shape=[1, 1]))
        bn(p + ".bn", p + ".conv", p + ".bn")
        nodes.append(helper.make_node("Relu", [p + ".bn"], [p + ".relu"], name=p + ".relu"))
        nodes.append(helper.make_node("Add", [x, p + ".relu"], [p + ".add"], name=p + ".add"))
        x = p + ".add"

    # head
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["head.pool"], name="head.pool"))
    nodes.append(helper.make_node("Flatten", ["head.pool"], ["head.flat"], name="head.flatten", axis=1))
    inits.append(init("head.fc.weight", rng.standard_normal((10, C)) * np.sqrt(1 / C)))
    inits.append(init("head.fc.bias", np.zeros(10)))
    nodes.append(helper.make_node("Gemm", ["head.flat", "head.fc.weight", "head.fc.bias"], ["logits"],
                                  name="head.fc", transB=1))

    graph = helper.make_graph(
        nodes, "resnet_chain_%d_blocks" % blocks,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=inits)
    return graph


def make_big_model(target_mb, rng):
    w = BIG_WIDTH
    per_layer = (w * w + w) * 4
    layers = max(1, round(target_mb * 1e6 / per_layer))
    nodes, inits = [], []
    x = "input"
    for i in range(layers):
        p = "layers.%d" % i
        last = i == layers - 1
        weight = rng.standard_normal((w, w), dtype=np.float32) * np.float32(np.sqrt(1 / w))
        bias = np.zeros(w, np.float32)
        out = "logits" if last else p + ".relu"
        if i % 2 == 0:  # Gemm with [out, in] weight like torch.nn.Linear
            inits += [init(p + ".weight", weight), init(p + ".bias", bias)]
            nodes.append(helper.make_node("Gemm", [x, p + ".weight", p + ".bias"], [p + ".fc"],
                                          name=p + ".fc", transB=1))
        else:           # MatMul with [in, out] weight + Add bias
            inits += [init(p + ".weight", weight), init(p + ".bias", bias)]
            nodes.append(helper.make_node("MatMul", [x, p + ".weight"], [p + ".mm"], name=p + ".matmul"))
            nodes.append(helper.make_node("Add", [p + ".mm", p + ".bias"], [p + ".fc"], name=p + ".add"))
        if last:
            nodes.append(helper.make_node("Identity", [p + ".fc"], [out], name=p + ".out"))
        else:
            nodes.append(helper.make_node("Relu", [p + ".fc"], [out], name=p + ".relu"))
        x = out
    graph = helper.make_graph(
        nodes, "mlp_%d_x_%d" % (layers, w),
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", w])],
        initializer=inits)
    return graph


def finish(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="whittle-bench", producer_version="1")
    model.ir_version = 7  # IR 7 (ONNX 1.8) is the first to carry opset 13; readable by older peers
    onnx.checker.check_model(model)
    tmp = path.with_name(path.name + ".part")
    onnx.save(model, str(tmp))
    tmp.replace(path)
    params = sum(int(np.prod(t.dims)) for t in graph.initializer)
    return len(graph.node), len(graph.initializer), params


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", nargs="?", default="/tmp/whittle-bench")
    ap.add_argument("--nodes", type=int, default=100_000, help="target node count (default 100000)")
    ap.add_argument("--mb", type=float, default=100.0, help="target initializer MB, 1e6 bytes (default 100)")
    ap.add_argument("--force", action="store_true", help="rewrite existing files")
    args = ap.parse_args()

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [("nodes100k.onnx", lambda rng: make_nodes_model(args.nodes, rng)),
            ("big100mb.onnx", lambda rng: make_big_model(args.mb, rng))]
    for name, make in jobs:
        path = out / name
        if path.exists() and not args.force:
            print("%-15s cached  %7.1f MB  %s" % (name, path.stat().st_size / 1e6, path))
            continue
        t0 = time.perf_counter()
        nodes, ninit, params = finish(make(np.random.default_rng(0)), path)
        print("%-15s written %7.1f MB  %d nodes  %d initializers  %d params  %.1f s  %s" % (
            name, path.stat().st_size / 1e6, nodes, ninit, params, time.perf_counter() - t0, path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
