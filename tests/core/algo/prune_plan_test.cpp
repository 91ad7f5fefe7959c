// The prune plan: channels removed for real (structure), outputs unchanged when the removed
// channels contribute nothing (numerics, our engine), exact undo, the floors, the L1 helper, and
// the built-in ResNet-20 / MobileNetV2-tiny and two torchvision exports pruned by 30 % and run
// (our engine; ONNX Runtime when tests/peers is installed).

#include "core/algo/prune/prune_plan.h"

#include <cmath>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/models/architectures.h"
#include "tests/core/algo/prune_test_util.h"
#include "tests/core/analysis/channel_test_graphs.h"
#include "tests/core/rewrite/graph_equal.h"

namespace wh::algo::prune {
namespace {

using analysis::ChannelDependencies;
using analysis::ChannelEdit;
using analysis::ChannelEditKind;
using testing::channelOf;
using testing::groupOf;
using testing::nodeNamed;

ChannelDependencies analyze(const ir::Model& m) {
    auto d = analysis::analyzeChannelDependencies(m);
    EXPECT_TRUE(d) << d.error().message();
    return d ? std::move(*d) : ChannelDependencies{};
}

const ir::Tensor& paramOf(const ir::Graph& g, const std::string& node, int input) {
    return *analysis::channelParamTensor(nodeNamed(g, node)->input(input));
}

/// Sets to zero what the selected channels compute: their producers' weight rows and biases,
/// depthwise rows and biases, BN shift (B) and mean, so each removed channel is exactly 0 after
/// its BN and contributes nothing downstream. Consumers' input weights stay non-zero.
void zeroSelected(ir::Graph& g, const ChannelDependencies& d, const PruneSelection& sel) {
    std::set<std::pair<int, int>> chosen;
    for (std::size_t gi = 0; gi < sel.remove.size(); ++gi)
        for (int c : sel.remove[gi]) chosen.insert({static_cast<int>(gi), c});
    for (const ChannelEdit& e : d.edits) {
        if (e.kind != ChannelEditKind::kSliceParam) continue;
        ir::Node* n = g.findNode(e.node);
        const bool consumerSide =
            (n->opType == "Conv" && e.input == 1 && e.axis == 1) ||
            (n->opType == "Gemm" && e.input == 1 && e.axis == (n->attrInt("transB", 0) ? 1 : 0));
        const bool bnScaleOrVar =
            n->opType == "BatchNormalization" && (e.input == 1 || e.input == 4);
        if (consumerSide || bnScaleOrVar) continue;
        ir::Tensor* t = n->input(e.input)->mutableInitializer();
        ASSERT_NE(t, nullptr) << n->displayName() << " input " << e.input;
        int64_t outer = 1, inner = 1;
        for (int i = 0; i < e.axis; ++i) outer *= t->dims[i];
        for (std::size_t i = e.axis + 1; i < t->dims.size(); ++i) inner *= t->dims[i];
        auto v = t->mutableValues<float>();
        const int64_t len = t->dims[e.axis];
        for (int64_t p = 0; p < len; ++p) {
            if (!chosen.count(d.channelOfId[e.ids[p]])) continue;
            for (int64_t o = 0; o < outer; ++o)
                for (int64_t i = 0; i < inner; ++i) v[(o * len + p) * inner + i] = 0.0f;
        }
    }
}

double maxRelativeDiff(const std::vector<engine::HostTensor>& a,
                       const std::vector<engine::HostTensor>& b) {
    double worst = 0, scale = 0;
    for (std::size_t k = 0; k < a.size(); ++k) {
        auto x = a[k].toFloats(), y = b[k].toFloats();
        for (std::size_t i = 0; i < x.size(); ++i) {
            worst = std::max(worst, std::fabs(double(x[i]) - y[i]));
            scale = std::max(scale, std::fabs(double(x[i])));
        }
    }
    return scale > 0 ? worst / scale : worst;
}

struct Case {
    std::string name;
    std::function<ir::Model()> build;
    std::string producer;           ///< the group to prune: the one holding this node
    std::vector<int64_t> channels;  ///< its channels (of `producer`) to remove
    std::string checkNode;  ///< after pruning: this node's input `checkInput` has `checkDims`
    int checkInput;
    std::vector<int64_t> checkDims;
};

std::vector<Case> cases() {
    return {
        {"residual", testing::residualGraph, "a_Conv", {2, 5}, "b_Conv", 1, {6, 6, 3, 3}},
        {"concat", testing::concatGraph, "a_Conv", {1}, "e_Conv", 1, {5, 9, 3, 3}},
        {"concat_b", testing::concatGraph, "b_Conv", {0, 5}, "d_Conv", 1, {8, 8, 3, 3}},
        {"depthwise",
         [] { return testing::depthwiseGraph(1); },
         "a_Conv",
         {0, 7},
         "dw_Conv",
         1,
         {6, 1, 3, 3}},
        {"depthwise_x2",
         [] { return testing::depthwiseGraph(2); },
         "a_Conv",
         {3},
         "c_Conv",
         1,
         {4, 14, 1, 1}},
        {"grouped_in", testing::groupedGraph, "a_Conv", {1}, "g_Conv", 1, {6, 3, 3, 3}},
        {"grouped_out", testing::groupedGraph, "g_Conv", {2}, "c_Conv", 1, {4, 4, 3, 3}},
        {"flatten_gemm", testing::flattenGemmGraph, "a_Conv", {1, 3}, "fc_Gemm", 1, {5, 32}},
        {"gemm_hidden", testing::flattenGemmGraph, "fc_Gemm", {4}, "y_Gemm", 1, {4, 3}},
    };
}

PruneSelection selectionFor(const ir::Graph& g, const ChannelDependencies& d, const Case& c) {
    PruneSelection sel;
    sel.remove.resize(d.groups.size());
    const int grp = groupOf(g, d, c.producer);
    EXPECT_GE(grp, 0) << c.producer;
    for (int64_t ch : c.channels) {
        const int idx = channelOf(g, d, grp, c.producer, ch);
        EXPECT_GE(idx, 0) << c.producer << " channel " << ch;
        if (grp >= 0 && idx >= 0) sel.remove[grp].push_back(idx);
    }
    return sel;
}

TEST(PrunePlan, ZeroChannelsGoWithoutChangingTheOutputs) {
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.name);
        ir::Model m = c.build();
        const ChannelDependencies d = analyze(m);
        const PruneSelection sel = selectionFor(*m.graph, d, c);
        zeroSelected(*m.graph, d, sel);
        const auto x = testing::randomNormal({4, m.graph->inputs()[0]->type.shape->dims[1].value,
                                              m.graph->inputs()[0]->type.shape->dims[2].value,
                                              m.graph->inputs()[0]->type.shape->dims[3].value},
                                             3);
        const auto before = testing::runEngine(m, {x});

