// FakeQuantize → QDQ (core/algo/quant/qdq.h) on a tiny model x → Conv(+bias) → Relu → Flatten →
// Gemm(+bias) → y: structure after conversion (no FakeQuantize, int8 per-axis weights, int32
// biases, packed 4-bit weights) and numerics (the fake-quantized model against its QDQ form on
// our engine, fixed seed), plus updateOpsetImports.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/algo/quant/qdq.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/plan.h"
#include "core/onnx/model_io.h"
#include "core/rewrite/rewriter.h"

using namespace wh;
using namespace wh::algo::quant;

namespace {

constexpr int64_t kBatch = 2, kIn = 3, kOut = 4, kSize = 5, kClasses = 5;
constexpr int64_t kFlat = kOut * (kSize - 2) * (kSize - 2);  // 4 * 3 * 3 = 36

std::vector<float> uniform(std::size_t n, float lo, float hi, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(n);
    for (float& f : v) f = u(rng);
    return v;
}

ir::Value* tensorValue(ir::Graph& g, const std::string& name, const std::vector<int64_t>& dims) {
    ir::Value* v = *g.addValue(name);
    ir::Shape shape;
    for (int64_t d : dims) shape.dims.push_back(ir::Dim::known(d));
    v->type = ir::Type::tensor(ir::DType::kFloat, shape);
    return v;
}

ir::Value* weight(ir::Graph& g, const std::string& name, const std::vector<int64_t>& dims,
                  float range, uint32_t seed) {
    ir::Value* v = *g.addValue(name);
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    g.setInitializer(v, ir::Tensor::fromFloats(
                            name, dims, uniform(static_cast<std::size_t>(n), -range, range, seed)));
    return v;
}

ir::Model buildModel(int64_t opset) {
    ir::Model m;
    m.irVersion = 8;
    m.opsetImports.push_back({"", opset, {}});
    ir::Graph& g = *m.graph;
    g.name = "tiny";
    ir::Value* x = tensorValue(g, "x", {kBatch, kIn, kSize, kSize});
    g.insertGraphInput(x);
    ir::Value* w = weight(g, "conv_w", {kOut, kIn, 3, 3}, 0.5f, 1);
    ir::Value* b = weight(g, "conv_b", {kOut}, 0.3f, 2);
    ir::Value* c = tensorValue(g, "conv_out", {kBatch, kOut, kSize - 2, kSize - 2});
    ir::Node* conv =
        g.addNode("Conv", std::vector<ir::Value*>{x, w, b}, std::vector<ir::Value*>{c});
    conv->name = "conv";
    conv->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {3, 3}));
    ir::Value* r = tensorValue(g, "relu_out", {kBatch, kOut, kSize - 2, kSize - 2});
    g.addNode("Relu", std::vector<ir::Value*>{c}, std::vector<ir::Value*>{r})->name = "relu";
    ir::Value* f = tensorValue(g, "flat", {kBatch, kFlat});
    g.addNode("Flatten", std::vector<ir::Value*>{r}, std::vector<ir::Value*>{f})->name = "flatten";
    ir::Value* gw = weight(g, "fc_w", {kClasses, kFlat}, 0.4f, 3);
    ir::Value* gb = weight(g, "fc_b", {kClasses}, 0.2f, 4);
    ir::Value* y = tensorValue(g, "y", {kBatch, kClasses});
    ir::Node* gemm =
        g.addNode("Gemm", std::vector<ir::Value*>{f, gw, gb}, std::vector<ir::Value*>{y});
    gemm->name = "fc";
    gemm->attributes().push_back(ir::Attribute::makeInt("transB", 1));
    g.insertGraphOutput(y);
    return m;
}

/// Symmetric per-output-channel scales (axis 0): max |w| / qmax per row.
std::vector<float> channelScales(const ir::Value& w, int bits) {
    const ir::Tensor& t = *w.initializer();
    auto v = t.values<float>();
    const int64_t rows = t.dims[0], cols = t.numElements() / rows;
    const float qmax = static_cast<float>((1 << (bits - 1)) - 1);
    std::vector<float> s(static_cast<std::size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
        float m = 0;
        for (int64_t c = 0; c < cols; ++c)
            m = std::max(m, std::fabs(v[static_cast<std::size_t>(r * cols + c)]));
        s[static_cast<std::size_t>(r)] = m / qmax;
    }
    return s;
}

