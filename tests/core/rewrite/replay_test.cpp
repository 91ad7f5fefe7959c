// Rewriter::replay(): a step recorded on a clone (a job's snapshot) applied to the original
// reproduces the clone exactly and is one undoable step there; a step that no longer fits (the
// original moved on) is refused with a Status naming the culprit and changes nothing.

#include <gtest/gtest.h>

#include "core/rewrite/greedy_driver.h"
#include "core/rewrite/pattern_sets.h"
#include "core/rewrite/rewriter.h"
#include "graph_equal.h"
#include "test_graphs.h"

namespace wh::rewrite {
namespace {

using test::graphsEqual;
using test::makeResNetLike;

ir::Node* nodeNamed(ir::Graph& g, const std::string& name) {
    for (ir::Node* n : g.nodes())
        if (n->name == name) return n;
    ADD_FAILURE() << "no node " << name;
    return nullptr;
}

ir::Tensor filled(const ir::Value& v, float x) {
    const ir::Tensor& t = *v.initializer();
    return ir::Tensor::fromFloats(t.name, t.dims,
                                  std::vector<float>(static_cast<std::size_t>(t.numElements()), x));
}

// Counts events, to check that a replay is announced like any edit.
struct Counter : Listener {
    int inserted = 0, erased = 0, changed = 0, initializers = 0, committed = 0, undone = 0;
    void nodeInserted(ir::NodeId) override { ++inserted; }
    void nodeErased(ir::NodeId) override { ++erased; }
    void nodeChanged(ir::NodeId) override { ++changed; }
    void initializerChanged(const std::string&) override { ++initializers; }
    void stepCommitted(const Step&) override { ++committed; }
    void stepUndone(const Step&) override { ++undone; }
};

class Replay : public ::testing::Test {
protected:
    void SetUp() override {
        graph = makeResNetLike(2);
        original = graph->clone();
        job = graph->clone();  // the job's snapshot: same ids, same names
        rewriter = std::make_unique<Rewriter>(*graph);
        jobRewriter = std::make_unique<Rewriter>(*job);
        rewriter->addListener(&events);
    }
    const Step& jobStep() { return jobRewriter->log().steps().back(); }
    // Replays every step the job made; then undo -> original, redo -> the job's graph. The
    // replay announces the same changes as the job's own edits did (`jobEvents`, if given).
    void expectReplayExact(const Counter* jobEvents = nullptr) {
        for (const Step& s : jobRewriter->log().steps())
            ASSERT_TRUE(rewriter->replay(s).isOk()) << s.description;
        if (jobEvents) {
            EXPECT_EQ(events.inserted, jobEvents->inserted);
            EXPECT_EQ(events.erased, jobEvents->erased);
            EXPECT_EQ(events.changed, jobEvents->changed);
            EXPECT_EQ(events.initializers, jobEvents->initializers);
            EXPECT_EQ(events.committed, jobEvents->committed);
        }
        std::string diff;
        EXPECT_TRUE(graphsEqual(*job, *graph, &diff)) << "after replay: " << diff;
        ASSERT_EQ(rewriter->log().size(), jobRewriter->log().size());
        for (std::size_t i = 0; i < rewriter->log().size(); ++i)
            EXPECT_EQ(rewriter->log().steps()[i].description,
                      jobRewriter->log().steps()[i].description);
        while (rewriter->canUndo()) ASSERT_TRUE(rewriter->undo().isOk());
        EXPECT_TRUE(graphsEqual(*original, *graph, &diff)) << "after undo: " << diff;
        while (rewriter->canRedo()) ASSERT_TRUE(rewriter->redo().isOk());
        EXPECT_TRUE(graphsEqual(*job, *graph, &diff)) << "after redo: " << diff;
        EXPECT_TRUE(graph->validate().isOk()) << graph->validate().message();
    }
    // A refused replay: the Status names `culprit`, and graph and log are as before.
    void expectRefused(const Step& step, const std::string& culprit) {
        auto before = graph->clone();
        const std::size_t steps = rewriter->log().size(), done = rewriter->log().undoCount();
        const int committed = events.committed;
        Status s = rewriter->replay(step);
        ASSERT_FALSE(s.isOk());
        EXPECT_EQ(s.code(), StatusCode::kBadInput);
        EXPECT_NE(s.message().find(culprit), std::string::npos) << s.message();
        std::string diff;
        EXPECT_TRUE(graphsEqual(*before, *graph, &diff)) << "a refused replay changed: " << diff;
        EXPECT_EQ(rewriter->log().size(), steps);
        EXPECT_EQ(rewriter->log().undoCount(), done);
        EXPECT_EQ(events.committed, committed);
    }

