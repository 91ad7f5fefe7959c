// End to end on real data: a small MLP and a small CNN trained on a 2,000-image Fashion-MNIST
// subset reach > 70 % test accuracy in seconds; the trained weights written back into the model,
// saved as ONNX and loaded again give the same predictions through a forward Plan as the
// TrainingPlan's evaluation forward. Trainer callbacks and cancellation. Skipped without
// /usr/share/datasets/fashion-mnist.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "core/data/dataset.h"
#include "core/data/loader.h"
#include "core/engine/plan.h"
#include "core/engine/training_plan.h"
#include "core/jobs/job_context.h"
#include "core/onnx/model_io.h"
#include "core/train/lr_schedule.h"
#include "core/train/optimizer.h"
#include "core/train/trainer.h"
#include "model_builder.h"

using namespace wh;
using namespace wh::engine;
using wh::testing::ModelBuilder;
namespace fs = std::filesystem;

namespace {

const fs::path kFashion = "/usr/share/datasets/fashion-mnist";
// One compute thread: on this shared 2-core machine Eigen's parallel GEMM busy-waits, and with
// small batch-64 products two threads measured ~30x slower than one.
constexpr int kThreads = 1;

ir::Model mlp() {
    ModelBuilder b(13, 7);
    b.input("image", {1, 28, 28});
    b.weight("fc1.weight", {128, 784}, 784);
    b.weight("fc1.bias", {128}, 0, 0.0f);
    b.weight("fc2.weight", {10, 128}, 128);
    b.weight("fc2.bias", {10}, 0, 0.0f);
    b.node("Flatten", {"image"}, {"flat"});
    b.node("Gemm", {"flat", "fc1.weight", "fc1.bias"}, {"h"})->attributes().push_back(
        ir::Attribute::makeInt("transB", 1));
    b.node("Relu", {"h"}, {"hr"});
    b.node("Gemm", {"hr", "fc2.weight", "fc2.bias"}, {"logits"})->attributes().push_back(
        ir::Attribute::makeInt("transB", 1));
    b.output("logits", {10});
    return b.take();
}

// Conv(1→8, 3x3, s2, p1) → BN → Relu → MaxPool 2 → Conv(8→16, 3x3, p1) → BN → Relu →
// AveragePool 2 → Flatten → Dropout → Gemm(144→10).
ir::Model cnn() {
    ModelBuilder b(15, 9);
    b.input("image", {1, 28, 28});
    b.weight("conv1.weight", {8, 1, 3, 3}, 9);
    b.weight("bn1.weight", {8}, 0, 1.0f);
    b.weight("bn1.bias", {8}, 0, 0.0f);
    b.weight("bn1.running_mean", {8}, 0, 0.0f);
    b.weight("bn1.running_var", {8}, 0, 1.0f);
    b.weight("conv2.weight", {16, 8, 3, 3}, 72);
    b.weight("bn2.weight", {16}, 0, 1.0f);
    b.weight("bn2.bias", {16}, 0, 0.0f);
    b.weight("bn2.running_mean", {16}, 0, 0.0f);
    b.weight("bn2.running_var", {16}, 0, 1.0f);
    b.weight("fc.weight", {10, 144}, 144);
    b.weight("fc.bias", {10}, 0, 0.0f);
    auto* c1 = b.node("Conv", {"image", "conv1.weight"}, {"c1"});
    c1->attributes().push_back(ir::Attribute::makeInts("strides", {2, 2}));
    c1->attributes().push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    b.node("BatchNormalization", {"c1", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"}, {"b1"});
    b.node("Relu", {"b1"}, {"r1"});
    auto* p1 = b.node("MaxPool", {"r1"}, {"p1"});
    p1->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {2, 2}));
    p1->attributes().push_back(ir::Attribute::makeInts("strides", {2, 2}));
    auto* c2 = b.node("Conv", {"p1", "conv2.weight"}, {"c2"});
    c2->attributes().push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    b.node("BatchNormalization", {"c2", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"}, {"b2"});
    b.node("Relu", {"b2"}, {"r2"});
    auto* p2 = b.node("AveragePool", {"r2"}, {"g"});
    p2->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {2, 2}));
    p2->attributes().push_back(ir::Attribute::makeInts("strides", {2, 2}));
    b.node("Flatten", {"g"}, {"f"});
    b.node("Dropout", {"f"}, {"fd"});
    b.node("Gemm", {"fd", "fc.weight", "fc.bias"}, {"logits"})->attributes().push_back(
        ir::Attribute::makeInt("transB", 1));
    b.output("logits", {10});
    return b.take();
}

struct Data {
    std::shared_ptr<data::Dataset> train, test;
};

Data load(int64_t trainCount, int64_t testCount) {
    auto train = data::IdxDataset::mnistLayout(kFashion, "train", data::Normalization::fashionMnist());
    auto test = data::IdxDataset::mnistLayout(kFashion, "test", data::Normalization::fashionMnist());
    EXPECT_TRUE(train && test);
    if (!train || !test) return {};
    return {data::calibrationSubset(*train, trainCount, 1),
            data::calibrationSubset(*test, testCount, 2)};
}

// Records what the trainer reported.
class Recorder : public train::Callback {
public:
    Status onTrainBegin(train::Trainer&) override { ++begins; return Status::ok(); }
    Status onEpochBegin(train::Trainer&, int e) override { epochsBegun.push_back(e); return Status::ok(); }
    Status onStepEnd(train::Trainer&, const train::StepInfo& s) override {
        losses.push_back(s.loss);
        lrs.push_back(s.lr);
        return Status::ok();
    }
    Status onEpochEnd(train::Trainer&, const train::EpochMetrics& m) override {
        accuracies.push_back(m.testAccuracy.value_or(-1));
        return Status::ok();
    }
    Status onTrainEnd(train::Trainer&, const train::TrainMetrics&) override { ++ends; return Status::ok(); }
    int begins = 0, ends = 0;
    std::vector<int> epochsBegun;
    std::vector<double> losses, lrs, accuracies;
};

struct Result {
    train::TrainMetrics metrics;
    double seconds = 0;
};

Result trainModel(TrainingPlan& plan, const Data& d, train::Optimizer& opt, train::LrSchedule& lr,
                  int epochs, Recorder* rec, jobs::JobContext* job = nullptr) {
    data::DataLoader::Options lo;
    lo.batchSize = 64;
    lo.seed = 3;
    data::DataLoader trainLoader(d.train, lo);
    data::DataLoader::Options to;
    to.batchSize = 250;
    to.shuffle = false;
    data::DataLoader testLoader(d.test, to);
    train::TrainerOptions topt;
    topt.epochs = epochs;
    topt.clipNorm = 5.0;
    train::Trainer trainer(plan, opt, lr, trainLoader, &testLoader, topt);
    if (rec) trainer.addCallback(rec);
    const auto t0 = std::chrono::steady_clock::now();
    auto m = trainer.run(job);
    Result r;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(m) << (m ? "" : m.error().message());
    if (m) r.metrics = *m;
    return r;
}

// writeBack → saveModel → loadModel → Plan: same predictions as the TrainingPlan's evaluate().
void checkExport(ir::Model& model, TrainingPlan& plan, const Data& d, const std::string& file) {
    ASSERT_TRUE(plan.writeBack(model).isOk());
    const fs::path path = fs::temp_directory_path() / file;
    ASSERT_TRUE(onnx::saveModel(model, path).isOk());
    auto loaded = onnx::loadModel(path);
    ASSERT_TRUE(loaded) << loaded.error().message();
    PlanOptions po;
    po.inputShapes["image"] = {100, 1, 28, 28};
    po.threads = kThreads;
    auto fwd = Plan::compile(*loaded, po);
    ASSERT_TRUE(fwd) << fwd.error().message();
    HostTensor images(ir::DType::kFloat, {100, 1, 28, 28});
    for (int64_t i = 0; i < 100; ++i) d.test->get(i, images.data<float>() + i * 784);
    auto a = plan.evaluate(images);
    auto b = fwd->run({images});
    ASSERT_TRUE(a && b);
    const HostTensor& la = (*a)[0];
    const HostTensor& lb = (*b)[0];
    ASSERT_EQ(la.dims(), lb.dims());
    int agree = 0;
    double maxDiff = 0;
    for (int64_t i = 0; i < 100; ++i) {
        int64_t ba = 0, bb = 0;
        for (int64_t c = 1; c < 10; ++c) {
            if (la.data<float>()[i * 10 + c] > la.data<float>()[i * 10 + ba]) ba = c;
            if (lb.data<float>()[i * 10 + c] > lb.data<float>()[i * 10 + bb]) bb = c;
        }
        agree += ba == bb;
        for (int64_t c = 0; c < 10; ++c)
            maxDiff = std::max<double>(maxDiff, std::abs(la.data<float>()[i * 10 + c] - lb.data<float>()[i * 10 + c]));
    }
    EXPECT_EQ(agree, 100);
    EXPECT_LT(maxDiff, 1e-3);
    std::printf("[ e2e  ] %s: exported, reloaded, Plan agrees on %d/100 (max |dlogit| %.1e)\n",
                file.c_str(), agree, maxDiff);
    fs::remove(path);
}

}  // namespace