struct Quantized {
    ir::Model model;
    float sx = 0, sa = 0;  // activation scales: input, Gemm input
};

/// Inserts FakeQuantize nodes: x and the Gemm input uint8 per tensor, both weights per
/// channel symmetric (`weightBits`).
Quantized fakeQuantized(int weightBits, int64_t opset = 13, bool activations = true) {
    Quantized q{buildModel(opset)};
    ir::Graph& g = *q.model.graph;
    rewrite::Rewriter rw(g);
    // x in [-1, 1): scale 2/255, zero point 128 (0 exactly representable).
    q.sx = 2.0f / 255.0f;
    const std::vector<float> sx{q.sx}, zx{128.0f};
    // The Gemm input (after Relu) in [0, 3]: zero point 0.
    q.sa = 3.0f / 255.0f;
    const std::vector<float> sa{q.sa}, za{0.0f};
    if (activations) {
        EXPECT_TRUE(insertFakeQuantize(rw, *g.findValue("x"), activationSpec(8, false), sx, zx));
        EXPECT_TRUE(
            insertFakeQuantize(rw, *g.findValue("flat"), activationSpec(8, false), sa, za));
    }
    for (const char* w : {"conv_w", "fc_w"}) {
        ir::Value* v = g.findValue(w);
        const std::vector<float> s = channelScales(*v, weightBits);
        auto n = insertFakeQuantize(rw, *v, weightSpec(weightBits, 0), s, {});
        EXPECT_TRUE(n) << w << ": " << n.error().message();
    }
    return q;
}

engine::HostTensor input() {
    return engine::HostTensor::fromFloats(
        {kBatch, kIn, kSize, kSize},
        uniform(static_cast<std::size_t>(kBatch * kIn * kSize * kSize), -1.0f, 1.0f, 42));
}

std::vector<float> run(const ir::Model& m, const std::string& what) {
    auto plan = engine::Plan::compile(m);
    EXPECT_TRUE(plan) << what << ": " << plan.error().message();
    if (!plan) return {};
    auto out = plan->run({input()});
    EXPECT_TRUE(out) << what << ": " << out.error().message();
    return out ? (*out)[0].toFloats() : std::vector<float>{};
}

struct Diff {
    double maxAbs = 0, maxRef = 0;
    double relative() const { return maxAbs / std::max(maxRef, 1e-12); }
};

Diff diff(const std::vector<float>& got, const std::vector<float>& want) {
    Diff d;
    EXPECT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
        d.maxRef = std::max(d.maxRef, std::fabs(static_cast<double>(want[i])));
        d.maxAbs = std::max(d.maxAbs, std::fabs(static_cast<double>(got[i]) - want[i]));
    }
    return d;
}

int countOps(const ir::Graph& g, const std::string& op) {
    int n = 0;
    for (const ir::Node* node : g.nodes()) n += node->opType == op;
    return n;
}

const ir::Node* producerOf(const ir::Graph& g, const std::string& consumer, int input) {
    for (const ir::Node* n : g.nodes())
        if (n->name == consumer) return n->input(input) ? n->input(input)->producer() : nullptr;
    return nullptr;
}

const ir::OpsetId* opsetOf(const ir::Model& m, std::string_view domain) {
    for (const ir::OpsetId& o : m.opsetImports)
        if (o.domain == domain) return &o;
    return nullptr;
}

}  // namespace

