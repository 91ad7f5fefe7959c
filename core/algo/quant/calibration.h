#pragma once
/// Calibration for static activation quantization: range observers that watch activations batch
/// by batch in bounded memory and choose a clipping range, the ONNX QuantizeLinear scale and zero
/// point of a range, and a balanced, repeatable choice of calibration samples.
///
/// The histogram (every method but kMinMax) is signed and symmetric about 0: `numBins` equal bins
/// over [-T, T], T = the largest |x| of the first batch that is not all zero. When a later batch
/// holds a larger |x|, T doubles (as often as needed) and adjacent bin pairs merge, which is exact
/// (bin edges line up) and keeps the memory fixed. This is ONNX Runtime's merge_histogram idea
/// (widen, re-bin, add) without its growing bin count; the price is at most 2x coarser bins than a
/// histogram built with hindsight. Non-finite values (NaN, ±inf) are ignored everywhere.

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "core/util/status.h"

namespace wh::algo::quant {

/// How a RangeObserver turns what it saw into a clipping range.
enum class CalibrationMethod {
    kMinMax,      ///< the observed min and max
    kPercentile,  ///< the given percentile of |x| (symmetric) or of x on both tails (asymmetric)
    /// The threshold minimising KL(P || Q), TensorRT / ONNX Runtime style, with three changes
    /// that keep it from clipping too much (RangeObserver::entropyRange): exact zeros are left
    /// out of P, the histogram is coarsened until the bulk (|x| to its 99.99th percentile)
    /// spans at most 2 bins per level, and Q's levels share the slice's bins evenly
    kEntropy,
    kMse,         ///< the range minimising the expected quantization MSE over the histogram
};

/// "minmax", "percentile", "entropy", "mse" (lower case, as in recipes and the CLI).
std::string_view calibrationMethodName(CalibrationMethod method);
/// The inverse of calibrationMethodName; kUsage error naming the accepted words otherwise.
Expected<CalibrationMethod> parseCalibrationMethod(std::string_view name);

/// A clipping range in the activation's units. Always contains 0 (min <= 0 <= max).
struct Range {
    float min = 0.0f;
    float max = 0.0f;
};

struct ObserverOptions {
    CalibrationMethod method = CalibrationMethod::kMinMax;
    int64_t numBins = 2048;      ///< histogram bins; a multiple of 4, at least 16
    double percentile = 99.999;  ///< kPercentile only, in (0, 100]
};

/// Watches one activation tensor across calibration batches. Memory is O(numBins) whatever the
/// number of values. Not thread-safe: one observer per tensor per thread, or lock around it.
class RangeObserver {
public:
    /// Options are checked by `validate()` (and by `range()`); out-of-range numBins are rounded
    /// up to a multiple of 4 no smaller than 16.
    explicit RangeObserver(ObserverOptions options = {});

    /// kUsage error when the percentile is outside (0, 100].
    Status validate() const;

    /// Adds one batch of values (any layout; only values matter). Called many times.
    void observe(std::span<const float> values);

    /// The clipping range for a grid of `bits` bits (2..16):
    ///   - symmetric: [-T, T] (T >= 0);
    ///   - asymmetric: [lo, hi] with lo <= 0 <= hi, and never wider than [min(observed min, 0),
    ///     max(observed max, 0)].
    /// `isUnsigned` names the integer grid (uint vs int) the range is meant for; kMse uses it to
    /// quantize exactly as scaleZeroPoint would. Before any finite value was observed the range is
    /// [0, 0]. kUsage error for bad bits or options.
    Expected<Range> range(int bits, bool symmetric, bool isUnsigned) const;

    int64_t count() const { return m_count; }    ///< finite values observed
    float observedMin() const { return m_min; }  ///< +inf before the first finite value
    float observedMax() const { return m_max; }  ///< -inf before the first finite value
    /// The histogram's half width T (0 while everything seen was 0 or for kMinMax).
    double histogramLimit() const { return m_limit; }
    /// Bin counts over [-T, T] (empty for kMinMax).
    const std::vector<double>& histogram() const { return m_hist; }

private:
    void widenTo(double absMax);
    double percentileRange(double p, bool symmetric, double* lo) const;
    Range entropyRange(int bits, bool symmetric) const;
    Range mseRange(int bits, bool symmetric, bool isUnsigned) const;

    ObserverOptions m_options;
    int64_t m_count = 0;
    float m_min;
    float m_max;
    double m_limit = 0.0;        // T; 0 until a nonzero value arrives
    int64_t m_pendingZeros = 0;  // zeros seen while T was 0
    int64_t m_zeros = 0;         // exact zeros among the histogram's values (in bin B/2)
    std::vector<double> m_hist;  // numBins counts over [-T, T]
};

/// The ONNX QuantizeLinear (scale, zero point) of `range` on a grid of `bits` bits:
///   - signed grid [-2^(b-1), 2^(b-1)-1], unsigned grid [0, 2^b - 1];
///   - symmetric, signed: scale = T / (2^(b-1) - 1), zero point 0 (T = max(|min|, |max|)), so the
///     lowest code is unused, as in ONNX Runtime's int8 symmetric;
///   - symmetric, unsigned: scale = 2T / (2^b - 1), zero point 2^(b-1) (128 for uint8), as
///     ONNX Runtime computes it;
///   - asymmetric: scale = (max - min) / (qmax - qmin), zero point = round(qmin - min / scale)
///     clamped to the grid (integral, and in the grid because the range contains 0).
/// A zero-width range gives scale 1. The zero point is returned as a float holding an integer.
std::pair<float, float> scaleZeroPoint(Range range, int bits, bool symmetric, bool isUnsigned);

/// `count` indices into `labels` (one label per sample), spread as evenly as possible over the
/// classes (distinct label values): each class gets floor or ceil of count / classes, except that
/// a class with too few samples gives all it has and the rest go to the others. The remainder goes
/// to classes in a seeded random order. Within a class the samples are a seeded shuffle, each class
/// with its own stream (adding samples of another class does not change a class's picks). The
/// result interleaves the classes round-robin (class order ascending by label), so every prefix is
/// balanced too. Same labels + count + seed → same indices on every machine. `count` is clamped to
/// [0, labels.size()].
std::vector<int64_t> balancedSampleIndices(std::span<const int64_t> labels, int64_t count,
                                           uint64_t seed);

}  // namespace wh::algo::quant
