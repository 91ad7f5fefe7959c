// SlbWeight (com.whittle): the soft forward softmax(T·A)·V and the hard argmax against values
// computed by hand, the gradient T·P·(V − W)·dW against finite differences, the "temperature" and
// "hard" knobs, and the op inside a TrainingPlan (logits trained; evaluate() and the inference
// Plan hard), and the statistics pass (train/statistics_pass.h) re-estimating BN statistics.

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/loader.h"
#include "core/engine/autodiff.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/kernel_registry.h"
#include "core/engine/plan.h"
#include "core/engine/slb_weight.h"
#include "core/engine/training_plan.h"
#include "core/train/statistics_pass.h"
#include "core/util/rng.h"
#include "tests/core/train/model_builder.h"

using namespace wh;
using namespace wh::engine;

namespace {

std::string str(const HostTensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.numElements(); ++i) s += (i ? ", " : "") + std::to_string(t.at(i));
    return s + "]";
}

HostTensor doubles(Dims dims, const std::vector<double>& v) {
    HostTensor t(ir::DType::kDouble, std::move(dims));
    for (std::size_t i = 0; i < v.size(); ++i) t.data<double>()[i] = v[i];
    return t;
}

// One SlbWeight node run through the registries' inference kernel, training forward and
// gradient.
class SlbOp {
public:
    explicit SlbOp(int bits) {
        ir::Graph& g = *m_model.graph;
        std::vector<ir::Value*> ins = {*g.addValue("a")}, outs = {*g.addValue("w")};
        m_node = g.addNode(std::string(kSlbWeightOp), ins, outs);
        m_node->domain = std::string(kWhittleDomain);
        m_node->name = "slb";
        m_node->attributes().push_back(ir::Attribute::makeInt("bits", bits));
        m_nodeFlags.plan = &m_flags;
    }

    Expected<HostTensor> infer(const HostTensor& a) const {
        const std::vector<TensorInfo> in = {TensorInfo::of(a)};
        KernelOptions opt;
        KernelContext ctx{*m_node, 1, in, opt};
        const KernelFactory* f =
            KernelRegistry::builtin().find(kWhittleDomain, kSlbWeightOp, 1, Backend::kReference);
        if (!f) return error(StatusCode::kInternal, "no SlbWeight kernel");
        WH_ASSIGN_OR_RETURN(KernelBuild b, (*f)(ctx));
        HostTensor w;
        std::vector<const HostTensor*> ip = {&a};
        std::vector<HostTensor*> op = {&w};
        WH_RETURN_IF_ERROR(b.kernel->run(ip, op));
        return w;
    }

    struct Trained {
        HostTensor w, da;
    };
    Expected<Trained> train(const HostTensor& a, const HostTensor& dw) {
        const std::vector<TensorInfo> in = {TensorInfo::of(a)};
        Dims wd(a.dims().begin(), a.dims().end() - 1);
        const std::vector<TensorInfo> out = {TensorInfo::of(HostTensor(a.dtype(), wd))};
        GradContext ctx{*m_node, 1, in, out, {true}, &m_nodeFlags};
        const GradFactory* f =
            GradRegistry::builtin().find(kWhittleDomain, kSlbWeightOp, 1, Backend::kReference);
        if (!f) return error(StatusCode::kInternal, "no SlbWeight gradient");
        WH_ASSIGN_OR_RETURN(GradBuild b, (*f)(ctx));
        if (!b.trainingForward) return error(StatusCode::kInternal, "no training forward");
        Trained t;
        std::vector<const HostTensor*> ip = {&a};
        std::vector<HostTensor*> op = {&t.w};
        WH_RETURN_IF_ERROR(b.trainingForward->run(ip, op));
        std::vector<const HostTensor*> saved = {b.savedInputs[0] ? &a : nullptr};
        std::vector<Dims> dims = {a.dims()};
        std::vector<const HostTensor*> savedOut = {nullptr}, og = {&dw};
        std::vector<HostTensor*> ig = {&t.da};
        GradArgs args{saved, savedOut, dims, og, ig};
        WH_RETURN_IF_ERROR(b.kernel->backward(args));
        return t;
    }

