// whittle-cli as scripts use it: real process, stdout JSON, stderr one line, exit codes.

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/data/npy.h"
#include "core/engine/host_tensor.h"
#include "core/ir/graph.h"
#include "core/models/architectures.h"
#include "core/onnx/model_io.h"
#include "core/util/rng.h"
#include "tests/core/algo/prune_test_util.h"
#include "tests/core/train/model_builder.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct CliRun {
    int exitCode = -1;
    bool signalled = false;
    std::string out, err;
};

CliRun runCli(const std::string& args) {
    const fs::path errFile =
        fs::temp_directory_path() / ("whittle-cli-err-" + std::to_string(getpid()));
    // "__limited__ ARGS": under a 1 GiB address-space limit (what a small machine gives).
    const std::string limited = "__limited__ ";
    const bool limit = args.rfind(limited, 0) == 0;
    const std::string cmd = (limit ? "ulimit -v 1048576; exec " : "") + std::string(WHITTLE_CLI) +
                            " " + (limit ? args.substr(limited.size()) : args) + " 2>" +
                            errFile.string();
    CliRun r;
    FILE* pipe = popen(cmd.c_str(), "r");
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, pipe)) r.out.append(buf, n);
    const int status = pclose(pipe);
    r.signalled = WIFSIGNALED(status);
    r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(errFile);
    r.err.assign(std::istreambuf_iterator<char>(in), {});
    fs::remove(errFile);
    return r;
}

const std::string kSample = std::string(WHITTLE_SOURCE_DIR) + "/resources/samples/lenet5.onnx";

int lineCount(const std::string& s) {
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace

TEST(Cli, InfoJsonHasTheContractKeys) {
    CliRun r = runCli("info " + kSample + " --json");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    json j = json::parse(r.out);  // stdout is exactly one JSON object
    for (const char* key : {"opset", "nodes", "nodes_total", "ops", "params", "inputs", "outputs"})
        EXPECT_TRUE(j.contains(key)) << "missing key " << key << " in " << r.out;
    EXPECT_EQ(j["opset"], 13);
    EXPECT_EQ(j["nodes"], 12);
    EXPECT_EQ(j["ops"]["Conv"], 2);
    EXPECT_EQ(j["ops"]["Gemm"], 3);
    // LeNet-5: 6*25+6 + 16*150+16 + 400*120+120 + 120*84+84 + 84*10+10
    EXPECT_EQ(j["params"], 61706);
    ASSERT_EQ(j["inputs"].size(), 1u);
    EXPECT_EQ(j["inputs"][0]["name"], "input");
    EXPECT_EQ(j["inputs"][0]["dtype"], "float");
    EXPECT_EQ(j["inputs"][0]["shape"], json::parse(R"(["batch",1,28,28])"));
    EXPECT_EQ(j["outputs"][0]["shape"], json::parse(R"(["batch",10])"));
}

TEST(Cli, InfoCountsSubgraphNodes) {
    const std::string model = "/usr/share/libonnx-testdata/data/node/test_if/model.onnx";
    if (!fs::exists(model)) GTEST_SKIP() << "libonnx-testdata missing";
    CliRun r = runCli("info " + model + " --json");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    json j = json::parse(r.out);
    EXPECT_EQ(j["nodes"], 1);
    EXPECT_EQ(j["nodes_total"], 3);
}

TEST(Cli, ConvertWritesAnIdenticalModel) {
    const fs::path out = fs::temp_directory_path() / "whittle-cli-convert.onnx";
    fs::remove(out);
    CliRun r = runCli("convert " + kSample + " " + out.string() + " --json");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    json j = json::parse(r.out);
    EXPECT_EQ(j["nodes"], 12);
    EXPECT_EQ(j["bytes"], fs::file_size(out));
    // Lossless: the written bytes are the bytes of the sample (written by python onnx).
    std::ifstream a(kSample, std::ios::binary), b(out, std::ios::binary);
    std::string sa(std::istreambuf_iterator<char>(a), {}),
        sb(std::istreambuf_iterator<char>(b), {});
    EXPECT_EQ(sa.size(), sb.size());
    EXPECT_TRUE(sa == sb);
    // No temporary file is left beside the output.
    for (const auto& e : fs::directory_iterator(out.parent_path()))
        EXPECT_EQ(e.path().filename().string().find(".whittle-cli-convert.onnx.tmp"),
                  std::string::npos);
    fs::remove(out);
}

TEST(Cli, ConvertRefusesToOverwriteItsInput) {
    const fs::path copy = fs::temp_directory_path() / "whittle-cli-self.onnx";
    fs::copy_file(kSample, copy, fs::copy_options::overwrite_existing);
    const auto before = fs::file_size(copy);
    CliRun r = runCli("convert " + copy.string() + " " + copy.string());
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_EQ(lineCount(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("refusing to overwrite"), std::string::npos) << r.err;
    EXPECT_EQ(fs::file_size(copy), before);
    fs::remove(copy);
}

// `edit`: replays an edit script (core/rewrite/edits.h); a bad edit fails naming the script,
// the edit's position and the node; the input model is never the output.
TEST(Cli, EditReplaysAScript) {
    const fs::path dir =
        fs::temp_directory_path() / ("whittle-cli-edit-" + std::to_string(getpid()));
    fs::create_directories(dir);
    const fs::path script = dir / "edits.json", out = dir / "out.onnx";
    std::ofstream(script) << R"({"format": "whittle-edit-script", "version": 1, "edits": [
        {"op": "rename_node", "node": "conv1", "name": "stem"},
        {"op": "delete_node", "node": "relu2"},
        {"op": "add_output", "tensor": "p1"}]})";
    auto original = wh::onnx::loadModel(kSample);
    ASSERT_TRUE(original);
    ASSERT_TRUE(original->graph->findValue("p1")) << "the sample's tensor names changed";
    CliRun r = runCli("edit " + kSample + " --script " + script.string() + " -o " + out.string() +
                      " --json");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["edits"], 3);
    EXPECT_EQ(j["nodes_after"].get<int>(), j["nodes_before"].get<int>() - 1);
    auto edited = wh::onnx::loadModel(out);
    ASSERT_TRUE(edited) << edited.error().message();
    EXPECT_EQ(edited->graph->outputs().size(), original->graph->outputs().size() + 1);
    bool stem = false, relu2 = false;
    for (const wh::ir::Node* n : edited->graph->nodes()) {
        stem |= n->name == "stem";
        relu2 |= n->name == "relu2";
    }
    EXPECT_TRUE(stem);
    EXPECT_FALSE(relu2);

    std::ofstream(script) << R"({"format": "whittle-edit-script", "version": 1, "edits": [
        {"op": "rename_node", "node": "conv1", "name": "stem"},
        {"op": "delete_node", "node": "conv9"}]})";
    CliRun bad = runCli("edit " + kSample + " --script " + script.string() + " -o " +
                        (dir / "bad.onnx").string());
    EXPECT_EQ(bad.exitCode, 2);
    EXPECT_NE(bad.err.find("edit 2 of 2"), std::string::npos) << bad.err;
    EXPECT_NE(bad.err.find("conv9"), std::string::npos) << bad.err;
    EXPECT_FALSE(fs::exists(dir / "bad.onnx"));

    const auto before = fs::file_size(out);
    CliRun self =
        runCli("edit " + out.string() + " --script " + script.string() + " -o " + out.string());
    EXPECT_EQ(self.exitCode, 1);
    EXPECT_NE(self.err.find("refusing to overwrite"), std::string::npos) << self.err;
    EXPECT_EQ(fs::file_size(out), before);
    fs::remove_all(dir);
}

