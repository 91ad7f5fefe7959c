// A model shaped like Silero VAD (tests/tools/make_silero_like.py): an If on the sample rate
// between two branches of Conv + LSTM reading the graph inputs and the weights from the outer
// scope. Our engine must agree with PyTorch (the script's reference outputs) on both branches,
// on every backend order, and with ONNX Runtime when the peer is installed.

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/data/npy.h"
#include "core/engine/plan.h"
#include "core/onnx/model_io.h"

namespace fs = std::filesystem;
using namespace wh;

namespace {

const fs::path kPeers = fs::path(WHITTLE_SOURCE_DIR) / "tests/peers";

// Runs the generator once per process; empty when python3, onnx or torch is missing.
const fs::path& generated() {
    static const fs::path dir = [] {
        // Per process: ctest runs each test in its own process, in parallel.
        const fs::path d =
            fs::temp_directory_path() / ("whittle-silero-like-" + std::to_string(::getpid()));
        fs::remove_all(d);
        const std::string cmd = "/usr/bin/python3 " + std::string(WHITTLE_SOURCE_DIR) +
                                "/tests/tools/make_silero_like.py " + d.string() +
                                " >/dev/null 2>&1";
        return std::system(cmd.c_str()) == 0 ? d : fs::path();
    }();
    // Removed when the process ends.
    static const struct Cleanup {
        fs::path d;
        ~Cleanup() {
            std::error_code ec;
            if (!d.empty()) fs::remove_all(d, ec);
        }
    } cleanup{dir};
    return dir;
}

engine::HostTensor npy(const std::string& name) {
    auto t = data::readNpy(generated() / (name + ".npy"));
    EXPECT_TRUE(t) << t.error().message();
    return t ? *t : engine::HostTensor();
}

void expectClose(const engine::HostTensor& ours, const engine::HostTensor& want,
                 const std::string& what) {
    ASSERT_EQ(ours.dims(), want.dims()) << what;
    const auto a = ours.toFloats(), b = want.toFloats();
    for (std::size_t i = 0; i < a.size(); ++i)
        EXPECT_NEAR(a[i], b[i], 1e-5 + 1e-4 * std::fabs(b[i])) << what << " element " << i;
}

}  // namespace

class SileroLike : public ::testing::TestWithParam<bool> {};

TEST_P(SileroLike, BothBranchesMatchPyTorch) {
    if (generated().empty()) GTEST_SKIP() << "python3 with onnx, numpy and torch not available";
    auto model = onnx::loadModel(generated() / "silero_like.onnx");
    ASSERT_TRUE(model) << model.error().message();
    engine::PlanOptions options;
    if (GetParam()) options.backends = {engine::Backend::kReference};
    auto plan = engine::Plan::compile(*model, options);
    ASSERT_TRUE(plan) << plan.error().message();
    ASSERT_EQ(plan->inputNames(), (std::vector<std::string>{"x", "state", "sr"}));
    // Both branches give [1,1] and [2,1,16]: the If's outputs are known at compile time.
    EXPECT_EQ(plan->outputInfo(0).dims, (engine::Dims{1, 1}));
    EXPECT_EQ(plan->outputInfo(1).dims, (engine::Dims{2, 1, 16}));
    for (const char* sr : {"16000", "8000", "16000"}) {
        auto out = plan->run({npy("x"), npy("state"), npy(std::string("sr_") + sr)});
        ASSERT_TRUE(out) << out.error().message();
        expectClose((*out)[0], npy(std::string("out_") + sr), std::string("out at ") + sr);
        expectClose((*out)[1], npy(std::string("state_n_") + sr), std::string("state at ") + sr);
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, SileroLike, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "reference" : "default"; });

TEST(SileroLike, MatchesOnnxRuntime) {
    if (!fs::exists(kPeers / "node_modules/onnxruntime-node/package.json") ||
        std::system("command -v node >/dev/null 2>&1") != 0)
        GTEST_SKIP() << "onnxruntime-node not installed (install-deps.sh --peers)";
    if (generated().empty()) GTEST_SKIP() << "python3 with onnx, numpy and torch not available";
    auto model = onnx::loadModel(generated() / "silero_like.onnx");
    ASSERT_TRUE(model) << model.error().message();
    auto plan = engine::Plan::compile(*model);
    ASSERT_TRUE(plan) << plan.error().message();
    for (const char* sr : {"16000", "8000"}) {
        const fs::path dir = generated() / (std::string("ort_") + sr);
        std::string cmd = "node " + (kPeers / "ort_run.js").string() + " " +
                          (generated() / "silero_like.onnx").string() + " " + dir.string() +
                          " x=" + (generated() / "x.npy").string() +
                          " state=" + (generated() / "state.npy").string() +
                          " sr=" + (generated() / (std::string("sr_") + sr + ".npy")).string() +
                          " >/dev/null";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << "ONNX Runtime failed: " << cmd;
        auto out = plan->run({npy("x"), npy("state"), npy(std::string("sr_") + sr)});
        ASSERT_TRUE(out) << out.error().message();
        for (std::size_t i = 0; i < plan->outputNames().size(); ++i) {
            auto theirs = data::readNpy(dir / (plan->outputNames()[i] + ".npy"));
            ASSERT_TRUE(theirs) << theirs.error().message();
            expectClose((*out)[i], *theirs, plan->outputNames()[i] + " at " + sr + " vs ORT");
        }
    }
}
