#include "core/algo/quant/layers.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/algo/probe.h"
#include "core/rewrite/conv_batch_norm_folding.h"
#include "core/rewrite/greedy_driver.h"

namespace wh::algo::quant {

LayerWeight layerWeight(ir::Node& node) {
    LayerWeight l;
    l.node = &node;
    const std::string& op = node.opType;
    if (!ir::isDefaultDomain(node.domain) || (op != "Conv" && op != "Gemm" && op != "MatMul")) {
        l.reason = op + " has no weight to quantize";
        return l;
    }
    ir::Value* w = node.numInputs() > 1 ? node.input(1) : nullptr;
    if (!w || !w->hasInitializer() || w->isGraphInput()) {
        l.reason = "its weight is not a constant initializer";
        return l;
    }
    const ir::Tensor& t = *w->initializer();
    if (t.dtype != ir::DType::kFloat) {
        l.reason = "its weight is not float32";
        return l;
    }
    if (op == "Conv") {
        if (t.dims.size() < 3) {
            l.reason = "its weight has rank < 3";
            return l;
        }
    } else if (t.dims.size() != 2) {
        l.reason = "its weight is not 2-D";
        return l;
    } else if (op == "Gemm") {
        if (node.attrInt("transA", 0) != 0) {
            l.reason = "Gemm with transA = 1";
            return l;
        }
        l.transposed = node.attrInt("transB", 0) == 0;
    } else {
        l.transposed = true;
    }
    l.axis = l.transposed ? 1 : 0;
    // The weight must be read by this node alone: quantizing it for one reader would change
    // the others.
    if (w->uses().size() != 1) {
        l.reason = "its weight is shared with other nodes";
        return l;
    }
    l.weight = w;
    return l;
}

namespace {

ConvGeometry geometryOf(const ir::Node& conv, std::span<const int64_t> xDims,
                        std::span<const int64_t> wDims) {
    ConvGeometry g;
    g.strides = conv.attrInts("strides");
    g.dilations = conv.attrInts("dilations");
    g.pads = conv.attrInts("pads");
    g.group = conv.attrInt("group", 1);
    const std::string autoPad = conv.attrString("auto_pad", "NOTSET");
    const std::size_t spatial = xDims.size() - 2;
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
        g.pads.assign(2 * spatial, 0);
        for (std::size_t d = 0; d < spatial; ++d) {
            const int64_t s = g.strides.empty() ? 1 : g.strides[d];
            const int64_t dil = g.dilations.empty() ? 1 : g.dilations[d];
            const int64_t in = xDims[2 + d];
            const int64_t k = (wDims[2 + d] - 1) * dil + 1;
            const int64_t out = (in + s - 1) / s;
            const int64_t total = std::max<int64_t>(0, (out - 1) * s + k - in);
            const int64_t small = total / 2, big = total - small;
            g.pads[d] = autoPad == "SAME_UPPER" ? small : big;
            g.pads[d + spatial] = autoPad == "SAME_UPPER" ? big : small;
        }
    }
    return g;
}

}  // namespace

