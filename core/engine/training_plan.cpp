#include "core/engine/training_plan.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "core/engine/channel_blocks.h"
#include "core/engine/threads.h"
#include "core/rewrite/constant_to_initializer.h"
#include "core/rewrite/greedy_driver.h"
#include "core/rewrite/pattern.h"
#include "core/rewrite/rewriter.h"

namespace wh::engine {

namespace {

bool isNondeterministic(std::string_view op) {
    return op == "RandomNormal" || op == "RandomUniform" || op == "RandomNormalLike" ||
           op == "RandomUniformLike" || op == "Multinomial" || op == "Bernoulli" || op == "Dropout";
}

bool isFloating(ir::DType t) {
    return t == ir::DType::kFloat || t == ir::DType::kDouble;
}

}  // namespace

// ---- Loss --------------------------------------------------------------------------------------

// With p = softmax(z) and targets q = (1 - eps) onehot(label) + eps / C, the loss of a row is
// -sum q log p = logsumexp(z) - sum q z, and its gradient p - q (divided by B for the mean).
Expected<double> softmaxCrossEntropy(const HostTensor& logits, const HostTensor& labels,
                                     float smoothing, HostTensor* grad) {
    if (logits.rank() < 1 || labels.dtype() != ir::DType::kInt64 || labels.rank() != 1 ||
        labels.dim(0) != logits.dim(0))
        return error(StatusCode::kBadInput,
                     "cross-entropy needs logits [B, C] and int64 labels [B]; got {} {} and {} {}",
                     ir::dtypeName(logits.dtype()), dimsToString(logits.dims()),
                     ir::dtypeName(labels.dtype()), dimsToString(labels.dims()));
    if (!isFloating(logits.dtype()))
        return error(StatusCode::kBadInput, "cross-entropy of {} logits",
                     ir::dtypeName(logits.dtype()));
    const int64_t B = logits.dim(0);
    const int64_t C = B ? logits.numElements() / B : 0;
    if (grad) grad->ensure(logits.dtype(), logits.dims());
    const int64_t* y = labels.data<int64_t>();
    const double eps = smoothing;
    double total = 0;
    std::vector<double> row(static_cast<std::size_t>(C));
    for (int64_t b = 0; b < B; ++b) {
        if (y[b] < 0 || y[b] >= C)
            return error(StatusCode::kBadInput, "label {} of sample {} is outside [0, {})", y[b], b,
                         C);
        for (int64_t c = 0; c < C; ++c) row[static_cast<std::size_t>(c)] = logits.at(b * C + c);
        const double mx = *std::max_element(row.begin(), row.end());
        double sum = 0;
        for (double v : row) sum += std::exp(v - mx);
        const double lse = mx + std::log(sum);
        double loss = 0;
        for (int64_t c = 0; c < C; ++c) {
            const double q = (c == y[b] ? 1.0 - eps : 0.0) + eps / static_cast<double>(C);
            const double z = row[static_cast<std::size_t>(c)];
            loss += q * (lse - z);
            if (grad) {
                const double g = (std::exp(z - lse) - q) / static_cast<double>(B);
                if (grad->dtype() == ir::DType::kFloat)
                    grad->data<float>()[b * C + c] = static_cast<float>(g);
                else
                    grad->data<double>()[b * C + c] = g;
            }
        }
        total += loss;
    }
    return B ? total / static_cast<double>(B) : 0.0;
}

// ---- Plan --------------------------------------------------------------------------------------

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
        const ir::Node* node = nullptr;
        std::string where;
        std::unique_ptr<Kernel> kernel;           // inference semantics
        std::unique_ptr<Kernel> trainingForward;  // optional override while training
        // ... and in evaluate() (with BN frozen): it computes the inference function, or the
        // step reads or writes channel-blocked tensors, or computes a fused Relu.
        bool trainingForwardForEval = false;
        std::unique_ptr<GradKernel> grad;
        std::vector<int> inputs, outputs;  // slot, -1 = omitted
        std::vector<int> stateSlots;       // slot updated by extra output k
        std::vector<HostTensor> stateOut;
        std::vector<bool> wantGrad;  // per input
        std::vector<bool> savedIn, savedOut;
        bool backward = false;
        std::vector<HostTensor> scratch;  // per input, when a gradient accumulates
        // Channel blocks (see chooseChannelBlocks): what the kernels can take, and whether they
        // read or write any blocked tensor (then evaluate() runs the training forward too).
        GradBuild::ChannelBlocks channelBlocks = GradBuild::ChannelBlocks::kNone;
        std::function<void(bool, bool)> setChannelBlocked;
        std::function<void()> fuseRelu;
        int gradPassThrough = -1;  // GradBuild::gradPassThrough
        bool conversion = false;   // inserted by the plan: a blocked tensor to plain order
        const std::string& label() const {
            static const std::string kConversion = "(to plain order)";
            return conversion ? kConversion : node->opType;
        }
    };

    ir::Model model;
    TrainingOptions options;
    TrainingFlags flags;
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
    // WHITTLE_TRAIN_PROFILE=1: seconds per op type (forward, backward) and calls, printed to
    // stderr when the plan goes away.
    bool profile = false;
    std::map<std::string, std::array<double, 3>> profileTimes;
    ~Impl() {
        if (!profile || profileTimes.empty()) return;
        double f = 0, b = 0;
        for (const auto& [op, t] : profileTimes) {
            f += t[0];
            b += t[1];
        }
        std::fprintf(stderr, "training profile (ms per call summed over all nodes of the type):\n");
        std::fprintf(stderr, "%-24s %10s %10s %8s\n", "op", "fwd ms", "bwd ms", "calls");
        for (const auto& [op, t] : profileTimes)
            std::fprintf(stderr, "%-24s %10.1f %10.1f %8.0f\n", op.c_str(), 1e3 * t[0], 1e3 * t[1],
                         t[2]);
        std::fprintf(stderr, "%-24s %10.1f %10.1f\n", "total", 1e3 * f, 1e3 * b);
    }

    // Buffers of released activations and consumed gradients, handed to the next tensor that
    // needs at least that many bytes (best fit): after the first step a training step allocates
    // (and zero-fills, and page-faults) nothing, and gradients of activations only live from the
    // backward step that writes them to the one that consumes them.
    std::vector<HostTensor> pool;
    std::vector<uint64_t> poolStamp;  // the run that put each buffer there
    uint64_t run = 0;                 // forward passes so far (training and evaluation)

    HostTensor acquire(std::size_t bytes) {
        if (bytes == 0) return {};
        // Best fit, and never more than twice the size (a small tensor must not take the
        // buffer a large one will ask for next).
        std::size_t best = pool.size();
        for (std::size_t i = 0; i < pool.size(); ++i)
            if (pool[i].byteSize() >= bytes && pool[i].byteSize() <= 2 * bytes + 4096 &&
                (best == pool.size() || pool[i].byteSize() < pool[best].byteSize()))
                best = i;
        if (best == pool.size()) return {};
        HostTensor t = std::move(pool[best]);
        pool[best] = std::move(pool.back());
        poolStamp[best] = poolStamp.back();
        pool.pop_back();
        poolStamp.pop_back();
        return t;
    }
    bool sharedStorage(const void* p, const HostTensor* self) const {
        auto same = [&](const HostTensor& t) { return &t != self && !t.empty() && t.raw() == p; };
        for (const Slot& sl : slots)
            if (same(sl.tensor) || same(sl.grad)) return true;
        for (const Parameter& pa : params)
            if (same(pa.value) || same(pa.grad)) return true;
        for (const auto& st : state)
            if (same(st.second)) return true;
        for (const Step& st : steps)
            for (const HostTensor& t : st.scratch)
                if (same(t)) return true;
        return false;
    }
    // Empties `t`, keeping its buffer for reuse unless another tensor of the plan shares it
    // (a Reshape/Flatten output, a gradient passed through as a view).
    // `keep` false: the tensor's kernel does not take pooled buffers (it returns a view or new
    // storage), so pooling its buffers would only grow the pool.
    void recycle(HostTensor& t, bool keep = true) {
        if (t.empty()) return;
        if (keep && t.dtype() != ir::DType::kString && t.byteSize() > 0 &&
            !sharedStorage(t.raw(), &t)) {
            pool.push_back(std::move(t));
            poolStamp.push_back(run);
        }
        t = HostTensor();
    }
    // Frees the buffers no tensor took during the whole run that just ended (the surplus of a
    // run with other shapes, e.g. the evaluation batch).
    void trimPool() {
        for (std::size_t i = pool.size(); i-- > 0;)
            if (poolStamp[i] < run) {
                pool[i] = std::move(pool.back());
                poolStamp[i] = poolStamp.back();
                pool.pop_back();
                poolStamp.pop_back();
            }
    }

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
    Status feed(const HostTensor& images);
    void chooseChannelBlocks();
    /// One forward pass over the steps with `kernels` (kernelsFor; null: shape-agnostic ones).
    Status forward(bool training, std::vector<std::unique_ptr<Kernel>>* kernels);
    void fuseRelus();
    /// The kernels to run for the fed input's shape (see kernelSets).
    std::vector<std::unique_ptr<Kernel>>* kernelsFor(const Dims& inputDims);
};

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