        // Control: removing the channels that do contribute (as many as the floors allow)
        // changes the outputs.
        {
            ir::Model other = m.clone();
            PruneSelection live;
            live.remove.resize(d.groups.size());
            for (std::size_t gi = 0; gi < sel.remove.size(); ++gi) {
                if (sel.remove[gi].empty()) continue;
                for (int ch = 0; ch < static_cast<int>(d.groups[gi].channels.size()); ++ch) {
                    if (std::find(sel.remove[gi].begin(), sel.remove[gi].end(), ch) !=
                        sel.remove[gi].end())
                        continue;
                    live.remove[gi].push_back(ch);
                    if (!checkPruneFloors(d, live, *m.graph).isOk()) live.remove[gi].pop_back();
                }
            }
            rewrite::Rewriter rw(*other.graph);
            ASSERT_TRUE(applyPrune(rw, d, live));
            EXPECT_GT(maxRelativeDiff(before, testing::runEngine(other, {x})), 1e-3);
        }

        rewrite::Rewriter rw(*m.graph);
        auto report = applyPrune(rw, d, sel);
        ASSERT_TRUE(report) << report.error().message();
        EXPECT_EQ(report->channelsRemoved, static_cast<int64_t>(c.channels.size()));
        ASSERT_TRUE(m.graph->validate().isOk());
        EXPECT_EQ(paramOf(*m.graph, c.checkNode, c.checkInput).dims, c.checkDims)
            << c.checkNode << " input " << c.checkInput;
        const auto after = testing::runEngine(m, {x});
        ASSERT_EQ(after.size(), before.size());
        EXPECT_EQ(after[0].dims(), before[0].dims());
        EXPECT_LT(maxRelativeDiff(before, after), 1e-5);
    }
}

