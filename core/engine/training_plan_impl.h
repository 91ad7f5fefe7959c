#pragma once
/// TrainingPlan's insides, shared by its files: training_compiler.cpp (compile, fusion,
/// channel-blocked layouts) and training_plan.cpp (forward, loss, backward, evaluation).
/// Not a public header.

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine/buffer_pool.h"
#include "core/engine/lowering.h"
#include "core/engine/training_plan.h"

namespace wh::engine {

struct TrainingPlan::Impl {
    struct Slot {
        TensorInfo info;
        HostTensor tensor;  // activations and constants (parameters/state live elsewhere)
        HostTensor grad;
        Dims dims;       // of the last value, kept when the tensor is released
        int param = -1;  // index into params
        int state = -1;  // index into state
        bool constant = false;
        bool needsGrad = false;
        bool gradWritten = false;
        bool saved = false;       // some gradient kernel reads it
        bool releasable = false;  // an activation nobody needs after its last forward reader
        int lastUse = -1;         // last step reading it in the forward pass
        int lastBackUse = -1;     // saved activation: the backward step reading it last (the
                                  // lowest index), after which its buffer can be reused
        std::size_t bytes = 0, gradBytes = 0;  // sizes last seen, for the buffer pool
        std::size_t evalBytes = 0;             // the same in evaluate()
        bool activation = false;  // computed per run (not a constant, parameter, state, input)
        bool view = false, gradView = false;  // the kernel returns a view: no pooled buffer
        bool blocked = false;                 // channel-blocked order (chooseChannelBlocks)
    };
    struct Step {
        const ir::Node* node = nullptr;  // the root, in the plan's lowered clone
        std::vector<ir::NodeId> users;   // the user's nodes it computes, root first
        std::string where;
        Backend backend = Backend::kReference;
        std::unique_ptr<Kernel> kernel;           // inference semantics
        std::unique_ptr<Kernel> trainingForward;  // optional override while training
        // ... and in evaluate() (with TrainingFlags::evaluating): it computes the inference
        // function, or the step reads or writes channel-blocked tensors, or fuses followers.
        bool trainingForwardForEval = false;
        std::unique_ptr<GradKernel> grad;
        std::vector<int> inputs, outputs;  // slot, -1 = omitted
        std::vector<int> stateSlots;       // slot updated by extra output k
        std::vector<HostTensor> stateOut;
        std::vector<bool> wantGrad;  // per input
        std::vector<bool> savedIn, savedOut;
        bool backward = false;
        std::vector<HostTensor> scratch;  // per input, when a gradient accumulates
        // Channel blocks (see chooseChannelBlocks): what the kernels can take, and whether the
        // operator computes elementwise (OpTraits::elementwise).
        GradBuild::ChannelBlocks channelBlocks = GradBuild::ChannelBlocks::kNone;
        std::function<void(bool, bool)> setChannelBlocked;
        bool elementwise = false;
        int gradPassThrough = -1;  // GradBuild::gradPassThrough
        bool conversion = false;   // inserted by the plan: a blocked tensor to plain order
    };

    ir::Model model;  // the lowered clone the plan compiled
    TrainingOptions options;
    LossFunction loss;
    TrainingFlags flags;
    // Per node, at stable addresses (kernels keep pointers).
    std::unordered_map<ir::NodeId, std::unique_ptr<NodeFlags>> nodeFlags;
    std::vector<Parameter> params;
    std::vector<std::pair<std::string, HostTensor>> state;
    std::vector<Slot> slots;
    std::vector<Step> steps;
    int inputSlot = -1;
    std::vector<int> outputSlots;
    const KernelRegistry* registry = nullptr;
    KernelOptions kernelOptions;
    // Forward kernels compiled for one concrete input shape (oneDNN's need static shapes), by
    // input dims; null entries fall back to the step's shape-agnostic kernel.
    std::map<Dims, std::vector<std::unique_ptr<Kernel>>> kernelSets;
    static constexpr std::size_t kMaxKernelSets = 4;

    BufferPool pool;
    uint64_t run = 0;  // forward passes so far (training and evaluation)

    HostTensor& value(int s) {
        Slot& slot = slots[static_cast<std::size_t>(s)];
        if (slot.param >= 0) return params[static_cast<std::size_t>(slot.param)].value;
        if (slot.state >= 0) return state[static_cast<std::size_t>(slot.state)].second;
        return slot.tensor;
    }
    HostTensor& gradOf(int s) {
        Slot& slot = slots[static_cast<std::size_t>(s)];
        if (slot.param >= 0) return params[static_cast<std::size_t>(slot.param)].grad;
        return slot.grad;
    }
    void recycle(HostTensor& t, bool keep = true) { pool.recycle(t, run, keep); }

    // training_compiler.cpp
    void chooseChannelBlocks();
    void planMemory();
    // training_plan.cpp
    Status feed(const HostTensor& images);
    /// One forward pass over the steps with `kernels` (kernelsFor; null: shape-agnostic ones).
    Status forward(bool training, std::vector<std::unique_ptr<Kernel>>* kernels);
    Status backward();
    /// The kernels to run for the fed input's shape (see kernelSets).
    std::vector<std::unique_ptr<Kernel>>* kernelsFor(const Dims& inputDims);
    void notify(bool begin, Pass pass, std::size_t index, std::span<HostTensor* const> outputs);
};

}  // namespace wh::engine
