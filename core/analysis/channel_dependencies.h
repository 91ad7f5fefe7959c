#pragma once
/// Channel dependency analysis: which output channels of a graph's Conv / Gemm / MatMul layers
/// are tied together and must be removed together — the foundation of structured pruning.
///
/// Every output channel of a *producer* (a Conv, Gemm or MatMul with constant weights) gets an id.
/// Walking the graph in order, every tensor whose axis 1 (NCHW's channel axis, a Gemm input's
/// feature axis) is understood gets the id of each of its positions on that axis:
///   - pass-through ops (Relu, Clip, Sigmoid, HardSwish, pooling, Dropout, Identity, Resize,
///     Pad without channel pads, Cast, ...) and BatchNormalization copy their input's ids; BN's
///     scale, B, mean and var are sliced with them;
///   - broadcasting elementwise ops (Add, Sub, Mul, Div, Sum, Max, Min, PRelu) *tie* the ids at
///     the same position of every input (a residual Add ties the two producers' channels); a
///     constant operand with a channel dimension is sliced;
///   - Concat on axis 1 concatenates the ids (offsets follow by themselves); Split and Slice on
///     axis 1 take sub-ranges (their sizes / bounds are rewritten when channels go);
///   - a depthwise Conv (group == input channels) passes its input's ids through (each repeated
///     by the channel multiplier) and its weights, bias and `group` follow; a grouped Conv ties
///     the same local channel of every group, on its input and on its output;
///   - Flatten, or a Reshape keeping the batch, into [N, C·S] repeats each id S times (the
///     channel × spatial blocks of a following Gemm's input features); a Reshape keeping [N, C]
///     and only reshaping the spatial dims, Squeeze / Unsqueeze / ReduceMean on axes ≥ 2 and
///     GlobalAveragePool keep them.
/// Ids tied together form a *channel* (a set of (producer, output channel) pairs, removed as one);
/// channels whose ids share a producer form a *group*. Removing a channel removes the producers'
/// weight rows and biases and, for every tensor it flows through, the matching positions of
/// every consumer's parameters (Conv / Gemm / MatMul input channels or features, BN parameters,
/// constant elementwise operands, depthwise weights) — the edits are listed in `edits`.
///
/// A channel is refused (in `blocked`, with the first reason found) when it reaches a graph
/// output, an operator that mixes channels or that we do not understand (a Reshape or Transpose
/// moving the channel axis, Softmax over channels, ...), an operand whose channels we cannot
/// follow, a Slice or Reshape whose bounds are not constants, a parameter that is not a constant,
/// or a tensor whose shape is unknown. Shapes come from compiling an engine::Plan (unfused) at
/// batch 1 (symbolic batch dims) and `inputShapes`.
///
/// No Qt; reads the model only.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/engine/host_tensor.h"
#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::analysis {

/// One output channel of a producer layer.
struct ChannelRoot {
    ir::NodeId node = 0;
    int64_t channel = 0;
    bool operator==(const ChannelRoot&) const = default;
};

/// What removing channels changes, for one node.
enum class ChannelEditKind {
    kSliceParam,      ///< slice constant input `input` of `node` along `axis`
    kDepthwiseGroup,  ///< set `group` to the number of kept ids (depthwise Conv input channels)
    kSplitSizes,      ///< rewrite the Split's sizes: output k covers `ranges[k]` of `ids`
    kSliceBounds,     ///< rewrite the Slice's starts/ends on axis 1: `ranges[0]` of `ids`
    kReshapeShape,    ///< set the Reshape's shape entry 1 (when > 0) to the kept count of `ids`
};

/// An edit to make when channels go: `ids[p]` is the channel id of position p along the edited
/// axis (for kSliceParam the parameter's axis; otherwise the node's input channels).
struct ChannelEdit {
    ChannelEditKind kind = ChannelEditKind::kSliceParam;
    ir::NodeId node = 0;
    std::string nodeName;
    int input = 0;
    int axis = 0;
    std::vector<int64_t> ids;
    std::vector<std::pair<int64_t, int64_t>> ranges;  ///< [begin, end) positions in `ids`
};

/// A tensor whose axis 1 carries channel ids: `ids[p]` for position p.
struct ChannelTensor {
    std::string value;
    std::vector<int64_t> ids;
};

/// A parameter a group's channels touch.
struct ChannelParam {
    ir::NodeId node = 0;
    std::string nodeName;
    std::string opType;
    int input = 0;  ///< 1 = weights, 2 = bias (Conv/Gemm), 1..4 = scale/B/mean/var (BN), ...
    int axis = 0;
};

/// Channels that must be removed together: all the producers' channels tied by the graph.
struct ChannelGroup {
    /// Each entry is one removable channel: the (producer, output channel) pairs tied together.
    std::vector<std::vector<ChannelRoot>> channels;
    /// The producer layers, in graph order.
    std::vector<ir::NodeId> producers;
    /// Every parameter sliced when one of the group's channels goes (weights, biases, BN, ...).
    std::vector<ChannelParam> params;
};

/// Producer channels that cannot be removed, and why.
struct BlockedChannels {
    ir::NodeId node = 0;
    std::string nodeName;
    std::vector<int64_t> channels;
    std::string reason;
};

struct ChannelDependencies {
    std::vector<ChannelGroup> groups;
    std::vector<BlockedChannels> blocked;
    /// For the prune plan: the edits, the tensors carrying ids (value types get updated), and
    /// the channel each id belongs to as (group, index in ChannelGroup::channels); blocked ids
    /// map to (-1, -1).
    std::vector<ChannelEdit> edits;
    std::vector<ChannelTensor> tensors;
    std::vector<std::pair<int, int>> channelOfId;
    std::vector<ChannelRoot> rootOfId;
    /// The model's default-domain opset (Split and Slice keep their sizes differently).
    int64_t opset = 0;

    /// Channels over all groups.
    int64_t numPrunableChannels() const;
};

struct ChannelOptions {
    /// Dims to compile with, by graph input name; others: their declared dims, batch 1.
    std::map<std::string, engine::Dims> inputShapes;
};

/// Analyses the model's main graph. Fails only when the model cannot be compiled (to learn its
/// shapes); what cannot be pruned is reported in `blocked`, not as an error.
Expected<ChannelDependencies> analyzeChannelDependencies(const ir::Model& model,
                                                         const ChannelOptions& options = {});

/// The constant behind a parameter input: an initializer or Constant output, looking through
/// Identity nodes (PyTorch's exporter shares equal initializers through Identity). Null if none
/// or if it is a graph input the user may feed.
const ir::Tensor* channelParamTensor(const ir::Value* value);

}  // namespace wh::analysis
