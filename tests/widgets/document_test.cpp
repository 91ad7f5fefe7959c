// Document: edits through the Rewriter, one QUndoStack command per edit, undo restoring the
// exact model (compared as serialized ONNX), dirty state.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include <QSignalSpy>
#include <QTest>
#include <QUndoStack>

#include "core/onnx/model_io.h"
#include "tests/widgets/widgets_test.h"
#include "widgets/document.h"
#include "widgets/selection_model.h"

namespace wh::widgets::test {
namespace {

std::string serialized(const ir::Model& model) {
    Expected<std::string> bytes = onnx::serializeModel(model);
    return bytes ? *bytes : "error: " + bytes.error().message();
}

ir::NodeId idOf(const Document& doc, const std::string& name) {
    for (const ir::Node* n : doc.graph().nodes())
        if (n->name == name) return n->id();
    return 0;
}

class DocumentTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<Document> m_doc;
    std::string m_original;

    /// Undo everything and check the model is byte-for-byte the original; redo everything and
    /// check it is `edited`; leave it edited.
    void checkUndoRedo(const std::string& edited) {
        QUndoStack* stack = m_doc->undoStack();
        while (stack->canUndo()) stack->undo();
        QVERIFY(!m_doc->isDirty());
        QVERIFY(m_doc->graph().validate().isOk());
        QVERIFY2(serialized(m_doc->model()) == m_original, "undo did not restore the model");
        while (stack->canRedo()) stack->redo();
        QVERIFY(m_doc->isDirty());
        QVERIFY2(serialized(m_doc->model()) == edited, "redo did not reapply the edit");
    }

private slots:
    void init() {
        Expected<ir::Model> model =
            onnx::loadModel(WHITTLE_SOURCE_DIR "/resources/samples/lenet5.onnx");
        QVERIFY2(model, model ? "" : model.error().message().c_str());
        m_doc = std::make_unique<Document>(std::move(*model), QStringLiteral("lenet5.onnx"));
        m_original = serialized(m_doc->model());
        QVERIFY(!m_doc->isDirty());
    }
    void cleanup() { m_doc.reset(); }

    void deleteBypassesASingleInputNode() {
        QSignalSpy changed(m_doc.get(), &Document::changed);
        QSignalSpy dirty(m_doc.get(), &Document::dirtyChanged);
        const ir::NodeId relu = idOf(*m_doc, "relu1");
        const std::size_t nodes = m_doc->graph().numNodes();
        QVERIFY(m_doc->deleteNode(relu).isOk());
        QCOMPARE(m_doc->graph().numNodes(), nodes - 1);
        QVERIFY(!m_doc->node(relu));
        QVERIFY(m_doc->graph().validate().isOk());
        // pool1 now reads conv1's output.
        QCOMPARE(m_doc->node(idOf(*m_doc, "pool1"))->input(0)->name(), std::string("c1"));
        QCOMPARE(changed.count(), 1);
        QCOMPARE(dirty.count(), 1);
        QVERIFY(m_doc->isDirty());
        QCOMPARE(m_doc->undoStack()->count(), 1);
        QVERIFY2(m_doc->undoStack()->undoText().contains(QStringLiteral("relu1")),
                 qPrintable(m_doc->undoStack()->undoText()));
        checkUndoRedo(serialized(m_doc->model()));
    }

    void deletingAConvTakesItsWeights() {
        const ir::NodeId conv = idOf(*m_doc, "conv2");
        const std::size_t inits = m_doc->graph().initializers().size();
        QVERIFY(m_doc->deleteNode(conv).isOk());
        QCOMPARE(m_doc->graph().initializers().size(), inits - 2);
        QVERIFY(!m_doc->graph().findValue("conv2.weight"));
        QVERIFY(m_doc->graph().validate().isOk());
        QCOMPARE(m_doc->undoStack()->count(), 1);  // one step for the node and its weights
        checkUndoRedo(serialized(m_doc->model()));
    }

