// whittle-cli eval, run, bench: the engine from the command line (shared/CLI.md).

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/cli_common.h"
#include "core/algo/layer_error.h"  // datasetNormalization
#include "core/analysis/accuracy.h"
#include "core/data/dataset.h"
#include "core/data/npy.h"
#include "core/engine/benchmark.h"
#include "core/engine/plan.h"
#include "core/onnx/model_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace wh::cli {

namespace {

// Options every dataset-reading command shares.
struct DatasetArgs {
    std::string name;
    std::string split = "test";
    std::string dataDir;
    std::vector<float> mean;
    std::vector<float> std;

    void add(CLI::App* sub, bool required) {
        auto* opt = sub->add_option("--dataset", name, "fashion-mnist, mnist or folder:PATH");
        if (required) opt->required();
        sub->add_option("--split", split, "train or test")->capture_default_str();
        sub->add_option("--data-dir", dataDir, "folder holding the IDX files");
        sub->add_option("--mean", mean, "per-channel mean after scaling to [0, 1]");
        sub->add_option("--std", std, "per-channel standard deviation");
    }
    // A folder's images at the model's input size and channels (algo::openDatasetFor).
    Expected<std::shared_ptr<data::Dataset>> open(const ir::Model& model) const {
        return algo::openDatasetFor(model, name, split, dataDir, mean, std);
    }
};

constexpr const char* kShapeHelp =
    "NAME=D0,D1,... dims of an input with symbolic dims (repeat per input)";

}  // namespace

void addEvalCommand(CLI::App& app, Context& ctx) {
    struct Args {
        std::string model;
        DatasetArgs dataset;
        analysis::AccuracyOptions options;
        MemoryArgs memory;
        std::vector<std::string> shapes;
    };
    auto args = std::make_shared<Args>();
    CLI::App* sub = addCommand(app, ctx, "eval", "Accuracy of a model on a dataset", [&ctx, args] {
        if (Status s = args->memory.apply(); !s.isOk()) return fail(s);
        auto shapes = parseShapes(args->shapes);
        if (!shapes) return fail(shapes.error());
        args->options.inputShapes = std::move(*shapes);
        auto model = onnx::loadModel(args->model);
        if (!model) return fail(model.error());
        auto dataset = args->dataset.open(*model);
        if (!dataset) return fail(dataset.error());
        return runWithProgress("eval", [&](jobs::JobContext& job) {
            auto r = analysis::evaluateAccuracy(*model, **dataset, args->options, &job);
            if (!r) return fail(r.error());
            if (ctx.json)
                printJson({{"accuracy", r->accuracy},
                           {"samples", r->samples},
                           {"correct", r->correct},
                           {"seconds", r->seconds}});
            else
                std::printf("accuracy %.4f (%lld / %lld) in %.2f s\n", r->accuracy,
                            static_cast<long long>(r->correct), static_cast<long long>(r->samples),
                            r->seconds);
            return 0;
        });
    });
    sub->add_option("MODEL", args->model, "ONNX file")->required();
    args->dataset.add(sub, true);
    sub->add_option("--limit", args->options.limit, "first N samples only (0 = all)");
    sub->add_option("--batch", args->options.batch, "batch size")->capture_default_str();
    sub->add_option("--threads", args->options.threads, "compute threads (0 = all cores)");
    sub->add_option("--shape", args->shapes, kShapeHelp);
    args->memory.add(sub);
}

