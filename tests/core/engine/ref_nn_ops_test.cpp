// Reference NN and quantization kernels (core/engine/ref/nn_*.cpp, quant_ops.cpp) on small cases
// checked by hand, plus identities that catch layout mistakes: Conv against a direct loop,
// ConvTranspose as the adjoint of Conv, MatMul broadcasting against a naive loop, Softmax rows
// summing to one, QuantizeLinear -> DequantizeLinear within scale/2. The ONNX node tests run in
// conformance_test.cpp.

#include <array>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "core/engine/plan.h"
#include "core/ir/graph.h"

using namespace wh;
using namespace wh::engine;

namespace {

// One node in a one-node model, compiled on the reference backend and run.
class NodeTest {
public:
    explicit NodeTest(std::string op, int64_t opset = 13) : m_op(std::move(op)), m_opset(opset) {}

    /// A graph input fed at run time (declared with its shape; `symbolicBatch` makes dim 0
    /// symbolic so only run time knows it).
    NodeTest& input(HostTensor t, bool symbolicBatch = false) {
        m_inputs.push_back({std::move(t), Kind::kFed, symbolicBatch});
        return *this;
    }
    /// An initializer (known at compile time).
    NodeTest& constant(HostTensor t) {
        m_inputs.push_back({std::move(t), Kind::kConstant, false});
        return *this;
    }
    NodeTest& omitted() {
        m_inputs.push_back({{}, Kind::kOmitted, false});
        return *this;
    }
    NodeTest& attr(ir::Attribute a) {
        m_attrs.push_back(std::move(a));
        return *this;
    }
    NodeTest& outputs(int n) {
        m_numOutputs = n;
        return *this;
    }

    /// Compiles and runs; `infos` gets the compile-time output infos.
    Expected<std::vector<HostTensor>> run() {
        ir::Model m;
        m.opsetImports.push_back({"", m_opset, {}});
        ir::Graph& g = *m.graph;
        std::vector<ir::Value*> ins, outs;
        std::vector<HostTensor> feeds;
        PlanOptions options;
        options.backends = {Backend::kReference};
        options.threads = 1;
        for (std::size_t i = 0; i < m_inputs.size(); ++i) {
            Input& in = m_inputs[i];
            if (in.kind == Kind::kOmitted) {
                ins.push_back(nullptr);
                continue;
            }
            const std::string name = fmt::format("in{}", i);
            ir::Value* v = *g.addValue(name);
            if (in.kind == Kind::kConstant) {
                g.setInitializer(v, in.value.toIr(name));
            } else {
                ir::Shape shape;
                for (std::size_t d = 0; d < in.value.dims().size(); ++d)
                    shape.dims.push_back(d == 0 && in.symbolicBatch
                                             ? ir::Dim::symbol("N")
                                             : ir::Dim::known(in.value.dims()[d]));
                v->type = ir::Type::tensor(in.value.dtype(), shape);
                g.insertGraphInput(v);
                feeds.push_back(in.value);
            }
            ins.push_back(v);
        }
        for (int i = 0; i < m_numOutputs; ++i) outs.push_back(*g.addValue(fmt::format("out{}", i)));
        ir::Node* node = g.addNode(m_op, ins, outs);
        for (ir::Attribute& a : m_attrs) node->attributes().push_back(std::move(a));
        m_attrs.clear();
        for (ir::Value* v : outs) g.insertGraphOutput(v);
        WH_ASSIGN_OR_RETURN(Plan plan, Plan::compile(m, options));
        infos.clear();
        for (int i = 0; i < m_numOutputs; ++i) infos.push_back(plan.outputInfo(i));
        return plan.run(feeds);
    }

    /// run() that must succeed; output 0.
    HostTensor run0() {
        auto out = run();
        EXPECT_TRUE(out) << m_op << ": " << out.error().message();
        return out ? (*out)[0] : HostTensor{};
    }

