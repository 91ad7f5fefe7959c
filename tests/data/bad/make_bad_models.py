#!/usr/bin/python3
"""Writes the hostile-input corpus of tests/data/bad/ (read by tests/core/onnx/bad_input_test.cpp).

Deterministic: no randomness, no timestamps, so re-running it gives the same bytes and git sees no
change. Every file it writes must have a row in expected.tsv (the test fails on an unlisted file).

    /usr/bin/python3 tests/data/bad/make_bad_models.py

The symlink case (ext_symlink/) gets its symlink at test time, in a scratch copy, so that the
corpus does not depend on git or an archive keeping a link that points out of its folder.
"""

import hashlib
import os

import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = [helper.make_opsetid("", 13)]
FLOAT = TensorProto.FLOAT


def path(name):
    p = os.path.join(HERE, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def write_bytes(name, data):
    with open(path(name), "wb") as f:
        f.write(data)


def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def ld(field, payload):
    """A length-delimited protobuf field, encoded by hand (for nesting python refuses to build)."""
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def model(graph, **kw):
    m = helper.make_model(graph, opset_imports=OPSET, producer_name="make_bad_models", **kw)
    m.ir_version = 8
    return m


def save(name, m):
    write_bytes(name, m.SerializeToString())


def vi(name, dims=(2, 3), elem=FLOAT):
    return helper.make_tensor_value_info(name, elem, list(dims))


def raw_tensor(name, dims, dtype=FLOAT, nbytes=None):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    if nbytes is not None:
        t.raw_data = bytes(nbytes)
    return t


def graph_with_init(init, name="g"):
    """X + W -> Y, with W the given initializer."""
    node = helper.make_node("Add", ["X", init.name], ["Y"], name="add")
    return helper.make_graph([node], name, [vi("X")], [vi("Y")], [init])


def good_model():
    w = helper.make_tensor("W", FLOAT, [2, 3], [0.5] * 6)
    n1 = helper.make_node("Add", ["X", "W"], ["H"], name="n1")
    n2 = helper.make_node("Relu", ["H"], ["Y"], name="n2")
    return model(helper.make_graph([n1, n2], "good", [vi("X")], [vi("Y")], [w]))


def external_model(location, offset=None, length=None, dims=(2, 3)):
    t = raw_tensor("W", dims)
    t.data_location = TensorProto.EXTERNAL
    entries = [("location", location)]
    if offset is not None:
        entries.append(("offset", offset))
    if length is not None:
        entries.append(("length", length))
    for k, v in entries:
        e = t.external_data.add()
        e.key, e.value = k, v
    return model(graph_with_init(t))


def nested_if(levels):
    """If nodes nested `levels` deep through then_branch; each reads the outer input 'cond'."""
    inner = helper.make_graph(
        [helper.make_node("Identity", ["cond"], [f"y{levels}"], name=f"id{levels}")],
        f"level{levels}", [], [helper.make_tensor_value_info(f"y{levels}", TensorProto.BOOL, [])])
    for k in range(levels - 1, -1, -1):
        # else_branch is a leaf, so the file grows linearly with the depth.
        leaf = helper.make_graph(
            [helper.make_node("Identity", ["cond"], [f"e{k}"], name=f"else{k}")], f"else{k}", [],
            [helper.make_tensor_value_info(f"e{k}", TensorProto.BOOL, [])])
        node = helper.make_node("If", ["cond"], [f"y{k}"], name=f"if{k}", then_branch=inner,
                                else_branch=leaf)
        out = helper.make_tensor_value_info(f"y{k}", TensorProto.BOOL, [])
        if k == 0:
            return model(helper.make_graph([node], "top", [
                helper.make_tensor_value_info("cond", TensorProto.BOOL, [])], [out]))
        inner = helper.make_graph([node], f"level{k}", [], [out])


def main():
    # --- not a model at all -------------------------------------------------------------------
    write_bytes("empty.onnx", b"")
    write_bytes("text.onnx", b"This is a text file, not an ONNX model.\n")
    good = good_model().SerializeToString()
    write_bytes("truncated.onnx", good[: len(good) * 2 // 3])
    # Deterministic noise: a SHA-256 chain.
    noise, h = b"", b"whittle"
    while len(noise) < 512:
        h = hashlib.sha256(h).digest()
        noise += h
    write_bytes("garbage.onnx", noise)
    m = good_model()
    m.ClearField("graph")
    save("no_graph.onnx", m)

    # --- tensors ------------------------------------------------------------------------------
    save("unknown_dtype.onnx", model(graph_with_init(raw_tensor("W", [2, 3], dtype=99, nbytes=24))))
    g = graph_with_init(raw_tensor("W", [2, 3], nbytes=24))
    g.input[0].type.tensor_type.elem_type = 77
    save("unknown_elem_type.onnx", model(g))
    save("negative_dim.onnx", model(graph_with_init(raw_tensor("W", [2, -3], nbytes=24))))
    save("huge_dim_no_data.onnx", model(graph_with_init(raw_tensor("W", [10**12]))))
    save("dims_overflow.onnx",
         model(graph_with_init(raw_tensor("W", [2**32, 2**32], nbytes=0))))
    save("dims_overflow_int64.onnx",
         model(graph_with_init(raw_tensor("W", [3037000500, 3037000500, 0], nbytes=0))))
    save("rank_1000.onnx", model(graph_with_init(raw_tensor("W", [1] * 1000, nbytes=4))))
    g = graph_with_init(raw_tensor("W", [2, 3], nbytes=24))
    g.input[0].type.tensor_type.shape.Clear()
    for _ in range(1000):
        g.input[0].type.tensor_type.shape.dim.add().dim_value = 1
    save("input_rank_1000.onnx", model(g))
    save("raw_size_mismatch.onnx", model(graph_with_init(raw_tensor("W", [2, 3], nbytes=20))))
    t = raw_tensor("W", [2, 3])
    t.float_data.extend([1.0] * 5)
    save("typed_count_mismatch.onnx", model(graph_with_init(t)))
    save("string_raw_data.onnx",
         model(graph_with_init(raw_tensor("S", [2], dtype=TensorProto.STRING, nbytes=8))))
    t = raw_tensor("W", [2, 3])
    t.int64_data.extend([1] * 6)
    save("wrong_typed_field.onnx", model(graph_with_init(t)))
    t = raw_tensor("W", [2, 3])
    t.float_data.extend([1.0] * 6)
    t.int32_data.extend([1] * 6)
    save("two_typed_fields.onnx", model(graph_with_init(t)))
    t = raw_tensor("W", [2, 3], nbytes=24)
    t.float_data.extend([1.0] * 6)
    save("raw_and_typed.onnx", model(graph_with_init(t)))
    t = raw_tensor("W", [2, 3], dtype=TensorProto.UNDEFINED, nbytes=24)
    save("undefined_dtype_with_data.onnx", model(graph_with_init(t)))
    # A Constant whose tensor attribute lies about its size: the message names the node.
    c = helper.make_node("Constant", [], ["C"], name="const1",
                         value=raw_tensor("cval", [4], nbytes=3))
    save("constant_attr_bad_tensor.onnx",
         model(helper.make_graph([c], "g", [], [vi("C", [4])])))
    # A name with a line break must not break the one-line rule.
    save("name_with_newline.onnx",
         model(graph_with_init(raw_tensor("W\nX", [2, 3], dtype=99, nbytes=24))))
    # Types nested 40 deep (sequence of sequence of ...).
    g = graph_with_init(raw_tensor("W", [2, 3], nbytes=24))
    tp = g.input[0].type
    tp.Clear()
    for _ in range(40):
        tp = tp.sequence_type.elem_type
    tp.tensor_type.elem_type = FLOAT
    save("type_nesting_40.onnx", model(g))
    # 2000 levels, past the parser's cap of 1000 message levels: refused without a stack overflow.
    # Appending a second `graph` field to a model merges an input into its graph.
    deep = ld(1, b"\x08\x01")  # TypeProto{tensor_type{elem_type: FLOAT}}
    for _ in range(2000):
        deep = ld(4, ld(1, deep))  # TypeProto{sequence_type{elem_type: ...}}
    write_bytes("type_nesting_2000.onnx",
                good_model().SerializeToString() + ld(7, ld(11, ld(1, b"D") + ld(2, deep))))
    sp = onnx.SparseTensorProto()
    sp.values.CopyFrom(helper.make_tensor("SP", FLOAT, [1], [1.0]))
    sp.indices.CopyFrom(helper.make_tensor("SP_idx", TensorProto.INT64, [1], [0]))
    sp.dims.extend([4, -4])
    g = helper.make_graph([helper.make_node("Identity", ["SP"], ["Y"], name="id")], "g", [],
                          [vi("Y", [4, 4])])
    g.sparse_initializer.append(sp)
    save("sparse_negative_dim.onnx", model(g))

    # --- graph structure ----------------------------------------------------------------------
    a = helper.make_node("Relu", ["t2"], ["t1"], name="A")
    b = helper.make_node("Relu", ["t1"], ["t2"], name="B")
    # 'C' reads the cycle but is not on it: the message must name A or B, not C.
    c = helper.make_node("Relu", ["t2"], ["Y"], name="C")
    save("cycle.onnx", model(helper.make_graph([c, a, b], "g", [], [vi("Y")])))
    s = helper.make_node("Relu", ["t"], ["t"], name="selfloop")
    save("cycle_self.onnx", model(helper.make_graph([s], "g", [], [vi("t")])))
    n = helper.make_node("Relu", ["ghost"], ["Y"], name="n1")
    save("undefined_input.onnx", model(helper.make_graph([n], "g", [vi("X")], [vi("Y")])))
    n1 = helper.make_node("Relu", ["X"], ["Y"], name="n1")
    n2 = helper.make_node("Neg", ["X"], ["Y"], name="n2")
    save("two_producers.onnx", model(helper.make_graph([n1, n2], "g", [vi("X")], [vi("Y")])))
    n1 = helper.make_node("Split", ["X"], ["Y", "Y"], name="split1", axis=0)
    save("output_listed_twice.onnx",
         model(helper.make_graph([n1], "g", [vi("X")], [vi("Y")])))
    n1 = helper.make_node("Relu", ["X"], ["W"], name="n1")
    w = helper.make_tensor("W", FLOAT, [2, 3], [0.5] * 6)
    save("writes_initializer.onnx",
         model(helper.make_graph([n1], "g", [vi("X")], [vi("W")], [w])))
    n1 = helper.make_node("Relu", ["X"], ["Y"], name="n1")
    save("output_never_produced.onnx",
         model(helper.make_graph([n1], "g", [vi("X")], [vi("Y"), vi("Z")])))
    g = good_model().graph
    g.value_info.extend([vi("H"), vi("H")])
    save("value_info_twice.onnx", model(g))
    g = good_model().graph
    g.initializer.append(helper.make_tensor("W", FLOAT, [2, 3], [0.25] * 6))
    save("initializer_twice.onnx", model(g))
    g = good_model().graph
    g.input.append(vi("X"))
    save("input_twice.onnx", model(g))
    save("if_nested_40.onnx", nested_if(40))
    # Deeper than protobuf's default recursion limit (100): still refused by name.
    save("if_nested_200.onnx", nested_if(200))
    # A subgraph reading a name that neither it nor any enclosing graph defines.
    body = helper.make_graph([helper.make_node("Relu", ["nowhere"], ["z"], name="inner")],
                             "then", [], [vi("z")])
    node = helper.make_node("If", ["cond"], ["Y"], name="if1", then_branch=body)
    save("subgraph_undefined_input.onnx", model(helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])], [vi("Y")])))

    # --- external data (each case in its own folder) ------------------------------------------
    save("ext_absolute/model.onnx", external_model("/etc/passwd"))
    save("ext_dotdot/model.onnx", external_model("../outside.bin"))
    save("ext_symlink/model.onnx", external_model("link.bin"))  # link.bin made by the test
    save("ext_missing/model.onnx", external_model("missing.bin"))
    save("ext_past_end/model.onnx", external_model("data.bin", offset="8"))
    write_bytes("ext_past_end/data.bin", bytes(16))
    save("ext_bad_offset/model.onnx", external_model("data.bin", offset="12abc"))
    write_bytes("ext_bad_offset/data.bin", bytes(32))
    save("ext_length_mismatch/model.onnx", external_model("data.bin", length="20"))
    write_bytes("ext_length_mismatch/data.bin", bytes(32))
    save("ext_no_location/model.onnx", external_model(""))
    save("ext_nul_location/model.onnx", external_model("data.bin\0/../../outside.bin"))
    save("ext_directory/model.onnx", external_model("sub"))
    write_bytes("ext_directory/sub/.keep", b"")


if __name__ == "__main__":
    main()
