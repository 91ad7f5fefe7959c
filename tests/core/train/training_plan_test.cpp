// TrainingPlan on small graphs: whole-graph gradients against finite differences of the loss
// (BatchNormalization in training and frozen mode, a value with two consumers and one read twice
// by the same node), BN running statistics, Constant weights lifted, write-back, clear errors.

#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "core/engine/training_plan.h"
#include "core/train/optimizer.h"
#include "model_builder.h"

using namespace wh;
using namespace wh::engine;
using wh::testing::ModelBuilder;

namespace {

// x[N,1,6,6] → Conv(3x3, pad 1) → BN → Relu = r → u = r * gamma + r → Add(u, u) → MaxPool 2x2
// → Flatten → Gemm(transB) → logits [N,5].
ir::Model smallCnn(bool constantW2 = false) {
    ModelBuilder b(13, 3);
    b.input("x", {1, 6, 6});
    b.weight("W1", {3, 1, 3, 3}, 9);
    b.weight("B1", {3}, 9);
    b.weight("bn_scale", {3}, 0, 1.0f);
    b.weight("bn_bias", {3}, 0, 0.1f);
    b.weight("bn_mean", {3}, 0, 0.0f);
    b.weight("bn_var", {3}, 0, 1.0f);
    b.weight("gamma", {1, 3, 1, 1}, 3);
    if (constantW2)
        b.constantWeight("W2", {5, 27}, 27);
    else
        b.weight("W2", {5, 27}, 27);
    b.weight("B2", {5}, 27);
    b.node("Conv", {"x", "W1", "B1"}, {"c"})
        ->attributes()
        .push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    b.node("BatchNormalization", {"c", "bn_scale", "bn_bias", "bn_mean", "bn_var"}, {"bn"});
    b.node("Relu", {"bn"}, {"r"});
    b.node("Mul", {"r", "gamma"}, {"q"});
    b.node("Add", {"q", "r"}, {"u"});
    b.node("Add", {"u", "u"}, {"u2"});
    ir::Node* pool = b.node("MaxPool", {"u2"}, {"p"});
    pool->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {2, 2}));
    pool->attributes().push_back(ir::Attribute::makeInts("strides", {2, 2}));
    b.node("Flatten", {"p"}, {"f"});
    ir::Node* gemm = b.node("Gemm", {"f", "W2", "B2"}, {"logits"});
    gemm->attributes().push_back(ir::Attribute::makeInt("transB", 1));
    b.output("logits", {5});
    return b.take();
}

HostTensor randomImages(int64_t n, uint64_t seed) {
    Rng rng(seed);
    HostTensor t(ir::DType::kFloat, {n, 1, 6, 6});
    for (float& v : t.span<float>()) v = static_cast<float>(rng.normal());
    return t;
}

// The ops a transformer block adds, trained end to end: x[N,6,8] → LayerNormalization (opset 17)
// → MatMul → GELU as PyTorch exports it (Div, Erf, Add, Mul, Mul) → Where(mask, ·, fill) →
// + Expand(bias) → Tile ×2 on the features → ReduceMean over positions → Gemm → logits [N,5].
ir::Model transformerOps() {
    ModelBuilder b(17, 5);
    b.input("x", {6, 8});
    b.weight("ln_s", {8}, 0, 1.0f);
    b.weight("ln_b", {8}, 0, 0.05f);
    b.weight("W1", {8, 8}, 8);
    b.weight("sqrt2", {}, 0, std::sqrt(2.0f));
    b.weight("one", {}, 0, 1.0f);
    b.weight("half", {}, 0, 0.5f);
    b.bools("mask", {6, 1}, {true, true, false, true, false, true});
    b.weight("fill", {1}, 0, 0.3f);
    b.weight("bias", {1, 8}, 8);
    b.int64s("bias_shape", {6, 8});
    b.int64s("repeats", {1, 1, 2});
    b.weight("W2", {5, 16}, 16);
    b.weight("B2", {5}, 16);
    b.node("LayerNormalization", {"x", "ln_s", "ln_b"}, {"ln"});
    b.node("MatMul", {"ln", "W1"}, {"h"});
    b.node("Div", {"h", "sqrt2"}, {"e1"});
    b.node("Erf", {"e1"}, {"e2"});
    b.node("Add", {"e2", "one"}, {"e3"});
    b.node("Mul", {"h", "e3"}, {"e4"});
    b.node("Mul", {"e4", "half"}, {"gelu"});
    b.node("Where", {"mask", "gelu", "fill"}, {"w"});
    b.node("Expand", {"bias", "bias_shape"}, {"eb"});
    b.node("Add", {"w", "eb"}, {"a"});
    b.node("Tile", {"a", "repeats"}, {"t"});
    ir::Node* mean = b.node("ReduceMean", {"t"}, {"m"});
    mean->attributes().push_back(ir::Attribute::makeInts("axes", {1}));
    mean->attributes().push_back(ir::Attribute::makeInt("keepdims", 0));
    b.node("Gemm", {"m", "W2", "B2"}, {"logits"})
        ->attributes()
        .push_back(ir::Attribute::makeInt("transB", 1));
    b.output("logits", {5});
    return b.take();
}

