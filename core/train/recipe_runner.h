#pragma once
/// RecipeRunner: one training run from a plain recipe — dataset → loaders → training plan →
/// optimizer and learning-rate schedule → Trainer → parameters written back into the model.
/// `whittle-cli train` is a thin wrapper over it; `compress` and the studio will run the same.
///
/// It prints nothing: progress goes to a jobs::JobContext (stage "compiling", then fraction =
/// steps done / steps planned with the stage "epoch E loss L"), per-step and per-epoch numbers to
/// the caller's train::Callbacks, and cancellation (JobContext::requestCancel) ends the run
/// after the current step with kCancelled.
///
/// Two phases, so that a caller can report a bad recipe (unknown dataset or architecture,
/// unreadable model) before it starts a job: prepare() opens the datasets and builds or loads
/// the model; run() compiles and trains. runRecipe() does both.
///
/// Thread-safety: none; a RecipeRunner is used by one thread at a time (it may be prepared on
/// one thread and run on another).

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/data/dataset.h"
#include "core/engine/run_observer.h"
#include "core/ir/graph.h"
#include "core/jobs/job_context.h"
#include "core/train/trainer.h"
#include "core/util/status.h"

namespace wh::train {

/// What to train and how. The defaults are `whittle-cli train`'s (shared/CLI.md).
struct TrainingRecipe {
    /// The model: a built-in architecture (models::architectureNames()) built for the training
    /// set's sample shape and class count with weights from `seed`, or an ONNX file whose
    /// floating-point initializers are the parameters. Exactly one of the two, unless the model
    /// is handed to prepare() directly (then neither).
    std::string arch;
    std::string modelPath;
    /// A data::openDataset name: "fashion-mnist" (normalised with Normalization::fashionMnist),
    /// "mnist", "folder:PATH". Its "train" split trains, its "test" split evaluates.
    std::string dataset = "fashion-mnist";
    std::string dataDir;  ///< empty = the dataset's default folder
    int epochs = 1;
    /// > 0: train this many optimizer steps instead of `epochs` (the last epoch may end early);
    /// 0: no training at all, the model comes back as prepared; < 0: train by `epochs`.
    int64_t steps = -1;
    int64_t batch = 128;  ///< training and evaluation batch; training drops a last partial batch
    double lr = 0.1;      ///< peak learning rate of the schedule
    std::string optimizer = "sgd";    ///< a train::makeOptimizer name
    std::string schedule = "cosine";  ///< a train::makeLrSchedule name, over all planned steps
    double momentum = 0.9;
    double weightDecay = 5e-4;
    double labelSmoothing = 0.0;
    double clipNorm = 0.0;  ///< > 0: clip gradients to this global L2 norm
    int threads = 0;        ///< compute threads; 0 = all cores
    /// Weights of a built architecture, shuffling, augmentation and dropout masks.
    uint64_t seed = 0;
    bool augment = true;  ///< random crop (2-pixel padding) and horizontal flip
    /// Test accuracy after every epoch; false leaves TrainMetrics::testAccuracy empty.
    bool evaluate = true;
    int64_t evalLimit = 0;  ///< > 0: evaluate on the first this-many test samples only
    /// Not part of the recipe proper: watches every step of the training plan (e.g. an
    /// engine::StepProfiler for `whittle-cli train --profile`). Not owned; null = none.
    engine::RunObserver* observer = nullptr;
};

/// A finished run.
struct TrainingResult {
    /// Throughput (imagesPerSecond, steadyImagesPerSecond), finalLoss, testAccuracy, steps,
    /// epochs, seconds and the per-epoch history; all zero or empty when the recipe has
    /// `steps == 0`.
    TrainMetrics metrics;
    /// The model with the trained parameters written back (TrainingPlan::writeBack).
    ir::Model model;
};

class RecipeRunner {
public:
    /// Opens the datasets and builds recipe.arch or loads recipe.modelPath. kUsage when both or
    /// neither are given, or the architecture is unknown; kBadInput for unreadable data or
    /// model files.
    static Expected<RecipeRunner> prepare(const TrainingRecipe& recipe);
    /// The same for a model the caller already has (the studio's document); recipe.arch and
    /// recipe.modelPath must be empty (kUsage).
    static Expected<RecipeRunner> prepare(const TrainingRecipe& recipe, ir::Model model);

    RecipeRunner(RecipeRunner&&) noexcept;
    RecipeRunner& operator=(RecipeRunner&&) noexcept;
    ~RecipeRunner();

    /// The recipe as prepared and the model before training.
    const TrainingRecipe& recipe() const;
    const ir::Model& model() const;
    const data::Dataset& trainSet() const;
    const data::Dataset& testSet() const;

    /// Compiles the training plan, trains and writes the parameters back; consumes the runner.
    /// `callbacks` (not owned, run in order after the runner's own progress reporting) see every
    /// step and epoch and may stop or fail the run. Errors: the plan's (kUnsupported for an
    /// operator without a training kernel), kUsage for an unknown optimizer or schedule,
    /// kCancelled when `job` was cancelled, or whatever a callback returned.
    Expected<TrainingResult> run(jobs::JobContext* job = nullptr,
                                 std::span<Callback* const> callbacks = {}) &&;

private:
    struct State;
    explicit RecipeRunner(std::unique_ptr<State> state);
    static Expected<std::unique_ptr<State>> withDatasets(const TrainingRecipe& recipe);
    std::unique_ptr<State> m_state;
};

/// RecipeRunner::prepare(recipe) then run(job, callbacks).
Expected<TrainingResult> runRecipe(const TrainingRecipe& recipe, jobs::JobContext* job = nullptr,
                                   std::span<Callback* const> callbacks = {});

}  // namespace wh::train
