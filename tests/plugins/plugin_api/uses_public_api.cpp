// A plugin's view of core: only the plugin API (core/plugin_api.txt). The plugin_api ctest
// compiles this with a plugin's exact flags; it must compile.

#include "core/analysis/tensor_stats.h"
#include "core/engine/kernel_registry.h"
#include "core/engine/training_plan.h"
#include "core/ir/graph.h"
#include "core/jobs/job_context.h"
#include "core/rewrite/rewriter.h"
#include "core/train/recipe_runner.h"
#include "core/util/status.h"

namespace probe {

// What an algorithm does: read the graph, run a recipe, report through a job.
wh::Expected<wh::train::TrainingResult> fineTune(wh::ir::Model model, wh::jobs::JobContext& job) {
    wh::train::TrainingRecipe recipe;
    recipe.steps = 1;
    WH_ASSIGN_OR_RETURN(wh::train::RecipeRunner runner,
                        wh::train::RecipeRunner::prepare(recipe, std::move(model)));
    return std::move(runner).run(&job);
}

int64_t parameterCount(const wh::ir::Model& model) {
    int64_t n = 0;
    for (const wh::ir::Value* v : model.graph->initializers())
        if (const wh::ir::Tensor* t = v->initializer()) n += t->numElements();
    return n;
}

}  // namespace probe