TEST(PrunePlan, EveryParameterOfTheRemovedChannelsGoes) {
    ir::Model m = testing::residualGraph();
    const ChannelDependencies d = analyze(m);
    const ir::Tensor bWeights = paramOf(*m.graph, "b_Conv", 1);
    PruneSelection sel = selectionFor(*m.graph, d, cases()[0]);  // a/b channels 2 and 5
    const int gc = groupOf(*m.graph, d, "c_Conv");
    sel.remove[gc].push_back(channelOf(*m.graph, d, gc, "c_Conv", 0));
    rewrite::Rewriter rw(*m.graph);
    ASSERT_TRUE(applyPrune(rw, d, sel));
    const ir::Graph& g = *m.graph;
    EXPECT_EQ(paramOf(g, "a_Conv", 1).dims, (std::vector<int64_t>{6, 3, 3, 3}));
    EXPECT_EQ(paramOf(g, "a_Conv", 2).dims, (std::vector<int64_t>{6}));
    for (int i = 1; i <= 4; ++i)
        EXPECT_EQ(paramOf(g, "an_BatchNormalization", i).dims, (std::vector<int64_t>{6}));
    EXPECT_EQ(paramOf(g, "c_Conv", 1).dims, (std::vector<int64_t>{5, 6, 3, 3}));
    for (int i = 1; i <= 4; ++i)
        EXPECT_EQ(paramOf(g, "cn_BatchNormalization", i).dims, (std::vector<int64_t>{5}));
    EXPECT_EQ(paramOf(g, "y_Gemm", 1).dims, (std::vector<int64_t>{4, 5}));
    // b's kept weights are the original ones at the kept rows and columns.
    const std::vector<int64_t> kept = {0, 1, 3, 4, 6, 7};
    auto before = bWeights.values<float>();
    auto after = paramOf(g, "b_Conv", 1).values<float>();
    for (std::size_t o = 0; o < kept.size(); ++o)
        for (std::size_t i = 0; i < kept.size(); ++i)
            for (int k = 0; k < 9; ++k)
                ASSERT_EQ(after[(o * 6 + i) * 9 + k], before[(kept[o] * 8 + kept[i]) * 9 + k])
                    << "row " << o << " column " << i;
    // The depthwise group attribute follows the kept channels.
    ir::Model dw = testing::depthwiseGraph(2);
    const ChannelDependencies dd = analyze(dw);
    rewrite::Rewriter drw(*dw.graph);
    ASSERT_TRUE(applyPrune(drw, dd, selectionFor(*dw.graph, dd, cases()[3])));
    EXPECT_EQ(nodeNamed(*dw.graph, "dw_Conv")->attrInt("group", 0), 6);
    EXPECT_EQ(paramOf(*dw.graph, "dw_Conv", 1).dims, (std::vector<int64_t>{12, 1, 3, 3}));
}

