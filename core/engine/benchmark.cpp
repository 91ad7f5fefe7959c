#include "core/engine/benchmark.h"

#include <algorithm>
#include <chrono>

#include "core/engine/plan.h"
#include "core/engine/threads.h"
#include "core/util/rng.h"

namespace wh::engine {

namespace {

using SteadyClock = std::chrono::steady_clock;

double secondsSince(SteadyClock::time_point t) {
    return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

}  // namespace

Dims dimsWithBatch(const ir::Value& value, int64_t batch) {
    Dims dims;
    if (value.type.shape)
        for (const ir::Dim& d : value.type.shape->dims)
            dims.push_back(d.isKnown() ? d.value : batch);
    return dims;
}

Expected<std::vector<HostTensor>> randomInputs(const ir::Model& model, int64_t batch,
                                               uint64_t seed) {
    Rng rng(seed);
    std::vector<HostTensor> inputs;
    for (const ir::Value* v : model.graph->inputs()) {
        if (v->hasInitializer()) continue;
        if (!v->type.isTensor() || !v->type.shape)
            return error(StatusCode::kUnsupported, "input '{}' has no tensor shape to fill",
                         v->name());
        HostTensor t(v->type.elemType, dimsWithBatch(*v, batch));
        if (t.dtype() == ir::DType::kFloat)
            for (float& x : t.span<float>()) x = static_cast<float>(rng.uniform() * 2.0 - 1.0);
        inputs.push_back(std::move(t));
    }
    return inputs;
}

Expected<BenchResult> benchmark(const ir::Model& model, const BenchOptions& options,
                                jobs::JobContext* job) {
    WH_ASSIGN_OR_RETURN(std::vector<HostTensor> inputs,
                        randomInputs(model, options.batch, options.seed));
    PlanOptions po;
    po.threads = options.threads;
    std::size_t k = 0;
    for (const ir::Value* v : model.graph->inputs())
        if (!v->hasInitializer()) po.inputShapes[v->name()] = inputs[k++].dims();
    WH_ASSIGN_OR_RETURN(Plan plan, Plan::compile(model, po));
    const int total = options.warmup + options.iterations;
    std::vector<double> times;
    times.reserve(static_cast<std::size_t>(options.iterations));
    for (int i = 0; i < total; ++i) {
        if (job) WH_RETURN_IF_ERROR(job->checkCancelled());
        const auto t = SteadyClock::now();
        WH_ASSIGN_OR_RETURN(auto out, plan.run(inputs));
        if (i >= options.warmup) times.push_back(secondsSince(t) * 1e3);
        if (job) job->setProgress(static_cast<double>(i + 1) / total, "timing");
    }
    BenchResult r;
    r.batch = options.batch;
    r.threads = options.threads > 0 ? options.threads : computeThreads();
    if (times.empty()) return r;
    std::sort(times.begin(), times.end());
    r.p50Ms = times[times.size() / 2];
    r.minMs = times.front();
    double sum = 0;
    for (double t : times) sum += t;
    r.meanMs = sum / static_cast<double>(times.size());
    return r;
}

}  // namespace wh::engine
