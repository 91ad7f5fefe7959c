// The channel ranking (core/algo/prune/channel_ranking.h) and the channel scores
// (channel_scores.h): a FLOPs target met on ResNet-20 as modelCost counts it, and no further
// than needed; the floors; a uniform rate removing floor(r·C) of every group, the lowest
// scores; dead channels (zero weights, zero BN shift and mean) ranked first and pruned without
// changing the outputs; the L1, BN-γ and SCOP scores against the formulas computed here from
// the weights.

#include "core/algo/prune/channel_ranking.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/algo/prune/channel_scores.h"
#include "core/models/architectures.h"
#include "tests/core/algo/prune_test_util.h"
#include "tests/core/analysis/channel_test_graphs.h"

namespace wh::algo::prune {
namespace {

using analysis::ChannelDependencies;

ir::Model resnet20() {
    auto m = models::buildArchitecture("resnet20", {.seed = 3});
    EXPECT_TRUE(m) << m.error().message();
    return m ? std::move(*m) : ir::Model{};
}

ChannelDependencies analyze(const ir::Model& m) {
    auto d = analysis::analyzeChannelDependencies(m);
    EXPECT_TRUE(d) << d.error().message();
    return d ? std::move(*d) : ChannelDependencies{};
}

int64_t flops(const ir::Model& m) {
    auto c = analysis::modelCost(m, 1);
    EXPECT_TRUE(c) << c.error().message();
    return c ? c->flops : 0;
}

double maxRelativeDiff(const engine::HostTensor& a, const engine::HostTensor& b) {
    auto x = a.toFloats(), y = b.toFloats();
    EXPECT_EQ(x.size(), y.size());
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
        worst = std::max(worst, std::fabs(double(x[i]) - y[i]));
        scale = std::max(scale, std::fabs(double(x[i])));
    }
    return scale > 0 ? worst / scale : worst;
}

const ir::Tensor& param(const ir::Node& n, int input) {
    return *analysis::channelParamTensor(n.input(input));
}

TEST(PruneRanking, GlobalFlopsTargetIsMetOnResNet20AndNoFurther) {
    const ir::Model m = resnet20();
    const ChannelDependencies d = analyze(m);
    ASSERT_FALSE(d.groups.empty());
    const ChannelScores scores = l1Scores(*m.graph, d);
    for (double target : {0.5, 0.7}) {
        SCOPED_TRACE(target);
        RankingOptions o;
        o.targetFlopsRatio = target;
        auto r = rankChannels(m, d, scores, o);
        ASSERT_TRUE(r) << r.error().message();
        const int64_t before = flops(m);
        EXPECT_EQ(r->flopsBefore, before);
        auto pruned = prunedCopy(m, d, r->selection);
        ASSERT_TRUE(pruned) << pruned.error().message();
        const int64_t after = flops(*pruned);
        EXPECT_EQ(after, r->flopsAfter);
        EXPECT_LE(static_cast<double>(after), target * static_cast<double>(before))
            << after << " of " << before;
        EXPECT_GT(r->channelsRemoved, 0);

        // Minimal: the removed channel ranked last (highest normalised score) put back misses
        // the target.
        const ChannelScores norm = normalizeScores(scores, o.normalization);
        int bestG = -1, bestC = -1;
        double best = -1e300;
        for (std::size_t g = 0; g < r->selection.remove.size(); ++g)
            for (int c : r->selection.remove[g])
                if (norm[g][static_cast<std::size_t>(c)] > best) {
                    best = norm[g][static_cast<std::size_t>(c)];
                    bestG = static_cast<int>(g);
                    bestC = c;
                }
        ASSERT_GE(bestG, 0);
        PruneSelection less = r->selection;
        auto& v = less.remove[static_cast<std::size_t>(bestG)];
        v.erase(std::find(v.begin(), v.end(), bestC));
        auto almost = prunedCopy(m, d, less);
        ASSERT_TRUE(almost) << almost.error().message();
        EXPECT_GT(static_cast<double>(flops(*almost)), target * static_cast<double>(before));

        // The pruned model runs with the original output shape.
        const auto x = testing::randomNormal({2, 1, 28, 28}, 5);
        const auto y0 = testing::runEngine(m, {x}), y1 = testing::runEngine(*pruned, {x});
        ASSERT_EQ(y0.size(), y1.size());
        EXPECT_EQ(y0[0].dims(), y1[0].dims());
    }
}

TEST(PruneRanking, FloorsHoldUnderAGlobalTarget) {
    const ir::Model m = resnet20();
    const ChannelDependencies d = analyze(m);
    const ChannelScores scores = l1Scores(*m.graph, d);
    RankingOptions o;
    o.targetFlopsRatio = 0.3;
    o.minChannels = 6;
    o.maxLayerRatio = 0.6;
    auto r = rankChannels(m, d, scores, o);
    ASSERT_TRUE(r) << r.error().message();
    bool someGroupAtItsFloor = false;
    for (std::size_t g = 0; g < d.groups.size(); ++g) {
        const int64_t c = static_cast<int64_t>(d.groups[g].channels.size());
        const int64_t removed = static_cast<int64_t>(r->selection.remove[g].size());
        const int64_t mustKeep = std::max<int64_t>(
            6, c - static_cast<int64_t>(std::floor(0.6 * static_cast<double>(c))));
        EXPECT_GE(c - removed, std::min(c, mustKeep)) << "group " << g << " of " << c;
        someGroupAtItsFloor = someGroupAtItsFloor || (removed > 0 && c - removed == mustKeep);
    }
    // The floors did bind somewhere (else this test would not test them).
    EXPECT_TRUE(someGroupAtItsFloor);
    std::printf("[ floors ] FLOPs %lld -> %lld with %lld channels removed\n",
                static_cast<long long>(r->flopsBefore), static_cast<long long>(r->flopsAfter),
                static_cast<long long>(r->channelsRemoved));
    EXPECT_TRUE(checkPruneFloors(d, r->selection, *m.graph).isOk());

    // A target the floors cannot reach is refused, naming what can be reached.
    o.targetFlopsRatio = 0.05;
    auto unreachable = rankChannels(m, d, scores, o);
    ASSERT_FALSE(unreachable);
    EXPECT_EQ(unreachable.error().code(), StatusCode::kBadInput);
    EXPECT_NE(unreachable.error().message().find("out of reach"), std::string::npos)
        << unreachable.error().message();
}

TEST(PruneRanking, UniformRateRemovesFloorOfRateTimesChannelsLowestFirst) {
    const ir::Model m = resnet20();
    const ChannelDependencies d = analyze(m);
    const ChannelScores scores = l1Scores(*m.graph, d);
    for (double rate : {0.3, 0.5, 0.77}) {
        SCOPED_TRACE(rate);
        RankingOptions o;
        o.pruneRate = rate;
        o.maxLayerRatio = 0.9;
        auto r = rankChannels(m, d, scores, o);
        ASSERT_TRUE(r) << r.error().message();
        for (std::size_t g = 0; g < d.groups.size(); ++g) {
            const std::size_t c = d.groups[g].channels.size();
            EXPECT_EQ(r->selection.remove[g].size(),
                      static_cast<std::size_t>(std::floor(rate * static_cast<double>(c))))
                << "group " << g << " of " << c;
            const std::set<int> removed(r->selection.remove[g].begin(),
                                        r->selection.remove[g].end());
            double maxRemoved = -1e300, minKept = 1e300;
            for (std::size_t k = 0; k < c; ++k) {
                if (removed.count(static_cast<int>(k)))
                    maxRemoved = std::max(maxRemoved, scores[g][k]);
                else
                    minKept = std::min(minKept, scores[g][k]);
            }
            EXPECT_LE(maxRemoved, minKept) << "group " << g;
        }
    }
    RankingOptions bad;
    EXPECT_FALSE(rankChannels(m, d, scores, bad)) << "neither a rate nor a target";
}

// Dead channels: their conv rows (and bias) are zero and their BN shift and mean are zero, so
// they are exactly 0 after the BN; the L1 ranking puts them first and pruning them leaves the
// outputs equal. Control: as many live channels of the same group change the outputs.
TEST(PruneRanking, DeadChannelsGoFirstAndTheOutputsStayEqual) {
    ir::Model m = resnet20();
    const ChannelDependencies d = analyze(m);
    // A single-producer group whose Conv feeds a BatchNormalization.
    int group = -1;
    for (std::size_t g = 0; g < d.groups.size() && group < 0; ++g) {
        if (d.groups[g].producers.size() != 1) continue;
        const ir::Node* p = m.graph->findNode(d.groups[g].producers[0]);
        if (p && p->opType == "Conv" && followingBatchNorm(*p) && d.groups[g].channels.size() >= 16)
            group = static_cast<int>(g);
    }
    ASSERT_GE(group, 0);
    ir::Node* conv = m.graph->findNode(d.groups[group].producers[0]);
    const ir::Node* bn = followingBatchNorm(*conv);
    const std::vector<int> dead{1, 4, 9};
    const int64_t channels = static_cast<int64_t>(d.groups[group].channels.size());
    {
        ir::Tensor* w = conv->input(1)->mutableInitializer();
        ASSERT_NE(w, nullptr);
        const int64_t inner = w->numElements() / w->dims[0];
        auto v = w->mutableValues<float>();
        for (int c : dead) {
            const int64_t ch = d.groups[group].channels[c][0].channel;
            std::fill_n(v.begin() + ch * inner, inner, 0.0f);
            if (conv->numInputs() > 2 && conv->input(2))
                conv->input(2)->mutableInitializer()->mutableValues<float>()[ch] = 0.0f;
            for (int i : {2, 3})  // BN B and mean
                const_cast<ir::Node*>(bn)
                    ->input(i)
                    ->mutableInitializer()
                    ->mutableValues<float>()[ch] = 0.0f;
        }
    }
    const auto x = testing::randomNormal({3, 1, 28, 28}, 11);
    const auto before = testing::runEngine(m, {x});
    ASSERT_FALSE(before.empty());

    ChannelScores scores(d.groups.size());
    scores[group] = l1Scores(*m.graph, d)[group];
    RankingOptions o;
    o.pruneRate = (static_cast<double>(dead.size()) + 0.5) / static_cast<double>(channels);
    auto r = rankChannels(m, d, scores, o);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->selection.remove[group], dead);
    auto pruned = prunedCopy(m, d, r->selection);
    ASSERT_TRUE(pruned) << pruned.error().message();
    EXPECT_EQ(param(*pruned->graph->findNode(conv->id()), 1).dims[0],
              channels - static_cast<int64_t>(dead.size()));
    const auto after = testing::runEngine(*pruned, {x});
    ASSERT_EQ(after.size(), before.size());
    EXPECT_LT(maxRelativeDiff(before[0], after[0]), 1e-5);

