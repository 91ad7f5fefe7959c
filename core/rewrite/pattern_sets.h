#pragma once
/// Explicit registration of the built-in patterns (no static-initialiser magic).

#include "core/rewrite/pattern.h"

namespace wh::rewrite {

/// IdentityElimination, DropoutElimination, ConstantToInitializer.
void addCleanupPatterns(PatternSet& set);
/// ConvBatchNormFolding.
void addFusionPatterns(PatternSet& set);

}  // namespace wh::rewrite
