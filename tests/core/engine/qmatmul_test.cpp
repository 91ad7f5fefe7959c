// Int8 MatMul and Gemm: QDQ groups (DequantizeLinear → MatMul | Gemm → [Relu | Clip] →
// QuantizeLinear) lowered to one QMatMul and run as a oneDNN int8 matmul. Each test builds a
// small QDQ model with random weights and compares the int8 plan's quantized outputs against the
// QDQ graph run as float reference ops (fuse = false), the oracle: every element within one step
// of the output grid, nearly all exact. The reference QMatMul kernel is checked the same way.

#include <random>

#include <gtest/gtest.h>

#include "core/engine/plan.h"
#include "tests/core/engine/qdq_test_util.h"

using namespace wh;
using namespace wh::engine;

namespace {

using namespace wh::engine::qdqtest;

struct MatMulCase {
    Dims x{6, 40};         // [..., M, K]
    int64_t n = 24;        // output columns
    bool gemm = false;     // Gemm (transB = 1, weights [N, K]) instead of MatMul ([K, N])
    bool perColumn = true;
    bool bias = false;     // Gemm's C: an int32 bias through DequantizeLinear
    bool floatBias = false;
    std::string act;       // "", "Relu", "Clip"
    int xZp = 128;
    bool signedX = false;
    int yZp = 0;
};

ir::Model build(const MatMulCase& c) {
    QNet net;
    std::mt19937 rng(3);
    ir::Value* x = net.input("x", c.x);
    const float xScale = 2.0f / 255.0f;
    auto q = net.quantize("xq", x, xScale, c.signedX ? c.xZp - 128 : c.xZp, c.signedX);
    ir::Value* dqx = net.dequantize("dqx", q);
    const int64_t k = c.x.back();
    std::uniform_int_distribution<int> wd(-127, 127);
    std::vector<int8_t> w(static_cast<std::size_t>(k * c.n));
    for (int8_t& v : w) v = static_cast<int8_t>(wd(rng));
    std::uniform_real_distribution<float> sd(0.002f, 0.01f);
    std::vector<float> ws(c.perColumn ? static_cast<std::size_t>(c.n) : 1);
    for (float& s : ws) s = sd(rng);
    const Dims wDims = c.gemm ? Dims{c.n, k} : Dims{k, c.n};
    ir::Value* wq = net.init("wq", rawTensor(ir::DType::kInt8, wDims, w.data(), w.size()));
    ir::Value* wsv = net.floats("ws", c.perColumn ? Dims{c.n} : Dims{}, ws);
    ir::Value* dqw = net.node("DequantizeLinear", "dqw", {wq, wsv});
    dqw->producer()->attributes().push_back(ir::Attribute::makeInt("axis", c.gemm ? 0 : 1));
    std::vector<ir::Value*> ins{dqx, dqw};
    if (c.bias) {
        std::uniform_int_distribution<int32_t> bd(-3000, 3000);
        std::vector<int32_t> b(static_cast<std::size_t>(c.n));
        for (int32_t& v : b) v = bd(rng);
        ir::Value* bq = net.init("bq", rawTensor(ir::DType::kInt32, {c.n}, b.data(), b.size() * 4));
        ir::Value* bs = net.node("Mul", "bs", {net.floats("xs", {}, {xScale}), wsv});
        ir::Value* dqb = net.node("DequantizeLinear", "dqb", {bq, bs});
        dqb->producer()->attributes().push_back(ir::Attribute::makeInt("axis", 0));
        ins.push_back(dqb);
    } else if (c.floatBias) {
        std::uniform_real_distribution<float> bd(-0.5f, 0.5f);
        std::vector<float> b(static_cast<std::size_t>(c.n));
        for (float& v : b) v = bd(rng);
        ins.push_back(net.floats("b", {c.n}, b));
    }
    ir::Value* y = net.node(c.gemm ? "Gemm" : "MatMul", "mm", ins);
    if (c.gemm) y->producer()->attributes().push_back(ir::Attribute::makeInt("transB", 1));
    if (c.act == "Relu") y = net.node("Relu", "relu", {y});
    if (c.act == "Clip")
        y = net.node("Clip", "clip", {y, net.floats("lo", {}, {0.0f}), net.floats("hi", {}, {1.5f})});
    auto out = net.quantize("yq", y, 0.02f, c.yZp, false);
    net.g().insertGraphOutput(out[0]);
    return net.model().clone();
}

void check(const MatMulCase& c) {
    SCOPED_TRACE(::testing::Message() << (c.gemm ? "Gemm" : "MatMul") << " x " << dimsToString(c.x)
                                      << " n " << c.n << " act '" << c.act << "' xZp " << c.xZp
                                      << " yZp " << c.yZp);
    const ir::Model model = build(c);
    const HostTensor x = randomInput(c.x, c.xZp == 0 ? 0.0f : -1.0f, 1.0f);
    const std::string steps = expectMatchesQdq(model, x);
    const std::vector<std::string> impls = implementationsOf(steps, "QMatMul");
    ASSERT_EQ(impls.size(), 1u) << steps;
    EXPECT_EQ(impls[0].rfind("dnnl ", 0), 0u) << steps;
    EXPECT_EQ(impls[0].find("ref"), std::string::npos) << steps;
    EXPECT_EQ(("\n" + steps).find("\nDequantizeLinear"), std::string::npos)
        << "a float step is left:\n" << steps;
}

}  // namespace

TEST(QMatMul, PerColumnWithSourceZeroPoint) {
    check(MatMulCase{});
}

TEST(QMatMul, BatchedInputRelu) {
    MatMulCase c;
    c.x = {2, 3, 5, 32};
    c.act = "Relu";
    c.xZp = 0;
    check(c);
}

TEST(QMatMul, GemmTransposedWithInt32BiasAndClip) {
    MatMulCase c;  // as our exports write a classifier: transB = 1, bias scale Mul(s_x, s_w)
    c.gemm = true;
    c.bias = true;
    c.act = "Clip";
    c.yZp = 10;
    check(c);
}

TEST(QMatMul, GemmFloatBiasPerTensorSignedInput) {
    MatMulCase c;
    c.gemm = true;
    c.floatBias = true;
    c.perColumn = false;
    c.signedX = true;
    c.xZp = 100;  // int8 zero point -28
    check(c);
}

TEST(QMatMul, AlphaOtherThanOneStaysQdq) {
    MatMulCase c;
    c.gemm = true;
    ir::Model m = build(c);
    for (ir::Node* n : m.graph->nodes())
        if (n->opType == "Gemm") n->attributes().push_back(ir::Attribute::makeFloat("alpha", 0.5f));
    auto plan = compile(m, true, false);
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_TRUE(implementationsOf(plan->describe(), "QMatMul").empty()) << plan->describe();
    // ... and still computes the QDQ graph.
    expectMatchesQdq(m, std::vector<HostTensor>{randomInput(c.x, -1.0f, 1.0f)}, 1.0);
}
