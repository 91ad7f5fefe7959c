#pragma once
/// ConstantNodeFolding: an Identity, Cast or ConstantOfShape whose input is a constant
/// (initializer or Constant, not a graph input) becomes an initializer holding its output,
/// computed once by the reference kernel. Exporters leave such chains in quantized models —
/// PyTorch writes a QDQ bias's zero point as Cast(ConstantOfShape(shape)) and shares a scale
/// between two quantizers through an Identity — and the QDQ lowering patterns need the value as
/// a constant. Evaluated at opset 13 (the three ops mean the same from opset 9 to 22 for the
/// types the reference casts); outputs above 1 Mi elements are left alone. Inference lowering
/// only.

#include <string>

#include "core/rewrite/pattern.h"

namespace wh::engine {

class ConstantNodeFolding : public rewrite::Pattern {
public:
    /// `opType`: "Identity", "Cast" or "ConstantOfShape".
    explicit ConstantNodeFolding(std::string opType)
        : Pattern("ConstantNodeFolding(" + opType + ")", opType, 1) {}
    rewrite::MatchResult match(const ir::Node& root) const override;
    Status apply(rewrite::Rewriter& rewriter, ir::Node& root) const override;
};

}  // namespace wh::engine
