#include "core/engine/plan.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/engine/buffer_pool.h"
#include "core/engine/kernel_implementation.h"
#include "core/engine/lowering.h"
#include "core/engine/node_compiler.h"
#include "core/engine/subgraph_plan.h"
#include "core/engine/threads.h"
#include "core/jobs/job_context.h"

namespace wh::engine {

namespace {

// Longest chain of followers offered to a kernel (Conv + Add + activation needs two).
constexpr std::size_t kMaxFollowers = 3;

}  // namespace

struct Plan::Impl {
    struct Slot {
        TensorInfo info;
        HostTensor tensor;  // run-time value (or the constant)
        // The activation arena: a value computed at run time that the caller never sees goes
        // back to `pool` after `lastUse`, the last step reading or writing it, and the step
        // writing it next takes a buffer from there (`bytes`: what it needs, once known).
        bool activation = false;
        int lastUse = -1;
        std::size_t bytes = 0;
        bool view = false;  // the kernel writes a view of another tensor (Reshape): no buffer
    };
    struct Step {
        std::unique_ptr<Kernel> kernel;
        std::vector<int> inputs;        // slot index, -1 = omitted
        std::vector<int> outputs;       // slot index, -1 = omitted
        std::string where;              // the root node, for messages
        std::string label;              // what the step computes, for describe()
        std::vector<ir::NodeId> users;  // the user's nodes it computes (RunObserver)
        Backend backend = Backend::kReference;
        // Input `inPlace` and output 0 are one slot (the input dies here); -1: none.
        int inPlace = -1;
    };

    std::vector<Slot> slots;
    std::vector<Step> steps;
    std::vector<int> inputSlots, outputSlots;
    std::vector<std::string> inputNames, outputNames;
    std::vector<PlannedNode> planned;
    BufferPool pool;
    uint64_t run = 0;

