// Named edits (core/rewrite/edits.h): each op changes the graph as the studio's edit does, is
// one undo step, refuses bad arguments by name without changing anything, and survives the
// round trip through an edit script's JSON.

#include <cstdio>

#include <gtest/gtest.h>

#include "core/data/npy.h"
#include "core/engine/host_tensor.h"
#include "core/engine/plan.h"
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

// ---- Structural edits ---------------------------------------------------------------------------

namespace {

ir::Node* mutableNamed(ir::Graph& g, const std::string& name) {
    return const_cast<ir::Node*>(named(g, name));
}

// Attributes are move-only: no initializer lists.
std::vector<ir::Attribute> attributes(ir::Attribute a) {
    std::vector<ir::Attribute> list;
    list.push_back(std::move(a));
    return list;
}

std::vector<std::string> nodeOrder(const ir::Graph& g) {
    std::vector<std::string> names;
    for (const ir::Node* n : g.nodes()) names.push_back(n->name);
    return names;
}

// Applies `e`, expecting a kUsage refusal whose message holds every string in `expect`, and no
// change to the graph or the log.
void expectRefused(ir::Graph& g, Rewriter& r, const Edit& e,
                   const std::vector<std::string>& expect) {
    auto before = g.clone();
    const std::size_t steps = r.log().size();
    auto done = applyEdit(r, e);
    ASSERT_FALSE(done) << e.op << " " << e.args.dump();
    EXPECT_EQ(done.error().code(), StatusCode::kUsage);
    for (const std::string& s : expect)
        EXPECT_NE(done.error().message().find(s), std::string::npos)
            << "missing '" << s << "' in: " << done.error().message();
    std::string diff;
    EXPECT_TRUE(test::graphsEqual(*before, g, &diff)) << e.op << ": " << diff;
    EXPECT_EQ(r.log().size(), steps);
}

}  // namespace

TEST(Edits, AddNodeNamesWiresAndPlacesTheNode) {
    auto g = test::makeResNetLike(1, 4);
    Rewriter r(*g);
    const Edit add = addNodeEdit("Add", "", "", {"relu0_out", "block1.r1"}, 1, {});
    EditResult first = applyUndoRedo(*g, r, add);
    ASSERT_TRUE(first.created);
    const ir::Node* n = g->findNode(*first.created);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->opType, "Add");
    EXPECT_EQ(n->name, "Add");
    ASSERT_EQ(n->numOutputs(), 1);
    EXPECT_EQ(n->output(0)->name(), "Add_out0");
    EXPECT_EQ(n->input(0)->name(), "relu0_out");
    EXPECT_EQ(n->input(1)->name(), "block1.r1");
    ASSERT_TRUE(n->prev());
    EXPECT_EQ(n->prev()->name, "block1.relu1");  // right after the last producer of its inputs
    EXPECT_TRUE(g->isTopologicallySorted());

    // The same edit again: the name and output name are made unique.
    EditResult second = applyUndoRedo(*g, r, add);
    const ir::Node* m = g->findNode(*second.created);
    EXPECT_EQ(m->name, "Add_1");
    EXPECT_EQ(m->output(0)->name(), "Add_1_out0");

    // Given names, omitted and extra outputs, a domain and attributes; inputs from graph inputs
    // only: at the end.
    const Edit split{"add_node",
                     {{"op_type", "Split"},
                      {"domain", "com.example"},
                      {"name", "relu0"},
                      {"inputs", {"input", ""}},
                      {"outputs", {"", "half2", nullptr}},
                      {"attributes", {{{"name", "axis"}, {"type", "int"}, {"value", 1}}}}}};
    EditResult third = applyUndoRedo(*g, r, split);
    const ir::Node* s = g->findNode(*third.created);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->name, "relu0_1");
    EXPECT_EQ(s->domain, "com.example");
    ASSERT_EQ(s->numOutputs(), 3);
    EXPECT_EQ(s->output(0)->name(), "relu0_1_out0");
    EXPECT_EQ(s->output(1)->name(), "half2");
    EXPECT_EQ(s->output(2)->name(), "relu0_1_out2");
    ASSERT_EQ(s->numInputs(), 2);
    EXPECT_EQ(s->input(1), nullptr);
    EXPECT_EQ(s->attrInt("axis", -1), 1);
    EXPECT_EQ(g->nodeList().back(), s);
    EXPECT_TRUE(g->validate().isOk()) << g->validate().message();

    // Replaying the same script on a fresh copy of the model gives the same names and ids.
    auto fresh = test::makeResNetLike(1, 4);
    Rewriter rf(*fresh);
    auto script = scriptFromJson(json::parse(scriptToJson({add, add, split}).dump()));
    ASSERT_TRUE(script);
    for (const Edit& e : *script) ASSERT_TRUE(applyEdit(rf, e));
    std::string diff;
    EXPECT_TRUE(test::graphsEqual(*g, *fresh, &diff)) << diff;
}

