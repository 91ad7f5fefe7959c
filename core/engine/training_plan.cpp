#include "core/engine/training_plan.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "core/engine/node_compiler.h"
#include "core/engine/threads.h"
#include "core/engine/training_plan_impl.h"
#include "core/engine/write_back.h"
#include "core/rewrite/rewriter.h"

namespace wh::engine {

TrainingPlan::TrainingPlan(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
TrainingPlan::TrainingPlan(TrainingPlan&&) noexcept = default;
TrainingPlan& TrainingPlan::operator=(TrainingPlan&&) noexcept = default;
TrainingPlan::~TrainingPlan() = default;

std::vector<Parameter>& TrainingPlan::parameters() {
    return m_impl->params;
}
const std::vector<Parameter>& TrainingPlan::parameters() const {
    return m_impl->params;
}
Parameter* TrainingPlan::parameter(std::string_view name) {
    for (Parameter& p : m_impl->params)
        if (p.name == name) return &p;
    return nullptr;
}
const std::vector<std::pair<std::string, HostTensor>>& TrainingPlan::state() const {
    return m_impl->state;
}
TrainingFlags& TrainingPlan::flags() {
    return m_impl->flags;
}
NodeFlags* TrainingPlan::nodeFlags(ir::NodeId id) {
    auto it = m_impl->nodeFlags.find(id);
    return it == m_impl->nodeFlags.end() ? nullptr : it->second.get();
}
std::string TrainingPlan::describe() const {
    const Impl& m = *m_impl;
    std::string out;
    auto tensors = [&](const std::vector<int>& ss) {
        std::string r;
        for (int s : ss) {
            if (!r.empty()) r += ", ";
            if (s < 0) {
                r += "-";
                continue;
            }
            const Impl::Slot& sl = m.slots[static_cast<std::size_t>(s)];
            r += sl.constant ? "const" : sl.param >= 0 ? "param" : sl.state >= 0 ? "state" : "";
            if (sl.constant || sl.param >= 0 || sl.state >= 0) continue;
            r += dimsToString(sl.info.dims);
            if (sl.blocked) r += " nChw16c";
        }
        return r;
    };
    for (const Impl::Step& st : m.steps)
        out += fmt::format("{}{}: ({}) -> ({}){}\n", st.conversion ? "to plain order: " : "",
                           st.where, tensors(st.inputs), tensors(st.outputs),
                           st.backward ? "" : " [no backward]");
    return out;
}

int TrainingPlan::numSteps() const {
    return static_cast<int>(m_impl->steps.size());
}
int TrainingPlan::numSavedActivations() const {
    int n = 0;
    for (const auto& s : m_impl->slots)
        if (s.saved && !s.constant && s.param < 0 && s.state < 0) ++n;
    return n;
}

// Training: training forwards with their state outputs, activations kept for the backward pass
// (released after their last reader only when no gradient reads them). Evaluation: inference
// kernels, except the steps whose training forward must run (trainingForwardForEval) with BN on
// running statistics; every activation goes after its last reader.
Status TrainingPlan::Impl::forward(bool training, std::vector<std::unique_ptr<Kernel>>* kernels) {
    // Inference semantics for the training forwards evaluate() runs.
    struct Evaluating {
        bool& flag;
        ~Evaluating() { flag = false; }
    } evaluating{flags.evaluating};
    flags.evaluating = !training;
    const Pass pass = training ? Pass::kTrainingForward : Pass::kEvaluation;
    std::vector<const HostTensor*> ins;
    std::vector<HostTensor*> outs;
    std::vector<const void*> pooled;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        Step& st = steps[i];
        ins.clear();
        outs.clear();
        for (int s : st.inputs) ins.push_back(s < 0 ? nullptr : &value(s));
        for (int s : st.outputs) {
            if (s >= 0) {
                Slot& slot = slots[static_cast<std::size_t>(s)];
                if (slot.tensor.empty() && slot.activation && !slot.view)
                    slot.tensor = pool.acquire(training ? slot.bytes : slot.evalBytes);
            }
            outs.push_back(s < 0 ? nullptr : &value(s));
        }
        const bool useTrainingForward =
            st.trainingForward && (training || st.trainingForwardForEval);
        if (training && st.trainingForward)
            for (HostTensor& t : st.stateOut) outs.push_back(&t);
        pooled.clear();
        for (HostTensor* t : outs) pooled.push_back(t && !t->empty() ? t->raw() : nullptr);
        Kernel* specific = kernels ? (*kernels)[i].get() : nullptr;
        Kernel& k = useTrainingForward ? *st.trainingForward : specific ? *specific : *st.kernel;
        if (options.observer) notify(true, pass, i, {});
        // Refused or failed allocations become bad input at the step that asked (host_tensor.h).
        Status s = catchMemoryErrors(st.where, [&] { return k.run(ins, outs); });
        if (!s.isOk())
            return s.message().starts_with(st.where)
                       ? s
                       : makeStatus(s.code(), "{}: {}", st.where, s.message());
        if (options.observer) notify(false, pass, i, outs);
        for (std::size_t k2 = 0; k2 < st.outputs.size(); ++k2)
            if (const int o = st.outputs[k2]; o >= 0) {
                Slot& slot = slots[static_cast<std::size_t>(o)];
                slot.dims = value(o).dims();
                (training ? slot.bytes : slot.evalBytes) = value(o).byteSize();
                if (pooled[k2] && value(o).raw() != pooled[k2]) slot.view = true;
            }
        // Release what neither a later node nor (training) the backward pass reads.
        for (int in : st.inputs) {
            if (in < 0) continue;
            Slot& slot = slots[static_cast<std::size_t>(in)];
            const bool done =
                training ? slot.releasable
                         : slot.activation && std::find(outputSlots.begin(), outputSlots.end(),
                                                        in) == outputSlots.end();
            if (done && slot.lastUse == static_cast<int>(i)) recycle(slot.tensor, !slot.view);
        }
    }
    return Status::ok();
}

void TrainingPlan::Impl::notify(bool begin, Pass pass, std::size_t index,
                                std::span<HostTensor* const> outputs) {
    const Step& st = steps[index];
    StepEvent event;
    event.pass = pass;
    event.index = static_cast<int>(index);
    event.nodes = st.users;
    event.label = st.where;
    event.backend = st.backend;
    // Forward: the step's outputs (not a training forward's state outputs after them);
    // backward: its inputs' gradients.
    const std::vector<int>& ss = pass == Pass::kBackward ? st.inputs : st.outputs;
    std::vector<const HostTensor*> outs(
        outputs.begin(),
        outputs.begin() + static_cast<std::ptrdiff_t>(std::min(outputs.size(), ss.size())));
    std::vector<TensorInfo> infos;
    if (!begin) {
        for (std::size_t k = 0; k < outs.size(); ++k)
            infos.push_back(ss[k] < 0 ? TensorInfo{} : slots[static_cast<std::size_t>(ss[k])].info);
        event.outputs = outs;
        event.outputInfos = infos;
    }
    if (begin)
        options.observer->stepBegin(event);
    else
        options.observer->stepEnd(event);
}

Status TrainingPlan::Impl::feed(const HostTensor& images) {
    Slot& slot = slots[static_cast<std::size_t>(inputSlot)];
    const TensorInfo& info = slot.info;
    bool ok = info.dtype == ir::DType::kUndefined || images.dtype() == info.dtype;
    if (ok && info.rankKnown) {
        ok = images.rank() == static_cast<int>(info.dims.size());
        for (int d = 1; ok && d < images.rank(); ++d)  // the batch dim may vary
            ok = info.dims[static_cast<std::size_t>(d)] < 0 ||
                 info.dims[static_cast<std::size_t>(d)] == images.dim(d);
    }
    if (!ok)
        return makeStatus(StatusCode::kBadInput, "input is {}{}, the plan was compiled for {}{}",
                          ir::dtypeName(images.dtype()), dimsToString(images.dims()),
                          ir::dtypeName(info.dtype), dimsToString(info.dims));
    slot.tensor = images;
    slot.dims = images.dims();
    return Status::ok();
}

std::vector<std::unique_ptr<Kernel>>* TrainingPlan::Impl::kernelsFor(const Dims& inputDims) {
    auto it = kernelSets.find(inputDims);
    if (it != kernelSets.end()) return &it->second;
    if (kernelSets.size() >= kMaxKernelSets) return nullptr;
    // Shape inference again with the concrete input: every node's factory sees static shapes,
    // so the backends that need them (oneDNN) can take the node. Any failure keeps the
    // shape-agnostic kernel for that node.
    std::vector<TensorInfo> infos;
    infos.reserve(slots.size());
    for (const Slot& s : slots) infos.push_back(s.info);
    infos[static_cast<std::size_t>(inputSlot)].dims = inputDims;
    infos[static_cast<std::size_t>(inputSlot)].rankKnown = true;
    std::vector<std::unique_ptr<Kernel>> set(steps.size());
    std::vector<TensorInfo> inputInfos;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const Step& st = steps[i];
        inputInfos.clear();
        for (int s : st.inputs)
            inputInfos.push_back(s < 0 ? TensorInfo{} : infos[static_cast<std::size_t>(s)]);
        if (st.conversion) {  // same dims, plain order
            infos[static_cast<std::size_t>(st.outputs[0])] =
                infos[static_cast<std::size_t>(st.inputs[0])];
            continue;
        }
        const int64_t opset = model.opsetVersion(st.node->domain);
        KernelContext ctx{*st.node, opset, inputInfos, kernelOptions};
        // Any failure keeps the shape-agnostic kernel for the step.
        Expected<KernelBuild> b = selectKernel(*registry, options.backends, ctx);
        if (!b) continue;
        for (std::size_t k = 0; k < st.outputs.size() && k < b->outputs.size(); ++k)
            if (st.outputs[k] >= 0) {
                TensorInfo info = b->outputs[k];
                info.constant.reset();  // computed at run time in this plan either way
                // The buffer pool's guess for the first run with this shape.
                Slot& slot = slots[static_cast<std::size_t>(st.outputs[k])];
                if (slot.bytes == 0 && info.rankKnown && info.dtype != ir::DType::kString &&
                    info.dtype != ir::DType::kUndefined &&
                    std::all_of(info.dims.begin(), info.dims.end(),
                                [](int64_t d) { return d >= 0; }))
                    slot.bytes = static_cast<std::size_t>(numElementsOf(info.dims)) *
                                 ir::dtypeSize(info.dtype);
                infos[static_cast<std::size_t>(st.outputs[k])] = std::move(info);
            }
        set[i] = std::move(b->kernel);
    }
    return &kernelSets.emplace(inputDims, std::move(set)).first->second;
}

