#include "core/algo/sensitivity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "core/algo/compress.h"
#include "core/algo/layer_error.h"
#include "core/analysis/accuracy.h"
#include "core/data/dataset.h"

namespace wh::algo {

namespace {

using Clock = std::chrono::steady_clock;

// Runs `work` with a JobContext of its own whose progress fills [from, to) of `parent`'s and
// which is cancelled when `parent` is (polled every 20 ms on a watcher thread).
template <class F>
auto withChildJob(jobs::JobContext* parent, double from, double to, const std::string& stage,
                  F&& work) {
    jobs::JobContext child;
    if (!parent) return work(&child);
    parent->setProgress(from, stage);
    std::atomic<bool> done{false};
    std::thread watcher([&] {
        while (!done.load()) {
            if (parent->isCancelled()) child.requestCancel();
            parent->setProgress(from + (to - from) * child.fraction());
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });
    auto result = work(&child);
    done.store(true);
    watcher.join();
    return result;
}

}  // namespace

Expected<SensitivityReport> layerSensitivity(const ir::Model& model, const Recipe& recipe,
                                             const SensitivityOptions& options) {
    const auto start = Clock::now();
    if (!recipe.algorithm) return error(StatusCode::kUsage, "the recipe names no algorithm");
    SensitivityReport report;
    report.algorithm = recipe.algorithm->name;
    jobs::JobContext* job = options.job;

    // The layers: what the recipe would change, by name (a recipe names its nodes).
    std::vector<ScopeEntry> layers;
    for (ScopeEntry& e :
         resolveScope(*model.graph, recipe.select, recipe.algorithm->supportedOps)) {
        if (!e.included) continue;
        if (e.name.empty()) {
            e.included = false;
            e.reason = "no name: a recipe cannot select it alone";
            report.skipped.push_back(std::move(e));
        } else {
            layers.push_back(std::move(e));
        }
    }
    if (layers.empty())
        return error(StatusCode::kBadInput, "the recipe selects no node that '{}' can change",
                     recipe.algorithm->name);

    const std::map<std::string, engine::Dims> shapes = inputShapesFor(recipe, options.inputShapes);
    const std::string datasetName = options.dataset.empty() ? recipe.dataset.name : options.dataset;
    const std::string dataDir = options.dataDir.empty() ? recipe.dataset.dataDir : options.dataDir;
    WH_ASSIGN_OR_RETURN(auto testSet, openDatasetFor(model, datasetName, "test", dataDir));
    WH_ASSIGN_OR_RETURN(auto calibration,
                        openDatasetFor(model, datasetName, recipe.dataset.split, dataDir));

    analysis::AccuracyOptions ao;
    ao.threads = options.threads;
    ao.limit = options.evalLimit;
    ao.inputShapes = shapes;
    const double steps = static_cast<double>(layers.size()) + 1.0;
    WH_ASSIGN_OR_RETURN(
        const analysis::AccuracyResult baseline,
        withChildJob(job, 0.0, 1.0 / steps, "float model accuracy", [&](jobs::JobContext* j) {
            return evaluateAccuracy(model, *testSet, ao, j);
        }));
    report.baselineAccuracy = baseline.accuracy;
    report.samples = baseline.samples;

    LayerErrorOptions eo;
    eo.samples = options.errorSamples;
    eo.seed = recipe.seed;
    eo.probe.threads = options.threads;
    eo.probe.inputShapes = shapes;
    std::set<std::string> outputs;
    for (const ir::Value* v : model.graph->outputs()) outputs.insert(v->name());

    for (std::size_t i = 0; i < layers.size(); ++i) {
        if (job) WH_RETURN_IF_ERROR(job->checkCancelled());
        const ScopeEntry& layer = layers[i];
        const double from = (static_cast<double>(i) + 1.0) / steps;
        auto measured = withChildJob(
            job, from, from + 1.0 / steps,
            fmt::format("layer {} of {}: {}", i + 1, layers.size(), layer.name),
            [&](jobs::JobContext* j) -> Expected<LayerSensitivity> {
                CompressOptions co;
                co.recipe = recipe;
                co.recipe.select = Selection{};
                co.recipe.select.nodes = {layer.name};
                co.dataset = datasetName;
                co.dataDir = dataDir;
                co.threads = options.threads;
                co.inputShapes = shapes;
                co.job = j;
                WH_ASSIGN_OR_RETURN(CompressResult compressed, compress(model, co));
                WH_ASSIGN_OR_RETURN(const analysis::AccuracyResult acc,
                                    analysis::evaluateAccuracy(compressed.model, *testSet, ao, j));
                WH_ASSIGN_OR_RETURN(const std::vector<LayerError> errors,
                                    layerErrors(model, compressed.model, *calibration, eo, j));
                LayerSensitivity s;
                s.node = layer.name;
                s.op = layer.op;
                s.accuracy = acc.accuracy;
                s.accuracyDrop = report.baselineAccuracy - acc.accuracy;
                s.sqnrDb = std::numeric_limits<double>::infinity();
                for (const LayerError& e : errors)
                    if (outputs.count(e.tensor)) s.sqnrDb = std::min(s.sqnrDb, e.sqnrDb);
                return s;
            });
        if (!measured) {
            if (measured.error().code() == StatusCode::kCancelled)
                return tl::unexpected(measured.error());
            return error(measured.error().code(), "layer '{}' ({}): {}", layer.name, layer.op,
                         measured.error().message());
        }
        report.layers.push_back(std::move(*measured));
    }
    std::stable_sort(report.layers.begin(), report.layers.end(),
                     [](const LayerSensitivity& a, const LayerSensitivity& b) {
                         if (a.accuracyDrop != b.accuracyDrop)
                             return a.accuracyDrop > b.accuracyDrop;
                         return a.sqnrDb < b.sqnrDb;
                     });
    if (job) job->setProgress(1.0, "done");
    report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return report;
}

Recipe excludeMostSensitive(Recipe recipe, const SensitivityReport& report, int k) {
    std::vector<std::string>& excluded = recipe.select.excludeNodes;
    for (int i = 0; i < k && i < static_cast<int>(report.layers.size()); ++i) {
        const std::string& name = report.layers[static_cast<std::size_t>(i)].node;
        if (std::find(excluded.begin(), excluded.end(), name) == excluded.end())
            excluded.push_back(name);
    }
    return recipe;
}

}  // namespace wh::algo