TEST(Edits, AddNodeOnAnEdge) {
    auto g = test::makeResNetLike(1, 4);
    Rewriter r(*g);
    ir::Node* conv2 = mutableNamed(*g, "block1.conv2");
    EditResult one =
        applyUndoRedo(*g, r,
                      addNodeOnEdgeEdit(*g, "Clip", "", "block1.r1", conv2,
                                        attributes(ir::Attribute::makeFloat("max", 6.0f))));
    const ir::Node* clip = g->findNode(*one.created);
    ASSERT_TRUE(clip);
    EXPECT_EQ(clip->input(0)->name(), "block1.r1");
    EXPECT_EQ(conv2->input(0), clip->output(0));
    EXPECT_EQ(clip->output(0)->name(), "Clip_out0");
    EXPECT_EQ(clip->next(), conv2);
    EXPECT_EQ(clip->attrFloat("max", 0), 6.0f);

    // No consumer: every reader of relu0_out (the block's conv and its residual Add) reads it.
    EditResult all =
        applyUndoRedo(*g, r, addNodeOnEdgeEdit(*g, "Identity", "", "relu0_out", nullptr, {}));
    const ir::Node* id = g->findNode(*all.created);
    ASSERT_TRUE(id);
    EXPECT_EQ(named(*g, "block1.conv1")->input(0), id->output(0));
    EXPECT_EQ(named(*g, "block1.add")->input(1), id->output(0));
    EXPECT_EQ(g->findValue("relu0_out")->uses().size(), 1u);
    EXPECT_TRUE(g->validate().isOk()) << g->validate().message();

    expectRefused(*g, r,
                  addNodeOnEdgeEdit(*g, "Relu", "", "block1.r1", named(*g, "block1.add"), {}),
                  {"add_node", "'block1.add'", "does not read 'block1.r1'"});
    expectRefused(*g, r, addNodeOnEdgeEdit(*g, "Relu", "", "nope", nullptr, {}), {"'nope'"});
}

TEST(Edits, AddNodeRefusals) {
    auto g = test::makeResNetLike(1, 4);
    Rewriter r(*g);
    expectRefused(*g, r, {"add_node", {{"inputs", {"input"}}}}, {"add_node", "\"op_type\""});
    expectRefused(*g, r, addNodeEdit("Relu", "", "", {"missing"}, 1, {}),
                  {"add_node", "no tensor 'missing'"});
    expectRefused(*g, r, {"add_node", {{"op_type", "Relu"}, {"outputs", {"conv0_out"}}}},
                  {"'conv0_out' is taken"});
    expectRefused(*g, r, {"add_node", {{"op_type", "Relu"}, {"outputs", {"a", "a"}}}},
                  {"'a' is taken"});
    expectRefused(*g, r, {"add_node", {{"op_type", "Relu"}, {"num_outputs", 0}}}, {"num_outputs"});
    expectRefused(*g, r,
                  {"add_node",
                   {{"op_type", "Relu"},
                    {"attributes", {{{"name", "x"}, {"type", "int"}, {"value", "no"}}}}}},
                  {"attribute 'x'", "not a valid int"});
    ir::Tensor t = ir::Tensor::fromFloats("t", {1}, {1.0f});
    expectRefused(*g, r,
                  addNodeEdit("Constant", "", "", {}, 1,
                              attributes(ir::Attribute::makeTensor("value", std::move(t)))),
                  {"cannot record"});
}

