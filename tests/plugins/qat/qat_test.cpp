// The quantization-aware training plugins (plugins/simqat, plugins/lsq), loaded from the build
// tree as the CLI loads them: SimQAT's BatchNormalization forms against their formulas
// (GOLDEN_STICK.md §3.4) in training and evaluation, the deploy fold, the quantization delay,
// one quantizer per tensor; LSQ trains (loss down, steps move) and converts to a QDQ model that
// agrees with the trained one.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/algo/algorithm.h"
#include "core/algo/plugin_loader.h"
#include "core/algo/quant/qdq.h"
#include "core/algo/registry.h"
#include "core/data/dataset.h"
#include "core/data/loader.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/plan.h"
#include "core/engine/training_plan.h"
#include "core/onnx/model_io.h"
#include "core/train/lr_schedule.h"
#include "core/train/optimizer.h"
#include "core/train/trainer.h"
#include "core/util/rng.h"
#include "tests/core/train/model_builder.h"

namespace {

using namespace wh;
using engine::HostTensor;

const algo::AlgorithmInfo* algorithm(const std::string& name) {
    static algo::Registry registry;
    static const bool loaded = [] {
        auto results = algo::loadPlugins({std::filesystem::path(WHITTLE_PLUGIN_DIR)}, registry);
        for (const auto& r : results)
            if (!r.loaded) ADD_FAILURE() << r.error;
        return true;
    }();
    (void)loaded;
    return registry.find(name);
}

struct Applied {
    std::unique_ptr<algo::Algorithm> algo;
    algo::ApplyReport report;
};

Applied applyAlgo(const std::string& name, const std::map<std::string, algo::ParamValue>& params,
                  ir::Model& model, const data::Dataset* data = nullptr) {
    const algo::AlgorithmInfo* info = algorithm(name);
    EXPECT_TRUE(info) << name << " not registered (plugin dir " << WHITTLE_PLUGIN_DIR << ")";
    if (!info) return {};
    algo::Params p(info->params);
    for (const auto& [k, v] : params) EXPECT_TRUE(p.set(k, v).isOk()) << k;
    auto created = info->create(p);
    EXPECT_TRUE(created);
    Applied a;
    a.algo = std::move(*created);
    rewrite::Rewriter rw(*model.graph);
    algo::AlgoContext ctx;
    ctx.model = &model;
    ctx.data = data;
    ctx.batch = 32;
    auto r = a.algo->apply(rw, {}, ctx);
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    if (r) a.report = *r;
    EXPECT_TRUE(algo::quant::updateOpsetImports(model, false).isOk());  // com.whittle 1
    return a;
}

Status convertAlgo(algo::Algorithm& a, ir::Model& model) {
    rewrite::Rewriter rw(*model.graph);
    algo::AlgoContext ctx;
    ctx.model = &model;
    WH_RETURN_STATUS_IF_ERROR(a.convert(rw, ctx));
    return algo::quant::updateOpsetImports(model, true);
}

int countOps(const ir::Graph& g, const std::string& op) {
    int n = 0;
    for (const ir::Node* node : g.nodes()) n += node->opType == op;
    return n;
}

// A tiny in-memory dataset for the Trainer the callbacks need.
class RandomDataset : public data::Dataset {
public:
    RandomDataset(engine::Dims dims, int64_t n) : m_dims(std::move(dims)), m_n(n) {}
    int64_t size() const override { return m_n; }
    engine::Dims sampleDims() const override { return m_dims; }
    int64_t numClasses() const override { return 10; }
    int64_t get(int64_t index, float* out) const override {
        Rng rng(static_cast<uint64_t>(index) + 1);
        int64_t n = 1;
        for (int64_t d : m_dims) n *= d;
        for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(rng.normal());
        return label(index);
    }
    int64_t label(int64_t index) const override { return index % 10; }
    float blackValue(int64_t) const override { return 0.0f; }

private:
    engine::Dims m_dims;
    int64_t m_n;
};

// ---- SimQAT BN forms -----------------------------------------------------------------------

constexpr int64_t kN = 4, kCin = 3, kCout = 4, kH = 6, kW = 6;
const std::vector<float> kGamma{1.5f, 0.7f, -0.9f, 1.1f}, kBeta{0.1f, -0.2f, 0.3f, 0.0f},
    kMean{0.2f, -0.1f, 0.05f, 0.3f}, kVar{0.8f, 1.3f, 0.5f, 2.0f}, kBias{0.05f, -0.1f, 0.2f, 0.0f};
constexpr float kEps = 1e-5f;

// x [N,3,6,6] → Conv(3x3, pads 1, bias) → BatchNormalization → y.
ir::Model convBnModel() {
    wh::testing::ModelBuilder b(13, 7);
    b.input("x", {kCin, kH, kW});
    b.weight("w", {kCout, kCin, 3, 3}, kCin * 9);
    b.weight("b", {kCout}, 0, 0.0f);
    b.node("Conv", {"x", "w", "b"}, {"c"}, {})->attributes().push_back(
        ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    b.weight("bn_s", {kCout}, 0, 0);
    b.weight("bn_b", {kCout}, 0, 0);
    b.weight("bn_m", {kCout}, 0, 0);
    b.weight("bn_v", {kCout}, 0, 0);
    b.node("BatchNormalization", {"c", "bn_s", "bn_b", "bn_m", "bn_v"}, {"y"})->attributes().push_back(
        ir::Attribute::makeFloat("epsilon", kEps));
    b.output("y", {kCout, kH, kW});
    ir::Model m = b.take();
    auto set = [&](const char* name, const std::vector<float>& v) {
        m.graph->setInitializer(m.graph->findValue(name),
                                ir::Tensor::fromFloats(name, {static_cast<int64_t>(v.size())}, v));
    };
    set("b", kBias);
    set("bn_s", kGamma);
    set("bn_b", kBeta);
    set("bn_m", kMean);
    set("bn_v", kVar);
    return m;
}

std::vector<float> floats(const ir::Model& m, const char* name) {
    auto v = m.graph->findValue(name)->initializer()->values<float>();
    return {v.begin(), v.end()};
}

// Input on the activation quantizer's grid for the seed's initial range [-6, 6] (calibration
// off), so that FQ(x) = x and the formulas need not model the input quantizer.
HostTensor gridInput(uint64_t seed) {
    auto [s, z] = engine::fakeQuantParamsFromRange(-6.0f, 6.0f, 8, false, false, true);
    Rng rng(seed);
    HostTensor x(ir::DType::kFloat, {kN, kCin, kH, kW});
    // Codes over the whole grid, both ends included: the training forward's observer then sees
    // the range [-6, 6] maps to and keeps the same grid.
    auto v = x.span<float>();
    for (std::size_t i = 0; i < v.size(); ++i) {
        const int code = i == 0 ? 0 : i == 1 ? 255 : static_cast<int>(rng.uniform() * 255.0);
        v[i] = static_cast<float>((code - z) * s);
    }
    return x;
}

// Per-channel symmetric signed 8-bit fake quantization of a [C, ...] weight as the observer
// does it (scale from the channel's range, GOLDEN_STICK.md §3.1).
std::vector<float> fakeQuantWeight(const std::vector<float>& w, int64_t channels) {
    const std::size_t per = w.size() / static_cast<std::size_t>(channels);
    std::vector<float> out(w.size());
    for (int64_t c = 0; c < channels; ++c) {
        float lo = 0, hi = 0;
        for (std::size_t i = 0; i < per; ++i) {
            lo = std::min(lo, w[c * per + i]);
            hi = std::max(hi, w[c * per + i]);
        }
        auto [s, z] = engine::fakeQuantParamsFromRange(lo, hi, 8, true, false, false);
        for (std::size_t i = 0; i < per; ++i) {
            const double q = std::clamp(static_cast<double>(std::nearbyint(w[c * per + i] / s) + z), -128.0, 127.0);
            out[c * per + i] = static_cast<float>((q - z) * s);
        }
    }
    return out;
}

// Direct 3x3 convolution, pads 1, no bias: [N, Cout, H, W].
std::vector<double> conv3x3(const HostTensor& x, const std::vector<float>& w) {
    std::vector<double> y(static_cast<std::size_t>(kN * kCout * kH * kW), 0.0);
    const float* xv = x.data<float>();
    for (int64_t n = 0; n < kN; ++n)
        for (int64_t o = 0; o < kCout; ++o)
            for (int64_t i = 0; i < kH; ++i)
                for (int64_t j = 0; j < kW; ++j) {
                    double acc = 0;
                    for (int64_t c = 0; c < kCin; ++c)
                        for (int64_t a = 0; a < 3; ++a)
                            for (int64_t b = 0; b < 3; ++b) {
                                const int64_t ii = i + a - 1, jj = j + b - 1;
                                if (ii < 0 || jj < 0 || ii >= kH || jj >= kW) continue;
                                acc += static_cast<double>(xv[((n * kCin + c) * kH + ii) * kW + jj]) *
                                       w[static_cast<std::size_t>(((o * kCin + c) * 3 + a) * 3 + b)];
                            }
                    y[static_cast<std::size_t>(((n * kCout + o) * kH + i) * kW + j)] = acc;
                }
    return y;
}

// BN on [N, C, H, W]: batch statistics (biased variance) when `training`, else running ones.
std::vector<double> batchNorm(std::vector<double> x, bool training) {
    const int64_t hw = kH * kW;
    for (int64_t c = 0; c < kCout; ++c) {
        double mean = kMean[c], var = kVar[c];
        if (training) {
            double s = 0, s2 = 0;
            for (int64_t n = 0; n < kN; ++n)
                for (int64_t k = 0; k < hw; ++k) s += x[(n * kCout + c) * hw + k];
            mean = s / (kN * hw);
            for (int64_t n = 0; n < kN; ++n)
                for (int64_t k = 0; k < hw; ++k) {
                    const double d = x[(n * kCout + c) * hw + k] - mean;
                    s2 += d * d;
                }
            var = s2 / (kN * hw);
        }
        for (int64_t n = 0; n < kN; ++n)
            for (int64_t k = 0; k < hw; ++k) {
                double& v = x[(n * kCout + c) * hw + k];
                v = kGamma[c] * (v - mean) / std::sqrt(var + kEps) + kBeta[c];
            }
    }
    return x;
}

// A loss of 0 with zero gradients: the tests only read the outputs.
void zeroGrads(const engine::LossArgs& args) {
    for (std::size_t i = 0; i < args.outputGrads.size(); ++i)
        if (HostTensor* g = args.outputGrads[i]) {
            *g = HostTensor(args.outputs[i]->dtype(), args.outputs[i]->dims());
            std::fill(g->data<float>(), g->data<float>() + g->numElements(), 0.0f);
        }
}

// The graph's output 0 in a training forward (the loss is a mean squared error against zero,
// which only needs the output) and in evaluate().
struct Outputs {
    std::vector<float> training, evaluation;
};

Outputs runApplied(const ir::Model& model, const HostTensor& x) {
    Outputs out;
    engine::TrainingOptions to;
    std::vector<float>* captured = &out.training;
    to.loss = [captured](const engine::LossArgs& args) -> Expected<double> {
        const HostTensor& y = *args.outputs[0];
        captured->assign(y.data<float>(), y.data<float>() + y.numElements());
        zeroGrads(args);
        return 0.0;
    };
    auto plan = engine::TrainingPlan::compile(model, to);
    EXPECT_TRUE(plan) << (plan ? "" : plan.error().message());
    if (!plan) return out;
    auto loss = plan->forwardBackward(x, HostTensor::fromInt64s({kN}, {0, 0, 0, 0}));
    EXPECT_TRUE(loss) << (loss ? "" : loss.error().message());
    // Evaluation with the initial state (a fresh plan: the step above moved BN's running
    // statistics).
    auto plan2 = engine::TrainingPlan::compile(model, to);
    auto y = plan2->evaluate(x);
    EXPECT_TRUE(y);
    if (y) out.evaluation.assign((*y)[0].data<float>(), (*y)[0].data<float>() + (*y)[0].numElements());
    return out;
}

void expectNear(const std::vector<float>& got, const std::vector<double>& want, double tol,
                const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
    EXPECT_LT(worst, tol) << what << ": max |diff| " << worst << " over " << got.size()
                          << " values [N=" << kN << ", C=" << kCout << ", " << kH << "x" << kW << "]";
}

TEST(SimQat, NoFoldMatchesFormula) {
    ir::Model m = convBnModel();
    const std::vector<float> w = floats(m, "w");
    Applied a = applyAlgo("simqat", {{"calibration_samples", int64_t{0}}}, m);
    ASSERT_TRUE(a.algo);
    EXPECT_EQ(countOps(*m.graph, "BatchNormalization"), 1);
    const HostTensor x = gridInput(3);
    Outputs o = runApplied(m, x);
    // y = BN(conv(x, FQ(W)) + b)
    std::vector<double> c = conv3x3(x, fakeQuantWeight(w, kCout));
    for (std::size_t i = 0; i < c.size(); ++i) c[i] += kBias[(i / (kH * kW)) % kCout];
    expectNear(o.training, batchNorm(c, true), 1e-4, "no fold, training");
    expectNear(o.evaluation, batchNorm(c, false), 1e-4, "no fold, evaluation");
}

TEST(SimQat, OneConvFoldMatchesFormula) {
    ir::Model m = convBnModel();
    const std::vector<float> w = floats(m, "w");
    Applied a = applyAlgo("simqat",
                          {{"calibration_samples", int64_t{0}}, {"enable_fusion", true}, {"bn_fold", true}}, m);
    ASSERT_TRUE(a.algo);
    const HostTensor x = gridInput(4);
    Outputs o = runApplied(m, x);
    // k = γ/σ (running), c = conv(x, FQ(W·k)), y = BN(c/k + b)
    std::vector<float> wk(w.size());
    std::vector<double> k(kCout);
    for (int64_t ch = 0; ch < kCout; ++ch) k[ch] = kGamma[ch] / std::sqrt(static_cast<double>(kVar[ch]) + kEps);
    for (std::size_t i = 0; i < w.size(); ++i) wk[i] = static_cast<float>(w[i] * k[i / (kCin * 9)]);
    std::vector<double> c = conv3x3(x, fakeQuantWeight(wk, kCout));
    for (std::size_t i = 0; i < c.size(); ++i) {
        const std::size_t ch = (i / (kH * kW)) % kCout;
        c[i] = c[i] / k[ch] + kBias[ch];
    }
    expectNear(o.training, batchNorm(c, true), 1e-4, "one-conv fold, training");
    expectNear(o.evaluation, batchNorm(c, false), 1e-4, "one-conv fold, evaluation");
}

// The one-conv fold graph trains: W and γ get gradients through Mul / Div / Sqrt / Reshape,
// the running variance (BN state, also read by the k subgraph) is state, not a parameter.
TEST(SimQat, OneConvFoldTrainsWeightAndGamma) {
    ir::Model m = convBnModel();
    Applied a = applyAlgo("simqat",
                          {{"calibration_samples", int64_t{0}}, {"enable_fusion", true}, {"bn_fold", true}}, m);
    ASSERT_TRUE(a.algo);
    engine::TrainingOptions to;
    to.loss = [](const engine::LossArgs& args) -> Expected<double> {  // sum(y · ramp)
        zeroGrads(args);
        if (HostTensor* g = args.outputGrads[0])
            for (int64_t i = 0; i < g->numElements(); ++i) g->data<float>()[i] = static_cast<float>(i % 7) / 7.0f;
        return 0.0;
    };
    auto plan = engine::TrainingPlan::compile(m, to);
    ASSERT_TRUE(plan) << plan.error().message();
    ASSERT_TRUE(plan->forwardBackward(gridInput(5), HostTensor::fromInt64s({kN}, {0, 0, 0, 0})));
    EXPECT_EQ(plan->parameter("bn_v"), nullptr) << "running variance must be state";
    bool isState = false;
    for (const auto& [name, t] : plan->state()) isState = isState || name == "bn_v";
    EXPECT_TRUE(isState);
    for (const char* name : {"w", "bn_s", "bn_b", "b"}) {
        engine::Parameter* p = plan->parameter(name);
        ASSERT_NE(p, nullptr) << name;
        double norm = 0;
        for (int64_t i = 0; i < p->grad.numElements(); ++i) norm += std::fabs(p->grad.data<float>()[i]);
        EXPECT_GT(norm, 0.0) << name << " got no gradient";
    }
}

// Two-conv fold: c0 = conv(x, W) + b gives the batch statistics μ_B, σ_B (biased variance);
// c = conv(x, FQ(W·γ/σ)) with the running σ; y = c·σ/σ_B + β − γ·(μ_B − b)/σ_B in training
// before freeze_bn, y = c + β − γ·(μ − b)/σ after it and in evaluation.
const std::map<std::string, algo::ParamValue> kTwoConv{{"calibration_samples", int64_t{0}},
                                                       {"enable_fusion", true},
                                                       {"bn_fold", true},
                                                       {"one_conv_fold", false}};

// Per-channel mean and biased variance of [N, C, H, W] values.
void channelStats(const std::vector<double>& v, std::vector<double>& mean, std::vector<double>& var) {
    const int64_t hw = kH * kW;
    mean.assign(kCout, 0.0);
    var.assign(kCout, 0.0);
    for (int64_t c = 0; c < kCout; ++c) {
        for (int64_t n = 0; n < kN; ++n)
            for (int64_t k = 0; k < hw; ++k) mean[c] += v[(n * kCout + c) * hw + k];
        mean[c] /= kN * hw;
        for (int64_t n = 0; n < kN; ++n)
            for (int64_t k = 0; k < hw; ++k) {
                const double d = v[(n * kCout + c) * hw + k] - mean[c];
                var[c] += d * d;
            }
        var[c] /= kN * hw;
    }
}

// The two-conv formula for input x, weight w and running statistics (mean, var); `frozen`: the
// running statistics in place of the batch's. Also gives the batch statistics of c0.
std::vector<double> twoConvFormula(const HostTensor& x, const std::vector<float>& w,
                                   const std::vector<float>& mean, const std::vector<float>& var,
                                   bool frozen, std::vector<double>* batchMean = nullptr,
                                   std::vector<double>* batchVar = nullptr) {
    std::vector<double> c0 = conv3x3(x, w);
    for (std::size_t i = 0; i < c0.size(); ++i) c0[i] += kBias[(i / (kH * kW)) % kCout];
    std::vector<double> muB, varB;
    channelStats(c0, muB, varB);
    if (batchMean) *batchMean = muB;
    if (batchVar) *batchVar = varB;
    std::vector<double> sigma(kCout), sigmaB(kCout);
    std::vector<float> wf(w.size());
    for (int64_t ch = 0; ch < kCout; ++ch) {
        sigma[ch] = std::sqrt(static_cast<double>(var[ch]) + kEps);
        sigmaB[ch] = frozen ? sigma[ch] : std::sqrt(varB[ch] + kEps);
        if (frozen) muB[ch] = mean[ch];
    }
    for (std::size_t i = 0; i < w.size(); ++i)
        wf[i] = static_cast<float>(w[i] * kGamma[i / (kCin * 9)] / sigma[i / (kCin * 9)]);
    std::vector<double> y = conv3x3(x, fakeQuantWeight(wf, kCout));
    for (std::size_t i = 0; i < y.size(); ++i) {
        const std::size_t ch = (i / (kH * kW)) % kCout;
        y[i] = y[i] * sigma[ch] / sigmaB[ch] + kBeta[ch] - kGamma[ch] * (muB[ch] - kBias[ch]) / sigmaB[ch];
    }
    return y;
}

TEST(SimQat, TwoConvFoldMatchesFormula) {
    ir::Model m = convBnModel();
    const std::vector<float> w = floats(m, "w");
    Applied a = applyAlgo("simqat", kTwoConv, m);
    ASSERT_TRUE(a.algo);
    EXPECT_EQ(countOps(*m.graph, "BatchNormalization"), 0);
    EXPECT_EQ(countOps(*m.graph, "BatchNormFold"), 1);
    EXPECT_EQ(countOps(*m.graph, "Conv"), 2);
    const HostTensor x = gridInput(4);
    Outputs o = runApplied(m, x);
    expectNear(o.training, twoConvFormula(x, w, kMean, kVar, false), 1e-4, "two-conv fold, training");
    expectNear(o.evaluation, twoConvFormula(x, w, kMean, kVar, true), 1e-4, "two-conv fold, evaluation");
    // The frozen form is the no-fold BN's output on the folded weight: BN(c·σ/γ + b) with running
    // statistics is c + β − γ(μ − b)/σ.
    std::vector<float> wk(w.size());
    std::vector<double> k(kCout);
    for (int64_t ch = 0; ch < kCout; ++ch) k[ch] = kGamma[ch] / std::sqrt(static_cast<double>(kVar[ch]) + kEps);
    for (std::size_t i = 0; i < w.size(); ++i) wk[i] = static_cast<float>(w[i] * k[i / (kCin * 9)]);
    std::vector<double> c = conv3x3(x, fakeQuantWeight(wk, kCout));
    for (std::size_t i = 0; i < c.size(); ++i) {
        const std::size_t ch = (i / (kH * kW)) % kCout;
        c[i] = c[i] / k[ch] + kBias[ch];
    }
    expectNear(o.evaluation, batchNorm(c, false), 1e-4, "two-conv fold, evaluation as BN");
}
// A half-trained two-conv model saves and reloads (BatchNormFold with the com.whittle import),
// and the inference Plan runs it as the frozen formula (BatchNormFold's inference kernel gives
// the running statistics).
TEST(SimQat, TwoConvFoldSavedAndReloadedRunsTheSame) {
    ir::Model m = convBnModel();
    const std::vector<float> w = floats(m, "w");
    Applied a = applyAlgo("simqat", kTwoConv, m);
    ASSERT_TRUE(a.algo);
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() /
        ("whittle_bnfold_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + ".onnx");
    ASSERT_TRUE(onnx::saveModel(m, path).isOk());
    auto loaded = onnx::loadModel(path);
    std::filesystem::remove(path);
    ASSERT_TRUE(loaded) << loaded.error().message();
    EXPECT_EQ(countOps(*loaded->graph, "BatchNormFold"), 1);
    EXPECT_EQ(loaded->opsetVersion("com.whittle"), 1);
    const HostTensor x = gridInput(8);
    auto before = engine::Plan::compile(m);
    auto after = engine::Plan::compile(*loaded);
    ASSERT_TRUE(before) << before.error().message();
    ASSERT_TRUE(after) << after.error().message();
    auto yb = before->run({x});
    auto ya = after->run({x});
    ASSERT_TRUE(yb && ya);
    EXPECT_EQ((*yb)[0].toFloats(), (*ya)[0].toFloats());
    expectNear((*ya)[0].toFloats(), twoConvFormula(x, w, kMean, kVar, true), 1e-4, "reloaded, inference Plan");
    EXPECT_TRUE(engine::TrainingPlan::compile(*loaded));
}

// freeze_bn: the step before it uses c0's batch statistics and moves the running ones
// (momentum 0.9, biased variance, as BatchNormalization); from it on the output is the frozen
// formula with the running statistics, which stay as they are.
TEST(SimQat, TwoConvFoldFreezeBn) {
    ir::Model m = convBnModel();
    const std::vector<float> w = floats(m, "w");
    auto params = kTwoConv;
    params["freeze_bn"] = int64_t{2};
    Applied a = applyAlgo("simqat", params, m);
    ASSERT_TRUE(a.algo);
    auto callbacks = a.algo->callbacks(*m.graph);
    ASSERT_EQ(callbacks.size(), 1u);
    std::vector<float> y;
    engine::TrainingOptions to;
    to.loss = [&y](const engine::LossArgs& args) -> Expected<double> {
        y.assign(args.outputs[0]->data<float>(), args.outputs[0]->data<float>() + args.outputs[0]->numElements());
        zeroGrads(args);
        return 0.0;
    };
    auto plan = engine::TrainingPlan::compile(m, to);
    ASSERT_TRUE(plan) << plan.error().message();
    auto ds = std::make_shared<RandomDataset>(engine::Dims{kCin, kH, kW}, 8);
    data::DataLoader loader(ds, {});
    train::Sgd sgd;
    train::ConstantLr lr(0.0);
    train::Trainer trainer(*plan, sgd, lr, loader, nullptr);
    auto runningStats = [&](std::vector<float>& mean, std::vector<float>& var) {
        for (const auto& [name, t] : plan->state()) {
            if (name == "bn_m") mean.assign(t.data<float>(), t.data<float>() + t.numElements());
            if (name == "bn_v") var.assign(t.data<float>(), t.data<float>() + t.numElements());
        }
        ASSERT_EQ(mean.size(), static_cast<std::size_t>(kCout));
        ASSERT_EQ(var.size(), static_cast<std::size_t>(kCout));
    };
    const HostTensor x = gridInput(6);
    ASSERT_TRUE(callbacks[0]->onStepBegin(trainer, 1).isOk());
    ASSERT_TRUE(plan->forwardBackward(x, HostTensor::fromInt64s({kN}, {0, 0, 0, 0})));
    std::vector<double> muB, varB;
    expectNear(y, twoConvFormula(x, w, kMean, kVar, false, &muB, &varB), 1e-4,
               "step 1 (before freeze_bn): batch statistics");
    std::vector<float> mean, var;
    runningStats(mean, var);
    for (int64_t c = 0; c < kCout; ++c) {
        EXPECT_NEAR(mean[c], 0.9 * kMean[c] + 0.1 * muB[c], 1e-5) << "running mean " << c;
        EXPECT_NEAR(var[c], 0.9 * kVar[c] + 0.1 * varB[c], 1e-4) << "running var " << c;
    }
    ASSERT_TRUE(callbacks[0]->onStepBegin(trainer, 2).isOk());
    ASSERT_TRUE(plan->forwardBackward(x, HostTensor::fromInt64s({kN}, {0, 0, 0, 0})));
    expectNear(y, twoConvFormula(x, w, mean, var, true), 1e-4, "step 2 (freeze_bn = 2): running statistics");
    std::vector<float> mean2, var2;
    runningStats(mean2, var2);
    EXPECT_EQ(mean2, mean) << "frozen: the running mean must stay";
    EXPECT_EQ(var2, var) << "frozen: the running variance must stay";
}

// With every quantizer off, the two-conv unit in training is BN(conv(x, W) + b) on batch
// statistics, so its output and the gradients of W, γ, β (through both Convs, BatchNormFold
// and the correction) are the no-fold graph's; the running statistics are state.
TEST(SimQat, TwoConvFoldGradientsMatchBatchNormalization) {
    struct Run {
        std::vector<float> y;
        std::map<std::string, std::vector<float>> grads;
    };
    auto run = [](const std::map<std::string, algo::ParamValue>& params) {
        Run r;
        ir::Model m = convBnModel();
        Applied a = applyAlgo("simqat", params, m);
        EXPECT_TRUE(a.algo);
        engine::TrainingOptions to;
        std::vector<float>* y = &r.y;
        to.loss = [y](const engine::LossArgs& args) -> Expected<double> {  // sum(y · ramp)
            y->assign(args.outputs[0]->data<float>(), args.outputs[0]->data<float>() + args.outputs[0]->numElements());
            zeroGrads(args);
            if (HostTensor* g = args.outputGrads[0])
                for (int64_t i = 0; i < g->numElements(); ++i) g->data<float>()[i] = static_cast<float>(i % 7) / 7.0f;
            return 0.0;
        };
        auto plan = engine::TrainingPlan::compile(m, to);
        EXPECT_TRUE(plan) << plan.error().message();
        if (!plan) return r;
        for (const ir::Node* n : m.graph->nodes())
            if (algo::quant::isFakeQuantize(*n)) plan->nodeFlags(n->id())->knobs["enabled"] = 0.0;
        EXPECT_TRUE(plan->forwardBackward(gridInput(5), HostTensor::fromInt64s({kN}, {0, 0, 0, 0})));
        EXPECT_EQ(plan->parameter("bn_m"), nullptr) << "running mean must be state";
        EXPECT_EQ(plan->parameter("bn_v"), nullptr) << "running variance must be state";
        for (const char* name : {"w", "bn_s", "bn_b"})
            if (engine::Parameter* p = plan->parameter(name))
                r.grads[name].assign(p->grad.data<float>(), p->grad.data<float>() + p->grad.numElements());
        return r;
    };
    const Run bn = run({{"calibration_samples", int64_t{0}}});
    const Run two = run(kTwoConv);
    ASSERT_EQ(two.y.size(), bn.y.size());
    std::vector<double> want(bn.y.begin(), bn.y.end());
    expectNear(two.y, want, 1e-4, "two-conv vs no fold, unquantized output");
    for (const char* name : {"w", "bn_s", "bn_b"}) {
        ASSERT_TRUE(bn.grads.count(name) && two.grads.count(name)) << name;
        const std::vector<float>& a = bn.grads.at(name);
        const std::vector<float>& b = two.grads.at(name);
        ASSERT_EQ(a.size(), b.size()) << name;
        double worst = 0, scale = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
            worst = std::max(worst, static_cast<double>(std::fabs(a[i] - b[i])));
            scale = std::max(scale, static_cast<double>(std::fabs(a[i])));
        }
        EXPECT_GT(scale, 1e-3) << name << ": no gradient to compare";
        EXPECT_LT(worst, 1e-3 * scale) << name << " gradient: max |diff| " << worst << " of " << scale;
    }
}

// Deploy fold: after a few training forwards (running statistics and observed ranges move),
// the converted QDQ model gives the applied model's evaluate() output within one step of the
// output's 8-bit grid.
enum class Form { kNoFold, kOneConv, kTwoConv };

void checkDeployFold(Form form) {
    ir::Model m = convBnModel();
    std::map<std::string, algo::ParamValue> params{{"calibration_samples", int64_t{0}}};
    if (form != Form::kNoFold) {
        params["enable_fusion"] = true;
        params["bn_fold"] = true;
        params["one_conv_fold"] = form == Form::kOneConv;
    }
    const char* what = form == Form::kNoFold ? "no fold" : form == Form::kOneConv ? "one-conv fold" : "two-conv fold";
    Applied a = applyAlgo("simqat", params, m);
    ASSERT_TRUE(a.algo);
    engine::TrainingOptions to;
    to.loss = [](const engine::LossArgs& args) -> Expected<double> {
        zeroGrads(args);
        return 0.0;
    };
    auto plan = engine::TrainingPlan::compile(m, to);
    ASSERT_TRUE(plan) << plan.error().message();
    for (int s = 0; s < 3; ++s)
        ASSERT_TRUE(plan->forwardBackward(gridInput(10 + s), HostTensor::fromInt64s({kN}, {0, 0, 0, 0})));
    ASSERT_TRUE(plan->writeBack(m).isOk());
    auto trained = engine::TrainingPlan::compile(m, to);
    ASSERT_TRUE(trained);
    const HostTensor x = gridInput(20);
    auto want = trained->evaluate(x);
    ASSERT_TRUE(want);

    ASSERT_TRUE(convertAlgo(*a.algo, m).isOk());
    EXPECT_EQ(countOps(*m.graph, "BatchNormalization"), 0);
    EXPECT_EQ(countOps(*m.graph, "FakeQuantize"), 0);
    EXPECT_EQ(countOps(*m.graph, "Conv"), 1) << what;
    for (const ir::Node* n : m.graph->nodes()) EXPECT_NE(n->domain, "com.whittle") << n->name;
    auto deployed = engine::Plan::compile(m);
    ASSERT_TRUE(deployed) << deployed.error().message();
    auto got = deployed->run({x});
    ASSERT_TRUE(got) << got.error().message();
    const HostTensor& yw = (*want)[0];
    const HostTensor& yg = (*got)[0];
    ASSERT_EQ(yw.numElements(), yg.numElements());
    float lo = 0, hi = 0, worst = 0;
    for (int64_t i = 0; i < yw.numElements(); ++i) {
        lo = std::min(lo, yw.data<float>()[i]);
        hi = std::max(hi, yw.data<float>()[i]);
        worst = std::max(worst, std::fabs(yw.data<float>()[i] - yg.data<float>()[i]));
    }
    const float step = (hi - lo) / 255.0f;
    EXPECT_LE(worst, step) << what << ": max |diff| " << worst
                           << ", output step " << step;
}

TEST(SimQat, DeployFoldNoFold) { checkDeployFold(Form::kNoFold); }
TEST(SimQat, DeployFoldOneConv) { checkDeployFold(Form::kOneConv); }
TEST(SimQat, DeployFoldTwoConv) { checkDeployFold(Form::kTwoConv); }

// x [N,1,8,8] → Conv → Relu → Flatten → Gemm → logits.
ir::Model smallNet() {
    wh::testing::ModelBuilder b(13, 5);
    b.input("x", {1, 8, 8});
    b.conv3x3("x", "w1", 1, 4, "c1");
    b.node("Relu", {"c1"}, {"r1"});
    b.node("Flatten", {"r1"}, {"f"});
    b.weight("fc", {10, 256}, 256);
    b.weight("fcb", {10}, 0, 0.0f);
    b.node("Gemm", {"f", "fc", "fcb"}, {"logits"})->attributes().push_back(ir::Attribute::makeInt("transB", 1));
    b.output("logits", {10});
    return b.take();
}

TEST(SimQat, QuantDelayKeepsFloatBeforeTheDelay) {
    ir::Model floatModel = smallNet();
    ir::Model m = floatModel.clone();
    Applied a = applyAlgo("simqat", {{"calibration_samples", int64_t{0}}, {"quant_delay", int64_t{5}}}, m);
    ASSERT_TRUE(a.algo);
    auto callbacks = a.algo->callbacks(*m.graph);
    ASSERT_EQ(callbacks.size(), 1u);
    auto qplan = engine::TrainingPlan::compile(m);
    auto fplan = engine::TrainingPlan::compile(floatModel);
    ASSERT_TRUE(qplan && fplan);
    auto ds = std::make_shared<RandomDataset>(engine::Dims{1, 8, 8}, 16);
    data::DataLoader loader(ds, {});
    train::Sgd sgd;
    train::ConstantLr lr(0.0);
    train::Trainer trainer(*qplan, sgd, lr, loader, nullptr);
    const HostTensor labels = wh::testing::randomLabels(8, 10, 1);
    for (int64_t step = 0; step < 8; ++step) {
        const HostTensor x = wh::testing::randomNormal({8, 1, 8, 8}, 100 + static_cast<uint64_t>(step));
        ASSERT_TRUE(callbacks[0]->onStepBegin(trainer, step).isOk());
        auto lq = qplan->forwardBackward(x, labels);
        auto lf = fplan->forwardBackward(x, labels);
        ASSERT_TRUE(lq && lf);
        if (step < 5)
            EXPECT_EQ(*lq, *lf) << "step " << step << ": quantizers should be off";
        else
            EXPECT_NE(*lq, *lf) << "step " << step << ": quantizers should be on";
    }
}

// freeze_bn: from that step on the training forward normalises with running statistics.
TEST(SimQat, FreezeBnUsesRunningStatistics) {
    ir::Model m = convBnModel();
    const std::vector<float> w = floats(m, "w");
    Applied a = applyAlgo("simqat", {{"calibration_samples", int64_t{0}}, {"freeze_bn", int64_t{2}}}, m);
    ASSERT_TRUE(a.algo);
    auto callbacks = a.algo->callbacks(*m.graph);
    ASSERT_EQ(callbacks.size(), 1u);
    std::vector<float> y;
    engine::TrainingOptions to;
    to.loss = [&y](const engine::LossArgs& args) -> Expected<double> {
        y.assign(args.outputs[0]->data<float>(), args.outputs[0]->data<float>() + args.outputs[0]->numElements());
        zeroGrads(args);
        return 0.0;
    };
    auto plan = engine::TrainingPlan::compile(m, to);
    ASSERT_TRUE(plan) << plan.error().message();
    auto ds = std::make_shared<RandomDataset>(engine::Dims{kCin, kH, kW}, 8);
    data::DataLoader loader(ds, {});
    train::Sgd sgd;
    train::ConstantLr lr(0.0);
    train::Trainer trainer(*plan, sgd, lr, loader, nullptr);
    const HostTensor x = gridInput(6);
    std::vector<double> c = conv3x3(x, fakeQuantWeight(w, kCout));
    for (std::size_t i = 0; i < c.size(); ++i) c[i] += kBias[(i / (kH * kW)) % kCout];
    ASSERT_TRUE(callbacks[0]->onStepBegin(trainer, 1).isOk());
    ASSERT_TRUE(plan->forwardBackward(x, HostTensor::fromInt64s({kN}, {0, 0, 0, 0})));
    expectNear(y, batchNorm(c, true), 1e-4, "step 1 (before freeze_bn): batch statistics");
    // The step above moved the running statistics (momentum 0.9): freeze and compare with them.
    ASSERT_TRUE(callbacks[0]->onStepBegin(trainer, 2).isOk());
    std::vector<float> mean, var;
    for (const auto& [name, t] : plan->state()) {
        if (name == "bn_m") mean.assign(t.data<float>(), t.data<float>() + t.numElements());
        if (name == "bn_v") var.assign(t.data<float>(), t.data<float>() + t.numElements());
    }
    ASSERT_EQ(mean.size(), static_cast<std::size_t>(kCout));
    ASSERT_EQ(var.size(), static_cast<std::size_t>(kCout));
    ASSERT_TRUE(plan->forwardBackward(x, HostTensor::fromInt64s({kN}, {0, 0, 0, 0})));
    std::vector<double> want = c;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const std::size_t ch = (i / (kH * kW)) % kCout;
        want[i] = kGamma[ch] * (c[i] - mean[ch]) / std::sqrt(var[ch] + kEps) + kBeta[ch];
    }
    expectNear(y, want, 1e-4, "step 2 (freeze_bn = 2): running statistics");
}

TEST(SimQat, OneQuantizerPerTensor) {
    // Conv → BN → Relu → Conv → Add(residual) → Relu → Flatten → Gemm, with a tensor read by
    // two layers.
    wh::testing::ModelBuilder b(13, 9);
    b.input("x", {4, 8, 8});
    b.conv3x3("x", "w1", 4, 4, "c1");
    b.batchNorm("c1", "bn1", 4, "b1");
    b.node("Relu", {"b1"}, {"r1"});
    b.conv3x3("r1", "w2", 4, 4, "c2");
    b.conv3x3("r1", "w3", 4, 4, "c3");
    b.node("Add", {"c2", "c3"}, {"s"});
    b.node("Relu", {"s"}, {"r2"});
    b.node("Flatten", {"r2"}, {"f"});
    b.weight("fc", {10, 256}, 256);
    b.node("Gemm", {"f", "fc"}, {"logits"})->attributes().push_back(ir::Attribute::makeInt("transB", 1));
    b.output("logits", {10});
    ir::Model m = b.take();
    for (int form = 0; form < 3; ++form) {
        const bool fold = form > 0;
        ir::Model mm = m.clone();
        Applied a = applyAlgo("simqat", {{"calibration_samples", int64_t{0}}, {"enable_fusion", fold}, {"bn_fold", fold}, {"one_conv_fold", form < 2}}, mm);
        ASSERT_TRUE(a.algo);
        int fqs = 0;
        for (const ir::Value* v : mm.graph->valueList()) {
            int readers = 0;
            for (const ir::Use& u : v->uses()) readers += algo::quant::isFakeQuantize(*u.node) && u.input == 0;
            EXPECT_LE(readers, 1) << v->name() << " has " << readers << " quantizers";
            fqs += readers;
            if (v->producer() && algo::quant::isFakeQuantize(*v->producer()))
                EXPECT_EQ(readers, 0) << v->name() << ": quantized twice";
        }
        // 4 weights + x, r1, c2, c3, r2, f. c1's BN output b1 and s are read by a Relu only:
        // the Relu is fused, its output is quantized.
        EXPECT_EQ(fqs, 4 + 6) << "form " << form;
        for (const char* fused : {"b1", "s"})
            for (const ir::Use& u : mm.graph->findValue(fused)->uses())
                EXPECT_FALSE(algo::quant::isFakeQuantize(*u.node)) << fused << " is quantized";
        EXPECT_TRUE(engine::TrainingPlan::compile(mm)) << "form " << form;
    }
}

// ---- LSQ -------------------------------------------------------------------------------------

const std::filesystem::path kFashion = "/usr/share/datasets/fashion-mnist";

TEST(Lsq, TrainsAndConverts) {
    if (!std::filesystem::exists(kFashion)) GTEST_SKIP() << "no Fashion-MNIST at " << kFashion;
    auto trainSet = data::IdxDataset::mnistLayout(kFashion, "train", data::Normalization::fashionMnist());
    auto testSet = data::IdxDataset::mnistLayout(kFashion, "test", data::Normalization::fashionMnist());
    ASSERT_TRUE(trainSet && testSet);
    std::shared_ptr<data::Dataset> train = data::calibrationSubset(*trainSet, 2048, 1);

    // image [N,1,28,28] → Conv(8) → BN → Relu → MaxPool → Conv(8) → Relu → Flatten → Gemm.
    wh::testing::ModelBuilder b(13, 11);
    b.input("image", {1, 28, 28});
    b.conv3x3("image", "w1", 1, 8, "c1");
    b.batchNorm("c1", "bn1", 8, "b1");
    b.node("Relu", {"b1"}, {"r1"});
    ir::Node* pool = b.node("MaxPool", {"r1"}, {"p1"});
    pool->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {2, 2}));
    pool->attributes().push_back(ir::Attribute::makeInts("strides", {2, 2}));
    b.conv3x3("p1", "w2", 8, 8, "c2");
    b.node("Relu", {"c2"}, {"r2"});
    b.node("Flatten", {"r2"}, {"f"});
    b.weight("fc", {10, 8 * 14 * 14}, 8 * 14 * 14);
    b.weight("fcb", {10}, 0, 0.0f);
    b.node("Gemm", {"f", "fc", "fcb"}, {"logits"})->attributes().push_back(ir::Attribute::makeInt("transB", 1));
    b.output("logits", {10});
    ir::Model m = b.take();

    Applied a = applyAlgo("lsq", {{"weight_bits", int64_t{4}}, {"activation_bits", int64_t{4}},
                                  {"keep_first_last_8bit", false}, {"calibration_samples", int64_t{128}}},
                          m, train.get());
    ASSERT_TRUE(a.algo);
    EXPECT_EQ(countOps(*m.graph, "BatchNormalization"), 0);
    EXPECT_EQ(countOps(*m.graph, "FakeQuantize"), 3 + 5);  // 3 weights; image, r1, p1, r2, f

    auto plan = engine::TrainingPlan::compile(m);
    ASSERT_TRUE(plan) << plan.error().message();
    std::map<std::string, std::vector<float>> scalesBefore;
    for (const engine::Parameter& p : plan->parameters())
        if (p.name.find("_fq_scale") != std::string::npos)
            scalesBefore[p.name].assign(p.value.data<float>(), p.value.data<float>() + p.value.numElements());
    EXPECT_EQ(scalesBefore.size(), 8u);
    auto opt = train::makeOptimizer("adam");
    ASSERT_TRUE(opt);
    train::ConstantLr lr(1e-3);
    data::DataLoader::Options lo;
    lo.batchSize = 64;
    lo.seed = 2;
    data::DataLoader loader(train, lo);
    std::vector<double> losses;
    class Losses : public train::Callback {
    public:
        explicit Losses(std::vector<double>& l) : m_l(l) {}
        Status onStepEnd(train::Trainer&, const train::StepInfo& s) override {
            m_l.push_back(s.loss);
            return Status::ok();
        }
        std::vector<double>& m_l;
    } rec(losses);
    train::TrainerOptions topt;
    topt.maxSteps = 30;
    train::Trainer trainer(*plan, **opt, lr, loader, nullptr, topt);
    trainer.addCallback(&rec);
    ASSERT_TRUE(trainer.run());
    ASSERT_EQ(losses.size(), 30u);
    const double first = (losses[0] + losses[1] + losses[2]) / 3, last = (losses[27] + losses[28] + losses[29]) / 3;
    EXPECT_LT(last, first * 0.8) << "loss " << first << " → " << last;
    int moved = 0;
    for (const engine::Parameter& p : plan->parameters())
        if (auto it = scalesBefore.find(p.name); it != scalesBefore.end())
            for (int64_t i = 0; i < p.value.numElements(); ++i)
                if (p.value.data<float>()[i] != it->second[static_cast<std::size_t>(i)]) {
                    ++moved;
                    break;
                }
    EXPECT_EQ(moved, 8) << "every step size should have trained";

    ASSERT_TRUE(plan->writeBack(m).isOk());
    auto trained = engine::TrainingPlan::compile(m);
    ASSERT_TRUE(trained);
    ASSERT_TRUE(convertAlgo(*a.algo, m).isOk());
    EXPECT_EQ(countOps(*m.graph, "FakeQuantize"), 0);
    auto deployed = engine::Plan::compile(m);
    ASSERT_TRUE(deployed) << deployed.error().message();
    constexpr int64_t kSamples = 200;
    HostTensor images(ir::DType::kFloat, {kSamples, 1, 28, 28});
    for (int64_t i = 0; i < kSamples; ++i) (*testSet)->get(i, images.data<float>() + i * 784);
    auto want = trained->evaluate(images);
    auto got = deployed->run({images});
    ASSERT_TRUE(want && got);
    int agree = 0;
    for (int64_t i = 0; i < kSamples; ++i) {
        auto argmax = [&](const HostTensor& t) {
            const float* r = t.data<float>() + i * 10;
            return std::max_element(r, r + 10) - r;
        };
        agree += argmax((*want)[0]) == argmax((*got)[0]);
    }
    EXPECT_GE(agree, kSamples * 98 / 100) << agree << " / " << kSamples << " top-1 agree";
}

