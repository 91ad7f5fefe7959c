#include "core/engine/plan.h"

#include <unordered_map>

#include <fmt/format.h>

#include "core/engine/threads.h"

namespace wh::engine {

namespace {

// Operators whose result differs between runs: never folded at compile time.
bool isNondeterministic(std::string_view op) {
    return op == "RandomNormal" || op == "RandomUniform" || op == "RandomNormalLike" ||
           op == "RandomUniformLike" || op == "Multinomial" || op == "Bernoulli";
}

TensorInfo infoFromType(const ir::Type& type, const Dims* given) {
    TensorInfo info;
    info.dtype = type.kind == ir::Type::Kind::kTensor ? type.elemType : ir::DType::kUndefined;
    if (given) {
        info.dims = *given;
        return info;
    }
    if (!type.shape) {
        info.rankKnown = false;
        return info;
    }
    for (const ir::Dim& d : type.shape->dims) info.dims.push_back(d.isKnown() ? d.value : -1);
    return info;
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
        std::string where;
    };

    std::vector<Slot> slots;
    std::vector<Step> steps;
    std::vector<int> inputSlots, outputSlots;
    std::vector<std::string> inputNames, outputNames;
    std::vector<PlannedNode> planned;
    int threads = 0;
};

Plan::Plan(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Plan::Plan(Plan&&) noexcept = default;
Plan& Plan::operator=(Plan&&) noexcept = default;
Plan::~Plan() = default;

const std::vector<std::string>& Plan::inputNames() const { return m_impl->inputNames; }
const std::vector<std::string>& Plan::outputNames() const { return m_impl->outputNames; }
const TensorInfo& Plan::inputInfo(int i) const {
    return m_impl->slots[static_cast<std::size_t>(m_impl->inputSlots.at(static_cast<std::size_t>(i)))].info;
}
const TensorInfo& Plan::outputInfo(int i) const {
    return m_impl->slots[static_cast<std::size_t>(m_impl->outputSlots.at(static_cast<std::size_t>(i)))].info;
}
const std::vector<PlannedNode>& Plan::nodes() const { return m_impl->planned; }

Expected<Plan> Plan::compile(const ir::Model& model, const PlanOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->threads = options.threads;
    setComputeThreads(options.threads);
    const KernelRegistry& registry = options.registry ? *options.registry : KernelRegistry::builtin();
    const ir::Graph& g = *model.graph;
    std::unordered_map<const ir::Value*, int> slotOf;
    slotOf.reserve(g.numValues());
    auto newSlot = [&](const ir::Value* v, TensorInfo info) {
        impl->slots.push_back({std::move(info), {}});
        const int s = static_cast<int>(impl->slots.size()) - 1;
        slotOf[v] = s;
        return s;
    };
    auto makeConstant = [&](const ir::Value* v, HostTensor t) {
        TensorInfo info = TensorInfo::of(t);
        info.constant = std::make_shared<const HostTensor>(t);
        const int s = newSlot(v, std::move(info));
        impl->slots[static_cast<std::size_t>(s)].tensor = std::move(t);
    };

    for (const ir::Value* v : g.initializers()) {
        if (v->isGraphInput()) continue;  // an overridable default: treated as an input below
        WH_ASSIGN_OR_RETURN(HostTensor t, HostTensor::fromIr(*v->initializer()));
        makeConstant(v, std::move(t));
    }
    for (const ir::Value* v : g.inputs()) {
        auto given = options.inputShapes.find(v->name());
        TensorInfo info = infoFromType(v->type, given == options.inputShapes.end()
                                                     ? nullptr
                                                     : &given->second);
        if (info.dtype == ir::DType::kUndefined && v->hasInitializer())
            info.dtype = v->initializer()->dtype;
        const int s = newSlot(v, std::move(info));
        impl->inputSlots.push_back(s);
        impl->inputNames.push_back(v->name());
    }

    KernelOptions kernelOptions;
    kernelOptions.threads = options.threads;
    kernelOptions.training = options.training;
    std::vector<TensorInfo> inputInfos;
    for (const ir::Node* node : g.nodes()) {
        const std::string where = fmt::format("node '{}' ({})", node->displayName(), node->opType);
        inputInfos.clear();
        std::vector<int> inSlots;
        bool allConstant = true;
        for (const ir::Value* v : node->inputs()) {
            if (!v) {
                inputInfos.push_back({});
                inSlots.push_back(-1);
                continue;
            }
            auto it = slotOf.find(v);
            if (it == slotOf.end())
                return error(StatusCode::kBadInput, "{} reads tensor '{}', which nothing defines",
                             where, v->name());
            const TensorInfo& info = impl->slots[static_cast<std::size_t>(it->second)].info;
            inputInfos.push_back(info);
            inSlots.push_back(it->second);
            allConstant = allConstant && info.constant;
        }
        const int64_t opset = model.opsetVersion(node->domain);
        KernelContext ctx{*node, opset, inputInfos, kernelOptions};
        Expected<KernelBuild> build = error(StatusCode::kUnsupported, "");
        Backend used = Backend::kReference;
        bool found = false;
        for (Backend backend : options.backends) {
            const KernelFactory* factory =
                registry.find(node->domain, node->opType, opset, backend);
            if (!factory) continue;
            found = true;
            build = (*factory)(ctx);
            used = backend;
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

        PlannedNode planned{node->id(), node->name, node->opType, used, false, build->outputs};
        bool outputsConstant = true;
        for (int i = 0; i < node->numOutputs(); ++i)
            if (node->output(i) && !build->outputs[static_cast<std::size_t>(i)].constant)
                outputsConstant = false;
        const bool fold = !outputsConstant && allConstant && !isNondeterministic(node->opType) &&
                          !(options.training && node->opType == "Dropout");
        if (fold) {
            // Every input is known: compute now, keep the results as constants.
            std::vector<const HostTensor*> ins;
            for (int s : inSlots)
                ins.push_back(s < 0 ? nullptr : &impl->slots[static_cast<std::size_t>(s)].tensor);
            std::vector<HostTensor> outs(static_cast<std::size_t>(node->numOutputs()));
            std::vector<HostTensor*> outPtrs;
            for (auto& o : outs) outPtrs.push_back(&o);
            Status s = build->kernel->run(ins, outPtrs);
            if (!s.isOk()) return error(s.code(), "{}: {}", where, s.message());
            for (int i = 0; i < node->numOutputs(); ++i) {
                if (!node->output(i)) continue;
                build->outputs[static_cast<std::size_t>(i)] =
                    TensorInfo::of(outs[static_cast<std::size_t>(i)]);
                build->outputs[static_cast<std::size_t>(i)].constant =
                    std::make_shared<const HostTensor>(outs[static_cast<std::size_t>(i)]);
            }
            outputsConstant = true;
        }
        if (outputsConstant) {
            planned.folded = true;
            for (int i = 0; i < node->numOutputs(); ++i) {
                const ir::Value* v = node->output(i);
                if (!v) continue;
                const auto& c = build->outputs[static_cast<std::size_t>(i)].constant;
                makeConstant(v, *c);
            }
            planned.outputs = build->outputs;
            impl->planned.push_back(std::move(planned));
            continue;
        }
        Impl::Step step;
        step.kernel = std::move(build->kernel);
        step.inputs = std::move(inSlots);
        step.where = where;
        for (int i = 0; i < node->numOutputs(); ++i) {
            const ir::Value* v = node->output(i);
            step.outputs.push_back(v ? newSlot(v, build->outputs[static_cast<std::size_t>(i)]) : -1);
        }
        impl->steps.push_back(std::move(step));
        impl->planned.push_back(std::move(planned));
    }

    for (const ir::Value* v : g.outputs()) {
        auto it = slotOf.find(v);
        if (it == slotOf.end())
            return error(StatusCode::kBadInput, "graph output '{}' is never produced", v->name());
        impl->outputSlots.push_back(it->second);
        impl->outputNames.push_back(v->name());
    }
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
    std::vector<HostTensor> result;
    result.reserve(m.outputSlots.size());
    // Outputs are copied: the next run() reuses the slots' storage.
    for (int s : m.outputSlots) result.push_back(m.slots[static_cast<std::size_t>(s)].tensor.clone());
    return result;
}

}  // namespace wh::engine