TEST(Qdq, EightBitConversionKeepsOutputsAndStructure) {
    Quantized q = fakeQuantized(8);
    ASSERT_EQ(countOps(*q.model.graph, std::string(engine::kFakeQuantizeOp)), 4);
    ASSERT_TRUE(updateOpsetImports(q.model, false).isOk());
    const std::vector<float> before = run(q.model, "fake-quantized");
    const std::vector<float> floatOut = run(buildModel(13), "float");
    ASSERT_FALSE(before.empty());

    ir::Model qdq = q.model.clone();
    {
        rewrite::Rewriter rw(*qdq.graph);
        auto n = fakeQuantizeToQdq(rw);
        ASSERT_TRUE(n) << n.error().message();
        EXPECT_EQ(*n, 4);
    }
    ASSERT_TRUE(updateOpsetImports(qdq, true).isOk());
    const ir::Graph& g = *qdq.graph;
    ASSERT_TRUE(g.validate().isOk()) << g.validate().message();

    // Structure: no FakeQuantize; QuantizeLinear for the two activations; DequantizeLinear for
    // the two activations, the two weights and the two biases.
    for (const ir::Node* n : g.nodes()) EXPECT_FALSE(isFakeQuantize(*n)) << n->name;
    EXPECT_EQ(countOps(g, "QuantizeLinear"), 2);
    EXPECT_EQ(countOps(g, "DequantizeLinear"), 6);
    for (const char* gone : {"conv_w", "fc_w", "conv_b", "fc_b"})
        EXPECT_EQ(g.findValue(gone) && g.findValue(gone)->hasUses() ? g.findValue(gone) : nullptr,
                  nullptr)
            << gone << " is still read as float";
    struct W {
        const char* node;
        int64_t channels;
        std::vector<int64_t> dims;
    };
    for (const W& w : {W{"conv", kOut, {kOut, kIn, 3, 3}}, W{"fc", kClasses, {kClasses, kFlat}}}) {
        SCOPED_TRACE(w.node);
        const ir::Node* dq = producerOf(g, w.node, 1);
        ASSERT_NE(dq, nullptr);
        ASSERT_EQ(dq->opType, "DequantizeLinear");
        EXPECT_EQ(dq->attrInt("axis", 1), 0);
        const ir::Tensor* codes = dq->input(0)->initializer();
        ASSERT_NE(codes, nullptr);
        EXPECT_EQ(codes->dtype, ir::DType::kInt8);
        EXPECT_EQ(codes->dims, w.dims);
        const ir::Tensor* scale = dq->input(1)->initializer();
        ASSERT_NE(scale, nullptr);
        EXPECT_EQ(scale->dims, std::vector<int64_t>{w.channels});
        // Symmetric weights: every zero point is 0, so none is stored (0 of the codes' type).
        EXPECT_TRUE(dq->numInputs() == 2 || !dq->input(2)) << "zero point stored";
        // Bias: int32 codes at s_x * s_w.
        const ir::Node* bq = producerOf(g, w.node, 2);
        ASSERT_NE(bq, nullptr);
        ASSERT_EQ(bq->opType, "DequantizeLinear");
        const ir::Tensor* bc = bq->input(0)->initializer();
        ASSERT_NE(bc, nullptr);
        EXPECT_EQ(bc->dtype, ir::DType::kInt32);
        EXPECT_EQ(bc->dims, std::vector<int64_t>{w.channels});
        // Its scale is not stored: Mul(input scale, weight scales) computes it.
        const ir::Node* mul = bq->input(1)->producer();
        ASSERT_NE(mul, nullptr) << "the bias scale is stored";
        EXPECT_EQ(mul->opType, "Mul");
        EXPECT_EQ(mul->input(0), producerOf(g, w.node, 0)->input(1)) << "not the input's scale";
        EXPECT_EQ(mul->input(1), dq->input(1)) << "not the weight's scales";
        const float sIn = std::string(w.node) == "conv" ? q.sx : q.sa;
        EXPECT_FLOAT_EQ(mul->input(0)->initializer()->values<float>()[0], sIn);
    }
    // Activations: uint8 zero points.
    for (const ir::Node* n : g.nodes())
        if (n->opType == "QuantizeLinear")
            EXPECT_EQ(n->input(2)->initializer()->dtype, ir::DType::kUInt8) << n->name;

    // Numerics. The only change from the fake-quantized model is the bias rounded to the
    // int32 grid s_x*s_w: |Δb| <= s_x*s_w/2 (about 1e-5 here), far below the 1e-4 relative
    // allowed; a Gemm input rounding flip would cost a whole step s_a*|w| (> 1e-3 relative)
    // and fail this, as it should. Measured: max |diff| 1.6e-5 = 0.5 * s_x * max s_w (the conv
    // bias bound), 5e-6 relative. With float biases the match is to float rounding (below).
    const std::vector<float> after = run(qdq, "QDQ");
    const Diff d = diff(after, before);
    EXPECT_LT(d.relative(), 1e-4) << "max |diff| " << d.maxAbs << ", max |ref| " << d.maxRef;
    std::printf("[ QDQ int32 bias ] max |diff| %.3g, relative %.3g (max |ref| %.3g)\n", d.maxAbs,
                d.relative(), d.maxRef);
    // The quantized model is still close to the float one (8-bit: well under 5%).
    const Diff f = diff(after, floatOut);
    EXPECT_LT(f.relative(), 0.05) << "vs float: max |diff| " << f.maxAbs;
    EXPECT_GT(f.maxAbs, 0.0) << "quantization changed nothing: the test would not notice";

    // Float biases: QuantizeLinear/DequantizeLinear reproduce FakeQuantize to float rounding.
    ir::Model floatBias = q.model.clone();
    {
        rewrite::Rewriter rw(*floatBias.graph);
        ASSERT_TRUE(fakeQuantizeToQdq(rw, QdqOptions{false}));
    }
    EXPECT_EQ(countOps(*floatBias.graph, "DequantizeLinear"), 4);
    ASSERT_TRUE(updateOpsetImports(floatBias, true).isOk());
    const Diff e = diff(run(floatBias, "QDQ float bias"), before);
    EXPECT_LT(e.relative(), 1e-6) << "max |diff| " << e.maxAbs;

    // And the file round trip keeps it.
    auto bytes = onnx::serializeModel(qdq);
    ASSERT_TRUE(bytes) << bytes.error().message();
    auto back = onnx::parseModel(std::as_bytes(std::span(bytes->data(), bytes->size())), "qdq", {});
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(diff(run(*back, "re-imported"), after).maxAbs, 0.0);
}

