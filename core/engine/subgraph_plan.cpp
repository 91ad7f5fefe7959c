#include "core/engine/subgraph_plan.h"

#include <algorithm>
#include <unordered_set>

#include <fmt/format.h>

namespace wh::engine {

namespace {

// Adds to `out` the names `graph` and its nested subgraphs read that `graph` does not define.
void collectCaptures(const ir::Graph& graph, std::vector<std::string>& out,
                     std::unordered_set<std::string>& seen) {
    auto add = [&](const std::string& name) {
        if (seen.insert(name).second) out.push_back(name);
    };
    for (const ir::Node* node : graph.nodes()) {
        for (const ir::Value* v : node->inputs())
            if (v && v->isCapture()) add(v->name());
        for (const ir::Graph* sub : node->subgraphs()) {
            std::vector<std::string> inner;
            std::unordered_set<std::string> innerSeen;
            collectCaptures(*sub, inner, innerSeen);
            for (const std::string& name : inner) {
                const ir::Value* here = graph.findValue(name);
                // Defined here (not merely a capture of this graph too): not ours to pass on.
                if (here && !here->isCapture()) continue;
                add(name);
            }
        }
    }
    for (const ir::Value* v : graph.outputs())
        if (v->isCapture()) add(v->name());
}

ir::Type typeOf(const TensorInfo& info) {
    if (!info.rankKnown) return ir::Type::tensor(info.dtype);
    ir::Shape shape;
    for (int64_t d : info.dims) shape.dims.push_back(d >= 0 ? ir::Dim::known(d) : ir::Dim{});
    return ir::Type::tensor(info.dtype, std::move(shape));
}

// True when `t` fits what `info` says (dtype and every known dim).
bool fits(const TensorInfo& info, const HostTensor& t) {
    if (info.dtype != ir::DType::kUndefined && info.dtype != t.dtype()) return false;
    if (!info.rankKnown) return true;
    if (static_cast<int>(info.dims.size()) != t.rank()) return false;
    for (int d = 0; d < t.rank(); ++d)
        if (info.dims[static_cast<std::size_t>(d)] >= 0 &&
            info.dims[static_cast<std::size_t>(d)] != t.dim(d))
            return false;
    return true;
}

// Plans kept per body for shapes other than the first (a Loop-carried value that grows).
constexpr std::size_t kMaxRecompiled = 4;

}  // namespace

std::vector<std::string> capturedNames(const ir::Graph& graph) {
    std::vector<std::string> out;
    std::unordered_set<std::string> seen;
    collectCaptures(graph, out, seen);
    return out;
}

std::vector<std::string> capturedNames(const ir::Node& node) {
    std::vector<std::string> out;
    std::unordered_set<std::string> seen;
    for (const ir::Graph* sub : node.subgraphs())
        for (const std::string& name : capturedNames(*sub))
            if (seen.insert(name).second) out.push_back(name);
    return out;
}

struct SubgraphPlan::Impl {
    ir::Model model;  // the body as a standalone model, run-time captures as its inputs
    std::vector<TensorInfo> formal;
    std::vector<std::string> formalNames;
    std::vector<std::string> captureNames;
    std::vector<TensorInfo> captureInfos;
    PlanOptions options;
    std::string where;
    Plan plan;
    // Per plan input: >= 0 formal input i; < 0 capture -1 - i.
    std::vector<int> source;
    std::vector<TensorInfo> outputs;
    struct Variant {
        std::vector<Dims> key;
        Plan plan;
    };
    std::vector<Variant> variants;
    std::vector<HostTensor> feed;

