// Studio II, the Algorithm dock: forms generated from ParamSpecs (a widget per type, ranges
// validated, defaults and reset), the scope following the selection with the skipped nodes and
// why, recipes saved and loaded, the headless command, and real runs of the registered plugins
// on the bundled LeNet-5 with Fashion-MNIST: post-training quantization exported and verified,
// SimQAT training with its loss plotted live, a refused overwrite of the input, Cancel.

#include <cmath>
#include <cstdio>
#include <filesystem>

#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include <QFileInfo>
#include <QLineEdit>
#include <QLineSeries>
#include <QChart>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QElapsedTimer>
#include <QTest>
#include <QUndoStack>
#include <QTimer>

#include "core/onnx/model_io.h"
#include "tests/widgets/widgets_test.h"
#include "widgets/algorithm_dock.h"
#include "widgets/document.h"
#include "widgets/job_runner.h"
#include "widgets/param_form.h"
#include "widgets/selection_model.h"

namespace wh::widgets::test {
namespace {

namespace fs = std::filesystem;

constexpr int kTimeoutMs = 240'000;
const QString kLenet = QStringLiteral(WHITTLE_SOURCE_DIR "/resources/samples/lenet5.onnx");
const fs::path kFashion = "/usr/share/datasets/fashion-mnist";

class AlgorithmDockTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<JobRunner> m_runner;
    std::unique_ptr<Document> m_doc;
    std::unique_ptr<AlgorithmDock> m_dock;
    QTemporaryDir m_dir;

    void open() {
        auto model = onnx::loadModel(kLenet.toStdString());
        QVERIFY2(model, model ? "" : model.error().message().c_str());
        m_runner = std::make_unique<JobRunner>();
        m_doc = std::make_unique<Document>(std::move(*model), kLenet);
        m_dock = std::make_unique<AlgorithmDock>(m_runner.get(), &testPlugins());
        m_dock->resize(420, 900);
        m_dock->setDocument(m_doc.get());
    }
    ir::NodeId id(const std::string& name) const { return idIn(m_doc->graph(), name); }
    std::vector<std::string> convNames() const {
        std::vector<std::string> names;
        for (const ir::Node* n : m_doc->graph().nodes())
            if (n->opType == "Conv") names.push_back(n->name);
        return names;
    }
    bool runAndWait(QString* message = nullptr) {
        QSignalSpy done(m_dock.get(), &AlgorithmDock::runFinished);
        m_dock->run();
        if (done.isEmpty() && !done.wait(kTimeoutMs)) return false;
        if (message) *message = done.first().at(1).toString();
        return done.first().first().toBool();
    }

private slots:
    void init() { open(); }
    void cleanup() {
        if (m_runner) m_runner->shutdown();
        m_dock.reset();
        m_doc.reset();
        m_runner.reset();
    }