// `extract`: writes the part of a model between tensors (or what named nodes compute) as a new
// model; a tensor the part needs but nobody gives is refused by name; never overwrites its input.
TEST(Cli, ExtractWritesTheSubgraph) {
    const fs::path dir =
        fs::temp_directory_path() / ("whittle-cli-extract-" + std::to_string(getpid()));
    fs::create_directories(dir);
    const fs::path out = dir / "part.onnx", sel = dir / "sel.onnx";
    auto nodeNames = [](const wh::ir::Graph& g) {
        std::vector<std::string> names;
        for (const wh::ir::Node* n : g.nodes()) names.push_back(n->name);
        return names;
    };
    auto valueNames = [](const std::vector<wh::ir::Value*>& values) {
        std::vector<std::string> names;
        for (const wh::ir::Value* v : values) names.push_back(v->name());
        return names;
    };

    CliRun r =
        runCli("extract " + kSample + " -o " + out.string() + " --inputs p1 --outputs r2 --json");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["nodes"], 2);
    EXPECT_EQ(j["inputs"], json::parse(R"(["p1"])"));
    EXPECT_EQ(j["outputs"], json::parse(R"(["r2"])"));
    auto part = wh::onnx::loadModel(out);
    ASSERT_TRUE(part) << part.error().message();
    EXPECT_EQ(nodeNames(*part->graph), (std::vector<std::string>{"conv2", "relu2"}));
    EXPECT_EQ(valueNames(part->graph->inputs()), std::vector<std::string>{"p1"});
    EXPECT_EQ(valueNames(part->graph->outputs()), std::vector<std::string>{"r2"});
    EXPECT_EQ(part->graph->initializers().size(), 2u);  // conv2.weight, conv2.bias

    CliRun nodes = runCli("extract " + kSample + " -o " + sel.string() + " --nodes fc2,relu3");
    ASSERT_EQ(nodes.exitCode, 0) << nodes.err;
    auto selected = wh::onnx::loadModel(sel);
    ASSERT_TRUE(selected) << selected.error().message();
    EXPECT_EQ(nodeNames(*selected->graph), (std::vector<std::string>{"relu3", "fc2"}));
    EXPECT_EQ(valueNames(selected->graph->inputs()), std::vector<std::string>{"g1"});
    EXPECT_EQ(valueNames(selected->graph->outputs()), std::vector<std::string>{"g2"});

    CliRun missing =
        runCli("extract " + kSample + " -o " + (dir / "bad.onnx").string() + " --outputs r2");
    EXPECT_EQ(missing.exitCode, 1);
    EXPECT_NE(missing.err.find("'input'"), std::string::npos) << missing.err;
    EXPECT_FALSE(fs::exists(dir / "bad.onnx"));
    CliRun unknown =
        runCli("extract " + kSample + " -o " + (dir / "bad.onnx").string() + " --nodes conv9");
    EXPECT_EQ(unknown.exitCode, 1);
    EXPECT_NE(unknown.err.find("conv9"), std::string::npos) << unknown.err;

    const auto before = fs::file_size(out);
    CliRun self = runCli("extract " + out.string() + " -o " + out.string() + " --outputs r2");
    EXPECT_EQ(self.exitCode, 1);
    EXPECT_NE(self.err.find("refusing to overwrite"), std::string::npos) << self.err;
    EXPECT_EQ(fs::file_size(out), before);
    fs::remove_all(dir);
}

TEST(Cli, ExitCodesFollowTheContract) {
    CliRun usage = runCli("info");  // missing MODEL
    EXPECT_EQ(usage.exitCode, 1);
    EXPECT_TRUE(usage.out.empty());

    CliRun missing = runCli("info /nonexistent/model.onnx --json");
    EXPECT_EQ(missing.exitCode, 2);
    EXPECT_TRUE(missing.out.empty()) << "stdout must stay empty on error";
    EXPECT_EQ(lineCount(missing.err), 1) << missing.err;
    EXPECT_NE(missing.err.find("/nonexistent/model.onnx"), std::string::npos) << missing.err;

    const fs::path garbage = fs::temp_directory_path() / "whittle-cli-garbage.onnx";
    std::ofstream(garbage) << "this is not a protobuf\n";
    CliRun bad = runCli("info " + garbage.string());
    EXPECT_EQ(bad.exitCode, 2);
    EXPECT_FALSE(bad.signalled);
    EXPECT_EQ(lineCount(bad.err), 1) << bad.err;
    fs::remove(garbage);

    CliRun help = runCli("--help");
    EXPECT_EQ(help.exitCode, 0);
}

TEST(Cli, LayoutJsonHasTheContractKeys) {
    CliRun r = runCli("layout " + kSample + " --json");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    json j = json::parse(r.out);
    for (const char* key : {"nodes", "seconds", "width", "height", "crossings"})
        EXPECT_TRUE(j.contains(key)) << "missing key " << key << " in " << r.out;
    EXPECT_EQ(j["nodes"], 12);  // as `info` counts them
    EXPECT_GE(j["crossings"].get<int64_t>(), 0);
    EXPECT_GT(j["width"].get<double>(), 0);
    EXPECT_GT(j["height"].get<double>(), 0);
    EXPECT_GE(j["seconds"].get<double>(), 0);

    CliRun missing = runCli("layout /nonexistent/model.onnx --json");
    EXPECT_EQ(missing.exitCode, 2);
    EXPECT_TRUE(missing.out.empty());
}

TEST(Cli, LayoutWritesDot) {
    const fs::path dot =
        fs::temp_directory_path() / ("whittle-layout-" + std::to_string(getpid()) + ".dot");
    CliRun r = runCli("layout " + kSample + " --dot " + dot.string());
    ASSERT_EQ(r.exitCode, 0) << r.err;
    std::ifstream in(dot);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    EXPECT_NE(text.find("digraph"), std::string::npos);
    EXPECT_NE(text.find("->"), std::string::npos);
    fs::remove(dot);
}

// ---- Engine commands -------------------------------------------------------------------------

namespace {
// Writes a float32 .npy of the given shape filled with `value`.
void writeNpyFloat(const fs::path& p, std::vector<int64_t> dims, float value) {
    std::string shape = "(";
    int64_t n = 1;
    for (auto d : dims) {
        shape += std::to_string(d) + ", ";
        n *= d;
    }
    shape += ")";
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
    while ((10 + header.size() + 1) % 64) header += ' ';
    header += '\n';
    std::ofstream f(p, std::ios::binary);
    f.write("\x93NUMPY\x01\x00", 8);
    f.put(static_cast<char>(header.size() & 0xff));
    f.put(static_cast<char>(header.size() >> 8));
    f << header;
    std::vector<float> data(static_cast<std::size_t>(n), value);
    f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(n * 4));
}
}  // namespace

