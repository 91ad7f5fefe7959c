// Plan mechanics with a registry of test kernels: compile once, run many; constant folding;
// backend fallback; clear errors for unsupported ops and mismatched inputs.

#include <gtest/gtest.h>

#include <algorithm>

#include "core/engine/plan.h"

using namespace wh;
using namespace wh::engine;

namespace {

int g_runs = 0;  // kernel executions, to see what was folded

// Elementwise float add of two same-shaped tensors.
class AddKernel : public Kernel {
public:
    Status run(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        ++g_runs;
        out[0]->ensure(ir::DType::kFloat, in[0]->dims());
        for (int64_t i = 0; i < in[0]->numElements(); ++i)
            out[0]->data<float>()[i] = in[0]->data<float>()[i] + in[1]->data<float>()[i];
        return Status::ok();
    }
};

KernelRegistry testRegistry(bool dnnlAddRefuses) {
    KernelRegistry r;
    r.add("", "Add", 7, 99, Backend::kReference,
          [](const KernelContext& ctx) -> Expected<KernelBuild> {
              KernelBuild b;
              b.kernel = std::make_unique<AddKernel>();
              b.outputs.push_back({ir::DType::kFloat, ctx.inputs[0].dims});
              return b;
          });
    if (dnnlAddRefuses)
        r.add("", "Add", 7, 99, Backend::kDnnl, [](const KernelContext&) -> Expected<KernelBuild> {
            return error(StatusCode::kUnsupported, "broadcasting not done here");
        });
    return r;
}

// y = (x + c1) + (c1 + c2): the right-hand Add has constant inputs and folds.
ir::Model makeModel(const std::string& op = "Add") {
    ir::Model m;
    m.opsetImports.push_back({"", 13, {}});
    ir::Graph& g = *m.graph;
    ir::Value* x = *g.addValue("x");
    x->type =
        ir::Type::tensor(ir::DType::kFloat, ir::Shape{{ir::Dim::symbol("N"), ir::Dim::known(2)}});
    g.insertGraphInput(x);
    ir::Value* c1 = *g.addValue("c1");
    g.setInitializer(c1, ir::Tensor::fromFloats("c1", {1, 2}, {1, 2}));
    ir::Value* c2 = *g.addValue("c2");
    g.setInitializer(c2, ir::Tensor::fromFloats("c2", {1, 2}, {10, 20}));
    ir::Value *a = *g.addValue("a"), *b = *g.addValue("b"), *y = *g.addValue("y");
    g.addNode(op, std::vector<ir::Value*>{x, c1}, std::vector<ir::Value*>{a})->name = "left";
    g.addNode("Add", std::vector<ir::Value*>{c1, c2}, std::vector<ir::Value*>{b})->name = "consts";
    g.addNode("Add", std::vector<ir::Value*>{a, b}, std::vector<ir::Value*>{y})->name = "sum";
    g.insertGraphOutput(y);
    return m;
}

}  // namespace

TEST(Plan, FoldsConstantsAndRunsTheRest) {
    KernelRegistry r = testRegistry(true);
    PlanOptions opt;
    opt.registry = &r;
    opt.inputShapes["x"] = {1, 2};
    auto plan = Plan::compile(makeModel(), opt);
    ASSERT_TRUE(plan) << plan.error().message();
    ASSERT_EQ(plan->nodes().size(), 3u);
    EXPECT_FALSE(plan->nodes()[0].folded);
    EXPECT_TRUE(plan->nodes()[1].folded);
    EXPECT_EQ(plan->nodes()[0].backend, Backend::kReference);  // dnnl refused, ref took it
    EXPECT_EQ(plan->inputNames(), std::vector<std::string>{"x"});

    g_runs = 0;
    for (int k = 0; k < 3; ++k) {
        auto out = plan->run({HostTensor::fromFloats({1, 2}, {100, 200})});
        ASSERT_TRUE(out) << out.error().message();
        EXPECT_EQ((*out)[0].toFloats(), (std::vector<float>{112, 224}));
    }
    EXPECT_EQ(g_runs, 6);  // two unfolded nodes, three runs
}

TEST(Plan, RejectsInputsThatDoNotMatch) {
    KernelRegistry r = testRegistry(false);
    PlanOptions opt;
    opt.registry = &r;
    auto plan = Plan::compile(makeModel(), opt);  // batch left symbolic
    ASSERT_TRUE(plan) << plan.error().message();
    auto bad = plan->run({HostTensor::fromFloats({1, 3}, {1, 2, 3})});
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("input 'x'"), std::string::npos) << bad.error().message();
    EXPECT_FALSE(plan->run({}));
}

