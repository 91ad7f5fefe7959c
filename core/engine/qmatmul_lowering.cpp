// QdqMatMulFusion (qmatmul.h): the QDQ group around a MatMul or a Gemm → one QMatMul node.

#include <algorithm>
#include <cmath>

#include "core/engine/fake_quantize.h"
#include "core/engine/qdq_match.h"
#include "core/engine/qmatmul.h"

namespace wh::engine {

namespace {

using ir::DType;
using rewrite::MatchResult;
using namespace qdq;

struct Group {
    const ir::Node* dqx = nullptr;
    const ir::Node* dqw = nullptr;
    const ir::Node* dqb = nullptr;  // null: no bias, or a float constant bias
    bool transposed = false;        // Gemm transB = 1: w is [N, K]
    Activation act;
    const ir::Node* q = nullptr;
};

MatchResult findGroup(const ir::Node& op, Group& g) {
    const bool gemm = op.opType == "Gemm";
    if (gemm) {
        if (op.attrInt("transA", 0) != 0) return MatchResult::failure("Gemm has transA = 1");
        if (op.attrFloat("alpha", 1.0f) != 1.0f || op.attrFloat("beta", 1.0f) != 1.0f)
            return MatchResult::failure("Gemm has alpha or beta other than 1");
        g.transposed = op.attrInt("transB", 0) != 0;
    }
    const ir::Tensor* w = nullptr;
    if (std::string why = quantizedOperandsProblem(op, gemm ? "Gemm" : "MatMul", 2, g.dqx, g.dqw, w);
        !why.empty())
        return MatchResult::failure(why);
    const int64_t columns = g.transposed ? w->dims[0] : w->dims[1];
    if (std::string why = perChannelProblem(*g.dqw, "weight", 2, columns, g.transposed ? 0 : 1);
        !why.empty())
        return MatchResult::failure(why);

    const ir::Value* b = gemm && op.numInputs() > 2 ? op.input(2) : nullptr;
    if (std::string why = biasProblem(b, columns, g.dqb); !why.empty())
        return MatchResult::failure(why);
    if (std::string why = readQuantizedTail(op, gemm ? "Gemm" : "MatMul", g.act, g.q); !why.empty())
        return MatchResult::failure(why);
    return MatchResult::success();
}

}  // namespace

MatchResult QdqMatMulFusion::match(const ir::Node& op) const {
    Group g;
    return findGroup(op, g);
}

Status QdqMatMulFusion::apply(rewrite::Rewriter& rewriter, ir::Node& op) const {
    Group g;
    WH_ASSERT(findGroup(op, g).matched());
    ir::Graph& graph = rewriter.graph();
    rewrite::ScopedGroup group(rewriter, "Run a QDQ MatMul as one int8 QMatMul");
    auto fail = [&](Status s) {
        group.cancel();
        return s;
    };
    auto name = [](const ir::Value* v) { return v ? v->name() : std::string(); };
    const std::string base = op.output(0)->name();

    // The weights as [K, N]: a Gemm's transB = 1 weights transposed once here.
    std::string wName = name(g.dqw->input(0));
    if (g.transposed) {
        const ir::Tensor& w = *fixed(g.dqw->input(0));
        const int64_t n = w.dims[0], k = w.dims[1];
        std::string bytes(static_cast<std::size_t>(n * k), '\0');
        const auto* src = reinterpret_cast<const char*>(w.data->data());
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < k; ++j)
                bytes[static_cast<std::size_t>(j * n + i)] = src[i * k + j];
        ir::Tensor t;
        t.dtype = DType::kInt8;
        t.dims = {k, n};
        t.data = std::make_shared<const ir::Buffer>(std::move(bytes));
        wName = graph.uniqueName(base + "_qmatmul_w");
        if (auto v = rewriter.addInitializer(wName, std::move(t)); !v) return fail(v.error());
    }
    // The bias in float, as the DequantizeLinear computes it.
    std::string biasName = op.opType == "Gemm" && op.numInputs() > 2 ? name(op.input(2)) : "";
    if (g.dqb) {
        auto added = addDequantizedBias(rewriter, *g.dqb, base + "_qmatmul_bias");
        if (!added) return fail(added.error());
        biasName = *added;
    }

    rewrite::NewNode qmm;
    qmm.opType = std::string(kQMatMulOp);
    qmm.domain = std::string(kWhittleDomain);
    qmm.name = op.name;
    qmm.docString = op.docString;
    qmm.inputs = {name(g.dqx->input(0)), name(g.dqx->input(1)), name(g.dqx->input(2)),
                  wName,                 name(g.dqw->input(1)), name(g.dqw->input(2)),
                  name(g.q->input(1)),   name(g.q->input(2)),   biasName};
    qmm.outputs = {g.q->output(0)->name()};
    addActivationAttributes(g.act, qmm.attributes);

    std::vector<ir::Node*> old{&op};
    if (g.act.node) old.push_back(const_cast<ir::Node*>(g.act.node));
    old.push_back(const_cast<ir::Node*>(g.q));
    if (Status s = replaceGroup(rewriter, std::move(old), std::move(qmm), {g.dqx, g.dqw, g.dqb}, {});
        !s.isOk())
        return fail(s);
    return Status::ok();
}

}  // namespace wh::engine
