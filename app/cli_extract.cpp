// whittle-cli extract MODEL -o OUT (--inputs A,B --outputs C,D | --nodes N1,N2): writes a new
// model computing some tensors from others (core/rewrite/extract.h, as onnx.utils.extract_model),
// or what a selection of nodes computes. The input model is never the output.

#include <fmt/format.h>

#include "app/cli_common.h"
#include "core/onnx/model_io.h"
#include "core/rewrite/extract.h"

namespace wh::cli {

void addExtractCommand(CLI::App& app, Context& ctx) {
    struct Args {
        std::string model, output;
        std::vector<std::string> inputs, outputs, nodes;
    };
    auto args = std::make_shared<Args>();
    CLI::App* sub = addCommand(
        app, ctx, "extract", "Write the part of a model between tensors, or a node selection",
        [&ctx, args] {
            if (Status s = refuseToOverwriteInput(args->model, args->output); !s.isOk())
                return fail(s);
            if (args->nodes.empty() == args->outputs.empty())
                return fail(makeStatus(StatusCode::kUsage,
                                       "extract needs --outputs (with --inputs) or --nodes"));
            if (!args->nodes.empty() && !args->inputs.empty())
                return fail(makeStatus(StatusCode::kUsage,
                                       "extract: --inputs goes with --outputs, not --nodes"));
            auto model = onnx::loadModel(args->model);
            if (!model) return fail(model.error());
            Expected<std::unique_ptr<ir::Model>> extracted;
            if (!args->nodes.empty()) {
                std::vector<ir::NodeId> ids;
                for (const std::string& name : args->nodes) {
                    const ir::Node* found = nullptr;
                    for (const ir::Node* n : model->graph->nodes())
                        if (n->name == name) {
                            if (found)
                                return fail(makeStatus(StatusCode::kUsage,
                                                       "{}: two nodes are named '{}'", args->model,
                                                       name));
                            found = n;
                        }
                    if (!found)
                        return fail(makeStatus(StatusCode::kUsage, "{}: the model has no node '{}'",
                                               args->model, name));
                    ids.push_back(found->id());
                }
                extracted = rewrite::extractSelection(*model, ids);
            } else {
                extracted = rewrite::extractModel(*model, args->inputs, args->outputs);
            }
            if (!extracted)
                return fail(makeStatus(extracted.error().code(), "{}: {}", args->model,
                                       extracted.error().message()));
            const ir::Model& result = **extracted;
            if (Status saved = onnx::saveModel(result, args->output); !saved.isOk())
                return fail(saved);
            const ir::Graph& g = *result.graph;
            if (ctx.json) {
                nlohmann::json ins = nlohmann::json::array(), outs = nlohmann::json::array();
                for (const ir::Value* v : g.inputs()) ins.push_back(v->name());
                for (const ir::Value* v : g.outputs()) outs.push_back(v->name());
                printJson({{"nodes_before", model->graph->numNodes()},
                           {"nodes", g.numNodes()},
                           {"inputs", std::move(ins)},
                           {"outputs", std::move(outs)},
                           {"output", args->output}});
            } else {
                std::printf("wrote %s: %zu of %zu nodes, %zu inputs, %zu outputs\n",
                            args->output.c_str(), g.numNodes(), model->graph->numNodes(),
                            g.inputs().size(), g.outputs().size());
            }
            return 0;
        });
    sub->add_option("MODEL", args->model, "ONNX file to read (never overwritten)")->required();
    sub->add_option("-o,--output", args->output, "ONNX file to write")->required();
    sub->add_option("--inputs", args->inputs, "tensors the new model takes (comma-separated)")
        ->delimiter(',');
    sub->add_option("--outputs", args->outputs, "tensors the new model computes (comma-separated)")
        ->delimiter(',');
    sub->add_option("--nodes", args->nodes,
                    "node names: extract what they compute (inputs and outputs follow)")
        ->delimiter(',');
}

}  // namespace wh::cli
