#include "core/train/statistics_pass.h"

#include <optional>

namespace wh::train {

Expected<int64_t> runStatisticsPass(engine::TrainingPlan& plan, data::DataLoader& loader,
                                    const StatisticsPassOptions& options, jobs::JobContext* job) {
    engine::TrainingFlags& flags = plan.flags();
    // Restored however the pass ends.
    struct Restore {
        engine::TrainingFlags& flags;
        bool dropoutDisabled;
        std::optional<double> momentum;
        ~Restore() {
            flags.dropoutDisabled = dropoutDisabled;
            flags.batchNormMomentum = momentum;
        }
    } restore{flags, flags.dropoutDisabled, flags.batchNormMomentum};
    flags.dropoutDisabled = true;
    data::Batch batch;
    int64_t batches = 0;
    loader.startEpoch(options.epoch);
    while ((options.maxBatches <= 0 || batches < options.maxBatches) && loader.next(batch)) {
        if (job) WH_RETURN_IF_ERROR(job->checkCancelled());
        // Batch k (from 0) weighs 1/(k+1) against the k before it: the first replaces the old
        // statistics, the result is the average.
        if (options.cumulative)
            flags.batchNormMomentum =
                static_cast<double>(batches) / static_cast<double>(batches + 1);
        WH_RETURN_IF_ERROR(plan.updateState(batch.images));
        ++batches;
    }
    return batches;
}

}  // namespace wh::train
