// The compression pipeline (core/algo/compress.h) with the real plugins on the bundled LeNet-5
// and Fashion-MNIST: verified exports, sizes, OUT.recipe.json, refusing to overwrite the input,
// cancellation; and the exports in ONNX Runtime (tests/peers) against our engine.

#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "algo_test_util.h"
#include "core/algo/compress.h"
#include "core/data/dataset.h"
#include "core/data/npy.h"
#include "core/engine/plan.h"
#include "core/onnx/model_io.h"

using namespace wh;
using namespace wh::algo;
using wh::algo::test::pluginRegistry;
namespace fs = std::filesystem;

namespace {

const fs::path kLenet = fs::path(WHITTLE_SOURCE_DIR) / "resources/samples/lenet5.onnx";
const fs::path kFashion = "/usr/share/datasets/fashion-mnist";
const fs::path kPeers = fs::path(WHITTLE_SOURCE_DIR) / "tests/peers";

fs::path tempDir(const std::string& name) {
    fs::path d = fs::temp_directory_path() /
                 ("whittle-compress-test-" + std::to_string(getpid()) + "-" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

std::string readText(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

class Compress : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(kFashion)) GTEST_SKIP() << "Fashion-MNIST absent (" << kFashion << ")";
        auto m = onnx::loadModel(kLenet);
        ASSERT_TRUE(m) << m.error().message();
        m_model = std::move(*m);
        m_dir = tempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    }
    void TearDown() override {
        if (!m_dir.empty()) fs::remove_all(m_dir);
    }

    Recipe recipe(const std::string& json) {
        auto r = parseRecipe(json, pluginRegistry());
        EXPECT_TRUE(r) << r.error().message();
        return r ? std::move(*r) : Recipe{};
    }

    CompressOptions options(const std::string& recipeJson, const std::string& out) {
        CompressOptions o;
        o.recipe = recipe(recipeJson);
        o.dataset = "fashion-mnist";
        o.evaluate = true;
        o.evalLimit = 500;
        o.verifySamples = 64;
        o.input = kLenet;
        if (!out.empty()) o.output = m_dir / out;
        return o;
    }

    ir::Model m_model;
    fs::path m_dir;
};

constexpr const char* kPtq = R"({"algorithm": "ptq", "params": {"samples": 64}})";

/// Lists what the result says, for failure messages.
std::string describe(const CompressResult& r) {
    std::ostringstream s;
    s << r.algorithm << ": bytes " << r.bytesBefore << " -> " << r.bytesAfter << ", params "
      << r.paramsBefore << " -> " << r.paramsAfter << ", verified " << r.verify.verified << " ("
      << r.verify.message << "), max |diff| " << r.verify.maxAbsDiff << ", float agreement "
      << r.verify.floatAgreement << ", accuracy " << (r.accuracyBefore ? *r.accuracyBefore : -1)
      << " -> " << (r.accuracyAfter ? *r.accuracyAfter : -1);
    return s.str();
}

}  // namespace

