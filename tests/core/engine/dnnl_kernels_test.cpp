// oneDNN kernels (core/engine/dnnl) against an oracle: every kernel over a grid of shapes and
// attributes, random inputs (fixed seed), a one-node model compiled with backends {kDnnl} only
// (the oneDNN kernel must be the one chosen) and compared within 1e-4 relative with
//   - a plain double-precision loop written here (always), and
//   - the reference backend {kReference}, when it has a kernel for the node.
// Then the ONNX node tests of the same operators run with the default backends (dnnl first).
//
//   ./build-dnnl/tests/test_engine --gtest_filter='Dnnl*'

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <random>

#include <gtest/gtest.h>

#include "core/engine/plan.h"
#include "tests/core/engine/conformance_harness.h"

using namespace wh;
using namespace wh::engine;

namespace {

// ---- One-node models ---------------------------------------------------------------------------

struct In {
    Dims dims;
    std::vector<float> data;
    bool constant = false;
    bool omitted = false;
};

struct Case {
    std::string op;
    int opset = 17;
    std::vector<In> inputs;
    std::vector<ir::Attribute> attrs;
    std::string label;  // shapes and attributes, for failure messages

    Case() = default;
    Case(const Case& o) : op(o.op), opset(o.opset), inputs(o.inputs), label(o.label) {
        for (const ir::Attribute& a : o.attrs) attrs.push_back(a.clone());
    }
    Case(Case&&) = default;
    Case& operator=(Case&&) = default;

    Case& attr(ir::Attribute a) {
        label += " " + a.name + "=" + a.valueString();
        attrs.push_back(std::move(a));
        return *this;
    }
};

std::mt19937& rng() {
    static std::mt19937 r(1234);
    return r;
}

std::vector<float> randomData(const Dims& dims, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(static_cast<std::size_t>(numElementsOf(dims)));
    for (float& x : v) x = u(rng());
    return v;
}

In input(Dims dims, bool constant = false, float lo = -1.0f, float hi = 1.0f) {
    In in;
    in.data = randomData(dims, lo, hi);
    in.dims = std::move(dims);
    in.constant = constant;
    return in;
}

Case makeCase(std::string op, std::vector<In> inputs) {
    Case c;
    c.op = std::move(op);
    c.label = c.op;
    for (const In& in : inputs)
        c.label += " " + (in.omitted ? std::string("-") : dimsToString(in.dims)) + (in.constant ? "c" : "");
    c.inputs = std::move(inputs);
    return c;
}

ir::Model makeModel(const Case& c) {
    ir::Model m;
    m.opsetImports.push_back({"", c.opset, {}});
    ir::Graph& g = *m.graph;
    std::vector<ir::Value*> ins;
    for (std::size_t i = 0; i < c.inputs.size(); ++i) {
        const In& in = c.inputs[i];
        if (in.omitted) {
            ins.push_back(nullptr);
            continue;
        }
        ir::Value* v = *g.addValue("in" + std::to_string(i));
        if (in.constant) {
            g.setInitializer(v, ir::Tensor::fromFloats(v->name(), in.dims, in.data));
        } else {
            ir::Shape shape;
            for (int64_t d : in.dims) shape.dims.push_back(ir::Dim::known(d));
            v->type = ir::Type::tensor(ir::DType::kFloat, shape);
            g.insertGraphInput(v);
        }
        ins.push_back(v);
    }
    ir::Value* y = *g.addValue("y");
    ir::Node* node = g.addNode(c.op, ins, std::vector<ir::Value*>{y});
    node->name = "n";
    for (const ir::Attribute& a : c.attrs) node->attributes().push_back(a.clone());
    g.insertGraphOutput(y);
    return m;
}

std::vector<HostTensor> feeds(const Case& c) {
    std::vector<HostTensor> out;
    for (const In& in : c.inputs)
        if (!in.omitted && !in.constant) out.push_back(HostTensor::fromFloats(in.dims, in.data));
    return out;
}

// The oneDNN result; fails the test unless the node really ran on oneDNN.
std::optional<HostTensor> runDnnl(const Case& c) {
    PlanOptions opt;
    opt.backends = {Backend::kDnnl};
    auto plan = Plan::compile(makeModel(c), opt);
    EXPECT_TRUE(plan) << c.label << ": " << plan.error().message();
    if (!plan) return std::nullopt;
    EXPECT_EQ(plan->nodes().at(0).backend, Backend::kDnnl) << c.label;
    EXPECT_FALSE(plan->nodes().at(0).folded) << c.label;
    std::optional<HostTensor> result;
    for (int k = 0; k < 2; ++k) {  // twice: kernels must be re-runnable
        auto out = plan->run(feeds(c));
        EXPECT_TRUE(out) << c.label << ": " << out.error().message();
        if (!out) return std::nullopt;
        result = (*out)[0];
    }
    EXPECT_EQ(result->dims(), plan->outputInfo(0).dims) << c.label << ": declared output shape";
    return result;
}

// The reference backend's result, or nullopt when it has no kernel for this node (yet).
std::optional<HostTensor> runReference(const Case& c) {
    PlanOptions opt;
    opt.backends = {Backend::kReference};
    auto plan = Plan::compile(makeModel(c), opt);
    if (!plan) return std::nullopt;
    auto out = plan->run(feeds(c));
    EXPECT_TRUE(out) << c.label << " (reference): " << out.error().message();
    if (!out) return std::nullopt;
    return (*out)[0];
}

// |got - want| <= 1e-4 * (|want| + rms(want)): relative, with the output's typical magnitude as
// a floor so that values near zero from cancelling sums are not held to an impossible bound.
void expectClose(const Case& c, const HostTensor& got, const Dims& wantDims,
                 const std::vector<double>& want, const char* oracle) {
    ASSERT_EQ(got.dims(), wantDims) << c.label << " vs " << oracle;
    double rms = 0;
    for (double w : want) rms += w * w;
    rms = want.empty() ? 0.0 : std::sqrt(rms / static_cast<double>(want.size()));
    const std::vector<float> g = got.toFloats();
    int bad = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const double tol = 1e-4 * (std::abs(want[i]) + rms) + 1e-7;
        if (!(std::abs(g[i] - want[i]) <= tol)) {
            if (++bad <= 3)
                ADD_FAILURE() << c.label << " vs " << oracle << ": at " << i << " got " << g[i]
                              << ", want " << want[i];
        }
    }
    EXPECT_EQ(bad, 0) << c.label << " vs " << oracle << ": " << bad << " of " << want.size()
                      << " elements differ";
}

