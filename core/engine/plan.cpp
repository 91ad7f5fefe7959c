#include "core/engine/plan.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/engine/conv_bn_folding.h"
#include "core/engine/threads.h"
#include "core/rewrite/pattern.h"

namespace wh::engine {

namespace {

// Operators whose result differs between runs: never folded at compile time.
bool isNondeterministic(std::string_view op) {
    return op == "RandomNormal" || op == "RandomUniform" || op == "RandomNormalLike" ||
           op == "RandomUniformLike" || op == "Multinomial" || op == "Bernoulli";
}

using ir::isOnnxOp;

// Longest chain of followers offered to a kernel (Conv + Add + activation needs two).
constexpr std::size_t kMaxFollowers = 3;

// The node's only output, when it has exactly one (later optional outputs omitted).
const ir::Value* soleOutput(const ir::Node& node) {
    for (int i = 1; i < node.numOutputs(); ++i)
        if (node.output(i)) return nullptr;
    return node.output(0);
}

}  // namespace

struct Plan::Impl {
    struct Slot {
        TensorInfo info;
        HostTensor tensor;  // run-time value (or the constant)
    };
    struct Step {
        std::unique_ptr<Kernel> kernel;
        std::vector<int> inputs;   // slot index, -1 = omitted
        std::vector<int> outputs;  // slot index, -1 = omitted
        std::string where;         // the root node, for messages
        std::string label;         // what the step computes, for describe()
    };

    std::vector<Slot> slots;
    std::vector<Step> steps;
    std::vector<int> inputSlots, outputSlots;
    std::vector<std::string> inputNames, outputNames;
    std::vector<PlannedNode> planned;
    int threads = 0;
};

/// Compiles one graph into a Plan::Impl, node by node in graph (topological) order.
class Plan::Builder {
public:
    Builder(const ir::Model& model, const PlanOptions& options, Plan::Impl& impl)
        : m_model(model),
          m_graph(*model.graph),
          m_options(options),
          m_impl(impl),
          m_registry(options.registry ? *options.registry : KernelRegistry::builtin()) {
        m_fuse = options.fuse && !options.training;
        m_plainOptions.threads = options.threads;
        m_plainOptions.training = options.training;
        m_nativeOptions = m_plainOptions;
        m_nativeOptions.nativeLayouts = m_fuse;
    }

    Status build() {
        WH_RETURN_STATUS_IF_ERROR(addInitializersAndInputs());
        for (const ir::Node* node : m_graph.nodes()) {
            if (m_done.count(node)) continue;  // compiled early, or taken by another's step
            WH_RETURN_STATUS_IF_ERROR(compileNode(*node));
        }
        for (const ir::Value* v : m_graph.outputs()) {
            auto it = m_slotOf.find(v);
            if (it == m_slotOf.end())
                return makeStatus(StatusCode::kBadInput, "graph output '{}' is never produced",
                                  v->name());
            m_impl.outputSlots.push_back(plainSlot(it->second));
            m_impl.outputNames.push_back(v->name());
        }
        for (const ir::Node* node : m_graph.nodes())
            m_impl.planned.push_back(std::move(m_planned.at(node->id())));
        return Status::ok();
    }

private:
    // A chain member: the node and its input infos (Follower::inputs points into them).
    struct Link {
        const ir::Node* node;
        int link;
        std::vector<TensorInfo> inputs;
        std::vector<int> slots;
    };

    Plan::Impl::Slot& slot(int s) { return m_impl.slots[static_cast<std::size_t>(s)]; }

    int newSlot(const ir::Value* v, TensorInfo info) {
        m_impl.slots.push_back({std::move(info), {}});
        m_valueOf.push_back(v);
        const int s = static_cast<int>(m_impl.slots.size()) - 1;
        if (v) m_slotOf[v] = s;
        return s;
    }

    // True if the step being added may overwrite slot `s`: it holds a value computed at run
    // time that neither the caller sees nor a node compiled later reads.
    bool isLastRead(int s) const {
        const ir::Value* v = m_valueOf[static_cast<std::size_t>(s)];
        if (!v || v->isGraphInput() || v->isGraphOutput() ||
            m_impl.slots[static_cast<std::size_t>(s)].info.constant)
            return false;
        for (const ir::Use& use : v->uses())
            if (!m_planned.count(use.node->id())) return false;
        return true;
    }

    int newConstant(const ir::Value* v, HostTensor t) {
        TensorInfo info = TensorInfo::of(t);
        info.constant = std::make_shared<const HostTensor>(t);
        const int s = newSlot(v, std::move(info));
        slot(s).tensor = std::move(t);
        return s;
    }

