// The slb plugin (plugins/slb), loaded from the build tree as the CLI loads it: the temperature
// schedule (GOLDEN_STICK.md §4.2) against hand-computed values through the real callbacks and
// Trainer, logits initialised from the float weights (the hard 1-bit weights take the float
// weights' signs), BN calibration, and convert: integer weights of the allowed values whose
// deploy model computes what the applied (hard) model computes.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/algo/algorithm.h"
#include "core/algo/plugin_loader.h"
#include "core/algo/quant/qdq.h"
#include "core/algo/registry.h"
#include "core/data/dataset.h"
#include "core/data/loader.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/plan.h"
#include "core/engine/slb_weight.h"
#include "core/engine/training_plan.h"
#include "core/train/lr_schedule.h"
#include "core/train/optimizer.h"
#include "core/train/trainer.h"
#include "core/util/rng.h"
#include "tests/core/train/model_builder.h"

namespace {

using namespace wh;
using engine::HostTensor;

const algo::AlgorithmInfo* algorithm(const std::string& name) {
    static algo::Registry registry;
    static const bool loaded = [] {
        auto results = algo::loadPlugins({std::filesystem::path(WHITTLE_PLUGIN_DIR)}, registry);
        for (const auto& r : results)
            if (!r.loaded) ADD_FAILURE() << r.error;
        return true;
    }();
    (void)loaded;
    return registry.find(name);
}

struct Applied {
    std::unique_ptr<algo::Algorithm> algo;
    algo::ApplyReport report;
};

Applied applySlb(const std::map<std::string, algo::ParamValue>& params, ir::Model& model,
                 algo::Selection selection = {}) {
    const algo::AlgorithmInfo* info = algorithm("slb");
    EXPECT_TRUE(info) << "slb not registered (plugin dir " << WHITTLE_PLUGIN_DIR << ")";
    if (!info) return {};
    algo::Params p(info->params);
    for (const auto& [k, v] : params) EXPECT_TRUE(p.set(k, v).isOk()) << k;
    auto created = info->create(p);
    EXPECT_TRUE(created);
    Applied a;
    a.algo = std::move(*created);
    rewrite::Rewriter rw(*model.graph);
    algo::AlgoContext ctx;
    ctx.model = &model;
    ctx.batch = 16;
    auto r = a.algo->apply(rw, selection, ctx);
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    if (r) a.report = *r;
    EXPECT_TRUE(algo::quant::updateOpsetImports(model, false).isOk());  // com.whittle 1
    return a;
}

Status convertSlb(algo::Algorithm& a, ir::Model& model) {
    rewrite::Rewriter rw(*model.graph);
    algo::AlgoContext ctx;
    ctx.model = &model;
    WH_RETURN_STATUS_IF_ERROR(a.convert(rw, ctx));
    return algo::quant::updateOpsetImports(model, true);
}

int countOps(const ir::Graph& g, const std::string& op) {
    int n = 0;
    for (const ir::Node* node : g.nodes()) n += node->opType == op;
    return n;
}

class RandomDataset : public data::Dataset {
public:
    RandomDataset(engine::Dims dims, int64_t n) : m_dims(std::move(dims)), m_n(n) {}
    int64_t size() const override { return m_n; }
    engine::Dims sampleDims() const override { return m_dims; }
    int64_t numClasses() const override { return 10; }
    int64_t get(int64_t index, float* out) const override {
        Rng rng(static_cast<uint64_t>(index) + 1);
        int64_t n = 1;
        for (int64_t d : m_dims) n *= d;
        for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(rng.normal());
        return label(index);
    }
    int64_t label(int64_t index) const override { return index % 10; }
    float blackValue(int64_t) const override { return 0.0f; }

private:
    engine::Dims m_dims;
    int64_t m_n;
};

// x [N,3,8,8] → Conv → BN → Relu → Conv (stride 2, bias, no BN) → Relu → GlobalAveragePool →
// Flatten → Gemm → y [N,10]. BN statistics are not the identity, so the fold is exercised.
ir::Model smallNet() {
    wh::testing::ModelBuilder b(13, 3);
    b.input("x", {3, 8, 8});
    b.conv3x3("x", "w1", 3, 8, "c1");
    b.batchNorm("c1", "bn1", 8, "n1", 1.3f, 0.1f, 0.05f, 0.7f);
    b.node("Relu", {"n1"}, {"r1"});
    b.weight("w2", {8, 8, 3, 3}, 72);
    b.weight("b2", {8}, 0, 0.05f);
    ir::Node* c2 = b.node("Conv", {"r1", "w2", "b2"}, {"c2"});
    c2->attributes().push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    c2->attributes().push_back(ir::Attribute::makeInts("strides", {2, 2}));
    b.node("Relu", {"c2"}, {"r2"});
    b.node("GlobalAveragePool", {"r2"}, {"p"});
    b.node("Flatten", {"p"}, {"f"});
    b.weight("fc", {10, 8}, 8);
    b.weight("fcb", {10}, 0, 0.0f);
    b.node("Gemm", {"f", "fc", "fcb"}, {"y"})
        ->attributes()
        .push_back(ir::Attribute::makeInt("transB", 1));
    b.output("y", {10});
    ir::Model m = b.take();
    // A negative γ in one channel (the deploy scale must stay positive).
    std::vector<float> gamma(8, 1.3f);
    gamma[2] = -0.8f;
    m.graph->setInitializer(m.graph->findValue("bn1_s"),
                            ir::Tensor::fromFloats("bn1_s", {8}, gamma));
    return m;
}

std::vector<float> floats(const ir::Model& m, const std::string& name) {
    auto s = m.graph->findValue(name)->initializer()->values<float>();
    return {s.begin(), s.end()};
}

// Records the SlbWeight knobs at each epoch begin (added after the algorithm's callbacks).
class KnobProbe : public train::Callback {
public:
    ir::NodeId node = 0;
    std::vector<std::pair<double, double>> seen;  // (temperature, hard) per epoch
    Status onEpochBegin(train::Trainer& trainer, int) override {
        engine::NodeFlags* f = trainer.plan().nodeFlags(node);
        if (!f) return makeStatus(StatusCode::kInternal, "no flags");
        seen.emplace_back(f->knob("temperature", -1), f->knob("hard", -1));
        return Status::ok();
    }
};

// Trains `epochs` epochs of one small batch each and returns the knobs seen per epoch.
std::vector<std::pair<double, double>> schedule(
    const std::map<std::string, algo::ParamValue>& params, int epochs) {
    ir::Model model = smallNet();
    Applied a = applySlb(params, model);
    if (!a.algo) return {};
    std::vector<train::Callback*> cbs = a.algo->callbacks(*model.graph);
    KnobProbe probe;
    for (const ir::Node* n : model.graph->nodes())
        if (n->opType == engine::kSlbWeightOp) probe.node = n->id();
    engine::TrainingOptions to;
    to.threads = 2;
    auto plan = engine::TrainingPlan::compile(model, to);
    EXPECT_TRUE(plan) << plan.error().message();
    if (!plan) return {};
    auto ds = std::make_shared<RandomDataset>(engine::Dims{3, 8, 8}, 4);
    data::DataLoader::Options lo;
    lo.batchSize = 4;
    data::DataLoader loader(ds, lo);
    auto opt = train::makeOptimizer("sgd", 0.0, 0.9);
    EXPECT_TRUE(opt);
    auto lr = train::makeLrSchedule("constant", 0.001, epochs);
    EXPECT_TRUE(lr);
    train::TrainerOptions o;
    o.epochs = epochs;
    train::Trainer trainer(*plan, **opt, **lr, loader, nullptr, o);
    for (train::Callback* cb : cbs) trainer.addCallback(cb);
    trainer.addCallback(&probe);
    auto r = trainer.run();
    EXPECT_TRUE(r) << r.error().message();
    return probe.seen;
}

}  // namespace

