#include "test_graphs.h"

#include <random>

#include <fmt/format.h>

namespace wh::test {

using ir::Attribute;
using ir::DType;
using ir::Graph;
using ir::Node;
using ir::Tensor;
using ir::Value;

ir::Value* value(Graph& g, const std::string& name) {
    if (Value* v = g.findValue(name)) return v;
    return *g.addValue(name);
}

ir::Value* addInitializer(Graph& g, const std::string& name, std::vector<int64_t> dims,
                          std::vector<float> values) {
    Value* v = value(g, name);
    g.setInitializer(v, Tensor::fromFloats(name, std::move(dims), values));
    return v;
}

ir::Node* addNode(Graph& g, const std::string& opType, const std::string& name,
                  const std::vector<std::string>& inputs, const std::vector<std::string>& outputs) {
    std::vector<Value*> ins, outs;
    for (const auto& n : inputs) ins.push_back(n.empty() ? nullptr : value(g, n));
    for (const auto& n : outputs) outs.push_back(n.empty() ? nullptr : value(g, n));
    Node* node = g.addNode(opType, ins, outs);
    node->name = name;
    return node;
}

int countOps(const ir::Graph& g, const std::string& opType) {
    int n = 0;
    for (const Node* node : g.nodes()) n += node->opType == opType;
    return n;
}

std::unique_ptr<ir::Graph> makeResNetLike(int blocks, int channels, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f), pos(0.5f, 1.5f);
    auto randoms = [&](int64_t n, bool positive = false) {
        std::vector<float> v(static_cast<std::size_t>(n));
        for (float& x : v) x = positive ? pos(rng) : uni(rng);
        return v;
    };
    auto g = std::make_unique<Graph>();
    g->name = "resnet_like";
    const int64_t c = channels;
    Value* input = value(*g, "input");
    input->type = ir::Type::tensor(
        DType::kFloat,
        ir::Shape{{ir::Dim::symbol("N"), ir::Dim::known(3), ir::Dim::known(8), ir::Dim::known(8)}});
    g->insertGraphInput(input);

    auto conv = [&](const std::string& name, const std::string& x, int64_t inC, bool bias,
                    const std::string& y) {
        addInitializer(*g, name + ".weight", {c, inC, 3, 3}, randoms(c * inC * 9));
        std::vector<std::string> ins = {x, name + ".weight"};
        if (bias) {
            addInitializer(*g, name + ".bias", {c}, randoms(c));
            ins.push_back(name + ".bias");
        }
        Node* n = addNode(*g, "Conv", name, ins, {y});
        n->attributes().push_back(Attribute::makeInts("dilations", {1, 1}));
        n->attributes().push_back(Attribute::makeInt("group", 1));
        n->attributes().push_back(Attribute::makeInts("kernel_shape", {3, 3}));
        n->attributes().push_back(Attribute::makeInts("pads", {1, 1, 1, 1}));
        n->attributes().push_back(Attribute::makeInts("strides", {1, 1}));
    };
    auto bn = [&](const std::string& name, const std::string& x, const std::string& y) {
        addInitializer(*g, name + ".scale", {c}, randoms(c));
        addInitializer(*g, name + ".bias", {c}, randoms(c));
        addInitializer(*g, name + ".mean", {c}, randoms(c));
        addInitializer(*g, name + ".var", {c}, randoms(c, true));
        Node* n = addNode(*g, "BatchNormalization", name,
                          {x, name + ".scale", name + ".bias", name + ".mean", name + ".var"}, {y});
        n->attributes().push_back(Attribute::makeFloat("epsilon", 1e-5f));
        n->attributes().push_back(Attribute::makeFloat("momentum", 0.9f));
    };
    auto typed = [&](const std::string& name, int64_t ch, int64_t hw) {
        Value* v = value(*g, name);
        v->type =
            ir::Type::tensor(DType::kFloat, ir::Shape{{ir::Dim::symbol("N"), ir::Dim::known(ch),
                                                       ir::Dim::known(hw), ir::Dim::known(hw)}});
        g->insertValueInfo(v);
    };

    conv("conv0", "input", 3, true, "conv0_out");
    typed("conv0_out", c, 8);
    bn("bn0", "conv0_out", "bn0_out");
    addNode(*g, "Relu", "relu0", {"bn0_out"}, {"relu0_out"});
    typed("relu0_out", c, 8);
    std::string x = "relu0_out";
    for (int b = 1; b <= blocks; ++b) {
        std::string p = fmt::format("block{}", b);
        conv(p + ".conv1", x, c, false, p + ".c1");
        bn(p + ".bn1", p + ".c1", p + ".b1");
        addNode(*g, "Relu", p + ".relu1", {p + ".b1"}, {p + ".r1"});
        typed(p + ".r1", c, 8);
        conv(p + ".conv2", p + ".r1", c, true, p + ".c2");
        bn(p + ".bn2", p + ".c2", p + ".b2");
        addNode(*g, "Add", p + ".add", {p + ".b2", x}, {p + ".sum"});
        addNode(*g, "Relu", p + ".relu2", {p + ".sum"}, {p + ".out"});
        x = p + ".out";
    }
    Node* shape = addNode(*g, "Constant", "shape_const", {}, {"shape"});
    Tensor st;
    st.dtype = DType::kInt64;
    st.dims = {2};
    std::vector<int64_t> sv = {0, -1};
    st.data = std::make_shared<const ir::Buffer>(sv.data(), sv.size() * sizeof(int64_t));
    shape->attributes().push_back(Attribute::makeTensor("value", st));
    addNode(*g, "Identity", "features", {x}, {"features_out"});
    addNode(*g, "GlobalAveragePool", "gap", {"features_out"}, {"gap_out"});
    typed("gap_out", c, 1);
    addNode(*g, "Reshape", "flatten", {"gap_out", "shape"}, {"flat"});
    addInitializer(*g, "dropout.ratio", {}, {0.5f});
    addNode(*g, "Dropout", "dropout", {"flat", "dropout.ratio"}, {"dropped", "dropout_mask"});
    addInitializer(*g, "fc.weight", {10, c}, randoms(10 * c));
    addInitializer(*g, "fc.bias", {10}, randoms(10));
    Node* gemm = addNode(*g, "Gemm", "fc", {"dropped", "fc.weight", "fc.bias"}, {"fc_out"});
    gemm->attributes().push_back(Attribute::makeInt("transB", 1));
    gemm->docString = "classifier";
    addNode(*g, "Identity", "output_identity", {"fc_out"}, {"logits"});
    Value* logits = value(*g, "logits");
    logits->type =
        ir::Type::tensor(DType::kFloat, ir::Shape{{ir::Dim::symbol("N"), ir::Dim::known(10)}});
    logits->docString = "class scores";
    g->insertGraphOutput(logits);
    return g;
}

}  // namespace wh::test
