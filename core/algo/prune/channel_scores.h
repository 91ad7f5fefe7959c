#pragma once
/// Channel scores for channel_ranking.h: one value per channel of every group of
/// analysis::analyzeChannelDependencies, higher = more important. A channel is a set of tied
/// (producer, output channel) roots; its score is the **mean** of its roots' scores over the
/// roots the criterion can score (a residual channel ties several convolutions: the mean keeps
/// one scale whatever the number of producers tied, and within a group every channel has the
/// same roots, so sum and mean rank alike). A group none of whose roots can be scored gets an
/// empty vector (left whole by the ranking).
///
///   l1Scores        Li et al. 2017: the L1 norm (sum of |w|) of the producer's weights of that
///                   output channel (Conv: the filter, W[c, :, :, :]; Gemm / MatMul: the row or
///                   column of the output feature).
///   bnGammaScores   network slimming (Liu et al. 2017): |γ_c| of the BatchNormalization that
///                   reads the producer's output (followingBatchNorm); producers without one are
///                   not scored.
///   scopScores      SCOP (Tang et al. 2020, the seed's PrunerFtCompressAlgo):
///                   |γ_c| · (kfscale_c − (1 − kfscale_c)) = |γ_c| · (2 kfscale_c − 1), for the
///                   producers given a kfscale (knockoff.h) and followed by a BatchNormalization.
///
/// No Qt. Reads the graph only.

#include <map>
#include <vector>

#include "core/algo/prune/channel_ranking.h"
#include "core/analysis/channel_dependencies.h"
#include "core/ir/graph.h"

namespace wh::algo::prune {

/// The BatchNormalization that is the only reader of `producer`'s output 0 (as its input 0),
/// with a constant float scale; null otherwise.
const ir::Node* followingBatchNorm(const ir::Node& producer);

/// See the file comment.
ChannelScores l1Scores(const ir::Graph& graph, const analysis::ChannelDependencies& deps);
ChannelScores bnGammaScores(const ir::Graph& graph, const analysis::ChannelDependencies& deps);
/// `kfscale[producer]`: one value per output channel of that producer.
ChannelScores scopScores(const ir::Graph& graph, const analysis::ChannelDependencies& deps,
                         const std::map<ir::NodeId, std::vector<float>>& kfscale);

}  // namespace wh::algo::prune
