// Fine-tuning imported ONNX models: the bundled LeNet-5 sample (resources/samples/lenet5.onnx) and
// a small PyTorch export with its usual idioms (Shape → Gather → Unsqueeze → Concat → Reshape,
// BatchNormalization; tests/core/train/make_torch_small.py). Before training, the plan's
// evaluation forward equals a forward Plan of the model; after fine-tuning, writeBack + saveModel
// give a valid ONNX file with the same structure whose forward Plan reproduces the plan's
// predictions.

#include <gtest/gtest.h>

#include <filesystem>

#include "core/data/dataset.h"
#include "core/data/loader.h"
#include "core/engine/plan.h"
#include "core/engine/training_plan.h"
#include "core/onnx/model_io.h"
#include "core/train/lr_schedule.h"
#include "core/train/optimizer.h"
#include "core/train/trainer.h"

using namespace wh;
using namespace wh::engine;
namespace fs = std::filesystem;

namespace {

const fs::path kFashion = "/usr/share/datasets/fashion-mnist";
constexpr int kThreads = 1;  // see end_to_end_test.cpp

HostTensor testImages(const data::Dataset& d, int64_t n) {
    HostTensor images(ir::DType::kFloat, {n, 1, 28, 28});
    for (int64_t i = 0; i < n; ++i) d.get(i, images.data<float>() + i * 784);
    return images;
}

double maxAbsDiff(const HostTensor& a, const HostTensor& b) {
    EXPECT_EQ(a.dims(), b.dims());
    double m = 0;
    for (int64_t i = 0; i < std::min(a.numElements(), b.numElements()); ++i)
        m = std::max<double>(m, std::abs(a.data<float>()[i] - b.data<float>()[i]));
    return m;
}

Expected<HostTensor> planForward(const ir::Model& model, const HostTensor& images) {
    PlanOptions po;
    po.threads = kThreads;
    po.inputShapes[model.graph->inputs()[0]->name()] = images.dims();
    WH_ASSIGN_OR_RETURN(Plan plan, Plan::compile(model, po));
    WH_ASSIGN_OR_RETURN(auto outs, plan.run({images}));
    return outs[0];
}

void fineTune(const fs::path& file, double minAccuracy, int epochs, double lr) {
    if (!fs::exists(kFashion)) GTEST_SKIP() << "dataset-fashion-mnist not installed";
    auto loaded = onnx::loadModel(file);
    ASSERT_TRUE(loaded) << loaded.error().message();
    ir::Model model = std::move(*loaded);
    auto trainSet = data::IdxDataset::mnistLayout(kFashion, "train", data::Normalization::fashionMnist());
    auto testSet = data::IdxDataset::mnistLayout(kFashion, "test", data::Normalization::fashionMnist());
    ASSERT_TRUE(trainSet && testSet);
    auto train = data::calibrationSubset(*trainSet, 2000, 1);
    auto test = data::calibrationSubset(*testSet, 1000, 2);

    TrainingOptions opt;
    opt.threads = kThreads;
    auto plan = TrainingPlan::compile(model, opt);
    ASSERT_TRUE(plan) << plan.error().message();

    // Inference semantics before training = the ordinary forward Plan.
    const HostTensor images = testImages(*test, 50);
    auto before = plan->evaluate(images);
    auto reference = planForward(model, images);
    ASSERT_TRUE(before && reference) << (before ? reference.error().message() : before.error().message());
    EXPECT_LT(maxAbsDiff((*before)[0], *reference), 1e-4);

    data::DataLoader::Options lo;
    lo.batchSize = 64;
    lo.seed = 4;
    data::DataLoader trainLoader(train, lo);
    data::DataLoader::Options to;
    to.batchSize = 250;
    to.shuffle = false;
    data::DataLoader testLoader(test, to);
    train::Sgd sgd({0.9, 0.0, false, 1e-4});
    train::CosineLr schedule(lr, epochs * trainLoader.numBatches(), 5);
    train::TrainerOptions topt;
    topt.epochs = epochs;
    topt.evaluateEachEpoch = false;
    train::Trainer trainer(*plan, sgd, schedule, trainLoader, &testLoader, topt);
    auto metrics = trainer.run();
    ASSERT_TRUE(metrics) << metrics.error().message();
    std::printf("[ import ] %s: %lld steps, %.0f images/s, final loss %.3f, test accuracy %.1f %%\n",
                file.filename().c_str(), static_cast<long long>(metrics->steps),
                metrics->imagesPerSecond, metrics->finalLoss, 100 * metrics->testAccuracy.value_or(0));
    EXPECT_GT(metrics->testAccuracy.value_or(0), minAccuracy);

    std::vector<std::string> initializersBefore;
    for (const ir::Value* v : model.graph->initializers()) initializersBefore.push_back(v->name());
    const std::size_t nodesBefore = model.graph->numNodes();
    ASSERT_TRUE(plan->writeBack(model).isOk());
    const fs::path out = fs::temp_directory_path() / ("whittle_finetuned_" + file.filename().string());
    ASSERT_TRUE(onnx::saveModel(model, out).isOk());
    auto reloaded = onnx::loadModel(out);
    ASSERT_TRUE(reloaded) << reloaded.error().message();
    ASSERT_TRUE(reloaded->graph->validate().isOk());
    EXPECT_EQ(reloaded->graph->numNodes(), nodesBefore);
    std::vector<std::string> initializersAfter;
    for (const ir::Value* v : reloaded->graph->initializers()) initializersAfter.push_back(v->name());
    EXPECT_EQ(initializersAfter, initializersBefore);

    auto after = plan->evaluate(images);
    auto exported = planForward(*reloaded, images);
    ASSERT_TRUE(after && exported);
    const double diff = maxAbsDiff((*after)[0], *exported);
    EXPECT_LT(diff, 1e-3);
    EXPECT_GT(maxAbsDiff((*after)[0], (*before)[0]), 1e-2);  // it did change
    std::printf("[ import ] %s: exported and reloaded, forward Plan max |dlogit| %.1e\n",
                file.filename().c_str(), diff);
    fs::remove(out);
}

}  // namespace

TEST(ImportedModel, FineTuneLeNet5Sample) {
    fineTune(fs::path(WHITTLE_SOURCE_DIR) / "resources/samples/lenet5.onnx", 0.70, 4, 0.05);
}

TEST(ImportedModel, FineTunePyTorchExport) {
    fineTune(fs::path(WHITTLE_SOURCE_DIR) / "tests/core/train/torch_small.onnx", 0.70, 3, 0.05);
}
