// Plan-time fusion: BatchNormalization folded into the Conv before it, activations and residual
// Adds run as oneDNN post-ops, tensors kept in oneDNN's blocked layouts between kernels. Each
// test checks structure (which nodes a step took over, how many steps run) and numerics (the
// fused plan against the reference backend, the oracle, with fusion off).

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "core/engine/plan.h"

using namespace wh;
using namespace wh::engine;

namespace {

/// Builds small CNN graphs with random constant weights (fixed seed).
class Net {
public:
    Net() { m_model.opsetImports.push_back({"", 17, {}}); }

    ir::Value* input(const std::string& name, const Dims& dims) {
        ir::Value* v = *g().addValue(name);
        ir::Shape shape;
        for (int64_t d : dims) shape.dims.push_back(ir::Dim::known(d));
        v->type = ir::Type::tensor(ir::DType::kFloat, shape);
        g().insertGraphInput(v);
        return v;
    }

    ir::Value* constant(const std::string& name, const Dims& dims, float lo, float hi) {
        std::uniform_real_distribution<float> u(lo, hi);
        std::vector<float> data(static_cast<std::size_t>(numElementsOf(dims)));
        for (float& x : data) x = u(m_rng);
        ir::Value* v = *g().addValue(name);
        g().setInitializer(v, ir::Tensor::fromFloats(name, dims, data));
        return v;
    }

    ir::Node* node(const std::string& op, const std::string& name, std::vector<ir::Value*> ins) {
        ir::Value* out = *g().addValue(name + "_out");
        ir::Node* n = g().addNode(op, std::move(ins), std::vector<ir::Value*>{out});
        n->name = name;
        return n;
    }

    /// Conv 3x3 (pad 1) or 1x1 with bias; `group` = in for depthwise.
    ir::Value* conv(const std::string& name, ir::Value* x, int64_t in, int64_t out, int64_t k,
                    int64_t group = 1, bool bias = true) {
        std::vector<ir::Value*> ins{x, constant(name + "_w", {out, in / group, k, k}, -0.3f, 0.3f)};
        if (bias) ins.push_back(constant(name + "_b", {out}, -0.1f, 0.1f));
        ir::Node* n = node("Conv", name, ins);
        n->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {k, k}));
        n->attributes().push_back(ir::Attribute::makeInts("pads", {k / 2, k / 2, k / 2, k / 2}));
        n->attributes().push_back(ir::Attribute::makeInt("group", group));
        return n->output(0);
    }

    ir::Value* bn(const std::string& name, ir::Value* x, int64_t c) {
        ir::Node* n = node(
            "BatchNormalization", name,
            {x, constant(name + "_scale", {c}, 0.5f, 1.5f),
             constant(name + "_bias", {c}, -0.2f, 0.2f), constant(name + "_mean", {c}, -0.2f, 0.2f),
             constant(name + "_var", {c}, 0.5f, 2.0f)});
        n->attributes().push_back(ir::Attribute::makeFloat("epsilon", 1e-3f));
        return n->output(0);
    }

    ir::Value* unary(const std::string& op, const std::string& name, ir::Value* x) {
        return node(op, name, {x})->output(0);
    }

    ir::Value* relu6(const std::string& name, ir::Value* x) {
        ir::Value* lo = constant(name + "_min", {}, 0.0f, 0.0f);
        ir::Value* hi = constant(name + "_max", {}, 6.0f, 6.0f);
        return node("Clip", name, {x, lo, hi})->output(0);
    }

    void output(ir::Value* v) { g().insertGraphOutput(v); }

    ir::Graph& g() { return *m_model.graph; }
    const ir::Model& model() const { return m_model; }

private:
    ir::Model m_model;
    std::mt19937 m_rng{42};
};

HostTensor randomInput(const Dims& dims) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(static_cast<std::size_t>(numElementsOf(dims)));
    for (float& x : v) x = u(rng);
    return HostTensor::fromFloats(dims, v);
}

std::vector<float> runPlan(const ir::Model& model, const PlanOptions& options,
                           const HostTensor& x) {
    auto plan = Plan::compile(model, options);
    EXPECT_TRUE(plan) << plan.error().message();
    if (!plan) return {};
    auto out = plan->run({x});
    EXPECT_TRUE(out) << out.error().message();
    return out ? (*out)[0].toFloats() : std::vector<float>{};
}