    void listsEveryRegisteredAlgorithmWithAFormFromItsSpecs() {
        QVERIFY(testPlugins().find("ptq"));
        auto* combo = m_dock->findChild<QComboBox*>(QStringLiteral("AlgorithmCombo"));
        QCOMPARE(combo->count(), static_cast<int>(testPlugins().names().size()));
        QCOMPARE(m_dock->algorithmName(), QStringLiteral("ptq"));  // the default choice
        const algo::AlgorithmInfo* ptq = testPlugins().find("ptq");
        ParamForm* form = m_dock->form();
        QCOMPARE(form->specs().size(), ptq->params.size());
        for (const algo::ParamSpec& spec : ptq->params) {
            QWidget* editor = form->editor(QString::fromStdString(spec.name));
            QVERIFY2(editor, spec.name.c_str());
            QVERIFY(editor->toolTip().contains(QString::fromStdString(spec.name)));
            switch (spec.type) {
            case algo::ParamType::kBool: QVERIFY(qobject_cast<QCheckBox*>(editor)); break;
            case algo::ParamType::kInt: {
                auto* spin = qobject_cast<QSpinBox*>(editor);
                QVERIFY(spin);
                if (std::isfinite(spec.max)) QCOMPARE(spin->maximum(), static_cast<int>(spec.max));
                break;
            }
            case algo::ParamType::kEnum:
                QCOMPARE(qobject_cast<QComboBox*>(editor)->count(),
                         static_cast<int>(spec.choices.size()));
                break;
            default: QVERIFY(qobject_cast<QLineEdit*>(editor)); break;
            }
        }
        // Defaults: nothing set explicitly. A change is set; an invalid float is refused by name.
        Expected<algo::Params> p = form->params();
        QVERIFY(p);
        QVERIFY(p->explicitlySet().empty());
        qobject_cast<QComboBox*>(form->editor(QStringLiteral("calibration")))
            ->setCurrentText(QStringLiteral("percentile"));
        auto* percentile = qobject_cast<QLineEdit*>(form->editor(QStringLiteral("percentile")));
        percentile->setText(QStringLiteral("99.5"));
        p = form->params();
        QVERIFY(p);
        QCOMPARE(p->getString("calibration"), std::string("percentile"));
        QCOMPARE(p->getFloat("percentile"), 99.5);
        percentile->setText(QStringLiteral("abc"));
        p = form->params();
        QVERIFY(!p);
        QVERIFY(p.error().message().find("percentile") != std::string::npos);
        auto* run = m_dock->findChild<QPushButton*>(QStringLiteral("AlgorithmRun"));
        QVERIFY(!run->isEnabled());  // an invalid form does not run
        percentile->setText(QStringLiteral("1000"));  // out of its range
        QVERIFY(!form->params());
        form->resetToDefaults();
        p = form->params();
        QVERIFY(p);
        QVERIFY(p->explicitlySet().empty());
        QVERIFY(run->isEnabled());
        // Another algorithm, another form.
        QVERIFY(m_dock->selectAlgorithm(QStringLiteral("simqat")));
        QCOMPARE(form->specs().size(), testPlugins().find("simqat")->params.size());
        QVERIFY(!m_dock->selectAlgorithm(QStringLiteral("no_such_algorithm")));
    }

    void formForEveryParamSpecType() {
        // One spec of each type: its widget, default, tooltip, validation, round trip, reset.
        ParamForm form;
        form.setSpecs({
            algo::ParamSpec::boolean("per_channel", true, "one scale per output channel"),
            algo::ParamSpec::integer("bits", 8, 2, 16, "weight bit width"),
            algo::ParamSpec::real("ratio", 0.5, 0.0, 1.0, "share of channels to keep"),
            algo::ParamSpec::choice("method", "minmax", {"minmax", "mse", "entropy"},
                                    "calibration method"),
            algo::ParamSpec::text("note", "hello", "free text").inGroup("misc"),
            algo::ParamSpec::list("ops", {"Conv", "Gemm"}, {"Conv", "Gemm", "MatMul"},
                                  "op types to compress")
                .inGroup("misc"),
        });
        auto* check = qobject_cast<QCheckBox*>(form.editor(QStringLiteral("per_channel")));
        auto* spin = qobject_cast<QSpinBox*>(form.editor(QStringLiteral("bits")));
        auto* ratio = qobject_cast<QLineEdit*>(form.editor(QStringLiteral("ratio")));
        auto* combo = qobject_cast<QComboBox*>(form.editor(QStringLiteral("method")));
        auto* note = qobject_cast<QLineEdit*>(form.editor(QStringLiteral("note")));
        auto* ops = qobject_cast<QLineEdit*>(form.editor(QStringLiteral("ops")));
        QVERIFY(check && spin && ratio && combo && note && ops);
        // Defaults shown, ranges on the spin box, choices in the combo, help in every tooltip.
        QVERIFY(check->isChecked());
        QCOMPARE(spin->value(), 8);
        QCOMPARE(spin->minimum(), 2);
        QCOMPARE(spin->maximum(), 16);
        QCOMPARE(ratio->text(), QStringLiteral("0.5"));
        QCOMPARE(combo->count(), 3);
        QCOMPARE(combo->currentText(), QStringLiteral("minmax"));
        QCOMPARE(note->text(), QStringLiteral("hello"));
        QCOMPARE(ops->text(), QStringLiteral("Conv, Gemm"));
        QVERIFY(spin->toolTip().contains(QStringLiteral("weight bit width")));
        QVERIFY(ops->toolTip().contains(QStringLiteral("op types to compress")));
        // Edits come back typed.
        check->setChecked(false);
        spin->setValue(4);
        ratio->setText(QStringLiteral("0.25"));
        combo->setCurrentText(QStringLiteral("mse"));
        note->setText(QStringLiteral("run 2"));
        ops->setText(QStringLiteral("MatMul"));
        Expected<algo::Params> p = form.params();
        QVERIFY2(p, p ? "" : p.error().message().c_str());
        QCOMPARE(p->getBool("per_channel"), false);
        QCOMPARE(p->getInt("bits"), int64_t{4});
        QCOMPARE(p->getFloat("ratio"), 0.25);
        QCOMPARE(p->getString("method"), std::string("mse"));
        QCOMPARE(p->getString("note"), std::string("run 2"));
        QCOMPARE(p->getList("ops"), std::vector<std::string>{"MatMul"});
        // Out of range, not a number, not a choice: refused by name.
        ratio->setText(QStringLiteral("1.5"));
        p = form.params();
        QVERIFY(!p && p.error().message().find("ratio") != std::string::npos);
        ratio->setText(QStringLiteral("0.25"));
        ops->setText(QStringLiteral("Conv, Softmax"));
        p = form.params();
        QVERIFY(!p && p.error().message().find("ops") != std::string::npos);
        QVERIFY(!form.isValid());
        // A recipe's values shown; then reset to the defaults.
        algo::Params loaded(form.specs());
        QVERIFY(loaded.set("bits", int64_t{6}).isOk());
        form.setParams(loaded);
        QCOMPARE(spin->value(), 6);
        form.resetToDefaults();
        QVERIFY(form.isValid());
        QVERIFY(check->isChecked());
        QCOMPARE(spin->value(), 8);
        QCOMPARE(ops->text(), QStringLiteral("Conv, Gemm"));
    }