    Status addInitializersAndInputs() {
        for (const ir::Value* v : m_graph.initializers()) {
            if (v->isGraphInput()) continue;  // an overridable default: treated as an input below
            WH_ASSIGN_OR_RETURN_STATUS(HostTensor t, HostTensor::fromIr(*v->initializer()));
            newConstant(v, std::move(t));
        }
        for (const ir::Value* v : m_graph.inputs()) {
            auto given = m_options.inputShapes.find(v->name());
            TensorInfo info = TensorInfo::of(
                v->type, given == m_options.inputShapes.end() ? nullptr : &given->second);
            if (info.dtype == ir::DType::kUndefined && v->hasInitializer())
                info.dtype = v->initializer()->dtype;
            m_impl.inputSlots.push_back(newSlot(v, std::move(info)));
            m_impl.inputNames.push_back(v->name());
        }
        return Status::ok();
    }

    // Infos and slots of a node's inputs; the first input not defined yet, or null.
    const ir::Value* gatherInputs(const ir::Node& node, std::vector<TensorInfo>& infos,
                                  std::vector<int>& slots) {
        infos.clear();
        slots.clear();
        for (const ir::Value* v : node.inputs()) {
            if (!v) {
                infos.push_back({});
                slots.push_back(-1);
                continue;
            }
            auto it = m_slotOf.find(v);
            if (it == m_slotOf.end()) return v;
            infos.push_back(slot(it->second).info);
            slots.push_back(it->second);
        }
        return nullptr;
    }

    // Defines `v` now if a node without inputs makes it (a Constant listed after its reader's
    // producer, as PyTorch exports Clip bounds): true if `v` has a slot afterwards.
    bool defineEarly(const ir::Value* v) {
        if (m_slotOf.count(v)) return true;
        const ir::Node* producer = v->producer();
        if (!producer || producer->numInputs() != 0 || m_done.count(producer)) return false;
        if (!compileNode(*producer).isOk()) return false;  // it fails again, in its turn
        m_done.insert(producer);
        return m_slotOf.count(v) > 0;
    }

    // The nodes after `node` that a kernel may take over: each reads the previous one's only
    // output, which nothing else (nor the caller) reads, and all their other inputs are already
    // computed, so the fused step can run where `node` stands.
    std::vector<Link> chainAfter(const ir::Node& node) {
        std::vector<Link> chain;
        const ir::Node* cur = &node;
        while (chain.size() < kMaxFollowers) {
            const ir::Value* out = soleOutput(*cur);
            if (!out || out->isGraphOutput() || out->uses().size() != 1) break;
            const ir::Use& use = out->uses().front();
            if (!soleOutput(*use.node) || m_done.count(use.node)) break;
            Link link{use.node, use.input, {}, {}};
            // The link input is not computed yet either: fill it in after gathering the rest.
            std::vector<TensorInfo> infos;
            std::vector<int> slots;
            bool ready = true;
            for (int i = 0; i < use.node->numInputs() && ready; ++i) {
                const ir::Value* v = use.node->input(i);
                if (i == use.input || !v) {
                    infos.push_back({});
                    slots.push_back(-1);
                } else if (defineEarly(v)) {
                    const int s = m_slotOf.at(v);
                    infos.push_back(slot(s).info);
                    slots.push_back(s);
                } else {
                    ready = false;
                }
            }
            if (!ready) break;
            link.inputs = std::move(infos);
            link.slots = std::move(slots);
            chain.push_back(std::move(link));
            cur = use.node;
        }
        return chain;
    }

    // Conv followed by a foldable BatchNormalization: the Conv gets the folded weights and bias
    // as new constants, and the BN leaves the chain (it is taken: the Conv's step computes it).
    const ir::Node* foldBatchNorm(const ir::Node& conv, std::vector<TensorInfo>& infos,
                                  std::vector<int>& slots, std::vector<Link>& chain) {
        if (!isOnnxOp(conv, "Conv") || chain.empty() || infos.size() < 2) return nullptr;
        const Link& bn = chain.front();
        if (!isOnnxOp(*bn.node, "BatchNormalization") || bn.link != 0) return nullptr;
        const TensorInfo* bias =
            infos.size() > 2 && infos[2].dtype != ir::DType::kUndefined ? &infos[2] : nullptr;
        std::optional<FoldedConv> folded = foldBatchNormIntoConv(
            *bn.node, m_model.opsetVersion(bn.node->domain), bn.inputs, infos[1], bias);
        if (!folded) return nullptr;
        const int w = newConstant(nullptr, std::move(folded->weights));
        const int b = newConstant(nullptr, std::move(folded->bias));
        infos.resize(3);
        slots.resize(3);
        infos[1] = slot(w).info;
        infos[2] = slot(b).info;
        slots[1] = w;
        slots[2] = b;
        const ir::Node* node = bn.node;
        chain.erase(chain.begin());
        return node;
    }