using Oracle = std::function<std::vector<double>(const Case&, Dims&)>;

int g_referenceCompared = 0, g_referenceMissing = 0;

void check(const Case& c, const Oracle& oracle) {
    SCOPED_TRACE(c.label);
    std::optional<HostTensor> got = runDnnl(c);
    if (!got) return;
    Dims dims;
    const std::vector<double> want = oracle(c, dims);
    expectClose(c, *got, dims, want, "loop");
    if (std::optional<HostTensor> ref = runReference(c)) {
        ++g_referenceCompared;
        std::vector<double> r;
        for (float v : ref->toFloats()) r.push_back(v);
        expectClose(c, *got, ref->dims(), r, "reference backend");
    } else {
        ++g_referenceMissing;
    }
}

// ---- Oracles (double precision, straightforward loops) -----------------------------------------

const std::vector<float>& data(const Case& c, int i) { return c.inputs[static_cast<std::size_t>(i)].data; }
const Dims& dimsOf(const Case& c, int i) { return c.inputs[static_cast<std::size_t>(i)].dims; }

const ir::Attribute* findAttr(const Case& c, const std::string& name) {
    for (const ir::Attribute& a : c.attrs)
        if (a.name == name) return &a;
    return nullptr;
}
int64_t attrI(const Case& c, const std::string& n, int64_t d) {
    const ir::Attribute* a = findAttr(c, n);
    return a ? a->i : d;
}
float attrF(const Case& c, const std::string& n, float d) {
    const ir::Attribute* a = findAttr(c, n);
    return a ? a->f : d;
}
std::vector<int64_t> attrIs(const Case& c, const std::string& n, std::vector<int64_t> d) {
    const ir::Attribute* a = findAttr(c, n);
    return a ? a->ints : d;
}

// 2-D windows: pads given explicitly to the oracle (auto_pad cases compute them in the test).
struct Win2 {
    int64_t kh, kw, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
    bool ceil = false;
    int64_t outH(int64_t h) const { return out(h, kh, sh, dh, pt, pb); }
    int64_t outW(int64_t w) const { return out(w, kw, sw, dw, pl, pr); }
    int64_t out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1) const {
        const int64_t span = in + p0 + p1 - ((k - 1) * d + 1);
        int64_t o = (ceil ? (span + s - 1) / s : span / s) + 1;
        if (ceil && (o - 1) * s >= in + p0) --o;
        return o;
    }
};

std::vector<double> convOracle(const Case& c, Dims& outDims, const Win2& w) {
    const Dims& x = dimsOf(c, 0);
    const Dims& wd = dimsOf(c, 1);
    const int64_t n = x[0], ch = x[1], h = x[2], wi = x[3], m = wd[0];
    const int64_t g = attrI(c, "group", 1), cg = ch / g, mg = m / g;
    const int64_t oh = w.outH(h), ow = w.outW(wi);
    outDims = {n, m, oh, ow};
    const bool bias = c.inputs.size() > 2 && !c.inputs[2].omitted;
    std::vector<double> y(static_cast<std::size_t>(n * m * oh * ow));
    const auto& X = data(c, 0);
    const auto& W = data(c, 1);
    for (int64_t b = 0; b < n; ++b)
        for (int64_t oc = 0; oc < m; ++oc)
            for (int64_t i = 0; i < oh; ++i)
                for (int64_t j = 0; j < ow; ++j) {
                    double acc = bias ? data(c, 2)[static_cast<std::size_t>(oc)] : 0.0;
                    const int64_t grp = oc / mg;
                    for (int64_t ic = 0; ic < cg; ++ic)
                        for (int64_t ki = 0; ki < w.kh; ++ki)
                            for (int64_t kj = 0; kj < w.kw; ++kj) {
                                const int64_t yy = i * w.sh - w.pt + ki * w.dh;
                                const int64_t xx = j * w.sw - w.pl + kj * w.dw;
                                if (yy < 0 || yy >= h || xx < 0 || xx >= wi) continue;
                                acc += static_cast<double>(
                                           X[static_cast<std::size_t>(((b * ch + grp * cg + ic) * h + yy) * wi + xx)]) *
                                       W[static_cast<std::size_t>(((oc * cg + ic) * w.kh + ki) * w.kw + kj)];
                            }
                    y[static_cast<std::size_t>(((b * m + oc) * oh + i) * ow + j)] = acc;
                }
    return y;
}

