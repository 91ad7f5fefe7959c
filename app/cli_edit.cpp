// whittle-cli edit MODEL --script EDITS.json -o OUT: replays an edit script (the named edits of
// core/rewrite/edits.h, as the studio records them) and writes the result, byte for byte what the
// studio saves after the same edits.

#include <fstream>

#include <fmt/format.h>

#include "app/cli_common.h"
#include "core/onnx/model_io.h"
#include "core/rewrite/edits.h"

namespace wh::cli {

void addEditCommand(CLI::App& app, Context& ctx) {
    struct Args {
        std::string model, script, output;
    };
    auto args = std::make_shared<Args>();
    CLI::App* sub = addCommand(app, ctx, "edit", "Replay an edit script on a model", [&ctx, args] {
        if (Status s = refuseToOverwriteInput(args->model, args->output); !s.isOk()) return fail(s);
        std::ifstream in(args->script);
        if (!in)
            return fail(
                makeStatus(StatusCode::kUsage, "{}: cannot read the edit script", args->script));
        nlohmann::json json;
        try {
            in >> json;
        } catch (const nlohmann::json::exception& e) {
            return fail(
                makeStatus(StatusCode::kBadInput, "{}: not JSON ({})", args->script, e.what()));
        }
        auto edits = rewrite::scriptFromJson(json);
        if (!edits)
            return fail(
                makeStatus(edits.error().code(), "{}: {}", args->script, edits.error().message()));
        auto model = onnx::loadModel(args->model);
        if (!model) return fail(model.error());
        const std::size_t nodesBefore = model->graph->numNodes();
        rewrite::Rewriter rewriter(*model->graph);
        for (std::size_t i = 0; i < edits->size(); ++i) {
            auto done = rewrite::applyEdit(rewriter, (*edits)[i]);
            if (!done)  // the script does not fit this model: bad input (exit 2)
                return fail(makeStatus(StatusCode::kBadInput, "{}: edit {} of {}: {}", args->script,
                                       i + 1, edits->size(), done.error().message()));
            if (!ctx.json)
                std::fprintf(stderr, "edit %zu: %s%s%s\n", i + 1, done->label.c_str(),
                             done->summary.empty() ? "" : ": ", done->summary.c_str());
        }
        if (Status saved = onnx::saveModel(*model, args->output); !saved.isOk()) return fail(saved);
        const std::size_t nodesAfter = model->graph->numNodes();
        if (ctx.json)
            printJson({{"edits", edits->size()},
                       {"nodes_before", nodesBefore},
                       {"nodes_after", nodesAfter},
                       {"output", args->output}});
        else
            std::printf("wrote %s: %zu edits, %zu -> %zu nodes\n", args->output.c_str(),
                        edits->size(), nodesBefore, nodesAfter);
        return 0;
    });
    sub->add_option("MODEL", args->model, "ONNX file to edit (never overwritten)")->required();
    sub->add_option("--script", args->script, "edit script (JSON), as the studio saves it")
        ->required();
    sub->add_option("-o,--output", args->output, "ONNX file to write")->required();
}

}  // namespace wh::cli