TEST(PrunePlan, SplitSizesAndSliceBoundsFollow) {
    // a (8) → Split [3, 5] → p (Conv 3→2) and Slice [1, 4) of s1 → q (Conv 3→2) → p + q.
    testing::ModelBuilder b;
    b.input("x", {3, 4, 4});
    testing::addConv(b, "x", "a", 3, 8);
    b.int64s("sizes", {3, 5});
    b.node("Split", {"a", "sizes"}, {"s0", "s1"}, [] {
        std::vector<ir::Attribute> a;
        a.push_back(ir::Attribute::makeInt("axis", 1));
        return a;
    }());
    b.int64s("starts", {1});
    b.int64s("ends", {4});
    b.int64s("axes", {1});
    b.node("Slice", {"s1", "starts", "ends", "axes"}, {"sl"});
    testing::addConv(b, "s0", "p", 3, 2, 1, true);  // biases: see residualGraph()
    testing::addConv(b, "sl", "q", 3, 2, 1, true);
    b.node("Add", {"p", "q"}, {"y"});
    b.output("y", {2, 4, 4});
    ir::Model m = b.take();
    const ChannelDependencies d = analyze(m);
    // Remove a's channels 0 (in s0), 3 (in s1, before the slice) and 5 (inside the slice),
    // after zeroing them: the outputs must not move.
    Case c{"split", nullptr, "a_Conv", {0, 3, 5}, "", 0, {}};
    const PruneSelection sel = selectionFor(*m.graph, d, c);
    zeroSelected(*m.graph, d, sel);
    const auto x = testing::randomNormal({1, 3, 4, 4}, 5);
    const auto before = testing::runEngine(m, {x});
    rewrite::Rewriter rw(*m.graph);
    ASSERT_TRUE(applyPrune(rw, d, sel));
    const ir::Graph& g = *m.graph;
    auto ints = [&](const std::string& node, int input) {
        const ir::Tensor& t = paramOf(g, node, input);
        return std::vector<int64_t>(t.values<int64_t>().begin(), t.values<int64_t>().end());
    };
    EXPECT_EQ(ints("s0_Split", 1), (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(ints("sl_Slice", 1), (std::vector<int64_t>{0}));
    EXPECT_EQ(ints("sl_Slice", 2), (std::vector<int64_t>{2}));
    EXPECT_EQ(paramOf(g, "p_Conv", 1).dims, (std::vector<int64_t>{2, 2, 3, 3}));
    EXPECT_EQ(paramOf(g, "q_Conv", 1).dims, (std::vector<int64_t>{2, 2, 3, 3}));
    EXPECT_LT(maxRelativeDiff(before, testing::runEngine(m, {x})), 1e-5);
}

TEST(PrunePlan, UndoRestoresTheGraphExactly) {
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.name);
        ir::Model m = c.build();
        const std::unique_ptr<ir::Graph> original = m.graph->clone();
        const ChannelDependencies d = analyze(m);
        rewrite::Rewriter rw(*m.graph);
        ASSERT_TRUE(applyPrune(rw, d, selectionFor(*m.graph, d, c)));
        const std::unique_ptr<ir::Graph> pruned = m.graph->clone();
        std::string diff;
        EXPECT_FALSE(test::graphsEqual(*original, *m.graph));
        ASSERT_TRUE(rw.undo().isOk());
        EXPECT_TRUE(test::graphsEqual(*original, *m.graph, &diff)) << diff;
        EXPECT_FALSE(rw.canUndo());
        ASSERT_TRUE(rw.redo().isOk());
        EXPECT_TRUE(test::graphsEqual(*pruned, *m.graph, &diff)) << diff;
    }
}

TEST(PrunePlan, RefusesToEmptyALayer) {
    ir::Model m = testing::concatGraph();
    const std::unique_ptr<ir::Graph> original = m.graph->clone();
    const ChannelDependencies d = analyze(m);
    // All of a's channels (and d's 0..3 with them): a would have no output channel left.
    Case all{"all", nullptr, "a_Conv", {0, 1, 2, 3}, "", 0, {}};
    rewrite::Rewriter rw(*m.graph);
    auto r = applyPrune(rw, d, selectionFor(*m.graph, d, all));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), StatusCode::kBadInput);
    EXPECT_NE(r.error().message().find("'a'"), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("without channels"), std::string::npos)
        << r.error().message();
    EXPECT_TRUE(test::graphsEqual(*original, *m.graph));
    EXPECT_FALSE(rw.canUndo());
    // An index out of range is a usage error.
    PruneSelection bad;
    bad.remove = {{99}};
    auto r2 = applyPrune(rw, d, bad);
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().code(), StatusCode::kUsage);
}

