#pragma once
/// Prune plan: removes whole channels found by analysis::analyzeChannelDependencies from the
/// graph for real — the producers' weight rows and biases, every consumer's input channels or
/// Gemm input features (channel × spatial blocks), BatchNormalization parameters, constant
/// elementwise operands, depthwise weights and `group`, Split sizes, Slice bounds and Reshape
/// shapes — so the result is a smaller valid ONNX graph: no masks, no zero-filled channels.
/// Concat offsets follow by themselves (the inputs are smaller).
///
/// A parameter read by one node input only is replaced in place; one shared with other readers
/// (or reached through Identity / a Constant node) is copied into a new initializer for the
/// pruned reader, and what becomes unread is removed. Declared value types (value_info, graph
/// inputs/outputs) get their channel dimension updated. Everything is one undo step.
///
/// Floors: no tensor carrying channel ids (in particular no producer's output) may lose all its
/// channels; applyPrune refuses such a selection with kBadInput naming the tensor and its
/// producer, and changes nothing.

#include <cstdint>
#include <string>
#include <vector>

#include "core/analysis/channel_dependencies.h"
#include "core/rewrite/rewriter.h"
#include "core/util/status.h"

namespace wh::algo::prune {

/// Channels to remove: `remove[g]` lists indices into deps.groups[g].channels (missing or
/// empty = none of that group).
struct PruneSelection {
    std::vector<std::vector<int>> remove;
};

struct PruneReport {
    int64_t channelsRemoved = 0;  ///< entries of the selection
    int64_t paramsSliced = 0;     ///< parameter tensors rewritten
    int64_t elementsRemoved = 0;  ///< parameter elements removed
};

/// Why `selection` would empty a tensor, or ok.
Status checkPruneFloors(const analysis::ChannelDependencies& deps, const PruneSelection& selection,
                        const ir::Graph& graph);

/// Removes the selected channels through `rewriter` as one undo step. `deps` must describe the
/// rewriter's graph as it is (kBadInput if a node or parameter it names is gone or resized). On
/// failure the graph is unchanged.
Expected<PruneReport> applyPrune(rewrite::Rewriter& rewriter,
                                 const analysis::ChannelDependencies& deps,
                                 const PruneSelection& selection);

/// A simple ranking to drive tests and demos (the real criteria are the pruning algorithms'):
/// in each group, the floor(ratio · channels) channels with the smallest mean |weight| of their
/// producers' rows, skipping a channel whose removal would empty a tensor.
PruneSelection selectByL1Norm(const ir::Graph& graph, const analysis::ChannelDependencies& deps,
                              double ratio);

}  // namespace wh::algo::prune
