// The built-in patterns: structure after (op counts), folded values, and failed-match reasons.

#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include "core/rewrite/constant_arithmetic_folding.h"
#include "core/rewrite/constant_to_initializer.h"
#include "core/rewrite/conv_batch_norm_folding.h"
#include "core/rewrite/dropout_elimination.h"
#include "core/rewrite/greedy_driver.h"
#include "core/rewrite/identity_elimination.h"
#include "core/rewrite/pattern_sets.h"
#include "graph_equal.h"
#include "test_graphs.h"

namespace wh::rewrite {
namespace {

using test::addInitializer;
using test::addNode;
using test::countOps;
using test::graphsEqual;

ir::Node* byName(const ir::Graph& g, const std::string& name) {
    for (ir::Node* n : g.nodes())
        if (n->name == name) return n;
    return nullptr;
}

// Applies `p` at node `name` after checking it matches; checks undo restores the graph.
void applyAndCheckUndo(ir::Graph& g, const Pattern& p, const std::string& name) {
    auto original = g.clone();
    Rewriter rw(g);
    ir::Node* n = byName(g, name);
    ASSERT_NE(n, nullptr) << name;
    ASSERT_TRUE(p.isRootCandidate(*n));
    MatchResult m = p.match(*n);
    ASSERT_TRUE(m) << m.reason();
    ASSERT_TRUE(p.apply(rw, *n).isOk());
    EXPECT_TRUE(g.validate().isOk()) << g.validate().message();
    auto after = g.clone();
    ASSERT_TRUE(rw.undo().isOk());
    std::string diff;
    EXPECT_TRUE(graphsEqual(*original, g, &diff)) << diff;
    ASSERT_TRUE(rw.redo().isOk());
    EXPECT_TRUE(graphsEqual(*after, g, &diff)) << diff;
}

TEST(IdentityElimination, RemovesBothIdentities) {
    auto g = test::makeResNetLike(1);
    IdentityElimination p;
    applyAndCheckUndo(*g, p, "features");
    applyAndCheckUndo(*g, p, "output_identity");
    EXPECT_EQ(countOps(*g, "Identity"), 0);
    EXPECT_EQ(g->outputs()[0]->name(), "logits");
    EXPECT_EQ(g->outputs()[0]->producer()->opType, "Gemm");
}

TEST(IdentityElimination, ExplainsWhyNot) {
    ir::Graph g;
    addNode(g, "Identity", "id", {"x"}, {"y"});
    g.insertGraphInput(g.findValue("x"));
    g.insertGraphOutput(g.findValue("y"));
    IdentityElimination p;
    MatchResult m = p.match(*g.firstNode());
    EXPECT_FALSE(m);
    EXPECT_EQ(m.reason(), "output 0 is a graph output and input 0 ('x') has no producer node");
    g.firstNode()->domain = "com.example";
    EXPECT_FALSE(p.isRootCandidate(*g.firstNode()));
}

TEST(DropoutElimination, RemovesInferenceDropoutAndItsRatio) {
    auto g = test::makeResNetLike(1);
    DropoutElimination p;
    applyAndCheckUndo(*g, p, "dropout");
    EXPECT_EQ(countOps(*g, "Dropout"), 0);
    EXPECT_EQ(g->findValue("dropout_mask"), nullptr);
    EXPECT_EQ(g->findValue("dropout.ratio"), nullptr);
    EXPECT_EQ(byName(*g, "fc")->input(0)->name(), "flat");
}

TEST(DropoutElimination, ExplainsWhyNot) {
    auto g = test::makeResNetLike(1);
    ir::Node* d = byName(*g, "dropout");
    DropoutElimination p;
    addNode(*g, "Relu", "mask_user", {"dropout_mask"}, {"m"});
    MatchResult m = p.match(*d);
    EXPECT_FALSE(m);
    EXPECT_EQ(m.reason(), "mask output 'dropout_mask' is used by node 'mask_user'");

    ir::Graph t;
    ir::Node* drop = addNode(t, "Dropout", "d", {"x", "", "train"}, {"y"});
    t.insertGraphInput(t.findValue("x"));
    addNode(t, "Relu", "r", {"y"}, {"z"});
    t.insertGraphOutput(t.findValue("z"));
    ir::Tensor on;
    on.dtype = ir::DType::kBool;
    uint8_t one = 1;
    on.data = std::make_shared<const ir::Buffer>(&one, 1);
    t.setInitializer(t.findValue("train"), on);
    EXPECT_EQ(p.match(*drop).reason(), "training_mode is true");
    t.insertGraphInput(t.findValue("train"));
    EXPECT_EQ(p.match(*drop).reason(), "training_mode ('train') is not a constant");
    drop->domain = "ai.onnx";
    EXPECT_TRUE(p.isRootCandidate(*drop));
    drop->domain = "com.microsoft";
    EXPECT_FALSE(p.isRootCandidate(*drop));
}

TEST(ConstantToInitializer, TensorValueBecomesInitializer) {
    auto g = test::makeResNetLike(1);
    ConstantToInitializer p;
    const ir::Tensor expected = *byName(*g, "shape_const")->attribute("value")->t;
    applyAndCheckUndo(*g, p, "shape_const");
    EXPECT_EQ(countOps(*g, "Constant"), 0);
    ir::Value* shape = g->findValue("shape");
    ASSERT_TRUE(shape->hasInitializer());
    EXPECT_EQ(shape->initializer()->name, "shape");
    EXPECT_EQ(shape->initializer()->dims, expected.dims);
    EXPECT_EQ(shape->initializer()->data->bytes(), expected.data->bytes());
    EXPECT_EQ(g->initializers().back(), shape);
}

TEST(ConstantToInitializer, OtherFormsAndReasons) {
    ir::Graph g;
    ir::Node* c = addNode(g, "Constant", "c", {}, {"k"});
    c->attributes().push_back(ir::Attribute::makeInts("value_ints", {3, 4, 5}));
    addNode(g, "Reshape", "r", {"x", "k"}, {"y"});
    g.insertGraphInput(g.findValue("x"));
    g.insertGraphOutput(g.findValue("y"));
    ConstantToInitializer p;
    applyAndCheckUndo(g, p, "c");
    const ir::Tensor* t = g.findValue("k")->initializer();
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->dtype, ir::DType::kInt64);
    EXPECT_EQ(t->dims, (std::vector<int64_t>{3}));
    EXPECT_EQ(t->values<int64_t>()[2], 5);