    void scopeFollowsTheSelection() {
        const std::vector<std::string> convs = convNames();
        QVERIFY(convs.size() >= 2);
        QVERIFY2(m_dock->scopeText().startsWith(QStringLiteral("Changes ")),
                 qPrintable(m_dock->scopeText()));
        const int whole = m_dock->scopeText().section(QLatin1Char(' '), 1, 1).toInt();
        QVERIFY(whole >= static_cast<int>(convs.size()));
        m_dock->setSelectionScope(true);
        QVERIFY(m_dock->scopeText().contains(QStringLiteral("Nothing is selected")));
        QVERIFY(!m_dock->recipe());
        m_doc->selection()->setSelection({id(convs[0])});
        QVERIFY2(m_dock->scopeText().startsWith(QStringLiteral("Changes 1 node")),
                 qPrintable(m_dock->scopeText()));
        QVERIFY(m_dock->scopeDetails().contains(QString::fromStdString(convs[1])));
        QVERIFY(m_dock->scopeDetails().contains(QStringLiteral("not selected")));
        Expected<algo::Recipe> r = m_dock->recipe();
        QVERIFY(r);
        QCOMPARE(r->select.nodes, std::vector<std::string>{convs[0]});
        m_dock->setSelectionScope(false);
        r = m_dock->recipe();
        QVERIFY(r && r->select.nodes.empty());
    }

