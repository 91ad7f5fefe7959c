// whittle-cli: the headless contract of shared/CLI.md. stdout carries only the result (one JSON
// object with --json); errors are one line on stderr; exit codes 0 ok, 1 usage, 2 bad input,
// 3 unsupported, 4 cancelled.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "app/cli_common.h"
#include "app/omp_policy.h"
#include "core/ir/graph.h"
#include "core/layout/graph_layout.h"
#include "core/onnx/model_io.h"
#include "core/util/status.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using wh::cli::fail;
using wh::cli::printJson;

// The process ends right after a command; freeing a 100k-node model one object at a time
// costs a fifth of a second for nothing. The OS reclaims it at exit. A sanitizer build
// (WHITTLE_SANITIZE) keeps the fast exit and tells LeakSanitizer this one is deliberate.
void keepUntilExit(wh::ir::Model&& model) {
    auto* kept = new wh::ir::Model(std::move(model));
#if defined(__SANITIZE_ADDRESS__)
    __lsan_ignore_object(kept);
#else
    (void)kept;
#endif
}

json shapeJson(const wh::ir::Type& type) {
    if (!type.shape) return nullptr;
    json dims = json::array();
    for (const auto& d : type.shape->dims) {
        if (d.kind == wh::ir::Dim::Kind::kValue)
            dims.push_back(d.value);
        else if (d.kind == wh::ir::Dim::Kind::kParam)
            dims.push_back(d.param);
        else
            dims.push_back(nullptr);
    }
    return dims;
}

json valueJson(const wh::ir::Value& v) {
    json j;
    j["name"] = v.name();
    j["dtype"] = v.type.kind == wh::ir::Type::Kind::kTensor
                     ? std::string(wh::ir::dtypeName(v.type.elemType))
                     : v.type.toString();
    j["shape"] = shapeJson(v.type);
    return j;
}

// ---- info ------------------------------------------------------------------------------------

int runInfo(const std::string& path, bool asJson) {
    auto model = wh::onnx::loadModel(path);
    if (!model) return fail(model.error());
    const wh::ir::Graph& g = *model->graph;

    std::map<std::string, int64_t> ops;
    for (const wh::ir::Node* n : g.nodes()) {
        std::string key =
            n->domain.empty() || n->domain == "ai.onnx" ? n->opType : n->domain + "." + n->opType;
        ++ops[key];
    }
    int64_t params = 0;
    for (const wh::ir::Value* v : g.initializers())
        if (wh::ir::isParameter(v)) params += v->initializer()->numElements();
    for (const wh::ir::Node* n : g.nodes())
        if (n->opType == "Constant" && n->numOutputs() == 1 && wh::ir::isParameter(n->output(0)))
            params += wh::ir::constantTensor(n->output(0))->numElements();
    std::size_t functionNodes = 0;
    for (const auto& f : model->functions) functionNodes += f.body->numNodesRecursive();

    json j;
    j["file"] = path;
    j["ir_version"] = model->irVersion;
    j["opset"] = model->opsetVersion("");
    json opsets = json::object();
    for (const auto& o : model->opsetImports)
        opsets[o.domain.empty() ? "ai.onnx" : o.domain] = o.version;
    j["opsets"] = opsets;
    j["producer"] = model->producerName;
    j["producer_version"] = model->producerVersion;
    j["nodes"] = g.numNodes();
    j["nodes_total"] = g.numNodesRecursive();
    j["function_nodes"] = functionNodes;
    j["ops"] = ops;
    j["params"] = params;
    j["initializers"] = g.initializers().size();
    json inputs = json::array(), outputs = json::array();
    for (const wh::ir::Value* v : g.inputs())
        if (!v->hasInitializer()) inputs.push_back(valueJson(*v));
    for (const wh::ir::Value* v : g.outputs()) outputs.push_back(valueJson(*v));
    j["inputs"] = inputs;
    j["outputs"] = outputs;

    if (asJson) {
        printJson(j);
        keepUntilExit(std::move(*model));
        return 0;
    }
    std::printf("%s\n", path.c_str());
    std::printf("  producer   %s %s, IR %lld, opset %lld\n", model->producerName.c_str(),
                model->producerVersion.c_str(), static_cast<long long>(model->irVersion),
                static_cast<long long>(model->opsetVersion("")));
    std::printf("  nodes      %zu (%zu with subgraphs)\n", g.numNodes(), g.numNodesRecursive());
    std::printf("  params     %lld\n", static_cast<long long>(params));
    for (const auto& in : inputs)
        std::printf("  input      %s %s %s\n", in["name"].get<std::string>().c_str(),
                    in["dtype"].get<std::string>().c_str(), in["shape"].dump().c_str());
    for (const auto& out : outputs)
        std::printf("  output     %s %s %s\n", out["name"].get<std::string>().c_str(),
                    out["dtype"].get<std::string>().c_str(), out["shape"].dump().c_str());
    std::printf("  ops       ");
    for (const auto& [op, count] : ops)
        std::printf(" %s×%lld", op.c_str(), static_cast<long long>(count));
    std::printf("\n");
    keepUntilExit(std::move(*model));
    return 0;
}

