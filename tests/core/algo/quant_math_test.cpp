// Quantization math: calibration observers, sample selection, RTN and GPTQ weight quantization.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "core/algo/quant/calibration.h"
#include "core/algo/quant/gptq.h"
#include "core/algo/quant/weight_quant.h"
#include "core/util/rng.h"

namespace wh::algo::quant {
namespace {

std::vector<float> normalSample(int64_t n, uint64_t seed, double sigma = 1.0) {
    Rng rng(seed);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = static_cast<float>(sigma * rng.normal());
    return v;
}

std::vector<float> uniformSample(int64_t n, uint64_t seed, double lo, double hi) {
    Rng rng(seed);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = static_cast<float>(lo + (hi - lo) * rng.uniform());
    return v;
}

RangeObserver observerOf(CalibrationMethod method, double percentile = 99.999) {
    ObserverOptions o;
    o.method = method;
    o.percentile = percentile;
    return RangeObserver(o);
}

Range rangeOf(const RangeObserver& obs, int bits, bool symmetric, bool isUnsigned = false) {
    auto r = obs.range(bits, symmetric, isUnsigned);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message());
    return r ? *r : Range{};
}

// ---- calibration ----

TEST(Calibration, MethodNamesRoundTrip) {
    for (auto m : {CalibrationMethod::kMinMax, CalibrationMethod::kPercentile,
                   CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
        auto parsed = parseCalibrationMethod(calibrationMethodName(m));
        ASSERT_TRUE(parsed.has_value());
        EXPECT_EQ(*parsed, m);
    }
    auto bad = parseCalibrationMethod("kl");
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().code(), StatusCode::kUsage);
}

TEST(Calibration, MinMaxOnKnownData) {
    RangeObserver obs = observerOf(CalibrationMethod::kMinMax);
    EXPECT_FLOAT_EQ(rangeOf(obs, 8, false).min, 0.0f);  // nothing seen: [0, 0]
    const std::vector<float> a{-1.0f, 2.0f, 0.5f}, b{3.0f, -4.0f, NAN};
    obs.observe(a);
    obs.observe(b);
    EXPECT_EQ(obs.count(), 5);  // the NaN is ignored
    Range asym = rangeOf(obs, 8, false);
    EXPECT_FLOAT_EQ(asym.min, -4.0f);
    EXPECT_FLOAT_EQ(asym.max, 3.0f);
    Range sym = rangeOf(obs, 8, true);
    EXPECT_FLOAT_EQ(sym.min, -4.0f);
    EXPECT_FLOAT_EQ(sym.max, 4.0f);

    RangeObserver positive = observerOf(CalibrationMethod::kMinMax);
    const std::vector<float> p{1.0f, 2.0f, 3.0f};
    positive.observe(p);
    Range r = rangeOf(positive, 8, false);
    EXPECT_FLOAT_EQ(r.min, 0.0f);  // the range keeps 0
    EXPECT_FLOAT_EQ(r.max, 3.0f);

    EXPECT_EQ(obs.range(1, true, false).error().code(), StatusCode::kUsage);
}

TEST(Calibration, PercentileOfUniformAndNormal) {
    RangeObserver uni = observerOf(CalibrationMethod::kPercentile, 99.0);
    const auto u = uniformSample(200000, 1, -1.0, 1.0);
    for (std::size_t i = 0; i < u.size(); i += 10000) uni.observe({u.data() + i, 10000});
    Range r = rangeOf(uni, 8, true);
    EXPECT_NEAR(r.max, 0.99, 0.01);  // |x| is uniform on [0, 1]
    EXPECT_FLOAT_EQ(r.min, -r.max);
    // Asymmetric: 0.5% cut from each tail of x: [-0.99, 0.99].
    Range a = rangeOf(uni, 8, false);
    EXPECT_NEAR(a.min, -0.99, 0.01);
    EXPECT_NEAR(a.max, 0.99, 0.01);

    RangeObserver nrm = observerOf(CalibrationMethod::kPercentile, 99.7);
    const auto z = normalSample(400000, 2);
    nrm.observe(z);
    // P(|Z| < 2.9677) = 0.997.
    EXPECT_NEAR(rangeOf(nrm, 8, true).max, 2.9677, 0.05);

    RangeObserver bad = observerOf(CalibrationMethod::kPercentile, 0.0);
    EXPECT_FALSE(bad.validate().isOk());
}

// A standard normal sample with a few huge outliers: the max is 100 sigma.
std::vector<float> gaussianWithOutliers() {
    auto v = normalSample(200000, 3);
    for (int i = 0; i < 5; ++i) {
        v[static_cast<std::size_t>(i * 1000)] = 100.0f;
        v[static_cast<std::size_t>(i * 1000 + 1)] = -90.0f;
    }
    return v;
}

TEST(Calibration, EntropyAndMseClipOutliers) {
    const auto v = gaussianWithOutliers();
    for (auto method : {CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
        RangeObserver obs = observerOf(method);
        for (std::size_t i = 0; i < v.size(); i += 20000) obs.observe({v.data() + i, 20000});
        // At 8 bits the MSE is right to keep these outliers: the rounding MSE of the full range,
        // (100/127)^2 / 12 = 0.05, is below the clipping cost of 10 outliers of ~100 in 2e5
        // values (~0.4). Fewer bits make the steps coarse enough that clipping pays.
        const std::vector<int> bitsList =
            method == CalibrationMethod::kMse ? std::vector<int>{6, 4} : std::vector<int>{8, 4};
        for (int bits : bitsList) {
            Range r = rangeOf(obs, bits, true);
            SCOPED_TRACE(std::string(calibrationMethodName(method)) + " bits " +
                         std::to_string(bits) + " range [" + std::to_string(r.min) + ", " +
                         std::to_string(r.max) + "]");
            EXPECT_FLOAT_EQ(r.min, -r.max);
            // Keeps the bulk: above 3 sigma at 6 and 8 bits; at 4 bits the best clip of a
            // Gaussian is about 2.55 sigma (Banner et al. 2019), so above 2.
            EXPECT_GT(r.max, bits == 4 ? 2.0f : 3.0f);
            EXPECT_LT(r.max, 50.0f);  // well below the outliers at 100
            Range a = rangeOf(obs, bits, false, true);
            EXPECT_LE(a.min, 0.0f);
            EXPECT_GE(a.max, 0.0f);
            EXPECT_LT(a.max, 50.0f);
            EXPECT_GT(a.max, 2.0f);
        }
    }
    // Non-negative data (after a ReLU) on an asymmetric grid: [0, t], t between 3 and 50.
    std::vector<float> relu = v;
    for (float& x : relu) x = std::max(x, 0.0f);
    for (auto method : {CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
        RangeObserver obs = observerOf(method);
        obs.observe(relu);
        Range r = rangeOf(obs, method == CalibrationMethod::kMse ? 4 : 8, false, true);
        EXPECT_FLOAT_EQ(r.min, 0.0f) << calibrationMethodName(method);
        EXPECT_GT(r.max, 3.0f) << calibrationMethodName(method);
        // The KL search on a histogram stretched to the outliers is coarse (2048 bins over
        // [-100, 100]; entropy lands near 50 here), but still well below the max.
        EXPECT_LT(r.max, 60.0f) << calibrationMethodName(method);
    }
}

TEST(Calibration, HistogramWidensForLaterBatches) {
    // Batch 1 in [-1, 1], batch 2 in [-10, 10]: the histogram must widen (T: 1 -> 16).
    const auto small = uniformSample(100000, 4, -1.0, 1.0);
    const auto large = uniformSample(100000, 5, -10.0, 10.0);
    RangeObserver minmax = observerOf(CalibrationMethod::kMinMax);
    RangeObserver pct = observerOf(CalibrationMethod::kPercentile, 75.0);
    RangeObserver full = observerOf(CalibrationMethod::kPercentile, 100.0);
    for (RangeObserver* o : {&minmax, &pct, &full}) {
        o->observe(small);
        o->observe(large);
    }
    EXPECT_GE(pct.histogramLimit(), 10.0);
    double total = 0.0;
    for (double h : pct.histogram()) total += h;
    EXPECT_DOUBLE_EQ(total, static_cast<double>(pct.count()));
    // Same min and max as the plain min/max observer.
    EXPECT_EQ(pct.observedMin(), minmax.observedMin());
    EXPECT_EQ(pct.observedMax(), minmax.observedMax());
    Range mm = rangeOf(minmax, 8, false);
    Range f = rangeOf(full, 8, false);
    EXPECT_FLOAT_EQ(f.min, mm.min);
    EXPECT_FLOAT_EQ(f.max, mm.max);
    // |x|: half uniform on [0, 1], half on [0, 10]: CDF(t) = 0.5 + t / 20 for t >= 1 -> t = 5.
    EXPECT_NEAR(rangeOf(pct, 8, true).max, 5.0, 0.15);

    // Zeros first: they wait for the histogram and are counted once it exists.
    RangeObserver z = observerOf(CalibrationMethod::kEntropy);
    const std::vector<float> zeros(10, 0.0f), ones{1.0f, -1.0f};
    z.observe(zeros);
    z.observe(ones);
    double zt = 0.0;
    for (double h : z.histogram()) zt += h;
    EXPECT_DOUBLE_EQ(zt, 12.0);
}

TEST(Calibration, ScaleZeroPoint) {
    auto [s1, z1] = scaleZeroPoint({-2.0f, 1.0f}, 8, true, false);
    EXPECT_FLOAT_EQ(s1, 2.0f / 127.0f);
    EXPECT_EQ(z1, 0.0f);
    auto [s2, z2] = scaleZeroPoint({-2.0f, 1.0f}, 8, true, true);
    EXPECT_FLOAT_EQ(s2, 4.0f / 255.0f);
    EXPECT_EQ(z2, 128.0f);
    auto [s3, z3] = scaleZeroPoint({-1.0f, 3.0f}, 8, false, true);
    EXPECT_FLOAT_EQ(s3, 4.0f / 255.0f);
    EXPECT_EQ(z3, 64.0f);  // round(1 / (4/255)) = round(63.75)
    auto [s4, z4] = scaleZeroPoint({-1.0f, 3.0f}, 8, false, false);
    EXPECT_FLOAT_EQ(s4, 4.0f / 255.0f);
    EXPECT_EQ(z4, -64.0f);  // round(-128 + 63.75)
    auto [s5, z5] = scaleZeroPoint({0.0f, 0.0f}, 8, false, true);
    EXPECT_EQ(s5, 1.0f);
    EXPECT_EQ(z5, 0.0f);
}

// ---- sample selection ----

TEST(BalancedSamples, EvenPerClassAndRepeatable) {
    std::vector<int64_t> labels;
    for (int i = 0; i < 85; ++i) labels.push_back(i % 17 < 10 ? 7 : (i % 17 < 16 ? 3 : 9));
    int64_t sizes[3] = {0, 0, 0};  // labels 3, 7, 9
    for (int64_t l : labels) ++sizes[l == 3 ? 0 : l == 7 ? 1 : 2];
    ASSERT_EQ(sizes[2], 5);

    auto countOf = [&](const std::vector<int64_t>& idx) {
        std::vector<int64_t> c(3, 0);
        for (int64_t i : idx) {
            const int64_t l = labels[static_cast<std::size_t>(i)];
            ++c[l == 3 ? 0 : l == 7 ? 1 : 2];
        }
        return c;
    };
    auto twelve = balancedSampleIndices(labels, 12, 42);
    EXPECT_EQ(countOf(twelve), (std::vector<int64_t>{4, 4, 4}));
    // Round-robin by ascending label: every prefix is balanced.
    EXPECT_EQ(labels[static_cast<std::size_t>(twelve[0])], 3);
    EXPECT_EQ(labels[static_cast<std::size_t>(twelve[1])], 7);
    EXPECT_EQ(labels[static_cast<std::size_t>(twelve[2])], 9);

    // The small class gives all it has; the others share the rest (27 + 28 in some order).
    auto sixty = balancedSampleIndices(labels, 60, 42);
    auto c = countOf(sixty);
    EXPECT_EQ(c[2], 5);
    EXPECT_EQ(c[0] + c[1], 55);
    EXPECT_LE(std::abs(c[0] - c[1]), 1);
    EXPECT_EQ(std::set<int64_t>(sixty.begin(), sixty.end()).size(), 60u);

    EXPECT_EQ(balancedSampleIndices(labels, 60, 42), sixty);  // repeatable
    EXPECT_NE(balancedSampleIndices(labels, 60, 43), sixty);  // seeded
    auto all = balancedSampleIndices(labels, 1000, 1);
    EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), labels.size());
    EXPECT_TRUE(balancedSampleIndices(labels, 0, 1).empty());
}

// ---- RTN ----

ir::Tensor randomTensor(std::vector<int64_t> dims, uint64_t seed) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return ir::Tensor::fromFloats("w", dims, normalSample(n, seed, 0.5));
}