    std::vector<TensorInfo> infos;

private:
    enum class Kind { kFed, kConstant, kOmitted };
    struct Input {
        HostTensor value;
        Kind kind;
        bool symbolicBatch;
    };
    std::string m_op;
    int64_t m_opset;
    std::vector<Input> m_inputs;
    std::vector<ir::Attribute> m_attrs;
    int m_numOutputs = 1;
};

HostTensor randomFloats(Dims dims, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(static_cast<std::size_t>(numElementsOf(dims)));
    for (float& x : v) x = u(rng);
    return HostTensor::fromFloats(std::move(dims), v);
}

double dot(const HostTensor& a, const HostTensor& b) {
    double s = 0.0;
    for (int64_t i = 0; i < a.numElements(); ++i) s += a.at(i) * b.at(i);
    return s;
}

void expectNear(const HostTensor& got, const std::vector<float>& expected, double tol,
                const std::string& what) {
    ASSERT_EQ(got.numElements(), static_cast<int64_t>(expected.size()))
        << what << ": got " << dimsToString(got.dims());
    for (std::size_t i = 0; i < expected.size(); ++i)
        EXPECT_NEAR(got.at(static_cast<int64_t>(i)), expected[i], tol)
            << what << " at " << i << ", output " << dimsToString(got.dims());
}

// Direct 2-D convolution (NCHW, OIHW) with groups, strides, dilations and pads.
std::vector<float> directConv2d(const HostTensor& x, const HostTensor& w, int64_t group,
                                std::array<int64_t, 2> s, std::array<int64_t, 2> d,
                                std::array<int64_t, 4> p, Dims& outDims) {
    const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
    const int64_t m = w.dim(0), cg = w.dim(1), kh = w.dim(2), kw = w.dim(3);
    const int64_t oh = (h + p[0] + p[2] - ((kh - 1) * d[0] + 1)) / s[0] + 1;
    const int64_t ow = (wd + p[1] + p[3] - ((kw - 1) * d[1] + 1)) / s[1] + 1;
    outDims = {n, m, oh, ow};
    std::vector<float> y(static_cast<std::size_t>(n * m * oh * ow), 0.0f);
    const int64_t mg = m / group;
    for (int64_t b = 0; b < n; ++b)
        for (int64_t o = 0; o < m; ++o)
            for (int64_t i = 0; i < oh; ++i)
                for (int64_t j = 0; j < ow; ++j) {
                    double acc = 0.0;
                    const int64_t gi = o / mg;
                    for (int64_t ci = 0; ci < cg; ++ci)
                        for (int64_t a = 0; a < kh; ++a)
                            for (int64_t bb = 0; bb < kw; ++bb) {
                                const int64_t r = i * s[0] - p[0] + a * d[0];
                                const int64_t q = j * s[1] - p[1] + bb * d[1];
                                if (r < 0 || r >= h || q < 0 || q >= wd) continue;
                                acc += x.at(((b * c + gi * cg + ci) * h + r) * wd + q) *
                                       w.at(((o * cg + ci) * kh + a) * kw + bb);
                            }
                    y[static_cast<std::size_t>(((b * m + o) * oh + i) * ow + j)] =
                        static_cast<float>(acc);
                }
    return y;
}

std::vector<float> iota(int64_t n, float start = 1.0f) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = start + static_cast<float>(i);
    return v;
}

}  // namespace

// ---- Conv ----------------------------------------------------------------------------------