std::vector<double> poolOracle(const Case& c, Dims& outDims, const Win2& w, bool isMax,
                               bool includePad) {
    const Dims& x = dimsOf(c, 0);
    const int64_t n = x[0], ch = x[1], h = x[2], wi = x[3];
    const int64_t oh = w.outH(h), ow = w.outW(wi);
    outDims = {n, ch, oh, ow};
    std::vector<double> y;
    const auto& X = data(c, 0);
    for (int64_t p = 0; p < n * ch; ++p)
        for (int64_t i = 0; i < oh; ++i)
            for (int64_t j = 0; j < ow; ++j) {
                double acc = isMax ? -INFINITY : 0.0;
                int64_t count = 0;
                for (int64_t ki = 0; ki < w.kh; ++ki)
                    for (int64_t kj = 0; kj < w.kw; ++kj) {
                        const int64_t yy = i * w.sh - w.pt + ki * w.dh;
                        const int64_t xx = j * w.sw - w.pl + kj * w.dw;
                        if (yy < 0 || yy >= h || xx < 0 || xx >= wi) continue;
                        const double v = X[static_cast<std::size_t>((p * h + yy) * wi + xx)];
                        acc = isMax ? std::max(acc, v) : acc + v;
                        ++count;
                    }
                if (!isMax) acc /= static_cast<double>(includePad ? w.kh * w.kw : count);
                y.push_back(acc);
            }
    return y;
}

// numpy-broadcast binary op.
std::vector<double> binaryOracle(const Case& c, Dims& outDims,
                                 const std::function<double(double, double)>& f) {
    Dims a = dimsOf(c, 0), b = dimsOf(c, 1);
    const std::size_t r = std::max(a.size(), b.size());
    while (a.size() < r) a.insert(a.begin(), 1);
    while (b.size() < r) b.insert(b.begin(), 1);
    outDims.assign(r, 0);
    for (std::size_t i = 0; i < r; ++i) outDims[i] = std::max(a[i], b[i]);
    const int64_t total = numElementsOf(outDims);
    std::vector<double> y(static_cast<std::size_t>(total));
    for (int64_t flat = 0; flat < total; ++flat) {
        int64_t rem = flat, ia = 0, ib = 0, sa = 1, sb = 1;
        for (int i = static_cast<int>(r) - 1; i >= 0; --i) {
            const auto u = static_cast<std::size_t>(i);
            const int64_t idx = rem % outDims[u];
            rem /= outDims[u];
            ia += (a[u] == 1 ? 0 : idx) * sa;
            ib += (b[u] == 1 ? 0 : idx) * sb;
            sa *= a[u];
            sb *= b[u];
        }
        y[static_cast<std::size_t>(flat)] =
            f(data(c, 0)[static_cast<std::size_t>(ia)], data(c, 1)[static_cast<std::size_t>(ib)]);
    }
    if (dimsOf(c, 0).empty() && dimsOf(c, 1).empty()) outDims.clear();
    return y;
}

Oracle unaryOracle(std::function<double(double)> f) {
    return [f](const Case& c, Dims& outDims) {
        outDims = dimsOf(c, 0);
        std::vector<double> y;
        for (float v : data(c, 0)) y.push_back(f(v));
        return y;
    };
}

// ---- Tests ---------------------------------------------------------------------------------------

TEST(DnnlKernels, Conv) {
    struct Shape {
        int64_t n, c, m, h, w, k, g;
    };
    const std::vector<Shape> shapes = {
        {1, 3, 8, 12, 12, 3, 1},   {2, 8, 16, 9, 11, 3, 1},  {1, 16, 16, 10, 10, 3, 16},
        {2, 8, 12, 7, 7, 1, 1},     {1, 12, 12, 13, 9, 5, 4}, {1, 6, 4, 8, 8, 3, 2},
        {3, 32, 32, 6, 6, 3, 32}};
    int cases = 0;
    for (const Shape& s : shapes)
        for (int stride : {1, 2})
            for (int dil : {1, 2})
                for (int padMode : {0, 1, 2})  // none, symmetric, asymmetric
                    for (int bias : {0, 1}) {
                        if ((s.k - 1) * dil + 1 > std::min(s.h, s.w)) continue;
                        Win2 w{s.k, s.k, stride, stride, dil, dil};
                        if (padMode == 1) w.pt = w.pl = w.pb = w.pr = s.k / 2;
                        if (padMode == 2) w.pt = 1, w.pl = 0, w.pb = 0, w.pr = 2;
                        // Constant weights (the usual case) except one combination per shape.
                        const bool constW = !(stride == 2 && dil == 1 && padMode == 0 && bias);
                        std::vector<In> ins{input({s.n, s.c, s.h, s.w}),
                                            input({s.m, s.c / s.g, s.k, s.k}, constW)};
                        if (bias) ins.push_back(input({s.m}, stride == 1));
                        Case c = makeCase("Conv", std::move(ins));
                        c.attr(ir::Attribute::makeInts("kernel_shape", {s.k, s.k}))
                            .attr(ir::Attribute::makeInts("strides", {stride, stride}))
                            .attr(ir::Attribute::makeInts("dilations", {dil, dil}))
                            .attr(ir::Attribute::makeInts("pads", {w.pt, w.pl, w.pb, w.pr}))
                            .attr(ir::Attribute::makeInt("group", s.g));
                        check(c, [w](const Case& cc, Dims& d) { return convOracle(cc, d, w); });
                        ++cases;
                    }
    EXPECT_GT(cases, 100);
}

