// Parity with ONNX Runtime: the same model and input through our engine and through ORT 1.30
// (npm onnxruntime-node, run by tests/peers/ort_run.js) must agree within 1e-4 relative.
// Models: the built-in Fashion-MNIST architectures and the torchvision exports.

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/data/npy.h"
#include "core/engine/benchmark.h"
#include "core/engine/plan.h"
#include "core/models/architectures.h"
#include "core/onnx/model_io.h"
#include "tests/core/engine/int4_test_model.h"

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

// The graph inputs that need feeding, in order.
std::vector<const ir::Value*> fedInputs(const ir::Model& model) {
    std::vector<const ir::Value*> out;
    for (const ir::Value* v : model.graph->inputs())
        if (!v->hasInitializer()) out.push_back(v);
    return out;
}

// Runs `modelPath` in both engines on `inputs` (one per fed graph input, in order) and checks
// every output against ONNX Runtime's; with `reference` (output name -> folder of NAME.npy, e.g.
// PyTorch's outputs), against those too. `ortFlags`: more ort_run.js options.
void checkParity(const fs::path& modelPath, const std::vector<engine::HostTensor>& inputs,
                 double tolerance, const fs::path& reference = {},
                 std::vector<engine::Backend> backends = {}, const std::string& ortFlags = {}) {
    auto model = onnx::loadModel(modelPath);
    ASSERT_TRUE(model) << model.error().message();
    const auto fed = fedInputs(*model);
    ASSERT_EQ(fed.size(), inputs.size());
    engine::PlanOptions po;
    if (!backends.empty()) po.backends = std::move(backends);
    std::vector<std::string> feeds;
    const fs::path dir = fs::temp_directory_path() / ("whittle-parity-" + modelPath.stem().string() +
                                                      "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (std::size_t k = 0; k < fed.size(); ++k) {
        po.inputShapes[fed[k]->name()] = inputs[k].dims();
        const fs::path npy = dir / ("in" + std::to_string(k) + ".npy");
        ASSERT_TRUE(data::writeNpy(npy, inputs[k]).isOk());
        feeds.push_back(fed[k]->name() + "=" + npy.string());
    }
    auto plan = engine::Plan::compile(*model, po);
    ASSERT_TRUE(plan) << plan.error().message();
    auto ours = plan->run(inputs);
    ASSERT_TRUE(ours) << ours.error().message();

    std::string cmd = "node " + (kPeers / "ort_run.js").string() + " " + modelPath.string() + " " +
                      (dir / "ort").string();
    for (const auto& f : feeds) cmd += " " + f;
    if (!ortFlags.empty()) cmd += " " + ortFlags;
    cmd += " >/dev/null 2>" + (dir / "ort.err").string();
    if (std::system(cmd.c_str()) != 0) {
        std::ifstream err(dir / "ort.err");
        FAIL() << "ONNX Runtime failed: " << cmd << "\n"
               << std::string(std::istreambuf_iterator<char>(err), {});
    }
    auto check = [&](const std::string& peer, const fs::path& folder, std::size_t i) {
        std::string file = plan->outputNames()[i];
        for (char& c : file)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
                c = '_';
        auto theirs = data::readNpy(folder / (file + ".npy"));
        ASSERT_TRUE(theirs) << theirs.error().message();
        ASSERT_EQ((*ours)[i].dims(), theirs->dims()) << "output " << plan->outputNames()[i];
        Mismatch m = compare((*ours)[i], *theirs);
        std::printf("parity %s '%s' vs %s: relative error %.2e (max |%s| %.3g)\n",
                    modelPath.filename().c_str(), plan->outputNames()[i].c_str(), peer.c_str(),
                    m.worst, peer.c_str(), m.scale);
        EXPECT_LE(m.worst, tolerance)
            << modelPath.filename() << " output '" << plan->outputNames()[i] << "' "
            << engine::dimsToString(theirs->dims()) << ": worst relative error " << m.worst
            << " at " << m.index << " (ours " << m.ours << ", " << peer << " " << m.theirs
            << ", max |" << peer << "| " << m.scale << ")";
    };
    for (std::size_t i = 0; i < plan->outputNames().size(); ++i) {
        check("ORT", dir / "ort", i);
        if (!reference.empty()) check("PyTorch", reference, i);
    }
    fs::remove_all(dir);
}

