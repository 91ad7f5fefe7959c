// Studio II end to end, as a user drives it with the mouse: open a model, select its
// convolutions, choose post-training quantization, change a parameter, run and cancel, run
// again to the end, see the summary and the error overlay, compare the graphs side by side,
// apply to the model, undo and redo, export, profile, open the compressed model in the studio,
// reopen the export.

#include <filesystem>

#include <QAction>
#include <QComboBox>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QUndoStack>

#include "core/algo/plugin_loader.h"
#include "core/algo/registry.h"
#include "tests/widgets/widgets_test.h"
#include "widgets/algorithm_dock.h"
#include "widgets/comparison_view.h"
#include "widgets/document.h"
#include "widgets/graph_view.h"
#include "widgets/main_window.h"
#include "widgets/param_form.h"
#include "widgets/profiler_dock.h"
#include "widgets/selection_model.h"
#include "widgets/summary_dock.h"
#include "widgets/visualization_dock.h"

namespace wh::widgets::test {
namespace {

constexpr int kTimeoutMs = 240'000;

class StudioCompressTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist"))
            QSKIP("Fashion-MNIST absent");
        // What the studio does at start (gui_main): the plugins into the global registry.
        if (!algo::Registry::global().find("ptq"))
            for (const algo::PluginLoadResult& r :
                 algo::loadPlugins({WHITTLE_PLUGIN_DIR}, algo::Registry::global()))
                QVERIFY2(r.loaded, r.error.c_str());
    }

