// Document::applyStep: a training job works on a snapshot, writes its trained weights back
// through a Rewriter over a clone of it and returns the recorded Step; the Document applies it
// as one undo command (undo gives the original bytes back, redo the trained ones), says in its
// change event which initializers changed, and refuses a step once the document moved on.

#include <algorithm>
#include <cstring>
#include <thread>

#include <QSignalSpy>
#include <QTest>
#include <QUndoStack>

#include "core/engine/training_plan.h"
#include "core/engine/write_back.h"
#include "core/onnx/model_io.h"
#include "core/rewrite/rewriter.h"
#include "core/train/optimizer.h"
#include "tests/core/train/model_builder.h"
#include "tests/widgets/widgets_test.h"
#include "widgets/document.h"

namespace wh::widgets::test {
namespace {

std::string serialized(const ir::Model& model) {
    Expected<std::string> bytes = onnx::serializeModel(model);
    return bytes ? *bytes : "error: " + bytes.error().message();
}

// x[N,1,4,4] → Conv(3x3, pad 1) → BN → Relu → Flatten → Gemm(transB) → logits [N,3].
ir::Model trainableModel() {
    wh::testing::ModelBuilder b(13, 11);
    b.input("x", {1, 4, 4});
    b.weight("W1", {2, 1, 3, 3}, 9);
    b.weight("bn_scale", {2}, 0, 1.0f);
    b.weight("bn_bias", {2}, 0, 0.1f);
    b.weight("bn_mean", {2}, 0, 0.0f);
    b.weight("bn_var", {2}, 0, 1.0f);
    b.weight("W2", {3, 32}, 32);
    b.weight("B2", {3}, 32);
    b.node("Conv", {"x", "W1"}, {"c"})
        ->attributes()
        .push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    b.node("BatchNormalization", {"c", "bn_scale", "bn_bias", "bn_mean", "bn_var"}, {"bn"});
    b.node("Relu", {"bn"}, {"r"});
    b.node("Flatten", {"r"}, {"f"});
    b.node("Gemm", {"f", "W2", "B2"}, {"logits"})
        ->attributes()
        .push_back(ir::Attribute::makeInt("transB", 1));
    b.output("logits", {3});
    return b.take();
}

// What a training job hands back: the Step its write-back recorded on a clone of the snapshot
// (the Rewriter owns the Step, so the job's result keeps both), and the trained tensors.
struct TrainingResult {
    ir::Model work;
    std::unique_ptr<rewrite::Rewriter> rewriter;
    std::vector<std::pair<std::string, std::string>> trained;  // name, bytes
    Status status;
    const rewrite::Step& step() const { return rewriter->log().steps().back(); }
};

// The job: compile on the snapshot, a few SGD steps, write back into a clone. Runs on a thread
// of its own, as a JobRunner job would; only the snapshot is shared with the GUI thread.
std::unique_ptr<TrainingResult> runTrainingJob(std::shared_ptr<const ir::Model> snapshot) {
    auto result = std::make_unique<TrainingResult>();
    std::thread job([&] {
        Expected<engine::TrainingPlan> plan = engine::TrainingPlan::compile(*snapshot);
        if (!plan) {
            result->status = plan.error();
            return;
        }
        engine::HostTensor x(ir::DType::kFloat, {4, 1, 4, 4});
        Rng rng(5);
        for (float& v : x.span<float>()) v = static_cast<float>(rng.normal());
        const engine::HostTensor labels = engine::HostTensor::fromInt64s({4}, {0, 2, 1, 2});
        train::Sgd sgd({0.9, 0, false, 0});
        for (int i = 0; i < 3; ++i) {
            Expected<double> loss = plan->forwardBackward(x, labels);
            if (!loss) {
                result->status = loss.error();
                return;
            }
            if (Status s = sgd.step(plan->parameters(), 0.1); !s.isOk()) {
                result->status = s;
                return;
            }
        }
        for (const engine::Parameter& p : plan->parameters())
            result->trained.emplace_back(
                p.name, std::string(static_cast<const char*>(p.value.raw()), p.value.byteSize()));
        for (const auto& [name, value] : plan->state())
            result->trained.emplace_back(
                name, std::string(static_cast<const char*>(value.raw()), value.byteSize()));
        result->work = snapshot->clone();
        result->rewriter = std::make_unique<rewrite::Rewriter>(*result->work.graph);
        result->status = engine::writeBack(*plan, *result->rewriter);
    });
    job.join();
    return result;
}

std::string bytesOf(const Document& doc, const std::string& name) {
    const ir::Value* v = doc.graph().findValue(name);
    return v && v->initializer() ? v->initializer()->data->bytes() : std::string();
}

ir::NodeId idOf(const Document& doc, const std::string& opType) {
    for (const ir::Node* n : doc.graph().nodes())
        if (n->opType == opType) return n->id();
    return 0;
}

class DocumentStepTest : public QObject {
    Q_OBJECT

private slots:
    void trainingStepAppliedUndoneAndRedone() {
        Document doc(trainableModel(), {});
        const std::string original = serialized(doc.model());
        const quint64 base = doc.revision();
        std::unique_ptr<TrainingResult> job = runTrainingJob(doc.snapshot());
        QVERIFY2(job->status.isOk(), job->status.message().c_str());
        QCOMPARE(job->rewriter->log().size(), std::size_t{1});

        // The initializers training changed (all but untouched ones), sorted by name.
        std::vector<std::string> changedNames;
        for (const auto& [name, bytes] : job->trained)
            if (bytes != bytesOf(doc, name)) changedNames.push_back(name);
        std::sort(changedNames.begin(), changedNames.end());
        QVERIFY(changedNames.size() >= 5);

        QSignalSpy changed(&doc, &Document::changed);
        Status s = doc.applyStep(job->step(), base);
        QVERIFY2(s.isOk(), s.message().c_str());
        for (const auto& [name, bytes] : job->trained)
            QVERIFY2(bytesOf(doc, name) == bytes, name.c_str());
        QCOMPARE(doc.undoStack()->count(), 1);
        QCOMPARE(doc.undoStack()->undoText(), QString::fromUtf8(engine::kWriteBackLabel));
        QVERIFY(doc.isDirty());
        QVERIFY(doc.revision() != base);
        const std::string trained = serialized(doc.model());
        QVERIFY(trained != original);

        // The change event: those initializers, no node inserted, erased or changed.
        auto checkEvent = [&](int index) {
            QCOMPARE(changed.count(), index + 1);
            const auto change = changed.at(index).at(1).value<DocumentChange>();
            QVERIFY(change.inserted.empty());
            QVERIFY(change.erased.empty());
            QVERIFY(change.changed.empty());
            QVERIFY(change.initializers == changedNames);
            QVERIFY(change.onlyInitializerData());
        };
        checkEvent(0);

        doc.undoStack()->undo();
        QVERIFY2(serialized(doc.model()) == original, "undo did not restore the original bytes");
        QVERIFY(!doc.isDirty());
        checkEvent(1);
        doc.undoStack()->redo();
        QVERIFY2(serialized(doc.model()) == trained, "redo did not reapply the trained weights");
        checkEvent(2);
    }

