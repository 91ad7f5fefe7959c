#pragma once
/// GraphMatch: which node of one graph is which node of another — a float model and what a
/// compression made of it — and what happened to each: kept as it was, changed (its weights
/// quantized, pruned or replaced, its attributes or inputs edited, its op type replaced),
/// removed (a BatchNormalization folded into its convolution) or inserted (QuantizeLinear /
/// DequantizeLinear pairs, a scale Mul). The comparison view draws both graphs with it.
///
/// Matching, in order: (1) nodes whose name is non-empty and unique in both graphs; (2) of the
/// rest, nodes of the same op type whose first output has the same value name; (3) of the rest,
/// nodes of the same op type whose first input has the same value name (a renamed node that
/// reads the same tensor). Everything unmatched is removed (in `before`) or inserted (in
/// `after`). Top-level graphs only: a subgraph's nodes count with the node holding it.
/// A node is changed when its op type, domain, inputs (one added or removed; a constant one —
/// initializer or Constant — of another dtype, dims, or, up to kCompareBytes, contents; one that
/// became computed, behind a DequantizeLinear, or the reverse), outputs or a scalar or list
/// attribute differ; `reason` says which ("weight behind DequantizeLinear; bias added"): the
/// op type alone when it changed, else up to three differences, inputs first. A node whose only
/// differences are constant values ("weight values": fine-tuning) is kValues, not kChanged.

#include <string>
#include <unordered_map>
#include <vector>

#include "core/ir/graph.h"

namespace wh::analysis {

enum class MatchKind {
    kSame,      ///< matched, nothing differs
    kValues,    ///< matched, only constant values differ (weights fine-tuned): structure kept
    kChanged,   ///< matched, structure differs (weights quantized or pruned, op, attributes)
    kRemoved,   ///< in `before` only
    kInserted,  ///< in `after` only
};

struct NodeMatch {
    ir::NodeId before = 0;  ///< 0 for an inserted node
    ir::NodeId after = 0;   ///< 0 for a removed node
    MatchKind kind = MatchKind::kSame;
    std::string
        reason;  ///< kChanged: "weight 32×16×3×3 → 24×16×3×3", "weights behind DequantizeLinear"
};

struct GraphMatch {
    /// In `before`'s node order, then the inserted nodes in `after`'s order.
    std::vector<NodeMatch> nodes;
    std::unordered_map<ir::NodeId, std::size_t> byBefore, byAfter;  ///< index into `nodes`

    int count(MatchKind kind) const;
    /// Inserted nodes that are QuantizeLinear or DequantizeLinear (the view draws them as badges).
    int insertedQuantizers = 0;
    /// The entry of node `id` of `before` (or of `after`), or null.
    const NodeMatch* ofBefore(ir::NodeId id) const;
    const NodeMatch* ofAfter(ir::NodeId id) const;
};

/// Constant inputs compared element by element up to this size (bigger ones: dtype and dims).
inline constexpr std::size_t kCompareBytes = std::size_t{1} << 20;

/// Matches the top-level nodes of `before` and `after` (see the file comment). Reads only.
GraphMatch matchGraphs(const ir::Graph& before, const ir::Graph& after);

const char* matchKindName(MatchKind kind);

}  // namespace wh::analysis
