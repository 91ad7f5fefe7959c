#pragma once
/// Trainer: epochs of forwardBackward → (clip) → optimizer step over a DataLoader, with
/// Callbacks at train begin/end, epoch begin/end and step begin/end — the hook every
/// compression algorithm uses (quantization delay, freezing BatchNormalization, temperature
/// schedules, staged pruning). A callback may read and change the plan (parameters, flags)
/// between steps, ask the trainer to stop, or fail the run with a Status.
///
/// Cancellation: through a jobs::JobContext (progress = steps done / steps planned, stage text
/// "epoch e/E"); a cancelled run returns kCancelled after the current step.
/// Thread-safety: none; run() on one thread. requestStop() may be called from a callback.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/data/loader.h"
#include "core/engine/training_plan.h"
#include "core/jobs/job_context.h"
#include "core/train/lr_schedule.h"
#include "core/train/optimizer.h"
#include "core/util/status.h"

namespace wh::train {

class Trainer;

struct TrainerOptions {
    int epochs = 1;
    /// > 0: stop after this many optimizer steps (may end inside an epoch).
    int64_t maxSteps = 0;
    /// > 0: clip gradients to this global L2 norm before each step.
    double clipNorm = 0.0;
    /// Evaluate on the test loader (when given) after every epoch; else only at the end.
    bool evaluateEachEpoch = true;
    /// > 0: evaluate on at most this many test samples.
    int64_t evalLimit = 0;
    /// Steps excluded from TrainMetrics::steadyImagesPerSecond (kernel creation, first touch
    /// of buffers).
    int64_t warmupSteps = 3;
};

struct StepInfo {
    int epoch = 0;
    int64_t step = 0;  ///< 0-based optimizer step
    double loss = 0;   ///< mean loss of the batch
    double lr = 0;
    double gradNorm = 0;  ///< global L2 norm before clipping
    int64_t batchSize = 0;
};

struct EpochMetrics {
    int epoch = 0;
    double trainLoss = 0;  ///< mean over the epoch's batches
    int64_t steps = 0;
    int64_t images = 0;
    double seconds = 0;  ///< training time of the epoch (evaluation excluded)
    double imagesPerSecond = 0;
    std::optional<double> testAccuracy;
    std::optional<double> testLoss;
};

struct TrainMetrics {
    int64_t steps = 0;
    int epochs = 0;        ///< epochs begun
    double finalLoss = 0;  ///< mean loss of the last epoch's batches
    double imagesPerSecond = 0;
    /// Throughput after the first TrainerOptions::warmupSteps steps (data loading included,
    /// evaluation excluded); equals imagesPerSecond when the run is no longer than the warm-up.
    double steadyImagesPerSecond = 0;
    double seconds = 0;  ///< training time (evaluation excluded)
    std::optional<double> testAccuracy;
    std::vector<EpochMetrics> history;
    bool stoppedEarly = false;
};

/// A figure an algorithm reports while it trains (SLB's temperature, a pruning rate, ...), for
/// charts and logs: Trainer::report hands it to every callback's onMetric.
struct Metric {
    std::string name;
    int epoch = 0;
    int64_t step = 0;  ///< the optimizer steps taken when it was reported
    double value = 0;
};

/// Hooks; every default does nothing. A failed Status stops the run and is returned by run().
class Callback {
public:
    virtual ~Callback() = default;
    virtual Status onTrainBegin(Trainer&) { return Status::ok(); }
    virtual Status onEpochBegin(Trainer&, int /*epoch*/) { return Status::ok(); }
    virtual Status onStepBegin(Trainer&, int64_t /*step*/) { return Status::ok(); }
    virtual Status onStepEnd(Trainer&, const StepInfo&) { return Status::ok(); }
    virtual Status onEpochEnd(Trainer&, const EpochMetrics&) { return Status::ok(); }
    virtual Status onTrainEnd(Trainer&, const TrainMetrics&) { return Status::ok(); }
    virtual Status onMetric(Trainer&, const Metric&) { return Status::ok(); }
};

/// Accuracy (argmax of output 0 vs label) and mean cross-entropy.
struct EvalMetrics {
    double accuracy = 0;
    double loss = 0;
    int64_t samples = 0;
};
/// Evaluates with inference semantics over the loader's current epoch order (`limit` > 0 caps
/// the samples).
Expected<EvalMetrics> evaluate(engine::TrainingPlan& plan, data::DataLoader& loader,
                               int64_t limit = 0, jobs::JobContext* job = nullptr);

class Trainer {
public:
    /// Everything passed must outlive the trainer. `test` may be null.
    Trainer(engine::TrainingPlan& plan, Optimizer& optimizer, LrSchedule& schedule,
            data::DataLoader& train, data::DataLoader* test, TrainerOptions options = {});

    /// Callbacks run in the order added (not owned).
    void addCallback(Callback* callback) { m_callbacks.push_back(callback); }
    /// Trains; see the file comment.
    Expected<TrainMetrics> run(jobs::JobContext* job = nullptr);
    /// Stops after the current step (callbacks: from any hook).
    void requestStop() { m_stop = true; }
    /// Reports `value` as metric `name` at the current epoch and step to every callback's
    /// onMetric (from any hook); the first failure is returned.
    Status report(std::string name, double value);

    engine::TrainingPlan& plan() { return m_plan; }
    Optimizer& optimizer() { return m_optimizer; }
    /// The training data (e.g. for a callback's extra pass over it, train/statistics_pass.h).
    /// A pass from a callback restarts its epoch order: run it between epochs (onEpochEnd,
    /// onEpochBegin), not from a step hook.
    data::DataLoader& trainLoader() { return m_train; }
    const TrainerOptions& options() const { return m_options; }
    int64_t step() const { return m_step; }
    int epoch() const { return m_epoch; }
    /// Steps the run will take at most (from epochs, batches and maxSteps).
    int64_t plannedSteps() const;

private:
    engine::TrainingPlan& m_plan;
    Optimizer& m_optimizer;
    LrSchedule& m_schedule;
    data::DataLoader& m_train;
    data::DataLoader* m_test;
    TrainerOptions m_options;
    std::vector<Callback*> m_callbacks;
    int64_t m_step = 0;
    int m_epoch = 0;
    bool m_stop = false;
};

}  // namespace wh::train
