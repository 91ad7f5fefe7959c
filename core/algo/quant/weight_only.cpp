#include "core/algo/quant/weight_only.h"

#include <fmt/format.h>

#include "core/algo/quant/layers.h"
#include "core/algo/quant/weight_export.h"
#include "core/rewrite/conv_batch_norm_folding.h"
#include "core/rewrite/greedy_driver.h"

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

Expected<ApplyReport> applyWeightOnly(rewrite::Rewriter& rw, const Selection& selection,
                                      AlgoContext& ctx, const WeightOnlyOptions& options) {
    WH_RETURN_IF_ERROR(validate(options.quant));
    ApplyReport report;
    rewrite::PatternSet fold;
    fold.emplace<rewrite::ConvBatchNormFolding>();
    rewrite::GreedyReport folded = rewrite::applyPatternsGreedily(rw, fold);
    if (int n = folded.count("ConvBatchNormFolding"))
        report.notes.push_back(fmt::format("folded {} BatchNormalization into Conv", n));
    std::vector<LayerWeight> layers = quantizableLayers(rw.graph(), selection, report.scope);
    std::map<ir::NodeId, LayerInputStats> stats;
    if (options.gptq && !layers.empty()) {
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
