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
#include <optional>
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

/// Plan-wide run-time switches of a training plan (read at every run, so a callback can flip
/// them between steps). Owned by the plan; kernels read them through their node's NodeFlags.
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
    /// Set by the plan while evaluate() runs a training forward: inference semantics (BN on
    /// running statistics, no dropout) whatever else is set.
    bool evaluating = false;
    /// While set, every BatchNormalization blends its batch statistics into its running ones
    /// with this momentum instead of its own: a statistics pass sets k / (k + 1) for its k-th
    /// batch (from 0), so that the running statistics end as the plain average of the pass's
    /// batch statistics (train/statistics_pass.h).
    std::optional<double> batchNormMomentum;
};

/// The run-time configuration of one node of a training plan, which algorithms own: overrides
/// of the plan-wide TrainingFlags for this node, and named knobs its kernels read (a fake
/// quantizer's "enabled" after a quantization delay, an SLB temperature). Owned by the plan at
/// a stable address (TrainingPlan::nodeFlags); kernels keep a pointer and read it every run.
struct NodeFlags {
    const TrainingFlags* plan = nullptr;
    std::optional<bool> batchNormFrozen;
    std::optional<bool> dropoutDisabled;
    std::map<std::string, double, std::less<>> knobs;

    /// BatchNormalization normalises with (and keeps) its running statistics.
    bool bnFrozen() const {
        return (plan && plan->evaluating) ||
               batchNormFrozen.value_or(plan && plan->batchNormFrozen);
    }
    /// Dropout passes its input through.
    bool dropoutOff() const {
        return (plan && plan->evaluating) ||
               dropoutDisabled.value_or(plan && plan->dropoutDisabled);
    }
    /// The momentum a BatchNormalization blends its running statistics with: `own` (its
    /// attribute) unless the plan overrides it (TrainingFlags::batchNormMomentum).
    double bnMomentum(double own) const {
        return plan && plan->batchNormMomentum ? *plan->batchNormMomentum : own;
    }
    uint64_t seed() const { return plan ? plan->seed : 0; }
    uint64_t dropoutStep() const { return plan ? plan->dropoutStep : 0; }
    /// The knob called `name`, or `fallback` when none is set.
    double knob(std::string_view name, double fallback) const {
        auto it = knobs.find(name);
        return it == knobs.end() ? fallback : it->second;
    }
};

/// What a grad factory may look at (compile time).
struct GradContext {
    const ir::Node& node;
    int64_t opset;
    std::span<const TensorInfo> inputs;   ///< one per node input; dtype kUndefined if omitted
    std::span<const TensorInfo> outputs;  ///< one per node output
    /// One per node input: true when the plan wants the gradient of that input.
    std::vector<bool> needsGrad;
    /// The node's run-time configuration (never null inside a TrainingPlan).
    const NodeFlags* flags = nullptr;
    /// Nodes after this one that the training forward and gradient may take over (OpTraits::
    /// postOp; see Follower), in chain order; GradBuild::fused says how many it took.
    std::span<const Follower> followers = {};

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
    /// output per state input of the node (OpTraits stateInputsFor(node)): the new value of that input
    /// (BatchNormalization's running mean and variance), which the plan stores back after the
    /// forward pass. It must honour NodeFlags::bnFrozen() where it has state.
    std::unique_ptr<Kernel> trainingForward;
    /// The training forward computes exactly the inference function (it exists for memory or
    /// layout reasons, as the oneDNN Conv's): the plan's evaluate() runs it too.
    bool trainingForwardIsInference = false;
    /// Channel-blocked activations (core/engine/channel_blocks.h): what the training forward and
    /// the gradient kernel can take for input 0 and output 0 (and their gradients). kFree: each
    /// either way (a oneDNN Conv); kShared: both in the same order (BatchNormalization). The
    /// plan chooses before the first run and tells both kernels through `setChannelBlocked`
    /// (required unless kNone); evaluate() then runs the training forward too, with
    /// TrainingFlags::evaluating set, so the forward must honour NodeFlags::bnFrozen().
    enum class ChannelBlocks { kNone, kFree, kShared };
    /// Input k >= 0 whose gradient is exactly output 0's (a residual Add without broadcasting):
    /// the plan hands that buffer over (or adds it onto an existing gradient) instead of the
    /// kernel copying it; the kernel sees inputGrads[k] null. The plan checks the dims at run
    /// time and fails (kInternal) if they differ, so set it only when compile-time dims match.
    int gradPassThrough = -1;
    /// Fusion, as KernelBuild::fused: k > 0 says the training forward and the gradient kernel
    /// also compute the first k GradContext::followers (a Relu after BatchNormalization or a
    /// residual Add: one pass over memory fewer each way). The step then has the k-th
    /// follower's outputs (savedOutputs refer to them), its followers run in no step of their
    /// own, and evaluate() runs the training forward too (inference semantics through
    /// TrainingFlags::evaluating).
    int fused = 0;
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
