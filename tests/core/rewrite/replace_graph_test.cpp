// replaceGraph: a graph turned into another (here: the same ResNet-like graph cleaned up and with
// BatchNormalization folded, as lowering does) through the Rewriter, as one undo step; undo gives
// the original back exactly; graphs with other inputs or outputs are refused, nothing changed.

#include <cstring>

#include <gtest/gtest.h>

#include "core/rewrite/greedy_driver.h"
#include "core/rewrite/pattern.h"
#include "core/rewrite/pattern_sets.h"
#include "core/rewrite/replace_graph.h"
#include "tests/core/rewrite/graph_equal.h"
#include "tests/core/rewrite/test_graphs.h"

using namespace wh;
using namespace wh::rewrite;

namespace {

// The target, as the studio gets it from a compression run: another graph of the same model.
std::unique_ptr<ir::Graph> folded(const ir::Graph& g) {
    auto out = g.clone();
    Rewriter rw(*out);
    PatternSet set;
    addCleanupPatterns(set);
    addFusionPatterns(set);
    applyPatternsGreedily(rw, set);
    return out;
}

// Same nodes (op, name, domain, attributes' names, wiring by name) and initializers (name,
// bytes), in order; node ids may differ.
void expectSameStructure(const ir::Graph& a, const ir::Graph& b) {
    ASSERT_EQ(a.numNodes(), b.numNodes());
    auto ia = a.nodes().begin();
    for (const ir::Node* nb : b.nodes()) {
        const ir::Node* na = *ia++;
        EXPECT_EQ(na->opType, nb->opType);
        EXPECT_EQ(na->name, nb->name);
        ASSERT_EQ(na->numInputs(), nb->numInputs()) << na->name;
        for (int i = 0; i < na->numInputs(); ++i)
            EXPECT_EQ(na->input(i) ? na->input(i)->name() : "", nb->input(i) ? nb->input(i)->name() : "")
                << na->name << " input " << i;
        for (int i = 0; i < na->numOutputs(); ++i)
            EXPECT_EQ(na->output(i)->name(), nb->output(i)->name()) << na->name;
        EXPECT_EQ(na->attributes().size(), nb->attributes().size()) << na->name;
    }
    std::map<std::string, const ir::Tensor*> ta, tb;
    for (const ir::Value* v : a.initializers()) ta[v->name()] = v->initializer();
    for (const ir::Value* v : b.initializers()) tb[v->name()] = v->initializer();
    ASSERT_EQ(ta.size(), tb.size());
    for (const auto& [name, t] : tb) {
        ASSERT_TRUE(ta.count(name)) << name;
        ASSERT_EQ(ta[name]->byteSize(), t->byteSize()) << name;
        EXPECT_EQ(std::memcmp(ta[name]->data->data(), t->data->data(), t->byteSize()), 0) << name;
    }
}

}  // namespace

TEST(ReplaceGraph, BecomesTheTargetAsOneUndoStep) {
    auto g = test::makeResNetLike(2, 4, 7);
    const auto original = g->clone();
    const auto target = folded(*g);
    ASSERT_LT(target->numNodes(), g->numNodes());  // BN folded, Identity and Dropout gone
    Rewriter rw(*g);
    rw.beginGroup("Apply the compressed model");
    const Status applied = replaceGraph(rw, *target);
    ASSERT_TRUE(applied.isOk()) << applied.message();
    rw.endGroup();
    expectSameStructure(*g, *target);
    ASSERT_TRUE(rw.undo().isOk());
    std::string diff;
    EXPECT_TRUE(test::graphsEqual(*g, *original, &diff)) << diff;
    ASSERT_TRUE(rw.redo().isOk());
    expectSameStructure(*g, *target);
}

TEST(ReplaceGraph, RefusesOtherInputsOrOutputsAndChangesNothing) {
    auto g = test::makeResNetLike(1, 4, 3);
    const auto original = g->clone();
    auto target = folded(*g);
    {
        Rewriter other(*target);
        ASSERT_TRUE(other.renameValue(*target->outputs()[0], "scores").isOk());
    }
    Rewriter rw(*g);
    const Status s = replaceGraph(rw, *target);
    ASSERT_FALSE(s.isOk());
    EXPECT_EQ(s.code(), StatusCode::kUnsupported);
    EXPECT_NE(s.message().find("outputs"), std::string::npos) << s.message();
    std::string diff;
    EXPECT_TRUE(test::graphsEqual(*g, *original, &diff)) << diff;
}
