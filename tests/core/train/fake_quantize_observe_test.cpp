// FakeQuantize with observe = 1 (the seed's SimQAT observer, GOLDEN_STICK.md 3.1) in a
// TrainingPlan: the training forward takes the range of its input, nudges it to a scale and zero
// point, quantizes with them and stores them as state; per tensor on an activation (plain and
// channel-blocked), per channel along axis 0 on Conv and depthwise weights; the EMA; the observer
// during a quantization delay; evaluate(), writeBack() and the inference Plan use the stored
// values; a learned (LSQ) quantizer in the same model still trains its scale.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/fake_quantize.h"
#include "core/engine/loss.h"
#include "core/engine/plan.h"
#include "core/engine/training_plan.h"
#include "tests/core/train/model_builder.h"

using namespace wh;
using namespace wh::engine;

namespace {

struct FqSpec {
    std::vector<std::pair<const char*, int64_t>> ints;
    std::vector<int64_t> scaleDims;  // {} per tensor
    bool zeroPoint = true;
    bool range = false;  // range_min / range_max inputs (initialised to 0)
    float emaDecay = 0;
    float scale = 1.0f;  // the scale initializer's value
};

// in -> FakeQuantize (node `out`_FakeQuantize) -> out, with initializers `p`_s, `p`_z (0),
// `p`_min and `p`_max (0).
ir::Node* fakeQuant(wh::testing::ModelBuilder& b, const std::string& in, const std::string& p,
                    const std::string& out, const FqSpec& spec) {
    std::vector<std::string> ins = {in, p + "_s"};
    b.weight(p + "_s", spec.scaleDims, 0, spec.scale);
    if (spec.zeroPoint || spec.range) ins.push_back(spec.zeroPoint ? p + "_z" : "");
    if (spec.zeroPoint) b.weight(p + "_z", spec.scaleDims, 0, 0.0f);
    if (spec.range) {
        b.weight(p + "_min", spec.scaleDims, 0, 0.0f);
        b.weight(p + "_max", spec.scaleDims, 0, 0.0f);
        ins.push_back(p + "_min");
        ins.push_back(p + "_max");
    }
    ir::Node* n = b.node(std::string(kFakeQuantizeOp), ins, {out});
    n->domain = std::string(kWhittleDomain);
    for (auto [name, v] : spec.ints) n->attributes().push_back(ir::Attribute::makeInt(name, v));
    if (spec.emaDecay > 0)
        n->attributes().push_back(ir::Attribute::makeFloat("ema_decay", spec.emaDecay));
    return n;
}

// A graph output without the batch dimension (a quantized weight).
void plainOutput(wh::testing::ModelBuilder& b, const std::string& name, std::vector<int64_t> dims) {
    ir::Graph& g = *b.model().graph;
    ir::Value* v = g.findValue(name);
    ir::Shape shape;
    for (int64_t d : dims) shape.dims.push_back(ir::Dim::known(d));
    v->type = ir::Type::tensor(ir::DType::kFloat, shape);
    g.insertGraphOutput(v);
}

// x [3, 8, 8] -> Conv 16 -> c1 -> FakeQuantize q1 (per tensor, asymmetric uint8, observe) -> BN
// -> Relu -> GAP -> Flatten -> Gemm 5. Outputs: logits, c1, q1.
ir::Model activationModel(const FqSpec& spec) {
    wh::testing::ModelBuilder b(13, 21);
    b.model().opsetImports.push_back({std::string(kWhittleDomain), 1, {}});
    b.input("x", {3, 8, 8});
    b.conv3x3("x", "w1", 3, 16, "c1");
    fakeQuant(b, "c1", "q1", "q1", spec);
    b.batchNorm("q1", "bn1", 16, "n1");
    b.node("Relu", {"n1"}, {"r1"});
    b.node("GlobalAveragePool", {"r1"}, {"g"});
    b.node("Flatten", {"g"}, {"f"});
    b.weight("wf", {5, 16}, 16);
    b.weight("bf", {5}, 16);
    b.node("Gemm", {"f", "wf", "bf"}, {"logits"})
        ->attributes()
        .push_back(ir::Attribute::makeInt("transB", 1));
    b.output("logits", {5});
    b.output("c1", {16, 8, 8});
    b.output("q1", {16, 8, 8});
    return b.take();
}

FqSpec perTensorUint8() {
    FqSpec s;
    s.ints = {{"observe", 1}, {"unsigned", 1}};
    return s;
}

// x [3, 8, 8] -> Conv(x, FakeQuantize(w1) per channel axis 0, symmetric) -> c1 -> FakeQuantize
// (learned, LSQ, per tensor) -> Relu -> depthwise Conv(., FakeQuantize(wd) per channel axis 0,
// symmetric, with a zero point) -> GAP -> Flatten -> Gemm 5. Outputs: logits, w1q, wdq.
ir::Model weightModel() {
    wh::testing::ModelBuilder b(13, 22);
    b.model().opsetImports.push_back({std::string(kWhittleDomain), 1, {}});
    b.input("x", {3, 8, 8});
    b.weight("w1", {16, 3, 3, 3}, 27);
    FqSpec w1;
    w1.ints = {{"observe", 1}, {"symmetric", 1}, {"axis", 0}};
    w1.scaleDims = {16};
    w1.zeroPoint = false;
    fakeQuant(b, "w1", "w1q", "w1q", w1);
    b.node("Conv", {"x", "w1q"}, {"c1"})
        ->attributes()
        .push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    FqSpec lsq;
    lsq.ints = {{"learned", 1}};
    lsq.zeroPoint = false;
    lsq.scale = 0.05f;
    fakeQuant(b, "c1", "lq", "lq", lsq);
    b.node("Relu", {"lq"}, {"r1"});
    b.weight("wd", {16, 1, 3, 3}, 9);
    FqSpec wd = w1;
    wd.zeroPoint = true;
    fakeQuant(b, "wd", "wdq", "wdq", wd);
    ir::Node* dw = b.node("Conv", {"r1", "wdq"}, {"c2"});
    dw->attributes().push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    dw->attributes().push_back(ir::Attribute::makeInt("group", 16));
    b.node("GlobalAveragePool", {"c2"}, {"g"});
    b.node("Flatten", {"g"}, {"f"});
    b.weight("wf", {5, 16}, 16);
    b.weight("bf", {5}, 16);
    b.node("Gemm", {"f", "wf", "bf"}, {"logits"})
        ->attributes()
        .push_back(ir::Attribute::makeInt("transB", 1));
    b.output("logits", {5});
    plainOutput(b, "w1q", {16, 3, 3, 3});
    plainOutput(b, "wdq", {16, 1, 3, 3});
    return b.take();
}

// Softmax cross-entropy on output 0, keeping a copy of every output of the last forward.
TrainingOptions optionsCapturing(std::shared_ptr<std::vector<HostTensor>> sink, bool reference) {
    TrainingOptions opt;
    opt.threads = 2;
    if (reference) opt.backends = opt.gradBackends = {Backend::kReference};
    opt.loss = [ce = softmaxCrossEntropyLoss(), sink](const LossArgs& a) {
        sink->clear();
        for (const HostTensor* t : a.outputs) sink->push_back(t->clone());
        return ce(a);
    };
    return opt;
}

const HostTensor* stateOf(const TrainingPlan& plan, const std::string& name) {
    for (const auto& [n, t] : plan.state())
        if (n == name) return &t;
    return nullptr;
}

const Parameter* param(const TrainingPlan& plan, const std::string& name) {
    for (const Parameter& p : plan.parameters())
        if (p.name == name) return &p;
    return nullptr;
}

ir::NodeId nodeNamed(const ir::Model& model, const std::string& name) {
    for (const ir::Node* n : model.graph->nodes())
        if (n->name == name) return n->id();
    return 0;
}

// Min and max of x per channel along `axis` (-1: per tensor).
std::pair<std::vector<float>, std::vector<float>> ranges(const HostTensor& x, int axis) {
    const int64_t channels = axis < 0 ? 1 : x.dim(axis);
    int64_t inner = 1;
    for (int d = axis + 1; axis >= 0 && d < x.rank(); ++d) inner *= x.dim(d);
    std::vector<float> lo(static_cast<std::size_t>(channels), std::numeric_limits<float>::max());
    std::vector<float> hi(lo.size(), std::numeric_limits<float>::lowest());
    const float* p = x.data<float>();
    for (int64_t i = 0; i < x.numElements(); ++i) {
        const auto c = static_cast<std::size_t>(axis < 0 ? 0 : (i / inner) % channels);
        lo[c] = std::min(lo[c], p[i]);
        hi[c] = std::max(hi[c], p[i]);
    }
    return {lo, hi};
}

struct Params {
    std::vector<float> s, z;
};
Params paramsFrom(const std::vector<float>& lo, const std::vector<float>& hi, bool symmetric,
                  bool isUnsigned) {
    Params p;
    for (std::size_t c = 0; c < lo.size(); ++c) {
        auto [s, z] = fakeQuantParamsFromRange(lo[c], hi[c], 8, symmetric, false, isUnsigned);
        p.s.push_back(s);
        p.z.push_back(z);
    }
    return p;
}

// (clamp(round_half_even(x / s) + z, qmin, qmax) - z) * s in float, as the kernel computes it.
std::vector<float> quantized(const HostTensor& x, int axis, const Params& p, bool isUnsigned) {
    const auto [qmin, qmax] = fakeQuantGrid(8, false, isUnsigned);
    const int64_t channels = static_cast<int64_t>(p.s.size());
    int64_t inner = 1;
    for (int d = axis + 1; axis >= 0 && d < x.rank(); ++d) inner *= x.dim(d);
    std::vector<float> y;
    const float* px = x.data<float>();
    for (int64_t i = 0; i < x.numElements(); ++i) {
        const auto c = static_cast<std::size_t>(axis < 0 ? 0 : (i / inner) % channels);
        const float q = std::clamp(std::nearbyint(px[i] / p.s[c]) + p.z[c],
                                   static_cast<float>(qmin), static_cast<float>(qmax));
        y.push_back((q - p.z[c]) * p.s[c]);
    }
    return y;
}

std::vector<float> values(const HostTensor* t) {
    return t ? t->toFloats() : std::vector<float>{};
}

HostTensor images(int64_t n, uint64_t seed, float factor = 1.0f) {
    HostTensor t = wh::testing::randomNormal({n, 3, 8, 8}, seed);
    for (float& v : t.span<float>()) v *= factor;
    return t;
}
HostTensor labels(int64_t n, uint64_t seed) {
    return wh::testing::randomLabels(n, 5, seed);
}

}  // namespace