void expectRoundTrip(const WeightMatrix& m, const QuantizedWeight& q, const char* what) {
    SCOPED_TRACE(std::string(what) + ": rows " + std::to_string(q.rows) + " cols " +
                 std::to_string(q.cols) + " bits " + std::to_string(q.bits) + " group " +
                 std::to_string(q.groupSize));
    const int32_t qmin =
        q.isUnsigned ? (q.narrowRange ? 1 : 0) : -(1 << (q.bits - 1)) + (q.narrowRange ? 1 : 0);
    const int32_t qmax = q.isUnsigned ? (1 << q.bits) - 1 : (1 << (q.bits - 1)) - 1;
    int bad = 0;
    for (int64_t r = 0; r < q.rows; ++r)
        for (int64_t c = 0; c < q.cols; ++c) {
            const int32_t code = q.codes[static_cast<std::size_t>(r * q.cols + c)];
            const float err = std::fabs(m.at(r, c) - q.value(r, c));
            if (code < qmin || code > qmax || err > q.scale(r, c) * 0.5f * (1 + 1e-5f) + 1e-7f)
                ++bad;
            EXPECT_GT(q.scale(r, c), 0.0f);
            const int32_t zp = q.zeroPoint(r, c);
            EXPECT_TRUE(zp >= qmin && zp <= qmax) << zp;
        }
    EXPECT_EQ(bad, 0);
}