// Converts q's FakeQuantize nodes (no int32 bias) and checks the result against `before`.
ir::Model converted(const Quantized& q, int expectedNodes) {
    ir::Model qdq = q.model.clone();
    {
        rewrite::Rewriter rw(*qdq.graph);
        auto n = fakeQuantizeToQdq(rw, QdqOptions{false});
        EXPECT_TRUE(n) << n.error().message();
        if (n) EXPECT_EQ(*n, expectedNodes);
    }
    EXPECT_TRUE(updateOpsetImports(qdq, true).isOk());
    EXPECT_TRUE(qdq.graph->validate().isOk()) << qdq.graph->validate().message();
    for (const ir::Node* n : qdq.graph->nodes()) EXPECT_FALSE(isFakeQuantize(*n)) << n->name;
    return qdq;
}

TEST(Qdq, FourBitWeightOnlyGoesThroughThePackedWriter) {
    Quantized q = fakeQuantized(4, 13, false);
    ASSERT_TRUE(updateOpsetImports(q.model, false).isOk());
    const std::vector<float> before = run(q.model, "fake-quantized 4-bit weights");
    const ir::Model qdq = converted(q, 2);
    const ir::Graph& g = *qdq.graph;
    EXPECT_GT(countOps(g, "BitShift"), 0) << "4-bit codes are unpacked by BitShift";
    EXPECT_EQ(countOps(g, "DequantizeLinear"), 0) << "weight-only: no DequantizeLinear";
    int64_t packedBytes = 0;
    for (const ir::Value* v : g.initializers())
        if (v->initializer()->dtype == ir::DType::kUInt8 && v->initializer()->numElements() > 1)
            packedBytes += v->initializer()->byteSize();
    // 4*27 + 5*36 = 288 codes at 4 bits = 144 bytes (+ at most a byte per row of padding).
    EXPECT_GE(packedBytes, 144);
    EXPECT_LE(packedBytes, 144 + kOut + kClasses);
    const Diff d = diff(run(qdq, "4-bit packed"), before);
    EXPECT_LT(d.relative(), 1e-5) << "max |diff| " << d.maxAbs << ", max |ref| " << d.maxRef;
}

