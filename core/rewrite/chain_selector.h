#pragma once
/// Chain selector: finds chains of nodes such as Conv -> BatchNormalization -> Relu, for the
/// studio's "Select pattern" and for algorithms that want fusable groups. A pure selector: it
/// reads the graph and returns node sets, it never mutates.
///
/// A chain is a sequence of nodes n0 -> n1 -> ... -> nk whose op types equal `opTypes` (default
/// ONNX domain), where each n(i+1) reads output 0 of n(i), and that output has exactly one user
/// (n(i+1)) and is not a graph output: the chain can be fused without recomputing anything.
/// Chains do not overlap; they are found greedily in graph order.
///
/// Thread-safety: reads only; safe on any thread while nobody mutates the graph.

#include <span>
#include <string>
#include <vector>

#include "core/ir/graph.h"

namespace wh::rewrite {

/// A named op-type sequence the GUI offers in "Select pattern".
struct ChainPattern {
    std::string name;                  ///< "Conv → BatchNormalization → Relu"
    std::vector<std::string> opTypes;  ///< {"Conv", "BatchNormalization", "Relu"}
};

/// The chains the studio lists, most specific first.
const std::vector<ChainPattern>& commonChainPatterns();

/// Every chain of `graph` (top level only) matching `opTypes`, in graph order of its first node;
/// each inner vector holds the NodeIds in chain order. An empty `opTypes` finds nothing.
std::vector<std::vector<ir::NodeId>> findChains(const ir::Graph& graph,
                                                std::span<const std::string> opTypes);

}  // namespace wh::rewrite
