// whittle-cli train: train a built-in architecture or fine-tune an imported model (shared/CLI.md).

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "app/cli_common.h"
#include "core/engine/step_profiler.h"
#include "core/onnx/model_io.h"
#include "core/train/recipe_runner.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace wh::cli {

namespace {

struct TrainArgs {
    train::TrainingRecipe recipe;  // --model fills recipe.modelPath
    std::string output;
    bool profile = false;
};

// One line per epoch on stderr; the per-step progress is the runner's, on the JobContext.
class EpochLines : public train::Callback {
public:
    Status onEpochEnd(train::Trainer&, const train::EpochMetrics& m) override {
        std::fprintf(
            stderr, "epoch %d: loss %.4f, %.0f images/s%s\n", m.epoch + 1, m.trainLoss,
            m.imagesPerSecond,
            m.testAccuracy ? fmt::format(", test accuracy {:.4f}", *m.testAccuracy).c_str() : "");
        return Status::ok();
    }
};

int runTrain(const TrainArgs& a, const Context& ctx) {
    const train::TrainingRecipe& r = a.recipe;
    if (r.modelPath.empty() == r.arch.empty())
        return fail(makeStatus(StatusCode::kUsage, "give exactly one of --model IN or --arch A"));
    if (!r.modelPath.empty())
        if (Status s = refuseToOverwriteInput(r.modelPath, a.output); !s.isOk()) return fail(s);
    // Datasets and model before the progress display: a bad recipe fails at once.
    engine::StepProfiler profiler;
    train::TrainingRecipe recipe = r;
    if (a.profile) recipe.observer = &profiler;
    auto runner = train::RecipeRunner::prepare(recipe);
    if (!runner) return fail(runner.error());

    return runWithProgress("train", [&](jobs::JobContext& job) -> int {
        EpochLines epochLines;
        train::Callback* callbacks[] = {&epochLines};
        auto result = std::move(*runner).run(&job, callbacks);
        if (!result) return fail(result.error());
        if (a.profile)  // stderr: stdout carries only the result
            std::fprintf(stderr, "training profile (ms summed over all nodes of the type):\n%s",
                         profiler.tableByOpType(result->model).c_str());
        const train::TrainMetrics& metrics = result->metrics;
        job.setStage("saving");
        Status saved = onnx::saveModel(result->model, a.output);
        if (!saved.isOk()) return fail(saved);
        json j{
            {"images_per_second", metrics.imagesPerSecond},
            {"steady_images_per_second", metrics.steadyImagesPerSecond},
            {"final_loss", metrics.finalLoss},
            {"test_accuracy", metrics.testAccuracy ? json(*metrics.testAccuracy) : json(nullptr)},
            {"steps", metrics.steps},
            {"epochs", metrics.epochs},
            {"seconds", metrics.seconds},
            {"output", a.output}};
        if (ctx.json)
            printJson(j);
        else
            std::printf("wrote %s: %lld steps, final loss %.4f, %.0f images/s, test accuracy %s\n",
                        a.output.c_str(), static_cast<long long>(metrics.steps), metrics.finalLoss,
                        metrics.imagesPerSecond,
                        metrics.testAccuracy ? fmt::format("{:.4f}", *metrics.testAccuracy).c_str()
                                             : "n/a");
        return 0;
    });
}

}  // namespace

void addTrainCommand(CLI::App& app, Context& ctx) {
    auto a = std::make_shared<TrainArgs>();
    auto memory = std::make_shared<MemoryArgs>();
    CLI::App* sub = addCommand(app, ctx, "train", "Train or fine-tune a model", [&ctx, a, memory] {
        if (Status s = memory->apply(); !s.isOk()) return fail(s);
        return runTrain(*a, ctx);
    });
    memory->add(sub);
    sub->add_option("--model", a->recipe.modelPath,
                    "ONNX model to fine-tune (its initializers train)");
    sub->add_option("--arch", a->recipe.arch,
                    "built-in architecture: lenet5, resnet20, mobilenetv2-tiny");
    sub->add_option("--dataset", a->recipe.dataset, "fashion-mnist, mnist or folder:PATH")
        ->capture_default_str();
    sub->add_option("--data-dir", a->recipe.dataDir, "folder holding the IDX files");
    auto* epochs = sub->add_option("--epochs", a->recipe.epochs, "epochs")->capture_default_str();
    sub->add_option("--steps", a->recipe.steps,
                    "optimizer steps instead of epochs (0 = write the "
                    "initialised model)")
        ->excludes(epochs);
    sub->add_option("--batch", a->recipe.batch, "batch size")->capture_default_str();
    sub->add_option("--lr", a->recipe.lr, "peak learning rate")->capture_default_str();
    sub->add_option("--optimizer", a->recipe.optimizer, "sgd, adam or adamw")
        ->capture_default_str();
    sub->add_option("--schedule", a->recipe.schedule, "constant, step, cosine or onecycle")
        ->capture_default_str();
    sub->add_option("--momentum", a->recipe.momentum, "SGD momentum")->capture_default_str();
    sub->add_option("--weight-decay", a->recipe.weightDecay, "weight decay")->capture_default_str();
    sub->add_option("--label-smoothing", a->recipe.labelSmoothing, "label smoothing epsilon");
    sub->add_option("--clip-norm", a->recipe.clipNorm,
                    "clip gradients to this global norm (0 = off)");
    sub->add_flag("!--no-augment", a->recipe.augment, "disable random crop and flip");
    sub->add_flag("!--no-eval", a->recipe.evaluate,
                  "skip the test-set evaluation (test_accuracy null)");
    sub->add_option("--eval-limit", a->recipe.evalLimit,
                    "evaluate on the first N test samples only");
    sub->add_option("--threads", a->recipe.threads, "compute threads (0 = all cores)");
    sub->add_option("--seed", a->recipe.seed, "seed for weights, shuffling and augmentation");
    sub->add_flag("--profile", a->profile,
                  "print the time of every op type, forward and backward, to stderr");
    sub->add_option("-o,--output", a->output, "ONNX file to write")->required();
}

}  // namespace wh::cli
