// ptq: static post-training quantization (weights and activations), shared/CLI.md's reference
// recipe. BatchNormalization is folded into Conv first; activation ranges come from a
// RangeObserver per tensor on balanced calibration samples (minmax, percentile, entropy, mse);
// weights are quantized per channel (or per tensor) symmetric, round to nearest or GPTQ, with
// optional empirical bias correction. The calibrated form holds com.whittle:FakeQuantize nodes
// (it runs and can be saved); convert gives QDQ.

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/algo/algorithm.h"
#include "core/algo/plugin.h"
#include "core/algo/quant/calibration.h"
#include "core/algo/quant/gptq.h"
#include "core/algo/quant/layers.h"
#include "core/algo/quant/qdq.h"
#include "core/algo/quant/weight_quant.h"

namespace {

using namespace wh;
using namespace wh::algo;
using namespace wh::algo::quant;

class Ptq : public Algorithm {
public:
    explicit Ptq(const Params& p) : m_p(p) {}

    Expected<ApplyReport> apply(rewrite::Rewriter& rw, const Selection& selection,
                                AlgoContext& ctx) override {
        if (!ctx.model) return error(StatusCode::kInternal, "ptq: no model in the context");
        ApplyReport report;
        const int wbits = static_cast<int>(m_p.getInt("weight_bits"));
        const int abits = static_cast<int>(m_p.getInt("activation_bits"));
        const bool symmetricActs = m_p.getBool("symmetric");
        const bool perChannel = m_p.getBool("per_channel");
        const std::string weightMethod = m_p.getString("weight_method");
        const int64_t samples = m_p.getInt("samples");
        if (!perChannel && weightMethod == "gptq")
            return error(StatusCode::kBadInput,
                         "ptq: weight_method 'gptq' quantizes per channel; set per_channel true");
        ctx.seed = static_cast<uint64_t>(m_p.getInt("seed"));

        // Fold BatchNormalization into Conv: the deploy graph has none, and weights are
        // quantized after folding (what runs is what was calibrated).
        foldBatchNorms(rw, report);

        std::vector<LayerWeight> layers = quantizableLayers(rw.graph(), selection, report.scope);
        if (layers.empty()) {
            report.notes.push_back("nothing to quantize in the selection");
            return report;
        }

        // 1. Weights (on the float model: GPTQ's Hessians and bias correction see float inputs).
        std::map<ir::NodeId, LayerInputStats> stats;
        const bool biasCorrection = m_p.getBool("bias_correction");
        if (weightMethod == "gptq" || biasCorrection) {
            InputStatsOptions io;
            io.hessians = weightMethod == "gptq";
            io.means = biasCorrection;
            io.samples = std::min<int64_t>(samples, m_p.getInt("gptq_samples"));
            if (biasCorrection) io.samples = samples;
            WH_ASSIGN_OR_RETURN(stats, gatherInputStats(*ctx.model, layers, ctx, io));
        }
        WeightQuantOptions wq;
        wq.bits = wbits;
        wq.symmetric = true;
        wq.narrowRange = m_p.getBool("narrow_range");
        GptqOptions go;
        go.damp = m_p.getFloat("damp");
        go.blockSize = m_p.getInt("block_size");
        go.actOrder = m_p.getBool("act_order");
        struct Planned {
            LayerWeight layer;
            std::vector<float> scales;
        };
        std::vector<Planned> planned;
        for (LayerWeight& l : layers) {
            WH_ASSIGN_OR_RETURN(WeightMatrix m, weightMatrix(*l.weight->initializer(), l.transposed));
            Expected<QuantizedWeight> q = weightMethod == "gptq"
                                              ? quantizeGptq(m, stats[l.node->id()].hessians, wq, go)
                                              : quantizeRtn(m, wq);
            if (!q) return tl::unexpected(q.error());
            if (!perChannel) {
                // Per tensor: one scale for every row, from the whole tensor's largest |w|.
                float maxAbs = 0;
                for (float v : m.values) maxAbs = std::max(maxAbs, std::fabs(v));
                const float qmax = static_cast<float>((1 << (wbits - 1)) - 1);
                const float qmin = wq.narrowRange ? -qmax : -qmax - 1;
                const float s = maxAbs > 0 ? maxAbs / qmax : 1.0f;
                for (float& sc : q->scales) sc = s;
                for (int64_t r = 0; r < m.rows; ++r)
                    for (int64_t c = 0; c < m.cols; ++c)
                        q->codes[static_cast<std::size_t>(r * m.cols + c)] = static_cast<int32_t>(
                            std::clamp(std::nearbyint(m.at(r, c) / s), qmin, qmax));
            }
            ir::Tensor deq = dequantize(*q, l.weight->name());
            if (biasCorrection && !stats[l.node->id()].channelMean.empty())
                WH_RETURN_IF_ERROR(correctBias(rw, l, deq, stats[l.node->id()].channelMean));
            // correctBias may have replaced the node: find it again by its weight's reader.
            l.node = l.weight->uses().front().node;
            WH_RETURN_IF_ERROR(rw.replaceInitializer(*l.weight, std::move(deq)));
            planned.push_back({l, q->scales});
        }

        // 2. Activations, calibrated on the model with quantized weights.
        std::vector<ir::Value*> acts = activationsToQuantize(layers);
        std::vector<std::string> names;
        for (ir::Value* v : acts) names.push_back(v->name());
        WH_ASSIGN_OR_RETURN(CalibrationMethod method, parseCalibrationMethod(m_p.getString("calibration")));
        ObserverOptions oo;
        oo.method = method;
        oo.percentile = m_p.getFloat("percentile");
        oo.numBins = m_p.getInt("bins");
        WH_ASSIGN_OR_RETURN(std::vector<RangeObserver> observers,
                            observeActivations(*ctx.model, names, oo, ctx, samples));

        // 3. Fake quantizers: weights per channel (axis of the output channel), activations per
        //    tensor.
        for (const Planned& p : planned) {
            FakeQuantSpec spec = weightSpec(wbits, perChannel ? p.layer.axis : -1, wq.narrowRange);
            std::vector<float> scale = perChannel ? p.scales : std::vector<float>{p.scales.front()};
            WH_RETURN_IF_ERROR(insertFakeQuantize(rw, *p.layer.weight, spec, scale, {}));
        }
        for (std::size_t k = 0; k < acts.size(); ++k) {
            WH_ASSIGN_OR_RETURN(Range r, observers[k].range(abits, symmetricActs, !symmetricActs));
            auto [s, z] = scaleZeroPoint(r, abits, symmetricActs, !symmetricActs);
            FakeQuantSpec spec = activationSpec(abits, symmetricActs);
            if (symmetricActs) spec.isUnsigned = false;
            float sv[] = {s}, zv[] = {z};
            WH_RETURN_IF_ERROR(insertFakeQuantize(rw, *acts[k], spec, sv,
                                                  symmetricActs ? std::span<const float>() : std::span<const float>(zv)));
        }
        report.notes.push_back(fmt::format("{} weights at {} bits ({}), {} activations at {} bits ({}, {} samples)",
                                           planned.size(), wbits, weightMethod, acts.size(), abits,
                                           m_p.getString("calibration"), samples));
        return report;
    }

