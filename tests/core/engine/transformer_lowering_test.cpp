// LayerNormFusion and GeluFusion (core/engine/transformer_lowering.h): PyTorch's decomposed
// LayerNorm and exact GELU, as its opset-14 exporter writes them, each run as one step; the
// fused plan against the reference backend with fusion off (the oracle); near misses (a value
// read outside the group, a wrong constant) left alone and still right.

#include <random>

#include <gtest/gtest.h>

#include "core/engine/plan.h"

using namespace wh;
using namespace wh::engine;

namespace {

struct Options {
    bool subIsOutput = false;     // X - mean also a graph output: no LayerNorm fusion
    float geluDivisor = 1.41421356f;  // not sqrt(2): no GELU fusion
    bool bias = true;
};

class Builder {
public:
    explicit Builder(int64_t opset) { m_model.opsetImports.push_back({"", opset, {}}); }
    ir::Value* input(const std::string& name, const Dims& dims) {
        ir::Value* v = *g().addValue(name);
        ir::Shape shape;
        for (int64_t d : dims) shape.dims.push_back(ir::Dim::known(d));
        v->type = ir::Type::tensor(ir::DType::kFloat, shape);
        g().insertGraphInput(v);
        return v;
    }
    ir::Value* constant(const std::string& name, const Dims& dims, std::vector<float> values) {
        ir::Value* v = *g().addValue(name);
        g().setInitializer(v, ir::Tensor::fromFloats(name, dims, values));
        return v;
    }
    ir::Value* random(const std::string& name, const Dims& dims) {
        std::uniform_real_distribution<float> u(0.5f, 1.5f);
        std::vector<float> v(static_cast<std::size_t>(numElementsOf(dims)));
        for (float& x : v) x = u(m_rng);
        return constant(name, dims, v);
    }
    ir::Value* node(const std::string& op, std::vector<ir::Value*> ins,
                    std::vector<ir::Attribute> attrs = {}) {
        const std::string name = op + std::to_string(m_count++);
        ir::Value* out = *g().addValue(name + "_out");
        ir::Node* n = g().addNode(op, std::move(ins), std::vector<ir::Value*>{out});
        n->name = name;
        for (auto& a : attrs) n->attributes().push_back(std::move(a));
        return out;
    }
    void output(ir::Value* v) { g().insertGraphOutput(v); }
    ir::Model take() { return std::move(m_model); }

private:
    ir::Graph& g() { return *m_model.graph; }
    ir::Model m_model;
    std::mt19937 m_rng{5};
    int m_count = 0;
};

std::vector<ir::Attribute> lastAxis() {
    std::vector<ir::Attribute> a;
    a.push_back(ir::Attribute::makeInts("axes", {-1}));
    return a;
}

// x [2, 5, 8] → LayerNorm → GELU → y.
ir::Model model(const Options& o) {
    Builder b(14);
    ir::Value* x = b.input("x", {2, 5, 8});
    ir::Value* mean = b.node("ReduceMean", {x}, lastAxis());
    ir::Value* d = b.node("Sub", {x, mean});
    ir::Value* sq = b.node("Pow", {d, b.constant("two", {}, {2.0f})});
    ir::Value* var = b.node("ReduceMean", {sq}, lastAxis());
    ir::Value* ve = b.node("Add", {var, b.constant("eps", {}, {1e-5f})});
    ir::Value* sd = b.node("Sqrt", {ve});
    ir::Value* n = b.node("Div", {d, sd});
    ir::Value* h = b.node("Mul", {n, b.random("scale", {8})});
    if (o.bias) h = b.node("Add", {h, b.random("bias", {8})});
    ir::Value* e = b.node("Div", {h, b.constant("sqrt2", {}, {o.geluDivisor})});
    ir::Value* erf = b.node("Erf", {e});
    ir::Value* one = b.node("Add", {erf, b.constant("one", {}, {1.0f})});
    ir::Value* p = b.node("Mul", {h, one});
    ir::Value* y = b.node("Mul", {p, b.constant("half", {}, {0.5f})});
    b.output(y);
    if (o.subIsOutput) b.output(d);
    return b.take();
}

struct PlanRun {
    std::vector<HostTensor> outputs;
    int steps = 0;                // nodes not fused into another
    std::vector<std::string> ops;  // op types of those
};

PlanRun run(const ir::Model& m, bool fuse) {
    PlanOptions po;
    po.fuse = fuse;
    if (!fuse) po.backends = {Backend::kReference};
    auto plan = Plan::compile(m, po);
    EXPECT_TRUE(plan) << plan.error().message();
    PlanRun r;
    if (!plan) return r;
    std::mt19937 rng(9);
    std::normal_distribution<float> nd(0.3f, 2.0f);
    std::vector<float> x(80);
    for (float& v : x) v = nd(rng);
    auto out = plan->run({HostTensor::fromFloats({2, 5, 8}, x)});
    EXPECT_TRUE(out) << out.error().message();
    if (out) r.outputs = *out;
    for (const PlannedNode& n : plan->nodes())
        if (!n.fusedInto && !n.folded) {
            ++r.steps;
            r.ops.push_back(n.opType + (n.backend == Backend::kDnnl ? "@dnnl" : ""));
        }
    return r;
}

void expectSameOutputs(const PlanRun& fused, const PlanRun& oracle) {
    ASSERT_EQ(fused.outputs.size(), oracle.outputs.size());
    for (std::size_t k = 0; k < oracle.outputs.size(); ++k) {
        const auto a = fused.outputs[k].toFloats(), b = oracle.outputs[k].toFloats();
        ASSERT_EQ(a.size(), b.size());
        for (std::size_t i = 0; i < a.size(); ++i)
            EXPECT_NEAR(a[i], b[i], 1e-5 + 1e-5 * std::abs(b[i])) << "output " << k << " at " << i;
    }
}

}  // namespace

TEST(TransformerLowering, LayerNormAndGeluRunAsOneStepEach) {
    for (bool bias : {true, false}) {
        SCOPED_TRACE(bias ? "with bias" : "without bias");
        const ir::Model m = model({.bias = bias});
        const PlanRun fused = run(m, true), oracle = run(m, false);
        // Both on oneDNN: layer_normalization and eltwise gelu_erf (the roots keep their ops).
        EXPECT_EQ(fused.ops, (std::vector<std::string>{"ReduceMean@dnnl", "Erf@dnnl"}))
            << fmt::format("{}", fmt::join(fused.ops, ", "));
        EXPECT_EQ(oracle.steps, bias ? 14 : 13);  // 9 or 8 LayerNorm ops + 5 GELU ops
        expectSameOutputs(fused, oracle);
    }
}

TEST(TransformerLowering, NearMissesAreLeftAloneAndStayRight) {
    {
        // X - mean is also an output: the LayerNorm stays op by op, the GELU still fuses.
        const ir::Model m = model({.subIsOutput = true});
        const PlanRun fused = run(m, true), oracle = run(m, false);
        EXPECT_EQ(fused.steps, 10) << fmt::format("{}", fmt::join(fused.ops, ", "));
        expectSameOutputs(fused, oracle);
    }
    {
        // x / 2 is no GELU.
        const ir::Model m = model({.geluDivisor = 2.0f});
        const PlanRun fused = run(m, true), oracle = run(m, false);
        EXPECT_EQ(fused.steps, 6) << fmt::format("{}", fmt::join(fused.ops, ", "));
        expectSameOutputs(fused, oracle);
    }
}