TEST(Slb, TemperatureScheduleOfTheDefaultsOverHundredEpochs) {
    const auto seen = schedule({{"epoch_size", int64_t{100}}}, 100);
    ASSERT_EQ(seen.size(), 100u);
    // GOLDEN_STICK.md §4.2 with the defaults: e_s = 20, e_e = 60. By hand:
    //   epochs 1..20  T = 1, soft;
    //   epoch 21      T = 1.2, 22: 1.44, 25: 1.2^5 = 2.48832, ..., 59: 1.2^39, soft;
    //   epoch 60..100 T = 1.2^40 = 1469.7716..., hard.
    for (int e = 1; e <= 20; ++e) {
        EXPECT_DOUBLE_EQ(seen[e - 1].first, 1.0) << "epoch " << e;
        EXPECT_EQ(seen[e - 1].second, 0.0) << "epoch " << e;
    }
    EXPECT_NEAR(seen[20].first, 1.2, 1e-12);
    EXPECT_NEAR(seen[21].first, 1.44, 1e-12);
    EXPECT_NEAR(seen[24].first, 2.48832, 1e-9);
    EXPECT_NEAR(seen[58].first, 1224.8096, 1e-3);  // 1.2^39
    EXPECT_EQ(seen[58].second, 0.0);
    for (int e = 60; e <= 100; ++e) {
        EXPECT_NEAR(seen[e - 1].first, 1469.7716, 1e-3) << "epoch " << e;
        EXPECT_EQ(seen[e - 1].second, 1.0) << "epoch " << e;
    }
}

