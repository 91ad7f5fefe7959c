// If, Loop, Scan and Einsum on the reference engine: subgraphs reading values of enclosing
// scopes (two levels out), scan outputs, the errors a broken body gives (naming the node), and
// a Loop that would run for ever ending in cancellation or at the memory budget.

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "core/engine/plan.h"
#include "core/engine/training_plan.h"
#include "core/jobs/job_context.h"

using namespace wh;
using namespace wh::engine;

namespace {

using Vals = std::vector<ir::Value*>;

ir::Value* input(ir::Graph& g, const std::string& name, ir::DType dtype,
                 std::vector<int64_t> dims) {
    ir::Value* v = *g.addValue(name);
    ir::Shape shape;
    for (int64_t d : dims) shape.dims.push_back(ir::Dim::known(d));
    v->type = ir::Type::tensor(dtype, shape);
    g.insertGraphInput(v);
    return v;
}

ir::Value* constant(ir::Graph& g, const std::string& name, const HostTensor& t) {
    ir::Value* v = *g.addValue(name);
    g.setInitializer(v, t.toIr(name));
    return v;
}

// A value of `sub` read from an enclosing graph.
ir::Value* capture(ir::Graph& sub, const std::string& name) {
    if (ir::Value* v = sub.findValue(name)) return v;
    ir::Value* v = *sub.addValue(name);
    sub.markCapture(v);
    return v;
}

ir::Value* op(ir::Graph& g, const std::string& type, Vals ins, const std::string& out) {
    ir::Value* v = g.findValue(out) ? g.findValue(out) : *g.addValue(out);
    g.addNode(type, ins, Vals{v})->name = out + "_node";
    return v;
}

// Moves `sub` into attribute `name` of `node`.
void attach(ir::Graph& g, ir::Node* node, const std::string& name, std::unique_ptr<ir::Graph> sub) {
    ir::Attribute a;
    a.name = name;
    a.type = ir::AttrType::kGraph;
    a.g = std::move(sub);
    node->attributes().push_back(std::move(a));
    g.adoptSubgraph(node->attributes().back().g.get(), node);
}

ir::Model emptyModel() {
    ir::Model m;
    m.irVersion = 8;
    m.opsetImports.push_back({"", 17, {}});
    return m;
}

PlanOptions refOnly() {
    PlanOptions o;
    o.backends = {Backend::kReference};
    o.threads = 1;
    return o;
}

// acc = 0; for i < M: acc = flag ? acc + x : acc - x; scan: acc * i.
// The If inside the body reads `acc` (the body's) and `x`, `flag` (the main graph's).
ir::Model loopWithIf(int64_t trips) {
    ir::Model m = emptyModel();
    ir::Graph& g = *m.graph;
    ir::Value* x = input(g, "x", ir::DType::kFloat, {2});
    ir::Value* flag = input(g, "flag", ir::DType::kBool, {});
    ir::Value* M = constant(g, "M", HostTensor::fromInt64s({}, {trips}));
    ir::Value* acc0 = constant(g, "acc0", HostTensor::fromFloats({2}, {0, 0}));
    ir::Value* accOut = *g.addValue("acc_final");
    ir::Value* scanOut = *g.addValue("scan");
    ir::Node* loop = g.addNode("Loop", Vals{M, nullptr, acc0}, Vals{accOut, scanOut});
    loop->name = "loop";

    auto body = std::make_unique<ir::Graph>();
    ir::Graph& b = *body;
    b.name = "body";
    ir::Value* i = input(b, "i", ir::DType::kInt64, {});
    ir::Value* c = input(b, "c", ir::DType::kBool, {});
    input(b, "acc", ir::DType::kFloat, {2});
    ir::Value* next = *b.addValue("next");
    ir::Node* choose = b.addNode("If", Vals{capture(b, "flag")}, Vals{next});
    choose->name = "choose";
    auto thenG = std::make_unique<ir::Graph>();
    thenG->insertGraphOutput(
        op(*thenG, "Add", {capture(*thenG, "acc"), capture(*thenG, "x")}, "t"));
    auto elseG = std::make_unique<ir::Graph>();
    elseG->insertGraphOutput(
        op(*elseG, "Sub", {capture(*elseG, "acc"), capture(*elseG, "x")}, "e"));
    attach(b, choose, "then_branch", std::move(thenG));
    attach(b, choose, "else_branch", std::move(elseG));
    ir::Value* fi = op(b, "Cast", {i}, "fi");
    b.nodeList().back()->attributes().push_back(
        ir::Attribute::makeInt("to", static_cast<int64_t>(ir::DType::kFloat)));
    ir::Value* scaled = op(b, "Mul", {next, fi}, "scaled");
    b.insertGraphOutput(c);
    b.insertGraphOutput(next);
    b.insertGraphOutput(scaled);
    attach(g, loop, "body", std::move(body));
    g.insertGraphOutput(accOut);
    g.insertGraphOutput(scanOut);
    (void)x;
    (void)flag;
    return m;
}

}  // namespace

