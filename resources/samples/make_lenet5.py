#!/usr/bin/python3
"""Writes resources/samples/lenet5.onnx: LeNet-5 for 28x28 grey images (Fashion-MNIST), He-
initialised with a fixed seed. A placeholder until the engine can train it (then the bundled
sample will be the trained model)."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)


def he(shape, fan_in):
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


inits = [
    numpy_helper.from_array(he((6, 1, 5, 5), 25), "conv1.weight"),
    numpy_helper.from_array(np.zeros(6, np.float32), "conv1.bias"),
    numpy_helper.from_array(he((16, 6, 5, 5), 150), "conv2.weight"),
    numpy_helper.from_array(np.zeros(16, np.float32), "conv2.bias"),
    numpy_helper.from_array(he((120, 400), 400), "fc1.weight"),
    numpy_helper.from_array(np.zeros(120, np.float32), "fc1.bias"),
    numpy_helper.from_array(he((84, 120), 120), "fc2.weight"),
    numpy_helper.from_array(np.zeros(84, np.float32), "fc2.bias"),
    numpy_helper.from_array(he((10, 84), 84), "fc3.weight"),
    numpy_helper.from_array(np.zeros(10, np.float32), "fc3.bias"),
]
nodes = [
    helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["c1"], name="conv1",
                     kernel_shape=[5, 5], pads=[2, 2, 2, 2]),
    helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
    helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], name="conv2",
                     kernel_shape=[5, 5]),
    helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
    helper.make_node("MaxPool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Flatten", ["p2"], ["f"], name="flatten", axis=1),
    helper.make_node("Gemm", ["f", "fc1.weight", "fc1.bias"], ["g1"], name="fc1", transB=1),
    helper.make_node("Relu", ["g1"], ["r3"], name="relu3"),
    helper.make_node("Gemm", ["r3", "fc2.weight", "fc2.bias"], ["g2"], name="fc2", transB=1),
    helper.make_node("Relu", ["g2"], ["r4"], name="relu4"),
    helper.make_node("Gemm", ["r4", "fc3.weight", "fc3.bias"], ["logits"], name="fc3", transB=1),
]
graph = helper.make_graph(
    nodes, "lenet5",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 28, 28])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
    inits)
model = helper.make_model(graph, producer_name="whittle-samples",
                          opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
model = onnx.shape_inference.infer_shapes(model)
onnx.checker.check_model(model)
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "lenet5.onnx")
onnx.save(model, out)
print(f"wrote {out}: {os.path.getsize(out)} bytes")
