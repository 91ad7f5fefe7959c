#pragma once
/// QMatMul (domain com.whittle, opset 1): a quantized matrix product with requantised output, the
/// node the inference Plan's lowering makes of a QDQ group around a MatMul or a Gemm
/// (QdqMatMulFusion below) so that it runs as one oneDNN int8 matmul
/// (core/engine/dnnl/qmatmul.cpp) instead of float reference ops. Like QConv (qconv.h) it lives
/// only in the lowered graph. Reference kernel (the numerics oracle and the fallback) in
/// core/engine/ref/qmatmul.cpp.
///
/// Inputs (QConv's order):
///   0 x        uint8 or int8 [..., M, K] (rank >= 2)
///   1 x_scale  float scalar, > 0
///   2 x_zero_point  x's type, scalar
///   3 w        int8 [K, N] (a Gemm's transB = 1 weights are transposed by the lowering)
///   4 w_scale  float scalar, or [N] (per output column)
///   5 w_zero_point  optional (empty name): int8, w_scale's shape, every element 0
///   6 y_scale  float scalar, > 0
///   7 y_zero_point  uint8 or int8 scalar; fixes y's type
///   8 B        optional float [N]: the bias in float (a Gemm's dequantized int32 C)
/// Output: y, y_zero_point's type, [..., M, N].
/// Attributes: activation "" (none), "Relu" or "Clip"; activation_min, activation_max (Clip).
///
/// Semantics: exactly the QDQ graph it replaces, in real arithmetic:
///     v[..., m, n] = activation(sum_k (x - x_zero_point)[..., m, k] * w[k, n] * x_scale *
///                               w_scale[n] + B[n])
///     y = saturate(round_half_even(v / y_scale) + y_zero_point)
/// Kernels may order the float operations differently (oneDNN: an exact int32 accumulator, one
/// multiply): results agree with the QDQ graph within one step of y's grid.

#include <string_view>

#include "core/engine/kernel_registry.h"
#include "core/rewrite/pattern.h"

namespace wh::engine {

inline constexpr std::string_view kQMatMulOp = "QMatMul";

/// Registers the reference QMatMul kernel (KernelRegistry::builtin() does).
void registerQMatMulKernel(KernelRegistry& registry);

/// The lowering pattern, rooted at MatMul or at Gemm (one instance each):
///     DequantizeLinear(x_q, x_scale, x_zp)        x_q uint8/int8, scalar scale and zp
///     DequantizeLinear(w_q, w_scale[, w_zp])      w_q a rank-2 int8 initializer; scale scalar
///                                                 or per output column (MatMul: axis 1 of
///                                                 [K, N]; Gemm transB = 1: axis 0 of [N, K]);
///                                                 zp all 0
///     [Gemm's C: DequantizeLinear(int32 [N], scale) | float [N] constant]
///       → MatMul | Gemm (alpha = beta = 1, transA = 0) → [Relu | Clip] → QuantizeLinear
/// becomes one QMatMul producing the QuantizeLinear's output. A Gemm's input must be rank 2.
class QdqMatMulFusion : public rewrite::Pattern {
public:
    /// `rootOpType`: "MatMul" or "Gemm".
    explicit QdqMatMulFusion(std::string rootOpType)
        : Pattern("QdqMatMulFusion", std::move(rootOpType), 4) {}
    rewrite::MatchResult match(const ir::Node& root) const override;
    Status apply(rewrite::Rewriter& rewriter, ir::Node& root) const override;
};

}  // namespace wh::engine