TEST(PrunePlan, L1RankingPicksTheSmallestChannelsAndKeepsTheFloors) {
    ir::Model m = testing::residualGraph();
    const ChannelDependencies d = analyze(m);
    const PruneSelection zeros = selectionFor(*m.graph, d, cases()[0]);  // a/b channels 2 and 5
    zeroSelected(*m.graph, d, zeros);
    const int ab = groupOf(*m.graph, d, "a_Conv");
    const PruneSelection sel = selectByL1Norm(*m.graph, d, 0.25);  // 2 of 8; 1 of c's 6
    std::vector<int> expected = zeros.remove[ab];
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(sel.remove[ab], expected);
    EXPECT_EQ(sel.remove[groupOf(*m.graph, d, "c_Conv")].size(), 1u);
    // A ratio of 1 still keeps one channel of every tensor.
    const PruneSelection most = selectByL1Norm(*m.graph, d, 1.0);
    EXPECT_EQ(most.remove[ab].size(), 7u);
    EXPECT_TRUE(checkPruneFloors(d, most, *m.graph).isOk());
}

class BuiltinPrune : public ::testing::TestWithParam<std::string> {};

TEST_P(BuiltinPrune, ThirtyPercentStillRuns) {
    auto model = models::buildArchitecture(GetParam(), {.seed = 3});
    ASSERT_TRUE(model) << model.error().message();
    const testing::PruneOutcome o = testing::pruneAndRun(*model, 0.3, 2, GetParam(), true);
    std::printf("prune %s: %lld of %lld prunable channels removed, params %lld -> %lld\n",
                GetParam().c_str(), (long long)o.removed, (long long)o.prunable,
                (long long)o.paramsBefore, (long long)o.paramsAfter);
    EXPECT_GT(o.prunable, 0);
    EXPECT_GE(o.removed, static_cast<int64_t>(0.25 * static_cast<double>(o.prunable)));
    EXPECT_LT(o.paramsAfter, o.paramsBefore);
    // The pruned model is analysable again and has fewer channels.
    auto again = analysis::analyzeChannelDependencies(*model);
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_EQ(again->numPrunableChannels(), o.prunable - o.removed);
}

INSTANTIATE_TEST_SUITE_P(Architectures, BuiltinPrune,
                         ::testing::Values("resnet20", "mobilenetv2-tiny"), [](const auto& info) {
                             std::string n = info.param;
                             for (char& ch : n)
                                 if (ch == '-') ch = '_';
                             return n;
                         });

class TorchvisionPruneQuick : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionPruneQuick, ThirtyPercentRunsInOurEngineAndOnnxRuntime) {
    const std::filesystem::path path = std::filesystem::path(WHITTLE_SOURCE_DIR) /
                                       "tests/data/torchvision" / (GetParam() + ".onnx");
    if (!std::filesystem::exists(path))
        GTEST_SKIP() << path << " not exported (tests/tools/export_torchvision.sh)";
    auto model = onnx::loadModel(path);
    ASSERT_TRUE(model) << model.error().message();
    const testing::PruneOutcome o = testing::pruneAndRun(*model, 0.3, 1, GetParam(), true);
    std::printf("prune %s: %lld of %lld prunable channels removed, params %lld -> %lld\n",
                GetParam().c_str(), (long long)o.removed, (long long)o.prunable,
                (long long)o.paramsBefore, (long long)o.paramsAfter);
    EXPECT_GE(o.removed, static_cast<int64_t>(0.25 * static_cast<double>(o.prunable)));
    EXPECT_LT(o.paramsAfter, o.paramsBefore);
}

INSTANTIATE_TEST_SUITE_P(Torchvision, TorchvisionPruneQuick,
                         ::testing::Values("resnet18", "mobilenet_v2"));

}  // namespace
}  // namespace wh::algo::prune
