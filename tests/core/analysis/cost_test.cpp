// analysis::modelCost: FLOPs and parameters from the plan's shapes — matrix products count
// 2 per multiply-accumulate (recurrent gates included), the rest one per output element.

#include <gtest/gtest.h>

#include "core/analysis/cost.h"

using namespace wh;

namespace {

ir::Value* input(ir::Graph& g, const std::string& name, std::vector<int64_t> dims) {
    ir::Value* v = *g.addValue(name);
    ir::Shape shape;
    for (int64_t d : dims) shape.dims.push_back(ir::Dim::known(d));
    v->type = ir::Type::tensor(ir::DType::kFloat, shape);
    g.insertGraphInput(v);
    return v;
}

ir::Value* weight(ir::Graph& g, const std::string& name, std::vector<int64_t> dims) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    ir::Value* v = *g.addValue(name);
    g.setInitializer(v, ir::Tensor::fromFloats(name, dims, std::vector<float>(n, 0.1f)));
    return v;
}

}  // namespace

TEST(ModelCost, RecurrentGatesCountAsMatrixProducts) {
    // X [T=5, N=3, I=4] → bidirectional LSTM (H=6) → Y [5, 2, 3, 6] → Relu.
    ir::Model m;
    m.opsetImports.push_back({"", 14, {}});
    ir::Graph& g = *m.graph;
    ir::Value* y = *g.addValue("Y");
    const std::vector<ir::Value*> ins = {input(g, "X", {5, 3, 4}), weight(g, "W", {2, 24, 4}),
                                         weight(g, "R", {2, 24, 6})};
    ir::Node* lstm = g.addNode("LSTM", ins, std::vector<ir::Value*>{y});
    lstm->name = "lstm";
    lstm->attributes().push_back(ir::Attribute::makeInt("hidden_size", 6));
    lstm->attributes().push_back(ir::Attribute::makeString("direction", "bidirectional"));
    ir::Value* z = *g.addValue("Z");
    g.addNode("Relu", std::vector<ir::Value*>{y}, std::vector<ir::Value*>{z})->name = "relu";
    g.insertGraphOutput(z);
    auto cost = analysis::modelCost(m);
    ASSERT_TRUE(cost) << cost.error().message();
    ASSERT_EQ(cost->nodes.size(), 2u);
    // 2 · (T·N = 15 rows) · (W's 192 + R's 288 multipliers).
    EXPECT_EQ(cost->nodes[0].flops, 2 * 15 * (192 + 288));
    EXPECT_EQ(cost->nodes[1].flops, 5 * 2 * 3 * 6);  // Relu: its output elements
    EXPECT_EQ(cost->params, 192 + 288);
    EXPECT_EQ(cost->flops, cost->nodes[0].flops + cost->nodes[1].flops);
}