// x(r, c) = 4r + c + 1 on a 4x4 grid; w = [[1,2,0],[0,0,0],[0,0,3]], bias 1, pads 1:
// y(i, j) = x(i-1, j-1) + 2 x(i-1, j) + 3 x(i+1, j+1) + 1, zero outside. Worked by hand.
TEST(RefConv, ThreeByThreeOnFourByFourByHand) {
    const HostTensor x = HostTensor::fromFloats({1, 1, 4, 4}, iota(16));
    const HostTensor w = HostTensor::fromFloats({1, 1, 3, 3}, {1, 2, 0, 0, 0, 0, 0, 0, 3});
    const HostTensor b = HostTensor::fromFloats({1}, {1});
    NodeTest padded("Conv", 11);
    padded.input(x).constant(w).constant(b).attr(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    expectNear(padded.run0(), {19, 22, 25, 1, 33, 39, 45, 12, 53, 63, 69, 24, 19, 30, 33, 36}, 1e-5,
               "pads 1");
    EXPECT_EQ(padded.infos[0].dims, (Dims{1, 1, 4, 4}));

    NodeTest valid("Conv", 11);
    valid.input(x).constant(w).constant(b);
    expectNear(valid.run0(), {39, 45, 63, 69}, 1e-5, "no padding");

    NodeTest strided("Conv", 11);
    strided.input(x)
        .constant(w)
        .constant(b)
        .attr(ir::Attribute::makeInts("pads", {1, 1, 1, 1}))
        .attr(ir::Attribute::makeInts("strides", {2, 2}));
    expectNear(strided.run0(), {19, 25, 53, 69}, 1e-5, "stride 2");
    EXPECT_EQ(strided.infos[0].dims, (Dims{1, 1, 2, 2}));
}

// Two channels, each with its own 2x2 filter: [1,1,1,1] sums channel 0 (1+2+3+4 = 10);
// [1,0,0,-1] gives 5 - 8 = -3 on channel 1.
TEST(RefConv, DepthwiseByHand) {
    NodeTest t("Conv", 11);
    t.input(HostTensor::fromFloats({1, 2, 2, 2}, iota(8)))
        .constant(HostTensor::fromFloats({2, 1, 2, 2}, {1, 1, 1, 1, 1, 0, 0, -1}))
        .attr(ir::Attribute::makeInt("group", 2));
    expectNear(t.run0(), {10, -3}, 1e-6, "depthwise");
}

// group 2, 1x1 filters: out0 = 1*x0 + 2*x1, out1 = -1*x2 + 3*x3.
TEST(RefConv, GroupedByHand) {
    NodeTest t("Conv", 11);
    t.input(HostTensor::fromFloats({1, 4, 1, 2}, {1, 2, 10, 20, 100, 200, 1000, 2000}))
        .constant(HostTensor::fromFloats({2, 2, 1, 1}, {1, 2, -1, 3}))
        .attr(ir::Attribute::makeInt("group", 2));
    expectNear(t.run0(), {21, 42, 2900, 5800}, 1e-3, "grouped");
}

// im2col + GEMM against a direct loop over many window settings.
TEST(RefConv, MatchesDirectLoop) {
    struct Case {
        Dims x, w;
        int64_t group;
        std::array<int64_t, 2> s, d;
        std::array<int64_t, 4> p;
    };
    const std::vector<Case> cases = {
        {{2, 3, 7, 6}, {4, 3, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        {{1, 4, 9, 8}, {6, 2, 3, 2}, 2, {2, 1}, {1, 2}, {0, 1, 2, 0}},
        {{1, 6, 8, 8}, {6, 1, 3, 3}, 6, {2, 2}, {2, 2}, {2, 2, 2, 2}},
        {{3, 2, 5, 11}, {5, 2, 1, 4}, 1, {1, 3}, {1, 1}, {0, 2, 0, 1}},
    };
    uint32_t seed = 1;
    for (const Case& c : cases) {
        const HostTensor x = randomFloats(c.x, seed++), w = randomFloats(c.w, seed++);
        NodeTest t("Conv", 11);
        t.input(x)
            .constant(w)
            .attr(ir::Attribute::makeInt("group", c.group))
            .attr(ir::Attribute::makeInts("strides", {c.s[0], c.s[1]}))
            .attr(ir::Attribute::makeInts("dilations", {c.d[0], c.d[1]}))
            .attr(ir::Attribute::makeInts("pads", {c.p[0], c.p[1], c.p[2], c.p[3]}));
        Dims outDims;
        const std::vector<float> expected = directConv2d(x, w, c.group, c.s, c.d, c.p, outDims);
        const HostTensor y = t.run0();
        const std::string what =
            fmt::format("x {} w {} group {}", dimsToString(c.x), dimsToString(c.w), c.group);
        EXPECT_EQ(y.dims(), outDims) << what;
        EXPECT_EQ(t.infos[0].dims, outDims) << what;
        expectNear(y, expected, 1e-4, what);
    }
}

// A 1-D conv is a 2-D conv with H = 1; a 3-D conv with D = 1 and kernel depth 1 is a 2-D conv.
TEST(RefConv, OneAndThreeDimsAgreeWithTwo) {
    const HostTensor x2 = randomFloats({2, 3, 1, 10}, 7), w2 = randomFloats({4, 3, 1, 3}, 8);
    NodeTest conv2("Conv", 11);
    conv2.input(x2)
        .constant(w2)
        .attr(ir::Attribute::makeInts("strides", {1, 2}))
        .attr(ir::Attribute::makeInts("pads", {0, 1, 0, 2}));
    const HostTensor y2 = conv2.run0();

    NodeTest conv1("Conv", 11);
    conv1.input(x2.reshaped({2, 3, 10}))
        .constant(w2.reshaped({4, 3, 3}))
        .attr(ir::Attribute::makeInts("strides", {2}))
        .attr(ir::Attribute::makeInts("pads", {1, 2}));
    const HostTensor y1 = conv1.run0();
    EXPECT_EQ(y1.dims(), (Dims{2, 4, y2.dim(3)}));
    expectNear(y1, y2.toFloats(), 1e-5, "1-D");

    NodeTest conv3("Conv", 11);
    conv3.input(x2.reshaped({2, 3, 1, 1, 10}))
        .constant(w2.reshaped({4, 3, 1, 1, 3}))
        .attr(ir::Attribute::makeInts("strides", {1, 1, 2}))
        .attr(ir::Attribute::makeInts("pads", {0, 0, 1, 0, 0, 2}));
    const HostTensor y3 = conv3.run0();
    EXPECT_EQ(y3.dims(), (Dims{2, 4, 1, 1, y2.dim(3)}));
    expectNear(y3, y2.toFloats(), 1e-5, "3-D");
}

TEST(RefConv, AutoPadSameAndShapeInferenceWithSymbolicBatch) {
    // SAME_UPPER on 5 with k 4, s 2: out 3, total pad (3-1)*2+4-5 = 3 -> 1 before, 2 after.
    // SAME_LOWER puts the odd one before.
    const HostTensor x = HostTensor::fromFloats({1, 1, 1, 5}, {1, 2, 3, 4, 5});
    const HostTensor w = HostTensor::fromFloats({1, 1, 1, 4}, {1, 1, 1, 1});
    NodeTest upper("Conv", 11);
    upper.input(x, true)
        .constant(w)
        .attr(ir::Attribute::makeString("auto_pad", "SAME_UPPER"))
        .attr(ir::Attribute::makeInts("strides", {1, 2}));
    // windows start at -1, 1, 3: [0,1,2,3] [2,3,4,5] [4,5,0,0]
    expectNear(upper.run0(), {6, 14, 9}, 1e-6, "SAME_UPPER");
    EXPECT_EQ(upper.infos[0].dims, (Dims{-1, 1, 1, 3}));  // batch unknown until run time
    NodeTest lower("Conv", 11);
    lower.input(x)
        .constant(w)
        .attr(ir::Attribute::makeString("auto_pad", "SAME_LOWER"))
        .attr(ir::Attribute::makeInts("strides", {1, 2}));
    // windows start at -2, 0, 2: [0,0,1,2] [1,2,3,4] [3,4,5,0]
    expectNear(lower.run0(), {3, 10, 12}, 1e-6, "SAME_LOWER");
}

TEST(RefConv, RejectsNonFloatWithUnsupported) {
    NodeTest t("Conv", 11);
    HostTensor x(ir::DType::kDouble, {1, 1, 3, 3});
    t.input(x).constant(HostTensor(ir::DType::kDouble, {1, 1, 1, 1}));
    auto out = t.run();
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code(), StatusCode::kUnsupported) << out.error().message();
}

// ---- ConvTranspose -------------------------------------------------------------------------

// With the same weights W [M, C/g, k...], ConvTranspose is the adjoint of Conv:
// <conv(x), y> == <x, convT(y)> for every x, y, when strides, pads, dilations and groups match
// and output_padding makes convT's output the size of x.
TEST(RefConvTranspose, IsTheAdjointOfConv) {
    struct Case {
        Dims x, w;
        int64_t group;
        std::vector<int64_t> s, d, p;
    };
    const std::vector<Case> cases = {
        {{1, 2, 6, 5}, {3, 2, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        {{2, 4, 9, 8}, {6, 2, 3, 2}, 2, {2, 3}, {1, 2}, {1, 0, 2, 1}},
        {{1, 3, 7, 7}, {3, 1, 3, 3}, 3, {2, 2}, {2, 1}, {2, 1, 0, 1}},
        {{2, 2, 11}, {4, 2, 4}, 1, {3}, {1}, {2, 1}},
        {{1, 2, 4, 5, 6}, {2, 1, 2, 3, 2}, 2, {2, 1, 2}, {1, 1, 2}, {0, 1, 1, 1, 0, 0}},
    };
    uint32_t seed = 100;
    for (const Case& c : cases) {
        const HostTensor x = randomFloats(c.x, seed++), w = randomFloats(c.w, seed++);
        const std::string what =
            fmt::format("x {} w {} group {} strides {} dilations {} pads {}", dimsToString(c.x),
                        dimsToString(c.w), c.group, fmt::join(c.s, ","), fmt::join(c.d, ","),
                        fmt::join(c.p, ","));
        NodeTest conv("Conv", 11);
        conv.input(x)
            .constant(w)
            .attr(ir::Attribute::makeInt("group", c.group))
            .attr(ir::Attribute::makeInts("strides", c.s))
            .attr(ir::Attribute::makeInts("dilations", c.d))
            .attr(ir::Attribute::makeInts("pads", c.p));
        const HostTensor cx = conv.run0();
        const HostTensor y = randomFloats(cx.dims(), seed++);

        const std::size_t n = c.s.size();
        std::vector<int64_t> outputPadding(n);
        for (std::size_t k = 0; k < n; ++k) {
            const int64_t span = (c.w[k + 2] - 1) * c.d[k] + 1;
            outputPadding[k] = (c.x[k + 2] + c.p[k] + c.p[k + n] - span) % c.s[k];
        }
        NodeTest convT("ConvTranspose", 11);
        convT.input(y)
            .constant(w)
            .attr(ir::Attribute::makeInt("group", c.group))
            .attr(ir::Attribute::makeInts("strides", c.s))
            .attr(ir::Attribute::makeInts("dilations", c.d))
            .attr(ir::Attribute::makeInts("pads", c.p))
            .attr(ir::Attribute::makeInts("output_padding", outputPadding));
        const HostTensor ty = convT.run0();
        ASSERT_EQ(ty.dims(), x.dims()) << what;
        EXPECT_EQ(convT.infos[0].dims, x.dims()) << what;
        const double lhs = dot(cx, y), rhs = dot(x, ty);
        EXPECT_NEAR(lhs, rhs, 1e-4 * (1.0 + std::abs(lhs))) << what;
    }
}

// 1-D, stride 2, kernel [1, 2], bias 0.5: input [1, 3] scatters to [1, 2, 3, 6] (+ bias), and
// output_shape 5 adds a last element that only the bias reaches.
TEST(RefConvTranspose, OneDimByHand) {
    const HostTensor x = HostTensor::fromFloats({1, 1, 2}, {1, 3});
    const HostTensor w = HostTensor::fromFloats({1, 1, 2}, {1, 2});
    const HostTensor b = HostTensor::fromFloats({1}, {0.5f});
    NodeTest t("ConvTranspose", 11);
    t.input(x).constant(w).constant(b).attr(ir::Attribute::makeInts("strides", {2}));
    expectNear(t.run0(), {1.5f, 2.5f, 3.5f, 6.5f}, 1e-6, "stride 2");
    NodeTest shaped("ConvTranspose", 11);
    shaped.input(x)
        .constant(w)
        .constant(b)
        .attr(ir::Attribute::makeInts("strides", {2}))
        .attr(ir::Attribute::makeInts("output_shape", {5}));
    expectNear(shaped.run0(), {1.5f, 2.5f, 3.5f, 6.5f, 0.5f}, 1e-6, "output_shape");
    EXPECT_EQ(shaped.infos[0].dims, (Dims{1, 1, 5}));
}

// ---- Gemm / MatMul -------------------------------------------------------------------------

TEST(RefGemm, TransposesAlphaBetaAndBroadcastC) {
    // A' = [[1,2],[3,4]] given transposed; B = [[1,0,2],[0,1,3]]; A'B = [[1,2,8],[3,4,18]].
    const HostTensor at = HostTensor::fromFloats({2, 2}, {1, 3, 2, 4});
    const HostTensor b = HostTensor::fromFloats({2, 3}, {1, 0, 2, 0, 1, 3});
    NodeTest row("Gemm", 13);
    row.input(at)
        .input(b)
        .constant(HostTensor::fromFloats({3}, {10, 20, 30}))
        .attr(ir::Attribute::makeInt("transA", 1))
        .attr(ir::Attribute::makeFloat("alpha", 2.0f))
        .attr(ir::Attribute::makeFloat("beta", 0.5f));
    // 2 * A'B + 0.5 * [10, 20, 30] per row
    expectNear(row.run0(), {7, 14, 31, 11, 18, 51}, 1e-5, "row-vector C");
    EXPECT_EQ(row.infos[0].dims, (Dims{2, 3}));

    NodeTest col("Gemm", 13);
    col.input(HostTensor::fromFloats({2, 2}, {1, 2, 3, 4}))
        .input(HostTensor::fromFloats({3, 2}, {1, 0, 0, 1, 2, 3}))
        .constant(HostTensor::fromFloats({2, 1}, {100, 200}))
        .attr(ir::Attribute::makeInt("transB", 1));
    expectNear(col.run0(), {101, 102, 108, 203, 204, 218}, 1e-5, "column C, transB");

    NodeTest noC("Gemm", 13);
    noC.input(at).input(b).attr(ir::Attribute::makeInt("transA", 1));
    expectNear(noC.run0(), {1, 2, 8, 3, 4, 18}, 1e-5, "no C");
}

TEST(RefMatMul, NumpyBroadcastingShapes) {
    struct Case {
        Dims a, b, out;
    };
    const std::vector<Case> cases = {
        {{3, 4}, {4, 5}, {3, 5}}, {{2, 1, 3, 4}, {5, 4, 2}, {2, 5, 3, 2}},
        {{4}, {4, 2}, {2}},       {{3, 4}, {4}, {3}},
        {{4}, {4}, {}},           {{2, 3, 4}, {4}, {2, 3}},
        {{4}, {2, 4, 3}, {2, 3}}, {{1, 3, 4}, {6, 4, 2}, {6, 3, 2}},
    };
    uint32_t seed = 40;
    for (const Case& c : cases) {
        const HostTensor a = randomFloats(c.a, seed++), b = randomFloats(c.b, seed++);
        NodeTest t("MatMul", 13);
        t.input(a).input(b);
        const HostTensor y = t.run0();
        const std::string what = fmt::format("{} x {}", dimsToString(c.a), dimsToString(c.b));
        ASSERT_EQ(y.dims(), c.out) << what;
        EXPECT_EQ(t.infos[0].dims, c.out) << what;
        // Naive: promote 1-D operands, broadcast batch dims by index arithmetic.
        const Dims a2 = c.a.size() == 1 ? Dims{1, c.a[0]} : c.a;
        const Dims b2 = c.b.size() == 1 ? Dims{c.b[0], 1} : c.b;
        const int64_t m = a2[a2.size() - 2], k = a2.back(), n = b2.back();
        const std::size_t nb = std::max(a2.size(), b2.size()) - 2;
        Dims batch(nb, 1);
        for (std::size_t i = 0; i < nb; ++i) {
            const int64_t da = i + a2.size() >= nb + 2 ? a2[i + a2.size() - nb - 2] : 1;
            const int64_t db = i + b2.size() >= nb + 2 ? b2[i + b2.size() - nb - 2] : 1;
            batch[i] = std::max(da, db);
        }
        std::vector<float> expected;
        const int64_t batches = numElementsOf(batch);
        for (int64_t t2 = 0; t2 < batches; ++t2) {
            // batch multi-index -> offsets in a and b
            int64_t rem = t2, offA = 0, offB = 0, strideA = m * k, strideB = k * n;
            for (std::size_t i = nb; i-- > 0;) {
                const int64_t idx = rem % batch[i];
                rem /= batch[i];
                const std::size_t fromEnd = nb - 1 - i;
                if (fromEnd + 2 < a2.size()) {
                    const int64_t da = a2[a2.size() - 3 - fromEnd];
                    offA += (da == 1 ? 0 : idx) * strideA;
                    strideA *= da;
                }
                if (fromEnd + 2 < b2.size()) {
                    const int64_t db = b2[b2.size() - 3 - fromEnd];
                    offB += (db == 1 ? 0 : idx) * strideB;
                    strideB *= db;
                }
            }
            for (int64_t i = 0; i < m; ++i)
                for (int64_t j = 0; j < n; ++j) {
                    double s = 0.0;
                    for (int64_t q = 0; q < k; ++q)
                        s += a.at(offA + i * k + q) * b.at(offB + q * n + j);
                    expected.push_back(static_cast<float>(s));
                }
        }
        expectNear(y, expected, 1e-5, what);
    }
}

// ---- BatchNormalization, pooling, Softmax ----------------------------------------------------

TEST(RefBatchNorm, InferenceByHand) {
    // channel 0: (x - 1) / sqrt(4) * 2 + 0.5; channel 1: (x - 0) / sqrt(1) * -1 + 0 (eps 0)
    NodeTest t("BatchNormalization", 15);
    t.input(HostTensor::fromFloats({1, 2, 1, 2}, {3, 5, 7, -2}))
        .constant(HostTensor::fromFloats({2}, {2, -1}))
        .constant(HostTensor::fromFloats({2}, {0.5f, 0}))
        .constant(HostTensor::fromFloats({2}, {1, 0}))
        .constant(HostTensor::fromFloats({2}, {4, 1}))
        .attr(ir::Attribute::makeFloat("epsilon", 0.0f));
    expectNear(t.run0(), {2.5f, 4.5f, -7, 2}, 1e-6, "batchnorm");

    NodeTest training("BatchNormalization", 15);
    training.input(HostTensor::fromFloats({1, 1, 1, 1}, {1}))
        .constant(HostTensor::fromFloats({1}, {1}))
        .constant(HostTensor::fromFloats({1}, {0}))
        .constant(HostTensor::fromFloats({1}, {0}))
        .constant(HostTensor::fromFloats({1}, {1}))
        .attr(ir::Attribute::makeInt("training_mode", 1));
    auto out = training.run();
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code(), StatusCode::kUnsupported);
    EXPECT_NE(out.error().message().find("training_mode"), std::string::npos)
        << out.error().message();
}

TEST(RefPool, MaxPoolIndicesBothStorageOrders) {
    // 3x3 input, 2x2 windows, stride 1: maxima at (1,1) (value 9), (1,2)->(8), etc.
    // x = [[1,2,3],[4,9,5],[6,7,8]]
    const HostTensor x = HostTensor::fromFloats({1, 1, 3, 3}, {1, 2, 3, 4, 9, 5, 6, 7, 8});
    for (int order = 0; order < 2; ++order) {
        NodeTest t("MaxPool", 12);
        t.input(x)
            .outputs(2)
            .attr(ir::Attribute::makeInts("kernel_shape", {2, 2}))
            .attr(ir::Attribute::makeInt("storage_order", order));
        auto out = t.run();
        ASSERT_TRUE(out) << out.error().message();
        expectNear((*out)[0], {9, 9, 9, 9}, 0, "values");
        // (1,1) is row-major 4 and column-major 1*1 + 1*3 = 4 too; pick a case that differs:
        EXPECT_EQ((*out)[1].toInt64s(), (std::vector<int64_t>{4, 4, 4, 4}));
    }
    // x = [[1,5],[2,0]] with a 2x2 window: max 5 at (0,1): row-major 1, column-major 2.
    const HostTensor y = HostTensor::fromFloats({1, 1, 2, 2}, {1, 5, 2, 0});
    for (int order = 0; order < 2; ++order) {
        NodeTest t("MaxPool", 12);
        t.input(y)
            .outputs(2)
            .attr(ir::Attribute::makeInts("kernel_shape", {2, 2}))
            .attr(ir::Attribute::makeInt("storage_order", order));
        auto out = t.run();
        ASSERT_TRUE(out) << out.error().message();
        EXPECT_EQ((*out)[1].toInt64s(), (std::vector<int64_t>{order == 0 ? 1 : 2}));
    }
}

TEST(RefPool, AveragePoolPaddingAndCeilByHand) {
    // 1-D [1,2,3,4], kernel 3, pads 1 each side, stride 2:
    // windows [-1..1] and [1..3]: exclude pad -> (1+2)/2, (2+3+4)/3; include pad -> 3/3, 9/3.
    const HostTensor x = HostTensor::fromFloats({1, 1, 4}, {1, 2, 3, 4});
    for (int include = 0; include < 2; ++include) {
        NodeTest t("AveragePool", 11);
        t.input(x)
            .attr(ir::Attribute::makeInts("kernel_shape", {3}))
            .attr(ir::Attribute::makeInts("pads", {1, 1}))
            .attr(ir::Attribute::makeInts("strides", {2}))
            .attr(ir::Attribute::makeInt("count_include_pad", include));
        expectNear(t.run0(), include ? std::vector<float>{1, 3} : std::vector<float>{1.5f, 3}, 1e-6,
                   fmt::format("count_include_pad={}", include));
    }
    // ceil_mode: [1..5], kernel 2, stride 2 -> windows [1,2] [3,4] [5] = 1.5, 3.5, 5.
    NodeTest ceil("AveragePool", 11);
    ceil.input(HostTensor::fromFloats({1, 1, 5}, {1, 2, 3, 4, 5}))
        .attr(ir::Attribute::makeInts("kernel_shape", {2}))
        .attr(ir::Attribute::makeInts("strides", {2}))
        .attr(ir::Attribute::makeInt("ceil_mode", 1));
    expectNear(ceil.run0(), {1.5f, 3.5f, 5}, 1e-6, "ceil_mode");
    EXPECT_EQ(ceil.infos[0].dims, (Dims{1, 1, 3}));
}

TEST(RefSoftmax, RowsSumToOneAndOpsetSemantics) {
    const HostTensor x = randomFloats({2, 3, 4}, 9);
    // Opset 13, axis 1: every (n, :, w) column of 3 sums to 1.
    NodeTest t13("Softmax", 13);
    t13.input(x).attr(ir::Attribute::makeInt("axis", 1));
    const HostTensor y13 = t13.run0();
    for (int64_t n = 0; n < 2; ++n)
        for (int64_t w = 0; w < 4; ++w) {
            double s = 0.0;
            for (int64_t c = 0; c < 3; ++c) s += y13.at((n * 3 + c) * 4 + w);
            EXPECT_NEAR(s, 1.0, 1e-6) << "opset 13 axis 1, n " << n << " w " << w;
        }
    // Opset 11, axis 1: flattened to [2, 12], each row of 12 sums to 1.
    NodeTest t11("Softmax", 11);
    t11.input(x).attr(ir::Attribute::makeInt("axis", 1));
    const HostTensor y11 = t11.run0();
    for (int64_t n = 0; n < 2; ++n) {
        double s = 0.0;
        for (int64_t i = 0; i < 12; ++i) s += y11.at(n * 12 + i);
        EXPECT_NEAR(s, 1.0, 1e-6) << "opset 11 axis 1, n " << n;
    }
    // LogSoftmax is log(Softmax); large inputs do not overflow.
    NodeTest log("LogSoftmax", 13);
    log.input(HostTensor::fromFloats({1, 3}, {1000, 1001, 1002}));
    const double lse = std::log(std::exp(-2.0) + std::exp(-1.0) + 1.0);
    expectNear(
        log.run0(),
        {static_cast<float>(-2 - lse), static_cast<float>(-1 - lse), static_cast<float>(-lse)},
        1e-5, "logsoftmax");
}

// ---- Resize --------------------------------------------------------------------------------

TEST(RefResize, NearestAndLinearByHand) {
    const HostTensor x = HostTensor::fromFloats({1, 1, 2, 2}, {1, 2, 3, 4});
    const HostTensor scales = HostTensor::fromFloats({4}, {1, 1, 2, 2});
    NodeTest nearest("Resize", 13);
    nearest.input(x)
        .omitted()
        .constant(scales)
        .attr(ir::Attribute::makeString("mode", "nearest"))
        .attr(ir::Attribute::makeString("coordinate_transformation_mode", "asymmetric"))
        .attr(ir::Attribute::makeString("nearest_mode", "floor"));
    expectNear(nearest.run0(), {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 0, "nearest");
    EXPECT_EQ(nearest.infos[0].dims, (Dims{1, 1, 4, 4}));

    // align_corners, sizes 3x3: the middle row/column are the averages.
    NodeTest linear("Resize", 13);
    linear.input(x)
        .omitted()
        .omitted()
        .constant(HostTensor::fromInt64s({4}, {1, 1, 3, 3}))
        .attr(ir::Attribute::makeString("mode", "linear"))
        .attr(ir::Attribute::makeString("coordinate_transformation_mode", "align_corners"));
    expectNear(linear.run0(), {1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4}, 1e-6, "linear");
    EXPECT_EQ(linear.infos[0].dims, (Dims{1, 1, 3, 3}));
}

// Resize-10 is Upsample's arithmetic (asymmetric coordinates; nearest truncates when
// upsampling and rounds up when downsampling): the expected values of ONNX's former opset-10
// node tests.
TEST(RefResize, Opset10) {
    NodeTest down("Resize", 10);
    down.input(HostTensor::fromFloats({1, 1, 2, 4}, iota(8)))
        .constant(HostTensor::fromFloats({4}, {1, 1, 0.6f, 0.6f}));
    expectNear(down.run0(), {1, 3}, 0, "nearest downsample");
    EXPECT_EQ(down.infos[0].dims, (Dims{1, 1, 1, 2}));

    const HostTensor x = HostTensor::fromFloats({1, 1, 2, 2}, {1, 2, 3, 4});
    NodeTest up("Resize", 10);
    up.input(x).constant(HostTensor::fromFloats({4}, {1, 1, 2, 3}));
    expectNear(up.run0(), {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4},
               0, "nearest upsample");

    NodeTest linear("Resize", 10);
    linear.input(x)
        .constant(HostTensor::fromFloats({4}, {1, 1, 2, 2}))
        .attr(ir::Attribute::makeString("mode", "linear"));
    expectNear(linear.run0(), {1, 1.5f, 2, 2, 2, 2.5f, 3, 3, 3, 3.5f, 4, 4, 3, 3.5f, 4, 4}, 1e-6,
               "linear upsample");
}

// Resize-11 takes scales as a required input, empty when sizes are given.
TEST(RefResize, Opset11EmptyScalesWithSizes) {
    NodeTest t("Resize", 11);
    t.input(HostTensor::fromFloats({1, 1, 1, 2}, {1, 2}))
        .constant(HostTensor::fromFloats({0}, {}))
        .constant(HostTensor::fromFloats({0}, {}))
        .constant(HostTensor::fromInt64s({4}, {1, 1, 1, 4}));
    // half_pixel, round_prefer_floor: x_original = (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25
    expectNear(t.run0(), {1, 1, 2, 2}, 0, "nearest");
    EXPECT_EQ(t.infos[0].dims, (Dims{1, 1, 1, 4}));
}

// Resize-18: sizes for listed axes only, one scale for all with keep_aspect_ratio_policy.
TEST(RefResize, Opset18AxesAndAspectPolicy) {
    const HostTensor x = HostTensor::fromFloats({1, 1, 2, 4}, iota(8));
    for (const char* policy : {"stretch", "not_larger", "not_smaller"}) {
        NodeTest t("Resize", 18);
        t.input(x)
            .omitted()
            .omitted()
            .constant(HostTensor::fromInt64s({2}, {4, 4}))
            .attr(ir::Attribute::makeInts("axes", {2, 3}))
            .attr(ir::Attribute::makeString("keep_aspect_ratio_policy", policy));
        const HostTensor y = t.run0();
        // stretch: 4x4; not_larger: scale min(2, 1) = 1 -> 2x4; not_smaller: scale 2 -> 4x8.
        const Dims expected = std::string(policy) == "stretch"      ? Dims{1, 1, 4, 4}
                              : std::string(policy) == "not_larger" ? Dims{1, 1, 2, 4}
                                                                    : Dims{1, 1, 4, 8};
        EXPECT_EQ(y.dims(), expected) << policy;
        if (std::string(policy) == "not_larger") expectNear(y, iota(8), 0, policy);
    }
}

// Opset 19 AveragePool dilations: [1..5], kernel 2, dilation 2 -> (1+3)/2, (2+4)/2, (3+5)/2.
TEST(RefPool, AveragePoolDilations) {
    NodeTest t("AveragePool", 19);
    t.input(HostTensor::fromFloats({1, 1, 5}, iota(5)))
        .attr(ir::Attribute::makeInts("kernel_shape", {2}))
        .attr(ir::Attribute::makeInts("dilations", {2}));
    expectNear(t.run0(), {2, 3, 4}, 1e-6, "dilations");
}

// BatchNormalization-7 with spatial=0: one set of parameters per activation (C x D).
TEST(RefBatchNorm, PerActivationOpset7) {
    NodeTest t("BatchNormalization", 7);
    t.input(HostTensor::fromFloats({2, 1, 2}, {1, 2, 3, 4}))
        .constant(HostTensor::fromFloats({1, 2}, {1, 10}))
        .constant(HostTensor::fromFloats({1, 2}, {0, 1}))
        .constant(HostTensor::fromFloats({1, 2}, {1, 2}))
        .constant(HostTensor::fromFloats({1, 2}, {1, 4}))
        .attr(ir::Attribute::makeInt("spatial", 0))
        .attr(ir::Attribute::makeFloat("epsilon", 0.0f));
    // d0: (x - 1) * 1 + 0; d1: (x - 2) / 2 * 10 + 1
    expectNear(t.run0(), {0, 1, 2, 11}, 1e-6, "spatial=0");
}

// ---- QuantizeLinear / DequantizeLinear -----------------------------------------------------

TEST(RefQuant, RoundHalfToEvenAndSaturate) {
    NodeTest q("QuantizeLinear", 13);
    q.input(HostTensor::fromFloats({6}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 300}))
        .constant(HostTensor::scalar(ir::DType::kFloat, 1.0))
        .constant(HostTensor::scalar(ir::DType::kInt8, 0));
    const HostTensor y = q.run0();
    EXPECT_EQ(y.dtype(), ir::DType::kInt8);
    EXPECT_EQ(y.toInt64s(), (std::vector<int64_t>{0, 2, 2, 0, -2, 127}));

    NodeTest u("QuantizeLinear", 10);  // no zero point: uint8
    u.input(HostTensor::fromFloats({3}, {-5, 1.2f, 1000}))
        .constant(HostTensor::scalar(ir::DType::kFloat, 0.5));
    const HostTensor yu = u.run0();
    EXPECT_EQ(yu.dtype(), ir::DType::kUInt8);
    EXPECT_EQ(yu.toInt64s(), (std::vector<int64_t>{0, 2, 255}));
}

TEST(RefQuant, QuantizeDequantizeErrorWithinHalfAScale) {
    const HostTensor x = randomFloats({2, 3, 4}, 5);
    // Per tensor, uint8 with a zero point in the middle.
    {
        const float scale = 2.0f / 255.0f;
        NodeTest q("QuantizeLinear", 13);
        q.input(x)
            .constant(HostTensor::scalar(ir::DType::kFloat, scale))
            .constant(HostTensor::scalar(ir::DType::kUInt8, 128));
        const HostTensor qx = q.run0();
        NodeTest d("DequantizeLinear", 13);
        d.input(qx)
            .constant(HostTensor::scalar(ir::DType::kFloat, scale))
            .constant(HostTensor::scalar(ir::DType::kUInt8, 128));
        const HostTensor dx = d.run0();
        for (int64_t i = 0; i < x.numElements(); ++i)
            EXPECT_LE(std::abs(dx.at(i) - x.at(i)), scale / 2 + 1e-7) << "per tensor, i " << i;
    }
    // Per axis 1, int8 symmetric with a scale per channel.
    {
        const std::vector<float> scales = {1.0f / 127, 0.5f / 127, 1.5f / 127};
        HostTensor zp(ir::DType::kInt8, {3});
        NodeTest q("QuantizeLinear", 13);
        q.input(x)
            .constant(HostTensor::fromFloats({3}, scales))
            .constant(zp)
            .attr(ir::Attribute::makeInt("axis", 1));
        const HostTensor qx = q.run0();
        NodeTest d("DequantizeLinear", 13);
        d.input(qx)
            .constant(HostTensor::fromFloats({3}, scales))
            .constant(zp)
            .attr(ir::Attribute::makeInt("axis", 1));
        const HostTensor dx = d.run0();
        for (int64_t i = 0; i < x.numElements(); ++i) {
            const int64_t c = (i / 4) % 3;
            const float s = scales[static_cast<std::size_t>(c)];
            // Channel 1 saturates at 127 * s and -128 * s: the error bound holds inside only.
            if (x.at(i) > 127 * s || x.at(i) < -128 * s) {
                EXPECT_NEAR(dx.at(i), x.at(i) > 0 ? 127 * s : -128 * s, 1e-6)
                    << "saturated, i " << i;
                continue;
            }
            EXPECT_LE(std::abs(dx.at(i) - x.at(i)), s / 2 + 1e-7) << "per axis, channel " << c;
        }
    }
}