TEST(ControlFlow, NestedIfInsideLoopReadsOuterValues) {
    ir::Model m = loopWithIf(3);
    ASSERT_TRUE(m.graph->validate().isOk()) << m.graph->validate().message();
    auto plan = Plan::compile(m, refOnly());
    ASSERT_TRUE(plan) << plan.error().message();
    // Compile-time shapes: the carried value keeps [2]; the scan output is [3,2] (M known).
    EXPECT_EQ(plan->outputInfo(0).dims, (Dims{2}));
    EXPECT_EQ(plan->outputInfo(1).dims, (Dims{3, 2}));
    for (bool flag : {true, false}) {
        auto out = plan->run({HostTensor::fromFloats({2}, {1, 10}),
                              HostTensor::scalar(ir::DType::kBool, flag ? 1 : 0)});
        ASSERT_TRUE(out) << out.error().message();
        const float s = flag ? 1.f : -1.f;
        EXPECT_EQ((*out)[0].toFloats(), (std::vector<float>{3 * s, 30 * s}));
        // acc after iteration i is (i+1)·s·x, scaled by i: 0, 2sx, 6sx.
        EXPECT_EQ((*out)[1].dims(), (Dims{3, 2}));
        EXPECT_EQ((*out)[1].toFloats(), (std::vector<float>{0, 0, 2 * s, 20 * s, 6 * s, 60 * s}));
    }
}

TEST(ControlFlow, LoopWithConditionAndScanOutputs) {
    // while (i < limit): sq = i*i, scanned; the condition is computed in the body from an
    // outer value, and the trip count M is larger than needed.
    ir::Model m = emptyModel();
    ir::Graph& g = *m.graph;
    ir::Value* limit = input(g, "limit", ir::DType::kInt64, {});
    ir::Value* M = constant(g, "M", HostTensor::fromInt64s({}, {100}));
    ir::Value* c0 = constant(g, "c0", HostTensor::scalar(ir::DType::kBool, 1));
    ir::Value* squares = *g.addValue("squares");
    ir::Node* loop = g.addNode("Loop", Vals{M, c0}, Vals{squares});
    loop->name = "while";
    auto body = std::make_unique<ir::Graph>();
    ir::Graph& b = *body;
    ir::Value* i = input(b, "i", ir::DType::kInt64, {});
    input(b, "c", ir::DType::kBool, {});
    ir::Value* one = constant(b, "one", HostTensor::fromInt64s({}, {1}));
    ir::Value* i1 = op(b, "Add", {i, one}, "i1");
    ir::Value* more = op(b, "Less", {i1, capture(b, "limit")}, "more");
    ir::Value* sq = op(b, "Mul", {i, i}, "sq");
    b.insertGraphOutput(more);
    b.insertGraphOutput(sq);
    attach(g, loop, "body", std::move(body));
    g.insertGraphOutput(squares);
    (void)limit;

    auto plan = Plan::compile(m, refOnly());
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(plan->outputInfo(0).dims, (Dims{-1}));  // the trip count is known at run time
    for (int64_t n : {4, 1}) {
        auto out = plan->run({HostTensor::fromInt64s({}, {n})});
        ASSERT_TRUE(out) << out.error().message();
        std::vector<int64_t> want;
        for (int64_t k = 0; k < n; ++k) want.push_back(k * k);
        EXPECT_EQ((*out)[0].toInt64s(), want) << "limit " << n;
    }
}

