#include "core/models/architectures.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/util/rng.h"

namespace wh::models {

namespace {

int64_t product(const std::vector<int64_t>& dims) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
}

// Appends nodes and He-initialised weights to a graph; values are named by layer.
class Builder {
public:
    Builder(ir::Graph& g, uint64_t seed) : m_g(g), m_rng(seed) {}

    ir::Value* input(const std::string& name, int64_t c, int64_t h, int64_t w) {
        ir::Value* v = *m_g.addValue(name);
        v->type = ir::Type::tensor(ir::DType::kFloat,
                                   ir::Shape{{ir::Dim::symbol("batch"), ir::Dim::known(c),
                                              ir::Dim::known(h), ir::Dim::known(w)}});
        m_g.insertGraphInput(v);
        return v;
    }
    void output(ir::Value* v, int64_t classes) {
        v->type = ir::Type::tensor(ir::DType::kFloat,
                                   ir::Shape{{ir::Dim::symbol("batch"), ir::Dim::known(classes)}});
        m_g.insertGraphOutput(v);
    }

    ir::Value* conv(ir::Value* x, const std::string& name, int64_t inC, int64_t outC, int64_t k,
                    int64_t stride, int64_t pad, int64_t groups = 1, bool bias = false) {
        const int64_t fanIn = inC / groups * k * k;
        std::vector<ir::Value*> ins{x, weight(name + ".weight", {outC, inC / groups, k, k}, fanIn)};
        if (bias) ins.push_back(constant(name + ".bias", {outC}, 0.0f));
        ir::Node* n = node("Conv", name, ins);
        n->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {k, k}));
        n->attributes().push_back(ir::Attribute::makeInts("strides", {stride, stride}));
        n->attributes().push_back(ir::Attribute::makeInts("pads", {pad, pad, pad, pad}));
        if (groups != 1) n->attributes().push_back(ir::Attribute::makeInt("group", groups));
        return n->output(0);
    }
    ir::Value* bn(ir::Value* x, const std::string& name, int64_t c) {
        ir::Node* n =
            node("BatchNormalization", name,
                 {x, constant(name + ".weight", {c}, 1.0f), constant(name + ".bias", {c}, 0.0f),
                  constant(name + ".running_mean", {c}, 0.0f),
                  constant(name + ".running_var", {c}, 1.0f)});
        n->attributes().push_back(ir::Attribute::makeFloat("epsilon", 1e-5f));
        n->attributes().push_back(ir::Attribute::makeFloat("momentum", 0.9f));
        return n->output(0);
    }
    ir::Value* relu(ir::Value* x, const std::string& name) {
        return node("Relu", name, {x})->output(0);
    }
    ir::Value* relu6(ir::Value* x, const std::string& name) {
        return node("Clip", name, {x, scalar(name + ".min", 0.0f), scalar(name + ".max", 6.0f)})
            ->output(0);
    }
    ir::Value* add(ir::Value* a, ir::Value* b, const std::string& name) {
        return node("Add", name, {a, b})->output(0);
    }
    ir::Value* maxPool(ir::Value* x, const std::string& name) {
        ir::Node* n = node("MaxPool", name, {x});
        n->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {2, 2}));
        n->attributes().push_back(ir::Attribute::makeInts("strides", {2, 2}));
        return n->output(0);
    }
    ir::Value* globalPool(ir::Value* x, const std::string& name) {
        return node("GlobalAveragePool", name, {x})->output(0);
    }
    ir::Value* flatten(ir::Value* x, const std::string& name) {
        ir::Node* n = node("Flatten", name, {x});
        n->attributes().push_back(ir::Attribute::makeInt("axis", 1));
        return n->output(0);
    }
    ir::Value* fc(ir::Value* x, const std::string& name, int64_t in, int64_t out,
                  const std::string& outName = {}) {
        ir::Node* n = node(
            "Gemm", name,
            {x, weight(name + ".weight", {out, in}, in), constant(name + ".bias", {out}, 0.0f)},
            outName);
        n->attributes().push_back(ir::Attribute::makeInt("transB", 1));
        return n->output(0);
    }

