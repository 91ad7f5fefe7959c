#pragma once
/// Recipes: a compression run as JSON (shared/CLI.md "Recipes"): which algorithm, its
/// parameters (ParamSpec names or the seed's aliases), which nodes, which data, how to train.
///
///   { "algorithm": "ptq",
///     "params":  { "calibration": "minmax", "weight_bits": 8 },
///     "select":  { "include_ops": ["Conv"], "exclude_nodes": [], "exclude_ops": [], "nodes": [] },
///     "dataset": { "name": "fashion-mnist", "split": "train", "data_dir": "" },
///     "train":   { "epochs": 1, "steps": -1, "batch": 128, "lr": 0.001, "optimizer": "sgd",
///                  "schedule": "cosine", "momentum": 0.9, "weight_decay": 0 },
///     "seed": 0 }
///
/// Every error is kBadInput naming the key (its JSON path) and listing the valid keys or values.
/// recipeToJson() writes the recipe with every default filled in: what OUT.recipe.json holds,
/// and reading it back gives the same run.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/algo/algorithm.h"
#include "core/algo/param_spec.h"
#include "core/algo/registry.h"
#include "core/util/status.h"

namespace wh::algo {

struct RecipeDataset {
    std::string name = "fashion-mnist";  ///< a data::openDataset name
    std::string split = "train";         ///< what calibrates and trains
    std::string dataDir;                 ///< empty = the dataset's default folder
};

/// The `train` section, each field defaulting to the algorithm's TrainingDefaults.
struct RecipeTraining {
    int epochs = 1;
    int64_t steps = -1;  ///< > 0: this many steps instead of epochs
    int64_t batch = 128;
    double lr = 0.001;
    std::string optimizer = "sgd";
    std::string schedule = "cosine";
    double momentum = 0.9;
    double weightDecay = 0.0;
};

struct Recipe {
    const AlgorithmInfo* algorithm = nullptr;
    Params params;
    Selection select;
    RecipeDataset dataset;
    /// Present when the algorithm trains (AlgorithmInfo::training.trains) or the recipe has a
    /// `train` section.
    std::optional<RecipeTraining> train;
    uint64_t seed = 0;
    /// Dims of inputs with symbolic sizes (`"input_shapes": {"tokens": [1, 128]}`), as
    /// `--shape` gives them; a `--shape` of the same input wins.
    std::map<std::string, engine::Dims> inputShapes;
};

/// Parses recipe JSON text. `where` names the file in messages.
Expected<Recipe> parseRecipe(std::string_view json, const Registry& registry,
                             std::string_view where = "recipe");
/// The dims of symbolic inputs for a run: `given` (--shape) and the recipe's input_shapes for
/// the inputs `given` leaves out.
std::map<std::string, engine::Dims> inputShapesFor(const Recipe& recipe,
                                                   std::map<std::string, engine::Dims> given);
/// Reads and parses a recipe file (at most 16 MiB; a larger or unreadable file is kBadInput
/// naming it).
Expected<Recipe> loadRecipeFile(const std::string& path, const Registry& registry);
/// A recipe for `algorithm` with every default (no JSON).
Recipe defaultRecipe(const AlgorithmInfo& algorithm);
/// A parameter value as recipes spell it in JSON (true, 8, 0.01, "minmax", ["a"]).
std::string paramValueJson(const ParamValue& value);
/// The recipe with every default filled in, pretty-printed JSON.
std::string recipeToJson(const Recipe& recipe);

}  // namespace wh::algo