HostTensor randomTensor(Dims dims, uint64_t seed) {
    Rng rng(seed);
    HostTensor t(ir::DType::kFloat, std::move(dims));
    for (float& v : t.span<float>()) v = static_cast<float>(rng.normal());
    return t;
}

void gradientCheck(bool frozenBn, const ir::Model& model = smallCnn(),
                   const HostTensor& x = randomImages(4, 11)) {
    auto plan = TrainingPlan::compile(model);
    ASSERT_TRUE(plan) << plan.error().message();
    plan->flags().batchNormFrozen = frozenBn;
    const HostTensor labels = HostTensor::fromInt64s({4}, {0, 3, 4, 1});
    auto loss0 = plan->forwardBackward(x, labels);
    ASSERT_TRUE(loss0) << loss0.error().message();
    // Keep the analytic gradients; FD re-runs forwardBackward (the loss in training mode does not
    // depend on the running statistics it updates).
    std::vector<std::vector<float>> analytic;
    for (const Parameter& p : plan->parameters()) analytic.push_back(p.grad.toFloats());
    const double h = 1e-2;
    for (std::size_t k = 0; k < plan->parameters().size(); ++k) {
        Parameter& p = plan->parameters()[k];
        const int64_t n = p.value.numElements();
        const int64_t stride = std::max<int64_t>(1, n / 24);
        double num2 = 0, diff2 = 0;
        for (int64_t e = 0; e < n; e += stride) {
            float& w = p.value.data<float>()[e];
            const float w0 = w;
            w = static_cast<float>(w0 + h);
            const double lp = *plan->forwardBackward(x, labels);
            w = static_cast<float>(w0 - h);
            const double lm = *plan->forwardBackward(x, labels);
            w = w0;
            const double numeric = (lp - lm) / (2 * h);
            const double a = analytic[k][static_cast<std::size_t>(e)];
            num2 += numeric * numeric;
            diff2 += (numeric - a) * (numeric - a);
        }
        // Relative where the gradient is not ~0 (a bias before training-mode BN has none).
        const double err = std::sqrt(diff2) / std::max(0.1, std::sqrt(num2));
        std::printf("[ plan ] %-8s %-9s rel err %.2e (|g| %.2e)\n",
                    frozenBn ? "frozenBN" : "trainBN", p.name.c_str(), err, std::sqrt(num2));
        EXPECT_LT(err, 2e-2) << p.name << " " << dimsToString(p.value.dims())
                             << (frozenBn ? " frozen BN" : " training BN");
    }
}

}  // namespace

TEST(TrainingPlan, GradientsMatchFiniteDifferencesTrainingBn) {
    gradientCheck(false);
}
TEST(TrainingPlan, GradientsMatchFiniteDifferencesFrozenBn) {
    gradientCheck(true);
}
TEST(TrainingPlan, GradientsMatchFiniteDifferencesThroughTransformerOps) {
    gradientCheck(false, transformerOps(), randomTensor({4, 6, 8}, 13));
}