/// Fused (default options) against the reference backend without fusion: max |diff| relative
/// to max |reference| below 1e-5.
void expectMatchesReference(const ir::Model& model, const Dims& inputDims) {
    const HostTensor x = randomInput(inputDims);
    PlanOptions oracle;
    oracle.backends = {Backend::kReference};
    oracle.fuse = false;
    const std::vector<float> want = runPlan(model, oracle, x);
    const std::vector<float> got = runPlan(model, {}, x);
    ASSERT_EQ(got.size(), want.size()) << "input " << dimsToString(inputDims);
    double maxRef = 1e-12, maxDiff = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        maxRef = std::max(maxRef, std::abs(static_cast<double>(want[i])));
        maxDiff = std::max(maxDiff, std::abs(static_cast<double>(got[i]) - want[i]));
    }
    EXPECT_LT(maxDiff / maxRef, 1e-5) << "input " << dimsToString(inputDims) << ": max |diff| "
                                      << maxDiff << ", max |ref| " << maxRef;
}

const PlannedNode& planned(const Plan& plan, const std::string& name) {
    for (const PlannedNode& n : plan.nodes())
        if (n.name == name) return n;
    throw std::runtime_error("no planned node " + name);
}

// x -> Conv+BN+Relu -> Conv+BN -> Add(., first) -> Relu -> depthwise Conv+BN+Clip(0, 6)
//   -> Conv 1x1 -> HardSwish -> GlobalAveragePool -> y
Net residualNet() {
    Net n;
    ir::Value* x = n.input("x", {2, 8, 10, 10});
    ir::Value* a = n.unary("Relu", "relu1", n.bn("bn1", n.conv("conv1", x, 8, 16, 3), 16));
    ir::Value* b = n.bn("bn2", n.conv("conv2", a, 16, 16, 3, 1, false), 16);
    ir::Value* s = n.unary("Relu", "relu2", n.node("Add", "add", {b, a})->output(0));
    ir::Value* d = n.relu6("clip", n.bn("bn3", n.conv("dw", s, 16, 16, 3, 16), 16));
    ir::Value* p = n.unary("HardSwish", "hswish", n.conv("pw", d, 16, 24, 1));
    n.output(n.unary("GlobalAveragePool", "gap", p));
    return n;
}

}  // namespace

TEST(PlanFusion, ConvBatchNormActivationAndResidualMatchReference) {
    Net net = residualNet();
    expectMatchesReference(net.model(), {2, 8, 10, 10});
}

TEST(PlanFusion, FoldsBatchNormAndFusesFollowers) {
    Net net = residualNet();
    PlanOptions options;
    auto plan = Plan::compile(net.model(), options);
    ASSERT_TRUE(plan) << plan.error().message();
    const std::string steps = plan->describe();
    const ir::NodeId conv1 = planned(*plan, "conv1").id, conv2 = planned(*plan, "conv2").id,
                     dw = planned(*plan, "dw").id, pw = planned(*plan, "pw").id;
    EXPECT_EQ(planned(*plan, "bn1").fusedInto, conv1) << steps;
    EXPECT_EQ(planned(*plan, "relu1").fusedInto, conv1) << steps;
    EXPECT_EQ(planned(*plan, "bn2").fusedInto, conv2) << steps;
    EXPECT_EQ(planned(*plan, "add").fusedInto, conv2) << steps;
    EXPECT_EQ(planned(*plan, "relu2").fusedInto, conv2) << steps;
    EXPECT_EQ(planned(*plan, "bn3").fusedInto, dw) << steps;
    EXPECT_EQ(planned(*plan, "clip").fusedInto, dw) << steps;
    EXPECT_EQ(planned(*plan, "hswish").fusedInto, pw) << steps;
    EXPECT_FALSE(planned(*plan, "conv1").fusedInto.has_value());
    EXPECT_EQ(planned(*plan, "conv1").backend, Backend::kDnnl);
    EXPECT_NE(steps.find("Conv 'conv1' + BatchNormalization 'bn1' + Relu 'relu1' [dnnl "),
              std::string::npos)
        << steps;

    PlanOptions unfused;
    unfused.fuse = false;
    auto plain = Plan::compile(net.model(), unfused);
    ASSERT_TRUE(plain) << plain.error().message();
    EXPECT_EQ(plain->numSteps(), net.g().numNodes()) << plain->describe();
    // 4 conv steps and the pool, plus at most one conversion to plain at the output.
    EXPECT_LE(plan->numSteps(), 6u) << steps;
    for (const PlannedNode& n : plain->nodes()) EXPECT_FALSE(n.fusedInto.has_value()) << n.name;
}