// Kernels report refused allocations at their step (forward(), backward); these catch the rest
// (buffers the pool hands out, copies of the results), so that no exception leaves the plan.
Expected<double> TrainingPlan::forwardBackward(const HostTensor& images,
                                               const HostTensor& targets) {
    Expected<double> result = error(StatusCode::kInternal, "not run");
    WH_RETURN_IF_ERROR(catchMemoryErrors("training step", [&] {
        result = forwardBackwardUnguarded(images, targets);
        return Status::ok();
    }));
    return result;
}

Expected<std::vector<HostTensor>> TrainingPlan::evaluate(const HostTensor& images) {
    Expected<std::vector<HostTensor>> result = error(StatusCode::kInternal, "not run");
    WH_RETURN_IF_ERROR(catchMemoryErrors("evaluation", [&] {
        result = evaluateUnguarded(images);
        return Status::ok();
    }));
    return result;
}

Status TrainingPlan::updateState(const HostTensor& images) {
    Status result = makeStatus(StatusCode::kInternal, "not run");
    WH_RETURN_STATUS_IF_ERROR(catchMemoryErrors("statistics pass", [&] {
        result = updateStateUnguarded(images);
        return Status::ok();
    }));
    return result;
}

Status TrainingPlan::updateStateUnguarded(const HostTensor& images) {
    Impl& m = *m_impl;
    WH_RETURN_STATUS_IF_ERROR(m.feed(images));
    setComputeThreads(m.options.threads);
    ++m.flags.dropoutStep;
    ++m.run;
    std::vector<std::unique_ptr<Kernel>>* kernels = m.kernelsFor(images.dims());
    WH_RETURN_STATUS_IF_ERROR(m.forward(true, kernels));
    // The training forwards' state outputs become the state, as after forwardBackward().
    for (Impl::Step& st : m.steps) {
        if (!st.trainingForward) continue;
        for (std::size_t k = 0; k < st.stateSlots.size(); ++k) {
            const int s = st.stateSlots[k];
            const HostTensor& t = st.stateOut[k];
            if (s < 0 || t.empty()) continue;
            HostTensor& dst = m.value(s);
            if (dst.byteSize() == t.byteSize() && dst.dtype() == t.dtype())
                std::memcpy(dst.raw(), t.raw(), t.byteSize());
        }
    }
    // What the backward pass would have released: the activations kept for it.
    for (Impl::Slot& slot : m.slots)
        if (slot.activation && !slot.tensor.empty()) m.recycle(slot.tensor, !slot.view);
    m.pool.trim(m.run);
    m.slots[static_cast<std::size_t>(m.inputSlot)].tensor = HostTensor();
    return Status::ok();
}

