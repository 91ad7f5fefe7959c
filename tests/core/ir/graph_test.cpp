// Graph, Node, Value, Tensor: construction, use lists, clone, validation, sorting, parameters.

#include <algorithm>

#include <gtest/gtest.h>

#include "core/ir/graph.h"

using namespace wh::ir;

namespace {

// x -> Conv(W) -> Relu -> y, with W an initializer and a Constant node feeding an Add.
struct Chain {
    Graph g;
    Value *x, *w, *c, *r, *k, *y;
    Node *conv, *relu, *constant, *add;
    Chain() {
        x = *g.addValue("x");
        x->type = Type::tensor(DType::kFloat, Shape{{Dim::symbol("N"), Dim::known(3)}});
        g.insertGraphInput(x);
        w = *g.addValue("W");
        g.setInitializer(w, Tensor::fromFloats("W", {2, 3}, {1, 2, 3, 4, 5, 6}));
        c = *g.addValue("c");
        r = *g.addValue("r");
        k = *g.addValue("k");
        y = *g.addValue("y");
        conv = g.addNode("Conv", std::vector<Value*>{x, w}, std::vector<Value*>{c});
        conv->name = "conv";
        relu = g.addNode("Relu", std::vector<Value*>{c}, std::vector<Value*>{r});
        constant = g.addNode("Constant", std::vector<Value*>{}, std::vector<Value*>{k});
        constant->attributes().push_back(
            Attribute::makeTensor("value", Tensor::fromFloats("", {2}, {0.5f, 0.25f})));
        add = g.addNode("Add", std::vector<Value*>{r, k}, std::vector<Value*>{y});
        g.insertGraphOutput(y);
    }
};

std::vector<std::string> opOrder(const Graph& g) {
    std::vector<std::string> out;
    for (const Node* n : g.nodes()) out.push_back(n->opType);
    return out;
}

}  // namespace

TEST(Graph, UseListsFollowEdits) {
    Chain t;
    ASSERT_EQ(t.c->uses().size(), 1u);
    EXPECT_EQ(t.c->uses()[0].node, t.relu);
    EXPECT_EQ(t.c->producer(), t.conv);
    EXPECT_EQ(t.c->producerOutput(), 0);

    t.g.replaceAllUsesWith(t.c, t.x);  // Relu now reads x directly
    EXPECT_TRUE(t.c->uses().empty());
    EXPECT_EQ(t.x->uses().size(), 2u);
    EXPECT_EQ(t.relu->input(0), t.x);

    t.g.eraseNode(t.conv);
    EXPECT_EQ(t.c->producer(), nullptr);
    EXPECT_EQ(t.x->uses().size(), 1u);
    EXPECT_EQ(t.w->uses().size(), 0u);
    EXPECT_EQ(t.g.numNodes(), 3u);
    t.g.eraseValue(t.c);
    EXPECT_EQ(t.g.findValue("c"), nullptr);
    EXPECT_TRUE(t.g.validate().isOk()) << t.g.validate().message();
}

TEST(Graph, NamesAreUnique) {
    Chain t;
    EXPECT_FALSE(t.g.addValue("x"));
    EXPECT_FALSE(t.g.renameValue(t.r, "y").isOk());
    EXPECT_TRUE(t.g.renameValue(t.r, "relu_out").isOk());
    EXPECT_EQ(t.g.findValue("relu_out"), t.r);
    EXPECT_EQ(t.g.findValue("r"), nullptr);
    EXPECT_EQ(t.g.uniqueName("x"), "x_1");
    EXPECT_EQ(t.g.uniqueName("fresh"), "fresh");
    // Renaming an initializer's value renames the tensor too.
    ASSERT_TRUE(t.g.renameValue(t.w, "weight").isOk());
    EXPECT_EQ(t.w->initializer()->name, "weight");
}