// 3x3, stride 1, undilated, 32+ channels, constant weights: Winograd on AVX-512 machines (the
// plan names it), within the same 1e-4 of the double-precision loops as the direct kernels;
// with a fused Relu and residual Add as post-ops too.
TEST(DnnlKernels, ConvWinograd) {
    struct Shape {
        int64_t n, c, m, h, w;
    };
    int cases = 0, winograd = 0;
    for (const Shape& s : std::vector<Shape>{{1, 32, 48, 9, 11}, {2, 64, 64, 7, 7}, {3, 48, 32, 14, 14}})
        for (int pad : {0, 1})
            for (int bias : {0, 1}) {
                Win2 w{3, 3, 1, 1, 1, 1};
                w.pt = w.pl = w.pb = w.pr = pad;
                std::vector<In> ins{input({s.n, s.c, s.h, s.w}), input({s.m, s.c, 3, 3}, true)};
                if (bias) ins.push_back(input({s.m}, true));
                Case c = makeCase("Conv", std::move(ins));
                c.attr(ir::Attribute::makeInts("kernel_shape", {3, 3}))
                    .attr(ir::Attribute::makeInts("pads", {pad, pad, pad, pad}));
                check(c, [w](const Case& cc, Dims& d) { return convOracle(cc, d, w); });
                PlanOptions opt;
                opt.backends = {Backend::kDnnl};
                auto plan = Plan::compile(makeModel(c), opt);
                ASSERT_TRUE(plan);
                winograd += plan->describe().find("wino") != std::string::npos;
                ++cases;
            }
    EXPECT_EQ(cases, 12);
    // oneDNN's Winograd needs AVX-512 (avx512_core: F, CD, BW, DQ, VL).
    std::ifstream cpuinfo("/proc/cpuinfo");
    const std::string flags((std::istreambuf_iterator<char>(cpuinfo)), {});
    bool avx512 = true;
    for (const char* f : {" avx512f", " avx512cd", " avx512bw", " avx512dq", " avx512vl"})
        avx512 = avx512 && flags.find(f) != std::string::npos;
    if (avx512) EXPECT_EQ(winograd, cases) << "Winograd is picked on AVX-512 machines";
}

TEST(DnnlKernels, ConvAutoPad) {
    for (const char* mode : {"SAME_UPPER", "SAME_LOWER", "VALID"})
        for (int stride : {1, 2})
            for (int64_t k : {2, 3}) {
                const int64_t h = 9, wdt = 10;
                Win2 w{k, k, stride, stride};
                if (std::string(mode) != "VALID") {
                    auto pads = [&](int64_t in, int64_t& p0, int64_t& p1) {
                        const int64_t out = (in + stride - 1) / stride;
                        const int64_t total = std::max<int64_t>(0, (out - 1) * stride + k - in);
                        p0 = std::string(mode) == "SAME_UPPER" ? total / 2 : total - total / 2;
                        p1 = total - p0;
                    };
                    pads(h, w.pt, w.pb);
                    pads(wdt, w.pl, w.pr);
                }
                Case c = makeCase("Conv", {input({1, 4, h, wdt}), input({6, 4, k, k}, true)});
                c.attr(ir::Attribute::makeString("auto_pad", mode))
                    .attr(ir::Attribute::makeInts("strides", {stride, stride}));
                check(c, [w](const Case& cc, Dims& d) { return convOracle(cc, d, w); });
            }
}

TEST(DnnlKernels, Gemm) {
    for (auto [m, k, n] : {std::tuple{1, 16, 10}, {7, 33, 5}, {64, 128, 96}})
        for (int ta : {0, 1})
            for (int tb : {0, 1})
                for (int cMode : {0, 1, 2, 3})  // none, [N], [M,N], [M,1]
                    for (auto [alpha, beta] : {std::pair{1.0f, 1.0f}, {0.5f, 2.0f}})
                        for (int constB : {1, 0}) {
                            if (!constB && cMode == 3) continue;
                            std::vector<In> ins{input(ta ? Dims{k, m} : Dims{m, k}),
                                                input(tb ? Dims{n, k} : Dims{k, n}, constB)};
                            const Dims cd = cMode == 1   ? Dims{n}
                                            : cMode == 2 ? Dims{m, n}
                                                         : Dims{m, 1};
                            // A computed C only with beta 1 (beta × computed C is refused).
                            const bool constC = beta != 1.0f || cMode == 1;
                            if (cMode) ins.push_back(input(cd, constC));
                            Case c = makeCase("Gemm", std::move(ins));
                            c.attr(ir::Attribute::makeInt("transA", ta))
                                .attr(ir::Attribute::makeInt("transB", tb))
                                .attr(ir::Attribute::makeFloat("alpha", alpha))
                                .attr(ir::Attribute::makeFloat("beta", beta));
                            check(c, [=](const Case& cc, Dims& d) {
                                d = {m, n};
                                std::vector<double> y(static_cast<std::size_t>(m * n));
                                const auto& A = data(cc, 0);
                                const auto& B = data(cc, 1);
                                for (int i = 0; i < m; ++i)
                                    for (int j = 0; j < n; ++j) {
                                        double acc = 0;
                                        for (int p = 0; p < k; ++p)
                                            acc += static_cast<double>(A[static_cast<std::size_t>(ta ? p * m + i : i * k + p)]) *
                                                   B[static_cast<std::size_t>(tb ? j * k + p : p * n + j)];
                                        acc *= alpha;
                                        if (cMode) {
                                            const auto& C = data(cc, 2);
                                            const int idx = cMode == 1 ? j : cMode == 2 ? i * n + j : i;
                                            acc += beta * C[static_cast<std::size_t>(idx)];
                                        }
                                        y[static_cast<std::size_t>(i * n + j)] = acc;
                                    }
                                return y;
                            });
                        }
}