TEST(Plan, UnsupportedOperatorNamesOpOpsetAndNode) {
    KernelRegistry r = testRegistry(false);
    PlanOptions opt;
    opt.registry = &r;
    auto plan = Plan::compile(makeModel("Frobnicate"), opt);
    ASSERT_FALSE(plan);
    EXPECT_EQ(plan.error().code(), StatusCode::kUnsupported);
    const std::string& msg = plan.error().message();
    EXPECT_NE(msg.find("Frobnicate"), std::string::npos) << msg;
    EXPECT_NE(msg.find("opset 13"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'left'"), std::string::npos) << msg;
}

TEST(HostTensor, AlignedSharedAndReusable) {
    HostTensor t(ir::DType::kFloat, {3, 5});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
    EXPECT_EQ(t.numElements(), 15);
    const void* before = t.raw();
    t.ensure(ir::DType::kFloat, {5, 3});  // same size, unshared: storage reused
    EXPECT_EQ(t.raw(), before);
    HostTensor shared = t;
    t.ensure(ir::DType::kFloat, {5, 3});  // shared now: must not write under the other owner
    EXPECT_NE(t.raw(), shared.raw());
    auto ir = HostTensor::fromFloats({2}, {1.5f, -2}).toIr("w");
    auto back = HostTensor::fromIr(ir);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->toFloats(), (std::vector<float>{1.5f, -2}));
}

namespace {

// Samples the bytes of tensor storage alive after every step.
struct MemorySampler : RunObserver {
    std::size_t peak = 0;
    void stepEnd(const StepEvent&) override { peak = std::max(peak, memoryInUse()); }
};

// x [8,128,128] → 8 Transposes → Reshape [8,16384] → Reshape [8,128,128] (views of their
// input) → 8 Transposes → y: y == x, every activation 512 KiB.
ir::Model makeTransposeChain() {
    ir::Model m;
    m.opsetImports.push_back({"", 13, {}});
    ir::Graph& g = *m.graph;
    ir::Value* x = *g.addValue("x");
    x->type =
        ir::Type::tensor(ir::DType::kFloat,
                         ir::Shape{{ir::Dim::known(8), ir::Dim::known(128), ir::Dim::known(128)}});
    g.insertGraphInput(x);
    ir::Value* flat = *g.addValue("flat");
    g.setInitializer(flat, HostTensor::fromInt64s({2}, {8, 16384}).toIr("flat"));
    ir::Value* cube = *g.addValue("cube");
    g.setInitializer(cube, HostTensor::fromInt64s({3}, {8, 128, 128}).toIr("cube"));
    ir::Value* cur = x;
    int made = 0;
    auto next = [&](const std::string& op, std::vector<ir::Value*> ins) {
        ir::Value* out = *g.addValue("t" + std::to_string(++made));
        ir::Node* n = g.addNode(op, std::move(ins), std::vector<ir::Value*>{out});
        if (op == "Transpose")
            n->attributes().push_back(ir::Attribute::makeInts("perm", {0, 2, 1}));
        cur = out;
    };
    for (int i = 0; i < 8; ++i) next("Transpose", {cur});
    next("Reshape", {cur, flat});
    next("Reshape", {cur, cube});
    for (int i = 0; i < 8; ++i) next("Transpose", {cur});
    g.insertGraphOutput(cur);
    return m;
}

}  // namespace

TEST(Plan, ActivationsShareBuffersByLifetime) {
    std::vector<float> values(8 * 128 * 128);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 1000) - 500;
    const HostTensor x = HostTensor::fromFloats({8, 128, 128}, values);
    constexpr std::size_t kTensor = 8 * 128 * 128 * sizeof(float);
    const std::size_t baseline = memoryInUse();

    const ir::Model model = makeTransposeChain();
    MemorySampler sampler;
    PlanOptions opt;
    opt.observer = &sampler;
    auto plan = Plan::compile(model, opt);
    ASSERT_TRUE(plan) << plan.error().message();
    auto first = plan->run({x});
    ASSERT_TRUE(first) << first.error().message();
    EXPECT_EQ((*first)[0].toFloats(), values);
    // Held by the caller, the first result survives the next runs (outputs are never pooled).
    for (int run = 0; run < 3; ++run) {
        auto again = plan->run({x});
        ASSERT_TRUE(again) << again.error().message();
        EXPECT_EQ((*again)[0].toFloats(), values);
    }
    EXPECT_EQ((*first)[0].toFloats(), values);
    // 18 steps writing 512 KiB each. Alive at once at most: the first result, a step's input
    // and output, a buffer waiting in the pool and the new result — not one buffer per step.
    const std::size_t peak = sampler.peak - std::min(sampler.peak, baseline);
    EXPECT_LE(peak, 5 * kTensor) << peak / kTensor << " tensors";
}