Expected<TrainingPlan> TrainingPlan::compile(const ir::Model& source,
                                             const TrainingOptions& options) {
    auto impl = std::make_unique<Impl>();
    Impl& m = *impl;
    m.options = options;
    m.flags.seed = options.seed;
    if (const char* p = std::getenv("WHITTLE_TRAIN_PROFILE")) m.profile = *p && *p != '0';
    setComputeThreads(options.threads);
    const KernelRegistry& registry =
        options.registry ? *options.registry : KernelRegistry::builtin();
    const GradRegistry& gradRegistry =
        options.gradRegistry ? *options.gradRegistry : GradRegistry::builtin();

    // Work on a clone whose Constant weights are initializers, so that they can be trained.
    m.model = source.clone();
    ir::Graph& g = *m.model.graph;
    {
        rewrite::Rewriter rewriter(g);
        rewrite::PatternSet patterns;
        patterns.emplace<rewrite::ConstantToInitializer>();
        rewrite::applyPatternsGreedily(rewriter, patterns);
    }

    // BatchNormalization statistics are state, not parameters.
    std::set<const ir::Value*> stateValues;
    for (const ir::Node* node : g.nodes())
        if (ir::isOnnxOp(*node, "BatchNormalization"))
            for (int i : {3, 4})
                if (const ir::Value* v = node->input(i); v && v->hasInitializer())
                    stateValues.insert(v);
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
        } else if (floating && ir::isParameter(v)) {
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
    std::vector<TensorInfo> inputInfos;
    for (const ir::Node* node : g.nodes()) {
        const std::string where = fmt::format("node '{}' ({})", node->displayName(), node->opType);
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
        Expected<KernelBuild> build = error(StatusCode::kUnsupported, "");
        bool found = false;
        for (Backend backend : options.backends) {
            const KernelFactory* factory =
                registry.find(node->domain, node->opType, opset, backend);
            if (!factory) continue;
            found = true;
            build = (*factory)(ctx);
            if (build || build.error().code() != StatusCode::kUnsupported) break;
        }
        if (!found)
            return error(StatusCode::kUnsupported,
                         "operator {}{} (opset {}) of {} is not supported by the engine",
                         node->domain.empty() ? "" : node->domain + ".", node->opType, opset,
                         where);
        if (!build) {
            const Status& s = build.error();
            if (s.message().find(where) != std::string::npos) return tl::unexpected(s);
            return error(s.code(), "{}: {}", where, s.message());
        }
        if (build->outputs.size() < static_cast<std::size_t>(node->numOutputs()))
            build->outputs.resize(static_cast<std::size_t>(node->numOutputs()));

        bool outputsConstant = true;
        for (int i = 0; i < node->numOutputs(); ++i)
            if (node->output(i) && !build->outputs[static_cast<std::size_t>(i)].constant)
                outputsConstant = false;
        if (!outputsConstant && allConstant && !isNondeterministic(node->opType)) {
            // Only non-parameter constants in: compute now (shape arithmetic and the like).
            std::vector<const HostTensor*> ins;
            for (int s : inSlots) ins.push_back(s < 0 ? nullptr : &m.value(s));
            std::vector<HostTensor> outs(static_cast<std::size_t>(node->numOutputs()));
            std::vector<HostTensor*> outPtrs;
            for (auto& o : outs) outPtrs.push_back(&o);
            Status s = build->kernel->run(ins, outPtrs);
            if (!s.isOk()) return error(s.code(), "{}: {}", where, s.message());
            for (int i = 0; i < node->numOutputs(); ++i) {
                auto& info = build->outputs[static_cast<std::size_t>(i)];
                info = TensorInfo::of(outs[static_cast<std::size_t>(i)]);
                info.constant =
                    std::make_shared<const HostTensor>(outs[static_cast<std::size_t>(i)]);
            }
            outputsConstant = true;
        }
        if (outputsConstant) {
            for (int i = 0; i < node->numOutputs(); ++i)
                if (const ir::Value* v = node->output(i))
                    makeConstant(v, *build->outputs[static_cast<std::size_t>(i)].constant);
            continue;
        }

        // A gradient flows through the node only into floating outputs: Shape, Size, comparisons
        // and the like end the path (their inputs get nothing from them).
        bool floatingOut = false;
        for (int i = 0; i < node->numOutputs(); ++i) {
            const ir::DType t = build->outputs[static_cast<std::size_t>(i)].dtype;
            floatingOut =
                floatingOut || (node->output(i) && (isFloating(t) || t == ir::DType::kUndefined));
        }
        anyNeedsGrad = anyNeedsGrad && floatingOut;

        Impl::Step step;
        step.node = node;
        step.where = where;
        step.kernel = std::move(build->kernel);
        step.inputs = std::move(inSlots);
        step.wantGrad = needs;
        bool hasGrad = false;
        Expected<GradBuild> gb = error(StatusCode::kUnsupported, "");
        GradContext gctx{*node, opset, inputInfos, build->outputs, needs, &m.flags};
        for (Backend backend : options.gradBackends) {
            const GradFactory* f = gradRegistry.find(node->domain, node->opType, opset, backend);
            if (!f) continue;
            hasGrad = true;
            gb = (*f)(gctx);
            if (gb || gb.error().code() != StatusCode::kUnsupported) break;
        }
        if (!hasGrad && anyNeedsGrad)
            return error(StatusCode::kUnsupported,
                         "operator {} (opset {}) of {} has no gradient; it lies between a "
                         "parameter and the loss",
                         node->opType, opset, where);
        if (hasGrad) {
            if (!gb) {
                if (anyNeedsGrad)
                    return error(gb.error().code(), "{}: {}", where, gb.error().message());
            } else {
                step.grad = std::move(gb->kernel);
                step.trainingForward = std::move(gb->trainingForward);
                step.trainingForwardForEval =
                    gb->trainingForwardIsInference && gb->stateInputs.empty();
                step.savedIn = std::move(gb->savedInputs);
                step.savedOut = std::move(gb->savedOutputs);
                for (int k : gb->stateInputs) {
                    const int s = k < static_cast<int>(step.inputs.size())
                                      ? step.inputs[static_cast<std::size_t>(k)]
                                      : -1;
                    step.stateSlots.push_back(
                        s >= 0 && m.slots[static_cast<std::size_t>(s)].state >= 0 ? s : -1);
                }
                step.stateOut.resize(step.stateSlots.size());
                step.backward = anyNeedsGrad;
                step.channelBlocks = gb->channelBlocks;
                step.gradPassThrough = gb->gradPassThrough;
                step.fuseRelu = std::move(gb->fuseRelu);
                step.setChannelBlocked = std::move(gb->setChannelBlocked);
            }
        }
        step.savedIn.resize(step.inputs.size(), false);
        step.scratch.resize(step.inputs.size());
        for (int i = 0; i < node->numOutputs(); ++i) {
            const ir::Value* v = node->output(i);
            if (!v) {
                step.outputs.push_back(-1);
                continue;
            }
            const int s = newSlot(v, build->outputs[static_cast<std::size_t>(i)]);
            m.slots[static_cast<std::size_t>(s)].needsGrad =
                anyNeedsGrad &&
                (isFloating(build->outputs[static_cast<std::size_t>(i)].dtype) ||
                 build->outputs[static_cast<std::size_t>(i)].dtype == ir::DType::kUndefined);
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
    m.fuseRelus();
    m.chooseChannelBlocks();

    // What the backward pass keeps, and when the rest can go.
    for (std::size_t i = 0; i < m.steps.size(); ++i) {
        const Impl::Step& st = m.steps[i];
        for (std::size_t k = 0; k < st.inputs.size(); ++k) {
            if (st.inputs[k] < 0) continue;
            Impl::Slot& slot = m.slots[static_cast<std::size_t>(st.inputs[k])];
            slot.lastUse = static_cast<int>(i);
            if (st.backward && st.savedIn[k]) slot.saved = true;
        }
        for (std::size_t k = 0; k < st.outputs.size(); ++k)
            if (st.outputs[k] >= 0 && st.backward && st.savedOut[k])
                m.slots[static_cast<std::size_t>(st.outputs[k])].saved = true;
    }
    // The backward pass runs the steps in reverse: a saved activation is last read by the
    // lowest-index backward step that reads it.
    for (std::size_t i = m.steps.size(); i-- > 0;) {
        const Impl::Step& st = m.steps[i];
        if (!st.backward) continue;
        for (std::size_t k = 0; k < st.inputs.size(); ++k)
            if (st.inputs[k] >= 0 && st.savedIn[k])
                m.slots[static_cast<std::size_t>(st.inputs[k])].lastBackUse = static_cast<int>(i);
        for (std::size_t k = 0; k < st.outputs.size(); ++k)
            if (st.outputs[k] >= 0 && st.savedOut[k])
                m.slots[static_cast<std::size_t>(st.outputs[k])].lastBackUse = static_cast<int>(i);
    }
    for (int s : m.outputSlots) {
        m.slots[static_cast<std::size_t>(s)].saved = true;
        m.slots[static_cast<std::size_t>(s)].lastBackUse = -1;  // kept: evaluate() reads it
    }
    for (std::size_t s = 0; s < m.slots.size(); ++s) {
        Impl::Slot& slot = m.slots[s];
        const bool activation = !slot.constant && slot.param < 0 && slot.state < 0 &&
                                static_cast<int>(s) != m.inputSlot;
        slot.releasable = !slot.saved && activation;
        slot.activation = activation;
        if (!activation) slot.lastBackUse = -1;
    }
    return TrainingPlan(std::move(impl));
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

// Ops that compute elementwise over same-shaped operands (forward and gradient), so that they
// work in whatever order their operands share.
bool elementwiseOp(const ir::Node& node) {
    static const std::set<std::string, std::less<>> kOps{
        "Add",  "Sub",     "Mul",  "Relu",      "LeakyRelu",
        "Clip", "Sigmoid", "Tanh", "HardSwish", "HardSigmoid"};
    return ir::isDefaultDomain(node.domain) && kOps.count(node.opType);
}

}  // namespace

// A Relu that is the only reader of a step's output 0, where that step offers to take it
// (GradBuild::fuseRelu, the fast BatchNormalization): the step computes the Relu too and writes
// the Relu's output; the Relu's step goes. Called once at compile, before chooseChannelBlocks.
void TrainingPlan::Impl::fuseRelus() {
    std::vector<int> readers(slots.size(), 0);
    std::vector<int> readerStep(slots.size(), -1);
    for (std::size_t i = 0; i < steps.size(); ++i)
        for (int s : steps[i].inputs)
            if (s >= 0) {
                ++readers[static_cast<std::size_t>(s)];
                readerStep[static_cast<std::size_t>(s)] = static_cast<int>(i);
            }
    for (int s : outputSlots) readers[static_cast<std::size_t>(s)] += 2;  // never fused away
    std::vector<bool> dropped(steps.size(), false);
    for (std::size_t i = 0; i < steps.size(); ++i) {
        Step& st = steps[i];
        if (!st.fuseRelu || !st.trainingForward || st.outputs.empty() || st.outputs[0] < 0)
            continue;
        const int o = st.outputs[0];
        if (readers[static_cast<std::size_t>(o)] != 1) continue;
        const int j = readerStep[static_cast<std::size_t>(o)];
        Step& relu = steps[static_cast<std::size_t>(j)];
        if (!ir::isOnnxOp(*relu.node, "Relu") || relu.inputs.size() != 1 ||
            relu.outputs.size() != 1 || relu.outputs[0] < 0 || relu.trainingForward)
            continue;
        st.fuseRelu();
        st.gradPassThrough = -1;  // the Relu masks the gradient: no longer the output's own
        st.outputs[0] = relu.outputs[0];
        if (st.savedOut.empty()) st.savedOut.resize(1);
        st.savedOut[0] = true;
        st.trainingForwardForEval = true;
        st.where += " + Relu";
        dropped[static_cast<std::size_t>(j)] = true;
    }
    std::vector<Step> kept;
    kept.reserve(steps.size());
    for (std::size_t i = 0; i < steps.size(); ++i)
        if (!dropped[i]) kept.push_back(std::move(steps[i]));
    steps = std::move(kept);
}

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
        if (st.outputs.size() != 1 || st.outputs[0] < 0 || !elementwiseOp(*st.node)) continue;
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

// Training: training forwards with their state outputs, activations kept for the backward pass
// (released after their last reader only when no gradient reads them). Evaluation: inference
// kernels, except the steps whose training forward must run (trainingForwardForEval) with BN on
// running statistics; every activation goes after its last reader.
Status TrainingPlan::Impl::forward(bool training, std::vector<std::unique_ptr<Kernel>>* kernels) {
    const bool frozen = flags.batchNormFrozen;
    if (!training) flags.batchNormFrozen = true;
    struct Restore {
        bool& flag;
        bool value;
        ~Restore() { flag = value; }
    } restore{flags.batchNormFrozen, frozen};
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
                    slot.tensor = acquire(training ? slot.bytes : slot.evalBytes);
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
        const bool timed = profile && training;
        const auto t0 =
            timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        Status s = k.run(ins, outs);
        if (!s.isOk()) return makeStatus(s.code(), "{}: {}", st.where, s.message());
        if (timed) {
            auto& t = profileTimes[st.label()];
            t[0] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            t[2] += 1;
        }
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
        for (Backend backend : options.backends) {
            const KernelFactory* f =
                registry->find(st.node->domain, st.node->opType, opset, backend);
            if (!f) continue;
            Expected<KernelBuild> b = (*f)(ctx);
            if (!b) {
                if (b.error().code() == StatusCode::kUnsupported) continue;
                break;
            }
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
            break;
        }
    }
    return &kernelSets.emplace(inputDims, std::move(set)).first->second;
}

Expected<double> TrainingPlan::forwardBackward(const HostTensor& images, const HostTensor& labels) {
    Impl& m = *m_impl;
    WH_RETURN_IF_ERROR(m.feed(images));
    setComputeThreads(m.options.threads);
    ++m.flags.dropoutStep;
    ++m.run;
    std::vector<std::unique_ptr<Kernel>>* kernels = m.kernelsFor(images.dims());

    WH_RETURN_IF_ERROR(m.forward(true, kernels));

    // Loss on output 0.
    for (auto& slot : m.slots) slot.gradWritten = false;
    const int out0 = m.outputSlots[0];
    Impl::Slot& outSlot = m.slots[static_cast<std::size_t>(out0)];
    if (outSlot.needsGrad && outSlot.grad.empty() && outSlot.param < 0)
        outSlot.grad = m.acquire(outSlot.bytes);
    WH_ASSIGN_OR_RETURN(double loss,
                        softmaxCrossEntropy(m.value(out0), labels, m.options.labelSmoothing,
                                            outSlot.needsGrad ? &m.gradOf(out0) : nullptr));
    outSlot.gradWritten = outSlot.needsGrad;

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
                target = m.acquire(inSlot.gradBytes ? inSlot.gradBytes : inSlot.bytes);
            pooledGrads[k] = target.empty() ? nullptr : target.raw();
            inGrads.push_back(&target);
        }
        for (std::size_t k = 0; k < st.outputs.size(); ++k) {
            const int s = st.outputs[k];
            savedOut.push_back(s >= 0 && st.savedOut[k] ? &m.value(s) : nullptr);
        }
        GradArgs args{savedIn, savedOut, inDims, outGrads, inGrads};
        const auto t0 =
            m.profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        Status s = st.grad->backward(args);
        if (!s.isOk()) return error(s.code(), "{} (backward): {}", st.where, s.message());
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
        for (int in : st.inputs) releaseSaved(in);
        for (int o : st.outputs) releaseSaved(o);
        if (m.profile)
            m.profileTimes[st.label()][1] +=
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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
    m.trimPool();
    // Release the remaining activations' references to the caller's images.
    m.slots[static_cast<std::size_t>(m.inputSlot)].tensor = HostTensor();
    return loss;
}

