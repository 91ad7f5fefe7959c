// The shipped pruning recipes (resources/recipes/{l1,bn_gamma,scop}_*.json) parse against the
// real plugins, and the pruning plugins declare the parameters the docs name.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "algo_test_util.h"
#include "core/algo/recipe.h"

namespace {

using wh::algo::test::pluginRegistry;
namespace fs = std::filesystem;

std::string readText(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(PruneRecipes, ShippedRecipesParse) {
    const fs::path dir = fs::path(WHITTLE_SOURCE_DIR) / "resources/recipes";
    for (const char* file : {"l1_flops50.json", "bn_gamma_flops50.json", "scop_flops50.json",
                             "scop_rate45.json"}) {
        SCOPED_TRACE(file);
        ASSERT_TRUE(fs::exists(dir / file));
        auto r = wh::algo::parseRecipe(readText(dir / file), pluginRegistry());
        ASSERT_TRUE(r) << r.error().message();
        ASSERT_NE(r->algorithm, nullptr);
        EXPECT_TRUE(r->train.has_value());
    }
}

TEST(PruneRecipes, PluginsDeclareTheSharedParameters) {
    for (const char* name : {"l1", "bn_gamma", "scop"}) {
        SCOPED_TRACE(name);
        const wh::algo::AlgorithmInfo* info = pluginRegistry().find(name);
        ASSERT_NE(info, nullptr);
        for (const char* p : {"target_flops_ratio", "prune_rate", "min_channels",
                              "max_layer_ratio", "normalize", "seed"}) {
            bool found = false;
            for (const wh::algo::ParamSpec& s : info->params) found = found || s.name == p;
            EXPECT_TRUE(found) << p;
        }
        EXPECT_TRUE(info->training.trains);
    }
}

}  // namespace