// ---- convert ---------------------------------------------------------------------------------

int runConvert(const std::string& in, const std::string& out, bool asJson) {
    if (wh::Status s = wh::cli::refuseToOverwriteInput(in, out); !s.isOk()) return fail(s);
    auto model = wh::onnx::loadModel(in);
    if (!model) return fail(model.error());
    wh::Status saved = wh::onnx::saveModel(*model, out);
    if (!saved.isOk()) return fail(saved);
    std::error_code ec;
    const auto bytes = fs::file_size(out, ec);
    const std::size_t nodes = model->graph->numNodes();
    keepUntilExit(std::move(*model));
    if (asJson) {
        printJson({{"nodes", nodes}, {"bytes", bytes}, {"output", out}});
    } else {
        std::printf("wrote %s: %zu nodes, %llu bytes\n", out.c_str(), nodes,
                    static_cast<unsigned long long>(bytes));
    }
    return 0;
}

// ---- layout ----------------------------------------------------------------------------------

// The options the studio uses (graph inputs/outputs as boxes, single-use Constants folded), with
// the default font estimate.
wh::layout::LayoutOptions cliLayoutOptions() {
    wh::layout::LayoutOptions options;
    options.graphTerminals = true;
    options.foldConstants = true;
    return options;
}

// Graphviz input with the same vertices and edges as the layout (for benchmarks against dot).
void writeDot(const std::string& path, const wh::ir::Graph& g, const wh::layout::Layout& layout) {
    std::ofstream out(path);
    out << "digraph G {\n  node [shape=box];\n";
    for (const auto& box : layout.nodes) {
        const wh::ir::Node* n = g.findNode(box.id);
        out << "  n" << box.id << " [label=\"" << (n ? n->opType : std::string()) << "\"];\n";
    }
    for (std::size_t t = 0; t < layout.terminals.size(); ++t)
        out << "  t" << t << " [shape=ellipse,label=\"io\"];\n";
    for (const auto& e : layout.edges) {
        out << "  "
            << (e.fromTerminal >= 0 ? "t" + std::to_string(e.fromTerminal)
                                    : "n" + std::to_string(e.from))
            << " -> "
            << (e.toTerminal >= 0 ? "t" + std::to_string(e.toTerminal) : "n" + std::to_string(e.to))
            << ";\n";
    }
    out << "}\n";
}

