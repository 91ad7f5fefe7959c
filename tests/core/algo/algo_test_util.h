#pragma once
// Shared by the test_algo sources: a Registry holding the real plugins (ptq, rtn, gptq) loaded
// from the build folder, and small assertions on Status messages.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/algo/plugin_loader.h"
#include "core/algo/registry.h"

namespace wh::algo::test {

/// ptq, rtn and gptq loaded once from WHITTLE_PLUGIN_DIR into a registry of their own.
inline const Registry& pluginRegistry() {
    static Registry* registry = [] {
        auto* r = new Registry;
        for (const PluginLoadResult& res : loadPlugins({WHITTLE_PLUGIN_DIR}, *r))
            EXPECT_TRUE(res.loaded) << res.path << ": " << res.error;
        return r;
    }();
    return *registry;
}

/// Every piece occurs in `message`.
inline ::testing::AssertionResult mentions(const std::string& message,
                                           const std::vector<std::string>& pieces) {
    for (const std::string& p : pieces)
        if (message.find(p) == std::string::npos)
            return ::testing::AssertionFailure()
                   << "message '" << message << "' does not mention '" << p << "'";
    return ::testing::AssertionSuccess();
}

}  // namespace wh::algo::test
