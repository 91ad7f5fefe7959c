#pragma once
/// Lowering patterns for what transformer exports spell out op by op (inference plans only;
/// LoweringOptions::transformerOps):
///
///  - LayerNormFusion, rooted at ReduceMean — PyTorch's opset < 17 LayerNorm:
///        m = ReduceMean(X, axes=[-1]); d = Sub(X, m); v = ReduceMean(Pow(d, 2), axes=[-1])
///        y = Mul(Div(d, Sqrt(Add(v, eps))), scale) [→ Add(·, bias)]
///    becomes one com.whittle LayerNormalization(X, scale, [bias]; axis=-1, epsilon=eps) with
///    ONNX-17 semantics (scale and bias: constants of the last dim's size).
///  - GeluFusion, rooted at Erf — PyTorch's exact GELU:
///        Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)   (operands of each either way round)
///    becomes one com.whittle Gelu(x).
///
/// Every intermediate value must be read only inside the group and be no graph output; the
/// constants (eps, √2, 1, 0.5, 2, scale, bias) must be constants of the expected values and
/// shapes. Otherwise nothing changes and the ops run one by one.

#include <string_view>

#include "core/engine/kernel_registry.h"
#include "core/rewrite/pattern.h"

namespace wh::engine {

inline constexpr std::string_view kLayerNormOp = "LayerNormalization";
inline constexpr std::string_view kGeluOp = "Gelu";

class LayerNormFusion : public rewrite::Pattern {
public:
    LayerNormFusion() : Pattern("LayerNormFusion", "ReduceMean", 9) {}
    rewrite::MatchResult match(const ir::Node& root) const override;
    Status apply(rewrite::Rewriter& rewriter, ir::Node& root) const override;
};

class GeluFusion : public rewrite::Pattern {
public:
    GeluFusion() : Pattern("GeluFusion", "Erf", 5) {}
    rewrite::MatchResult match(const ir::Node& root) const override;
    Status apply(rewrite::Rewriter& rewriter, ir::Node& root) const override;
};

/// The reference kernels of com.whittle LayerNormalization (the ONNX-17 kernel) and Gelu
/// (0.5·x·(1 + erf(x/√2)), in double), for opsets 0-1 of com.whittle.
void registerTransformerKernels(KernelRegistry& registry);

}  // namespace wh::engine