    PruneSelection live;
    live.remove.resize(d.groups.size());
    live.remove[group] = {0, 2, 3};
    auto other = prunedCopy(m, d, live);
    ASSERT_TRUE(other);
    EXPECT_GT(maxRelativeDiff(before[0], testing::runEngine(*other, {x})[0]), 1e-3);
}

TEST(ChannelScores, NormalisationDividesByTheGroupsMeanOrMaxAbsoluteScore) {
    const ChannelScores s{{1.0, -3.0, 2.0}, {}, {0.0, 0.0}};
    const ChannelScores mean = normalizeScores(s, ScoreNormalization::kMean);
    EXPECT_DOUBLE_EQ(mean[0][0], 0.5);
    EXPECT_DOUBLE_EQ(mean[0][1], -1.5);
    EXPECT_DOUBLE_EQ(mean[0][2], 1.0);
    EXPECT_TRUE(mean[1].empty());
    EXPECT_EQ(mean[2], (std::vector<double>{0.0, 0.0}));
    const ChannelScores max = normalizeScores(s, ScoreNormalization::kMax);
    EXPECT_DOUBLE_EQ(max[0][1], -1.0);
    EXPECT_DOUBLE_EQ(max[0][2], 2.0 / 3.0);
    EXPECT_EQ(normalizeScores(s, ScoreNormalization::kNone), s);
}