TEST(ControlFlow, BranchesWithDifferentOutputCountsNameTheNode) {
    ir::Model m = emptyModel();
    ir::Graph& g = *m.graph;
    ir::Value* flag = input(g, "flag", ir::DType::kBool, {});
    ir::Value* x = input(g, "x", ir::DType::kFloat, {2});
    ir::Value* y = *g.addValue("y");
    ir::Node* node = g.addNode("If", Vals{flag}, Vals{y});
    node->name = "pick";
    auto thenG = std::make_unique<ir::Graph>();
    thenG->insertGraphOutput(op(*thenG, "Neg", {capture(*thenG, "x")}, "n"));
    auto elseG = std::make_unique<ir::Graph>();
    elseG->insertGraphOutput(op(*elseG, "Abs", {capture(*elseG, "x")}, "a"));
    elseG->insertGraphOutput(op(*elseG, "Relu", {capture(*elseG, "x")}, "r"));
    attach(g, node, "then_branch", std::move(thenG));
    attach(g, node, "else_branch", std::move(elseG));
    g.insertGraphOutput(y);
    (void)x;
    auto plan = Plan::compile(m, refOnly());
    ASSERT_FALSE(plan);
    EXPECT_EQ(plan.error().code(), StatusCode::kBadInput);
    EXPECT_NE(plan.error().message().find("node 'pick' (If)"), std::string::npos)
        << plan.error().message();
    EXPECT_NE(plan.error().message().find("then_branch has 1 outputs but else_branch has 2"),
              std::string::npos)
        << plan.error().message();
}

TEST(ControlFlow, EndlessLoopIsCancelled) {
    ir::Model m = loopWithIf(std::numeric_limits<int64_t>::max());
    // Without scan outputs nothing grows: only cancellation ends it.
    ir::Node* loop = m.graph->firstNode();
    m.graph->setOutput(loop, 1, nullptr);
    m.graph->eraseGraphOutput(1);
    jobs::JobContext job;
    PlanOptions o = refOnly();
    o.job = &job;
    auto plan = Plan::compile(m, o);
    ASSERT_TRUE(plan) << plan.error().message();
    std::thread canceller([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        job.requestCancel();
    });
    auto out =
        plan->run({HostTensor::fromFloats({2}, {1, 1}), HostTensor::scalar(ir::DType::kBool, 1)});
    canceller.join();
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code(), StatusCode::kCancelled) << out.error().message();
    EXPECT_NE(out.error().message().find("node 'loop' (Loop)"), std::string::npos)
        << out.error().message();
}

TEST(ControlFlow, GrowingScanOutputStopsAtTheMemoryBudget) {
    ir::Model m = loopWithIf(std::numeric_limits<int64_t>::max());
    auto plan = Plan::compile(m, refOnly());
    ASSERT_TRUE(plan) << plan.error().message();
    const std::size_t before = memoryLimit();
    setMemoryLimit(memoryInUse() + (1u << 20));  // 1 MiB more: ~8000 iterations of 2 floats
    auto out =
        plan->run({HostTensor::fromFloats({2}, {1, 1}), HostTensor::scalar(ir::DType::kBool, 1)});
    setMemoryLimit(before);
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code(), StatusCode::kBadInput) << out.error().message();
    EXPECT_NE(out.error().message().find("memory limit"), std::string::npos)
        << out.error().message();
    EXPECT_NE(out.error().message().find("node 'loop' (Loop)"), std::string::npos)
        << out.error().message();
}