    void changeEventListsInsertedAndErasedNodes() {
        Document doc(makeSmallModel(), {});
        QSignalSpy changed(&doc, &Document::changed);
        ir::NodeId relu = 0;
        for (const ir::Node* n : doc.graph().nodes())
            if (n->name == "relu1") relu = n->id();
        Expected<ir::NodeId> identity = doc.insertIdentityAfter(relu);
        QVERIFY(identity.has_value());
        QCOMPARE(changed.count(), 1);
        auto change = changed.at(0).at(1).value<DocumentChange>();
        QVERIFY(change.inserted == std::vector<ir::NodeId>{*identity});
        QVERIFY(change.erased.empty());
        // relu1's readers now read the Identity.
        std::vector<ir::NodeId> readers = {idOf(doc, "conv2"), idOf(doc, "add")};
        std::sort(readers.begin(), readers.end());
        QVERIFY(change.changed == readers);
        QVERIFY(change.initializers.empty());
        QVERIFY(change.valuesChanged);  // its output is a new value
        QVERIFY(!change.onlyInitializerData());
        doc.undoStack()->undo();
        change = changed.at(1).at(1).value<DocumentChange>();
        QVERIFY(change.erased == std::vector<ir::NodeId>{*identity});
        QVERIFY(change.inserted.empty());
        QVERIFY(change.changed == readers);
    }

    void deleteThatCannotRewireChangesNothing() {
        Document doc(makeSmallModel(), {});
        const std::string before = serialized(doc.model());
        Status s = doc.deleteNode(idOf(doc, "add"));  // two data inputs, output read by gap
        QVERIFY(!s.isOk());
        QVERIFY2(s.message().find("'add' (Add)") != std::string::npos, s.message().c_str());
        QVERIFY2(s.message().find("2 data inputs") != std::string::npos, s.message().c_str());
        QCOMPARE(doc.undoStack()->count(), 0);
        QVERIFY(!doc.isDirty());
        QVERIFY(serialized(doc.model()) == before);
    }

    void deleteSeveralIsOneStep() {
        std::vector<ir::NodeId> ids = {idOf(*m_doc, "relu1"), idOf(*m_doc, "relu2"),
                                       idOf(*m_doc, "relu3")};
        QVERIFY(m_doc->deleteNodes(ids).isOk());
        QCOMPARE(m_doc->undoStack()->count(), 1);
        for (ir::NodeId id : ids) QVERIFY(!m_doc->node(id));
        checkUndoRedo(serialized(m_doc->model()));
        // All or nothing: one that fails reverts the others.
        Document doc(makeSmallModel(), {});
        const std::string before = serialized(doc.model());
        QVERIFY(!doc.deleteNodes({idOf(doc, "relu1"), idOf(doc, "add")}).isOk());
        QVERIFY(serialized(doc.model()) == before);
        QCOMPARE(doc.undoStack()->count(), 0);
    }

    void renameUndoes() {
        const ir::NodeId id = idOf(*m_doc, "fc1");
        QVERIFY(m_doc->renameNode(id, "classifier.0").isOk());
        QCOMPARE(m_doc->node(id)->name, std::string("classifier.0"));
        QVERIFY(m_doc->renameNode(id, "classifier.0").isOk());  // no change: no step
        QCOMPARE(m_doc->undoStack()->count(), 1);
        checkUndoRedo(serialized(m_doc->model()));
        QCOMPARE(m_doc->node(id)->name, std::string("classifier.0"));
    }

    void renameRefusesADuplicateName() {
        const ir::NodeId id = idOf(*m_doc, "fc1");
        const std::string before = serialized(m_doc->model());
        Status status = m_doc->renameNode(id, "conv1");
        QVERIFY(!status.isOk());
        QVERIFY2(status.message().find("unique") != std::string::npos, status.message().c_str());
        QVERIFY2(status.message().find("'conv1'") != std::string::npos, status.message().c_str());
        QCOMPARE(m_doc->node(id)->name, std::string("fc1"));
        QCOMPARE(m_doc->undoStack()->count(), 0);
        QVERIFY(serialized(m_doc->model()) == before);
        // An empty name stays allowed (ONNX nodes need not be named), even for two nodes.
        QVERIFY(m_doc->renameNode(id, "").isOk());
        QVERIFY(m_doc->renameNode(idOf(*m_doc, "conv1"), "").isOk());
        QCOMPARE(m_doc->undoStack()->count(), 2);
    }

    void insertIdentityUndoes() {
        const ir::NodeId conv = idOf(*m_doc, "conv1");
        Expected<ir::NodeId> created = m_doc->insertIdentityAfter(conv);
        QVERIFY2(created, created ? "" : created.error().message().c_str());
        const ir::Node* identity = m_doc->node(*created);
        QVERIFY(identity);
        QCOMPARE(identity->opType, std::string("Identity"));
        QCOMPARE(identity->input(0)->name(), std::string("c1"));
        QCOMPARE(m_doc->node(idOf(*m_doc, "relu1"))->input(0), identity->output(0));
        QVERIFY(m_doc->graph().validate().isOk());
        checkUndoRedo(serialized(m_doc->model()));
    }

