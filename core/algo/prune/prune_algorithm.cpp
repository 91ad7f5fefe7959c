#include "core/algo/prune/prune_algorithm.h"

#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/algo/prune/prune_plan.h"

namespace wh::algo::prune {

std::vector<ParamSpec> pruningParams() {
    return {
        ParamSpec::real("target_flops_ratio", 0.5, 0.0, 1.0,
                        "FLOPs kept, as a fraction of the model's (global ranking across layers "
                        "of normalised scores, measured on the pruned graph); 0 or 1 = use "
                        "prune_rate")
            .inGroup("ranking"),
        ParamSpec::real("prune_rate", 0.0, 0.0, 0.99,
                        "the seed's uniform rate: floor(rate · C) channels of every group; 0 = "
                        "use target_flops_ratio")
            .inGroup("ranking"),
        ParamSpec::integer("min_channels", 1, 1, 1000000, "channels every group keeps at least")
            .inGroup("floors"),
        ParamSpec::real("max_layer_ratio", 0.8, 0.0, 1.0,
                        "fraction of a group's channels that may go at most")
            .inGroup("floors"),
        ParamSpec::integer("channel_multiple", 16, 1, 1024,
                           "every pruned layer keeps a multiple of this many channels (the block "
                           "size of vectorised kernels; 1 = any count)")
            .inGroup("floors"),
        ParamSpec::choice("normalize", "mean", {"mean", "max", "none"},
                          "per-group score normalisation for the global ranking (divide by the "
                          "group's mean or max |score|)")
            .inGroup("ranking"),
        ParamSpec::integer("seed", 0, 0, std::numeric_limits<int32_t>::max(),
                           "seed (SCOP's knockoff permutations and shuffling)"),
    };
}

Expected<RankingOptions> rankingOptionsFrom(const Params& params, const AlgoContext& ctx) {
    RankingOptions o;
    o.pruneRate = params.getFloat("prune_rate");
    const double target = params.getFloat("target_flops_ratio");
    o.targetFlopsRatio = target > 0 && target < 1 ? target : 0.0;
    if (o.pruneRate <= 0 && o.targetFlopsRatio <= 0)
        return error(StatusCode::kUsage,
                     "set target_flops_ratio in (0, 1) or prune_rate in (0, 1): nothing to prune "
                     "(target_flops_ratio {}, prune_rate {})",
                     target, o.pruneRate);
    o.minChannels = params.getInt("min_channels");
    o.maxLayerRatio = params.getFloat("max_layer_ratio");
    o.channelMultiple = params.getInt("channel_multiple");
    WH_ASSIGN_OR_RETURN(o.normalization, parseScoreNormalization(params.getString("normalize")));
    o.inputShapes = ctx.inputShapes;
    o.threads = ctx.threads;
    o.job = ctx.job;
    return o;
}

TrainingDefaults pruningTrainingDefaults() {
    TrainingDefaults t;
    t.trains = true;
    t.epochs = 1;
    t.batch = 128;
    t.lr = 0.01;
    t.optimizer = "sgd";
    t.schedule = "cosine";
    return t;
}

Expected<analysis::ChannelDependencies> analyzeForPruning(const AlgoContext& ctx) {
    if (!ctx.model) return error(StatusCode::kInternal, "pruning: no model in the context");
    analysis::ChannelOptions co;
    co.inputShapes = ctx.inputShapes;
    return analysis::analyzeChannelDependencies(*ctx.model, co);
}

std::vector<bool> groupsInScope(const analysis::ChannelDependencies& deps,
                                const std::vector<ScopeEntry>& scope) {
    std::set<ir::NodeId> included;
    for (const ScopeEntry& e : scope)
        if (e.included) included.insert(e.node);
    std::vector<bool> in(deps.groups.size(), true);
    for (std::size_t g = 0; g < deps.groups.size(); ++g)
        for (ir::NodeId p : deps.groups[g].producers) in[g] = in[g] && included.count(p) > 0;
    return in;
}

Expected<ApplyReport> pruneByScores(rewrite::Rewriter& rw, const Selection& selection,
                                    AlgoContext& ctx, const analysis::ChannelDependencies& deps,
                                    ChannelScores scores, const Params& params,
                                    const std::string& algorithm) {
    if (!ctx.model) return error(StatusCode::kInternal, "{}: no model in the context", algorithm);
    const ir::Graph& g = rw.graph();
    ApplyReport report;
    std::vector<ScopeEntry> scope = resolveScope(g, selection, {"Conv", "Gemm", "MatMul"});
    const std::vector<bool> inScope = groupsInScope(deps, scope);
    scores.resize(deps.groups.size());
    for (std::size_t gi = 0; gi < deps.groups.size(); ++gi)
        if (!inScope[gi]) scores[gi].clear();

    WH_ASSIGN_OR_RETURN(RankingOptions ro, rankingOptionsFrom(params, ctx));
    WH_ASSIGN_OR_RETURN(RankingResult ranked, rankChannels(*ctx.model, deps, scores, ro));
    WH_ASSIGN_OR_RETURN(PruneReport pruned, applyPrune(rw, deps, ranked.selection));

    // Fates.
    std::map<ir::NodeId, std::vector<std::size_t>> groupsOf;
    for (std::size_t gi = 0; gi < deps.groups.size(); ++gi)
        for (ir::NodeId p : deps.groups[gi].producers) groupsOf[p].push_back(gi);
    std::map<ir::NodeId, std::string> blocked;
    for (const analysis::BlockedChannels& b : deps.blocked)
        if (!blocked.count(b.node)) blocked[b.node] = b.reason;
    std::map<ir::NodeId, int64_t> removedOf, channelsOf;
    for (std::size_t gi = 0; gi < deps.groups.size(); ++gi) {
        for (const auto& channel : deps.groups[gi].channels)
            for (const analysis::ChannelRoot& r : channel) ++channelsOf[r.node];
        if (gi < ranked.selection.remove.size())
            for (int c : ranked.selection.remove[gi])
                for (const analysis::ChannelRoot& r : deps.groups[gi].channels[c])
                    ++removedOf[r.node];
    }
    for (ScopeEntry& e : scope) {
        if (!e.included) continue;
        bool ranked = false, outOfScope = false;
        for (std::size_t gi : groupsOf[e.node]) {
            ranked = ranked || !scores[gi].empty();
            outOfScope = outOfScope || !inScope[gi];
        }
        if (ranked) {
            report.layers.push_back({e.name, e.op, "channels_kept",
                                     static_cast<double>(channelsOf[e.node] - removedOf[e.node])});
            continue;
        }
        e.included = false;
        if (groupsOf[e.node].empty())
            e.reason = blocked.count(e.node)
                           ? fmt::format("its channels cannot be removed: {}", blocked[e.node])
                           : "not a layer with constant weights whose channels can be removed";
        else if (outOfScope)
            e.reason = "its channels are tied to a layer that is not selected";
        else
            e.reason = fmt::format("{} cannot score its channels", algorithm);
    }
    report.scope = std::move(scope);

    int rankedGroups = 0;
    int64_t rankable = 0;
    for (const auto& s : scores) {
        rankedGroups += !s.empty();
        rankable += static_cast<int64_t>(s.size());
    }
    report.notes.push_back(fmt::format(
        "{}: removed {} of {} rankable channels ({} groups; {} prunable in all), {} parameter "
        "elements",
        algorithm, pruned.channelsRemoved, rankable, rankedGroups, deps.numPrunableChannels(),
        pruned.elementsRemoved));
    if (ro.pruneRate > 0)
        report.notes.push_back(fmt::format(
            "uniform prune_rate {:.3g} per group (floors: min_channels {}, max_layer_ratio {:.3g})",
            ro.pruneRate, ro.minChannels, ro.maxLayerRatio));
    else
        report.notes.push_back(fmt::format(
            "global ranking ({}-normalised scores): FLOPs {} -> {} ({:.4f}, target {:.4g}), "
            "measured on {} pruned copies (floors: min_channels {}, max_layer_ratio {:.3g})",
            params.getString("normalize"), ranked.flopsBefore, ranked.flopsAfter,
            ranked.flopsBefore ? static_cast<double>(ranked.flopsAfter) / ranked.flopsBefore : 0.0,
            ro.targetFlopsRatio, ranked.measurements, ro.minChannels, ro.maxLayerRatio));
    return report;
}

}  // namespace wh::algo::prune
