// LSTM and GRU on oneDNN's RNN primitives (core/engine/dnnl/rnn.cpp) against the reference
// kernels (double precision, the ONNX formulas): every output of one-node models over
// directions, initial states, a missing bias, both GRU variants and an omitted Y; then what the
// oneDNN kernel must refuse (the plan falls back to the reference for those).

#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "core/engine/plan.h"

using namespace wh;
using namespace wh::engine;

namespace {

struct RnnCase {
    bool lstm = true;
    std::string direction = "forward";
    bool bias = true;
    bool initial = false;
    int64_t linearBeforeReset = 0;
    bool omitY = false;
    float clip = 0.0f;
    int64_t T = 5, N = 3, I = 4, H = 6;

    std::string label() const {
        return fmt::format("{} {} bias={} initial={} lbr={} omitY={} clip={}",
                           lstm ? "LSTM" : "GRU", direction, bias, initial, linearBeforeReset,
                           omitY, clip);
    }
    int64_t dirs() const { return direction == "bidirectional" ? 2 : 1; }
    int64_t gates() const { return lstm ? 4 : 3; }
};

std::vector<float> random(int64_t n, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-0.8f, 0.8f);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = u(rng);
    return v;
}

struct Built {
    ir::Model model;
    std::vector<HostTensor> feeds;
};

Built build(const RnnCase& c) {
    std::mt19937 rng(7);
    Built b;
    b.model.opsetImports.push_back({"", 14, {}});
    ir::Graph& g = *b.model.graph;
    auto graphInput = [&](const std::string& name, Dims dims) {
        ir::Value* v = *g.addValue(name);
        ir::Shape shape;
        for (int64_t d : dims) shape.dims.push_back(ir::Dim::known(d));
        v->type = ir::Type::tensor(ir::DType::kFloat, shape);
        g.insertGraphInput(v);
        b.feeds.push_back(HostTensor::fromFloats(dims, random(numElementsOf(dims), rng)));
        return v;
    };
    auto constant = [&](const std::string& name, Dims dims) {
        ir::Value* v = *g.addValue(name);
        g.setInitializer(v, ir::Tensor::fromFloats(name, dims, random(numElementsOf(dims), rng)));
        return v;
    };
    const int64_t D = c.dirs(), GH = c.gates() * c.H;
    std::vector<ir::Value*> ins = {graphInput("X", {c.T, c.N, c.I}), constant("W", {D, GH, c.I}),
                                   constant("R", {D, GH, c.H}),
                                   c.bias ? constant("B", {D, 2 * GH}) : nullptr, nullptr};
    if (c.initial) {
        ins.push_back(graphInput("h0", {D, c.N, c.H}));
        if (c.lstm) ins.push_back(graphInput("c0", {D, c.N, c.H}));
    }
    std::vector<ir::Value*> outs = {c.omitY ? nullptr : *g.addValue("Y"), *g.addValue("Y_h")};
    if (c.lstm) outs.push_back(*g.addValue("Y_c"));
    ir::Node* node = g.addNode(c.lstm ? "LSTM" : "GRU", ins, outs);
    node->name = "n";
    node->attributes().push_back(ir::Attribute::makeInt("hidden_size", c.H));
    node->attributes().push_back(ir::Attribute::makeString("direction", c.direction));
    if (!c.lstm)
        node->attributes().push_back(
            ir::Attribute::makeInt("linear_before_reset", c.linearBeforeReset));
    if (c.clip > 0) node->attributes().push_back(ir::Attribute::makeFloat("clip", c.clip));
    for (ir::Value* v : outs)
        if (v) g.insertGraphOutput(v);
    return b;
}

Expected<std::vector<HostTensor>> run(const Built& b, Backend backend, Backend* chosen) {
    PlanOptions opt;
    opt.backends = {backend};
    WH_ASSIGN_OR_RETURN(Plan plan, Plan::compile(b.model, opt));
    if (chosen) *chosen = plan.nodes().at(0).backend;
    // Twice: the kernel must be re-runnable.
    WH_ASSIGN_OR_RETURN(auto first, plan.run(b.feeds));
    return plan.run(b.feeds);
}

void expectMatchesReference(const RnnCase& c) {
    SCOPED_TRACE(c.label());
    const Built b = build(c);
    Backend chosen = Backend::kReference;
    auto fast = run(b, Backend::kDnnl, &chosen);
    ASSERT_TRUE(fast) << fast.error().message();
    EXPECT_EQ(chosen, Backend::kDnnl);
    auto ref = run(b, Backend::kReference, nullptr);
    ASSERT_TRUE(ref) << ref.error().message();
    ASSERT_EQ(fast->size(), ref->size());
    for (std::size_t k = 0; k < ref->size(); ++k) {
        ASSERT_EQ((*fast)[k].dims(), (*ref)[k].dims()) << "output " << k;
        const auto got = (*fast)[k].toFloats(), want = (*ref)[k].toFloats();
        double worst = 0, scale = 0;
        for (float w : want) scale = std::max(scale, double(std::abs(w)));
        for (std::size_t i = 0; i < want.size(); ++i)
            worst = std::max(worst, double(std::abs(got[i] - want[i])));
        EXPECT_LE(worst, 1e-5 + 1e-4 * scale) << "output " << k << " (max |ref| " << scale << ")";
    }
}

}  // namespace

TEST(DnnlRnn, LstmMatchesTheReference) {
    for (const char* dir : {"forward", "reverse", "bidirectional"})
        for (bool bias : {true, false})
            for (bool initial : {false, true}) {
                RnnCase c;
                c.direction = dir;
                c.bias = bias;
                c.initial = initial;
                expectMatchesReference(c);
            }
    // Big enough to run on every thread (small ones run serial: rnn.cpp's kSerialBelow).
    RnnCase wide;
    wide.direction = "bidirectional";
    wide.N = 64;
    wide.H = 32;
    wide.initial = true;
    expectMatchesReference(wide);
    RnnCase noY;
    noY.omitY = true;
    noY.direction = "bidirectional";
    expectMatchesReference(noY);
}

TEST(DnnlRnn, GruMatchesTheReferenceInBothVariants) {
    for (int64_t lbr : {0, 1})
        for (const char* dir : {"forward", "reverse", "bidirectional"})
            for (bool initial : {false, true}) {
                RnnCase c;
                c.lstm = false;
                c.linearBeforeReset = lbr;
                c.direction = dir;
                c.initial = initial;
                c.bias = !initial;  // with initial states, without bias
                expectMatchesReference(c);
            }
}

TEST(DnnlRnn, RefusesWhatOneDnnCannotDoAndTheDefaultPlanFallsBack) {
    RnnCase clip;
    clip.clip = 0.5f;
    const Built b = build(clip);
    PlanOptions dnnlOnly;
    dnnlOnly.backends = {Backend::kDnnl};
    auto plan = Plan::compile(b.model, dnnlOnly);
    ASSERT_FALSE(plan);
    EXPECT_EQ(plan.error().code(), StatusCode::kUnsupported);
    EXPECT_NE(plan.error().message().find("clip"), std::string::npos) << plan.error().message();
    auto fallback = Plan::compile(b.model);  // default backends: dnnl, then reference
    ASSERT_TRUE(fallback) << fallback.error().message();
    EXPECT_EQ(fallback->nodes().at(0).backend, Backend::kReference);
    EXPECT_TRUE(fallback->run(b.feeds));
}
