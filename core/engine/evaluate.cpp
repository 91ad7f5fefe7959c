#include "core/engine/evaluate.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "core/engine/plan.h"
#include "core/engine/threads.h"
#include "core/util/rng.h"

namespace wh::engine {

namespace {

using SteadyClock = std::chrono::steady_clock;

double secondsSince(SteadyClock::time_point t) {
    return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

// The model's first fed input (not backed by an initializer).
const ir::Value* firstInput(const ir::Model& model) {
    for (const ir::Value* v : model.graph->inputs())
        if (!v->hasInitializer()) return v;
    return nullptr;
}

Dims dimsWithBatch(const ir::Value& v, int64_t batch) {
    Dims dims;
    if (v.type.shape)
        for (const ir::Dim& d : v.type.shape->dims) dims.push_back(d.isKnown() ? d.value : batch);
    return dims;
}

}  // namespace

Expected<EvalResult> evaluate(const ir::Model& model, const data::Dataset& dataset,
                              const EvalOptions& options, jobs::JobContext* job) {
    const ir::Value* input = firstInput(model);
    if (!input) return error(StatusCode::kBadInput, "the model has no input to feed");
    if (model.graph->outputs().empty())
        return error(StatusCode::kBadInput, "the model has no output");
    const int64_t total = options.limit > 0 ? std::min(options.limit, dataset.size()) : dataset.size();
    const Dims sample = dataset.sampleDims();
    const int64_t per = numElementsOf(sample);
    const auto start = SteadyClock::now();

    // One plan per batch size (the last batch is usually smaller).
    std::map<int64_t, Plan> plans;
    auto planFor = [&](int64_t batch) -> Expected<Plan*> {
        auto it = plans.find(batch);
        if (it != plans.end()) return &it->second;
        PlanOptions po;
        po.threads = options.threads;
        Dims dims{batch};
        dims.insert(dims.end(), sample.begin(), sample.end());
        const Dims declared = dimsWithBatch(*input, batch);
        if (!declared.empty() && declared.size() != dims.size())
            return error(StatusCode::kBadInput,
                         "input '{}' has rank {}, the dataset gives samples of rank {}",
                         input->name(), declared.size(), sample.size() + 1);
        for (std::size_t d = 1; d < declared.size(); ++d)
            if (declared[d] != dims[d])
                return error(StatusCode::kBadInput, "input '{}' expects {}, the dataset gives {}",
                             input->name(), dimsToString(declared), dimsToString(dims));
        po.inputShapes[input->name()] = dims;
        WH_ASSIGN_OR_RETURN(Plan plan, Plan::compile(model, po));
        if (plan.inputNames().size() != 1)
            return error(StatusCode::kUnsupported,
                         "evaluation feeds one input; the model takes {}", plan.inputNames().size());
        return &plans.emplace(batch, std::move(plan)).first->second;
    };

    EvalResult result;
    HostTensor images;
    std::vector<int64_t> labels;
    for (int64_t begin = 0; begin < total; begin += options.batch) {
        if (job) WH_RETURN_IF_ERROR(job->checkCancelled());
        const int64_t batch = std::min(options.batch, total - begin);
        Dims dims{batch};
        dims.insert(dims.end(), sample.begin(), sample.end());
        images.ensure(ir::DType::kFloat, dims);
        labels.resize(static_cast<std::size_t>(batch));
        for (int64_t i = 0; i < batch; ++i)
            labels[static_cast<std::size_t>(i)] = dataset.get(begin + i, images.data<float>() + i * per);
        WH_ASSIGN_OR_RETURN(Plan * plan, planFor(batch));
        WH_ASSIGN_OR_RETURN(std::vector<HostTensor> outputs, plan->run({images}));
        const HostTensor& logits = outputs.front();
        if (logits.dtype() != ir::DType::kFloat || logits.numElements() % batch != 0)
            return error(StatusCode::kBadInput, "output '{}' is {}{}, not float scores per sample",
                         plan->outputNames().front(), ir::dtypeName(logits.dtype()),
                         dimsToString(logits.dims()));
        const int64_t classes = logits.numElements() / batch;
        for (int64_t i = 0; i < batch; ++i) {
            const float* row = logits.data<float>() + i * classes;
            const int64_t predicted = std::max_element(row, row + classes) - row;
            result.correct += predicted == labels[static_cast<std::size_t>(i)];
        }
        result.samples += batch;
        if (job) job->setProgress(static_cast<double>(result.samples) / static_cast<double>(total),
                                  "evaluating");
    }
    result.accuracy = result.samples ? static_cast<double>(result.correct) / result.samples : 0.0;
    result.seconds = secondsSince(start);
    return result;
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
