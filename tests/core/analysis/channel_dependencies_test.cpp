// Channel dependency analysis on hand-built graphs, one coupling kind each: which producer
// channels are tied, which parameters each group touches, and what is refused and why.

#include "core/analysis/channel_dependencies.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/core/analysis/channel_test_graphs.h"

namespace wh::analysis {
namespace {

using testing::channelOf;
using testing::groupOf;
using testing::nodeNamed;

ChannelDependencies analyze(const ir::Model& m) {
    Expected<ChannelDependencies> d = analyzeChannelDependencies(m);
    EXPECT_TRUE(d) << d.error().message();
    return d ? std::move(*d) : ChannelDependencies{};
}

/// "node:input:axis" of every parameter group `g` touches, sorted.
std::set<std::string> paramsOf(const ir::Graph& graph, const ChannelDependencies& d, int g) {
    std::set<std::string> s;
    for (const ChannelParam& p : d.groups[g].params)
        s.insert(fmt::format("{}:{}:{}", graph.findNode(p.node)->name, p.input, p.axis));
    return s;
}

std::vector<std::string> producerNames(const ir::Graph& graph, const ChannelGroup& g) {
    std::vector<std::string> v;
    for (ir::NodeId id : g.producers) v.push_back(graph.findNode(id)->name);
    return v;
}

const BlockedChannels* blockedAt(const ir::Graph& graph, const ChannelDependencies& d,
                                 const std::string& node) {
    for (const BlockedChannels& b : d.blocked)
        if (b.node == nodeNamed(graph, node)->id()) return &b;
    return nullptr;
}

TEST(ChannelDependencies, ResidualAddTiesBothProducers) {
    const ir::Model m = testing::residualGraph();
    const ir::Graph& g = *m.graph;
    const ChannelDependencies d = analyze(m);
    ASSERT_EQ(d.groups.size(), 2u);
    const int ab = groupOf(g, d, "a_Conv");
    ASSERT_GE(ab, 0);
    EXPECT_EQ(groupOf(g, d, "b_Conv"), ab);
    EXPECT_EQ(producerNames(g, d.groups[ab]), (std::vector<std::string>{"a_Conv", "b_Conv"}));
    ASSERT_EQ(d.groups[ab].channels.size(), 8u);
    // Channel k of a and channel k of b are one channel, nothing else.
    for (int64_t k = 0; k < 8; ++k) {
        const int c = channelOf(g, d, ab, "a_Conv", k);
        ASSERT_GE(c, 0);
        EXPECT_EQ(channelOf(g, d, ab, "b_Conv", k), c);
        EXPECT_EQ(d.groups[ab].channels[c].size(), 2u);
    }
    // a's rows and bias, its BN, b's rows and input channels, c's input channels.
    EXPECT_EQ(paramsOf(g, d, ab),
              (std::set<std::string>{"a_Conv:1:0", "a_Conv:2:0", "an_BatchNormalization:1:0",
                                     "an_BatchNormalization:2:0", "an_BatchNormalization:3:0",
                                     "an_BatchNormalization:4:0", "b_Conv:1:0", "b_Conv:1:1",
                                     "b_Conv:2:0", "c_Conv:1:1"}));
    const int c = groupOf(g, d, "c_Conv");
    ASSERT_GE(c, 0);
    EXPECT_EQ(d.groups[c].channels.size(), 6u);
    EXPECT_TRUE(paramsOf(g, d, c).count("y_Gemm:1:1"));  // features after GAP + Flatten
    EXPECT_EQ(d.numPrunableChannels(), 14);
    // The classifier's outputs are the graph output.
    const BlockedChannels* fc = blockedAt(g, d, "y_Gemm");
    ASSERT_NE(fc, nullptr);
    EXPECT_EQ(fc->channels.size(), 4u);
    EXPECT_NE(fc->reason.find("graph output 'y'"), std::string::npos) << fc->reason;
}

TEST(ChannelDependencies, ConcatOffsetsAndAddTieEachSourceToItsRange) {
    const ir::Model m = testing::concatGraph();
    const ir::Graph& g = *m.graph;
    const ChannelDependencies d = analyze(m);
    const int grp = groupOf(g, d, "a_Conv");
    ASSERT_GE(grp, 0);
    // a and b are tied only through d: one group of 10 channels.
    EXPECT_EQ(groupOf(g, d, "b_Conv"), grp);
    EXPECT_EQ(groupOf(g, d, "d_Conv"), grp);
    ASSERT_EQ(d.groups[grp].channels.size(), 10u);
    for (int64_t k = 0; k < 4; ++k)
        EXPECT_EQ(channelOf(g, d, grp, "a_Conv", k), channelOf(g, d, grp, "d_Conv", k));
    for (int64_t k = 0; k < 6; ++k)
        EXPECT_EQ(channelOf(g, d, grp, "b_Conv", k), channelOf(g, d, grp, "d_Conv", 4 + k));
    EXPECT_NE(channelOf(g, d, grp, "a_Conv", 0), channelOf(g, d, grp, "b_Conv", 0));
    // e reads the concatenated channels: its input axis is in the group.
    EXPECT_TRUE(paramsOf(g, d, grp).count("e_Conv:1:1"));
    EXPECT_TRUE(paramsOf(g, d, grp).count("d_Conv:1:1"));
}

TEST(ChannelDependencies, DepthwiseConvPassesItsInputChannelsThrough) {
    for (int64_t mult : {1, 2}) {
        SCOPED_TRACE("multiplier " + std::to_string(mult));
        const ir::Model m = testing::depthwiseGraph(mult);
        const ir::Graph& g = *m.graph;
        const ChannelDependencies d = analyze(m);
        const int grp = groupOf(g, d, "a_Conv");
        ASSERT_GE(grp, 0);
        // The depthwise conv is not a producer of its own: its channels are a's.
        EXPECT_EQ(groupOf(g, d, "dw_Conv"), -1);
        EXPECT_EQ(producerNames(g, d.groups[grp]), (std::vector<std::string>{"a_Conv"}));
        EXPECT_EQ(d.groups[grp].channels.size(), 8u);
        EXPECT_EQ(paramsOf(g, d, grp),
                  (std::set<std::string>{"a_Conv:1:0", "a_Conv:2:0", "dw_Conv:1:0", "dw_Conv:2:0",
                                         "dwn_BatchNormalization:1:0", "dwn_BatchNormalization:2:0",
                                         "dwn_BatchNormalization:3:0", "dwn_BatchNormalization:4:0",
                                         "c_Conv:1:1"}));
        // Depthwise weights rows: channel k of a owns rows k·mult .. k·mult + mult - 1.
        const ChannelEdit* dwRows = nullptr;
        for (const ChannelEdit& e : d.edits)
            if (e.node == nodeNamed(g, "dw_Conv")->id() && e.input == 1) dwRows = &e;
        ASSERT_NE(dwRows, nullptr);
        ASSERT_EQ(dwRows->ids.size(), static_cast<std::size_t>(8 * mult));
        for (int64_t r = 0; r < 8 * mult; ++r)
            EXPECT_EQ(d.rootOfId[dwRows->ids[r]].channel, r / mult);
    }
}

TEST(ChannelDependencies, GroupedConvTiesTheSameLocalChannelOfEveryGroup) {
    const ir::Model m = testing::groupedGraph();
    const ir::Graph& g = *m.graph;
    const ChannelDependencies d = analyze(m);
    const int ga = groupOf(g, d, "a_Conv");
    ASSERT_GE(ga, 0);
    // a's 8 channels feed 2 groups of 4: channel i goes with channel 4 + i.
    ASSERT_EQ(d.groups[ga].channels.size(), 4u);
    for (int64_t i = 0; i < 4; ++i)
        EXPECT_EQ(channelOf(g, d, ga, "a_Conv", i), channelOf(g, d, ga, "a_Conv", 4 + i));
    const int gg = groupOf(g, d, "g_Conv");
    ASSERT_GE(gg, 0);
    ASSERT_NE(gg, ga);
    // g's 6 outputs in 2 groups of 3: output j goes with output 3 + j.
    ASSERT_EQ(d.groups[gg].channels.size(), 3u);
    for (int64_t j = 0; j < 3; ++j)
        EXPECT_EQ(channelOf(g, d, gg, "g_Conv", j), channelOf(g, d, gg, "g_Conv", 3 + j));
    EXPECT_TRUE(paramsOf(g, d, ga).count("g_Conv:1:1"));
    EXPECT_TRUE(paramsOf(g, d, gg).count("g_Conv:1:0"));
    EXPECT_TRUE(paramsOf(g, d, gg).count("g_Conv:2:0"));
    EXPECT_TRUE(paramsOf(g, d, gg).count("c_Conv:1:1"));
}

TEST(ChannelDependencies, FlattenIntoGemmMakesChannelTimesSpatialBlocks) {
    const ir::Model m = testing::flattenGemmGraph();
    const ir::Graph& g = *m.graph;
    const ChannelDependencies d = analyze(m);
    const int ga = groupOf(g, d, "a_Conv");
    ASSERT_GE(ga, 0);
    EXPECT_EQ(d.groups[ga].channels.size(), 4u);
    const ChannelEdit* features = nullptr;
    for (const ChannelEdit& e : d.edits)
        if (e.node == nodeNamed(g, "fc_Gemm")->id() && e.input == 1 && e.axis == 1) features = &e;
    ASSERT_NE(features, nullptr);
    ASSERT_EQ(features->ids.size(), 64u);
    for (int64_t f = 0; f < 64; ++f) EXPECT_EQ(d.rootOfId[features->ids[f]].channel, f / 16);
    // The hidden Gemm's 5 outputs are a group of their own; they reach the last Gemm's rows.
    const int gfc = groupOf(g, d, "fc_Gemm");
    ASSERT_GE(gfc, 0);
    EXPECT_EQ(d.groups[gfc].channels.size(), 5u);
    EXPECT_EQ(paramsOf(g, d, gfc),
              (std::set<std::string>{"fc_Gemm:1:0", "fc_Gemm:2:0", "y_Gemm:1:0"}));
}

TEST(ChannelDependencies, RefusesWhatMixesOrLeavesTheGraph) {
    // a's channels go through a Reshape that splits them ([N,8,4,4] → [N,2,4,16]: channel
    // shuffle style); b's reach a Softmax over the channels; c's reach a graph output directly.
    testing::ModelBuilder b;
    b.input("x", {3, 4, 4});
    testing::addConv(b, "x", "a", 3, 8);
    b.int64s("shape", {1, 2, 4, 16});
    b.node("Reshape", {"a", "shape"}, {"ra"});
    b.output("ra", {2, 4, 16});
    testing::addConv(b, "x", "bb", 3, 6);
    b.node("Softmax", {"bb"}, {"sb"}, [] {
        std::vector<ir::Attribute> a;
        a.push_back(ir::Attribute::makeInt("axis", 1));
        return a;
    }());
    b.output("sb", {6, 4, 4});
    testing::addConv(b, "x", "c", 3, 5);
    b.output("c", {5, 4, 4});
    const ir::Model m = b.take();
    const ir::Graph& g = *m.graph;
    const ChannelDependencies d = analyze(m);
    EXPECT_TRUE(d.groups.empty());
    const BlockedChannels* ra = blockedAt(g, d, "a_Conv");
    ASSERT_NE(ra, nullptr);
    EXPECT_EQ(ra->channels.size(), 8u);
    EXPECT_NE(ra->reason.find("Reshape"), std::string::npos) << ra->reason;
    EXPECT_NE(ra->reason.find("mixes channels"), std::string::npos) << ra->reason;
    const BlockedChannels* sb = blockedAt(g, d, "bb_Conv");
    ASSERT_NE(sb, nullptr);
    EXPECT_NE(sb->reason.find("Softmax"), std::string::npos) << sb->reason;
    const BlockedChannels* c = blockedAt(g, d, "c_Conv");
    ASSERT_NE(c, nullptr);
    EXPECT_NE(c->reason.find("graph output 'c'"), std::string::npos) << c->reason;
}

TEST(ChannelDependencies, SplitAndSliceOnTheChannelAxisTakeSubRanges) {
    // a (8) → Split [3, 5] → s0 → Conv p (3 → 4); s1 → Slice [1, 4) → Conv q (3 → 4);
    // p + q → head. The Split and Slice pass the sub-ranges to p and q.
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
    testing::addConv(b, "s0", "p", 3, 4);
    testing::addConv(b, "sl", "q", 3, 4);
    b.node("Add", {"p", "q"}, {"pq"});
    testing::addHead(b, "pq", 4, 2);
    const ir::Model m = b.take();
    const ir::Graph& g = *m.graph;
    const ChannelDependencies d = analyze(m);
    const int ga = groupOf(g, d, "a_Conv");
    ASSERT_GE(ga, 0);
    EXPECT_EQ(d.groups[ga].channels.size(), 8u);
    // p reads a's channels 0..2, q reads 4..6 (s1 = 3..7, sliced [1, 4)).
    int seen = 0;
    for (const ChannelEdit& e : d.edits) {
        if (e.kind != ChannelEditKind::kSliceParam || e.input != 1 || e.axis != 1) continue;
        std::vector<int64_t> chans;
        for (int64_t id : e.ids) chans.push_back(d.rootOfId[id].channel);
        if (e.node == nodeNamed(g, "p_Conv")->id()) {
            EXPECT_EQ(chans, (std::vector<int64_t>{0, 1, 2}));
            ++seen;
        }
        if (e.node == nodeNamed(g, "q_Conv")->id()) {
            EXPECT_EQ(chans, (std::vector<int64_t>{4, 5, 6}));
            ++seen;
        }
    }
    EXPECT_EQ(seen, 2);
    // p and q are tied by the Add.
    const int gp = groupOf(g, d, "p_Conv");
    EXPECT_EQ(groupOf(g, d, "q_Conv"), gp);
    EXPECT_EQ(d.groups[gp].channels.size(), 4u);
}

}  // namespace
}  // namespace wh::analysis