TEST(FakeQuantizeObserve, PerTensorAsymmetricUint8StoresTheBatchRange) {
    for (bool reference : {true, false}) {
        SCOPED_TRACE(reference ? "reference" : "default backends (channel-blocked)");
        const ir::Model model = activationModel(perTensorUint8());
        auto outs = std::make_shared<std::vector<HostTensor>>();
        auto plan = TrainingPlan::compile(model, optionsCapturing(outs, reference));
        ASSERT_TRUE(plan) << plan.error().message();
        // Scale and zero point are state, not parameters.
        EXPECT_EQ(param(*plan, "q1_s"), nullptr);
        EXPECT_EQ(param(*plan, "q1_z"), nullptr);
        ASSERT_NE(stateOf(*plan, "q1_s"), nullptr);
        ASSERT_NE(stateOf(*plan, "q1_z"), nullptr);
        const std::string d = plan->describe();
        if (!reference)
            EXPECT_NE(d.find("'q1_FakeQuantize' (FakeQuantize): ([-1,16,8,8] nChw16c, state, "
                             "state) -> ([-1,16,8,8] nChw16c)"),
                      std::string::npos)
                << d;
        // Two batches: each step stores its own batch's range (no EMA).
        for (uint64_t seed : {1u, 2u}) {
            SCOPED_TRACE("batch seed " + std::to_string(seed));
            auto loss = plan->forwardBackward(images(4, seed), labels(4, seed + 10));
            ASSERT_TRUE(loss) << loss.error().message();
            ASSERT_EQ(outs->size(), 3u);
            const HostTensor& c1 = (*outs)[1];
            const auto [lo, hi] = ranges(c1, -1);
            ASSERT_LT(lo[0], 0.0f);
            ASSERT_GT(hi[0], 0.0f);
            const Params want = paramsFrom(lo, hi, false, true);
            EXPECT_EQ(values(stateOf(*plan, "q1_s")), want.s) << "range " << lo[0] << ".." << hi[0];
            EXPECT_EQ(values(stateOf(*plan, "q1_z")), want.z) << "range " << lo[0] << ".." << hi[0];
            EXPECT_GT(want.z[0], 0.0f);
            // This forward quantized with the observed values.
            EXPECT_EQ((*outs)[2].toFloats(), quantized(c1, -1, want, true));
        }
    }
}

