#pragma once
/// Kernel: one node's computation, created once per Plan by a KernelFactory from the node and
/// what is known of its inputs at compile time (types, shapes, constant values), then run many
/// times. Forward only here; backward lives in core/engine/autodiff.

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/engine/host_tensor.h"
#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::engine {

/// Which implementation family a kernel belongs to.
enum class Backend {
    kReference,  ///< core/engine/ref: plain, always built, the oracle in tests
    kDnnl,       ///< core/engine/dnnl: oneDNN primitives
};
std::string_view backendName(Backend backend);

/// What the plan knows about a value at compile time.
struct TensorInfo {
    ir::DType dtype = ir::DType::kUndefined;
    /// Dimensions; -1 where unknown until run time. Empty with `rankKnown` false: unknown rank.
    Dims dims;
    bool rankKnown = true;
    /// The value itself when it is fixed at compile time (initializer, Constant, folded).
    std::shared_ptr<const HostTensor> constant;

    bool shapeKnown() const;
    static TensorInfo of(const HostTensor& t);
};

/// Plan-wide settings a factory may consult.
struct KernelOptions {
    int threads = 0;          ///< 0 = all cores
    bool training = false;    ///< e.g. BatchNormalization uses batch statistics
};

/// Everything a factory may look at.
struct KernelContext {
    const ir::Node& node;
    int64_t opset;                       ///< version imported for the node's domain
    std::span<const TensorInfo> inputs;  ///< one per node input; dtype kUndefined if omitted
    const KernelOptions& options;

    bool hasInput(int i) const {
        return i < static_cast<int>(inputs.size()) && inputs[static_cast<std::size_t>(i)].dtype !=
                                                           ir::DType::kUndefined;
    }
    /// "node 'conv1' (Conv)": for messages.
    std::string where() const;
};

class Kernel {
public:
    virtual ~Kernel() = default;
    /// Computes the outputs. Omitted inputs are null. Each output is a tensor the kernel shapes
    /// with HostTensor::ensure() (storage is reused between runs). Must not keep pointers to
    /// inputs or outputs between calls.
    virtual Status run(std::span<const HostTensor* const> inputs,
                       std::span<HostTensor* const> outputs) = 0;
};

/// A kernel and what it tells about its outputs (shapes inferred from the inputs; -1 where only
/// run time knows). A factory may also give constant outputs (e.g. Shape of a known shape).
struct KernelBuild {
    std::unique_ptr<Kernel> kernel;
    std::vector<TensorInfo> outputs;
};

/// Fails with kUnsupported for an attribute combination it cannot do (naming it), kBadInput for
/// a node that breaks the operator's spec.
using KernelFactory = std::function<Expected<KernelBuild>(const KernelContext&)>;

}  // namespace wh::engine