void addRunCommand(CLI::App& app, Context& ctx) {
    struct Args {
        std::string model;
        std::vector<std::string> inputs;
        std::string outputDir;
        int threads = 0;
        MemoryArgs memory;
        std::vector<std::string> shapes;
    };
    auto args = std::make_shared<Args>();
    CLI::App* sub = addCommand(app, ctx, "run", "Run a model once on .npy inputs", [&ctx, args] {
        auto in = loadEngineInputs(args->model, args->memory, args->shapes);
        if (!in) return fail(in.error());
        const auto* shapes = &in->shapes;
        const ir::Model* model = &in->model;
        std::map<std::string, engine::HostTensor> feeds;
        for (const std::string& spec : args->inputs) {
            const auto eq = spec.find('=');
            if (eq == std::string::npos || eq == 0)
                return fail(
                    makeStatus(StatusCode::kUsage, "--input '{}' is not NAME=FILE.npy", spec));
            auto t = data::readNpy(spec.substr(eq + 1));
            if (!t) return fail(t.error());
            feeds[spec.substr(0, eq)] = std::move(*t);
        }
        engine::PlanOptions po;
        po.threads = args->threads;
        for (const auto& [name, t] : feeds) po.inputShapes[name] = t.dims();
        // A given shape wins: the plan is compiled for it, and a feed that differs is refused.
        for (const auto& [name, dims] : *shapes) {
            if (!feeds.count(name))
                return fail(makeStatus(StatusCode::kUsage,
                                       "{}: --shape names '{}', which is not given by --input",
                                       args->model, name));
            po.inputShapes[name] = dims;
        }
        auto plan = engine::Plan::compile(*model, po);
        if (!plan) return fail(plan.error());
        std::vector<engine::HostTensor> ordered;
        for (const std::string& name : plan->inputNames()) {
            auto it = feeds.find(name);
            if (it == feeds.end())
                return fail(makeStatus(StatusCode::kUsage,
                                       "{}: input '{}' was not given (--input {}=FILE.npy)",
                                       args->model, name, name));
            ordered.push_back(it->second);
            feeds.erase(it);
        }
        if (!feeds.empty())
            return fail(makeStatus(StatusCode::kUsage, "{}: the model has no input '{}'",
                                   args->model, feeds.begin()->first));
        auto outputs = plan->run(ordered);
        if (!outputs) return fail(outputs.error());
        std::error_code ec;
        fs::create_directories(args->outputDir, ec);
        json list = json::array();
        for (std::size_t i = 0; i < outputs->size(); ++i) {
            std::string file = plan->outputNames()[i];
            for (char& c : file)
                if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' &&
                    c != '.')
                    c = '_';
            const fs::path path = fs::path(args->outputDir) / (file + ".npy");
            const engine::HostTensor& t = (*outputs)[i];
            Status s = data::writeNpy(path, t);
            if (!s.isOk()) return fail(s);
            list.push_back({{"name", plan->outputNames()[i]},
                            {"dtype", std::string(ir::dtypeName(t.dtype()))},
                            {"shape", t.dims()},
                            {"file", path.string()}});
        }
        if (ctx.json)
            printJson({{"outputs", list}});
        else
            for (const auto& o : list)
                std::printf("%s %s %s -> %s\n", o["name"].get<std::string>().c_str(),
                            o["dtype"].get<std::string>().c_str(), o["shape"].dump().c_str(),
                            o["file"].get<std::string>().c_str());
        return 0;
    });
    sub->add_option("MODEL", args->model, "ONNX file")->required();
    sub->add_option("--input", args->inputs, "NAME=FILE.npy (repeat per input)");
    sub->add_option("--output-dir", args->outputDir, "folder for OUTPUT.npy files")->required();
    sub->add_option("--threads", args->threads, "compute threads (0 = all cores)");
    sub->add_option("--shape", args->shapes, kShapeHelp);
    args->memory.add(sub);
}

void addBenchCommand(CLI::App& app, Context& ctx) {
    struct Args {
        std::string model;
        engine::BenchOptions options;
        MemoryArgs memory;
        std::vector<std::string> shapes;
    };
    auto args = std::make_shared<Args>();
    CLI::App* sub = addCommand(app, ctx, "bench", "Inference latency", [&ctx, args] {
        auto in = loadEngineInputs(args->model, args->memory, args->shapes);
        if (!in) return fail(in.error());
        args->options.shapes = std::move(in->shapes);
        return runWithProgress("bench", [&](jobs::JobContext& job) {
            auto r = engine::benchmark(in->model, args->options, &job);
            if (!r) return fail(r.error());
            if (ctx.json)
                printJson({{"batch", r->batch},
                           {"threads", r->threads},
                           {"p50_ms", r->p50Ms},
                           {"mean_ms", r->meanMs},
                           {"min_ms", r->minMs},
                           {"iterations", args->options.iterations},
                           {"peak_rss_bytes", r->peakRssBytes}});
            else
                std::printf(
                    "batch %lld, threads %d: p50 %.3f ms, mean %.3f ms, min %.3f ms; "
                    "peak RSS %.1f MiB\n",
                    static_cast<long long>(r->batch), r->threads, r->p50Ms, r->meanMs, r->minMs,
                    static_cast<double>(r->peakRssBytes) / (1 << 20));
            return 0;
        });
    });
    sub->add_option("MODEL", args->model, "ONNX file")->required();
    sub->add_option("--batch", args->options.batch, "batch size")->capture_default_str();
    sub->add_option("--threads", args->options.threads, "compute threads (0 = all cores)");
    sub->add_option("--iters", args->options.iterations, "timed runs")->capture_default_str();
    sub->add_option("--shape", args->shapes,
                    "NAME=D0,D1,... dims of an input (repeat per input); without it only dim 0 "
                    "of an input may be symbolic (it takes --batch)");
    args->memory.add(sub);
}

}  // namespace wh::cli