TEST(Cli, RunWritesEachOutputAsNpy) {
    const fs::path dir = fs::temp_directory_path() / "whittle-cli-run";
    fs::remove_all(dir);
    fs::create_directories(dir);
    writeNpyFloat(dir / "x.npy", {2, 1, 28, 28}, 0.5f);
    CliRun r = runCli("run " + kSample + " --input input=" + (dir / "x.npy").string() +
                      " --output-dir " + (dir / "out").string() + " --json");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    json j = json::parse(r.out);
    ASSERT_EQ(j["outputs"].size(), 1u);
    EXPECT_EQ(j["outputs"][0]["name"], "logits");
    EXPECT_EQ(j["outputs"][0]["dtype"], "float");
    EXPECT_EQ(j["outputs"][0]["shape"], json::parse("[2,10]"));
    const fs::path out = j["outputs"][0]["file"].get<std::string>();
    // 128-byte header + 2*10 floats.
    EXPECT_EQ(fs::file_size(out), 128u + 80u);

    CliRun missing = runCli("run " + kSample + " --output-dir " + (dir / "o2").string());
    EXPECT_EQ(missing.exitCode, 1) << missing.err;
    EXPECT_NE(missing.err.find("input 'input'"), std::string::npos) << missing.err;

    writeNpyFloat(dir / "bad.npy", {1, 3, 28, 28}, 0.0f);
    CliRun wrong = runCli("run " + kSample + " --input input=" + (dir / "bad.npy").string() +
                          " --output-dir " + (dir / "o3").string());
    EXPECT_EQ(wrong.exitCode, 2) << wrong.err;
    EXPECT_EQ(lineCount(wrong.err), 1) << wrong.err;
    fs::remove_all(dir);
}

TEST(Cli, BenchReportsLatency) {
    CliRun r = runCli("bench " + kSample + " --batch 4 --threads 1 --iters 5 --json");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    json j = json::parse(r.out);
    EXPECT_EQ(j["batch"], 4);
    EXPECT_EQ(j["threads"], 1);
    EXPECT_GT(j["p50_ms"].get<double>(), 0.0);
    EXPECT_GE(j["mean_ms"].get<double>(), j["min_ms"].get<double>());
    EXPECT_GT(j["peak_rss_bytes"].get<int64_t>(), 1 << 20);  // at least the program itself
}

TEST(Cli, ProfileListsEveryNodeAndWritesCsv) {
    const fs::path csv = fs::temp_directory_path() / "whittle-cli-profile.csv";
    fs::remove(csv);
    CliRun r = runCli("profile " + kSample + " --batch 2 --threads 1 --runs 3 --json --csv " +
                      csv.string());
    ASSERT_EQ(r.exitCode, 0) << r.err;
    json j = json::parse(r.out);
    EXPECT_EQ(j["batch"], 2);
    ASSERT_TRUE(j["nodes"].is_array());
    ASSERT_FALSE(j["nodes"].empty());
    double sum = j["conversion_ms"].get<double>();
    int timed = 0;
    for (const json& n : j["nodes"]) {
        for (const char* key : {"name", "op", "ms", "flops", "params", "act_bytes", "precision",
                                "fused_into", "weight_bytes"})
            EXPECT_TRUE(n.contains(key)) << key << " missing in " << n.dump();
        sum += n["ms"].get<double>();
        timed += n["ms"].get<double>() > 0;
        if (!n["fused_into"].is_null()) EXPECT_EQ(n["ms"].get<double>(), 0.0) << n.dump();
    }
    EXPECT_GT(timed, 0);
    EXPECT_NEAR(sum, j["total_ms"].get<double>(), 1e-6);
    // One CSV row per node under the header.
    std::ifstream in(csv);
    ASSERT_TRUE(in) << csv;
    std::string line;
    int rows = 0;
    std::getline(in, line);
    EXPECT_EQ(line.rfind("name,op,ms,", 0), 0u) << line;
    while (std::getline(in, line)) ++rows;
    EXPECT_EQ(rows, static_cast<int>(j["nodes"].size()));
    fs::remove(csv);

    CliRun text = runCli("profile " + kSample + " --threads 1 --runs 2 --top 3");
    ASSERT_EQ(text.exitCode, 0) << text.err;
    EXPECT_NE(text.out.find("op type"), std::string::npos) << text.out;
    CliRun bad = runCli("profile " + kSample + " --runs 0");
    EXPECT_EQ(bad.exitCode, 1) << bad.err;
}

TEST(Cli, EvalCountsSamples) {
    if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "no Fashion-MNIST";
    CliRun r =
        runCli("eval " + kSample + " --dataset fashion-mnist --limit 300 --batch 128 --json");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    json j = json::parse(r.out);
    EXPECT_EQ(j["samples"], 300);
    EXPECT_GE(j["accuracy"].get<double>(), 0.0);
    EXPECT_LE(j["accuracy"].get<double>(), 1.0);
    EXPECT_NEAR(j["accuracy"].get<double>() * 300, j["correct"].get<double>(), 1e-9);

    CliRun noData = runCli("eval " + kSample + " --dataset fashion-mnist --data-dir /nonexistent");
    EXPECT_EQ(noData.exitCode, 2) << noData.err;
    CliRun badName = runCli("eval " + kSample + " --dataset imagenet");
    EXPECT_EQ(badName.exitCode, 1) << badName.err;
}

TEST(Cli, UnsupportedOperatorExitsThree) {
    const std::string model = "/usr/share/libonnx-testdata/data/node/test_det_2d/model.onnx";
    if (!fs::exists(model)) GTEST_SKIP() << "libonnx-testdata missing";
    CliRun r = runCli("bench " + model + " --iters 1");
    EXPECT_EQ(r.exitCode, 3) << r.err;
    EXPECT_NE(r.err.find("Det"), std::string::npos) << r.err;
    EXPECT_EQ(lineCount(r.err), 1) << r.err;
}

// `train` is a thin wrapper over train::RecipeRunner: these pin its command line and JSON
// (tests/bench/train_bench.sh reads steady_images_per_second the same way).
TEST(Cli, TrainJsonHasTheContractKeys) {
    if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "no Fashion-MNIST";
    const fs::path out = fs::temp_directory_path() / "whittle-cli-train.onnx";
    CliRun r = runCli(
        "train --arch lenet5 --dataset fashion-mnist --steps 4 --batch 32 "
        "--threads 1 --eval-limit 100 --json -o " +
        out.string());
    ASSERT_EQ(r.exitCode, 0) << r.err;
    json j = json::parse(r.out);
    for (const char* key : {"images_per_second", "steady_images_per_second", "final_loss",
                            "test_accuracy", "steps", "epochs", "seconds", "output"})
        EXPECT_TRUE(j.contains(key)) << key << " missing from " << r.out;
    EXPECT_EQ(j["steps"], 4);
    EXPECT_EQ(j["epochs"], 1);
    EXPECT_EQ(j["output"], out.string());
    EXPECT_GT(j["images_per_second"].get<double>(), 0.0);
    EXPECT_GT(j["steady_images_per_second"].get<double>(), 0.0);
    EXPECT_GT(j["final_loss"].get<double>(), 0.0);
    ASSERT_TRUE(j["test_accuracy"].is_number()) << r.out;
    EXPECT_GE(j["test_accuracy"].get<double>(), 0.0);
    EXPECT_LE(j["test_accuracy"].get<double>(), 1.0);
    EXPECT_NE(r.err.find("epoch 1: loss"), std::string::npos) << r.err;

    CliRun info = runCli("info " + out.string() + " --json");
    ASSERT_EQ(info.exitCode, 0) << info.err;
    EXPECT_EQ(json::parse(info.out)["params"], 61706);

    // The same seed on one thread trains the same way.
    CliRun again = runCli(
        "train --arch lenet5 --dataset fashion-mnist --steps 4 --batch 32 "
        "--threads 1 --eval-limit 100 --json -o " +
        out.string());
    ASSERT_EQ(again.exitCode, 0) << again.err;
    EXPECT_EQ(json::parse(again.out)["final_loss"], j["final_loss"]);
    fs::remove(out);
}