int runLayout(const std::string& path, bool asJson, const std::string& dotPath) {
    auto model = wh::onnx::loadModel(path);
    if (!model) return fail(model.error());
    const wh::ir::Graph& g = *model->graph;
    const auto start = std::chrono::steady_clock::now();
    wh::layout::Layout layout = wh::layout::layoutGraph(g, cliLayoutOptions());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!dotPath.empty()) writeDot(dotPath, g, layout);
    json j;
    j["nodes"] = g.numNodes();
    j["boxes"] = layout.nodes.size() + layout.terminals.size();
    j["folded_constants"] = layout.folded.size();
    j["edges"] = layout.edges.size();
    j["layers"] = layout.numLayers;
    j["seconds"] = seconds;
    j["width"] = layout.width;
    j["height"] = layout.height;
    j["crossings"] = layout.crossings;
    if (asJson)
        printJson(j);
    else
        std::printf("%s: %zu nodes, %d layers, %lld crossings, %.0f x %.0f, layout %.3f s\n",
                    path.c_str(), g.numNodes(), layout.numLayers,
                    static_cast<long long>(layout.crossings), layout.width, layout.height, seconds);
    keepUntilExit(std::move(*model));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // The commands that compute (OpenMP, oneDNN); info, convert and layout start no threads and
    // are not worth an exec.
    if (argc > 1) {
        const std::string_view command = argv[1];
        if (command == "eval" || command == "run" || command == "bench" || command == "train" ||
            command == "compress" || command == "sensitivity")
            wh::app::preferShortOpenMpSpins();
    }
    // Algorithm plugins at start (a broken one is a warning, never fatal).
    if (argc > 1 &&
        (std::string_view(argv[1]) == "compress" || std::string_view(argv[1]) == "sensitivity" ||
         std::string_view(argv[1]) == "algorithms"))
        wh::cli::loadPluginsWithWarnings();
    CLI::App app{"whittle-cli: inspect, convert and compress ONNX models (see CLI.md)"};
    app.require_subcommand(1);
    bool asJson = false;

    std::string infoModel;
    auto* info = app.add_subcommand("info", "Summary of a model");
    info->add_option("MODEL", infoModel, "ONNX file")->required();
    info->add_flag("--json", asJson, "print one JSON object");

    std::string convertIn, convertOut;
    auto* convert = app.add_subcommand("convert", "Lossless re-export of a model");
    convert->add_option("IN", convertIn, "ONNX file to read")->required();
    convert->add_option("OUT", convertOut, "ONNX file to write")->required();
    convert->add_flag("--json", asJson, "print one JSON object");

    wh::cli::Context engineCommands;
    wh::cli::addEvalCommand(app, engineCommands);
    wh::cli::addRunCommand(app, engineCommands);
    wh::cli::addBenchCommand(app, engineCommands);
    wh::cli::addProfileCommand(app, engineCommands);
    wh::cli::addTrainCommand(app, engineCommands);
    wh::cli::addCompressCommand(app, engineCommands);
    wh::cli::addSensitivityCommand(app, engineCommands);
    wh::cli::addEditCommand(app, engineCommands);
    wh::cli::addExtractCommand(app, engineCommands);

    std::string layoutModel, layoutDot;
    auto* layoutCmd = app.add_subcommand("layout", "Graph layout only (time, size, crossings)");
    layoutCmd->add_option("MODEL", layoutModel, "ONNX file")->required();
    layoutCmd->add_option("--dot", layoutDot, "also write the same graph as Graphviz .dot");
    layoutCmd->add_flag("--json", asJson, "print one JSON object");

    try {
        app.parse(argc, argv);
        if (engineCommands.ran) return engineCommands.exitCode;
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "whittle-cli: %s (try --help)\n", e.what());
        return 1;
    }
    try {
        if (*info) return runInfo(infoModel, asJson);
        if (*convert) return runConvert(convertIn, convertOut, asJson);
        if (*layoutCmd) return runLayout(layoutModel, asJson, layoutDot);
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "whittle-cli: out of memory\n");
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "whittle-cli: internal error: %s\n", e.what());
        return 2;
    }
    return 1;
}
