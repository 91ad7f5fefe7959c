// analysis::matchGraphs: a float graph against what a compression made of it — the folded
// BatchNormalization is removed, the quantized convolution changed (weight behind a
// DequantizeLinear, bias added), the pruned one changed (its weight's dims), the inserted Q/DQ
// counted, a renamed node matched by its output, an untouched one the same.

#include <gtest/gtest.h>

#include "core/analysis/graph_match.h"

using namespace wh;

namespace {

ir::Value* weight(ir::Graph& g, const std::string& name, std::vector<int64_t> dims, float v) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    ir::Value* value = *g.addValue(name);
    g.setInitializer(value, ir::Tensor::fromFloats(name, dims, std::vector<float>(n, v)));
    return value;
}

ir::Node* node(ir::Graph& g, const std::string& op, const std::string& name,
               std::vector<ir::Value*> in, const std::string& out) {
    ir::Value* y = *g.addValue(out);
    ir::Node* n = g.addNode(op, in, std::vector<ir::Value*>{y});
    n->name = name;
    return n;
}

// x → conv1 → bn → relu → conv2 → (unnamed) Flatten → y
ir::Model floatModel() {
    ir::Model m;
    ir::Graph& g = *m.graph;
    ir::Value* x = *g.addValue("x");
    g.insertGraphInput(x);
    ir::Node* c1 = node(g, "Conv", "conv1", {x, weight(g, "w1", {8, 1, 3, 3}, 0.5f)}, "c1");
    ir::Node* bn = node(g, "BatchNormalization", "bn",
                        {c1->output(0), weight(g, "s", {8}, 1), weight(g, "b", {8}, 0),
                         weight(g, "mu", {8}, 0), weight(g, "var", {8}, 1)},
                        "b1");
    ir::Node* r = node(g, "Relu", "relu", {bn->output(0)}, "r1");
    ir::Node* c2 =
        node(g, "Conv", "conv2", {r->output(0), weight(g, "w2", {4, 8, 3, 3}, 0.25f)}, "c2");
    c2->attributes().push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    ir::Node* f = node(g, "Flatten", "", {c2->output(0)}, "y");
    g.insertGraphOutput(f->output(0));
    return m;
}

ir::Node* named(const ir::Graph& g, const std::string& name) {
    for (ir::Node* n : g.nodes())
        if (n->name == name) return n;
    return nullptr;
}

}  // namespace

TEST(GraphMatch, IdenticalGraphsMatchEveryNodeAsTheSame) {
    ir::Model a = floatModel();
    ir::Model b = a.clone();
    const analysis::GraphMatch m = analysis::matchGraphs(*a.graph, *b.graph);
    ASSERT_EQ(m.nodes.size(), 5u);
    EXPECT_EQ(m.count(analysis::MatchKind::kSame), 5);
    for (const ir::Node* n : a.graph->nodes()) {
        const analysis::NodeMatch* e = m.ofBefore(n->id());
        ASSERT_NE(e, nullptr);
        EXPECT_EQ(e->after, n->id());  // clone keeps ids
        EXPECT_EQ(m.ofAfter(e->after), e);
    }
}

