// Subgraph extraction (core/rewrite/extract.h): the new model holds exactly the nodes between the
// given tensors, with their weights, typed inputs and the source's metadata; the source is left
// alone; bad names are refused by name.

#include <algorithm>
#include <cstdio>

#include <gtest/gtest.h>

#include "core/onnx/model_io.h"
#include "core/rewrite/extract.h"
#include "tests/core/rewrite/test_graphs.h"

using namespace wh;
using namespace wh::rewrite;

namespace {

ir::Model sourceModel() {
    ir::Model m;
    m.irVersion = 8;
    m.opsetImports.push_back({"", 13, {}});
    m.producerName = "whittle-test";
    m.producerVersion = "1";
    m.metadataProps.push_back({"origin", "extract_test", {}});
    m.graph = test::makeResNetLike(1, 4);
    return m;
}

std::vector<std::string> nodeNames(const ir::Graph& g) {
    std::vector<std::string> names;
    for (const ir::Node* n : g.nodes()) names.push_back(n->name);
    return names;
}

std::vector<std::string> names(const std::vector<ir::Value*>& values) {
    std::vector<std::string> out;
    for (const ir::Value* v : values) out.push_back(v->name());
    return out;
}

ir::NodeId idOf(const ir::Graph& g, const std::string& name) {
    for (const ir::Node* n : g.nodes())
        if (n->name == name) return n->id();
    ADD_FAILURE() << "no node " << name;
    return 0;
}

void expectRefused(const Expected<std::unique_ptr<ir::Model>>& result,
                   const std::vector<std::string>& expect) {
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code(), StatusCode::kUsage);
    for (const std::string& s : expect)
        EXPECT_NE(result.error().message().find(s), std::string::npos)
            << "missing '" << s << "' in: " << result.error().message();
}

}  // namespace

TEST(Extract, ModelBetweenTwoTensorsKeepsTheBlockAndItsWeights) {
    const ir::Model m = sourceModel();
    const std::size_t sourceNodes = m.graph->numNodes();
    auto out = extractModel(m, {"relu0_out"}, {"block1.out"});
    ASSERT_TRUE(out) << out.error().message();
    const ir::Graph& g = *(*out)->graph;
    EXPECT_EQ(nodeNames(g), (std::vector<std::string>{"block1.conv1", "block1.bn1", "block1.relu1",
                                                      "block1.conv2", "block1.bn2", "block1.add",
                                                      "block1.relu2"}));
    EXPECT_EQ(names(g.inputs()), std::vector<std::string>{"relu0_out"});
    EXPECT_EQ(names(g.outputs()), std::vector<std::string>{"block1.out"});
    // The input's declared type came from value_info (and it is no longer listed there).
    EXPECT_EQ(g.inputs()[0]->type.toString(), "float[N,4,8,8]");
    EXPECT_FALSE(g.inputs()[0]->isInValueInfo());
    // conv1 weight, bn1 x4, conv2 weight + bias, bn2 x4.
    EXPECT_EQ(g.initializers().size(), 11u);
    EXPECT_TRUE(g.findValue("block1.conv2.bias")->hasInitializer());
    EXPECT_FALSE(g.findValue("conv0.weight"));
    EXPECT_FALSE(g.findValue("input"));
    EXPECT_FALSE(g.findValue("logits"));
    EXPECT_TRUE(g.validate().isOk()) << g.validate().message();
    // Metadata of the source.
    EXPECT_EQ((*out)->irVersion, 8);
    EXPECT_EQ((*out)->opsetVersion(""), 13);
    EXPECT_EQ((*out)->producerName, "whittle-test");
    ASSERT_EQ((*out)->metadataProps.size(), 1u);
    EXPECT_EQ((*out)->metadataProps[0].value, "extract_test");
    // The source is untouched.
    EXPECT_EQ(m.graph->numNodes(), sourceNodes);
    EXPECT_EQ(m.graph->inputs().size(), 1u);
    EXPECT_TRUE(m.graph->validate().isOk());
}

TEST(Extract, WholeModelAndTheConstantsItNeeds) {
    const ir::Model m = sourceModel();
    auto out = extractModel(m, {"input"}, {"logits"});
    ASSERT_TRUE(out) << out.error().message();
    EXPECT_EQ(nodeNames(*(*out)->graph), nodeNames(*m.graph));
    EXPECT_EQ((*out)->graph->initializers().size(), m.graph->initializers().size());

    // The tail from features_out: the Constant shape comes along, not as an input.
    auto tail = extractModel(m, {"features_out"}, {"logits"});
    ASSERT_TRUE(tail) << tail.error().message();
    EXPECT_EQ(nodeNames(*(*tail)->graph),
              (std::vector<std::string>{"shape_const", "gap", "flatten", "dropout", "fc",
                                        "output_identity"}));
    EXPECT_EQ(names((*tail)->graph->inputs()), std::vector<std::string>{"features_out"});
    // Undeclared in the source: an unknown type.
    EXPECT_EQ((*tail)->graph->inputs()[0]->type.kind, ir::Type::Kind::kNone);
    EXPECT_EQ((*tail)->graph->outputs()[0]->type.toString(), "float[N,10]");

    // It saves and loads as a model of its own.
    const std::string path = testing::TempDir() + "extract_test_tail.onnx";
    ASSERT_TRUE(onnx::saveModel(**tail, path).isOk());
    auto loaded = onnx::loadModel(path);
    ASSERT_TRUE(loaded) << loaded.error().message();
    EXPECT_EQ(nodeNames(*loaded->graph), nodeNames(*(*tail)->graph));
    EXPECT_EQ(names(loaded->graph->inputs()), std::vector<std::string>{"features_out"});
    std::remove(path.c_str());
}

