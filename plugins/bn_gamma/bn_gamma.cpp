// bn_gamma: BatchNormalization-γ channel ranking (network slimming, Liu et al., ICCV 2017),
// the second baseline beside SCOP. A channel's score is |γ_c| of the BatchNormalization that
// reads its producer's output, averaged over the tied producers that have one; a group none of
// whose producers is followed by a BatchNormalization is left whole (its layers are reported
// as not scored). Network slimming trains with an L1 penalty on γ first; here γ is ranked as
// the model was trained (the pipeline has one training stage, the fine-tuning after pruning).
//
// apply: rank (uniform prune_rate, or a global ranking of mean-normalised |γ| under
// target_flops_ratio, with floors) and remove the channels for real; the pipeline fine-tunes
// the smaller model. convert: nothing.

#include <memory>
#include <string>

#include "core/algo/algorithm.h"
#include "core/algo/plugin.h"
#include "core/algo/prune/channel_scores.h"
#include "core/algo/prune/prune_algorithm.h"

namespace {

using namespace wh;
using namespace wh::algo;

class BnGammaPrune : public Algorithm {
public:
    explicit BnGammaPrune(const Params& p) : m_p(p) {}

    Expected<ApplyReport> apply(rewrite::Rewriter& rw, const Selection& selection,
                                AlgoContext& ctx) override {
        WH_ASSIGN_OR_RETURN(analysis::ChannelDependencies deps, prune::analyzeForPruning(ctx));
        prune::ChannelScores scores = prune::bnGammaScores(rw.graph(), deps);
        return prune::pruneByScores(rw, selection, ctx, deps, std::move(scores), m_p, "bn_gamma");
    }

    Status convert(rewrite::Rewriter&, AlgoContext&) override { return Status::ok(); }

private:
    Params m_p;
};

AlgorithmInfo bnGammaInfo() {
    AlgorithmInfo info;
    info.name = "bn_gamma";
    info.title = "BatchNormalization-γ pruning (network slimming)";
    info.description =
        "Structured pruning by |γ| of the BatchNormalization after each layer (Liu et al. "
        "2017): channels removed for real, by a uniform rate per layer or a global ranking "
        "under a FLOPs target, then fine-tuned. The export is a smaller ONNX model.";
    info.supportedOps = {"Conv", "Gemm", "MatMul"};
    info.params = prune::pruningParams();
    info.training = prune::pruningTrainingDefaults();
    info.create = factoryOf<BnGammaPrune>();
    return info;
}

Status registerBnGamma(Registry& r) {
    return r.add(bnGammaInfo());
}

}  // namespace

WHITTLE_PLUGIN("bn_gamma", "1.0", registerBnGamma)
