// Int8 Add: QDQ residual groups (two DequantizeLinear → Add → [Relu | Clip] → QuantizeLinear)
// lowered to one QAdd. Compared against the QDQ graph run as float reference ops (the oracle):
// a QAdd on quantized inputs must match it bit for bit, on both the fast kernel and the
// reference; after int8 convolutions, within one step as for QConv. The int8 tensors must reach
// the fast kernel in the convolutions' nhwc and leave it in nhwc.

#include <gtest/gtest.h>

#include "core/engine/plan.h"
#include "tests/core/engine/qdq_test_util.h"

using namespace wh;
using namespace wh::engine;

namespace {

using namespace wh::engine::qdqtest;

/// True if some step is a DequantizeLinear of its own (not one merged into an int8 node).
bool dequantizesAlone(const std::string& steps) {
    return steps.rfind("DequantizeLinear", 0) == 0 ||
           steps.find("\nDequantizeLinear") != std::string::npos;
}

struct AddCase {
    Dims a{2, 8, 5, 5}, b{2, 8, 5, 5};
    std::string act;  // "", "Relu", "Clip"
    bool signedA = false, signedB = true, signedY = false;
    int zpA = 128, zpB = -3, zpY = 7;
};

/// Quantized graph inputs a and b, dequantized, added, [activated], quantized.
ir::Model addModel(const AddCase& c) {
    QNet n;
    auto qa = n.quantize("aq", n.input("a", c.a), 0.011f, c.zpA, c.signedA);
    auto qb = n.quantize("bq", n.input("b", c.b), 0.0073f, c.zpB, c.signedB);
    ir::Value* sum = n.node("Add", "add", {n.dequantize("a_dq", qa), n.dequantize("b_dq", qb)});
    if (c.act == "Relu") sum = n.node("Relu", "relu", {sum});
    if (c.act == "Clip")
        sum = n.node("Clip", "clip",
                     {sum, n.floats("lo", {}, {-0.4f}), n.floats("hi", {}, {0.9f})});
    auto y = n.quantize("yq", sum, 0.0091f, c.zpY, c.signedY);
    n.g().insertGraphOutput(y[0]);
    return n.model().clone();
}

std::string checkAdd(const AddCase& c) {
    SCOPED_TRACE(::testing::Message() << "a " << dimsToString(c.a) << " b " << dimsToString(c.b)
                                      << " act '" << c.act << "'");
    const ir::Model model = addModel(c);
    // Wide enough to saturate both ends of every grid.
    const std::string steps = expectMatchesQdq(
        model, {randomInput(c.a, -2.5f, 2.5f), randomInput(c.b, -1.2f, 1.2f)}, 1.0);
    EXPECT_NE(steps.find("QAdd(Add 'add'"), std::string::npos) << steps;
    EXPECT_FALSE(dequantizesAlone(steps)) << steps;
    return steps;
}

}  // namespace

TEST(QAdd, ExactWithoutActivation) {
    AddCase c;
    const std::string steps = checkAdd(c);
    EXPECT_NE(lineWith(steps, "QAdd(").find("[dnnl loop]"), std::string::npos) << steps;
}

TEST(QAdd, ExactWithRelu) {
    AddCase c;
    c.act = "Relu";
    c.signedA = true;
    c.zpA = 0;
    c.signedB = false;
    c.zpB = 100;
    checkAdd(c);
}

TEST(QAdd, ExactWithClipSignedOutput) {
    AddCase c;
    c.act = "Clip";
    c.signedY = true;
    c.zpY = -20;
    // Large enough for the threaded loop.
    c.a = c.b = {4, 64, 32, 32};
    checkAdd(c);
}

TEST(QAdd, BroadcastRunsOnTheReference) {
    AddCase c;
    c.b = {1, 8, 1, 1};
    const std::string steps = checkAdd(c);
    EXPECT_NE(lineWith(steps, "QAdd(").find("[ref]"), std::string::npos) << steps;
}

