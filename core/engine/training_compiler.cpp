#include <algorithm>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "core/engine/channel_blocks.h"
#include "core/engine/node_compiler.h"
#include "core/engine/threads.h"
#include "core/engine/training_plan_impl.h"

namespace wh::engine {

namespace {

bool isFloating(ir::DType t) {
    return t == ir::DType::kFloat || t == ir::DType::kDouble;
}

}  // namespace

Expected<TrainingPlan> TrainingPlan::compile(const ir::Model& source,
                                             const TrainingOptions& options) {
    auto impl = std::make_unique<Impl>();
    Impl& m = *impl;
    m.options = options;
    m.loss = options.loss ? options.loss : softmaxCrossEntropyLoss(options.labelSmoothing);
    m.flags.seed = options.seed;
    setComputeThreads(options.threads);
    const KernelRegistry& registry =
        options.registry ? *options.registry : KernelRegistry::builtin();
    const GradRegistry& gradRegistry =
        options.gradRegistry ? *options.gradRegistry : GradRegistry::builtin();

    // Work on a lowered clone whose Constant weights are initializers, so that they can be
    // trained (NodeIds are the user's: no training lowering merges nodes).
    LoweringOptions lowering;
    lowering.patterns = options.lowering;
    WH_ASSIGN_OR_RETURN(Lowered lowered, lower(source, lowering));
    m.model = std::move(lowered.model);
    ir::Graph& g = *m.model.graph;

    // Inputs that operators declare as state are updated, never trained; inputs they declare
    // as learned are trained whatever their size (OpTraits).
    std::set<const ir::Value*> stateValues, learnedValues;
    for (const ir::Node* node : g.nodes()) {
        const OpTraits& traits = registry.traits(*node);
        for (int i : traits.stateInputsFor(*node))
            if (const ir::Value* v = i < node->numInputs() ? node->input(i) : nullptr;
                v && v->hasInitializer())
                stateValues.insert(v);
        if (traits.trainedInput)
            for (int i = 0; i < node->numInputs(); ++i)
                if (const ir::Value* v = node->input(i);
                    v && v->hasInitializer() && !v->isGraphInput() && traits.trainedInput(*node, i))
                    learnedValues.insert(v);
    }
    const std::set<std::string> frozen(options.frozen.begin(), options.frozen.end());

    std::unordered_map<const ir::Value*, int> slotOf;
    auto newSlot = [&](const ir::Value* v, TensorInfo info) {
        m.slots.push_back({});
        m.slots.back().info = std::move(info);
        const int s = static_cast<int>(m.slots.size()) - 1;
        slotOf[v] = s;
        return s;
    };
    auto makeConstant = [&](const ir::Value* v, HostTensor t) {
        TensorInfo info = TensorInfo::of(t);
        info.constant = std::make_shared<const HostTensor>(t);
        const int s = newSlot(v, std::move(info));
        Impl::Slot& slot = m.slots[static_cast<std::size_t>(s)];
        slot.dims = t.dims();
        slot.tensor = std::move(t);
        slot.constant = true;
    };

    for (const ir::Value* v : g.initializers()) {
        WH_ASSIGN_OR_RETURN(HostTensor t, HostTensor::fromIr(*v->initializer()));
        const bool floating = isFloating(t.dtype());
        if (stateValues.count(v) && floating && !v->isGraphInput()) {
            const int s = newSlot(v, TensorInfo::of(t));
            m.slots[static_cast<std::size_t>(s)].dims = t.dims();
            m.slots[static_cast<std::size_t>(s)].state = static_cast<int>(m.state.size());
            m.state.emplace_back(v->name(), std::move(t));
        } else if (floating && (ir::isParameter(v) || learnedValues.count(v))) {
            const int s = newSlot(v, TensorInfo::of(t));
            Impl::Slot& slot = m.slots[static_cast<std::size_t>(s)];
            slot.dims = t.dims();
            slot.param = static_cast<int>(m.params.size());
            const bool trainable = !frozen.count(v->name());
            slot.needsGrad = trainable;
            Parameter p;
            p.name = v->name();
            p.grad = HostTensor(t.dtype(), t.dims());
            p.value = std::move(t);
            p.trainable = trainable;
            m.params.push_back(std::move(p));
        } else {
            makeConstant(v, std::move(t));
        }
    }
    for (const ir::Value* v : g.inputs()) {
        if (v->hasInitializer()) continue;  // a default: used as the constant above
        if (m.inputSlot >= 0)
            return error(StatusCode::kUnsupported,
                         "graph input '{}': training feeds one input (the images)", v->name());
        auto given = options.inputShapes.find(v->name());
        m.inputSlot = newSlot(
            v,
            TensorInfo::of(v->type, given == options.inputShapes.end() ? nullptr : &given->second));
    }
    if (m.inputSlot < 0) return error(StatusCode::kBadInput, "the model has no input to feed");

    KernelOptions& kernelOptions = m.kernelOptions;
    kernelOptions.threads = options.threads;
    kernelOptions.training = false;  // the inference kernels; training overrides come below
    m.registry = &registry;
    std::set<const ir::Node*> taken;  // followers a step took over
    std::vector<TensorInfo> inputInfos;
    for (const ir::Node* node : g.nodes()) {
        if (taken.count(node)) continue;
        const std::string where = nodeWhere(*node);
        inputInfos.clear();
        std::vector<int> inSlots;
        bool allConstant = true, anyNeedsGrad = false;
        std::vector<bool> needs;
        for (const ir::Value* v : node->inputs()) {
            if (!v) {
                inputInfos.push_back({});
                inSlots.push_back(-1);
                needs.push_back(false);
                continue;
            }
            auto it = slotOf.find(v);
            if (it == slotOf.end())
                return error(StatusCode::kBadInput, "{} reads tensor '{}', which nothing defines",
                             where, v->name());
            const Impl::Slot& slot = m.slots[static_cast<std::size_t>(it->second)];
            inputInfos.push_back(slot.info);
            inSlots.push_back(it->second);
            allConstant = allConstant && slot.constant;
            needs.push_back(slot.needsGrad);
            anyNeedsGrad = anyNeedsGrad || slot.needsGrad;
        }
        const int64_t opset = m.model.opsetVersion(node->domain);
        KernelContext ctx{*node, opset, inputInfos, kernelOptions};
        Backend used = Backend::kReference;
        WH_ASSIGN_OR_RETURN(KernelBuild build,
                            selectKernel(registry, options.backends, ctx, &used));
        if (build.outputs.size() < static_cast<std::size_t>(node->numOutputs()))
            build.outputs.resize(static_cast<std::size_t>(node->numOutputs()));

        bool outputsConstant = true;
        for (int i = 0; i < node->numOutputs(); ++i)
            if (node->output(i) && !build.outputs[static_cast<std::size_t>(i)].constant)
                outputsConstant = false;
        if (!outputsConstant && allConstant && !isNondeterministic(*node, true)) {
            // Only non-parameter constants in: compute now (shape arithmetic and the like).
            std::vector<const HostTensor*> ins;
            for (int s : inSlots) ins.push_back(s < 0 ? nullptr : &m.value(s));
            WH_RETURN_IF_ERROR(foldNow(*node, ins, build));
            outputsConstant = true;
        }
        if (outputsConstant) {
            for (int i = 0; i < node->numOutputs(); ++i)
                if (const ir::Value* v = node->output(i))
                    makeConstant(v, *build.outputs[static_cast<std::size_t>(i)].constant);
            continue;
        }

        // A gradient flows through the node only into floating outputs: Shape, Size, comparisons
        // and the like end the path (their inputs get nothing from them).
        bool floatingOut = false;
        for (int i = 0; i < node->numOutputs(); ++i) {
            const ir::DType t = build.outputs[static_cast<std::size_t>(i)].dtype;
            floatingOut =
                floatingOut || (node->output(i) && (isFloating(t) || t == ir::DType::kUndefined));
        }
        anyNeedsGrad = anyNeedsGrad && floatingOut;

        Impl::Step step;
        step.node = node;
        step.users = {node->id()};
        step.where = where;
        step.backend = used;
        step.kernel = std::move(build.kernel);
        step.inputs = std::move(inSlots);
        step.wantGrad = needs;
        step.elementwise = registry.traits(*node).elementwise;
        auto& flags = m.nodeFlags[node->id()];
        flags = std::make_unique<NodeFlags>();
        flags->plan = &m.flags;

        // Followers a gradient factory may take over: those whose other inputs are ready.
        std::vector<std::vector<TensorInfo>> followerInputs;
        std::vector<Follower> followers;
        for (const ChainLink& c : followerChain(
                 *node, registry, 1, [&](const ir::Node& n) { return taken.count(&n) > 0; })) {
            std::vector<TensorInfo> infos;
            bool ready = true;
            for (int i = 0; i < c.node->numInputs() && ready; ++i) {
                const ir::Value* v = c.node->input(i);
                if (i == c.link || !v) {
                    infos.push_back({});
                } else if (auto it = slotOf.find(v); it != slotOf.end()) {
                    infos.push_back(m.slots[static_cast<std::size_t>(it->second)].info);
                } else {
                    ready = false;
                }
            }
            if (!ready) break;
            followerInputs.push_back(std::move(infos));
            followers.push_back(
                {*c.node, m.model.opsetVersion(c.node->domain), c.link, followerInputs.back()});
        }
        GradContext gctx{*node, opset, inputInfos, build.outputs, needs, flags.get(), followers};
        Expected<std::optional<GradBuild>> gb =
            selectGradient(gradRegistry, options.gradBackends, gctx);
        if (!gb && anyNeedsGrad) return tl::unexpected(gb.error());
        if (gb && !*gb && anyNeedsGrad)
            return error(StatusCode::kUnsupported,
                         "operator {} (opset {}) of {} has no gradient; it lies between a "
                         "parameter and the loss",
                         node->opType, opset, where);
        const ir::Node* last = node;  // the node whose outputs the step writes
        if (gb && *gb) {
            GradBuild& b = **gb;
            if (b.fused < 0 || b.fused > static_cast<int>(followers.size()))
                return error(StatusCode::kInternal, "{}: the gradient claims {} of {} followers",
                             where, b.fused, followers.size());
            for (int k = 0; k < b.fused; ++k) {
                last = &followers[static_cast<std::size_t>(k)].node;
                taken.insert(last);
                step.users.push_back(last->id());
                step.where += fmt::format(" + {}", last->opType);
            }
            step.grad = std::move(b.kernel);
            step.trainingForward = std::move(b.trainingForward);
            const std::vector<int> stateInputs = registry.traits(*node).stateInputsFor(*node);
            step.trainingForwardForEval =
                b.fused > 0 || (b.trainingForwardIsInference && stateInputs.empty());
            step.savedIn = std::move(b.savedInputs);
            step.savedOut = std::move(b.savedOutputs);
            if (step.trainingForward)
                for (int k : stateInputs) {
                    const int s = k < static_cast<int>(step.inputs.size())
                                      ? step.inputs[static_cast<std::size_t>(k)]
                                      : -1;
                    step.stateSlots.push_back(
                        s >= 0 && m.slots[static_cast<std::size_t>(s)].state >= 0 ? s : -1);
                }
            step.stateOut.resize(step.stateSlots.size());
            step.backward = anyNeedsGrad;
            step.channelBlocks = b.channelBlocks;
            step.gradPassThrough = b.gradPassThrough;
            step.setChannelBlocked = std::move(b.setChannelBlocked);
        }
        step.savedIn.resize(step.inputs.size(), false);
        step.scratch.resize(step.inputs.size());
        for (int i = 0; i < last->numOutputs(); ++i) {
            const ir::Value* v = last->output(i);
            if (!v) {
                step.outputs.push_back(-1);
                continue;
            }
            // A fused follower's output is shaped like the root's (elementwise post-ops).
            const TensorInfo& info =
                build.outputs[std::min(static_cast<std::size_t>(i), build.outputs.size() - 1)];
            const int s = newSlot(v, info);
            m.slots[static_cast<std::size_t>(s)].needsGrad =
                anyNeedsGrad && (isFloating(info.dtype) || info.dtype == ir::DType::kUndefined);
            step.outputs.push_back(s);
        }
        step.savedOut.resize(step.outputs.size(), false);
        m.steps.push_back(std::move(step));
    }
    for (const ir::Value* v : g.outputs()) {
        auto it = slotOf.find(v);
        if (it == slotOf.end())
            return error(StatusCode::kBadInput, "graph output '{}' is never produced", v->name());
        m.outputSlots.push_back(it->second);
    }
    if (m.outputSlots.empty()) return error(StatusCode::kBadInput, "the model has no output");
    m.chooseChannelBlocks();
    m.planMemory();
    return TrainingPlan(std::move(impl));
}

// What the backward pass keeps, and when the rest can go. Called once at compile.
void TrainingPlan::Impl::planMemory() {
    // What the backward pass keeps, and when the rest can go.
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const Step& st = steps[i];
        for (std::size_t k = 0; k < st.inputs.size(); ++k) {
            if (st.inputs[k] < 0) continue;
            Slot& slot = slots[static_cast<std::size_t>(st.inputs[k])];
            slot.lastUse = static_cast<int>(i);
            if (st.backward && st.savedIn[k]) slot.saved = true;
        }
        for (std::size_t k = 0; k < st.outputs.size(); ++k)
            if (st.outputs[k] >= 0 && st.backward && st.savedOut[k])
                slots[static_cast<std::size_t>(st.outputs[k])].saved = true;
    }
    // The backward pass runs the steps in reverse: a saved activation is last read by the
    // lowest-index backward step that reads it.
    for (std::size_t i = steps.size(); i-- > 0;) {
        const Step& st = steps[i];
        if (!st.backward) continue;
        for (std::size_t k = 0; k < st.inputs.size(); ++k)
            if (st.inputs[k] >= 0 && st.savedIn[k])
                slots[static_cast<std::size_t>(st.inputs[k])].lastBackUse = static_cast<int>(i);
        for (std::size_t k = 0; k < st.outputs.size(); ++k)
            if (st.outputs[k] >= 0 && st.savedOut[k])
                slots[static_cast<std::size_t>(st.outputs[k])].lastBackUse = static_cast<int>(i);
    }
    for (int s : outputSlots) {
        slots[static_cast<std::size_t>(s)].saved = true;
        slots[static_cast<std::size_t>(s)].lastBackUse = -1;  // kept: evaluate() reads it
    }
    for (std::size_t s = 0; s < slots.size(); ++s) {
        Slot& slot = slots[s];
        const bool activation =
            !slot.constant && slot.param < 0 && slot.state < 0 && static_cast<int>(s) != inputSlot;
        slot.releasable = !slot.saved && activation;
        slot.activation = activation;
        if (!activation) slot.lastBackUse = -1;
    }
}