TEST(WeightRtn, PerChannelAndPerGroupRoundTrip) {
    const ir::Tensor conv = randomTensor({8, 3, 3, 3}, 10);
    auto m = weightMatrix(conv, false);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->rows, 8);
    EXPECT_EQ(m->cols, 27);
    for (bool narrow : {false, true}) {
        WeightQuantOptions o;
        o.narrowRange = narrow;
        auto q = quantizeRtn(*m, o);
        ASSERT_TRUE(q.has_value());
        EXPECT_TRUE(q->zeroPoints.empty());
        EXPECT_EQ(q->scales.size(), 8u);
        expectRoundTrip(*m, *q, "int8 per channel");
        // The row's largest |w| lands on ±127.
        const int32_t peak =
            *std::max_element(q->codes.begin(), q->codes.begin() + 27,
                              [](int32_t a, int32_t b) { return std::abs(a) < std::abs(b); });
        EXPECT_EQ(std::abs(peak), 127);
    }
    const ir::Tensor gemm = randomTensor({6, 50}, 11);
    auto g = weightMatrix(gemm, false);
    ASSERT_TRUE(g.has_value());
    for (int bits : {4, 3}) {
        WeightQuantOptions o;
        o.bits = bits;
        o.symmetric = false;
        o.groupSize = 16;  // 4 groups, the last of 2 columns
        auto q = quantizeRtn(*g, o);
        ASSERT_TRUE(q.has_value());
        EXPECT_EQ(q->groups(), 4);
        EXPECT_TRUE(q->isUnsigned);
        EXPECT_EQ(q->zeroPoints.size(), 24u);
        expectRoundTrip(*g, *q, "asymmetric per group");
        // 0 is exact on an asymmetric grid with an integral zero point.
        for (std::size_t i = 0; i < q->zeroPoints.size(); ++i)
            EXPECT_EQ(static_cast<float>(q->zeroPoints[i] - q->zeroPoints[i]) * q->scales[i], 0.0f);
    }
    WeightQuantOptions bad;
    bad.bits = 1;
    EXPECT_EQ(quantizeRtn(*g, bad).error().code(), StatusCode::kUsage);
}

