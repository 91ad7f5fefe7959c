#include "core/analysis/accuracy.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "core/engine/benchmark.h"
#include "core/engine/plan.h"

namespace wh::analysis {

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

}  // namespace

Expected<AccuracyResult> evaluateAccuracy(const ir::Model& model, const data::Dataset& dataset,
                                          const AccuracyOptions& options, jobs::JobContext* job) {
    const ir::Value* input = firstInput(model);
    if (!input) return error(StatusCode::kBadInput, "the model has no input to feed");
    if (model.graph->outputs().empty())
        return error(StatusCode::kBadInput, "the model has no output");
    const int64_t total =
        options.limit > 0 ? std::min(options.limit, dataset.size()) : dataset.size();
    const engine::Dims sample = dataset.sampleDims();
    const int64_t per = engine::numElementsOf(sample);
    const auto start = SteadyClock::now();

    // One plan per batch size (the last batch is usually smaller).
    std::map<int64_t, engine::Plan> plans;
    auto planFor = [&](int64_t batch) -> Expected<engine::Plan*> {
        auto it = plans.find(batch);
        if (it != plans.end()) return &it->second;
        engine::PlanOptions po;
        po.threads = options.threads;
        engine::Dims dims{batch};
        dims.insert(dims.end(), sample.begin(), sample.end());
        const engine::Dims declared = engine::dimsWithBatch(*input, batch);
        if (!declared.empty() && declared.size() != dims.size())
            return error(StatusCode::kBadInput,
                         "input '{}' has rank {}, the dataset gives samples of rank {}",
                         input->name(), declared.size(), sample.size() + 1);
        // Known dims must match; symbolic ones (an image size) take the dataset's.
        for (std::size_t d = 1; d < declared.size(); ++d)
            if (input->type.shape->dims[d].isKnown() && declared[d] != dims[d])
                return error(StatusCode::kBadInput, "input '{}' expects {}, the dataset gives {}",
                             input->name(), engine::dimsToString(declared),
                             engine::dimsToString(dims));
        po.inputShapes = options.inputShapes;
        if (auto given = options.inputShapes.find(input->name());
            given != options.inputShapes.end()) {
            const engine::Dims& g = given->second;
            if (g.size() != dims.size() || !std::equal(g.begin() + 1, g.end(), dims.begin() + 1))
                return error(StatusCode::kBadInput,
                             "input '{}': the shape given is {}, the dataset gives {}",
                             input->name(), engine::dimsToString(g), engine::dimsToString(dims));
        }
        po.inputShapes[input->name()] = dims;
        WH_ASSIGN_OR_RETURN(engine::Plan plan, engine::Plan::compile(model, po));
        if (plan.inputNames().size() != 1)
            return error(StatusCode::kUnsupported, "evaluation feeds one input; the model takes {}",
                         plan.inputNames().size());
        return &plans.emplace(batch, std::move(plan)).first->second;
    };

    AccuracyResult result;
    engine::HostTensor images;
    std::vector<int64_t> labels;
    for (int64_t begin = 0; begin < total; begin += options.batch) {
        if (job) WH_RETURN_IF_ERROR(job->checkCancelled());
        const int64_t batch = std::min(options.batch, total - begin);
        engine::Dims dims{batch};
        dims.insert(dims.end(), sample.begin(), sample.end());
        images.ensure(ir::DType::kFloat, dims);
        labels.resize(static_cast<std::size_t>(batch));
        for (int64_t i = 0; i < batch; ++i)
            labels[static_cast<std::size_t>(i)] =
                dataset.get(begin + i, images.data<float>() + i * per);
        WH_ASSIGN_OR_RETURN(engine::Plan * plan, planFor(batch));
        WH_ASSIGN_OR_RETURN(std::vector<engine::HostTensor> outputs, plan->run({images}));
        const engine::HostTensor& logits = outputs.front();
        if (logits.dtype() != ir::DType::kFloat || logits.numElements() % batch != 0)
            return error(StatusCode::kBadInput, "output '{}' is {}{}, not float scores per sample",
                         plan->outputNames().front(), ir::dtypeName(logits.dtype()),
                         engine::dimsToString(logits.dims()));
        const int64_t classes = logits.numElements() / batch;
        for (int64_t i = 0; i < batch; ++i) {
            const float* row = logits.data<float>() + i * classes;
            const int64_t predicted = std::max_element(row, row + classes) - row;
            result.correct += predicted == labels[static_cast<std::size_t>(i)];
        }
        result.samples += batch;
        if (job)
            job->setProgress(static_cast<double>(result.samples) / static_cast<double>(total),
                             "evaluating");
    }
    result.accuracy = result.samples ? static_cast<double>(result.correct) / result.samples : 0.0;
    result.seconds = secondsSince(start);
    return result;
}

}  // namespace wh::analysis