TEST(Graph, CloneIsDeepAndKeepsIdsAndOrder) {
    Chain t;
    auto copy = t.g.clone();
    EXPECT_EQ(opOrder(*copy), opOrder(t.g));
    EXPECT_EQ(copy->findNode(t.add->id())->opType, "Add");
    Value* cw = copy->findValue("W");
    ASSERT_TRUE(cw && cw->hasInitializer());
    // Weights are shared until written (copy on write).
    EXPECT_EQ(cw->initializer()->data.get(), t.w->initializer()->data.get());
    cw->mutableInitializer()->mutableValues<float>()[0] = 42.0f;
    EXPECT_EQ(t.w->initializer()->values<float>()[0], 1.0f);
    EXPECT_EQ(cw->initializer()->values<float>()[0], 42.0f);
    // Editing the copy leaves the original alone.
    copy->eraseNode(copy->findNode(t.add->id()));
    EXPECT_EQ(t.g.numNodes(), 4u);
    EXPECT_EQ(copy->numNodes(), 3u);
    EXPECT_EQ(copy->findValue("x")->type.toString(), "float[N,3]");
}

TEST(Graph, ValidateNamesTheCulprit) {
    Chain t;
    ASSERT_TRUE(t.g.validate().isOk());
    Value* ghost = *t.g.addValue("ghost");
    t.g.setInput(t.add, 1, ghost);
    wh::Status s = t.g.validate();
    ASSERT_FALSE(s.isOk());
    EXPECT_NE(s.message().find("'ghost'"), std::string::npos) << s.message();
    EXPECT_EQ(s.code(), wh::StatusCode::kBadInput);

    Chain u;
    Value* never = *u.g.addValue("never");
    u.g.insertGraphOutput(never);
    s = u.g.validate();
    ASSERT_FALSE(s.isOk());
    EXPECT_NE(s.message().find("graph output 'never'"), std::string::npos) << s.message();
}

TEST(Graph, SortIsStableAndDetectsCycles) {
    Chain t;
    t.g.moveNode(t.conv, nullptr);  // Conv last: Relu now precedes its producer
    EXPECT_FALSE(t.g.isTopologicallySorted());
    EXPECT_FALSE(t.g.validate().isOk());
    ASSERT_TRUE(t.g.sortTopologically().isOk());
    EXPECT_TRUE(t.g.isTopologicallySorted());
    // Order was Relu, Constant, Add, Conv: the sort moves only what must move, so Constant
    // (already before Conv) stays first and Relu/Add follow Conv.
    EXPECT_EQ(opOrder(t.g), (std::vector<std::string>{"Constant", "Conv", "Relu", "Add"}));

    Chain cyc;  // Conv reads Relu's output: Conv -> Relu -> Conv
    cyc.g.setInput(cyc.conv, 0, cyc.r);
    wh::Status s = cyc.g.sortTopologically();
    ASSERT_FALSE(s.isOk());
    EXPECT_NE(s.message().find("cycle"), std::string::npos) << s.message();
}

TEST(Graph, ConstantNodesAreParameters) {
    Chain t;
    EXPECT_TRUE(isParameter(t.w));
    EXPECT_TRUE(isParameter(t.k));  // Constant node output
    EXPECT_FALSE(isParameter(t.x));
    EXPECT_FALSE(isParameter(t.r));
    ASSERT_NE(constantTensor(t.k), nullptr);
    EXPECT_EQ(constantTensor(t.k)->numElements(), 2);
    // An initializer that is also a graph input can be overridden by the caller: not a weight.
    t.g.insertGraphInput(t.w);
    EXPECT_FALSE(isParameter(t.w));
}

