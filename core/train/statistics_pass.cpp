#include "core/train/statistics_pass.h"

namespace wh::train {

Expected<int64_t> runStatisticsPass(engine::TrainingPlan& plan, data::DataLoader& loader,
                                    const StatisticsPassOptions& options, jobs::JobContext* job) {
    engine::TrainingFlags& flags = plan.flags();
    // Restored however the pass ends.
    struct Restore {
        bool& flag;
        bool old;
        ~Restore() { flag = old; }
    } restore{flags.dropoutDisabled, flags.dropoutDisabled};
    flags.dropoutDisabled = true;
    data::Batch batch;
    int64_t batches = 0;
    loader.startEpoch(options.epoch);
    while ((options.maxBatches <= 0 || batches < options.maxBatches) && loader.next(batch)) {
        if (job) WH_RETURN_IF_ERROR(job->checkCancelled());
        WH_RETURN_IF_ERROR(plan.updateState(batch.images));
        ++batches;
    }
    return batches;
}

}  // namespace wh::train