TEST(PlanFusion, KeepsBlockedLayoutsBetweenDnnlKernels) {
    Net net = residualNet();
    auto plan = Plan::compile(net.model());
    ASSERT_TRUE(plan) << plan.error().message();
    const std::string steps = plan->describe();
    // Each conv hands the next its output in the layout oneDNN chose (nChw16c, or nhwc on CPUs
    // with AMX), named after the shape; nothing converts it back to plain in between.
    // (The brackets name the backend and oneDNN's implementation: "[dnnl jit:avx512_core]".)
    const std::size_t at = steps.find("relu1' [dnnl ");
    ASSERT_NE(at, std::string::npos) << steps;
    const std::string line = steps.substr(at, steps.find('\n', at) - at);
    EXPECT_NE(line.find("] -> [2,16,10,10] "), std::string::npos) << steps;
    EXPECT_EQ(line.find(" plain"), std::string::npos) << steps;
    // 4 convs, the pool, and at most the conversion of the graph output.
    EXPECT_LE(plan->numSteps(), 6u) << steps;
    EXPECT_GT(steps.find("to plain"), steps.find("GlobalAveragePool")) << steps;
    EXPECT_EQ(plan->outputInfo(0).layout, nullptr);
}

TEST(PlanFusion, ConvertsToPlainBeforeKernelsThatNeedIt) {
    // Flatten (a reference kernel) reads NCHW order: the blocked conv output is converted first.
    Net net;
    ir::Value* x = net.input("x", {2, 8, 5, 5});
    ir::Value* c = net.unary("Relu", "relu", net.conv("conv", x, 8, 32, 3));
    net.output(net.unary("Flatten", "flatten", c));
    auto plan = Plan::compile(net.model());
    ASSERT_TRUE(plan) << plan.error().message();
    const std::string steps = plan->describe();
    const bool convWritesPlain = steps.find("[2,32,5,5] plain") != std::string::npos;
    const bool convertedFirst = steps.find("to plain") < steps.find("Flatten");
    EXPECT_TRUE(convWritesPlain || convertedFirst) << steps;
    expectMatchesReference(net.model(), {2, 8, 5, 5});
}

// x -> Conv+Relu = a -> Conv -> Conv -> Add(., a) -> y, optionally also y2 = Relu(a) after the Add.
Net shortcutNet(bool readAfterAdd) {
    Net n;
    ir::Value* x = n.input("x", {2, 16, 8, 8});
    ir::Value* a = n.unary("Relu", "relu", n.conv("conv1", x, 16, 16, 3));
    ir::Value* b = n.conv("conv3", n.conv("conv2", a, 16, 16, 3), 16, 16, 3);
    n.output(n.node("Add", "add", {b, a})->output(0));
    if (readAfterAdd) n.output(n.unary("Sigmoid", "late", a));
    return n;
}

TEST(PlanFusion, ResidualAddAccumulatesInPlaceWhenTheShortcutDies) {
    Net net = shortcutNet(false);
    auto plan = Plan::compile(net.model());
    ASSERT_TRUE(plan) << plan.error().message();
    const std::string steps = plan->describe();
    EXPECT_EQ(planned(*plan, "add").fusedInto, planned(*plan, "conv3").id) << steps;
    const std::size_t at = steps.find("Add 'add' [dnnl ");
    ASSERT_NE(at, std::string::npos) << steps;
    EXPECT_NE(steps.substr(at, steps.find('\n', at) - at).find("] -> [2,16,8,8] "),
              std::string::npos)
        << steps;
    EXPECT_NE(steps.find("(in place)"), std::string::npos) << steps;
    expectMatchesReference(net.model(), {2, 16, 8, 8});
    // Twice: the second run reuses the storage the first left behind.
    auto again = Plan::compile(net.model());
    ASSERT_TRUE(again);
    const HostTensor x = randomInput({2, 16, 8, 8});
    auto first = again->run({x});
    auto second = again->run({x});
    ASSERT_TRUE(first && second);
    EXPECT_EQ((*first)[0].toFloats(), (*second)[0].toFloats());
}

