#pragma once
/// A statistics pass: training forwards over data with no loss, no backward and no optimizer
/// step, so that the state the training forwards keep — BatchNormalization's running mean and
/// variance above all — is re-estimated for the weights as they are now. SLB's BN calibration
/// (GOLDEN_STICK.md §4.3: after the weights turned discrete, one pass over the training set
/// re-estimates BN statistics) and pruning after channels were masked use it.
///
/// Every BatchNormalization normalises with the batch's statistics, as in training, and its
/// running statistics become the plain average of the pass's batch statistics (every batch
/// weighs the same, whatever the order: PyTorch's momentum=None), or with `cumulative` off an
/// exponential average with the node's own momentum (ONNX: running = momentum * running +
/// (1 - momentum) * batch, so the last batches weigh most and the old statistics linger). Nodes
/// frozen through NodeFlags::batchNormFrozen keep theirs. Dropout
/// is off for the pass (TrainingFlags::dropoutDisabled, restored after). Other run-time knobs
/// (e.g. an SLB weight's "hard") are the caller's to set around the pass.
///
/// Thread-safety: none; run between training steps on the training thread.

#include <cstdint>

#include "core/data/loader.h"
#include "core/engine/training_plan.h"
#include "core/jobs/job_context.h"
#include "core/util/status.h"

namespace wh::train {

struct StatisticsPassOptions {
    /// > 0: at most this many batches; 0 = one whole epoch of the loader.
    int64_t maxBatches = 0;
    /// The loader's epoch index for its shuffling (DataLoader::startEpoch).
    int epoch = 0;
    /// true: the average of the batch statistics (TrainingFlags::batchNormMomentum = k/(k+1) on
    /// batch k); false: each BatchNormalization's own momentum.
    bool cumulative = true;
};

/// Runs `plan.updateState()` on the loader's batches (a fresh epoch order). Returns the number
/// of batches run. kCancelled (between batches) when `job` is cancelled.
Expected<int64_t> runStatisticsPass(engine::TrainingPlan& plan, data::DataLoader& loader,
                                    const StatisticsPassOptions& options = {},
                                    jobs::JobContext* job = nullptr);

}  // namespace wh::train
