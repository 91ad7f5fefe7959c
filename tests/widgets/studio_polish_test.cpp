// Studio polish (issue 14), items 5, 7 and 14: shapes inferred by the engine for tensors the file
// declares none for (symbols by name, "?" when inference fails, recomputed after an edit, the
// model never touched); Export View of the whole graph / visible area / selection at a readable
// scale, capped for huge graphs; the inspector's columns, small constants, histogram panel and
// round ticks; and no chart objects piling up per selection (item 19's leak).

#include <cmath>

#include <QApplication>
#include <QChart>
#include <QChartView>
#include <QFileInfo>
#include <QHeaderView>
#include <QImage>
#include <QInputDialog>
#include <QProcess>
#include <QSignalSpy>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QTreeWidget>
#include <QUndoStack>
#include <QValueAxis>

#include "core/layout/graph_layout.h"
#include "core/onnx/model_io.h"
#include "tests/widgets/widgets_test.h"
#include "widgets/document.h"
#include "widgets/graph_items.h"
#include "widgets/graph_view.h"
#include "widgets/issues_dock.h"
#include "widgets/main_window.h"
#include "widgets/node_inspector.h"
#include "widgets/selection_model.h"
#include "widgets/shape_table.h"

namespace wh::widgets::test {
namespace {

constexpr int kTimeoutMs = 60'000;

/// makeSmallModel() as PyTorch exports it with a dynamic batch: x is [N,3,32,32] and no tensor
/// after it (graph output included) declares a type.
ir::Model makeDynamicModel() {
    ir::Model model = makeSmallModel();
    ir::Graph& g = *model.graph;
    ir::Value* x = g.findValue("x");
    x->type.shape->dims[0] = ir::Dim::symbol("N");
    for (const char* name : {"c1", "r1", "c2", "s", "p", "f", "y"}) g.findValue(name)->type = {};
    return model;
}

/// x[1,3,32,32] -> Clip(min = initializer 0, max = Constant 6) -> Relu -> y: Clip's bounds as
/// PyTorch writes them (one an initializer, one a Constant node).
ir::Model makeClipModel() {
    ir::Model model = makeSmallModel();
    ir::Graph& g = *model.graph;
    ir::Value* y = g.outputs().front();
    ir::Value* lo = *g.addValue("clip.min");
    g.setInitializer(lo, ir::Tensor::fromFloats("clip.min", {}, {0.0f}));
    ir::Value* hi = *g.addValue("clip.max");
    ir::Node* constant =
        g.addNode("Constant", std::vector<ir::Value*>{}, std::vector<ir::Value*>{hi});
    constant->name = "six";
    constant->attributes().push_back(
        ir::Attribute::makeTensor("value", ir::Tensor::fromFloats("six", {}, {6.0f})));
    ir::Value* clipped = *g.addValue("clipped");
    ir::Node* clip =
        g.addNode("Clip", std::vector<ir::Value*>{y, lo, hi}, std::vector<ir::Value*>{clipped});
    clip->name = "clip";
    g.eraseGraphOutput(0);
    g.insertGraphOutput(clipped);
    return model;
}

/// A chain of `n` Relu/Sigmoid nodes on x[1,4,8,8]: `n` layers tall.
std::shared_ptr<ir::Model> makeChain(int n) {
    auto model = std::make_shared<ir::Model>();
    model->irVersion = 8;
    model->opsetImports.push_back({"", 17, {}});
    model->graph = std::make_unique<ir::Graph>();
    ir::Graph& g = *model->graph;
    ir::Value* x = *g.addValue("x");
    ir::Shape shape;
    for (int64_t d : {1, 4, 8, 8}) shape.dims.push_back(ir::Dim::known(d));
    x->type = ir::Type::tensor(ir::DType::kFloat, shape);
    g.insertGraphInput(x);
    for (int i = 0; i < n; ++i) {
        ir::Value* y = *g.addValue("t" + std::to_string(i));
        ir::Node* node = g.addNode(i % 2 ? "Sigmoid" : "Relu", std::vector<ir::Value*>{x},
                                   std::vector<ir::Value*>{y});
        node->name = "act" + std::to_string(i);
        x = y;
    }
    g.insertGraphOutput(x);
    return model;
}

bool isOneTwoFive(double step) {
    const double mantissa = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    for (double m : {1.0, 2.0, 5.0})
        if (std::abs(mantissa - m) < 1e-6) return true;
    return false;
}

class StudioPolishTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<MainWindow> m_w;