TEST(DnnlKernels, MatMul) {
    const std::vector<std::pair<Dims, Dims>> shapes = {
        {{4, 8}, {8, 5}},          {{1, 64}, {64, 100}},     {{3, 7, 16}, {16, 9}},
        {{2, 3, 5, 6}, {6, 4}},    {{4, 5, 6}, {4, 6, 7}},   {{2, 3, 4, 8}, {2, 3, 8, 5}}};
    for (const auto& [a, b] : shapes)
        for (int constB : {0, 1}) {
            Case c = makeCase("MatMul", {input(a), input(b, constB)});
            check(c, [a = a, b = b](const Case& cc, Dims& d) {
                const int64_t k = a.back(), n = b.back(), m = a[a.size() - 2];
                const int64_t batch = numElementsOf(a) / (m * k);
                const bool shared = b.size() == 2;
                d = Dims(a.begin(), a.end() - 1);
                d.push_back(n);
                std::vector<double> y;
                for (int64_t t = 0; t < batch; ++t)
                    for (int64_t i = 0; i < m; ++i)
                        for (int64_t j = 0; j < n; ++j) {
                            double acc = 0;
                            for (int64_t p = 0; p < k; ++p)
                                acc += static_cast<double>(data(cc, 0)[static_cast<std::size_t>((t * m + i) * k + p)]) *
                                       data(cc, 1)[static_cast<std::size_t>(((shared ? 0 : t) * k + p) * n + j)];
                            y.push_back(acc);
                        }
                return y;
            });
        }
}

TEST(DnnlKernels, BatchNormalization) {
    for (const Dims& x : {Dims{2, 3, 5, 4}, Dims{1, 16, 7, 7}, Dims{4, 6}, Dims{2, 5, 9}})
        for (int constStats : {1, 0}) {
            const int64_t ch = x[1];
            Case c = makeCase("BatchNormalization",
                              {input(x), input({ch}, constStats, 0.5f, 1.5f),
                               input({ch}, constStats), input({ch}, constStats),
                               input({ch}, constStats, 0.1f, 2.0f)});
            c.opset = 15;
            c.attr(ir::Attribute::makeFloat("epsilon", 1e-3f));
            check(c, [x](const Case& cc, Dims& d) {
                d = x;
                const int64_t ch = x[1], inner = numElementsOf(x) / (x[0] * ch);
                std::vector<double> y(static_cast<std::size_t>(numElementsOf(x)));
                for (int64_t i = 0; i < numElementsOf(x); ++i) {
                    const auto k = static_cast<std::size_t>((i / inner) % ch);
                    const double v = data(cc, 0)[static_cast<std::size_t>(i)];
                    y[static_cast<std::size_t>(i)] =
                        data(cc, 1)[k] * (v - data(cc, 3)[k]) / std::sqrt(data(cc, 4)[k] + 1e-3) +
                        data(cc, 2)[k];
                }
                return y;
            });
        }
}

TEST(DnnlKernels, Pools) {
    struct P {
        int64_t k, s, d, pad;
        bool ceil;
    };
    const std::vector<P> grid = {{2, 2, 1, 0, false}, {3, 2, 1, 1, false}, {3, 2, 1, 0, true},
                                 {3, 1, 1, 1, false}, {2, 2, 1, 0, true},  {3, 2, 2, 1, false},
                                 {3, 3, 1, 1, true}};
    for (const Dims& x : {Dims{1, 3, 8, 8}, Dims{2, 16, 11, 9}})
        for (const P& p : grid)
            for (int kind : {0, 1, 2}) {  // max, avg exclude pad, avg include pad
                if (kind && p.d != 1) continue;  // AveragePool dilations: opset 19, ONNX 1.12 lacks it
                Win2 w{p.k, p.k, p.s, p.s, p.d, p.d, p.pad, p.pad, p.pad, p.pad, p.ceil};
                const bool tail = p.ceil && ((w.outH(x[2]) - 1) * p.s + (p.k - 1) * p.d + 1 >
                                                 x[2] + 2 * p.pad ||
                                             (w.outW(x[3]) - 1) * p.s + (p.k - 1) * p.d + 1 >
                                                 x[3] + 2 * p.pad);
                Case c = makeCase(kind == 0 ? "MaxPool" : "AveragePool", {input(x)});
                c.attr(ir::Attribute::makeInts("kernel_shape", {p.k, p.k}))
                    .attr(ir::Attribute::makeInts("strides", {p.s, p.s}))
                    .attr(ir::Attribute::makeInts("pads", {p.pad, p.pad, p.pad, p.pad}))
                    .attr(ir::Attribute::makeInt("ceil_mode", p.ceil));
                if (kind == 0) c.attr(ir::Attribute::makeInts("dilations", {p.d, p.d}));
                if (kind == 2) c.attr(ir::Attribute::makeInt("count_include_pad", 1));
                if (kind == 2 && tail) {
                    // Left to the reference kernel on purpose: oneDNN must refuse, not guess.
                    PlanOptions opt;
                    opt.backends = {Backend::kDnnl};
                    auto plan = Plan::compile(makeModel(c), opt);
                    ASSERT_FALSE(plan) << c.label;
                    EXPECT_EQ(plan.error().code(), StatusCode::kUnsupported) << c.label;
                    continue;
                }
                check(c, [=](const Case& cc, Dims& d) {
                    return poolOracle(cc, d, w, kind == 0, kind == 2);
                });
            }
    for (const Dims& x : {Dims{1, 3, 8, 8}, Dims{2, 16, 7, 5}}) {
        Case c = makeCase("GlobalAveragePool", {input(x)});
        Win2 w{x[2], x[3]};
        check(c, [=](const Case& cc, Dims& d) { return poolOracle(cc, d, w, false, false); });
    }
}