TEST(Graph, SubgraphsKnowTheirParentAndDepth) {
    Chain t;
    Attribute a;
    a.name = "then_branch";
    a.type = AttrType::kGraph;
    a.g = std::make_unique<Graph>();
    Graph* sub = a.g.get();
    t.add->attributes().push_back(std::move(a));
    t.g.adoptSubgraph(sub, t.add);
    EXPECT_EQ(sub->parentGraph(), &t.g);
    EXPECT_EQ(sub->depth(), 1);
    EXPECT_EQ(sub->findValueInScope("x"), t.x);
    Value* cap = *sub->addValue("x");
    sub->markCapture(cap);
    Value* o = *sub->addValue("o");
    sub->addNode("Identity", std::vector<Value*>{cap}, std::vector<Value*>{o});
    sub->insertGraphOutput(o);
    EXPECT_TRUE(t.g.validate().isOk()) << t.g.validate().message();
    EXPECT_EQ(t.g.numNodesRecursive(), 5u);
    auto copy = t.g.clone();
    Graph* subCopy = copy->findNode(t.add->id())->subgraphs().at(0);
    EXPECT_EQ(subCopy->parentNode(), copy->findNode(t.add->id()));
    EXPECT_TRUE(copy->validate().isOk());
    // Only the node holding the subgraph is listed, once, in the copy too.
    t.g.adoptSubgraph(sub, t.add);
    EXPECT_EQ(t.g.subgraphHolders(), std::vector<Node*>{t.add});
    EXPECT_EQ(copy->subgraphHolders(), std::vector<Node*>{copy->findNode(t.add->id())});
    EXPECT_TRUE(sub->subgraphHolders().empty());
    EXPECT_EQ(copy->numNodesRecursive(), 5u);

    // A graph attribute moved in without adoptSubgraph is refused by validate(), naming the node.
    Node* relu = copy->findNode(t.relu->id());
    Attribute b;
    b.name = "else_branch";
    b.type = AttrType::kGraph;
    b.g = std::make_unique<Graph>();
    relu->attributes().push_back(std::move(b));
    wh::Status unadopted = copy->validate();
    EXPECT_FALSE(unadopted.isOk());
    EXPECT_NE(unadopted.message().find(relu->displayName()), std::string::npos)
        << unadopted.message();
    copy->adoptSubgraph(relu->attributes().back().g.get(), relu);
    EXPECT_TRUE(copy->validate().isOk()) << copy->validate().message();
    EXPECT_EQ(copy->subgraphHolders().size(), 2u);

    // An erased node leaves the list.
    copy->eraseNode(copy->findNode(t.add->id()));
    EXPECT_EQ(copy->subgraphHolders(), std::vector<Node*>{relu});
}

TEST(Graph, NodesNamedFollowsRenamesAndErasures) {
    Chain t;
    EXPECT_EQ(t.g.nodesNamed("conv"), std::vector<Node*>{t.conv});  // builds the index
    EXPECT_TRUE(t.g.nodesNamed("").empty());                        // unnamed nodes are not listed
    t.g.setNodeName(t.relu, "conv");  // a duplicate (imports have them)
    std::vector<Node*> both = t.g.nodesNamed("conv");
    std::sort(both.begin(), both.end());
    std::vector<Node*> expected{t.conv, t.relu};
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(both, expected);
    t.g.setNodeName(t.relu, "relu");
    EXPECT_EQ(t.g.nodesNamed("conv"), std::vector<Node*>{t.conv});
    EXPECT_EQ(t.g.nodesNamed("relu"), std::vector<Node*>{t.relu});
    // A name written around setNodeName: the stale entry is noticed and the index built again.
    t.relu->name = "renamed";
    EXPECT_TRUE(t.g.nodesNamed("relu").empty());
    EXPECT_EQ(t.g.nodesNamed("renamed"), std::vector<Node*>{t.relu});
    // Erased nodes leave it, and new ones join it once named.
    t.g.eraseNode(t.add);
    t.g.setNodeName(t.constant, "k");
    t.g.eraseNode(t.constant);
    EXPECT_TRUE(t.g.nodesNamed("k").empty());
    Node* fresh = t.g.addNode("Relu", std::vector<Value*>{t.x}, std::vector<Value*>{t.k});
    EXPECT_TRUE(t.g.nodesNamed("k").empty());
    t.g.setNodeName(fresh, "k");
    EXPECT_EQ(t.g.nodesNamed("k"), std::vector<Node*>{fresh});
    // An erased node renamed around setNodeName drops the index rather than leave it dangling.
    fresh->name = "other";
    t.g.eraseNode(fresh);
    EXPECT_TRUE(t.g.nodesNamed("k").empty());
    EXPECT_TRUE(t.g.nodesNamed("other").empty());
    EXPECT_EQ(t.g.nodesNamed("conv"), std::vector<Node*>{t.conv});
}