Expected<std::map<ir::NodeId, LayerInputStats>> gatherInputStats(
    const ir::Model& model, std::span<const LayerWeight> layers, const AlgoContext& context,
    const InputStatsOptions& options) {
    if (!context.data)
        return error(StatusCode::kUsage, "calibration needs a dataset (the recipe's 'dataset')");
    std::vector<std::string> tensors;
    for (const LayerWeight& l : layers) tensors.push_back(l.node->input(0)->name());
    ProbeOptions po;
    po.threads = context.threads;
    po.batch = options.batch;
    po.inputShapes = context.inputShapes;
    WH_ASSIGN_OR_RETURN(ModelProbe probe, ModelProbe::create(model, tensors, po));
    std::map<ir::NodeId, LayerInputStats> stats;
    std::vector<int64_t> counts(layers.size(), 0);
    const std::size_t first = probe.modelOutputs();
    std::vector<int64_t> indices = calibrationIndices(*context.data, options.samples, context.seed);
    Status s = probe.run(
        *context.data, indices,
        [&](std::span<const engine::HostTensor> outputs, std::span<const int64_t>) -> Status {
            for (std::size_t k = 0; k < layers.size(); ++k) {
                const LayerWeight& l = layers[k];
                const engine::HostTensor& x = outputs[first + k];
                if (x.dtype() != ir::DType::kFloat)
                    return makeStatus(StatusCode::kBadInput, "node '{}': input is not float",
                                      l.node->name);
                LayerInputStats& st = stats[l.node->id()];
                const std::vector<int64_t>& wd = l.weight->initializer()->dims;
                const std::span<const int64_t> xd(x.dims().data(), x.dims().size());
                const float* xv = x.data<float>();
                const bool conv = l.node->opType == "Conv";
                const int64_t channels = conv ? (xd.size() > 1 ? xd[1] : 1) : xd.back();
                if (options.means) {
                    if (st.channelMean.empty()) st.channelMean.assign(static_cast<std::size_t>(channels), 0.0);
                    const int64_t total = x.numElements();
                    const int64_t inner = conv ? total / std::max<int64_t>(1, xd[0] * channels) : 1;
                    std::vector<double> sum(static_cast<std::size_t>(channels), 0.0);
                    for (int64_t i = 0; i < total; ++i) {
                        const int64_t c = conv ? (i / inner) % channels : i % channels;
                        sum[static_cast<std::size_t>(c)] += xv[i];
                    }
                    const int64_t per = total / std::max<int64_t>(1, channels);
                    // Running mean over all values seen so far.
                    const double before = static_cast<double>(counts[k]);
                    for (int64_t c = 0; c < channels; ++c) {
                        double& m = st.channelMean[static_cast<std::size_t>(c)];
                        m = (m * before + sum[static_cast<std::size_t>(c)]) / (before + static_cast<double>(per));
                    }
                    counts[k] += per;
                }
                if (options.hessians) {
                    if (conv) {
                        ConvGeometry g = geometryOf(*l.node, xd, wd);
                        if (st.hessians.empty()) {
                            int64_t cols = 1;
                            for (std::size_t d = 1; d < wd.size(); ++d) cols *= wd[d];
                            for (int64_t gi = 0; gi < g.group; ++gi) st.hessians.emplace_back(cols);
                        }
                        for (int64_t gi = 0; gi < g.group; ++gi) {
                            WH_ASSIGN_OR_RETURN_STATUS(
                                std::vector<float> rows,
                                im2colRows(std::span<const float>(xv, static_cast<std::size_t>(x.numElements())),
                                           xd, wd, g, gi));
                            HessianAccumulator& h = st.hessians[static_cast<std::size_t>(gi)];
                            h.add(rows.data(), static_cast<int64_t>(rows.size()) / h.cols());
                        }
                    } else {
                        const int64_t cols = xd.back();
                        if (st.hessians.empty()) st.hessians.emplace_back(cols);
                        st.hessians.front().add(xv, x.numElements() / cols);
                    }
                }
            }
            return Status::ok();
        },
        context.job, "calibrating");
    if (!s.isOk()) return tl::unexpected(s);
    return stats;
}

Status correctBias(rewrite::Rewriter& rw, const LayerWeight& layer, const ir::Tensor& quantized,
                   std::span<const double> channelMean) {
    const ir::Tensor& w = *layer.weight->initializer();
    auto wv = w.values<float>();
    auto qv = quantized.values<float>();
    const std::vector<int64_t>& d = w.dims;
    const bool conv = layer.node->opType == "Conv";
    int64_t outChannels = layer.transposed ? d[1] : d[0];
    std::vector<double> delta(static_cast<std::size_t>(outChannels), 0.0);
    if (conv) {
        const int64_t group = layer.node->attrInt("group", 1);
        const int64_t cin = d[1];
        int64_t k = 1;
        for (std::size_t i = 2; i < d.size(); ++i) k *= d[i];
        const int64_t perGroupOut = outChannels / std::max<int64_t>(1, group);
        for (int64_t o = 0; o < outChannels; ++o) {
            const int64_t g = o / std::max<int64_t>(1, perGroupOut);
            for (int64_t c = 0; c < cin; ++c) {
                const std::size_t ch = static_cast<std::size_t>(g * cin + c);
                if (ch >= channelMean.size()) continue;
                for (int64_t j = 0; j < k; ++j) {
                    const std::size_t i = static_cast<std::size_t>((o * cin + c) * k + j);
                    delta[static_cast<std::size_t>(o)] += (wv[i] - qv[i]) * channelMean[ch];
                }
            }
        }
    } else {
        const int64_t K = layer.transposed ? d[0] : d[1];
        for (int64_t o = 0; o < outChannels; ++o)
            for (int64_t kk = 0; kk < K && static_cast<std::size_t>(kk) < channelMean.size(); ++kk) {
                const std::size_t i = static_cast<std::size_t>(layer.transposed ? kk * outChannels + o : o * K + kk);
                delta[static_cast<std::size_t>(o)] += (wv[i] - qv[i]) * channelMean[static_cast<std::size_t>(kk)];
            }
    }
    ir::Node& node = *layer.node;
    if (node.opType == "MatMul") return Status::ok();  // no bias input to correct
    ir::Value* bias = node.numInputs() > 2 ? node.input(2) : nullptr;
    if (bias && (!bias->hasInitializer() || bias->uses().size() != 1 ||
                 bias->initializer()->dtype != ir::DType::kFloat ||
                 bias->initializer()->numElements() != outChannels))
        return Status::ok();  // a shared or broadcast bias: leave it
    std::vector<float> b(static_cast<std::size_t>(outChannels), 0.0f);
    if (bias) {
        auto bv = bias->initializer()->values<float>();
        std::copy(bv.begin(), bv.end(), b.begin());
    }
    for (int64_t o = 0; o < outChannels; ++o)
        b[static_cast<std::size_t>(o)] += static_cast<float>(delta[static_cast<std::size_t>(o)]);
    if (bias) {
        ir::Tensor t = *bias->initializer();
        t.data = std::make_shared<const ir::Buffer>(b.data(), b.size() * sizeof(float));
        return rw.replaceInitializer(*bias, std::move(t));
    }
    std::string name = layer.weight->name() + "_bias";
    for (int i = 1; rw.graph().findValueInScope(name); ++i)
        name = layer.weight->name() + "_bias_" + std::to_string(i);
    WH_ASSIGN_OR_RETURN_STATUS(ir::Value * v, rw.addInitializer(name, ir::Tensor::fromFloats(name, {outChannels}, b)));
    if (node.numInputs() < 3) {
        // Conv / Gemm with two inputs: a third input can only be added by replacing the node.
        rewrite::NewNode n(node.opType, {node.input(0)->name(), node.input(1)->name(), v->name()}, {});
        n.domain = node.domain;
        n.name = node.name;
        for (const ir::Value* o : node.outputs()) n.outputs.push_back(o ? o->name() : "");
        for (const ir::Attribute& a : node.attributes()) n.attributes.push_back(a.clone());
        WH_RETURN_STATUS_IF_ERROR(rw.replace(node, std::move(n)));
        return Status::ok();
    }
    return rw.setInput(node, 2, v);
}

}  // namespace wh::algo::quant