    NodeFlags& flags() { return m_nodeFlags; }
    TrainingFlags& planFlags() { return m_flags; }

private:
    ir::Model m_model;
    ir::Node* m_node = nullptr;
    TrainingFlags m_flags;
    NodeFlags m_nodeFlags;
};

}  // namespace

TEST(SlbWeight, ValueSets) {
    EXPECT_EQ(slbValues(1), (std::vector<double>{-1, 1}));
    const std::vector<double> two = slbValues(2);
    ASSERT_EQ(two.size(), 4u);
    EXPECT_DOUBLE_EQ(two[1], -1.0 / 3);
    EXPECT_DOUBLE_EQ(two[2], 1.0 / 3);
    const std::vector<double> four = slbValues(4);
    ASSERT_EQ(four.size(), 16u);
    EXPECT_DOUBLE_EQ(four[0], -1);
    EXPECT_DOUBLE_EQ(four[1], -1 + 2.0 / 15);
    EXPECT_DOUBLE_EQ(four[15], 1);
    EXPECT_EQ(slbLevels(3), 0);
}

TEST(SlbWeight, SoftForwardIsTheSoftmaxWeightedSum) {
    // 2 bits, two weights; T = 2.
    SlbOp op(2);
    op.flags().knobs["temperature"] = 2.0;
    const std::vector<double> a = {0.1, -0.3, 0.5, 0.2, /**/ 1.0, 1.0, -2.0, 0.0};
    const HostTensor at = doubles({2, 4}, a);
    auto t = op.train(at, doubles({2}, {1, 1}));
    ASSERT_TRUE(t) << t.error().message();
    const double v[4] = {-1, -1.0 / 3, 1.0 / 3, 1};
    for (int r = 0; r < 2; ++r) {
        double e[4], s = 0;
        for (int k = 0; k < 4; ++k)
            s += e[k] = std::exp(2.0 * a[static_cast<std::size_t>(r * 4 + k)]);
        double w = 0;
        for (int k = 0; k < 4; ++k) w += e[k] / s * v[k];
        EXPECT_NEAR(t->w.at(r), w, 1e-12) << "row " << r << ": " << str(t->w);
    }
    // Hand values of row 0 (computed separately): P = softmax(0.2, -0.6, 1.0, 0.4).
    EXPECT_NEAR(t->w.at(0), 0.16614136, 1e-7);
}

TEST(SlbWeight, LargeTemperaturesStayFinite) {
    SlbOp op(1);
    op.flags().knobs["temperature"] = 1.47e3;
    auto t = op.train(HostTensor::fromFloats({3, 2}, {50.0f, -50.0f, -0.01f, 0.01f, 3.0f, 3.0f}),
                      HostTensor::fromFloats({3}, {1, 1, 1}));
    ASSERT_TRUE(t) << t.error().message();
    EXPECT_FLOAT_EQ(t->w.at(0), -1.0f);
    EXPECT_NEAR(t->w.at(1), std::tanh(1.47e3 * 0.01), 1e-5);
    EXPECT_FLOAT_EQ(t->w.at(2), 0.0f);  // a tie: P = (1/2, 1/2)
    for (int64_t i = 0; i < t->da.numElements(); ++i) EXPECT_TRUE(std::isfinite(t->da.at(i)));
}