TEST(Slb, TemperatureScheduleWithFewEpochsTakesTheTrainingsEpochs) {
    // epoch_size 0 = the training's 4 epochs: e_s = int(0.8) = 0, e_e = int(2.4) = 2.
    //   epoch 1: T = 1.2^(1-0) = 1.2, soft; epoch 2: T = 1.2^2 = 1.44, hard; 3, 4: 1.44, hard.
    const auto seen = schedule({}, 4);
    ASSERT_EQ(seen.size(), 4u);
    EXPECT_NEAR(seen[0].first, 1.2, 1e-12);
    EXPECT_EQ(seen[0].second, 0.0);
    for (int e = 2; e <= 4; ++e) {
        EXPECT_NEAR(seen[e - 1].first, 1.44, 1e-12) << "epoch " << e;
        EXPECT_EQ(seen[e - 1].second, 1.0) << "epoch " << e;
    }
    // has_trained_epoch shifts e: resumed after 1 of 6 epochs (e_s = 1, e_e = 3), t_factor 2:
    //   run epoch 1 is e = 2: T = 2^(2-1) = 2, soft; run epoch 2 is e = 3: T = 4, hard.
    const auto resumed = schedule(
        {{"epoch_size", int64_t{6}}, {"has_trained_epoch", int64_t{1}}, {"t_factor", 2.0}}, 2);
    ASSERT_EQ(resumed.size(), 2u);
    EXPECT_NEAR(resumed[0].first, 2.0, 1e-12);
    EXPECT_EQ(resumed[0].second, 0.0);
    EXPECT_NEAR(resumed[1].first, 4.0, 1e-12);
    EXPECT_EQ(resumed[1].second, 1.0);
}

