#pragma once
// A few lines to build small float models in the IR for training tests: weights as initializers
// (Kaiming-uniform from a seed) or as Constant nodes, nodes by value names.

#include <cmath>
#include <string>
#include <vector>

#include "core/engine/host_tensor.h"
#include "core/ir/graph.h"
#include "core/util/rng.h"

namespace wh::testing {

class ModelBuilder {
public:
    explicit ModelBuilder(int64_t opset = 13, uint64_t seed = 1) : m_rng(seed) {
        m_model.irVersion = 8;
        m_model.opsetImports.push_back({"", opset, {}});
        m_model.producerName = "whittle-tests";
    }

    /// Graph input `name` float [N, dims...] with a symbolic batch.
    void input(const std::string& name, std::vector<int64_t> dims) {
        ir::Value* v = value(name);
        ir::Shape shape;
        shape.dims.push_back(ir::Dim::symbol("N"));
        for (int64_t d : dims) shape.dims.push_back(ir::Dim::known(d));
        v->type = ir::Type::tensor(ir::DType::kFloat, shape);
        g().insertGraphInput(v);
    }
    void output(const std::string& name, std::vector<int64_t> dims) {
        ir::Value* v = value(name);
        ir::Shape shape;
        shape.dims.push_back(ir::Dim::symbol("N"));
        for (int64_t d : dims) shape.dims.push_back(ir::Dim::known(d));
        v->type = ir::Type::tensor(ir::DType::kFloat, shape);
        g().insertGraphOutput(v);
    }
    /// A float initializer with uniform values in [-bound, bound], bound = sqrt(6 / fanIn)
    /// (fanIn = 0: the given constant `fill`).
    void weight(const std::string& name, std::vector<int64_t> dims, int64_t fanIn,
                float fill = 0.0f) {
        g().setInitializer(value(name),
                           ir::Tensor::fromFloats(name, dims, values(dims, fanIn, fill)));
    }
    /// The same as a Constant node.
    void constantWeight(const std::string& name, std::vector<int64_t> dims, int64_t fanIn) {
        ir::Node* n = node("Constant", {}, {name});
        n->attributes().push_back(ir::Attribute::makeTensor(
            "value", ir::Tensor::fromFloats(name, dims, values(dims, fanIn, 0))));
    }
    void int64s(const std::string& name, std::vector<int64_t> v) {
        ir::Tensor t;
        t.name = name;
        t.dtype = ir::DType::kInt64;
        t.dims = {static_cast<int64_t>(v.size())};
        t.data = std::make_shared<const ir::Buffer>(v.data(), v.size() * sizeof(int64_t));
        g().setInitializer(value(name), std::move(t));
    }
    void bools(const std::string& name, std::vector<int64_t> dims, const std::vector<bool>& v) {
        std::vector<uint8_t> bytes(v.begin(), v.end());
        ir::Tensor t;
        t.name = name;
        t.dtype = ir::DType::kBool;
        t.dims = std::move(dims);
        t.data = std::make_shared<const ir::Buffer>(bytes.data(), bytes.size());
        g().setInitializer(value(name), std::move(t));
    }
    /// A 3x3 Conv with pads 1 and no bias; weights `w` [cout, cin, 3, 3] Kaiming-uniform.
    void conv3x3(const std::string& in, const std::string& w, int64_t cin, int64_t cout,
                 const std::string& out) {
        weight(w, {cout, cin, 3, 3}, cin * 9);
        node("Conv", {in, w}, {out})
            ->attributes()
            .push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    }
    /// BatchNormalization over `channels`; its scale, bias, mean and variance are initializers
    /// `p`_s, `p`_b, `p`_m, `p`_v holding the given constants.
    void batchNorm(const std::string& in, const std::string& p, int64_t channels,
                   const std::string& out, float scale = 1.0f, float bias = 0.1f, float mean = 0.0f,
                   float var = 1.0f) {
        weight(p + "_s", {channels}, 0, scale);
        weight(p + "_b", {channels}, 0, bias);
        weight(p + "_m", {channels}, 0, mean);
        weight(p + "_v", {channels}, 0, var);
        node("BatchNormalization", {in, p + "_s", p + "_b", p + "_m", p + "_v"}, {out});
    }
    ir::Node* node(const std::string& op, std::vector<std::string> ins,
                   std::vector<std::string> outs, std::vector<ir::Attribute> attrs = {}) {
        std::vector<ir::Value*> i, o;
        for (auto& s : ins) i.push_back(s.empty() ? nullptr : value(s));
        for (auto& s : outs) o.push_back(value(s));
        ir::Node* n = g().addNode(op, i, o);
        n->name = outs.front() + "_" + op;
        for (auto& a : attrs) n->attributes().push_back(std::move(a));
        return n;
    }
    ir::Model take() { return std::move(m_model); }
    ir::Model& model() { return m_model; }

private:
    ir::Graph& g() { return *m_model.graph; }
    ir::Value* value(const std::string& name) {
        if (ir::Value* v = g().findValue(name)) return v;
        return *g().addValue(name);
    }
    std::vector<float> values(const std::vector<int64_t>& dims, int64_t fanIn, float fill) {
        int64_t n = 1;
        for (int64_t d : dims) n *= d;
        std::vector<float> v(static_cast<std::size_t>(n), fill);
        if (fanIn > 0) {
            const double bound = std::sqrt(6.0 / static_cast<double>(fanIn));
            for (float& x : v) x = static_cast<float>((m_rng.uniform() * 2 - 1) * bound);
        }
        return v;
    }
    ir::Model m_model;
    Rng m_rng;
};

/// A float32 tensor of standard-normal values from `seed`.
inline engine::HostTensor randomNormal(const engine::Dims& dims, uint64_t seed) {
    Rng rng(seed);
    engine::HostTensor t(ir::DType::kFloat, dims);
    for (float& x : t.span<float>()) x = static_cast<float>(rng.normal());
    return t;
}

/// `n` int64 labels in [0, classes) from `seed`.
inline engine::HostTensor randomLabels(int64_t n, int64_t classes, uint64_t seed) {
    Rng rng(seed);
    std::vector<int64_t> y(static_cast<std::size_t>(n));
    for (int64_t& l : y)
        l = static_cast<int64_t>(rng.uniform() * static_cast<double>(classes)) % classes;
    return engine::HostTensor::fromInt64s({n}, y);
}

}  // namespace wh::testing