    void recipesRoundTripAndGiveTheHeadlessCommand() {
        QVERIFY(m_dock->selectAlgorithm(QStringLiteral("simqat")));
        m_dock->setTraining(2, 7, 32, 0.005);
        const std::vector<std::string> convs = convNames();
        m_doc->selection()->setSelection({id(convs[1])});
        m_dock->setSelectionScope(true);
        auto* shapes = m_dock->findChild<QLineEdit*>(QStringLiteral("AlgorithmShapes"));
        QVERIFY(shapes);
        shapes->setText(QStringLiteral("input=1,1,28,29"));
        QCOMPARE(m_dock->recipe()->inputShapes.at("input"), (engine::Dims{1, 1, 28, 29}));
        shapes->setText(QStringLiteral("input=1,x"));
        QVERIFY(!m_dock->recipe());
        QVERIFY(QString::fromStdString(m_dock->recipe().error().message())
                    .contains(QStringLiteral("input shapes")));
        shapes->setText(QStringLiteral("input=2,1,28,28"));
        const QString path = m_dir.filePath(QStringLiteral("r.recipe.json"));
        QString why;
        QVERIFY2(m_dock->saveRecipeTo(path, &why), qPrintable(why));
        const std::string saved = *m_dock->recipeJson();

        // A fresh dock on a fresh selection reads it back to the same recipe.
        cleanup();
        open();
        QCOMPARE(m_dock->algorithmName(), QStringLiteral("ptq"));
        QVERIFY2(m_dock->loadRecipeFrom(path, &why), qPrintable(why));
        QCOMPARE(m_dock->algorithmName(), QStringLiteral("simqat"));
        QCOMPARE(*m_dock->recipeJson(), saved);
        Expected<algo::Recipe> r = m_dock->recipe();
        QCOMPARE(r->train->steps, int64_t{7});
        QCOMPARE(r->train->batch, int64_t{32});
        QCOMPARE(r->train->lr, 0.005);
        QCOMPARE(m_doc->selection()->sortedIds(), std::vector<ir::NodeId>{id(convs[1])});
        QCOMPARE(m_dock->findChild<QLineEdit*>(QStringLiteral("AlgorithmShapes"))->text(),
                 QStringLiteral("input=2,1,28,28"));

        // The command writes that recipe and runs whittle-cli compress on the opened file.
        m_dock->setOutputPath(m_dir.filePath(QStringLiteral("out.onnx")));
        Expected<QString> command = m_dock->cliCommand();
        QVERIFY(command);
        QVERIFY(command->contains(QStringLiteral("whittle-cli compress '%1'").arg(kLenet)));
        QVERIFY(command->contains(QStringLiteral("--recipe '%1'")
                                      .arg(m_dir.filePath(QStringLiteral("out.recipe.json")))));
        QVERIFY(command->contains(QString::fromStdString(saved).trimmed()));
        QVERIFY(command->contains(QStringLiteral("--dataset 'fashion-mnist'")));

        // A broken recipe is refused with the reason, and the form stays as it was.
        const QString bad = m_dir.filePath(QStringLiteral("bad.json"));
        {
            QFile f(bad);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(R"({"algorithm": "ptq", "params": {"weight_bits": 99}})");
        }
        QVERIFY(!m_dock->loadRecipeFrom(bad, &why));
        QVERIFY2(why.contains(QStringLiteral("weight_bits")), qPrintable(why));
        QCOMPARE(m_dock->algorithmName(), QStringLiteral("simqat"));
    }

