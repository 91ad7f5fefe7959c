// The undo property: for any sequence of edits, undoing all of them gives back the original graph
// exactly, and redoing all of them gives back the edited graph exactly. Sequences of 1..30 random
// edits with random valid (and some invalid) arguments, seeded, over graphs built in code and real
// ONNX models from libonnx-testdata. A failed edit must leave the graph unchanged.

#include <chrono>
#include <filesystem>
#include <random>

#include <gtest/gtest.h>

#include "core/onnx/model_io.h"
#include "core/rewrite/greedy_driver.h"
#include "core/rewrite/pattern_sets.h"
#include "core/rewrite/rewriter.h"
#include "graph_equal.h"
#include "test_graphs.h"

namespace wh::rewrite {
namespace {

namespace fs = std::filesystem;
using test::graphsEqual;

// Performs random edits through a Rewriter.
class RandomEditor {
public:
    RandomEditor(Rewriter& rw, std::mt19937& rng, const PatternSet& patterns)
        : m_rw(rw), m_g(rw.graph()), m_rng(rng), m_patterns(patterns) {}

    // One random edit (or undo, or group begin/end/cancel). Returns a label for messages.
    std::string edit() {
        const int kinds = 21;
        const int kind = uniform(0, kinds - 1);
        auto before = m_g.clone();
        const std::size_t depth = static_cast<std::size_t>(m_rw.groupDepth());
        Status s = run(kind);
        if (!s.isOk()) {
            std::string diff;
            EXPECT_TRUE(graphsEqual(*before, m_g, &diff))
                << "edit kind " << kind << " failed (" << s.message()
                << ") but changed the graph: " << diff;
            EXPECT_EQ(static_cast<std::size_t>(m_rw.groupDepth()), depth);
        }
        return std::to_string(kind) + (s.isOk() ? "" : "!");
    }

    // Closes any group left open.
    void closeGroups() {
        while (m_rw.groupDepth() > 0) {
            m_rw.endGroup();
            m_groupStart.pop_back();
        }
    }

private:
    int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(m_rng); }
    bool coin() { return uniform(0, 1) == 1; }
    template <class T>
    T* pick(const std::vector<T*>& v) {
        return v.empty() ? nullptr
                         : v[static_cast<std::size_t>(uniform(0, static_cast<int>(v.size()) - 1))];
    }
    ir::Node* node() { return pick(m_g.nodeList()); }
    ir::Value* value() { return pick(m_g.valueList()); }
    ir::Value* usedValue() {
        std::vector<ir::Value*> used;
        for (ir::Value* v : m_g.valueList())
            if (v->hasUses()) used.push_back(v);
        return pick(used);
    }
    std::string fresh(const char* base) { return m_g.uniqueName(base); }
    static Status statusOf(bool ok) {
        return ok ? Status::ok() : Status(StatusCode::kUsage, "no candidate");
    }
    template <class T>
    static Status statusOf(const Expected<T>& e) {
        return e ? Status::ok() : e.error();
    }
    ir::Tensor tensor() {
        const int n = uniform(0, 4);
        std::vector<float> values(static_cast<std::size_t>(n));
        for (float& f : values) f = static_cast<float>(uniform(-100, 100)) / 8.0f;
        return ir::Tensor::fromFloats("", {n}, values);
    }
    ir::Attribute attribute(std::string name) {
        switch (uniform(0, 5)) {
            case 0:
                return ir::Attribute::makeInt(std::move(name), uniform(-5, 5));
            case 1:
                return ir::Attribute::makeFloat(std::move(name), 0.25f * uniform(0, 9));
            case 2:
                return ir::Attribute::makeInts(std::move(name), {uniform(0, 3), uniform(0, 3)});
            case 3:
                return ir::Attribute::makeString(std::move(name), fresh("s"));
            case 4:
                return ir::Attribute::makeFloats(std::move(name), {1.5f});
            default:
                return ir::Attribute::makeTensor(std::move(name), tensor());
        }
    }
    NewNode newNode(const char* opType, int numInputs) {
        NewNode spec;
        spec.opType = opType;
        spec.name = fresh("rnd_node");
        for (int i = 0; i < numInputs; ++i) {
            ir::Value* v = value();
            spec.inputs.push_back(v && coin() ? v->name() : std::string());
        }
        spec.outputs.push_back(fresh("rnd"));
        if (coin()) spec.attributes.push_back(attribute("alpha"));
        return spec;
    }

