#pragma once
/// ConstantArithmeticFolding: an Add, Sub, Mul or Div of two float32 constants (initializers, with
/// NumPy broadcasting) becomes an initializer holding the result, computed in float32 as the
/// operator does. Our QDQ exports compute the scale of an int32 bias this way (input scale ×
/// weight scales) rather than storing a third copy of it, as ONNX Runtime's constant folding
/// does before its QDQ fusions; the engine's lowering folds it before QdqConvFusion reads it.
/// Bounded: the result has at most kMaxElements elements, so a hostile model cannot make the
/// lowering allocate without limit. Does not apply to a graph output or to an input of the
/// graph (a value the user can feed).

#include "core/rewrite/pattern.h"

namespace wh::rewrite {

class ConstantArithmeticFolding : public Pattern {
public:
    static constexpr int64_t kMaxElements = int64_t{1} << 20;

    /// `opType`: Add, Sub, Mul or Div.
    explicit ConstantArithmeticFolding(std::string opType)
        : Pattern("ConstantArithmeticFolding", std::move(opType), 1) {}
    MatchResult match(const ir::Node& root) const override;
    Status apply(Rewriter& rewriter, ir::Node& root) const override;
};

/// Adds the four instances (Add, Sub, Mul, Div).
void addConstantArithmeticFolding(PatternSet& set);

}  // namespace wh::rewrite
