// Plugin loading: the real plugins register their algorithms; every failure (not a shared
// library, no entry point, another ABI version, a name already taken) is reported with the
// file's name and never fatal; pluginFolders honours WHITTLE_PLUGIN_PATH and XDG_DATA_HOME.

#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "algo_test_util.h"
#include "core/algo/plugin.h"
#include "core/algo/plugin_loader.h"

using namespace wh;
using namespace wh::algo;
using wh::algo::test::mentions;
namespace fs = std::filesystem;

namespace {

const fs::path kPluginDir = WHITTLE_PLUGIN_DIR;

fs::path tempDir(const std::string& name) {
    fs::path d = fs::temp_directory_path() /
                 ("whittle-plugin-test-" + std::to_string(getpid()) + "-" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

/// Sets an environment variable for the scope, restoring the old value after.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const std::optional<std::string>& value) : m_name(name) {
        if (const char* old = std::getenv(name)) m_old = old;
        if (value)
            setenv(name, value->c_str(), 1);
        else
            unsetenv(name);
    }
    ~ScopedEnv() {
        if (m_old)
            setenv(m_name, m_old->c_str(), 1);
        else
            unsetenv(m_name);
    }

private:
    const char* m_name;
    std::optional<std::string> m_old;
};

}  // namespace

TEST(PluginLoader, RealPluginsRegisterTheirAlgorithms) {
    Registry r;
    auto results = loadPlugins({kPluginDir}, r);
    ASSERT_GE(results.size(), 3u) << "plugins expected in " << kPluginDir;
    for (const PluginLoadResult& res : results) {
        EXPECT_TRUE(res.loaded) << res.path << ": " << res.error;
        EXPECT_TRUE(res.error.empty()) << res.error;
        EXPECT_FALSE(res.algorithms.empty()) << res.path;
    }
    for (const char* name : {"ptq", "rtn", "gptq"}) {
        const AlgorithmInfo* a = r.find(name);
        ASSERT_NE(a, nullptr) << name << " not registered; registered: " << r.names().size();
        EXPECT_TRUE(a->create) << name;
        EXPECT_FALSE(a->params.empty()) << name;
        EXPECT_NE(a->origin.find(kPluginDir.string()), std::string::npos)
            << name << ": origin " << a->origin;
    }
    // A plugin's algorithm can be created from its default Params.
    const AlgorithmInfo* rtn = r.find("rtn");
    auto made = rtn->create(Params(rtn->params));
    EXPECT_TRUE(made) << made.error().message();
}

TEST(PluginLoader, NotASharedLibraryIsReported) {
    const fs::path dir = tempDir("notso");
    const fs::path fake = dir / "fake.so";
    std::ofstream(fake) << "this is not an ELF file\n";
    Registry r;
    PluginLoadResult res = loadPlugin(fake, r);
    EXPECT_FALSE(res.loaded);
    EXPECT_TRUE(mentions(res.error, {fake.string(), "cannot load"}));
    EXPECT_TRUE(r.all().empty());
    // Through loadPlugins too, beside a good plugin: the good one still loads.
    fs::copy_file(kPluginDir / "whittle_plugin_rtn.so", dir / "whittle_plugin_rtn.so");
    auto all = loadPlugins({dir}, r);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_FALSE(all[0].loaded);  // fake.so sorts first
    EXPECT_TRUE(all[1].loaded) << all[1].error;
    EXPECT_NE(r.find("rtn"), nullptr);
    fs::remove_all(dir);
}

TEST(PluginLoader, MissingFileIsReported) {
    Registry r;
    PluginLoadResult res = loadPlugin("/nonexistent/whittle_plugin_x.so", r);
    EXPECT_FALSE(res.loaded);
    EXPECT_TRUE(mentions(res.error, {"/nonexistent/whittle_plugin_x.so"}));
}

TEST(PluginLoader, LibraryWithoutEntryPointIsReported) {
    Registry r;
    PluginLoadResult res = loadPlugin(WHITTLE_TEST_PLUGIN_NO_ENTRY, r);
    EXPECT_FALSE(res.loaded);
    EXPECT_TRUE(mentions(res.error, {WHITTLE_TEST_PLUGIN_NO_ENTRY, "whittle_plugin_entry"}));
    EXPECT_TRUE(r.all().empty());
}

