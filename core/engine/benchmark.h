#pragma once
/// Inference latency of a whole model on random inputs: what `whittle-cli bench` and the
/// studio's profiler report. Reports progress and honours cancellation through a JobContext.
/// Accuracy on a dataset lives in core/analysis/accuracy.h (the engine does not know datasets).

#include <cstdint>
#include <vector>

#include "core/engine/host_tensor.h"
#include "core/ir/graph.h"
#include "core/jobs/job_context.h"
#include "core/util/status.h"

namespace wh::engine {

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

/// The declared dims of `value` with symbolic or unknown dims set to `batch`; empty when the
/// value declares no shape.
Dims dimsWithBatch(const ir::Value& value, int64_t batch);

}  // namespace wh::engine