private:
    ir::Graph& m_g;
    Rng m_rng;

    ir::Node* node(const std::string& op, const std::string& name, std::vector<ir::Value*> ins,
                   const std::string& outName = {}) {
        ir::Value* out = *m_g.addValue(outName.empty() ? m_g.uniqueName(name + "_out") : outName);
        ir::Node* n = m_g.addNode(op, ins, std::vector<ir::Value*>{out});
        n->name = name;
        return n;
    }
    ir::Value* initializer(const std::string& name, ir::Tensor t) {
        ir::Value* v = *m_g.addValue(name);
        m_g.setInitializer(v, std::move(t));
        return v;
    }
    ir::Value* weight(const std::string& name, std::vector<int64_t> dims, int64_t fanIn) {
        std::vector<float> w(static_cast<std::size_t>(product(dims)));
        const double stddev = std::sqrt(2.0 / static_cast<double>(fanIn));  // He (Kaiming) normal
        for (float& x : w) x = static_cast<float>(m_rng.normal() * stddev);
        return initializer(name, ir::Tensor::fromFloats(name, std::move(dims), w));
    }
    ir::Value* constant(const std::string& name, std::vector<int64_t> dims, float value) {
        std::vector<float> w(static_cast<std::size_t>(product(dims)), value);
        return initializer(name, ir::Tensor::fromFloats(name, std::move(dims), w));
    }
    ir::Value* scalar(const std::string& name, float value) {
        return initializer(name, ir::Tensor::fromFloats(name, {}, {value}));
    }
};

int64_t convOut(int64_t size, int64_t k, int64_t stride, int64_t pad) {
    return (size + 2 * pad - k) / stride + 1;
}

void lenet5(Builder& b, const ArchitectureOptions& o) {
    ir::Value* x = b.input("input", o.channels, o.height, o.width);
    x = b.maxPool(b.relu(b.conv(x, "conv1", o.channels, 6, 5, 1, 2, 1, true), "relu1"), "pool1");
    x = b.maxPool(b.relu(b.conv(x, "conv2", 6, 16, 5, 1, 0, 1, true), "relu2"), "pool2");
    const int64_t h = convOut(o.height, 2, 2, 0) - 4, w = convOut(o.width, 2, 2, 0) - 4;
    const int64_t flat = 16 * (h / 2) * (w / 2);
    x = b.flatten(x, "flatten");
    x = b.relu(b.fc(x, "fc1", flat, 120), "relu3");
    x = b.relu(b.fc(x, "fc2", 120, 84), "relu4");
    b.output(b.fc(x, "fc3", 84, o.classes, "logits"), o.classes);
}

void resnet20(Builder& b, const ArchitectureOptions& o) {
    ir::Value* x = b.input("input", o.channels, o.height, o.width);
    x = b.relu(b.bn(b.conv(x, "conv1", o.channels, 16, 3, 1, 1), "bn1", 16), "relu1");
    int64_t inC = 16;
    const int64_t widths[3] = {16, 32, 64};
    for (int stage = 0; stage < 3; ++stage) {
        for (int block = 0; block < 3; ++block) {
            const std::string p = fmt::format("layer{}.{}", stage + 1, block);
            const int64_t outC = widths[stage];
            const int64_t stride = (stage > 0 && block == 0) ? 2 : 1;
            ir::Value* y =
                b.relu(b.bn(b.conv(x, p + ".conv1", inC, outC, 3, stride, 1), p + ".bn1", outC),
                       p + ".relu1");
            y = b.bn(b.conv(y, p + ".conv2", outC, outC, 3, 1, 1), p + ".bn2", outC);
            ir::Value* shortcut = x;
            if (stride != 1 || inC != outC)
                shortcut = b.bn(b.conv(x, p + ".shortcut.conv", inC, outC, 1, stride, 0),
                                p + ".shortcut.bn", outC);
            x = b.relu(b.add(y, shortcut, p + ".add"), p + ".relu2");
            inC = outC;
        }
    }
    x = b.flatten(b.globalPool(x, "avgpool"), "flatten");
    b.output(b.fc(x, "fc", 64, o.classes, "logits"), o.classes);
}

void mobilenetv2Tiny(Builder& b, const ArchitectureOptions& o) {
    ir::Value* x = b.input("input", o.channels, o.height, o.width);
    x = b.relu6(b.bn(b.conv(x, "stem.conv", o.channels, 16, 3, 1, 1), "stem.bn", 16), "stem.relu");
    struct Stage {
        int64_t t, c, n, s;
    };
    const Stage stages[] = {
        {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 2, 2}, {6, 96, 1, 1}};
    int64_t inC = 16;
    int index = 0;
    for (const Stage& st : stages) {
        for (int64_t i = 0; i < st.n; ++i, ++index) {
            const std::string p = fmt::format("block{}", index);
            const int64_t stride = i == 0 ? st.s : 1, hidden = inC * st.t;
            ir::Value* y = x;
            if (st.t != 1)
                y = b.relu6(
                    b.bn(b.conv(y, p + ".expand", inC, hidden, 1, 1, 0), p + ".expand_bn", hidden),
                    p + ".expand_relu");
            y = b.relu6(b.bn(b.conv(y, p + ".dw", hidden, hidden, 3, stride, 1, hidden),
                             p + ".dw_bn", hidden),
                        p + ".dw_relu");
            y = b.bn(b.conv(y, p + ".project", hidden, st.c, 1, 1, 0), p + ".project_bn", st.c);
            x = (stride == 1 && inC == st.c) ? b.add(y, x, p + ".add") : y;
            inC = st.c;
        }
    }
    x = b.relu6(b.bn(b.conv(x, "head.conv", inC, 256, 1, 1, 0), "head.bn", 256), "head.relu");
    x = b.flatten(b.globalPool(x, "avgpool"), "flatten");
    b.output(b.fc(x, "classifier", 256, o.classes, "logits"), o.classes);
}

}  // namespace

