#pragma once
/// Weight quantization by rounding to nearest (RTN), per output channel or per group, into the
/// QuantizedWeight format (see quantized_weight.h for the matrix view and the grids), and back.
///
/// Parameters of one row (or one group of a row) with values w:
///   - symmetric: signed grid, scale = max|w| / qmax with qmax = 2^(b-1) - 1, zero point 0
///     (no zeroPoints stored); narrowRange drops the code -2^(b-1);
///   - asymmetric: unsigned grid [qmin, 2^b - 1] (qmin = 1 with narrowRange, else 0), the range
///     [min(min w, 0), max(max w, 0)] (so 0 is exact), scale = (hi - lo) / (qmax - qmin), zero
///     point = round(qmin - lo / scale) clamped to the grid (integral).
///   - an all-zero row or group gets scale 1.
/// code = clamp(round_half_even(w / scale) + zeroPoint, qmin, qmax), as ONNX QuantizeLinear.
/// Every element then dequantizes within scale / 2 of w.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/algo/quant/quantized_weight.h"
#include "core/ir/tensor.h"
#include "core/util/status.h"

namespace wh::algo::quant {

struct WeightQuantOptions {
    int bits = 8;              ///< 2..16
    bool symmetric = true;     ///< signed grid, zero point 0; else unsigned with zero points
    bool narrowRange = false;  ///< drop the grid's lowest code
    int64_t groupSize = 0;     ///< columns per group along the reduction axis; 0 = per row
};

/// kUsage error when bits is outside [2, 16] or groupSize is negative.
Status validate(const WeightQuantOptions& options);

/// A weight as the rows x cols matrix of quantized_weight.h, with its values copied row-major in
/// that view (MatMul's [K, N] B is transposed into rows = N, cols = K).
struct WeightMatrix {
    std::vector<int64_t> dims;  ///< the ONNX tensor's dims
    int64_t rows = 0;
    int64_t cols = 0;
    bool transposed = false;    ///< the ONNX tensor is [cols, rows]
    std::vector<float> values;  ///< rows * cols, row-major in the matrix view

    float at(int64_t row, int64_t col) const {
        return values[static_cast<std::size_t>(row * cols + col)];
    }
};

/// The matrix view of a float32 weight tensor. Not transposed: rank >= 2, rows = dims[0], cols =
/// the product of the other dims (Conv W, Gemm B with transB = 1). Transposed: rank 2 [K, N],
/// rows = N, cols = K (MatMul B, Gemm B with transB = 0). kBadInput for another dtype, rank, or a
/// data size that does not match the dims.
Expected<WeightMatrix> weightMatrix(const ir::Tensor& tensor, bool transposed);

/// The scale and zero point of one row or group (the formulas above), and the grid.
struct QuantParams {
    float scale = 1.0f;
    int32_t zeroPoint = 0;
    int32_t qmin = 0;
    int32_t qmax = 0;

    /// The code of w on this grid.
    int32_t quantize(double w) const;
    /// The value of a code.
    float dequantize(int32_t code) const { return static_cast<float>(code - zeroPoint) * scale; }
};

/// The parameters for the values `w` (one row or group) under `options` (assumed valid).
QuantParams quantParams(std::span<const float> w, const WeightQuantOptions& options);

/// An empty QuantizedWeight with the dims, view, grid and group layout of `matrix` and
/// `options` (codes, scales and zero points sized and zeroed; zeroPoints empty when symmetric).
QuantizedWeight makeQuantizedWeight(const WeightMatrix& matrix, const WeightQuantOptions& options);

/// Round to nearest with per-row or per-group parameters. kUsage error for invalid options.
Expected<QuantizedWeight> quantizeRtn(const WeightMatrix& matrix,
                                      const WeightQuantOptions& options);

/// The float32 ONNX tensor (original dims and layout, transposed back when `transposed`) holding
/// the dequantized values of `weight`. The name is `name`.
ir::Tensor dequantize(const QuantizedWeight& weight, std::string name = {});

}  // namespace wh::algo::quant
