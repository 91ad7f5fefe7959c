#pragma once
/// QConv (domain com.whittle, opset 1): a quantized 2-D convolution with requantised output, the
/// node the inference Plan's lowering makes of a QDQ group (QdqConvFusion below) so that it runs
/// as one oneDNN int8 convolution (core/engine/dnnl/qconv.cpp) instead of float reference ops.
/// Never stored in a model the user sees: it exists only in the lowered graph. Reference kernel
/// (the numerics oracle and the fallback) in core/engine/ref/qconv.cpp.
///
/// Inputs (QLinearConv's order, with a float bias):
///   0 x        uint8 or int8 [N, C, H, W]
///   1 x_scale  float scalar (or [1]), > 0
///   2 x_zero_point  x's type, scalar
///   3 w        int8 [M, C/group, kH, kW]
///   4 w_scale  float scalar, or [M] (per output channel)
///   5 w_zero_point  optional (empty name): int8, w_scale's shape, every element 0
///   6 y_scale  float scalar, > 0
///   7 y_zero_point  uint8 or int8 scalar; fixes y's type
///   8 B        optional float [M]: the bias in float (a dequantized int32 bias)
/// Output: y, y_zero_point's type, [N, M, oH, oW].
/// Attributes: Conv's (auto_pad, dilations, group, kernel_shape, pads, strides);
///   activation: "" (none, default), "Relu" or "Clip"; activation_min, activation_max (floats,
///   default -inf / +inf): Clip's bounds.
///
/// Semantics: exactly the QDQ graph it replaces, in real arithmetic:
///     acc[n,m,p] = sum (x - x_zero_point) * w * x_scale * w_scale[m]  (Conv over the window;
///                  padding is 0 in the dequantized domain, i.e. x_zero_point in x's)
///     v = activation(acc + B[m])
///     y = saturate(round_half_even(v / y_scale) + y_zero_point)
/// Kernels may compute v in another order of float operations (oneDNN: an exact int32
/// accumulator, then one multiply by x_scale * w_scale[m] / y_scale): results agree with the QDQ
/// graph within one step of y's grid (exactly wherever v / y_scale is not within float error of
/// a rounding tie).

#include <string>
#include <string_view>

#include "core/engine/kernel_registry.h"
#include "core/rewrite/pattern.h"

namespace wh::engine {

inline constexpr std::string_view kQConvOp = "QConv";

/// Registers the reference QConv kernel (KernelRegistry::builtin() does). Registered for opsets
/// 0-1 of com.whittle: lowering adds the node without adding an opset import (0).
void registerQConvKernel(KernelRegistry& registry);

/// The lowering pattern, rooted at Conv:
///     DequantizeLinear(x_q, x_scale, x_zp)            x_q uint8/int8, scalar scale and zp
///     DequantizeLinear(w_q, w_scale[, w_zp])          w_q an int8 rank-4 initializer; scale
///                                                     scalar or [M] along axis 0; zp all 0
///     [DequantizeLinear(b_q, b_scale[, 0]) | float B] b_q an int32 [M] initializer
///       → Conv → [Relu | Clip(constant bounds)] → QuantizeLinear(·, y_scale, y_zp)
/// becomes one QConv producing the QuantizeLinear's output. Scales and zero points must be
/// constants (initializers or Constant outputs, not graph inputs); the Conv's and the
/// activation's outputs read only by the next node of the group and not graph outputs. A
/// DequantizeLinear whose output something else reads too (a residual Add reading x) stays.
class QdqConvFusion : public rewrite::Pattern {
public:
    QdqConvFusion() : Pattern("QdqConvFusion", "Conv", 4) {}
    rewrite::MatchResult match(const ir::Node& root) const override;
    Status apply(rewrite::Rewriter& rewriter, ir::Node& root) const override;
};

/// The lowering pattern rooted at an ONNX QLinearConv (operator-format int8, opset 10): the same
/// arithmetic as QConv, which runs it on oneDNN's int8 convolution. Inputs x, x_scale,
/// x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, [B int32 [M]] become QConv's
///     x, x_scale, x_zero_point, w - w_zero_point (int8), w_scale, -, y_scale, y_zero_point,
///     B * x_scale * w_scale[m] (float)
/// since acc * x_scale * w_scale[m] / y_scale with acc = sum (x - x_zp)(w - w_zp[m]) + B[m] is
/// QConv's (sum (x - x_zp)(w - w_zp[m]) * x_scale * w_scale[m] + B_float[m]) / y_scale.
/// Applies when every input but x is constant, w is rank 4, the scales and x's and y's zero
/// points are per tensor (w's scale and zero point per tensor or per output channel) and
/// w - w_zero_point fits int8 (always for uint8 weights with zero point 128, int8 weights with
/// zero point 0). Otherwise the node stays a QLinearConv on the reference kernel, and
/// qlinearConvLoweringProblem() says why (the kernel reports it in Plan::describe()).
class QLinearConvLowering : public rewrite::Pattern {
public:
    QLinearConvLowering() : Pattern("QLinearConvLowering", "QLinearConv", 1) {}
    rewrite::MatchResult match(const ir::Node& root) const override;
    Status apply(rewrite::Rewriter& rewriter, ir::Node& root) const override;
};

/// Why QLinearConvLowering does not apply to the QLinearConv `node`, or "" if it does.
std::string qlinearConvLoweringProblem(const ir::Node& node);

}  // namespace wh::engine