TEST(SlbWeight, HardIsTheArgmaxFirstOnTies) {
    SlbOp op(2);
    const HostTensor a = HostTensor::fromFloats(
        {3, 4}, {0.1f, 0.9f, 0.3f, 0.2f, /**/ 2.0f, 2.0f, 1.0f, 0.0f, /**/ -1, -2, -3, 5});
    auto w = op.infer(a);
    ASSERT_TRUE(w) << w.error().message();
    ASSERT_EQ(w->dims(), (Dims{3}));
    EXPECT_FLOAT_EQ(w->at(0), -1.0f / 3);
    EXPECT_FLOAT_EQ(w->at(1), -1.0f);  // first maximum
    EXPECT_FLOAT_EQ(w->at(2), 1.0f);
    // The training forward with hard = 1 is the same, with a zero gradient.
    op.flags().knobs["hard"] = 1.0;
    auto t = op.train(a, HostTensor::fromFloats({3}, {1, 2, 3}));
    ASSERT_TRUE(t) << t.error().message();
    for (int i = 0; i < 3; ++i) EXPECT_EQ(t->w.at(i), w->at(i));
    for (int64_t i = 0; i < t->da.numElements(); ++i) EXPECT_EQ(t->da.at(i), 0.0);
    // So is evaluation, whatever the knob says.
    op.flags().knobs["hard"] = 0.0;
    op.planFlags().evaluating = true;
    auto e = op.train(a, HostTensor::fromFloats({3}, {1, 2, 3}));
    ASSERT_TRUE(e);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(e->w.at(i), w->at(i));
}

TEST(SlbWeight, GradientAgreesWithFiniteDifferencesAndTheFormula) {
    for (int bits : {1, 2, 4}) {
        SlbOp op(bits);
        const double T = 1.7;
        op.flags().knobs["temperature"] = T;
        const int K = slbLevels(bits);
        const int rows = 5;
        Rng rng(static_cast<uint64_t>(bits) + 3);
        std::vector<double> a(static_cast<std::size_t>(rows * K)), dw(rows);
        for (double& x : a) x = rng.normal();
        for (double& x : dw) x = rng.normal();
        const HostTensor at = doubles({rows, K}, a), dwt = doubles({rows}, dw);
        auto t = op.train(at, dwt);
        ASSERT_TRUE(t) << t.error().message();
        // loss = Σ dW · W; finite differences of it in every logit.
        auto loss = [&](const std::vector<double>& x) {
            auto r = op.train(doubles({rows, K}, x), dwt);
            double l = 0;
            for (int i = 0; i < rows; ++i) l += dw[static_cast<std::size_t>(i)] * r->w.at(i);
            return l;
        };
        const std::vector<double> v = slbValues(bits);
        for (std::size_t i = 0; i < a.size(); ++i) {
            std::vector<double> p = a, m = a;
            p[i] += 1e-6;
            m[i] -= 1e-6;
            const double fd = (loss(p) - loss(m)) / 2e-6;
            EXPECT_NEAR(t->da.at(static_cast<int64_t>(i)), fd, 1e-7)
                << bits << " bits, logit " << i;
            // The closed form T·P_k·(V_k − W)·dW.
            const std::size_t r = i / static_cast<std::size_t>(K),
                              k = i % static_cast<std::size_t>(K);
            double s = 0, e[16];
            for (int j = 0; j < K; ++j)
                s += e[j] = std::exp(T * a[r * K + static_cast<std::size_t>(j)]);
            double w = 0;
            for (int j = 0; j < K; ++j) w += e[j] / s * v[static_cast<std::size_t>(j)];
            EXPECT_NEAR(t->da.at(static_cast<int64_t>(i)), T * e[k] / s * (v[k] - w) * dw[r],
                        1e-12);
        }
    }
}

TEST(SlbWeight, RejectsWrongLevelCountsAndBits) {
    SlbOp op(2);
    EXPECT_FALSE(op.infer(HostTensor::fromFloats({3, 2}, {0, 0, 0, 0, 0, 0})));
    SlbOp three(3);
    EXPECT_FALSE(three.infer(HostTensor::fromFloats({1, 8}, std::vector<float>(8, 0))));
}

