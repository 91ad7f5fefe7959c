#include "core/algo/probe.h"

#include <algorithm>

#include "core/algo/quant/calibration.h"
#include "core/engine/benchmark.h"
#include "core/engine/plan.h"
#include "core/rewrite/rewriter.h"

namespace wh::algo {

struct ModelProbe::Impl {
    ir::Model model;
    ProbeOptions options;
    std::string inputName;
    std::size_t modelOutputs = 0;
    std::map<int64_t, engine::Plan> plans;
};

ModelProbe::ModelProbe(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
ModelProbe::ModelProbe(ModelProbe&&) noexcept = default;
ModelProbe& ModelProbe::operator=(ModelProbe&&) noexcept = default;
ModelProbe::~ModelProbe() = default;

std::size_t ModelProbe::modelOutputs() const { return m_impl->modelOutputs; }

Expected<ModelProbe> ModelProbe::create(const ir::Model& model,
                                        const std::vector<std::string>& tensors,
                                        const ProbeOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->model = model.clone();
    impl->options = options;
    ir::Graph& g = *impl->model.graph;
    for (const ir::Value* v : g.inputs())
        if (!v->hasInitializer()) {
            impl->inputName = v->name();
            break;
        }
    if (impl->inputName.empty()) return error(StatusCode::kBadInput, "the model has no input to feed");
    impl->modelOutputs = g.outputs().size();
    rewrite::Rewriter rw(g);
    for (const std::string& name : tensors) {
        ir::Value* v = g.findValue(name);
        if (!v) return error(StatusCode::kBadInput, "no tensor '{}' in the model", name);
        WH_RETURN_IF_ERROR(rw.addGraphOutput(*v));
    }
    return ModelProbe(std::move(impl));
}

Status ModelProbe::run(const data::Dataset& dataset, std::span<const int64_t> indices,
                       const ProbeSink& sink, jobs::JobContext* job, const std::string& stage) {
    Impl& m = *m_impl;
    const engine::Dims sample = dataset.sampleDims();
    const int64_t per = engine::numElementsOf(sample);
    const int64_t total = static_cast<int64_t>(indices.size());
    const int64_t batchSize = std::max<int64_t>(1, m.options.batch);
    engine::HostTensor images;
    std::vector<int64_t> labels;
    for (int64_t begin = 0; begin < total; begin += batchSize) {
        if (job) WH_RETURN_STATUS_IF_ERROR(job->checkCancelled());
        const int64_t batch = std::min(batchSize, total - begin);
        engine::Dims dims{batch};
        dims.insert(dims.end(), sample.begin(), sample.end());
        auto it = m.plans.find(batch);
        if (it == m.plans.end()) {
            engine::PlanOptions po;
            po.threads = m.options.threads;
            po.inputShapes = m.options.inputShapes;
            po.inputShapes[m.inputName] = dims;
            WH_ASSIGN_OR_RETURN_STATUS(engine::Plan plan, engine::Plan::compile(m.model, po));
            it = m.plans.emplace(batch, std::move(plan)).first;
        }
        images.ensure(ir::DType::kFloat, dims);
        labels.resize(static_cast<std::size_t>(batch));
        for (int64_t i = 0; i < batch; ++i)
            labels[static_cast<std::size_t>(i)] =
                dataset.get(indices[static_cast<std::size_t>(begin + i)],
                            images.data<float>() + i * per);
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<engine::HostTensor> outputs, it->second.run({images}));
        WH_RETURN_STATUS_IF_ERROR(sink(outputs, labels));
        if (job)
            job->setProgress(static_cast<double>(begin + batch) / static_cast<double>(total), stage);
    }
    return Status::ok();
}

std::vector<int64_t> calibrationIndices(const data::Dataset& dataset, int64_t count,
                                        uint64_t seed) {
    std::vector<int64_t> labels(static_cast<std::size_t>(dataset.size()));
    for (int64_t i = 0; i < dataset.size(); ++i) labels[static_cast<std::size_t>(i)] = dataset.label(i);
    return quant::balancedSampleIndices(labels, std::min(count, dataset.size()), seed);
}

}  // namespace wh::algo