    void quantizesExportsAndVerifies() {
        if (!fs::exists(kFashion)) QSKIP("Fashion-MNIST absent");
        const QString out = m_dir.filePath(QStringLiteral("lenet-ptq.onnx"));
        m_dock->setOutputPath(out);
        m_dock->setEvaluate(true, 200);
        qobject_cast<QSpinBox*>(m_dock->form()->editor(QStringLiteral("samples")))->setValue(64);
        QString message;
        QVERIFY2(runAndWait(&message), qPrintable(message));
        const auto result = m_dock->lastResult();
        QVERIFY(result);
        QVERIFY2(result->verify.verified, result->verify.message.c_str());
        QVERIFY(result->apply.changed() > 0);
        QVERIFY(result->bytesAfter < result->bytesBefore);
        QVERIFY(QFileInfo::exists(out));
        QVERIFY(onnx::loadModel(out.toStdString()));
        QVERIFY2(m_dock->resultText().contains(QStringLiteral("verified")),
                 qPrintable(m_dock->resultText()));
        QVERIFY(m_dock->resultText().contains(QStringLiteral("accuracy")));
        QCOMPARE(m_dock->lossPoints(), 0);  // post-training: no training curve
        // The document is as it was: the result is a new file.
        QVERIFY(!m_doc->isDirty());
        QSignalSpy open(m_dock.get(), &AlgorithmDock::openRequested);
        auto* openButton = m_dock->findChild<QPushButton*>();
        for (QPushButton* b : m_dock->findChildren<QPushButton*>())
            if (b->text() == QStringLiteral("Open Result")) openButton = b;
        openButton->click();
        QCOMPARE(open.size(), 1);
        QCOMPARE(open.first().first().toString(), out);

        // Apply to Model: the compressed graph becomes the document's next revision, one undo
        // step; Undo brings the float graph back exactly as it was, Redo the compressed one.
        auto ops = [](const ir::Graph& g) {
            std::vector<std::string> v;
            for (const ir::Node* n : g.nodes()) v.push_back(n->opType + " " + n->name);
            return v;
        };
        const std::vector<std::string> floatOps = ops(m_doc->graph());
        const std::vector<std::string> compressedOps = ops(*result->model.graph);
        QVERIFY(floatOps != compressedOps);
        auto* apply = m_dock->findChild<QPushButton*>(QStringLiteral("AlgorithmApply"));
        QVERIFY(apply && !apply->isHidden() && apply->isEnabled());
        apply->click();
        QCOMPARE(ops(m_doc->graph()), compressedOps);
        QVERIFY(m_doc->isDirty());
        QCOMPARE(m_doc->undoStack()->count(), 1);
        QVERIFY(m_doc->undoStack()->undoText().startsWith(QStringLiteral("Apply ptq")));
        QVERIFY(!apply->isEnabled());  // once
        QString why;
        QVERIFY(!m_dock->applyResult(&why));
        m_doc->undoStack()->undo();
        QCOMPARE(ops(m_doc->graph()), floatOps);
        QVERIFY(!m_doc->isDirty());
        m_doc->undoStack()->redo();
        QCOMPARE(ops(m_doc->graph()), compressedOps);
        // The applied revision runs like the exported file.
        auto saved = onnx::loadModel(out.toStdString());
        QVERIFY(saved);
        QCOMPARE(ops(*saved->graph), compressedOps);
    }

    void applyIsRefusedAfterTheModelChanged() {
        if (!fs::exists(kFashion)) QSKIP("Fashion-MNIST absent");
        m_dock->setOutputPath(m_dir.filePath(QStringLiteral("lenet-ptq2.onnx")));
        qobject_cast<QSpinBox*>(m_dock->form()->editor(QStringLiteral("samples")))->setValue(32);
        QString message;
        QVERIFY2(runAndWait(&message), qPrintable(message));
        QVERIFY(m_doc->renameNode(id(convNames()[0]), "first_conv").isOk());
        QString why;
        QVERIFY(!m_dock->applyResult(&why));
        QVERIFY2(why.contains(QStringLiteral("changed since the run")), qPrintable(why));
        QCOMPARE(m_doc->undoStack()->count(), 1);  // only the rename
    }

    void trainsWithALiveLossCurve() {
        if (!fs::exists(kFashion)) QSKIP("Fashion-MNIST absent");
        QVERIFY(m_dock->selectAlgorithm(QStringLiteral("simqat")));
        m_dock->setTraining(1, 60, 32, 0.001);
        m_dock->setEvaluate(false);
        m_dock->setOutputPath(m_dir.filePath(QStringLiteral("lenet-simqat.onnx")));
        // The GUI thread keeps ticking while the job trains: the largest gap between the ticks
        // of a 10 ms timer stays far below what blocking work there would cause (the figure is
        // printed; the bound is loose for a loaded 2-core CI machine).
        QElapsedTimer clock;
        clock.start();
        qint64 last = -1, maxGap = 0;
        QTimer probe;
        probe.setInterval(10);
        probe.setTimerType(Qt::PreciseTimer);
        connect(&probe, &QTimer::timeout, this, [&] {
            const qint64 now = clock.nsecsElapsed();
            if (last >= 0) maxGap = std::max(maxGap, now - last);
            last = now;
        });
        probe.start();
        QString message;
        QVERIFY2(runAndWait(&message), qPrintable(message));
        probe.stop();
        std::printf("PERF simqat 60 steps from the dock: max GUI gap %.1f ms\n",
                    static_cast<double>(maxGap) / 1e6);
        QVERIFY(static_cast<double>(maxGap) / 1e6 < 250.0);
        QCOMPARE(m_dock->lossPoints(), 60);
        auto* loss = qobject_cast<QLineSeries*>(m_dock->chart()->series().first());
        QVERIFY(loss);
        for (const QPointF& p : loss->points()) QVERIFY(std::isfinite(p.y()) && p.y() > 0);
        QVERIFY(m_dock->lastResult()->training.has_value());
        QCOMPARE(m_dock->lastResult()->training->steps, int64_t{60});
    }

