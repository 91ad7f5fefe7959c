// BatchNormFold (com.whittle): the inference kernel (running statistics), the training forward
// (batch statistics, running averages updated; frozen and evaluating: running ones) against
// hand-computed values, and its gradient against finite differences.

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/engine/autodiff.h"
#include "core/engine/batch_norm_fold.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/kernel_registry.h"
#include "core/util/rng.h"

using namespace wh;
using namespace wh::engine;

namespace {

HostTensor doubles(Dims dims, const std::vector<double>& v) {
    HostTensor t(ir::DType::kDouble, std::move(dims));
    for (std::size_t i = 0; i < v.size(); ++i) t.data<double>()[i] = v[i];
    return t;
}

void expectValues(const HostTensor& got, const std::vector<double>& want, const char* what,
                  double tol = 1e-6) {
    ASSERT_EQ(got.numElements(), static_cast<int64_t>(want.size())) << what;
    for (int64_t i = 0; i < got.numElements(); ++i)
        EXPECT_NEAR(got.at(i), want[static_cast<std::size_t>(i)], tol) << what << " element " << i;
}

// One BatchNormFold node run through the registries' reference kernel, training forward and
// gradient.
class BnfOp {
public:
    BnfOp(float eps, float momentum) {
        ir::Graph& g = *m_model.graph;
        std::vector<ir::Value*> ins = {*g.addValue("x"), *g.addValue("rm"), *g.addValue("rv")};
        std::vector<ir::Value*> outs = {*g.addValue("mean"), *g.addValue("std")};
        m_node = g.addNode(std::string(kBatchNormFoldOp), ins, outs);
        m_node->domain = std::string(kWhittleDomain);
        m_node->name = "bnf";
        m_node->attributes().push_back(ir::Attribute::makeFloat("epsilon", eps));
        m_node->attributes().push_back(ir::Attribute::makeFloat("momentum", momentum));
        m_nodeFlags.plan = &m_flags;
    }

    struct Result {
        HostTensor mean, std, newMean, newVar;  // the last two: training forward's state outputs
        HostTensor dx, drm, drv;
    };

    Expected<Result> infer(const HostTensor& x, const HostTensor& rm, const HostTensor& rv) const {
        const std::vector<TensorInfo> in = {TensorInfo::of(x), TensorInfo::of(rm), TensorInfo::of(rv)};
        KernelOptions opt;
        KernelContext ctx{*m_node, 1, in, opt};
        const KernelFactory* f =
            KernelRegistry::builtin().find(kWhittleDomain, kBatchNormFoldOp, 1, Backend::kReference);
        if (!f) return error(StatusCode::kInternal, "no BatchNormFold kernel");
        WH_ASSIGN_OR_RETURN(KernelBuild b, (*f)(ctx));
        if (b.outputs.size() != 2 || b.outputs[0].dims != Dims{rm.numElements()})
            return error(StatusCode::kInternal, "BatchNormFold declares the wrong outputs");
        Result r;
        std::vector<const HostTensor*> ip = {&x, &rm, &rv};
        std::vector<HostTensor*> op = {&r.mean, &r.std};
        WH_RETURN_IF_ERROR(b.kernel->run(ip, op));
        return r;
    }

