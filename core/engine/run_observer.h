#pragma once
/// RunObserver: watches a plan run, step by step — the seam for the per-layer profiler,
/// calibration (PTQ observers read each step's outputs) and the studio's overlays. Plan and
/// TrainingPlan call it around every step they execute when one is given
/// (PlanOptions::observer, TrainingOptions::observer); without one a run costs one pointer
/// test per step.
///
/// Steps are named by the user's nodes: `nodes` lists the nodes of the model the plan was
/// compiled from that the step computes — the root first, then the nodes fused into it (a
/// BatchNormalization folded into its Conv, activations run as post-ops, a Relu computed by a
/// training forward). A conversion between memory layouts computes no node (`nodes` empty).
/// Nodes folded at compile time run in no step: Plan::nodes() marks them `folded`.
///
/// Thread-safety: called on the thread that runs the plan, synchronously; an observer must not
/// run the plan again from a callback. Tensors are valid during the callback only.

#include <span>
#include <string_view>

#include "core/engine/host_tensor.h"
#include "core/engine/kernel.h"
#include "core/ir/graph.h"

namespace wh::engine {

/// Which pass a step belongs to.
enum class Pass {
    kInference,        ///< Plan::run
    kTrainingForward,  ///< TrainingPlan::forwardBackward, forward half
    kBackward,         ///< TrainingPlan::forwardBackward, backward half
    kEvaluation,       ///< TrainingPlan::evaluate
};

struct StepEvent {
    Pass pass = Pass::kInference;
    /// Position of the step in its plan's step list (the same in every run).
    int index = 0;
    /// The user's nodes the step computes, root first; empty for a layout conversion.
    std::span<const ir::NodeId> nodes;
    /// What Plan::describe() / TrainingPlan::describe() print for the step.
    std::string_view label;
    Backend backend = Backend::kReference;
    /// At stepEnd: the step's output tensors (the last fused node's outputs; null where
    /// omitted) and what the plan knows of them, including their layout (a blocked tensor
    /// holds the same elements in another order). In a backward pass: the input gradients.
    /// Empty at stepBegin.
    std::span<const HostTensor* const> outputs;
    std::span<const TensorInfo> outputInfos;
};

class RunObserver {
public:
    virtual ~RunObserver() = default;
    virtual void stepBegin(const StepEvent& step) { (void)step; }
    virtual void stepEnd(const StepEvent& step) { (void)step; }
};

}  // namespace wh::engine
