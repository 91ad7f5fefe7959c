#pragma once
/// Lowering patterns that keep a quantized tensor quantized through the ops that only pick or
/// move its elements, so that a QDQ model's MaxPool and Flatten run on uint8/int8 bytes (in the
/// layout QConv writes) instead of between a DequantizeLinear and a QuantizeLinear in float —
/// four extra steps and float traffic per pool in a small CNN. Internal to core/engine.

#include "core/rewrite/pattern.h"

namespace wh::engine {

/// Rooted at MaxPool:
///     DequantizeLinear(x_q, s, zp) → MaxPool → QuantizeLinear(·, s', zp')
/// with per-tensor constant quantizers whose scale and zero point are equal (s == s', zp == zp'
/// of the same type) becomes MaxPool(x_q) producing the QuantizeLinear's output. Exact: the
/// dequantization is monotone, so the max picks the same element, and requantizing a
/// dequantized code with the same parameters gives the code back. The MaxPool's output must be
/// read only by that QuantizeLinear and not be a graph output; no Indices output. A
/// DequantizeLinear something else reads stays for it.
class QdqMaxPoolFusion : public rewrite::Pattern {
public:
    QdqMaxPoolFusion() : Pattern("QdqMaxPoolFusion", "MaxPool", 3) {}
    rewrite::MatchResult match(const ir::Node& root) const override;
    Status apply(rewrite::Rewriter& rewriter, ir::Node& root) const override;
};

/// Rooted at QuantizeLinear (per tensor, constant scale and zero point):
///     Flatten | Reshape | Squeeze | Unsqueeze → QuantizeLinear
/// where the shape op's output is read only by the QuantizeLinear (and is no graph output)
/// becomes QuantizeLinear → the same shape op, writing the QuantizeLinear's output. Exact: a
/// per-tensor quantizer treats every element alike, so it commutes with moving them. Then the
/// pool or convolution before sees its QuantizeLinear (QdqMaxPoolFusion, QdqConvFusion) and the
/// shape op moves bytes.
class QuantizeBeforeReshape : public rewrite::Pattern {
public:
    QuantizeBeforeReshape() : Pattern("QuantizeBeforeReshape", "QuantizeLinear", 2) {}
    rewrite::MatchResult match(const ir::Node& root) const override;
    Status apply(rewrite::Rewriter& rewriter, ir::Node& root) const override;
};

/// Rooted at Cast: a Cast of a QuantizeLinear's output (directly, or through a MaxPool or shape
/// op these patterns left on it) to the type it already has (the zero point's) — PyTorch 1.13's
/// FX export writes one between every QuantizeLinear and DequantizeLinear — is bypassed, so
/// that the int8 kernels on both sides meet (and the uint8 tensor keeps the layout QConv wrote).
class SameTypeCastAfterQuantize : public rewrite::Pattern {
public:
    SameTypeCastAfterQuantize() : Pattern("SameTypeCastAfterQuantize", "Cast", 1) {}
    rewrite::MatchResult match(const ir::Node& root) const override;
    Status apply(rewrite::Rewriter& rewriter, ir::Node& root) const override;
};

}  // namespace wh::engine