    // A slot holding `s` as a plain tensor: `s` itself, or a conversion step's output (made once).
    int plainSlot(int s) {
        if (s < 0 || !slot(s).info.layout) return s;
        if (auto it = m_plainTwin.find(s); it != m_plainTwin.end()) return it->second;
        const std::shared_ptr<const Layout> layout = slot(s).info.layout;
        TensorInfo info = slot(s).info;
        info.layout.reset();
        const int twin = newSlot(nullptr, std::move(info));
        Plan::Impl::Step step;
        step.kernel = layout->makeToPlain();
        step.inputs = {s};
        step.outputs = {twin};
        step.where = fmt::format("conversion of {} to plain", layout->name());
        step.label =
            fmt::format("to plain from {} {}", layout->name(), dimsToString(slot(s).info.dims));
        m_impl.steps.push_back(std::move(step));
        m_plainTwin[s] = twin;
        return twin;
    }

    Status compileNode(const ir::Node& node) {
        const std::string where = fmt::format("node '{}' ({})", node.displayName(), node.opType);
        std::vector<TensorInfo> infos;
        std::vector<int> inSlots;
        if (const ir::Value* missing = gatherInputs(node, infos, inSlots))
            return makeStatus(StatusCode::kBadInput, "{} reads tensor '{}', which nothing defines",
                              where, missing->name());
        bool allConstant = true;
        for (std::size_t i = 0; i < infos.size(); ++i)
            if (inSlots[i] >= 0 && !infos[i].constant) allConstant = false;

        // Fusion only for nodes that run: a constant node is folded whole below.
        std::vector<Link> chain;
        const ir::Node* foldedBn = nullptr;
        if (m_fuse && !allConstant) {
            chain = chainAfter(node);
            foldedBn = foldBatchNorm(node, infos, inSlots, chain);
        }
        std::vector<Follower> followers;
        for (const Link& l : chain)
            followers.push_back({*l.node, m_model.opsetVersion(l.node->domain), l.link, l.inputs});

        KernelContext ctx{node, m_model.opsetVersion(node.domain), infos,
                          allConstant ? m_plainOptions : m_nativeOptions, followers};
        Backend used = Backend::kReference;
        Expected<KernelBuild> build = buildKernel(ctx, where, used);
        if (!build) return build.error();
        if (build->fused < 0 || build->fused > static_cast<int>(chain.size()))
            return makeStatus(StatusCode::kInternal, "{}: the kernel claims {} of {} followers",
                              where, build->fused, chain.size());
        chain.resize(static_cast<std::size_t>(build->fused));

        // The nodes this step computes, in order; it writes the last one's outputs.
        std::vector<const ir::Node*> members{&node};
        if (foldedBn) members.push_back(foldedBn);
        for (const Link& l : chain) members.push_back(l.node);
        const ir::Node& last = *members.back();
        if (build->outputs.size() < static_cast<std::size_t>(last.numOutputs()))
            build->outputs.resize(static_cast<std::size_t>(last.numOutputs()));
        for (const ir::Node* m : members) {
            PlannedNode planned{m->id(), m->name, m->opType, used, false, build->outputs, {}};
            if (m != &node) planned.fusedInto = node.id();
            m_planned[m->id()] = std::move(planned);
        }
        for (std::size_t k = 1; k < members.size(); ++k) m_done.insert(members[k]);

        bool outputsConstant = true;
        for (int i = 0; i < node.numOutputs(); ++i)
            if (node.output(i) && !build->outputs[static_cast<std::size_t>(i)].constant)
                outputsConstant = false;
        const bool fold = members.size() == 1 && !outputsConstant && allConstant &&
                          !isNondeterministic(node.opType) &&
                          !(m_options.training && node.opType == "Dropout");
        if (fold) WH_RETURN_STATUS_IF_ERROR(computeNow(node, where, inSlots, *build));
        if (fold || (outputsConstant && members.size() == 1)) {
            PlannedNode& planned = m_planned[node.id()];
            planned.folded = true;
            planned.outputs = build->outputs;
            for (int i = 0; i < node.numOutputs(); ++i)
                if (const ir::Value* v = node.output(i))
                    newConstant(v, *build->outputs[static_cast<std::size_t>(i)].constant);
            return Status::ok();
        }

        std::vector<int> stepInputs = std::move(inSlots);
        for (const Link& l : chain)
            for (std::size_t i = 0; i < l.slots.size(); ++i)
                if (static_cast<int>(i) != l.link) stepInputs.push_back(l.slots[i]);
        addStep(members, used, std::move(*build), std::move(stepInputs), where);
        return Status::ok();
    }

