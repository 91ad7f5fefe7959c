#include "core/train/recipe_runner.h"

#include <algorithm>
#include <utility>

#include "core/data/loader.h"
#include "core/engine/training_plan.h"
#include "core/models/architectures.h"
#include "core/onnx/model_io.h"
#include "core/train/lr_schedule.h"
#include "core/train/optimizer.h"

namespace wh::train {

namespace {

// Reports each step to the job (fraction of the planned steps, the epoch and the batch loss)
// and turns a cancel request into kCancelled, which stops the trainer after this step.
class JobProgress : public Callback {
public:
    explicit JobProgress(jobs::JobContext& job) : m_job(job) {}
    Status onStepEnd(Trainer& t, const StepInfo& s) override {
        const int64_t total = std::max<int64_t>(1, t.plannedSteps());
        m_job.setProgress(static_cast<double>(s.step + 1) / static_cast<double>(total),
                          fmt::format("epoch {} loss {:.4f}", s.epoch + 1, s.loss));
        return m_job.checkCancelled();
    }

private:
    jobs::JobContext& m_job;
};

data::Normalization normalizationOf(const std::string& dataset) {
    return dataset == "fashion-mnist" ? data::Normalization::fashionMnist() : data::Normalization{};
}

}  // namespace

struct RecipeRunner::State {
    TrainingRecipe recipe;
    std::shared_ptr<data::Dataset> train;
    std::shared_ptr<data::Dataset> test;
    ir::Model model;
};

RecipeRunner::RecipeRunner(std::unique_ptr<State> state) : m_state(std::move(state)) {}
RecipeRunner::RecipeRunner(RecipeRunner&&) noexcept = default;
RecipeRunner& RecipeRunner::operator=(RecipeRunner&&) noexcept = default;
RecipeRunner::~RecipeRunner() = default;

const TrainingRecipe& RecipeRunner::recipe() const {
    return m_state->recipe;
}
const ir::Model& RecipeRunner::model() const {
    return m_state->model;
}
const data::Dataset& RecipeRunner::trainSet() const {
    return *m_state->train;
}
const data::Dataset& RecipeRunner::testSet() const {
    return *m_state->test;
}

// The recipe with its training and test sets opened.
Expected<std::unique_ptr<RecipeRunner::State>> RecipeRunner::withDatasets(
    const TrainingRecipe& recipe) {
    auto state = std::make_unique<State>();
    state->recipe = recipe;
    WH_ASSIGN_OR_RETURN(state->train, data::openDataset(recipe.dataset, "train", recipe.dataDir,
                                                        normalizationOf(recipe.dataset)));
    WH_ASSIGN_OR_RETURN(state->test, data::openDataset(recipe.dataset, "test", recipe.dataDir,
                                                       normalizationOf(recipe.dataset)));
    return state;
}

Expected<RecipeRunner> RecipeRunner::prepare(const TrainingRecipe& recipe) {
    if (recipe.modelPath.empty() == recipe.arch.empty())
        return error(StatusCode::kUsage,
                     "a training recipe names exactly one of a model file or an architecture");
    // Datasets first: an architecture is built for the training set's sample shape.
    WH_ASSIGN_OR_RETURN(std::unique_ptr<State> state, withDatasets(recipe));
    const data::Dataset& train = *state->train;
    if (recipe.modelPath.empty()) {
        WH_ASSIGN_OR_RETURN(
            state->model, models::buildArchitecture(recipe.arch, {.channels = train.sampleDims()[0],
                                                                  .height = train.sampleDims()[1],
                                                                  .width = train.sampleDims()[2],
                                                                  .classes = train.numClasses(),
                                                                  .seed = recipe.seed}));
    } else {
        WH_ASSIGN_OR_RETURN(state->model, onnx::loadModel(recipe.modelPath));
    }
    return RecipeRunner(std::move(state));
}

Expected<RecipeRunner> RecipeRunner::prepare(const TrainingRecipe& recipe, ir::Model model) {
    if (!recipe.modelPath.empty() || !recipe.arch.empty())
        return error(StatusCode::kUsage,
                     "a training recipe given a model names no model file or architecture");
    WH_ASSIGN_OR_RETURN(std::unique_ptr<State> state, withDatasets(recipe));
    state->model = std::move(model);
    return RecipeRunner(std::move(state));
}

Expected<TrainingResult> RecipeRunner::run(jobs::JobContext* job,
                                           std::span<Callback* const> callbacks) && {
    const TrainingRecipe& r = m_state->recipe;
    TrainingResult result;
    if (r.steps != 0) {
        data::DataLoader::Options lo;
        lo.batchSize = r.batch;
        lo.seed = r.seed;
        lo.dropLast = true;
        if (r.augment) {
            lo.augmentation.cropPadding = 2;
            lo.augmentation.horizontalFlip = true;
        }
        data::DataLoader trainLoader(m_state->train, lo);
        data::DataLoader::Options to;
        to.batchSize = r.batch;  // the training batch: its kernels and buffers are there already
        to.shuffle = false;
        data::DataLoader testLoader(m_state->test, to);

        engine::TrainingOptions opt;
        opt.threads = r.threads;
        opt.labelSmoothing = static_cast<float>(r.labelSmoothing);
        opt.seed = r.seed;
        opt.observer = r.observer;
        if (job) job->setStage("compiling");
        WH_ASSIGN_OR_RETURN(engine::TrainingPlan plan,
                            engine::TrainingPlan::compile(m_state->model, opt));
        WH_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> optimizer,
                            makeOptimizer(r.optimizer, r.weightDecay, r.momentum));
        const int64_t perEpoch = trainLoader.numBatches();
        const int64_t total = r.steps > 0 ? r.steps : perEpoch * r.epochs;
        WH_ASSIGN_OR_RETURN(std::unique_ptr<LrSchedule> schedule,
                            makeLrSchedule(r.schedule, r.lr, total));
        TrainerOptions topt;
        topt.epochs =
            r.steps > 0 ? static_cast<int>((r.steps + perEpoch - 1) / perEpoch) : r.epochs;
        topt.maxSteps = r.steps > 0 ? r.steps : 0;
        topt.clipNorm = r.clipNorm;
        topt.evalLimit = r.evalLimit;
        Trainer trainer(plan, *optimizer, *schedule, trainLoader,
                        r.evaluate ? &testLoader : nullptr, topt);
        std::optional<JobProgress> progress;
        if (job) trainer.addCallback(&progress.emplace(*job));
        for (Callback* c : callbacks) trainer.addCallback(c);
        WH_ASSIGN_OR_RETURN(result.metrics, trainer.run(job));
        WH_RETURN_IF_ERROR(plan.writeBack(m_state->model));
    }
    result.model = std::move(m_state->model);
    return result;
}

Expected<TrainingResult> runRecipe(const TrainingRecipe& recipe, jobs::JobContext* job,
                                   std::span<Callback* const> callbacks) {
    WH_ASSIGN_OR_RETURN(RecipeRunner runner, RecipeRunner::prepare(recipe));
    return std::move(runner).run(job, callbacks);
}

}  // namespace wh::train
