// The shipped pruning recipes (resources/recipes/{l1,bn_gamma,scop}_*.json) parse against the
// real plugins, and the pruning plugins declare the parameters the docs name; scop refuses to
// run without data, stops when the job is cancelled, and leaves the graph smaller otherwise.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "algo_test_util.h"
#include "core/algo/algorithm.h"
#include "core/algo/recipe.h"
#include "core/data/dataset.h"
#include "core/jobs/job_context.h"
#include "core/models/architectures.h"
#include "core/util/rng.h"

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
    for (const char* file :
         {"l1_flops50.json", "bn_gamma_flops50.json", "scop_flops50.json", "scop_rate45.json"}) {
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
        for (const char* p : {"target_flops_ratio", "prune_rate", "min_channels", "max_layer_ratio",
                              "normalize", "seed"}) {
            bool found = false;
            for (const wh::algo::ParamSpec& s : info->params) found = found || s.name == p;
            EXPECT_TRUE(found) << p;
        }
        EXPECT_TRUE(info->training.trains);
    }
}

class RandomDataset : public wh::data::Dataset {
public:
    int64_t size() const override { return 96; }
    wh::engine::Dims sampleDims() const override { return {1, 28, 28}; }
    int64_t numClasses() const override { return 10; }
    int64_t get(int64_t index, float* out) const override {
        wh::Rng rng(static_cast<uint64_t>(index) + 3);
        for (int i = 0; i < 28 * 28; ++i) out[i] = static_cast<float>(rng.normal());
        return label(index);
    }
    int64_t label(int64_t index) const override { return index % 10; }
    float blackValue(int64_t) const override { return 0.0f; }
};

struct ScopRun {
    wh::Expected<wh::algo::ApplyReport> report;
    wh::ir::Model model;
};

ScopRun runScop(const wh::data::Dataset* data, wh::jobs::JobContext* job) {
    const wh::algo::AlgorithmInfo* info = pluginRegistry().find("scop");
    EXPECT_NE(info, nullptr);
    wh::algo::Params p(info->params);
    EXPECT_TRUE(p.set("kf_steps", int64_t{2}).isOk());
    EXPECT_TRUE(p.set("kf_batch", int64_t{8}).isOk());
    auto algo = info->create(p);
    EXPECT_TRUE(algo);
    auto m = wh::models::buildArchitecture("resnet20", {});
    EXPECT_TRUE(m);
    ScopRun run{wh::algo::ApplyReport{}, std::move(*m)};
    wh::rewrite::Rewriter rw(*run.model.graph);
    wh::algo::AlgoContext ctx;
    ctx.model = &run.model;
    ctx.data = data;
    ctx.job = job;
    run.report = (*algo)->apply(rw, {}, ctx);
    return run;
}

int64_t weightRows(const wh::ir::Model& m) {
    int64_t rows = 0;
    for (const wh::ir::Node* n : m.graph->nodes())
        if (n->opType == "Conv") rows += n->input(1)->initializer()->dims[0];
    return rows;
}

TEST(PrunePlugins, ScopNeedsDataStopsWhenCancelledAndPrunesOtherwise) {
    const int64_t rowsBefore = weightRows(*wh::models::buildArchitecture("resnet20", {}));
    ScopRun noData = runScop(nullptr, nullptr);
    ASSERT_FALSE(noData.report);
    EXPECT_EQ(noData.report.error().code(), wh::StatusCode::kUsage);

    RandomDataset data;
    wh::jobs::JobContext job;
    job.requestCancel();
    ScopRun cancelled = runScop(&data, &job);
    ASSERT_FALSE(cancelled.report);
    EXPECT_EQ(cancelled.report.error().code(), wh::StatusCode::kCancelled)
        << cancelled.report.error().message();
    EXPECT_EQ(weightRows(cancelled.model), rowsBefore) << "a cancelled run changed the graph";

    ScopRun done = runScop(&data, nullptr);
    ASSERT_TRUE(done.report) << done.report.error().message();
    EXPECT_LT(weightRows(done.model), rowsBefore);
    EXPECT_GT(done.report->changed(), 0);
    // The knockoff stage left nothing behind in the user's graph.
    for (const wh::ir::Node* n : done.model.graph->nodes())
        EXPECT_EQ(n->name.find("kf_"), std::string::npos) << n->name;
    for (const wh::ir::Value* v : done.model.graph->initializers())
        EXPECT_EQ(v->name().find("kfscale"), std::string::npos) << v->name();
}

}  // namespace