TEST(PlanFusion, ResidualStillReadLaterIsNotOverwritten) {
    Net net = shortcutNet(true);
    auto plan = Plan::compile(net.model());
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(plan->describe().find("(in place)"), std::string::npos) << plan->describe();
    expectMatchesReference(net.model(), {2, 16, 8, 8});
    const HostTensor x = randomInput({2, 16, 8, 8});
    PlanOptions oracle;
    oracle.backends = {Backend::kReference};
    oracle.fuse = false;
    auto ref = Plan::compile(net.model(), oracle);
    ASSERT_TRUE(ref);
    const auto want = (*ref->run({x}))[1].toFloats();
    const auto got = (*plan->run({x}))[1].toFloats();
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << i;
}

TEST(PlanFusion, ResidualIntoAConvWithoutBias) {
    // The residual then arrives as the fused Conv's input 2, where a bias would be: it used to
    // fail at run time ("compiled for input 2 float[], got float[2,16,8,8]").
    Net n;
    ir::Value* x = n.input("x", {2, 16, 8, 8});
    ir::Value* a = n.unary("Relu", "relu", n.conv("conv1", x, 16, 16, 3));
    ir::Value* b = n.conv("conv2", a, 16, 16, 3, 1, false);
    n.output(n.node("Add", "add", {b, a})->output(0));
    auto plan = Plan::compile(n.model());
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(planned(*plan, "add").fusedInto, planned(*plan, "conv2").id) << plan->describe();
    expectMatchesReference(n.model(), {2, 16, 8, 8});
}

TEST(PlanFusion, GemmTakesTheActivationAfterIt) {
    Net net;
    ir::Value* x = net.input("x", {3, 20});
    ir::Node* fc = net.node(
        "Gemm", "fc",
        {x, net.constant("w", {12, 20}, -0.5f, 0.5f), net.constant("b", {12}, -0.5f, 0.5f)});
    fc->attributes().push_back(ir::Attribute::makeInt("transB", 1));
    net.output(net.relu6("clip", fc->output(0)));
    auto plan = Plan::compile(net.model());
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(planned(*plan, "clip").fusedInto, planned(*plan, "fc").id) << plan->describe();
    EXPECT_EQ(plan->numSteps(), 1u) << plan->describe();
    expectMatchesReference(net.model(), {3, 20});
}

// oneDNN 2.6 runs a second eltwise post-op of the same algorithm with the first one's
// parameters: Conv -> Clip(0, 6) -> Clip(0, 0.3) gave values up to 6. Two clips in a row become
// one post-op clipping to [0, 0.3]; a repeated Relu is left to its own step. Both match the
// reference, and the ranges are really narrowed (values reach 0.3, never beyond).
TEST(PlanFusion, RepeatedActivationsAfterAConvOrGemmStayCorrect) {
    for (bool gemm : {false, true}) {
        SCOPED_TRACE(gemm ? "Gemm" : "Conv");
        Net net;
        const Dims dims = gemm ? Dims{3, 20} : Dims{1, 4, 8, 8};
        ir::Value* x = net.input("x", dims);
        ir::Value* y = nullptr;
        if (gemm) {
            ir::Node* fc = net.node("Gemm", "fc",
                                    {x, net.constant("w", {12, 20}, -0.5f, 0.5f),
                                     net.constant("b", {12}, -0.5f, 0.5f)});
            fc->attributes().push_back(ir::Attribute::makeInt("transB", 1));
            y = fc->output(0);
        } else {
            y = net.conv("conv", x, 4, 8, 3);
        }
        y = net.relu6("clip6", y);
        ir::Value* lo = net.constant("narrow_min", {}, 0.0f, 0.0f);
        ir::Value* hi = net.constant("narrow_max", {}, 0.3f, 0.3f);
        y = net.node("Clip", "narrow", {y, lo, hi})->output(0);
        y = net.unary("Relu", "relu_a", y);
        net.output(net.unary("Relu", "relu_b", y));
        auto plan = Plan::compile(net.model());
        ASSERT_TRUE(plan) << plan.error().message();
        const PlannedNode& root = planned(*plan, gemm ? "fc" : "conv");
        EXPECT_EQ(planned(*plan, "narrow").fusedInto, root.id) << plan->describe();
        EXPECT_EQ(planned(*plan, "relu_a").fusedInto, root.id) << plan->describe();
        EXPECT_NE(planned(*plan, "relu_b").fusedInto, root.id) << plan->describe();
        auto out = plan->run({randomInput(dims)});
        ASSERT_TRUE(out) << out.error().message();
        const std::vector<float> v = (*out)[0].toFloats();
        EXPECT_FLOAT_EQ(*std::max_element(v.begin(), v.end()), 0.3f);
        expectMatchesReference(net.model(), dims);
    }
}

