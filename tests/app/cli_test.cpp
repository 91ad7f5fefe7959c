// whittle-cli as scripts use it: real process, stdout JSON, stderr one line, exit codes.

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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
    const std::string cmd = std::string(WHITTLE_CLI) + " " + args + " 2>" + errFile.string();
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
