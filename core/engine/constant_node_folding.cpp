// ConstantNodeFolding (constant_node_folding.h): evaluate a constant Identity, Cast or
// ConstantOfShape (engine::evaluateNode, as fold_constants does).

#include "core/engine/constant_node_folding.h"

#include "core/engine/fold_constants.h"
#include "core/engine/qdq_match.h"
#include "core/rewrite/rewriter.h"

namespace wh::engine {

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 20;

// The elements the node's output will have, or -1 when not known before running it.
int64_t outputElements(const ir::Node& n) {
    const ir::Tensor* in = qdq::fixed(n.input(0));
    if (!in) return -1;
    if (n.opType != "ConstantOfShape") return in->numElements();
    if (in->dtype != ir::DType::kInt64) return -1;
    int64_t count = 1;
    for (int64_t d : in->values<int64_t>()) {
        if (d < 0 || (d > 0 && count > kMaxElements / d)) return -1;
        count *= d;
    }
    return count;
}

}  // namespace

rewrite::MatchResult ConstantNodeFolding::match(const ir::Node& n) const {
    if (!n.domain.empty() && n.domain != "ai.onnx")
        return rewrite::MatchResult::failure("not an ONNX operator");
    if (n.numInputs() != 1 || !n.input(0) || n.numOutputs() != 1 || !n.output(0))
        return rewrite::MatchResult::failure("expected one input and one output");
    const ir::Value* out = n.output(0);
    if (out->isGraphOutput() || out->isGraphInput() || out->hasInitializer())
        return rewrite::MatchResult::failure("the output is a graph output or input");
    if (!qdq::fixed(n.input(0))) return rewrite::MatchResult::failure("the input is not constant");
    const int64_t elements = outputElements(n);
    if (elements < 0 || elements > kMaxElements)
        return rewrite::MatchResult::failure("the output would be large or of unknown size");
    return rewrite::MatchResult::success();
}

Status ConstantNodeFolding::apply(rewrite::Rewriter& rewriter, ir::Node& n) const {
    WH_ASSIGN_OR_RETURN_STATUS(std::vector<ir::Tensor> outs,
                               evaluateNode(n, 13, {qdq::fixed(n.input(0))}));
    ir::Tensor value = std::move(outs.at(0));
    value.name = n.output(0)->name();
    ir::Value* out = n.output(0);
    rewrite::ScopedGroup group(rewriter, "Fold a constant " + n.opType);
    if (Status s = rewriter.eraseNode(n, rewrite::EraseOutputs::kKeep); !s.isOk()) {
        group.cancel();
        return s;
    }
    if (Status s = rewriter.setInitializer(*out, std::move(value)); !s.isOk()) {
        group.cancel();
        return s;
    }
    return Status::ok();
}

}  // namespace wh::engine