TEST(Extract, AnInitializerGivenAsInputBecomesATypedInput) {
    const ir::Model m = sourceModel();
    auto out = extractModel(m, {"relu0_out", "block1.conv1.weight"}, {"block1.c1"});
    ASSERT_TRUE(out) << out.error().message();
    const ir::Graph& g = *(*out)->graph;
    EXPECT_EQ(nodeNames(g), std::vector<std::string>{"block1.conv1"});
    EXPECT_EQ(names(g.inputs()), (std::vector<std::string>{"relu0_out", "block1.conv1.weight"}));
    const ir::Value* w = g.findValue("block1.conv1.weight");
    EXPECT_FALSE(w->hasInitializer());
    EXPECT_EQ(w->type.toString(), "float[4,4,3,3]");
    EXPECT_TRUE(g.initializers().empty());
    EXPECT_TRUE(m.graph->findValue("block1.conv1.weight")->hasInitializer());
}

TEST(Extract, RefusesByName) {
    const ir::Model m = sourceModel();
    expectRefused(extractModel(m, {}, {"block1.out"}),
                  {"'input'", "'conv0' (Conv)", "neither a given input"});
    expectRefused(extractModel(m, {"relu0_out"}, {"nope"}), {"no tensor 'nope'"});
    expectRefused(extractModel(m, {"nope"}, {"logits"}), {"no tensor 'nope'"});
    expectRefused(extractModel(m, {"relu0_out"}, {}), {"no outputs"});
    expectRefused(extractModel(m, {"relu0_out", "relu0_out"}, {"block1.out"}),
                  {"'relu0_out' is listed twice"});
    // dropout_mask is given, but the Dropout computing it is needed for "dropped".
    expectRefused(extractModel(m, {"flat", "dropout_mask"}, {"dropped"}),
                  {"'dropout_mask'", "'dropout' (Dropout)"});
    expectRefused(extractSelection(m, {999999}), {"no node #999999"});
    expectRefused(extractSelection(m, {}), {"no nodes"});
}

TEST(Extract, SelectionFindsItsInputsAndOutputs) {
    const ir::Model m = sourceModel();
    const ir::Graph& src = *m.graph;
    auto chain = extractSelection(
        m, {idOf(src, "block1.relu1"), idOf(src, "block1.conv1"), idOf(src, "block1.bn1")});
    ASSERT_TRUE(chain) << chain.error().message();
    EXPECT_EQ(nodeNames(*(*chain)->graph),
              (std::vector<std::string>{"block1.conv1", "block1.bn1", "block1.relu1"}));
    EXPECT_EQ(names((*chain)->graph->inputs()), std::vector<std::string>{"relu0_out"});
    EXPECT_EQ(names((*chain)->graph->outputs()), std::vector<std::string>{"block1.r1"});
    EXPECT_EQ((*chain)->graph->initializers().size(), 5u);

    // Two entering tensors in first-read order; the Constant comes along.
    auto pair =
        extractSelection(m, {idOf(src, "block1.add"), idOf(src, "flatten"), idOf(src, "gap")});
    ASSERT_TRUE(pair) << pair.error().message();
    EXPECT_EQ(names((*pair)->graph->inputs()),
              (std::vector<std::string>{"block1.b2", "relu0_out", "features_out"}));
    EXPECT_EQ(names((*pair)->graph->outputs()), (std::vector<std::string>{"block1.sum", "flat"}));
    EXPECT_EQ(nodeNames(*(*pair)->graph),
              (std::vector<std::string>{"block1.add", "shape_const", "gap", "flatten"}));

    // A model output is an output of the extraction.
    auto last = extractSelection(m, {idOf(src, "output_identity")});
    ASSERT_TRUE(last) << last.error().message();
    EXPECT_EQ(names((*last)->graph->inputs()), std::vector<std::string>{"fc_out"});
    EXPECT_EQ(names((*last)->graph->outputs()), std::vector<std::string>{"logits"});
}

TEST(Extract, SelectionNobodyReadsGivesTheLastNodesOutputs) {
    ir::Model m = sourceModel();
    test::addNode(*m.graph, "Relu", "dead_relu", {"conv0_out"}, {"dead_a"});
    test::addNode(*m.graph, "Identity", "dead_identity", {"dead_a"}, {"dead_b", "dead_c"});
    auto out = extractSelection(m, {idOf(*m.graph, "dead_relu"), idOf(*m.graph, "dead_identity")});
    ASSERT_TRUE(out) << out.error().message();
    EXPECT_EQ(names((*out)->graph->inputs()), std::vector<std::string>{"conv0_out"});
    EXPECT_EQ(names((*out)->graph->outputs()), (std::vector<std::string>{"dead_b", "dead_c"}));
    EXPECT_EQ((*out)->graph->numNodes(), 2u);
}
