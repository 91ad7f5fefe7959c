// Named edits (core/rewrite/edits.h): each op changes the graph as the studio's edit does, is
// one undo step, refuses bad arguments by name without changing anything, and survives the
// round trip through an edit script's JSON.

#include <gtest/gtest.h>

#include "core/rewrite/edits.h"
#include "tests/core/rewrite/graph_equal.h"
#include "tests/core/rewrite/test_graphs.h"

using namespace wh;
using namespace wh::rewrite;
using nlohmann::json;

namespace {

const ir::Node* named(const ir::Graph& g, const std::string& name) {
    for (const ir::Node* n : g.nodes())
        if (n->name == name) return n;
    return nullptr;
}

// Applies `e` and checks it is one undo step that restores the graph exactly, then redoes it.
EditResult applyUndoRedo(ir::Graph& g, Rewriter& r, const Edit& e) {
    auto before = g.clone();
    auto done = applyEdit(r, e);
    EXPECT_TRUE(done) << done.error().message();
    if (!done) return {};
    auto after = g.clone();
    EXPECT_TRUE(r.undo().isOk());
    std::string diff;
    EXPECT_TRUE(test::graphsEqual(*before, g, &diff)) << e.op << " undo: " << diff;
    EXPECT_TRUE(r.redo().isOk());
    EXPECT_TRUE(test::graphsEqual(*after, g, &diff)) << e.op << " redo: " << diff;
    return *done;
}

}  // namespace

TEST(Edits, EachOpChangesTheGraphAndIsOneUndoStep) {
    auto g = test::makeResNetLike(2, 4);
    Rewriter r(*g);
    const std::size_t nodes = g->numNodes();

    // delete_node: a Relu (one data input) is bypassed.
    const ir::Node* relu = nullptr;
    for (const ir::Node* n : g->nodes())
        if (n->opType == "Relu") relu = n;
    ASSERT_TRUE(relu);
    const std::string reluName = relu->name;
    EditResult del = applyUndoRedo(*g, r, deleteNodeEdit(*g, *relu));
    EXPECT_EQ(del.label, "Delete '" + reluName + "' (Relu)");
    EXPECT_FALSE(named(*g, reluName));
    EXPECT_EQ(g->numNodes(), nodes - 1);

    // rename_node, insert_identity, set_attribute.
    const ir::Node* gemm = nullptr;
    for (const ir::Node* n : g->nodes())
        if (n->opType == "Gemm") gemm = n;
    ASSERT_TRUE(gemm);
    applyUndoRedo(*g, r, renameNodeEdit(*g, *gemm, "classifier"));
    EXPECT_EQ(gemm->name, "classifier");
    EditResult id = applyUndoRedo(*g, r, insertIdentityEdit(*g, *gemm));
    ASSERT_TRUE(id.created);
    EXPECT_EQ(g->findNode(*id.created)->opType, "Identity");
    EXPECT_EQ(g->findNode(*id.created)->name, "classifier_identity");
    auto alpha = setAttributeEdit(*g, *gemm, ir::Attribute::makeFloat("alpha", 0.5f));
    ASSERT_TRUE(alpha);
    applyUndoRedo(*g, r, *alpha);
    EXPECT_EQ(gemm->attribute("alpha")->f, 0.5f);

    // Tensors: make one a model output, rename it (the output follows), remove the output.
    const std::string tensor = gemm->input(0)->name();
    applyUndoRedo(*g, r, addOutputEdit(tensor));
    EXPECT_TRUE(g->findValue(tensor)->isGraphOutput());
    applyUndoRedo(*g, r, renameTensorEdit(tensor, "features"));
    ASSERT_TRUE(g->findValue("features"));
    EXPECT_TRUE(g->findValue("features")->isGraphOutput());
    EXPECT_EQ(gemm->input(0)->name(), "features");
    applyUndoRedo(*g, r, removeOutputEdit("features"));
    EXPECT_FALSE(g->findValue("features")->isGraphOutput());
}

TEST(Edits, BadArgumentsAreRefusedByNameAndChangeNothing) {
    auto g = test::makeResNetLike(1, 4);
    Rewriter r(*g);
    auto before = g->clone();
    const ir::Node* first = *g->nodes().begin();
    const ir::Node* second = *std::next(g->nodes().begin());
    auto refused = [&](const Edit& e, const std::string& expect) {
        auto done = applyEdit(r, e);
        ASSERT_FALSE(done) << e.op;
        EXPECT_EQ(done.error().code(), StatusCode::kUsage);
        EXPECT_NE(done.error().message().find(expect), std::string::npos) << done.error().message();
        std::string diff;
        EXPECT_TRUE(test::graphsEqual(*before, *g, &diff)) << diff;
        EXPECT_FALSE(r.canUndo());
    };
    refused({"delete_node", {{"node", "nope"}}}, "no node 'nope'");
    refused({"delete_node", {{"node_id", 99999}}}, "no node #99999");
    refused(renameNodeEdit(*g, *first, second->name), "has that name already");
    refused({"set_attribute",
             {{"node", first->name},
              {"attribute", {{"name", "group"}, {"type", "int"}, {"value", 1.5}}}}},
            "not a valid int");
    refused(addOutputEdit(g->outputs().front()->name()), "is a model output already");
    refused(removeOutputEdit(first->input(0)->name()), "is not a model output");
    refused(renameTensorEdit("missing", "x"), "no tensor 'missing'");
    refused({"frobnicate", {}}, "unknown edit 'frobnicate'");
    // A node whose outputs are read and that cannot be bypassed (two data inputs: the Add).
    for (const ir::Node* n : g->nodes())
        if (n->opType == "Add") {
            refused(deleteNodeEdit(*g, *n), "Delete its consumers first");
            break;
        }
}

