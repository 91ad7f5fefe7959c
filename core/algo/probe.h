#pragma once
/// ModelProbe: runs a model on dataset samples and hands chosen intermediate tensors to the
/// caller, batch by batch — calibration (activation ranges, GPTQ Hessians), data-driven
/// initialisation (LSQ steps) and export verification all read models this way. Memory stays
/// bounded by one batch: nothing is kept between batches.
///
/// The probed tensors become extra graph outputs of a private copy of the model, so the plan
/// materialises them even where it would otherwise fuse them away.
///
/// Thread-safety: one thread at a time.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/engine/host_tensor.h"
#include "core/ir/graph.h"
#include "core/jobs/job_context.h"
#include "core/util/status.h"

namespace wh::algo {

struct ProbeOptions {
    int threads = 0;
    int64_t batch = 64;
    std::map<std::string, engine::Dims> inputShapes;
};

/// Called once per batch: `outputs[k]` is the model's k-th graph output followed by the
/// probed tensors in the order asked; `labels` the batch's labels.
using ProbeSink = std::function<Status(std::span<const engine::HostTensor> outputs,
                                       std::span<const int64_t> labels)>;

class ModelProbe {
public:
    /// kBadInput when a tensor name is not a value of the model's main graph, or the model has
    /// no input to feed.
    static Expected<ModelProbe> create(const ir::Model& model,
                                       const std::vector<std::string>& tensors,
                                       const ProbeOptions& options = {});
    ModelProbe(ModelProbe&&) noexcept;
    ModelProbe& operator=(ModelProbe&&) noexcept;
    ~ModelProbe();

    /// How many of the outputs are the model's own (the probed tensors follow).
    std::size_t modelOutputs() const;

    /// Feeds `indices` of `dataset` in batches; progress on `job` (fraction of `indices` with
    /// `stage`), cancellation between batches (kCancelled).
    Status run(const data::Dataset& dataset, std::span<const int64_t> indices,
               const ProbeSink& sink, jobs::JobContext* job = nullptr,
               const std::string& stage = "calibrating");

private:
    struct Impl;
    explicit ModelProbe(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

/// `count` sample indices drawn evenly per class and repeatably from `seed`
/// (quant::balancedSampleIndices over the dataset's labels); all samples when count >= size.
std::vector<int64_t> calibrationIndices(const data::Dataset& dataset, int64_t count,
                                        uint64_t seed);

}  // namespace wh::algo