TEST(Cli, TrainWithoutEvalOrSteps) {
    if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "no Fashion-MNIST";
    const fs::path out = fs::temp_directory_path() / "whittle-cli-train-noeval.onnx";
    // Fine-tune the sample without augmentation or evaluation: test_accuracy is null.
    CliRun r = runCli("train --model " + kSample +
                      " --steps 2 --batch 16 --threads 1 "
                      "--no-augment --no-eval --optimizer adam --lr 0.001 --json -o " +
                      out.string());
    ASSERT_EQ(r.exitCode, 0) << r.err;
    json j = json::parse(r.out);
    EXPECT_TRUE(j["test_accuracy"].is_null()) << r.out;
    EXPECT_EQ(j["steps"], 2);

    // --steps 0 writes the initialised model and trains nothing.
    CliRun zero = runCli("train --arch lenet5 --steps 0 --json -o " + out.string());
    ASSERT_EQ(zero.exitCode, 0) << zero.err;
    json z = json::parse(zero.out);
    EXPECT_EQ(z["steps"], 0);
    EXPECT_EQ(z["epochs"], 0);
    EXPECT_TRUE(z["test_accuracy"].is_null()) << zero.out;
    EXPECT_TRUE(fs::exists(out));
    fs::remove(out);
}

TEST(Cli, TrainErrorsFollowTheContract) {
    const fs::path out = fs::temp_directory_path() / "whittle-cli-train-err.onnx";
    const fs::path copy = fs::temp_directory_path() / "whittle-cli-train-self.onnx";
    fs::copy_file(kSample, copy, fs::copy_options::overwrite_existing);
    struct Case {
        std::string args;
        int exitCode;
        std::string message;
    };
    const bool haveData = fs::exists("/usr/share/datasets/fashion-mnist");
    std::vector<Case> cases{
        {"--arch lenet5 --model " + kSample + " -o " + out.string(), 1, "exactly one"},
        {"--steps 1 -o " + out.string(), 1, "exactly one"},
        {"--model " + copy.string() + " -o " + copy.string(), 1, "refusing to overwrite"},
        {"--arch lenet5 --data-dir /nonexistent -o " + out.string(), 2, "/nonexistent"},
        {"--arch lenet5 --dataset imagenet -o " + out.string(), 1, "imagenet"},
    };
    if (haveData) {
        cases.push_back({"--arch nosuchnet -o " + out.string(), 1, "nosuchnet"});
        cases.push_back(
            {"--model /nonexistent/m.onnx -o " + out.string(), 2, "/nonexistent/m.onnx"});
        cases.push_back(
            {"--arch lenet5 --steps 1 --optimizer nosuch -o " + out.string(), 1, "nosuch"});
    }
    for (const Case& c : cases) {
        CliRun r = runCli("train " + c.args + " --json");
        EXPECT_EQ(r.exitCode, c.exitCode) << c.args << "\n" << r.err;
        EXPECT_TRUE(r.out.empty()) << c.args << ": stdout must stay empty on error";
        EXPECT_EQ(lineCount(r.err), 1) << c.args << "\n" << r.err;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
    }
    EXPECT_FALSE(fs::exists(out));
    EXPECT_EQ(fs::file_size(copy), fs::file_size(kSample));
    fs::remove(copy);
}

// ---------------------------------------------------------------- memory limits (Engine III)
// A hazard corpus: models whose sizes come from numbers the model (or its input) supplies. Run
// by the real CLI under a 1 GiB address-space limit, each must fail with exit 2 and one line
// naming the node, never die of std::bad_alloc.