TEST(Edits, SetInputRewiresAppendsDisconnectsAndKeepsOrder) {
    auto g = test::makeResNetLike(1, 4);
    Rewriter r(*g);
    ir::Node* add = mutableNamed(*g, "block1.add");
    ASSERT_EQ(add->numInputs(), 2);
    applyUndoRedo(*g, r, setInputEdit(*g, *add, 1, "block1.r1"));
    EXPECT_EQ(add->input(1)->name(), "block1.r1");
    applyUndoRedo(*g, r, setInputEdit(*g, *add, 2, "relu0_out"));  // appended
    ASSERT_EQ(add->numInputs(), 3);
    EXPECT_EQ(add->input(2)->name(), "relu0_out");
    applyUndoRedo(*g, r, setInputEdit(*g, *add, 2, ""));  // the last: trimmed
    EXPECT_EQ(add->numInputs(), 2);
    ir::Node* conv2 = mutableNamed(*g, "block1.conv2");
    applyUndoRedo(*g, r, setInputEdit(*g, *conv2, 1, ""));  // in the middle: omitted
    ASSERT_EQ(conv2->numInputs(), 3);
    EXPECT_EQ(conv2->input(1), nullptr);
    // The last input: its slot goes, the omitted one before it stays; connecting it again
    // appends it.
    applyUndoRedo(*g, r, setInputEdit(*g, *conv2, 2, ""));
    ASSERT_EQ(conv2->numInputs(), 2);
    EXPECT_EQ(conv2->input(1), nullptr);
    applyUndoRedo(*g, r, setInputEdit(*g, *conv2, 2, "block1.conv2.bias"));
    ASSERT_EQ(conv2->numInputs(), 3);
    EXPECT_EQ(conv2->input(2)->name(), "block1.conv2.bias");
    EXPECT_TRUE(g->isTopologicallySorted());

    // The Constant "shape" comes after the blocks: relu0 and what depends on it move after it.
    ir::Node* relu0 = mutableNamed(*g, "relu0");
    const std::vector<std::string> order = nodeOrder(*g);
    applyUndoRedo(*g, r, setInputEdit(*g, *relu0, 1, "shape"));
    EXPECT_EQ(relu0->input(1)->name(), "shape");
    EXPECT_TRUE(g->isTopologicallySorted());
    const std::vector<std::string> moved = nodeOrder(*g);
    const std::vector<std::string> expected{
        "conv0",        "bn0",          "shape_const", "relu0",      "block1.conv1",   "block1.bn1",
        "block1.relu1", "block1.conv2", "block1.bn2",  "block1.add", "block1.relu2",   "features",
        "gap",          "flatten",      "dropout",     "fc",         "output_identity"};
    ASSERT_EQ(order.size(), expected.size());
    EXPECT_EQ(moved, expected);
}

TEST(Edits, SetInputRefusesCyclesAndBadIndices) {
    auto g = test::makeResNetLike(1, 4);
    Rewriter r(*g);
    const ir::Node* relu0 = named(*g, "relu0");
    expectRefused(*g, r, setInputEdit(*g, *relu0, 0, "block1.out"),
                  {"set_input", "'relu0' (Relu)", "'block1.relu2' (Relu)", "cycle"});
    expectRefused(*g, r, setInputEdit(*g, *relu0, 0, "relu0_out"),
                  {"'relu0' (Relu)", "is the node itself"});
    expectRefused(*g, r, setInputEdit(*g, *relu0, 2, "input"), {"'relu0' (Relu)", "1 inputs"});
    expectRefused(*g, r, setInputEdit(*g, *relu0, 1, ""), {"no input 1 to disconnect"});
    expectRefused(*g, r, setInputEdit(*g, *relu0, 0, "nope"), {"no tensor 'nope'"});
    expectRefused(*g, r, {"set_input", {{"node", "relu0"}, {"index", -1}, {"tensor", "input"}}},
                  {"-1"});
}