// The same on random inputs of batch `batch` (symbolic dimensions past the first from `shapes`).
void checkParity(const fs::path& modelPath, int64_t batch, double tolerance,
                 const std::map<std::string, engine::Dims>& shapes = {}) {
    auto model = onnx::loadModel(modelPath);
    ASSERT_TRUE(model) << model.error().message();
    auto inputs = engine::randomInputs(*model, batch, 1234, shapes);
    ASSERT_TRUE(inputs) << inputs.error().message();
    checkParity(modelPath, *inputs, tolerance);
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

// Weight-only int4 models as ONNX Runtime's quantizer writes them (opset 21, packed int4 /
// uint4 initializers, blocked DequantizeLinear → MatMul): the same file in both engines, ORT
// unoptimized — optimized, it fuses the pair into MatMulNBits, which quantizes the activations
// to int8 (relative error ~2e-3 here), no longer the model's arithmetic.
TEST(Int4Parity, BlockedDequantizeLinearMatchesOnnxRuntime) {
    if (!ortAvailable()) GTEST_SKIP() << "onnxruntime-node not installed (install-deps.sh --peers)";
    using engine::int4test::Int4Case;
    for (const Int4Case& c : {Int4Case{}, Int4Case{.isSigned = false, .zeroPoint = true},
                              Int4Case{.isSigned = true, .zeroPoint = true, .K = 64, .N = 5,
                                       .block = 32}}) {
        const auto m = engine::int4test::int4MatMul(c);
        const fs::path path = fs::temp_directory_path() /
                              ("whittle-int4-" + std::to_string(::getpid()) + ".onnx");
        ASSERT_TRUE(onnx::saveModel(m.model, path).isOk());
        std::vector<float> x(static_cast<std::size_t>(4 * c.K));
        std::mt19937 rng(c.seed);
        std::uniform_real_distribution<float> d(-1, 1);
        for (float& v : x) v = d(rng);
        checkParity(path, {engine::HostTensor::fromFloats({4, c.K}, x)}, 1e-5, {}, {},
                    "--unoptimized");
        fs::remove(path);
    }
}

// The sequence-model corpus (tests/tools/export_sequence_models.py): a transformer encoder with
// a padding mask, a GPT-style decoder with causal and padding masks, LSTM + GRU, Loop + If. Each
// on the inputs its export saved (checked against ORT and against PyTorch's outputs), then on
// random inputs of another batch and length given as shapes, as `--shape` would.
struct SequenceCase {
    std::string name;
    std::map<std::string, engine::Dims> otherShape;
};

void PrintTo(const SequenceCase& c, std::ostream* os) { *os << c.name; }

class SequenceParity : public ::testing::TestWithParam<SequenceCase> {};

TEST_P(SequenceParity, MatchesOnnxRuntimeAndPyTorch) {
    if (!ortAvailable()) GTEST_SKIP() << "onnxruntime-node not installed (install-deps.sh --peers)";
    const fs::path root = fs::path(WHITTLE_SOURCE_DIR) / "tests/data/sequence";
    const fs::path path = root / (GetParam().name + ".onnx");
    if (!fs::exists(path)) GTEST_SKIP() << path << " not exported (python3-torch absent?)";
    auto model = onnx::loadModel(path);
    ASSERT_TRUE(model) << model.error().message();
    std::vector<engine::HostTensor> inputs;
    for (const ir::Value* v : fedInputs(*model)) {
        auto t = data::readNpy(root / (GetParam().name + ".inputs") / (v->name() + ".npy"));
        ASSERT_TRUE(t) << t.error().message();
        inputs.push_back(std::move(*t));
    }
    checkParity(path, inputs, 1e-4, root / (GetParam().name + ".torch"));
    checkParity(path, 3, 1e-4, GetParam().otherShape);
}

INSTANTIATE_TEST_SUITE_P(
    Sequence, SequenceParity,
    ::testing::Values(
        SequenceCase{"transformer_encoder", {{"tokens", {3, 9}}, {"padding_mask", {3, 9}}}},
        SequenceCase{"gpt_decoder", {{"tokens", {3, 33}}, {"attention_mask", {3, 33}}}},
        SequenceCase{"recurrent", {{"features", {3, 7, 20}}}},
        SequenceCase{"control_flow", {}}),
    [](const auto& info) { return info.param.name; });

// ONNX's GRU without linear_before_reset (which PyTorch never exports) and a bidirectional LSTM
// with initial states, random weights: both backends against ONNX Runtime (the reference GRU
// once applied unit j's reset gate to the whole row; ONNX's node tests, with all weights equal,
// could not tell).
TEST(RecurrentParity, GruAndLstmOnBothBackendsMatchOnnxRuntime) {
    if (!ortAvailable()) GTEST_SKIP() << "onnxruntime-node not installed (install-deps.sh --peers)";
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-0.7f, 0.7f);
    auto random = [&](const engine::Dims& dims) {
        std::vector<float> v(static_cast<std::size_t>(engine::numElementsOf(dims)));
        for (float& x : v) x = u(rng);
        return v;
    };
    const int64_t T = 7, N = 2, I = 5, H = 8;
    for (bool lstm : {false, true}) {
        ir::Model m;
        m.irVersion = 8;
        m.opsetImports.push_back({"", 14, {}});
        ir::Graph& g = *m.graph;
        std::vector<engine::HostTensor> feeds;
        auto input = [&](const std::string& name, engine::Dims dims) {
            ir::Value* v = *g.addValue(name);
            ir::Shape shape;
            for (int64_t d : dims) shape.dims.push_back(ir::Dim::known(d));
            v->type = ir::Type::tensor(ir::DType::kFloat, shape);
            g.insertGraphInput(v);
            feeds.push_back(engine::HostTensor::fromFloats(dims, random(dims)));
            return v;
        };
        auto weight = [&](const std::string& name, engine::Dims dims) {
            ir::Value* v = *g.addValue(name);
            g.setInitializer(v, ir::Tensor::fromFloats(name, dims, random(dims)));
            return v;
        };
        const int64_t D = 2, GH = (lstm ? 4 : 3) * H;
        std::vector<ir::Value*> ins = {input("X", {T, N, I}), weight("W", {D, GH, I}),
                                       weight("R", {D, GH, H}), weight("B", {D, 2 * GH}), nullptr,
                                       input("h0", {D, N, H})};
        if (lstm) ins.push_back(input("c0", {D, N, H}));
        std::vector<ir::Value*> outs = {*g.addValue("Y"), *g.addValue("Y_h")};
        ir::Node* node = g.addNode(lstm ? "LSTM" : "GRU", ins, outs);
        node->name = "rnn";
        node->attributes().push_back(ir::Attribute::makeInt("hidden_size", H));
        node->attributes().push_back(ir::Attribute::makeString("direction", "bidirectional"));
        for (ir::Value* v : outs) g.insertGraphOutput(v);
        const fs::path path = fs::temp_directory_path() /
                              ((lstm ? "whittle-lstm-" : "whittle-gru-") +
                               std::to_string(::getpid()) + ".onnx");
        ASSERT_TRUE(onnx::saveModel(m, path).isOk());
        for (auto backend : {engine::Backend::kDnnl, engine::Backend::kReference}) {
            SCOPED_TRACE(lstm ? "LSTM" : "GRU");
            checkParity(path, feeds, 1e-4, {}, {backend});
        }
        fs::remove(path);
    }
}
