// Per-layer SQNR of a compressed model against its float original (core/algo/layer_error.h).

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "algo_test_util.h"
#include "core/algo/compress.h"
#include "core/algo/layer_error.h"
#include "core/algo/recipe.h"
#include "core/onnx/model_io.h"

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
        auto d =
            data::openDataset("fashion-mnist", "test", {}, datasetNormalization("fashion-mnist"));
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
    auto recipe =
        parseRecipe(R"({"algorithm": "ptq", "params": {"samples": 64}})", pluginRegistry());
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

// A model that takes `dims` (N symbolic) and returns it.
ir::Model identityModel(std::vector<ir::Dim> dims) {
    ir::Model m;
    m.opsetImports.push_back({"", 13, {}});
    ir::Graph& g = *m.graph;
    ir::Value* x = *g.addValue("x");
    x->type = ir::Type::tensor(ir::DType::kFloat, ir::Shape{std::move(dims)});
    g.insertGraphInput(x);
    ir::Value* y = *g.addValue("y");
    g.addNode("Identity", std::vector<ir::Value*>{x}, std::vector<ir::Value*>{y});
    g.insertGraphOutput(y);
    return m;
}

TEST(OpenDatasetFor, FolderImagesTakeTheModelsInputSizeAndChannels) {
    const fs::path root =
        fs::temp_directory_path() / ("whittle-rgb-folder-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root / "red");
    {  // a 2x2 pure red PPM (stb_image reads PNM)
        std::ofstream f(root / "red" / "a.ppm", std::ios::binary);
        f << "P6\n2 2\n255\n";
        for (int i = 0; i < 4; ++i) f << static_cast<char>(255) << '\0' << '\0';
    }
    const std::string name = "folder:" + root.string();
    using ir::Dim;

    // torchvision's layout: 3 channels at the model's size, ImageNet's normalisation.
    auto rgb = openDatasetFor(
        identityModel({Dim::symbol("N"), Dim::known(3), Dim::known(6), Dim::known(5)}), name,
        "train", {});
    ASSERT_TRUE(rgb) << rgb.error().message();
    EXPECT_EQ((*rgb)->sampleDims(), (engine::Dims{3, 6, 5}));
    std::vector<float> x(3 * 6 * 5);
    EXPECT_EQ((*rgb)->get(0, x.data()), 0);
    EXPECT_NEAR(x[0], (1.0f - 0.485f) / 0.229f, 1e-4);  // red
    EXPECT_NEAR(x[30], -0.456f / 0.224f, 1e-4);         // green
    EXPECT_NEAR(x[60], -0.406f / 0.225f, 1e-4);         // blue

    // --mean / --std replace the defaults.
    auto given =
        openDatasetFor(identityModel({Dim::known(1), Dim::known(3), Dim::known(6), Dim::known(5)}),
                       name, "train", {}, {0.5f}, {0.5f});
    ASSERT_TRUE(given) << given.error().message();
    (*given)->get(0, x.data());
    EXPECT_NEAR(x[0], 1.0f, 1e-6);
    EXPECT_NEAR(x[30], -1.0f, 1e-6);

    // No usable NCHW input (unknown size, or 2 channels): Fashion-MNIST's 1x28x28, as before.
    for (auto dims :
         {std::vector<Dim>{Dim::known(1), Dim::known(3), Dim::symbol("H"), Dim::known(5)},
          std::vector<Dim>{Dim::known(1), Dim::known(2), Dim::known(6), Dim::known(5)}}) {
        auto grey = openDatasetFor(identityModel(dims), name, "train", {});
        ASSERT_TRUE(grey) << grey.error().message();
        EXPECT_EQ((*grey)->sampleDims(), (engine::Dims{1, 28, 28}));
    }
    fs::remove_all(root);
}

}  // namespace