TEST_F(Compress, PtqOnLenetIsVerifiedSmallerAndWritesItsRecipe) {
    CompressOptions o = options(kPtq, "lenet_ptq.onnx");
    auto r = compress(m_model, o);
    ASSERT_TRUE(r) << r.error().message();
    SCOPED_TRACE(describe(*r));
    EXPECT_EQ(r->algorithm, "ptq");
    EXPECT_TRUE(r->verify.verified) << r->verify.message;
    EXPECT_EQ(r->verify.samples, 64);
    EXPECT_EQ(r->verify.top1Agreement, 1.0);
    EXPECT_LE(r->verify.maxAbsDiff, 1e-5);
    EXPECT_GT(r->bytesBefore, 0);
    EXPECT_LT(r->bytesAfter, 0.35 * r->bytesBefore);
    EXPECT_GE(r->verify.floatAgreement, 0.9);
    EXPECT_EQ(r->paramsBefore, 61706);
    EXPECT_GT(r->flopsBefore, 0);
    ASSERT_TRUE(r->accuracyBefore && r->accuracyAfter);
    EXPECT_NEAR(*r->accuracyAfter, *r->accuracyBefore, 0.05);
    EXPECT_EQ(r->apply.changed(), 5) << "2 Conv + 3 Gemm";
    // The written file: no FakeQuantize, loads, has QDQ.
    ASSERT_TRUE(fs::exists(o.output));
    auto back = onnx::loadModel(o.output);
    ASSERT_TRUE(back) << back.error().message();
    int dq = 0;
    for (const ir::Node* n : back->graph->nodes()) {
        EXPECT_NE(n->opType, "FakeQuantize") << n->name;
        dq += n->opType == "DequantizeLinear";
    }
    EXPECT_GE(dq, 5);
    // OUT.recipe.json beside it, parseable back to the same run.
    EXPECT_EQ(r->recipePath, m_dir / "lenet_ptq.recipe.json");
    ASSERT_TRUE(fs::exists(r->recipePath));
    const std::string text = readText(r->recipePath);
    EXPECT_EQ(text, r->recipeJson);
    auto parsed = parseRecipe(text, pluginRegistry(), r->recipePath.string());
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(parsed->algorithm->name, "ptq");
    EXPECT_EQ(parsed->params.values(), o.recipe.params.values());
    EXPECT_EQ(parsed->params.getInt("samples"), 64);
    EXPECT_EQ(parsed->dataset.name, "fashion-mnist");
    // The input is untouched.
    auto again = onnx::loadModel(kLenet);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->graph->numNodes(), m_model.graph->numNodes());
}

TEST_F(Compress, RecipePathForReplacesOnnxOrAppends) {
    EXPECT_EQ(recipePathFor("/a/b.onnx"), fs::path("/a/b.recipe.json"));
    EXPECT_EQ(recipePathFor("/a/b.model"), fs::path("/a/b.model.recipe.json"));
    EXPECT_EQ(recipePathFor("/a/b"), fs::path("/a/b.recipe.json"));
}

TEST_F(Compress, NeverWritesOverTheInput) {
    // A copy of the model as the input, so a bug cannot damage the bundled sample.
    const fs::path in = m_dir / "in.onnx";
    fs::copy_file(kLenet, in);
    const auto sizeBefore = fs::file_size(in);
    const std::string bytesBefore = readText(in);
    CompressOptions o = options(kPtq, "");
    o.input = in;
    o.output = in;
    auto r = compress(m_model, o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), StatusCode::kUsage) << r.error().message();
    EXPECT_NE(r.error().message().find(in.string()), std::string::npos) << r.error().message();
    EXPECT_EQ(fs::file_size(in), sizeBefore);
    EXPECT_EQ(readText(in), bytesBefore);
    EXPECT_FALSE(fs::exists(m_dir / "in.recipe.json"));
    // The same file under another spelling.
    o.output = m_dir / "." / "in.onnx";
    auto r2 = compress(m_model, o);
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().code(), StatusCode::kUsage);
    EXPECT_EQ(readText(in), bytesBefore);
}

TEST_F(Compress, UnknownNodeNamesInTheSelectionAreBadInput) {
    // A typo must not compress nothing (nodes) or everything (exclude_nodes) and succeed.
    for (const char* sel :
         {R"({"nodes": ["conv1", "nonexistent"]})", R"({"exclude_nodes": ["typo_node"]})"}) {
        SCOPED_TRACE(sel);
        CompressOptions o =
            options(std::string(R"({"algorithm": "rtn", "select": )") + sel + "}", "sel.onnx");
        o.evaluate = false;
        auto r = compress(m_model, o);
        ASSERT_FALSE(r) << describe(*r);
        EXPECT_EQ(r.error().code(), StatusCode::kBadInput) << r.error().message();
        EXPECT_NE(r.error().message().find(std::string(sel).find("typo") != std::string::npos
                                               ? "'typo_node'"
                                               : "'nonexistent'"),
                  std::string::npos)
            << r.error().message();
        EXPECT_FALSE(fs::exists(o.output));
    }
    // Existing names select as asked.
    CompressOptions o =
        options(R"({"algorithm": "rtn", "select": {"nodes": ["conv1", "fc3"]}})", "sel_ok.onnx");
    o.evaluate = false;
    auto r = compress(m_model, o);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->apply.changed(), 2);
}