    ir::Graph h;
    ir::Node* s = addNode(h, "Constant", "s", {}, {"out"});
    s->attributes().push_back(ir::Attribute::makeFloat("value_float", 2.5f));
    h.insertGraphOutput(h.findValue("out"));
    EXPECT_EQ(p.match(*s).reason(), "output 'out' is a graph output");
    ir::Node* sp = addNode(h, "Constant", "sp", {}, {"o2"});
    ir::Attribute a;
    a.name = "sparse_value";
    a.type = ir::AttrType::kSparseTensor;
    a.sparseTensor.emplace();
    sp->attributes().push_back(std::move(a));
    EXPECT_EQ(p.match(*sp).reason(),
              "attribute 'sparse_value' (sparse tensor) is not a supported constant form");
}

// X -> Conv(W, B) -> BN -> Relu, with hand-picked numbers.
std::unique_ptr<ir::Graph> convBn(bool withBias) {
    auto g = std::make_unique<ir::Graph>();
    addInitializer(*g, "W", {2, 2, 1, 1}, {1.0f, 2.0f, 3.0f, 4.0f});
    if (withBias) addInitializer(*g, "B", {2}, {0.5f, 1.0f});
    addInitializer(*g, "scale", {2}, {1.0f, 2.0f});
    addInitializer(*g, "beta", {2}, {0.1f, -0.2f});
    addInitializer(*g, "mean", {2}, {0.5f, 2.0f});
    addInitializer(*g, "var", {2}, {3.0f, 0.25f});
    std::vector<std::string> convIn = {"X", "W"};
    if (withBias) convIn.push_back("B");
    ir::Node* conv = addNode(*g, "Conv", "conv", convIn, {"c"});
    conv->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {1, 1}));
    ir::Node* bn =
        addNode(*g, "BatchNormalization", "bn", {"c", "scale", "beta", "mean", "var"}, {"b"});
    bn->attributes().push_back(ir::Attribute::makeFloat("epsilon", 1e-3f));
    addNode(*g, "Relu", "relu", {"b"}, {"Y"});
    g->insertGraphInput(g->findValue("X"));
    g->insertGraphOutput(g->findValue("Y"));
    return g;
}

