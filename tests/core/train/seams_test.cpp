// The seams compression builds on (issue "Foundation II"): an operator added from outside
// core/engine — a kernel, a gradient and its traits — trains with channel-blocked layouts
// flowing through it, without any edit to the plans; per-node run-time flags; a loss given as a
// callback; an observer that sees every training step.

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/engine/autodiff.h"
#include "core/engine/kernel_registry.h"
#include "core/engine/step_profiler.h"
#include "core/engine/training_plan.h"
#include "core/util/rng.h"
#include "tests/core/train/model_builder.h"

using namespace wh;
using namespace wh::engine;

namespace {

constexpr const char* kDomain = "com.example.whittle";

using wh::testing::randomNormal;

// Softsign: y = x / (1 + |x|), dy/dx = 1 / (1 + |x|)^2. Elementwise, float32.
class SoftsignKernel final : public Kernel {
public:
    Status run(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        const HostTensor& x = *in[0];
        out[0]->ensure(x.dtype(), x.dims());
        const float* px = x.data<float>();
        float* py = out[0]->data<float>();
        for (int64_t i = 0; i < x.numElements(); ++i) py[i] = px[i] / (1.0f + std::abs(px[i]));
        return Status::ok();
    }
};

class SoftsignGrad final : public GradKernel {
public:
    Status backward(const GradArgs& a) override {
        if (!a.inputGrads[0]) return Status::ok();
        const HostTensor& x = *a.inputs[0];
        HostTensor& dx = *a.inputGrads[0];
        dx.ensure(x.dtype(), x.dims());
        const float* px = x.data<float>();
        float* pdx = dx.data<float>();
        const float* pdy = a.outputGrads[0] ? a.outputGrads[0]->data<float>() : nullptr;
        for (int64_t i = 0; i < x.numElements(); ++i) {
            const float d = 1.0f + std::abs(px[i]);
            pdx[i] = pdy ? pdy[i] / (d * d) : 0.0f;
        }
        return Status::ok();
    }
};

struct CustomRegistries {
    KernelRegistry kernels = KernelRegistry::builtin();
    GradRegistry grads = GradRegistry::builtin();
    CustomRegistries() {
        kernels.add(kDomain, "Softsign", 1, 1, Backend::kReference,
                    [](const KernelContext& ctx) -> Expected<KernelBuild> {
                        if (ctx.inputs[0].dtype != ir::DType::kFloat)
                            return error(StatusCode::kUnsupported, "Softsign: float32 only");
                        KernelBuild b;
                        b.kernel = std::make_unique<SoftsignKernel>();
                        TensorInfo out = ctx.inputs[0];
                        out.constant.reset();
                        b.outputs.push_back(std::move(out));
                        return b;
                    });
        grads.add(kDomain, "Softsign", 1, 1, Backend::kReference,
                  [](const GradContext&) -> Expected<GradBuild> {
                      GradBuild b;
                      b.kernel = std::make_unique<SoftsignGrad>();
                      b.savedInputs = {true};
                      b.savedOutputs = {false};
                      return b;
                  });
        OpTraits traits;
        traits.elementwise = true;
        kernels.setTraits(kDomain, "Softsign", traits);
    }
};

// x [3, 8, 8] -> Conv 16 -> BN -> Softsign -> Conv 16 -> BN -> Relu -> GAP -> Gemm 5.
ir::Model customOpModel() {
    wh::testing::ModelBuilder b(13, 11);
    b.model().opsetImports.push_back({kDomain, 1, {}});
    b.input("x", {3, 8, 8});
    b.conv3x3("x", "w1", 3, 16, "c1");
    b.batchNorm("c1", "bn1", 16, "n1");
    b.node("Softsign", {"n1"}, {"s"})->domain = kDomain;
    b.conv3x3("s", "w2", 16, 16, "c2");
    b.batchNorm("c2", "bn2", 16, "n2");
    b.node("Relu", {"n2"}, {"r"});
    b.node("GlobalAveragePool", {"r"}, {"g"});
    b.node("Flatten", {"g"}, {"f"});
    b.weight("wf", {5, 16}, 16);
    b.weight("bf", {5}, 16);
    b.node("Gemm", {"f", "wf", "bf"}, {"logits"})
        ->attributes()
        .push_back(ir::Attribute::makeInt("transB", 1));
    b.output("logits", {5});
    return b.take();
}

HostTensor labelsFor(int64_t n, uint64_t seed) {
    return wh::testing::randomLabels(n, 5, seed);
}

}  // namespace

