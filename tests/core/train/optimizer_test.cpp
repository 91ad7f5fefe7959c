// Optimizer steps against hand-computed updates; schedules at known steps; clipping.

#include <gtest/gtest.h>

#include <cmath>

#include "core/train/lr_schedule.h"
#include "core/train/optimizer.h"

using namespace wh;
using namespace wh::train;
using engine::HostTensor;

namespace {
std::vector<Parameter> one(float value, float grad) {
    Parameter p;
    p.name = "w";
    p.value = HostTensor::fromFloats({1}, {value});
    p.grad = HostTensor::fromFloats({1}, {grad});
    std::vector<Parameter> v;
    v.push_back(std::move(p));
    return v;
}
float val(const std::vector<Parameter>& p) { return p[0].value.data<float>()[0]; }
}  // namespace

TEST(Sgd, PlainAndWeightDecay) {
    auto p = one(1.0f, 0.5f);
    Sgd sgd;
    ASSERT_TRUE(sgd.step(p, 0.1).isOk());
    EXPECT_NEAR(val(p), 0.95, 1e-7);
    auto q = one(2.0f, 0.0f);
    Sgd decay({0.0, 0.0, false, 0.1});
    ASSERT_TRUE(decay.step(q, 0.1).isOk());
    EXPECT_NEAR(val(q), 2.0 - 0.1 * 0.2, 1e-6);  // g = 0 + 0.1 * 2
}

TEST(Sgd, Momentum) {
    auto p = one(1.0f, 1.0f);
    Sgd sgd({0.9, 0.0, false, 0.0});
    ASSERT_TRUE(sgd.step(p, 0.1).isOk());
    EXPECT_NEAR(val(p), 0.9, 1e-6);   // buf = 1
    ASSERT_TRUE(sgd.step(p, 0.1).isOk());
    EXPECT_NEAR(val(p), 0.71, 1e-6);  // buf = 0.9 + 1 = 1.9
}

TEST(Sgd, Nesterov) {
    auto p = one(1.0f, 1.0f);
    Sgd sgd({0.9, 0.0, true, 0.0});
    ASSERT_TRUE(sgd.step(p, 0.1).isOk());
    EXPECT_NEAR(val(p), 1.0 - 0.1 * 1.9, 1e-6);           // g + 0.9 buf, buf = 1
    ASSERT_TRUE(sgd.step(p, 0.1).isOk());
    EXPECT_NEAR(val(p), 0.81 - 0.1 * (1 + 0.9 * 1.9), 1e-6);  // buf = 1.9
}

TEST(Adam, BiasCorrection) {
    auto p = one(1.0f, 0.5f);
    Adam adam;
    ASSERT_TRUE(adam.step(p, 0.01).isOk());
    // Step 1: m^ = g, v^ = g^2, so the update is lr * sign(g).
    EXPECT_NEAR(val(p), 0.99, 1e-6);
    p[0].grad.data<float>()[0] = 0.25f;
    ASSERT_TRUE(adam.step(p, 0.01).isOk());
    const double m = 0.9 * 0.05 + 0.1 * 0.25, v = 0.999 * 0.00025 + 0.001 * 0.0625;
    const double mh = m / (1 - 0.81), vh = v / (1 - 0.999 * 0.999);
    EXPECT_NEAR(val(p), 0.99 - 0.01 * mh / (std::sqrt(vh) + 1e-8), 1e-6);
}

TEST(Adam, AdamWDecouplesWeightDecay) {
    // Zero gradient: AdamW only shrinks the weight by lr * wd; Adam's L2 term becomes a gradient
    // that the normalisation turns into a full lr step.
    auto w = one(1.0f, 0.0f);
    Adam adamw({0.9, 0.999, 1e-8, 0.1, true});
    ASSERT_TRUE(adamw.step(w, 0.01).isOk());
    EXPECT_NEAR(val(w), 1.0 - 0.01 * 0.1, 1e-7);
    auto a = one(1.0f, 0.0f);
    Adam adam({0.9, 0.999, 1e-8, 0.1, false});
    ASSERT_TRUE(adam.step(a, 0.01).isOk());
    EXPECT_NEAR(val(a), 0.99, 1e-6);
    EXPECT_EQ(adamw.name(), "adamw");
}

TEST(Optimizer, SkipsFrozenAndMakesByName) {
    auto p = one(1.0f, 1.0f);
    p[0].trainable = false;
    Sgd sgd;
    ASSERT_TRUE(sgd.step(p, 0.1).isOk());
    EXPECT_EQ(val(p), 1.0f);
    EXPECT_TRUE(makeOptimizer("sgd"));
    EXPECT_TRUE(makeOptimizer("adamw"));
    EXPECT_FALSE(makeOptimizer("lbfgs"));
}

TEST(Clip, GlobalNorm) {
    std::vector<Parameter> ps;
    for (float g : {3.0f, 4.0f}) ps.push_back(std::move(one(0.0f, g)[0]));
    EXPECT_NEAR(clipGradientNorm(ps, 1.0), 5.0, 1e-9);
    EXPECT_NEAR(ps[0].grad.data<float>()[0], 0.6, 1e-6);
    EXPECT_NEAR(ps[1].grad.data<float>()[0], 0.8, 1e-6);
    EXPECT_NEAR(clipGradientNorm(ps, 10.0), 1.0, 1e-6);  // below the bound: unchanged
    EXPECT_NEAR(ps[1].grad.data<float>()[0], 0.8, 1e-6);
}

TEST(LrSchedule, Step) {
    StepLr s(0.1, 10, 0.5);
    EXPECT_DOUBLE_EQ(s.lr(0), 0.1);
    EXPECT_DOUBLE_EQ(s.lr(9), 0.1);
    EXPECT_DOUBLE_EQ(s.lr(10), 0.05);
    EXPECT_DOUBLE_EQ(s.lr(25), 0.025);
}

TEST(LrSchedule, CosineWithWarmup) {
    CosineLr s(1.0, 110, 10, 0.0);
    EXPECT_NEAR(s.lr(0), 0.1, 1e-12);
    EXPECT_NEAR(s.lr(9), 1.0, 1e-12);
    EXPECT_NEAR(s.lr(10), 1.0, 1e-12);
    EXPECT_NEAR(s.lr(60), 0.5, 1e-12);
    EXPECT_NEAR(s.lr(110), 0.0, 1e-12);
    CosineLr m(1.0, 100, 0, 0.1);
    EXPECT_NEAR(m.lr(100), 0.1, 1e-12);
}

TEST(LrSchedule, OneCycleMatchesPyTorch) {
    // torch.optim.lr_scheduler.OneCycleLR(max_lr=1, total_steps=100): 0.04 → 1 at step 29 →
    // 4e-6 at step 99.
    OneCycleLr s(1.0, 100);
    EXPECT_NEAR(s.lr(0), 0.04, 1e-12);
    EXPECT_NEAR(s.lr(29), 1.0, 1e-12);
    EXPECT_NEAR(s.lr(99), 4e-6, 1e-12);
    EXPECT_NEAR(s.lr(64), (1.0 + 4e-6) / 2, 1e-12);
    EXPECT_LT(s.lr(10), s.lr(20));
    EXPECT_TRUE(makeLrSchedule("onecycle", 0.1, 100));
    EXPECT_FALSE(makeLrSchedule("linear", 0.1, 100));
}