// A short SimQAT run with the two-conv fold through the Trainer and the plugin's callbacks:
// the loss goes down, freeze_bn stops the running statistics (BatchNormFold's state) from the
// step it names, and the converted QDQ model agrees with the trained one.
TEST(SimQat, TwoConvFoldTrainsAndConverts) {
    if (!std::filesystem::exists(kFashion)) GTEST_SKIP() << "no Fashion-MNIST at " << kFashion;
    auto trainSet = data::IdxDataset::mnistLayout(kFashion, "train", data::Normalization::fashionMnist());
    auto testSet = data::IdxDataset::mnistLayout(kFashion, "test", data::Normalization::fashionMnist());
    ASSERT_TRUE(trainSet && testSet);
    std::shared_ptr<data::Dataset> train = data::calibrationSubset(*trainSet, 2048, 3);

    // image [N,1,28,28] → Conv(8) → BN → Relu → MaxPool → Conv(8, bias) → BN → Relu → Flatten
    // → Gemm.
    wh::testing::ModelBuilder b(13, 12);
    b.input("image", {1, 28, 28});
    b.conv3x3("image", "w1", 1, 8, "c1");
    b.batchNorm("c1", "bn1", 8, "b1");
    b.node("Relu", {"b1"}, {"r1"});
    ir::Node* pool = b.node("MaxPool", {"r1"}, {"p1"});
    pool->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {2, 2}));
    pool->attributes().push_back(ir::Attribute::makeInts("strides", {2, 2}));
    b.weight("w2", {8, 8, 3, 3}, 8 * 9);
    b.weight("w2b", {8}, 0, 0.05f);
    b.node("Conv", {"p1", "w2", "w2b"}, {"c2"})->attributes().push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    b.batchNorm("c2", "bn2", 8, "b2");
    b.node("Relu", {"b2"}, {"r2"});
    b.node("Flatten", {"r2"}, {"f"});
    b.weight("fc", {10, 8 * 14 * 14}, 8 * 14 * 14);
    b.weight("fcb", {10}, 0, 0.0f);
    b.node("Gemm", {"f", "fc", "fcb"}, {"logits"})->attributes().push_back(ir::Attribute::makeInt("transB", 1));
    b.output("logits", {10});
    ir::Model m = b.take();

    constexpr int64_t kSteps = 30, kFreeze = 20;
    Applied a = applyAlgo("simqat", {{"enable_fusion", true}, {"bn_fold", true}, {"one_conv_fold", false},
                                     {"calibration_samples", int64_t{128}}, {"freeze_bn", kFreeze}},
                          m, train.get());
    ASSERT_TRUE(a.algo);
    EXPECT_EQ(countOps(*m.graph, "BatchNormalization"), 0);
    EXPECT_EQ(countOps(*m.graph, "BatchNormFold"), 2);

    auto plan = engine::TrainingPlan::compile(m);
    ASSERT_TRUE(plan) << plan.error().message();
    auto opt = train::makeOptimizer("adam");
    ASSERT_TRUE(opt);
    train::ConstantLr lr(1e-3);
    data::DataLoader::Options lo;
    lo.batchSize = 64;
    lo.seed = 2;
    data::DataLoader loader(train, lo);
    // Losses, and the running statistics at the start of the first frozen step and at the end.
    using Stats = std::map<std::string, std::vector<float>>;
    class Recorder : public train::Callback {
    public:
        std::vector<double> losses;
        Stats initial, atFreeze;
        Stats stats(train::Trainer& t) {
            Stats s;
            for (const auto& [name, v] : t.plan().state())
                if (name.rfind("bn", 0) == 0) s[name].assign(v.data<float>(), v.data<float>() + v.numElements());
            return s;
        }
        Status onTrainBegin(train::Trainer& t) override {
            initial = stats(t);
            return Status::ok();
        }
        Status onStepBegin(train::Trainer& t, int64_t step) override {
            if (step == kFreeze) atFreeze = stats(t);
            return Status::ok();
        }
        Status onStepEnd(train::Trainer&, const train::StepInfo& s) override {
            losses.push_back(s.loss);
            return Status::ok();
        }
    } rec;
    train::TrainerOptions topt;
    topt.maxSteps = kSteps;
    train::Trainer trainer(*plan, **opt, lr, loader, nullptr, topt);
    for (train::Callback* cb : a.algo->callbacks(*m.graph)) trainer.addCallback(cb);
    trainer.addCallback(&rec);
    ASSERT_TRUE(trainer.run());
    ASSERT_EQ(rec.losses.size(), static_cast<std::size_t>(kSteps));
    const double first = (rec.losses[0] + rec.losses[1] + rec.losses[2]) / 3;
    const double last = (rec.losses[kSteps - 3] + rec.losses[kSteps - 2] + rec.losses[kSteps - 1]) / 3;
    EXPECT_LT(last, first * 0.8) << "loss " << first << " → " << last;
    const Stats end = rec.stats(trainer);
    EXPECT_EQ(end.size(), 4u) << "bn1_m, bn1_v, bn2_m, bn2_v are state";
    for (const auto& [name, v] : end) {
        EXPECT_NE(rec.initial.at(name), rec.atFreeze.at(name)) << name << " should move before freeze_bn";
        EXPECT_EQ(rec.atFreeze.at(name), v) << name << " should stay from freeze_bn on";
    }

    ASSERT_TRUE(plan->writeBack(m).isOk());
    auto trained = engine::TrainingPlan::compile(m);
    ASSERT_TRUE(trained);
    ASSERT_TRUE(convertAlgo(*a.algo, m).isOk());
    EXPECT_EQ(countOps(*m.graph, "FakeQuantize"), 0);
    EXPECT_EQ(countOps(*m.graph, "BatchNormFold"), 0);
    EXPECT_EQ(countOps(*m.graph, "Conv"), 2);
    auto deployed = engine::Plan::compile(m);
    ASSERT_TRUE(deployed) << deployed.error().message();
    constexpr int64_t kSamples = 200;
    HostTensor images(ir::DType::kFloat, {kSamples, 1, 28, 28});
    for (int64_t i = 0; i < kSamples; ++i) (*testSet)->get(i, images.data<float>() + i * 784);
    auto want = trained->evaluate(images);
    auto got = deployed->run({images});
    ASSERT_TRUE(want && got);
    int agree = 0;
    for (int64_t i = 0; i < kSamples; ++i) {
        auto argmax = [&](const HostTensor& t) {
            const float* r = t.data<float>() + i * 10;
            return std::max_element(r, r + 10) - r;
        };
        agree += argmax((*want)[0]) == argmax((*got)[0]);
    }
    EXPECT_GE(agree, kSamples * 98 / 100) << agree << " / " << kSamples << " top-1 agree";
}

}  // namespace