TEST(TrainingPlan, ParametersStateAndMemory) {
    auto plan = TrainingPlan::compile(smallCnn());
    ASSERT_TRUE(plan) << plan.error().message();
    std::vector<std::string> names;
    for (const Parameter& p : plan->parameters()) names.push_back(p.name);
    EXPECT_EQ(names,
              (std::vector<std::string>{"W1", "B1", "bn_scale", "bn_bias", "gamma", "W2", "B2"}));
    ASSERT_EQ(plan->state().size(), 2u);
    EXPECT_EQ(plan->state()[0].first, "bn_mean");
    EXPECT_EQ(plan->numSteps(), 8);  // 9 nodes, the Relu computed by the BatchNormalization
    // Saved: x (Conv's dW), c (BN), r, gamma... but not every activation (e.g. q, u, u2's copy).
    EXPECT_LT(plan->numSavedActivations(), 9);
}

TEST(TrainingPlan, BatchNormRunningStatisticsFollowOnnx) {
    auto plan = TrainingPlan::compile(smallCnn());
    ASSERT_TRUE(plan);
    const HostTensor x = randomImages(8, 5);
    const HostTensor labels = HostTensor::fromInt64s({8}, {0, 1, 2, 3, 4, 0, 1, 2});
    ASSERT_TRUE(plan->forwardBackward(x, labels));
    // Running mean starts at 0, variance at 1: after one step 0.1 * batch statistics.
    const float mean0 = plan->state()[0].second.data<float>()[0];
    const float var0 = plan->state()[1].second.data<float>()[0];
    EXPECT_NE(mean0, 0.0f);
    EXPECT_NE(var0, 1.0f);
    // Frozen: the statistics stay.
    plan->flags().batchNormFrozen = true;
    ASSERT_TRUE(plan->forwardBackward(x, labels));
    EXPECT_EQ(plan->state()[0].second.data<float>()[0], mean0);
    EXPECT_EQ(plan->state()[1].second.data<float>()[0], var0);
    plan->flags().batchNormFrozen = false;
    ASSERT_TRUE(plan->forwardBackward(x, labels));
    // Same batch again: running = 0.9 running + 0.1 batch, batch mean unchanged by the update.
    const double batchMean = mean0 / 0.1;
    EXPECT_NEAR(plan->state()[0].second.data<float>()[0], 0.9 * mean0 + 0.1 * batchMean, 1e-4);
}

TEST(TrainingPlan, WriteBackKeepsNamesOrderAndDtype) {
    ir::Model model = smallCnn();
    auto plan = TrainingPlan::compile(model);
    ASSERT_TRUE(plan);
    train::Sgd sgd({0.9, 0, false, 0});
    const HostTensor x = randomImages(4, 3);
    const HostTensor labels = HostTensor::fromInt64s({4}, {1, 1, 2, 2});
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(plan->forwardBackward(x, labels));
        ASSERT_TRUE(sgd.step(plan->parameters(), 0.1).isOk());
    }
    std::vector<std::string> before;
    for (const ir::Value* v : model.graph->initializers()) before.push_back(v->name());
    ASSERT_TRUE(plan->writeBack(model).isOk());
    std::vector<std::string> after;
    for (const ir::Value* v : model.graph->initializers()) after.push_back(v->name());
    EXPECT_EQ(before, after);
    for (const Parameter& p : plan->parameters()) {
        const ir::Tensor* t = model.graph->findValue(p.name)->initializer();
        ASSERT_TRUE(t);
        EXPECT_EQ(t->dtype, ir::DType::kFloat);
        EXPECT_EQ(t->values<float>()[0], p.value.data<float>()[0]) << p.name;
    }
    EXPECT_EQ(model.graph->findValue("bn_mean")->initializer()->values<float>()[1],
              plan->state()[0].second.data<float>()[1]);
    // The model's eval forward reproduces the plan's.
    auto again = TrainingPlan::compile(model);
    ASSERT_TRUE(again);
    auto a = plan->evaluate(x);
    auto b = again->evaluate(x);
    ASSERT_TRUE(a && b);
    for (int64_t i = 0; i < (*a)[0].numElements(); ++i)
        EXPECT_FLOAT_EQ((*a)[0].data<float>()[i], (*b)[0].data<float>()[i]);
}

