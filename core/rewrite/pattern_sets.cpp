#include "core/rewrite/pattern_sets.h"

#include "core/rewrite/constant_to_initializer.h"
#include "core/rewrite/conv_batch_norm_folding.h"
#include "core/rewrite/dropout_elimination.h"
#include "core/rewrite/identity_elimination.h"

namespace wh::rewrite {

void addCleanupPatterns(PatternSet& set) {
    set.emplace<IdentityElimination>();
    set.emplace<DropoutElimination>();
    set.emplace<ConstantToInitializer>();
}

void addFusionPatterns(PatternSet& set) {
    set.emplace<ConvBatchNormFolding>();
}

}  // namespace wh::rewrite
