// whittle-cli compress and algorithms: run a recipe (shared/CLI.md), list what is registered.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "app/cli_common.h"
#include "core/algo/compress.h"
#include "core/algo/plugin_loader.h"
#include "core/algo/recipe.h"
#include "core/algo/registry.h"
#include "core/onnx/model_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace wh::cli {

namespace {

struct CompressArgs {
    std::string model;
    std::string recipe;
    std::string output;
    std::string dataset;
    std::string dataDir;
    std::vector<std::string> shapes;
    int64_t evalLimit = 0;
    int threads = 0;
};

class EpochLines : public train::Callback {
public:
    Status onEpochEnd(train::Trainer&, const train::EpochMetrics& m) override {
        std::fprintf(stderr, "epoch %d: loss %.4f, %.0f images/s\n", m.epoch + 1, m.trainLoss,
                     m.imagesPerSecond);
        return Status::ok();
    }
};

json optionalNumber(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

int runCompress(const CompressArgs& a, const Context& ctx) {
    auto recipe = algo::loadRecipeFile(a.recipe, algo::Registry::global());
    if (!recipe) return fail(recipe.error());
    auto shapes = parseShapes(a.shapes);
    if (!shapes) return fail(shapes.error());
    if (Status s = refuseToOverwriteInput(a.model, a.output); !s.isOk()) return fail(s);
    auto model = onnx::loadModel(a.model);
    if (!model) return fail(model.error());

    return runWithProgress("compress", [&](jobs::JobContext& job) -> int {
        EpochLines lines;
        algo::CompressOptions o;
        o.recipe = *recipe;
        o.dataset = a.dataset;
        o.dataDir = a.dataDir;
        o.evaluate = !a.dataset.empty();
        o.evalLimit = a.evalLimit;
        o.threads = a.threads;
        o.inputShapes = *shapes;
        o.output = a.output;
        o.input = a.model;
        o.job = &job;
        o.callbacks = {&lines};
        auto r = algo::compress(*model, o);
        if (!r) return fail(r.error());
        const algo::VerifyReport& v = r->verify;
        if (!v.verified)
            std::fprintf(stderr, "whittle-cli: warning: %s: not verified: %s\n", a.output.c_str(),
                         v.message.c_str());
        int changed = r->apply.changed();
        json skipped = json::array();
        for (const algo::ScopeEntry& e : r->apply.scope)
            if (!e.included) skipped.push_back({{"name", e.name}, {"op", e.op}, {"reason", e.reason}});
        json j{{"algorithm", r->algorithm},
               {"accuracy_before", optionalNumber(r->accuracyBefore)},
               {"accuracy_after", optionalNumber(r->accuracyAfter)},
               {"bytes_before", r->bytesBefore},
               {"bytes_after", r->bytesAfter},
               {"flops_before", r->flopsBefore},
               {"flops_after", r->flopsAfter},
               {"params_before", r->paramsBefore},
               {"params_after", r->paramsAfter},
               {"verified", v.verified},
               {"verify",
                {{"samples", v.samples},
                 {"max_abs_diff", v.maxAbsDiff},
                 {"top1_agreement", v.top1Agreement},
                 {"float_top1_agreement", v.floatAgreement},
                 {"latency_ms_before", v.latencyMsBefore},
                 {"latency_ms_after", v.latencyMsAfter},
                 {"message", v.message}}},
               {"nodes_changed", changed},
               {"skipped", skipped},
               {"notes", r->apply.notes},
               {"seconds", r->seconds},
               {"timings",
                {{"apply_seconds", r->applySeconds},
                 {"train_seconds", r->trainSeconds},
                 {"convert_seconds", r->convertSeconds}}},
               {"output", a.output},
               {"recipe", r->recipePath.string()}};
        if (!r->apply.layers.empty()) {
            json layers = json::array();
            for (const algo::LayerMetric& m : r->apply.layers)
                layers.push_back({{"name", m.name}, {"op", m.op}, {m.metric, m.value}});
            j["layers"] = layers;
        }
        if (r->training) {
            j["train"] = {{"steps", r->training->steps},
                          {"final_loss", r->training->finalLoss},
                          {"images_per_second", r->training->imagesPerSecond},
                          {"steady_images_per_second", r->training->steadyImagesPerSecond}};
        }
        if (ctx.json) {
            printJson(j);
        } else {
            std::printf("wrote %s (%s): %d nodes changed, %lld -> %lld bytes%s%s\n",
                        a.output.c_str(), r->algorithm.c_str(), changed,
                        static_cast<long long>(r->bytesBefore),
                        static_cast<long long>(r->bytesAfter),
                        r->accuracyBefore ? fmt::format(", accuracy {:.4f} -> {:.4f}",
                                                        *r->accuracyBefore,
                                                        r->accuracyAfter.value_or(0))
                                                .c_str()
                                          : "",
                        v.verified ? ", verified" : ", NOT verified");
        }
        return 0;
    });
}

json paramJson(const algo::ParamSpec& s) {
    json j{{"name", s.name}, {"type", algo::paramTypeName(s.type)},
           {"default", json::parse(algo::paramValueJson(s.defaultValue))}, {"help", s.help}};
    if (s.type == algo::ParamType::kInt || s.type == algo::ParamType::kFloat) {
        if (std::isfinite(s.min)) j["min"] = s.min;
        if (std::isfinite(s.max)) j["max"] = s.max;
    }
    if (!s.choices.empty()) j["choices"] = s.choices;
    if (!s.aliases.empty()) j["aliases"] = s.aliases;
    return j;
}

int runAlgorithms(const Context& ctx) {
    json list = json::array();
    for (const auto& a : algo::Registry::global().all()) {
        json params = json::array();
        for (const algo::ParamSpec& s : a->params) params.push_back(paramJson(s));
        list.push_back({{"name", a->name},
                        {"title", a->title},
                        {"description", a->description},
                        {"trains", a->training.trains},
                        {"ops", a->supportedOps},
                        {"origin", a->origin},
                        {"params", params}});
    }
    if (ctx.json) {
        printJson({{"algorithms", list}});
        return 0;
    }
    for (const auto& a : algo::Registry::global().all()) {
        std::printf("%-8s %s\n", a->name.c_str(), a->title.c_str());
        for (const algo::ParamSpec& s : a->params)
            std::printf("    %-22s %-6s default %-10s %s\n", s.name.c_str(),
                        std::string(algo::paramTypeName(s.type)).c_str(),
                        algo::paramValueText(s.defaultValue).c_str(), s.help.c_str());
    }
    return 0;
}

}  // namespace

void loadPluginsWithWarnings() {
    for (const algo::PluginLoadResult& r : algo::loadDefaultPlugins())
        if (!r.error.empty()) std::fprintf(stderr, "whittle-cli: warning: %s\n", r.error.c_str());
}

void addCompressCommand(CLI::App& app, Context& ctx) {
    auto a = std::make_shared<CompressArgs>();
    auto memory = std::make_shared<MemoryArgs>();
    CLI::App* sub = addCommand(app, ctx, "compress",
                               "Apply a recipe: apply, train, convert, export and verify",
                               [&ctx, a, memory] {
                                   if (Status s = memory->apply(); !s.isOk()) return fail(s);
                                   return runCompress(*a, ctx);
                               });
    memory->add(sub);
    sub->add_option("MODEL", a->model, "ONNX model to compress (never overwritten)")->required();
    sub->add_option("--recipe", a->recipe, "recipe JSON (shared/CLI.md)")->required();
    sub->add_option("-o,--output", a->output, "ONNX file to write (and OUT.recipe.json)")
        ->required();
    sub->add_option("--dataset", a->dataset,
                    "data for calibration/training (overrides the recipe's) and accuracy "
                    "before/after: fashion-mnist, mnist or folder:PATH");
    sub->add_option("--data-dir", a->dataDir, "folder holding the IDX files");
    sub->add_option("--eval-limit", a->evalLimit, "accuracy on the first N test samples only");
    sub->add_option("--threads", a->threads, "compute threads (0 = all cores)");
    sub->add_option("--shape", a->shapes, "NAME=D0,D1,...: dims of a symbolic input");

    addCommand(app, ctx, "algorithms", "List the registered algorithms and their parameters",
               [&ctx] { return runAlgorithms(ctx); });
}

}  // namespace wh::cli