TEST(Seams, ACustomElementwiseOpTrainsWithBlockedLayoutsThroughIt) {
    const CustomRegistries reg;
    const ir::Model model = customOpModel();
    TrainingOptions fastOpt;
    fastOpt.threads = 2;
    fastOpt.registry = &reg.kernels;
    fastOpt.gradRegistry = &reg.grads;
    TrainingOptions refOpt = fastOpt;
    refOpt.backends = refOpt.gradBackends = {Backend::kReference};
    auto fast = TrainingPlan::compile(model, fastOpt);
    auto ref = TrainingPlan::compile(model, refOpt);
    ASSERT_TRUE(fast) << fast.error().message();
    ASSERT_TRUE(ref) << ref.error().message();

    // Its trait (elementwise) keeps the activations blocked from BN through it into the Conv.
    const std::string d = fast->describe();
    EXPECT_NE(d.find("'s_Softsign' (Softsign): ([-1,16,8,8] nChw16c) -> ([-1,16,8,8] nChw16c)"),
              std::string::npos)
        << d;
    EXPECT_NE(d.find("'c2_Conv' (Conv): ([-1,16,8,8] nChw16c"), std::string::npos) << d;
    EXPECT_EQ(d.find("to plain order: node 'n1_BatchNormalization'"), std::string::npos) << d;
    EXPECT_EQ(d.find("'n2_Relu'"), std::string::npos) << "fused into bn2\n" << d;

    // Without the trait the plan converts to plain order before it (and the test above could
    // not pass by accident).
    CustomRegistries plainReg;
    plainReg.kernels.setTraits(kDomain, "Softsign", {});
    TrainingOptions plainOpt = fastOpt;
    plainOpt.registry = &plainReg.kernels;
    plainOpt.gradRegistry = &plainReg.grads;
    auto plain = TrainingPlan::compile(model, plainOpt);
    ASSERT_TRUE(plain) << plain.error().message();
    EXPECT_NE(plain->describe().find("'s_Softsign' (Softsign): ([-1,16,8,8]) -> ([-1,16,8,8])"),
              std::string::npos)
        << plain->describe();

    // Blocked and plain plans train alike, and training lowers the loss.
    const HostTensor x = randomNormal({12, 3, 8, 8}, 3);
    const HostTensor y = labelsFor(12, 4);
    double first = 0, last = 0;
    for (int step = 0; step < 25; ++step) {
        auto lf = fast->forwardBackward(x, y);
        auto lr = ref->forwardBackward(x, y);
        ASSERT_TRUE(lf) << lf.error().message();
        ASSERT_TRUE(lr) << lr.error().message();
        EXPECT_NEAR(*lf, *lr, 1e-4 * std::max(1.0, std::abs(*lr))) << "step " << step;
        if (step == 0) first = *lf;
        last = *lf;
        for (std::size_t i = 0; i < ref->parameters().size(); ++i)
            for (Parameter* p : {&fast->parameters()[i], &ref->parameters()[i]})
                for (int64_t e = 0; e < p->value.numElements(); ++e)
                    p->value.data<float>()[e] -= 0.1f * p->grad.data<float>()[e];
    }
    EXPECT_LT(last, 0.7 * first) << "first " << first << " last " << last;
}

TEST(Seams, NodeFlagsFreezeOneBatchNormalizationOnly) {
    const CustomRegistries reg;
    const ir::Model model = customOpModel();
    TrainingOptions opt;
    opt.registry = &reg.kernels;
    opt.gradRegistry = &reg.grads;
    auto plan = TrainingPlan::compile(model, opt);
    ASSERT_TRUE(plan) << plan.error().message();
    ir::NodeId bn1 = 0;
    for (const ir::Node* n : model.graph->nodes())
        if (n->name == "n1_BatchNormalization") bn1 = n->id();
    NodeFlags* flags = plan->nodeFlags(bn1);
    ASSERT_NE(flags, nullptr);
    flags->batchNormFrozen = true;
    auto stateOf = [&](const std::string& name) {
        for (const auto& [n, t] : plan->state())
            if (n == name) return t.toFloats();
        return std::vector<float>{};
    };
    const std::vector<float> m1 = stateOf("bn1_m"), m2 = stateOf("bn2_m");
    ASSERT_TRUE(plan->forwardBackward(randomNormal({8, 3, 8, 8}, 5), labelsFor(8, 6)));
    EXPECT_EQ(stateOf("bn1_m"), m1) << "frozen: running mean kept";
    EXPECT_NE(stateOf("bn2_m"), m2) << "not frozen: running mean updated";
    flags->batchNormFrozen.reset();  // back to the plan-wide flag
    plan->flags().batchNormFrozen = true;
    const std::vector<float> m2b = stateOf("bn2_m");
    ASSERT_TRUE(plan->forwardBackward(randomNormal({8, 3, 8, 8}, 7), labelsFor(8, 8)));
    EXPECT_EQ(stateOf("bn2_m"), m2b);
    EXPECT_EQ(plan->nodeFlags(999999), nullptr);
}