Expected<double> TrainingPlan::forwardBackwardUnguarded(const HostTensor& images,
                                                        const HostTensor& targets) {
    Impl& m = *m_impl;
    WH_RETURN_IF_ERROR(m.feed(images));
    setComputeThreads(m.options.threads);
    ++m.flags.dropoutStep;
    ++m.run;
    std::vector<std::unique_ptr<Kernel>>* kernels = m.kernelsFor(images.dims());

    WH_RETURN_IF_ERROR(m.forward(true, kernels));

    // The loss, and the gradient of every output that leads back to a parameter.
    for (auto& slot : m.slots) slot.gradWritten = false;
    std::vector<const HostTensor*> outputs;
    std::vector<HostTensor*> outputGrads;
    for (std::size_t k = 0; k < m.outputSlots.size(); ++k) {
        const int o = m.outputSlots[k];
        Impl::Slot& sl = m.slots[static_cast<std::size_t>(o)];
        outputs.push_back(&m.value(o));
        // A value listed twice as a graph output gets its gradient once.
        const bool first =
            std::find(m.outputSlots.begin(), m.outputSlots.begin() + static_cast<std::ptrdiff_t>(k),
                      o) == m.outputSlots.begin() + static_cast<std::ptrdiff_t>(k);
        if (!sl.needsGrad || !first) {
            outputGrads.push_back(nullptr);
            continue;
        }
        if (sl.grad.empty() && sl.param < 0) sl.grad = m.pool.acquire(sl.bytes);
        outputGrads.push_back(&m.gradOf(o));
    }
    WH_ASSIGN_OR_RETURN(double loss, m.loss(LossArgs{outputs, images, targets, outputGrads}));
    for (std::size_t k = 0; k < m.outputSlots.size(); ++k)
        if (outputGrads[k]) m.slots[static_cast<std::size_t>(m.outputSlots[k])].gradWritten = true;

    // Backward, in reverse order.
    std::vector<const HostTensor*> savedIn, savedOut, outGrads;
    std::vector<Dims> inDims;
    std::vector<HostTensor*> inGrads;
    std::vector<bool> direct;
    std::vector<const void*> pooledGrads;
    for (std::size_t i = m.steps.size(); i-- > 0;) {
        Impl::Step& st = m.steps[i];
        if (!st.backward) continue;
        outGrads.clear();
        bool any = false;
        for (int o : st.outputs) {
            const bool has = o >= 0 && m.slots[static_cast<std::size_t>(o)].gradWritten;
            outGrads.push_back(has ? &m.gradOf(o) : nullptr);
            any = any || has;
        }
        if (!any) continue;
        savedIn.clear();
        savedOut.clear();
        inDims.clear();
        inGrads.clear();
        direct.assign(st.inputs.size(), false);
        pooledGrads.assign(st.inputs.size(), nullptr);
        for (std::size_t k = 0; k < st.inputs.size(); ++k) {
            const int s = st.inputs[k];
            savedIn.push_back(s >= 0 && st.savedIn[k] ? &m.value(s) : nullptr);
            inDims.push_back(s >= 0 ? m.slots[static_cast<std::size_t>(s)].dims : Dims{});
            if (s < 0 || !st.wantGrad[k] || static_cast<int>(k) == st.gradPassThrough) {
                inGrads.push_back(nullptr);
                continue;
            }
            // Write straight into the slot's gradient the first time; accumulate afterwards
            // (also when the same value feeds two inputs of this node).
            bool first = !m.slots[static_cast<std::size_t>(s)].gradWritten;
            for (std::size_t j = 0; j < k; ++j)
                if (st.inputs[j] == s && inGrads[j]) first = false;
            direct[k] = first;
            Impl::Slot& inSlot = m.slots[static_cast<std::size_t>(s)];
            HostTensor& target = first ? m.gradOf(s) : st.scratch[k];
            if (target.empty() && inSlot.param < 0 && !inSlot.gradView)
                target = m.pool.acquire(inSlot.gradBytes ? inSlot.gradBytes : inSlot.bytes);
            pooledGrads[k] = target.empty() ? nullptr : target.raw();
            inGrads.push_back(&target);
        }
        for (std::size_t k = 0; k < st.outputs.size(); ++k) {
            const int s = st.outputs[k];
            savedOut.push_back(s >= 0 && st.savedOut[k] ? &m.value(s) : nullptr);
        }
        GradArgs args{savedIn, savedOut, inDims, outGrads, inGrads};
        if (m.options.observer) m.notify(true, Pass::kBackward, i, {});
        const std::string where = fmt::format("{} (backward)", st.where);
        Status s = catchMemoryErrors(where, [&] { return st.grad->backward(args); });
        if (!s.isOk())
            return s.message().starts_with(where) ? tl::unexpected(s)
                                                  : error(s.code(), "{}: {}", where, s.message());
        for (std::size_t k = 0; k < st.inputs.size(); ++k) {
            if (!inGrads[k]) continue;
            const int slot = st.inputs[k];
            Impl::Slot& sl = m.slots[static_cast<std::size_t>(slot)];
            if (pooledGrads[k] && inGrads[k]->raw() != pooledGrads[k]) sl.gradView = true;
            if (!direct[k]) {
                WH_RETURN_IF_ERROR(accumulate(m.gradOf(slot), st.scratch[k]));
                m.recycle(st.scratch[k], !sl.gradView);
            }
            sl.gradWritten = true;
            if (sl.param < 0) sl.gradBytes = sl.grad.byteSize();
        }
        // The input whose gradient is the output's: hand the buffer over, or add it on.
        if (const int p = st.gradPassThrough;
            p >= 0 && st.inputs[static_cast<std::size_t>(p)] >= 0 &&
            st.wantGrad[static_cast<std::size_t>(p)] && outGrads[0]) {
            const int s = st.inputs[static_cast<std::size_t>(p)];
            Impl::Slot& sl = m.slots[static_cast<std::size_t>(s)];
            HostTensor& dy = m.gradOf(st.outputs[0]);
            if (dy.dims() != sl.dims)
                return error(StatusCode::kInternal, "{} (backward): gradient {} passed to input {}",
                             st.where, dimsToString(dy.dims()), dimsToString(sl.dims));
            if (sl.gradWritten) {
                WH_RETURN_IF_ERROR(accumulate(m.gradOf(s), dy));
            } else if (sl.param >= 0) {
                HostTensor& g = m.gradOf(s);
                g.ensure(dy.dtype(), dy.dims());
                std::memcpy(g.raw(), dy.raw(), dy.byteSize());
            } else {
                m.recycle(sl.grad);
                sl.grad = std::move(dy);
                dy = HostTensor();
                sl.gradBytes = sl.grad.byteSize();
            }
            sl.gradWritten = true;
        }
        // This step's output gradients are consumed, and so are the activations only it (of
        // the steps still to run backward) reads.
        for (int o : st.outputs)
            if (o >= 0 && m.slots[static_cast<std::size_t>(o)].param < 0)
                m.recycle(m.slots[static_cast<std::size_t>(o)].grad,
                          !m.slots[static_cast<std::size_t>(o)].gradView);
        auto releaseSaved = [&](int sIdx) {
            if (sIdx < 0) return;
            Impl::Slot& sl = m.slots[static_cast<std::size_t>(sIdx)];
            if (sl.lastBackUse == static_cast<int>(i)) m.recycle(sl.tensor, !sl.view);
        };
        if (m.options.observer) m.notify(false, Pass::kBackward, i, inGrads);
        for (int in : st.inputs) releaseSaved(in);
        for (int o : st.outputs) releaseSaved(o);
    }

    // Parameters no gradient reached get zero; BN running statistics take their new values.
    for (std::size_t s = 0; s < m.slots.size(); ++s) {
        Impl::Slot& slot = m.slots[s];
        if (slot.param < 0 || slot.gradWritten) continue;
        Parameter& p = m.params[static_cast<std::size_t>(slot.param)];
        p.grad.ensure(p.value.dtype(), p.value.dims());
        std::memset(p.grad.raw(), 0, p.grad.byteSize());
    }
    for (Impl::Step& st : m.steps) {
        if (!st.trainingForward) continue;
        for (std::size_t k = 0; k < st.stateSlots.size(); ++k) {
            const int s = st.stateSlots[k];
            const HostTensor& t = st.stateOut[k];
            if (s < 0 || t.empty()) continue;
            HostTensor& dst = m.value(s);
            if (dst.byteSize() == t.byteSize() && dst.dtype() == t.dtype())
                std::memcpy(dst.raw(), t.raw(), t.byteSize());
        }
    }
    m.pool.trim(m.run);
    // Release the remaining activations' references to the caller's images.
    m.slots[static_cast<std::size_t>(m.inputSlot)].tensor = HostTensor();
    return loss;
}

Expected<std::vector<HostTensor>> TrainingPlan::evaluateUnguarded(const HostTensor& images) {
    Impl& m = *m_impl;
    WH_RETURN_IF_ERROR(m.feed(images));
    setComputeThreads(m.options.threads);
    ++m.run;
    std::vector<std::unique_ptr<Kernel>>* kernels = m.kernelsFor(images.dims());
    WH_RETURN_IF_ERROR(m.forward(false, kernels));
    std::vector<HostTensor> result;
    for (int s : m.outputSlots) result.push_back(m.value(s).clone());
    m.slots[static_cast<std::size_t>(m.inputSlot)].tensor = HostTensor();
    m.pool.trim(m.run);  // what this batch did not take (training-sized buffers, other batch sizes)
    return result;
}

Status TrainingPlan::writeBack(ir::Model& model) const {
    // One code path: through a Rewriter of its own (engine::writeBack), whose log goes with it.
    rewrite::Rewriter rewriter(*model.graph);
    return engine::writeBack(*this, rewriter);
}

}  // namespace wh::engine