TEST(ConvBatchNormFolding, FoldedValuesMatchHandComputation) {
    for (bool withBias : {true, false}) {
        SCOPED_TRACE(withBias ? "with conv bias" : "without conv bias");
        auto g = convBn(withBias);
        ConvBatchNormFolding p;
        applyAndCheckUndo(*g, p, "conv");
        EXPECT_EQ(countOps(*g, "Conv"), 1);
        EXPECT_EQ(countOps(*g, "BatchNormalization"), 0);
        ir::Node* conv = byName(*g, "conv");
        ASSERT_NE(conv, nullptr);
        EXPECT_EQ(conv->output(0)->name(), "b");
        EXPECT_EQ(conv->attrInts("kernel_shape"), (std::vector<int64_t>{1, 1}));
        ASSERT_EQ(conv->numInputs(), 3);
        // The BN parameters are unread and gone; only the folded W and B remain, folded in
        // place (only this Conv read them), and a new bias is named after the weight.
        EXPECT_EQ(g->initializers().size(), 2u);
        for (const char* gone : {"scale", "beta", "mean", "var", "c"})
            EXPECT_EQ(g->findValue(gone), nullptr) << gone;
        EXPECT_EQ(conv->input(1)->name(), "W");
        EXPECT_EQ(conv->input(2)->name(), withBias ? "B" : "W_bias");

        const double s0 = 1.0 / std::sqrt(3.0 + 1e-3), s1 = 2.0 / std::sqrt(0.25 + 1e-3);
        const double b0 = withBias ? 0.5 : 0.0, b1 = withBias ? 1.0 : 0.0;
        const std::vector<double> w = {1.0 * s0, 2.0 * s0, 3.0 * s1, 4.0 * s1};
        const std::vector<double> b = {(b0 - 0.5) * s0 + 0.1, (b1 - 2.0) * s1 - 0.2};
        auto wf = conv->input(1)->initializer()->values<float>();
        auto bf = conv->input(2)->initializer()->values<float>();
        EXPECT_EQ(conv->input(1)->initializer()->dims, (std::vector<int64_t>{2, 2, 1, 1}));
        ASSERT_EQ(wf.size(), 4u);
        ASSERT_EQ(bf.size(), 2u);
        for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(wf[i], w[i], 1e-6 * std::abs(w[i])) << i;
        for (std::size_t i = 0; i < 2; ++i) EXPECT_NEAR(bf[i], b[i], 1e-6 * std::abs(b[i])) << i;
    }
}

TEST(ConvBatchNormFolding, SharedWeightsAreKept) {
    auto g = convBn(true);
    addNode(*g, "Conv", "other", {"X", "W"}, {"o"});
    g->insertGraphOutput(g->findValue("o"));
    ConvBatchNormFolding p;
    applyAndCheckUndo(*g, p, "conv");
    ASSERT_NE(g->findValue("W"), nullptr);
    EXPECT_EQ(g->findValue("W")->initializer()->values<float>()[0], 1.0f);
    EXPECT_EQ(byName(*g, "conv")->input(1)->name(), "W_bn");
}

TEST(ConvBatchNormFolding, ExplainsWhyNot) {
    ConvBatchNormFolding p;
    {
        auto g = convBn(true);
        addNode(*g, "Relu", "second_user", {"c"}, {"z"});
        EXPECT_EQ(p.match(*byName(*g, "conv")).reason(),
                  "output 0 has 2 users, expected 1 (BatchNormalization)");
    }
    {
        auto g = convBn(true);
        ir::Tensor t = *g->findValue("var")->initializer();
        t.dtype = ir::DType::kInt32;
        g->setInitializer(g->findValue("var"), t);
        EXPECT_EQ(p.match(*byName(*g, "conv")).reason(),
                  "BatchNormalization var ('var') is int32, not float32");
    }
    {
        auto g = convBn(true);
        g->insertGraphInput(g->findValue("W"));
        EXPECT_EQ(p.match(*byName(*g, "conv")).reason(), "Conv weights are not an initializer");
    }
    {
        auto g = convBn(true);
        byName(*g, "bn")->attributes().push_back(ir::Attribute::makeInt("training_mode", 1));
        EXPECT_EQ(p.match(*byName(*g, "conv")).reason(),
                  "BatchNormalization has training_mode = 1");
    }
    {
        auto g = convBn(true);
        EXPECT_EQ(p.match(*byName(*g, "relu")).matched(), false);
        EXPECT_FALSE(p.isRootCandidate(*byName(*g, "relu")));
    }
}

