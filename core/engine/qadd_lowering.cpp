// QdqAddFusion (qadd.h): the QDQ group around an Add → one QAdd node.

#include "core/engine/fake_quantize.h"
#include "core/engine/qadd.h"
#include "core/engine/qdq_match.h"

namespace wh::engine {

namespace {

using rewrite::MatchResult;
using namespace qdq;

struct Group {
    const ir::Node* dqa = nullptr;
    const ir::Node* dqb = nullptr;
    Activation act;
    const ir::Node* q = nullptr;
};

MatchResult findGroup(const ir::Node& add, Group& g) {
    if (add.numInputs() != 2 || add.numOutputs() != 1 || !add.output(0))
        return MatchResult::failure("Add without two inputs and one output");
    g.dqa = producedBy(add.input(0), "DequantizeLinear");
    g.dqb = producedBy(add.input(1), "DequantizeLinear");
    if (!g.dqa || !g.dqb) return MatchResult::failure("an Add input is not a DequantizeLinear output");
    if (std::string why = perTensorProblem(*g.dqa, "input A"); !why.empty())
        return MatchResult::failure(why);
    if (std::string why = perTensorProblem(*g.dqb, "input B"); !why.empty())
        return MatchResult::failure(why);

    if (std::string why = readQuantizedTail(add, "Add", g.act, g.q); !why.empty())
        return MatchResult::failure(why);
    return MatchResult::success();
}

}  // namespace

MatchResult QdqAddFusion::match(const ir::Node& add) const {
    Group g;
    return findGroup(add, g);
}

Status QdqAddFusion::apply(rewrite::Rewriter& rewriter, ir::Node& add) const {
    Group g;
    WH_ASSERT(findGroup(add, g).matched());
    rewrite::ScopedGroup group(rewriter, "Run a QDQ Add as one int8 QAdd");
    auto name = [](const ir::Value* v) { return v ? v->name() : std::string(); };

    rewrite::NewNode qadd;
    qadd.opType = std::string(kQAddOp);
    qadd.domain = std::string(kWhittleDomain);
    qadd.name = add.name;
    qadd.docString = add.docString;
    qadd.inputs = {name(g.dqa->input(0)), name(g.dqa->input(1)), name(g.dqa->input(2)),
                   name(g.dqb->input(0)), name(g.dqb->input(1)), name(g.dqb->input(2)),
                   name(g.q->input(1)),   name(g.q->input(2))};
    qadd.outputs = {g.q->output(0)->name()};
    addActivationAttributes(g.act, qadd.attributes);

    std::vector<ir::Node*> old{&add};
    if (g.act.node) old.push_back(const_cast<ir::Node*>(g.act.node));
    old.push_back(const_cast<ir::Node*>(g.q));
    if (Status s = replaceGroup(rewriter, std::move(old), std::move(qadd), {g.dqa, g.dqb}, {});
        !s.isOk()) {
        group.cancel();
        return s;
    }
    return Status::ok();
}

}  // namespace wh::engine