TEST(ControlFlow, LoopWithoutTripCountOrConditionIsRefused) {
    ir::Model m = loopWithIf(1);
    ir::Node* loop = m.graph->firstNode();
    m.graph->setInput(loop, 0, nullptr);
    auto plan = Plan::compile(m, refOnly());
    ASSERT_FALSE(plan);
    EXPECT_NE(plan.error().message().find("never end"), std::string::npos)
        << plan.error().message();
}

TEST(ControlFlow, TrainingPlanRefusesControlFlow) {
    ir::Model m = loopWithIf(2);
    // Training feeds one input: the flag becomes a constant.
    ir::Value* flag = m.graph->findValue("flag");
    m.graph->eraseGraphInput(1);
    m.graph->setInitializer(flag, HostTensor::scalar(ir::DType::kBool, 1).toIr("flag"));
    TrainingOptions o;
    o.backends = {Backend::kReference};
    auto plan = TrainingPlan::compile(m, o);
    ASSERT_FALSE(plan);
    EXPECT_NE(plan.error().message().find("node 'loop' (Loop)"), std::string::npos)
        << plan.error().message();
    EXPECT_NE(plan.error().message().find("not trainable"), std::string::npos)
        << plan.error().message();
}

TEST(ControlFlow, ScanReversedAlongAxisOne) {
    // Running sum over axis 1 of x [2,3], read backwards, written forwards along axis 0.
    ir::Model m = emptyModel();
    ir::Graph& g = *m.graph;
    ir::Value* x = input(g, "x", ir::DType::kFloat, {2, 3});
    ir::Value* s0 = constant(g, "s0", HostTensor::fromFloats({2}, {0, 0}));
    ir::Value *sum = *g.addValue("sum"), *partial = *g.addValue("partial");
    ir::Node* scan = g.addNode("Scan", Vals{s0, x}, Vals{sum, partial});
    scan->name = "scan";
    scan->attributes().push_back(ir::Attribute::makeInt("num_scan_inputs", 1));
    scan->attributes().push_back(ir::Attribute::makeInts("scan_input_axes", {1}));
    scan->attributes().push_back(ir::Attribute::makeInts("scan_input_directions", {1}));
    scan->attributes().push_back(ir::Attribute::makeInts("scan_output_axes", {-1}));
    auto body = std::make_unique<ir::Graph>();
    ir::Value* s = input(*body, "s", ir::DType::kFloat, {2});
    ir::Value* col = input(*body, "col", ir::DType::kFloat, {2});
    ir::Value* next = op(*body, "Add", {s, col}, "next");
    ir::Value* copy = op(*body, "Identity", {next}, "copy");
    body->insertGraphOutput(next);
    body->insertGraphOutput(copy);
    attach(g, scan, "body", std::move(body));
    g.insertGraphOutput(sum);
    g.insertGraphOutput(partial);
    auto plan = Plan::compile(m, refOnly());
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(plan->outputInfo(1).dims, (Dims{2, 3}));
    auto out = plan->run({HostTensor::fromFloats({2, 3}, {1, 2, 3, 10, 20, 30})});
    ASSERT_TRUE(out) << out.error().message();
    EXPECT_EQ((*out)[0].toFloats(), (std::vector<float>{6, 60}));
    // Partial sums from the back (3, 5, 6), stacked along the last axis.
    EXPECT_EQ((*out)[1].toFloats(), (std::vector<float>{3, 5, 6, 30, 50, 60}));
}

namespace {

Expected<HostTensor> einsum(const std::string& equation, std::vector<HostTensor> ins) {
    ir::Model m = emptyModel();
    ir::Graph& g = *m.graph;
    Vals vals;
    PlanOptions o = refOnly();
    for (std::size_t k = 0; k < ins.size(); ++k) {
        const std::string name = "in" + std::to_string(k);
        vals.push_back(input(g, name, ins[k].dtype(), ins[k].dims()));
    }
    ir::Value* y = *g.addValue("y");
    g.addNode("Einsum", vals, Vals{y})
        ->attributes()
        .push_back(ir::Attribute::makeString("equation", equation));
    g.insertGraphOutput(y);
    auto plan = Plan::compile(m, o);
    if (!plan) return tl::unexpected(plan.error());
    auto out = plan->run(ins);
    if (!out) return tl::unexpected(out.error());
    return (*out)[0];
}

}  // namespace