    /// A window showing `model`, its view laid out and its shapes inferred (or failed: `ok`).
    void showInWindow(ir::Model model, bool expectShapes = true) {
        m_w = std::make_unique<MainWindow>(MainWindow::SettingsMode::kIgnore);
        m_w->resize(1400, 900);
        m_w->show();
        QSignalSpy ready(m_w.get(), &MainWindow::viewReady);
        QSignalSpy shapes(m_w.get(), &MainWindow::shapesReady);
        m_w->setModel(std::move(model));
        QVERIFY(ready.wait(kTimeoutMs));
        if (shapes.isEmpty()) QVERIFY(shapes.wait(kTimeoutMs));
        QCOMPARE(shapes.first().first().toBool(), expectShapes);
    }
    ir::NodeId id(const std::string& name) const { return idIn(*m_w->model()->graph, name); }

private slots:
    void cleanup() { m_w.reset(); }

    // ---- Item 5: shapes -----------------------------------------------------------------

    void shapeTableInfersIntermediateShapesWithSymbols() {
        const ir::Model model = makeDynamicModel();
        const std::string before = *onnx::serializeModel(model);
        Expected<ShapeTable> table = ShapeTable::infer(model);
        QVERIFY2(table, table ? "" : table.error().message().c_str());
        const ir::Graph& g = *model.graph;
        auto label = [&](const char* value) {
            return shapeLabel(g.findValue(value), &*table).toStdString();
        };
        QCOMPARE(label("c1"), std::string("N×8×32×32"));
        QCOMPARE(label("s"), std::string("N×8×32×32"));
        QCOMPARE(label("p"), std::string("N×8×1×1"));
        QCOMPARE(label("f"), std::string("N×8"));
        QCOMPARE(label("y"), std::string("N×10"));
        QCOMPARE(valueTypeString(*g.findValue("f"), &*table), QStringLiteral("float[N,8]"));
        QVERIFY(isInferredType(*g.findValue("f"), &*table));
        // Without the table, as before: "?" and no label.
        QCOMPARE(valueTypeString(*g.findValue("f")), QStringLiteral("?"));
        QCOMPARE(shapeLabel(g.findValue("f")), QString());
        // A declared shape stands.
        QCOMPARE(label("x"), std::string("N×3×32×32"));
        QVERIFY(!isInferredType(*g.findValue("x"), &*table));
        // Display only: the model is byte for byte what it was.
        QVERIFY(*onnx::serializeModel(model) == before);
        QCOMPARE(g.findValue("f")->type.kind, ir::Type::Kind::kNone);
    }

    void shapeTableTellsDerivedDimsFromSymbols() {
        // A Reshape to [-1] multiplies the batch in: neither N nor a number, so "?".
        ir::Model model = makeDynamicModel();
        ir::Graph& g = *model.graph;
        ir::Value* target = *g.addValue("target");
        ir::Tensor t;
        t.name = "target";
        t.dtype = ir::DType::kInt64;
        t.dims = {1};
        const int64_t minusOne = -1;
        t.data = std::make_shared<const ir::Buffer>(&minusOne, sizeof minusOne);
        g.setInitializer(target, t);
        ir::Value* flat = *g.addValue("flat");
        g.addNode("Reshape", std::vector<ir::Value*>{g.findValue("y"), target},
                  std::vector<ir::Value*>{flat})
            ->name = "reshape";
        g.eraseGraphOutput(0);
        g.insertGraphOutput(flat);
        Expected<ShapeTable> table = ShapeTable::infer(model);
        QVERIFY2(table, table ? "" : table.error().message().c_str());
        QCOMPARE(shapeLabel(g.findValue("flat"), &*table), QStringLiteral("?"));
        QCOMPARE(shapeLabel(g.findValue("y"), &*table).toStdString(), std::string("N×10"));
    }