TEST(Edits, ModelInputsAddRemoveAndShape) {
    auto g = test::makeResNetLike(1, 4);
    Rewriter r(*g);
    applyUndoRedo(*g, r,
                  addInputEdit("mask", ir::DType::kFloat16,
                               {ir::Dim::symbol("N"), ir::Dim::known(4), ir::Dim{}}));
    ASSERT_EQ(g->inputs().size(), 2u);
    EXPECT_EQ(g->inputs().back()->name(), "mask");
    EXPECT_EQ(g->inputs().back()->type.toString(), "float16[N,4,?]");
    applyUndoRedo(*g, r, removeInputEdit("mask"));
    EXPECT_EQ(g->inputs().size(), 1u);
    EXPECT_FALSE(g->findValue("mask"));

    // A "float32" dtype and no dims (unknown rank).
    applyUndoRedo(*g, r, {"add_input", {{"name", "extra"}, {"dtype", "float32"}}});
    EXPECT_EQ(g->findValue("extra")->type.elemType, ir::DType::kFloat);
    EXPECT_FALSE(g->findValue("extra")->type.shape);

    expectRefused(*g, r, removeInputEdit("input"), {"remove_input", "'input'", "'conv0' (Conv)"});
    expectRefused(*g, r, removeInputEdit("relu0_out"), {"'relu0_out' is not a model input"});
    expectRefused(*g, r, addInputEdit("conv0_out", ir::DType::kFloat, {}), {"'conv0_out'"});
    expectRefused(*g, r, {"add_input", {{"name", "x"}, {"dtype", "float33"}}}, {"'float33'"});
    expectRefused(*g, r, {"add_input", {{"name", "x"}, {"dtype", "float"}, {"dims", {1, -2}}}},
                  {"\"dims\" entry 1"});

    // set_input_shape: the type changes, value_info and intermediate types go, outputs stay.
    ASSERT_FALSE(g->valueInfos().empty());
    const std::string logitsType = g->findValue("logits")->type.toString();
    applyUndoRedo(*g, r,
                  setInputShapeEdit("input", {ir::Dim::known(1), ir::Dim::known(3),
                                              ir::Dim::known(16), ir::Dim::known(16)}));
    EXPECT_EQ(g->findValue("input")->type.toString(), "float[1,3,16,16]");
    EXPECT_TRUE(g->valueInfos().empty());
    EXPECT_EQ(g->findValue("conv0_out")->type.kind, ir::Type::Kind::kNone);
    EXPECT_EQ(g->findValue("logits")->type.toString(), logitsType);
    applyUndoRedo(*g, r,
                  {"set_input_shape",
                   {{"tensor", "input"}, {"dims", {2, "C", nullptr}}, {"dtype", "double"}}});
    EXPECT_EQ(g->findValue("input")->type.toString(), "double[2,C,?]");
    expectRefused(*g, r, setInputShapeEdit("conv0_out", {}), {"'conv0_out' is not a model input"});
    expectRefused(*g, r, {"set_input_shape", {{"tensor", "input"}}}, {"\"dims\""});

    // set_batch_size: dim 0 of every input with a shape ("extra" has none).
    applyUndoRedo(*g, r, setBatchSizeEdit(8));
    EXPECT_EQ(g->findValue("input")->type.toString(), "double[8,C,?]");
    EXPECT_FALSE(g->findValue("extra")->type.shape);
    applyUndoRedo(*g, r, setBatchSizeEdit("batch"));
    EXPECT_EQ(g->findValue("input")->type.toString(), "double[batch,C,?]");
    expectRefused(*g, r, setBatchSizeEdit(0), {"set_batch_size", "\"size\""});
    expectRefused(*g, r, setBatchSizeEdit(""), {"\"size\""});
}

TEST(Edits, SetBatchSizeDropsValueInfoAndSkipsDefaults) {
    auto g = test::makeResNetLike(1, 4);
    // A graph input with a default (an initializer) keeps its shape.
    ir::Value* w = g->findValue("fc.weight");
    w->type =
        ir::Type::tensor(ir::DType::kFloat, ir::Shape{{ir::Dim::known(10), ir::Dim::known(4)}});
    g->insertGraphInput(w);
    Rewriter r(*g);
    applyUndoRedo(*g, r, setBatchSizeEdit(2));
    EXPECT_EQ(g->findValue("input")->type.toString(), "float[2,3,8,8]");
    EXPECT_EQ(w->type.toString(), "float[10,4]");
    EXPECT_TRUE(g->valueInfos().empty());
    expectRefused(*g, r, setInputShapeEdit("fc.weight", {ir::Dim::known(1)}), {"initializer"});
    // Its declared type follows its data when set_initializer changes the dtype.
    applyUndoRedo(*g, r, castInitializerEdit("fc.weight", ir::DType::kDouble));
    EXPECT_EQ(w->type.toString(), "double[10,4]");
}

