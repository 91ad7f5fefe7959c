// whittle-cli train: train a built-in architecture or fine-tune an imported model (shared/CLI.md).

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "app/cli_common.h"
#include "core/data/dataset.h"
#include "core/data/loader.h"
#include "core/engine/training_plan.h"
#include "core/models/architectures.h"
#include "core/onnx/model_io.h"
#include "core/train/lr_schedule.h"
#include "core/train/optimizer.h"
#include "core/train/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace wh::cli {

namespace {

struct TrainArgs {
    std::string model, arch, dataset = "fashion-mnist", dataDir, output;
    int epochs = 1;
    int64_t steps = -1;  // -1: train by epochs
    int64_t batch = 128;
    double lr = 0.1;
    std::string optimizer = "sgd";
    std::string schedule = "cosine";
    double momentum = 0.9;
    double weightDecay = 5e-4;
    double labelSmoothing = 0.0;
    double clipNorm = 0.0;
    int threads = 0;
    uint64_t seed = 0;
    bool augment = true;
    bool evaluate = true;
    int64_t evalLimit = 0;
};

// Prints one line per epoch (and per 50 steps on a terminal-less stderr) while training.
class ProgressCallback : public train::Callback {
public:
    explicit ProgressCallback(jobs::JobContext& job) : m_job(job) {}
    Status onStepEnd(train::Trainer& t, const train::StepInfo& s) override {
        const int64_t total = std::max<int64_t>(1, t.plannedSteps());
        m_job.setProgress(static_cast<double>(s.step + 1) / static_cast<double>(total),
                          fmt::format("epoch {} loss {:.4f}", s.epoch + 1, s.loss));
        return m_job.checkCancelled();
    }
    Status onEpochEnd(train::Trainer&, const train::EpochMetrics& m) override {
        std::fprintf(
            stderr, "epoch %d: loss %.4f, %.0f images/s%s\n", m.epoch + 1, m.trainLoss,
            m.imagesPerSecond,
            m.testAccuracy ? fmt::format(", test accuracy {:.4f}", *m.testAccuracy).c_str() : "");
        return Status::ok();
    }

private:
    jobs::JobContext& m_job;
};

int runTrain(const TrainArgs& a, const Context& ctx) {
    if (a.model.empty() == a.arch.empty())
        return fail(makeStatus(StatusCode::kUsage, "give exactly one of --model IN or --arch A"));
    std::error_code ec;
    if (!a.model.empty() && fs::exists(a.output, ec) && fs::equivalent(a.model, a.output, ec))
        return fail(
            makeStatus(StatusCode::kUsage, "{}: refusing to overwrite the input model", a.output));
    auto train = data::openDataset(
        a.dataset, "train", a.dataDir,
        a.dataset == "fashion-mnist" ? data::Normalization::fashionMnist() : data::Normalization{});
    if (!train) return fail(train.error());
    auto test = data::openDataset(
        a.dataset, "test", a.dataDir,
        a.dataset == "fashion-mnist" ? data::Normalization::fashionMnist() : data::Normalization{});
    if (!test) return fail(test.error());

    Expected<ir::Model> model =
        a.model.empty() ? models::buildArchitecture(a.arch, {.channels = (*train)->sampleDims()[0],
                                                             .height = (*train)->sampleDims()[1],
                                                             .width = (*train)->sampleDims()[2],
                                                             .classes = (*train)->numClasses(),
                                                             .seed = a.seed})
                        : onnx::loadModel(a.model);
    if (!model) return fail(model.error());

    data::DataLoader::Options lo;
    lo.batchSize = a.batch;
    lo.seed = a.seed;
    lo.dropLast = true;
    if (a.augment) {
        lo.augmentation.cropPadding = 2;
        lo.augmentation.horizontalFlip = true;
    }
    data::DataLoader trainLoader(*train, lo);
    data::DataLoader::Options to;
    to.batchSize = a.batch;  // the training batch: its kernels and buffers are there already
    to.shuffle = false;
    data::DataLoader testLoader(*test, to);

    return runWithProgress("train", [&](jobs::JobContext& job) -> int {
        train::TrainMetrics metrics;
        if (a.steps != 0) {
            engine::TrainingOptions opt;
            opt.threads = a.threads;
            opt.labelSmoothing = static_cast<float>(a.labelSmoothing);
            opt.seed = a.seed;
            job.setStage("compiling");
            auto plan = engine::TrainingPlan::compile(*model, opt);
            if (!plan) return fail(plan.error());
            auto optimizer = train::makeOptimizer(a.optimizer, a.weightDecay, a.momentum);
            if (!optimizer) return fail(optimizer.error());
            const int64_t perEpoch = trainLoader.numBatches();
            const int64_t total = a.steps > 0 ? a.steps : perEpoch * a.epochs;
            auto schedule = train::makeLrSchedule(a.schedule, a.lr, total);
            if (!schedule) return fail(schedule.error());
            train::TrainerOptions topt;
            topt.epochs =
                a.steps > 0 ? static_cast<int>((a.steps + perEpoch - 1) / perEpoch) : a.epochs;
            topt.maxSteps = a.steps > 0 ? a.steps : 0;
            topt.clipNorm = a.clipNorm;
            topt.evalLimit = a.evalLimit;
            train::Trainer trainer(*plan, **optimizer, **schedule, trainLoader,
                                   a.evaluate ? &testLoader : nullptr, topt);
            ProgressCallback progress(job);
            trainer.addCallback(&progress);
            auto result = trainer.run(&job);
            if (!result) return fail(result.error());
            metrics = std::move(*result);
            Status s = plan->writeBack(*model);
            if (!s.isOk()) return fail(s);
        }
        job.setStage("saving");
        Status saved = onnx::saveModel(*model, a.output);
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
    CLI::App* sub = addCommand(app, ctx, "train", "Train or fine-tune a model",
                               [&ctx, a] { return runTrain(*a, ctx); });
    sub->add_option("--model", a->model, "ONNX model to fine-tune (its initializers train)");
    sub->add_option("--arch", a->arch, "built-in architecture: lenet5, resnet20, mobilenetv2-tiny");
    sub->add_option("--dataset", a->dataset, "fashion-mnist, mnist or folder:PATH")
        ->capture_default_str();
    sub->add_option("--data-dir", a->dataDir, "folder holding the IDX files");
    auto* epochs = sub->add_option("--epochs", a->epochs, "epochs")->capture_default_str();
    sub->add_option("--steps", a->steps,
                    "optimizer steps instead of epochs (0 = write the "
                    "initialised model)")
        ->excludes(epochs);
    sub->add_option("--batch", a->batch, "batch size")->capture_default_str();
    sub->add_option("--lr", a->lr, "peak learning rate")->capture_default_str();
    sub->add_option("--optimizer", a->optimizer, "sgd, adam or adamw")->capture_default_str();
    sub->add_option("--schedule", a->schedule, "constant, step, cosine or onecycle")
        ->capture_default_str();
    sub->add_option("--momentum", a->momentum, "SGD momentum")->capture_default_str();
    sub->add_option("--weight-decay", a->weightDecay, "weight decay")->capture_default_str();
    sub->add_option("--label-smoothing", a->labelSmoothing, "label smoothing epsilon");
    sub->add_option("--clip-norm", a->clipNorm, "clip gradients to this global norm (0 = off)");
    sub->add_flag("!--no-augment", a->augment, "disable random crop and flip");
    sub->add_flag("!--no-eval", a->evaluate, "skip the test-set evaluation (test_accuracy null)");
    sub->add_option("--eval-limit", a->evalLimit, "evaluate on the first N test samples only");
    sub->add_option("--threads", a->threads, "compute threads (0 = all cores)");
    sub->add_option("--seed", a->seed, "seed for weights, shuffling and augmentation");
    sub->add_option("-o,--output", a->output, "ONNX file to write")->required();
}

}  // namespace wh::cli