TEST(WeightRtn, TransposedViewAndDequantize) {
    // MatMul B [K = 3, N = 2]: view rows = N, cols = K.
    const ir::Tensor b = ir::Tensor::fromFloats("b", {3, 2}, {0.f, 1.f, 2.f, 3.f, 4.f, -5.f});
    auto m = weightMatrix(b, true);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->rows, 2);
    EXPECT_EQ(m->cols, 3);
    EXPECT_EQ(m->at(0, 1), 2.f);
    EXPECT_EQ(m->at(1, 2), -5.f);
    WeightQuantOptions o;
    o.bits = 16;
    auto q = quantizeRtn(*m, o);
    ASSERT_TRUE(q.has_value());
    expectRoundTrip(*m, *q, "transposed");
    const ir::Tensor back = dequantize(*q, "b_dq");
    EXPECT_EQ(back.dims, (std::vector<int64_t>{3, 2}));
    EXPECT_EQ(back.name, "b_dq");
    const auto orig = b.values<float>(), got = back.values<float>();
    for (std::size_t i = 0; i < orig.size(); ++i) EXPECT_NEAR(got[i], orig[i], 1e-3) << i;

    ir::Tensor ints;
    ints.dtype = ir::DType::kInt32;
    ints.dims = {2, 2};
    EXPECT_EQ(weightMatrix(ints, false).error().code(), StatusCode::kBadInput);
    EXPECT_EQ(weightMatrix(randomTensor({2, 2, 2}, 1), true).error().code(), StatusCode::kBadInput);
}