TEST(PatternSet, OrdersByBenefitThenRegistration) {
    struct Fake : Pattern {
        Fake(std::string n, int b) : Pattern(std::move(n), "Relu", b) {}
        MatchResult match(const ir::Node&) const override { return MatchResult::failure("no"); }
        Status apply(Rewriter&, ir::Node&) const override { return Status::ok(); }
    };
    PatternSet set;
    set.emplace<Fake>("a", 1);
    set.emplace<Fake>("b", 3);
    set.emplace<Fake>("c", 1);
    set.emplace<Fake>("d", 3);
    std::vector<std::string> names;
    for (const Pattern* p : set.patternsFor("Relu")) names.push_back(p->name());
    EXPECT_EQ(names, (std::vector<std::string>{"b", "d", "a", "c"}));
    EXPECT_TRUE(set.patternsFor("Conv").empty());
    addCleanupPatterns(set);
    addFusionPatterns(set);
    EXPECT_EQ(set.size(), 8u);
    EXPECT_NE(set.find("ConvBatchNormFolding"), nullptr);
}

TEST(GreedyDriver, CleansUpAndFoldsTheResNet) {
    auto g = test::makeResNetLike(2);
    auto original = g->clone();
    Rewriter rw(*g);
    PatternSet set;
    addCleanupPatterns(set);
    addFusionPatterns(set);
    GreedyReport report = applyPatternsGreedily(rw, set);
    EXPECT_TRUE(report.converged);
    EXPECT_EQ(report.count("IdentityElimination"), 2);
    EXPECT_EQ(report.count("DropoutElimination"), 1);
    EXPECT_EQ(report.count("ConstantToInitializer"), 1);
    EXPECT_EQ(report.count("ConvBatchNormFolding"), 5);
    EXPECT_EQ(countOps(*g, "BatchNormalization"), 0);
    EXPECT_EQ(countOps(*g, "Conv"), 5);
    EXPECT_EQ(countOps(*g, "Identity") + countOps(*g, "Dropout") + countOps(*g, "Constant"), 0);
    EXPECT_TRUE(g->validate().isOk()) << g->validate().message();
    // The last sweep explains why the remaining Convs are left alone.
    ASSERT_FALSE(report.notApplied.empty());
    for (const PatternMiss& miss : report.notApplied) {
        EXPECT_EQ(miss.pattern, "ConvBatchNormFolding");
        EXPECT_NE(miss.reason.find("not by a BatchNormalization"), std::string::npos)
            << miss.reason;
    }
    // One undo step for the whole run, one detail line per application.
    ASSERT_EQ(rw.log().size(), 1u);
    EXPECT_EQ(rw.log().steps()[0].description, "Apply patterns");
    const auto& details = rw.log().steps()[0].details;
    EXPECT_EQ(std::count_if(details.begin(), details.end(),
                            [](const std::string& d) { return d.rfind("  ", 0) != 0; }),
              9);
    EXPECT_EQ(details[0], "ConvBatchNormFolding on 'conv0'") << details[0];
    ASSERT_TRUE(rw.undo().isOk());
    std::string diff;
    EXPECT_TRUE(graphsEqual(*original, *g, &diff)) << diff;

    // A second run on the folded graph finds nothing to do and records no step.
    ASSERT_TRUE(rw.redo().isOk());
    GreedyReport again = applyPatternsGreedily(rw, set);
    EXPECT_FALSE(again.changed());
    EXPECT_EQ(again.iterations, 1);
    EXPECT_EQ(rw.log().size(), 1u);
}

TEST(GreedyDriver, IterationCapAndChains) {
    // A chain of Identities: each sweep removes them all in order, so one sweep plus one empty
    // sweep converge; with a cap of 1 the driver reports it did not check convergence.
    ir::Graph g;
    std::string prev = "x";
    for (int i = 0; i < 5; ++i) {
        std::string next = "v" + std::to_string(i);
        addNode(g, "Identity", "id" + std::to_string(i), {prev}, {next});
        prev = next;
    }
    addNode(g, "Relu", "r", {prev}, {"y"});
    g.insertGraphInput(g.findValue("x"));
    g.insertGraphOutput(g.findValue("y"));
    PatternSet set;
    addCleanupPatterns(set);
    Rewriter rw(g);
    GreedyOptions capped;
    capped.maxIterations = 1;
    GreedyReport report = applyPatternsGreedily(rw, set, capped);
    EXPECT_EQ(report.applied.size(), 5u);
    EXPECT_FALSE(report.converged);
    EXPECT_EQ(g.numNodes(), 1u);
    EXPECT_EQ(g.firstNode()->input(0)->name(), "x");
    GreedyReport rest = applyPatternsGreedily(rw, set);
    EXPECT_TRUE(rest.converged);
    EXPECT_FALSE(rest.changed());
}


