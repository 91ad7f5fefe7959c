#pragma once
/// ConstantToInitializer: a Constant node becomes an initializer of the same name (the node goes,
/// its output value stays and holds the tensor). Handles the attribute forms value, value_float,
/// value_floats, value_int, value_ints, value_string and value_strings; not sparse_value. Does not
/// apply when the output is a graph output (an initializer there would read as a default input
/// to some tools).

#include <optional>

#include "core/rewrite/pattern.h"

namespace wh::rewrite {

class ConstantToInitializer : public Pattern {
public:
    ConstantToInitializer() : Pattern("ConstantToInitializer", "Constant", 1) {}
    MatchResult match(const ir::Node& root) const override;
    Status apply(Rewriter& rewriter, ir::Node& root) const override;

    /// The tensor a Constant node defines, or a reason it cannot be read as one.
    static Expected<ir::Tensor> constantValue(const ir::Node& node);
};

}  // namespace wh::rewrite