// ---- GPTQ ----

// X [n, k] with strongly correlated features of unequal scale; W [rows, k].
struct Problem {
    int64_t n, k, rows;
    std::vector<float> x;
    WeightMatrix w;
};

Problem correlatedProblem(int64_t n, int64_t k, int64_t rows, uint64_t seed) {
    Problem p{n, k, rows, {}, {}};
    Rng rng(seed);
    std::vector<double> mix(static_cast<std::size_t>(k * k));
    for (double& v : mix) v = rng.normal();
    p.x.resize(static_cast<std::size_t>(n * k));
    std::vector<double> z(static_cast<std::size_t>(k));
    for (int64_t i = 0; i < n; ++i) {
        // A few shared latent factors plus a little noise: features are highly correlated.
        for (double& v : z) v = rng.normal();
        for (int64_t j = 0; j < k; ++j) {
            double s = 0.1 * z[static_cast<std::size_t>(j)];
            for (int64_t f = 0; f < 4; ++f)
                s += mix[static_cast<std::size_t>(j * k + f)] * z[static_cast<std::size_t>(f)];
            p.x[static_cast<std::size_t>(i * k + j)] = static_cast<float>(s * (1.0 + j % 5));
        }
    }
    auto t = ir::Tensor::fromFloats("w", {rows, k}, normalSample(rows * k, seed + 1));
    p.w = *weightMatrix(t, false);
    return p;
}

