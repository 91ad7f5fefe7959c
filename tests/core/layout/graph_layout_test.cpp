#include "core/layout/graph_layout.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace wh::layout {
namespace {

/// Builds graphs in code: `op("Conv", {x}, "c1")` adds a node and returns its output value.
class Builder {
public:
    ir::Value* input(const std::string& name) {
        ir::Value* v = *m_graph.addValue(name);
        m_graph.insertGraphInput(v);
        return v;
    }
    ir::Value* op(const std::string& opType, std::vector<ir::Value*> inputs,
                  const std::string& name) {
        ir::Value* out = *m_graph.addValue(name + "_out");
        std::vector<ir::Value*> outs{out};
        ir::Node* n = m_graph.addNode(opType, inputs, outs);
        n->name = name;
        m_nodes[name] = n;
        return out;
    }
    ir::Node* node(const std::string& name) { return m_nodes.at(name); }
    ir::Graph& graph() { return m_graph; }

private:
    ir::Graph m_graph;
    std::map<std::string, ir::Node*> m_nodes;
};

/// Every edge runs from a higher layer to a lower one and its polyline never climbs.
void expectEdgesGoDown(const ir::Graph& graph, const Layout& layout) {
    for (const EdgePath& e : layout.edges) {
        const NodeBox* from = layout.find(e.from);
        const NodeBox* to = layout.find(e.to);
        ASSERT_TRUE(from && to);
        EXPECT_LT(from->layer, to->layer) << graph.findNode(e.from)->displayName() << " -> "
                                          << graph.findNode(e.to)->displayName();
        std::vector<Point> points = layout.path(e);
        ASSERT_GE(points.size(), 2u);
        EXPECT_DOUBLE_EQ(points.front().x, from->centerX());
        EXPECT_DOUBLE_EQ(points.front().y, from->y + from->h);
        EXPECT_DOUBLE_EQ(points.back().x, to->centerX());
        EXPECT_DOUBLE_EQ(points.back().y, to->y);
        EXPECT_EQ(points.size(), 2u + 2u * static_cast<std::size_t>(to->layer - from->layer - 1));
        for (std::size_t i = 1; i < points.size(); ++i)
            EXPECT_LE(points[i - 1].y, points[i].y) << "edge " << e.from << "->" << e.to;
    }
}

/// Boxes of one layer share a row and do not overlap.
void expectNoOverlap(const Layout& layout) {
    std::map<int, std::vector<const NodeBox*>> byLayer;
    for (const NodeBox& b : layout.nodes) byLayer[b.layer].push_back(&b);
    for (auto& [layer, boxes] : byLayer) {
        std::sort(boxes.begin(), boxes.end(),
                  [](const NodeBox* a, const NodeBox* b) { return a->x < b->x; });
        for (std::size_t i = 1; i < boxes.size(); ++i) {
            EXPECT_DOUBLE_EQ(boxes[i - 1]->y, boxes[i]->y);
            EXPECT_LE(boxes[i - 1]->x + boxes[i - 1]->w, boxes[i]->x + 1e-6)
                << "layer " << layer << ": node " << boxes[i - 1]->id << " at x=" << boxes[i - 1]->x
                << " w=" << boxes[i - 1]->w << " overlaps node " << boxes[i]->id
                << " at x=" << boxes[i]->x;
        }
    }
    for (const NodeBox& b : layout.nodes) {
        EXPECT_GE(b.x, -1e-6);
        EXPECT_LE(b.x + b.w, layout.width + 1e-6);
        EXPECT_LE(b.y + b.h, layout.height + 1e-6);
    }
}

TEST(GraphLayout, EmptyGraph) {
    ir::Graph graph;
    Layout layout = layoutGraph(graph);
    EXPECT_TRUE(layout.nodes.empty());
    EXPECT_TRUE(layout.edges.empty());
    EXPECT_EQ(layout.numLayers, 0);
}

TEST(GraphLayout, ResidualChainIsStraight) {
    Builder b;
    ir::Value* x = b.op("Relu", {b.op("Conv", {b.input("image")}, "stem")}, "stem_relu");
    std::vector<std::string> chain{"stem", "stem_relu"};
    for (int i = 0; i < 6; ++i) {
        std::string p = "block" + std::to_string(i) + "_";
        ir::Value* c1 = b.op("Conv", {x}, p + "conv1");
        ir::Value* r1 = b.op("Relu", {c1}, p + "relu1");
        ir::Value* c2 = b.op("Conv", {r1}, p + "conv2");
        ir::Value* add = b.op("Add", {c2, x}, p + "add");
        x = b.op("Relu", {add}, p + "relu2");
        for (const char* s : {"conv1", "relu1", "conv2", "add", "relu2"}) chain.push_back(p + s);
    }
    b.op("Gemm", {b.op("Flatten", {b.op("GlobalAveragePool", {x}, "gap")}, "flatten")}, "fc");
    for (const char* s : {"gap", "flatten", "fc"}) chain.push_back(s);

    Layout layout = layoutGraph(b.graph());
    ASSERT_EQ(layout.nodes.size(), b.graph().numNodes());
    EXPECT_EQ(layout.numLayers, static_cast<int>(chain.size()));
    EXPECT_EQ(layout.edges.size(), chain.size() - 1 + 6);  // chain + one skip per block
    EXPECT_EQ(layout.crossings, 0);
    expectEdgesGoDown(b.graph(), layout);
    expectNoOverlap(layout);

    const double column = layout.find(b.node("stem")->id())->centerX();
    for (std::size_t i = 0; i < chain.size(); ++i) {
        const NodeBox* box = layout.find(b.node(chain[i])->id());
        EXPECT_EQ(box->layer, static_cast<int>(i)) << chain[i];
        EXPECT_NEAR(box->centerX(), column, 0.5) << chain[i] << " is off the main column";
    }
    // The skip edges run beside the chain, not through it.
    int skips = 0;
    for (const EdgePath& e : layout.edges) {
        std::vector<Point> points = layout.path(e);
        if (points.size() <= 2) continue;
        ++skips;
        for (std::size_t i = 1; i + 1 < points.size(); ++i)
            EXPECT_GT(std::abs(points[i].x - column), 40.0);
    }
    EXPECT_EQ(skips, 6);
}

TEST(GraphLayout, ConstantsSitAboveTheirConsumer) {
    Builder b;
    ir::Value* x = b.input("x");
    for (int i = 0; i < 5; ++i) x = b.op("Relu", {x}, "r" + std::to_string(i));
    ir::Value* shape = b.op("Constant", {}, "shape");
    b.op("Reshape", {x, shape}, "reshape");
    Layout layout = layoutGraph(b.graph());
    EXPECT_EQ(layout.find(b.node("reshape")->id())->layer, 5);
    EXPECT_EQ(layout.find(b.node("shape")->id())->layer, 4);
    expectEdgesGoDown(b.graph(), layout);
    expectNoOverlap(layout);
}

// A QDQ export: the DequantizeLinear of a stored weight folds into its Conv (as a Constant
// would); the activations' QuantizeLinear/DequantizeLinear, and a weight DequantizeLinear two
// nodes read, keep their boxes.
TEST(GraphLayout, WeightDequantizersFoldIntoTheirConsumer) {
    Builder b;
    ir::Graph& g = b.graph();
    auto init = [&](const std::string& name) {
        ir::Value* v = *g.addValue(name);
        g.setInitializer(v, ir::Tensor::fromFloats(name, {1}, {0.5f}));
        return v;
    };
    ir::Value* x = b.input("x");
    ir::Value* xq = b.op("QuantizeLinear", {x, init("xs"), init("xz")}, "q");
    ir::Value* xd = b.op("DequantizeLinear", {xq, init("xs2"), init("xz2")}, "dq_x");
    ir::Value* w = b.op("DequantizeLinear", {init("w_q"), init("ws"), init("wz")}, "dq_w");
    // An int32 bias: its scale is the input's times the weight's, computed for it alone.
    ir::Value* bs = b.op("Mul", {init("xs3"), init("ws2")}, "bias_scale");
    ir::Value* bias = b.op("DequantizeLinear", {init("b_q"), bs}, "dq_b");
    ir::Value* c = b.op("Conv", {xd, w, bias}, "conv");
    ir::Value* shared = b.op("DequantizeLinear", {init("v_q"), init("vs"), init("vz")}, "dq_shared");
    ir::Value* a = b.op("Add", {c, shared}, "add");
    b.op("Mul", {a, shared}, "mul");
    LayoutOptions o;
    o.foldConstants = true;
    const Layout layout = layoutGraph(g, o);
    EXPECT_EQ(layout.folded, (std::vector<ir::NodeId>{b.node("dq_w")->id(),
                                                      b.node("bias_scale")->id(),
                                                      b.node("dq_b")->id()}));
    EXPECT_EQ(layout.nodes.size(), g.numNodes() - 3);
    o.foldConstants = false;
    EXPECT_TRUE(layoutGraph(g, o).folded.empty());

    // Collapsed quantizers: q and dq_x go too, and the Conv's edge comes from x's terminal.
    o.foldConstants = true;
    o.collapseQuantizers = true;
    o.graphTerminals = true;
    const Layout collapsed = layoutGraph(g, o);
    EXPECT_EQ(collapsed.nodes.size(), g.numNodes() - 5);
    ASSERT_EQ(collapsed.terminals.size(), 1u);  // x; "mul_out" is no graph output here
    bool fromX = false;
    for (const EdgePath& e : collapsed.edges)
        fromX = fromX || (e.fromTerminal == 0 && e.to == b.node("conv")->id());
    EXPECT_TRUE(fromX);
}

TEST(GraphLayout, RepeatedInputIsOneEdge) {
    Builder b;
    ir::Value* r = b.op("Relu", {b.input("x")}, "relu");
    b.op("Mul", {r, r}, "square");
    Layout layout = layoutGraph(b.graph());
    ASSERT_EQ(layout.edges.size(), 1u);
    EXPECT_EQ(layout.edges[0].toInput, 0);
    EXPECT_EQ(layout.path(layout.edges[0]).size(), 2u);
}

TEST(GraphLayout, BranchesDoNotOverlapAndDoNotCross) {
    // An inception-style block repeated: four branches of different depths, concatenated.
    Builder b;
    ir::Value* x = b.op("Conv", {b.input("image")}, "stem");
    for (int i = 0; i < 4; ++i) {
        std::string p = "m" + std::to_string(i) + "_";
        ir::Value* a = b.op("Conv", {x}, p + "1x1");
        ir::Value* c = b.op("Conv", {b.op("Conv", {x}, p + "3x3_reduce")}, p + "3x3");
        ir::Value* d = b.op(
            "Conv", {b.op("Conv", {b.op("Conv", {x}, p + "5x5_reduce")}, p + "5x5a")}, p + "5x5b");
        ir::Value* e = b.op("Conv", {b.op("MaxPool", {x}, p + "pool")}, p + "pool_proj");
        x = b.op("Concat", {a, c, d, e}, p + "concat");
    }
    Layout layout = layoutGraph(b.graph());
    expectEdgesGoDown(b.graph(), layout);
    expectNoOverlap(layout);
    EXPECT_EQ(layout.crossings, 0);
}

TEST(GraphLayout, CycleIsBrokenNotFatal) {
    ir::Graph graph;
    ir::Value* x = *graph.addValue("x");
    ir::Value* a = *graph.addValue("a");
    ir::Value* bv = *graph.addValue("b");
    std::vector<ir::Value*> in1{x, bv}, out1{a}, in2{a}, out2{bv};
    graph.addNode("Add", in1, out1);
    graph.addNode("Relu", in2, out2);
    Layout layout = layoutGraph(graph);
    ASSERT_EQ(layout.nodes.size(), 2u);
    ASSERT_EQ(layout.edges.size(), 2u);
    expectNoOverlap(layout);
    EXPECT_NE(layout.nodes[0].layer, layout.nodes[1].layer);
}

TEST(GraphLayout, RandomDagKeepsInvariants) {
    std::mt19937 rng(7);
    Builder b;
    std::vector<ir::Value*> values{b.input("x")};
    for (int i = 0; i < 600; ++i) {
        std::vector<ir::Value*> ins;
        int fanIn = 1 + static_cast<int>(rng() % 3);
        for (int k = 0; k < fanIn; ++k) {
            // Mostly recent values, sometimes a far one: long edges and dummy chains.
            std::size_t back = rng() % 8 == 0 ? rng() % values.size()
                                              : rng() % std::min<std::size_t>(4, values.size());
            ins.push_back(values[values.size() - 1 - back]);
        }
        values.push_back(b.op(i % 5 == 0 ? "Concat" : "Add", ins, "n" + std::to_string(i)));
    }
    Layout layout = layoutGraph(b.graph());
    ASSERT_EQ(layout.nodes.size(), 600u);
    EXPECT_GT(layout.numDummies, 0u);
    expectEdgesGoDown(b.graph(), layout);
    expectNoOverlap(layout);
}

TEST(GraphLayout, WidthOverrideIsClamped) {
    Builder b;
    b.op("Relu", {b.input("x")}, "a_rather_long_node_name_that_would_not_fit_anywhere_sensible");
    LayoutOptions options;
    options.nodeWidth = [](const ir::Node&) { return 10000.0; };
    Layout layout = layoutGraph(b.graph(), options);
    ASSERT_EQ(layout.nodes.size(), 1u);
    EXPECT_DOUBLE_EQ(layout.nodes[0].w, options.maxNodeWidth);
    EXPECT_DOUBLE_EQ(layout.nodes[0].h, options.nodeHeight);
}

TEST(GraphLayout, CancelReturnsEarly) {
    Builder b;
    b.op("Relu", {b.input("x")}, "r");
    std::atomic<bool> cancel{true};
    LayoutOptions options;
    options.cancel = &cancel;
    Layout layout = layoutGraph(b.graph(), options);
    EXPECT_TRUE(layout.cancelled);
    EXPECT_TRUE(layout.nodes.empty());
}

}  // namespace
}  // namespace wh::layout
