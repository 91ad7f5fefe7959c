#pragma once
/// IdentityElimination: erases an Identity node; its readers read its input instead. When the
/// output is a graph output, the input's producer produces it instead so the graph output keeps
/// its name. Does not apply when that is impossible (e.g. graph input → Identity → graph output).

#include "core/rewrite/pattern.h"

namespace wh::rewrite {

class IdentityElimination : public Pattern {
public:
    IdentityElimination() : Pattern("IdentityElimination", "Identity", 1) {}
    MatchResult match(const ir::Node& root) const override;
    Status apply(Rewriter& rewriter, ir::Node& root) const override;
};

}  // namespace wh::rewrite