    // Training forward, then backward with output gradients dmean, dstd.
    Expected<Result> train(const HostTensor& x, const HostTensor& rm, const HostTensor& rv,
                           const HostTensor& dmean, const HostTensor& dstd) {
        const std::vector<TensorInfo> in = {TensorInfo::of(x), TensorInfo::of(rm), TensorInfo::of(rv)};
        const std::vector<TensorInfo> out = {TensorInfo::of(rm), TensorInfo::of(rm)};
        GradContext ctx{*m_node, 1, in, out, std::vector<bool>(3, true), &m_nodeFlags};
        const GradFactory* f =
            GradRegistry::builtin().find(kWhittleDomain, kBatchNormFoldOp, 1, Backend::kReference);
        if (!f) return error(StatusCode::kInternal, "no BatchNormFold gradient");
        WH_ASSIGN_OR_RETURN(GradBuild b, (*f)(ctx));
        if (!b.trainingForward) return error(StatusCode::kInternal, "no training forward");
        Result r;
        std::vector<const HostTensor*> ip = {&x, &rm, &rv};
        std::vector<HostTensor*> op = {&r.mean, &r.std, &r.newMean, &r.newVar};
        WH_RETURN_IF_ERROR(b.trainingForward->run(ip, op));
        std::vector<const HostTensor*> saved;
        std::vector<Dims> dims;
        for (std::size_t i = 0; i < ip.size(); ++i) {
            saved.push_back(b.savedInputs[i] ? ip[i] : nullptr);
            dims.push_back(ip[i]->dims());
        }
        std::vector<const HostTensor*> savedOut = {nullptr, nullptr}, og = {&dmean, &dstd};
        std::vector<HostTensor*> ig = {&r.dx, &r.drm, &r.drv};
        GradArgs args{saved, savedOut, dims, og, ig};
        WH_RETURN_IF_ERROR(b.kernel->backward(args));
        return r;
    }

    NodeFlags& flags() { return m_nodeFlags; }
    TrainingFlags& planFlags() { return m_flags; }

private:
    ir::Model m_model;
    ir::Node* m_node = nullptr;
    TrainingFlags m_flags;
    NodeFlags m_nodeFlags;
};

// X [N=2, C=2, 1, 2]: channel 0 holds 1, 3, 5, 7 (mean 4, biased variance 5), channel 1 holds
// 0, 0, 2, 2 (mean 1, variance 1).
const HostTensor kX = doubles({2, 2, 1, 2}, {1, 3, 0, 0, 5, 7, 2, 2});
const HostTensor kRm = doubles({2}, {0.5, -1.0});
const HostTensor kRv = doubles({2}, {2.0, 3.0});
constexpr float kEps = 0.01f, kMomentum = 0.8f;

}  // namespace

TEST(BatchNormFold, InferenceGivesTheRunningStatistics) {
    const BnfOp op(kEps, kMomentum);
    auto r = op.infer(kX, kRm, kRv);
    ASSERT_TRUE(r) << r.error().message();
    expectValues(r->mean, {0.5, -1.0}, "mean");
    expectValues(r->std, {std::sqrt(2.0 + kEps), std::sqrt(3.0 + kEps)}, "std");
    // Statistics that do not match X's channels are bad input.
    EXPECT_FALSE(op.infer(kX, doubles({3}, {0, 0, 0}), doubles({3}, {1, 1, 1})));
}

TEST(BatchNormFold, TrainingUsesBatchStatisticsAndUpdatesTheRunningOnes) {
    BnfOp op(kEps, kMomentum);
    const HostTensor zero = doubles({2}, {0, 0});
    auto r = op.train(kX, kRm, kRv, zero, zero);
    ASSERT_TRUE(r) << r.error().message();
    expectValues(r->mean, {4.0, 1.0}, "batch mean");
    expectValues(r->std, {std::sqrt(5.0 + kEps), std::sqrt(1.0 + kEps)}, "batch std");
    // running = momentum * running + (1 - momentum) * batch (biased variance).
    expectValues(r->newMean, {0.8 * 0.5 + 0.2 * 4.0, 0.8 * -1.0 + 0.2 * 1.0}, "running mean", 1e-6);
    expectValues(r->newVar, {0.8 * 2.0 + 0.2 * 5.0, 0.8 * 3.0 + 0.2 * 1.0}, "running var", 1e-6);
}