TEST(PlanFusion, BatchNormWhoseConvOutputIsAlsoReadIsNotFolded) {
    Net net;
    ir::Value* x = net.input("x", {1, 4, 6, 6});
    ir::Value* c = net.conv("conv", x, 4, 8, 3);
    net.output(net.bn("bn", c, 8));
    net.output(c);  // the Conv's own output is wanted too
    auto plan = Plan::compile(net.model());
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_FALSE(planned(*plan, "bn").fusedInto.has_value()) << plan->describe();
    expectMatchesReference(net.model(), {1, 4, 6, 6});
}

TEST(PlanFusion, LeavesTheModelUntouched) {
    Net net = residualNet();
    const ir::Value* w = nullptr;
    for (const ir::Value* v : net.g().initializers())
        if (v->name() == "conv1_w") w = v;
    ASSERT_NE(w, nullptr);
    const std::vector<float> before = HostTensor::fromIr(*w->initializer())->toFloats();
    const std::size_t nodes = net.g().numNodes();
    ASSERT_TRUE(Plan::compile(net.model()));
    EXPECT_EQ(HostTensor::fromIr(*w->initializer())->toFloats(), before);
    EXPECT_EQ(net.g().numNodes(), nodes);
}

TEST(PlanFusion, ReferenceBackendFoldsBatchNormToo) {
    // The folding is the plan's, not oneDNN's: a reference-only plan folds and still matches.
    Net net = residualNet();
    const HostTensor x = randomInput({2, 8, 10, 10});
    PlanOptions folded, oracle;
    folded.backends = oracle.backends = {Backend::kReference};
    oracle.fuse = false;
    auto plan = Plan::compile(net.model(), folded);
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(planned(*plan, "bn1").fusedInto, planned(*plan, "conv1").id);
    EXPECT_FALSE(planned(*plan, "relu1").fusedInto.has_value());  // no post-ops in the reference
    const std::vector<float> got = (*plan->run({x}))[0].toFloats();
    const std::vector<float> want = runPlan(net.model(), oracle, x);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << i;
}

TEST(PlanFusion, ResultsOutliveTheNextRun) {
    // run() hands out the plan's own output storage; the next run must not overwrite it.
    Net net = residualNet();
    auto plan = Plan::compile(net.model());
    ASSERT_TRUE(plan) << plan.error().message();
    auto first = plan->run({randomInput({2, 8, 10, 10})});
    ASSERT_TRUE(first);
    const std::vector<float> kept = (*first)[0].toFloats();
    auto second = plan->run({HostTensor(ir::DType::kFloat, {2, 8, 10, 10})});
    ASSERT_TRUE(second);
    EXPECT_EQ((*first)[0].toFloats(), kept);
    EXPECT_NE((*second)[0].toFloats(), kept);
}

TEST(PlanFusion, TrainingPlansDoNotFuse) {
    Net net = residualNet();
    PlanOptions options;
    options.training = true;
    options.backends = {Backend::kReference};
    auto plan = Plan::compile(net.model(), options);
    if (!plan) GTEST_SKIP() << plan.error().message();
    for (const PlannedNode& n : plan->nodes()) EXPECT_FALSE(n.fusedInto.has_value()) << n.name;
}
