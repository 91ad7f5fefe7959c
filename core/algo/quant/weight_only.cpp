#include "core/algo/quant/weight_only.h"

#include <fmt/format.h>

#include "core/algo/quant/layers.h"
#include "core/algo/quant/weight_export.h"

namespace wh::algo::quant {

std::vector<ParamSpec> weightOnlyParams() {
    return {
        ParamSpec::integer("weight_bits", 4, 2, 8, "bits per weight (8, 4, 3 or 2)"),
        ParamSpec::integer("group_size", 0, 0, 4096,
                           "weights per scale along the input dimension (32, 64, 128); 0 = one "
                           "scale per output channel"),
        ParamSpec::boolean("symmetric", true,
                           "signed codes with zero point 0 (false: unsigned codes with a zero "
                           "point per group)"),
    };
}

WeightOnlyOptions weightOnlyOptions(const Params& p) {
    WeightOnlyOptions o;
    o.quant.bits = static_cast<int>(p.getInt("weight_bits"));
    o.quant.groupSize = p.getInt("group_size");
    o.quant.symmetric = p.getBool("symmetric");
    return o;
}

namespace {

// tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) over the rows of each Hessian's block (conv groups): the output
// mean squared error relative to the output's mean square, on the calibration inputs.
double relativeOutputError(const WeightMatrix& m, const QuantizedWeight& q,
                           const std::vector<HessianAccumulator>& hessians) {
    const int64_t blocks = static_cast<int64_t>(hessians.size());
    const int64_t rowsPer = m.rows / std::max<int64_t>(1, blocks);
    double err = 0, ref = 0;
    std::vector<double> d(static_cast<std::size_t>(m.cols)), w(static_cast<std::size_t>(m.cols));
    for (int64_t r = 0; r < m.rows; ++r) {
        const std::vector<double>& h =
            hessians[static_cast<std::size_t>(std::min(blocks - 1, r / std::max<int64_t>(1, rowsPer)))].hessian();
        for (int64_t c = 0; c < m.cols; ++c) {
            w[static_cast<std::size_t>(c)] = m.at(r, c);
            d[static_cast<std::size_t>(c)] = m.at(r, c) - q.value(r, c);
        }
        for (int64_t i = 0; i < m.cols; ++i) {
            double hd = 0, hw = 0;
            const double* row = h.data() + i * m.cols;
            for (int64_t j = 0; j < m.cols; ++j) {
                hd += row[j] * d[static_cast<std::size_t>(j)];
                hw += row[j] * w[static_cast<std::size_t>(j)];
            }
            err += d[static_cast<std::size_t>(i)] * hd;
            ref += w[static_cast<std::size_t>(i)] * hw;
        }
    }
    return ref > 0 ? err / ref : 0.0;
}

}  // namespace

Expected<ApplyReport> applyWeightOnly(rewrite::Rewriter& rw, const Selection& selection,
                                      AlgoContext& ctx, const WeightOnlyOptions& options) {
    WH_RETURN_IF_ERROR(validate(options.quant));
    ApplyReport report;
    foldBatchNorms(rw, report);
    std::vector<LayerWeight> layers = quantizableLayers(rw.graph(), selection, report.scope);
    std::map<ir::NodeId, LayerInputStats> stats;
    // GPTQ needs the Hessians; round to nearest uses them, when there is data, to report each
    // layer's relative output error (the same figure for both methods).
    const bool measure = ctx.data != nullptr && ctx.model != nullptr;
    if ((options.gptq || measure) && !layers.empty()) {
        if (!ctx.model) return error(StatusCode::kInternal, "gptq: no model in the context");
        InputStatsOptions io;
        io.means = false;
        io.samples = options.samples;
        WH_ASSIGN_OR_RETURN(stats, gatherInputStats(*ctx.model, layers, ctx, io));
    }
    std::size_t packed = 0, floatBytes = 0;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const LayerWeight& l = layers[i];
        if (ctx.job) {
            WH_RETURN_IF_ERROR(ctx.job->checkCancelled());
            ctx.job->setProgress(static_cast<double>(i) / static_cast<double>(layers.size()),
                                 options.gptq ? "GPTQ" : "rounding");
        }
        WH_ASSIGN_OR_RETURN(WeightMatrix m, weightMatrix(*l.weight->initializer(), l.transposed));
        Expected<QuantizedWeight> q =
            options.gptq ? quantizeGptq(m, stats[l.node->id()].hessians, options.quant,
                                        options.gptqOptions)
                         : quantizeRtn(m, options.quant);
        if (!q)
            return error(q.error().code(), "node '{}': {}", l.node->name, q.error().message());
        if (measure && !stats[l.node->id()].hessians.empty())
            report.layers.push_back({l.node->name, l.node->opType, "relative_output_mse",
                                     relativeOutputError(m, *q, stats[l.node->id()].hessians)});
        packed += packedBytes(*q);
        floatBytes += static_cast<std::size_t>(m.rows * m.cols) * sizeof(float);
        WH_RETURN_IF_ERROR(writeQuantizedWeight(rw, *l.weight, *q));
    }
    report.notes.push_back(fmt::format(
        "{} weights at {} bits{} ({}): {} bytes of codes for {} bytes of float weights",
        layers.size(), options.quant.bits,
        options.quant.groupSize ? fmt::format(", groups of {}", options.quant.groupSize)
                                : std::string(", per channel"),
        options.gptq ? "GPTQ" : "round to nearest", packed, floatBytes));
    return report;
}

}  // namespace wh::algo::quant
