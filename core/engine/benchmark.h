#pragma once
/// Inference latency of a whole model on random inputs: what `whittle-cli bench` and the
/// studio's profiler report. Reports progress and honours cancellation through a JobContext.
/// Accuracy on a dataset lives in core/analysis/accuracy.h (the engine does not know datasets).

#include <cstdint>
#include <map>
#include <string>
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
    /// Dims to feed, by input name (`whittle-cli --shape`); see feedDims().
    std::map<std::string, Dims> shapes;
};

struct BenchResult {
    int64_t batch = 0;
    int threads = 0;
    double p50Ms = 0;
    double meanMs = 0;
    double minMs = 0;
    /// The process's peak resident memory (getrusage's ru_maxrss) after the timed runs: the
    /// model, the plan and its tensors at their largest, and anything the process held before.
    int64_t peakRssBytes = 0;
};

/// Latency of one inference at `batch`, on random inputs shaped by feedDims(), after a warm-up.
/// The plan is compiled once (for those shapes), outside the timing. kUsage when `shapes` names
/// no fed input.
Expected<BenchResult> benchmark(const ir::Model& model, const BenchOptions& options,
                                jobs::JobContext* job = nullptr);

/// The oneDNN library the engine runs on, "2.6.3" (the version loaded at run time).
std::string oneDnnVersion();

/// Random inputs for every fed input of `model`, shaped by feedDims(): floats uniform in
/// [-1, 1], integers zero.
Expected<std::vector<HostTensor>> randomInputs(const ir::Model& model, int64_t batch, uint64_t seed,
                                               const std::map<std::string, Dims>& shapes = {});

/// NAME=D0,D1,... specs (the CLI's --shape values, the studio's shape fields) as a map; kUsage
/// when one is malformed (dims: integers >= 0) or names an input twice. `prefix` starts the
/// message ("--shape ").
Expected<std::map<std::string, Dims>> parseShapeSpecs(const std::vector<std::string>& specs,
                                                      const std::string& prefix = {});

/// The dims to feed `value`: `shapes[name]` when given (its rank and known dims must agree with
/// the declared ones), else the declared dims with a symbolic or unknown dim 0 (the batch) set
/// to `batch`. Fails with kBadInput naming the input and the dimension when any other dim is
/// symbolic or unknown and not given (an image width, a sequence length: no guess is right).
Expected<Dims> feedDims(const ir::Value& value, int64_t batch,
                        const std::map<std::string, Dims>& shapes = {});

/// The declared dims of `value` with symbolic or unknown dims set to `batch`; empty when the
/// value declares no shape.
Dims dimsWithBatch(const ir::Value& value, int64_t batch);

}  // namespace wh::engine