    Status run(int kind) {
        switch (kind) {
            case 0: {  // insert on an edge
                ir::Value* v = usedValue();
                if (!v) return statusOf(false);
                ir::Node* consumer = coin() ? v->uses().front().node : nullptr;
                return statusOf(m_rw.insertOnEdge(*v, consumer, NewNode("Identity", {}, {})));
            }
            case 1: {  // insert before / after
                ir::Node* anchor = node();
                if (!anchor) return statusOf(m_rw.insertNode(newNode("Relu", 1), nullptr));
                return coin() ? statusOf(m_rw.insertBefore(*anchor, newNode("Relu", 1)))
                              : statusOf(m_rw.insertAfter(*anchor, newNode("Add", 2)));
            }
            case 2: {  // bypass (succeeds for any node shaped like a pass-through)
                ir::Node* n = node();
                if (!n) return statusOf(false);
                return m_rw.bypass(*n, 0, 0);
            }
            case 3: {  // replace one node, reusing its outputs
                ir::Node* n = node();
                if (!n) return statusOf(false);
                NewNode spec;
                spec.opType = "Fused";
                spec.domain = "test";
                spec.name = n->name + "_fused";
                for (ir::Value* v : n->inputs()) spec.inputs.push_back(v ? v->name() : "");
                for (ir::Value* v : n->outputs()) spec.outputs.push_back(v ? v->name() : "");
                spec.attributes.push_back(attribute("k"));
                return statusOf(m_rw.replace(*n, std::move(spec)));
            }
            case 4: {  // replace a producer and its consumer by one node
                ir::Node* n = node();
                if (!n || !n->output(0) || !n->output(0)->hasUses()) return statusOf(false);
                ir::Node* m = n->output(0)->uses().front().node;
                if (m == n) return statusOf(false);
                NewNode spec;
                spec.opType = "Pair";
                for (ir::Value* v : n->inputs()) spec.inputs.push_back(v ? v->name() : "");
                for (ir::Value* v : m->outputs()) spec.outputs.push_back(v ? v->name() : "");
                std::vector<NewNode> specs;
                specs.push_back(std::move(spec));
                ir::Node* pair[] = {n, m};
                return statusOf(m_rw.replace(pair, std::move(specs)));
            }
            case 5: {  // erase a node (usually fails unless its outputs are dead)
                std::vector<ir::Node*> dead;
                for (ir::Node* n : m_g.nodes()) {
                    bool unused = true;
                    for (ir::Value* o : n->outputs())
                        if (o && (o->hasUses() || o->isGraphOutput())) unused = false;
                    if (unused) dead.push_back(n);
                }
                ir::Node* n = coin() ? pick(dead) : node();
                if (!n) return statusOf(false);
                return m_rw.eraseNode(*n);
            }
            case 6: {
                ir::Value* from = usedValue();
                ir::Value* to = value();
                if (!from || !to) return statusOf(false);
                return m_rw.replaceAllUsesWith(*from, *to, coin());
            }
            case 7: {
                ir::Node* n = node();
                if (!n) return statusOf(false);
                std::string name =
                    !n->attributes().empty() && coin()
                        ? n->attributes()[static_cast<std::size_t>(uniform(
                                              0, static_cast<int>(n->attributes().size()) - 1))]
                              .name
                        : fresh("attr");
                return m_rw.setAttribute(*n, attribute(std::move(name)));
            }
            case 8: {
                ir::Node* n = node();
                if (!n) return statusOf(false);
                if (n->attributes().empty()) return m_rw.removeAttribute(*n, "missing");
                const auto& attrs = n->attributes();
                std::string name =
                    attrs[static_cast<std::size_t>(uniform(0, static_cast<int>(attrs.size()) - 1))]
                        .name;
                return m_rw.removeAttribute(*n, name);
            }
            case 9: {
                ir::Value* init = pick(m_g.initializers());
                switch (uniform(0, 3)) {
                    case 0:
                        return statusOf(m_rw.addInitializer(fresh("init"), tensor()));
                    case 1:
                        return init ? m_rw.replaceInitializer(*init, tensor()) : statusOf(false);
                    case 2: {
                        ir::Value* v = value();
                        return v ? m_rw.setInitializer(*v, tensor()) : statusOf(false);
                    }
                    default:
                        return init ? m_rw.removeInitializer(*init) : statusOf(false);
                }
            }
            case 10: {
                ir::Node* n = node();
                return n ? m_rw.renameNode(*n, fresh("renamed_node")) : statusOf(false);
            }
            case 11: {
                ir::Value* v = value();
                if (!v) return statusOf(false);
                ir::Value* other = value();
                // Sometimes a taken name, which must fail cleanly.
                return m_rw.renameValue(*v, coin() && other ? other->name() : fresh("renamed"));
            }
            case 12: {
                ir::Node* n = node();
                return n ? m_rw.moveNode(*n, coin() ? node() : nullptr) : statusOf(false);
            }
            case 13: {
                ir::Value* v = value();
                if (!v) return statusOf(false);
                switch (uniform(0, 2)) {
                    case 0: {
                        ir::Shape shape;
                        for (int i = uniform(0, 3); i > 0; --i)
                            shape.dims.push_back(coin() ? ir::Dim::known(uniform(1, 9))
                                                        : ir::Dim::symbol("d"));
                        return m_rw.setValueType(
                            *v, ir::Type::tensor(coin() ? ir::DType::kFloat16 : ir::DType::kInt64,
                                                 shape));
                    }
                    case 1:
                        return m_rw.addValueInfo(
                            *v, uniform(-1, static_cast<int>(m_g.valueInfos().size())));
                    default:
                        return m_rw.removeValueInfo(*v);
                }
            }
            case 14: {
                ir::Value* v = value();
                const int nIn = static_cast<int>(m_g.inputs().size());
                const int nOut = static_cast<int>(m_g.outputs().size());
                switch (uniform(0, 3)) {
                    case 0:
                        return v ? m_rw.addGraphOutput(*v, uniform(-1, nOut)) : statusOf(false);
                    case 1:
                        return m_rw.removeGraphOutput(uniform(0, nOut));
                    case 2:
                        return v ? m_rw.addGraphInput(*v, uniform(-1, nIn)) : statusOf(false);
                    default:
                        return m_rw.removeGraphInput(uniform(0, nIn));
                }
            }
            case 15: {
                ir::Node* n = node();
                if (!n || n->numInputs() == 0) return statusOf(false);
                return m_rw.setInput(*n, uniform(0, n->numInputs() - 1),
                                     coin() ? value() : nullptr);
            }
            case 16: {
                GreedyOptions options;
                options.maxIterations = uniform(1, 3);
                applyPatternsGreedily(m_rw, m_patterns, options);
                return Status::ok();
            }
            case 17: {
                if (!m_rw.canUndo()) return statusOf(false);
                return m_rw.undo();
            }
            case 18: {  // open, close or cancel a group
                const int depth = m_rw.groupDepth();
                const int choice = depth == 0 ? 0 : depth >= 2 ? uniform(1, 2) : uniform(0, 2);
                if (choice == 0) {
                    m_groupStart.push_back(m_g.clone());
                    m_rw.beginGroup(fresh("group"));
                } else if (choice == 1) {
                    m_rw.endGroup();
                    m_groupStart.pop_back();
                } else {
                    m_rw.cancelGroup();
                    std::string diff;
                    EXPECT_TRUE(graphsEqual(*m_groupStart.back(), m_g, &diff))
                        << "cancelGroup did not restore: " << diff;
                    m_groupStart.pop_back();
                }
                return Status::ok();
            }
            case 19: {
                ir::Node* n = node();
                return n ? m_rw.setNodeDocString(*n, fresh("doc")) : statusOf(false);
            }
            default: {  // erase an unused value
                std::vector<ir::Value*> unused;
                for (ir::Value* v : m_g.valueList())
                    if (m_rw.isUnreferenced(*v) && !v->isCapture()) unused.push_back(v);
                ir::Value* v = coin() ? pick(unused) : value();
                return v ? m_rw.eraseUnusedValue(*v) : statusOf(false);
            }
        }
    }

