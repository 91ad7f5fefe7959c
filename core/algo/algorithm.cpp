#include "core/algo/algorithm.h"

#include <algorithm>

#include <fmt/format.h>

namespace wh::algo {

namespace {

bool contains(const std::vector<std::string>& list, std::string_view s) {
    return std::find(list.begin(), list.end(), s) != list.end();
}

}  // namespace

std::vector<ScopeEntry> resolveScope(const ir::Graph& graph, const Selection& selection,
                                     const std::vector<std::string>& supportedOps) {
    const bool picksNodes = !selection.nodeIds.empty() || !selection.nodes.empty();
    std::vector<ScopeEntry> scope;
    for (const ir::Node* node : graph.nodes()) {
        const bool supported = ir::isDefaultDomain(node->domain) &&
                               contains(supportedOps, node->opType);
        const bool picked =
            std::find(selection.nodeIds.begin(), selection.nodeIds.end(), node->id()) !=
                selection.nodeIds.end() ||
            contains(selection.nodes, node->name);
        if (!supported && !picked) continue;
        ScopeEntry e;
        e.node = node->id();
        e.name = node->name;
        e.op = node->opType;
        if (!supported)
            e.reason = fmt::format("{} is not an op this algorithm changes", node->opType);
        else if (picksNodes && !picked)
            e.reason = "not selected";
        else if (!selection.includeOps.empty() && !contains(selection.includeOps, node->opType))
            e.reason = fmt::format("{} is not in include_ops", node->opType);
        else if (contains(selection.excludeOps, node->opType))
            e.reason = fmt::format("{} is in exclude_ops", node->opType);
        else if (contains(selection.excludeNodes, node->name))
            e.reason = "excluded by name";
        e.included = e.reason.empty();
        scope.push_back(std::move(e));
    }
    return scope;
}

}  // namespace wh::algo