    // The first backend's kernel for ctx.node; `used` says whose.
    Expected<KernelBuild> buildKernel(const KernelContext& ctx, const std::string& where,
                                      Backend& used) {
        const ir::Node& node = ctx.node;
        Expected<KernelBuild> build = error(StatusCode::kUnsupported, "");
        bool found = false;
        for (Backend backend : m_options.backends) {
            const KernelFactory* factory =
                m_registry.find(node.domain, node.opType, ctx.opset, backend);
            if (!factory) continue;
            found = true;
            build = (*factory)(ctx);
            used = backend;
            if (build || build.error().code() != StatusCode::kUnsupported) break;
        }
        if (!found)
            return error(StatusCode::kUnsupported,
                         "operator {}{} (opset {}) of {} is not supported by the engine",
                         node.domain.empty() ? "" : node.domain + ".", node.opType, ctx.opset,
                         where);
        if (!build) {
            const Status& s = build.error();
            if (s.message().find(where) != std::string::npos) return tl::unexpected(s);
            return error(s.code(), "{}: {}", where, s.message());
        }
        return build;
    }

    // Appends the run-time step computing `members` (a root and the nodes it took over).
    void addStep(const std::vector<const ir::Node*>& members, Backend used, KernelBuild build,
                 std::vector<int> inputs, const std::string& where) {
        Plan::Impl::Step step;
        step.kernel = std::move(build.kernel);
        step.inputs = std::move(inputs);
        if (!build.readsLayouts)
            for (int& s : step.inputs) s = plainSlot(s);
        step.where = where;
        std::vector<std::string> names;
        for (const ir::Node* m : members)
            names.push_back(fmt::format("{} '{}'", m->opType, m->displayName()));
        std::vector<std::string> outs;
        const ir::Node& last = *members.back();
        // The output takes over the storage the kernel accumulates into, when that dies here.
        int inPlace = -1;
        if (build.accumulatesInto >= 0 && last.output(0)) {
            const int s = step.inputs.at(static_cast<std::size_t>(build.accumulatesInto));
            if (s >= 0 && std::count(step.inputs.begin(), step.inputs.end(), s) == 1 &&
                isLastRead(s))
                inPlace = s;
        }
        for (int i = 0; i < last.numOutputs(); ++i) {
            const ir::Value* v = last.output(i);
            const TensorInfo& info = build.outputs[static_cast<std::size_t>(i)];
            if (i == 0 && inPlace >= 0) {
                slot(inPlace).info = info;
                m_valueOf[static_cast<std::size_t>(inPlace)] = v;
                m_slotOf[v] = inPlace;
                m_plainTwin.erase(inPlace);  // it converted the value that dies here
                step.outputs.push_back(inPlace);
            } else {
                step.outputs.push_back(v ? newSlot(v, info) : -1);
            }
            if (v)
                outs.push_back(fmt::format("{} {}", dimsToString(info.dims),
                                           info.layout ? info.layout->name() : "plain"));
        }
        step.label = fmt::format("{} [{}] -> {}{}", fmt::join(names, " + "), backendName(used),
                                 fmt::join(outs, ", "), inPlace >= 0 ? " (in place)" : "");
        m_impl.steps.push_back(std::move(step));
    }

    // Every input is known: compute now, keep the results as constants.
    Status computeNow(const ir::Node& node, const std::string& where,
                      const std::vector<int>& inSlots, KernelBuild& build) {
        std::vector<const HostTensor*> ins;
        for (int s : inSlots) ins.push_back(s < 0 ? nullptr : &slot(s).tensor);
        std::vector<HostTensor> outs(static_cast<std::size_t>(node.numOutputs()));
        std::vector<HostTensor*> outPtrs;
        for (auto& o : outs) outPtrs.push_back(&o);
        Status s = build.kernel->run(ins, outPtrs);
        if (!s.isOk()) return makeStatus(s.code(), "{}: {}", where, s.message());
        for (int i = 0; i < node.numOutputs(); ++i) {
            if (!node.output(i)) continue;
            TensorInfo& info = build.outputs[static_cast<std::size_t>(i)];
            info = TensorInfo::of(outs[static_cast<std::size_t>(i)]);
            info.constant = std::make_shared<const HostTensor>(outs[static_cast<std::size_t>(i)]);
        }
        return Status::ok();
    }