TEST(Edits, SetInitializerFillsCastsAndLoads) {
    auto g = test::makeResNetLike(1, 4);
    // An int64 initializer, and one whose data is external.
    std::vector<int64_t> ints = {1, 300, -5};
    ir::Tensor it;
    it.name = "ints";
    it.dtype = ir::DType::kInt64;
    it.dims = {3};
    it.data = std::make_shared<const ir::Buffer>(ints.data(), ints.size() * sizeof(int64_t));
    g->setInitializer(*g->addValue("ints"), std::move(it));
    g->findValue("block1.bn1.mean")->mutableInitializer()->storage = ir::TensorStorage::kExternal;
    Rewriter r(*g);

    applyUndoRedo(*g, r, fillInitializerEdit("fc.bias", 0.25));
    const ir::Tensor* bias = g->findValue("fc.bias")->initializer();
    ASSERT_EQ(bias->dims, std::vector<int64_t>{10});
    for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(bias->elementAsDouble(i), 0.25) << i;

    const std::vector<double> weights = [&] {
        std::vector<double> v;
        const ir::Tensor* t = g->findValue("fc.weight")->initializer();
        for (int64_t i = 0; i < t->numElements(); ++i) v.push_back(t->elementAsDouble(i));
        return v;
    }();
    applyUndoRedo(*g, r, castInitializerEdit("fc.weight", ir::DType::kFloat16));
    const ir::Tensor* half = g->findValue("fc.weight")->initializer();
    EXPECT_EQ(half->dtype, ir::DType::kFloat16);
    EXPECT_EQ(half->byteSize(), weights.size() * 2);
    for (std::size_t i = 0; i < weights.size(); ++i)
        EXPECT_NEAR(half->elementAsDouble(static_cast<int64_t>(i)), weights[i], 1e-3) << i;
    applyUndoRedo(*g, r, castInitializerEdit("fc.weight", ir::DType::kBFloat16));
    EXPECT_EQ(g->findValue("fc.weight")->initializer()->dtype, ir::DType::kBFloat16);

    expectRefused(*g, r, castInitializerEdit("ints", ir::DType::kInt8),
                  {"set_initializer", "element 1 of 'ints' (300)", "int8"});
    applyUndoRedo(*g, r, castInitializerEdit("ints", ir::DType::kInt16));
    const ir::Tensor* i16 = g->findValue("ints")->initializer();
    ASSERT_EQ(i16->dtype, ir::DType::kInt16);
    EXPECT_EQ(i16->elementAsDouble(1), 300);
    EXPECT_EQ(i16->elementAsDouble(2), -5);
    expectRefused(*g, r, castInitializerEdit("ints", ir::DType::kUInt8),
                  {"element 1 of 'ints' (300)", "uint8"});
    expectRefused(*g, r, castInitializerEdit("ints", ir::DType::kFloat),
                  {"'ints'", "from int16 to float"});
    expectRefused(*g, r, castInitializerEdit("ints", ir::DType::kInt16), {"int16 already"});
    expectRefused(*g, r, fillInitializerEdit("ints", 2.5), {"2.5 does not fit in 'ints'"});
    expectRefused(*g, r, fillInitializerEdit("ints", 40000), {"does not fit in 'ints'"});
    applyUndoRedo(*g, r, fillInitializerEdit("ints", -7));
    EXPECT_EQ(g->findValue("ints")->initializer()->elementAsDouble(0), -7);

    expectRefused(*g, r, fillInitializerEdit("block1.bn1.mean", 0),
                  {"'block1.bn1.mean'", "external file"});
    expectRefused(*g, r, fillInitializerEdit("relu0_out", 0),
                  {"'relu0_out' is not an initializer"});
    expectRefused(*g, r,
                  {"set_initializer", {{"tensor", "fc.bias"}, {"fill", 1}, {"dtype", "float"}}},
                  {"exactly one"});

    // From a .npy file: dims may change.
    const std::string npy = testing::TempDir() + "edits_test_bias.npy";
    ASSERT_TRUE(data::writeNpy(npy, engine::HostTensor::fromFloats({2, 2}, {1, 2, 3, 4})).isOk());
    applyUndoRedo(*g, r, initializerFromNpyEdit("fc.bias", npy));
    const ir::Tensor* loaded = g->findValue("fc.bias")->initializer();
    EXPECT_EQ(loaded->dims, (std::vector<int64_t>{2, 2}));
    EXPECT_EQ(loaded->dtype, ir::DType::kFloat);
    EXPECT_EQ(loaded->elementAsDouble(3), 4.0);
    std::remove(npy.c_str());
    expectRefused(*g, r, initializerFromNpyEdit("fc.bias", "/nonexistent/w.npy"),
                  {"set_initializer", "/nonexistent/w.npy"});
}

