// Each Rewriter operation: its effect, and that undo/redo restore the graph exactly.

#include <algorithm>

#include <gtest/gtest.h>

#include "core/rewrite/rewriter.h"
#include "graph_equal.h"
#include "test_graphs.h"

namespace wh::rewrite {
namespace {

using test::graphsEqual;
using test::makeResNetLike;

class RewriterOps : public ::testing::Test {
protected:
    void SetUp() override {
        graph = makeResNetLike(2);
        ASSERT_TRUE(graph->validate().isOk()) << graph->validate().message();
        original = graph->clone();
        rewriter = std::make_unique<Rewriter>(*graph);
    }
    Rewriter& r() { return *rewriter; }
    ir::Node* node(const std::string& name) {
        for (ir::Node* n : graph->nodes())
            if (n->name == name) return n;
        ADD_FAILURE() << "no node " << name;
        return nullptr;
    }
    ir::Value* value(const std::string& name) {
        ir::Value* v = graph->findValue(name);
        EXPECT_NE(v, nullptr) << name;
        return v;
    }
    // Undo everything -> original; redo everything -> the edited graph; undo again -> original.
    void expectUndoRedoExact() {
        auto edited = graph->clone();
        std::string diff;
        const std::size_t steps = r().log().undoCount();
        while (r().canUndo()) ASSERT_TRUE(r().undo().isOk());
        EXPECT_TRUE(graphsEqual(*original, *graph, &diff)) << "after undo: " << diff;
        EXPECT_TRUE(graph->validate().isOk()) << graph->validate().message();
        for (std::size_t i = 0; i < steps; ++i) ASSERT_TRUE(r().redo().isOk());
        EXPECT_TRUE(graphsEqual(*edited, *graph, &diff)) << "after redo: " << diff;
        while (r().canUndo()) ASSERT_TRUE(r().undo().isOk());
        EXPECT_TRUE(graphsEqual(*original, *graph, &diff)) << "after second undo: " << diff;
    }
    void expectUnchanged() {
        std::string diff;
        EXPECT_TRUE(graphsEqual(*original, *graph, &diff)) << diff;
        EXPECT_EQ(r().log().size(), 0u);
    }