// residualGraph: a (Conv + BN) and b (Conv, no BN) tied by the residual Add; c (Conv + BN)
// alone; the head's Gemm output is blocked (graph output).
TEST(ChannelScores, L1BnGammaAndScopFollowTheirFormulas) {
    ir::Model m = testing::residualGraph();
    const ir::Graph& g = *m.graph;
    const ChannelDependencies d = analyze(m);
    const int ga = testing::groupOf(g, d, "a_Conv"), gc = testing::groupOf(g, d, "c_Conv");
    ASSERT_GE(ga, 0);
    ASSERT_GE(gc, 0);
    ASSERT_EQ(ga, testing::groupOf(g, d, "b_Conv"));
    const ir::Node* a = testing::nodeNamed(g, "a_Conv");
    const ir::Node* b = testing::nodeNamed(g, "b_Conv");
    const ir::Node* c = testing::nodeNamed(g, "c_Conv");
    ASSERT_NE(followingBatchNorm(*a), nullptr);
    EXPECT_EQ(followingBatchNorm(*b), nullptr) << "b feeds the Add";
    // Distinct γ per channel (the builder's are constant), some negative.
    for (const ir::Node* conv : {a, c}) {
        ir::Tensor* gamma =
            const_cast<ir::Node*>(followingBatchNorm(*conv))->input(1)->mutableInitializer();
        auto v = gamma->mutableValues<float>();
        for (std::size_t i = 0; i < v.size(); ++i)
            v[i] = (i % 2 ? -1.0f : 1.0f) * (0.25f + 0.125f * static_cast<float>(i));
    }
    auto rowL1 = [](const ir::Tensor& w, int64_t ch) {
        const int64_t inner = w.numElements() / w.dims[0];
        double s = 0;
        for (int64_t i = 0; i < inner; ++i) s += std::fabs(w.values<float>()[ch * inner + i]);
        return s;
    };
    auto gammaOf = [](const ir::Node& conv, int64_t ch) {
        return static_cast<double>(param(*followingBatchNorm(conv), 1).values<float>()[ch]);
    };

    const ChannelScores l1 = l1Scores(g, d);
    const ChannelScores bn = bnGammaScores(g, d);
    std::map<ir::NodeId, std::vector<float>> beta;
    beta[a->id()] = {0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 0.1f, 0.9f, 0.6f};
    beta[c->id()] = {1.0f, 0.0f, 0.3f, 0.7f, 0.5f, 0.95f};
    const ChannelScores scop = scopScores(g, d, beta);
    for (int grp : {ga, gc}) {
        ASSERT_EQ(l1[grp].size(), d.groups[grp].channels.size());
        ASSERT_EQ(bn[grp].size(), d.groups[grp].channels.size());
        ASSERT_EQ(scop[grp].size(), d.groups[grp].channels.size());
        for (std::size_t k = 0; k < d.groups[grp].channels.size(); ++k) {
            double wantL1 = 0, wantBn = 0, wantScop = 0;
            int nBn = 0;
            for (const analysis::ChannelRoot& r : d.groups[grp].channels[k]) {
                const ir::Node* p = g.findNode(r.node);
                wantL1 += rowL1(param(*p, 1), r.channel);
                if (followingBatchNorm(*p)) {
                    const double gm = std::fabs(gammaOf(*p, r.channel));
                    const double bt = beta.at(p->id())[static_cast<std::size_t>(r.channel)];
                    wantBn += gm;
                    wantScop += gm * (2 * bt - 1);
                    ++nBn;
                }
            }
            wantL1 /= static_cast<double>(d.groups[grp].channels[k].size());
            ASSERT_EQ(nBn, 1) << "one BN per channel in this graph";
            EXPECT_NEAR(l1[grp][k], wantL1, 1e-9 * wantL1) << "group " << grp << " channel " << k;
            EXPECT_NEAR(bn[grp][k], wantBn, 1e-12);
            EXPECT_NEAR(scop[grp][k], wantScop, 1e-9);
        }
    }
    // Two spot values written out: channel 4 of c has β = 0.5 → 0; channel 0 of c, β = 1 → |γ|.
    const int c4 = testing::channelOf(g, d, gc, "c_Conv", 4);
    const int c0 = testing::channelOf(g, d, gc, "c_Conv", 0);
    EXPECT_DOUBLE_EQ(scop[gc][c4], 0.0);
    EXPECT_DOUBLE_EQ(scop[gc][c0], 0.25);
    // SCOP without a kfscale for a group's producers leaves it unscored.
    beta.erase(c->id());
    EXPECT_TRUE(scopScores(g, d, beta)[gc].empty());
}

}  // namespace

