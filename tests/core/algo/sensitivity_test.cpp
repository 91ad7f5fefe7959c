// Layer sensitivity (core/algo/sensitivity.h) with PTQ on LeNet-5 and Fashion-MNIST: one entry
// per layer the recipe would change, in the documented order, each the accuracy of the model with
// only that layer compressed (re-measured here for one of them), the output SQNR, cancellation,
// and the recipe that excludes the worst layers.

#include <atomic>
#include <cmath>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "algo_test_util.h"
#include "core/algo/compress.h"
#include "core/algo/sensitivity.h"
#include "core/analysis/accuracy.h"
#include "core/algo/layer_error.h"
#include "core/data/dataset.h"
#include "core/onnx/model_io.h"

using namespace wh;
using namespace wh::algo;
using wh::algo::test::pluginRegistry;
namespace fs = std::filesystem;

namespace {

const fs::path kLenet = fs::path(WHITTLE_SOURCE_DIR) / "resources/samples/lenet5.onnx";
const fs::path kFashion = "/usr/share/datasets/fashion-mnist";

Recipe ptq4() {
    // 4-bit weights: each layer costs something measurable.
    auto r = parseRecipe(R"({"algorithm": "ptq", "params": {"weight_bits": 4, "samples": 64}})",
                         pluginRegistry());
    EXPECT_TRUE(r) << r.error().message();
    return *r;
}

}  // namespace

TEST(Sensitivity, OneEntryPerLayerMostSensitiveFirst) {
    if (!fs::exists(kFashion)) GTEST_SKIP() << kFashion << " missing (dataset-fashion-mnist)";
    auto model = onnx::loadModel(kLenet);
    ASSERT_TRUE(model) << model.error().message();
    SensitivityOptions o;
    o.evalLimit = 400;
    o.errorSamples = 16;
    o.threads = 1;
    auto report = layerSensitivity(*model, ptq4(), o);
    ASSERT_TRUE(report) << report.error().message();
    // LeNet-5's two Conv and three Gemm.
    ASSERT_EQ(report->layers.size(), 5u);
    EXPECT_EQ(report->samples, 400);
    std::set<std::string> names;
    for (std::size_t i = 0; i < report->layers.size(); ++i) {
        const LayerSensitivity& l = report->layers[i];
        names.insert(l.node);
        EXPECT_TRUE(l.op == "Conv" || l.op == "Gemm") << l.op;
        EXPECT_NEAR(l.accuracyDrop, report->baselineAccuracy - l.accuracy, 1e-12);
        EXPECT_TRUE(std::isfinite(l.sqnrDb)) << l.node;  // 4-bit weights change the output
        if (i > 0) {
            const LayerSensitivity& p = report->layers[i - 1];
            EXPECT_TRUE(p.accuracyDrop > l.accuracyDrop ||
                        (p.accuracyDrop == l.accuracyDrop && p.sqnrDb <= l.sqnrDb))
                << p.node << " before " << l.node;
        }
    }
    EXPECT_EQ(names.size(), 5u);

    // The float baseline and the worst layer's figure, measured again independently.
    auto test = data::openDataset("fashion-mnist", "test", "", datasetNormalization("fashion-mnist"));
    ASSERT_TRUE(test);
    analysis::AccuracyOptions ao;
    ao.limit = 400;
    ao.threads = 1;
    auto base = analysis::evaluateAccuracy(*model, **test, ao);
    ASSERT_TRUE(base);
    EXPECT_DOUBLE_EQ(report->baselineAccuracy, base->accuracy);
    CompressOptions co;
    co.recipe = ptq4();
    co.recipe.select.nodes = {report->layers[0].node};
    co.threads = 1;
    auto one = compress(*model, co);
    ASSERT_TRUE(one) << one.error().message();
    auto acc = analysis::evaluateAccuracy(one->model, **test, ao);
    ASSERT_TRUE(acc);
    EXPECT_DOUBLE_EQ(report->layers[0].accuracy, acc->accuracy);

    // Exclude the two worst: they join exclude_nodes once, whatever was there.
    Recipe r = ptq4();
    r.select.excludeNodes = {report->layers[1].node};
    const Recipe ex = excludeMostSensitive(r, *report, 2);
    EXPECT_EQ(ex.select.excludeNodes,
              (std::vector<std::string>{report->layers[1].node, report->layers[0].node}));
}

TEST(Sensitivity, EmptyScopeAndCancellation) {
    if (!fs::exists(kFashion)) GTEST_SKIP() << kFashion << " missing (dataset-fashion-mnist)";
    auto model = onnx::loadModel(kLenet);
    ASSERT_TRUE(model);
    Recipe none = ptq4();
    none.select.includeOps = {"LSTM"};
    auto empty = layerSensitivity(*model, none, {});
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().code(), StatusCode::kBadInput) << empty.error().message();

    jobs::JobContext job;
    SensitivityOptions o;
    o.evalLimit = 400;
    o.errorSamples = 16;
    o.job = &job;
    std::atomic<bool> finished{false};
    std::thread cancel([&] {  // as soon as the float model's evaluation has started
        while (!finished && job.fraction() <= 0.0)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        job.requestCancel();
    });
    auto cancelled = layerSensitivity(*model, ptq4(), o);
    finished = true;
    cancel.join();
    ASSERT_FALSE(cancelled);
    EXPECT_EQ(cancelled.error().code(), StatusCode::kCancelled) << cancelled.error().message();
}