    const ir::Model& m_model;
    const ir::Graph& m_graph;
    const PlanOptions& m_options;
    Plan::Impl& m_impl;
    const KernelRegistry& m_registry;
    bool m_fuse = false;
    KernelOptions m_plainOptions, m_nativeOptions;
    std::unordered_map<const ir::Value*, int> m_slotOf;
    std::unordered_map<int, int> m_plainTwin;    // slot in a layout -> its plain conversion
    std::vector<const ir::Value*> m_valueOf;     // by slot: the value it holds (null: internal)
    std::unordered_set<const ir::Node*> m_done;  // compiled ahead of their turn, or taken
    std::unordered_map<ir::NodeId, PlannedNode> m_planned;
};

Plan::Plan(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Plan::Plan(Plan&&) noexcept = default;
Plan& Plan::operator=(Plan&&) noexcept = default;
Plan::~Plan() = default;

const std::vector<std::string>& Plan::inputNames() const {
    return m_impl->inputNames;
}
const std::vector<std::string>& Plan::outputNames() const {
    return m_impl->outputNames;
}
const TensorInfo& Plan::inputInfo(int i) const {
    return m_impl
        ->slots[static_cast<std::size_t>(m_impl->inputSlots.at(static_cast<std::size_t>(i)))]
        .info;
}
const TensorInfo& Plan::outputInfo(int i) const {
    return m_impl
        ->slots[static_cast<std::size_t>(m_impl->outputSlots.at(static_cast<std::size_t>(i)))]
        .info;
}
const std::vector<PlannedNode>& Plan::nodes() const {
    return m_impl->planned;
}
std::size_t Plan::numSteps() const {
    return m_impl->steps.size();
}

std::string Plan::describe() const {
    std::string text;
    for (const Impl::Step& step : m_impl->steps) text += step.label + "\n";
    return text;
}

Expected<Plan> Plan::compile(const ir::Model& model, const PlanOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->threads = options.threads;
    setComputeThreads(options.threads);
    Builder builder(model, options, *impl);
    WH_RETURN_IF_ERROR(builder.build());
    return Plan(std::move(impl));
}

Expected<std::vector<HostTensor>> Plan::run(const std::vector<HostTensor>& inputs) {
    Impl& m = *m_impl;
    if (inputs.size() != m.inputSlots.size())
        return error(StatusCode::kUsage, "the model takes {} inputs, {} given", m.inputSlots.size(),
                     inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        Impl::Slot& slot = m.slots[static_cast<std::size_t>(m.inputSlots[i])];
        const HostTensor& in = inputs[i];
        const TensorInfo& info = slot.info;
        bool ok = info.dtype == ir::DType::kUndefined || in.dtype() == info.dtype;
        if (ok && info.rankKnown) {
            ok = in.rank() == static_cast<int>(info.dims.size());
            for (int d = 0; ok && d < in.rank(); ++d)
                ok = info.dims[static_cast<std::size_t>(d)] < 0 ||
                     info.dims[static_cast<std::size_t>(d)] == in.dim(d);
        }
        if (!ok)
            return error(StatusCode::kBadInput,
                         "input '{}' is {}{}, the plan was compiled for {}{}", m.inputNames[i],
                         ir::dtypeName(in.dtype()), dimsToString(in.dims()),
                         ir::dtypeName(info.dtype), dimsToString(info.dims));
        slot.tensor = in;  // shares storage; kernels never write their inputs
    }
    setComputeThreads(m.threads);
    std::vector<const HostTensor*> ins;
    std::vector<HostTensor*> outs;
    for (Impl::Step& step : m.steps) {
        ins.clear();
        outs.clear();
        for (int s : step.inputs)
            ins.push_back(s < 0 ? nullptr : &m.slots[static_cast<std::size_t>(s)].tensor);
        for (int s : step.outputs)
            outs.push_back(s < 0 ? nullptr : &m.slots[static_cast<std::size_t>(s)].tensor);
        Status st = step.kernel->run(ins, outs);
        if (!st.isOk()) return error(st.code(), "{}: {}", step.where, st.message());
    }
    // No copy: the results share the slots' storage, and HostTensor::ensure() gives a kernel
    // fresh storage next run while the caller still holds it.
    std::vector<HostTensor> result;
    result.reserve(m.outputSlots.size());
    for (int s : m.outputSlots) result.push_back(m.slots[static_cast<std::size_t>(s)].tensor);
    return result;
}

}  // namespace wh::engine