    // After step i: learns what its outputs took, and gives the activations that die here
    // (read or written last by it) back to the pool. `pooled`: the buffer each output was
    // handed, null if none.
    void settle(std::size_t i, const std::vector<const void*>& pooled) {
        const Step& step = steps[i];
        for (std::size_t k = 0; k < step.outputs.size(); ++k) {
            if (step.outputs[k] < 0) continue;
            Slot& slot = slots[static_cast<std::size_t>(step.outputs[k])];
            if (!slot.activation || slot.tensor.empty()) continue;
            // Not the buffer it was handed, and shared: a view of its input from now on.
            if (pooled[k] && slot.tensor.raw() != pooled[k] && !slot.tensor.ownsStorageAlone())
                slot.view = true;
            slot.bytes = std::max(slot.bytes, slot.tensor.capacity());
        }
        for (const std::vector<int>* list : {&step.inputs, &step.outputs})
            for (int s : *list) {
                if (s < 0) continue;
                Slot& slot = slots[static_cast<std::size_t>(s)];
                if (slot.activation && slot.lastUse == static_cast<int>(i))
                    pool.recycle(slot.tensor, run);
            }
    }
    int threads = 0;
    RunObserver* observer = nullptr;
    const jobs::JobContext* job = nullptr;
};

/// Compiles one lowered graph into a Plan::Impl, node by node in graph (topological) order.
class Plan::Builder {
public:
    Builder(const ir::Model& user, const Lowered& lowered, const PlanOptions& options,
            Plan::Impl& impl)
        : m_user(user),
          m_lowered(lowered),
          m_model(lowered.model),
          m_graph(*lowered.model.graph),
          m_options(options),
          m_impl(impl),
          m_registry(options.registry ? *options.registry : KernelRegistry::builtin()) {
        m_fuse = options.fuse && !options.training;
        m_plainOptions.threads = options.threads;
        m_plainOptions.training = options.training;
        m_plainOptions.model = &m_model;
        m_plainOptions.registry = &m_registry;
        m_plainOptions.backends = options.backends;
        m_plainOptions.job = options.job;
        m_nativeOptions = m_plainOptions;
        m_nativeOptions.nativeLayouts = m_fuse;
        // Values subgraphs read: Value::uses() does not list those reads (the subgraph's own
        // capture value does), so such a value is never overwritten in place nor fused away.
        for (const ir::Node* node : m_graph.nodes())
            for (const std::string& name : capturedNames(*node))
                if (const ir::Value* v = m_graph.findValue(name)) m_captured.insert(v);
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
        planLifetimes();
        reportUserNodes();
        return Status::ok();
    }

private:
    // A follower and its input infos (Follower::inputs points into them).
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
        if (!v || v->isGraphInput() || v->isGraphOutput() || m_captured.count(v) ||
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
            Expected<HostTensor> t = error(StatusCode::kInternal, "not read");
            WH_RETURN_STATUS_IF_ERROR(
                catchMemoryErrors(fmt::format("initializer '{}'", v->name()), [&] {
                    t = HostTensor::fromIr(*v->initializer());
                    return Status::ok();
                }));
            if (!t) return t.error();
            newConstant(v, std::move(*t));
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

    // Infos and slots of a node's inputs, then of the values its subgraphs read from this
    // scope (subgraph_plan.h, capturedNames order); the first not defined yet, or null.
    const ir::Value* gatherInputs(const ir::Node& node, std::vector<TensorInfo>& infos,
                                  std::vector<int>& slots) {
        infos.clear();
        slots.clear();
        std::vector<const ir::Value*> reads(node.inputs().begin(), node.inputs().end());
        if (!node.subgraphs().empty())
            for (const std::string& name : capturedNames(node)) {
                const ir::Value* v = m_graph.findValue(name);
                if (!v) {
                    m_missingCapture = name;
                    return node.inputs().empty() ? nullptr : node.inputs().front();
                }
                reads.push_back(v);
            }
        for (const ir::Value* v : reads) {
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

    // Defines `v` now if a node without inputs makes it (a Constant that lowering could not
    // turn into an initializer, listed after its reader's producer): true if `v` has a slot.
    bool defineEarly(const ir::Value* v) {
        if (m_slotOf.count(v)) return true;
        const ir::Node* producer = v->producer();
        if (!producer || producer->numInputs() != 0 || m_done.count(producer)) return false;
        if (!compileNode(*producer).isOk()) return false;  // it fails again, in its turn
        m_done.insert(producer);
        return m_slotOf.count(v) > 0;
    }

    // The followers offered to `node`'s kernel (node_compiler.h), as far as their other
    // inputs are already computed, so the fused step can run where `node` stands.
    std::vector<Link> followers(const ir::Node& node) {
        std::vector<Link> chain;
        auto taken = [&](const ir::Node& n) { return m_done.count(&n) > 0; };
        for (const ChainLink& c : followerChain(node, m_registry, kMaxFollowers, taken)) {
            if (m_captured.count(c.node->input(c.link))) return chain;  // a subgraph reads it
            Link link{c.node, c.link, {}, {}};
            for (int i = 0; i < c.node->numInputs(); ++i) {
                const ir::Value* v = c.node->input(i);
                if (i == c.link || !v) {  // the link is not computed yet either
                    link.inputs.push_back({});
                    link.slots.push_back(-1);
                } else if (defineEarly(v)) {
                    const int s = m_slotOf.at(v);
                    link.inputs.push_back(slot(s).info);
                    link.slots.push_back(s);
                } else {
                    return chain;
                }
            }
            chain.push_back(std::move(link));
        }
        return chain;
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
        std::vector<TensorInfo> infos;
        std::vector<int> inSlots;
        m_missingCapture.clear();
        const ir::Value* missing = gatherInputs(node, infos, inSlots);
        if (missing || !m_missingCapture.empty())
            return makeStatus(StatusCode::kBadInput, "{} reads tensor '{}', which nothing defines",
                              nodeWhere(node),
                              m_missingCapture.empty() ? missing->name() : m_missingCapture);
        bool allConstant = true;
        for (std::size_t i = 0; i < infos.size(); ++i)
            if (inSlots[i] >= 0 && !infos[i].constant) allConstant = false;

        // Fusion only for nodes that run: a constant node is folded whole below.
        std::vector<Link> chain;
        if (m_fuse && !allConstant) chain = followers(node);
        std::vector<Follower> offered;
        for (const Link& l : chain)
            offered.push_back({*l.node, m_model.opsetVersion(l.node->domain), l.link, l.inputs});

        KernelContext ctx{node, m_model.opsetVersion(node.domain), infos,
                          allConstant ? m_plainOptions : m_nativeOptions, offered};
        Backend used = Backend::kReference;
        WH_ASSIGN_OR_RETURN_STATUS(KernelBuild build,
                                   selectKernel(m_registry, m_options.backends, ctx, &used));
        if (build.fused < 0 || build.fused > static_cast<int>(chain.size()))
            return makeStatus(StatusCode::kInternal, "{}: the kernel claims {} of {} followers",
                              nodeWhere(node), build.fused, chain.size());
        chain.resize(static_cast<std::size_t>(build.fused));
        // A kernel handed plain tensors writes plain ones unless it is a backend's own (oneDNN
        // picks its outputs' layouts). Reference factories that start their output's info as a
        // copy of the input's (Cast, Identity, ...) would otherwise claim the input's layout.
        if (used == Backend::kReference && !build.readsLayouts)
            for (TensorInfo& out : build.outputs) out.layout.reset();

        // The nodes this step computes, in order; it writes the last one's outputs.
        std::vector<const ir::Node*> members{&node};
        for (const Link& l : chain) members.push_back(l.node);
        const ir::Node& last = *members.back();
        if (build.outputs.size() < static_cast<std::size_t>(last.numOutputs()))
            build.outputs.resize(static_cast<std::size_t>(last.numOutputs()));
        for (const ir::Node* m : members) {
            PlannedNode planned{m->id(), m->name, m->opType, used, false, build.outputs, {}};
            if (m != &node) planned.fusedInto = node.id();
            m_planned[m->id()] = std::move(planned);
        }
        for (std::size_t k = 1; k < members.size(); ++k) m_done.insert(members[k]);

        bool outputsConstant = true;
        for (int i = 0; i < node.numOutputs(); ++i)
            if (node.output(i) && !build.outputs[static_cast<std::size_t>(i)].constant)
                outputsConstant = false;
        const bool fold = members.size() == 1 && !outputsConstant && allConstant &&
                          !isNondeterministic(node, m_options.training);
        if (fold) {
            std::vector<const HostTensor*> ins;
            for (int s : inSlots) ins.push_back(s < 0 ? nullptr : &slot(s).tensor);
            WH_RETURN_STATUS_IF_ERROR(foldNow(node, ins, build));
        }
        if (fold || (outputsConstant && members.size() == 1)) {
            PlannedNode& planned = m_planned[node.id()];
            planned.folded = true;
            planned.outputs = build.outputs;
            for (int i = 0; i < node.numOutputs(); ++i)
                if (const ir::Value* v = node.output(i))
                    newConstant(v, *build.outputs[static_cast<std::size_t>(i)].constant);
            return Status::ok();
        }

        std::vector<int> stepInputs = std::move(inSlots);
        for (const Link& l : chain)
            for (std::size_t i = 0; i < l.slots.size(); ++i)
                if (static_cast<int>(i) != l.link) stepInputs.push_back(l.slots[i]);
        addStep(members, used, std::move(build), std::move(stepInputs));
        return Status::ok();
    }

    // Appends the run-time step computing `members` (a root and the nodes it took over).
    void addStep(const std::vector<const ir::Node*>& members, Backend used, KernelBuild build,
                 std::vector<int> inputs) {
        Plan::Impl::Step step;
        step.kernel = std::move(build.kernel);
        step.inputs = std::move(inputs);
        if (!build.readsLayouts)
            for (int& s : step.inputs) s = plainSlot(s);
        step.where = nodeWhere(*members.front());
        step.backend = used;
        std::vector<std::string> names;
        for (const ir::Node* m : members) {
            std::vector<std::string> of;
            for (ir::NodeId u : m_lowered.usersOf(m->id())) {
                // A node lowering added without replacing any is named as it is.
                const ir::Node* un = m_user.graph->findNode(u);
                if (un) step.users.push_back(u);
                of.push_back(
                    fmt::format("{} '{}'", (un ? un : m)->opType, (un ? un : m)->displayName()));
            }
            // A node lowering made of other operators (an int8 QConv of a QDQ group) is named
            // with them: "QConv(Conv 'c1' + Relu 'r1' + ...)".
            const ir::Node* origin = m_user.graph->findNode(m_lowered.origin(m->id()));
            if (origin && origin->opType != m->opType)
                names.push_back(fmt::format("{}({})", m->opType, fmt::join(of, " + ")));
            else
                names.insert(names.end(), of.begin(), of.end());
        }
        std::vector<std::string> outs;
        const ir::Node& last = *members.back();
        // Output 0 takes over the storage of an input that dies here: the one the kernel
        // accumulates into (a residual Add as a sum post-op), or input 0 of an operator that
        // may overwrite its input (OpTraits::inPlace, same dtype, dims and plain layout).
        int reused = -1;
        if (build.accumulatesInto >= 0 && last.output(0)) {
            reused = build.accumulatesInto;
        } else if (members.size() == 1 && m_registry.traits(last).inPlace && last.output(0) &&
                   !step.inputs.empty() && step.inputs[0] >= 0) {
            const TensorInfo& in0 = slot(step.inputs[0]).info;
            const TensorInfo& out0 = build.outputs.front();
            if (in0.dtype == out0.dtype && in0.rankKnown && out0.rankKnown &&
                in0.dims == out0.dims && !in0.layout && !out0.layout)
                reused = 0;
        }
        if (reused >= 0) {
            const int s = step.inputs.at(static_cast<std::size_t>(reused));
            if (s >= 0 && std::count(step.inputs.begin(), step.inputs.end(), s) == 1 &&
                isLastRead(s))
                step.inPlace = reused;
        }
        for (int i = 0; i < last.numOutputs(); ++i) {
            const ir::Value* v = last.output(i);
            const TensorInfo& info = build.outputs[static_cast<std::size_t>(i)];
            if (i == 0 && step.inPlace >= 0) {
                const int s = step.inputs[static_cast<std::size_t>(step.inPlace)];
                slot(s).info = info;
                m_valueOf[static_cast<std::size_t>(s)] = v;
                m_slotOf[v] = s;
                m_plainTwin.erase(s);  // it converted the value that dies here
                step.outputs.push_back(s);
            } else {
                step.outputs.push_back(v ? newSlot(v, info) : -1);
            }
            // The element type when it is not float32 (the precision of an int8 step).
            if (v)
                outs.push_back(fmt::format(
                    "{}{} {}",
                    info.dtype == ir::DType::kFloat || info.dtype == ir::DType::kUndefined
                        ? std::string()
                        : std::string(ir::dtypeName(info.dtype)) + " ",
                    dimsToString(info.dims), info.layout ? info.layout->name() : "plain"));
        }
        const auto* described = dynamic_cast<const KernelImplementation*>(step.kernel.get());
        const std::string impl = described ? described->implementation() : std::string();
        step.label = fmt::format("{} [{}{}] -> {}{}", fmt::join(names, " + "), backendName(used),
                                 impl.empty() ? "" : " " + impl, fmt::join(outs, ", "),
                                 step.inPlace >= 0 ? " (in place)" : "");
        m_impl.steps.push_back(std::move(step));
    }

    // The arena's plan: which slots are activations, the step after which each is free, and
    // the bytes it needs where compile time knows its shape.
    void planLifetimes() {
        std::vector<Plan::Impl::Slot>& slots = m_impl.slots;
        for (std::size_t i = 0; i < m_impl.steps.size(); ++i) {
            const Plan::Impl::Step& step = m_impl.steps[i];
            for (const std::vector<int>* list : {&step.inputs, &step.outputs})
                for (int s : *list)
                    if (s >= 0) slots[static_cast<std::size_t>(s)].lastUse = static_cast<int>(i);
        }
        std::unordered_set<int> kept(m_impl.inputSlots.begin(), m_impl.inputSlots.end());
        kept.insert(m_impl.outputSlots.begin(), m_impl.outputSlots.end());
        for (std::size_t s = 0; s < slots.size(); ++s) {
            Plan::Impl::Slot& slot = slots[s];
            slot.activation =
                !slot.info.constant && slot.lastUse >= 0 && !kept.count(static_cast<int>(s));
            if (!slot.activation || slot.info.dtype == ir::DType::kString ||
                !slot.info.shapeKnown())
                continue;
            if (slot.info.layout)
                slot.bytes = slot.info.layout->byteSize();
            else if (auto bytes = checkedByteSizeOf(slot.info.dtype, slot.info.dims))
                slot.bytes = *bytes;
        }
    }

    // Plan::nodes(): one entry per node of the user's graph, in its order. A node lowering
    // merged into another (a BatchNormalization folded into its Conv) is fused into the node
    // that one stands for; one lowering made constant (a Constant node) is folded.
    void reportUserNodes() {
        std::unordered_map<ir::NodeId, const PlannedNode*> byUser;
        std::unordered_map<ir::NodeId, ir::NodeId> rootOf;  // user node -> user node it is in
        for (const auto& [id, planned] : m_planned) {
            const std::vector<ir::NodeId> users = m_lowered.usersOf(id);
            const ir::NodeId into =
                planned.fusedInto ? m_lowered.origin(*planned.fusedInto) : users.front();
            for (std::size_t k = 0; k < users.size(); ++k) {
                byUser[users[k]] = &planned;
                if (k > 0 || planned.fusedInto) rootOf[users[k]] = into;
            }
        }
        for (const ir::Node* node : m_user.graph->nodes()) {
            PlannedNode entry{node->id(), node->name, node->opType, Backend::kReference, true,
                              {},         {}};
            if (auto it = byUser.find(node->id()); it != byUser.end()) {
                entry.backend = it->second->backend;
                entry.folded = it->second->folded;
                entry.outputs = it->second->outputs;
                if (auto r = rootOf.find(node->id()); r != rootOf.end())
                    entry.fusedInto = r->second;
            } else {  // lowered to constant data: its outputs are initializers now
                for (const ir::Value* v : node->outputs()) {
                    const ir::Value* lv = v ? m_graph.findValue(v->name()) : nullptr;
                    auto s = lv ? m_slotOf.find(lv) : m_slotOf.end();
                    entry.outputs.push_back(s == m_slotOf.end() ? TensorInfo{}
                                                                : slot(s->second).info);
                }
            }
            m_impl.planned.push_back(std::move(entry));
        }
    }

    const ir::Model& m_user;
    const Lowered& m_lowered;
    const ir::Model& m_model;  // the lowered one
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
    std::unordered_set<const ir::Value*> m_captured;  // read by a subgraph
    std::string m_missingCapture;
    std::unordered_map<ir::NodeId, PlannedNode> m_planned;  // by lowered node
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
    impl->observer = options.observer;
    impl->job = options.job;
    LoweringOptions lowering;
    lowering.foldConstants = options.fuse && !options.training;
    lowering.foldBatchNorm = options.fuse && !options.training;
    lowering.quantizedOps = options.fuse && !options.training;
    lowering.transformerOps = options.fuse && !options.training;
    lowering.patterns = options.lowering;
    WH_ASSIGN_OR_RETURN(Lowered lowered, lower(model, lowering));
    Builder builder(model, lowered, options, *impl);
    // Steps that allocate report their node themselves; this catches the rest (bookkeeping).
    WH_RETURN_IF_ERROR(catchMemoryErrors("compiling the plan", [&] { return builder.build(); }));
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
    ++m.run;
    std::vector<const HostTensor*> ins;
    std::vector<HostTensor*> outs;
    std::vector<TensorInfo> outInfos;
    std::vector<const void*> pooled;
    for (std::size_t i = 0; i < m.steps.size(); ++i) {
        if (m.job && m.job->isCancelled())
            return error(StatusCode::kCancelled, "cancelled before {}", m.steps[i].where);
        Impl::Step& step = m.steps[i];
        ins.clear();
        outs.clear();
        for (int s : step.inputs)
            ins.push_back(s < 0 ? nullptr : &m.slots[static_cast<std::size_t>(s)].tensor);
        pooled.clear();
        for (int s : step.outputs) {
            Impl::Slot* slot = s < 0 ? nullptr : &m.slots[static_cast<std::size_t>(s)];
            if (slot && slot->activation && slot->tensor.empty() && !slot->view)
                slot->tensor = m.pool.acquire(slot->bytes);
            pooled.push_back(slot && !slot->tensor.empty() ? slot->tensor.raw() : nullptr);
            outs.push_back(slot ? &slot->tensor : nullptr);
        }
        HostTensor alias;
        if (step.inPlace >= 0 && !outs[0]->ownsStorageAlone()) {
            // A view shares the storage: the kernel reads it through another tensor and
            // writes fresh storage (HostTensor::ensure() never writes shared storage).
            alias = *outs[0];
            ins[static_cast<std::size_t>(step.inPlace)] = &alias;
        }
        StepEvent event;
        if (m.observer) {
            event.index = static_cast<int>(i);
            event.nodes = step.users;
            event.label = step.label;
            event.backend = step.backend;
            m.observer->stepBegin(event);
        }
        // A tensor the model sizes at run time may be refused (MemoryLimitError) or fail to
        // allocate: that is bad input, reported at the step that asked.
        Status st = catchMemoryErrors(step.where, [&] {
            Status s = step.kernel->run(ins, outs);
            return s.isOk() ? s : makeStatus(s.code(), "{}: {}", step.where, s.message());
        });
        if (!st.isOk()) return tl::unexpected(st);
        if (m.observer) {
            outInfos.clear();
            for (int s : step.outputs)
                outInfos.push_back(s < 0 ? TensorInfo{}
                                         : m.slots[static_cast<std::size_t>(s)].info);
            event.outputs = outs;
            event.outputInfos = outInfos;
            m.observer->stepEnd(event);
        }
        m.settle(i, pooled);
    }
    m.pool.trim(m.run);  // buffers this run did not take (another batch size's)
    // No copy: the results share the slots' storage, and HostTensor::ensure() gives a kernel
    // fresh storage next run while the caller still holds it.
    std::vector<HostTensor> result;
    result.reserve(m.outputSlots.size());
    for (int s : m.outputSlots) result.push_back(m.slots[static_cast<std::size_t>(s)].tensor);
    return result;
}

}  // namespace wh::engine
