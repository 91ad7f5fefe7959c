#pragma once
/// Plan: a graph compiled once for given input shapes — kernels created, shapes inferred,
/// constants folded — and executed many times. Describe → compile once → execute.
///
/// Lower, then compile: the model is cloned and lowered (lowering.h: Constant nodes become
/// initializers; for inference a BatchNormalization after a Conv is folded into the Conv's
/// weights, rewrite::ConvBatchNormFolding), then compiled node by node with the steps both
/// plans share (node_compiler.h). Every node whose inputs are all constant (initializers, Shape
/// of a static shape, ...) is folded, so PyTorch's shape arithmetic costs nothing at run time.
/// For inference a kernel may take over the nodes after it that declare OpTraits::postOp (a
/// oneDNN Conv computes a following Add and activation as post-ops), and an OpTraits::inPlace
/// operator writes over its input when that dies there. Tensors stay in the layout the backend
/// chose between its kernels and are converted to plain only where a kernel or the caller needs
/// it. The graph compiled from is never modified; nodes() and the RunObserver name its nodes.
/// Activations share buffers by lifetime: compilation notes the last step that reads or
/// writes each value computed at run time, and a run gives its buffer back to the plan's pool
/// (buffer_pool.h) after that step, for the next step's output; graph outputs and inputs are
/// never pooled. A run after the first allocates nothing for them.
/// An operator without a kernel fails compilation with kUnsupported naming op type, opset and node.
/// Thread-safety: run() is not reentrant; use one Plan per thread.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/compile_options.h"
#include "core/engine/host_tensor.h"
#include "core/engine/kernel.h"
#include "core/engine/kernel_registry.h"
#include "core/engine/run_observer.h"
#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::engine {

struct PlanOptions : CompileOptions {
    bool training = false;
    /// Fold BatchNormalization into Conv, fuse following nodes, keep backend layouts (never in
    /// training). Off: one step per node, every tensor plain (for comparisons and debugging).
    bool fuse = true;
};

/// Per-node facts after compilation (profiler, tests, GUI).
struct PlannedNode {
    ir::NodeId id;
    std::string name;
    std::string opType;
    Backend backend;
    bool folded;  ///< computed at compile time, not run
    std::vector<TensorInfo> outputs;
    /// Set when another node's step computes this one (BatchNormalization folded into its Conv,
    /// an activation run as a post-op): that node's id.
    std::optional<ir::NodeId> fusedInto;
};

class Plan {
public:
    Plan(Plan&&) noexcept;
    Plan& operator=(Plan&&) noexcept;
    ~Plan();

    /// Compiles the model's main graph. The model must outlive nothing: the plan copies what it
    /// needs (weights are shared, copy on write).
    static Expected<Plan> compile(const ir::Model& model, const PlanOptions& options = {});

    /// Graph inputs to feed (initializer-backed inputs excluded), in graph order.
    const std::vector<std::string>& inputNames() const;
    const std::vector<std::string>& outputNames() const;
    /// Compile-time info of graph input/output i.
    const TensorInfo& inputInfo(int i) const;
    const TensorInfo& outputInfo(int i) const;

    /// Runs with inputs in inputNames() order; outputs in outputNames() order. The outputs share
    /// storage with the plan until the next run, which then writes into fresh storage: results
    /// stay valid for as long as the caller keeps them.
    Expected<std::vector<HostTensor>> run(const std::vector<HostTensor>& inputs);

    /// One entry per graph node, in graph order.
    const std::vector<PlannedNode>& nodes() const;
    /// Kernels executed per run (fused nodes count once; layout conversions count).
    std::size_t numSteps() const;
    /// The run-time steps, one line each: the nodes a step computes, its backend, and its
    /// outputs' shapes and layouts (for tests, the CLI and the profiler).
    std::string describe() const;

private:
    struct Impl;
    class Builder;  // plan.cpp: the compiler
    explicit Plan(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace wh::engine