TEST(Edits, DeleteNodesErasesBypassesOrRefuses) {
    auto g = test::makeResNetLike(1, 4);
    const ir::Node* conv0 = named(*g, "conv0");
    test::addNode(*g, "Relu", "dead_relu", {conv0->output(0)->name()}, {"dead_a"});
    test::addNode(*g, "Identity", "dead_identity", {"dead_a"}, {"dead_b"});
    Rewriter r(*g);
    const std::size_t nodes = g->numNodes();

    // Nothing outside reads the selection: erased with its outputs.
    EditResult dead = applyUndoRedo(
        *g, r, deleteNodesEdit(*g, {named(*g, "dead_identity"), named(*g, "dead_relu")}));
    EXPECT_EQ(dead.label, "Delete 2 nodes");
    EXPECT_EQ(g->numNodes(), nodes - 2);
    EXPECT_FALSE(g->findValue("dead_a"));
    EXPECT_FALSE(g->findValue("dead_b"));

    // A chain read outside: its reader reads the chain's input; the chain's weights go.
    const std::size_t inits = g->initializers().size();
    applyUndoRedo(*g, r,
                  deleteNodesEdit(*g, {named(*g, "block1.conv1"), named(*g, "block1.bn1"),
                                       named(*g, "block1.relu1")}));
    EXPECT_EQ(named(*g, "block1.conv2")->input(0)->name(), "relu0_out");
    EXPECT_FALSE(g->findValue("block1.conv1.weight"));
    EXPECT_FALSE(g->findValue("block1.bn1.var"));
    EXPECT_EQ(g->initializers().size(), inits - 5);
    EXPECT_TRUE(g->validate().isOk()) << g->validate().message();

    // Two data tensors enter (the Add's residual), one leaves: refused by name.
    expectRefused(*g, r, deleteNodesEdit(*g, {named(*g, "block1.bn2"), named(*g, "block1.add")}),
                  {"delete_nodes", "'block1.sum'", "'block1.relu2' (Relu)"});
    expectRefused(*g, r, {"delete_nodes", {{"nodes", {{{"node", "relu0"}}, {{"node", "nope"}}}}}},
                  {"no node 'nope'"});
    expectRefused(*g, r, {"delete_nodes", {{"nodes", json::array()}}}, {"\"nodes\""});

    // The tail feeding the model output: the output keeps its name, produced by what fed the
    // selection; the Constant shape and the weights only the selection read go.
    applyUndoRedo(*g, r,
                  deleteNodesEdit(*g, {named(*g, "gap"), named(*g, "flatten"), named(*g, "dropout"),
                                       named(*g, "fc"), named(*g, "output_identity")}));
    ASSERT_EQ(g->outputs().size(), 1u);
    const ir::Value* logits = g->outputs().front();
    EXPECT_EQ(logits->name(), "logits");
    ASSERT_TRUE(logits->producer());
    EXPECT_EQ(logits->producer()->name, "features");
    EXPECT_EQ(logits->type.toString(), "float[N,10]");
    EXPECT_FALSE(g->findValue("features_out"));
    EXPECT_FALSE(named(*g, "shape_const"));
    EXPECT_FALSE(g->findValue("fc.weight"));
    EXPECT_FALSE(g->findValue("dropout.ratio"));
    EXPECT_TRUE(g->validate().isOk()) << g->validate().message();

    // One node: exactly delete_node.
    EditResult one = applyUndoRedo(*g, r, deleteNodesEdit(*g, {named(*g, "relu0")}));
    EXPECT_EQ(one.label, "Delete 'relu0' (Relu)");
    EXPECT_FALSE(named(*g, "relu0"));
}

TEST(Edits, DeleteNodesRefusesAModelInputTakingAnOutputName) {
    auto g = test::makeResNetLike(1, 4);
    Rewriter r(*g);
    // Everything from conv0 to the output: the entering tensor is the model input.
    std::vector<const ir::Node*> all;
    for (const ir::Node* n : g->nodes()) all.push_back(n);
    expectRefused(*g, r, deleteNodesEdit(*g, all), {"'logits'", "the model outputs", "'input'"});
}

TEST(Edits, NewOpsRoundTripThroughScripts) {
    auto g = test::makeResNetLike(1, 4);
    const ir::Node* relu0 = named(*g, "relu0");
    std::vector<Edit> edits{
        addNodeEdit("Relu", "", "r", {"input"}, 1,
                    attributes(ir::Attribute::makeFloat("alpha", 1.0f))),
        addNodeOnEdgeEdit(*g, "Identity", "", "relu0_out", named(*g, "block1.conv1"), {}),
        setInputEdit(*g, *relu0, 0, "input"),
        addInputEdit("m", ir::DType::kInt64, {ir::Dim::known(1), ir::Dim::symbol("S"), ir::Dim{}}),
        removeInputEdit("m"),
        setInputShapeEdit("input", {ir::Dim::known(1)}),
        setBatchSizeEdit("N"),
        fillInitializerEdit("fc.bias", 1.0),
        initializerFromNpyEdit("fc.bias", "w.npy"),
        castInitializerEdit("fc.weight", ir::DType::kFloat16),
        deleteNodesEdit(*g, {relu0, named(*g, "bn0")})};
    auto back = scriptFromJson(json::parse(scriptToJson(edits).dump()));
    ASSERT_TRUE(back) << back.error().message();
    ASSERT_EQ(back->size(), edits.size());
    for (std::size_t i = 0; i < edits.size(); ++i) {
        EXPECT_EQ((*back)[i].op, edits[i].op);
        EXPECT_EQ((*back)[i].args, edits[i].args) << (*back)[i].args.dump();
    }
    EXPECT_EQ(edits[3].args["dims"], json::parse(R"([1, "S", null])"));
    EXPECT_EQ(edits[3].args["dtype"], "int64");
    EXPECT_EQ(edits[1].args["edge"]["consumer"]["node"], "block1.conv1");

    Rewriter r(*g);
    auto unknown = applyEdit(r, {"frobnicate"});
    ASSERT_FALSE(unknown);
    for (const char* op : {"add_node", "set_input", "add_input", "remove_input", "set_input_shape",
                           "set_batch_size", "set_initializer", "delete_nodes"})
        EXPECT_NE(unknown.error().message().find(op), std::string::npos) << op;
}

