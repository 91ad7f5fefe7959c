#include "core/algo/quant/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "core/util/rng.h"

namespace wh::algo::quant {

namespace {

constexpr double kSmoothEps = 1e-4;  // ONNX Runtime's smooth_distribution eps (on counts)

Status checkBits(int bits) {
    if (bits < 2 || bits > 16)
        return makeStatus(StatusCode::kUsage, "calibration: bits must be in [2, 16], got {}", bits);
    return Status::ok();
}

struct Grid {
    double qmin;
    double qmax;
};

Grid gridOf(int bits, bool isUnsigned) {
    if (isUnsigned) return {0.0, std::ldexp(1.0, bits) - 1.0};
    return {-std::ldexp(1.0, bits - 1), std::ldexp(1.0, bits - 1) - 1.0};
}

// Squared error of quantize-dequantize of x with (scale, zeroPoint) on the grid.
double quantError(double x, double scale, double zeroPoint, Grid grid) {
    const double q = std::clamp(std::nearbyint(x / scale) + zeroPoint, grid.qmin, grid.qmax);
    const double d = x - (q - zeroPoint) * scale;
    return d * d;
}

// ONNX Runtime's smooth_distribution: move eps of mass onto empty bins, taken evenly from the
// others, so that KL(P || Q) stays finite. Returns false when every bin is empty.
bool smooth(std::vector<double>& p) {
    const auto zeros = static_cast<double>(std::count(p.begin(), p.end(), 0.0));
    const double nonzeros = static_cast<double>(p.size()) - zeros;
    if (nonzeros == 0.0) return false;
    const double eps1 = kSmoothEps * zeros / nonzeros;
    for (double& v : p) v = v == 0.0 ? kSmoothEps : std::max(v - eps1, kSmoothEps * 1e-3);
    return true;
}

// KL(P || Q) for the histogram slice [start, end) quantized into `levels` bins; P folds the
// outliers into the slice's first and last bins, Q is the slice (without outliers) merged into
// `levels` groups and spread back over the nonzero bins of P (TensorRT / ONNX Runtime).
double sliceDivergence(const std::vector<double>& hist, int64_t start, int64_t end,
                       int64_t levels) {
    const int64_t n = end - start;
    std::vector<double> p(hist.begin() + start, hist.begin() + end);
    p.front() += std::accumulate(hist.begin(), hist.begin() + start, 0.0);
    p.back() += std::accumulate(hist.begin() + end, hist.end(), 0.0);

    std::vector<double> q(static_cast<std::size_t>(n), 0.0);
    // Level g covers bins [g n / levels, (g + 1) n / levels): every level gets its share, as the
    // quantizer's levels are equally wide (TensorRT and ONNX Runtime give the last level all the
    // remainder, up to levels - 1 extra bins, which near n = levels makes Q a poor model of the
    // grid and the divergence favour thresholds that clip too much).
    for (int64_t g = 0; g < levels; ++g) {
        const int64_t b = g * n / levels;
        const int64_t e = (g + 1) * n / levels;
        double mass = 0.0;
        int64_t nonzero = 0;
        for (int64_t j = b; j < e; ++j) {
            mass += hist[static_cast<std::size_t>(start + j)];
            nonzero += p[static_cast<std::size_t>(j)] != 0.0;
        }
        if (nonzero == 0) continue;
        for (int64_t j = b; j < e; ++j)
            if (p[static_cast<std::size_t>(j)] != 0.0)
                q[static_cast<std::size_t>(j)] = mass / static_cast<double>(nonzero);
    }
    if (!smooth(p) || !smooth(q)) return std::numeric_limits<double>::infinity();
    const double ps = std::accumulate(p.begin(), p.end(), 0.0);
    const double qs = std::accumulate(q.begin(), q.end(), 0.0);
    double kl = 0.0;
    for (std::size_t j = 0; j < p.size(); ++j) {
        const double pn = p[j] / ps, qn = q[j] / qs;
        kl += pn * std::log(pn / qn);
    }
    return kl;
}

Range withZero(double lo, double hi) {
    return {static_cast<float>(std::min(lo, 0.0)), static_cast<float>(std::max(hi, 0.0))};
}

}  // namespace

std::string_view calibrationMethodName(CalibrationMethod method) {
    switch (method) {
        case CalibrationMethod::kMinMax:
            return "minmax";
        case CalibrationMethod::kPercentile:
            return "percentile";
        case CalibrationMethod::kEntropy:
            return "entropy";
        case CalibrationMethod::kMse:
            return "mse";
    }
    return "minmax";
}

Expected<CalibrationMethod> parseCalibrationMethod(std::string_view name) {
    for (auto m : {CalibrationMethod::kMinMax, CalibrationMethod::kPercentile,
                   CalibrationMethod::kEntropy, CalibrationMethod::kMse})
        if (calibrationMethodName(m) == name) return m;
    return error(StatusCode::kUsage,
                 "unknown calibration method '{}' (expected minmax, percentile, entropy or mse)",
                 name);
}

RangeObserver::RangeObserver(ObserverOptions options)
    : m_options(options),
      m_min(std::numeric_limits<float>::infinity()),
      m_max(-std::numeric_limits<float>::infinity()) {
    m_options.numBins = std::max<int64_t>(16, (m_options.numBins + 3) / 4 * 4);
}

Status RangeObserver::validate() const {
    if (!(m_options.percentile > 0.0 && m_options.percentile <= 100.0))
        return makeStatus(StatusCode::kUsage, "calibration: percentile must be in (0, 100], got {}",
                          m_options.percentile);
    return Status::ok();
}

void RangeObserver::widenTo(double absMax) {
    // Doubling T maps old bin 2k and 2k+1 onto new bin B/4 + k: with T = B w / 2 the old left
    // edge -T sits at new position (-T + 2T) / 2w = B/4, and two old bins make one new bin.
    const auto bins = static_cast<std::size_t>(m_options.numBins);
    while (absMax > m_limit) {
        std::vector<double> merged(bins, 0.0);
        for (std::size_t k = 0; k < bins / 2; ++k)
            merged[bins / 4 + k] = m_hist[2 * k] + m_hist[2 * k + 1];
        m_hist.swap(merged);
        m_limit *= 2.0;
    }
}

void RangeObserver::observe(std::span<const float> values) {
    float lo = std::numeric_limits<float>::infinity();
    float hi = -lo;
    int64_t finite = 0, zeros = 0;
    for (float v : values) {
        if (!std::isfinite(v)) continue;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        ++finite;
        zeros += v == 0.0f;
    }
    if (finite == 0) return;
    m_count += finite;
    m_min = std::min(m_min, lo);
    m_max = std::max(m_max, hi);
    if (m_options.method == CalibrationMethod::kMinMax) return;
    m_zeros += zeros;

    const auto bins = m_options.numBins;
    const double absMax =
        std::max(std::fabs(static_cast<double>(lo)), std::fabs(static_cast<double>(hi)));
    if (absMax == 0.0 && m_limit == 0.0) {
        m_pendingZeros += finite;
        return;
    }
    if (m_limit == 0.0) {
        m_limit = absMax;
        m_hist.assign(static_cast<std::size_t>(bins), 0.0);
        m_hist[static_cast<std::size_t>(bins / 2)] += static_cast<double>(m_pendingZeros);
        m_pendingZeros = 0;
    } else {
        widenTo(absMax);
    }
    const double perUnit = static_cast<double>(bins) / (2.0 * m_limit);
    for (float v : values) {
        if (!std::isfinite(v)) continue;
        const auto idx = static_cast<int64_t>(std::floor((v + m_limit) * perUnit));
        m_hist[static_cast<std::size_t>(std::clamp<int64_t>(idx, 0, bins - 1))] += 1.0;
    }
}

// The value below which a fraction p of the (|x| when symmetric, else x) mass lies, interpolated
// linearly inside the bin. Symmetric: returns T. Asymmetric: returns hi and writes lo.
double RangeObserver::percentileRange(double p, bool symmetric, double* lo) const {
    const auto bins = static_cast<int64_t>(m_hist.size());
    const double width = 2.0 * m_limit / static_cast<double>(bins);
    auto quantile = [&](const std::vector<double>& h, double origin, double fraction) {
        const double total = std::accumulate(h.begin(), h.end(), 0.0);
        const double target = fraction * total;
        double cum = 0.0;
        for (std::size_t i = 0; i < h.size(); ++i) {
            if (h[i] > 0.0 && cum + h[i] >= target) {
                const double f = std::clamp((target - cum) / h[i], 0.0, 1.0);
                return origin + (static_cast<double>(i) + f) * width;
            }
            cum += h[i];
        }
        return origin + static_cast<double>(h.size()) * width;
    };
    if (symmetric) {
        std::vector<double> folded(static_cast<std::size_t>(bins / 2));
        for (int64_t k = 0; k < bins / 2; ++k)
            folded[static_cast<std::size_t>(k)] =
                m_hist[static_cast<std::size_t>(bins / 2 + k)] +
                m_hist[static_cast<std::size_t>(bins / 2 - 1 - k)];
        return quantile(folded, 0.0, p);
    }
    const double tail = (1.0 - p) / 2.0;
    *lo = quantile(m_hist, -m_limit, tail);
    return quantile(m_hist, -m_limit, 1.0 - tail);
}

Range RangeObserver::entropyRange(int bits, bool symmetric) const {
    const int64_t levels = (int64_t{1} << bits) - 1;
    const bool oneSided = !symmetric && m_min >= 0.0f;
    // The levels that serve the positive side of a candidate slice: all of them for
    // non-negative data on an asymmetric grid, half for the symmetric slices.
    const int64_t sideLevels = oneSided ? levels : (levels + 1) / 2;
    const int64_t bins = static_cast<int64_t>(m_hist.size());
    const int64_t zero = bins / 2;
    const double fineWidth = 2.0 * m_limit / static_cast<double>(bins);

    // Exact zeros (most of a ReLU's output) leave the distribution: every grid here holds 0
    // exactly, so they cost nothing whatever the threshold, yet as a spike in bin [0, w) that Q
    // flattens over the first level they push the search to narrow slices. (TensorRT's
    // calibrator flattens that bin for the same reason.)
    std::vector<double> fine = m_hist;
    fine[static_cast<std::size_t>(zero)] =
        std::max(0.0, fine[static_cast<std::size_t>(zero)] - static_cast<double>(m_zeros));

    // How hard the divergence clips depends on how many bins a level spans: the more, the more
    // Q's flattening inside a level costs a wide slice against the mass a narrow one clips.
    // With 4 bins per level over the data, MobileNetV2-tiny's ReLU6 outputs were clipped to a
    // third of their range (-0.5 pt) and ResNet-20 lost 0.6 pt; with 2 or fewer, under 0.1. So
    // the search runs on the histogram coarsened, symmetrically about 0, until the bulk of the
    // data (|x| up to its 99.99th percentile: rare outliers must not set the resolution, or
    // they could never be clipped) spans at most 2 bins per level.
    std::vector<double> magnitude(static_cast<std::size_t>(zero), 0.0);
    for (int64_t k = 0; k < zero; ++k)
        magnitude[static_cast<std::size_t>(k)] = fine[static_cast<std::size_t>(zero + k)] +
                                                 fine[static_cast<std::size_t>(zero - 1 - k)];
    const double total = std::accumulate(magnitude.begin(), magnitude.end(), 0.0);
    int64_t extent = 0;  // bins from 0 holding all but 1e-4 of the nonzero values
    for (double cum = 0.0; extent < zero && cum < (1.0 - 1e-4) * total; ++extent)
        cum += magnitude[static_cast<std::size_t>(extent)];
    const int64_t f = std::max<int64_t>(1, (extent + 2 * sideLevels - 1) / (2 * sideLevels));
    const int64_t half = (zero + f - 1) / f;
    std::vector<double> hist(static_cast<std::size_t>(2 * half), 0.0);
    for (int64_t k = 0; k < zero; ++k) {
        hist[static_cast<std::size_t>(half + k / f)] += fine[static_cast<std::size_t>(zero + k)];
        hist[static_cast<std::size_t>(half - 1 - k / f)] +=
            fine[static_cast<std::size_t>(zero - 1 - k)];
    }
    const double width = fineWidth * static_cast<double>(f);

    // Candidate slices: [half - i, half + i) (threshold ±i w), or [half, half + i) one-sided.
    if (sideLevels > half) return withZero(m_min, m_max);  // finer grid than histogram: keep all
    double best = std::numeric_limits<double>::infinity();
    int64_t bestI = half;
    for (int64_t i = sideLevels; i <= half; ++i) {
        const int64_t start = oneSided ? half : half - i;
        const double kl = sliceDivergence(hist, start, half + i, levels);
        if (kl < best) {
            best = kl;
            bestI = i;
        }
    }
    const double t = static_cast<double>(bestI) * width;
    return withZero(std::max(-t, static_cast<double>(m_min)),
                    std::min(t, static_cast<double>(m_max)));
}

Range RangeObserver::mseRange(int bits, bool symmetric, bool isUnsigned) const {
    const auto bins = static_cast<int64_t>(m_hist.size());
    const double width = 2.0 * m_limit / static_cast<double>(bins);
    const double lo0 = std::min(static_cast<double>(m_min), 0.0);
    const double hi0 = std::max(static_cast<double>(m_max), 0.0);
    const double amax = std::max(-lo0, hi0);
    // Bins and the points inside each where the error is sampled (bins are often about as wide
    // as a quantization step, so one point per bin would alias).
    constexpr int kSub = 4;
    constexpr int kCandidates = 256;
    const Grid grid = gridOf(bits, isUnsigned);
    double best = std::numeric_limits<double>::infinity();
    Range bestRange = withZero(lo0, hi0);
    for (int k = 1; k <= kCandidates; ++k) {
        const double a = static_cast<double>(k) / kCandidates;
        const Range r = symmetric
                            ? Range{static_cast<float>(-a * amax), static_cast<float>(a * amax)}
                            : withZero(a * lo0, a * hi0);
        const auto [scale, zp] = scaleZeroPoint(r, bits, symmetric, isUnsigned);
        double err = 0.0;
        for (int64_t b = 0; b < bins && err < best; ++b) {
            const double n = m_hist[static_cast<std::size_t>(b)];
            if (n == 0.0) continue;
            const double left = -m_limit + static_cast<double>(b) * width;
            double e = 0.0;
            for (int s = 0; s < kSub; ++s) {
                // Points spread over the bin, kept inside the observed range.
                const double x = std::clamp(left + (s + 0.5) * width / kSub, lo0, hi0);
                e += quantError(x, scale, zp, grid);
            }
            err += n * e / kSub;
        }
        if (err < best) {
            best = err;
            bestRange = r;
        }
    }
    return bestRange;
}

Expected<Range> RangeObserver::range(int bits, bool symmetric, bool isUnsigned) const {
    WH_RETURN_IF_ERROR(checkBits(bits));
    WH_RETURN_IF_ERROR(validate());
    if (m_count == 0) return Range{};
    const double lo0 = std::min(static_cast<double>(m_min), 0.0);
    const double hi0 = std::max(static_cast<double>(m_max), 0.0);
    Range r = withZero(lo0, hi0);
    if (m_options.method != CalibrationMethod::kMinMax && m_limit > 0.0) {
        switch (m_options.method) {
            case CalibrationMethod::kMinMax:
                break;
            case CalibrationMethod::kPercentile: {
                double lo = 0.0;
                const double hi = percentileRange(m_options.percentile / 100.0, symmetric, &lo);
                r = symmetric ? withZero(-hi, hi) : withZero(std::max(lo, lo0), std::min(hi, hi0));
                break;
            }
            case CalibrationMethod::kEntropy:
                r = entropyRange(bits, symmetric);
                break;
            case CalibrationMethod::kMse:
                r = mseRange(bits, symmetric, isUnsigned);
                break;
        }
    }
    if (symmetric) {
        const float t = std::max(-r.min, r.max);
        const float amax = static_cast<float>(std::max(-lo0, hi0));
        r = {-std::min(t, amax), std::min(t, amax)};
    }
    return r;
}

std::pair<float, float> scaleZeroPoint(Range range, int bits, bool symmetric, bool isUnsigned) {
    const double lo = std::min(static_cast<double>(range.min), 0.0);
    const double hi = std::max(static_cast<double>(range.max), 0.0);
    if (symmetric) {
        const double t = std::max(-lo, hi);
        const double zp = isUnsigned ? std::ldexp(1.0, bits - 1) : 0.0;
        if (t == 0.0) return {1.0f, static_cast<float>(zp)};
        const double scale = isUnsigned ? 2.0 * t / (std::ldexp(1.0, bits) - 1.0)
                                        : t / (std::ldexp(1.0, bits - 1) - 1.0);
        return {static_cast<float>(scale), static_cast<float>(zp)};
    }
    const Grid grid = gridOf(bits, isUnsigned);
    const double scale = hi > lo ? (hi - lo) / (grid.qmax - grid.qmin) : 1.0;
    const double zp = std::clamp(std::nearbyint(grid.qmin - lo / scale), grid.qmin, grid.qmax);
    return {static_cast<float>(scale), static_cast<float>(zp)};
}

std::vector<int64_t> balancedSampleIndices(std::span<const int64_t> labels, int64_t count,
                                           uint64_t seed) {
    count = std::clamp<int64_t>(count, 0, static_cast<int64_t>(labels.size()));
    std::map<int64_t, std::vector<int64_t>> byClass;
    for (std::size_t i = 0; i < labels.size(); ++i)
        byClass[labels[i]].push_back(static_cast<int64_t>(i));

    std::vector<std::vector<int64_t>*> members;
    for (auto& [label, indices] : byClass) {
        // Each class its own stream, keyed by the label, so classes do not disturb each other.
        Rng rng(seed ^ Rng(static_cast<uint64_t>(label) + 0x5bd1e995ull).next());
        for (std::size_t i = indices.size(); i > 1; --i)
            std::swap(indices[i - 1], indices[rng.below(i)]);
        members.push_back(&indices);
    }

    // Water-filling: equal shares, small classes give what they have, the rest is re-shared.
    const std::size_t classes = members.size();
    std::vector<int64_t> take(classes, 0);
    int64_t remaining = count;
    while (remaining > 0) {
        std::vector<std::size_t> open;
        for (std::size_t c = 0; c < classes; ++c)
            if (take[c] < static_cast<int64_t>(members[c]->size())) open.push_back(c);
        if (open.empty()) break;
        const int64_t share = remaining / static_cast<int64_t>(open.size());
        if (share == 0) {
            // Fewer left than open classes: one more each, in a seeded order.
            Rng rng(seed ^ 0xc1a55e5ull);
            for (std::size_t i = open.size(); i > 1; --i)
                std::swap(open[i - 1], open[rng.below(i)]);
            for (std::size_t i = 0; i < static_cast<std::size_t>(remaining); ++i) ++take[open[i]];
            break;
        }
        for (std::size_t c : open) {
            const int64_t give =
                std::min(share, static_cast<int64_t>(members[c]->size()) - take[c]);
            take[c] += give;
            remaining -= give;
        }
    }

    std::vector<int64_t> out;
    out.reserve(static_cast<std::size_t>(count));
    const int64_t rounds = classes == 0 ? 0 : *std::max_element(take.begin(), take.end());
    for (int64_t r = 0; r < rounds; ++r)
        for (std::size_t c = 0; c < classes; ++c)
            if (r < take[c]) out.push_back((*members[c])[static_cast<std::size_t>(r)]);
    return out;
}

}  // namespace wh::algo::quant
