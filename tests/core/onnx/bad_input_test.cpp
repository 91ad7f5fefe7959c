// Hostile inputs (tests/data/bad/, made by make_bad_models.py): every file listed in expected.tsv
// must be refused with kBadInput and a one-line message that starts with the file's path and
// contains the expected text; the real whittle-cli, under a 1 GiB address-space limit and a 5 s
// timeout, must exit 2 (never by a signal) with exactly that line on stderr and nothing on stdout.

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include "core/onnx/model_io.h"

namespace fs = std::filesystem;

namespace {

const fs::path kBadDir = fs::path(WHITTLE_SOURCE_DIR) / "tests/data/bad";
// Files in kBadDir that are not corpus entries.
const std::set<std::string> kNotCorpus = {"expected.tsv", "make_bad_models.py"};
constexpr auto kTimeout = std::chrono::seconds(5);
constexpr rlim_t kMemoryLimit = rlim_t{1} << 30;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

struct Row {
    std::string file;     // relative to kBadDir
    std::string exit;     // "2", or "-" for a data file used by a model beside it
    std::string message;  // substring of the expected message
    int line = 0;
};

std::vector<Row> readTable() {
    std::vector<Row> rows;
    std::ifstream in(kBadDir / "expected.tsv");
    std::string text;
    for (int line = 1; std::getline(in, text); ++line) {
        if (text.empty() || text[0] == '#') continue;
        Row r;
        r.line = line;
        std::istringstream fields(text);
        std::getline(fields, r.file, '\t');
        std::getline(fields, r.exit, '\t');
        std::getline(fields, r.message);
        rows.push_back(std::move(r));
    }
    return rows;
}

std::string readAll(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

// ext_symlink/ needs link.bin -> ../outside.bin, a symlink leading out of the model's folder to a
// file that exists and is large enough. It is made here, in a scratch copy, rather than committed.
fs::path prepare(const Row& row) {
    const fs::path source = kBadDir / row.file;
    if (!row.file.starts_with("ext_symlink/")) return source;
    const fs::path root = fs::temp_directory_path() / ("whittle-bad-" + std::to_string(getpid()));
    fs::remove_all(root);
    fs::create_directories(root / "ext_symlink");
    fs::copy(kBadDir / "ext_symlink", root / "ext_symlink", fs::copy_options::recursive);
    std::ofstream(root / "outside.bin", std::ios::binary) << std::string(64, '\0');
    fs::create_symlink("../outside.bin", root / "ext_symlink" / "link.bin");
    return root / row.file;
}

struct CliResult {
    bool timedOut = false;
    int status = 0;
    std::string out, err;
    double seconds = 0;
};

// Runs `whittle-cli info <model>` with RLIMIT_AS = 1 GiB, killing it after kTimeout.
CliResult runCliInfo(const fs::path& model) {
    CliResult r;
    const fs::path scratch =
        fs::temp_directory_path() / ("whittle-bad-cli-" + std::to_string(getpid()));
    fs::create_directories(scratch);
    const fs::path outFile = scratch / "stdout", errFile = scratch / "stderr";
    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = fork();
    if (pid == 0) {
        // Under AddressSanitizer the shadow memory alone reserves terabytes of address space,
        // so only a plain build can be held to the limit.
        if (!kAsan) {
            rlimit lim{kMemoryLimit, kMemoryLimit};
            setrlimit(RLIMIT_AS, &lim);
        }
        const int out = open(outFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int err = open(errFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || err < 0) _exit(120);
        dup2(out, 1);
        dup2(err, 2);
        execl(WHITTLE_CLI, "whittle-cli", "info", model.c_str(), static_cast<char*>(nullptr));
        _exit(121);
    }
    EXPECT_GT(pid, 0) << "fork failed";
    if (pid <= 0) return r;
    for (;;) {
        const pid_t done = waitpid(pid, &r.status, WNOHANG);
        if (done == pid) break;
        if (std::chrono::steady_clock::now() - start > kTimeout) {
            r.timedOut = true;
            kill(pid, SIGKILL);
            waitpid(pid, &r.status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.out = readAll(outFile);
    r.err = readAll(errFile);
    fs::remove_all(scratch);
    return r;
}

class BadInput : public ::testing::TestWithParam<Row> {};

TEST_P(BadInput, RefusedWithOneLineNamingFileAndCulprit) {
    const Row& row = GetParam();
    if (row.exit == "-") {
        EXPECT_TRUE(fs::exists(kBadDir / row.file)) << row.file;
        return;
    }
    ASSERT_EQ(row.exit, "2") << "expected.tsv line " << row.line << ": exit must be 2 or -";
    ASSERT_FALSE(row.message.empty()) << "expected.tsv line " << row.line;
    const fs::path model = prepare(row);
    SCOPED_TRACE(model.string());

    // (a) the library
    auto loaded = wh::onnx::loadModel(model);
    ASSERT_FALSE(loaded.has_value()) << "loaded without error";
    const wh::Status& s = loaded.error();
    EXPECT_EQ(s.code(), wh::StatusCode::kBadInput);
    EXPECT_TRUE(s.message().starts_with(model.string() + ": ")) << s.message();
    EXPECT_NE(s.message().find(row.message), std::string::npos)
        << "message: " << s.message() << "\nexpected to contain: " << row.message;
    EXPECT_EQ(s.message().find_first_of("\r\n"), std::string::npos) << s.message();

    // (b) the real CLI
    const CliResult r = runCliInfo(model);
    EXPECT_FALSE(r.timedOut) << "whittle-cli info ran over " << kTimeout.count() << " s";
    ASSERT_TRUE(WIFEXITED(r.status))
        << "whittle-cli died by signal " << (WIFSIGNALED(r.status) ? WTERMSIG(r.status) : 0)
        << "; stderr: " << r.err;
    EXPECT_EQ(WEXITSTATUS(r.status), 2) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err, "whittle-cli: " + s.message() + "\n");
    if (row.file.starts_with("ext_symlink/")) fs::remove_all(model.parent_path().parent_path());
}

std::string rowName(const ::testing::TestParamInfo<Row>& info) {
    std::string name = info.param.file;
    for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return name;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadInput, ::testing::ValuesIn(readTable()), rowName);

TEST(BadInputTable, ListsEveryFileOnceAndOnlyExistingFiles) {
    const std::vector<Row> rows = readTable();
    ASSERT_GE(rows.size(), 30u) << "expected.tsv missing or truncated";
    std::set<std::string> listed;
    for (const Row& r : rows) {
        EXPECT_TRUE(listed.insert(r.file).second) << r.file << " is listed twice";
        EXPECT_TRUE(fs::is_regular_file(kBadDir / r.file))
            << r.file << " is listed in expected.tsv but does not exist";
    }
    for (const auto& e : fs::recursive_directory_iterator(kBadDir)) {
        if (e.is_directory()) continue;
        const std::string rel = fs::relative(e.path(), kBadDir).generic_string();
        if (kNotCorpus.count(rel)) continue;
        EXPECT_TRUE(listed.count(rel))
            << rel << " is in tests/data/bad/ but has no row in expected.tsv";
    }
}

}  // namespace

namespace {

// Found by fuzz_importer: a typed tensor with no elements (dims [0]) loaded, but its export
// passed a null pointer to memcpy (the empty RepeatedField has no storage). UBSan flags it.
TEST(FuzzFindings, EmptyTypedTensorsExportAndReload) {
    onnx::ModelProto mp;
    mp.set_ir_version(8);
    mp.add_opset_import()->set_version(13);
    auto* g = mp.mutable_graph();
    g->set_name("g");
    const int types[] = {onnx::TensorProto::FLOAT, onnx::TensorProto::DOUBLE,
                         onnx::TensorProto::INT64, onnx::TensorProto::INT32};
    for (int type : types) {
        auto* t = g->add_initializer();
        t->set_name("empty" + std::to_string(type));
        t->set_data_type(type);
        t->add_dims(0);
        auto* out = g->add_output();
        out->set_name(t->name());
    }
    const std::string bytes = mp.SerializeAsString();
    auto model = wh::onnx::parseModel(std::as_bytes(std::span(bytes)), "empty.onnx", {});
    ASSERT_TRUE(model.has_value()) << model.error().message();
    auto exported = wh::onnx::serializeModel(*model);
    ASSERT_TRUE(exported.has_value()) << exported.error().message();
    EXPECT_EQ(*exported, bytes);
}

}  // namespace
