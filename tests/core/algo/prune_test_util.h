#pragma once
// Shared by the prune tests (test_algo) and the torchvision prune test (test_e2e): prune a model
// by a ratio of its prunable channels (L1 ranking), run it in our engine and in ONNX Runtime
// (tests/peers, skipped when absent), and check the output shapes.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/algo/prune/prune_plan.h"
#include "core/analysis/channel_dependencies.h"
#include "core/analysis/cost.h"
#include "core/data/npy.h"
#include "core/engine/benchmark.h"
#include "core/engine/plan.h"
#include "core/onnx/model_io.h"
#include "core/rewrite/rewriter.h"

namespace wh::testing {

inline const std::filesystem::path kPeerDir =
    std::filesystem::path(WHITTLE_SOURCE_DIR) / "tests/peers";

inline bool ortAvailable() {
    return std::filesystem::exists(kPeerDir / "node_modules/onnxruntime-node/package.json") &&
           std::system("command -v node >/dev/null 2>&1") == 0;
}

/// Runs `model` on `inputs` in our engine; the outputs (empty on failure, reported).
inline std::vector<engine::HostTensor> runEngine(const ir::Model& model,
                                                 const std::vector<engine::HostTensor>& inputs) {
    engine::PlanOptions po;
    std::size_t k = 0;
    for (const ir::Value* v : model.graph->inputs())
        if (!v->hasInitializer() && k < inputs.size())
            po.inputShapes[v->name()] = inputs[k++].dims();
    auto plan = engine::Plan::compile(model, po);
    EXPECT_TRUE(plan) << plan.error().message();
    if (!plan) return {};
    auto out = plan->run(inputs);
    EXPECT_TRUE(out) << out.error().message();
    return out ? std::move(*out) : std::vector<engine::HostTensor>{};
}

/// Saves `model` and runs it in ONNX Runtime on `inputs`; the outputs in graph output order.
inline std::vector<engine::HostTensor> runOrt(const ir::Model& model,
                                              const std::vector<engine::HostTensor>& inputs,
                                              const std::string& tag) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("whittle-prune-" + tag);
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path path = dir / "model.onnx";
    EXPECT_TRUE(onnx::saveModel(model, path).isOk());
    std::string cmd = "node " + (kPeerDir / "ort_run.js").string() + " " + path.string() + " " +
                      (dir / "ort").string();
    std::size_t k = 0;
    for (const ir::Value* v : model.graph->inputs()) {
        if (v->hasInitializer() || k >= inputs.size()) continue;
        const fs::path npy = dir / ("in" + std::to_string(k) + ".npy");
        EXPECT_TRUE(data::writeNpy(npy, inputs[k++]).isOk());
        cmd += " " + v->name() + "=" + npy.string();
    }
    cmd += " >/dev/null";
    std::vector<engine::HostTensor> outs;
    if (std::system(cmd.c_str()) != 0) {
        ADD_FAILURE() << "ONNX Runtime failed on the pruned model: " << cmd;
        return outs;
    }
    for (const ir::Value* v : model.graph->outputs()) {
        std::string file = v->name();
        for (char& c : file)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
                c = '_';
        auto t = data::readNpy(dir / "ort" / (file + ".npy"));
        EXPECT_TRUE(t) << t.error().message();
        outs.push_back(t ? std::move(*t) : engine::HostTensor{});
    }
    fs::remove_all(dir);
    return outs;
}

/// True when python3's onnx checker (full_check) accepts `model`; skipped (true) without onnx.
inline bool onnxCheckerAccepts(const ir::Model& model, const std::string& tag) {
    namespace fs = std::filesystem;
    if (std::system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") != 0) return true;
    const fs::path dir = fs::temp_directory_path() / ("whittle-prune-check-" + tag);
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path path = dir / "model.onnx";
    EXPECT_TRUE(onnx::saveModel(model, path).isOk());
    const std::string cmd =
        "/usr/bin/python3 -c \"import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), "
        "full_check=True)\" " +
        path.string();
    const bool ok = std::system(cmd.c_str()) == 0;
    fs::remove_all(dir);
    return ok;
}

struct PruneOutcome {
    int64_t prunable = 0;
    int64_t removed = 0;
    int64_t paramsBefore = 0;
    int64_t paramsAfter = 0;
};

/// Prunes `ratio` of every group's channels (L1) in place, checks the pruned model runs in our
/// engine (and ORT when `ort`) with the original output shapes at `batch`.
inline PruneOutcome pruneAndRun(ir::Model& model, double ratio, int64_t batch,
                                const std::string& tag, bool ort) {
    PruneOutcome o;
    auto inputs = engine::randomInputs(model, batch, 7);
    EXPECT_TRUE(inputs) << inputs.error().message();
    if (!inputs) return o;
    const std::vector<engine::HostTensor> before = runEngine(model, *inputs);
    auto costBefore = analysis::modelCost(model, batch);
    EXPECT_TRUE(costBefore) << costBefore.error().message();

    auto deps = analysis::analyzeChannelDependencies(model);
    EXPECT_TRUE(deps) << deps.error().message();
    if (!deps) return o;
    o.prunable = deps->numPrunableChannels();
    const algo::prune::PruneSelection sel = algo::prune::selectByL1Norm(*model.graph, *deps, ratio);
    rewrite::Rewriter rw(*model.graph);
    auto report = algo::prune::applyPrune(rw, *deps, sel);
    EXPECT_TRUE(report) << report.error().message();
    if (!report) return o;
    o.removed = report->channelsRemoved;

    const std::vector<engine::HostTensor> after = runEngine(model, *inputs);
    EXPECT_EQ(after.size(), before.size());
    for (std::size_t i = 0; i < after.size() && i < before.size(); ++i)
        EXPECT_EQ(after[i].dims(), before[i].dims()) << "output " << i;
    auto costAfter = analysis::modelCost(model, batch);
    EXPECT_TRUE(costAfter) << costAfter.error().message();
    if (costBefore && costAfter) {
        o.paramsBefore = costBefore->params;
        o.paramsAfter = costAfter->params;
    }
    if (ort && ortAvailable()) {
        const std::vector<engine::HostTensor> theirs = runOrt(model, *inputs, tag);
        std::printf("%s: ONNX Runtime ran the pruned model\n", tag.c_str());
        EXPECT_EQ(theirs.size(), before.size());
        for (std::size_t i = 0; i < theirs.size() && i < after.size(); ++i) {
            EXPECT_EQ(theirs[i].dims(), before[i].dims()) << "ONNX Runtime output " << i;
            // And both engines agree on the pruned model (max-norm relative error).
            auto a = after[i].toFloats(), b = theirs[i].toFloats();
            double worst = 0, scale = 0;
            for (std::size_t k = 0; k < a.size() && k < b.size(); ++k) {
                worst = std::max(worst, std::fabs(double(a[k]) - b[k]));
                scale = std::max(scale, std::fabs(double(b[k])));
            }
            EXPECT_LE(worst, 1e-3 * std::max(scale, 1e-6)) << "output " << i << " ours vs ORT";
        }
    }
    return o;
}

}  // namespace wh::testing
