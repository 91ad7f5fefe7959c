#include "core/algo/registry.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace wh::algo {

Registry& Registry::global() {
    static Registry registry;
    return registry;
}

Status Registry::add(AlgorithmInfo info) {
    const std::string origin = info.origin.empty() ? std::string("built-in") : info.origin;
    if (info.name.empty() ||
        !std::all_of(info.name.begin(), info.name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        }))
        return makeStatus(StatusCode::kBadInput,
                          "{}: algorithm name '{}' must be lower-case letters, digits, '_' or '-'",
                          origin, info.name);
    if (!info.create)
        return makeStatus(StatusCode::kBadInput, "{}: algorithm '{}' has no factory", origin,
                          info.name);
    for (const ParamSpec& spec : info.params) {
        auto checked = checkParam(spec, spec.defaultValue);
        if (!checked)
            return makeStatus(StatusCode::kBadInput, "{}: algorithm '{}': default of {}", origin,
                              info.name, checked.error().message());
    }
    // Every name a recipe may use (canonical or alias) must pick one parameter: a second
    // "seed" would be written twice to OUT.recipe.json and only one of them could be set.
    std::vector<std::string> taken;
    for (const ParamSpec& spec : info.params) {
        std::vector<std::string> names{spec.name};
        names.insert(names.end(), spec.aliases.begin(), spec.aliases.end());
        for (const std::string& n : names) {
            if (std::find(taken.begin(), taken.end(), n) != taken.end())
                return makeStatus(StatusCode::kBadInput,
                                  "{}: algorithm '{}': parameter name '{}' is used twice", origin,
                                  info.name, n);
            taken.push_back(n);
        }
    }
    if (const AlgorithmInfo* existing = find(info.name))
        return makeStatus(StatusCode::kBadInput,
                          "{}: algorithm '{}' is already registered by {}", origin, info.name,
                          existing->origin.empty() ? "built-in" : existing->origin);
    info.origin = origin;
    m_algorithms.push_back(std::make_unique<AlgorithmInfo>(std::move(info)));
    return Status::ok();
}

const AlgorithmInfo* Registry::find(std::string_view name) const {
    for (const auto& a : m_algorithms)
        if (a->name == name) return a.get();
    return nullptr;
}

std::vector<std::string> Registry::names() const {
    std::vector<std::string> names;
    for (const auto& a : m_algorithms) names.push_back(a->name);
    std::sort(names.begin(), names.end());
    return names;
}

Expected<const AlgorithmInfo*> Registry::lookup(std::string_view name) const {
    if (const AlgorithmInfo* info = find(name)) return info;
    std::vector<std::string> known = names();
    if (known.empty())
        return error(StatusCode::kBadInput,
                     "unknown algorithm '{}': no algorithm plugins are loaded (see the plugin "
                     "warnings above, or WHITTLE_PLUGIN_PATH)",
                     name);
    return error(StatusCode::kBadInput, "unknown algorithm '{}'; registered: {}", name,
                 fmt::join(known, ", "));
}

}  // namespace wh::algo
