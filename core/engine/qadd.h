#pragma once
/// QAdd (domain com.whittle, opset 1): the sum of two quantized tensors, requantised — the node
/// the inference Plan's lowering makes of a QDQ residual Add (QdqAddFusion below) so that the
/// uint8/int8 tensors flowing between int8 convolutions (QConv, qconv.h) stay int8, in the
/// layout they arrive in (nhwc), instead of going through plain float reference ops. Never
/// stored in a model the user sees. Kernels: core/engine/ref/qadd.cpp (reference, the numerics
/// oracle and the fallback, with broadcasting) and core/engine/dnnl/qadd.cpp (same-shaped
/// operands in one layout, vectorised and threaded).
///
/// Inputs (QLinearAdd's order):
///   0 a        uint8 or int8
///   1 a_scale  float scalar (or [1]), > 0
///   2 a_zero_point  a's type, scalar
///   3 b        uint8 or int8, broadcastable with a
///   4 b_scale, 5 b_zero_point  as for a
///   6 y_scale  float scalar, > 0
///   7 y_zero_point  uint8 or int8 scalar; fixes y's type
/// Output: y, y_zero_point's type, the broadcast shape of a and b.
/// Attributes: activation: "" (none, default), "Relu" or "Clip"; activation_min,
///   activation_max (floats, default -inf / +inf): Clip's bounds.
///
/// Semantics: exactly the QDQ graph it replaces, in float arithmetic, operation for operation:
///     v = activation(float(a - a_zero_point) * a_scale + float(b - b_zero_point) * b_scale)
///     y = saturate(round_half_even(v / y_scale) + y_zero_point)
/// so every kernel matches the graph bit for bit.

#include <string_view>

#include "core/engine/kernel_registry.h"
#include "core/rewrite/pattern.h"

namespace wh::engine {

inline constexpr std::string_view kQAddOp = "QAdd";

/// Registers the reference QAdd kernel (KernelRegistry::builtin() does), for opsets 0-1 of
/// com.whittle like QConv.
void registerQAddKernel(KernelRegistry& registry);

/// The lowering pattern, rooted at Add:
///     DequantizeLinear(a_q, a_scale, a_zp), DequantizeLinear(b_q, b_scale, b_zp)
///       → Add → [Relu | Clip(constant bounds)] → QuantizeLinear(·, y_scale, y_zp)
/// with per-tensor constant scales and uint8/int8 zero points (qdq::perTensorProblem) becomes
/// one QAdd producing the QuantizeLinear's output. The Add's and the activation's outputs must
/// be read only by the next node of the group and not be graph outputs. A DequantizeLinear
/// something else reads too (the Conv of the next block reading the residual) stays for it.
class QdqAddFusion : public rewrite::Pattern {
public:
    QdqAddFusion() : Pattern("QdqAddFusion", "Add", 4) {}
    rewrite::MatchResult match(const ir::Node& root) const override;
    Status apply(rewrite::Rewriter& rewriter, ir::Node& root) const override;
};

}  // namespace wh::engine
