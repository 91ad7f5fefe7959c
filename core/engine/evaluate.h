#pragma once
/// Whole-model tasks on the engine shared by the CLI and the studio: accuracy on a dataset and
/// inference latency. Both report progress and honour cancellation through a JobContext.

#include <cstdint>

#include "core/data/dataset.h"
#include "core/engine/host_tensor.h"
#include "core/ir/graph.h"
#include "core/jobs/job_context.h"
#include "core/util/status.h"

namespace wh::engine {

struct EvalOptions {
    int64_t batch = 256;
    int threads = 0;     ///< 0 = all cores
    int64_t limit = 0;   ///< evaluate the first `limit` samples; 0 = all
};

struct EvalResult {
    double accuracy = 0;  ///< fraction in [0, 1]
    int64_t correct = 0;
    int64_t samples = 0;
    double seconds = 0;
};

/// Top-1 accuracy: argmax over the last axis of the first output vs the label, the dataset's
/// samples fed to the first input.
Expected<EvalResult> evaluate(const ir::Model& model, const data::Dataset& dataset,
                              const EvalOptions& options, jobs::JobContext* job = nullptr);

struct BenchOptions {
    int64_t batch = 1;
    int threads = 0;
    int iterations = 100;
    int warmup = 10;
    uint64_t seed = 0;
};

struct BenchResult {
    int64_t batch = 0;
    int threads = 0;
    double p50Ms = 0;
    double meanMs = 0;
    double minMs = 0;
};

/// Latency of one inference at `batch`, on random inputs shaped like the model's inputs (symbolic
/// dims take the batch size), after a warm-up. The plan is compiled once, outside the timing.
Expected<BenchResult> benchmark(const ir::Model& model, const BenchOptions& options,
                                jobs::JobContext* job = nullptr);

/// Random inputs for every fed input of `model` with symbolic or unknown dims set to `batch`:
/// floats uniform in [-1, 1], integers zero.
Expected<std::vector<HostTensor>> randomInputs(const ir::Model& model, int64_t batch,
                                               uint64_t seed);

}  // namespace wh::engine
