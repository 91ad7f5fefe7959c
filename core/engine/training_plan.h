#pragma once
/// TrainingPlan: a model compiled for training — forward with saved activations, a loss
/// (softmax cross-entropy by default, any LossFunction), reverse-mode backward — and for
/// evaluation with inference semantics.
///
/// Lower, then compile, as Plan (lowering.h, node_compiler.h): compile() lowers a clone of the
/// graph (Constant nodes become initializers); every floating-point initializer that
/// ir::isParameter() accepts becomes a trainable Parameter {name, value, grad}, except inputs an
/// operator declares as state (OpTraits::stateInputsFor(node): BatchNormalization's running mean
/// and variance, an observing FakeQuantize's scale, zero point and range), which the training
/// forward updates and nothing trains.
/// Values computed only from non-parameter constants (PyTorch's shape arithmetic) are folded at
/// compile time; nothing that depends on a parameter is folded.
///
/// Training semantics: BatchNormalization normalises with batch statistics and updates its running
/// averages as ONNX specifies (running = momentum * running + (1 - momentum) * batch, biased batch
/// variance); Dropout drops with a seeded mask. evaluate() uses inference semantics (running
/// statistics, no dropout) through the ordinary KernelRegistry kernels, except where a step's
/// training forward must run (channel-blocked tensors, fused followers), with
/// TrainingFlags::evaluating set. Run-time switches are per node (nodeFlags(): algorithms own
/// them), defaulting to the plan-wide flags().
///
/// Memory: after the forward pass only the activations some gradient kernel declared it reads are
/// kept (plus dims); the rest are released as soon as their last reader ran, saved ones after the
/// last backward step reading them, and the gradient of an activation after the backward step
/// of its producer consumed it. Released buffers go to a pool that later tensors of at least that
/// size (at most twice) take, so that from the second step on a step allocates nothing; buffers
/// no tensor took during a whole step are freed.
///
/// Layouts and fusion (training only; evaluate() follows the same choices): 4-D float
/// activations with C % 16 == 0 between kernels that can take it (the oneDNN Conv, the fast
/// BatchNormalization, operators declaring OpTraits::elementwise on same-shaped operands) stay
/// in oneDNN's channel-blocked order, with one conversion step for readers that need plain
/// order (its gradient converts back); a gradient factory may take the followers offered to it
/// (OpTraits::postOp: the fast BatchNormalization and Add take a Relu, GradBuild::fused); a
/// residual Add hands its output gradient on without a copy. describe() shows the result.
///
/// Observing: TrainingOptions::observer sees every forward, backward and evaluation step
/// (run_observer.h; step_profiler.h times them).
///
/// Shapes: compiled once with the declared (possibly symbolic) input shape; the first run with a
/// new concrete input shape also builds forward kernels specialised to it (so oneDNN kernels,
/// which need static shapes, can take Conv/Gemm/pools), cached for up to four shapes (training
/// batch, last batch, evaluation batch); beyond that the shape-agnostic kernels run.
///
/// writeBack() copies parameter values and BN running statistics into the model's initializers
/// (or Constant nodes) of the same names, keeping order, names and dtype, so that
/// onnx::saveModel() writes a valid fine-tuned model.
///
/// Thread-safety: none; one plan per thread. Kernels use computeThreads() threads.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/autodiff.h"
#include "core/engine/compile_options.h"
#include "core/engine/host_tensor.h"
#include "core/engine/kernel.h"
#include "core/engine/kernel_registry.h"
#include "core/engine/loss.h"
#include "core/engine/run_observer.h"
#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::engine {

/// CompileOptions::inputShapes: the batch dim may still change from run to run when the
/// kernels allow it (they are compiled with -1 there unless given). The observer sees every
/// forward, backward and evaluation step.
struct TrainingOptions : CompileOptions {
    /// Gradient backends to try, in order (a factory answering kUnsupported passes the node on).
    std::vector<Backend> gradBackends{Backend::kDnnl, Backend::kReference};
    /// Gradient registry; null = GradRegistry::builtin().
    const GradRegistry* gradRegistry = nullptr;
    /// Label smoothing epsilon of the loss: targets (1 - eps) one-hot + eps / classes.
    float labelSmoothing = 0.0f;
    /// Dropout masks derive from this seed (and the step).
    uint64_t seed = 0;
    /// Names of parameters not to train (no gradient computed for them).
    std::vector<std::string> frozen;
    /// The loss; empty = softmaxCrossEntropyLoss(labelSmoothing) on output 0.
    LossFunction loss;
};

