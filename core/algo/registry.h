#pragma once
/// Registry: every algorithm the process knows, built-in or from a plugin, by name. The studio's
/// Algorithm dock lists it; `whittle-cli compress` resolves a recipe's `algorithm` in it.
///
/// Thread-safety: add() during start-up (plugin loading), then reads from any thread.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/algo/algorithm.h"
#include "core/util/status.h"

namespace wh::algo {

class Registry {
public:
    /// The process-wide registry the applications load plugins into.
    static Registry& global();

    /// kBadInput for an empty or malformed name, a missing factory, or a default value that
    /// fails its own ParamSpec; kBadInput too when the name is taken (naming both origins).
    Status add(AlgorithmInfo info);
    /// Null when unknown.
    const AlgorithmInfo* find(std::string_view name) const;
    /// Registered names, sorted.
    std::vector<std::string> names() const;
    const std::vector<std::unique_ptr<AlgorithmInfo>>& all() const { return m_algorithms; }
    /// kBadInput "unknown algorithm 'x'; registered: a, b, c" (or a hint that none were
    /// loaded) — for recipes and the CLI.
    Expected<const AlgorithmInfo*> lookup(std::string_view name) const;

private:
    std::vector<std::unique_ptr<AlgorithmInfo>> m_algorithms;
};

}  // namespace wh::algo