TEST(FakeQuantizeObserve, PerChannelSymmetricOnConvAndDepthwiseWeights) {
    for (bool reference : {true, false}) {
        SCOPED_TRACE(reference ? "reference" : "default backends");
        const ir::Model model = weightModel();
        auto outs = std::make_shared<std::vector<HostTensor>>();
        auto plan = TrainingPlan::compile(model, optionsCapturing(outs, reference));
        ASSERT_TRUE(plan) << plan.error().message();
        for (const char* name : {"w1q_s", "wdq_s", "wdq_z"}) {
            EXPECT_EQ(param(*plan, name), nullptr) << name;
            EXPECT_NE(stateOf(*plan, name), nullptr) << name;
        }
        ASSERT_NE(param(*plan, "w1"), nullptr);
        ASSERT_NE(param(*plan, "wd"), nullptr);
        // The learned (LSQ, observe = 0) quantizer in the same model trains its scale.
        ASSERT_NE(param(*plan, "lq_s"), nullptr);
        EXPECT_EQ(stateOf(*plan, "lq_s"), nullptr);

        auto loss = plan->forwardBackward(images(4, 5), labels(4, 6));
        ASSERT_TRUE(loss) << loss.error().message();
        ASSERT_EQ(outs->size(), 3u);
        EXPECT_NE(param(*plan, "lq_s")->grad.at(0), 0.0);
        struct Case {
            const char* weight;
            const char* fq;
            int output;
        };
        for (const Case& k : {Case{"w1", "w1q", 1}, Case{"wd", "wdq", 2}}) {
            SCOPED_TRACE(k.fq);
            const HostTensor& w = param(*plan, k.weight)->value;
            const auto [lo, hi] = ranges(w, 0);
            const Params want = paramsFrom(lo, hi, true, false);
            EXPECT_EQ(values(stateOf(*plan, std::string(k.fq) + "_s")), want.s);
            EXPECT_EQ(want.z, std::vector<float>(16, 0.0f));
            if (std::string(k.fq) == "wdq") EXPECT_EQ(values(stateOf(*plan, "wdq_z")), want.z);
            // Per channel, not per tensor: the scales differ between channels.
            EXPECT_NE(*std::min_element(want.s.begin(), want.s.end()),
                      *std::max_element(want.s.begin(), want.s.end()));
            EXPECT_EQ((*outs)[static_cast<std::size_t>(k.output)].toFloats(),
                      quantized(w, 0, want, false));
            // The STE still hands the weight a gradient.
            double norm = 0;
            for (float g : param(*plan, k.weight)->grad.toFloats()) norm += std::abs(g);
            EXPECT_GT(norm, 0.0);
        }
    }
}

