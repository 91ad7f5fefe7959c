#include "core/rewrite/greedy_driver.h"

#include <algorithm>

#include <fmt/format.h>

namespace wh::rewrite {

int GreedyReport::count(const std::string& pattern) const {
    return static_cast<int>(std::count_if(applied.begin(), applied.end(),
                                          [&](const auto& a) { return a.pattern == pattern; }));
}

GreedyReport applyPatternsGreedily(Rewriter& rewriter, const PatternSet& patterns,
                                   const GreedyOptions& options) {
    GreedyReport report;
    ir::Graph& graph = rewriter.graph();
    ScopedGroup group(rewriter, options.groupLabel);
    for (int iteration = 1; iteration <= options.maxIterations; ++iteration) {
        report.iterations = iteration;
        report.notApplied.clear();
        bool changed = false;
        // Ids, not pointers: an application may erase nodes later in the list.
        std::vector<ir::NodeId> ids;
        ids.reserve(graph.numNodes());
        for (const ir::Node* n : graph.nodes()) ids.push_back(n->id());
        for (ir::NodeId id : ids) {
            ir::Node* node = graph.findNode(id);
            if (!node) continue;
            for (const Pattern* p : patterns.patternsFor(node->opType)) {
                if (!p->isRootCandidate(*node)) continue;
                MatchResult m = p->match(*node);
                if (!m) {
                    report.notApplied.push_back({p->name(), id, node->displayName(), m.reason()});
                    continue;
                }
                std::string rootName = node->displayName();
                rewriter.beginGroup(fmt::format("{} on '{}'", p->name(), rootName));
                if (Status s = p->apply(rewriter, *node); !s.isOk()) {
                    rewriter.cancelGroup();
                    report.notApplied.push_back(
                        {p->name(), id, rootName, "apply failed: " + s.message()});
                    continue;
                }
                rewriter.endGroup();
                report.applied.push_back({p->name(), id, std::move(rootName), iteration});
                if (options.afterEach) options.afterEach(report.applied.back());
                changed = true;
                break;  // the node may be gone; later sweeps revisit what remains
            }
        }
        if (!changed) {
            report.converged = true;
            break;
        }
    }
    return report;
}

}  // namespace wh::rewrite
