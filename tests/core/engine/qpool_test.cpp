// Int8 MaxPool (qpool.h): DequantizeLinear → MaxPool → QuantizeLinear with the same quantizer
// runs as a MaxPool on the quantized tensor — exact against the QDQ graph run as float reference
// ops, on oneDNN (in the nhwc the convolutions write, or transposed from plain) and on the
// reference kernel; a QuantizeLinear after a Flatten moves before it; PyTorch's Cast between
// QuantizeLinear and DequantizeLinear goes; different quantizers keep the float path.

#include <gtest/gtest.h>

#include "core/engine/plan.h"
#include "tests/core/engine/qdq_test_util.h"

using namespace wh;
using namespace wh::engine;

namespace {

using namespace wh::engine::qdqtest;

/// The steps that are a DequantizeLinear or QuantizeLinear of their own (the graph input's
/// QuantizeLinear is one).
int quantizersAlone(const std::string& steps) {
    int count = 0;
    for (const char* op : {"DequantizeLinear", "QuantizeLinear"}) {
        count += steps.rfind(op, 0) == 0;
        for (std::size_t p = steps.find(std::string("\n") + op); p != std::string::npos;
             p = steps.find(std::string("\n") + op, p + 1))
            ++count;
    }
    return count;
}

ir::Node* pool(ir::Value* y) {
    ir::Node* n = y->producer();
    n->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {2, 2}));
    n->attributes().push_back(ir::Attribute::makeInts("strides", {2, 2}));
    return n;
}

}  // namespace

TEST(QMaxPool, BetweenConvsRunsOnInt8Nhwc) {
    QNet n;
    ir::Value* x = n.input("x", {2, 8, 10, 10});
    const float s0 = 2.0f / 255.0f, s1 = 0.03f, s2 = 0.05f;
    auto q0 = n.quantize("xq", x, s0, 128, false);
    ConvCase c;
    c.in = 8;
    c.out = 16;
    c.act = "Relu";
    auto q1 = n.qconv("conv1", q0, s0, c, s1);
    ir::Value* pooled = n.node("MaxPool", "pool", {n.dequantize("pool_dq", q1)});
    pool(pooled);
    // The pool's quantizer repeats conv1's: the same scale and zero point (other values).
    auto q2 = n.quantize("pool_q", pooled, s1, 0, false);
    c.in = 16;
    c.xZp = 0;
    auto out = n.qconv("conv2", q2, s1, c, s2);
    n.g().insertGraphOutput(out[0]);
    const std::string steps = expectMatchesQdq(n.model(), {randomInput({2, 8, 10, 10}, -1, 1)});
    const std::string line = lineWith(steps, "MaxPool 'pool'");
    EXPECT_NE(line.find("uint8 [2,16,5,5] nhwc"), std::string::npos) << steps;
    EXPECT_NE(line.find("dnnl"), std::string::npos) << steps;
    EXPECT_EQ(quantizersAlone(steps), 1) << steps;  // the input's
}

TEST(QMaxPool, PlainInputAfterPyTorchsCastIsExact) {
    // PyTorch 1.13 FX: QuantizeLinear → Cast(to uint8) → DequantizeLinear → MaxPool → Quantize.
    QNet n;
    ir::Value* x = n.input("x", {2, 8, 9, 9});
    auto q0 = n.quantize("xq", x, 0.02f, 3, false);
    ir::Value* cast = n.node("Cast", "cast", {q0[0]});
    cast->producer()->attributes().push_back(ir::Attribute::makeInt("to", 2));  // uint8
    ir::Value* pooled = n.node("MaxPool", "pool", {n.dequantize("dq", {cast, q0[1], q0[2]})});
    pool(pooled);
    auto y = n.quantize("yq", pooled, 0.02f, 3, false);
    n.g().insertGraphOutput(y[0]);
    const std::string steps = expectMatchesQdq(n.model(), {randomInput({2, 8, 9, 9}, -3, 3)}, 1.0);
    EXPECT_EQ(steps.find("Cast"), std::string::npos) << steps;
    EXPECT_NE(lineWith(steps, "MaxPool 'pool'").find("uint8 [2,8,4,4]"), std::string::npos)
        << steps;
    EXPECT_NE(lineWith(steps, "MaxPool 'pool'").find("dnnl"), std::string::npos) << steps;
    EXPECT_EQ(quantizersAlone(steps), 1) << steps;
}

TEST(QMaxPool, QuantizeMovesBeforeFlatten) {
    QNet n;
    ir::Value* x = n.input("x", {2, 4, 6, 6});
    auto q0 = n.quantize("xq", x, 0.015f, 0, true);  // int8
    ir::Value* pooled = n.node("MaxPool", "pool", {n.dequantize("dq", q0)});
    pool(pooled);
    ir::Value* flat = n.node("Flatten", "flatten", {pooled});
    auto y = n.quantize("yq", flat, 0.015f, 0, true);
    n.g().insertGraphOutput(y[0]);
    const std::string steps =
        expectMatchesQdq(n.model(), {randomInput({2, 4, 6, 6}, -2.5f, 2.5f)}, 1.0);
    EXPECT_NE(lineWith(steps, "MaxPool 'pool'").find("int8 [2,4,3,3]"), std::string::npos) << steps;
    EXPECT_NE(lineWith(steps, "\nFlatten 'flatten'").find("int8 [2,36]"), std::string::npos)
        << steps;
    EXPECT_EQ(quantizersAlone(steps), 1) << steps;  // the input's
}

TEST(QMaxPool, DifferentQuantizersKeepTheFloatPath) {
    QNet n;
    ir::Value* x = n.input("x", {1, 4, 6, 6});
    auto q0 = n.quantize("xq", x, 0.02f, 128, false);
    ir::Value* pooled = n.node("MaxPool", "pool", {n.dequantize("dq", q0)});
    pool(pooled);
    auto y = n.quantize("yq", pooled, 0.03f, 128, false);  // another scale
    n.g().insertGraphOutput(y[0]);
    const std::string steps = expectMatchesQdq(n.model(), {randomInput({1, 4, 6, 6}, -2, 2)}, 1.0);
    EXPECT_EQ(lineWith(steps, "MaxPool 'pool'").find("int8"), std::string::npos) << steps;
    EXPECT_EQ(quantizersAlone(steps), 3) << steps;
}