    void plotsAccuracyAndTheAlgorithmsOwnCurvesPerEpoch() {
        if (!fs::exists(kFashion)) QSKIP("Fashion-MNIST absent");
        // SLB reports its temperature as each epoch begins; with Evaluate on, the test accuracy
        // is measured as each epoch ends (here one short epoch: one point of each).
        QVERIFY(m_dock->selectAlgorithm(QStringLiteral("slb")));
        m_dock->setTraining(1, 30, 32, 0.01);
        m_dock->setEvaluate(true, 200);
        m_dock->setOutputPath(m_dir.filePath(QStringLiteral("lenet-slb.onnx")));
        QCOMPARE(m_dock->accuracyPoints(), 0);
        QString message;
        QVERIFY2(runAndWait(&message), qPrintable(message));
        QCOMPARE(m_dock->lossPoints(), 30);
        QCOMPARE(m_dock->metricCurves(), QStringList{QStringLiteral("temperature")});
        const QList<QPointF> t = m_dock->metricPoints(QStringLiteral("temperature"));
        QCOMPARE(t.size(), 1);
        QCOMPARE(t.first().x(), 0.0);
        QCOMPARE(t.first().y(), 1.0);  // t_start_val, the seed's default
        QCOMPARE(m_dock->accuracyPoints(), 1);
        auto* accuracy = qobject_cast<QLineSeries*>(m_dock->epochChart()->series().first());
        QVERIFY(accuracy);
        QCOMPARE(accuracy->points().first().x(), 1.0);
        const double percent = accuracy->points().first().y();
        QVERIFY2(percent > 0 && percent <= 100, qPrintable(QString::number(percent)));
        // A post-training run plots nothing per epoch.
        QVERIFY(m_dock->selectAlgorithm(QStringLiteral("ptq")));
        m_dock->setOutputPath(m_dir.filePath(QStringLiteral("lenet-ptq.onnx")));
        QVERIFY2(runAndWait(&message), qPrintable(message));
        QCOMPARE(m_dock->accuracyPoints(), 0);
        QVERIFY(m_dock->metricCurves().isEmpty());
    }

    void refusesToOverwriteTheInputAndCancels() {
        m_dock->setOutputPath(kLenet);
        QString message;
        QVERIFY(!runAndWait(&message));
        QVERIFY2(message.contains(QStringLiteral("overwrite")), qPrintable(message));
        if (!fs::exists(kFashion)) QSKIP("Fashion-MNIST absent");
        // A long training run, cancelled: nothing is written.
        const QString out = m_dir.filePath(QStringLiteral("cancelled.onnx"));
        QVERIFY(m_dock->selectAlgorithm(QStringLiteral("simqat")));
        m_dock->setTraining(50, 0, 32, 0.001);
        m_dock->setOutputPath(out);
        QSignalSpy done(m_dock.get(), &AlgorithmDock::runFinished);
        m_dock->run();
        QVERIFY(m_dock->isRunning());
        auto* run = m_dock->findChild<QPushButton*>(QStringLiteral("AlgorithmRun"));
        QCOMPARE(run->text(), QStringLiteral("Cancel"));
        QTest::qWait(300);
        run->click();
        QVERIFY(done.wait(kTimeoutMs));
        QCOMPARE(done.first().first().toBool(), false);
        QVERIFY(!m_dock->isRunning());
        QCOMPARE(run->text(), QStringLiteral("Run"));
        QVERIFY(!QFileInfo::exists(out));
    }
};

}  // namespace

std::unique_ptr<QObject> makeAlgorithmDockTest() {
    return std::make_unique<AlgorithmDockTest>();
}

}  // namespace wh::widgets::test

#include "algorithm_dock_test.moc"