// || X Wᵀ - X Ŵᵀ ||_F
double outputError(const Problem& p, const QuantizedWeight& q) {
    double e = 0.0;
    for (int64_t i = 0; i < p.n; ++i)
        for (int64_t r = 0; r < p.rows; ++r) {
            double d = 0.0;
            for (int64_t j = 0; j < p.k; ++j)
                d += p.x[static_cast<std::size_t>(i * p.k + j)] * (p.w.at(r, j) - q.value(r, j));
            e += d * d;
        }
    return std::sqrt(e);
}

TEST(Gptq, HessianIsTwiceTheMeanOuterProduct) {
    const std::vector<float> x{1.f, 2.f, 0.f, -1.f, 3.f, 1.f};  // 3 rows of 2
    HessianAccumulator h(2);
    h.add(x.data(), 1);
    h.add(x.data() + 2, 2);
    // Σ x xᵀ = [[1+0+9, 2+0+3], [., 4+1+1]] = [[10, 5], [5, 6]]; H = 2/3 of that.
    EXPECT_EQ(h.rowsSeen(), 3);
    EXPECT_NEAR(h.hessian()[0], 20.0 / 3, 1e-12);
    EXPECT_NEAR(h.hessian()[1], 10.0 / 3, 1e-12);
    EXPECT_NEAR(h.hessian()[2], 10.0 / 3, 1e-12);
    EXPECT_NEAR(h.hessian()[3], 4.0, 1e-12);
    HessianAccumulator a(2), b(2);
    a.add(x.data(), 1);
    b.add(x.data() + 2, 2);
    a.merge(b);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(a.hessian()[i], h.hessian()[i], 1e-12);
}

TEST(Gptq, BeatsRtnOnCorrelatedInputs) {
    Problem p = correlatedProblem(2048, 64, 32, 20);
    HessianAccumulator h(p.k);
    h.add(p.x.data(), 1000);
    h.add(p.x.data() + 1000 * p.k, p.n - 1000);
    for (int64_t group : {int64_t{0}, int64_t{32}}) {
        for (bool symmetric : {true, false}) {
            WeightQuantOptions o;
            o.bits = 4;
            o.groupSize = group;
            o.symmetric = symmetric;
            auto rtn = quantizeRtn(p.w, o);
            ASSERT_TRUE(rtn.has_value());
            const double rtnErr = outputError(p, *rtn);
            for (bool actOrder : {false, true}) {
                GptqOptions g;
                g.actOrder = actOrder;
                g.blockSize = 16;  // several blocks, and groups spanning blocks
                auto q = quantizeGptq(p.w, h, o, g);
                ASSERT_TRUE(q.has_value()) << q.error().message();
                const double err = outputError(p, *q);
                SCOPED_TRACE("group " + std::to_string(group) + " symmetric " +
                             std::to_string(symmetric) + " actOrder " + std::to_string(actOrder) +
                             ": gptq " + std::to_string(err) + " rtn " + std::to_string(rtnErr));
                EXPECT_LT(err, 0.8 * rtnErr);
                const int32_t lo = symmetric ? -8 : 0, hi = symmetric ? 7 : 15;
                for (int32_t c : q->codes) ASSERT_TRUE(c >= lo && c <= hi) << c;
                EXPECT_EQ(q->groups(), group == 0 ? 1 : 2);
            }
        }
    }
}

