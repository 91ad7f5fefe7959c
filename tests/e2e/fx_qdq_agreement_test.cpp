// A PyTorch FX statically quantized Fashion-MNIST classifier, exported as QDQ ONNX
// (tests/tools/export_fx_qdq_classifier.sh), runs on our int8 path (its QDQ Conv groups lowered
// to QConv on oneDNN's int8 convolution) and on ONNX Runtime: every logit within one step of the
// output quantizer, and the same top-1 class wherever the top logit leads by more than two
// steps (a one-step difference may swap near ties; those are counted and printed, at most 1 %).
// 1,000 test images here; tests/bench/fx_qdq_bench.sh compares all 10,000.

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/data/npy.h"
#include "core/engine/plan.h"
#include "core/ir/graph.h"
#include "core/onnx/model_io.h"

namespace fs = std::filesystem;
using namespace wh;

namespace {

const fs::path kFashion = fs::path(WHITTLE_SOURCE_DIR) / "tests/data/fashion";
const fs::path kPeers = fs::path(WHITTLE_SOURCE_DIR) / "tests/peers";
constexpr int64_t kImages = 1000;

bool ortAvailable() {
    return fs::exists(kPeers / "node_modules/onnxruntime-node/package.json") &&
           std::system("command -v node >/dev/null 2>&1") == 0;
}

// The scale of the DequantizeLinear that produces the graph output: one step of the logits.
float outputStep(const ir::Model& model) {
    const ir::Value* out = model.graph->outputs().at(0);
    const ir::Node* dq = out->producer();
    if (!dq || dq->opType != "DequantizeLinear") return NAN;
    const ir::Tensor* s = ir::constantTensor(dq->input(1));
    return s && s->dtype == ir::DType::kFloat && s->numElements() == 1 ? s->values<float>()[0]
                                                                       : NAN;
}

// Plan::describe() lines that start with `prefix` and contain `what`.
int countLines(const std::string& text, const std::string& prefix, const std::string& what = "") {
    int n = 0;
    std::size_t begin = 0;
    while (begin < text.size()) {
        std::size_t end = text.find('\n', begin);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(begin, end - begin);
        n += line.rfind(prefix, 0) == 0 && line.find(what) != std::string::npos;
        begin = end + 1;
    }
    return n;
}

}  // namespace

TEST(FxQdqAgreement, Int8PathMatchesOnnxRuntimeWithinOneOutputStep) {
    const fs::path modelPath = kFashion / "classifier_fx_qdq.onnx";
    if (!fs::exists(modelPath) || !fs::exists(kFashion / "test_images.npy"))
        GTEST_SKIP() << "no FX-quantized classifier in " << kFashion
                     << " (python3-torch absent? run tests/tools/export_fx_qdq_classifier.sh)";
    if (!ortAvailable())
        GTEST_SKIP() << "onnxruntime-node not installed (tests/peers: npm install)";
    auto model = onnx::loadModel(modelPath);
    ASSERT_TRUE(model) << model.error().message();
    const float step = outputStep(*model);
    ASSERT_TRUE(std::isfinite(step) && step > 0)
        << "the output is not a per-tensor DequantizeLinear";

    auto all = data::readNpy(kFashion / "test_images.npy");
    ASSERT_TRUE(all) << all.error().message();
    const engine::Dims dims{kImages, 1, 28, 28};
    const float* src = all->data<float>();
    const engine::HostTensor images =
        engine::HostTensor::fromFloats(dims, std::vector<float>(src, src + kImages * 28 * 28));

    engine::PlanOptions options;
    options.inputShapes["input"] = dims;
    auto plan = engine::Plan::compile(*model, options);
    ASSERT_TRUE(plan) << plan.error().message();
    const std::string steps = plan->describe();
    // Both convolutions on oneDNN's int8 kernel, none on a float Conv or a reference int8 one.
    EXPECT_EQ(countLines(steps, "QConv("), 2) << steps;
    EXPECT_EQ(countLines(steps, "QConv(", "[dnnl "), 2) << steps;
    EXPECT_EQ(steps.find("ref_int8"), std::string::npos) << steps;
    EXPECT_EQ(countLines(steps, "Conv '"), 0) << "a float Conv is left:\n" << steps;
    auto ours = plan->run({images});
    ASSERT_TRUE(ours) << ours.error().message();

    const fs::path dir = fs::temp_directory_path() / "whittle-fx-qdq";
    fs::remove_all(dir);
    fs::create_directories(dir);
    ASSERT_TRUE(data::writeNpy(dir / "images.npy", images).isOk());
    const std::string cmd = "node " + (kPeers / "ort_run.js").string() + " " + modelPath.string() +
                            " " + (dir / "ort").string() +
                            " input=" + (dir / "images.npy").string() + " >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "ONNX Runtime failed: " << cmd;
    auto theirs = data::readNpy(dir / "ort" / "logits.npy");
    ASSERT_TRUE(theirs) << theirs.error().message();
    ASSERT_EQ((*ours)[0].dims(), theirs->dims());

    const std::vector<float> a = (*ours)[0].toFloats(), b = theirs->toFloats();
    double worst = 0;
    int agree = 0, clearDisagree = 0;
    for (int64_t n = 0; n < kImages; ++n) {
        int ia = 0, ib = 0;
        for (int c = 0; c < 10; ++c) {
            const std::size_t i = static_cast<std::size_t>(n * 10 + c);
            worst = std::max(worst, std::fabs(double(a[i]) - b[i]) / step);
            if (a[i] > a[static_cast<std::size_t>(n * 10 + ia)]) ia = c;
            if (b[i] > b[static_cast<std::size_t>(n * 10 + ib)]) ib = c;
        }
        if (ia == ib) {
            ++agree;
            continue;
        }
        // How far ORT's top logit leads the class we picked, in steps.
        const double lead =
            (b[static_cast<std::size_t>(n * 10 + ib)] - b[static_cast<std::size_t>(n * 10 + ia)]) /
            step;
        if (lead > 2.0) {
            ++clearDisagree;
            ADD_FAILURE() << "image " << n << ": ours class " << ia << ", ORT " << ib
                          << ", ORT's lead " << lead << " steps";
        }
    }
    std::printf(
        "FX QDQ classifier, %lld images: worst |ours - ORT| %.3f output steps (step %g), "
        "top-1 agreement %d / %lld\n",
        static_cast<long long>(kImages), worst, step, agree, static_cast<long long>(kImages));
    EXPECT_LE(worst, 1.0 + 1e-3) << "logits differ by more than one output step";
    EXPECT_EQ(clearDisagree, 0);
    EXPECT_GE(agree, kImages * 99 / 100);
    fs::remove_all(dir);
}
