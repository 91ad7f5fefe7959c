// The layering rule of shared/DESIGN.md, checked on the real build: core and plugins neither
// include nor link Qt; protobuf stays in core/onnx; oneDNN stays in core/engine/dnnl; the engine
// knows neither datasets nor the analyses built on it.

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace {

const fs::path kSource = WHITTLE_SOURCE_DIR;
const fs::path kBinary = WHITTLE_BINARY_DIR;

std::string readFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

bool isSource(const fs::path& p) {
    const auto ext = p.extension();
    return ext == ".h" || ext == ".hpp" || ext == ".cpp" || ext == ".cc";
}

// Files under `dir` (relative to the source tree) whose includes match `pattern`.
std::vector<std::string> includersOf(const std::string& dir, const std::regex& pattern,
                                     const std::string& allowedPrefix = {}) {
    std::vector<std::string> out;
    if (!fs::exists(kSource / dir)) return out;
    for (const auto& e : fs::recursive_directory_iterator(kSource / dir)) {
        if (!e.is_regular_file() || !isSource(e.path())) continue;
        const std::string rel = fs::relative(e.path(), kSource).string();
        if (!allowedPrefix.empty() && rel.starts_with(allowedPrefix)) continue;
        std::ifstream in(e.path());
        for (std::string line; std::getline(in, line);)
            if (std::regex_search(line, pattern)) {
                out.push_back(rel + ": " + line);
                break;
            }
    }
    return out;
}

const std::regex kQtInclude(R"(^\s*#\s*include\s*[<"]Q[A-Za-z]|^\s*#\s*include\s*[<"]Qt)");
const std::regex kOnnxInclude(R"(^\s*#\s*include\s*[<"]onnx/)");
const std::regex kDnnlInclude(R"(^\s*#\s*include\s*[<"](oneapi/dnnl|dnnl))");
const std::regex kDataOrAnalysisInclude(R"(^\s*#\s*include\s*[<"]core/(data|analysis)/)");

}  // namespace

TEST(Layering, CoreAndPluginsIncludeNoQt) {
    for (const char* dir : {"core", "plugins"}) {
        auto bad = includersOf(dir, kQtInclude);
        EXPECT_TRUE(bad.empty()) << "Qt included in " << dir << ":\n" << bad.front();
    }
}

TEST(Layering, ProtobufStaysInCoreOnnx) {
    for (const char* dir : {"core", "plugins", "widgets", "app"}) {
        auto bad = includersOf(dir, kOnnxInclude, "core/onnx/");
        EXPECT_TRUE(bad.empty()) << "ONNX protobuf included outside core/onnx:\n" << bad.front();
    }
}

TEST(Layering, OneDnnStaysInCoreEngineDnnl) {
    for (const char* dir : {"core", "plugins", "widgets", "app"}) {
        auto bad = includersOf(dir, kDnnlInclude, "core/engine/dnnl/");
        EXPECT_TRUE(bad.empty()) << "oneDNN included outside core/engine/dnnl:\n" << bad.front();
    }
}

// core/data builds on the engine (HostTensor, Dims), and analysis (accuracy on a dataset) on
// both: an engine file that includes either closes a cycle.
TEST(Layering, EngineIncludesNoDataNorAnalysis) {
    auto bad = includersOf("core/engine", kDataOrAnalysisInclude);
    EXPECT_TRUE(bad.empty()) << "core/engine includes core/data or core/analysis:\n" << bad.front();
}

// Plugins see only the plugin API (core/plugin_api.txt, staged under <build>/plugin_api). The
// compiler enforces it (the plugin_api test); this names the offending line, and also catches
// a path that climbs out of the plugin's folder.
TEST(Layering, PluginsIncludeOnlyThePluginApi) {
    const fs::path staged = kBinary / "plugin_api";
    ASSERT_TRUE(fs::exists(staged / "core/ir/graph.h")) << staged << " was not staged";
    EXPECT_FALSE(fs::exists(staged / "core/engine/dnnl")) << "oneDNN internals are public";
    EXPECT_FALSE(fs::exists(staged / "core/engine/ref")) << "reference kernel internals are public";
    const std::regex include(R"re(^\s*#\s*include\s*"([^"]+)")re");
    if (!fs::exists(kSource / "plugins")) return;
    for (const auto& e : fs::recursive_directory_iterator(kSource / "plugins")) {
        if (!e.is_regular_file() || !isSource(e.path())) continue;
        std::ifstream in(e.path());
        std::smatch m;
        for (std::string line; std::getline(in, line);) {
            if (!std::regex_search(line, m, include)) continue;
            const std::string path = m[1];
            const std::string where = fs::relative(e.path(), kSource).string() + ": " + line;
            EXPECT_EQ(path.find(".."), std::string::npos) << where;
            if (path.starts_with("core/"))
                EXPECT_TRUE(fs::exists(staged / path)) << "not in the plugin API: " << where;
        }
    }
}

// Includes can hide behind macros and transitive headers; the compile commands cannot. No
// translation unit of core or plugins may see a Qt include directory.
TEST(Layering, CoreAndPluginsCompileWithoutQtPaths) {
    const fs::path db = kBinary / "compile_commands.json";
    ASSERT_TRUE(fs::exists(db)) << db << " is missing (CMAKE_EXPORT_COMPILE_COMMANDS)";
    auto commands = nlohmann::json::parse(readFile(db));
    int checked = 0;
    for (const auto& c : commands) {
        const std::string file = fs::relative(c["file"].get<std::string>(), kSource).string();
        if (!file.starts_with("core/") && !file.starts_with("plugins/")) continue;
        const std::string cmd = c.contains("command") ? c["command"].get<std::string>() : "";
        ++checked;
        EXPECT_EQ(cmd.find("qt6"), std::string::npos) << file << " compiles with Qt: " << cmd;
        EXPECT_EQ(cmd.find("QT_"), std::string::npos) << file << " compiles with Qt defines";
    }
    EXPECT_GT(checked, 5) << "no core sources found in " << db;
}

// whittle-cli links core only, so its dynamic dependencies show whether core drags Qt in
// (Debian's Qt is shared). Plugin libraries likewise.
TEST(Layering, CoreOnlyBinariesLinkNoQt) {
    std::vector<fs::path> binaries{WHITTLE_CLI};
    if (fs::exists(kBinary / "plugins"))
        for (const auto& e : fs::recursive_directory_iterator(kBinary / "plugins"))
            if (e.is_regular_file() && e.path().extension() == ".so") binaries.push_back(e.path());
    for (const auto& bin : binaries) {
        ASSERT_TRUE(fs::exists(bin)) << bin << " was not built";
        const std::string cmd = "readelf -d '" + bin.string() + "' 2>&1";
        FILE* pipe = popen(cmd.c_str(), "r");
        ASSERT_NE(pipe, nullptr);
        std::string out;
        char buf[4096];
        while (size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
        ASSERT_EQ(pclose(pipe), 0) << "readelf failed on " << bin << ":\n" << out;
        EXPECT_NE(out.find("NEEDED"), std::string::npos) << "readelf saw no dependencies";
        EXPECT_EQ(out.find("libQt"), std::string::npos) << bin << " links Qt:\n" << out;
    }
}
