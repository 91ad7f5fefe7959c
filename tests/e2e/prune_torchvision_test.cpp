// Every torchvision export (tests/tools/export_torchvision.sh; skipped when absent) pruned by
// 30 % of its prunable channels (channel dependency analysis + L1 ranking + prune plan): the
// result passes the onnx checker (when python3 onnx is installed), runs in our engine and in
// ONNX Runtime (when tests/peers is installed) with the original output shapes, the two agree,
// and it has fewer parameters.

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "tests/core/algo/prune_test_util.h"

using namespace wh;

class TorchvisionPrune : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionPrune, ThirtyPercentRunsInBothEngines) {
    const std::filesystem::path path = std::filesystem::path(WHITTLE_SOURCE_DIR) /
                                       "tests/data/torchvision" / (GetParam() + ".onnx");
    if (!std::filesystem::exists(path))
        GTEST_SKIP() << path << " not exported (tests/tools/export_torchvision.sh)";
    auto model = onnx::loadModel(path);
    ASSERT_TRUE(model) << model.error().message();
    auto deps = analysis::analyzeChannelDependencies(*model);
    ASSERT_TRUE(deps) << deps.error().message();
    int64_t blocked = 0;
    std::map<std::string, int64_t> why;  // refused channels by reason, its node names elided
    for (const analysis::BlockedChannels& b : deps->blocked) {
        blocked += static_cast<int64_t>(b.channels.size());
        const std::size_t quote = b.reason.find(" '");
        const std::size_t colon = b.reason.find(':');
        why[b.reason.substr(0, quote) +
            (colon != std::string::npos ? b.reason.substr(colon) : "")] +=
            static_cast<int64_t>(b.channels.size());
    }
    for (const auto& [reason, n] : why)
        std::printf("  %s refused: %lld channels: %s\n", GetParam().c_str(), (long long)n,
                    reason.c_str());
    const wh::testing::PruneOutcome o = wh::testing::pruneAndRun(*model, 0.3, 1, GetParam(), true);
    std::printf(
        "prune %s: %zu groups, %lld of %lld prunable channels removed (%lld refused), "
        "params %lld -> %lld\n",
        GetParam().c_str(), deps->groups.size(), (long long)o.removed, (long long)o.prunable,
        (long long)blocked, (long long)o.paramsBefore, (long long)o.paramsAfter);
    EXPECT_GT(o.prunable, 0);
    EXPECT_GE(o.removed, static_cast<int64_t>(0.25 * static_cast<double>(o.prunable)));
    EXPECT_LT(o.paramsAfter, o.paramsBefore);
    EXPECT_TRUE(wh::testing::onnxCheckerAccepts(*model, GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Torchvision, TorchvisionPrune,
                         ::testing::Values("resnet18", "mobilenet_v2", "squeezenet1_0",
                                           "shufflenet_v2_x1_0", "efficientnet_b0", "densenet121",
                                           "mnasnet0_5", "googlenet"));