TEST(Seams, TheLossIsACallback) {
    const CustomRegistries reg;
    const ir::Model model = customOpModel();
    // Mean squared error against float targets [B, 5]: what a distillation loss looks like.
    int calls = 0;
    TrainingOptions opt;
    opt.registry = &reg.kernels;
    opt.gradRegistry = &reg.grads;
    opt.loss = [&calls](const LossArgs& a) -> Expected<double> {
        ++calls;
        const HostTensor& out = *a.outputs[0];
        const int64_t n = out.numElements();
        double loss = 0;
        a.outputGrads[0]->ensure(out.dtype(), out.dims());
        for (int64_t i = 0; i < n; ++i) {
            const double diff = out.at(i) - a.targets.at(i);
            loss += diff * diff / static_cast<double>(n);
            a.outputGrads[0]->data<float>()[i] = static_cast<float>(2 * diff / n);
        }
        return loss;
    };
    auto plan = TrainingPlan::compile(model, opt);
    ASSERT_TRUE(plan) << plan.error().message();
    const HostTensor x = randomNormal({6, 3, 8, 8}, 9);
    const HostTensor target = randomNormal({6, 5}, 10);
    double first = 0, last = 0;
    for (int step = 0; step < 30; ++step) {
        auto l = plan->forwardBackward(x, target);
        ASSERT_TRUE(l) << l.error().message();
        if (step == 0) first = *l;
        last = *l;
        for (Parameter& p : plan->parameters())
            for (int64_t e = 0; e < p.value.numElements(); ++e)
                p.value.data<float>()[e] -= 0.05f * p.grad.data<float>()[e];
    }
    EXPECT_EQ(calls, 30);
    EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
}

TEST(Seams, AnObserverSeesEveryTrainingStepNamedByUserNodes) {
    const CustomRegistries reg;
    const ir::Model model = customOpModel();
    StepProfiler profiler;
    struct Count : RunObserver {
        std::map<Pass, int> ends;
        bool outputsOk = true;
        void stepEnd(const StepEvent& e) override {
            ++ends[e.pass];
            for (std::size_t k = 0; k < e.outputs.size(); ++k)
                if (e.pass != Pass::kBackward && e.outputs[k] &&
                    e.outputs[k]->dims().size() != e.outputInfos[k].dims.size())
                    outputsOk = false;
        }
    } count;
    struct Both : RunObserver {
        RunObserver* a;
        RunObserver* b;
        void stepBegin(const StepEvent& e) override {
            a->stepBegin(e);
            b->stepBegin(e);
        }
        void stepEnd(const StepEvent& e) override {
            a->stepEnd(e);
            b->stepEnd(e);
        }
    } both;
    both.a = &profiler;
    both.b = &count;
    TrainingOptions opt;
    opt.registry = &reg.kernels;
    opt.gradRegistry = &reg.grads;
    opt.observer = &both;
    auto plan = TrainingPlan::compile(model, opt);
    ASSERT_TRUE(plan) << plan.error().message();
    ASSERT_TRUE(plan->forwardBackward(randomNormal({4, 3, 8, 8}, 1), labelsFor(4, 2)));
    ASSERT_TRUE(plan->evaluate(randomNormal({4, 3, 8, 8}, 3)));
    EXPECT_EQ(count.ends[Pass::kTrainingForward], plan->numSteps());
    EXPECT_EQ(count.ends[Pass::kEvaluation], plan->numSteps());
    EXPECT_GT(count.ends[Pass::kBackward], 0);
    EXPECT_TRUE(count.outputsOk);
    // Every node of the user's model ran (Relu inside bn2's step), by the user's ids.
    for (const ir::Node* n : model.graph->nodes()) {
        auto it = profiler.nodes().find(n->id());
        ASSERT_NE(it, profiler.nodes().end()) << n->name;
        if (n->name == "r_Relu") {
            ASSERT_TRUE(it->second.fusedInto.has_value());
            EXPECT_EQ(model.graph->findNode(*it->second.fusedInto)->name, "n2_BatchNormalization");
        } else {
            EXPECT_EQ(it->second.calls[static_cast<std::size_t>(Pass::kTrainingForward)], 1)
                << n->name;
        }
    }
    EXPECT_NE(profiler.tableByOpType(model).find("Softsign"), std::string::npos);
}