TEST(DnnlKernels, Activations) {
    struct U {
        std::string op;
        int opset;
        std::vector<std::pair<std::string, float>> attrs;
        std::function<double(double)> f;
    };
    std::vector<U> ops;
    auto add = [&](std::string op, int opset, std::function<double(double)> f,
                   std::vector<std::pair<std::string, float>> attrs = {}) {
        ops.push_back({std::move(op), opset, std::move(attrs), std::move(f)});
    };
    add("Relu", 14, [](double v) { return std::max(v, 0.0); });
    add("LeakyRelu", 16, [](double v) { return v > 0 ? v : 0.01 * v; });
    add("LeakyRelu", 16, [](double v) { return v > 0 ? v : 0.3 * v; }, {{"alpha", 0.3f}});
    add("Sigmoid", 13, [](double v) { return 1.0 / (1.0 + std::exp(-v)); });
    add("Tanh", 13, [](double v) { return std::tanh(v); });
    add("HardSigmoid", 6, [](double v) { return std::clamp(0.2 * v + 0.5, 0.0, 1.0); });
    add("HardSigmoid", 6, [](double v) { return std::clamp(0.25 * v + 0.4, 0.0, 1.0); },
        {{"alpha", 0.25f}, {"beta", 0.4f}});
    add("HardSwish", 14, [](double v) { return v * std::clamp(v / 6 + 0.5, 0.0, 1.0); });
    add("Clip", 6, [](double v) { return std::clamp(v, -0.5, 2.0); },
        {{"min", -0.5f}, {"max", 2.0f}});
    for (const U& u : ops)
        for (const Dims& x : {Dims{1000}, Dims{2, 3, 17, 5}, Dims{}, Dims{1, 1}}) {
            Case c = makeCase(u.op, {input(x, false, -6.0f, 6.0f)});
            c.opset = u.opset;
            for (const auto& [name, value] : u.attrs) c.attr(ir::Attribute::makeFloat(name, value));
            check(c, unaryOracle(u.f));
        }
    // Clip-11+: bounds as constant inputs, either omitted.
    for (int which : {0, 1, 2, 3}) {
        std::vector<In> ins{input({4, 50}, false, -3.0f, 3.0f)};
        In lo{{}, {-1.0f}, true, !(which & 1)}, hi{{}, {0.5f}, true, !(which & 2)};
        ins.push_back(lo);
        ins.push_back(hi);
        while (!ins.empty() && ins.back().omitted) ins.pop_back();
        Case c = makeCase("Clip", std::move(ins));
        c.opset = 13;
        const double l = which & 1 ? -1.0 : -INFINITY, h = which & 2 ? 0.5 : INFINITY;
        check(c, unaryOracle([=](double v) { return std::clamp(v, l, h); }));
    }
}

// Pow by a constant 2 or 0.5 (a LayerNorm's variance, an L2 norm) and Sqrt: oneDNN's square and
// sqrt, exact like the reference's double pow rounded to float.
TEST(DnnlKernels, PowSquareSqrt) {
    for (const Dims& x : {Dims{1000}, Dims{2, 3, 17, 5}}) {
        for (float p : {2.0f, 0.5f}) {
            Case c = makeCase("Pow", {input(x, false, 0.0f, 4.0f), In{{}, {p}, true}});
            c.opset = 15;
            check(c, unaryOracle([p](double v) { return std::pow(v, double(p)); }));
        }
        Case s = makeCase("Sqrt", {input(x, false, 0.0f, 4.0f)});
        s.opset = 13;
        check(s, unaryOracle([](double v) { return std::sqrt(v); }));
    }
    // Other exponents stay on the reference.
    Case cube = makeCase("Pow", {input({4, 5}), In{{}, {3.0f}, true}});
    PlanOptions dnnlOnly;
    dnnlOnly.backends = {Backend::kDnnl};
    auto plan = Plan::compile(makeModel(cube), dnnlOnly);
    ASSERT_FALSE(plan);
    EXPECT_EQ(plan.error().code(), StatusCode::kUnsupported) << plan.error().message();
}

// Transpose as a reorder of a permuted-strides view: every permutation of a 4-D tensor, the
// default (reversed) order, and rank 2.
TEST(DnnlKernels, Transpose) {
    auto oracle = [](std::vector<int64_t> perm) -> Oracle {
        return [perm](const Case& c, Dims& out) {
            const Dims& x = dimsOf(c, 0);
            std::vector<int64_t> p = perm;
            if (p.empty())
                for (int64_t i = static_cast<int64_t>(x.size()) - 1; i >= 0; --i) p.push_back(i);
            Dims stride(x.size(), 1);
            for (int i = static_cast<int>(x.size()) - 2; i >= 0; --i)
                stride[static_cast<std::size_t>(i)] =
                    stride[static_cast<std::size_t>(i) + 1] * x[static_cast<std::size_t>(i) + 1];
            out.clear();
            for (int64_t a : p) out.push_back(x[static_cast<std::size_t>(a)]);
            std::vector<double> y(static_cast<std::size_t>(numElementsOf(out)));
            std::vector<int64_t> idx(out.size(), 0);
            for (std::size_t i = 0; i < y.size(); ++i) {
                int64_t from = 0;
                for (std::size_t k = 0; k < out.size(); ++k)
                    from += idx[k] * stride[static_cast<std::size_t>(p[k])];
                y[i] = data(c, 0)[static_cast<std::size_t>(from)];
                for (std::size_t k = out.size(); k-- > 0;)
                    if (++idx[k] < out[k]) break; else idx[k] = 0;
            }
            return y;
        };
    };
    std::vector<int64_t> perm = {0, 1, 2, 3};
    do {
        Case c = makeCase("Transpose", {input({2, 3, 4, 5})});
        c.attr(ir::Attribute::makeInts("perm", perm));
        check(c, oracle(perm));
    } while (std::next_permutation(perm.begin(), perm.end()));
    check(makeCase("Transpose", {input({3, 1, 7})}), oracle({}));
    Case m = makeCase("Transpose", {input({16, 33})});
    m.attr(ir::Attribute::makeInts("perm", {1, 0}));
    check(m, oracle({1, 0}));
}

