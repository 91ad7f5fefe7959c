#include "core/train/recipe_runner.h"

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "core/models/architectures.h"

namespace wh::train {
namespace {

bool haveFashionMnist() {
    return std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
}

// A short, deterministic LeNet-5 run.
TrainingRecipe shortRecipe() {
    TrainingRecipe r;
    r.arch = "lenet5";
    r.steps = 3;
    r.batch = 16;
    r.threads = 1;
    r.augment = false;
    r.evalLimit = 32;
    r.seed = 7;
    return r;
}

struct Counting : Callback {
    int steps = 0, epochs = 0, begins = 0, ends = 0;
    Status onTrainBegin(Trainer&) override { return ++begins, Status::ok(); }
    Status onStepEnd(Trainer&, const StepInfo&) override { return ++steps, Status::ok(); }
    Status onEpochEnd(Trainer&, const EpochMetrics&) override { return ++epochs, Status::ok(); }
    Status onTrainEnd(Trainer&, const TrainMetrics&) override { return ++ends, Status::ok(); }
};

float firstWeight(const ir::Model& m, const std::string& name) {
    const ir::Value* v = m.graph->findValue(name);
    return v && v->initializer() ? v->initializer()->values<float>()[0] : 0.0f;
}

TEST(RecipeRunner, TrainsReportsAndWritesBack) {
    if (!haveFashionMnist()) GTEST_SKIP() << "no Fashion-MNIST";
    auto runner = RecipeRunner::prepare(shortRecipe());
    ASSERT_TRUE(runner) << runner.error().message();
    EXPECT_EQ(runner->trainSet().size(), 60000);
    EXPECT_EQ(runner->testSet().size(), 10000);
    std::string param;
    for (const ir::Value* v : runner->model().graph->initializers())
        if (v->initializer() && v->initializer()->dtype == ir::DType::kFloat) {
            param = v->name();
            break;
        }
    ASSERT_FALSE(param.empty()) << "lenet5 has no float initializer";
    const float before = firstWeight(runner->model(), param);

    jobs::JobContext job;
    Counting counting;
    Callback* callbacks[] = {&counting};
    auto result = std::move(*runner).run(&job, callbacks);
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_EQ(result->metrics.steps, 3);
    EXPECT_EQ(result->metrics.epochs, 1);
    ASSERT_TRUE(result->metrics.testAccuracy.has_value());
    EXPECT_GT(result->metrics.imagesPerSecond, 0.0);
    EXPECT_EQ(counting.steps, 3);
    EXPECT_EQ(counting.epochs, 1);
    EXPECT_EQ(counting.begins, 1);
    EXPECT_EQ(counting.ends, 1);
    EXPECT_DOUBLE_EQ(job.fraction(), 1.0);
    EXPECT_NE(job.stage().find("loss"), std::string::npos) << job.stage();
    EXPECT_NE(firstWeight(result->model, param), before) << param << " was not written back";
}

TEST(RecipeRunner, CancelStopsAfterTheCurrentStep) {
    if (!haveFashionMnist()) GTEST_SKIP() << "no Fashion-MNIST";
    struct CancelAtFirstStep : Callback {
        jobs::JobContext* job = nullptr;
        int steps = 0;
        Status onStepEnd(Trainer&, const StepInfo&) override {
            ++steps;
            job->requestCancel();
            return Status::ok();
        }
    } cancel;
    jobs::JobContext job;
    cancel.job = &job;
    TrainingRecipe r = shortRecipe();
    r.steps = 50;
    Callback* callbacks[] = {&cancel};
    auto result = runRecipe(r, &job, callbacks);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code(), StatusCode::kCancelled) << result.error().message();
    EXPECT_LE(cancel.steps, 2);
}

TEST(RecipeRunner, ModelFromTheCaller) {
    if (!haveFashionMnist()) GTEST_SKIP() << "no Fashion-MNIST";
    auto model = models::buildArchitecture("lenet5");
    ASSERT_TRUE(model);
    TrainingRecipe r = shortRecipe();
    // The recipe must not name a second model.
    auto both = RecipeRunner::prepare(r, model->clone());
    ASSERT_FALSE(both);
    EXPECT_EQ(both.error().code(), StatusCode::kUsage);

    r.arch.clear();
    r.steps = 0;  // no training: the model comes back as given
    auto runner = RecipeRunner::prepare(r, model->clone());
    ASSERT_TRUE(runner) << runner.error().message();
    auto result = std::move(*runner).run();
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_EQ(result->metrics.steps, 0);
    EXPECT_FALSE(result->metrics.testAccuracy.has_value());
    EXPECT_EQ(result->model.graph->numNodes(), model->graph->numNodes());
}

TEST(RecipeRunner, BadRecipesFailBeforeTraining) {
    TrainingRecipe neither;
    auto r = RecipeRunner::prepare(neither);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), StatusCode::kUsage);

    TrainingRecipe noData = shortRecipe();
    noData.dataDir = "/nonexistent";
    r = RecipeRunner::prepare(noData);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), StatusCode::kBadInput) << r.error().message();

    if (!haveFashionMnist()) return;
    TrainingRecipe badOptimizer = shortRecipe();
    badOptimizer.optimizer = "nosuch";
    auto result = runRecipe(badOptimizer);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code(), StatusCode::kUsage) << result.error().message();
}

}  // namespace
}  // namespace wh::train