TEST(Qdq, FourBitWeightOfAQuantizedLayerIsInt8CodesOnTheNarrowGrid) {
    // Activations quantized too: ONNX Runtime would re-quantize a decompressed float weight of
    // such a layer to 8 bits, so the codes go one per byte with DequantizeLinear.
    Quantized q = fakeQuantized(4);
    ASSERT_TRUE(updateOpsetImports(q.model, false).isOk());
    const std::vector<float> before = run(q.model, "fake-quantized 4-bit");
    const ir::Model qdq = converted(q, 4);
    const ir::Graph& g = *qdq.graph;
    EXPECT_EQ(countOps(g, "BitShift"), 0);
    EXPECT_EQ(countOps(g, "DequantizeLinear"), 4) << "two activations, two weights";
    for (const char* node : {"conv", "fc"}) {
        const ir::Node* dq = producerOf(g, node, 1);
        ASSERT_NE(dq, nullptr) << node;
        ASSERT_EQ(dq->opType, "DequantizeLinear") << node;
        const ir::Tensor* codes = dq->input(0)->initializer();
        ASSERT_NE(codes, nullptr) << node;
        ASSERT_EQ(codes->dtype, ir::DType::kInt8) << node;
        int lo = 0, hi = 0;
        for (int8_t c : codes->values<int8_t>()) lo = std::min<int>(lo, c), hi = std::max<int>(hi, c);
        EXPECT_GE(lo, -8) << node;
        EXPECT_LE(hi, 7) << node;
        EXPECT_GT(hi - lo, 8) << node << ": the 4-bit grid is used, not a few codes";
    }
    const Diff d = diff(run(qdq, "4-bit QDQ"), before);
    EXPECT_LT(d.relative(), 1e-5) << "max |diff| " << d.maxAbs << ", max |ref| " << d.maxRef;
}

TEST(Qdq, UpdateOpsetImportsAddsAndRemovesTheWhittleDomain) {
    Quantized q = fakeQuantized(8, 11);
    EXPECT_EQ(opsetOf(q.model, engine::kWhittleDomain), nullptr);
    ASSERT_TRUE(updateOpsetImports(q.model, false).isOk());
    const ir::OpsetId* w = opsetOf(q.model, engine::kWhittleDomain);
    ASSERT_NE(w, nullptr) << "a FakeQuantize needs com.whittle";
    EXPECT_EQ(w->version, 1);
    EXPECT_EQ(opsetOf(q.model, "")->version, 11) << "not raised without per-axis QDQ";
    // Twice is idempotent.
    ASSERT_TRUE(updateOpsetImports(q.model, false).isOk());
    EXPECT_EQ(
        std::count_if(q.model.opsetImports.begin(), q.model.opsetImports.end(),
                      [](const ir::OpsetId& o) { return o.domain == engine::kWhittleDomain; }),
        1);
    {
        rewrite::Rewriter rw(*q.model.graph);
        ASSERT_TRUE(fakeQuantizeToQdq(rw));
    }
    ASSERT_TRUE(updateOpsetImports(q.model, true).isOk());
    EXPECT_EQ(opsetOf(q.model, engine::kWhittleDomain), nullptr) << "no FakeQuantize left";
    ASSERT_NE(opsetOf(q.model, ""), nullptr);
    EXPECT_EQ(opsetOf(q.model, "")->version, 13) << "per-axis DequantizeLinear needs 13";
    EXPECT_FALSE(run(q.model, "opset raised").empty());
}

TEST(Qdq, RaisingTheOpsetIsRefusedWhenAnOpChangedSignature) {
    ir::Model m = buildModel(11);
    ir::Graph& g = *m.graph;
    // y -> Unsqueeze(axes attribute, opset 11 form) -> z
    ir::Value* z = tensorValue(g, "z", {1, kBatch, kClasses});
    ir::Value* y = g.findValue("y");
    ir::Node* u = g.addNode("Unsqueeze", std::vector<ir::Value*>{y}, std::vector<ir::Value*>{z});
    u->name = "unsq";
    u->attributes().push_back(ir::Attribute::makeInts("axes", {0}));
    Status s = updateOpsetImports(m, true);
    EXPECT_EQ(s.code(), StatusCode::kUnsupported) << s.message();
    EXPECT_NE(s.message().find("Unsqueeze"), std::string::npos) << s.message();
    EXPECT_EQ(opsetOf(m, "")->version, 11) << "refused means unchanged";
}

TEST(Qdq, NonInitializerScaleIsBadInputNamingTheNode) {
    Quantized q = fakeQuantized(8);
    ir::Graph& g = *q.model.graph;
    // Make the first FakeQuantize's scale a graph input.
    ir::Node* fq = nullptr;
    for (ir::Node* n : g.nodes())
        if (isFakeQuantize(*n)) fq = n;
    ASSERT_NE(fq, nullptr);
    ir::Value* s = tensorValue(g, "runtime_scale", {});
    g.insertGraphInput(s);
    g.setInput(fq, 1, s);
    rewrite::Rewriter rw(g);
    auto n = fakeQuantizeToQdq(rw);
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().code(), StatusCode::kBadInput);
    EXPECT_NE(n.error().message().find(fq->name), std::string::npos) << n.error().message();
}

