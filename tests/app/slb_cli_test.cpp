// `whittle-cli compress` with the slb recipe end to end on a tiny Conv → BN network and
// Fashion-MNIST, for 1, 2 and 4 bits: a few training steps, the export verified, reloaded, its
// weights only the allowed integers, and the same outputs in ONNX Runtime (tests/peers) as in
// our engine.

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/data/dataset.h"
#include "core/data/npy.h"
#include "core/engine/host_tensor.h"
#include "core/engine/plan.h"
#include "core/ir/graph.h"
#include "core/onnx/model_io.h"
#include "tests/core/train/model_builder.h"

namespace {

using namespace wh;
using json = nlohmann::json;
namespace fs = std::filesystem;

const fs::path kFashion = "/usr/share/datasets/fashion-mnist";
const fs::path kPeers = fs::path(WHITTLE_SOURCE_DIR) / "tests/peers";

struct CliResult {
    std::string out, err;
    int exitCode = -1;
};

CliResult cli(const std::string& args, const fs::path& dir) {
    const fs::path errFile = dir / "stderr.txt";
    const std::string cmd = std::string(WHITTLE_CLI) + " " + args + " 2>" + errFile.string();
    CliResult r;
    FILE* pipe = popen(cmd.c_str(), "r");
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, pipe)) r.out.append(buf, n);
    const int status = pclose(pipe);
    r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(errFile);
    r.err.assign(std::istreambuf_iterator<char>(in), {});
    return r;
}

// x [N,1,28,28] → Conv(1→8, 3x3, stride 2) → BN → Relu → Conv(8→16, 3x3, stride 2) → BN → Relu
// → GlobalAveragePool → Flatten → Gemm(16→10).
ir::Model tinyNet() {
    wh::testing::ModelBuilder b(13, 21);
    b.input("input", {1, 28, 28});
    auto conv = [&](const std::string& in, const std::string& w, int64_t cin, int64_t cout,
                    const std::string& out) {
        b.weight(w, {cout, cin, 3, 3}, cin * 9);
        ir::Node* c = b.node("Conv", {in, w}, {out});
        c->attributes().push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
        c->attributes().push_back(ir::Attribute::makeInts("strides", {2, 2}));
    };
    conv("input", "w1", 1, 8, "c1");
    b.batchNorm("c1", "bn1", 8, "n1");
    b.node("Relu", {"n1"}, {"r1"});
    conv("r1", "w2", 8, 16, "c2");
    b.batchNorm("c2", "bn2", 16, "n2");
    b.node("Relu", {"n2"}, {"r2"});
    b.node("GlobalAveragePool", {"r2"}, {"p"});
    b.node("Flatten", {"p"}, {"f"});
    b.weight("fc", {10, 16}, 16);
    b.weight("fcb", {10}, 0, 0.0f);
    b.node("Gemm", {"f", "fc", "fcb"}, {"output"})
        ->attributes()
        .push_back(ir::Attribute::makeInt("transB", 1));
    b.output("output", {10});
    return b.take();
}

bool haveOrt() {
    return fs::exists(kPeers / "node_modules/onnxruntime-node/package.json") &&
           std::system("command -v node >/dev/null 2>&1") == 0;
}

}  // namespace