TEST(Gptq, HugeDampingIsRtnAndDeadColumnsAreZero) {
    Problem p = correlatedProblem(256, 16, 8, 30);
    HessianAccumulator h(p.k);
    h.add(p.x.data(), p.n);
    WeightQuantOptions o;
    o.bits = 4;
    GptqOptions g;
    g.damp = 1e9;  // H ≈ c I: no error is propagated, GPTQ degenerates to RTN
    auto q = quantizeGptq(p.w, h, o, g);
    auto rtn = quantizeRtn(p.w, o);
    ASSERT_TRUE(q && rtn);
    EXPECT_EQ(q->codes, rtn->codes);
    EXPECT_EQ(q->scales, rtn->scales);

    // Input feature 3 is always 0: its weights are quantized as 0.
    for (int64_t i = 0; i < p.n; ++i) p.x[static_cast<std::size_t>(i * p.k + 3)] = 0.0f;
    HessianAccumulator hd(p.k);
    hd.add(p.x.data(), p.n);
    o.symmetric = false;
    auto qd = quantizeGptq(p.w, hd, o, {});
    ASSERT_TRUE(qd.has_value()) << qd.error().message();
    for (int64_t r = 0; r < p.rows; ++r) EXPECT_EQ(qd->value(r, 3), 0.0f) << r;

    HessianAccumulator wrong(p.k + 1);
    EXPECT_EQ(quantizeGptq(p.w, wrong, o, {}).error().code(), StatusCode::kUsage);
}

// ---- im2col ----

TEST(Gptq, Im2colRowsReproduceAGroupedConv) {
    // x [2, 4, 5, 6], W [6, 2, 3, 2], group 2, strides (2, 1), pads (1, 0, 0, 1), dilations (1, 2).
    const std::vector<int64_t> xd{2, 4, 5, 6}, wd{6, 2, 3, 2};
    const auto x = normalSample(2 * 4 * 5 * 6, 40);
    const auto w = normalSample(6 * 2 * 3 * 2, 41);
    ConvGeometry geo;
    geo.strides = {2, 1};
    geo.pads = {1, 0, 0, 1};
    geo.dilations = {1, 2};
    geo.group = 2;
    const int64_t oh = (5 + 1 + 0 - 3) / 2 + 1, ow = (6 + 0 + 1 - 3) / 1 + 1;  // 2 and 5
    const int64_t cols = 2 * 3 * 2;
    for (int64_t g = 0; g < 2; ++g) {
        auto rows = im2colRows(x, xd, wd, geo, g);
        ASSERT_TRUE(rows.has_value()) << rows.error().message();
        ASSERT_EQ(static_cast<int64_t>(rows->size()), 2 * oh * ow * cols);
        for (int64_t n = 0; n < 2; ++n)
            for (int64_t o = g * 3; o < g * 3 + 3; ++o)
                for (int64_t y = 0; y < oh; ++y)
                    for (int64_t xx = 0; xx < ow; ++xx) {
                        double direct = 0.0;  // the Conv by its definition
                        for (int64_t c = 0; c < 2; ++c)
                            for (int64_t ky = 0; ky < 3; ++ky)
                                for (int64_t kx = 0; kx < 2; ++kx) {
                                    const int64_t iy = y * 2 - 1 + ky, ix = xx - 0 + kx * 2;
                                    if (iy < 0 || iy >= 5 || ix < 0 || ix >= 6) continue;
                                    direct += x[static_cast<std::size_t>(
                                                  ((n * 4 + g * 2 + c) * 5 + iy) * 6 + ix)] *
                                              w[static_cast<std::size_t>(
                                                  ((o * 2 + c) * 3 + ky) * 2 + kx)];
                                }
                        double viaRows = 0.0;
                        const int64_t row = (n * oh + y) * ow + xx;
                        for (int64_t j = 0; j < cols; ++j)
                            viaRows += (*rows)[static_cast<std::size_t>(row * cols + j)] *
                                       w[static_cast<std::size_t>(o * cols + j)];
                        EXPECT_NEAR(viaRows, direct, 1e-5)
                            << "n " << n << " o " << o << " y " << y << " x " << xx;
                    }
    }
    ConvGeometry bad = geo;
    bad.group = 3;
    EXPECT_EQ(im2colRows(x, xd, wd, bad, 0).error().code(), StatusCode::kBadInput);
    bad = geo;
    bad.pads = {1, 0};
    EXPECT_EQ(im2colRows(x, xd, wd, bad, 0).error().code(), StatusCode::kBadInput);
}

}  // namespace
}  // namespace wh::algo::quant