TEST(FakeQuantizeObserve, EmaBlendsWithTheStoredRange) {
    constexpr float kDecay = 0.75f;
    for (bool reference : {true, false}) {
        SCOPED_TRACE(reference ? "reference" : "default backends (channel-blocked)");
        FqSpec spec = perTensorUint8();
        spec.range = true;
        spec.emaDecay = kDecay;
        const ir::Model model = activationModel(spec);
        auto outs = std::make_shared<std::vector<HostTensor>>();
        auto plan = TrainingPlan::compile(model, optionsCapturing(outs, reference));
        ASSERT_TRUE(plan) << plan.error().message();
        for (const char* name : {"q1_s", "q1_z", "q1_min", "q1_max"})
            EXPECT_NE(stateOf(*plan, name), nullptr) << name;

        // First observation: the stored [0, 0] is replaced by the batch's range.
        ASSERT_TRUE(plan->forwardBackward(images(4, 1), labels(4, 11)));
        auto [lo1, hi1] = ranges((*outs)[1], -1);
        EXPECT_EQ(values(stateOf(*plan, "q1_min")), lo1);
        EXPECT_EQ(values(stateOf(*plan, "q1_max")), hi1);
        Params want = paramsFrom(lo1, hi1, false, true);
        EXPECT_EQ(values(stateOf(*plan, "q1_s")), want.s);
        EXPECT_EQ(values(stateOf(*plan, "q1_z")), want.z);

        // Then min = d * min_prev + (1 - d) * min_batch (likewise max), nudged.
        ASSERT_TRUE(plan->forwardBackward(images(4, 2, 3.0f), labels(4, 12)));
        const auto [lo2, hi2] = ranges((*outs)[1], -1);
        const float blendLo = static_cast<float>(kDecay * double(lo1[0]) + (1 - kDecay) * lo2[0]);
        const float blendHi = static_cast<float>(kDecay * double(hi1[0]) + (1 - kDecay) * hi2[0]);
        const float gotLo = stateOf(*plan, "q1_min")->at(0);
        const float gotHi = stateOf(*plan, "q1_max")->at(0);
        EXPECT_FLOAT_EQ(gotLo, blendLo) << "batch " << lo2[0] << ", previous " << lo1[0];
        EXPECT_FLOAT_EQ(gotHi, blendHi) << "batch " << hi2[0] << ", previous " << hi1[0];
        EXPECT_NE(gotHi, hi2[0]);
        want = paramsFrom({gotLo}, {gotHi}, false, true);
        EXPECT_EQ(values(stateOf(*plan, "q1_s")), want.s);
        EXPECT_EQ(values(stateOf(*plan, "q1_z")), want.z);
        EXPECT_EQ((*outs)[2].toFloats(), quantized((*outs)[1], -1, want, true));
    }
}