namespace {

// x [N,3,8,8] → Conv(SlbWeight(A)) → BatchNormalization → Relu → GlobalAveragePool → Flatten
// → Gemm → y [N,5].
ir::Model slbModel(int bits) {
    wh::testing::ModelBuilder b(13, 5);
    b.model().opsetImports.push_back({std::string(kWhittleDomain), 1, {}});
    b.input("x", {3, 8, 8});
    const int64_t K = slbLevels(bits);
    b.weight("a", {8, 3, 3, 3, K}, 4);
    ir::Node* s = b.node(std::string(kSlbWeightOp), {"a"}, {"w"});
    s->domain = std::string(kWhittleDomain);
    s->attributes().push_back(ir::Attribute::makeInt("bits", bits));
    b.node("Conv", {"x", "w"}, {"c"})
        ->attributes()
        .push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    b.batchNorm("c", "bn", 8, "n");
    b.node("Relu", {"n"}, {"r"});
    b.node("GlobalAveragePool", {"r"}, {"p"});
    b.node("Flatten", {"p"}, {"f"});
    b.weight("fc", {5, 8}, 8);
    b.weight("fcb", {5}, 0, 0.0f);
    b.node("Gemm", {"f", "fc", "fcb"}, {"y"})
        ->attributes()
        .push_back(ir::Attribute::makeInt("transB", 1));
    b.output("y", {5});
    return b.take();
}

ir::NodeId nodeNamed(const ir::Model& model, const std::string& name) {
    for (const ir::Node* n : model.graph->nodes())
        if (n->name == name) return n->id();
    return 0;
}

}  // namespace

TEST(SlbWeight, TrainsItsLogitsAndEvaluatesHard) {
    const ir::Model model = slbModel(2);
    TrainingOptions opt;
    opt.threads = 2;
    auto plan = TrainingPlan::compile(model, opt);
    ASSERT_TRUE(plan) << plan.error().message();
    Parameter* a = plan->parameter("a");
    ASSERT_NE(a, nullptr) << "the logits are a Parameter";
    const HostTensor x = wh::testing::randomNormal({4, 3, 8, 8}, 1);
    const HostTensor y = wh::testing::randomLabels(4, 5, 2);
    NodeFlags* flags = plan->nodeFlags(nodeNamed(model, "w_SlbWeight"));
    ASSERT_NE(flags, nullptr);
    auto l1 = plan->forwardBackward(x, y);
    ASSERT_TRUE(l1) << l1.error().message();
    double norm = 0;
    for (int64_t i = 0; i < a->grad.numElements(); ++i) norm += std::abs(a->grad.at(i));
    EXPECT_GT(norm, 0.0) << "soft: the logits get a gradient";
    flags->knobs["hard"] = 1.0;
    auto l2 = plan->forwardBackward(x, y);
    ASSERT_TRUE(l2);
    for (int64_t i = 0; i < a->grad.numElements(); ++i) ASSERT_EQ(a->grad.at(i), 0.0);
    // evaluate() and the inference Plan (of the model with the plan's BN statistics written
    // back) agree: both hard, whatever the knob says.
    flags->knobs["hard"] = 0.0;
    auto e = plan->evaluate(x);
    ASSERT_TRUE(e) << e.error().message();
    ir::Model trained = model.clone();
    ASSERT_TRUE(plan->writeBack(trained).isOk());
    auto inf = Plan::compile(trained);
    ASSERT_TRUE(inf) << inf.error().message();
    auto r = inf->run({x});
    ASSERT_TRUE(r) << r.error().message();
    for (int64_t i = 0; i < (*e)[0].numElements(); ++i)
        EXPECT_NEAR((*e)[0].at(i), (*r)[0].at(i), 1e-4) << i;
}

namespace {

class NoiseDataset : public data::Dataset {
public:
    int64_t size() const override { return 64; }
    Dims sampleDims() const override { return {3, 8, 8}; }
    int64_t numClasses() const override { return 5; }
    int64_t get(int64_t index, float* out) const override {
        Rng rng(static_cast<uint64_t>(index) + 7);
        for (int i = 0; i < 3 * 64; ++i) out[i] = static_cast<float>(2.0 + 3.0 * rng.normal());
        return index % 5;
    }
    int64_t label(int64_t index) const override { return index % 5; }
    float blackValue(int64_t) const override { return 0.0f; }
};

}  // namespace

