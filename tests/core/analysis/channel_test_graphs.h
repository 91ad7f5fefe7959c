#pragma once
// Small hand-built graphs with one kind of channel coupling each, shared by the channel
// dependency tests (test_analysis) and the prune plan tests (test_algo). Node names follow
// ModelBuilder: the node producing "a" is "a_Conv".

#include <string>
#include <vector>

#include "core/analysis/channel_dependencies.h"
#include "tests/core/train/model_builder.h"

namespace wh::testing {

/// Conv `in` → `out` with weights `out`_w [cout, cinPerGroup, k, k] (pads k/2) and, if `bias`,
/// `out`_b [cout].
inline ir::Node* addConv(ModelBuilder& b, const std::string& in, const std::string& out,
                         int64_t cinPerGroup, int64_t cout, int64_t group = 1, bool bias = false,
                         int64_t k = 3) {
    b.weight(out + "_w", {cout, cinPerGroup, k, k}, cinPerGroup * k * k);
    std::vector<std::string> ins = {in, out + "_w"};
    if (bias) {
        b.weight(out + "_b", {cout}, cout);
        ins.push_back(out + "_b");
    }
    const int64_t p = k / 2;
    return b.node("Conv", ins, {out}, [&] {
        std::vector<ir::Attribute> a;
        a.push_back(ir::Attribute::makeInts("pads", {p, p, p, p}));
        a.push_back(ir::Attribute::makeInt("group", group));
        return a;
    }());
}

/// GlobalAveragePool → Flatten → Gemm (transB, bias) to `classes`, the graph output "y".
inline void addHead(ModelBuilder& b, const std::string& in, int64_t channels, int64_t classes) {
    b.node("GlobalAveragePool", {in}, {"gap"});
    b.node("Flatten", {"gap"}, {"flat"}, [] {
        std::vector<ir::Attribute> a;
        a.push_back(ir::Attribute::makeInt("axis", 1));
        return a;
    }());
    b.weight("fc_w", {classes, channels}, channels);
    b.weight("fc_b", {classes}, classes);
    b.node("Gemm", {"flat", "fc_w", "fc_b"}, {"y"}, [] {
        std::vector<ir::Attribute> a;
        a.push_back(ir::Attribute::makeInt("transB", 1));
        return a;
    }());
    b.output("y", {classes});
}

/// x [3,8,8] → a = Conv(3→8, bias) → BN → Relu (ra) → b = Conv(8→8, bias) → s = ra + b → Relu (rs)
/// → c = Conv(8→6) → BN → Relu → head (6 → 4). The residual Add ties a's and b's channels.
inline ir::Model residualGraph() {
    ModelBuilder b;
    b.input("x", {3, 8, 8});
    addConv(b, "x", "a", 3, 8, 1, true);
    b.batchNorm("a", "abn", 8, "an", 1.5f, 0.2f, 0.1f, 2.0f);
    b.node("Relu", {"an"}, {"ra"});
    // b and d carry a bias: a bias-less Conv with a fused residual Add fails in the engine's
    // oneDNN plan (its input check expects no third input), a bug outside this code.
    addConv(b, "ra", "b", 8, 8, 1, true);
    b.node("Add", {"ra", "b"}, {"s"});
    b.node("Relu", {"s"}, {"rs"});
    addConv(b, "rs", "c", 8, 6);
    b.batchNorm("c", "cbn", 6, "cn");
    b.node("Relu", {"cn"}, {"rc"});
    addHead(b, "rc", 6, 4);
    return b.take();
}

/// x [3,8,8] → a = Conv(3→4), b = Conv(3→6) → cat = Concat(a, b) → Relu (rcat)
///   → d = Conv(10→10, bias) → s = rcat + d → e = Conv(10→5) → head (5 → 3).
/// Concat offsets: a's channels are cat's 0..3, b's 4..9; the Add ties d's to them.
inline ir::Model concatGraph() {
    ModelBuilder b;
    b.input("x", {3, 8, 8});
    addConv(b, "x", "a", 3, 4);
    addConv(b, "x", "b", 3, 6);
    b.node("Concat", {"a", "b"}, {"cat"}, [] {
        std::vector<ir::Attribute> a;
        a.push_back(ir::Attribute::makeInt("axis", 1));
        return a;
    }());
    b.node("Relu", {"cat"}, {"rcat"});
    addConv(b, "rcat", "d", 10, 10, 1, true);
    b.node("Add", {"rcat", "d"}, {"s"});
    addConv(b, "s", "e", 10, 5);
    addHead(b, "e", 5, 3);
    return b.take();
}

/// x [3,8,8] → a = Conv(3→8, bias) → Clip → dw = depthwise Conv (group 8, multiplier
/// `multiplier`, bias) → BN → c = Conv(8·multiplier → 4) → head (4 → 2).
inline ir::Model depthwiseGraph(int64_t multiplier = 1) {
    ModelBuilder b;
    b.input("x", {3, 8, 8});
    addConv(b, "x", "a", 3, 8, 1, true);
    b.weight("lo", {}, 0, 0.0f);
    b.weight("hi", {}, 0, 6.0f);
    b.node("Clip", {"a", "lo", "hi"}, {"ca"});
    addConv(b, "ca", "dw", 1, 8 * multiplier, 8, true);
    b.batchNorm("dw", "dwbn", 8 * multiplier, "dwn");
    addConv(b, "dwn", "c", 8 * multiplier, 4, 1, false, 1);
    addHead(b, "c", 4, 2);
    return b.take();
}

/// x [3,8,8] → a = Conv(3→8) → g = grouped Conv (2 groups: 8 → 6, weights [6,4,3,3]) → Relu
/// → c = Conv(6→4) → head (4 → 2).
inline ir::Model groupedGraph() {
    ModelBuilder b;
    b.input("x", {3, 8, 8});
    addConv(b, "x", "a", 3, 8);
    addConv(b, "a", "g", 4, 6, 2, true);
    b.node("Relu", {"g"}, {"rg"});
    addConv(b, "rg", "c", 6, 4);
    addHead(b, "c", 4, 2);
    return b.take();
}

/// x [3,4,4] → a = Conv(3→4) → Relu → Flatten ([N, 64]) → fc = Gemm(64 → 5, transB, bias) →
/// Relu → out = Gemm(5 → 3) = y. The Flatten makes each of a's channels a block of 16 features.
inline ir::Model flattenGemmGraph() {
    ModelBuilder b;
    b.input("x", {3, 4, 4});
    addConv(b, "x", "a", 3, 4);
    b.node("Relu", {"a"}, {"ra"});
    b.node("Flatten", {"ra"}, {"flat"});
    b.weight("fc_w", {5, 64}, 64);
    b.weight("fc_b", {5}, 5);
    b.node("Gemm", {"flat", "fc_w", "fc_b"}, {"fc"}, [] {
        std::vector<ir::Attribute> a;
        a.push_back(ir::Attribute::makeInt("transB", 1));
        return a;
    }());
    b.node("Relu", {"fc"}, {"rfc"});
    b.weight("out_w", {5, 3}, 5);
    b.node("Gemm", {"rfc", "out_w"}, {"y"});
    b.output("y", {3});
    return b.take();
}

inline const ir::Node* nodeNamed(const ir::Graph& g, const std::string& name) {
    for (const ir::Node* n : g.nodes())
        if (n->name == name) return n;
    return nullptr;
}

/// The group whose producers include the node named `producer`; -1 if none.
inline int groupOf(const ir::Graph& g, const analysis::ChannelDependencies& d,
                   const std::string& producer) {
    const ir::Node* n = nodeNamed(g, producer);
    if (!n) return -1;
    for (std::size_t i = 0; i < d.groups.size(); ++i)
        for (ir::NodeId p : d.groups[i].producers)
            if (p == n->id()) return static_cast<int>(i);
    return -1;
}

/// The index of the channel of group `group` holding (producer, channel); -1 if none.
inline int channelOf(const ir::Graph& g, const analysis::ChannelDependencies& d, int group,
                     const std::string& producer, int64_t channel) {
    const ir::Node* n = nodeNamed(g, producer);
    if (!n || group < 0) return -1;
    const auto& chans = d.groups[group].channels;
    for (std::size_t c = 0; c < chans.size(); ++c)
        for (const analysis::ChannelRoot& r : chans[c])
            if (r.node == n->id() && r.channel == channel) return static_cast<int>(c);
    return -1;
}

}  // namespace wh::testing
