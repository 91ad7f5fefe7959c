// Parity with ONNX Runtime: the same model and input through our engine and through ORT 1.30
// (npm onnxruntime-node, run by tests/peers/ort_run.js) must agree within 1e-4 relative.
// Models: the built-in Fashion-MNIST architectures and the torchvision exports.

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/data/npy.h"
#include "core/engine/benchmark.h"
#include "core/engine/plan.h"
#include "core/models/architectures.h"
#include "core/onnx/model_io.h"

namespace fs = std::filesystem;
using namespace wh;

namespace {

const fs::path kPeers = fs::path(WHITTLE_SOURCE_DIR) / "tests/peers";

bool ortAvailable() {
    return fs::exists(kPeers / "node_modules/onnxruntime-node/package.json") &&
           std::system("command -v node >/dev/null 2>&1") == 0;
}

// The relative error of an output tensor: max |ours - ORT| / max |ORT| (the infinity-norm
// relative error). Element-wise ratios are meaningless for elements near zero, where two float32
// engines summing in different orders legitimately differ in the last bits.
struct Mismatch {
    double worst = 0;
    std::size_t index = 0;
    float ours = 0, theirs = 0;
    double scale = 0;
};

Mismatch compare(const engine::HostTensor& ours, const engine::HostTensor& theirs) {
    Mismatch m;
    auto a = ours.toFloats(), b = theirs.toFloats();
    for (float v : b) m.scale = std::max<double>(m.scale, std::fabs(v));
    double worstAbs = -1;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double d = std::fabs(double(a[i]) - b[i]);
        if (std::isnan(a[i]) != std::isnan(b[i])) return {INFINITY, i, a[i], b[i], m.scale};
        if (d > worstAbs) {
            worstAbs = d;
            m.index = i;
            m.ours = a[i];
            m.theirs = b[i];
        }
    }
    m.worst = m.scale > 0 ? worstAbs / m.scale : worstAbs;
    return m;
}

// Runs `model` in both engines on the same random input and checks every output.
void checkParity(const fs::path& modelPath, int64_t batch, double tolerance) {
    auto model = onnx::loadModel(modelPath);
    ASSERT_TRUE(model) << model.error().message();
    auto inputs = engine::randomInputs(*model, batch, 1234);
    ASSERT_TRUE(inputs) << inputs.error().message();
    engine::PlanOptions po;
    std::vector<std::string> feeds;
    const fs::path dir =
        fs::temp_directory_path() / ("whittle-parity-" + modelPath.stem().string());
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::size_t k = 0;
    for (const ir::Value* v : model->graph->inputs()) {
        if (v->hasInitializer()) continue;
        po.inputShapes[v->name()] = (*inputs)[k].dims();
        const fs::path npy = dir / ("in" + std::to_string(k) + ".npy");
        ASSERT_TRUE(data::writeNpy(npy, (*inputs)[k]).isOk());
        feeds.push_back(v->name() + "=" + npy.string());
        ++k;
    }
    auto plan = engine::Plan::compile(*model, po);
    ASSERT_TRUE(plan) << plan.error().message();
    auto ours = plan->run(*inputs);
    ASSERT_TRUE(ours) << ours.error().message();

    std::string cmd = "node " + (kPeers / "ort_run.js").string() + " " + modelPath.string() + " " +
                      (dir / "ort").string();
    for (const auto& f : feeds) cmd += " " + f;
    cmd += " >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "ONNX Runtime failed: " << cmd;
    for (std::size_t i = 0; i < plan->outputNames().size(); ++i) {
        std::string file = plan->outputNames()[i];
        for (char& c : file)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
                c = '_';
        auto theirs = data::readNpy(dir / "ort" / (file + ".npy"));
        ASSERT_TRUE(theirs) << theirs.error().message();
        ASSERT_EQ((*ours)[i].dims(), theirs->dims()) << "output " << plan->outputNames()[i];
        Mismatch m = compare((*ours)[i], *theirs);
        std::printf("parity %s '%s': relative error %.2e (max |ORT| %.3g)\n",
                    modelPath.filename().c_str(), plan->outputNames()[i].c_str(), m.worst, m.scale);
        EXPECT_LE(m.worst, tolerance)
            << modelPath.filename() << " output '" << plan->outputNames()[i] << "' "
            << engine::dimsToString(theirs->dims()) << ": worst relative error " << m.worst
            << " at " << m.index << " (ours " << m.ours << ", ORT " << m.theirs << ", max |ORT| "
            << m.scale << ")";
    }
    fs::remove_all(dir);
}

}  // namespace

class BuiltinParity : public ::testing::TestWithParam<std::string> {};

TEST_P(BuiltinParity, MatchesOnnxRuntime) {
    if (!ortAvailable()) GTEST_SKIP() << "onnxruntime-node not installed (install-deps.sh --peers)";
    auto model = models::buildArchitecture(GetParam(), {.seed = 5});
    ASSERT_TRUE(model);
    const fs::path path = fs::temp_directory_path() / ("whittle-arch-" + GetParam() + ".onnx");
    ASSERT_TRUE(onnx::saveModel(*model, path).isOk());
    checkParity(path, 8, 1e-4);
    fs::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Architectures, BuiltinParity,
                         ::testing::Values("lenet5", "resnet20", "mobilenetv2-tiny"),
                         [](const auto& info) {
                             std::string n = info.param;
                             for (char& c : n)
                                 if (c == '-') c = '_';
                             return n;
                         });

class TorchvisionParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionParity, MatchesOnnxRuntime) {
    if (!ortAvailable()) GTEST_SKIP() << "onnxruntime-node not installed (install-deps.sh --peers)";
    const fs::path path =
        fs::path(WHITTLE_SOURCE_DIR) / "tests/data/torchvision" / (GetParam() + ".onnx");
    if (!fs::exists(path)) GTEST_SKIP() << path << " not exported (python3-torch absent?)";
    checkParity(path, 1, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Torchvision, TorchvisionParity,
                         ::testing::Values("resnet18", "mobilenet_v2", "squeezenet1_0",
                                           "shufflenet_v2_x1_0", "efficientnet_b0", "densenet121",
                                           "mnasnet0_5", "googlenet"));
