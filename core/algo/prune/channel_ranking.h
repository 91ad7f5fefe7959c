#pragma once
/// Channel ranking: which channels of analysis::analyzeChannelDependencies' groups a structured
/// pruning algorithm removes, given one score per channel (higher = more important). Shared by
/// the l1, bn_gamma and scop plugins; the scores are theirs (channel_scores.h).
///
/// Two ways to choose:
///   - uniform (`pruneRate` > 0, the seed's PrunerFtCompressAlgo): in every ranked group, the
///     floor(pruneRate · C) lowest-scoring channels, fewer where a floor stops it;
///   - global (`targetFlopsRatio` in (0, 1), beyond the seed): one ranking across all groups of
///     normalised scores; the lowest-scoring channels go, in that order, until the pruned
///     model's FLOPs ≤ targetFlopsRatio · the original's. FLOPs are measured on the actually
///     pruned graph with analysis::modelCost (batch 1, the given input shapes) — the figure
///     `whittle-cli compress` reports — by bisecting the number of channels removed: the
///     accepted order is fixed, so the removed sets are nested and FLOPs fall monotonically.
///     The result is the smallest prefix meeting the target.
///
/// Normalisation (global ranking only; a uniform rate ranks within a group, where it changes
/// nothing): each group's scores are divided by the mean of their absolute values
/// (ScoreNormalization::kMean, the default, as Torch-Pruning's default normaliser). Raw scores
/// are not comparable across layers: an L1 norm grows with the fan-in (3×3×64 vs 3×3×16), BN γ
/// with the layer's place in the network. The mean keeps each group's spread (a layer with a
/// few dominant channels still offers its weak ones) and, unlike the maximum, is not set by one
/// outlier channel; dividing by mean |s| keeps the sign of SCOP's scores, which may be negative.
///
/// Channel multiple (channelMultiple > 1): a group loses whole chunks of its weakest channels,
/// so what stays is a multiple of it (C itself, or a multiple below C) — the block sizes of
/// vectorised kernels, without which the pruned model is smaller but not faster.
///
/// Floors, per group of C channels: at least max(minChannels, C − floor(maxLayerRatio · C))
/// channels stay, and never fewer than 1; besides, no tensor carrying channel ids may lose all
/// of them (prune_plan.h's checkPruneFloors). A channel the floors refuse is skipped, the next
/// one tried.
///
/// No Qt. Reads the model; never changes it.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/algo/prune/prune_plan.h"
#include "core/analysis/channel_dependencies.h"
#include "core/engine/host_tensor.h"
#include "core/ir/graph.h"
#include "core/jobs/job_context.h"
#include "core/util/status.h"

namespace wh::algo::prune {

/// scores[g][c]: the score of channel c of deps.groups[g]; an empty scores[g] (or a missing g)
/// leaves group g whole (the criterion has nothing to say about it, or it is out of scope).
using ChannelScores = std::vector<std::vector<double>>;

enum class ScoreNormalization {
    kMean,  ///< divide by the group's mean |score|
    kMax,   ///< divide by the group's max |score|
    kNone,  ///< raw scores
};

/// "mean", "max", "none"; kUsage otherwise.
Expected<ScoreNormalization> parseScoreNormalization(const std::string& name);

struct RankingOptions {
    /// > 0: uniform rate per group (the seed's way); then targetFlopsRatio is ignored.
    double pruneRate = 0.0;
    /// In (0, 1): the global ranking's FLOPs target. One of the two must be set.
    double targetFlopsRatio = 0.0;
    int64_t minChannels = 1;     ///< channels a group keeps at least (≥ 1)
    double maxLayerRatio = 0.9;  ///< fraction of a group's channels that may go at most
    ScoreNormalization normalization = ScoreNormalization::kMean;
    /// > 1: channels go in chunks so that every group keeps a multiple of this many channels
    /// (its first chunk is C mod channelMultiple when that is not 0). Vectorised kernels work
    /// on blocks of 8 or 16 channels (oneDNN's nChw16c, ONNX Runtime's NCHWc on AVX-512): a
    /// layer cut from 64 to 59 channels is padded back to 64 and saves FLOPs on paper only.
    /// Global ranking: a chunk's score is the mean of its channels' normalised scores.
    int64_t channelMultiple = 1;
    /// How FLOPs are measured: as core/algo/compress.cpp does (batch 1).
    std::map<std::string, engine::Dims> inputShapes;
    int threads = 1;
    /// Progress and cancellation between measurements (may be null).
    jobs::JobContext* job = nullptr;
};

struct RankingResult {
    PruneSelection selection;
    int64_t channelsRemoved = 0;
    int64_t flopsBefore = 0;  ///< measured (global ranking only; else 0)
    int64_t flopsAfter = 0;   ///< measured on the pruned copy (global ranking only)
    int measurements = 0;     ///< pruned copies costed
};

/// The most channels of a group of `channels` that the per-group floors let go.
int64_t maxRemovable(int64_t channels, const RankingOptions& options);

/// `scores` normalised per group as `normalization` says (a group whose scores are all zero is
/// left as is).
ChannelScores normalizeScores(const ChannelScores& scores, ScoreNormalization normalization);

/// The selection (see the file comment). kUsage for bad options or scores whose sizes do not
/// match the groups; kBadInput when the floors stop the global ranking before the target (the
/// message gives the lowest ratio reachable); errors of pruning or costing a copy.
Expected<RankingResult> rankChannels(const ir::Model& model,
                                     const analysis::ChannelDependencies& deps,
                                     const ChannelScores& scores, const RankingOptions& options);

/// `model` with `selection` pruned (applyPrune on a clone).
Expected<ir::Model> prunedCopy(const ir::Model& model, const analysis::ChannelDependencies& deps,
                               const PruneSelection& selection);

}  // namespace wh::algo::prune