TEST(Edits, AddOutputDeclaresTheGivenTypeWhenTheTensorHasNone) {
    auto g = test::makeResNetLike(1, 4);
    Rewriter r(*g);
    ir::Value* v = g->findValue("block1.r1");
    ASSERT_TRUE(v);
    v->type = ir::Type{};  // as in a PyTorch export, which declares no intermediate types
    const ir::Type type = ir::Type::tensor(
        ir::DType::kFloat, ir::Shape{{ir::Dim::symbol("N"), ir::Dim::known(4), ir::Dim{}}});
    const Edit e = addOutputEdit("block1.r1", &type);
    EXPECT_EQ(e.args["dtype"], "float");
    EXPECT_EQ(e.args["dims"], json::parse(R"(["N", 4, null])"));
    applyUndoRedo(*g, r, e);
    EXPECT_TRUE(v->isGraphOutput());
    EXPECT_EQ(v->type.toString(), "float[N,4,?]");
    // Through a script's JSON, the same.
    const auto back = scriptFromJson(scriptToJson({e}));
    ASSERT_TRUE(back);
    EXPECT_EQ((*back)[0].args, e.args);
    // Without a type, as before: nothing declared.
    EXPECT_FALSE(addOutputEdit("relu0_out").args.contains("dtype"));
}

namespace {

ir::Value* addInt64s(ir::Graph& g, const std::string& name, std::vector<int64_t> dims,
                     std::vector<int64_t> values) {
    ir::Value* v = test::value(g, name);
    g.setInitializer(v, engine::HostTensor::fromInt64s(std::move(dims), values).toIr(name));
    return v;
}

std::vector<float> runFloats(const ir::Model& model, const engine::HostTensor& x, int output) {
    auto plan = engine::Plan::compile(model);
    EXPECT_TRUE(plan) << plan.error().message();
    if (!plan) return {};
    auto outs = plan->run({x});
    EXPECT_TRUE(outs) << outs.error().message();
    if (!outs) return {};
    const engine::HostTensor& y = outs->at(static_cast<std::size_t>(output));
    return {y.data<float>(), y.data<float>() + y.numElements()};
}

}  // namespace

