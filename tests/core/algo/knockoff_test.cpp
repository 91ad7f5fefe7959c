// SCOP's knockoff stage (core/algo/prune/knockoff.h) on ResNet-20: with kfscale = 1 the real
// half is the original model's output (and not with 0.5: the control); the loss reads the real
// half only; training keeps kfscale in [0, 1] (and leaves it without the clamp: the control),
// changes nothing but kfscale, and feeds a new permutation of the batch every step.

#include "core/algo/prune/knockoff.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/algo/prune/channel_scores.h"
#include "core/data/loader.h"
#include "core/engine/training_plan.h"
#include "core/models/architectures.h"
#include "core/train/lr_schedule.h"
#include "core/train/optimizer.h"
#include "core/util/rng.h"
#include "tests/core/algo/prune_test_util.h"
#include "tests/core/train/model_builder.h"

namespace wh::algo::prune {
namespace {

ir::Model resnet20() {
    auto m = models::buildArchitecture("resnet20", {.seed = 4});
    EXPECT_TRUE(m) << m.error().message();
    return m ? std::move(*m) : ir::Model{};
}

/// The Convs SCOP mixes: producers of prunable groups followed by a BatchNormalization.
std::vector<ir::NodeId> mixedConvs(const ir::Model& m) {
    auto d = analysis::analyzeChannelDependencies(m);
    EXPECT_TRUE(d) << d.error().message();
    std::vector<ir::NodeId> convs;
    if (!d) return convs;
    for (const analysis::ChannelGroup& g : d->groups)
        for (ir::NodeId id : g.producers) {
            const ir::Node* n = m.graph->findNode(id);
            if (n->opType == "Conv" && followingBatchNorm(*n)) convs.push_back(id);
        }
    return convs;
}

/// Sets the knockoff model's P to the permutation perm (knockoff i = real perm[i]).
void setPermutation(KnockoffModel& km, const std::vector<int64_t>& perm) {
    ir::Tensor* p = km.model.graph->findValue(km.permutation)->mutableInitializer();
    auto v = p->mutableValues<float>();
    std::fill(v.begin(), v.end(), 0.0f);
    for (std::size_t i = 0; i < perm.size(); ++i) v[i * perm.size() + perm[i]] = 1.0f;
}

double maxRelativeDiff(const engine::HostTensor& a, const engine::HostTensor& b) {
    auto x = a.toFloats(), y = b.toFloats();
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
        worst = std::max(worst, std::fabs(double(x[i]) - y[i]));
        scale = std::max(scale, std::fabs(double(x[i])));
    }
    return scale > 0 ? worst / scale : worst;
}

class RandomDataset : public data::Dataset {
public:
    explicit RandomDataset(int64_t n) : m_n(n) {}
    int64_t size() const override { return m_n; }
    engine::Dims sampleDims() const override { return {1, 28, 28}; }
    int64_t numClasses() const override { return 10; }
    int64_t get(int64_t index, float* out) const override {
        Rng rng(static_cast<uint64_t>(index) + 17);
        for (int64_t i = 0; i < 28 * 28; ++i) out[i] = static_cast<float>(rng.normal());
        return label(index);
    }
    int64_t label(int64_t index) const override { return index % 10; }
    float blackValue(int64_t) const override { return 0.0f; }

private:
    int64_t m_n;
};

TEST(Knockoff, WithKfscaleOneTheRealHalfIsTheOriginalModel) {
    const ir::Model m = resnet20();
    const std::vector<ir::NodeId> convs = mixedConvs(m);
    ASSERT_GE(convs.size(), 10u);
    const int64_t n = 4;
    const auto x = testing::randomNormal({n, 1, 28, 28}, 9);
    const auto original = testing::runEngine(m, {x});
    ASSERT_EQ(original.size(), 1u);
    const std::vector<int64_t> rotate{1, 2, 3, 0};

    auto one = buildKnockoffModel(m, convs, n, 1.0f);
    ASSERT_TRUE(one) << one.error().message();
    EXPECT_EQ(one->layers.size(), convs.size());
    setPermutation(*one, rotate);
    const auto real = testing::runEngine(one->model, {x});
    ASSERT_EQ(real.size(), 1u);
    EXPECT_EQ(real[0].dims(), original[0].dims());
    EXPECT_LT(maxRelativeDiff(original[0], real[0]), 1e-5);

    // Control: at 0.5 the knockoff (another sample's features) leaks into the real half.
    auto half = buildKnockoffModel(m, convs, n, 0.5f);
    ASSERT_TRUE(half) << half.error().message();
    setPermutation(*half, rotate);
    EXPECT_GT(maxRelativeDiff(original[0], testing::runEngine(half->model, {x})[0]), 1e-3);
    // The caller's model is untouched.
    EXPECT_EQ(m.graph->outputs()[0]->producer()->opType, "Gemm");
}

TEST(Knockoff, TheLossReadsTheRealHalfOnly) {
    const ir::Model m = resnet20();
    const int64_t n = 6;
    auto km = buildKnockoffModel(m, mixedConvs(m), n);
    ASSERT_TRUE(km) << km.error().message();
    const ir::Graph& g = *km->model.graph;
    // Output 0 is rows [0, N) of the network's [2N, classes] output.
    const ir::Node* slice = g.outputs()[0]->producer();
    ASSERT_NE(slice, nullptr);
    ASSERT_EQ(slice->opType, "Slice");
    auto ints = [](const ir::Value* v) {
        std::vector<int64_t> out;
        for (int64_t i = 0; i < v->initializer()->numElements(); ++i)
            out.push_back(static_cast<int64_t>(v->initializer()->elementAsDouble(i)));
        return out;
    };
    EXPECT_EQ(ints(slice->input(1)), (std::vector<int64_t>{0}));
    EXPECT_EQ(ints(slice->input(2)), (std::vector<int64_t>{n}));
    EXPECT_EQ(ints(slice->input(3)), (std::vector<int64_t>{0}));
    EXPECT_EQ(slice->input(0)->producer()->opType, "Gemm");
    const auto x = testing::randomNormal({n, 1, 28, 28}, 2);
    const auto out = testing::runEngine(km->model, {x});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].dims(), (engine::Dims{n, 10}));
    // Training takes N labels for the N real samples (2N rows would not match them).
    engine::TrainingOptions to;
    to.frozen = knockoffFrozen(*km);
    to.inputShapes[km->input] = {n, 1, 28, 28};
    auto plan = engine::TrainingPlan::compile(km->model, to);
    ASSERT_TRUE(plan) << plan.error().message();
    auto loss = plan->forwardBackward(x, testing::randomLabels(n, 10, 3));
    ASSERT_TRUE(loss) << loss.error().message();
    EXPECT_TRUE(std::isfinite(*loss));
    // Only the kfscales are trained.
    int trainable = 0;
    for (const engine::Parameter& p : plan->parameters()) trainable += p.trainable;
    EXPECT_EQ(trainable, static_cast<int>(km->layers.size()));
}

