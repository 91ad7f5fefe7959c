// QLinearConv (operator-format int8): the reference kernel (integer loops, fuse = false keeps
// the node) against the same node lowered to QConv (QLinearConvLowering) on oneDNN and on the
// reference QConv. Weights uint8 with zero point 128 and int8 with small zero points are
// converted to int8 without zero point at lowering; weights whose w - w_zero_point leaves int8
// keep the QLinearConv on its reference kernel, and Plan::describe() says why.

#include <random>

#include <gtest/gtest.h>

#include "core/engine/plan.h"
#include "tests/core/engine/qdq_test_util.h"

using namespace wh;
using namespace wh::engine;

namespace {

using namespace wh::engine::qdqtest;

struct QLinearCase {
    int64_t in = 8, out = 16, k = 3, group = 1, stride = 1, pad = 1, size = 9, batch = 2;
    bool signedWeights = false;  // int8 weights (else uint8)
    int weightZp = 128;          // per tensor, or the first of per-channel ones
    int wLo = 0, wHi = 255;      // weight value range (as int8 when signed)
    bool perChannel = false;     // per output channel scales and zero points
    bool bias = true;
    int xZp = 128, yZp = 100;
};

ir::Model qlinearConv(const QLinearCase& c) {
    QNet n;
    std::mt19937 rng(3);
    ir::Value* x = n.input("x", {c.batch, c.in, c.size, c.size});
    const float xScale = 2.0f / 255.0f;
    auto q = n.quantize("xq", x, xScale, c.xZp, false);
    const int64_t perOut = c.in / c.group * c.k * c.k;
    const std::size_t count = static_cast<std::size_t>(c.out * perOut);
    const ir::DType wType = c.signedWeights ? ir::DType::kInt8 : ir::DType::kUInt8;
    std::uniform_int_distribution<int> wd(c.wLo, c.wHi);
    std::vector<uint8_t> w(count);
    for (uint8_t& v : w) v = static_cast<uint8_t>(static_cast<int8_t>(wd(rng)));  // int8 bytes
    const std::size_t channels = c.perChannel ? static_cast<std::size_t>(c.out) : 1;
    const Dims sDims = c.perChannel ? Dims{c.out} : Dims{};
    std::uniform_real_distribution<float> sd(0.002f, 0.01f);
    std::vector<float> ws(channels);
    for (float& s : ws) s = sd(rng);
    std::vector<uint8_t> wz(channels);
    for (std::size_t m = 0; m < channels; ++m)
        wz[m] = static_cast<uint8_t>(c.weightZp + (c.perChannel ? static_cast<int>(m % 3) : 0));
    std::vector<ir::Value*> ins{
        q[0],
        q[1],
        q[2],
        n.init("w", rawTensor(wType, {c.out, c.in / c.group, c.k, c.k}, w.data(), w.size())),
        n.floats("w_scale", sDims, ws),
        n.init("w_zp", rawTensor(wType, sDims, wz.data(), wz.size())),
        n.floats("y_scale", {}, {0.05f}),
        n.zeroPoint("y_zp", c.yZp, false)};
    if (c.bias) {
        std::uniform_int_distribution<int32_t> bd(-3000, 3000);
        std::vector<int32_t> b(static_cast<std::size_t>(c.out));
        for (int32_t& v : b) v = bd(rng);
        ins.push_back(n.init("B", rawTensor(ir::DType::kInt32, {c.out}, b.data(), b.size() * 4)));
    }
    ir::Value* y = n.node("QLinearConv", "qconv", ins);
    ir::Node* node = y->producer();
    node->attributes().push_back(ir::Attribute::makeInts("pads", {c.pad, c.pad, c.pad, c.pad}));
    node->attributes().push_back(ir::Attribute::makeInts("strides", {c.stride, c.stride}));
    node->attributes().push_back(ir::Attribute::makeInt("group", c.group));
    n.g().insertGraphOutput(y);
    return n.model().clone();
}

HostTensor inputOf(const QLinearCase& c) {
    return randomInput({c.batch, c.in, c.size, c.size}, -1.0f, 1.0f);
}

}  // namespace

// The QLinearConv reference kernel is the oracle here (fuse = false: no lowering);
// expectMatchesQdq runs it, then the lowered QConv on oneDNN and on the reference.
TEST(QLinearConv, Uint8WeightsZeroPoint128LowerToOneDnn) {
    QLinearCase c;
    const ir::Model model = qlinearConv(c);
    const std::string steps = expectMatchesQdq(model, inputOf(c));
    const std::vector<std::string> impls = qconvImplementations(steps);
    ASSERT_EQ(impls.size(), 1u) << steps;
    EXPECT_EQ(impls[0].rfind("dnnl ", 0), 0u) << steps;
    EXPECT_EQ(impls[0].find("ref"), std::string::npos) << steps;
    EXPECT_NE(steps.find("QConv(QLinearConv 'qconv')"), std::string::npos) << steps;
}

TEST(QLinearConv, Int8WeightsPerChannelZeroPointsDepthwiseStrided) {
    QLinearCase c;
    c.signedWeights = true;
    c.perChannel = true;
    c.weightZp = 0;  // 0, 1, 2 per channel
    c.wLo = -96;
    c.wHi = 95;
    c.group = c.in;
    c.out = c.in;
    c.stride = 2;
    c.bias = false;
    const ir::Model model = qlinearConv(c);
    const std::string steps = expectMatchesQdq(model, inputOf(c));
    const std::vector<std::string> impls = qconvImplementations(steps);
    ASSERT_EQ(impls.size(), 1u) << steps;
    EXPECT_EQ(impls[0].rfind("dnnl ", 0), 0u) << steps;
}

TEST(QLinearConv, WeightsOutsideInt8StayOnTheReferenceAndSaySo) {
    QLinearCase c;
    c.weightZp = 10;  // w - 10 reaches 245
    const ir::Model model = qlinearConv(c);
    auto plan = Plan::compile(model, {});
    ASSERT_TRUE(plan) << plan.error().message();
    const std::string steps = plan->describe();
    EXPECT_EQ(steps.find("QConv("), std::string::npos) << steps;
    EXPECT_NE(steps.find("QLinearConv 'qconv' [ref int32 loops"), std::string::npos) << steps;
    EXPECT_NE(steps.find("not QConv: weights minus their zero point do not fit int8"),
              std::string::npos)
        << steps;
    auto y = plan->run({inputOf(c)});
    ASSERT_TRUE(y) << y.error().message();
    EXPECT_EQ((*y)[0].dtype(), ir::DType::kUInt8);
}
