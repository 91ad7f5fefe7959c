#pragma once
/// GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
/// Transformers", 2022; reference: IST-DASLab/gptq, gptq.py GPTQ.fasterquant): quantize a weight
/// matrix column by column, each time spreading the rounding error over the columns not yet
/// quantized so as to minimise || X Wᵀ - X Ŵᵀ ||² for the calibration inputs X.
///
/// With H = 2/N Σ x xᵀ over the N input rows x (length cols) seen by the layer:
///   1. dead columns (H_ii = 0: the input is always 0 there) get H_ii = 1 and W[:, i] = 0;
///   2. actOrder: columns are visited by decreasing H_ii;
///   3. H += damp * mean(diag H) * I; U = upper Cholesky factor of H⁻¹ (H⁻¹ = Uᵀ U);
///   4. for each column j in visiting order: q = quant(W[:, j]); e = (W[:, j] - q) / U_jj;
///      W[:, k] -= e * U_jk for every later column k (applied lazily per block of blockSize
///      columns, which changes nothing but speed).
/// Quantization parameters (the grid, formulas of weight_quant.h):
///   - groupSize = 0: per row, from the whole row (dead columns already zeroed);
///   - groupSize > 0, no actOrder: per (row, group), computed when the visit enters the group,
///     from the group's current (error-updated) weights, as the reference does. Blocks here never
///     straddle a group start, so "current" means fully updated (the reference reads the
///     block-start values of columns in the current block; with groupSize a multiple of
///     blockSize, the usual setup, the two agree);
///   - groupSize > 0 with actOrder: the reference's static_groups: every (row, group) parameter is
///     computed up front from the original column order, so groups stay contiguous column ranges
///     (what QuantizedWeight can hold; the reference's g_idx variant would not be).
/// Everything runs in double; codes are in the grid of `options` by construction.

#include <cstdint>
#include <span>
#include <vector>

#include "core/algo/quant/quantized_weight.h"
#include "core/algo/quant/weight_quant.h"
#include "core/util/status.h"

namespace wh::algo::quant {

/// The running H = 2/N Σ x xᵀ of one layer's inputs (N = rows added so far), kept as an average
/// so that it does not grow with N (the reference's add_batch, with N counting rows rather than
/// batch items: the scale of H does not change GPTQ's result, damping being relative). Memory:
/// cols² doubles. Not thread-safe; accumulate per thread and merge().
class HessianAccumulator {
public:
    explicit HessianAccumulator(int64_t cols);

    /// Adds `n` input rows of length cols(), row-major (x[i * cols + j]).
    void add(const float* x, int64_t n);
    /// Adds another accumulator's rows (same cols, WH_ASSERT otherwise).
    void merge(const HessianAccumulator& other);

    int64_t cols() const { return m_cols; }
    int64_t rowsSeen() const { return m_rows; }
    /// H, cols x cols, symmetric, row-major. All zero before any row.
    const std::vector<double>& hessian() const { return m_h; }

private:
    int64_t m_cols;
    int64_t m_rows = 0;
    std::vector<double> m_h;
};

/// Convolution geometry as ONNX Conv attributes (auto_pad already resolved into pads).
struct ConvGeometry {
    std::vector<int64_t> strides;    ///< one per spatial dim; empty = all 1
    std::vector<int64_t> pads;       ///< [x1_begin, x2_begin, ..., x1_end, x2_end, ...]; empty = 0
    std::vector<int64_t> dilations;  ///< one per spatial dim; empty = all 1
    int64_t group = 1;
};

/// The GPTQ input rows of a Conv for conv group `groupIndex`: one row per (batch item, output
/// position), in that order (output positions row-major), each of length
/// cols = (C / group) * prod(kernel) in the weight's ONNX order (channel, then kernel positions
/// row-major), holding the input values the kernel sees (0 in the padding). These are the rows
/// of X for the weight rows of that group (output channels [g * O/group, (g+1) * O/group));
/// a grouped conv needs one HessianAccumulator per group (see the quantizeGptq overload).
/// `input` is NCHW-like: dims [N, C, spatial...] (1 to 3 spatial dims); `weightDims` is
/// [O, C/group, kernel...]. kBadInput when shapes and attributes disagree.
Expected<std::vector<float>> im2colRows(std::span<const float> input,
                                        std::span<const int64_t> inputDims,
                                        std::span<const int64_t> weightDims,
                                        const ConvGeometry& geometry, int64_t groupIndex);

struct GptqOptions {
    double damp = 0.01;       ///< fraction of mean(diag H) added to the diagonal, > 0
    int64_t blockSize = 128;  ///< columns per lazy-update block, >= 1
    bool actOrder = false;    ///< visit columns by decreasing H_ii
};

/// GPTQ of `matrix` with the Hessian of its inputs (hessian.cols() == matrix.cols).
/// kUsage for invalid options or a Hessian of the wrong size; kBadInput when H + damping is not
/// positive definite (raise damp) or the weight holds non-finite values.
Expected<QuantizedWeight> quantizeGptq(const WeightMatrix& matrix,
                                       const HessianAccumulator& hessian,
                                       const WeightQuantOptions& options,
                                       const GptqOptions& gptq = {});

/// GPTQ of a grouped Conv's weight: the rows split into hessians.size() equal, consecutive
/// blocks (the conv groups), block g quantized with hessians[g] (from im2colRows(..., g)).
Expected<QuantizedWeight> quantizeGptq(const WeightMatrix& matrix,
                                       std::span<const HessianAccumulator> hessians,
                                       const WeightQuantOptions& options,
                                       const GptqOptions& gptq = {});

}  // namespace wh::algo::quant
