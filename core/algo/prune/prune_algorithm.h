#pragma once
/// What the structured pruning plugins (l1, bn_gamma, scop) share around their own scores:
/// the parameters, the scope (a group is ranked only when every producer tied into it is in the
/// selection), the ranking (channel_ranking.h), the prune itself (prune_plan.h, one undo step
/// inside the caller's apply group) and the report.
///
///   apply = analyse → score (the plugin's) → pruneByScores: the graph becomes smaller for real;
///   the pipeline's training stage then fine-tunes the smaller model; convert has nothing to do.

#include <functional>
#include <string>
#include <vector>

#include "core/algo/algorithm.h"
#include "core/algo/param_spec.h"
#include "core/algo/prune/channel_ranking.h"
#include "core/analysis/channel_dependencies.h"
#include "core/rewrite/rewriter.h"
#include "core/util/status.h"

namespace wh::algo::prune {

/// target_flops_ratio, prune_rate, min_channels, max_layer_ratio, normalize, seed.
std::vector<ParamSpec> pruningParams();

/// The ranking options those parameters give (and ctx's shapes, threads and job). kUsage when
/// neither prune_rate in (0, 1) nor target_flops_ratio in (0, 1) is set.
Expected<RankingOptions> rankingOptionsFrom(const Params& params, const AlgoContext& ctx);

/// The fine-tuning defaults of the pruning algorithms (SGD, momentum, cosine, one epoch).
TrainingDefaults pruningTrainingDefaults();

/// The analysis of ctx.model's graph with ctx's input shapes.
Expected<analysis::ChannelDependencies> analyzeForPruning(const AlgoContext& ctx);

/// Groups whose producers are all in `scope` (included); for the others, why not.
std::vector<bool> groupsInScope(const analysis::ChannelDependencies& deps,
                                const std::vector<ScopeEntry>& scope);

/// Ranks with `scores` (groups out of scope cleared), prunes through `rw`, and reports: every
/// Conv / Gemm / MatMul with its fate (included = a producer of a ranked group; else the
/// reason: not selected, channels blocked and why, tied to an unselected node, not scored),
/// per producer the metric "channels_kept", and notes (channels removed, FLOPs measured before
/// and after, the mode). `algorithm` names the criterion in the notes.
Expected<ApplyReport> pruneByScores(rewrite::Rewriter& rw, const Selection& selection,
                                    AlgoContext& ctx, const analysis::ChannelDependencies& deps,
                                    ChannelScores scores, const Params& params,
                                    const std::string& algorithm);

}  // namespace wh::algo::prune
