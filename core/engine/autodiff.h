#pragma once
/// Reverse-mode automatic differentiation, one operator at a time.
///
/// A GradKernel computes, for one node, the gradients of the inputs that need them from the
/// gradients of its outputs and the forward tensors it declared it needs (so the training plan
/// keeps only those activations). GradFactories are registered in a GradRegistry keyed like the
/// KernelRegistry: (domain, op type, opset range, backend). Registration is explicit
/// (registerReferenceGradients), no static initialisers.
///
/// A factory may also provide a *training forward* kernel that replaces the inference kernel of
/// the KernelRegistry while training: BatchNormalization (batch statistics, running averages
/// updated) and Dropout (a seeded mask). It shares what backward needs (batch mean and inverse
/// standard deviation, the mask) with the GradKernel it was built with.
///
/// Conventions every GradKernel follows:
///  - input gradients are *written*, not accumulated: the kernel ensure()s `inputGrads[i]` to the
///    forward input's dims and overwrites it; the training plan sums over consumers;
///  - a null output gradient means no gradient flows into that output (zero);
///  - gradients of broadcast inputs are reduced (summed) over the broadcast axes;
///  - float32 and float64 are supported (float64 for tight finite-difference checks).
/// Thread-safety: a GradKernel is used by one plan on one thread.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/engine/host_tensor.h"
#include "core/engine/kernel.h"
#include "core/engine/op_registry.h"
#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::engine {

/// Run-time switches shared by a training plan and its kernels (read at every run, so a callback
/// can flip them between steps). Owned by the plan; kernels keep a pointer.
struct TrainingFlags {
    /// BatchNormalization uses its running statistics (and leaves them alone) while training:
    /// "freeze BN", as quantization-aware training does after a few epochs.
    bool batchNormFrozen = false;
    /// Dropout is the identity while training (e.g. for finite-difference checks).
    bool dropoutDisabled = false;
    /// Seed of Dropout masks; a plan advances `dropoutStep` once per forward pass so that masks
    /// differ between steps yet are reproducible.
    uint64_t seed = 0;
    uint64_t dropoutStep = 0;
};

/// What a grad factory may look at (compile time).
struct GradContext {
    const ir::Node& node;
    int64_t opset;
    std::span<const TensorInfo> inputs;   ///< one per node input; dtype kUndefined if omitted
    std::span<const TensorInfo> outputs;  ///< one per node output
    /// One per node input: true when the plan wants the gradient of that input.
    std::vector<bool> needsGrad;
    const TrainingFlags* flags = nullptr;

    bool hasInput(int i) const {
        return i < static_cast<int>(inputs.size()) &&
               inputs[static_cast<std::size_t>(i)].dtype != ir::DType::kUndefined;
    }
    bool wants(int i) const {
        return i < static_cast<int>(needsGrad.size()) && needsGrad[static_cast<std::size_t>(i)];
    }
    /// "node 'conv1' (Conv)": for messages.
    std::string where() const;
};

/// Everything a GradKernel sees when it runs.
struct GradArgs {
    /// Forward inputs the kernel declared in GradBuild::savedInputs; null otherwise (or omitted).
    std::span<const HostTensor* const> inputs;
    /// Forward outputs the kernel declared in GradBuild::savedOutputs; null otherwise.
    std::span<const HostTensor* const> outputs;
    /// Dims of every forward input of this run (also of unsaved ones).
    std::span<const Dims> inputDims;
    /// Gradient of each output; null where none flows (zero).
    std::span<const HostTensor* const> outputGrads;
    /// Where to write the gradient of each input; null where it is not wanted.
    std::span<HostTensor* const> inputGrads;
};

class GradKernel {
public:
    virtual ~GradKernel() = default;
    /// Computes the wanted input gradients (see the file comment for the conventions).
    virtual Status backward(const GradArgs& args) = 0;
};

