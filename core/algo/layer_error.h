#pragma once
/// Per-layer error of a compressed model against its float original: for every node of the
/// original whose output tensor the compressed model still has (by name: our QDQ exports and
/// pruned exports keep the names of the float tensors), the signal-to-quantisation-noise ratio
///     SQNR = 10 log10( sum(ref^2) / sum((ref - compressed)^2) )  dB
/// of that tensor over the same calibration samples (both models probed with ModelProbe, one
/// batch at a time). Tensors whose shapes differ (channels removed by pruning) are skipped.
/// The studio's Visualization dock colours nodes by it; sensitivity analysis ranks layers by it.
///
/// Thread-safety: reads both models; one call per thread.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/algo/probe.h"
#include "core/data/dataset.h"
#include "core/ir/graph.h"
#include "core/jobs/job_context.h"
#include "core/util/status.h"

namespace wh::algo {

struct LayerError {
    std::string node;  ///< node name in the original
    std::string op;
    std::string tensor;  ///< its output 0, compared
    double sqnrDb = 0;   ///< +infinity when identical
};

struct LayerErrorOptions {
    int64_t samples = 64;  ///< calibration samples (balanced per class, calibrationIndices)
    uint64_t seed = 0;
    ProbeOptions probe;  ///< batch, threads, shapes
};

/// One entry per compared node, in the original's graph order. kBadInput when no tensor is
/// shared; kCancelled through `job`.
Expected<std::vector<LayerError>> layerErrors(const ir::Model& original,
                                              const ir::Model& compressed,
                                              const data::Dataset& dataset,
                                              const LayerErrorOptions& options = {},
                                              jobs::JobContext* job = nullptr);

/// The normalisation compress and its analyses apply to dataset `name` ("fashion-mnist": the
/// training set's mean and deviation; a folder of RGB images (`channels` 3): ImageNet's, as
/// torchvision's models expect; others: none).
data::Normalization datasetNormalization(const std::string& name, int channels = 1);

/// Opens dataset `name` (data::openDataset) for `model`: a folder's images are read at the size
/// and channel count of the model's first fed input when it is NCHW with C 1 or 3 and H, W
/// known (torchvision's 3x224x224), else 1x28x28; normalised as datasetNormalization() says,
/// with `mean` / `std` replacing its values when not empty (the CLI's --mean / --std).
Expected<std::shared_ptr<data::Dataset>> openDatasetFor(const ir::Model& model,
                                                        const std::string& name,
                                                        const std::string& split,
                                                        const std::filesystem::path& dataDir,
                                                        const std::vector<float>& mean = {},
                                                        const std::vector<float>& std = {});

}  // namespace wh::algo