TEST(BatchNormFold, FrozenAndEvaluatingGiveTheRunningStatisticsAndNoGradient) {
    for (bool evaluating : {false, true}) {
        BnfOp op(kEps, kMomentum);
        if (evaluating)
            op.planFlags().evaluating = true;
        else
            op.flags().batchNormFrozen = true;
        const HostTensor d = doubles({2}, {1.0, -2.0});
        auto r = op.train(kX, kRm, kRv, d, d);
        ASSERT_TRUE(r) << r.error().message();
        const char* what = evaluating ? "evaluating" : "frozen";
        expectValues(r->mean, {0.5, -1.0}, what);
        expectValues(r->std, {std::sqrt(2.0 + kEps), std::sqrt(3.0 + kEps)}, what);
        expectValues(r->newMean, {0.5, -1.0}, what);  // unchanged
        expectValues(r->newVar, {2.0, 3.0}, what);
        expectValues(r->dx, std::vector<double>(8, 0.0), what);
        expectValues(r->drm, {0, 0}, what);
        expectValues(r->drv, {0, 0}, what);
    }
}

// With the frozen std computed in X's type from the float epsilon, sigma / std is exactly 1
// for the simqat fold's sigma = Sqrt(Add(running_var, epsilon)) in float.
TEST(BatchNormFold, FrozenStdEqualsSqrtOfVarPlusEpsilonInFloat) {
    BnfOp op(1e-5f, 0.9f);
    op.flags().batchNormFrozen = true;
    const std::vector<float> var = {0.8f, 1.3f, 0.5f, 2.0f, 1e-7f};
    const HostTensor rv = HostTensor::fromFloats({5}, var);
    const HostTensor rm = HostTensor::fromFloats({5}, {0, 0, 0, 0, 0});
    const HostTensor x = HostTensor::fromFloats({1, 5}, {1, 2, 3, 4, 5});
    auto r = op.train(x, rm, rv, rm, rm);
    ASSERT_TRUE(r) << r.error().message();
    for (std::size_t c = 0; c < var.size(); ++c)
        EXPECT_EQ(r->std.data<float>()[c], std::sqrt(var[c] + 1e-5f)) << c;
}

TEST(BatchNormFold, GradientAgreesWithFiniteDifferences) {
    // L = sum_c a_c mean_c + b_c std_c over random X [3, 2, 2, 3] (double).
    constexpr int64_t N = 3, C = 2, H = 2, W = 3;
    Rng rng(7);
    HostTensor x(ir::DType::kDouble, {N, C, H, W});
    for (int64_t i = 0; i < x.numElements(); ++i) x.data<double>()[i] = rng.normal() * 2.0 + 0.5;
    const HostTensor a = doubles({C}, {0.7, -1.3}), b = doubles({C}, {1.9, 0.4});
    BnfOp op(kEps, kMomentum);
    auto r = op.train(x, kRm, kRv, a, b);
    ASSERT_TRUE(r) << r.error().message();
    auto loss = [&](const HostTensor& xx) {
        BnfOp o(kEps, kMomentum);
        auto t = o.train(xx, kRm, kRv, a, b);
        double l = 0;
        for (int64_t c = 0; c < C; ++c)
            l += a.data<double>()[c] * t->mean.data<double>()[c] + b.data<double>()[c] * t->std.data<double>()[c];
        return l;
    };
    constexpr double h = 1e-6;
    double worst = 0;
    for (int64_t i = 0; i < x.numElements(); ++i) {
        HostTensor xp = x.clone(), xm = x.clone();
        xp.data<double>()[i] += h;
        xm.data<double>()[i] -= h;
        const double fd = (loss(xp) - loss(xm)) / (2 * h);
        worst = std::max(worst, std::fabs(fd - r->dx.data<double>()[i]));
    }
    EXPECT_LT(worst, 1e-7) << "max |analytic - finite difference| over " << x.numElements();
    double norm = 0;
    for (int64_t i = 0; i < x.numElements(); ++i) norm += std::fabs(r->dx.data<double>()[i]);
    EXPECT_GT(norm, 1e-3) << "the gradient should not vanish";
    expectValues(r->drm, {0, 0}, "running mean gradient");
    expectValues(r->drv, {0, 0}, "running var gradient");
}
