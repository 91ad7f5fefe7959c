#pragma once
/// The compression pipeline: apply → (calibrate / train) → convert → export → verify, as one
/// job. `whittle-cli compress` is a thin wrapper over it; the studio's Algorithm dock will run
/// the same function.
///
///   1. the recipe's datasets are opened (training split: calibration and training; test
///      split: accuracy before and after, when `evaluate`);
///   2. Algorithm::apply through a Rewriter, as one undo group ("Apply <algorithm>");
///   3. training with the algorithm's callbacks when the recipe trains (train::RecipeRunner);
///   4. Algorithm::convert, again one group; opset imports updated;
///   5. the deploy model is written atomically to `output` (never over the input), read back,
///      and run on our engine beside the in-memory deploy model: `verified` when both agree
///      (max |difference| of the outputs ≤ 1e-5 relative to their range, same top-1 on every
///      sample). The figures: bytes, FLOPs, parameters, latency, accuracy before and after,
///      top-1 agreement with the float model;
///   6. OUT.recipe.json (the recipe with every default) is written beside the export.
///
/// Cancellation (JobContext::requestCancel, Ctrl+C) ends the run with kCancelled and leaves no
/// output file.
///
/// Thread-safety: one run per thread; it reads `model` and writes only `output` and its recipe.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/algo/algorithm.h"
#include "core/algo/recipe.h"
#include "core/engine/host_tensor.h"
#include "core/ir/graph.h"
#include "core/jobs/job_context.h"
#include "core/train/trainer.h"
#include "core/util/status.h"

namespace wh::algo {

struct CompressOptions {
    Recipe recipe;
    /// Overrides recipe.dataset.name / dataDir when not empty (`--dataset`, `--data-dir`).
    std::string dataset;
    std::string dataDir;
    /// Accuracy before and after on the test split.
    bool evaluate = false;
    int64_t evalLimit = 0;        ///< > 0: the first N test samples only
    /// Also evaluate after every training epoch (evalLimit samples), so that callbacks see
    /// EpochMetrics::testAccuracy (the studio's live accuracy curve).
    bool evaluateWhileTraining = false;
    int64_t verifySamples = 256;  ///< test samples compared in verification
    int threads = 0;
    std::map<std::string, engine::Dims> inputShapes;
    /// Where to write; empty = do not write (then nothing is verified against a file).
    std::filesystem::path output;
    /// The file the model came from: never written over.
    std::filesystem::path input;
    jobs::JobContext* job = nullptr;
    /// Extra training callbacks (the CLI's per-epoch lines, the studio's charts); not owned.
    std::vector<train::Callback*> callbacks;
};

struct VerifyReport {
    bool verified = false;
    double maxAbsDiff = 0;       ///< reloaded file vs the in-memory deploy model
    double top1Agreement = 0;    ///< reloaded file vs the in-memory deploy model
    double floatAgreement = 0;   ///< deploy vs the float model: same top-1, fraction
    int64_t samples = 0;
    double latencyMsBefore = 0;  ///< batch 1, median, our engine
    double latencyMsAfter = 0;
    std::string message;         ///< why not verified
};

struct CompressResult {
    std::string algorithm;
    ApplyReport apply;
    std::optional<double> accuracyBefore;
    std::optional<double> accuracyAfter;
    int64_t bytesBefore = 0;
    int64_t bytesAfter = 0;
    int64_t flopsBefore = 0;
    int64_t flopsAfter = 0;
    int64_t paramsBefore = 0;
    int64_t paramsAfter = 0;
    std::optional<train::TrainMetrics> training;
    VerifyReport verify;
    std::string recipeJson;  ///< what OUT.recipe.json holds
    std::filesystem::path recipePath;
    ir::Model model;         ///< the deploy model
    double seconds = 0;
    /// Wall time of the stages: apply (calibration included), training, convert.
    double applySeconds = 0;
    double trainSeconds = 0;
    double convertSeconds = 0;
};

Expected<CompressResult> compress(const ir::Model& model, const CompressOptions& options);

/// OUT.recipe.json for OUT.onnx (the extension replaced), or OUT + ".recipe.json".
std::filesystem::path recipePathFor(const std::filesystem::path& output);

}  // namespace wh::algo
