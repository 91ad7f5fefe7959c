// A test plugin whose entry point reports another plugin API version: the loader must refuse it
// without calling its register function (which would add "wrong_abi_alg").
#include "core/algo/plugin.h"

namespace {
wh::Status registerNothing(wh::algo::Registry& r) {
    wh::algo::AlgorithmInfo info;
    info.name = "wrong_abi_alg";
    return r.add(std::move(info));
}
}  // namespace

extern "C" __attribute__((visibility("default"))) const WhittlePluginEntry* whittle_plugin_entry(
    void) {
    static const WhittlePluginEntry entry{wh::algo::kPluginAbiVersion + 41, "wrong_abi", "0",
                                          registerNothing};
    return &entry;
}