    void attributeEditUndoes() {
        const ir::NodeId pool = idOf(*m_doc, "pool1");
        const ir::Attribute* strides = m_doc->node(pool)->attribute("strides");
        QVERIFY(strides);
        Expected<ir::Attribute> parsed = parseAttributeValue(*strides, QStringLiteral("[1, 1]"));
        QVERIFY(parsed);
        QVERIFY(m_doc->setAttribute(pool, std::move(*parsed)).isOk());
        QCOMPARE(m_doc->node(pool)->attrInts("strides"), (std::vector<int64_t>{1, 1}));
        const ir::Attribute* axis = m_doc->node(idOf(*m_doc, "flatten"))->attribute("axis");
        Expected<ir::Attribute> one = parseAttributeValue(*axis, QStringLiteral(" 2 "));
        QVERIFY(one);
        QVERIFY(m_doc->setAttribute(idOf(*m_doc, "flatten"), std::move(*one)).isOk());
        QCOMPARE(m_doc->node(idOf(*m_doc, "flatten"))->attrInt("axis", 0), int64_t{2});
        QCOMPARE(m_doc->undoStack()->count(), 2);
        checkUndoRedo(serialized(m_doc->model()));
    }

    void parseAttributeValueChecksTheType() {
        ir::Attribute i = ir::Attribute::makeInt("axis", 1);
        QVERIFY(!parseAttributeValue(i, QStringLiteral("one")));
        QVERIFY(!parseAttributeValue(i, QStringLiteral("1.5")));
        ir::Attribute f = ir::Attribute::makeFloat("alpha", 0.1f);
        QCOMPARE(parseAttributeValue(f, QStringLiteral("0.25"))->f, 0.25f);
        ir::Attribute ints = ir::Attribute::makeInts("pads", {0, 0});
        QCOMPARE(parseAttributeValue(ints, QStringLiteral("1,2 3"))->ints,
                 (std::vector<int64_t>{1, 2, 3}));
        QCOMPARE(parseAttributeValue(ints, QStringLiteral("[]"))->ints, std::vector<int64_t>{});
        Expected<ir::Attribute> bad = parseAttributeValue(ints, QStringLiteral("[1, x]"));
        QVERIFY(!bad);
        QVERIFY2(bad.error().message().find("'pads'") != std::string::npos,
                 bad.error().message().c_str());
        ir::Attribute t = ir::Attribute::makeTensor("value", ir::Tensor::fromFloats("v", {1}, {1}));
        QVERIFY(!parseAttributeValue(t, QStringLiteral("1")));
    }

    void undoBringsADeletedSelectedNodeBackButNotIntoTheSelection() {
        const ir::NodeId relu = idOf(*m_doc, "relu2");
        m_doc->selection()->selectOnly(relu);
        QVERIFY(m_doc->deleteNode(relu).isOk());
        QVERIFY(m_doc->selection()->isEmpty());  // erased nodes leave the selection
        m_doc->undoStack()->undo();
        QVERIFY(m_doc->node(relu));
    }

    void snapshotsAreCachedPerRevision() {
        auto a = m_doc->snapshot();
        QCOMPARE(m_doc->snapshot().get(), a.get());
        QVERIFY(serialized(*a) == m_original);
        QVERIFY(m_doc->renameNode(idOf(*m_doc, "conv1"), "stem").isOk());
        auto b = m_doc->snapshot();
        QVERIFY(b.get() != a.get());
        QVERIFY(serialized(*a) == m_original);  // the old snapshot did not change
        m_doc->undoStack()->undo();
        QVERIFY(m_doc->snapshot().get() != b.get());
    }