    Status convert(rewrite::Rewriter& rw, AlgoContext&) override {
        QdqOptions o;
        o.int32Bias = m_p.getBool("int32_bias");
        WH_ASSIGN_OR_RETURN_STATUS(int n, fakeQuantizeToQdq(rw, o));
        (void)n;
        return Status::ok();
    }

private:
    Params m_p;
};

AlgorithmInfo ptqInfo() {
    AlgorithmInfo info;
    info.name = "ptq";
    info.title = "Post-training quantization";
    info.description =
        "Static quantization without training: BatchNormalization folded, weights per channel "
        "(round to nearest or GPTQ), activation ranges calibrated on balanced samples "
        "(minmax, percentile, entropy or mse), exported as QDQ ONNX.";
    info.supportedOps = {"Conv", "Gemm", "MatMul"};
    info.params = {
        ParamSpec::choice("calibration", "minmax", {"minmax", "percentile", "entropy", "mse"},
                          "how activation ranges are chosen from the calibration histogram"),
        ParamSpec::integer("samples", 512, 1, 1000000, "calibration images (balanced per class)"),
        ParamSpec::real("percentile", 99.999, 50.0, 100.0, "percentile calibration: the percentile kept"),
        ParamSpec::integer("bins", 2048, 16, 65536, "histogram bins (percentile, entropy, mse)"),
        ParamSpec::integer("weight_bits", 8, 2, 8, "weight bits (8, or 4 for W4A8)").inGroup("weights"),
        ParamSpec::boolean("per_channel", true, "one weight scale per output channel").inGroup("weights"),
        ParamSpec::boolean("narrow_range", false, "weights use [-127, 127] instead of [-128, 127]").inGroup("weights"),
        ParamSpec::choice("weight_method", "rtn", {"rtn", "gptq"}, "round to nearest, or GPTQ's error-compensating rounding").inGroup("weights"),
        ParamSpec::integer("gptq_samples", 256, 1, 100000, "GPTQ: calibration images for the Hessians").inGroup("weights"),
        ParamSpec::real("damp", 0.01, 1e-6, 1.0, "GPTQ: damping, a fraction of the mean Hessian diagonal").inGroup("weights"),
        ParamSpec::integer("block_size", 128, 1, 4096, "GPTQ: columns per block").inGroup("weights"),
        ParamSpec::boolean("act_order", false, "GPTQ: quantize columns by decreasing Hessian diagonal").inGroup("weights"),
        ParamSpec::boolean("bias_correction", false, "correct each bias for the mean error of its quantized weights").inGroup("weights"),
        ParamSpec::integer("activation_bits", 8, 4, 8, "activation bits").inGroup("activations"),
        ParamSpec::boolean("symmetric", false, "symmetric int8 activations (false: asymmetric uint8)").inGroup("activations"),
        ParamSpec::boolean("int32_bias", true, "export biases as int32 at scale s_x*s_w (what int8 kernels use)"),
        ParamSpec::integer("seed", 0, 0, std::numeric_limits<int32_t>::max(), "seed for the calibration sample"),
    };
    info.create = factoryOf<Ptq>();
    return info;
}

Status registerPtq(Registry& r) { return r.add(ptqInfo()); }

}  // namespace

WHITTLE_PLUGIN("ptq", "1.0", registerPtq)