TEST(TrainingPlan, ConstantWeightsAreLiftedAndWrittenBack) {
    ir::Model model = smallCnn(true);
    auto plan = TrainingPlan::compile(model);
    ASSERT_TRUE(plan) << plan.error().message();
    Parameter* w2 = plan->parameter("W2");
    ASSERT_TRUE(w2);
    ASSERT_TRUE(plan->forwardBackward(randomImages(2, 1), HostTensor::fromInt64s({2}, {0, 1})));
    w2->value.data<float>()[0] = 42.0f;
    ASSERT_TRUE(plan->writeBack(model).isOk());
    const ir::Node* c = model.graph->findValue("W2")->producer();
    ASSERT_TRUE(c && c->opType == "Constant");
    EXPECT_EQ(c->attribute("value")->t->values<float>()[0], 42.0f);
}

TEST(TrainingPlan, FrozenParametersGetNoUpdate) {
    TrainingOptions opt;
    opt.frozen = {"W1"};
    auto plan = TrainingPlan::compile(smallCnn(), opt);
    ASSERT_TRUE(plan);
    EXPECT_FALSE(plan->parameter("W1")->trainable);
    const float w = plan->parameter("W1")->value.data<float>()[0];
    train::Sgd sgd;
    ASSERT_TRUE(plan->forwardBackward(randomImages(2, 1), HostTensor::fromInt64s({2}, {0, 1})));
    ASSERT_TRUE(sgd.step(plan->parameters(), 0.1).isOk());
    EXPECT_EQ(plan->parameter("W1")->value.data<float>()[0], w);
}

TEST(TrainingPlan, ErrorsNameTheNode) {
    ModelBuilder b;
    b.input("x", {4});
    b.weight("W", {4, 4}, 4);
    b.node("MatMul", {"x", "W"}, {"y"});
    b.node("Abs", {"y"}, {"z"});  // a forward kernel, no gradient
    b.output("z", {4});
    auto plan = TrainingPlan::compile(b.take());
    ASSERT_FALSE(plan);
    EXPECT_EQ(plan.error().code(), StatusCode::kUnsupported);
    EXPECT_NE(plan.error().message().find("Abs"), std::string::npos) << plan.error().message();

    auto ok = TrainingPlan::compile(smallCnn());
    ASSERT_TRUE(ok);
    auto bad = ok->forwardBackward(randomImages(2, 1), HostTensor::fromInt64s({2}, {0, 9}));
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("label 9"), std::string::npos) << bad.error().message();
}

// A batch whose activations do not fit the memory budget: forwardBackward and evaluate fail
// with kBadInput naming a step (no exception leaves the plan), and the plan trains again once
// the batch fits.
TEST(TrainingPlan, OverTheMemoryLimitIsBadInputNotACrash) {
    auto plan = TrainingPlan::compile(smallCnn());
    ASSERT_TRUE(plan) << plan.error().message();
    const HostTensor x = randomImages(4096, 3);  // conv output alone: 4096*3*36*4 = 1.7 MiB
    std::vector<int64_t> zeros(4096, 0);
    const HostTensor labels = HostTensor::fromInt64s({4096}, zeros);
    setMemoryLimit(memoryInUse() + (1 << 20));
    auto loss = plan->forwardBackward(x, labels);
    auto outputs = plan->evaluate(x);
    setMemoryLimit(0);
    ASSERT_FALSE(loss);
    EXPECT_EQ(loss.error().code(), StatusCode::kBadInput);
    EXPECT_NE(loss.error().message().find("over the memory limit"), std::string::npos)
        << loss.error().message();
    EXPECT_NE(loss.error().message().find("node '"), std::string::npos) << loss.error().message();
    ASSERT_FALSE(outputs);
    EXPECT_EQ(outputs.error().code(), StatusCode::kBadInput);
    auto small =
        plan->forwardBackward(randomImages(4, 1), HostTensor::fromInt64s({4}, {0, 1, 2, 3}));
    EXPECT_TRUE(small) << small.error().message();
}
