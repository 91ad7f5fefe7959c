#pragma once
/// QuantizedWeight: a weight tensor as integer codes with per-row (per output channel) or
/// per-group scales and zero points: what the weight quantizers (RTN, GPTQ, the fake quantizers
/// of QAT) produce and what the deploy writers (int8 DequantizeLinear, packed 2/4-bit
/// decompression subgraphs) consume.
///
/// The matrix view: every weight is seen as a matrix of `rows` output channels by `cols`
/// reduction elements, row-major.
///   - Conv W [O, I/g, kh, kw]:  rows = O, cols = I/g * kh * kw (the ONNX order), transposed = false.
///   - Gemm B with transB = 1 [N, K]: rows = N, cols = K, transposed = false.
///   - MatMul B and Gemm B with transB = 0 [K, N]: rows = N, cols = K, transposed = true (the
///     ONNX tensor is the transpose of the matrix view).
/// Groups run along `cols`: group j of row r holds cols [j * groupSize, min((j+1) * groupSize,
/// cols)); groupSize = 0 means one group per row (per output channel).
///
/// The value of element (r, c) is  (codes[r * cols + c] - zeroPoint(r, g)) * scale(r, g)  with
/// g = c / groupSize (0 when groupSize is 0). Codes lie in the grid of `bits` bits:
/// signed [-2^(b-1), 2^(b-1) - 1] (narrow range drops the lowest) or unsigned [0, 2^b - 1].

#include <cstdint>
#include <vector>

namespace wh::algo::quant {

struct QuantizedWeight {
    std::vector<int64_t> dims;  ///< the ONNX tensor's dims
    int64_t rows = 0;
    int64_t cols = 0;
    bool transposed = false;  ///< the ONNX tensor is [cols, rows] (MatMul's B)
    int bits = 8;
    bool isUnsigned = false;  ///< unsigned grid (asymmetric) or signed (symmetric)
    bool narrowRange = false;
    int64_t groupSize = 0;                 ///< 0 = per row
    std::vector<int32_t> codes;            ///< rows * cols, row-major in the matrix view
    std::vector<float> scales;             ///< rows * groups(), row-major
    std::vector<int32_t> zeroPoints;       ///< rows * groups(), or empty = all zero

    int64_t groups() const {
        return groupSize <= 0 ? 1 : (cols + groupSize - 1) / groupSize;
    }
    int64_t groupOf(int64_t col) const { return groupSize <= 0 ? 0 : col / groupSize; }
    float scale(int64_t row, int64_t col) const {
        return scales[static_cast<std::size_t>(row * groups() + groupOf(col))];
    }
    int32_t zeroPoint(int64_t row, int64_t col) const {
        return zeroPoints.empty() ? 0
                                  : zeroPoints[static_cast<std::size_t>(row * groups() + groupOf(col))];
    }
    /// The dequantized value of matrix element (row, col).
    float value(int64_t row, int64_t col) const {
        return static_cast<float>(codes[static_cast<std::size_t>(row * cols + col)] -
                                  zeroPoint(row, col)) *
               scale(row, col);
    }
};

}  // namespace wh::algo::quant