TEST(PluginLoader, OtherAbiVersionIsRefusedWithoutRegistering) {
    Registry r;
    PluginLoadResult res = loadPlugin(WHITTLE_TEST_PLUGIN_WRONG_ABI, r);
    EXPECT_FALSE(res.loaded);
    EXPECT_TRUE(
        mentions(res.error, {WHITTLE_TEST_PLUGIN_WRONG_ABI, std::to_string(kPluginAbiVersion + 41),
                             std::to_string(kPluginAbiVersion)}));
    EXPECT_EQ(r.find("wrong_abi_alg"), nullptr) << "the register function must not be called";
    EXPECT_TRUE(r.all().empty());
}

TEST(PluginLoader, NameAlreadyTakenIsReported) {
    Registry r;
    const fs::path ptq = kPluginDir / "whittle_plugin_ptq.so";
    PluginLoadResult first = loadPlugin(ptq, r);
    ASSERT_TRUE(first.loaded) << first.error;
    // The same algorithm from a copy of the plugin elsewhere.
    const fs::path dir = tempDir("dup");
    const fs::path copy = dir / "whittle_plugin_ptq_copy.so";
    fs::copy_file(ptq, copy);
    PluginLoadResult second = loadPlugin(copy, r);
    EXPECT_FALSE(second.loaded);
    EXPECT_TRUE(second.algorithms.empty());
    EXPECT_TRUE(
        mentions(second.error, {copy.string(), "'ptq'", "already registered", ptq.string()}));
    // The newcomer is a plugin, not a built-in.
    EXPECT_EQ(second.error.find("built-in"), std::string::npos) << second.error;
    ASSERT_EQ(r.all().size(), 1u);
    EXPECT_EQ(r.find("ptq")->origin, ptq.string());
    fs::remove_all(dir);
}

TEST(PluginLoader, SameFileNameInALaterFolderIsSkipped) {
    const fs::path a = tempDir("first"), b = tempDir("second");
    fs::copy_file(kPluginDir / "whittle_plugin_rtn.so", a / "whittle_plugin_rtn.so");
    fs::copy_file(kPluginDir / "whittle_plugin_rtn.so", b / "whittle_plugin_rtn.so");
    Registry r;
    auto results = loadPlugins({a, b}, r);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].path.parent_path(), a);
    EXPECT_TRUE(results[0].loaded) << results[0].error;
    fs::remove_all(a);
    fs::remove_all(b);
}

TEST(PluginLoader, FoldersHonourPluginPathAndXdgDataHome) {
    const fs::path a = tempDir("path-a"), b = tempDir("path-b"), xdg = tempDir("xdg");
    const fs::path exe = tempDir("exe");
    fs::create_directories(exe / "plugins");
    fs::create_directories(xdg / "whittle" / "plugins");
    {
        ScopedEnv path("WHITTLE_PLUGIN_PATH",
                       a.string() + ":" + "/nonexistent/dir" + "::" + b.string());
        ScopedEnv data("XDG_DATA_HOME", xdg.string());
        auto folders = pluginFolders(exe);
        ASSERT_EQ(folders.size(), 4u) << "missing folders are dropped";
        EXPECT_EQ(folders[0], fs::weakly_canonical(a));
        EXPECT_EQ(folders[1], fs::weakly_canonical(b));
        EXPECT_EQ(folders[2], fs::weakly_canonical(exe / "plugins"));
        EXPECT_EQ(folders[3], fs::weakly_canonical(xdg / "whittle" / "plugins"));
    }
    {
        // No XDG_DATA_HOME: ~/.local/share/whittle/plugins under $HOME.
        const fs::path home = tempDir("home");
        fs::create_directories(home / ".local/share/whittle/plugins");
        ScopedEnv path("WHITTLE_PLUGIN_PATH", std::nullopt);
        ScopedEnv data("XDG_DATA_HOME", std::nullopt);
        ScopedEnv h("HOME", home.string());
        auto folders = pluginFolders(exe);
        ASSERT_EQ(folders.size(), 2u);
        EXPECT_EQ(folders[1], fs::weakly_canonical(home / ".local/share/whittle/plugins"));
        fs::remove_all(home);
    }
    {
        // A folder named twice is listed once.
        ScopedEnv path("WHITTLE_PLUGIN_PATH", (exe / "plugins").string());
        ScopedEnv data("XDG_DATA_HOME", "/nonexistent");
        auto folders = pluginFolders(exe);
        ASSERT_EQ(folders.size(), 1u);
    }
    for (const fs::path& d : {a, b, xdg, exe}) fs::remove_all(d);
}
