// Int8 Conv: QDQ groups (DequantizeLinear → Conv → [Relu | Clip] → QuantizeLinear) lowered to
// one QConv and run as a oneDNN int8 convolution. Each test builds a small QDQ model with random
// weights and compares the int8 plan's quantized outputs against the QDQ graph run as float
// reference ops (fuse = false: no lowering), the oracle: every element within one step of the
// output grid, nearly all exact. The reference QConv kernel is checked the same way.

#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "core/engine/plan.h"
#include "tests/core/engine/qdq_test_util.h"

using namespace wh;
using namespace wh::engine;

namespace {

using namespace wh::engine::qdqtest;

/// One QDQ conv group on a quantized input; the quantized output is the graph output.
ir::Model singleConv(const ConvCase& c) {
    QNet n;
    ir::Value* x = n.input("x", {c.batch, c.in, c.size, c.size});
    const float xScale = 2.0f / 255.0f;
    auto q = n.quantize("xq", x, xScale, c.signedX ? c.xZp - 128 : c.xZp, c.signedX);
    auto y = n.qconv("conv", q, xScale, c, 0.02f);
    n.g().insertGraphOutput(y[0]);
    return n.model().clone();
}

void checkCase(const ConvCase& c) {
    SCOPED_TRACE(::testing::Message() << "in " << c.in << " out " << c.out << " k " << c.k
                                      << " group " << c.group << " stride " << c.stride
                                      << " pad " << c.pad << " act '" << c.act << "' xZp "
                                      << c.xZp << " yZp " << c.yZp);
    const ir::Model model = singleConv(c);
    const HostTensor x = randomInput({c.batch, c.in, c.size, c.size}, c.xZp == 0 ? 0.0f : -1.0f,
                                     1.0f);
    const std::string steps = expectMatchesQdq(model, x);
    const std::vector<std::string> impls = qconvImplementations(steps);
    ASSERT_EQ(impls.size(), 1u) << steps;
    EXPECT_EQ(impls[0].rfind("dnnl ", 0), 0u) << steps;
    // A reference oneDNN int8 convolution (ref_int8, picked for blocked layouts) is ~1,000x
    // slower: never acceptable on this machine.
    EXPECT_EQ(impls[0].find("ref"), std::string::npos) << steps;
}

}  // namespace

TEST(QConv, ReluPerChannelWithBias) {
    ConvCase c;
    c.act = "Relu";
    c.xZp = 0;
    checkCase(c);
}

TEST(QConv, BiasScaleComputedByMulIsFoldedFirst) {
    ConvCase c;  // our QDQ exports: the bias scale is Mul(x scale, weight scales)
    c.biasScaleMul = true;
    c.act = "Relu";
    c.xZp = 0;
    checkCase(c);
}

TEST(QConv, SourceZeroPointWithPadding) {
    ConvCase c;  // x zero point 128, padding 1: oneDNN's src zero point
    checkCase(c);
}

TEST(QConv, SourceZeroPointFoldedWithoutPadding) {
    ConvCase c;
    c.k = 1;
    c.pad = 0;
    c.in = 24;
    c.out = 32;
    checkCase(c);
}

TEST(QConv, ClipAndOutputZeroPoint) {
    ConvCase c;
    c.act = "Clip";
    c.yZp = 10;
    c.xZp = 0;
    checkCase(c);
}

TEST(QConv, NoActivationSignedInputPerTensorNoBias) {
    ConvCase c;
    c.signedX = true;
    c.xZp = 128 + 5;  // int8 zero point 5
    c.perChannel = false;
    c.weightZp = false;
    c.bias = false;
    c.yZp = 128;
    checkCase(c);
}

TEST(QConv, DepthwiseStrided) {
    ConvCase c;
    c.in = c.out = c.group = 32;
    c.stride = 2;
    c.act = "Clip";
    c.xZp = 0;
    checkCase(c);
}

TEST(QConv, SingleInputChannelLikeAFirstLayer) {
    ConvCase c;
    c.in = 1;
    c.out = 16;
    c.batch = 3;
    c.size = 12;
    c.act = "Relu";
    checkCase(c);
}

TEST(QConv, NonZeroWeightZeroPointStaysQdq) {
    ConvCase c;
    c.nonZeroWeightZp = true;
    c.weightZp = false;
    const ir::Model model = singleConv(c);
    const HostTensor x = randomInput({c.batch, c.in, c.size, c.size}, -1.0f, 1.0f);
    const std::string steps = expectMatchesQdq(model, x);
    EXPECT_EQ(steps.find("QConv"), std::string::npos) << steps;
    EXPECT_NE(steps.find("Conv 'conv' [dnnl "), std::string::npos) << steps;
}