TEST(SlbCli, CompressTrainsConvertsAndRunsInOnnxRuntime) {
    if (!fs::exists(kFashion)) GTEST_SKIP() << "Fashion-MNIST absent (" << kFashion << ")";
    const fs::path dir =
        fs::temp_directory_path() / ("whittle-slb-cli-" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path model = dir / "tiny.onnx";
    ASSERT_TRUE(onnx::saveModel(tinyNet(), model).isOk());
    // Test images for the ONNX Runtime comparison.
    const int64_t n = 8;
    auto ds = data::openDataset("fashion-mnist", "test", {}, data::Normalization::fashionMnist());
    ASSERT_TRUE(ds) << ds.error().message();
    std::vector<float> xs(static_cast<std::size_t>(n * 28 * 28));
    for (int64_t i = 0; i < n; ++i) (*ds)->get(i, xs.data() + i * 28 * 28);
    const engine::HostTensor x = engine::HostTensor::fromFloats({n, 1, 28, 28}, xs);
    const fs::path xFile = dir / "x.npy";
    ASSERT_TRUE(data::writeNpy(xFile, x).isOk());

    struct Case {
        int bits;
        bool packed;
    };
    for (const Case c : {Case{1, false}, Case{2, false}, Case{4, false}, Case{1, true}}) {
        const int bits = c.bits;
        const std::string tag = std::to_string(bits) + (c.packed ? "p" : "");
        SCOPED_TRACE(tag + " bits");
        const fs::path recipe = dir / ("slb" + tag + ".json");
        const fs::path out = dir / ("slb" + tag + ".onnx");
        {
            std::ofstream r(recipe);
            r << R"({"algorithm": "slb", "params": {"weight_bits": )" << bits
              << R"(, "packed_export": )" << (c.packed ? "true" : "false")
              << R"(, "epoch_size": 4, "enable_bn_calibration": true},
                     "dataset": {"name": "fashion-mnist", "split": "train"},
                     "train": {"steps": 6, "batch": 32, "lr": 0.001, "optimizer": "adam"}})";
        }
        CliResult r = cli("compress " + model.string() + " --recipe " + recipe.string() + " -o " +
                              out.string() + " --dataset fashion-mnist --json",
                          dir);
        ASSERT_EQ(r.exitCode, 0) << r.err;
        json j = json::parse(r.out);
        EXPECT_EQ(j["algorithm"], "slb");
        EXPECT_TRUE(j["verified"].get<bool>()) << r.out;
        bool packedNote = false;
        for (const auto& note : j["notes"])
            packedNote =
                packedNote || note.get<std::string>().find("packed size") != std::string::npos;
        EXPECT_TRUE(packedNote) << r.out;

        auto m = onnx::loadModel(out);
        ASSERT_TRUE(m) << m.error().message();
        const int levels = bits == 1 ? 1 : (1 << bits) - 1;
        int dq = 0;
        for (const ir::Node* node : m->graph->nodes()) {
            EXPECT_NE(node->opType, "SlbWeight");
            EXPECT_NE(node->opType, "BatchNormalization");
            if (node->opType != "DequantizeLinear") continue;
            ++dq;
            const ir::Tensor& codes = *node->input(0)->initializer();
            ASSERT_EQ(codes.dtype, ir::DType::kInt8);
            const int8_t* q = reinterpret_cast<const int8_t*>(codes.data->data());
            for (int64_t i = 0; i < codes.numElements(); ++i) {
                ASSERT_LE(std::abs(q[i]), levels);
                ASSERT_EQ(std::abs(q[i]) % 2, 1) << int(q[i]);
            }
        }
        // The two Convs (Gemm only when include_ops names it); packed: no DequantizeLinear but
        // the unpacking subgraph.
        EXPECT_EQ(dq, c.packed ? 0 : 2) << "Gemm only when include_ops names it";
        if (c.packed) {
            int shifts = 0;
            for (const ir::Node* node : m->graph->nodes()) shifts += node->opType == "BitShift";
            EXPECT_GE(shifts, 2);
        }

        // Our engine on the reloaded file vs ONNX Runtime.
        auto plan = engine::Plan::compile(*m);
        ASSERT_TRUE(plan) << plan.error().message();
        auto ours = plan->run({x});
        ASSERT_TRUE(ours) << ours.error().message();
        if (!haveOrt()) continue;
        const fs::path ortDir = dir / ("ort" + tag);
        fs::create_directories(ortDir);
        const std::string cmd = "node " + (kPeers / "ort_run.js").string() + " " + out.string() +
                                " " + ortDir.string() + " input=" + xFile.string() + " >/dev/null";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << "ONNX Runtime failed: " << cmd;
        auto theirs = data::readNpy(ortDir / "output.npy");
        ASSERT_TRUE(theirs) << theirs.error().message();
        ASSERT_EQ(theirs->numElements(), (*ours)[0].numElements());
        double diff = 0, ref = 0;
        for (int64_t i = 0; i < theirs->numElements(); ++i) {
            diff = std::max(diff, std::abs(static_cast<double>(theirs->at(i)) - (*ours)[0].at(i)));
            ref = std::max(ref, std::abs(static_cast<double>((*ours)[0].at(i))));
        }
        EXPECT_LT(diff, 1e-4 * std::max(1.0, ref)) << "ORT vs ours, max |out| " << ref;
    }
    if (!haveOrt()) GTEST_SKIP() << "node or onnxruntime-node absent: ORT comparison skipped";
    fs::remove_all(dir);
}
