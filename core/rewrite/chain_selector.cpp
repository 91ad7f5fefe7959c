#include "core/rewrite/chain_selector.h"

#include <unordered_set>

namespace wh::rewrite {

namespace {

/// The single consumer of `node`'s output 0, or null when it has none, several, or the value
/// also leaves the graph (fusing would lose it).
ir::Node* soleConsumer(const ir::Node& node) {
    const ir::Value* out = node.output(0);
    if (!out || out->isGraphOutput() || out->uses().size() != 1) return nullptr;
    // Other outputs in use would be lost by a fusion too (BatchNormalization in training mode).
    for (int i = 1; i < node.numOutputs(); ++i)
        if (node.output(i) && (node.output(i)->hasUses() || node.output(i)->isGraphOutput()))
            return nullptr;
    return out->uses().front().node;
}

}  // namespace

const std::vector<ChainPattern>& commonChainPatterns() {
    static const std::vector<ChainPattern> patterns = {
        {"Conv → BatchNormalization → Relu", {"Conv", "BatchNormalization", "Relu"}},
        {"Conv → BatchNormalization", {"Conv", "BatchNormalization"}},
        {"Conv → Relu", {"Conv", "Relu"}},
        {"Conv → Add → Relu", {"Conv", "Add", "Relu"}},
        {"MatMul → Add", {"MatMul", "Add"}},
        {"MatMul → Add → Relu", {"MatMul", "Add", "Relu"}},
        {"Gemm → Relu", {"Gemm", "Relu"}},
        {"BatchNormalization → Relu", {"BatchNormalization", "Relu"}},
        {"Add → Relu", {"Add", "Relu"}},
    };
    return patterns;
}

std::vector<std::vector<ir::NodeId>> findChains(const ir::Graph& graph,
                                                std::span<const std::string> opTypes) {
    std::vector<std::vector<ir::NodeId>> chains;
    if (opTypes.empty()) return chains;
    std::unordered_set<const ir::Node*> taken;
    std::vector<ir::NodeId> chain;
    for (const ir::Node* start : graph.nodes()) {
        // Cheap filter first: the root op type.
        if (start->opType != opTypes.front() || !ir::isDefaultDomain(start->domain) ||
            taken.count(start))
            continue;
        chain.assign(1, start->id());
        const ir::Node* cur = start;
        bool ok = true;
        for (std::size_t i = 1; i < opTypes.size(); ++i) {
            const ir::Node* next = soleConsumer(*cur);
            if (!next || next->opType != opTypes[i] || !ir::isDefaultDomain(next->domain) ||
                taken.count(next) || next->input(0) != cur->output(0)) {
                ok = false;
                break;
            }
            chain.push_back(next->id());
            cur = next;
        }
        if (!ok) continue;
        for (ir::NodeId id : chain) taken.insert(graph.findNode(id));
        chains.push_back(chain);
    }
    return chains;
}

}  // namespace wh::rewrite