TEST(Slb, InitFromWeightsKeepsTheFloatWeightsSigns) {
    ir::Model model = smallNet();
    const std::vector<float> w1 = floats(model, "w1"), w2 = floats(model, "w2");
    Applied a = applySlb({{"weight_bits", int64_t{1}}}, model);
    ASSERT_TRUE(a.algo);
    EXPECT_EQ(a.report.changed(), 2) << "two Convs; the Gemm only when include_ops asks";
    EXPECT_EQ(countOps(*model.graph, std::string(engine::kSlbWeightOp)), 2);
    EXPECT_EQ(model.graph->findValue("w1"), nullptr) << "the float weight is gone";
    // The hard 1-bit weight of each element: V[argmax A] = +1 when A_1 > A_0.
    for (const auto& [name, w] :
         {std::pair{"w1_slb_logits", &w1}, std::pair{"w2_slb_logits", &w2}}) {
        const std::vector<float> a2 = floats(model, name);
        ASSERT_EQ(a2.size(), w->size() * 2) << name;
        for (std::size_t i = 0; i < w->size(); ++i) {
            const float hard = a2[2 * i + 1] > a2[2 * i] ? 1.0f : -1.0f;
            ASSERT_EQ(hard, (*w)[i] >= 0 ? 1.0f : -1.0f)
                << name << " element " << i << " w " << (*w)[i];
        }
    }
    // Random init (the seed's): about half the signs differ.
    ir::Model other = smallNet();
    applySlb({{"weight_bits", int64_t{1}}, {"init_from_weights", false}, {"seed", int64_t{4}}},
             other);
    const std::vector<float> ar = floats(other, "w2_slb_logits");
    int differ = 0;
    for (std::size_t i = 0; i < w2.size(); ++i)
        differ += (ar[2 * i + 1] > ar[2 * i]) != (w2[i] >= 0);
    EXPECT_GT(differ, static_cast<int>(w2.size()) / 4);
    EXPECT_LT(differ, 3 * static_cast<int>(w2.size()) / 4);
}

TEST(Slb, FourBitInitIsCloseToTheFloatModel) {
    ir::Model model = smallNet();
    const ir::Model original = model.clone();
    applySlb({{"weight_bits", int64_t{4}}}, model);
    const HostTensor x = wh::testing::randomNormal({8, 3, 8, 8}, 5);
    auto p0 = engine::Plan::compile(original);
    auto p1 = engine::Plan::compile(model);
    ASSERT_TRUE(p0 && p1) << (p1 ? "" : p1.error().message());
    auto y0 = p0->run({x});
    auto y1 = p1->run({x});
    ASSERT_TRUE(y0 && y1);
    double diff = 0, ref = 0;
    for (int64_t i = 0; i < (*y0)[0].numElements(); ++i) {
        diff = std::max(diff, std::abs((*y0)[0].at(i) - (*y1)[0].at(i)));
        ref = std::max(ref, std::abs((*y0)[0].at(i)));
    }
    // 16 levels fitted per channel, BN statistics rescaled: the hard model is the float one
    // quantized to 4 bits.
    EXPECT_LT(diff, 0.15 * ref) << "max |diff| " << diff << " of " << ref;
}

