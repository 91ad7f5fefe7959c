#include "core/rewrite/chain_selector.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/core/rewrite/test_graphs.h"

namespace wh::rewrite {
namespace {

std::vector<std::string> names(const ir::Graph& g, const std::vector<ir::NodeId>& chain) {
    std::vector<std::string> out;
    for (ir::NodeId id : chain) out.push_back(g.findNode(id)->name);
    return out;
}

/// x -> c1 -> b1 -> r1 -> c2 -> r2 -> c3 -> b3 -> (b3 also a graph output) -> r3 -> y;
/// c4 reads r1 as well as c2 does (r1 has two users).
std::unique_ptr<ir::Graph> makeChains() {
    auto g = std::make_unique<ir::Graph>();
    g->insertGraphInput(test::value(*g, "x"));
    test::addInitializer(*g, "w", {1, 1, 1, 1}, {1.0f});
    test::addNode(*g, "Conv", "c1", {"x", "w"}, {"c1"});
    test::addNode(*g, "BatchNormalization", "b1", {"c1", "w", "w", "w", "w"}, {"b1"});
    test::addNode(*g, "Relu", "r1", {"b1"}, {"r1"});
    test::addNode(*g, "Conv", "c2", {"r1", "w"}, {"c2"});
    test::addNode(*g, "Relu", "r2", {"c2"}, {"r2"});
    test::addNode(*g, "Conv", "c4", {"r1", "w"}, {"c4"});
    test::addNode(*g, "Conv", "c3", {"r2", "w"}, {"c3"});
    test::addNode(*g, "BatchNormalization", "b3", {"c3", "w", "w", "w", "w"}, {"b3"});
    test::addNode(*g, "Relu", "r3", {"b3"}, {"y"});
    g->insertGraphOutput(g->findValue("b3"));
    g->insertGraphOutput(g->findValue("y"));
    g->insertGraphOutput(g->findValue("c4"));
    return g;
}

TEST(ChainSelector, ConvBatchNormRelu) {
    auto g = makeChains();
    const std::vector<std::string> ops{"Conv", "BatchNormalization", "Relu"};
    auto chains = findChains(*g, ops);
    // c3 -> b3 -> r3 does not count: b3 is also a graph output.
    ASSERT_EQ(chains.size(), 1u);
    EXPECT_EQ(names(*g, chains[0]), (std::vector<std::string>{"c1", "b1", "r1"}));
}

TEST(ChainSelector, ConvRelu) {
    auto g = makeChains();
    const std::vector<std::string> ops{"Conv", "Relu"};
    auto chains = findChains(*g, ops);
    ASSERT_EQ(chains.size(), 1u);
    EXPECT_EQ(names(*g, chains[0]), (std::vector<std::string>{"c2", "r2"}));
}

TEST(ChainSelector, SingleOpAndEmpty) {
    auto g = makeChains();
    const std::vector<std::string> conv{"Conv"};
    EXPECT_EQ(findChains(*g, conv).size(), 4u);
    EXPECT_TRUE(findChains(*g, std::span<const std::string>{}).empty());
    const std::vector<std::string> none{"MatMul", "Add"};
    EXPECT_TRUE(findChains(*g, none).empty());
}

TEST(ChainSelector, ChainsDoNotOverlap) {
    auto g = std::make_unique<ir::Graph>();
    g->insertGraphInput(test::value(*g, "x"));
    test::addNode(*g, "Relu", "a", {"x"}, {"a"});
    test::addNode(*g, "Relu", "b", {"a"}, {"b"});
    test::addNode(*g, "Relu", "c", {"b"}, {"c"});
    g->insertGraphOutput(g->findValue("c"));
    const std::vector<std::string> ops{"Relu", "Relu"};
    auto chains = findChains(*g, ops);
    ASSERT_EQ(chains.size(), 1u);
    EXPECT_EQ(names(*g, chains[0]), (std::vector<std::string>{"a", "b"}));
}

TEST(ChainSelector, CommonPatternsOnResNet) {
    auto g = test::makeResNetLike(3, 4);
    for (const ChainPattern& p : commonChainPatterns()) {
        auto chains = findChains(*g, p.opTypes);
        for (const auto& chain : chains) {
            ASSERT_EQ(chain.size(), p.opTypes.size()) << p.name;
            for (std::size_t i = 0; i < chain.size(); ++i)
                EXPECT_EQ(g->findNode(chain[i])->opType, p.opTypes[i]) << p.name;
        }
    }
    const std::vector<std::string> cbr{"Conv", "BatchNormalization", "Relu"};
    // Stem plus the first Conv of each block.
    EXPECT_EQ(findChains(*g, cbr).size(), 4u);
}

}  // namespace
}  // namespace wh::rewrite
