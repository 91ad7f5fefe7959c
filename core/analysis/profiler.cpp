#include "core/analysis/profiler.h"

#include <chrono>
#include <unordered_map>

#include <fmt/format.h>

#include "core/analysis/cost.h"
#include "core/engine/benchmark.h"
#include "core/engine/plan.h"
#include "core/engine/step_profiler.h"
#include "core/engine/threads.h"

namespace wh::analysis {

namespace {

using Clock = std::chrono::steady_clock;

// Times every step (engine::StepProfiler) and, while `recording`, notes what each step's root
// ran as: the element type of its first output and its backend.
class ProfilingObserver final : public engine::RunObserver {
public:
    struct StepFacts {
        ir::DType dtype = ir::DType::kUndefined;
        engine::Backend backend = engine::Backend::kReference;
    };

    engine::StepProfiler times;
    std::unordered_map<ir::NodeId, StepFacts> facts;
    bool recording = true;

    void stepBegin(const engine::StepEvent& step) override { times.stepBegin(step); }
    void stepEnd(const engine::StepEvent& step) override {
        times.stepEnd(step);
        if (!recording || step.nodes.empty()) return;
        StepFacts& f = facts[step.nodes.front()];
        f.backend = step.backend;
        if (!step.outputInfos.empty()) f.dtype = step.outputInfos.front().dtype;
    }
};

std::string precisionOf(ir::DType t) {
    switch (t) {
        case ir::DType::kFloat:
            return "fp32";
        case ir::DType::kFloat16:
            return "fp16";
        case ir::DType::kBFloat16:
            return "bf16";
        case ir::DType::kDouble:
            return "fp64";
        case ir::DType::kInt8:
        case ir::DType::kUInt8:
            return "int8";
        case ir::DType::kUndefined:
            return "?";
        default:
            return std::string(ir::dtypeName(t));
    }
}

bool isQdq(const std::string& op) {
    return op == "QuantizeLinear" || op == "DequantizeLinear" || op == "DynamicQuantizeLinear";
}

int64_t bytesOf(const engine::TensorInfo& info) {
    int64_t n = 1;
    for (int64_t d : info.dims) n *= d < 0 ? 0 : d;
    return n * static_cast<int64_t>(ir::dtypeSize(info.dtype));
}

}  // namespace

Expected<Profile> profileModel(const ir::Model& model, const ProfileOptions& options,
                               jobs::JobContext* job) {
    if (options.runs < 1 || options.warmup < 0 || options.batch < 1)
        return error(StatusCode::kUsage, "profile: runs must be >= 1, warmup >= 0, batch >= 1");
    for (const auto& [name, dims] : options.inputShapes) {
        const ir::Value* v = model.graph->findValue(name);
        if (!v || !v->isGraphInput() || v->hasInitializer())
            return error(StatusCode::kUsage, "the model has no input '{}' to shape", name);
    }
    if (job) job->setStage("compiling");
    WH_ASSIGN_OR_RETURN(std::vector<engine::HostTensor> inputs,
                        engine::randomInputs(model, options.batch, options.seed,
                                             options.inputShapes));
    engine::PlanOptions po;
    po.threads = options.threads;
    std::size_t k = 0;
    for (const ir::Value* v : model.graph->inputs())
        if (!v->hasInitializer()) po.inputShapes[v->name()] = inputs[k++].dims();
    ProfilingObserver observer;
    po.observer = &observer;
    WH_ASSIGN_OR_RETURN(engine::Plan plan, engine::Plan::compile(model, po));
    WH_ASSIGN_OR_RETURN(ModelCost cost,
                        modelCost(model, options.batch, po.inputShapes, options.threads));

    // Warm-up (the first run also records what each step ran as), then the timed runs.
    const int total = options.warmup + options.runs;
    double wall = 0;
    for (int i = 0; i < total; ++i) {
        if (job) WH_RETURN_IF_ERROR(job->checkCancelled());
        if (i == options.warmup) observer.times.clear();
        const auto t = Clock::now();
        WH_ASSIGN_OR_RETURN(auto out, plan.run(inputs));
        if (i >= options.warmup)
            wall += std::chrono::duration<double, std::milli>(Clock::now() - t).count();
        observer.recording = false;
        if (job) job->setProgress(static_cast<double>(i + 1) / total, "timing");
    }

    Profile p;
    p.batch = options.batch;
    p.threads = options.threads > 0 ? options.threads : engine::computeThreads();
    p.runs = options.runs;
    p.wallMs = wall / options.runs;
    p.flops = cost.flops;
    p.params = cost.params;
    const double perRun = 1e3 / options.runs;
    const auto inference = static_cast<std::size_t>(engine::Pass::kInference);
    p.conversionMs = observer.times.conversionSeconds()[inference] * perRun;
    p.stepMs = p.conversionMs;

    std::unordered_map<ir::NodeId, const NodeCost*> costs;
    for (const NodeCost& c : cost.nodes) costs[c.node] = &c;
    std::unordered_map<ir::NodeId, const engine::PlannedNode*> planned;
    for (const engine::PlannedNode& n : plan.nodes()) planned[n.id] = &n;
    const auto& timed = observer.times.nodes();

    const ir::Graph& g = *model.graph;
    for (const ir::Node* n : g.nodes()) {
        NodeProfile np;
        np.node = n->id();
        np.name = n->name;
        np.op = n->opType;
        for (int i = 0; i < n->numInputs(); ++i)
            if (const ir::Value* v = n->input(i); v && v->hasInitializer()) {
                const ir::Tensor& t = *v->initializer();
                np.weightBytes[std::string(ir::dtypeName(t.dtype))] +=
                    t.data ? static_cast<int64_t>(t.data->size()) : 0;
            }
        if (auto c = costs.find(n->id()); c != costs.end()) {
            np.flops = c->second->flops;
            np.params = c->second->params;
        }
        const engine::PlannedNode* pn = planned.count(n->id()) ? planned[n->id()] : nullptr;
        if (pn) {
            np.backend = pn->backend;
            for (const engine::TensorInfo& o : pn->outputs) np.activationBytes += bytesOf(o);
            np.fusedInto = pn->fusedInto;
        }
        if (auto t = timed.find(n->id()); t != timed.end()) {
            np.ms = t->second.seconds[inference] * perRun;
            np.steps = static_cast<int>(t->second.calls[inference] / options.runs);
            if (!np.fusedInto) np.fusedInto = t->second.fusedInto;
        }
        if (np.steps > 0) np.fusedInto.reset();  // it ran steps of its own
        if (np.fusedInto)
            if (const ir::Node* root = g.findNode(*np.fusedInto)) np.fusedIntoName = root->name;
        // What it ran as: its own step's, else its root's.
        const ir::NodeId factsOf = np.fusedInto.value_or(n->id());
        if (pn && pn->folded) {
            np.precision = "folded";
        } else if (isQdq(n->opType) && !np.fusedInto) {
            np.precision = "q/dq";
        } else if (auto f = observer.facts.find(factsOf); f != observer.facts.end()) {
            np.precision = precisionOf(f->second.dtype);
            np.backend = f->second.backend;
        } else {
            np.precision = "?";
        }
        p.stepMs += np.ms;
        p.nodes.push_back(std::move(np));
    }
    return p;
}

namespace {

std::string csvField(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::string weightBytesText(const std::map<std::string, int64_t>& bytes) {
    std::string out;
    for (const auto& [dtype, n] : bytes) out += fmt::format("{}{}:{}", out.empty() ? "" : " ", dtype, n);
    return out;
}

}  // namespace

std::string profileCsv(const Profile& p) {
    std::string out =
        "name,op,ms,steps,fused_into,backend,precision,flops,params,act_bytes,weight_bytes\n";
    for (const NodeProfile& n : p.nodes)
        out += fmt::format("{},{},{:.6f},{},{},{},{},{},{},{},{}\n", csvField(n.name),
                           csvField(n.op), n.ms, n.steps, csvField(n.fusedIntoName),
                           engine::backendName(n.backend), n.precision, n.flops, n.params,
                           n.activationBytes, csvField(weightBytesText(n.weightBytes)));
    return out;
}

}  // namespace wh::analysis