TEST(Einsum, DiagonalsImplicitOutputsAndEllipsis) {
    const HostTensor sq = HostTensor::fromFloats({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    auto diag = einsum("ii->i", {sq});
    ASSERT_TRUE(diag) << diag.error().message();
    EXPECT_EQ(diag->toFloats(), (std::vector<float>{1, 5, 9}));
    auto trace = einsum("ii", {sq});  // implicit: no label used once, a scalar
    ASSERT_TRUE(trace) << trace.error().message();
    EXPECT_EQ(trace->dims(), Dims{});
    EXPECT_EQ(trace->toFloats(), (std::vector<float>{15}));
    auto transposed = einsum("ji", {HostTensor::fromFloats({2, 3}, {1, 2, 3, 4, 5, 6})});
    ASSERT_TRUE(transposed) << transposed.error().message();
    EXPECT_EQ(transposed->dims(), (Dims{3, 2}));  // implicit "ji->ij": a transpose
    EXPECT_EQ(transposed->toFloats(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
    // Batched matmul with a broadcast batch: [2,1,2,2] x [3,2,1] over "...".
    std::vector<float> a(8), b(6);
    for (int k = 0; k < 8; ++k) a[static_cast<std::size_t>(k)] = static_cast<float>(k + 1);
    for (int k = 0; k < 6; ++k) b[static_cast<std::size_t>(k)] = static_cast<float>(10 * k);
    auto bmm = einsum("...ij, ...jk -> ...ik", {HostTensor::fromFloats({2, 1, 2, 2}, a),
                                                HostTensor::fromFloats({3, 2, 1}, b)});
    ASSERT_TRUE(bmm) << bmm.error().message();
    ASSERT_EQ(bmm->dims(), (Dims{2, 3, 2, 1}));
    const std::vector<float> got = bmm->toFloats();
    for (int p = 0; p < 2; ++p)
        for (int q = 0; q < 3; ++q)
            for (int i = 0; i < 2; ++i) {
                float want = 0;
                for (int j = 0; j < 2; ++j) want += a[p * 4 + i * 2 + j] * b[q * 2 + j];
                EXPECT_EQ(got[static_cast<std::size_t>((p * 3 + q) * 2 + i)], want)
                    << "batch " << p << "," << q << " row " << i;
            }
    // Attention scores (the batched-matmul fast path), against a plain loop.
    std::vector<float> q(2 * 3 * 4), kk(2 * 5 * 4);
    for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::sin(static_cast<float>(i));
    for (std::size_t i = 0; i < kk.size(); ++i) kk[i] = std::cos(static_cast<float>(i));
    auto scores = einsum("hqd,hkd->hqk", {HostTensor::fromFloats({2, 3, 4}, q),
                                          HostTensor::fromFloats({2, 5, 4}, kk)});
    ASSERT_TRUE(scores) << scores.error().message();
    ASSERT_EQ(scores->dims(), (Dims{2, 3, 5}));
    const std::vector<float> s = scores->toFloats();
    for (int h = 0; h < 2; ++h)
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 5; ++j) {
                float want = 0;
                for (int d = 0; d < 4; ++d)
                    want += q[(h * 3 + i) * 4 + d] * kk[(h * 5 + j) * 4 + d];
                EXPECT_NEAR(s[static_cast<std::size_t>((h * 3 + i) * 5 + j)], want, 1e-5)
                    << "head " << h << " query " << i << " key " << j;
            }
    auto bad = einsum("ij,jk->ik", {sq});
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("2 terms for 1 inputs"), std::string::npos)
        << bad.error().message();
}