    std::unique_ptr<ir::Graph> graph;
    std::unique_ptr<ir::Graph> original;
    std::unique_ptr<Rewriter> rewriter;
};

TEST_F(RewriterOps, InsertIdentityOnEdgeFeedingOneConsumer) {
    ir::Node* conv = node("block1.conv1");
    ir::Value* v = value("relu0_out");
    auto inserted = r().insertOnEdge(*v, conv, NewNode("Identity", {}, {}));
    ASSERT_TRUE(inserted) << inserted.error().message();
    ir::Node* id = *inserted;
    EXPECT_EQ(id->input(0), v);
    EXPECT_EQ(conv->input(0), id->output(0));
    EXPECT_EQ(id->output(0)->name(), "relu0_out_Identity");
    EXPECT_EQ(id->next(), conv);
    EXPECT_EQ(node("block1.add")->input(1), v);  // the other consumer is untouched
    EXPECT_TRUE(graph->validate().isOk());
    ASSERT_EQ(r().log().size(), 1u);
    EXPECT_EQ(r().log().steps()[0].description,
              "Insert Identity on 'relu0_out' before 'block1.conv1'");
    expectUndoRedoExact();
}

TEST_F(RewriterOps, InsertOnEdgeFeedingAllConsumers) {
    ir::Value* v = value("relu0_out");
    NewNode spec("QuantizeLinear", {"", "dropout.ratio"}, {"q"});
    auto inserted = r().insertOnEdge(*v, nullptr, std::move(spec));
    ASSERT_TRUE(inserted) << inserted.error().message();
    EXPECT_EQ((*inserted)->prev(), node("relu0"));
    EXPECT_EQ(node("block1.conv1")->input(0)->name(), "q");
    EXPECT_EQ(node("block1.add")->input(1)->name(), "q");
    EXPECT_EQ(v->uses().size(), 1u);
    EXPECT_TRUE(graph->validate().isOk());
    expectUndoRedoExact();
}

TEST_F(RewriterOps, InsertBeforeAndAfter) {
    ir::Node* relu = node("relu0");
    auto a = r().insertAfter(*relu, NewNode("Sigmoid", {"relu0_out"}, {"sig"}));
    ASSERT_TRUE(a);
    EXPECT_EQ(relu->next(), *a);
    auto b = r().insertBefore(*relu, NewNode("Neg", {"bn0_out"}, {"neg"}));
    ASSERT_TRUE(b);
    EXPECT_EQ(relu->prev(), *b);
    // Output names must be free; nothing changes on failure.
    auto bad = r().insertBefore(*relu, NewNode("Neg", {"bn0_out"}, {"relu0_out"}));
    EXPECT_FALSE(bad);
    EXPECT_EQ(r().log().size(), 2u);
    auto missing = r().insertBefore(*relu, NewNode("Neg", {"nope"}, {"x"}));
    EXPECT_FALSE(missing);
    EXPECT_NE(missing.error().message().find("nope"), std::string::npos);
    expectUndoRedoExact();
}

TEST_F(RewriterOps, ReplaceNodeKeepsOutputs) {
    ir::Node* relu = node("relu0");
    const ir::NodeId oldId = relu->id();
    NewNode spec("LeakyRelu", {"bn0_out"}, {"relu0_out"});
    spec.name = "leaky";
    spec.attributes.push_back(ir::Attribute::makeFloat("alpha", 0.1f));
    auto n = r().replace(*relu, std::move(spec));
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(graph->findNode(oldId), nullptr);
    EXPECT_EQ((*n)->output(0)->name(), "relu0_out");
    EXPECT_TRUE((*n)->output(0)->isInValueInfo());  // the value (and its entry) survived
    EXPECT_EQ((*n)->next(), node("block1.conv1"));
    EXPECT_EQ(test::countOps(*graph, "LeakyRelu"), 1);
    EXPECT_TRUE(graph->validate().isOk());
    expectUndoRedoExact();
}

TEST_F(RewriterOps, ReplacePairWithTwoNewNodes) {
    ir::Node* pair[] = {node("block1.conv1"), node("block1.bn1")};
    std::vector<NewNode> specs;
    specs.emplace_back("Conv", std::vector<std::string>{"relu0_out", "block1.conv1.weight"},
                       std::vector<std::string>{"tmp"});
    specs.emplace_back("Relu", std::vector<std::string>{"tmp"},
                       std::vector<std::string>{"block1.b1"});
    auto created = r().replace(pair, std::move(specs));
    ASSERT_TRUE(created) << created.error().message();
    EXPECT_EQ(created->size(), 2u);
    EXPECT_EQ(graph->findValue("block1.c1"), nullptr);  // the internal edge is gone
    EXPECT_TRUE(graph->validate().isOk()) << graph->validate().message();
    expectUndoRedoExact();
}

TEST_F(RewriterOps, ReplaceRefusesToOrphanReadValues) {
    // relu0_out is read by block1 and not produced by the new node.
    auto n = r().replace(*node("relu0"), NewNode("Relu", {"bn0_out"}, {"other"}));
    ASSERT_FALSE(n);
    EXPECT_NE(n.error().message().find("still read by node"), std::string::npos)
        << n.error().message();
    expectUnchanged();
}

TEST_F(RewriterOps, BypassIdentity) {
    ir::Node* id = node("features");
    ASSERT_TRUE(r().bypass(*id).isOk());
    EXPECT_EQ(graph->findValue("features_out"), nullptr);
    EXPECT_EQ(node("gap")->input(0)->name(), "block2.out");
    EXPECT_EQ(test::countOps(*graph, "Identity"), 1);
    EXPECT_TRUE(graph->validate().isOk());
    expectUndoRedoExact();
}

TEST_F(RewriterOps, BypassIdentityFeedingGraphOutputKeepsTheName) {
    ASSERT_TRUE(r().bypass(*node("output_identity")).isOk());
    ir::Value* logits = value("logits");
    EXPECT_TRUE(logits->isGraphOutput());
    EXPECT_EQ(logits->producer(), node("fc"));
    EXPECT_EQ(logits->docString, "class scores");
    EXPECT_EQ(graph->findValue("fc_out"), nullptr);
    EXPECT_TRUE(graph->validate().isOk());
    expectUndoRedoExact();
}

TEST_F(RewriterOps, BypassRefusesGraphInputToGraphOutput) {
    ir::Graph g;
    test::addNode(g, "Identity", "id", {"x"}, {"y"});
    g.insertGraphInput(g.findValue("x"));
    g.insertGraphOutput(g.findValue("y"));
    Rewriter rg(g);
    EXPECT_EQ(Rewriter::bypassBlocker(*g.firstNode()),
              "output 0 is a graph output and input 0 ('x') has no producer node");
    Status s = rg.bypass(*g.firstNode());
    EXPECT_FALSE(s.isOk());
    EXPECT_EQ(g.numNodes(), 1u);
    EXPECT_EQ(rg.log().size(), 0u);
}

TEST_F(RewriterOps, EraseNodeNeedsUnusedOutputs) {
    EXPECT_FALSE(r().eraseNode(*node("relu0")).isOk());
    auto n = r().insertAfter(*node("relu0"), NewNode("Sigmoid", {"relu0_out"}, {"dead"}));
    ASSERT_TRUE(n);
    ASSERT_TRUE(r().eraseNode(**n).isOk());
    EXPECT_EQ(graph->findValue("dead"), nullptr);
    EXPECT_EQ(r().log().size(), 2u);
    expectUndoRedoExact();
}

TEST_F(RewriterOps, ReplaceAllUsesWithIncludingGraphOutputs) {
    ASSERT_TRUE(r().replaceAllUsesWith(*value("logits"), *value("fc_out"), true).isOk());
    EXPECT_EQ(graph->outputs()[0]->name(), "fc_out");
    ASSERT_TRUE(r().replaceAllUsesWith(*value("relu0_out"), *value("bn0_out")).isOk());
    EXPECT_FALSE(value("relu0_out")->hasUses());
    EXPECT_EQ(value("bn0_out")->uses().size(), 3u);
    expectUndoRedoExact();
}

TEST_F(RewriterOps, AttributesKeepTheirOrder) {
    ir::Node* conv = node("conv0");
    ASSERT_TRUE(r().setAttribute(*conv, ir::Attribute::makeInts("pads", {0, 0, 0, 0})).isOk());
    EXPECT_EQ(conv->attributes()[3].name, "pads");  // replaced in place
    EXPECT_EQ(conv->attrInts("pads"), (std::vector<int64_t>{0, 0, 0, 0}));
    ASSERT_TRUE(r().setAttribute(*conv, ir::Attribute::makeString("auto_pad", "NOTSET")).isOk());
    EXPECT_EQ(conv->attributes().back().name, "auto_pad");
    ASSERT_TRUE(r().removeAttribute(*conv, "group").isOk());
    EXPECT_EQ(conv->attribute("group"), nullptr);
    EXPECT_FALSE(r().removeAttribute(*conv, "group").isOk());
    EXPECT_EQ(r().log().size(), 3u);
    EXPECT_EQ(r().log().steps()[0].description, "Set conv0.pads = [0, 0, 0, 0]");
    expectUndoRedoExact();
}

TEST_F(RewriterOps, InitializersKeepTheirPositions) {
    ir::Value* w = value("conv0.weight");
    const int pos = graph->initializerPosition(w);
    ir::Tensor t = *w->initializer();
    t.mutableValues<float>()[0] = 42.0f;
    ASSERT_TRUE(r().replaceInitializer(*w, t).isOk());
    EXPECT_EQ(graph->initializerPosition(w), pos);
    EXPECT_EQ(w->initializer()->values<float>()[0], 42.0f);
    EXPECT_NE(original->findValue("conv0.weight")->initializer()->values<float>()[0], 42.0f);

    auto added = r().addInitializer("extra", ir::Tensor::fromFloats("", {2}, {1.0f, 2.0f}));
    ASSERT_TRUE(added);
    EXPECT_EQ(graph->initializers().back(), *added);
    EXPECT_EQ((*added)->initializer()->name, "extra");

    // Read by a node: refuse. Unread: remove, and the value goes too.
    Status s = r().removeInitializer(*w);
    EXPECT_FALSE(s.isOk());
    EXPECT_NE(s.message().find("conv0"), std::string::npos) << s.message();
    ASSERT_TRUE(r().removeInitializer(**added).isOk());
    EXPECT_EQ(graph->findValue("extra"), nullptr);
    expectUndoRedoExact();
}

TEST_F(RewriterOps, RemoveInitializerInTheMiddleRestoresPosition) {
    ir::Node* gemm = node("fc");
    ASSERT_TRUE(r().setInput(*gemm, 2, nullptr).isOk());
    ASSERT_TRUE(r().removeInitializer(*value("fc.bias")).isOk());
    EXPECT_EQ(graph->findValue("fc.bias"), nullptr);
    expectUndoRedoExact();
}

TEST_F(RewriterOps, RenameNodeAndValue) {
    ASSERT_TRUE(r().renameNode(*node("relu0"), "stem_relu").isOk());
    ASSERT_TRUE(r().renameValue(*value("conv0.weight"), "stem.weight").isOk());
    EXPECT_EQ(value("stem.weight")->initializer()->name, "stem.weight");
    ASSERT_TRUE(r().renameValue(*value("logits"), "scores").isOk());
    EXPECT_EQ(graph->outputs()[0]->name(), "scores");
    EXPECT_FALSE(r().renameValue(*value("scores"), "relu0_out").isOk());
    expectUndoRedoExact();
}

TEST_F(RewriterOps, MoveNode) {
    ir::Node* shape = node("shape_const");
    ir::Node* first = graph->firstNode();
    ASSERT_TRUE(r().moveNode(*shape, first).isOk());
    EXPECT_EQ(graph->firstNode(), shape);
    ASSERT_TRUE(r().moveNode(*first, nullptr).isOk());
    EXPECT_EQ(first->next(), nullptr);
    ASSERT_TRUE(r().moveNode(*first, nullptr).isOk());  // already there: no step
    EXPECT_EQ(r().log().size(), 2u);
    expectUndoRedoExact();
}

TEST_F(RewriterOps, ValueTypeValueInfoAndGraphIo) {
    ir::Value* v = value("bn0_out");
    ASSERT_TRUE(r().setValueType(*v, ir::Type::tensor(ir::DType::kFloat16)).isOk());
    ASSERT_TRUE(r().addValueInfo(*v, 1).isOk());
    EXPECT_EQ(graph->valueInfoPosition(v), 1);
    ASSERT_TRUE(r().removeValueInfo(*value("conv0_out")).isOk());
    ASSERT_TRUE(r().addGraphOutput(*v, 0).isOk());
    EXPECT_EQ(graph->outputs()[0], v);
    ASSERT_TRUE(r().removeGraphOutput(1).isOk());
    ASSERT_TRUE(r().addGraphInput(*value("fc.weight")).isOk());
    ASSERT_TRUE(r().removeGraphInput(0).isOk());
    expectUndoRedoExact();
}

TEST_F(RewriterOps, SetInputsAppendsAndDropsInputs) {
    ir::Node* add = node("block1.add");
    ASSERT_EQ(add->numInputs(), 2);
    ir::Value* a = add->input(0);
    ir::Value* b = add->input(1);
    // Append a third input (a variadic op would take it), then drop back to one.
    ASSERT_TRUE(r().setInputs(*add, {a, b, a}).isOk());
    ASSERT_EQ(add->numInputs(), 3);
    EXPECT_EQ(add->input(2), a);
    EXPECT_EQ(std::count(a->uses().begin(), a->uses().end(), ir::Use{add, 2}), 1);
    ASSERT_TRUE(r().setInputs(*add, {b}).isOk());
    ASSERT_EQ(add->numInputs(), 1);
    EXPECT_EQ(add->input(0), b);
    EXPECT_TRUE(std::none_of(a->uses().begin(), a->uses().end(),
                             [&](const ir::Use& u) { return u.node == add; }));
    EXPECT_EQ(r().log().size(), 2u);
    ASSERT_TRUE(r().setInputs(*add, {b}).isOk());  // the same list: no step
    EXPECT_EQ(r().log().size(), 2u);
    expectUndoRedoExact();
}

TEST_F(RewriterOps, SetInputsRefusesAValueOfAnotherGraph) {
    auto other = makeResNetLike(1);
    ir::Value* foreign = other->findValue("input");
    ASSERT_TRUE(foreign);
    Status s = r().setInputs(*node("relu0"), {foreign});
    EXPECT_FALSE(s.isOk());
    EXPECT_NE(s.message().find("'input' is not in this graph"), std::string::npos) << s.message();
    expectUnchanged();
}

TEST_F(RewriterOps, AddValueWithATypeThenMakeItAnInput) {
    const ir::Type type = ir::Type::tensor(ir::DType::kFloat16, ir::Shape{{ir::Dim::known(2)}});
    auto v = r().addValue("extra", type);
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_EQ((*v)->type.toString(), type.toString());
    ASSERT_TRUE(r().addGraphInput(**v).isOk());
    EXPECT_EQ(graph->inputs().back(), *v);
    EXPECT_FALSE(r().addValue("extra"));  // taken now
    EXPECT_FALSE(r().addValue("conv0_out"));
    expectUndoRedoExact();
    EXPECT_FALSE(graph->findValue("extra"));
}

TEST_F(RewriterOps, GroupIsOneStepWithDetails) {
    r().beginGroup("Quantize stem");
    ASSERT_TRUE(r().insertOnEdge(*value("input"), node("conv0"), NewNode("Identity", {}, {})));
    ASSERT_TRUE(r().renameNode(*node("conv0"), "stem").isOk());
    r().beginGroup("inner");
    ASSERT_TRUE(r().setAttribute(*node("stem"), ir::Attribute::makeInt("group", 1)).isOk());
    r().endGroup();
    EXPECT_FALSE(r().undo().isOk());  // not while a group is open
    r().endGroup();
    ASSERT_EQ(r().log().size(), 1u);
    const Step& step = r().log().steps()[0];
    EXPECT_EQ(step.description, "Quantize stem");
    ASSERT_EQ(step.details.size(), 4u);
    EXPECT_EQ(step.details[2], "inner");
    EXPECT_EQ(step.details[3], "  Set stem.group = 1");
    expectUndoRedoExact();
}

TEST_F(RewriterOps, CancelledGroupLeavesNoTrace) {
    {
        ScopedGroup group(r(), "try");
        ASSERT_TRUE(r().bypass(*node("features")).isOk());
        ASSERT_TRUE(r().renameValue(*value("logits"), "z").isOk());
        group.cancel();
    }
    expectUnchanged();
    { ScopedGroup group(r(), "nothing"); }
    EXPECT_EQ(r().log().size(), 0u);
}

TEST_F(RewriterOps, NewEditDropsRedoableSteps) {
    ASSERT_TRUE(r().renameNode(*node("relu0"), "a").isOk());
    ASSERT_TRUE(r().renameNode(*node("a"), "b").isOk());
    ASSERT_TRUE(r().undo().isOk());
    EXPECT_EQ(r().log().redoCount(), 1u);
    ASSERT_TRUE(r().renameNode(*node("a"), "c").isOk());
    EXPECT_EQ(r().log().redoCount(), 0u);
    EXPECT_EQ(r().log().descriptions(),
              (std::vector<std::string>{"Rename node 'relu0' to 'a'", "Rename node 'a' to 'c'"}));
    EXPECT_FALSE(r().redo().isOk());
    expectUndoRedoExact();
}

TEST_F(RewriterOps, UndoRestoresNodeIdsAndOrder) {
    std::vector<ir::NodeId> before;
    for (ir::Node* n : graph->nodes()) before.push_back(n->id());
    ASSERT_TRUE(r().bypass(*node("features")).isOk());
    ASSERT_TRUE(r().undo().isOk());
    std::vector<ir::NodeId> after;
    for (ir::Node* n : graph->nodes()) after.push_back(n->id());
    EXPECT_EQ(before, after);
    // A new node never reuses an id, even one freed by undo.
    auto n = r().insertBefore(*graph->firstNode(), NewNode("Relu", {"input"}, {"r"}));
    ASSERT_TRUE(n);
    EXPECT_GE((*n)->id(), original->nextNodeId());
}

struct RecordingListener : Listener {
    std::vector<std::string> events;
    void nodeInserted(ir::NodeId id) override { events.push_back(fmt::format("+node {}", id)); }
    void nodeErased(ir::NodeId id) override { events.push_back(fmt::format("-node {}", id)); }
    void nodeChanged(ir::NodeId id) override { events.push_back(fmt::format("~node {}", id)); }
    void valueAdded(const std::string& n) override { events.push_back("+value " + n); }
    void valueErased(const std::string& n) override { events.push_back("-value " + n); }
    void valueRenamed(const std::string& a, const std::string& b) override {
        events.push_back("rename " + a + " " + b);
    }
    void initializerChanged(const std::string& n) override { events.push_back("init " + n); }
    void graphIoChanged() override { events.push_back("io"); }
    void stepCommitted(const Step& s) override { events.push_back("commit " + s.description); }
    void stepUndone(const Step& s) override { events.push_back("undo " + s.description); }
};

TEST_F(RewriterOps, ListenerSeesEveryChange) {
    RecordingListener l;
    r().addListener(&l);
    ir::Node* id = node("features");
    const ir::NodeId nid = id->id(), gap = node("gap")->id();
    ASSERT_TRUE(r().bypass(*id).isOk());
    ASSERT_TRUE(r().undo().isOk());
    ASSERT_TRUE(r().renameValue(*value("logits"), "z").isOk());
    std::string desc = "Erase Identity 'features' (readers of 'features_out' read 'block2.out')";
    std::vector<std::string> expected = {fmt::format("-node {}", nid),
                                         fmt::format("~node {}", gap),
                                         "-value features_out",
                                         "commit " + desc,
                                         "+value features_out",
                                         fmt::format("~node {}", gap),
                                         fmt::format("+node {}", nid),
                                         "undo " + desc,
                                         "rename logits z",
                                         "commit Rename 'logits' to 'z'"};
    EXPECT_EQ(l.events, expected);
    r().removeListener(&l);
}

TEST(RewriterSubgraph, ValuesReadBySubgraphsAreProtected) {
    ir::Graph g;
    test::addNode(g, "Relu", "r", {"x"}, {"y"});
    g.insertGraphInput(g.findValue("x"));
    test::addInitializer(g, "cond", {}, {1.0f});
    ir::Node* iff = test::addNode(g, "If", "if", {"cond"}, {"z"});
    g.insertGraphOutput(g.findValue("z"));
    auto branch = std::make_unique<ir::Graph>();
    ir::Value* captured = *branch->addValue("y");
    branch->markCapture(captured);
    test::addNode(*branch, "Identity", "inner", {"y"}, {"out"});
    branch->insertGraphOutput(branch->findValue("out"));
    ir::Attribute a;
    a.name = "then_branch";
    a.type = ir::AttrType::kGraph;
    a.g = std::move(branch);
    iff->attributes().push_back(std::move(a));
    g.adoptSubgraph(iff->attributes()[0].g.get(), iff);
    ASSERT_TRUE(g.validate().isOk()) << g.validate().message();
    auto original = g.clone();

    Rewriter rw(g);
    EXPECT_EQ(rw.subgraphReader("y"), iff);
    Status s = rw.renameValue(*g.findValue("y"), "y2");
    EXPECT_FALSE(s.isOk());
    EXPECT_NE(s.message().find("subgraph"), std::string::npos);
    EXPECT_FALSE(rw.eraseNode(*g.firstNode()).isOk());
    // An If node erased and restored comes back with its subgraph, owned by the new node.
    ASSERT_TRUE(rw.replaceAllUsesWith(*g.findValue("z"), *g.findValue("y"), true).isOk());
    ASSERT_TRUE(rw.eraseNode(*iff).isOk());
    while (rw.canUndo()) ASSERT_TRUE(rw.undo().isOk());
    std::string diff;
    EXPECT_TRUE(test::graphsEqual(*original, g, &diff)) << diff;
    ir::Node* restored = g.findNode(original->nodeList()[1]->id());
    ASSERT_NE(restored, nullptr);
    EXPECT_EQ(restored->subgraphs()[0]->parentNode(), restored);

    // Inside the subgraph, a Rewriter edits the branch.
    Rewriter inner(*restored->subgraphs()[0]);
    auto added = inner.insertOnEdge(*inner.graph().findValue("y"), inner.graph().firstNode(),
                                    NewNode("Identity", {}, {}));
    ASSERT_TRUE(added.has_value());
    EXPECT_EQ(inner.graph().numNodes(), 2u);
    // Its id is new to the whole model, not only to the branch.
    EXPECT_EQ(g.findNode((*added)->id()), nullptr);
    EXPECT_GE((*added)->id(), original->nextNodeId());
    ASSERT_TRUE(inner.undo().isOk());
    EXPECT_TRUE(test::graphsEqual(*original, g, &diff)) << diff;
}

}  // namespace
}  // namespace wh::rewrite
