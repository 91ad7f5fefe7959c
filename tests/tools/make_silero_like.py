"""A model shaped like Silero VAD's: an If on the sample rate chooses between two branches, each
Conv -> Relu -> LSTM -> Linear -> Sigmoid with its own weights, reading the graph inputs (audio,
recurrent state) and the weights from the outer scope. Writes OUT_DIR/silero_like.onnx, the
inputs for both sample rates and PyTorch's outputs for them (the reference):
  OUT_DIR/{x,state}.npy, OUT_DIR/sr_{16000,8000}.npy, OUT_DIR/{out,state_n}_{16000,8000}.npy

Usage: /usr/bin/python3 tests/tools/make_silero_like.py OUT_DIR
Exit 77 when onnx, numpy or torch is missing (the caller skips).
"""
import os
import sys

try:
    import numpy as np
    import onnx
    import torch
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:  # pragma: no cover
    print(f"missing: {e}", file=sys.stderr)
    sys.exit(77)

T, C, K, H = 64, 8, 4, 16  # samples, conv channels, kernel, LSTM hidden


def branch(tag, rng, inits):
    """Conv + LSTM on x and state (outer values); weights become outer initializers."""
    torch.manual_seed(int(rng.integers(1 << 30)))
    conv = torch.nn.Conv1d(1, C, K, stride=2)
    lstm = torch.nn.LSTM(C, H)
    head = torch.nn.Linear(H, 1)

    def torch_forward(x, state):
        with torch.no_grad():
            y = torch.relu(conv(x))                  # [1, C, L]
            seq = y.permute(2, 0, 1)                 # [L, 1, C]
            _, (h, c) = lstm(seq, (state[0:1], state[1:2]))
            out = torch.sigmoid(head(h[0]))          # [1, 1]
            return out, torch.cat([h, c], 0)

    def gates(w):  # torch (i, f, g, o) -> ONNX (i, o, f, c)
        i, f, g, o = w.chunk(4, 0)
        return torch.cat([i, o, f, g], 0)

    def add(name, t):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(t, dtype=np.float32), name))
        return name

    cw = add(f"{tag}_conv_w", conv.weight.detach().numpy())
    cb = add(f"{tag}_conv_b", conv.bias.detach().numpy())
    W = add(f"{tag}_W", gates(lstm.weight_ih_l0.detach())[None].numpy())
    R = add(f"{tag}_R", gates(lstm.weight_hh_l0.detach())[None].numpy())
    B = add(f"{tag}_B", torch.cat([gates(lstm.bias_ih_l0.detach()),
                                   gates(lstm.bias_hh_l0.detach())])[None].numpy())
    hw = add(f"{tag}_head_w", head.weight.detach().numpy().T)
    hb = add(f"{tag}_head_b", head.bias.detach().numpy())

    p = tag + "_"
    nodes = [
        helper.make_node("Conv", ["x", cw, cb], [p + "conv"], strides=[2], name=p + "conv"),
        helper.make_node("Relu", [p + "conv"], [p + "relu"], name=p + "relu"),
        helper.make_node("Transpose", [p + "relu"], [p + "seq"], perm=[2, 0, 1], name=p + "seq"),
        helper.make_node("Constant", [], [p + "i0"],
                         value=numpy_helper.from_array(np.array([0], np.int64))),
        helper.make_node("Constant", [], [p + "i1"],
                         value=numpy_helper.from_array(np.array([1], np.int64))),
        helper.make_node("Gather", ["state", p + "i0"], [p + "h0"], axis=0, name=p + "h0"),
        helper.make_node("Gather", ["state", p + "i1"], [p + "c0"], axis=0, name=p + "c0"),
        helper.make_node("LSTM", [p + "seq", W, R, B, "", p + "h0", p + "c0"],
                         [p + "Y", p + "Yh", p + "Yc"], hidden_size=H, name=p + "lstm"),
        helper.make_node("Squeeze", [p + "Yh", "axes0"], [p + "h"], name=p + "squeeze"),
        helper.make_node("MatMul", [p + "h", hw], [p + "mm"], name=p + "head"),
        helper.make_node("Add", [p + "mm", hb], [p + "logit"], name=p + "bias"),
        helper.make_node("Sigmoid", [p + "logit"], [p + "out"], name=p + "sigmoid"),
        helper.make_node("Concat", [p + "Yh", p + "Yc"], [p + "state"], axis=0, name=p + "cat"),
    ]
    graph = helper.make_graph(nodes, tag, [], [
        helper.make_tensor_value_info(p + "out", TensorProto.FLOAT, [1, 1]),
        helper.make_tensor_value_info(p + "state", TensorProto.FLOAT, [2, 1, H]),
    ])
    return graph, torch_forward


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(16)
    inits = [numpy_helper.from_array(np.array([0], np.int64), "axes0"),
             numpy_helper.from_array(np.array(16000, np.int64), "sr16k")]
    then_graph, then_forward = branch("sr16k_branch", rng, inits)
    else_graph, else_forward = branch("sr8k_branch", rng, inits)
    nodes = [
        helper.make_node("Equal", ["sr", "sr16k"], ["is16k"], name="is16k"),
        helper.make_node("If", ["is16k"], ["out", "state_n"], name="choose_rate",
                         then_branch=then_graph, else_branch=else_graph),
    ]
    graph = helper.make_graph(nodes, "silero_like", [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, T]),
        helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, 1, H]),
        helper.make_tensor_value_info("sr", TensorProto.INT64, []),
    ], [
        helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1]),
        helper.make_tensor_value_info("state_n", TensorProto.FLOAT, [2, 1, H]),
    ], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, os.path.join(out_dir, "silero_like.onnx"))

    x = rng.standard_normal((1, 1, T)).astype(np.float32)
    state = (0.5 * rng.standard_normal((2, 1, H))).astype(np.float32)
    np.save(os.path.join(out_dir, "x.npy"), x)
    np.save(os.path.join(out_dir, "state.npy"), state)
    for sr, forward in ((16000, then_forward), (8000, else_forward)):
        np.save(os.path.join(out_dir, f"sr_{sr}.npy"), np.array(sr, np.int64))
        out, state_n = forward(torch.from_numpy(x), torch.from_numpy(state))
        np.save(os.path.join(out_dir, f"out_{sr}.npy"), out.numpy())
        np.save(os.path.join(out_dir, f"state_n_{sr}.npy"), state_n.numpy())


if __name__ == "__main__":
    main()