TEST(ConstantArithmeticFolding, BroadcastsAndComputesInFloat) {
    ir::Graph g;
    ir::Node* mul = addNode(g, "Mul", "scale", {"sx", "sw"}, {"s"});
    ir::Node* sub = addNode(g, "Sub", "shift", {"col", "row"}, {"d"});
    addNode(g, "Add", "use", {"s", "x"}, {"y"});
    addNode(g, "Add", "use2", {"d", "x"}, {"z"});
    g.setInitializer(g.findValue("sx"), ir::Tensor::fromFloats("sx", {}, {0.1f}));
    g.setInitializer(g.findValue("sw"), ir::Tensor::fromFloats("sw", {3}, {1.0f, 0.3f, 7.0f}));
    g.setInitializer(g.findValue("col"), ir::Tensor::fromFloats("col", {2, 1}, {10.0f, 20.0f}));
    g.setInitializer(g.findValue("row"), ir::Tensor::fromFloats("row", {3}, {1.0f, 2.0f, 3.0f}));
    for (const char* v : {"x"}) g.insertGraphInput(g.findValue(v));
    for (const char* v : {"y", "z"}) g.insertGraphOutput(g.findValue(v));
    ConstantArithmeticFolding pmul("Mul"), psub("Sub");
    ASSERT_TRUE(pmul.match(*mul).matched()) << pmul.match(*mul).reason();
    applyAndCheckUndo(g, pmul, "scale");
    applyAndCheckUndo(g, psub, "shift");
    const ir::Tensor* s = g.findValue("s")->initializer();
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->dims, std::vector<int64_t>{3});
    const float sw[] = {1.0f, 0.3f, 7.0f};
    for (int i = 0; i < 3; ++i) EXPECT_EQ(s->values<float>()[static_cast<std::size_t>(i)], 0.1f * sw[i]);
    const ir::Tensor* d = g.findValue("d")->initializer();
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->dims, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(std::vector<float>(d->values<float>().begin(), d->values<float>().end()),
              (std::vector<float>{9, 8, 7, 19, 18, 17}));
}

TEST(ConstantArithmeticFolding, ExplainsWhyNot) {
    ir::Graph g;
    ir::Node* fed = addNode(g, "Mul", "fed", {"a", "x"}, {"p"});
    ir::Node* huge = addNode(g, "Add", "huge", {"col", "row"}, {"q"});
    ir::Node* bad = addNode(g, "Div", "bad", {"a", "b3"}, {"r"});
    addNode(g, "Concat", "use", {"p", "q", "r"}, {"y"});
    g.setInitializer(g.findValue("a"), ir::Tensor::fromFloats("a", {2}, {1.0f, 2.0f}));
    g.setInitializer(g.findValue("x"), ir::Tensor::fromFloats("x", {2}, {1.0f, 2.0f}));
    g.insertGraphInput(g.findValue("x"));  // an initializer the user may feed: not a constant
    g.setInitializer(g.findValue("b3"), ir::Tensor::fromFloats("b3", {3}, {1.0f, 2.0f, 3.0f}));
    // 2^11 x 2^10 = 2^21 elements from 3,072 stored ones: more than the bound.
    g.setInitializer(g.findValue("col"), ir::Tensor::fromFloats("col", {2048, 1}, std::vector<float>(2048, 1.0f)));
    g.setInitializer(g.findValue("row"), ir::Tensor::fromFloats("row", {1024}, std::vector<float>(1024, 1.0f)));
    g.insertGraphOutput(g.findValue("y"));
    EXPECT_EQ(ConstantArithmeticFolding("Mul").match(*fed).reason(),
              "the inputs are not both float32 initializers");
    EXPECT_EQ(ConstantArithmeticFolding("Add").match(*huge).reason(),
              "the inputs do not broadcast to at most 1048576 elements");
    EXPECT_EQ(ConstantArithmeticFolding("Div").match(*bad).reason(),
              "the inputs do not broadcast to at most 1048576 elements");
}

}  // namespace
}  // namespace wh::rewrite
