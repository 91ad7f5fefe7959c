// whittle-cli sensitivity: compress one layer at a time with a recipe, the rest float, and rank
// the layers by the accuracy they cost (shared/CLI.md); --exclude K writes the recipe that
// leaves the K most sensitive layers float.

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "app/cli_common.h"
#include "core/algo/recipe.h"
#include "core/algo/registry.h"
#include "core/algo/sensitivity.h"
#include "core/onnx/model_io.h"
#include "core/util/atomic_file.h"

using nlohmann::json;

namespace wh::cli {

namespace {

struct SensitivityArgs {
    std::string model;
    std::string recipe;
    std::string dataset;
    std::string dataDir;
    std::vector<std::string> shapes;
    int64_t evalLimit = 1000;
    int64_t errorSamples = 64;
    int threads = 0;
    int exclude = 0;
    std::string writeRecipe;
};

json finiteOrNull(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

int runSensitivity(const SensitivityArgs& a, const Context& ctx) {
    auto recipe = algo::loadRecipeFile(a.recipe, algo::Registry::global());
    if (!recipe) return fail(recipe.error());
    auto shapes = parseShapes(a.shapes);
    if (!shapes) return fail(shapes.error());
    if (a.exclude < 0 || (a.exclude > 0) != !a.writeRecipe.empty())
        return fail(makeStatus(StatusCode::kUsage,
                               "--exclude K and --write-recipe FILE go together (K > 0)"));
    if (!a.writeRecipe.empty() && a.writeRecipe == a.recipe)
        return fail(makeStatus(StatusCode::kUsage, "{}: refusing to overwrite the input recipe",
                               a.writeRecipe));
    auto model = onnx::loadModel(a.model);
    if (!model) return fail(model.error());
    return runWithProgress("sensitivity", [&](jobs::JobContext& job) -> int {
        algo::SensitivityOptions o;
        o.dataset = a.dataset;
        o.dataDir = a.dataDir;
        o.evalLimit = a.evalLimit;
        o.errorSamples = a.errorSamples;
        o.threads = a.threads;
        o.inputShapes = *shapes;
        o.job = &job;
        auto r = algo::layerSensitivity(*model, *recipe, o);
        if (!r) return fail(r.error());
        if (!a.writeRecipe.empty()) {
            const algo::Recipe out = algo::excludeMostSensitive(*recipe, *r, a.exclude);
            if (Status s = util::writeAtomically(a.writeRecipe, algo::recipeToJson(out));
                !s.isOk())
                return fail(s);
        }
        json layers = json::array();
        for (const algo::LayerSensitivity& l : r->layers)
            layers.push_back({{"name", l.node},
                              {"op", l.op},
                              {"accuracy", l.accuracy},
                              {"accuracy_drop", l.accuracyDrop},
                              {"sqnr_db", finiteOrNull(l.sqnrDb)}});
        json skipped = json::array();
        for (const algo::ScopeEntry& e : r->skipped)
            skipped.push_back({{"name", e.name}, {"op", e.op}, {"reason", e.reason}});
        if (ctx.json) {
            printJson({{"algorithm", r->algorithm},
                       {"baseline_accuracy", r->baselineAccuracy},
                       {"samples", r->samples},
                       {"layers", layers},
                       {"skipped", skipped},
                       {"seconds", r->seconds},
                       {"recipe", a.writeRecipe.empty() ? json(nullptr) : json(a.writeRecipe)}});
            return 0;
        }
        std::printf("%s, one layer at a time: float accuracy %.4f on %lld test samples\n\n",
                    r->algorithm.c_str(), r->baselineAccuracy,
                    static_cast<long long>(r->samples));
        std::printf("%-36s %-14s %9s %9s %9s\n", "layer (most sensitive first)", "op", "accuracy",
                    "change", "SQNR dB");
        for (const algo::LayerSensitivity& l : r->layers)
            std::printf("%-36s %-14s %9.4f %+9.4f %9.1f\n", l.node.substr(0, 36).c_str(),
                        l.op.c_str(), l.accuracy, -l.accuracyDrop, l.sqnrDb);
        if (!a.writeRecipe.empty())
            std::printf("\nwrote %s: the %d most sensitive layers excluded\n",
                        a.writeRecipe.c_str(), a.exclude);
        return 0;
    });
}

}  // namespace

void addSensitivityCommand(CLI::App& app, Context& ctx) {
    auto a = std::make_shared<SensitivityArgs>();
    auto memory = std::make_shared<MemoryArgs>();
    CLI::App* sub = addCommand(app, ctx, "sensitivity",
                               "Compress one layer at a time (the rest float) and rank the layers",
                               [&ctx, a, memory] {
                                   if (Status s = memory->apply(); !s.isOk()) return fail(s);
                                   return runSensitivity(*a, ctx);
                               });
    memory->add(sub);
    sub->add_option("MODEL", a->model, "ONNX model")->required();
    sub->add_option("--recipe", a->recipe, "recipe JSON (shared/CLI.md): algorithm and scope")
        ->required();
    sub->add_option("--dataset", a->dataset,
                    "calibration and test data (overrides the recipe's): fashion-mnist, mnist or "
                    "folder:PATH");
    sub->add_option("--data-dir", a->dataDir, "folder holding the IDX files");
    sub->add_option("--eval-limit", a->evalLimit,
                    "test samples per accuracy (0 = all; default 1000)");
    sub->add_option("--error-samples", a->errorSamples,
                    "calibration samples of the output SQNR (default 64)");
    sub->add_option("--threads", a->threads, "compute threads (0 = all cores)");
    sub->add_option("--shape", a->shapes, "NAME=D0,D1,...: dims of a symbolic input");
    sub->add_option("--exclude", a->exclude,
                    "with --write-recipe: leave the K most sensitive layers float");
    sub->add_option("--write-recipe", a->writeRecipe,
                    "write the recipe with those layers in select.exclude_nodes");
}

}  // namespace wh::cli
