#pragma once
/// Loading algorithm plugins at start: every `*.so` in the plugin folders, through the
/// versioned entry point of core/algo/plugin.h. A plugin that fails to load (not a shared
/// library, unresolved symbols, no entry point, another ABI version, an algorithm name already
/// taken) is reported and skipped, never fatal: the CLI prints a warning on stderr, the studio
/// lists it in the Issues dock.
///
/// Thread-safety: call from one thread at start-up (dlopen and the Registry are not guarded).

#include <filesystem>
#include <string>
#include <vector>

#include "core/algo/registry.h"

namespace wh::algo {

/// One plugin file and what became of it.
struct PluginLoadResult {
    std::filesystem::path path;
    bool loaded = false;
    std::string name;                     ///< from its entry point (when it has one)
    std::vector<std::string> algorithms;  ///< what it registered
    std::string error;                    ///< why it was skipped (one line, names the file)
};

/// The folders searched, in order, those that exist:
///   1. each entry of $WHITTLE_PLUGIN_PATH (':'-separated), when set;
///   2. `plugins/` beside the executable (the build tree);
///   3. `../lib/whittle/plugins/` from the executable's folder (the installed .deb layout);
///   4. $XDG_DATA_HOME/whittle/plugins (default ~/.local/share/whittle/plugins).
/// `executableDir` empty = the running executable's folder (/proc/self/exe).
std::vector<std::filesystem::path> pluginFolders(const std::filesystem::path& executableDir = {});

/// Loads one plugin file into `registry`.
PluginLoadResult loadPlugin(const std::filesystem::path& file, Registry& registry);

/// Loads every `*.so` of `folders` (sorted by file name within a folder; a file name seen
/// already in an earlier folder is skipped, so a user's copy cannot shadow the installed one
/// unless it comes first in WHITTLE_PLUGIN_PATH) into `registry`.
std::vector<PluginLoadResult> loadPlugins(const std::vector<std::filesystem::path>& folders,
                                          Registry& registry);

/// loadPlugins(pluginFolders(), Registry::global()) once per process (later calls return the
/// first call's results).
const std::vector<PluginLoadResult>& loadDefaultPlugins();

}  // namespace wh::algo
