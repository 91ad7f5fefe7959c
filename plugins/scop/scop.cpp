// scop: SCOP, scientific control for reliable network pruning (Tang et al., NeurIPS 2020) — the
// seed's PrunerKfCompressAlgo + PrunerFtCompressAlgo (GOLDEN_STICK.md §7), pruning for real.
//
// apply:
//   1. stage one, inside apply (the pipeline has one training stage, and it is the
//      fine-tuning): every prunable Conv followed by a BatchNormalization gets a per-channel
//      kfscale β (init 0.5) mixing its real and knockoff features, the knockoff batch being a
//      new random permutation of the batch every step (the seed's KfCallback), the loss on the
//      real half only, every other parameter frozen; β is trained with Adam (kf_lr, β = (0.5,
//      0.9) as the reference code) for kf_epochs (or kf_steps) and clamped to [0, 1] after
//      every step (core/algo/prune/knockoff.h). The knockoff graph is a separate model: the
//      user's graph never holds a training-only node.
//   2. score |γ_c| · (2 β_c − 1) per channel (the mean over the producers a residual ties
//      together; core/algo/prune/channel_scores.h);
//   3. prune with the shared ranking: prune_rate per group as the seed, or (beyond the seed) a
//      global ranking of mean-normalised scores under target_flops_ratio, with floors; the
//      channels are removed for real (the seed only masks them).
// The pipeline's training stage then fine-tunes the smaller float model. convert: nothing.

#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/algo/algorithm.h"
#include "core/algo/plugin.h"
#include "core/algo/prune/channel_scores.h"
#include "core/algo/prune/knockoff.h"
#include "core/algo/prune/prune_algorithm.h"

namespace {

using namespace wh;
using namespace wh::algo;

class Scop : public Algorithm {
public:
    explicit Scop(const Params& p) : m_p(p) {}

    Expected<ApplyReport> apply(rewrite::Rewriter& rw, const Selection& selection,
                                AlgoContext& ctx) override {
        if (!ctx.data)
            return error(StatusCode::kUsage,
                         "scop: the knockoff stage trains kfscale on data (kf_epochs); the run "
                         "has no dataset");
        // Options first, so that a bad recipe fails before any training.
        WH_ASSIGN_OR_RETURN(prune::RankingOptions ro, prune::rankingOptionsFrom(m_p, ctx));
        (void)ro;
        WH_ASSIGN_OR_RETURN(analysis::ChannelDependencies deps, prune::analyzeForPruning(ctx));
        const ir::Graph& g = rw.graph();
        const std::vector<bool> inScope =
            prune::groupsInScope(deps, resolveScope(g, selection, {"Conv", "Gemm", "MatMul"}));
        std::vector<ir::NodeId> convs;
        for (std::size_t gi = 0; gi < deps.groups.size(); ++gi) {
            if (!inScope[gi]) continue;
            for (ir::NodeId id : deps.groups[gi].producers) {
                const ir::Node* n = g.findNode(id);
                if (n && ir::isOnnxOp(*n, "Conv") && prune::followingBatchNorm(*n) &&
                    std::find(convs.begin(), convs.end(), id) == convs.end())
                    convs.push_back(id);
            }
        }
        if (convs.empty())
            return error(StatusCode::kBadInput,
                         "scop: no prunable Conv followed by a BatchNormalization in the "
                         "selection (SCOP scores channels by BN γ and kfscale)");

        prune::KnockoffOptions ko;
        ko.batch = m_p.getInt("kf_batch");
        ko.epochs = static_cast<int>(m_p.getInt("kf_epochs"));
        ko.maxSteps = m_p.getInt("kf_steps");
        ko.lr = m_p.getFloat("kf_lr");
        ko.seed = static_cast<uint64_t>(m_p.getInt("seed"));
        ko.threads = ctx.threads;
        ko.clamp = m_p.getBool("kf_clamp");
        if (ctx.job) ctx.job->setStage("scop: training kfscale (knockoff stage)");
        WH_ASSIGN_OR_RETURN(prune::KnockoffResult kf,
                            prune::trainKnockoffScales(*ctx.model, convs, *ctx.data, ko, ctx.job));

        prune::ChannelScores scores = prune::scopScores(g, deps, kf.kfscale);
        WH_ASSIGN_OR_RETURN(
            ApplyReport report,
            prune::pruneByScores(rw, selection, ctx, deps, std::move(scores), m_p, "scop"));
        double lo = 1, hi = 0, sum = 0;
        int64_t n = 0, below = 0;
        for (const auto& [id, beta] : kf.kfscale)
            for (float b : beta) {
                lo = std::min(lo, static_cast<double>(b));
                hi = std::max(hi, static_cast<double>(b));
                sum += b;
                below += b < 0.5f;
                ++n;
            }
        report.notes.insert(
            report.notes.begin(),
            fmt::format("knockoff stage: {} Conv layers, {} steps of batch {} (2x{} with the "
                        "knockoffs), final loss {:.4f}, {:.1f} s; kfscale mean {:.3f} in [{:.3f}, "
                        "{:.3f}], {} of {} below 0.5",
                        convs.size(), kf.metrics.steps, ko.batch, ko.batch, kf.metrics.finalLoss,
                        kf.metrics.seconds, n ? sum / static_cast<double>(n) : 0.0, lo, hi, below,
                        n));
        return report;
    }

    Status convert(rewrite::Rewriter&, AlgoContext&) override { return Status::ok(); }

private:
    Params m_p;
};

AlgorithmInfo scopInfo() {
    AlgorithmInfo info;
    info.name = "scop";
    info.title = "SCOP: knockoff-controlled channel pruning";
    info.description =
        "Scientific control pruning (Tang et al. 2020), the seed's two SCOP stages: a "
        "per-channel scale mixing real and knockoff (permuted-batch) features is trained with "
        "every other weight frozen, channels score |γ|·(2·kfscale − 1), and the lowest go for "
        "real — a uniform rate per layer as the seed or a global ranking under a FLOPs target — "
        "before fine-tuning. The export is a smaller ONNX model.";
    info.supportedOps = {"Conv", "Gemm", "MatMul"};
    info.params = prune::pruningParams();
    info.params.push_back(ParamSpec::integer("kf_epochs", 1, 0, 1000,
                                             "epochs of the knockoff stage (kfscale training)")
                              .inGroup("knockoff"));
    info.params.push_back(ParamSpec::integer("kf_steps", 0, 0, std::numeric_limits<int32_t>::max(),
                                             "> 0: knockoff stage steps instead of kf_epochs")
                              .inGroup("knockoff"));
    info.params.push_back(ParamSpec::real("kf_lr", 0.004, 0.0, 10.0,
                                          "Adam learning rate of kfscale (β = (0.5, 0.9), as the "
                                          "reference code)")
                              .inGroup("knockoff"));
    info.params.push_back(ParamSpec::integer("kf_batch", 64, 2, 4096,
                                             "real samples per knockoff step (the network runs "
                                             "twice as many)")
                              .inGroup("knockoff"));
    info.params.push_back(ParamSpec::boolean("kf_clamp", true,
                                             "clamp kfscale to [0, 1] after every step (the "
                                             "reference code; the seed does not)")
                              .inGroup("knockoff"));
    info.training = prune::pruningTrainingDefaults();
    info.create = factoryOf<Scop>();
    return info;
}

Status registerScop(Registry& r) {
    return r.add(scopInfo());
}

}  // namespace

WHITTLE_PLUGIN("scop", "1.0", registerScop)