/// A gradient kernel and what it needs kept from the forward pass.
struct GradBuild {
    std::unique_ptr<GradKernel> kernel;
    /// One per node input / output: true when backward reads that forward tensor.
    std::vector<bool> savedInputs;
    std::vector<bool> savedOutputs;
    /// Optional: replaces the inference forward kernel while training. It is run with the node's
    /// inputs and with outputs = the node's outputs (null where omitted) followed by one extra
    /// output per `stateInputs` entry.
    std::unique_ptr<Kernel> trainingForward;
    /// The training forward computes exactly the inference function (it exists for memory or
    /// layout reasons, as the oneDNN Conv's): the plan's evaluate() runs it too.
    bool trainingForwardIsInference = false;
    /// Node inputs that the training forward updates (BatchNormalization's running mean and
    /// variance): extra output k is the new value of input stateInputs[k]. The plan stores it
    /// back after the forward pass.
    std::vector<int> stateInputs;
    /// Channel-blocked activations (core/engine/channel_blocks.h): what the training forward and
    /// the gradient kernel can take for input 0 and output 0 (and their gradients). kFree: each
    /// either way (a oneDNN Conv); kShared: both in the same order (BatchNormalization). The
    /// plan chooses before the first run and tells both kernels through `setChannelBlocked`
    /// (required unless kNone); evaluate() then runs the training forward too, with
    /// TrainingFlags::batchNormFrozen set, so the forward must honour that flag.
    enum class ChannelBlocks { kNone, kFree, kShared };
    /// Input k >= 0 whose gradient is exactly output 0's (a residual Add without broadcasting):
    /// the plan hands that buffer over (or adds it onto an existing gradient) instead of the
    /// kernel copying it; the kernel sees inputGrads[k] null. The plan checks the dims at run
    /// time and fails (kInternal) if they differ, so set it only when compile-time dims match.
    int gradPassThrough = -1;
    /// Non-null: the training forward can apply a Relu to output 0, and the gradient kernel can
    /// take that Relu's gradient too, reading output 0 (saved). The plan calls it before the
    /// first run when a Relu is output 0's only reader, then drops the Relu's own step (one pass
    /// over memory fewer each way); evaluate() then runs the training forward too, with
    /// TrainingFlags::batchNormFrozen set. A fused Relu ends gradPassThrough (the kernel then
    /// writes every input gradient itself).
    std::function<void()> fuseRelu;
    ChannelBlocks channelBlocks = ChannelBlocks::kNone;
    std::function<void(bool inputBlocked, bool outputBlocked)> setChannelBlocked;
};

/// Fails with kUnsupported for an attribute combination it cannot differentiate (naming it).
using GradFactory = std::function<Expected<GradBuild>(const GradContext&)>;

class GradRegistry : public OpRegistry<GradFactory> {
public:
    /// The registry with every built-in gradient (reference and oneDNN), built on first use.
    static const GradRegistry& builtin();
    /// "domain:op" keys of every registration (sorted, unique): for docs and tests.
    std::vector<std::string> opTypes() const;
};

/// Adds every reference gradient (core/engine/ref/grad_*.cpp).
void registerReferenceGradients(GradRegistry& registry);
/// Adds the fast gradients (backend kDnnl, core/engine/dnnl/*backward*, float32): Conv (2-D,
/// oneDNN, with a training forward whose blocked copies live in shared scratch),
/// BatchNormalization (OpenMP training forward + backward), Relu and Clip (oneDNN eltwise).
void registerDnnlGradients(GradRegistry& registry);

// ---- Helpers shared by gradient kernels, the training plan and tests -------------------------

/// numpy broadcasting of two shapes; fails (kBadInput) when they are incompatible.
Expected<Dims> broadcastDims(const Dims& a, const Dims& b);
/// Sums `grad` (dims broadcast from `shape`) over the broadcast axes so that it has `shape`:
/// the gradient of a broadcast input. Writes into `out` (ensure()d). float and double.
Status reduceToShape(const HostTensor& grad, const Dims& shape, HostTensor& out);
/// out += in, elementwise (same dims and dtype, float or double).
Status accumulate(HostTensor& out, const HostTensor& in);

}  // namespace wh::engine
