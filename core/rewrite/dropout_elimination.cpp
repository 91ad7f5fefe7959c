#include "core/rewrite/dropout_elimination.h"

namespace wh::rewrite {

MatchResult DropoutElimination::match(const ir::Node& root) const {
    if (root.numOutputs() < 1 || !root.output(0)) return MatchResult::failure("output 0 is absent");
    if (const ir::Value* mask = root.output(1)) {
        if (mask->hasUses())
            return MatchResult::fail("mask output '{}' is used by node '{}'", mask->name(),
                                     mask->uses().front().node->displayName());
        if (mask->isGraphOutput())
            return MatchResult::fail("mask output '{}' is a graph output", mask->name());
    }
    if (const ir::Attribute* isTest = root.attribute("is_test");
        isTest && isTest->type == ir::AttrType::kInt && isTest->i == 0)
        return MatchResult::failure("is_test = 0 (training mode)");
    if (const ir::Value* training = root.input(2)) {
        const ir::Tensor* t = ir::constantTensor(training);
        if (!t || training->isGraphInput())
            return MatchResult::fail("training_mode ('{}') is not a constant", training->name());
        if (t->numElements() != 1 || t->byteSize() < 1)
            return MatchResult::failure("training_mode is not a scalar");
        if (t->elementAsDouble(0) != 0.0) return MatchResult::failure("training_mode is true");
    }
    if (std::string why = Rewriter::bypassBlocker(root); !why.empty())
        return MatchResult::failure(std::move(why));
    return MatchResult::success();
}

Status DropoutElimination::apply(Rewriter& rewriter, ir::Node& root) const {
    // ratio and training_mode initializers read only by this node are dead afterwards.
    std::vector<ir::Value*> params;
    for (int i = 1; i < root.numInputs(); ++i)
        if (ir::Value* v = root.input(i); v && v->hasInitializer() && !v->isGraphInput())
            params.push_back(v);
    ScopedGroup group(rewriter, "Eliminate Dropout");
    Status s = rewriter.bypass(root);
    for (ir::Value* v : params) {
        if (!s.isOk()) break;
        if (!v->hasUses() && !v->isGraphOutput() && v->hasInitializer() &&
            !rewriter.subgraphReader(v->name()))
            s = rewriter.removeInitializer(*v);
    }
    if (!s.isOk()) group.cancel();
    return s;
}

}  // namespace wh::rewrite
