// RunObserver on an inference Plan: a profiler sees every node of the user's model once — in
// the step that computes it, fused ones marked with the node whose step ran them — or knows it
// was folded at compile time; without an observer nothing is called.

#include <gtest/gtest.h>

#include <map>

#include "core/engine/plan.h"
#include "core/engine/step_profiler.h"
#include "core/util/rng.h"
#include "tests/core/train/model_builder.h"

using namespace wh;
using namespace wh::engine;

namespace {

// x -> Conv -> BN -> Relu -> Conv -> BN -> Add(residual) -> Relu -> GAP -> Reshape(Constant
// shape) -> Gemm.
ir::Model residualModel() {
    wh::testing::ModelBuilder b(13, 3);
    b.input("x", {16, 8, 8});
    b.conv3x3("x", "w1", 16, 16, "c1");
    b.batchNorm("c1", "bn1", 16, "n1", 1.5f, 0.1f, 0.2f, 2.0f);
    b.node("Relu", {"n1"}, {"r1"});
    b.conv3x3("r1", "w2", 16, 16, "c2");
    b.batchNorm("c2", "bn2", 16, "n2", 1.5f, 0.1f, 0.2f, 2.0f);
    b.node("Add", {"n2", "x"}, {"a"});
    b.node("Relu", {"a"}, {"r2"});
    b.node("GlobalAveragePool", {"r2"}, {"g"});
    ir::Node* shape = b.node("Constant", {}, {"shape"});
    ir::Tensor t;
    t.dtype = ir::DType::kInt64;
    t.dims = {2};
    const int64_t dims[] = {-1, 16};
    t.data = std::make_shared<const ir::Buffer>(dims, sizeof(dims));
    shape->attributes().push_back(ir::Attribute::makeTensor("value", t));
    b.node("Reshape", {"g", "shape"}, {"f"});
    b.weight("wf", {4, 16}, 16);
    b.node("Gemm", {"f", "wf"}, {"y"})->attributes().push_back(ir::Attribute::makeInt("transB", 1));
    b.output("y", {4});
    return b.take();
}

HostTensor randomInput(const Dims& dims) {
    return wh::testing::randomNormal(dims, 1);
}

// Records which user nodes each step names, and checks the outputs it is shown.
struct Recorder : RunObserver {
    std::map<ir::NodeId, int> seen;  // user node -> steps naming it
    int begins = 0, ends = 0;
    bool outputsOk = true;
    void stepBegin(const StepEvent& e) override {
        ++begins;
        if (!e.outputs.empty()) outputsOk = false;
    }
    void stepEnd(const StepEvent& e) override {
        ++ends;
        for (ir::NodeId id : e.nodes) ++seen[id];
        if (e.outputs.size() != e.outputInfos.size()) outputsOk = false;
        for (std::size_t k = 0; k < e.outputs.size(); ++k)
            if (e.outputs[k] &&
                e.outputs[k]->rank() != static_cast<int>(e.outputInfos[k].dims.size()))
                outputsOk = false;
    }
};

}  // namespace

TEST(RunObserver, ProfilesEveryUserNodeOnceWithFusedOnesMarked) {
    const ir::Model model = residualModel();
    StepProfiler profiler;
    Recorder recorder;
    for (RunObserver* observer :
         {static_cast<RunObserver*>(&profiler), static_cast<RunObserver*>(&recorder)}) {
        PlanOptions options;
        options.observer = observer;
        options.inputShapes["x"] = {2, 16, 8, 8};  // static shapes: oneDNN convs with post-ops
        auto plan = Plan::compile(model, options);
        ASSERT_TRUE(plan) << plan.error().message();
        ASSERT_TRUE(plan->run({randomInput({2, 16, 8, 8})}));
        if (observer != &recorder) continue;
        EXPECT_EQ(recorder.begins, static_cast<int>(plan->numSteps()));
        EXPECT_EQ(recorder.ends, static_cast<int>(plan->numSteps()));
        EXPECT_TRUE(recorder.outputsOk);
        // Plan::nodes() and the steps agree, node for node of the user's graph.
        ASSERT_EQ(plan->nodes().size(), model.graph->numNodes());
        int fused = 0;
        for (const PlannedNode& n : plan->nodes()) {
            const ir::Node* user = model.graph->findNode(n.id);
            ASSERT_NE(user, nullptr) << n.name;
            EXPECT_EQ(user->name, n.name);
            if (n.folded) {
                EXPECT_EQ(recorder.seen.count(n.id), 0u) << n.name;
                continue;
            }
            EXPECT_EQ(recorder.seen[n.id], 1) << n.name << "\n" << plan->describe();
            const auto& times = profiler.nodes();
            ASSERT_TRUE(times.count(n.id)) << n.name;
            EXPECT_EQ(times.at(n.id).fusedInto, n.fusedInto) << n.name;
            fused += n.fusedInto.has_value();
        }
        // bn1 and relu1 into conv1; bn2, the Add and relu2 into conv2; the Constant folded.
        EXPECT_EQ(fused, 5) << plan->describe();
        for (const PlannedNode& n : plan->nodes())
            if (n.opType == "Constant") EXPECT_TRUE(n.folded);
    }
    const auto& conv1 = profiler.nodes().begin()->second;
    EXPECT_EQ(conv1.calls[static_cast<std::size_t>(Pass::kInference)], 1);
    EXPECT_GT(conv1.seconds[static_cast<std::size_t>(Pass::kInference)], 0.0);
}

TEST(RunObserver, InPlaceOperatorsMatchOutOfPlace) {
    // A Relu that is not fused (reference backend: no post-ops) writes over its input; the
    // result equals the unfused plain plan's.
    const ir::Model model = residualModel();
    PlanOptions ref;
    ref.backends = {Backend::kReference};
    PlanOptions plain = ref;
    plain.fuse = false;
    auto a = Plan::compile(model, ref);
    auto b = Plan::compile(model, plain);
    ASSERT_TRUE(a && b);
    EXPECT_NE(a->describe().find("Relu 'r1_Relu' [ref] -> [-1,16,8,8] plain (in place)"),
              std::string::npos)
        << a->describe();
    const HostTensor x = randomInput({2, 16, 8, 8});
    for (int run = 0; run < 2; ++run) {
        auto ya = a->run({x});
        auto yb = b->run({x});
        ASSERT_TRUE(ya && yb);
        const std::vector<float> va = (*ya)[0].toFloats(), vb = (*yb)[0].toFloats();
        ASSERT_EQ(va.size(), vb.size());
        for (std::size_t i = 0; i < va.size(); ++i) EXPECT_NEAR(va[i], vb[i], 1e-4) << i;
    }
}