TEST(FakeQuantizeObserve, RejectsIncompleteObservers) {
    struct Case {
        const char* what;
        FqSpec spec;
        const char* message;
    };
    FqSpec noRange = perTensorUint8();
    noRange.emaDecay = 0.9f;
    FqSpec noZp = perTensorUint8();
    noZp.zeroPoint = false;
    FqSpec learned = perTensorUint8();
    learned.ints.push_back({"learned", 1});
    FqSpec badDecay = perTensorUint8();
    badDecay.range = true;
    badDecay.emaDecay = 1.0f;
    for (const Case& c : {Case{"ema without a range", noRange, "range_min"},
                          Case{"asymmetric without a zero point", noZp, "zero_point"},
                          Case{"learned and observed", learned, "exclude"},
                          Case{"decay 1", badDecay, "ema_decay"}}) {
        SCOPED_TRACE(c.what);
        const ir::Model model = activationModel(c.spec);
        TrainingOptions opt;
        opt.backends = opt.gradBackends = {Backend::kReference};
        auto plan = TrainingPlan::compile(model, opt);
        ASSERT_FALSE(plan);
        EXPECT_NE(plan.error().message().find(c.message), std::string::npos)
            << plan.error().message();
        if (std::string(c.what) == "ema without a range")
            EXPECT_NE(plan.error().message().find("q1_FakeQuantize"), std::string::npos)
                << plan.error().message();
    }
}