TEST(EndToEnd, MlpOnFashionMnistSubset) {
    if (!fs::exists(kFashion)) GTEST_SKIP() << "dataset-fashion-mnist not installed";
    const Data d = load(2000, 1000);
    ASSERT_TRUE(d.train);
    ir::Model model = mlp();
    TrainingOptions opt;
    opt.threads = kThreads;
    opt.labelSmoothing = 0.05f;
    auto plan = TrainingPlan::compile(model, opt);
    ASSERT_TRUE(plan) << plan.error().message();
    train::Adam adam({0.9, 0.999, 1e-8, 1e-4, true});
    const int epochs = 6;
    train::CosineLr lr(2e-3, epochs * 32, 10);
    Recorder rec;
    Result r = trainModel(*plan, d, adam, lr, epochs, &rec);
    std::printf("[ e2e  ] MLP: %lld steps, %.0f images/s, final loss %.3f, test accuracy %.1f %% "
                "(%.1f s with evaluation)\n",
                static_cast<long long>(r.metrics.steps), r.metrics.imagesPerSecond,
                r.metrics.finalLoss, 100 * r.metrics.testAccuracy.value_or(0), r.seconds);
    EXPECT_GT(r.metrics.testAccuracy.value_or(0), 0.70);
    EXPECT_EQ(r.metrics.steps, epochs * 32);
    EXPECT_EQ(rec.begins, 1);
    EXPECT_EQ(rec.ends, 1);
    EXPECT_EQ(rec.epochsBegun.size(), static_cast<std::size_t>(epochs));
    EXPECT_EQ(rec.losses.size(), static_cast<std::size_t>(r.metrics.steps));
    EXPECT_LT(rec.losses.back(), rec.losses.front());
    EXPECT_NEAR(rec.lrs[10], lr.lr(10), 1e-12);
    checkExport(model, *plan, d, "whittle_train_mlp.onnx");
}

