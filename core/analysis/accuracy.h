#pragma once
/// Top-1 accuracy of a model on a dataset with inference semantics: what `whittle-cli eval`
/// reports, and what compression (accuracy before/after) and sensitivity analysis will compare.
/// It lives in analysis, not engine: it reads a data::Dataset, and core/data builds on the
/// engine's HostTensor, so the engine must not know datasets (tests/core/layering checks it).
///
/// Thread-safety: reads `model` and `dataset` only; compiles and owns its own plans.

#include <cstdint>
#include <map>
#include <string>

#include "core/data/dataset.h"
#include "core/engine/host_tensor.h"
#include "core/ir/graph.h"
#include "core/jobs/job_context.h"
#include "core/util/status.h"

namespace wh::analysis {

struct AccuracyOptions {
    int64_t batch = 256;
    int threads = 0;    ///< 0 = all cores
    int64_t limit = 0;  ///< evaluate the first `limit` samples; 0 = all
    /// Given dims by input name (`whittle-cli --shape`). The fed input's must agree with the
    /// dataset's samples after dim 0 (the batch); symbolic dims not given are taken from them.
    std::map<std::string, engine::Dims> inputShapes;
};

struct AccuracyResult {
    double accuracy = 0;  ///< fraction in [0, 1]
    int64_t correct = 0;
    int64_t samples = 0;
    double seconds = 0;
};

/// Top-1 accuracy: argmax over the last axis of the first output vs the label, the dataset's
/// samples fed to the first input (not backed by an initializer) in order, `options.batch` at a
/// time (one engine::Plan per batch size). Fails with kBadInput when the model has no input or
/// output, the dataset's sample shape does not fit the input, or the output is not float scores;
/// kUnsupported when the model takes more than one input; kCancelled when `job` is cancelled
/// (polled between batches; progress = samples done / samples).
Expected<AccuracyResult> evaluateAccuracy(const ir::Model& model, const data::Dataset& dataset,
                                          const AccuracyOptions& options,
                                          jobs::JobContext* job = nullptr);

}  // namespace wh::analysis
