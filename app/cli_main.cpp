// whittle-cli: the headless contract of shared/CLI.md. stdout carries only the result (one JSON
// object with --json); errors are one line on stderr; exit codes 0 ok, 1 usage, 2 bad input,
// 3 unsupported, 4 cancelled.

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/ir/graph.h"
#include "core/onnx/model_io.h"
#include "core/util/status.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int fail(const wh::Status& status) {
    std::fprintf(stderr, "whittle-cli: %s\n", status.message().c_str());
    return wh::exitCodeOf(status);
}

// The process ends right after a command; freeing a 100k-node model one object at a time
// costs a fifth of a second for nothing. The OS reclaims it at exit.
void keepUntilExit(wh::ir::Model&& model) { new wh::ir::Model(std::move(model)); }

void printJson(const json& j) { std::printf("%s\n", j.dump(2).c_str()); }

json shapeJson(const wh::ir::Type& type) {
    if (!type.shape) return nullptr;
    json dims = json::array();
    for (const auto& d : type.shape->dims) {
        if (d.kind == wh::ir::Dim::Kind::kValue) dims.push_back(d.value);
        else if (d.kind == wh::ir::Dim::Kind::kParam) dims.push_back(d.param);
        else dims.push_back(nullptr);
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
        std::string key = n->domain.empty() || n->domain == "ai.onnx"
                              ? n->opType
                              : n->domain + "." + n->opType;
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
    for (const auto& [op, count] : ops) std::printf(" %s×%lld", op.c_str(), static_cast<long long>(count));
    std::printf("\n");
    keepUntilExit(std::move(*model));
    return 0;
}

// ---- convert ---------------------------------------------------------------------------------

int runConvert(const std::string& in, const std::string& out, bool asJson) {
    std::error_code ec;
    if (fs::exists(out, ec) && fs::equivalent(in, out, ec))
        return fail(wh::makeStatus(wh::StatusCode::kUsage,
                                   "{}: refusing to overwrite the input model; choose another "
                                   "output path",
                                   out));
    auto model = wh::onnx::loadModel(in);
    if (!model) return fail(model.error());
    wh::Status saved = wh::onnx::saveModel(*model, out);
    if (!saved.isOk()) return fail(saved);
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

}  // namespace

int main(int argc, char** argv) {
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

    try {
        app.parse(argc, argv);
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
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "whittle-cli: out of memory\n");
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "whittle-cli: internal error: %s\n", e.what());
        return 2;
    }
    return 1;
}
