// Per-layer SQNR of a compressed model against its float original (core/algo/layer_error.h).

#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "core/algo/compress.h"
#include "core/algo/layer_error.h"
#include "core/algo/recipe.h"
#include "core/onnx/model_io.h"
#include "algo_test_util.h"

using namespace wh;
using namespace wh::algo;
using wh::algo::test::pluginRegistry;

namespace {

namespace fs = std::filesystem;

const fs::path kLenet = fs::path(WHITTLE_SOURCE_DIR) / "resources/samples/lenet5.onnx";
const fs::path kFashion = "/usr/share/datasets/fashion-mnist";

class LayerErrors : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(kFashion)) GTEST_SKIP() << "Fashion-MNIST absent (" << kFashion << ")";
        auto m = onnx::loadModel(kLenet);
        ASSERT_TRUE(m) << m.error().message();
        m_model = std::move(*m);
        auto d = data::openDataset("fashion-mnist", "test", {},
                                   datasetNormalization("fashion-mnist"));
        ASSERT_TRUE(d) << d.error().message();
        m_data = *d;
    }
    ir::Model m_model;
    std::shared_ptr<data::Dataset> m_data;
};

TEST_F(LayerErrors, AModelAgainstItselfHasNoNoise) {
    LayerErrorOptions o;
    o.samples = 32;
    auto e = layerErrors(m_model, m_model, *m_data, o);
    ASSERT_TRUE(e) << e.error().message();
    ASSERT_FALSE(e->empty());
    for (const LayerError& l : *e) EXPECT_TRUE(std::isinf(l.sqnrDb) && l.sqnrDb > 0) << l.node;
}

TEST_F(LayerErrors, Int8QuantizationGivesFiniteHighSqnrPerConvolution) {
    auto recipe = parseRecipe(R"({"algorithm": "ptq", "params": {"samples": 64}})",
                              pluginRegistry());
    ASSERT_TRUE(recipe) << recipe.error().message();
    CompressOptions co;
    co.recipe = *recipe;
    auto r = compress(m_model, co);
    ASSERT_TRUE(r) << r.error().message();
    LayerErrorOptions o;
    o.samples = 64;
    o.probe.batch = 32;  // two batches
    auto e = layerErrors(m_model, r->model, *m_data, o);
    ASSERT_TRUE(e) << e.error().message();
    int convs = 0;
    for (const LayerError& l : *e) {
        SCOPED_TRACE(l.node + " " + l.tensor);
        EXPECT_TRUE(std::isfinite(l.sqnrDb));
        // 8-bit weights and activations: tens of dB, never the noise floor.
        EXPECT_GT(l.sqnrDb, 15.0);
        EXPECT_LT(l.sqnrDb, 80.0);
        convs += l.op == "Conv";
    }
    EXPECT_GE(convs, 2);
}

}  // namespace