TEST(GraphMatch, FoldedQuantizedPrunedAndRenamedNodes) {
    ir::Model a = floatModel();
    ir::Model b = a.clone();
    ir::Graph& g = *b.graph;
    // Fold the BatchNormalization: relu reads conv1's output.
    ir::Node* bn = named(g, "bn");
    g.replaceAllUsesWith(bn->output(0), named(g, "conv1")->output(0));
    g.eraseNode(bn);
    // Quantize conv1's weight: int8 initializer → DequantizeLinear → conv1.
    ir::Value* wq = *g.addValue("w1_q");
    ir::Tensor t;
    t.dtype = ir::DType::kInt8;
    t.dims = {8, 1, 3, 3};
    t.data = std::make_shared<const ir::Buffer>(std::size_t{72});
    g.setInitializer(wq, std::move(t));
    ir::Node* conv1 = named(g, "conv1");
    ir::Node* dq =
        node(g, "DequantizeLinear", "w1_dq", {wq, weight(g, "w1_s", {}, 0.01f)}, "w1_deq");
    g.moveNode(dq, conv1);
    g.setInput(conv1, 1, dq->output(0));
    // The folded BatchNormalization gave conv1 a bias.
    const std::vector<ir::Value*> withBias{conv1->input(0), dq->output(0),
                                           weight(g, "b1_folded", {8}, 0)};
    g.setInputs(conv1, withBias);
    // Prune conv2 to 3 output channels: a new, smaller weight.
    ir::Node* conv2 = named(g, "conv2");
    g.setInput(conv2, 1, weight(g, "w2_pruned", {3, 8, 3, 3}, 0.25f));
    // The exporter named the unnamed Flatten: still matched, by its output.
    named(g, "")->name = "flatten_0";

    const analysis::GraphMatch m = analysis::matchGraphs(*a.graph, g);
    auto kindOf = [&](const std::string& name) {
        const analysis::NodeMatch* e = m.ofBefore(named(*a.graph, name)->id());
        return e ? e->kind : analysis::MatchKind::kInserted;
    };
    EXPECT_EQ(kindOf("bn"), analysis::MatchKind::kRemoved);
    EXPECT_EQ(kindOf("relu"), analysis::MatchKind::kSame);
    EXPECT_EQ(kindOf("conv1"), analysis::MatchKind::kChanged);
    EXPECT_EQ(m.ofBefore(named(*a.graph, "conv1")->id())->reason,
              "weight behind DequantizeLinear; bias added");
    EXPECT_EQ(kindOf("conv2"), analysis::MatchKind::kChanged);
    EXPECT_EQ(m.ofBefore(named(*a.graph, "conv2")->id())->reason, "weight 4×8×3×3 → 3×8×3×3");
    const analysis::NodeMatch* flatten = m.ofBefore(named(*a.graph, "")->id());
    ASSERT_NE(flatten, nullptr);
    EXPECT_EQ(flatten->kind, analysis::MatchKind::kSame);
    EXPECT_EQ(flatten->after, named(g, "flatten_0")->id());
    const analysis::NodeMatch* inserted = m.ofAfter(dq->id());
    ASSERT_NE(inserted, nullptr);
    EXPECT_EQ(inserted->kind, analysis::MatchKind::kInserted);
    EXPECT_EQ(inserted->before, 0u);
    EXPECT_EQ(m.count(analysis::MatchKind::kInserted), 1);
    EXPECT_EQ(m.insertedQuantizers, 1);
    EXPECT_EQ(m.count(analysis::MatchKind::kRemoved), 1);
    EXPECT_EQ(m.nodes.size(), 6u);
}

TEST(GraphMatch, AttributesAreChangesWeightValuesAloneAreRetrained) {
    ir::Model a = floatModel();
    ir::Model b = a.clone();
    ir::Graph& g = *b.graph;
    named(g, "conv2")->mutableAttribute("pads")->ints = {0, 0, 0, 0};
    g.setInitializer(named(g, "conv1")->input(1),
                     ir::Tensor::fromFloats("w1", {8, 1, 3, 3}, std::vector<float>(72, 0.75f)));
    const analysis::GraphMatch m = analysis::matchGraphs(*a.graph, g);
    EXPECT_EQ(m.ofBefore(named(*a.graph, "conv2")->id())->reason, "attribute pads");
    EXPECT_EQ(m.ofBefore(named(*a.graph, "conv1")->id())->reason, "weight values");
    EXPECT_EQ(m.ofBefore(named(*a.graph, "conv1")->id())->kind, analysis::MatchKind::kValues);
    EXPECT_EQ(m.ofBefore(named(*a.graph, "conv2")->id())->kind, analysis::MatchKind::kChanged);
    EXPECT_EQ(m.count(analysis::MatchKind::kSame), 3);
}

TEST(GraphMatch, DuplicateNamesFallBackToTensorNames) {
    // Two nodes named "block" in both graphs: not matched by name, but by their outputs.
    ir::Model a = floatModel();
    named(*a.graph, "conv1")->name = "block";
    named(*a.graph, "conv2")->name = "block";
    ir::Model b = a.clone();
    const analysis::GraphMatch m = analysis::matchGraphs(*a.graph, *b.graph);
    EXPECT_EQ(m.count(analysis::MatchKind::kSame), 5);
    EXPECT_EQ(m.count(analysis::MatchKind::kInserted), 0);
}