namespace {

/// x → act → [FakeQuantize(scale, zeroPoint)] → Neg → y, converted to QDQ. act: "Relu", or
/// "Clip" with bounds [0, 6].
struct ActCase {
    std::string act;
    float scale;
    float zeroPoint;
    bool symmetric = false;  // int8 grid, zero point 0
};

ir::Model activationBeforeQuantizer(const ActCase& c, bool convert) {
    ir::Model m;
    m.irVersion = 8;
    m.opsetImports.push_back({"", 13, {}});
    ir::Graph& g = *m.graph;
    ir::Value* x = tensorValue(g, "x", {64});
    g.insertGraphInput(x);
    std::vector<ir::Value*> ins{x};
    if (c.act == "Clip") {
        for (auto [name, v] : {std::pair{"lo", 0.0f}, std::pair{"hi", 6.0f}}) {
            ir::Value* b = *g.addValue(name);
            g.setInitializer(b, ir::Tensor::fromFloats(name, {}, {v}));
            ins.push_back(b);
        }
    }
    ir::Value* a = tensorValue(g, "a", {64});
    g.addNode(c.act, ins, std::vector<ir::Value*>{a})->name = "act";
    ir::Value* y = tensorValue(g, "y", {64});
    g.addNode("Neg", std::vector<ir::Value*>{a}, std::vector<ir::Value*>{y})->name = "neg";
    g.insertGraphOutput(y);
    rewrite::Rewriter rw(g);
    const std::vector<float> s{c.scale}, z{c.zeroPoint};
    EXPECT_TRUE(insertFakeQuantize(rw, *a, activationSpec(8, c.symmetric), s,
                                   c.symmetric ? std::vector<float>{} : z));
    if (convert) EXPECT_TRUE(fakeQuantizeToQdq(rw));
    EXPECT_TRUE(updateOpsetImports(m, true).isOk());
    return m;
}

std::vector<float> runOn(const ir::Model& m, const std::vector<float>& x) {
    auto plan = engine::Plan::compile(m);
    EXPECT_TRUE(plan) << plan.error().message();
    if (!plan) return {};
    auto out = plan->run({engine::HostTensor::fromFloats({64}, x)});
    EXPECT_TRUE(out) << out.error().message();
    return out ? (*out)[0].toFloats() : std::vector<float>{};
}

}  // namespace

TEST(Qdq, ActivationTheQuantizerAlreadyClipsIsDropped) {
    std::vector<float> x(64);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = -8.0f + 0.26f * static_cast<float>(i);  // [-8, 8.4]
    struct Expect {
        ActCase c;
        bool dropped;
    };
    const Expect cases[] = {
        {{"Clip", 6.0f / 255.0f, 0.0f}, true},    // ReLU6 calibrated to [0, 6]: exact
        {{"Clip", 5.0f / 255.0f, 0.0f}, true},    // the grid ends below 6: the Clip never acts
        {{"Clip", 8.0f / 255.0f, 0.0f}, false},   // 6 is code 191 < 255: the Clip matters
        {{"Clip", 6.0f / 255.0f, 20.0f}, false},  // negative values representable
        {{"Relu", 0.05f, 0.0f}, true},
        {{"Relu", 0.05f, 3.0f}, false},
        {{"Relu", 0.05f, 0.0f, true}, false},     // int8 grid: -128 codes below 0
    };
    for (const Expect& e : cases) {
        SCOPED_TRACE(::testing::Message() << e.c.act << " scale*255 " << e.c.scale * 255
                                          << " zero point " << e.c.zeroPoint);
        const ir::Model fq = activationBeforeQuantizer(e.c, false);
        const ir::Model qdq = activationBeforeQuantizer(e.c, true);
        EXPECT_EQ(countOps(*qdq.graph, e.c.act), e.dropped ? 0 : 1);
        if (e.dropped && e.c.act == "Clip")
            EXPECT_EQ(qdq.graph->findValue("lo"), nullptr) << "the Clip's bounds are left behind";
        // Dropped or not, the quantized values are exactly those of the fake-quantized model.
        const std::vector<float> want = runOn(fq, x), got = runOn(qdq, x);
        ASSERT_EQ(got.size(), want.size());
        for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << "x = " << x[i];
    }
}