    void snapshotTasksCopyOffTheGuiThreadAndGiveWayToEdits() {
        // A task run on another thread copies the revision it was made for.
        Document::SnapshotTask task = m_doc->snapshotTask();
        std::shared_ptr<const ir::Model> copy;
        std::thread worker([&] { copy = task(); });
        worker.join();
        QVERIFY(copy);
        QVERIFY(serialized(*copy) == m_original);
        QVERIFY(copy.get() != &m_doc->model());
        m_doc->setSnapshot(copy, m_doc->revision());
        QCOMPARE(m_doc->snapshot().get(), copy.get());  // handed back: cached, no second copy
        QCOMPARE(m_doc->snapshotTask()().get(), copy.get());

        // Tasks of one revision (an edit starts layout, inference and validation at once) share
        // one copy: whichever runs first makes it, the others take it.
        QVERIFY(m_doc->renameNode(idOf(*m_doc, "conv1"), "stem").isOk());
        {
            Document::SnapshotTask t1 = m_doc->snapshotTask(), t2 = m_doc->snapshotTask();
            std::shared_ptr<const ir::Model> c1, c2;
            std::thread a([&] { c1 = t1(); }), b([&] { c2 = t2(); });
            a.join();
            b.join();
            QVERIFY(c1 && c1 == c2);
            QVERIFY(c1.get() != copy.get());
            QVERIFY(c1->graph->findNode(idOf(*m_doc, "stem")));
            QCOMPARE(c1->graph->findNode(idOf(*m_doc, "stem"))->name, std::string("stem"));
        }

        // A task that starts after an edit does not copy: its revision is gone.
        Document::SnapshotTask stale = m_doc->snapshotTask();
        QVERIFY(m_doc->renameNode(idOf(*m_doc, "stem"), "stem2").isOk());
        QVERIFY(!stale());
        m_doc->setSnapshot(copy, m_doc->revision() - 1);  // a stale hand-back is ignored
        QVERIFY(m_doc->snapshot().get() != copy.get());

        // Edits while copies run: each edit waits for the copy under way, so every copy is a
        // whole revision (it serializes and validates), never a model half edited.
        std::atomic<bool> stop{false};
        std::vector<std::shared_ptr<const ir::Model>> copies;
        std::vector<Document::SnapshotTask> tasks;
        std::mutex tasksMutex;
        std::thread copier([&] {
            while (!stop) {
                Document::SnapshotTask t;
                {
                    std::lock_guard lock(tasksMutex);
                    if (!tasks.empty()) {
                        t = std::move(tasks.back());
                        tasks.pop_back();
                    }
                }
                if (t)
                    if (auto c = t()) copies.push_back(std::move(c));
            }
        });
        bool edited = true;
        for (int i = 0; i < 200; ++i) {
            {
                std::lock_guard lock(tasksMutex);
                tasks.push_back(m_doc->snapshotTask());
            }
            for (bool taken = false; !taken;) {  // edit once the copier has the task
                std::lock_guard lock(tasksMutex);
                taken = tasks.empty();
            }
            if (i % 2 == 0)
                edited = edited && m_doc->insertIdentityAfter(idOf(*m_doc, "stem2")).has_value();
            else
                m_doc->undoStack()->undo();
        }
        stop = true;
        copier.join();
        QVERIFY(edited);
        const std::size_t before = m_doc->graph().numNodes();
        for (const auto& c : copies) {
            QVERIFY(c->graph->validate().isOk());
            const std::size_t n = c->graph->numNodes();
            QVERIFY(n == before || n == before + 1);  // a whole revision, with or without it
        }
        std::printf("PERF %zu of 200 snapshot tasks copied while edits ran\n", copies.size());
        QVERIFY(!copies.empty());  // else the race above never happened
    }

    void savedStateIsClean() {
        QVERIFY(!m_doc->canSaveInPlace());  // the opened file is never a silent Save target
        QVERIFY(m_doc->renameNode(idOf(*m_doc, "conv1"), "stem").isOk());
        QVERIFY(m_doc->isDirty());
        m_doc->markSaved(QStringLiteral("/tmp/x.onnx"), m_doc->undoStack()->index());
        QVERIFY(!m_doc->isDirty());
        QVERIFY(m_doc->canSaveInPlace());
        QCOMPARE(m_doc->filePath(), QStringLiteral("/tmp/x.onnx"));
        m_doc->undoStack()->undo();
        QVERIFY(m_doc->isDirty());  // now it differs from what was saved
        // A save of an older state (edits made while it ran) does not mark it clean.
        QVERIFY(m_doc->renameNode(idOf(*m_doc, "conv1"), "a").isOk());
        m_doc->markSaved(QStringLiteral("/tmp/x.onnx"), m_doc->undoStack()->index() - 1);
        QVERIFY(m_doc->isDirty());
    }
};

}  // namespace

std::unique_ptr<QObject> makeDocumentTest() {
    return std::make_unique<DocumentTest>();
}

}  // namespace wh::widgets::test

#include "document_test.moc"