    void studioShowsInferredShapesAndRecomputesThemAfterAnEdit() {
        showInWindow(makeDynamicModel());
        QVERIFY(m_w->shapeTable());
        const ir::NodeId conv1 = id("conv1");
        m_w->graphView()->selectNode(conv1);
        NodeInspector* inspector = m_w->nodeInspector();
        QCOMPARE(inspector->shownNode().value_or(0), conv1);
        QVERIFY2(inspector->valueOf(QStringLiteral("Outputs"), QStringLiteral("c1"))
                     .startsWith(QStringLiteral("float[N,8,32,32]")),
                 qPrintable(inspector->valueOf(QStringLiteral("Outputs"), QStringLiteral("c1"))));
        QVERIFY2(m_w->graphView()->wireLabelsOf(conv1).contains(QStringLiteral("N×8×32×32")),
                 qPrintable(m_w->graphView()->wireLabelsOf(conv1).join(QLatin1Char('|'))));

        // Stride 2: the shapes are dropped at once ("?" rather than stale), then inferred anew.
        QSignalSpy shapes(m_w.get(), &MainWindow::shapesReady);
        QVERIFY(m_w->document()
                    ->setAttribute(conv1, ir::Attribute::makeInts("strides", {2, 2}))
                    .isOk());
        QVERIFY(!m_w->shapeTable());
        QVERIFY(shapes.wait(kTimeoutMs));
        QVERIFY(shapes.last().first().toBool());
        m_w->graphView()->selectNode(conv1);
        QVERIFY2(inspector->valueOf(QStringLiteral("Outputs"), QStringLiteral("c1"))
                     .startsWith(QStringLiteral("float[N,8,16,16]")),
                 qPrintable(inspector->valueOf(QStringLiteral("Outputs"), QStringLiteral("c1"))));
        QTRY_VERIFY_WITH_TIMEOUT(
            m_w->graphView()->wireLabelsOf(conv1).contains(QStringLiteral("N×8×16×16")),
            kTimeoutMs);
        // The model still declares nothing there.
        QCOMPARE(m_w->model()->graph->findValue("c1")->type.kind, ir::Type::Kind::kNone);

        // Undo brings the old shapes back (inferred again).
        m_w->document()->undoStack()->undo();
        QVERIFY(shapes.wait(kTimeoutMs));
        m_w->graphView()->selectNode(conv1);
        QVERIFY(inspector->valueOf(QStringLiteral("Outputs"), QStringLiteral("c1"))
                    .startsWith(QStringLiteral("float[N,8,32,32]")));
    }

    void shapeInferenceThatFailsLeavesQuestionMarks() {
        ir::Model model = makeDynamicModel();
        // An operator the engine has no kernel for, in the middle of the graph.
        for (ir::Node* n : model.graph->nodes())
            if (n->name == "relu1") n->opType = "NoSuchOperator";
        Expected<ShapeTable> direct = ShapeTable::infer(model);
        QVERIFY(!direct);
        QVERIFY(direct.error().message().find("NoSuchOperator") != std::string::npos);

        showInWindow(std::move(model), /*expectShapes=*/false);
        QVERIFY(!m_w->shapeTable());
        m_w->graphView()->selectNode(id("conv2"));
        const QString c2 =
            m_w->nodeInspector()->valueOf(QStringLiteral("Outputs"), QStringLiteral("c2"));
        QVERIFY2(c2.startsWith(QStringLiteral("?  ·  ")), qPrintable(c2));
        // Said once, as information, in the Issues dock.
        bool said = false;
        for (int i = 0; i < m_w->issuesDock()->count(); ++i)
            said = said || m_w->issuesDock()->message(i).contains(QStringLiteral("NoSuchOperator"));
        QVERIFY(said);
    }