TEST(Slb, ConvertGivesAllowedIntegersAndComputesTheHardModel) {
    for (int bits : {1, 2, 4}) {
        for (bool packed : {false, true}) {
            SCOPED_TRACE(std::to_string(bits) + " bits" + (packed ? " packed" : ""));
            ir::Model model = smallNet();
            algo::Selection sel;
            sel.includeOps = {"Conv", "Gemm"};
            Applied a =
                applySlb({{"weight_bits", int64_t{bits}}, {"packed_export", packed}}, model, sel);
            ASSERT_TRUE(a.algo);
            EXPECT_EQ(a.report.changed(), 3);
            // Move the logits away from their init so that convert sees trained-like values.
            Rng rng(static_cast<uint64_t>(bits));
            for (const char* name : {"w1_slb_logits", "w2_slb_logits", "fc_slb_logits"}) {
                std::vector<float> v = floats(model, name);
                for (float& x : v) x += static_cast<float>(0.3 * rng.normal());
                ir::Value* val = model.graph->findValue(name);
                model.graph->setInitializer(
                    val, ir::Tensor::fromFloats(name, val->initializer()->dims, v));
            }
            const HostTensor x = wh::testing::randomNormal({6, 3, 8, 8}, 9);
            auto hard = engine::Plan::compile(model);
            ASSERT_TRUE(hard) << hard.error().message();
            auto yh = hard->run({x});
            ASSERT_TRUE(yh);
            ASSERT_TRUE(convertSlb(*a.algo, model).isOk());
            EXPECT_EQ(countOps(*model.graph, std::string(engine::kSlbWeightOp)), 0);
            EXPECT_EQ(countOps(*model.graph, "BatchNormalization"), 0) << "folded";
            auto deploy = engine::Plan::compile(model);
            ASSERT_TRUE(deploy) << deploy.error().message();
            auto yd = deploy->run({x});
            ASSERT_TRUE(yd) << yd.error().message();
            double diff = 0, ref = 0;
            for (int64_t i = 0; i < (*yh)[0].numElements(); ++i) {
                diff = std::max(diff, std::abs((*yh)[0].at(i) - (*yd)[0].at(i)));
                ref = std::max(ref, std::abs((*yh)[0].at(i)));
            }
            EXPECT_LT(diff, 1e-4 * std::max(1.0, ref)) << "deploy vs hard training form";
            // The codes: int8 under DequantizeLinear (odd integers within ±(2^b − 1)), or the
            // packed uint8 form.
            const int levels = bits == 1 ? 1 : (1 << bits) - 1;
            int dq = 0, int8Codes = 0;
            for (const ir::Node* n : model.graph->nodes()) {
                if (n->opType != "DequantizeLinear") continue;
                ++dq;
                const ir::Tensor& codes = *n->input(0)->initializer();
                ASSERT_EQ(codes.dtype, ir::DType::kInt8);
                const int8_t* q = reinterpret_cast<const int8_t*>(codes.data->data());
                std::set<int> seen;
                for (int64_t i = 0; i < codes.numElements(); ++i) {
                    ASSERT_LE(std::abs(q[i]), levels) << i;
                    ASSERT_EQ(std::abs(q[i]) % 2, 1) << "odd integers only: " << int(q[i]);
                    seen.insert(q[i]);
                }
                if (bits == 1) EXPECT_EQ(seen, (std::set<int>{-1, 1}));
                for (float s : n->input(1)->initializer()->values<float>()) EXPECT_GT(s, 0.0f);
                ++int8Codes;
            }
            const bool expectPacked = packed && bits <= 2;
            EXPECT_EQ(dq, expectPacked ? 0 : 3);
            EXPECT_EQ(int8Codes, expectPacked ? 0 : 3);
            if (expectPacked) EXPECT_GE(countOps(*model.graph, "BitShift"), 3);
        }
    }
}

TEST(Slb, BnCalibrationRunsAfterTheStartEpoch) {
    ir::Model model = smallNet();
    Applied a = applySlb({{"enable_bn_calibration", true}}, model);
    ASSERT_TRUE(a.algo);
    std::vector<train::Callback*> cbs = a.algo->callbacks(*model.graph);
    engine::TrainingOptions to;
    to.threads = 2;
    auto plan = engine::TrainingPlan::compile(model, to);
    ASSERT_TRUE(plan) << plan.error().message();
    auto ds = std::make_shared<RandomDataset>(engine::Dims{3, 8, 8}, 8);
    data::DataLoader::Options lo;
    lo.batchSize = 4;
    data::DataLoader loader(ds, lo);
    auto opt = train::makeOptimizer("sgd", 0.0, 0.9);
    auto lr = train::makeLrSchedule("constant", 0.0, 2);
    ASSERT_TRUE(opt && lr);
    train::TrainerOptions o;
    o.epochs = 2;
    train::Trainer trainer(*plan, **opt, **lr, loader, nullptr, o);
    for (train::Callback* cb : cbs) trainer.addCallback(cb);
    // lr 0: nothing trains, so any change of the BN statistics beyond the training steps' own
    // comes from the calibration pass with hard weights. Record them before the last epoch end.
    struct Watch : train::Callback {
        std::vector<float> atStepEnd;
        Status onStepEnd(train::Trainer& t, const train::StepInfo&) override {
            for (const auto& [name, v] : t.plan().state())
                if (name == "bn1_m") atStepEnd = v.toFloats();
            return Status::ok();
        }
    } watch;
    // Runs before the algorithm's callbacks at step end, after them nowhere else.
    trainer.addCallback(&watch);
    auto r = trainer.run();
    ASSERT_TRUE(r) << r.error().message();
    std::vector<float> after;
    for (const auto& [name, v] : plan->state())
        if (name == "bn1_m") after = v.toFloats();
    ASSERT_EQ(after.size(), 8u);
    ASSERT_EQ(watch.atStepEnd.size(), 8u);
    EXPECT_NE(after, watch.atStepEnd) << "the epoch-end pass re-estimated the running mean";
}

