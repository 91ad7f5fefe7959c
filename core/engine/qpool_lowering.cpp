// QdqMaxPoolFusion, QuantizeBeforeReshape and SameTypeCastAfterQuantize (qpool.h): quantized
// tensors stay quantized through MaxPool, the shape ops and PyTorch's no-op Casts.

#include <cstring>

#include "core/engine/fake_quantize.h"
#include "core/engine/qadd.h"
#include "core/engine/qconv.h"
#include "core/engine/qdq_match.h"
#include "core/engine/qmatmul.h"
#include "core/engine/qpool.h"

namespace wh::engine {

namespace {

using rewrite::MatchResult;
using namespace qdq;

std::string valueName(const ir::Value* v) {
    return v ? v->name() : std::string();
}

/// True when the constant scale and zero point of per-tensor quantizers `a` and `b` are the
/// same bit for bit (and of the same type).
bool sameQuantizer(const ir::Node& a, const ir::Node& b) {
    for (int i : {1, 2}) {
        const ir::Tensor* x = fixed(a.input(i));
        const ir::Tensor* y = fixed(b.input(i));
        if (!x || !y || x->dtype != y->dtype || x->byteSize() != y->byteSize() ||
            std::memcmp(x->data->data(), y->data->data(), x->byteSize()) != 0)
            return false;
    }
    return true;
}

struct PoolGroup {
    const ir::Node* dq = nullptr;
    const ir::Node* q = nullptr;
};

MatchResult findPoolGroup(const ir::Node& pool, PoolGroup& g) {
    if (pool.numInputs() != 1 || pool.numOutputs() != 1 || !pool.output(0))
        return MatchResult::failure("MaxPool with an Indices output");
    g.dq = producedBy(pool.input(0), "DequantizeLinear");
    if (!g.dq) return MatchResult::failure("MaxPool input is not a DequantizeLinear output");
    if (std::string why = perTensorProblem(*g.dq, "input"); !why.empty())
        return MatchResult::failure(why);
    g.q = soleReader(pool.output(0));
    if (!g.q || !ir::isOnnxOp(*g.q, "QuantizeLinear") || g.q->attrInt("block_size", 0) != 0)
        return MatchResult::failure("MaxPool output does not go to one QuantizeLinear only");
    if (std::string why = perTensorProblem(*g.q, "output"); !why.empty())
        return MatchResult::failure(why);
    if (!sameQuantizer(*g.dq, *g.q))
        return MatchResult::failure("the input and output quantizers differ");
    return MatchResult::success();
}

bool isShapeOp(const ir::Node& n) {
    for (const char* op : {"Flatten", "Reshape", "Squeeze", "Unsqueeze"})
        if (ir::isOnnxOp(n, op)) return true;
    return false;
}

MatchResult findShapeOp(const ir::Node& q, const ir::Node*& shape) {
    if (q.numOutputs() != 1 || !q.output(0) || q.attrInt("block_size", 0) != 0)
        return MatchResult::failure("QuantizeLinear with blocks");
    if (std::string why = perTensorProblem(q, "output"); !why.empty())
        return MatchResult::failure(why);
    const ir::Value* in = q.input(0);
    shape = in ? in->producer() : nullptr;
    if (!shape || !isShapeOp(*shape) || shape->numOutputs() != 1)
        return MatchResult::failure("the QuantizeLinear input is not a shape op's output");
    if (soleReader(in) != &q) return MatchResult::failure("the shape op has other readers");
    if (!shape->input(0)) return MatchResult::failure("the shape op has no data input");
    return MatchResult::success();
}

/// The type of `v` when it is a QuantizeLinear's output with a constant zero point, or that
/// carried through ops that keep the element type (a fused MaxPool, the shape ops, a Cast to
/// the same type); kUndefined otherwise.
ir::DType quantizedTypeOf(const ir::Value* v) {
    for (int depth = 0; v && depth < 16; ++depth) {
        const ir::Node* p = v->producer();
        if (!p) break;
        if (ir::isOnnxOp(*p, "QuantizeLinear")) {
            const ir::Tensor* zp = fixed(p->input(2));
            return zp ? zp->dtype : ir::DType::kUndefined;
        }
        // What the other QDQ patterns made of a QuantizeLinear's group: y_zero_point is input 7.
        if (p->domain == kWhittleDomain &&
            (p->opType == kQConvOp || p->opType == kQAddOp || p->opType == kQMatMulOp)) {
            const ir::Tensor* zp = fixed(p->input(7));
            return zp ? zp->dtype : ir::DType::kUndefined;
        }
        if (!ir::isOnnxOp(*p, "MaxPool") && !isShapeOp(*p) && !ir::isOnnxOp(*p, "Cast")) break;
        v = p->input(0);
    }
    return ir::DType::kUndefined;
}

MatchResult findSameTypeCast(const ir::Node& cast) {
    if (cast.numInputs() != 1 || cast.numOutputs() != 1 || !cast.input(0) || !cast.output(0))
        return MatchResult::failure("Cast without one input and one output");
    const ir::DType type = quantizedTypeOf(cast.input(0));
    if (type == ir::DType::kUndefined)
        return MatchResult::failure("the Cast does not read a quantized tensor");
    if (cast.attrInt("to", 0) != static_cast<int64_t>(type))
        return MatchResult::failure("the Cast changes the type");
    if (cast.output(0)->isGraphOutput())
        return MatchResult::failure("the Cast writes a graph output");
    return MatchResult::success();
}

}  // namespace

MatchResult SameTypeCastAfterQuantize::match(const ir::Node& cast) const {
    return findSameTypeCast(cast);
}

Status SameTypeCastAfterQuantize::apply(rewrite::Rewriter& rewriter, ir::Node& cast) const {
    WH_ASSERT(findSameTypeCast(cast).matched());
    return rewriter.bypass(cast);
}

MatchResult QdqMaxPoolFusion::match(const ir::Node& pool) const {
    PoolGroup g;
    return findPoolGroup(pool, g);
}

Status QdqMaxPoolFusion::apply(rewrite::Rewriter& rewriter, ir::Node& pool) const {
    PoolGroup g;
    WH_ASSERT(findPoolGroup(pool, g).matched());
    rewrite::ScopedGroup group(rewriter, "Run a QDQ MaxPool on the quantized tensor");
    rewrite::NewNode spec("MaxPool", {valueName(g.dq->input(0))}, {valueName(g.q->output(0))});
    spec.name = pool.name;
    spec.docString = pool.docString;
    for (const ir::Attribute& a : pool.attributes()) spec.attributes.push_back(a.clone());
    return replaceGroup(rewriter, {&pool, const_cast<ir::Node*>(g.q)}, std::move(spec), {g.dq}, {});
}

MatchResult QuantizeBeforeReshape::match(const ir::Node& q) const {
    const ir::Node* shape = nullptr;
    return findShapeOp(q, shape);
}

Status QuantizeBeforeReshape::apply(rewrite::Rewriter& rewriter, ir::Node& q) const {
    const ir::Node* shape = nullptr;
    WH_ASSERT(findShapeOp(q, shape).matched());
    rewrite::ScopedGroup group(rewriter, "Quantize before a shape op");
    const std::string moved = rewriter.graph().uniqueName(valueName(shape->input(0)) + "_q");
    rewrite::NewNode quantize(
        "QuantizeLinear",
        {valueName(shape->input(0)), valueName(q.input(1)), valueName(q.input(2))}, {moved});
    quantize.name = q.name;
    for (const ir::Attribute& a : q.attributes()) quantize.attributes.push_back(a.clone());
    rewrite::NewNode reshape(shape->opType, {}, {valueName(q.output(0))});
    reshape.name = shape->name;
    reshape.inputs.push_back(moved);
    for (int i = 1; i < shape->numInputs(); ++i)
        reshape.inputs.push_back(valueName(shape->input(i)));
    for (const ir::Attribute& a : shape->attributes()) reshape.attributes.push_back(a.clone());
    std::vector<rewrite::NewNode> specs;
    specs.push_back(std::move(quantize));
    specs.push_back(std::move(reshape));
    ir::Node* old[] = {const_cast<ir::Node*>(shape), &q};
    if (auto r = rewriter.replace(old, std::move(specs)); !r) return r.error();
    return Status::ok();
}

}  // namespace wh::engine