    Impl(Plan p) : plan(std::move(p)) {}
};

SubgraphPlan::SubgraphPlan(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
SubgraphPlan::SubgraphPlan(SubgraphPlan&&) noexcept = default;
SubgraphPlan& SubgraphPlan::operator=(SubgraphPlan&&) noexcept = default;
SubgraphPlan::~SubgraphPlan() = default;

int SubgraphPlan::numInputs() const {
    return static_cast<int>(m_impl->formal.size());
}
int SubgraphPlan::numOutputs() const {
    return static_cast<int>(m_impl->outputs.size());
}
const TensorInfo& SubgraphPlan::outputInfo(int i) const {
    return m_impl->outputs.at(static_cast<std::size_t>(i));
}

Expected<SubgraphPlan> SubgraphPlan::compile(const ir::Graph& body, std::vector<TensorInfo> formal,
                                             std::span<const std::string> captureNames,
                                             std::span<const TensorInfo> captureInfos,
                                             const KernelOptions& options, std::string where) {
    if (formal.size() != body.inputs().size())
        return error(StatusCode::kBadInput, "{} has {} inputs, the operator gives it {}", where,
                     body.inputs().size(), formal.size());
    ir::Model model;
    if (options.model) {
        model.irVersion = options.model->irVersion;
        model.opsetImports = options.model->opsetImports;
    }
    model.graph = body.clone();
    ir::Graph& g = *model.graph;
    PlanOptions planOptions;
    planOptions.threads = options.threads;
    planOptions.registry = options.registry;
    if (!options.backends.empty()) planOptions.backends = options.backends;
    planOptions.job = options.job;
    // A nested plan stays plain and unfused when the enclosing one is (training, debugging).
    planOptions.fuse = options.nativeLayouts;

    std::vector<std::string> formalNames;
    for (std::size_t i = 0; i < formal.size(); ++i) {
        ir::Value* v = g.inputs()[i];
        formalNames.push_back(v->name());
        TensorInfo& info = formal[i];
        if (info.dtype == ir::DType::kUndefined) {
            info = TensorInfo::of(v->type);
            continue;
        }
        v->type = typeOf(info);
        if (info.rankKnown) planOptions.inputShapes[v->name()] = info.dims;
    }
    // The names the body reads from outside: constants become initializers, the rest inputs.
    std::vector<std::string> reads = capturedNames(body);
    std::vector<int> captureOfInput;
    for (const std::string& name : reads) {
        auto it = std::find(captureNames.begin(), captureNames.end(), name);
        if (it == captureNames.end())
            return error(StatusCode::kInternal, "{} reads '{}', which its node was not given",
                         where, name);
        const auto k = static_cast<std::size_t>(it - captureNames.begin());
        const TensorInfo& info = captureInfos[k];
        ir::Value* v = g.findValue(name);
        if (!v) {
            WH_ASSIGN_OR_RETURN(v, g.addValue(name));
        }
        if (info.constant) {
            g.setInitializer(v, info.constant->toIr(name));
            continue;
        }
        v->type = typeOf(info);
        if (info.rankKnown) planOptions.inputShapes[name] = info.dims;
        g.insertGraphInput(v);
    }

    auto plan = Plan::compile(model, planOptions);
    if (!plan) return error(plan.error().code(), "{}: {}", where, plan.error().message());
    auto impl = std::make_unique<Impl>(std::move(*plan));
    for (const std::string& name : impl->plan.inputNames()) {
        auto f = std::find(formalNames.begin(), formalNames.end(), name);
        if (f != formalNames.end()) {
            impl->source.push_back(static_cast<int>(f - formalNames.begin()));
            continue;
        }
        auto c = std::find(captureNames.begin(), captureNames.end(), name);
        if (c == captureNames.end())
            return error(StatusCode::kInternal, "{}: input '{}' has no source", where, name);
        impl->source.push_back(-1 - static_cast<int>(c - captureNames.begin()));
    }
    for (std::size_t i = 0; i < impl->plan.outputNames().size(); ++i)
        impl->outputs.push_back(impl->plan.outputInfo(static_cast<int>(i)));
    impl->model = std::move(model);
    impl->formal = std::move(formal);
    impl->formalNames = std::move(formalNames);
    impl->captureNames.assign(captureNames.begin(), captureNames.end());
    impl->captureInfos.assign(captureInfos.begin(), captureInfos.end());
    impl->options = std::move(planOptions);
    impl->where = std::move(where);
    return SubgraphPlan(std::move(impl));
}

Expected<std::vector<HostTensor>> SubgraphPlan::run(std::span<const HostTensor* const> formal,
                                                    std::span<const HostTensor* const> captures) {
    Impl& m = *m_impl;
    m.feed.clear();
    bool fitsFirst = true;
    for (std::size_t i = 0; i < m.source.size(); ++i) {
        const int s = m.source[i];
        const HostTensor* t = s >= 0 ? formal[static_cast<std::size_t>(s)]
                                     : captures[static_cast<std::size_t>(-1 - s)];
        if (!t)
            return error(StatusCode::kBadInput, "{}: input '{}' is missing", m.where,
                         m.plan.inputNames()[i]);
        if (!fits(m.plan.inputInfo(static_cast<int>(i)), *t)) fitsFirst = false;
        m.feed.push_back(*t);
    }
    Plan* plan = &m.plan;
    if (!fitsFirst) {
        // Shapes the first compilation ruled out: a plan for exactly these.
        std::vector<Dims> key;
        for (const HostTensor& t : m.feed) key.push_back(t.dims());
        auto it = std::find_if(m.variants.begin(), m.variants.end(),
                               [&](const Impl::Variant& v) { return v.key == key; });
        if (it == m.variants.end()) {
            PlanOptions options = m.options;
            for (std::size_t i = 0; i < key.size(); ++i)
                options.inputShapes[m.plan.inputNames()[i]] = key[i];
            ir::Model model = m.model.clone();
            for (std::size_t i = 0; i < key.size(); ++i) {
                ir::Value* v = model.graph->findValue(m.plan.inputNames()[i]);
                TensorInfo info = TensorInfo::of(m.feed[i]);
                v->type = typeOf(info);
            }
            auto compiled = Plan::compile(model, options);
            if (!compiled)
                return error(compiled.error().code(), "{}: {}", m.where,
                             compiled.error().message());
            if (m.variants.size() >= kMaxRecompiled) m.variants.erase(m.variants.begin());
            m.variants.push_back({std::move(key), std::move(*compiled)});
            it = std::prev(m.variants.end());
        }
        plan = &it->plan;
    }
    auto out = plan->run(m.feed);
    m.feed.clear();  // the captures' storage is the enclosing plan's
    if (!out) return error(out.error().code(), "{}: {}", m.where, out.error().message());
    return out;
}

}  // namespace wh::engine
