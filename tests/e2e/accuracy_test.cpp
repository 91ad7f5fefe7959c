// `whittle-cli eval` on a PyTorch-trained, PyTorch-exported Fashion-MNIST classifier gives
// exactly the accuracy PyTorch and ONNX Runtime give (same preprocessing, shared/CLI.md).
// The model comes from tests/tools/train_fashion_classifier.py (run by packaging/test.sh).

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/analysis/accuracy.h"
#include "core/data/dataset.h"
#include "core/onnx/model_io.h"

namespace fs = std::filesystem;
using namespace wh;

namespace {

const fs::path kFashion = fs::path(WHITTLE_SOURCE_DIR) / "tests/data/fashion";

std::string capture(const std::string& cmd) {
    FILE* pipe = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
    pclose(pipe);
    return out;
}

}  // namespace

TEST(Accuracy, SameAsPyTorchAndOnnxRuntime) {
    if (!fs::exists(kFashion / "classifier.json"))
        GTEST_SKIP() << "no PyTorch classifier in " << kFashion
                     << " (python3-torch absent? run tests/tools/train_fashion_classifier.sh)";
    std::ifstream in(kFashion / "classifier.json");
    const auto expected = nlohmann::json::parse(in);

    auto model = onnx::loadModel(kFashion / "classifier.onnx");
    ASSERT_TRUE(model) << model.error().message();
    auto test = data::openDataset("fashion-mnist", "test", {}, data::Normalization::fashionMnist());
    ASSERT_TRUE(test) << test.error().message();
    auto ours = analysis::evaluateAccuracy(*model, **test, {.batch = 500});
    ASSERT_TRUE(ours) << ours.error().message();
    EXPECT_EQ(ours->samples, 10000);
    EXPECT_DOUBLE_EQ(ours->accuracy, expected["pytorch_accuracy"].get<double>());

    const fs::path peers = fs::path(WHITTLE_SOURCE_DIR) / "tests/peers";
    if (!fs::exists(peers / "node_modules/onnxruntime-node")) GTEST_SKIP() << "no onnxruntime-node";
    const std::string out = capture("node " + (peers / "ort_accuracy.js").string() + " " +
                                    (kFashion / "classifier.onnx").string() + " " +
                                    (kFashion / "test_images.npy").string() + " " +
                                    (kFashion / "test_labels.npy").string());
    auto ort = nlohmann::json::parse(out, nullptr, false);
    ASSERT_FALSE(ort.is_discarded()) << "ORT said: " << out;
    EXPECT_EQ(ort["correct"].get<int64_t>(), ours->correct);
    std::printf("accuracy: whittle %.4f, ONNX Runtime %.4f, PyTorch %.4f\n", ours->accuracy,
                ort["accuracy"].get<double>(), expected["pytorch_accuracy"].get<double>());
}
