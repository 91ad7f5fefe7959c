#include "core/algo/prune/channel_ranking.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include <fmt/format.h>

#include "core/analysis/cost.h"
#include "core/rewrite/rewriter.h"

namespace wh::algo::prune {

namespace {

using analysis::ChannelDependencies;

/// Tracks, while channels are chosen one by one, how many positions of every id-carrying
/// tensor are left, so that no tensor is emptied (checkPruneFloors' rule, kept incrementally).
class FloorTracker {
public:
    FloorTracker(const ChannelDependencies& deps, const RankingOptions& options)
        : m_deps(deps),
          m_options(options),
          m_removedInGroup(deps.groups.size(), 0),
          m_kept(deps.tensors.size()) {
        for (std::size_t t = 0; t < deps.tensors.size(); ++t) {
            m_kept[t] = static_cast<int64_t>(deps.tensors[t].ids.size());
            for (int64_t id : deps.tensors[t].ids)
                if (deps.channelOfId[id].first >= 0) ++m_occurs[deps.channelOfId[id]][t];
        }
    }

    /// Takes the channels `cs` of group g together when the floors allow all of them; false
    /// (and nothing taken) otherwise.
    bool take(int g, const std::vector<int>& cs) {
        const int64_t size = static_cast<int64_t>(m_deps.groups[g].channels.size());
        const int64_t n = static_cast<int64_t>(cs.size());
        if (m_removedInGroup[g] + n > maxRemovable(size, m_options)) return false;
        std::map<std::size_t, int64_t> need;
        for (int c : cs)
            if (const auto it = m_occurs.find({g, c}); it != m_occurs.end())
                for (const auto& [t, k] : it->second) need[t] += k;
        for (const auto& [t, k] : need)
            if (m_kept[t] - k <= 0) return false;
        for (const auto& [t, k] : need) m_kept[t] -= k;
        m_removedInGroup[g] += n;
        return true;
    }

private:
    const ChannelDependencies& m_deps;
    const RankingOptions& m_options;
    std::vector<int64_t> m_removedInGroup;
    std::vector<int64_t> m_kept;
    std::map<std::pair<int, int>, std::map<std::size_t, int64_t>> m_occurs;
};

/// A group's channels removed together: one channel, or `channel_multiple` of them.
struct Chunk {
    double score = 0;  ///< mean normalised score of its channels
    int group = 0;
    std::vector<int> channels;
};

PruneSelection selectionOf(std::size_t groups, const std::vector<Chunk>& order, std::size_t count) {
    PruneSelection sel;
    sel.remove.resize(groups);
    for (std::size_t i = 0; i < count && i < order.size(); ++i)
        for (int c : order[i].channels)
            sel.remove[static_cast<std::size_t>(order[i].group)].push_back(c);
    for (auto& r : sel.remove) std::sort(r.begin(), r.end());
    return sel;
}

/// Group g's channels, lowest score first, cut into removal chunks so that what stays is a
/// multiple of `multiple`: first C mod multiple channels (when not 0), then `multiple` at a time.
/// multiple <= 1: one chunk per channel.
std::vector<Chunk> chunksOf(int g, const std::vector<double>& scores, int64_t multiple) {
    std::vector<std::pair<double, int>> order;
    for (std::size_t c = 0; c < scores.size(); ++c) order.emplace_back(scores[c], static_cast<int>(c));
    std::stable_sort(order.begin(), order.end());
    const int64_t m = std::max<int64_t>(multiple, 1);
    const int64_t size = static_cast<int64_t>(order.size());
    std::vector<Chunk> chunks;
    int64_t next = size % m == 0 ? m : size % m;
    for (int64_t i = 0; i < size;) {
        Chunk chunk;
        chunk.group = g;
        const int64_t end = std::min(size, i + next);
        for (; i < end; ++i) {
            chunk.score += order[static_cast<std::size_t>(i)].first;
            chunk.channels.push_back(order[static_cast<std::size_t>(i)].second);
        }
        chunk.score /= static_cast<double>(chunk.channels.size());
        chunks.push_back(std::move(chunk));
        next = m;
    }
    return chunks;
}

Expected<int64_t> flopsOf(const ir::Model& model, const RankingOptions& options) {
    WH_ASSIGN_OR_RETURN(analysis::ModelCost cost,
                        analysis::modelCost(model, 1, options.inputShapes, options.threads));
    return cost.flops;
}

}  // namespace

Expected<ScoreNormalization> parseScoreNormalization(const std::string& name) {
    if (name == "mean") return ScoreNormalization::kMean;
    if (name == "max") return ScoreNormalization::kMax;
    if (name == "none") return ScoreNormalization::kNone;
    return error(StatusCode::kUsage, "score normalisation '{}': expected mean, max or none", name);
}

int64_t maxRemovable(int64_t channels, const RankingOptions& options) {
    const double ratio = std::clamp(options.maxLayerRatio, 0.0, 1.0);
    const int64_t byRatio =
        static_cast<int64_t>(std::floor(ratio * static_cast<double>(channels) + 1e-9));
    const int64_t byCount = channels - std::max<int64_t>(options.minChannels, 1);
    return std::max<int64_t>(0, std::min(byRatio, byCount));
}

ChannelScores normalizeScores(const ChannelScores& scores, ScoreNormalization normalization) {
    ChannelScores out = scores;
    if (normalization == ScoreNormalization::kNone) return out;
    for (std::vector<double>& group : out) {
        if (group.empty()) continue;
        double sum = 0, max = 0;
        for (double s : group) {
            sum += std::fabs(s);
            max = std::max(max, std::fabs(s));
        }
        const double d = normalization == ScoreNormalization::kMean
                             ? sum / static_cast<double>(group.size())
                             : max;
        if (d > 0)
            for (double& s : group) s /= d;
    }
    return out;
}

Expected<ir::Model> prunedCopy(const ir::Model& model, const ChannelDependencies& deps,
                               const PruneSelection& selection) {
    ir::Model copy = model.clone();
    rewrite::Rewriter rw(*copy.graph);
    WH_ASSIGN_OR_RETURN(PruneReport report, applyPrune(rw, deps, selection));
    (void)report;
    return copy;
}

Expected<RankingResult> rankChannels(const ir::Model& model, const ChannelDependencies& deps,
                                     const ChannelScores& scores, const RankingOptions& options) {
    const bool uniform = options.pruneRate > 0;
    if (uniform && options.pruneRate >= 1)
        return error(StatusCode::kUsage, "prune_rate {} must be in [0, 1)", options.pruneRate);
    if (!uniform && !(options.targetFlopsRatio > 0 && options.targetFlopsRatio < 1))
        return error(StatusCode::kUsage,
                     "ranking: set prune_rate in (0, 1) or target_flops_ratio in (0, 1) (got {} "
                     "and {})",
                     options.pruneRate, options.targetFlopsRatio);
    if (scores.size() > deps.groups.size())
        return error(StatusCode::kUsage, "ranking: {} score groups for {} channel groups",
                     scores.size(), deps.groups.size());
    for (std::size_t g = 0; g < scores.size(); ++g)
        if (!scores[g].empty() && scores[g].size() != deps.groups[g].channels.size())
            return error(StatusCode::kUsage, "ranking: group {} has {} channels but {} scores", g,
                         deps.groups[g].channels.size(), scores[g].size());

    RankingResult result;
    FloorTracker floors(deps, options);
    if (uniform) {
        result.selection.remove.resize(deps.groups.size());
        for (std::size_t g = 0; g < scores.size(); ++g) {
            if (scores[g].empty()) continue;
            // floor(rate · C) channels, fewer so that what stays is a multiple of
            // channel_multiple: the chunks (lowest scores first) that fit in that count.
            const std::size_t want = static_cast<std::size_t>(
                std::floor(options.pruneRate * static_cast<double>(scores[g].size()) + 1e-9));
            std::size_t taken = 0;
            for (const Chunk& chunk : chunksOf(static_cast<int>(g), scores[g],
                                               options.channelMultiple)) {
                if (taken + chunk.channels.size() > want) break;
                if (!floors.take(static_cast<int>(g), chunk.channels)) {
                    if (options.channelMultiple > 1) break;  // a later chunk would break the multiple
                    continue;
                }
                taken += chunk.channels.size();
                for (int c : chunk.channels) result.selection.remove[g].push_back(c);
            }
            std::sort(result.selection.remove[g].begin(), result.selection.remove[g].end());
            result.channelsRemoved += static_cast<int64_t>(result.selection.remove[g].size());
        }
        return result;
    }

    // Global: one order over all ranked groups (ties: graph order of the groups, then channel).
    const ChannelScores norm = normalizeScores(scores, options.normalization);
    // Chunks of one channel, or of channel_multiple (see chunksOf), ranked by their mean score;
    // a group's chunks keep their order (its weakest channels go first), and a chunk the floors
    // refuse ends that group.
    std::vector<Chunk> all;
    for (std::size_t g = 0; g < norm.size(); ++g)
        for (Chunk& chunk : chunksOf(static_cast<int>(g), norm[g], options.channelMultiple))
            all.push_back(std::move(chunk));
    std::stable_sort(all.begin(), all.end(), [](const Chunk& a, const Chunk& b) {
        return std::tie(a.score, a.group) < std::tie(b.score, b.group);
    });
    std::vector<Chunk> accepted;
    std::vector<bool> closed(norm.size(), false);
    for (Chunk& chunk : all) {
        if (closed[static_cast<std::size_t>(chunk.group)]) continue;
        if (floors.take(chunk.group, chunk.channels))
            accepted.push_back(std::move(chunk));
        else if (options.channelMultiple > 1)
            closed[static_cast<std::size_t>(chunk.group)] = true;
    }

    WH_ASSIGN_OR_RETURN(result.flopsBefore, flopsOf(model, options));
    const double target = options.targetFlopsRatio * static_cast<double>(result.flopsBefore);
    std::map<std::size_t, int64_t> measured{{0, result.flopsBefore}};
    auto flopsAt = [&](std::size_t k) -> Expected<int64_t> {
        if (auto it = measured.find(k); it != measured.end()) return it->second;
        if (options.job) {
            WH_RETURN_IF_ERROR(options.job->checkCancelled());
            options.job->setProgress(std::min(0.99, result.measurements / 14.0),
                                     "ranking: measuring FLOPs of pruned copies");
        }
        WH_ASSIGN_OR_RETURN(ir::Model copy,
                            prunedCopy(model, deps, selectionOf(deps.groups.size(), accepted, k)));
        WH_ASSIGN_OR_RETURN(int64_t f, flopsOf(copy, options));
        ++result.measurements;
        measured[k] = f;
        return f;
    };
    WH_ASSIGN_OR_RETURN(const int64_t floorFlops, flopsAt(accepted.size()));
    if (static_cast<double>(floorFlops) > target)
        return error(StatusCode::kBadInput,
                     "target_flops_ratio {:.4g} is out of reach: with the floors (min_channels {}, "
                     "max_layer_ratio {:.3g}) pruning every rankable channel keeps {:.4f} of the "
                     "FLOPs ({} of {})",
                     options.targetFlopsRatio, options.minChannels, options.maxLayerRatio,
                     static_cast<double>(floorFlops) / static_cast<double>(result.flopsBefore),
                     floorFlops, result.flopsBefore);
    // Smallest k with flops(k) <= target: flops(lo) > target, flops(hi) <= target.
    std::size_t lo = 0, hi = accepted.size();
    if (static_cast<double>(result.flopsBefore) <= target) hi = 0;
    while (hi - lo > 1) {
        const std::size_t mid = lo + (hi - lo) / 2;
        WH_ASSIGN_OR_RETURN(const int64_t f, flopsAt(mid));
        if (static_cast<double>(f) <= target)
            hi = mid;
        else
            lo = mid;
    }
    result.selection = selectionOf(deps.groups.size(), accepted, hi);
    result.channelsRemoved = 0;
    for (const auto& r : result.selection.remove)
        result.channelsRemoved += static_cast<int64_t>(r.size());
    result.flopsAfter = measured.at(hi);
    return result;
}

}  // namespace wh::algo::prune