TEST(FakeQuantizeObserve, ObserverRunsDuringTheQuantizationDelay) {
    for (bool reference : {true, false}) {
        SCOPED_TRACE(reference ? "reference" : "default backends (channel-blocked)");
        const ir::Model model = activationModel(perTensorUint8());
        auto outs = std::make_shared<std::vector<HostTensor>>();
        auto plan = TrainingPlan::compile(model, optionsCapturing(outs, reference));
        ASSERT_TRUE(plan) << plan.error().message();
        NodeFlags* flags = plan->nodeFlags(nodeNamed(model, "q1_FakeQuantize"));
        ASSERT_NE(flags, nullptr);
        flags->knobs["enabled"] = 0.0;
        ASSERT_EQ(values(stateOf(*plan, "q1_s")), std::vector<float>{1.0f});
        ASSERT_TRUE(plan->forwardBackward(images(4, 3), labels(4, 13)));
        // The identity...
        EXPECT_EQ((*outs)[2].toFloats(), (*outs)[1].toFloats());
        // ...and still the observed range stored.
        const auto [lo, hi] = ranges((*outs)[1], -1);
        const Params want = paramsFrom(lo, hi, false, true);
        EXPECT_EQ(values(stateOf(*plan, "q1_s")), want.s);
        EXPECT_EQ(values(stateOf(*plan, "q1_z")), want.z);
        // Enabled again: quantizes with this batch's range.
        flags->knobs["enabled"] = 1.0;
        ASSERT_TRUE(plan->forwardBackward(images(4, 3), labels(4, 13)));
        EXPECT_EQ((*outs)[2].toFloats(), quantized((*outs)[1], -1, want, true));
    }
}

TEST(FakeQuantizeObserve, EvaluateAndInferenceUseTheStoredValues) {
    for (bool reference : {true, false}) {
        SCOPED_TRACE(reference ? "reference" : "default backends (channel-blocked)");
        FqSpec spec = perTensorUint8();
        spec.range = true;
        spec.emaDecay = 0.5f;
        const ir::Model model = activationModel(spec);
        auto outs = std::make_shared<std::vector<HostTensor>>();
        auto plan = TrainingPlan::compile(model, optionsCapturing(outs, reference));
        ASSERT_TRUE(plan) << plan.error().message();
        ASSERT_TRUE(plan->forwardBackward(images(4, 1), labels(4, 11)));
        std::vector<std::vector<float>> stored;
        for (const char* name : {"q1_s", "q1_z", "q1_min", "q1_max"})
            stored.push_back(values(stateOf(*plan, name)));
        const Params p{stored[0], stored[1]};

        // A batch with a much wider range: evaluate() neither observes nor stores.
        const HostTensor wide = images(4, 7, 5.0f);
        auto e = plan->evaluate(wide);
        ASSERT_TRUE(e) << e.error().message();
        int k = 0;
        for (const char* name : {"q1_s", "q1_z", "q1_min", "q1_max"})
            EXPECT_EQ(values(stateOf(*plan, name)), stored[static_cast<std::size_t>(k++)]) << name;
        ASSERT_EQ(e->size(), 3u);
        EXPECT_EQ((*e)[2].toFloats(), quantized((*e)[1], -1, p, true));
        EXPECT_NE((*e)[2].toFloats(), (*e)[1].toFloats()) << "clamped to the stored range";

        // writeBack stores them into the initializers; the inference Plan quantizes with them.
        ir::Model written = activationModel(spec);
        ASSERT_TRUE(plan->writeBack(written).isOk());
        for (const char* name : {"q1_s", "q1_z"}) {
            auto t = HostTensor::fromIr(*written.graph->findValue(name)->initializer());
            ASSERT_TRUE(t);
            EXPECT_EQ(t->toFloats(), name == std::string("q1_s") ? p.s : p.z) << name;
        }
        PlanOptions popt;
        popt.threads = 2;
        auto inference = Plan::compile(written, popt);
        ASSERT_TRUE(inference) << inference.error().message();
        auto y = inference->run({wide});
        ASSERT_TRUE(y) << y.error().message();
        ASSERT_EQ(y->size(), 3u);
        EXPECT_EQ((*y)[2].toFloats(), quantized((*y)[1], -1, p, true));
    }
}