// The residual block of a ResNet: conv1 → conv2, then conv2's output plus conv1's output (read
// through the same DequantizeLinear as conv2), Relu, quantized, and a third conv reading the
// sum. Every int8 tensor stays nhwc: no conversion to plain before the graph output.
TEST(QAdd, ResidualBetweenConvsStaysNhwc) {
    QNet n;
    ir::Value* x = n.input("x", {2, 16, 8, 8});
    const float s0 = 2.0f / 255.0f, s1 = 0.03f, s2 = 0.05f, s3 = 0.04f;
    auto q0 = n.quantize("xq", x, s0, 128, false);
    ConvCase c;
    c.in = c.out = 16;
    c.act = "Relu";
    c.xZp = 128;
    auto q1 = n.qconv("conv1", q0, s0, c, s1);
    ir::Value* d1 = n.dequantize("res_dq", q1);
    c.xZp = 0;
    c.act = "";
    auto q2 = n.qconv("conv2", q1, s1, c, s2, d1);
    ir::Value* sum = n.node("Add", "add", {n.dequantize("conv2_dq", q2), d1});
    sum = n.node("Relu", "relu", {sum});
    auto q3 = n.quantize("sum_q", sum, s3, 0, false);
    c.act = "Relu";
    auto out = n.qconv("conv3", q3, s3, c, s2);
    n.g().insertGraphOutput(out[0]);
    const std::string steps =
        expectMatchesQdq(n.model(), {randomInput({2, 16, 8, 8}, -1.0f, 1.0f)});
    EXPECT_NE(steps.find("QAdd(Add 'add' + Relu 'relu'"), std::string::npos) << steps;
    EXPECT_FALSE(dequantizesAlone(steps)) << steps;
    EXPECT_NE(lineWith(steps, "QAdd(").find("] -> uint8 [2,16,8,8] nhwc"), std::string::npos)
        << steps;
    EXPECT_EQ(qconvImplementations(steps).size(), 3u) << steps;
    // Only the graph output goes back to plain.
    std::size_t conversions = 0;
    for (std::size_t p = steps.find("to plain"); p != std::string::npos;
         p = steps.find("to plain", p + 1))
        ++conversions;
    EXPECT_EQ(conversions, 1u) << steps;
}

// One operand from a QConv (nhwc), the other quantized from the graph input (plain): the fast
// kernel transposes the plain one and still writes nhwc.
TEST(QAdd, MixedLayouts) {
    QNet n;
    ir::Value* x = n.input("x", {2, 16, 6, 6});
    const float s0 = 2.0f / 255.0f, s1 = 0.03f;
    auto q0 = n.quantize("xq", x, s0, 128, false);
    ConvCase c;
    c.in = c.out = 16;
    c.act = "Relu";
    auto q1 = n.qconv("conv1", q0, s0, c, s1);
    ir::Value* sum = n.node("Add", "add", {n.dequantize("conv_dq", q1), n.dequantize("x_dq", q0)});
    auto y = n.quantize("sum_q", sum, 0.04f, 3, false);
    n.g().insertGraphOutput(y[0]);
    const std::string steps =
        expectMatchesQdq(n.model(), {randomInput({2, 16, 6, 6}, -1.0f, 1.0f)});
    EXPECT_NE(steps.find("QAdd(Add 'add'"), std::string::npos) << steps;
    EXPECT_NE(steps.find("input 3 to nhwc"), std::string::npos) << steps;
}

// A QConv's output dequantized for float operators: dequantized where it lies, into a float
// nhwc tensor the oneDNN Relu reads as it is — no conversion to plain until the graph output —
// and equal to the QDQ graph's (one step where the int8 convolution rounded differently).
TEST(QAdd, DequantizeLinearOfNhwcStaysNhwc) {
    QNet n;
    const Dims dims{2, 16, 6, 6};
    const float s0 = 2.0f / 255.0f, s1 = 0.03f;
    auto q0 = n.quantize("xq", n.input("x", dims), s0, 128, false);
    ConvCase c;
    c.in = c.out = 16;
    auto q1 = n.qconv("conv1", q0, s0, c, s1);
    ir::Value* y = n.node("Relu", "relu", {n.dequantize("out_dq", q1)});
    n.g().insertGraphOutput(y);
    const HostTensor x = randomInput(dims, -1.0f, 1.0f);
    PlanOptions plain;
    plain.fuse = false;
    auto oracle = Plan::compile(n.model(), plain);
    auto plan = Plan::compile(n.model(), PlanOptions{});
    ASSERT_TRUE(oracle && plan);
    const std::string steps = plan->describe();
    EXPECT_NE(lineWith(steps, "DequantizeLinear 'out_dq'").find("[dnnl loop] -> [2,16,6,6] nhwc"),
              std::string::npos)
        << steps;
    EXPECT_NE(lineWith(steps, "Relu 'relu'").find("nhwc"), std::string::npos) << steps;
    auto want = oracle->run({x});
    auto got = plan->run({x});
    ASSERT_TRUE(want && got);
    const HostTensor& w = (*want)[0];
    const HostTensor& g = (*got)[0];
    ASSERT_EQ(g.dims(), w.dims());
    int64_t exact = 0;
    for (int64_t i = 0; i < w.numElements(); ++i) {
        EXPECT_NEAR(g.data<float>()[i], w.data<float>()[i], s1 * 1.001f) << i;
        exact += g.data<float>()[i] == w.data<float>()[i];
    }
    EXPECT_GE(static_cast<double>(exact), 0.99 * static_cast<double>(w.numElements()));
}