TEST(Edits, ScriptsRoundTripThroughJson) {
    auto g = test::makeResNetLike(1, 4);
    const ir::Node* first = *g->nodes().begin();
    std::vector<Edit> edits{
        renameNodeEdit(*g, *first, "stem"), insertIdentityEdit(*g, *first),
        *setAttributeEdit(*g, *first, ir::Attribute::makeInts("strides", {1, 1})),
        addOutputEdit(first->output(0)->name())};
    const json j = scriptToJson(edits);
    EXPECT_EQ(j["format"], "whittle-edit-script");
    auto back = scriptFromJson(json::parse(j.dump()));
    ASSERT_TRUE(back) << back.error().message();
    ASSERT_EQ(back->size(), edits.size());
    for (std::size_t i = 0; i < edits.size(); ++i) {
        EXPECT_EQ((*back)[i].op, edits[i].op);
        EXPECT_EQ((*back)[i].args, edits[i].args);
    }
    // A float attribute stays a float through the text (1.0, not 1).
    auto f = setAttributeEdit(*g, *first, ir::Attribute::makeFloat("alpha", 1.0f));
    auto fb = scriptFromJson(json::parse(scriptToJson({*f}).dump()));
    ASSERT_TRUE(fb);
    Rewriter r(*g);
    ASSERT_TRUE(applyEdit(r, fb->front()));
    EXPECT_EQ(first->attribute("alpha")->type, ir::AttrType::kFloat);

    EXPECT_FALSE(scriptFromJson(json::parse(R"({"edits": []})")));
    EXPECT_FALSE(scriptFromJson(
        json::parse(R"({"format": "whittle-edit-script", "version": 2, "edits": []})")));
    auto noOp = scriptFromJson(json::parse(
        R"({"format": "whittle-edit-script", "version": 1, "edits": [{"node": "a"}]})"));
    ASSERT_FALSE(noOp);
    EXPECT_NE(noOp.error().message().find("edit 1 has no \"op\""), std::string::npos);
}

TEST(Edits, UnnamedOrDuplicateNodesAreReferencedById) {
    auto g = test::makeResNetLike(1, 4);
    ir::Node* a = *g->nodes().begin();
    ir::Node* b = *std::next(g->nodes().begin());
    a->name = "";
    b->name = "";
    const Edit e = renameNodeEdit(*g, *b, "second");
    EXPECT_FALSE(e.args.contains("node"));
    EXPECT_EQ(e.args["node_id"], b->id());
    Rewriter r(*g);
    ASSERT_TRUE(applyEdit(r, e));
    EXPECT_EQ(b->name, "second");
}

TEST(Edits, CleanupAndDedupeInitializers) {
    auto g = test::makeResNetLike(1, 4);
    const std::size_t nodes = g->numNodes(), inits = g->initializers().size();
    // A dead chain (Relu -> Identity, nothing reads the end) and an initializer nothing reads.
    const ir::Node* conv = nullptr;
    for (const ir::Node* n : g->nodes())
        if (n->opType == "Conv") conv = n;
    ASSERT_TRUE(conv);
    test::addNode(*g, "Relu", "dead_relu", {conv->output(0)->name()}, {"dead_a"});
    test::addNode(*g, "Identity", "dead_identity", {"dead_a"}, {"dead_b"});
    test::addInitializer(*g, "unused_w", {2}, {1, 2});
    // A copy of the conv's weight, read instead of it.
    const ir::Value* weight = conv->input(1);
    ir::Tensor copy = *weight->initializer();
    copy.name = "weight_copy";
    ir::Value* wc = *g->addValue("weight_copy");
    g->setInitializer(wc, std::move(copy));
    g->setInput(const_cast<ir::Node*>(conv), 1, wc);
    ASSERT_FALSE(weight->hasUses());  // the original is now unused: cleanup would drop it

    Rewriter r(*g);
    applyUndoRedo(*g, r, dedupeInitializersEdit());
    EXPECT_EQ(conv->input(1)->name(), weight->name());  // the first of the two stays
    EXPECT_FALSE(g->findValue("weight_copy"));
    EXPECT_EQ(g->initializers().size(), inits + 1);  // + unused_w

    EditResult clean = applyUndoRedo(*g, r, cleanupEdit());
    EXPECT_EQ(clean.label, "Clean up dead nodes and unused initializers");
    EXPECT_EQ(g->numNodes(), nodes);
    EXPECT_FALSE(named(*g, "dead_relu"));
    EXPECT_FALSE(named(*g, "dead_identity"));
    EXPECT_FALSE(g->findValue("unused_w"));
    EXPECT_EQ(g->initializers().size(), inits);
    // Nothing left to clean: no change, no undo step.
    const std::size_t steps = r.log().size();
    ASSERT_TRUE(applyEdit(r, cleanupEdit()));
    EXPECT_EQ(r.log().size(), steps);
}
