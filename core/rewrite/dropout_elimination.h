#pragma once
/// DropoutElimination: in inference Dropout is the identity on output 0, so the node is erased
/// and its readers read its input. Applies only when the mask output (1) is absent or unused, the
/// node is not in training mode (opset 12+: `training_mode` input absent or a constant false;
/// opset 6 and older: `is_test` not 0), and the bypass is possible (see IdentityElimination).

#include "core/rewrite/pattern.h"

namespace wh::rewrite {

class DropoutElimination : public Pattern {
public:
    DropoutElimination() : Pattern("DropoutElimination", "Dropout", 1) {}
    MatchResult match(const ir::Node& root) const override;
    Status apply(Rewriter& rewriter, ir::Node& root) const override;
};

}  // namespace wh::rewrite