TEST_F(Compress, ASelectionWithNothingToChangeIsBadInputAndWritesNothing) {
    // Relu is not an op rtn changes: an uncompressed copy "compressed" with exit 0 would hide
    // the mistake. The message names a skipped node and why.
    CompressOptions o = options(
        R"({"algorithm": "rtn", "select": {"include_ops": ["Relu"]}})", "nothing.onnx");
    o.evaluate = false;
    auto r = compress(m_model, o);
    ASSERT_FALSE(r) << describe(*r);
    EXPECT_EQ(r.error().code(), StatusCode::kBadInput);
    EXPECT_NE(r.error().message().find("selects no node"), std::string::npos)
        << r.error().message();
    EXPECT_NE(r.error().message().find("include_ops"), std::string::npos) << r.error().message();
    EXPECT_FALSE(fs::exists(o.output));
}

TEST_F(Compress, CancelledBeforeStartLeavesNoOutput) {
    jobs::JobContext job;
    job.requestCancel();
    CompressOptions o = options(kPtq, "cancelled.onnx");
    o.job = &job;
    auto r = compress(m_model, o);
    ASSERT_FALSE(r) << "a cancelled job ran to the end";
    EXPECT_EQ(r.error().code(), StatusCode::kCancelled) << r.error().message();
    EXPECT_FALSE(fs::exists(o.output));
    EXPECT_FALSE(fs::exists(recipePathFor(o.output)));
}

namespace {

/// Cancels its job at the first training step.
class CancelAtStep : public train::Callback {
public:
    explicit CancelAtStep(jobs::JobContext& job) : m_job(job) {}
    Status onStepBegin(train::Trainer&, int64_t step) override {
        ++steps;
        if (step >= 1) m_job.requestCancel();
        return Status::ok();
    }
    int steps = 0;

private:
    jobs::JobContext& m_job;
};

}  // namespace

TEST_F(Compress, CancelledDuringTrainingLeavesNoOutput) {
    jobs::JobContext job;
    CancelAtStep cancel(job);
    CompressOptions o = options(
        R"({"algorithm": "ptq", "params": {"samples": 32},
            "train": {"steps": 50, "batch": 8, "lr": 0.0001}})",
        "cancelled_training.onnx");
    o.evaluate = false;
    o.job = &job;
    o.callbacks = {&cancel};
    auto r = compress(m_model, o);
    ASSERT_FALSE(r) << "cancel requested at step 1 of 50, yet the run finished";
    EXPECT_EQ(r.error().code(), StatusCode::kCancelled) << r.error().message();
    EXPECT_GE(cancel.steps, 2) << "training never started";
    EXPECT_LT(cancel.steps, 50) << "cancellation was not polled between steps";
    EXPECT_FALSE(fs::exists(o.output));
    EXPECT_FALSE(fs::exists(recipePathFor(o.output)));
}

TEST_F(Compress, WeightOnlyFourBitIsVerifiedAndSmallerThanEightBit) {
    auto run = [&](const std::string& json, const std::string& out) -> CompressResult {
        CompressOptions o = options(json, out);
        o.evaluate = false;
        auto r = compress(m_model, o);
        EXPECT_TRUE(r) << json << ": " << r.error().message();
        if (!r) return {};
        EXPECT_TRUE(r->verify.verified) << describe(*r);
        EXPECT_TRUE(fs::exists(o.output)) << out;
        return std::move(*r);
    };
    const CompressResult rtn8 =
        run(R"({"algorithm": "rtn", "params": {"weight_bits": 8}})", "rtn8.onnx");
    const CompressResult rtn4 =
        run(R"({"algorithm": "rtn", "params": {"weight_bits": 4, "group_size": 32}})", "rtn4.onnx");
    const CompressResult gptq4 =
        run(R"({"algorithm": "gptq", "params": {"weight_bits": 4, "group_size": 32,
                 "samples": 64}})",
            "gptq4.onnx");
    ASSERT_GT(rtn8.bytesAfter, 0);
    EXPECT_LT(rtn8.bytesAfter, 0.35 * rtn8.bytesBefore) << describe(rtn8);
    // 4-bit codes are half of the 8-bit ones (30.9 of 61.7 kB); a float scale per group of 32
    // adds 1/8 of that (7.7 kB) and the unpacking ops (BitShift, Reshape, ...) ~8 kB of graph
    // on a model this small: 0.76 of the 8-bit file. A float zero point per group (what a
    // symmetric grid does not need) adds another 7.7 kB, 0.88: the bound 0.8 catches it.
    EXPECT_LT(rtn4.bytesAfter, 0.8 * rtn8.bytesAfter) << describe(rtn4) << " vs " << describe(rtn8);
    EXPECT_LT(gptq4.bytesAfter, 0.8 * rtn8.bytesAfter) << describe(gptq4);
    EXPECT_EQ(rtn4.apply.changed(), 5);
    EXPECT_EQ(gptq4.apply.changed(), 5);
    // 4-bit on an untrained net still mostly agrees with float.
    EXPECT_GE(rtn8.verify.floatAgreement, 0.9) << describe(rtn8);
    EXPECT_GE(rtn4.verify.floatAgreement, 0.5) << describe(rtn4);
    EXPECT_GE(gptq4.verify.floatAgreement, 0.5) << describe(gptq4);
}