TEST(Slb, UsageErrors) {
    const algo::AlgorithmInfo* info = algorithm("slb");
    ASSERT_TRUE(info);
    for (const auto& [key, value] : std::vector<std::pair<std::string, algo::ParamValue>>{
             {"weight_bits", int64_t{3}}, {"t_end_time", 0.1}}) {
        ir::Model model = smallNet();
        algo::Params p(info->params);
        ASSERT_TRUE(p.set(key, value).isOk());
        auto created = info->create(p);
        ASSERT_TRUE(created);
        rewrite::Rewriter rw(*model.graph);
        algo::AlgoContext ctx;
        ctx.model = &model;
        auto r = (*created)->apply(rw, {}, ctx);
        ASSERT_FALSE(r) << key;
        EXPECT_EQ(r.error().code(), StatusCode::kUsage) << key << ": " << r.error().message();
    }
}

TEST(Slb, ActivationQuantizationConvertsToQdqThatComputesTheTrainedForm) {
    ir::Model model = smallNet();
    Applied a = applySlb({{"weight_bits", int64_t{2}}, {"enable_act_quant", true}}, model);
    ASSERT_TRUE(a.algo);
    // Inputs and outputs of both Convs: x, BN1's Relu output (read by Conv2), Conv2's Relu
    // output; one quantizer per tensor.
    EXPECT_EQ(countOps(*model.graph, std::string(engine::kFakeQuantizeOp)), 3);
    bool delayNote = false;
    for (const std::string& n : a.report.notes)
        delayNote = delayNote || n.find("delay 900") != std::string::npos;
    EXPECT_TRUE(delayNote);
    const HostTensor x = wh::testing::randomNormal({6, 3, 8, 8}, 11);
    auto applied = engine::Plan::compile(model);
    ASSERT_TRUE(applied) << applied.error().message();
    auto ya = applied->run({x});
    ASSERT_TRUE(ya);
    ASSERT_TRUE(convertSlb(*a.algo, model).isOk());
    EXPECT_EQ(countOps(*model.graph, std::string(engine::kFakeQuantizeOp)), 0);
    EXPECT_EQ(countOps(*model.graph, "QuantizeLinear"), 3);
    auto deploy = engine::Plan::compile(model);
    ASSERT_TRUE(deploy) << deploy.error().message();
    auto yd = deploy->run({x});
    ASSERT_TRUE(yd) << yd.error().message();
    double diff = 0, ref = 0;
    for (int64_t i = 0; i < (*ya)[0].numElements(); ++i) {
        diff = std::max(diff, std::abs((*ya)[0].at(i) - (*yd)[0].at(i)));
        ref = std::max(ref, std::abs((*ya)[0].at(i)));
    }
    // The same quantization grid; the int32 bias codes and the integer kernels' rounding may
    // move a code by one step.
    EXPECT_LT(diff, 0.05 * ref) << "max |diff| " << diff << " of " << ref;
}

TEST(Slb, TheSeedsQuantDtypeSetsTheBits) {
    ir::Model model = smallNet();
    applySlb({{"quant_dtype", std::string("INT2")}}, model);
    const ir::Value* a = model.graph->findValue("w1_slb_logits");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->initializer()->dims.back(), 4) << "2 bits: 4 logits per weight";
    ir::Model explicitBits = smallNet();
    applySlb({{"quant_dtype", std::string("INT2")}, {"weight_bits", int64_t{4}}}, explicitBits);
    EXPECT_EQ(explicitBits.graph->findValue("w1_slb_logits")->initializer()->dims.back(), 16)
        << "weight_bits given explicitly wins";
}
