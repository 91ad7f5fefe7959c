#pragma once
/// SubgraphPlan: a subgraph (an If branch, a Loop or Scan body) compiled into a Plan of its own
/// once, when its node's kernel is made, and run per call.
///
/// The body becomes the main graph of a standalone model: its formal inputs stay its inputs, and
/// every name it reads from an enclosing scope (at any depth: a capture of an If inside a Loop
/// body included) becomes an initializer when the enclosing plan knows it at compile time
/// (weights: folded and fused as in the main graph) and a further input otherwise. The enclosing
/// plan passes those run-time captures to the node's kernel after the node's own inputs, in
/// capturedNames() order.
///
/// Shapes: compiled for the shapes known at kernel construction (-1 where only run time
/// knows). A run whose inputs contradict a compiled dim (a Loop-carried value that grows)
/// compiles once more for the exact shapes; a few such plans are kept, keyed by shape.
/// Memory: the nested plans' tensors count against the process-wide budget like any other.
/// Thread-safety: as Plan (run() is not reentrant).

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/engine/host_tensor.h"
#include "core/engine/kernel.h"
#include "core/engine/plan.h"
#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::engine {

/// The names `node`'s subgraphs read from `node`'s scope or further out, recursively through
/// nested subgraphs, each once, in order of first appearance (a deterministic order both the
/// plan and the kernel compute).
std::vector<std::string> capturedNames(const ir::Node& node);

/// The names `graph` (a subgraph) and its nested subgraphs read from outside `graph`.
std::vector<std::string> capturedNames(const ir::Graph& graph);

class SubgraphPlan {
public:
    /// Compiles `body`. `formal`: one info per body input (kUndefined dtype: the body's
    /// declaration). `captureNames`/`captureInfos`: the enclosing values the node receives after
    /// its own inputs (a superset of what `body` reads is fine). `where` names the node and
    /// attribute in messages ("node 'x' (If) then_branch").
    static Expected<SubgraphPlan> compile(const ir::Graph& body, std::vector<TensorInfo> formal,
                                          std::span<const std::string> captureNames,
                                          std::span<const TensorInfo> captureInfos,
                                          const KernelOptions& options, std::string where);

    SubgraphPlan(SubgraphPlan&&) noexcept;
    SubgraphPlan& operator=(SubgraphPlan&&) noexcept;
    ~SubgraphPlan();

    int numInputs() const;   ///< the body's formal inputs
    int numOutputs() const;  ///< the body's outputs
    /// What the first compilation inferred for output i.
    const TensorInfo& outputInfo(int i) const;

    /// Runs with the body's formal inputs and the node's captures (all of them, in the order
    /// given to compile(); the plan picks what it reads). Messages name `where`.
    Expected<std::vector<HostTensor>> run(std::span<const HostTensor* const> formal,
                                          std::span<const HostTensor* const> captures);

private:
    struct Impl;
    explicit SubgraphPlan(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace wh::engine