std::vector<std::string> architectureNames() {
    return {"lenet5", "resnet20", "mobilenetv2-tiny"};
}

Expected<ir::Model> buildArchitecture(std::string_view name, const ArchitectureOptions& options) {
    ir::Model model;
    model.irVersion = 8;
    model.producerName = "whittle";
    model.opsetImports.push_back({"", 13, {}});
    model.graph->name = std::string(name);
    Builder b(*model.graph, options.seed);
    if (name == "lenet5")
        lenet5(b, options);
    else if (name == "resnet20")
        resnet20(b, options);
    else if (name == "mobilenetv2-tiny")
        mobilenetv2Tiny(b, options);
    else
        return error(StatusCode::kUsage, "unknown architecture '{}' (one of: {})", name,
                     fmt::join(architectureNames(), ", "));
    WH_RETURN_IF_ERROR(model.graph->validate());
    return model;
}

ir::Model buildResidualChain(int targetNodes) {
    constexpr int64_t kChannels = 8;
    ir::Model model;
    model.irVersion = 8;
    model.producerName = "whittle";
    model.opsetImports.push_back({"", 13, {}});
    model.graph = std::make_unique<ir::Graph>();
    ir::Graph& g = *model.graph;
    g.name = fmt::format("residual_chain_{}", targetNodes);
    ir::Value* x = *g.addValue("input");
    ir::Shape shape;
    for (int64_t d : {int64_t{1}, kChannels, int64_t{16}, int64_t{16}})
        shape.dims.push_back(ir::Dim::known(d));
    x->type = ir::Type::tensor(ir::DType::kFloat, shape);
    g.insertGraphInput(x);
    const ir::Type activation = x->type;
    auto weight = [&g](const std::string& name, std::vector<int64_t> dims) {
        ir::Value* v = *g.addValue(name);
        int64_t n = 1;
        for (int64_t d : dims) n *= d;
        g.setInitializer(v, ir::Tensor::fromFloats(
                                name, dims, std::vector<float>(static_cast<size_t>(n), 0.1f)));
        return v;
    };
    auto node = [&](const char* op, const std::string& name, std::vector<ir::Value*> in) {
        ir::Value* out = *g.addValue(name);
        out->type = activation;
        g.addNode(op, in, std::vector<ir::Value*>{out})->name = name;
        return out;
    };
    const int blocks = std::max(1, (targetNodes - 2) / 4);
    for (int i = 0; i < blocks; ++i) {
        const std::string p = fmt::format("blocks.{}", i);
        ir::Value* c = node("Conv", p + ".conv",
                            {x, weight(p + ".conv.weight", {kChannels, kChannels, 1, 1})});
        ir::Value* b =
            node("BatchNormalization", p + ".bn",
                 {c, weight(p + ".bn.weight", {kChannels}), weight(p + ".bn.bias", {kChannels}),
                  weight(p + ".bn.mean", {kChannels}), weight(p + ".bn.var", {kChannels})});
        ir::Value* r = node("Relu", p + ".relu", {b});
        x = node("Add", p + ".add", {x, r});
    }
    ir::Value* pool = node("GlobalAveragePool", "head.pool", {x});
    ir::Value* flat = node("Flatten", "head.flatten", {pool});
    ir::Shape poolShape, flatShape;
    poolShape.dims = {ir::Dim::known(1), ir::Dim::known(kChannels), ir::Dim::known(1),
                      ir::Dim::known(1)};
    flatShape.dims = {ir::Dim::known(1), ir::Dim::known(kChannels)};
    pool->type = ir::Type::tensor(ir::DType::kFloat, poolShape);
    flat->type = ir::Type::tensor(ir::DType::kFloat, flatShape);
    g.insertGraphOutput(flat);
    return model;
}

}  // namespace wh::models