Expected<std::vector<HostTensor>> TrainingPlan::evaluate(const HostTensor& images) {
    Impl& m = *m_impl;
    WH_RETURN_IF_ERROR(m.feed(images));
    setComputeThreads(m.options.threads);
    ++m.run;
    std::vector<std::unique_ptr<Kernel>>* kernels = m.kernelsFor(images.dims());
    WH_RETURN_IF_ERROR(m.forward(false, kernels));
    std::vector<HostTensor> result;
    for (int s : m.outputSlots) result.push_back(m.value(s).clone());
    m.slots[static_cast<std::size_t>(m.inputSlot)].tensor = HostTensor();
    m.trimPool();  // what this batch did not take (training-sized buffers, other batch sizes)
    return result;
}

Status TrainingPlan::writeBack(ir::Model& model) const {
    const Impl& m = *m_impl;
    ir::Graph& g = *model.graph;
    auto store = [&](const std::string& name, const HostTensor& value) -> Status {
        ir::Value* v = g.findValue(name);
        ir::Tensor* t = nullptr;
        if (v && v->hasInitializer()) {
            t = v->mutableInitializer();
        } else if (v && v->producer() && v->producer()->opType == "Constant") {
            ir::Attribute* a = v->producer()->mutableAttribute("value");
            if (a && a->t) t = &*a->t;
        }
        if (!t)
            return makeStatus(StatusCode::kBadInput,
                              "tensor '{}' is neither an initializer nor a Constant of the model",
                              name);
        if (t->dims != value.dims() || !isFloating(t->dtype))
            return makeStatus(StatusCode::kBadInput, "tensor '{}' is {}{}, the trained one {}{}",
                              name, ir::dtypeName(t->dtype), dimsToString(t->dims),
                              ir::dtypeName(value.dtype()), dimsToString(value.dims()));
        if (t->dtype == value.dtype()) {
            t->data = std::make_shared<const ir::Buffer>(value.raw(), value.byteSize());
        } else {
            // The plan trains float/double; convert to the model's own type.
            const int64_t n = value.numElements();
            if (t->dtype == ir::DType::kFloat) {
                std::vector<float> v2(static_cast<std::size_t>(n));
                for (int64_t i = 0; i < n; ++i)
                    v2[static_cast<std::size_t>(i)] = static_cast<float>(value.at(i));
                t->data = std::make_shared<const ir::Buffer>(v2.data(), v2.size() * sizeof(float));
            } else {
                std::vector<double> v2(static_cast<std::size_t>(n));
                for (int64_t i = 0; i < n; ++i) v2[static_cast<std::size_t>(i)] = value.at(i);
                t->data = std::make_shared<const ir::Buffer>(v2.data(), v2.size() * sizeof(double));
            }
        }
        return Status::ok();
    };
    for (const Parameter& p : m.params) WH_RETURN_STATUS_IF_ERROR(store(p.name, p.value));
    for (const auto& [name, value] : m.state) WH_RETURN_STATUS_IF_ERROR(store(name, value));
    return Status::ok();
}

}  // namespace wh::engine