// ONNX LayerNormalization over the last axis (constant Scale and B): oneDNN's
// layer_normalization against a double loop.
TEST(DnnlKernels, LayerNormalization) {
    for (bool bias : {true, false}) {
        std::vector<In> ins{input({4, 6, 32}, false, -3.0f, 3.0f), input({32}, true, 0.5f, 1.5f)};
        if (bias) ins.push_back(input({32}, true, -0.5f, 0.5f));
        Case c = makeCase("LayerNormalization", std::move(ins));
        c.opset = 17;
        c.attr(ir::Attribute::makeFloat("epsilon", 1e-3f));
        check(c, [bias](const Case& k, Dims& out) {
            out = dimsOf(k, 0);
            const int64_t C = 32, rows = numElementsOf(out) / C;
            std::vector<double> y(static_cast<std::size_t>(rows * C));
            for (int64_t r = 0; r < rows; ++r) {
                double mean = 0, var = 0;
                for (int64_t i = 0; i < C; ++i) mean += data(k, 0)[static_cast<std::size_t>(r * C + i)];
                mean /= C;
                for (int64_t i = 0; i < C; ++i) {
                    const double d = data(k, 0)[static_cast<std::size_t>(r * C + i)] - mean;
                    var += d * d;
                }
                const double inv = 1.0 / std::sqrt(var / C + 1e-3);
                for (int64_t i = 0; i < C; ++i) {
                    const auto iu = static_cast<std::size_t>(i);
                    y[static_cast<std::size_t>(r * C + i)] =
                        (data(k, 0)[static_cast<std::size_t>(r * C + i)] - mean) * inv *
                            data(k, 1)[iu] +
                        (bias ? data(k, 2)[iu] : 0.0);
                }
            }
            return y;
        });
    }
}

TEST(DnnlKernels, Binary) {
    const std::vector<std::pair<Dims, Dims>> shapes = {
        {{2, 3, 4, 5}, {2, 3, 4, 5}}, {{2, 3, 4, 5}, {5}},       {{2, 3, 4, 5}, {1, 3, 1, 1}},
        {{2, 3, 4, 5}, {}},           {{4, 5}, {2, 3, 4, 5}},    {{8, 16, 7, 7}, {16, 1, 1}},
        {{3, 1, 5}, {3, 1, 1}},       {{}, {}}};
    struct B {
        std::string op;
        std::function<double(double, double)> f;
        bool commutative;
    };
    const std::vector<B> ops = {{"Add", std::plus<double>(), true},
                                {"Sub", std::minus<double>(), false},
                                {"Mul", std::multiplies<double>(), true},
                                {"Div", std::divides<double>(), false}};
    for (const B& op : ops)
        for (const auto& [a, b] : shapes)
            for (int constB : {0, 1}) {
                const bool firstBroadcast = numElementsOf(a) < numElementsOf(b);
                Case c = makeCase(op.op, {input(a), input(b, constB, 0.5f, 2.0f)});
                c.opset = 14;
                if (firstBroadcast && !op.commutative) {
                    PlanOptions opt;
                    opt.backends = {Backend::kDnnl};
                    auto plan = Plan::compile(makeModel(c), opt);
                    ASSERT_FALSE(plan) << c.label;
                    EXPECT_EQ(plan.error().code(), StatusCode::kUnsupported) << c.label;
                    continue;
                }
                check(c, [f = op.f](const Case& cc, Dims& d) { return binaryOracle(cc, d, f); });
            }
}

TEST(DnnlKernels, Softmax) {
    for (const char* op : {"Softmax", "LogSoftmax"})
        for (const Dims& x : {Dims{4, 10}, Dims{2, 3, 7}, Dims{2, 5, 3, 4}, Dims{1000}})
            for (int axis = -static_cast<int>(x.size()); axis < static_cast<int>(x.size()); ++axis)
                for (int opset : {11, 13}) {
                    const int rank = static_cast<int>(x.size());
                    const int ax = axis < 0 ? axis + rank : axis;
                    Case c = makeCase(op, {input(x, false, -5.0f, 5.0f)});
                    c.opset = opset;
                    c.attr(ir::Attribute::makeInt("axis", axis));
                    if (opset < 13 && ax != rank - 1) {
                        PlanOptions opt;
                        opt.backends = {Backend::kDnnl};
                        auto plan = Plan::compile(makeModel(c), opt);
                        ASSERT_FALSE(plan) << c.label;
                        EXPECT_EQ(plan.error().code(), StatusCode::kUnsupported) << c.label;
                        continue;
                    }
                    const bool log = std::string(op) == "LogSoftmax";
                    check(c, [=](const Case& cc, Dims& d) {
                        d = x;
                        const int64_t outer = numElementsOf(Dims(x.begin(), x.begin() + ax));
                        const int64_t len = x[static_cast<std::size_t>(ax)];
                        const int64_t inner = numElementsOf(Dims(x.begin() + ax + 1, x.end()));
                        std::vector<double> y(static_cast<std::size_t>(numElementsOf(x)));
                        const auto& X = data(cc, 0);
                        for (int64_t o = 0; o < outer; ++o)
                            for (int64_t i = 0; i < inner; ++i) {
                                auto at = [&](int64_t j) {
                                    return static_cast<std::size_t>((o * len + j) * inner + i);
                                };
                                double mx = -INFINITY, sum = 0;
                                for (int64_t j = 0; j < len; ++j) mx = std::max<double>(mx, X[at(j)]);
                                for (int64_t j = 0; j < len; ++j) sum += std::exp(X[at(j)] - mx);
                                for (int64_t j = 0; j < len; ++j)
                                    y[at(j)] = log ? X[at(j)] - mx - std::log(sum)
                                                   : std::exp(X[at(j)] - mx) / sum;
                            }
                        return y;
                    });
                }
}