namespace {

// One node `op` named `name` at `opset`; `fed` inputs are graph inputs (declared with their
// dims, symbolic where the dim is -1), `fixed` ones initializers; nullptr-valued entries omitted.
struct HazardInput {
    std::string name;
    wh::engine::HostTensor value;  // empty: an omitted optional input
    bool fed = false;
    wh::engine::Dims declared;  // fed: the declared dims (-1: symbolic)
};

// Per process: ctest runs the tests of this file in parallel processes, and each removes its
// folder at the end.
fs::path hazardDir() {
    return fs::temp_directory_path() / ("whittle-cli-hazards-" + std::to_string(getpid()));
}

fs::path writeHazard(const std::string& file, const std::string& op, const std::string& name,
                     int64_t opset, std::vector<HazardInput> inputs,
                     std::vector<wh::ir::Attribute> attrs = {}) {
    using namespace wh;
    ir::Model m;
    m.opsetImports.push_back({"", opset, {}});
    ir::Graph& g = *m.graph;
    std::vector<ir::Value*> ins;
    for (HazardInput& in : inputs) {
        if (in.value.empty() && !in.fed) {
            ins.push_back(nullptr);
            continue;
        }
        ir::Value* v = *g.addValue(in.name);
        if (in.fed) {
            ir::Shape shape;
            for (std::size_t d = 0; d < in.declared.size(); ++d)
                shape.dims.push_back(in.declared[d] < 0
                                         ? ir::Dim::symbol(d == 0 ? "N" : "S" + std::to_string(d))
                                         : ir::Dim::known(in.declared[d]));
            v->type = ir::Type::tensor(in.value.dtype(), shape);
            g.insertGraphInput(v);
        } else {
            g.setInitializer(v, in.value.toIr(in.name));
        }
        ins.push_back(v);
    }
    ir::Value* y = *g.addValue("y");
    ir::Node* node = g.addNode(op, ins, std::vector<ir::Value*>{y});
    node->name = name;
    for (auto& a : attrs) node->attributes().push_back(std::move(a));
    g.insertGraphOutput(y);
    const fs::path dir = hazardDir();
    fs::create_directories(dir);
    const fs::path path = dir / file;
    EXPECT_TRUE(onnx::saveModel(m, path).isOk()) << file;
    return path;
}

fs::path writeInput(const std::string& file, const wh::engine::HostTensor& t) {
    const fs::path path = hazardDir() / file;
    fs::create_directories(path.parent_path());
    EXPECT_TRUE(wh::data::writeNpy(path, t).isOk()) << file;
    return path;
}

// The CLI under `ulimit -v 1 GiB`: what a hostile model meets on a small machine.
CliRun runCliLimited(const std::string& args) {
    return runCli("__limited__ " + args);
}

void expectRefused(const CliRun& r, const std::string& node, const std::string& op,
                   const std::string& also = "") {
    EXPECT_FALSE(r.signalled) << r.err;
    EXPECT_EQ(r.exitCode, 2) << r.err;
    EXPECT_EQ(lineCount(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("node '" + node + "' (" + op + ")"), std::string::npos) << r.err;
    if (!also.empty()) EXPECT_NE(r.err.find(also), std::string::npos) << r.err;
}

}  // namespace

TEST(CliMemory, HazardCorpusFailsCleanlyUnderOneGiB) {
#if defined(__SANITIZE_ADDRESS__)
    // AddressSanitizer reserves terabytes of shadow memory at start: under `ulimit -v` the CLI
    // cannot even start (the engine's own budget is what this test is about).
    GTEST_SKIP() << "AddressSanitizer cannot run under an address-space limit";
#endif
    using wh::engine::HostTensor;
    using wh::ir::DType;
    const fs::path out = hazardDir() / "out";

    // ConstantOfShape 100000 x 100000 floats (40 GB), the shape fed at run time.
    const fs::path fill = writeHazard("fill.onnx", "ConstantOfShape", "huge_fill", 13,
                                      {{"shape", HostTensor(DType::kInt64, {2}), true, {2}}});
    const fs::path shape = writeInput("shape.npy", HostTensor::fromInt64s({2}, {100000, 100000}));
    expectRefused(runCliLimited("run " + fill.string() + " --input shape=" + shape.string() +
                                " --output-dir " + out.string()),
                  "huge_fill", "ConstantOfShape", "[100000,100000]");
    // Dims whose product overflows int64.
    const fs::path wrap = writeInput(
        "wrap.npy", HostTensor::fromInt64s({3}, {int64_t{1} << 32, int64_t{1} << 32, 6}));
    expectRefused(runCliLimited("run " + fill.string() + " --input shape=" + wrap.string() +
                                " --output-dir " + out.string()),
                  "huge_fill", "ConstantOfShape", "64-bit");

    // Pad by 10^9 on each side of a fed tensor: compiled fine, refused when run (bench).
    const fs::path pad =
        writeHazard("pad.onnx", "Pad", "wide_pad", 13,
                    {{"x", HostTensor(DType::kFloat, {1, 4}), true, {-1, 4}},
                     {"pads", HostTensor::fromInt64s({4}, {0, 1000000000, 0, 1000000000})}});
    expectRefused(runCliLimited("bench " + pad.string() + " --iters 1"), "wide_pad", "Pad",
                  "memory limit");
    // Pads whose sum overflows int64.
    const int64_t big = std::numeric_limits<int64_t>::max() / 2 + 1;
    const fs::path padWrap = writeHazard("pad_wrap.onnx", "Pad", "wrap_pad", 13,
                                         {{"x", HostTensor(DType::kFloat, {1, 4}), true, {-1, 4}},
                                          {"pads", HostTensor::fromInt64s({4}, {0, big, 0, big})}});
    expectRefused(runCliLimited("bench " + padWrap.string() + " --iters 1"), "wrap_pad", "Pad");

    // Resize by 10^5 per spatial axis: [1,1,4,4] -> [1,1,400000,400000].
    const fs::path resize =
        writeHazard("resize.onnx", "Resize", "zoom", 13,
                    {{"x", HostTensor(DType::kFloat, {1, 1, 4, 4}), true, {-1, 1, 4, 4}},
                     {"roi", HostTensor()},
                     {"scales", HostTensor::fromFloats({4}, {1.f, 1.f, 1e5f, 1e5f})}});
    expectRefused(runCliLimited("bench " + resize.string() + " --iters 1"), "zoom", "Resize",
                  "[1,1,400000,400000]");
    // ... and by 10^30: the output dim does not fit int64.
    const fs::path resizeInf =
        writeHazard("resize_inf.onnx", "Resize", "zoom_inf", 13,
                    {{"x", HostTensor(DType::kFloat, {1, 1, 4, 4}), true, {-1, 1, 4, 4}},
                     {"roi", HostTensor()},
                     {"scales", HostTensor::fromFloats({4}, {1.f, 1.f, 1e30f, 1e30f})}});
    expectRefused(runCliLimited("bench " + resizeInf.string() + " --iters 1"), "zoom_inf",
                  "Resize");

    // Reshape to a shape given at run time that does not match, or whose product overflows.
    const fs::path reshape = writeHazard("reshape.onnx", "Reshape", "bad_view", 13,
                                         {{"x", HostTensor(DType::kFloat, {2, 3}), true, {2, 3}},
                                          {"shape", HostTensor(DType::kInt64, {2}), true, {2}}});
    const fs::path x23 = writeInput("x23.npy", HostTensor(DType::kFloat, {2, 3}));
    const fs::path s45 = writeInput("s45.npy", HostTensor::fromInt64s({2}, {4, 5}));
    expectRefused(runCliLimited("run " + reshape.string() + " --input x=" + x23.string() +
                                " --input shape=" + s45.string() + " --output-dir " + out.string()),
                  "bad_view", "Reshape");
    const fs::path s3 =
        writeInput("s3.npy", HostTensor::fromInt64s({3}, {int64_t{1} << 32, int64_t{1} << 32, 6}));
    expectRefused(runCliLimited("run " + reshape.string() + " --input x=" + x23.string() +
                                " --input shape=" + s3.string() + " --output-dir " + out.string()),
                  "bad_view", "Reshape");

    // A constant ConstantOfShape is folded while compiling: refused there, naming the node.
    const fs::path folded = writeHazard("folded.onnx", "ConstantOfShape", "folded_fill", 13,
                                        {{"shape", HostTensor::fromInt64s({2}, {100000, 100000})}});
    expectRefused(runCliLimited("bench " + folded.string() + " --iters 1"), "folded_fill",
                  "ConstantOfShape");

    // Expand and Tile to 10^10 elements of a fed tensor.
    const fs::path expand = writeHazard("expand.onnx", "Expand", "stretch", 13,
                                        {{"x", HostTensor(DType::kFloat, {1}), true, {1}},
                                         {"shape", HostTensor::fromInt64s({2}, {100000, 100000})}});
    expectRefused(runCliLimited("bench " + expand.string() + " --iters 1"), "stretch", "Expand",
                  "[100000,100000]");
    const fs::path tile = writeHazard("tile.onnx", "Tile", "repeat", 13,
                                      {{"x", HostTensor(DType::kFloat, {1, 4}), true, {-1, 4}},
                                       {"repeats", HostTensor::fromInt64s({2}, {100000, 100000})}});
    expectRefused(runCliLimited("bench " + tile.string() + " --iters 1"), "repeat", "Tile",
                  "[100000,400000]");
    // Range with 10^15 elements: the limit fed at run time, and all constant (folded).
    const fs::path range = writeHazard("range.onnx", "Range", "count", 13,
                                       {{"start", HostTensor::scalar(DType::kInt64, 0)},
                                        {"limit", HostTensor::scalar(DType::kInt64, 0), true, {}},
                                        {"delta", HostTensor::scalar(DType::kInt64, 1)}});
    const fs::path limit = writeInput("limit.npy", HostTensor::scalar(DType::kInt64, 1e15));
    expectRefused(runCliLimited("run " + range.string() + " --input limit=" + limit.string() +
                                " --output-dir " + out.string()),
                  "count", "Range", "[1000000000000000]");
    const fs::path rangeFolded = writeHazard("range_folded.onnx", "Range", "count_folded", 13,
                                             {{"start", HostTensor::scalar(DType::kInt64, 0)},
                                              {"limit", HostTensor::scalar(DType::kInt64, 1e15)},
                                              {"delta", HostTensor::scalar(DType::kInt64, 1)}});
    expectRefused(runCliLimited("bench " + rangeFolded.string() + " --iters 1"), "count_folded",
                  "Range");
    fs::remove_all(hazardDir());
}

TEST(CliMemory, MaxMemoryBoundsEveryEngineCommand) {
    // LeNet's weights and a batch of 64 fit in 512 KiB; conv1's output (1.1 MiB) does not.
    CliRun bench = runCli("bench " + kSample + " --batch 64 --iters 1 --max-memory 512K");
    EXPECT_EQ(bench.exitCode, 2) << bench.err;
    EXPECT_EQ(lineCount(bench.err), 1) << bench.err;
    EXPECT_NE(bench.err.find("node 'conv1' (Conv): a float tensor of shape [64,6,28,28] needs "
                             "1204224 bytes (1.1 MiB), over the memory limit of 524288 bytes"),
              std::string::npos)
        << bench.err;
    // Less than the input: refused before any node runs, still one line and exit 2.
    CliRun tiny = runCli("bench " + kSample + " --batch 4 --iters 1 --max-memory 4K");
    EXPECT_EQ(tiny.exitCode, 2) << tiny.err;
    EXPECT_NE(tiny.err.find("input 'input'"), std::string::npos) << tiny.err;

    CliRun ok = runCli("bench " + kSample + " --batch 4 --iters 1 --max-memory 1G");
    EXPECT_EQ(ok.exitCode, 0) << ok.err;
    CliRun bad = runCli("bench " + kSample + " --max-memory 12Q");
    EXPECT_EQ(bad.exitCode, 1) << bad.err;
    EXPECT_NE(bad.err.find("--max-memory"), std::string::npos) << bad.err;

    const fs::path dir = fs::temp_directory_path() / "whittle-cli-maxmem";
    fs::create_directories(dir);
    writeNpyFloat(dir / "x.npy", {2, 1, 28, 28}, 0.5f);
    CliRun run = runCli("run " + kSample + " --input input=" + (dir / "x.npy").string() +
                        " --output-dir " + (dir / "out").string() + " --max-memory 16384");
    EXPECT_EQ(run.exitCode, 2) << run.err;
    EXPECT_EQ(lineCount(run.err), 1) << run.err;
    fs::remove_all(dir);
    if (fs::exists("/usr/share/datasets/fashion-mnist")) {
        CliRun eval = runCli("eval " + kSample +
                             " --dataset fashion-mnist --limit 64 --batch 64 --max-memory 64K");
        EXPECT_EQ(eval.exitCode, 2) << eval.err;
        EXPECT_EQ(lineCount(eval.err), 1) << eval.err;
    }
}

// ---------------------------------------------------------------- --shape (Engine III)

TEST(CliShape, SymbolicDimsNeedAValue) {
    using wh::engine::HostTensor;
    using wh::ir::DType;
    // [N, 3, 8, W]: N takes --batch, W must be given.
    const fs::path model =
        writeHazard("relu_nw.onnx", "Relu", "act", 13,
                    {{"x", HostTensor(DType::kFloat, {1, 3, 8, 8}), true, {-1, 3, 8, -1}}});
    CliRun missing = runCli("bench " + model.string() + " --iters 1");
    EXPECT_EQ(missing.exitCode, 2) << missing.err;
    EXPECT_EQ(lineCount(missing.err), 1) << missing.err;
    EXPECT_NE(missing.err.find("input 'x'"), std::string::npos) << missing.err;
    EXPECT_NE(missing.err.find("'S3'"), std::string::npos) << missing.err;

    CliRun given = runCli("bench " + model.string() + " --iters 1 --json --shape x=2,3,8,5");
    ASSERT_EQ(given.exitCode, 0) << given.err;
    CliRun wrong = runCli("bench " + model.string() + " --iters 1 --shape x=2,4,8,5");
    EXPECT_EQ(wrong.exitCode, 2) << wrong.err;
    EXPECT_NE(wrong.err.find("[N,3,8,S3]"), std::string::npos) << wrong.err;
    CliRun noInput = runCli("bench " + model.string() + " --iters 1 --shape y=1");
    EXPECT_EQ(noInput.exitCode, 1) << noInput.err;
    CliRun malformed = runCli("bench " + model.string() + " --iters 1 --shape x=2,a");
    EXPECT_EQ(malformed.exitCode, 1) << malformed.err;

    // run: the plan is compiled for the given shape; a feed that differs is refused.
    const fs::path x = writeInput("x_nw.npy", HostTensor(DType::kFloat, {2, 3, 8, 5}));
    const fs::path out = hazardDir() / "out";
    CliRun run = runCli("run " + model.string() + " --input x=" + x.string() +
                        " --shape x=2,3,8,5 --json --output-dir " + out.string());
    ASSERT_EQ(run.exitCode, 0) << run.err;
    EXPECT_EQ(json::parse(run.out)["outputs"][0]["shape"], json::parse("[2,3,8,5]"));
    CliRun runWrong = runCli("run " + model.string() + " --input x=" + x.string() +
                             " --shape x=2,3,8,6 --output-dir " + out.string());
    EXPECT_EQ(runWrong.exitCode, 2) << runWrong.err;
    EXPECT_NE(runWrong.err.find("'x'"), std::string::npos) << runWrong.err;
    fs::remove_all(hazardDir());
}

// The sequence corpus (tests/tools/export_sequence_models.py): symbolic batch and length, given
// with --shape, through profile and bench; without the length, a one-line error names it.
TEST(CliShape, SequenceModelsProfileAndBenchWithAGivenShape) {
    const fs::path root = fs::path(WHITTLE_SOURCE_DIR) / "tests/data/sequence";
    const std::vector<std::pair<std::string, std::string>> models = {
        {"transformer_encoder", "--shape tokens=2,12 --shape padding_mask=2,12"},
        {"gpt_decoder", "--shape tokens=1,40 --shape attention_mask=1,40"},
        {"recurrent", "--shape features=4,50,20"},
        {"control_flow", "--shape x=3,16"},
    };
    int ran = 0;
    for (const auto& [name, shapes] : models) {
        const fs::path model = root / (name + ".onnx");
        if (!fs::exists(model)) continue;
        ++ran;
        CliRun profile =
            runCli("profile " + model.string() + " --threads 1 --runs 1 --json " + shapes);
        ASSERT_EQ(profile.exitCode, 0) << name << ": " << profile.err;
        json j = json::parse(profile.out);
        EXPECT_FALSE(j["nodes"].empty()) << name;
        EXPECT_GT(j["total_ms"].get<double>(), 0.0) << name;
        CliRun bench =
            runCli("bench " + model.string() + " --threads 1 --iters 2 --json " + shapes);
        ASSERT_EQ(bench.exitCode, 0) << name << ": " << bench.err;
        EXPECT_GT(json::parse(bench.out)["p50_ms"].get<double>(), 0.0) << name;
    }
    if (ran == 0) GTEST_SKIP() << root << " not exported (python3-torch absent?)";
    const fs::path gpt = root / "gpt_decoder.onnx";
    if (!fs::exists(gpt)) return;
    CliRun noLength = runCli("bench " + gpt.string() + " --iters 1");
    EXPECT_EQ(noLength.exitCode, 2) << noLength.err;
    EXPECT_EQ(lineCount(noLength.err), 1) << noLength.err;
    EXPECT_NE(noLength.err.find("'seq'"), std::string::npos) << noLength.err;
}

// ---- compress and algorithms (shared/CLI.md; the plugins load from beside whittle-cli) -------

namespace {

fs::path writeRecipe(const std::string& file, const std::string& text) {
    const fs::path path = hazardDir() / file;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path;
}

std::string readAll(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(CliCompress, BadRecipeExits2NamingTheKey) {
    const fs::path out = hazardDir() / "bad.onnx";
    struct Case {
        const char* recipe;
        const char* key;
    };
    for (const Case& c :
         {Case{R"({"algorithm": "ptq", "params": {"wbits": 4}})", "wbits"},
          Case{R"({"algorithm": "ptq", "colour": "red"})", "colour"},
          Case{R"({"algorithm": "ptq", "params": {"weight_bits": 99}})", "weight_bits"},
          Case{R"({"algorithm": "ptq", "train": {"epochs": "x"}})", "train.epochs"},
          Case{R"({"algorithm": "ptq",)", "JSON"}}) {
        SCOPED_TRACE(c.recipe);
        const fs::path recipe = writeRecipe("bad.json", c.recipe);
        CliRun r = runCli("compress " + kSample + " --recipe " + recipe.string() + " -o " +
                          out.string() + " --json");
        EXPECT_FALSE(r.signalled);
        EXPECT_EQ(r.exitCode, 2) << r.err;
        EXPECT_NE(r.err.find(c.key), std::string::npos) << r.err;
        EXPECT_NE(r.err.find(recipe.string()), std::string::npos) << "names the file: " << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
        EXPECT_FALSE(fs::exists(out));
    }
    fs::remove_all(hazardDir());
}

TEST(CliCompress, UnknownAlgorithmExits2ListingRegistered) {
    const fs::path recipe = writeRecipe("awq.json", R"({"algorithm": "awq"})");
    CliRun r = runCli("compress " + kSample + " --recipe " + recipe.string() + " -o " +
                      (hazardDir() / "o.onnx").string());
    EXPECT_EQ(r.exitCode, 2) << r.err;
    for (const char* name : {"'awq'", "gptq", "ptq", "rtn"})
        EXPECT_NE(r.err.find(name), std::string::npos) << name << " in: " << r.err;
    fs::remove_all(hazardDir());
}

TEST(CliCompress, MissingRecipeIsAUsageError) {
    CliRun r = runCli("compress " + kSample + " -o " + (hazardDir() / "o.onnx").string());
    EXPECT_FALSE(r.signalled);
    EXPECT_EQ(r.exitCode, 1) << r.err;
    EXPECT_NE(r.err.find("recipe"), std::string::npos) << r.err;
    // A recipe file that does not exist is bad input naming it.
    CliRun r2 = runCli("compress " + kSample + " --recipe /nonexistent/r.json -o " +
                       (hazardDir() / "o.onnx").string());
    EXPECT_EQ(r2.exitCode, 2) << r2.err;
    EXPECT_NE(r2.err.find("/nonexistent/r.json"), std::string::npos) << r2.err;
}

TEST(CliCompress, OutputEqualToInputIsRefusedAndTheInputUntouched) {
    const fs::path dir = hazardDir();
    fs::create_directories(dir);
    const fs::path in = dir / "in.onnx";
    fs::copy_file(kSample, in, fs::copy_options::overwrite_existing);
    const std::string before = readAll(in);
    const fs::path recipe =
        writeRecipe("ptq.json", R"({"algorithm": "ptq", "params": {"samples": 16}})");
    // compress refuses with kUsage (app/cli_compress.cpp and core/algo/compress.cpp): exit 1.
    for (const std::string& out : {in.string(), (dir / "." / "in.onnx").string()}) {
        CliRun r = runCli("compress " + in.string() + " --recipe " + recipe.string() + " -o " +
                          out + " --json");
        EXPECT_FALSE(r.signalled);
        EXPECT_EQ(r.exitCode, 1) << r.err;
        EXPECT_NE(r.err.find("overwrite"), std::string::npos) << r.err;
        EXPECT_EQ(readAll(in), before) << "the input model was modified";
        EXPECT_FALSE(fs::exists(dir / "in.recipe.json"));
    }
    fs::remove_all(dir);
}

// shared/CLI.md: `sensitivity MODEL --recipe R.json --dataset D` → layers [{name, op,
// accuracy_drop, sqnr_db}] most sensitive first, baseline_accuracy; --exclude K --write-recipe
// writes the recipe without the K worst layers, which compress then leaves float.
TEST(CliSensitivity, RanksLayersAndWritesTheRecipeWithoutTheWorst) {
    if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "Fashion-MNIST absent";
    const fs::path dir = hazardDir();
    const fs::path recipe = writeRecipe(
        "ptq4.json", R"({"algorithm": "ptq", "params": {"weight_bits": 4, "samples": 64}})");
    const fs::path out = dir / "ptq4-ex.json";
    CliRun r = runCli("sensitivity " + kSample + " --recipe " + recipe.string() +
                      " --dataset fashion-mnist --eval-limit 300 --error-samples 16 --threads 1"
                      " --shape input=1,1,28,28 --exclude 2 --write-recipe " +
                      out.string() + " --json");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    json j = json::parse(r.out);
    EXPECT_EQ(j["algorithm"], "ptq");
    ASSERT_TRUE(j["baseline_accuracy"].is_number());
    ASSERT_EQ(j["layers"].size(), 5u) << r.out;
    double previous = INFINITY;
    for (const json& l : j["layers"]) {
        for (const char* key : {"name", "op", "accuracy_drop", "sqnr_db"})
            EXPECT_TRUE(l.contains(key)) << key << " in " << l.dump();
        EXPECT_LE(l["accuracy_drop"].get<double>(), previous) << "most sensitive first";
        previous = l["accuracy_drop"].get<double>();
    }
    json written = json::parse(readAll(out));
    EXPECT_EQ(written["select"]["exclude_nodes"],
              json::array({j["layers"][0]["name"], j["layers"][1]["name"]}));
    // That recipe compresses the other three only.
    CliRun c = runCli("compress " + kSample + " --recipe " + out.string() + " -o " +
                      (dir / "ptq4-ex.onnx").string() + " --json");
    ASSERT_EQ(c.exitCode, 0) << c.err;
    EXPECT_EQ(json::parse(c.out)["nodes_changed"], 3);

    CliRun halfUsage =
        runCli("sensitivity " + kSample + " --recipe " + recipe.string() + " --exclude 2");
    EXPECT_EQ(halfUsage.exitCode, 1) << halfUsage.err;
    CliRun badShape =
        runCli("sensitivity " + kSample + " --recipe " + recipe.string() + " --shape input=1,x");
    EXPECT_EQ(badShape.exitCode, 1) << badShape.err;
    fs::remove_all(dir);
}

TEST(CliCompress, PtqRunPrintsTheContractJson) {
    if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "Fashion-MNIST absent";
    const fs::path dir = hazardDir();
    const fs::path recipe =
        writeRecipe("ptq.json", R"({"algorithm": "ptq", "params": {"samples": 64}})");
    const fs::path out = dir / "lenet_ptq.onnx";
    CliRun r = runCli("compress " + kSample + " --recipe " + recipe.string() + " -o " +
                      out.string() + " --dataset fashion-mnist --eval-limit 300 --json");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    json j = json::parse(r.out);  // exactly one JSON object
    ASSERT_TRUE(j.is_object());
    for (const char* key :
         {"algorithm", "accuracy_before", "accuracy_after", "bytes_before", "bytes_after",
          "flops_before", "flops_after", "params_before", "params_after", "verified"})
        EXPECT_TRUE(j.contains(key)) << "missing key " << key << " in " << r.out;
    EXPECT_EQ(j["algorithm"], "ptq");
    EXPECT_EQ(j["verified"], true) << r.out;
    EXPECT_TRUE(j["accuracy_before"].is_number());
    EXPECT_TRUE(j["accuracy_after"].is_number());
    EXPECT_EQ(j["params_before"], 61706);
    EXPECT_LT(j["bytes_after"].get<double>(), 0.35 * j["bytes_before"].get<double>());
    EXPECT_TRUE(fs::exists(out));
    const fs::path recipeOut = dir / "lenet_ptq.recipe.json";
    ASSERT_TRUE(fs::exists(recipeOut));
    EXPECT_EQ(j["recipe"], recipeOut.string());
    json used = json::parse(readAll(recipeOut));
    EXPECT_EQ(used["algorithm"], "ptq");
    EXPECT_EQ(used["params"]["samples"], 64);
    EXPECT_TRUE(used["params"].contains("calibration")) << "defaults filled in";
    // The written recipe runs again as is.
    CliRun again = runCli("compress " + kSample + " --recipe " + recipeOut.string() + " -o " +
                          (dir / "again.onnx").string() + " --json");
    EXPECT_EQ(again.exitCode, 0) << again.err;
    fs::remove_all(dir);
}

TEST(CliAlgorithms, JsonListsThePluginsWithParams) {
    CliRun r = runCli("algorithms --json");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(r.err.find("warning"), std::string::npos) << "plugin warnings: " << r.err;
    json j = json::parse(r.out);
    ASSERT_TRUE(j["algorithms"].is_array()) << r.out;
    std::map<std::string, json> byName;
    for (const json& a : j["algorithms"]) byName[a["name"].get<std::string>()] = a;
    for (const char* name : {"ptq", "rtn", "gptq"}) {
        SCOPED_TRACE(name);
        ASSERT_TRUE(byName.count(name)) << r.out;
        const json& a = byName[name];
        ASSERT_TRUE(a["params"].is_array());
        EXPECT_FALSE(a["params"].empty());
        std::set<std::string> params;
        for (const json& p : a["params"]) {
            params.insert(p["name"].get<std::string>());
            EXPECT_TRUE(p.contains("type") && p.contains("default") && p.contains("help")) << p;
        }
        EXPECT_TRUE(params.count("weight_bits")) << "the shared name weight_bits";
        EXPECT_TRUE(a["origin"].get<std::string>().find("plugins") != std::string::npos)
            << a["origin"];
    }
    // ptq's calibration lists its choices; weight_bits its range.
    for (const json& p : byName["ptq"]["params"]) {
        if (p["name"] == "calibration")
            EXPECT_EQ(p["choices"], json::parse(R"(["minmax", "percentile", "entropy", "mse"])"));
        if (p["name"] == "weight_bits") {
            EXPECT_EQ(p["min"], 2);
            EXPECT_EQ(p["max"], 8);
        }
    }
}

// Structured pruning end to end (plugins l1, bn_gamma, scop): ResNet-20 (γ spread so that BN-γ
// has something to rank) compressed to half its FLOPs with a few fine-tuning steps; the export is
// smaller, verified, counted at or under the target in the JSON, and runs in ONNX Runtime like
// in our engine.
TEST(CliCompress, StructuredPruningMeetsTheFlopsTargetAndTheExportRunsInOrt) {
    if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "Fashion-MNIST absent";
    using namespace wh;
    const fs::path dir = hazardDir();
    fs::create_directories(dir);
    auto built = models::buildArchitecture("resnet20", {.seed = 2});
    ASSERT_TRUE(built) << built.error().message();
    ir::Model model = std::move(*built);
    Rng rng(5);
    for (ir::Node* n : model.graph->nodes())
        if (n->opType == "BatchNormalization")
            for (float& g : n->input(1)->mutableInitializer()->mutableValues<float>())
                g = static_cast<float>(0.2 + rng.uniform());
    const fs::path in = dir / "resnet20.onnx";
    ASSERT_TRUE(onnx::saveModel(model, in).isOk());
    const engine::HostTensor x = wh::testing::randomNormal({2, 1, 28, 28}, 8);

    struct Case {
        std::string name, params;
        double flopsRatio;  // 0: uniform rate, no FLOPs target
    };
    for (const Case& c :
         {Case{"l1", R"("target_flops_ratio": 0.5)", 0.5},
          Case{"bn_gamma", R"("target_flops_ratio": 0.5)", 0.5},
          Case{"scop", R"("target_flops_ratio": 0.5, "kf_steps": 3, "kf_batch": 16)", 0.5},
          Case{"scop", R"("prune_rate": 0.25, "kf_steps": 2, "kf_batch": 16)", 0.0}}) {
        SCOPED_TRACE(c.name + " " + c.params);
        const fs::path recipe = writeRecipe(
            c.name + ".json", "{\"algorithm\": \"" + c.name + "\", \"params\": {" + c.params +
                                  "}, \"train\": {\"steps\": 4, \"batch\": 32, \"lr\": 0.01}}");
        const fs::path out = dir / (c.name + ".onnx");
        CliRun r = runCli("compress " + in.string() + " --recipe " + recipe.string() + " -o " +
                          out.string() + " --dataset fashion-mnist --eval-limit 100 --json");
        ASSERT_EQ(r.exitCode, 0) << r.err;
        json j = json::parse(r.out);
        EXPECT_EQ(j["algorithm"], c.name);
        EXPECT_EQ(j["verified"], true) << r.out;
        const double fb = j["flops_before"].get<double>(), fa = j["flops_after"].get<double>();
        if (c.flopsRatio > 0) {
            EXPECT_LE(fa, c.flopsRatio * fb) << r.out;
            EXPECT_GT(fa, 0.4 * fb) << "no further than needed: " << r.out;
        } else {
            EXPECT_LT(fa, 0.9 * fb) << r.out;
        }
        EXPECT_LT(j["params_after"].get<double>(), j["params_before"].get<double>());
        EXPECT_LT(j["bytes_after"].get<double>(), j["bytes_before"].get<double>());
        EXPECT_TRUE(j["train"]["steps"] == 4) << r.out;

        auto written = onnx::loadModel(out);
        ASSERT_TRUE(written) << written.error().message();
        const auto ours = wh::testing::runEngine(*written, {x});
        ASSERT_EQ(ours.size(), 1u);
        EXPECT_EQ(ours[0].dims(), (engine::Dims{2, 10}));
        if (wh::testing::ortAvailable()) {
            const auto theirs = wh::testing::runOrt(*written, {x}, "cli-" + c.name);
            ASSERT_EQ(theirs.size(), 1u);
            auto a = ours[0].toFloats(), b = theirs[0].toFloats();
            ASSERT_EQ(a.size(), b.size());
            double worst = 0, scale = 0;
            for (std::size_t i = 0; i < a.size(); ++i) {
                worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
                scale = std::max(scale, std::fabs(double(a[i])));
            }
            EXPECT_LE(worst, 1e-4 * std::max(scale, 1e-6)) << "ours vs ONNX Runtime";
        }
    }
    fs::remove_all(dir);
}