TEST(EndToEnd, CnnWithBatchNormAndDropout) {
    if (!fs::exists(kFashion)) GTEST_SKIP() << "dataset-fashion-mnist not installed";
    const Data d = load(2000, 1000);
    ASSERT_TRUE(d.train);
    ir::Model model = cnn();
    TrainingOptions opt;
    opt.threads = kThreads;
    auto plan = TrainingPlan::compile(model, opt);
    ASSERT_TRUE(plan) << plan.error().message();
    train::Sgd sgd({0.9, 0.0, true, 5e-4});
    const int epochs = 6;
    train::OneCycleLr lr(0.05, epochs * 32);
    Recorder rec;
    Result r = trainModel(*plan, d, sgd, lr, epochs, &rec);
    std::printf("[ e2e  ] CNN+BN+Dropout: %lld steps, %.0f images/s, final loss %.3f, test accuracy "
                "%.1f %% (%.1f s with evaluation)\n",
                static_cast<long long>(r.metrics.steps), r.metrics.imagesPerSecond,
                r.metrics.finalLoss, 100 * r.metrics.testAccuracy.value_or(0), r.seconds);
    EXPECT_GT(r.metrics.testAccuracy.value_or(0), 0.70);
    checkExport(model, *plan, d, "whittle_train_cnn.onnx");
}

