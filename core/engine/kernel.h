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

namespace wh::jobs {
class JobContext;
}

namespace wh::engine {

class KernelRegistry;

/// Which implementation family a kernel belongs to.
enum class Backend {
    kReference,  ///< core/engine/ref: plain, always built, the oracle in tests
    kDnnl,       ///< core/engine/dnnl: oneDNN primitives
};
std::string_view backendName(Backend backend);

class Kernel;

/// How a tensor's elements are arranged in memory when that is not dense row-major — e.g.
/// oneDNN's blocked formats (nChw16c), which a backend keeps between its own kernels so that it
/// reorders only where a kernel needs plain data. Opaque to the plan: it only sizes storage and
/// asks for the conversion back to plain. Immutable; shared between TensorInfos.
class Layout {
public:
    virtual ~Layout() = default;
    /// "nChw16c": for Plan::describe() and messages.
    virtual std::string name() const = 0;
    /// Bytes of storage a tensor in this layout takes (blocked formats pad channels).
    virtual std::size_t byteSize() const = 0;
    /// A kernel with one input (a tensor in this layout) and one output (the same tensor, plain).
    virtual std::unique_ptr<Kernel> makeToPlain() const = 0;
};

/// What the plan knows about a value at compile time.
struct TensorInfo {
    ir::DType dtype = ir::DType::kUndefined;
    /// Dimensions; -1 where unknown until run time. Empty with `rankKnown` false: unknown rank.
    Dims dims;
    bool rankKnown = true;
    /// The value itself when it is fixed at compile time (initializer, Constant, folded).
    std::shared_ptr<const HostTensor> constant;
    /// Null: dense row-major (what every kernel reads unless its KernelBuild says otherwise).
    /// Constants are always plain.
    std::shared_ptr<const Layout> layout;

    bool shapeKnown() const;
    static TensorInfo of(const HostTensor& t);
    /// What a declared ONNX type says (unknown dims -1, no shape: unknown rank); `given`
    /// dims, when not null, replace the declared shape.
    static TensorInfo of(const ir::Type& type, const Dims* given = nullptr);
};

/// Plan-wide settings a factory may consult.
struct KernelOptions {
    int threads = 0;        ///< 0 = all cores
    bool training = false;  ///< e.g. BatchNormalization uses batch statistics
    /// The caller converts tensors back to plain where needed (Plan does): a kernel may write
    /// its outputs in a backend layout (TensorInfo::layout) rather than row-major.
    bool nativeLayouts = false;

    // For kernels that compile subgraphs (If, Loop, Scan) into plans of their own, which are
    // compiled as the enclosing plan is. Null / empty where the caller does not say (the
    // built-in registry, every backend in the default order, no cancellation).
    /// The model being compiled (its opset imports); valid during the factory call only.
    const ir::Model* model = nullptr;
    const KernelRegistry* registry = nullptr;
    std::vector<Backend> backends;
    /// Polled by long-running kernels (a Loop between iterations): kCancelled once cancelled.
    /// Not owned; must outlive the plan's runs.
    const jobs::JobContext* job = nullptr;
};

/// A node after the kernel's own that the kernel may compute too (fusion, e.g. a Relu as a
/// oneDNN post-op). `link` is its input that reads the previous node's only output, which
/// nothing else reads; its other inputs are computed before the kernel runs.
struct Follower {
    const ir::Node& node;
    int64_t opset;
    int link;
    std::span<const TensorInfo> inputs;  ///< one per node input, as KernelContext::inputs
};

/// Everything a factory may look at.
struct KernelContext {
    const ir::Node& node;
    int64_t opset;  ///< version imported for the node's domain
    /// One per node input; dtype kUndefined if omitted. The plan may pass more than the node
    /// has (a Conv with BatchNormalization folded in gets a bias input it did not have).
    std::span<const TensorInfo> inputs;
    const KernelOptions& options;
    /// Nodes the kernel may take over, in chain order; empty when the caller does not fuse.
    std::span<const Follower> followers = {};

    bool hasInput(int i) const {
        return i < static_cast<int>(inputs.size()) &&
               inputs[static_cast<std::size_t>(i)].dtype != ir::DType::kUndefined;
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
///
/// Fusion: `fused` = k > 0 says the kernel also computes the first k followers. It then has one
/// output, the k-th follower's, and at run time gets the node's inputs followed by each fused
/// follower's inputs other than `link`, in order (omitted ones null).
/// Layouts: with `readsLayouts` false the plan hands the kernel plain tensors; with true, each
/// input in the layout its TensorInfo states.
/// In place: `accumulatesInto` = i >= 0 says the kernel adds its result onto run-time input i
/// (a residual Add as a sum post-op), laid out exactly like output 0. When nothing reads that
/// input afterwards, the plan makes both one tensor (outputs[0] == inputs[i] at run time) and
/// the kernel skips copying it.
struct KernelBuild {
    std::unique_ptr<Kernel> kernel;
    std::vector<TensorInfo> outputs;
    int fused = 0;
    bool readsLayouts = false;
    int accumulatesInto = -1;
};

/// Fails with kUnsupported for an attribute combination it cannot do (naming it), kBadInput for
/// a node that breaks the operator's spec.
using KernelFactory = std::function<Expected<KernelBuild>(const KernelContext&)>;

/// What the plans may assume about an operator, whichever backend's kernel runs it: declared
/// once per (domain, op type) where its kernels are registered (KernelRegistry::setTraits), so
/// that a new operator is a kernel, optionally a gradient, and its traits — never an edit to
/// Plan or TrainingPlan.
struct OpTraits {
    /// Computes each output element from the same element of same-shaped operands, forward and
    /// gradient: a tensor kept in a permuted order (channel-blocked, channel_blocks.h) flows
    /// through it unchanged, so the training plan keeps blocked layouts across it.
    bool elementwise = false;
    /// The plans offer it to the kernel before it as a Follower (fusion: a post-op, a Relu
    /// computed by BatchNormalization's training forward). Only offered: a kernel takes what
    /// it can compute (KernelBuild::fused, GradBuild::fused).
    bool postOp = false;
    /// Its kernels may write output 0 over input 0 (same dtype and dims): the inference plan
    /// then gives both one buffer when nothing reads the input afterwards.
    bool inPlace = false;
    /// Inputs that hold *state*: initializers the training forward updates (BatchNormalization's
    /// running mean and variance, an observer's range), never trained as parameters.
    std::vector<int> stateInputs;
    /// Optional per-node form of `stateInputs`, for operators whose state depends on attributes
    /// (a FakeQuantize with observe = 1 keeps its scale, zero point and range as state; with
    /// observe = 0 it has none). Null: `stateInputs` for every node. Read it through
    /// stateInputsFor(), as the training plan does everywhere it needs a node's state inputs.
    std::function<std::vector<int>(const ir::Node& node)> stateInputsOf;
    /// Optional: true when `node` learns its input `input` whatever its size (a learned
    /// quantizer's scale): a floating initializer read there is a trainable Parameter even
    /// where ir::isParameter() calls it a constant (a scalar). Null: only isParameter() decides.
    std::function<bool(const ir::Node& node, int input)> trainedInput;

    /// The state inputs of `node`: stateInputsOf(node) when set, else stateInputs. A training
    /// forward gets one extra output per entry, in this order (GradBuild::trainingForward).
    std::vector<int> stateInputsFor(const ir::Node& node) const {
        return stateInputsOf ? stateInputsOf(node) : stateInputs;
    }
};

}  // namespace wh::engine
