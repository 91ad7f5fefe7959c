// Studio II, the comparison view: a model and an edited copy side by side — matched nodes in
// grey, a retrained one pale yellow, the changed one amber on both sides, a removed one red on
// the left, an inserted one green on the right; selecting on one side selects the match on the other; the error mode
// colours both sides by SQNR; Escape (nothing selected) asks to go back.

#include <QComboBox>
#include <QSignalSpy>
#include <QTest>

#include "tests/widgets/widgets_test.h"
#include "widgets/comparison_view.h"
#include "widgets/graph_view.h"
#include "widgets/job_runner.h"
#include "widgets/visualization_dock.h"

namespace wh::widgets::test {
namespace {

constexpr int kTimeoutMs = 60'000;

ir::Node* named(const ir::Graph& g, const std::string& name) {
    for (ir::Node* n : g.nodes())
        if (n->name == name) return n;
    return nullptr;
}

class ComparisonViewTest : public QObject {
    Q_OBJECT

private slots:
    void sideBySideMarksWhatChanged() {
        auto before = std::make_shared<ir::Model>(makeSmallModel());
        auto after = std::make_shared<ir::Model>(before->clone());
        ir::Graph& g = *after->graph;
        // relu1 removed (conv2 and add read conv1's output), conv2's weight replaced by a 1×1
        // kernel (its dims change), an Identity inserted before the Gemm.
        ir::Node* relu = named(g, "relu1");
        g.replaceAllUsesWith(relu->output(0), named(g, "conv1")->output(0));
        g.eraseNode(relu);
        ir::Value* w2 = *g.addValue("W2_pruned");
        g.setInitializer(
            w2, ir::Tensor::fromFloats("W2_pruned", {8, 8, 1, 1}, std::vector<float>(64, 0.5f)));
        g.setInput(named(g, "conv2"), 1, w2);
        ir::Node* fc = named(g, "fc");
        ir::Value* f2 = *g.addValue("f_identity");
        ir::Node* identity = g.addNode("Identity", std::vector<ir::Value*>{fc->input(0)},
                                       std::vector<ir::Value*>{f2}, fc);
        identity->name = "inserted_identity";
        g.setInput(fc, 0, f2);
        // The classifier's weights fine-tuned: same dims, other values.
        g.setInitializer(fc->input(1), ir::Tensor::fromFloats("fc.weight", {10, 8},
                                                              std::vector<float>(80, -0.25f)));

        JobRunner runner;
        ComparisonView view(&runner);
        view.resize(1400, 800);
        view.show();
        QSignalSpy ready(&view, &ComparisonView::ready);
        view.setModels(before, QStringLiteral("small.onnx"), after, QStringLiteral("small-c.onnx"));
        QVERIFY(!view.isReady());
        QVERIFY(ready.wait(kTimeoutMs));
        QVERIFY(ready.first().first().toBool());
        QVERIFY(view.isReady());

        using K = analysis::MatchKind;
        const ir::Graph& a = *before->graph;
        QCOMPARE(view.match().count(K::kRemoved), 1);
        QCOMPARE(view.match().count(K::kInserted), 1);
        QCOMPARE(view.match().count(K::kChanged), 1);
        QCOMPARE(view.match().count(K::kValues), 1);  // fc: retrained, same structure
        QVERIFY2(view.summaryText().contains(QStringLiteral("1 removed (Relu 1)")),
                 qPrintable(view.summaryText()));
        QVERIFY2(view.summaryText().contains(QStringLiteral("1 inserted (Identity 1)")),
                 qPrintable(view.summaryText()));
        // Differences: colours on both sides.
        QCOMPARE(view.beforeView()->nodeFill(named(a, "relu1")->id()),
                 ComparisonView::kindColor(K::kRemoved));
        QCOMPARE(view.beforeView()->nodeFill(named(a, "conv2")->id()),
                 ComparisonView::kindColor(K::kChanged));
        QCOMPARE(view.afterView()->nodeFill(named(g, "conv2")->id()),
                 ComparisonView::kindColor(K::kChanged));
        QCOMPARE(view.afterView()->nodeFill(identity->id()),
                 ComparisonView::kindColor(K::kInserted));
        QCOMPARE(view.afterView()->nodeFill(named(g, "gap")->id()),
                 ComparisonView::kindColor(K::kSame));
        QCOMPARE(view.afterView()->nodeFill(fc->id()), ComparisonView::kindColor(K::kValues));
        QVERIFY(view.summaryText().contains(QStringLiteral("1 retrained")));
        QVERIFY(view.legendText().contains(QStringLiteral("removed")));

        // Selecting conv2 on the left selects conv2 on the right and says what changed.
        view.selectBefore(named(a, "conv2")->id());
        QCOMPARE(view.afterView()->selectedNode().value_or(0), named(g, "conv2")->id());
        QVERIFY2(view.detailsText().contains(QStringLiteral("weight 8×8×3×3 → 8×8×1×1")),
                 qPrintable(view.detailsText()));
        // And the other way round, by a click on the right.
        const QRectF rect = view.afterView()->nodeSceneRect(named(g, "gap")->id());
        QVERIFY(!rect.isEmpty());
        view.afterView()->centerOn(rect.center());
        QTest::mouseClick(view.afterView()->viewport(), Qt::LeftButton, {},
                          view.afterView()->mapFromScene(rect.center()));
        QCOMPARE(view.beforeView()->selectedNode().value_or(0), named(a, "gap")->id());
        QVERIFY(view.detailsText().contains(QStringLiteral("unchanged")));
        // A removed node has no match: the other side's selection is cleared.
        view.selectBefore(named(a, "relu1")->id());
        QVERIFY(!view.afterView()->selectedNode());
        QVERIFY(view.detailsText().contains(QStringLiteral("removed")));

        // The error mode asks for figures, then colours both sides by them.
        QSignalSpy wanted(&view, &ComparisonView::errorsWanted);
        view.setMode(ComparisonView::Mode::kError);
        QCOMPARE(wanted.count(), 1);
        view.setLayerErrors({{"conv1", 45.0}, {"conv2", 12.0}});
        QCOMPARE(view.beforeView()->nodeFill(named(a, "conv2")->id()),
                 VisualizationDock::sqnrColor(12.0));
        QCOMPARE(view.afterView()->nodeFill(named(g, "conv2")->id()),
                 VisualizationDock::sqnrColor(12.0));
        QCOMPARE(view.afterView()->nodeFill(named(g, "conv1")->id()),
                 VisualizationDock::sqnrColor(45.0));
        QCOMPARE(view.afterView()->nodeFill(identity->id()), VisualizationDock::noDataColor());
        QVERIFY(view.legendText().contains(QStringLiteral("< 10 dB")));

        // Escape clears a selection first, then asks to go back.
        QSignalSpy close(&view, &ComparisonView::closeRequested);
        view.selectBefore(named(a, "conv1")->id());
        view.beforeView()->setFocus();
        QTest::keyClick(view.beforeView(), Qt::Key_Escape);
        QCOMPARE(close.count(), 0);
        QTest::keyClick(view.beforeView(), Qt::Key_Escape);
        QCOMPARE(close.count(), 1);
    }
};

}  // namespace

std::unique_ptr<QObject> makeComparisonViewTest() {
    return std::make_unique<ComparisonViewTest>();
}

}  // namespace wh::widgets::test

#include "comparison_view_test.moc"
