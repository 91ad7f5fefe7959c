#pragma once
/// Plan: a graph compiled once for given input shapes — kernels created, shapes inferred,
/// constants folded — and executed many times. Describe → compile once → execute.
///
/// Compilation folds every node whose inputs are all constant (initializers, Constant nodes,
/// Shape of a static shape, ...), so PyTorch's shape arithmetic costs nothing at run time.
/// An operator without a kernel fails compilation with kUnsupported naming op type, opset and node.
/// Thread-safety: run() is not reentrant; use one Plan per thread.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/host_tensor.h"
#include "core/engine/kernel.h"
#include "core/engine/kernel_registry.h"
#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::engine {

struct PlanOptions {
    int threads = 0;  ///< 0 = all cores
    /// Backends to try, in order, for each node.
    std::vector<Backend> backends{Backend::kDnnl, Backend::kReference};
    /// Shapes for graph inputs whose declared shape has symbolic or unknown dims (e.g. batch).
    std::map<std::string, Dims> inputShapes;
    bool training = false;
    /// Registry to use; null = KernelRegistry::builtin().
    const KernelRegistry* registry = nullptr;
};

/// Per-node facts after compilation (profiler, tests, GUI).
struct PlannedNode {
    ir::NodeId id;
    std::string name;
    std::string opType;
    Backend backend;
    bool folded;  ///< computed at compile time, not run
    std::vector<TensorInfo> outputs;
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

    /// Runs with inputs in inputNames() order; outputs in outputNames() order.
    Expected<std::vector<HostTensor>> run(const std::vector<HostTensor>& inputs);

    const std::vector<PlannedNode>& nodes() const;

private:
    struct Impl;
    explicit Plan(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace wh::engine
