#pragma once
/// The compile steps Plan and TrainingPlan share, each in one place: picking the first backend
/// whose factory builds a node's kernel (or gradient), folding a node whose inputs are all
/// constant, which operators are never folded, and which nodes after a node are offered to its
/// kernel as followers (OpTraits::postOp). Both plans compile a lowered graph (lowering.h)
/// node by node with these; what differs is what they keep per tensor (Plan: layouts and
/// in-place storage; TrainingPlan: parameters, state, saved activations, gradients).

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/engine/autodiff.h"
#include "core/engine/kernel.h"
#include "core/engine/kernel_registry.h"
#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::engine {

/// "node 'conv1' (Conv)": how every compile and run message names a node.
std::string nodeWhere(const ir::Node& node);

/// True for operators whose result differs between runs (random generators; Dropout while
/// training): never folded at compile time, whatever their inputs.
bool isNondeterministic(const ir::Node& node, bool training);

/// The kernel of the first backend in `backends` whose factory builds one for ctx.node; a
/// factory answering kUnsupported passes the node on. `used` (optional) says whose it is.
/// Fails with kUnsupported naming the operator, opset and node when no backend has a factory,
/// else with the last factory's error (prefixed with the node when it does not name it).
Expected<KernelBuild> selectKernel(const KernelRegistry& registry,
                                   std::span<const Backend> backends, const KernelContext& ctx,
                                   Backend* used = nullptr);

/// The same for gradients: nullopt when no backend registers a gradient for the operator.
Expected<std::optional<GradBuild>> selectGradient(const GradRegistry& registry,
                                                  std::span<const Backend> backends,
                                                  const GradContext& ctx);

/// Runs `build`'s kernel once on `inputs` (all known) and makes its outputs constants:
/// build.outputs[i] then describes and holds output i. Messages name the node.
Status foldNow(const ir::Node& node, std::span<const HostTensor* const> inputs, KernelBuild& build);

/// A node after another that the other's kernel may compute too, and its input that reads
/// the previous node's output.
struct ChainLink {
    const ir::Node* node;
    int link;
};

/// The nodes after `node` offered to its kernel as followers, in chain order, at most
/// `maxLength`: each declares OpTraits::postOp, reads the previous one's only output (which
/// nothing else, nor the caller, reads) and has one output itself; `taken(n)` excludes nodes
/// already compiled. Whether a follower's other inputs are ready is the caller's to check.
std::vector<ChainLink> followerChain(const ir::Node& node, const KernelRegistry& registry,
                                     std::size_t maxLength,
                                     const std::function<bool(const ir::Node&)>& taken);

}  // namespace wh::engine