TEST(StatisticsPass, ReestimatesBatchNormStatisticsWithoutTraining) {
    const ir::Model model = slbModel(1);
    TrainingOptions opt;
    opt.threads = 2;
    auto plan = TrainingPlan::compile(model, opt);
    ASSERT_TRUE(plan) << plan.error().message();
    std::vector<std::vector<float>> before;
    for (const Parameter& p : plan->parameters()) before.push_back(p.value.toFloats());
    auto meanOf = [&]() {
        for (const auto& [name, t] : plan->state())
            if (name == "bn_m") return t.toFloats();
        return std::vector<float>{};
    };
    const std::vector<float> m0 = meanOf();
    ASSERT_EQ(m0.size(), 8u);
    data::DataLoader::Options lo;
    lo.batchSize = 16;
    data::DataLoader loader(std::make_shared<NoiseDataset>(), lo);
    auto n = train::runStatisticsPass(*plan, loader);
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(*n, 4);
    const std::vector<float> m1 = meanOf();
    // The inputs have mean 2: the conv outputs' means move away from the stored 0.
    double moved = 0;
    for (std::size_t c = 0; c < 8; ++c) moved += std::abs(m1[c] - m0[c]);
    EXPECT_GT(moved, 1e-3);
    // No parameter changed.
    for (std::size_t i = 0; i < before.size(); ++i)
        EXPECT_EQ(plan->parameters()[i].value.toFloats(), before[i]) << plan->parameters()[i].name;
}

// The cumulative pass (the default) ends on the average of the batch statistics: batches of 16
// give the same running mean as one batch of all 64 images (means of equal-size groups), and the
// statistics it started from do not matter. The exponential pass (cumulative off) keeps part of
// the old statistics and weighs the last batches most, so it lands elsewhere.
TEST(StatisticsPass, CumulativePassAveragesTheBatchStatistics) {
    const ir::Model model = slbModel(1);
    TrainingOptions opt;
    opt.threads = 2;
    auto meanAfter = [&](int64_t batchSize, bool cumulative, int passes) {
        auto plan = TrainingPlan::compile(model, opt);
        EXPECT_TRUE(plan) << plan.error().message();
        data::DataLoader::Options lo;
        lo.batchSize = batchSize;
        data::DataLoader loader(std::make_shared<NoiseDataset>(), lo);
        train::StatisticsPassOptions so;
        so.cumulative = cumulative;
        for (int i = 0; i < passes; ++i) {
            so.epoch = i;
            auto n = train::runStatisticsPass(*plan, loader, so);
            EXPECT_TRUE(n) << n.error().message();
            EXPECT_EQ(*n, 64 / batchSize);
        }
        EXPECT_FALSE(plan->flags().batchNormMomentum.has_value()) << "the override is restored";
        for (const auto& [name, t] : plan->state())
            if (name == "bn_m") return t.toFloats();
        return std::vector<float>{};
    };
    const std::vector<float> whole = meanAfter(64, true, 1);
    const std::vector<float> quarters = meanAfter(16, true, 1);
    const std::vector<float> twice = meanAfter(16, true, 2);  // starts from the first pass's
    const std::vector<float> ema = meanAfter(16, false, 1);
    ASSERT_EQ(whole.size(), 8u);
    ASSERT_EQ(quarters.size(), 8u);
    double emaGap = 0;
    for (std::size_t c = 0; c < 8; ++c) {
        const double tol = 1e-4 * (1 + std::abs(whole[c]));
        EXPECT_NEAR(quarters[c], whole[c], tol) << c;
        EXPECT_NEAR(twice[c], whole[c], tol) << c;
        emaGap = std::max(emaGap, std::abs(static_cast<double>(ema[c]) - whole[c]));
    }
    EXPECT_GT(emaGap, 1e-2) << "momentum 0.9 over 4 batches keeps 0.9^4 of the stored zeros";
}
