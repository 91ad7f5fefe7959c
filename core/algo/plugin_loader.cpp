#include "core/algo/plugin_loader.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <system_error>

#include <fmt/format.h>

#include "core/algo/plugin.h"

namespace wh::algo {

namespace fs = std::filesystem;

std::vector<fs::path> pluginFolders(const fs::path& executableDir) {
    fs::path exeDir = executableDir;
    if (exeDir.empty()) {
        std::error_code ec;
        fs::path exe = fs::read_symlink("/proc/self/exe", ec);
        if (!ec) exeDir = exe.parent_path();
    }
    std::vector<fs::path> candidates;
    if (const char* env = std::getenv("WHITTLE_PLUGIN_PATH"); env && *env) {
        std::string_view rest(env);
        while (!rest.empty()) {
            std::size_t colon = rest.find(':');
            std::string_view part = rest.substr(0, colon);
            if (!part.empty()) candidates.emplace_back(std::string(part));
            if (colon == std::string_view::npos) break;
            rest.remove_prefix(colon + 1);
        }
    }
    if (!exeDir.empty()) {
        candidates.push_back(exeDir / "plugins");
        candidates.push_back(exeDir / ".." / "lib" / "whittle" / "plugins");
    }
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg)
        candidates.push_back(fs::path(xdg) / "whittle" / "plugins");
    else if (const char* home = std::getenv("HOME"); home && *home)
        candidates.push_back(fs::path(home) / ".local" / "share" / "whittle" / "plugins");

    std::vector<fs::path> folders;
    for (const fs::path& c : candidates) {
        std::error_code ec;
        if (!fs::is_directory(c, ec)) continue;
        fs::path canonical = fs::weakly_canonical(c, ec);
        if (ec) canonical = c;
        if (std::find(folders.begin(), folders.end(), canonical) == folders.end())
            folders.push_back(canonical);
    }
    return folders;
}

PluginLoadResult loadPlugin(const fs::path& file, Registry& registry) {
    PluginLoadResult result;
    result.path = file;
    // RTLD_LOCAL: two plugins' internal symbols never collide; core's come from the process.
    void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char* why = dlerror();
        result.error = fmt::format("plugin {}: cannot load: {}", file.string(),
                                   why ? why : "unknown error");
        return result;
    }
    using EntryFn = const WhittlePluginEntry* (*)();
    auto entryFn = reinterpret_cast<EntryFn>(dlsym(handle, "whittle_plugin_entry"));
    if (!entryFn) {
        result.error = fmt::format(
            "plugin {}: no whittle_plugin_entry function (not a Whittle plugin?)", file.string());
        dlclose(handle);
        return result;
    }
    const WhittlePluginEntry* entry = entryFn();
    if (!entry) {
        result.error = fmt::format("plugin {}: whittle_plugin_entry returned null", file.string());
        dlclose(handle);
        return result;
    }
    if (entry->abi_version != kPluginAbiVersion) {
        result.error = fmt::format(
            "plugin {}: built for plugin API version {}, this Whittle has version {}; rebuild "
            "the plugin against this version",
            file.string(), entry->abi_version, kPluginAbiVersion);
        dlclose(handle);
        return result;
    }
    result.name = entry->name ? entry->name : file.stem().string();
    if (!entry->register_algorithms) {
        result.error = fmt::format("plugin {}: no register function", file.string());
        dlclose(handle);
        return result;
    }
    // The plugin registers into a staging registry first, so that each algorithm carries its
    // origin (this file) when it meets the real registry: a name already taken is then
    // reported as "<this file>: ... already registered by <the other>", not as a built-in.
    // The staging registry goes out of scope before any dlclose below: its AlgorithmInfo
    // copies hold std::function code that lives in the plugin.
    Status s = Status::ok();
    {
        Registry staging;
        s = entry->register_algorithms(staging);
        for (const auto& staged : staging.all()) {
            AlgorithmInfo info = *staged;
            info.origin = file.string();
            Status added = registry.add(std::move(info));
            if (added.isOk())
                result.algorithms.push_back(staged->name);
            else if (s.isOk())
                s = added;
        }
    }
    if (!s.isOk()) {
        // Registry::add's messages already start with the origin (this file).
        result.error = s.message().starts_with(file.string())
                           ? fmt::format("plugin {}", s.message())
                           : fmt::format("plugin {}: {}", file.string(), s.message());
        // Algorithms registered before the failure keep their code loaded: never dlclose.
        if (result.algorithms.empty()) dlclose(handle);
        result.loaded = !result.algorithms.empty();
        return result;
    }
    result.loaded = true;  // the handle stays open for the life of the process
    return result;
}

std::vector<PluginLoadResult> loadPlugins(const std::vector<fs::path>& folders,
                                          Registry& registry) {
    std::vector<PluginLoadResult> results;
    std::set<std::string> seen;
    for (const fs::path& folder : folders) {
        std::vector<fs::path> files;
        std::error_code ec;
        for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
            const fs::path& p = it->path();
            if (p.extension() == ".so" && it->is_regular_file(ec)) files.push_back(p);
        }
        std::sort(files.begin(), files.end());
        for (const fs::path& f : files) {
            if (!seen.insert(f.filename().string()).second) continue;
            results.push_back(loadPlugin(f, registry));
        }
    }
    return results;
}

const std::vector<PluginLoadResult>& loadDefaultPlugins() {
    static const std::vector<PluginLoadResult> results =
        loadPlugins(pluginFolders(), Registry::global());
    return results;
}

}  // namespace wh::algo
