#!/usr/bin/env python3
"""Writes tests/data/silero_like.onnx: a small model shaped like Silero VAD v5 for the studio's
subgraph tests and screenshots.

Graph inputs `input` [1, 64], `state` [2, 1, 16] and `sr` (int64 scalar). An If on
Equal(sr, 16000) holds the network in both branches; each branch reads `input` and `state` from
the outer scope only (the If's explicit inputs are just its condition). The else branch nests a
second If (on Equal(sr, 8000)) whose branches read `input` too. After the If, an Add reads a bias
through an Identity that only forwards an initializer, as PyTorch exports do.

    /usr/bin/python3 tests/tools/make_silero_view_model.py [OUT]
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)


def init(name, *shape):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.1, name)


def encoder(prefix, conv_channels):
    """Nodes and initializers of one branch body: Conv/Relu encoder, LSTM decoder, Sigmoid."""
    nodes = [
        helper.make_node("Unsqueeze", ["input", prefix + "axes1"], [prefix + "x3"],
                         name=prefix + "unsqueeze"),
        helper.make_node("Conv", [prefix + "x3", prefix + "conv1.weight", prefix + "conv1.bias"],
                         [prefix + "c1"], name=prefix + "conv1", kernel_shape=[3], pads=[1, 1]),
        helper.make_node("Relu", [prefix + "c1"], [prefix + "r1"], name=prefix + "relu1"),
        helper.make_node("Conv", [prefix + "r1", prefix + "conv2.weight"], [prefix + "c2"],
                         name=prefix + "conv2", kernel_shape=[3], pads=[1, 1], strides=[4]),
        helper.make_node("Relu", [prefix + "c2"], [prefix + "r2"], name=prefix + "relu2"),
        helper.make_node("Transpose", [prefix + "r2"], [prefix + "seq"], name=prefix + "to_seq",
                         perm=[2, 0, 1]),
        helper.make_node("Split", ["state", prefix + "split"], [prefix + "h0", prefix + "c0"],
                         name=prefix + "split_state", axis=0),
        helper.make_node("LSTM", [prefix + "seq", prefix + "lstm.W", prefix + "lstm.R",
                                  prefix + "lstm.B", "", prefix + "h0", prefix + "c0"],
                         [prefix + "y", prefix + "yh", prefix + "yc"], name=prefix + "lstm",
                         hidden_size=16),
        helper.make_node("Concat", [prefix + "yh", prefix + "yc"], [prefix + "new_state"],
                         name=prefix + "concat_state", axis=0),
        helper.make_node("ReduceMean", [prefix + "yh"], [prefix + "m"], name=prefix + "mean",
                         axes=[2], keepdims=0),
        helper.make_node("Sigmoid", [prefix + "m"], [prefix + "prob"], name=prefix + "sigmoid"),
    ]
    inits = [
        numpy_helper.from_array(np.array([1], np.int64), prefix + "axes1"),
        init(prefix + "conv1.weight", conv_channels, 1, 3),
        init(prefix + "conv1.bias", conv_channels),
        init(prefix + "conv2.weight", conv_channels, conv_channels, 3),
        numpy_helper.from_array(np.array([1, 1], np.int64), prefix + "split"),
        init(prefix + "lstm.W", 1, 64, conv_channels),
        init(prefix + "lstm.R", 1, 64, 16),
        init(prefix + "lstm.B", 1, 128),
    ]
    return nodes, inits


def outputs(prefix):
    return [helper.make_tensor_value_info(prefix + "prob", TensorProto.FLOAT, [1, 1]),
            helper.make_tensor_value_info(prefix + "new_state", TensorProto.FLOAT, [2, 1, 16])]


def body(name, prefix, channels):
    nodes, inits = encoder(prefix, channels)
    return helper.make_graph(nodes, name, [], outputs(prefix), inits)


def main(out):
    then16k = body("then_16k", "b16_", 8)
    # 8 kHz: a nested If picks one of two smaller encoders (both read `input` and `state`).
    inner = helper.make_node("If", [cond8 := "is_8k"], ["k8_prob", "k8_new_state"],
                             name="if_8k",
                             then_branch=body("then_8k", "a8_", 4),
                             else_branch=body("else_other", "o_", 4))
    else_nodes = [
        helper.make_node("Equal", ["sr", "sr8k"], [cond8], name="eq_8k"),
        inner,
        helper.make_node("Identity", ["k8_prob"], ["e_prob"], name="e_prob_out"),
        helper.make_node("Identity", ["k8_new_state"], ["e_new_state"], name="e_state_out"),
    ]
    else8k = helper.make_graph(
        else_nodes, "else_8k", [], outputs("e_"),
        [numpy_helper.from_array(np.array(8000, np.int64), "sr8k")])
    nodes = [
        helper.make_node("Equal", ["sr", "sr16k"], ["is_16k"], name="eq_16k"),
        helper.make_node("If", ["is_16k"], ["prob", "new_state"], name="if_16k",
                         then_branch=then16k, else_branch=else8k),
        helper.make_node("Identity", ["out.bias"], ["out.bias_id"], name="bias_identity"),
        helper.make_node("Add", ["prob", "out.bias_id"], ["output"], name="add_bias"),
        helper.make_node("Identity", ["new_state"], ["stateN"], name="state_out"),
    ]
    graph = helper.make_graph(
        nodes, "silero_like",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 64]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, 1, 16]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1]),
         helper.make_tensor_value_info("stateN", TensorProto.FLOAT, [2, 1, 16])],
        [numpy_helper.from_array(np.array(16000, np.int64), "sr16k"),
         numpy_helper.from_array(np.array([0.5], np.float32), "out.bias")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="whittle tests/tools/make_silero_view_model.py")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/silero_like.onnx")