TEST(Graph, SubgraphNodeIdsAreUniqueInTheModel) {
    // A subgraph adopted before it is filled (as the importer does) numbers its nodes from the
    // top-level counter: ids name one node of the whole model (the studio selects by id).
    Chain t;
    Attribute a;
    a.name = "body";
    a.type = AttrType::kGraph;
    a.g = std::make_unique<Graph>();
    Graph* sub = a.g.get();
    t.add->attributes().push_back(std::move(a));
    t.g.adoptSubgraph(sub, t.add);
    Value* cap = *sub->addValue("x");
    sub->markCapture(cap);
    Value* o = *sub->addValue("o");
    Node* inner = sub->addNode("Identity", std::vector<Value*>{cap}, std::vector<Value*>{o});
    EXPECT_EQ(t.g.findNode(inner->id()), nullptr);
    EXPECT_EQ(sub->findNode(inner->id()), inner);
    EXPECT_GT(t.g.nextNodeId(), inner->id());
    // The top level's next node comes after it.
    Value* o2 = *t.g.addValue("o2");
    Node* later = t.g.addNode("Relu", std::vector<Value*>{t.x}, std::vector<Value*>{o2});
    EXPECT_GT(later->id(), inner->id());
    EXPECT_TRUE(sub->isTopologicallySorted());
}

TEST(Tensor, ElementsAndHalfPrecision) {
    Tensor t;
    t.dtype = DType::kFloat16;
    t.dims = {3};
    const uint16_t halves[3] = {0x3c00, 0xc000, 0x3555};  // 1, -2, ~0.3333
    t.data = std::make_shared<const Buffer>(halves, sizeof halves);
    EXPECT_EQ(t.numElements(), 3);
    EXPECT_DOUBLE_EQ(t.elementAsDouble(0), 1.0);
    EXPECT_DOUBLE_EQ(t.elementAsDouble(1), -2.0);
    EXPECT_NEAR(t.elementAsDouble(2), 1.0 / 3.0, 1e-3);
    EXPECT_EQ(dtypeSize(DType::kBFloat16), 2u);
    EXPECT_FALSE(isKnownDType(17));
    EXPECT_TRUE(isKnownDType(16));
}

// A snapshot copy stops once an edit makes it stale (Document::snapshotTask): `cancelled` is
// asked every 1024 values and nodes, and a cancelled copy is null.
TEST(Graph, CloneStopsWhenCancelled) {
    Model m;
    Graph& g = *m.graph;
    Value* prev = *g.addValue("x0");
    g.insertGraphInput(prev);
    for (int i = 1; i <= 5000; ++i) {
        Value* next = *g.addValue("x" + std::to_string(i));
        g.addNode("Relu", std::vector<Value*>{prev}, std::vector<Value*>{next});
        prev = next;
    }
    g.insertGraphOutput(prev);

    int asked = 0;
    EXPECT_EQ(g.clone([&] { return ++asked > 2; }), nullptr);
    EXPECT_EQ(asked, 3);  // stopped at the third poll: 3072 values in
    asked = 0;
    auto whole = g.clone([&] {
        ++asked;
        return false;
    });
    ASSERT_TRUE(whole);
    EXPECT_EQ(whole->numNodes(), 5000u);
    EXPECT_EQ(asked, 9);  // (5001 values + 5000 nodes) / 1024
    EXPECT_FALSE(m.cloneUnlessCancelled([] { return true; }));
    auto copy = m.cloneUnlessCancelled([] { return false; });
    ASSERT_TRUE(copy);
    EXPECT_EQ(copy->graph->numNodes(), 5000u);
}