// ---- ONNX Runtime ------------------------------------------------------------------------------

namespace {

bool haveOrt() {
    return fs::exists(kPeers / "node_modules/onnxruntime-node/package.json") &&
           std::system("command -v node >/dev/null 2>&1") == 0;
}

/// The first `n` Fashion-MNIST test images as [n,1,28,28], normalized like the pipeline.
engine::HostTensor testImages(int64_t n) {
    auto ds = data::openDataset("fashion-mnist", "test", {}, data::Normalization::fashionMnist());
    EXPECT_TRUE(ds) << ds.error().message();
    std::vector<float> v(static_cast<std::size_t>(n * 28 * 28));
    for (int64_t i = 0; i < n; ++i) (*ds)->get(i, v.data() + i * 28 * 28);
    return engine::HostTensor::fromFloats({n, 1, 28, 28}, v);
}

/// Runs `model` (a file) in ONNX Runtime on `x`; the first output.
std::vector<float> runOrt(const fs::path& model, const ir::Model& m, const engine::HostTensor& x) {
    const fs::path dir = model.parent_path() / (model.stem().string() + "_ort");
    fs::create_directories(dir);
    const std::string inName = m.graph->inputs()[0]->name();
    const std::string outName = m.graph->outputs()[0]->name();
    const fs::path npy = dir / "x.npy";
    EXPECT_TRUE(data::writeNpy(npy, x).isOk());
    const std::string cmd = "node " + (kPeers / "ort_run.js").string() + " " + model.string() +
                            " " + dir.string() + " " + inName + "=" + npy.string() + " >/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << "ONNX Runtime failed: " << cmd;
    auto out = data::readNpy(dir / (outName + ".npy"));
    EXPECT_TRUE(out) << out.error().message();
    return out ? out->toFloats() : std::vector<float>{};
}

std::vector<float> runOurs(const ir::Model& m, const engine::HostTensor& x) {
    auto plan = engine::Plan::compile(m);
    EXPECT_TRUE(plan) << plan.error().message();
    if (!plan) return {};
    auto out = plan->run({x});
    EXPECT_TRUE(out) << out.error().message();
    return out ? (*out)[0].toFloats() : std::vector<float>{};
}

int argmax(const std::vector<float>& v, int64_t row, int64_t classes) {
    auto b = v.begin() + row * classes;
    return static_cast<int>(std::max_element(b, b + classes) - b);
}

}  // namespace