namespace wh::algo::quant {

void foldBatchNorms(rewrite::Rewriter& rw, ApplyReport& report) {
    rewrite::PatternSet fold;
    fold.emplace<rewrite::ConvBatchNormFolding>();
    const rewrite::GreedyReport folded = rewrite::applyPatternsGreedily(rw, fold);
    if (int n = folded.count("ConvBatchNormFolding"))
        report.notes.push_back(fmt::format("folded {} BatchNormalization into Conv", n));
}

bool isFusableActivation(const ir::Node& n) {
    static const char* ops[] = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish"};
    if (!ir::isDefaultDomain(n.domain)) return false;
    for (const char* op : ops)
        if (n.opType == op) return true;
    return false;
}

std::vector<ir::Value*> activationsToQuantize(std::span<const LayerWeight> layers) {
    std::vector<ir::Value*> out;
    auto add = [&](ir::Value* v) {
        if (!v || v->hasInitializer() || v->isGraphOutput()) return;
        if (v->type.isTensor() && v->type.elemType != ir::DType::kFloat &&
            v->type.elemType != ir::DType::kUndefined)
            return;
        if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    };
    for (const LayerWeight& l : layers) {
        add(l.node->input(0));
        ir::Value* y = l.node->output(0);
        if (y && y->uses().size() == 1 && !y->isGraphOutput() &&
            isFusableActivation(*y->uses().front().node))
            y = y->uses().front().node->output(0);
        add(y);
    }
    return out;
}

std::vector<LayerWeight> quantizableLayers(ir::Graph& graph, const Selection& selection,
                                           std::vector<ScopeEntry>& scope) {
    scope = resolveScope(graph, selection, {"Conv", "Gemm", "MatMul"});
    std::vector<LayerWeight> layers;
    for (ScopeEntry& e : scope) {
        if (!e.included) continue;
        ir::Node* n = graph.findNode(e.node);
        LayerWeight l = layerWeight(*n);
        if (!l.reason.empty()) {
            e.included = false;
            e.reason = l.reason;
            continue;
        }
        layers.push_back(l);
    }
    return layers;
}

}  // namespace wh::algo::quant

namespace wh::algo::quant {

Expected<std::vector<RangeObserver>> observeActivations(const ir::Model& model,
                                                        const std::vector<std::string>& tensors,
                                                        const ObserverOptions& options,
                                                        const AlgoContext& context,
                                                        int64_t samples, int64_t batch) {
    if (!context.data)
        return error(StatusCode::kUsage, "calibration needs a dataset (the recipe's 'dataset')");
    std::vector<RangeObserver> observers(tensors.size(), RangeObserver(options));
    if (!observers.empty()) WH_RETURN_IF_ERROR(observers.front().validate());
    ProbeOptions po;
    po.threads = context.threads;
    po.batch = batch;
    po.inputShapes = context.inputShapes;
    WH_ASSIGN_OR_RETURN(ModelProbe probe, ModelProbe::create(model, tensors, po));
    const std::size_t first = probe.modelOutputs();
    std::vector<int64_t> indices = calibrationIndices(*context.data, samples, context.seed);
    WH_RETURN_IF_ERROR(probe.run(
        *context.data, indices,
        [&](std::span<const engine::HostTensor> outputs, std::span<const int64_t>) -> Status {
            for (std::size_t k = 0; k < tensors.size(); ++k) {
                const engine::HostTensor& t = outputs[first + k];
                if (t.dtype() != ir::DType::kFloat)
                    return makeStatus(StatusCode::kBadInput, "tensor '{}' is not float", tensors[k]);
                observers[k].observe(std::span<const float>(t.data<float>(),
                                                            static_cast<std::size_t>(t.numElements())));
            }
            return Status::ok();
        },
        context.job, "calibrating"));
    return observers;
}

}  // namespace wh::algo::quant
