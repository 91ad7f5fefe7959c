#pragma once
/// The plugin entry point. An algorithm plugin is a shared library (plugins/<name>/, built with
/// whittle_add_plugin) that exports one C function:
///
///     extern "C" const WhittlePluginEntry* whittle_plugin_entry(void);
///
/// returning a static WhittlePluginEntry whose `abi_version` must equal kPluginAbiVersion of the
/// core it is loaded into (the loader refuses any other version with a message, never calls
/// into it) and whose `register_algorithms` adds its algorithms to the Registry. Use the macro:
///
///     WHITTLE_PLUGIN("ptq", "1.0", [](wh::algo::Registry& r) { return r.add(ptqInfo()); });
///
/// The ABI is C++ beyond the entry point (AlgorithmInfo, Params, the Rewriter): a plugin must be
/// built against the same core headers with the same compiler; kPluginAbiVersion is raised with
/// every change to a public core header that plugins see (core/plugin_api.txt).

#include <cstdint>

#include "core/algo/registry.h"
#include "core/util/status.h"

namespace wh::algo {

/// Raised on every incompatible change of the plugin API.
inline constexpr uint32_t kPluginAbiVersion = 1;

}  // namespace wh::algo

extern "C" {
struct WhittlePluginEntry {
    uint32_t abi_version;
    const char* name;     ///< the plugin's name, e.g. "ptq"
    const char* version;  ///< the plugin's own version, free text
    /// Adds the plugin's algorithms; a failed Status is reported and the plugin skipped.
    wh::Status (*register_algorithms)(wh::algo::Registry& registry);
};
}

#define WHITTLE_PLUGIN(NAME, VERSION, REGISTER)                                             \
    extern "C" __attribute__((visibility("default"))) const WhittlePluginEntry*             \
    whittle_plugin_entry(void) {                                                             \
        static const WhittlePluginEntry entry{::wh::algo::kPluginAbiVersion, NAME, VERSION, \
                                              REGISTER};                                      \
        return &entry;                                                                       \
    }
