// l1: L1-norm filter pruning (Li et al., "Pruning Filters for Efficient ConvNets", ICLR 2017),
// the magnitude baseline beside SCOP. A channel's score is the L1 norm of its producer's weights
// (the filter W[c, :, :, :] of a Conv; the row or column of a Gemm / MatMul output feature),
// averaged over the producers a residual or concat ties together
// (core/algo/prune/channel_scores.h).
//
// apply: rank (a uniform prune_rate per group, or a global ranking of mean-normalised scores
// under target_flops_ratio, with floors: core/algo/prune/channel_ranking.h) and remove the
// channels for real (core/algo/prune/prune_plan.h); the pipeline's training stage fine-tunes
// the smaller model. convert: nothing (the model is already in its deploy form).

#include <memory>
#include <string>

#include "core/algo/algorithm.h"
#include "core/algo/plugin.h"
#include "core/algo/prune/channel_scores.h"
#include "core/algo/prune/prune_algorithm.h"

namespace {

using namespace wh;
using namespace wh::algo;

class L1Prune : public Algorithm {
public:
    explicit L1Prune(const Params& p) : m_p(p) {}

    Expected<ApplyReport> apply(rewrite::Rewriter& rw, const Selection& selection,
                                AlgoContext& ctx) override {
        WH_ASSIGN_OR_RETURN(analysis::ChannelDependencies deps, prune::analyzeForPruning(ctx));
        prune::ChannelScores scores = prune::l1Scores(rw.graph(), deps);
        return prune::pruneByScores(rw, selection, ctx, deps, std::move(scores), m_p, "l1");
    }

    Status convert(rewrite::Rewriter&, AlgoContext&) override { return Status::ok(); }

private:
    Params m_p;
};

AlgorithmInfo l1Info() {
    AlgorithmInfo info;
    info.name = "l1";
    info.title = "L1-norm filter pruning";
    info.description =
        "Structured pruning by the L1 norm of each output channel's weights (Li et al. 2017): "
        "channels removed for real (coupled channels of residuals, concats, depthwise and "
        "grouped convolutions together), by a uniform rate per layer or a global ranking under "
        "a FLOPs target, then fine-tuned. The export is a smaller ONNX model.";
    info.supportedOps = {"Conv", "Gemm", "MatMul"};
    info.params = prune::pruningParams();
    info.training = prune::pruningTrainingDefaults();
    info.create = factoryOf<L1Prune>();
    return info;
}

Status registerL1(Registry& r) {
    return r.add(l1Info());
}

}  // namespace

WHITTLE_PLUGIN("l1", "1.0", registerL1)