// What the factories refuse goes to the reference kernel: unknown dims, unsupported broadcasts,
// non-float types. With {kDnnl} alone the plan fails with kUnsupported naming the node.
TEST(DnnlKernels, RefusesWhatItCannotDo) {
    auto refuse = [](const Case& c, const ir::Model& m) {
        PlanOptions opt;
        opt.backends = {Backend::kDnnl};
        auto plan = Plan::compile(m, opt);
        ASSERT_FALSE(plan) << c.label;
        EXPECT_EQ(plan.error().code(), StatusCode::kUnsupported) << c.label;
        EXPECT_NE(plan.error().message().find("'n'"), std::string::npos) << plan.error().message();
    };
    {
        Case c = makeCase("Relu", {input({2, 3})});
        ir::Model m = makeModel(c);
        m.graph->inputs()[0]->type = ir::Type::tensor(
            ir::DType::kFloat, ir::Shape{{ir::Dim::symbol("N"), ir::Dim::known(3)}});
        refuse(c, std::move(m));
    }
    {
        Case c = makeCase("MatMul", {input({2, 3, 4}), input({1, 4, 5})});
        refuse(c, makeModel(c));
    }
    {
        Case c = makeCase("MatMul", {input({4}), input({4, 5})});
        refuse(c, makeModel(c));
    }
    {
        Case c = makeCase("Add", {input({2, 1}), input({1, 3})});  // both operands broadcast
        refuse(c, makeModel(c));
    }
    {
        Case c = makeCase("Relu", {input({2, 3})});
        ir::Model m = makeModel(c);
        m.graph->inputs()[0]->type = ir::Type::tensor(
            ir::DType::kDouble, ir::Shape{{ir::Dim::known(2), ir::Dim::known(3)}});
        refuse(c, std::move(m));
    }
}

// The default backend order picks oneDNN where it can and falls back per node.
TEST(DnnlKernels, DefaultBackendsPreferDnnl) {
    Case c = makeCase("Relu", {input({2, 3})});
    auto plan = Plan::compile(makeModel(c));
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(plan->nodes()[0].backend, Backend::kDnnl);
}

TEST(DnnlKernels, ReferenceComparisonsRan) {
    // Informational: how many grid cases also compared against the reference backend.
    std::cout << "[ info ] compared with the reference backend: " << g_referenceCompared
              << " cases; no reference kernel: " << g_referenceMissing << "\n";
}

// ---- ONNX node tests with the default backends (dnnl first, reference fallback) -----------------

const std::vector<std::string>& dnnlOps() {
    static const std::vector<std::string> ops = {
        "Conv", "Gemm", "MatMul", "BatchNormalization", "MaxPool", "AveragePool",
        "GlobalAveragePool", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid",
        "HardSwish", "Add", "Sub", "Mul", "Div", "Softmax", "LogSoftmax", "Pow", "Sqrt", "LSTM",
        "GRU", "Transpose", "LayerNormalization"};
    return ops;
}

class DnnlConformance : public ::testing::TestWithParam<std::string> {};

// Like conformance::runCase, but with the default backends; counts the nodes oneDNN ran.
TEST_P(DnnlConformance, NodeTests) {
    namespace cf = wh::conformance;
    const std::string& op = GetParam();
    if (!cf::fs::exists(cf::nodeTestRoot())) GTEST_SKIP() << "libonnx-testdata missing";
    static const auto byOp = cf::foldersByOp(dnnlOps());
    auto it = byOp.find(op);
    if (it == byOp.end()) GTEST_SKIP() << "no node tests for " << op;
    int pass = 0, onDnnl = 0, skipped = 0;
    std::string failures, skips;
    for (const cf::fs::path& folder : it->second) {
        const std::string name = folder.filename().string();
        auto model = onnx::loadModel(folder / "model.onnx");
        ASSERT_TRUE(model) << name;
        for (const cf::fs::path& set : cf::detail::sortedDirs(folder, "test_data_set_")) {
            std::vector<HostTensor> inputs, expected;
            for (const auto& p : cf::detail::numberedFiles(set, "input"))
                inputs.push_back(*HostTensor::fromIr(*onnx::loadTensor(p)));
            for (const auto& p : cf::detail::numberedFiles(set, "output"))
                expected.push_back(*HostTensor::fromIr(*onnx::loadTensor(p)));
            PlanOptions opt;  // default backends: dnnl, then reference
            for (std::size_t i = 0; i < inputs.size() && i < model->graph->inputs().size(); ++i)
                opt.inputShapes[model->graph->inputs()[i]->name()] = inputs[i].dims();
            auto plan = Plan::compile(*model, opt);
            if (!plan) {
                // No kernel in either backend (reference kernel not written yet, or refused).
                ++skipped;
                skips += "\n  " + name + ": " + plan.error().message();
                break;
            }
            bool dnnl = false;
            for (const PlannedNode& n : plan->nodes()) dnnl = dnnl || n.backend == Backend::kDnnl;
            auto out = plan->run(inputs);
            if (!out) {
                failures += "\n  " + name + ": " + out.error().message();
                break;
            }
            std::string why;
            for (std::size_t i = 0; i < expected.size() && why.empty(); ++i)
                why = cf::detail::compare(plan->outputNames()[i], expected[i], (*out)[i]);
            if (!why.empty()) {
                failures += "\n  " + name + (dnnl ? " [dnnl]: " : " [ref]: ") + why;
                break;
            }
            if (set == cf::detail::sortedDirs(folder, "test_data_set_").back()) {
                ++pass;
                onDnnl += dnnl;
            }
        }
    }
    std::cout << op << ": " << pass << "/" << it->second.size() << " pass, " << onDnnl
              << " of them on oneDNN; " << skipped << " not compiled" << skips << "\n";
    EXPECT_TRUE(failures.empty()) << op << " node tests fail:" << failures;
}

INSTANTIATE_TEST_SUITE_P(Onnx, DnnlConformance, ::testing::ValuesIn(dnnlOps()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             return info.param;
                         });

}  // namespace
