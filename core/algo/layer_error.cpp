#include "core/algo/layer_error.h"

#include <cmath>
#include <limits>
#include <unordered_map>

namespace wh::algo {

data::Normalization datasetNormalization(const std::string& name, int channels) {
    if (name == "fashion-mnist") return data::Normalization::fashionMnist();
    if (channels == 3 && name.starts_with("folder:"))
        return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
    return {};
}

Expected<std::shared_ptr<data::Dataset>> openDatasetFor(const ir::Model& model,
                                                        const std::string& name,
                                                        const std::string& split,
                                                        const std::filesystem::path& dataDir,
                                                        const std::vector<float>& mean,
                                                        const std::vector<float>& std) {
    int channels = 1, height = 28, width = 28;
    for (const ir::Value* v : model.graph->inputs()) {
        if (v->hasInitializer()) continue;
        const std::optional<ir::Shape>& shape = v->type.shape;
        if (v->type.isTensor() && shape && shape->rank() == 4 && shape->dims[1].isKnown() &&
            shape->dims[2].isKnown() && shape->dims[3].isKnown()) {
            const int64_t c = shape->dims[1].value, h = shape->dims[2].value,
                          w = shape->dims[3].value;
            if ((c == 1 || c == 3) && h > 0 && w > 0 && h <= 4096 && w <= 4096) {
                channels = static_cast<int>(c);
                height = static_cast<int>(h);
                width = static_cast<int>(w);
            }
        }
        break;  // the first fed input is the one datasets feed
    }
    data::Normalization norm = datasetNormalization(name, channels);
    if (!mean.empty()) norm.mean = mean;
    if (!std.empty()) norm.std = std;
    return data::openDataset(name, split, dataDir, std::move(norm), channels, height, width);
}

Expected<std::vector<LayerError>> layerErrors(const ir::Model& original,
                                              const ir::Model& compressed,
                                              const data::Dataset& dataset,
                                              const LayerErrorOptions& options,
                                              jobs::JobContext* job) {
    // Float outputs of the original's nodes that the compressed model has as values too.
    std::vector<const ir::Node*> nodes;
    std::vector<std::string> tensors;
    for (const ir::Node* n : original.graph->nodes()) {
        if (n->outputs().empty() || !n->outputs()[0]) continue;
        const ir::Value* out = n->outputs()[0];
        if (out->initializer() || out->name().empty()) continue;
        if (out->type.isTensor() && out->type.elemType != ir::DType::kFloat &&
            out->type.elemType != ir::DType::kUndefined)
            continue;
        if (!compressed.graph->findValue(out->name())) continue;
        nodes.push_back(n);
        tensors.push_back(out->name());
    }
    if (tensors.empty())
        return error(StatusCode::kBadInput,
                     "the compressed model shares no tensor name with the original");
    WH_ASSIGN_OR_RETURN(ModelProbe ref, ModelProbe::create(original, tensors, options.probe));
    WH_ASSIGN_OR_RETURN(ModelProbe cmp, ModelProbe::create(compressed, tensors, options.probe));
    const std::vector<int64_t> indices = calibrationIndices(dataset, options.samples, options.seed);
    std::vector<double> signal(tensors.size(), 0.0), noise(tensors.size(), 0.0);
    std::vector<bool> comparable(tensors.size(), true);
    // Batch by batch: the original's probed tensors kept for one batch, then the compressed
    // model's compared with them.
    const int64_t batch = std::max<int64_t>(options.probe.batch, 1);
    for (std::size_t start = 0; start < indices.size(); start += static_cast<std::size_t>(batch)) {
        const std::size_t end = std::min(indices.size(), start + static_cast<std::size_t>(batch));
        const std::span<const int64_t> chunk(indices.data() + start, end - start);
        std::vector<engine::HostTensor> kept;
        WH_RETURN_IF_ERROR(ref.run(
            dataset, chunk,
            [&](std::span<const engine::HostTensor> outputs, std::span<const int64_t>) {
                kept.assign(outputs.begin() + static_cast<std::ptrdiff_t>(ref.modelOutputs()),
                            outputs.end());
                return Status::ok();
            },
            nullptr));
        WH_RETURN_IF_ERROR(cmp.run(
            dataset, chunk,
            [&](std::span<const engine::HostTensor> outputs, std::span<const int64_t>) {
                const auto probed = outputs.subspan(cmp.modelOutputs());
                for (std::size_t t = 0; t < tensors.size() && t < probed.size(); ++t) {
                    const engine::HostTensor& a = kept[t];
                    const engine::HostTensor& b = probed[t];
                    if (a.dims() != b.dims() || a.dtype() != ir::DType::kFloat ||
                        b.dtype() != ir::DType::kFloat) {
                        comparable[t] = false;
                        continue;
                    }
                    const std::vector<float> x = a.toFloats(), y = b.toFloats();
                    for (std::size_t i = 0; i < x.size(); ++i) {
                        signal[t] += static_cast<double>(x[i]) * x[i];
                        const double d = static_cast<double>(x[i]) - y[i];
                        noise[t] += d * d;
                    }
                }
                return Status::ok();
            },
            nullptr));
        if (job) {
            job->setProgress(static_cast<double>(end) / static_cast<double>(indices.size()),
                             "comparing layers");
            WH_RETURN_IF_ERROR(job->checkCancelled());
        }
    }
    std::vector<LayerError> out;
    for (std::size_t t = 0; t < tensors.size(); ++t) {
        if (!comparable[t]) continue;
        LayerError e;
        e.node = nodes[t]->name;
        e.op = nodes[t]->opType;
        e.tensor = tensors[t];
        e.sqnrDb = noise[t] > 0 ? 10.0 * std::log10(signal[t] / noise[t])
                                : std::numeric_limits<double>::infinity();
        out.push_back(std::move(e));
    }
    return out;
}

}  // namespace wh::algo