    void selectQuantizeCancelRunProfileAndReopen() {
        QTemporaryDir dir;
        const QString model = dir.filePath(QStringLiteral("lenet5.onnx"));
        QVERIFY(QFile::copy(QStringLiteral(WHITTLE_SOURCE_DIR "/resources/samples/lenet5.onnx"),
                            model));
        MainWindow w(MainWindow::SettingsMode::kIgnore);
        w.resize(1600, 1000);
        w.show();
        AlgorithmDock* algorithm = w.algorithmDock();
        algorithm->refreshAlgorithms();
        QSignalSpy ready(&w, &MainWindow::viewReady);
        w.openFile(model);
        QVERIFY(ready.wait(kTimeoutMs));

        // Select the convolutions; PTQ on them only, with percentile calibration.
        const int convs = w.graphView()->selectAllOfType(QStringLiteral("Conv"));
        QVERIFY(convs >= 2);
        QVERIFY(algorithm->selectAlgorithm(QStringLiteral("ptq")));
        algorithm->setSelectionScope(true);
        QVERIFY2(algorithm->scopeText().startsWith(QStringLiteral("Changes %1 node").arg(convs)),
                 qPrintable(algorithm->scopeText()));
        qobject_cast<QComboBox*>(algorithm->form()->editor(QStringLiteral("calibration")))
            ->setCurrentText(QStringLiteral("percentile"));
        const QString out = dir.filePath(QStringLiteral("lenet5-ptq.onnx"));
        algorithm->setOutputPath(out);
        algorithm->setEvaluate(true, 300);
        auto* run = w.findChild<QAction*>(QStringLiteral("RunAlgorithmAction"));
        QVERIFY(run && run->isEnabled());

        // A first run, cancelled at once: nothing is written, the document is as it was.
        QSignalSpy finished(algorithm, &AlgorithmDock::runFinished);
        run->trigger();
        QVERIFY(algorithm->isRunning());
        algorithm->cancel();
        QVERIFY(finished.wait(kTimeoutMs));
        QCOMPARE(finished.takeFirst().first().toBool(), false);
        QVERIFY(!QFile::exists(out));
        QVERIFY(!w.document()->isDirty());

        // The second one runs to the end; the Summary dock compares and times both models.
        QSignalSpy measured(w.summaryDock(), &SummaryDock::measured);
        run->trigger();
        QVERIFY(finished.wait(kTimeoutMs));
        QVERIFY2(finished.first().first().toBool(), qPrintable(finished.first().at(1).toString()));
        QVERIFY(QFile::exists(out));
        const auto result = algorithm->lastResult();
        QCOMPARE(result->apply.changed(), convs);
        QVERIFY(result->verify.verified);
        QVERIFY(result->recipeJson.find("\"percentile\"") != std::string::npos);
        QVERIFY(w.summaryDock()->hasComparison());
        QVERIFY(measured.wait(kTimeoutMs));
        QCOMPARE(w.summaryDock()->cell(SummaryDock::kVerified, 1), QStringLiteral("yes"));

        // The graph coloured by each layer's error, compressed vs float (SQNR, in a job).
        VisualizationDock* overlay = w.visualizationDock();
        QSignalSpy errors(overlay, &VisualizationDock::errorsReady);
        overlay->setMode(VisualizationDock::Mode::kError);
        QVERIFY(errors.wait(kTimeoutMs));
        QVERIFY(errors.first().first().toBool());
        QVERIFY(!overlay->sqnrByNode().empty());
        int coloured = 0;
        for (const ir::Node* n : w.model()->graph->nodes()) {
            const auto e = overlay->sqnrByNode().find(n->name);
            if (e == overlay->sqnrByNode().end()) continue;
            QVERIFY2(e->second > 10.0, n->name.c_str());  // 8-bit: tens of dB
            QCOMPARE(w.graphView()->nodeFill(n->id()), VisualizationDock::sqnrColor(e->second));
            ++coloured;
        }
        QVERIFY(coloured > 0);
        QVERIFY(overlay->legendText().contains(QStringLiteral("Worst:")));
        overlay->setMode(VisualizationDock::Mode::kCategory);

        // F8: the original and the compressed graph side by side; the selected convolutions
        // are the changed nodes, their weights behind DequantizeLinear; the heat map has the
        // same figures as the overlay. F8 again: back to the graph.
        auto* compareAction = w.findChild<QAction*>(QStringLiteral("CompareAction"));
        QVERIFY(compareAction && compareAction->isEnabled());
        ComparisonView* compare = w.comparisonView();
        QSignalSpy compared(compare, &ComparisonView::ready);
        compareAction->trigger();
        QVERIFY(w.isComparing());
        QVERIFY(compared.wait(kTimeoutMs));
        QCOMPARE(compare->match().count(analysis::MatchKind::kChanged), convs);
        QVERIFY(compare->match().insertedQuantizers > 0);
        ir::NodeId firstConv = 0;
        for (const ir::Node* n : compare->before()->graph->nodes())
            if (n->opType == "Conv" && !firstConv) firstConv = n->id();
        compare->selectBefore(firstConv);
        QVERIFY2(compare->detailsText().contains(QStringLiteral("weight behind DequantizeLinear")),
                 qPrintable(compare->detailsText()));
        QVERIFY(compare->afterView()->selectedNode().has_value());
        compare->setMode(ComparisonView::Mode::kError);
        QVERIFY(compare->hasLayerErrors());  // the overlay's figures of this run, at once
        compareAction->trigger();
        QVERIFY(!w.isComparing());

        // Apply to Model: the document becomes the compressed graph, one undo step; undo
        // brings the float graph back; export that, reopen it: the float model again.
        const std::size_t floatNodes = w.model()->graph->numNodes();
        QVERIFY(algorithm->applyResult());
        QVERIFY(w.model()->graph->numNodes() > floatNodes);
        QVERIFY(w.document()->isDirty());
        QCOMPARE(w.document()->undoStack()->count(), 1);
        w.document()->undoStack()->undo();
        QCOMPARE(w.model()->graph->numNodes(), floatNodes);
        QVERIFY(!w.document()->isDirty());
        w.document()->undoStack()->redo();
        QVERIFY(w.model()->graph->numNodes() > floatNodes);
        const QString exported = dir.filePath(QStringLiteral("lenet5-applied.onnx"));
        QSignalSpy exportedSpy(&w, &MainWindow::exportFinished);
        w.exportTo(exported);
        QVERIFY(exportedSpy.wait(kTimeoutMs));
        QVERIFY2(exportedSpy.first().first().toBool(),
                 qPrintable(exportedSpy.first().at(1).toString()));
        w.document()->undoStack()->undo();  // the float graph again before leaving it
        QVERIFY(!w.document()->isDirty());

        // Profile the original (F6), then open the export: the same studio shows it.
        QSignalSpy profiled(w.profilerDock(), &ProfilerDock::profileFinished);
        w.profilerDock()->setRuns(3);
        w.findChild<QAction*>(QStringLiteral("ProfileModelAction"))->trigger();
        QVERIFY(profiled.wait(kTimeoutMs));
        QVERIFY(profiled.first().first().toBool());
        emit algorithm->openRequested(out);  // what Open Result does
        QVERIFY(ready.wait(kTimeoutMs));
        QCOMPARE(w.filePath(), out);
        int dequantize = 0;
        for (const ir::Node* n : w.model()->graph->nodes()) dequantize += n->opType == "DequantizeLinear";
        QVERIFY(dequantize > 0);
        QVERIFY(!w.profilerDock()->currentProfile());  // that profile was of the other model

        // Reopen the export of the applied revision: the compressed graph, as written.
        w.openFile(exported);
        QVERIFY(ready.wait(kTimeoutMs));
        QCOMPARE(w.filePath(), exported);
        int quantizers = 0;
        for (const ir::Node* n : w.model()->graph->nodes())
            quantizers += n->opType == "DequantizeLinear" || n->opType == "QuantizeLinear";
        QCOMPARE(quantizers, compare->match().insertedQuantizers);
    }
};

}  // namespace

std::unique_ptr<QObject> makeStudioCompressTest() {
    return std::make_unique<StudioCompressTest>();
}

}  // namespace wh::widgets::test

#include "studio_compress_test.moc"