/// After every step: kfscale within [0, 1] or not, how many at a bound, the permutations.
class Watch : public train::Callback {
public:
    Watch(const KnockoffModel& km, const KnockoffCallback& kf) : m_km(km), m_kf(kf) {}
    Status onStepEnd(train::Trainer& t, const train::StepInfo&) override {
        perms.push_back(m_kf.permutation());
        for (const KnockoffLayer& l : m_km.layers) {
            const engine::Parameter* p = t.plan().parameter(l.kfscale);
            for (int64_t i = 0; i < p->value.numElements(); ++i) {
                const float b = p->value.data<float>()[i];
                outside += b < 0.0f || b > 1.0f;
                atBound += b == 0.0f || b == 1.0f;
            }
        }
        return Status::ok();
    }
    int64_t outside = 0, atBound = 0;
    std::vector<std::vector<int64_t>> perms;

private:
    const KnockoffModel& m_km;
    const KnockoffCallback& m_kf;
};

struct Trained {
    int64_t outside = 0, atBound = 0;
    std::vector<std::vector<int64_t>> perms;
    bool othersUnchanged = true;
    bool scalesMoved = false;
};

Trained train(const ir::Model& m, bool clamp) {
    Trained out;
    const int64_t n = 8;
    auto km = buildKnockoffModel(m, mixedConvs(m), n);
    EXPECT_TRUE(km) << km.error().message();
    if (!km) return out;
    engine::TrainingOptions to;
    to.frozen = knockoffFrozen(*km);
    to.inputShapes[km->input] = {n, 1, 28, 28};
    auto plan = engine::TrainingPlan::compile(km->model, to);
    EXPECT_TRUE(plan) << plan.error().message();
    if (!plan) return out;
    std::vector<engine::Parameter> before;
    for (const engine::Parameter& p : plan->parameters()) {
        engine::Parameter c;
        c.name = p.name;
        c.value = p.value.clone();
        before.push_back(std::move(c));
    }
    train::AdamOptions ao;
    ao.beta1 = 0.5;
    ao.beta2 = 0.9;
    train::Adam adam(ao);
    train::ConstantLr lr(0.3);  // large: β leaves [0, 1] within a few steps unless clamped
    auto ds = std::make_shared<RandomDataset>(64);
    data::DataLoader::Options lo;
    lo.batchSize = n;
    lo.dropLast = true;
    data::DataLoader loader(ds, lo);
    train::TrainerOptions topt;
    topt.maxSteps = 6;
    topt.evaluateEachEpoch = false;
    train::Trainer trainer(*plan, adam, lr, loader, nullptr, topt);
    KnockoffCallback kf(*km, 1, clamp);
    Watch watch(*km, kf);
    trainer.addCallback(&kf);
    trainer.addCallback(&watch);
    auto r = trainer.run();
    EXPECT_TRUE(r) << r.error().message();
    out.outside = watch.outside;
    out.atBound = watch.atBound;
    out.perms = watch.perms;
    std::set<std::string> scales;
    for (const KnockoffLayer& l : km->layers) scales.insert(l.kfscale);
    for (const engine::Parameter& b : before) {
        const engine::Parameter* p = plan->parameter(b.name);
        const bool same =
            std::equal(b.value.data<float>(), b.value.data<float>() + b.value.numElements(),
                       p->value.data<float>());
        if (scales.count(b.name))
            out.scalesMoved = out.scalesMoved || !same;
        else if (b.name != km->permutation)
            out.othersUnchanged = out.othersUnchanged && same;
    }
    return out;
}

TEST(Knockoff, TrainingKeepsKfscaleInTheUnitIntervalAndTrainsNothingElse) {
    const ir::Model m = resnet20();
    const Trained clamped = train(m, true);
    EXPECT_EQ(clamped.outside, 0);
    EXPECT_GT(clamped.atBound, 0) << "the clamp was never needed: the test proves nothing";
    EXPECT_TRUE(clamped.scalesMoved);
    EXPECT_TRUE(clamped.othersUnchanged) << "a frozen parameter changed";
    // A permutation of the batch every step, not always the same one.
    ASSERT_EQ(clamped.perms.size(), 6u);
    std::set<std::vector<int64_t>> distinct;
    for (const auto& p : clamped.perms) {
        std::vector<int64_t> sorted = p;
        std::sort(sorted.begin(), sorted.end());
        std::vector<int64_t> iota(8);
        std::iota(iota.begin(), iota.end(), 0);
        EXPECT_EQ(sorted, iota);
        distinct.insert(p);
    }
    EXPECT_GT(distinct.size(), 1u);

    const Trained free = train(m, false);  // control
    EXPECT_GT(free.outside, 0);
}

}  // namespace
}  // namespace wh::algo::prune
