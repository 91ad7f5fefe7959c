#pragma once
/// Constant folding of a whole graph, the edit `fold_constants` (issue 15, item 6): every node
/// whose inputs are all constant (initializers that are not graph inputs, Constant nodes, outputs
/// of nodes folded before it) is computed once and its outputs read elsewhere become
/// initializers; `Shape` and `Size` fold when their input's shape is fully known. The folded
/// nodes go, with the weights only they read.
///
/// Left as they are, each with the reason: nodes of other domains, random ops, nodes with
/// subgraphs, DequantizeLinear (folding it would turn quantized weights back into float),
/// nodes whose outputs are model outputs, nodes whose output would add more than 1 MiB beyond
/// the constants it reads (Expand, Tile, ConstantOfShape of a large shape), and nodes the
/// engine cannot compute. Each node is computed by the engine on its own (reference kernels
/// first), so one it cannot run stops only the nodes that depend on it.

#include <cstdint>
#include <string>
#include <vector>

#include "core/rewrite/rewriter.h"
#include "core/util/status.h"

namespace wh::engine {

struct FoldConstantsResult {
    int folded = 0;        ///< nodes computed and removed
    int initializers = 0;  ///< initializers added for values read by the nodes that stay
    /// The nodes that read only constants but were left, one line each:
    /// "Expand 'e1': its output (64 MiB) would grow the model by more than 1 MiB".
    std::vector<std::string> left;
};

/// Runs `node` alone, as a one-node model of opset `opset` whose inputs are `inputs` (nullptr
/// for an absent optional input), on the reference kernels first: its present outputs in
/// order (unnamed). kUnsupported when the engine cannot compute it.
Expected<std::vector<ir::Tensor>> evaluateNode(const ir::Node& node, int64_t opset,
                                               const std::vector<const ir::Tensor*>& inputs);

/// Folds what it can through `rewriter` (its edits join the caller's group, if one is open).
/// `opset`: the model's default-domain opset, which gives the operators' meaning. An error only
/// when the Rewriter refuses an edit; nodes that cannot be computed are left.
Expected<FoldConstantsResult> foldConstants(rewrite::Rewriter& rewriter, int64_t opset);

}  // namespace wh::engine
