// QdqConvFusion (qconv.h): the QDQ group around a Conv → one QConv node.

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/engine/fake_quantize.h"
#include "core/engine/qconv.h"
#include "core/engine/qdq_match.h"

namespace wh::engine {

namespace {

using ir::DType;
using rewrite::MatchResult;
using namespace qdq;

// The nodes of one group, as match() finds them.
struct Group {
    const ir::Node* dqx = nullptr;
    const ir::Node* dqw = nullptr;
    const ir::Node* dqb = nullptr;  // null: no bias, or a float constant bias
    Activation act;
    const ir::Node* q = nullptr;
};

MatchResult findGroup(const ir::Node& conv, Group& g) {
    const ir::Tensor* w = nullptr;
    if (std::string why = quantizedOperandsProblem(conv, "Conv", 4, g.dqx, g.dqw, w); !why.empty())
        return MatchResult::failure(why);
    const int64_t channels = w->dims[0];
    if (std::string why = perChannelProblem(*g.dqw, "weight", 4, channels); !why.empty())
        return MatchResult::failure(why);

    if (std::string why = biasProblem(conv.input(2), channels, g.dqb); !why.empty())
        return MatchResult::failure(why);

    if (std::string why = readQuantizedTail(conv, "Conv", g.act, g.q); !why.empty())
        return MatchResult::failure(why);
    if (conv.attribute("kernel_shape") &&
        conv.attrInts("kernel_shape") != std::vector<int64_t>(w->dims.begin() + 2, w->dims.end()))
        return MatchResult::failure("kernel_shape does not match the weights");
    return MatchResult::success();
}

}  // namespace

MatchResult QdqConvFusion::match(const ir::Node& conv) const {
    Group g;
    return findGroup(conv, g);
}

Status QdqConvFusion::apply(rewrite::Rewriter& rewriter, ir::Node& conv) const {
    Group g;
    WH_ASSERT(findGroup(conv, g).matched());
    rewrite::ScopedGroup group(rewriter, "Run a QDQ Conv as one int8 QConv");
    auto fail = [&](Status s) {
        group.cancel();
        return s;
    };
    auto name = [](const ir::Value* v) { return v ? v->name() : std::string(); };

    // The bias in float, as the DequantizeLinear computes it.
    std::string biasName = name(conv.input(2));
    if (g.dqb) {
        auto added = addDequantizedBias(rewriter, *g.dqb, conv.output(0)->name() + "_qconv_bias");
        if (!added) return fail(added.error());
        biasName = *added;
    }

    rewrite::NewNode qconv;
    qconv.opType = std::string(kQConvOp);
    qconv.domain = std::string(kWhittleDomain);
    qconv.name = conv.name;
    qconv.docString = conv.docString;
    qconv.inputs = {name(g.dqx->input(0)), name(g.dqx->input(1)), name(g.dqx->input(2)),
                    name(g.dqw->input(0)), name(g.dqw->input(1)), name(g.dqw->input(2)),
                    name(g.q->input(1)),   name(g.q->input(2)),   biasName};
    qconv.outputs = {g.q->output(0)->name()};
    for (const ir::Attribute& a : conv.attributes()) qconv.attributes.push_back(a.clone());
    addActivationAttributes(g.act, qconv.attributes);

    // Replaced: the Conv, activation and QuantizeLinear, where the Conv stands (the
    // DequantizeLinear of the weights may come first in the graph, before x is computed); each
    // DequantizeLinear only the Conv read goes too.
    std::vector<ir::Node*> old{&conv};
    if (g.act.node) old.push_back(const_cast<ir::Node*>(g.act.node));
    old.push_back(const_cast<ir::Node*>(g.q));
    if (Status s = replaceGroup(rewriter, std::move(old), std::move(qconv),
                                {g.dqx, g.dqw, g.dqb}, {});
        !s.isOk())
        return fail(s);
    return Status::ok();
}

}  // namespace wh::engine