// channel_multiple: every group keeps a multiple of it (or stays whole), its weakest channels
// going first, under a FLOPs target and under a uniform rate; with 1 the counts are free.
TEST(PruneRanking, ChannelMultipleKeepsEveryGroupAMultipleOfIt) {
    const ir::Model m = resnet20();
    const ChannelDependencies d = analyze(m);
    const ChannelScores scores = l1Scores(*m.graph, d);
    auto keptCounts = [&](const PruneSelection& s) {
        std::vector<int64_t> kept;
        for (std::size_t g = 0; g < d.groups.size(); ++g)
            kept.push_back(static_cast<int64_t>(d.groups[g].channels.size()) -
                           static_cast<int64_t>(g < s.remove.size() ? s.remove[g].size() : 0));
        return kept;
    };
    for (int64_t multiple : {8, 16}) {
        SCOPED_TRACE(multiple);
        RankingOptions o;
        o.targetFlopsRatio = 0.5;
        o.channelMultiple = multiple;
        auto r = rankChannels(m, d, scores, o);
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_LE(static_cast<double>(r->flopsAfter), 0.5 * static_cast<double>(r->flopsBefore));
        const std::vector<int64_t> kept = keptCounts(r->selection);
        int64_t pruned = 0;
        for (std::size_t g = 0; g < kept.size(); ++g) {
            const int64_t c = static_cast<int64_t>(d.groups[g].channels.size());
            if (kept[g] == c) continue;
            ++pruned;
            EXPECT_EQ(kept[g] % multiple, 0) << "group " << g << " keeps " << kept[g] << " of " << c;
            EXPECT_GT(kept[g], 0);
            // Lowest scores first within the group.
            const std::set<int> removed(r->selection.remove[g].begin(), r->selection.remove[g].end());
            double maxRemoved = -1e300, minKept = 1e300;
            for (int64_t k = 0; k < c; ++k) {
                const double s = scores[g][static_cast<std::size_t>(k)];
                if (removed.count(static_cast<int>(k)))
                    maxRemoved = std::max(maxRemoved, s);
                else
                    minKept = std::min(minKept, s);
            }
            EXPECT_LE(maxRemoved, minKept) << "group " << g;
        }
        EXPECT_GT(pruned, 0);

        RankingOptions u;
        u.pruneRate = 0.4;
        u.channelMultiple = multiple;
        auto ru = rankChannels(m, d, scores, u);
        ASSERT_TRUE(ru) << ru.error().message();
        const std::vector<int64_t> ku = keptCounts(ru->selection);
        for (std::size_t g = 0; g < ku.size(); ++g) {
            const int64_t c = static_cast<int64_t>(d.groups[g].channels.size());
            // floor(0.4 · C) at most, rounded so that what stays is a multiple.
            EXPECT_TRUE(ku[g] == c || ku[g] % multiple == 0) << "group " << g;
            EXPECT_LE(c - ku[g], static_cast<int64_t>(std::floor(0.4 * static_cast<double>(c))));
        }
    }
    // Free counts with 1: some group of ResNet-20 keeps a count that is not a multiple of 8.
    RankingOptions free;
    free.targetFlopsRatio = 0.5;
    auto rf = rankChannels(m, d, scores, free);
    ASSERT_TRUE(rf) << rf.error().message();
    bool odd = false;
    for (int64_t k : keptCounts(rf->selection)) odd |= k % 8 != 0;
    EXPECT_TRUE(odd);
}

}  // namespace wh::algo::prune
