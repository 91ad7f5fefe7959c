#include "core/rewrite/identity_elimination.h"

namespace wh::rewrite {

MatchResult IdentityElimination::match(const ir::Node& root) const {
    if (root.numInputs() != 1 || root.numOutputs() != 1)
        return MatchResult::fail("expected 1 input and 1 output, found {} and {}", root.numInputs(),
                                 root.numOutputs());
    if (std::string why = Rewriter::bypassBlocker(root); !why.empty())
        return MatchResult::failure(std::move(why));
    return MatchResult::success();
}

Status IdentityElimination::apply(Rewriter& rewriter, ir::Node& root) const {
    return rewriter.bypass(root);
}

}  // namespace wh::rewrite