// A callback stopping the run, and cancellation through the JobContext.
TEST(EndToEnd, StopAndCancel) {
    if (!fs::exists(kFashion)) GTEST_SKIP() << "dataset-fashion-mnist not installed";
    const Data d = load(640, 100);
    ASSERT_TRUE(d.train);
    struct StopAt : train::Callback {
        Status onStepEnd(train::Trainer& t, const train::StepInfo& s) override {
            if (s.step == 4) t.requestStop();
            return Status::ok();
        }
    } stop;
    TrainingOptions opt;
    opt.threads = kThreads;
    auto plan = TrainingPlan::compile(mlp(), opt);
    ASSERT_TRUE(plan);
    train::Sgd sgd;
    train::ConstantLr lr(0.01);
    data::DataLoader::Options lo;
    lo.batchSize = 64;
    data::DataLoader loader(d.train, lo);
    train::Trainer trainer(*plan, sgd, lr, loader, nullptr, {3});
    trainer.addCallback(&stop);
    auto m = trainer.run();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->steps, 5);
    EXPECT_TRUE(m->stoppedEarly);

    struct CancelAt : train::Callback {
        jobs::JobContext* job = nullptr;
        Status onStepEnd(train::Trainer&, const train::StepInfo& s) override {
            if (s.step == 2) job->requestCancel();
            return Status::ok();
        }
    } cancel;
    jobs::JobContext job;
    cancel.job = &job;
    train::Trainer t2(*plan, sgd, lr, loader, nullptr, {3});
    t2.addCallback(&cancel);
    auto c = t2.run(&job);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), StatusCode::kCancelled);
    EXPECT_EQ(t2.step(), 3);
}

// A callback reports a figure (as SLB reports its temperature): every callback's onMetric sees
// it with the epoch and step it was reported at; a failing onMetric stops the run.
TEST(EndToEnd, ReportedMetricsReachEveryCallback) {
    if (!fs::exists(kFashion)) GTEST_SKIP() << "dataset-fashion-mnist not installed";
    const Data d = load(256, 100);
    ASSERT_TRUE(d.train);
    struct Reporter : train::Callback {
        Status onEpochBegin(train::Trainer& t, int epoch) override {
            return t.report("temperature", 1.0 + epoch);
        }
    } reporter;
    struct Collector : train::Callback {
        std::vector<train::Metric> seen;
        bool fail = false;
        Status onMetric(train::Trainer&, const train::Metric& m) override {
            seen.push_back(m);
            return fail ? makeStatus(StatusCode::kInternal, "collector refuses") : Status::ok();
        }
    } collector;
    TrainingOptions opt;
    opt.threads = kThreads;
    auto plan = TrainingPlan::compile(mlp(), opt);
    ASSERT_TRUE(plan);
    train::Sgd sgd;
    train::ConstantLr lr(0.01);
    data::DataLoader::Options lo;
    lo.batchSize = 64;
    data::DataLoader loader(d.train, lo);  // 4 batches per epoch
    train::Trainer trainer(*plan, sgd, lr, loader, nullptr, {3});
    trainer.addCallback(&reporter);
    trainer.addCallback(&collector);
    ASSERT_TRUE(trainer.run());
    ASSERT_EQ(collector.seen.size(), 3u);
    for (int e = 0; e < 3; ++e) {
        EXPECT_EQ(collector.seen[e].name, "temperature");
        EXPECT_EQ(collector.seen[e].epoch, e);
        EXPECT_EQ(collector.seen[e].step, 4 * e);
        EXPECT_EQ(collector.seen[e].value, 1.0 + e);
    }
    collector.seen.clear();
    collector.fail = true;
    train::Trainer failing(*plan, sgd, lr, loader, nullptr, {3});
    failing.addCallback(&reporter);
    failing.addCallback(&collector);
    auto r = failing.run();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "collector refuses");
    EXPECT_EQ(collector.seen.size(), 1u);
}