/// A trainable tensor: the value the forward pass reads (optimizers update it in place) and the
/// gradient the last forwardBackward() left (same dims; zero if no gradient reached it).
struct Parameter {
    std::string name;
    HostTensor value;
    HostTensor grad;
    bool trainable = true;
};

class TrainingPlan {
public:
    TrainingPlan(TrainingPlan&&) noexcept;
    TrainingPlan& operator=(TrainingPlan&&) noexcept;
    ~TrainingPlan();

    /// Compiles the model's main graph (the model is not kept: the plan owns a clone). Fails with
    /// kUnsupported naming the node for an operator without a forward kernel, or without a
    /// gradient where one is needed (on a path from a parameter to the loss).
    static Expected<TrainingPlan> compile(const ir::Model& model,
                                          const TrainingOptions& options = {});

    /// One training forward + loss + backward on a batch (`images` fed to the graph input,
    /// `targets` to the loss: int64 labels [B] for the default one). Fills every
    /// Parameter::grad; updates state (BN running statistics). Returns the loss. A tensor over
    /// engine::memoryLimit() (or a failed allocation) is kBadInput naming the step.
    Expected<double> forwardBackward(const HostTensor& images, const HostTensor& targets);
    /// Inference-semantics forward; returns every graph output (copies).
    Expected<std::vector<HostTensor>> evaluate(const HostTensor& images);
    /// A training forward only, for its state: every training forward runs as in
    /// forwardBackward() (BatchNormalization on batch statistics, its running mean and variance
    /// updated and stored; node knobs read as usual), but no loss and no backward pass is
    /// computed and no Parameter::grad changes. E.g. re-estimating BN running statistics after
    /// the weights changed (train/statistics_pass.h). Same errors as forwardBackward().
    Status updateState(const HostTensor& images);

    /// Parameters in the order of the model's initializers. Updating `value` in place (same dims)
    /// changes what the next forward reads.
    std::vector<Parameter>& parameters();
    const std::vector<Parameter>& parameters() const;
    /// The parameter called `name`, or null.
    Parameter* parameter(std::string_view name);
    /// BatchNormalization running statistics (name → tensor), in initializer order.
    const std::vector<std::pair<std::string, HostTensor>>& state() const;

    /// Plan-wide run-time switches (freeze BN, disable dropout) a callback may flip between
    /// steps.
    TrainingFlags& flags();
    /// The run-time configuration of node `id` (of the model compiled from): overrides of
    /// flags() and named knobs its kernels read. Null for a node that runs in no step.
    NodeFlags* nodeFlags(ir::NodeId id);

    /// Copies parameters and state into `model`'s initializers / Constant nodes of the same names
    /// (converted to each tensor's dtype) through a Rewriter of its own: engine::writeBack()
    /// (write_back.h), which a job uses to return the write-back as one undoable Step. Fails
    /// (kBadInput) if a name is missing in `model`.
    Status writeBack(ir::Model& model) const;

    /// One line per step: what runs, its tensors and their order ("nChw16c" for channel-blocked
    /// activations, see core/engine/channel_blocks.h), fused followers and conversions to plain
    /// order. For tests and debugging.
    std::string describe() const;

    /// Nodes run per step (after folding), and how many activations the backward pass keeps.
    int numSteps() const;
    int numSavedActivations() const;

private:
    struct Impl;
    explicit TrainingPlan(std::unique_ptr<Impl> impl);
    // The two above without the memory backstop (they may throw MemoryLimitError).
    Expected<double> forwardBackwardUnguarded(const HostTensor& images, const HostTensor& targets);
    Expected<std::vector<HostTensor>> evaluateUnguarded(const HostTensor& images);
    Status updateStateUnguarded(const HostTensor& images);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace wh::engine