// fold_constants: a constant chain and the Shape -> Gather -> Unsqueeze -> Concat -> Reshape
// chain PyTorch exports fold into two initializers, an Identity of a weight into the weight; an Expand that would add 4 MiB and a
// DequantizeLinear stay, each with its reason; the outputs are the same; one undo step.
TEST(Edits, FoldConstantsComputesTheConstantPart) {
    ir::Model model;
    model.opsetImports.push_back({"", 13, {}});
    ir::Graph& g = *model.graph;
    ir::Value* x = test::value(g, "x");
    x->type = ir::Type::tensor(ir::DType::kFloat, ir::Shape{{ir::Dim::known(2), ir::Dim::known(4)}});
    g.insertGraphInput(x);
    test::addInitializer(g, "w", {4}, {1, 2, 3, 4});
    test::addInitializer(g, "c", {4}, {0.5f, 0.5f, 2, 2});
    test::addNode(g, "Mul", "scale", {"w", "c"}, {"wc"});
    test::addNode(g, "Add", "add", {"x", "wc"}, {"xa"});
    ir::Value* q = test::value(g, "q");
    ir::Tensor qt{"q", ir::DType::kInt8, {4}};
    qt.data = std::make_shared<const ir::Buffer>(std::string{1, 2, 3, 4});
    g.setInitializer(q, std::move(qt));
    test::addInitializer(g, "qs", {}, {0.25f});
    test::addNode(g, "DequantizeLinear", "dq", {"q", "qs"}, {"qd"});
    test::addNode(g, "Add", "add2", {"xa", "qd"}, {"xb"});
    test::addNode(g, "Shape", "shape", {"x"}, {"s"});
    addInt64s(g, "zero", {}, {0});
    test::addNode(g, "Gather", "gather", {"s", "zero"}, {"batch"});
    addInt64s(g, "axes", {1}, {0});
    test::addNode(g, "Unsqueeze", "unsqueeze", {"batch", "axes"}, {"batch1"});
    addInt64s(g, "minus1", {1}, {-1});
    test::addNode(g, "Concat", "concat", {"batch1", "minus1"}, {"target"})
        ->attributes()
        .push_back(ir::Attribute::makeInt("axis", 0));
    // PyTorch shares a weight through an Identity: its reader reads the weight (no copy).
    test::addInitializer(g, "bias", {4}, {0.1f, 0.2f, 0.3f, 0.4f});
    test::addNode(g, "Identity", "share", {"bias"}, {"bias_shared"});
    test::addNode(g, "Add", "add3", {"xb", "bias_shared"}, {"xc"});
    test::addNode(g, "Reshape", "reshape", {"xc", "target"}, {"y"});
    g.insertGraphOutput(test::value(g, "y"));
    // Expand of a scalar to 1024 x 1024 floats: 4 MiB the file would gain.
    test::addInitializer(g, "one", {}, {1});
    addInt64s(g, "big", {2}, {1024, 1024});
    test::addNode(g, "Expand", "expand", {"one", "big"}, {"ones"});
    test::addNode(g, "ReduceMax", "max", {"ones"}, {"m"});
    g.insertGraphOutput(test::value(g, "m"));
    ASSERT_TRUE(g.validate().isOk()) << g.validate().message();

    const engine::HostTensor in =
        engine::HostTensor::fromFloats({2, 4}, {1, -2, 3, -4, 5, -6, 7, -8});
    const std::vector<float> before = runFloats(model, in, 0);
    ASSERT_EQ(before.size(), 8u);

    Rewriter r(g);
    EditResult done = applyUndoRedo(g, r, foldConstantsEdit(13));
    EXPECT_EQ(done.label, "Fold constants");
    EXPECT_TRUE(done.summary.rfind("Folded 6 nodes into 2 initializers; left 2: ", 0) == 0)
        << done.summary;
    EXPECT_NE(done.summary.find("DequantizeLinear 'dq': it keeps quantized weights quantized"),
              std::string::npos)
        << done.summary;
    EXPECT_NE(done.summary.find("Expand 'expand': its output (4.0 MiB) would grow the model"),
              std::string::npos)
        << done.summary;
    EXPECT_FALSE(g.findValue("bias_shared"));
    EXPECT_EQ(named(g, "add3")->input(1)->name(), "bias");
    for (const char* op : {"Mul", "Shape", "Gather", "Unsqueeze", "Concat", "Identity"})
        EXPECT_EQ(test::countOps(g, op), 0) << op;
    EXPECT_EQ(test::countOps(g, "Expand"), 1);
    EXPECT_EQ(test::countOps(g, "DequantizeLinear"), 1);
    const ir::Tensor* target = g.findValue("target")->initializer();
    ASSERT_TRUE(target);
    EXPECT_EQ(std::vector<int64_t>(target->values<int64_t>().begin(), target->values<int64_t>().end()),
              (std::vector<int64_t>{2, -1}));
    const ir::Tensor* wc = g.findValue("wc")->initializer();
    ASSERT_TRUE(wc);
    EXPECT_EQ(std::vector<float>(wc->values<float>().begin(), wc->values<float>().end()),
              (std::vector<float>{0.5f, 1, 6, 8}));
    // The weights only the folded nodes read are gone; the intermediate tensors too.
    for (const char* gone : {"w", "c", "zero", "axes", "minus1", "s", "batch", "batch1"})
        EXPECT_FALSE(g.findValue(gone)) << gone;
    EXPECT_TRUE(g.validate().isOk()) << g.validate().message();
    EXPECT_EQ(runFloats(model, in, 0), before);

    // A second fold finds nothing new to compute and changes nothing.
    const std::size_t steps = r.log().undoCount();
    auto again = applyEdit(r, foldConstantsEdit(13));
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->summary.rfind("Nothing to fold", 0) == 0) << again->summary;
    EXPECT_EQ(r.log().undoCount(), steps);

    // The opset is required, and survives a script's JSON.
    EXPECT_FALSE(applyEdit(r, Edit{"fold_constants"}));
    auto script = scriptFromJson(scriptToJson({foldConstantsEdit(17)}));
    ASSERT_TRUE(script);
    EXPECT_EQ(script->front().args.at("opset"), 17);
}