    // ---- Item 7: Export View -------------------------------------------------------------

    void exportWritesTheWholeGraphReadably() {
        auto model = makeChain(60);  // far taller than the view
        GraphView view;
        view.resize(900, 500);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.setGraph(std::shared_ptr<const ir::Graph>(model, model->graph.get()),
                      layout::layoutGraph(*model->graph, view.layoutOptions()));
        view.fitToView();
        QVERIFY(view.zoom() < view.style().textMinLod);  // text hidden on screen

        const GraphView::ExportPlan whole = view.planExport(GraphView::ExportScope::kWholeGraph);
        QCOMPARE(whole.scale, GraphView::kExportScale);
        QVERIFY(!whole.capped);
        QVERIFY(whole.size.height() >= view.currentLayout()->height);
        const GraphView::ExportPlan visible = view.planExport(GraphView::ExportScope::kVisibleArea);
        QCOMPARE(visible.size, view.viewport()->size());

        QTemporaryDir dir;
        QString error;
        GraphView::ExportPlan written;
        const QString png = dir.filePath(QStringLiteral("whole.png"));
        QVERIFY2(view.exportView(png, GraphView::ExportScope::kWholeGraph, &error, &written),
                 qPrintable(error));
        QImage image(png);
        QCOMPARE(image.size(), whole.size);
        QVERIFY(image.height() > 3 * view.viewport()->height());
        // The SVG has every node's text, the last one's included: drawn at a readable scale.
        const QString svg = dir.filePath(QStringLiteral("whole.svg"));
        QVERIFY2(view.exportView(svg, GraphView::ExportScope::kWholeGraph, &error),
                 qPrintable(error));
        QFile file(svg);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QByteArray text = file.readAll();
        QVERIFY(text.contains("act0"));
        QVERIFY(text.contains("act59"));
        QVERIFY(text.contains("Sigmoid"));

        // The selection: smaller than the whole; nothing selected is an error, not a picture.
        QVERIFY(!view.exportView(dir.filePath(QStringLiteral("none.png")),
                                 GraphView::ExportScope::kSelection, &error));
        QVERIFY(error.contains(QStringLiteral("selected")));
        view.selectionModel()->setSelection(
            {idIn(*model->graph, "act10"), idIn(*model->graph, "act12")},
            idIn(*model->graph, "act12"));
        const GraphView::ExportPlan sel = view.planExport(GraphView::ExportScope::kSelection);
        QVERIFY(!sel.size.isEmpty());
        QVERIFY(sel.size.height() < whole.size.height() / 5);
        QVERIFY(view.exportView(dir.filePath(QStringLiteral("sel.png")),
                                GraphView::ExportScope::kSelection, &error));
        QCOMPARE(QImage(dir.filePath(QStringLiteral("sel.png"))).size(), sel.size);
    }

    void exportOfAHugeGraphIsCapped() {
        auto model = makeChain(3001);  // lazy items, ~200,000 px tall at 1:1
        GraphView view;
        view.resize(900, 500);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.setGraph(std::shared_ptr<const ir::Graph>(model, model->graph.get()),
                      layout::layoutGraph(*model->graph, view.layoutOptions()));
        QVERIFY(view.isLazy());
        const GraphView::ExportPlan plan = view.planExport(GraphView::ExportScope::kWholeGraph);
        QVERIFY(plan.capped);
        QVERIFY(plan.scale < 1);
        QVERIFY(plan.size.height() <= GraphView::kMaxExportSide);
        QVERIFY(qint64(plan.size.width()) * plan.size.height() <= GraphView::kMaxExportPixels);
        QTemporaryDir dir;
        QString error;
        const QString png = dir.filePath(QStringLiteral("huge.png"));
        QVERIFY2(view.exportView(png, GraphView::ExportScope::kWholeGraph, &error),
                 qPrintable(error));
        QCOMPARE(QImage(png).size(), plan.size);
    }