// ---- Channel blocks ----------------------------------------------------------------------------

namespace {

// A blocked activation converted for readers that want plain order; its gradient goes back.
class FromChannelBlocks final : public Kernel {
public:
    Status run(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        return fromChannelBlocks(*in[0], *out[0]);
    }
};
class FromChannelBlocksGrad final : public GradKernel {
public:
    Status backward(const GradArgs& a) override {
        if (!a.outputGrads[0] || !a.inputGrads[0]) return Status::ok();
        return toChannelBlocks(*a.outputGrads[0], *a.inputGrads[0]);
    }
};

}  // namespace

// Which 4-D float activations stay channel-blocked (nChw16c) in training: the output of a kernel
// that can write it (a oneDNN Conv) when some reader can take it, and from there through
// BatchNormalization and elementwise ops whose activation operands are all blocked. Readers that
// cannot take it (pools, Gemm, graph outputs, an elementwise op with a plain operand) read a
// plain copy made by a conversion step inserted after the producer; the gradient flows back
// through it. Gradients are in the order of their tensor. Called once at compile.
void TrainingPlan::Impl::chooseChannelBlocks() {
    using CB = GradBuild::ChannelBlocks;
    const std::size_t numSlots = slots.size();
    auto activation = [&](int s) {
        if (s < 0) return false;
        const Slot& sl = slots[static_cast<std::size_t>(s)];
        return !sl.constant && sl.param < 0 && sl.state < 0 && s != inputSlot;
    };
    auto blockable = [&](int s) {
        if (!activation(s)) return false;
        const TensorInfo& info = slots[static_cast<std::size_t>(s)].info;
        if (info.dtype != ir::DType::kFloat || !info.rankKnown || info.dims.size() != 4)
            return false;
        Dims d = info.dims;
        d[0] = std::max<int64_t>(d[0], 1);  // the batch may be open until run time
        return channelBlockable(d);
    };
    // Elementwise steps whose operands are all same-shaped activations or scalar constants.
    std::vector<bool> elementwise(steps.size(), false);
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const Step& st = steps[i];
        if (st.outputs.size() != 1 || st.outputs[0] < 0 || !st.elementwise) continue;
        const Dims& od = slots[static_cast<std::size_t>(st.outputs[0])].info.dims;
        bool ok = blockable(st.outputs[0]);
        for (int s : st.inputs) {
            if (s < 0 || !ok) continue;
            const Slot& sl = slots[static_cast<std::size_t>(s)];
            if (activation(s))
                ok = sl.info.rankKnown && sl.info.dims == od;
            else
                ok = sl.constant && sl.tensor.numElements() == 1;
        }
        elementwise[i] = ok;
    }
    // Readers that can take a blocked tensor as it is.
    std::vector<bool> blockedReader(numSlots, false);
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const Step& st = steps[i];
        for (std::size_t k = 0; k < st.inputs.size(); ++k) {
            const int s = st.inputs[k];
            if (s < 0) continue;
            if ((k == 0 && st.channelBlocks != CB::kNone) || (elementwise[i] && activation(s)))
                blockedReader[static_cast<std::size_t>(s)] = true;
        }
    }
    std::vector<bool> blocked(numSlots, false);
    std::vector<std::vector<bool>> inBlocked(steps.size());
    for (std::size_t i = 0; i < steps.size(); ++i) {
        Step& st = steps[i];
        inBlocked[i].assign(st.inputs.size(), false);
        if (st.outputs.empty() || st.outputs[0] < 0) continue;
        const int out = st.outputs[0];
        const int in = st.inputs.empty() ? -1 : st.inputs[0];
        const bool inB = in >= 0 && blocked[static_cast<std::size_t>(in)];
        bool outB = false;
        if (st.channelBlocks == CB::kFree) {
            inBlocked[i][0] = inB;
            outB = blockable(out) && blockedReader[static_cast<std::size_t>(out)];
        } else if (st.channelBlocks == CB::kShared) {
            inBlocked[i][0] = inB;
            outB = inB && blockable(out);
            if (inB && !outB) inBlocked[i][0] = false;
        } else if (elementwise[i]) {
            bool all = true;
            for (int s : st.inputs)
                if (activation(s)) all = all && blocked[static_cast<std::size_t>(s)];
            for (std::size_t k = 0; k < st.inputs.size(); ++k)
                inBlocked[i][k] = all && activation(st.inputs[k]);
            outB = all;
        }
        blocked[static_cast<std::size_t>(out)] = outB;
        slots[static_cast<std::size_t>(out)].blocked = outB;
        if (st.setChannelBlocked)
            st.setChannelBlocked(inBlocked[i].empty() ? false : inBlocked[i][0], outB);
        if (outB || (!inBlocked[i].empty() && inBlocked[i][0])) st.trainingForwardForEval = true;
    }
    // Plain copies for the readers that need one.
    std::vector<bool> needsCopy(numSlots, false);
    for (std::size_t i = 0; i < steps.size(); ++i)
        for (std::size_t k = 0; k < steps[i].inputs.size(); ++k) {
            const int s = steps[i].inputs[k];
            if (s >= 0 && blocked[static_cast<std::size_t>(s)] && !inBlocked[i][k])
                needsCopy[static_cast<std::size_t>(s)] = true;
        }
    for (int s : outputSlots)
        if (blocked[static_cast<std::size_t>(s)]) needsCopy[static_cast<std::size_t>(s)] = true;
    std::vector<int> copyOf(numSlots, -1);
    std::vector<Step> rebuilt;
    rebuilt.reserve(steps.size());
    for (std::size_t i = 0; i < steps.size(); ++i) {
        Step st = std::move(steps[i]);
        for (std::size_t k = 0; k < st.inputs.size(); ++k) {
            const int s = st.inputs[k];
            if (s >= 0 && blocked[static_cast<std::size_t>(s)] && !inBlocked[i][k])
                st.inputs[k] = copyOf[static_cast<std::size_t>(s)];
        }
        const std::vector<int> outs = st.outputs;
        const ir::Node* node = st.node;
        const std::string where = st.where;
        rebuilt.push_back(std::move(st));
        for (int o : outs) {
            if (o < 0 || !needsCopy[static_cast<std::size_t>(o)]) continue;
            Slot copy;
            copy.info = slots[static_cast<std::size_t>(o)].info;
            copy.needsGrad = slots[static_cast<std::size_t>(o)].needsGrad;
            slots.push_back(std::move(copy));
            const int c = static_cast<int>(slots.size()) - 1;
            copyOf[static_cast<std::size_t>(o)] = c;
            Step conv;
            conv.node = node;
            conv.where = where + " output to plain order";
            conv.backend = Backend::kReference;
            conv.conversion = true;
            conv.kernel = std::make_unique<FromChannelBlocks>();
            conv.grad = std::make_unique<FromChannelBlocksGrad>();
            conv.inputs = {o};
            conv.outputs = {c};
            conv.wantGrad = {slots[static_cast<std::size_t>(o)].needsGrad};
            conv.savedIn = {false};
            conv.savedOut = {false};
            conv.backward = slots[static_cast<std::size_t>(o)].needsGrad;
            conv.scratch.resize(1);
            rebuilt.push_back(std::move(conv));
        }
    }
    steps = std::move(rebuilt);
    for (int& s : outputSlots)
        if (copyOf[static_cast<std::size_t>(s)] >= 0) s = copyOf[static_cast<std::size_t>(s)];
}

}  // namespace wh::engine
