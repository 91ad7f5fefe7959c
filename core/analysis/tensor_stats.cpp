#include "core/analysis/tensor_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace wh::analysis {

namespace {

/// Two passes: min/max/sum/zeros, then the variance (about the exact mean, numerically sound)
/// and the histogram (needs min/max). `get(i)` reads element i as double.
template <class Get>
Expected<TensorStats> statsOf(int64_t n, int bins, jobs::JobContext* ctx, Get get) {
    TensorStats s;
    s.count = n;
    constexpr int64_t kChunk = 1 << 18;  // poll cancellation and report about every 256k
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    double sum = 0;
    for (int64_t base = 0; base < n; base += kChunk) {
        if (ctx) {
            WH_RETURN_IF_ERROR(ctx->checkCancelled());
            ctx->setProgress(0.5 * static_cast<double>(base) / static_cast<double>(n));
        }
        const int64_t end = std::min(n, base + kChunk);
        for (int64_t i = base; i < end; ++i) {
            const double v = get(i);
            if (!std::isfinite(v)) {
                ++s.nonFinite;
                continue;
            }
            ++s.finite;
            if (v == 0) ++s.zeros;
            lo = std::min(lo, v);
            hi = std::max(hi, v);
            sum += v;
        }
    }
    if (s.finite == 0) return s;
    s.min = lo;
    s.max = hi;
    s.mean = sum / static_cast<double>(s.finite);
    s.histogram.assign(static_cast<std::size_t>(std::max(1, bins)), 0);
    const double width = hi - lo;
    const double scale = width > 0 ? static_cast<double>(s.histogram.size()) / width : 0.0;
    const int64_t last = static_cast<int64_t>(s.histogram.size()) - 1;
    double sq = 0;
    for (int64_t base = 0; base < n; base += kChunk) {
        if (ctx) {
            WH_RETURN_IF_ERROR(ctx->checkCancelled());
            ctx->setProgress(0.5 + 0.5 * static_cast<double>(base) / static_cast<double>(n));
        }
        const int64_t end = std::min(n, base + kChunk);
        for (int64_t i = base; i < end; ++i) {
            const double v = get(i);
            if (!std::isfinite(v)) continue;
            const double d = v - s.mean;
            sq += d * d;
            const int64_t bin = std::min(last, static_cast<int64_t>((v - lo) * scale));
            ++s.histogram[static_cast<std::size_t>(bin)];
        }
    }
    s.stddev = std::sqrt(sq / static_cast<double>(s.finite));
    return s;
}

}  // namespace

Expected<TensorStats> computeTensorStats(const ir::Tensor& t, int bins, jobs::JobContext* job) {
    if (!t.isRealNumeric())
        return error(StatusCode::kUnsupported, "tensor '{}' ({}) has no numeric statistics", t.name,
                     ir::dtypeName(t.dtype));
    const int64_t n = t.numElements();
    const std::size_t need =
        ir::dataBytesOf(t.dtype, static_cast<uint64_t>(std::max<int64_t>(n, 0)));
    if (n < 0 || !t.data || t.data->size() < need)
        return error(StatusCode::kBadInput, "tensor '{}': {} bytes of data for {} elements", t.name,
                     t.byteSize(), n);
    if (t.dtype == ir::DType::kFloat) {
        const float* p = t.values<float>().data();
        return statsOf(n, bins, job, [p](int64_t i) { return static_cast<double>(p[i]); });
    }
    return statsOf(n, bins, job, [&t](int64_t i) { return t.elementAsDouble(i); });
}

}  // namespace wh::analysis