    Rewriter& m_rw;
    ir::Graph& m_g;
    std::mt19937& m_rng;
    const PatternSet& m_patterns;
    std::vector<std::unique_ptr<ir::Graph>> m_groupStart;
};

struct PropertyStats {
    int sequences = 0;
    int edits = 0;
    int steps = 0;
};

// Runs `count` random sequences on copies of `original`; returns false on the first failure.
bool runSequences(const ir::Graph& original, const std::string& label, int count, uint32_t seed,
                  PropertyStats& stats) {
    PatternSet patterns;
    addCleanupPatterns(patterns);
    addFusionPatterns(patterns);
    std::mt19937 rng(seed);
    for (int s = 0; s < count; ++s) {
        const uint32_t sequenceSeed = static_cast<uint32_t>(rng());
        std::mt19937 seqRng(sequenceSeed);
        auto graph = original.clone();
        Rewriter rw(*graph);
        RandomEditor editor(rw, seqRng, patterns);
        const int length = std::uniform_int_distribution<int>(1, 30)(seqRng);
        std::string trace;
        for (int i = 0; i < length; ++i) trace += editor.edit() + " ";
        editor.closeGroups();
        SCOPED_TRACE(::testing::Message() << label << " sequence " << s << " seed " << sequenceSeed
                                          << " edits: " << trace);
        auto edited = graph->clone();
        const std::size_t steps = rw.log().undoCount();
        std::string diff;
        while (rw.canUndo()) {
            if (!rw.undo().isOk()) return false;
        }
        if (!graphsEqual(original, *graph, &diff)) {
            ADD_FAILURE() << "undo-all differs from the original: " << diff;
            return false;
        }
        for (std::size_t i = 0; i < steps; ++i)
            if (!rw.redo().isOk()) return false;
        if (!graphsEqual(*edited, *graph, &diff)) {
            ADD_FAILURE() << "redo-all differs from the edited graph: " << diff;
            return false;
        }
        // And back once more: undo must not depend on having been applied only once.
        while (rw.canUndo()) {
            if (!rw.undo().isOk()) return false;
        }
        if (!graphsEqual(original, *graph, &diff)) {
            ADD_FAILURE() << "second undo-all differs from the original: " << diff;
            return false;
        }
        if (::testing::Test::HasFailure()) return false;
        ++stats.sequences;
        stats.edits += length;
        stats.steps += static_cast<int>(steps);
    }
    return true;
}

TEST(UndoProperty, RandomEditSequencesOnBuiltGraphs) {
    const auto start = std::chrono::steady_clock::now();
    PropertyStats stats;
    for (int blocks = 0; blocks < 4; ++blocks) {
        auto g = test::makeResNetLike(blocks, 3 + blocks, 100 + static_cast<uint32_t>(blocks));
        ASSERT_TRUE(g->validate().isOk());
        ASSERT_TRUE(runSequences(*g, "resnet_like(" + std::to_string(blocks) + ")", 250,
                                 static_cast<uint32_t>(7 + blocks), stats));
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("[ property ] %d sequences, %d edits, %d undo steps on built graphs in %.2f s\n",
                stats.sequences, stats.edits, stats.steps, seconds);
    EXPECT_EQ(stats.sequences, 1000);
}

// Every model under these folders of libonnx-testdata, loaded with wh::onnx::loadModel.
std::vector<fs::path> testdataModels() {
    std::vector<fs::path> out;
    const fs::path root = "/usr/share/libonnx-testdata/data";
    for (const char* dir : {"pytorch-converted", "pytorch-operator", "simple", "node"}) {
        std::error_code ec;
        if (!fs::is_directory(root / dir, ec)) continue;
        for (const auto& entry : fs::directory_iterator(root / dir, ec))
            if (fs::is_regular_file(entry.path() / "model.onnx"))
                out.push_back(entry.path() / "model.onnx");
    }
    std::sort(out.begin(), out.end());
    return out;
}

TEST(UndoProperty, RandomEditSequencesOnRealModels) {
    const auto models = testdataModels();
    if (models.empty()) GTEST_SKIP() << "libonnx-testdata is not installed";
    const auto start = std::chrono::steady_clock::now();
    PropertyStats stats;
    int loaded = 0, failed = 0, withSubgraphs = 0;
    for (std::size_t i = 0; i < models.size(); ++i) {
        auto model = onnx::loadModel(models[i]);
        if (!model) {
            ++failed;
            continue;
        }
        ++loaded;
        const ir::Graph& g = *model->graph;
        if (g.numNodesRecursive() != g.numNodes()) ++withSubgraphs;
        // More sequences on the models with several nodes, a few on single-op models.
        const int count = g.numNodes() >= 3 ? 20 : 2;
        const std::string label = models[i].parent_path().filename().string();
        ASSERT_TRUE(runSequences(g, label, count, static_cast<uint32_t>(1000 + i), stats));
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "[ property ] %d models loaded (%d failed to load, %d with subgraphs): %d sequences, "
        "%d edits, %d undo steps in %.2f s\n",
        loaded, failed, withSubgraphs, stats.sequences, stats.edits, stats.steps, seconds);
    EXPECT_GT(loaded, 0);
    EXPECT_GE(stats.sequences, 1000);
}

}  // namespace
}  // namespace wh::rewrite