// Two int8 convs back to back (the int8 tensor flows between them in nhwc), the first one's
// quantized output also dequantized for a residual Add: with the Add's own QDQ group lowered
// too (QAdd, qadd_test.cpp), the DequantizeLinear both read is merged into the QAdd, and the
// result is still right.
TEST(QConv, ChainWithResidualKeepsInt8BetweenConvs) {
    QNet n;
    ir::Value* x = n.input("x", {2, 16, 8, 8});
    const float s0 = 2.0f / 255.0f, s1 = 0.03f, s2 = 0.05f;
    auto q0 = n.quantize("xq", x, s0, 128, false);
    ConvCase c;
    c.in = c.out = 16;
    c.act = "Relu";
    c.xZp = 128;
    auto q1 = n.qconv("conv1", q0, s0, c, s1);
    c.xZp = 0;
    auto q2 = n.qconv("conv2", q1, s1, c, s2);
    ir::Value* d1 = n.node("DequantizeLinear", "res_dq", {q1[0], q1[1], q1[2]});
    ir::Value* d2 = n.node("DequantizeLinear", "out_dq", {q2[0], q2[1], q2[2]});
    ir::Value* sum = n.node("Add", "add", {d2, d1});
    auto out = n.quantize("out_q", sum, s2, 0, false);
    n.g().insertGraphOutput(out[0]);
    const HostTensor input = randomInput({2, 16, 8, 8}, -1.0f, 1.0f);
    const std::string steps = expectMatchesQdq(n.model(), input);
    const std::vector<std::string> impls = qconvImplementations(steps);
    ASSERT_EQ(impls.size(), 2u) << steps;
    for (const std::string& impl : impls) EXPECT_EQ(impl.find("ref"), std::string::npos) << steps;
    // conv1 hands conv2 and the QAdd its uint8 output in nhwc; only the graph output goes
    // plain.
    EXPECT_NE(steps.find("] -> uint8 [2,16,8,8] nhwc"), std::string::npos) << steps;
    EXPECT_NE(steps.find("QAdd(Add 'add'"), std::string::npos) << steps;
    EXPECT_NE(steps.find("DequantizeLinear 'res_dq'"), std::string::npos) << steps;
    EXPECT_EQ(steps.find("to plain from nhwc"), steps.rfind("to plain from nhwc")) << steps;
}

// PyTorch's QDQ export puts a Cast (uint8 to uint8) between each QuantizeLinear and the next
// DequantizeLinear. The reference Cast is handed conv1's nhwc output converted to plain and
// writes plain: conv2 must read it as plain (a Cast claiming its input's nhwc layout made
// conv2 read NCHW bytes as nhwc).
TEST(QConv, ReferenceCastBetweenInt8ConvsWritesPlain) {
    QNet n;
    ir::Value* x = n.input("x", {2, 16, 8, 8});
    const float s0 = 2.0f / 255.0f, s1 = 0.03f, s2 = 0.05f;
    auto q0 = n.quantize("xq", x, s0, 128, false);
    ConvCase c;
    c.in = c.out = 16;
    c.act = "Relu";
    auto q1 = n.qconv("conv1", q0, s0, c, s1);
    // (Through an Identity: a Cast right on a quantized tensor to its own type is bypassed by
    // the lowering, SameTypeCastAfterQuantize, and this test wants a reference op there.)
    ir::Value* cast = n.node("Cast", "cast", {n.node("Identity", "id", {q1[0]})});
    cast->producer()->attributes().push_back(
        ir::Attribute::makeInt("to", static_cast<int64_t>(ir::DType::kUInt8)));
    c.xZp = 0;
    auto q2 = n.qconv("conv2", {cast, q1[1], q1[2]}, s1, c, s2);
    n.g().insertGraphOutput(q2[0]);
    const std::string steps = expectMatchesQdq(n.model(), randomInput({2, 16, 8, 8}, -1.0f, 1.0f));
    EXPECT_EQ(qconvImplementations(steps).size(), 2u) << steps;
    EXPECT_NE(steps.find("Cast 'cast' [ref] -> uint8 [2,16,8,8] plain"), std::string::npos)
        << steps;
}

// torch.onnx's QDQ form: the input quantizer's scale shared through an Identity of an
// initializer and its zero point computed as Cast(ConstantOfShape([])). ConstantNodeFolding
// evaluates both during lowering, so the group still becomes a QConv.
TEST(QConv, ScaleThroughIdentityAndZeroPointThroughCastOfConstantOfShape) {
    QNet n;
    ir::Value* x = n.input("x", {2, 8, 9, 9});
    const float s0 = 2.0f / 255.0f;
    ir::Value* scale = n.node("Identity", "scale_id", {n.floats("scale", {}, {s0})});
    const int64_t noDims = 0;
    ir::Value* shape = n.init("shape", rawTensor(ir::DType::kInt64, {0}, &noDims, 0));
    ir::Value* filled = n.node("ConstantOfShape", "fill", {shape});
    const uint8_t zp = 128;
    filled->producer()->attributes().push_back(
        ir::Attribute::makeTensor("value", rawTensor(ir::DType::kUInt8, {1}, &zp, 1)));
    ir::Value* zero = n.node("Cast", "zp_cast", {filled});
    zero->producer()->attributes().push_back(
        ir::Attribute::makeInt("to", static_cast<int64_t>(ir::DType::kUInt8)));
    ir::Value* q = n.node("QuantizeLinear", "xq", {x, scale, zero});
    ConvCase c;
    c.act = "Relu";
    auto y = n.qconv("conv", {q, scale, zero}, s0, c, 0.02f);
    n.g().insertGraphOutput(y[0]);
    const std::string steps = expectMatchesQdq(n.model(), randomInput({2, 8, 9, 9}, -1.0f, 1.0f));
    const std::vector<std::string> impls = qconvImplementations(steps);
    ASSERT_EQ(impls.size(), 1u) << steps;
    EXPECT_EQ(impls[0].rfind("dnnl ", 0), 0u) << steps;
    EXPECT_EQ(steps.find("Cast 'zp_cast'"), std::string::npos) << steps;  // folded
}