    std::unique_ptr<ir::Graph> graph, original, job;
    std::unique_ptr<Rewriter> rewriter, jobRewriter;
    Counter events;
};

TEST_F(Replay, PatternRunOnASnapshotReproducesItExactly) {
    // Identity/Dropout elimination, Constant lifting and BN folding: node erasure, rewiring,
    // graph outputs, new and removed initializers and values, in one group.
    Counter jobEvents;
    jobRewriter->addListener(&jobEvents);
    PatternSet set;
    addCleanupPatterns(set);
    addFusionPatterns(set);
    GreedyReport report = applyPatternsGreedily(*jobRewriter, set);
    ASSERT_EQ(jobRewriter->log().size(), 1u);
    ASSERT_EQ(report.count("ConvBatchNormFolding"), 5);
    ASSERT_GT(jobEvents.erased, 5);
    expectReplayExact(&jobEvents);
    EXPECT_EQ(rewriter->log().steps()[0].details, jobStep().details);
}

TEST_F(Replay, HandMadeEditsOfEveryKindReproduceExactly) {
    Rewriter& j = *jobRewriter;
    {
        ScopedGroup group(j, "Job edits");
        ir::Node* relu = nodeNamed(*job, "relu0");
        ASSERT_TRUE(
            j.insertOnEdge(*relu->output(0), nullptr, NewNode("Identity", {}, {})).has_value());
        ASSERT_TRUE(j.renameNode(*nodeNamed(*job, "gap"), "pool").isOk());
        ASSERT_TRUE(
            j.setAttribute(*nodeNamed(*job, "conv0"), ir::Attribute::makeInt("group", 1)).isOk());
        ASSERT_TRUE(
            j.setAttribute(*nodeNamed(*job, "fc"), ir::Attribute::makeFloat("beta", 2)).isOk());
        ASSERT_TRUE(j.removeAttribute(*nodeNamed(*job, "conv0"), "dilations").isOk());
        ASSERT_TRUE(j.renameValue(*job->findValue("gap_out"), "pooled").isOk());
        ir::Value* w = job->findValue("fc.weight");
        ASSERT_TRUE(j.replaceInitializer(*w, filled(*w, 0.25f)).isOk());
        ASSERT_TRUE(j.addInitializer("extra", ir::Tensor::fromFloats("extra", {1}, {1})));
        ASSERT_TRUE(j.removeValueInfo(*job->findValue("conv0_out")).isOk());
        ASSERT_TRUE(
            j.setValueType(*job->findValue("flat"), ir::Type::tensor(ir::DType::kFloat)).isOk());
        ASSERT_TRUE(j.moveNode(*nodeNamed(*job, "shape_const"), job->firstNode()).isOk());
        ASSERT_TRUE(j.addGraphOutput(*job->findValue("pooled")).isOk());
    }
    ASSERT_TRUE(j.bypass(*nodeNamed(*job, "features")).isOk());  // a second step
    ASSERT_EQ(j.log().size(), 2u);
    expectReplayExact();
    EXPECT_EQ(events.committed, 2);
    EXPECT_EQ(events.undone, 2);
}

TEST_F(Replay, InsideAGroupTheStepBecomesPartOfIt) {
    ir::Value* w = job->findValue("fc.weight");
    ASSERT_TRUE(jobRewriter->replaceInitializer(*w, filled(*w, 1.5f)).isOk());
    {
        ScopedGroup group(*rewriter, "Outer");
        ASSERT_TRUE(rewriter->renameNode(*nodeNamed(*graph, "fc"), "classifier").isOk());
        ASSERT_TRUE(rewriter->replay(jobStep()).isOk());
    }
    ASSERT_EQ(rewriter->log().size(), 1u);
    EXPECT_EQ(rewriter->log().steps()[0].description, "Outer");
    ASSERT_EQ(rewriter->log().steps()[0].details.size(), 2u);
    EXPECT_EQ(rewriter->log().steps()[0].details[1], jobStep().description);
    ASSERT_TRUE(rewriter->undo().isOk());
    std::string diff;
    EXPECT_TRUE(graphsEqual(*original, *graph, &diff)) << diff;
}

TEST_F(Replay, RefusedWhenANodeItEditsWasErased) {
    ASSERT_TRUE(jobRewriter->renameNode(*nodeNamed(*job, "features"), "feat").isOk());
    ASSERT_TRUE(rewriter->bypass(*nodeNamed(*graph, "features")).isOk());
    expectRefused(jobStep(), "does not exist");
}

TEST_F(Replay, RefusedWhenTheWiringChanged) {
    // The job bypasses the Dropout; the document meanwhile put a Relu between it and the Gemm.
    ASSERT_TRUE(jobRewriter->bypass(*nodeNamed(*job, "dropout")).isOk());
    ir::Node* gemm = nodeNamed(*graph, "fc");
    ASSERT_TRUE(rewriter->insertOnEdge(*graph->findValue("dropped"), gemm, NewNode("Relu", {}, {}))
                    .has_value());
    expectRefused(jobStep(), "'fc'");
}

TEST_F(Replay, RefusedWhenAnInitializerWasReplacedDifferentlyAndRolledBack) {
    // Two replacements in one step; the second no longer fits, so the first is rolled back.
    {
        ScopedGroup group(*jobRewriter, "Write back");
        for (const char* name : {"conv0.weight", "fc.weight"}) {
            ir::Value* w = job->findValue(name);
            ASSERT_TRUE(jobRewriter->replaceInitializer(*w, filled(*w, 0.5f)).isOk());
        }
    }
    ir::Value* w = graph->findValue("fc.weight");
    ASSERT_TRUE(rewriter->replaceInitializer(*w, filled(*w, -1.0f)).isOk());
    const int initializerEvents = events.initializers;
    expectRefused(jobStep(), "initializer 'fc.weight' holds other values");
    // conv0.weight was replaced and put back: two events, and the graph checked unchanged.
    EXPECT_EQ(events.initializers, initializerEvents + 2);
    // Undoing the document's own edit makes the step fit again.
    ASSERT_TRUE(rewriter->undo().isOk());
    ASSERT_TRUE(rewriter->replay(jobStep()).isOk());
    std::string diff;
    EXPECT_TRUE(graphsEqual(*job, *graph, &diff)) << diff;
}

TEST_F(Replay, RefusedWhenTheInitializerChangedShape) {
    ir::Value* w = job->findValue("fc.bias");
    ASSERT_TRUE(jobRewriter->replaceInitializer(*w, filled(*w, 0.5f)).isOk());
    ir::Value* v = graph->findValue("fc.bias");
    ASSERT_TRUE(
        rewriter->replaceInitializer(*v, ir::Tensor::fromFloats("fc.bias", {2}, {1, 2})).isOk());
    expectRefused(jobStep(), "initializer 'fc.bias' is float2, the step expected float10");
}

TEST_F(Replay, RefusedWhenTheDocumentHandedOutTheNewNodesId) {
    // Both insert a node: the same fresh id. Undoing the document's insert does not free the id
    // (ids are never reused), so the job's node is still refused.
    ASSERT_TRUE(jobRewriter
                    ->insertOnEdge(*job->findValue("relu0_out"), nullptr,
                                   NewNode("Identity", {}, {"job_identity"}))
                    .has_value());
    ASSERT_TRUE(rewriter
                    ->insertOnEdge(*graph->findValue("relu0_out"), nullptr,
                                   NewNode("Identity", {}, {"doc_identity"}))
                    .has_value());
    expectRefused(jobStep(), "the id is taken");
    ASSERT_TRUE(rewriter->undo().isOk());
    expectRefused(jobStep(), "handed out that id already");
}

TEST_F(Replay, RefusedWhenANewNameIsTaken) {
    ASSERT_TRUE(jobRewriter->addInitializer("scale", ir::Tensor::fromFloats("scale", {1}, {2})));
    ASSERT_TRUE(rewriter->addInitializer("scale", ir::Tensor::fromFloats("scale", {1}, {3})));
    expectRefused(jobStep(), "tensor 'scale' to create exists already");
}

}  // namespace
}  // namespace wh::rewrite