TEST_F(Compress, ExportsRunInOnnxRuntimeLikeOurEngine) {
    if (!haveOrt())
        GTEST_SKIP() << "node or onnxruntime-node absent (" << kPeers.string()
                     << "/node_modules; install-deps.sh --peers)";
    const int64_t n = 16, classes = 10;
    const engine::HostTensor x = testImages(n);
    struct Case {
        const char* recipe;
        const char* file;
        bool activationsQuantized;
    };
    for (const Case& c :
         {Case{kPtq, "ptq.onnx", true}, Case{R"({"algorithm": "rtn", "params": {"weight_bits": 4,
                                  "group_size": 32}})",
                                             "rtn4.onnx", false}}) {
        SCOPED_TRACE(c.file);
        CompressOptions o = options(c.recipe, c.file);
        o.evaluate = false;
        auto r = compress(m_model, o);
        ASSERT_TRUE(r) << r.error().message();
        ASSERT_TRUE(r->verify.verified) << describe(*r);
        auto written = onnx::loadModel(o.output);
        ASSERT_TRUE(written) << written.error().message();
        const std::vector<float> ours = runOurs(*written, x);
        const std::vector<float> theirs = runOrt(o.output, *written, x);
        ASSERT_EQ(ours.size(), theirs.size());
        ASSERT_EQ(static_cast<int64_t>(ours.size()), n * classes);
        double maxDiff = 0, maxRef = 0;
        for (std::size_t i = 0; i < ours.size(); ++i) {
            maxDiff = std::max(maxDiff, std::fabs(static_cast<double>(ours[i]) - theirs[i]));
            maxRef = std::max(maxRef, std::fabs(static_cast<double>(ours[i])));
        }
        if (!c.activationsQuantized) {
            // Weight-only: both compute float convolutions on the same dequantized weights;
            // only the summation order differs.
            EXPECT_LT(maxDiff / maxRef, 1e-5) << "max |diff| " << maxDiff << ", max " << maxRef;
            for (int64_t s = 0; s < n; ++s)
                EXPECT_EQ(argmax(ours, s, classes), argmax(theirs, s, classes)) << "sample " << s;
        } else {
            // QDQ: ORT may fuse into integer kernels (QLinearConv / QLinearMatMul) that
            // requantize with their own rounding, so an intermediate code can land one step
            // away. The output is the float result of the last Gemm reading a dequantized input
            // of scale s_in: one input code one step away moves an output by s_in * |w_oj|, so
            // the tolerance is one such step, s_in * max |W|. (Measured: ~1e-6, i.e. ORT and
            // our engine agree to float rounding on this model.)
            double sIn = 0, rowL1 = 0;  // rowL1: max |W| of the last layer
            const ir::Node* last = r->model.graph->outputs()[0]->producer();
            ASSERT_NE(last, nullptr);
            const ir::Node* dqIn = last->input(0)->producer();
            ASSERT_NE(dqIn, nullptr);
            ASSERT_EQ(dqIn->opType, "DequantizeLinear") << "the last layer's input is quantized";
            sIn = dqIn->input(1)->initializer()->values<float>()[0];
            const ir::Node* dqW = last->input(1)->producer();
            ASSERT_NE(dqW, nullptr);
            ASSERT_EQ(dqW->opType, "DequantizeLinear");
            const ir::Tensor& codes = *dqW->input(0)->initializer();
            auto ws = dqW->input(1)->initializer()->values<float>();
            const int64_t rows = codes.dims[0], cols = codes.numElements() / rows;
            const int8_t* q = reinterpret_cast<const int8_t*>(codes.data->data());
            for (int64_t o2 = 0; o2 < rows; ++o2)
                for (int64_t k = 0; k < cols; ++k)
                    rowL1 = std::max(
                        rowL1, std::abs(q[o2 * cols + k]) *
                                   static_cast<double>(
                                       ws[ws.size() == 1 ? 0 : static_cast<std::size_t>(o2)]));
            const double tol = sIn * rowL1;
            EXPECT_LE(maxDiff, tol) << "max |diff| " << maxDiff << ", s_in " << sIn << ", max |W| "
                                    << rowL1 << ", max |out| " << maxRef;
            int agree = 0;
            for (int64_t s = 0; s < n; ++s)
                agree += argmax(ours, s, classes) == argmax(theirs, s, classes);
            EXPECT_GE(agree, n - 1) << "top-1 agreement with ORT";
            std::printf("[ ORT ptq ] max |diff| %.3g (tolerance %.3g, s_in %.3g), top-1 %d/%lld\n",
                        maxDiff, tol, sIn, agree, static_cast<long long>(n));
        }
    }
}