    void stepRefusedOnceTheDocumentMovedOn() {
        Document doc(trainableModel(), {});
        const quint64 base = doc.revision();
        std::unique_ptr<TrainingResult> job = runTrainingJob(doc.snapshot());
        QVERIFY2(job->status.isOk(), job->status.message().c_str());

        // An unrelated edit while the job ran: the revision moved on.
        QVERIFY(doc.renameNode(idOf(doc, "Relu"), "activation").isOk());
        const std::string renamed = serialized(doc.model());
        QSignalSpy changed(&doc, &Document::changed);
        Status s = doc.applyStep(job->step(), base);
        QVERIFY(!s.isOk());
        QCOMPARE(s.code(), StatusCode::kCancelled);
        QVERIFY2(s.message().find("Write back trained weights") != std::string::npos &&
                     s.message().find("changed since the job started") != std::string::npos,
                 s.message().c_str());
        QVERIFY(serialized(doc.model()) == renamed);
        QCOMPARE(doc.undoStack()->count(), 1);
        QCOMPARE(changed.count(), 0);

        // Even at the current revision, a step that no longer fits is refused by the replay:
        // the document's W1 was replaced meanwhile.
        QVERIFY(doc.edit("Zero W1",
                         [](rewrite::Rewriter& r) {
                             ir::Value* w = r.graph().findValue("W1");
                             ir::Tensor t = *w->initializer();
                             t.data = std::make_shared<const ir::Buffer>(t.byteSize());
                             return r.replaceInitializer(*w, std::move(t));
                         })
                    .isOk());
        const std::string zeroed = serialized(doc.model());
        s = doc.applyStep(job->step(), doc.revision());
        QVERIFY(!s.isOk());
        QCOMPARE(s.code(), StatusCode::kBadInput);
        QVERIFY2(s.message().find("'W1'") != std::string::npos, s.message().c_str());
        QVERIFY(serialized(doc.model()) == zeroed);
        QCOMPARE(doc.undoStack()->count(), 2);
        QCOMPARE(changed.count(), 1);  // the W1 edit only

        // Undoing both edits brings back the snapshot's state: the step fits again.
        doc.undoStack()->undo();
        doc.undoStack()->undo();
        QVERIFY(doc.applyStep(job->step(), doc.revision()).isOk());
        QCOMPARE(doc.undoStack()->count(), 1);
        QCOMPARE(doc.undoStack()->undoText(), QString::fromUtf8(engine::kWriteBackLabel));
    }
};

}  // namespace

std::unique_ptr<QObject> makeDocumentStepTest() {
    return std::make_unique<DocumentStepTest>();
}

}  // namespace wh::widgets::test

#include "document_step_test.moc"