    void exportViewSuggestsTheModelsNameAndFolder() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("tiny.onnx"));
        QVERIFY(onnx::saveModel(makeSmallModel(), path.toStdString()).isOk());
        m_w = std::make_unique<MainWindow>(MainWindow::SettingsMode::kIgnore);
        m_w->show();
        QSignalSpy ready(m_w.get(), &MainWindow::viewReady);
        m_w->openFile(path);
        QVERIFY(ready.wait(kTimeoutMs));
        QCOMPARE(m_w->suggestedExportViewPath(GraphView::ExportScope::kWholeGraph),
                 dir.filePath(QStringLiteral("tiny.png")));
        QCOMPARE(m_w->suggestedExportViewPath(GraphView::ExportScope::kVisibleArea),
                 dir.filePath(QStringLiteral("tiny-view.png")));
        QCOMPARE(m_w->suggestedExportViewPath(GraphView::ExportScope::kSelection),
                 dir.filePath(QStringLiteral("tiny-selection.png")));
        const QString out = dir.filePath(QStringLiteral("tiny.svg"));
        QVERIFY(m_w->exportViewTo(out, GraphView::ExportScope::kWholeGraph));
        QVERIFY(QFileInfo(out).size() > 1000);
        QVERIFY(m_w->statusBar()->currentMessage().contains(QStringLiteral("whole graph")));
    }

    void exportViewAsksWhatToExportWithEachPicturesSize() {
        showInWindow(makeDynamicModel());
        m_w->graphView()->selectNode(id("conv1"));
        QStringList offered;
        bool asked = false;
        // The question is modal: answer it from the event loop it runs.
        QTimer::singleShot(0, m_w.get(), [&] {
            auto* dialog = qobject_cast<QInputDialog*>(QApplication::activeModalWidget());
            if (!dialog) return;
            asked = true;
            offered = dialog->comboBoxItems();
            const QString shots = qEnvironmentVariable("WHITTLE_TEST_SHOTS");
            if (!shots.isEmpty()) dialog->grab().save(shots + QStringLiteral("/export_view.png"));
            dialog->reject();  // no file dialog follows
        });
        m_w->exportView();
        QVERIFY(asked);
        QCOMPARE(offered.size(), 3);
        QVERIFY2(offered[0].startsWith(QStringLiteral("Whole graph (")) &&
                     offered[0].contains(QStringLiteral(" px")),
                 qPrintable(offered[0]));
        QVERIFY(offered[1].startsWith(QStringLiteral("Visible area (")));
        QVERIFY2(offered[2].startsWith(QStringLiteral("Selection, 1 node")),
                 qPrintable(offered[2]));
    }

    /// whittle --screenshot --export-view: the picture File > Export View writes, from a script.
    void screenshotModeExportsTheView() {
        QTemporaryDir dir;
        const QString model = dir.filePath(QStringLiteral("dynamic.onnx"));
        QVERIFY(onnx::saveModel(makeDynamicModel(), model.toStdString()).isOk());
        auto run = [&](const QStringList& extra) {
            QProcess p;
            QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
            env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
            p.setProcessEnvironment(env);
            p.setProcessChannelMode(QProcess::MergedChannels);
            p.start(QStringLiteral(WHITTLE_GUI),
                    QStringList{QStringLiteral("--screenshot"),
                                dir.filePath(QStringLiteral("shot.png"))} +
                        extra + QStringList{model});
            if (!p.waitForFinished(kTimeoutMs)) p.kill();
            return std::make_pair(p.exitCode(), QString::fromLocal8Bit(p.readAll()));
        };
        const QString svg = dir.filePath(QStringLiteral("graph.svg"));
        auto [code, out] = run({QStringLiteral("--export-view"), svg});
        QVERIFY2(code == 0, qPrintable(out));
        QVERIFY2(out.contains(QStringLiteral("export-view:")), qPrintable(out));
        QFile file(svg);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QByteArray text = file.readAll();
        QVERIFY(text.contains("conv2"));  // every node, drawn readably
        QVERIFY(text.contains("fc"));
        // The inferred shapes are on the wires (the screenshot mode waits for them).
        QVERIFY2(text.contains("N×8×32×32") || text.contains("N&#215;8&#215;32&#215;32"),
                 "no inferred shape label in the SVG");
        auto [bad, why] = run({QStringLiteral("--export-view"), svg,
                               QStringLiteral("--export-scope"), QStringLiteral("bogus")});
        QCOMPARE(bad, 1);
        QVERIFY2(why.contains(QStringLiteral("--export-scope")), qPrintable(why));
    }

    // ---- Item 14: inspector --------------------------------------------------------------

    void smallConstantInputsShowTheirValues() {
        const ir::Model model = makeClipModel();
        NodeInspector inspector;
        const ir::Graph& g = *model.graph;
        inspector.showNode(*g.findNode(idIn(g, "clip")));
        const QString lo = inspector.valueOf(QStringLiteral("Inputs"), QStringLiteral("clip.min"));
        const QString hi = inspector.valueOf(QStringLiteral("Inputs"), QStringLiteral("clip.max"));
        QVERIFY2(lo.startsWith(QStringLiteral("float[] = 0")), qPrintable(lo));
        QVERIFY2(hi.startsWith(QStringLiteral("float[] = 6")), qPrintable(hi));
        // A real weight (216 elements) is not spelled out.
        inspector.showNode(*g.findNode(idIn(g, "conv1")));
        const QString w = inspector.valueOf(QStringLiteral("Inputs"), QStringLiteral("W"));
        QVERIFY2(w.startsWith(QStringLiteral("float[8,3,3,3]")) && !w.contains(QLatin1Char('=')),
                 qPrintable(w));
        QCOMPARE(smallTensorValues(ir::Tensor::fromFloats("v", {3}, {1, 2.5f, -3}), 16),
                 QStringLiteral("[1, 2.5, -3]"));
        QCOMPARE(smallTensorValues(ir::Tensor::fromFloats("v", {17}, std::vector<float>(17)), 16),
                 QString());
    }

    void columnsFollowTheDockWidth() {
        const ir::Model model = makeSmallModel();
        NodeInspector inspector;
        inspector.resize(400, 600);
        inspector.show();
        QVERIFY(QTest::qWaitForWindowExposed(&inspector));
        inspector.showNode(*model.graph->findNode(idIn(*model.graph, "conv1")));
        const QTreeWidget* tree = inspector.tree();
        auto share = [&] { return double(tree->columnWidth(0)) / tree->viewport()->width(); };
        QVERIFY2(std::abs(share() - 0.4) < 0.05, qPrintable(QString::number(share())));
        const int narrow = tree->columnWidth(0);
        inspector.resize(800, 600);
        QTest::qWait(20);
        QVERIFY(tree->columnWidth(0) > narrow + 100);
        QVERIFY(std::abs(share() - 0.4) < 0.05);
        // The user's divider sets the share from then on.
        tree->header()->resizeSection(0, tree->viewport()->width() / 4);
        inspector.resize(500, 600);
        QTest::qWait(20);
        QVERIFY2(std::abs(share() - 0.25) < 0.05, qPrintable(QString::number(share())));
    }

    void histogramLeavesThePropertiesUsableInASmallWindow() {
        const ir::Model model = makeSmallModel();
        NodeInspector inspector;
        inspector.resize(360, 380);
        inspector.show();
        QVERIFY(QTest::qWaitForWindowExposed(&inspector));
        inspector.showNode(*model.graph->findNode(idIn(*model.graph, "conv1")));
        QTRY_VERIFY(!inspector.histogramTensor().isEmpty());
        QTest::qWait(50);  // layouts settle
        QVERIFY(inspector.histogramView()->isVisible());
        QVERIFY2(inspector.histogramView()->height() >= 100 &&
                     inspector.histogramView()->height() <= NodeInspector::kHistogramMaxHeight,
                 qPrintable(QString::number(inspector.histogramView()->height())));
        const int withChart = inspector.tree()->height();
        QVERIFY2(withChart >= 140, qPrintable(QString::number(withChart)));
        // Folded away, the list gets the room.
        inspector.setHistogramCollapsed(true);
        QTest::qWait(20);
        QVERIFY(!inspector.histogramView()->isVisible());
        QVERIFY2(inspector.tree()->height() > withChart + 80,
                 qPrintable(QStringLiteral("tree %1 px, was %2 px; chart panel %3 px")
                                .arg(inspector.tree()->height())
                                .arg(withChart)
                                .arg(inspector.histogramView()->parentWidget()->height())));
        inspector.setHistogramCollapsed(false);
        QVERIFY(inspector.histogramView()->isVisibleTo(&inspector));
    }

    void histogramTicksAreRoundNumbers() {
        QCOMPARE(niceTickStep(1.0, 5), 0.2);
        QCOMPARE(niceTickStep(0.173, 5), 0.05);
        QCOMPARE(niceTickStep(1234, 4), 500.0);
        QCOMPARE(niceTickStep(10, 5), 2.0);
        QCOMPARE(niceTickStep(0, 5), 1.0);

        ir::Model model = makeSmallModel();
        ir::Graph& g = *model.graph;
        // Weights spread over an awkward range: [-0.0873, 0.1364].
        std::vector<float> values(216);
        for (std::size_t i = 0; i < values.size(); ++i)
            values[i] = -0.0873f + 0.2237f * float(i) / float(values.size() - 1);
        g.setInitializer(g.findValue("W"), ir::Tensor::fromFloats("W", {8, 3, 3, 3}, values));
        NodeInspector inspector;
        inspector.resize(400, 700);
        inspector.show();
        inspector.showNode(*g.findNode(idIn(g, "conv1")));
        QTRY_VERIFY(!inspector.histogramTensor().isEmpty());
        const QList<QAbstractAxis*> axes = inspector.histogramView()->chart()->axes();
        QCOMPARE(axes.size(), qsizetype{2});
        for (QAbstractAxis* a : axes) {
            auto* axis = qobject_cast<QValueAxis*>(a);
            QVERIFY(axis);
            QCOMPARE(axis->tickType(), QValueAxis::TicksDynamic);
            QVERIFY2(isOneTwoFive(axis->tickInterval()),
                     qPrintable(QString::number(axis->tickInterval())));
            QCOMPARE(axis->tickAnchor(), 0.0);
        }
    }

    /// Item 19: selecting node after node leaves no chart objects behind (series, outlines,
    /// axes are owned and freed with the histogram they belong to).
    void histogramObjectsDoNotPileUp() {
        const ir::Model model = makeSmallModel();
        NodeInspector inspector;
        inspector.show();
        const ir::Graph& g = *model.graph;
        QChart* chart = inspector.histogramView()->chart();
        inspector.showNode(*g.findNode(idIn(g, "conv1")));
        QTRY_VERIFY(!inspector.histogramTensor().isEmpty());
        const qsizetype objects = chart->findChildren<QObject*>().size();
        for (int i = 0; i < 20; ++i) {
            inspector.showNode(*g.findNode(idIn(g, i % 2 ? "conv2" : "fc")));
            inspector.showNode(*g.findNode(idIn(g, "conv1")));
        }
        QTRY_VERIFY(!inspector.histogramTensor().isEmpty());
        QCOMPARE(chart->findChildren<QObject*>().size(), objects);
        QCOMPARE(chart->series().size(), qsizetype{1});
        QCOMPARE(chart->axes().size(), qsizetype{2});
    }
};

}  // namespace

std::unique_ptr<QObject> makeStudioPolishTest() {
    return std::make_unique<StudioPolishTest>();
}

}  // namespace wh::widgets::test

#include "studio_polish_test.moc"
