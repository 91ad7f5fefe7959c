#pragma once
/// Layer sensitivity: how much each layer alone costs when a recipe compresses it. For every
/// node the recipe would change (its scope, resolveScope), the model is compressed with the
/// recipe restricted to that node — the rest stays float — and measured:
///  - accuracy on the first `evalLimit` test samples, and its drop from the float model's;
///  - the SQNR of the model's output(s) against the float model's on `errorSamples`
///    calibration samples (layerErrors; the worst output when there are several).
/// Layers come out most sensitive first (largest accuracy drop, then lowest SQNR). The studio's
/// Sensitivity chart and `whittle-cli sensitivity` show it; excludeMostSensitive() turns it into
/// a recipe that leaves the k worst layers float (automatic mixed precision, the simple way).
///
/// Lives in core/algo, not core/analysis as DESIGN.md sketches: it runs compress(), which itself
/// uses analysis (accuracy, cost), so analysis cannot depend on it.
///
/// Cost: one compress() and one evaluation per layer (PTQ of a ResNet-20 layer: about a second).
/// Cancel through `job` between and inside layers; progress = layers done / layers.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/algo/algorithm.h"
#include "core/algo/recipe.h"
#include "core/ir/graph.h"
#include "core/jobs/job_context.h"
#include "core/util/status.h"

namespace wh::algo {

struct SensitivityOptions {
    std::string dataset;  ///< overrides the recipe's dataset when not empty
    std::string dataDir;
    int64_t evalLimit = 1000;   ///< test samples per accuracy; 0 = the whole test split
    int64_t errorSamples = 64;  ///< calibration samples of the output SQNR
    int threads = 0;
    /// Dims of symbolic inputs; the recipe's input_shapes fill in the rest.
    std::map<std::string, engine::Dims> inputShapes;
    jobs::JobContext* job = nullptr;
};

struct LayerSensitivity {
    std::string node;
    std::string op;
    double accuracy = 0;      ///< with only this layer compressed
    double accuracyDrop = 0;  ///< baseline − accuracy (negative: it helped)
    double sqnrDb = 0;        ///< of the model's output; +infinity when unchanged
};

struct SensitivityReport {
    std::string algorithm;
    double baselineAccuracy = 0;
    int64_t samples = 0;  ///< test samples per accuracy
    std::vector<LayerSensitivity> layers;  ///< most sensitive first
    std::vector<ScopeEntry> skipped;       ///< in the recipe's scope but not measurable (no name)
    double seconds = 0;
};

/// kBadInput when the recipe's scope is empty; the errors of compress() and of the evaluation
/// (naming the layer); kCancelled through options.job.
Expected<SensitivityReport> layerSensitivity(const ir::Model& model, const Recipe& recipe,
                                             const SensitivityOptions& options = {});

/// `recipe` with the `k` most sensitive layers of `report` added to select.exclude_nodes (those
/// already there kept, none twice).
Recipe excludeMostSensitive(Recipe recipe, const SensitivityReport& report, int k);

}  // namespace wh::algo
