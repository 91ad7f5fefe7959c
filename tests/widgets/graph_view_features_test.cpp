// GraphView beyond drawing: search, selection (click, Ctrl+click, rubber band, op type, pattern),
// export, subgraph expansion, minimap, tensor-shape labels and level of detail on a large graph.
#include <QAction>
#include <QFile>
#include <QGraphicsScene>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QMenu>
#include <QScrollBar>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeWidget>

#include "core/layout/graph_layout.h"
#include "core/onnx/model_io.h"
#include "tests/widgets/widgets_test.h"
#include "widgets/graph_items.h"
#include "widgets/graph_minimap.h"
#include "widgets/graph_search_bar.h"
#include "widgets/graph_view.h"
#include "widgets/selection_model.h"

namespace wh::widgets::test {
namespace {

class GraphViewFeaturesTest : public QObject {
    Q_OBJECT

private:
    std::shared_ptr<ir::Model> m_model;

    std::shared_ptr<const ir::Graph> graph() const {
        return std::shared_ptr<const ir::Graph>(m_model, m_model->graph.get());
    }
    ir::NodeId id(const char* name) const {
        for (const ir::Node* n : m_model->graph->nodes())
            if (n->name == name) return n->id();
        return 0;
    }
    void show(GraphView& view) {
        view.resize(900, 700);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.setGraph(graph(), layout::layoutGraph(*m_model->graph, view.layoutOptions()));
    }
    QPoint centerOf(GraphView& view, ir::NodeId node) {
        const layout::NodeBox* box = view.currentLayout()->find(node);
        return view.mapFromScene(QPointF(box->centerX(), box->centerY()));
    }

private slots:
    void init() { m_model = std::make_shared<ir::Model>(makeSmallModel()); }

    // A QDQ export as the view draws it: the activations' QuantizeLinear → DequantizeLinear pairs
    // and the weights' DequantizeLinear are not boxes; the nodes reading a quantized tensor carry
    // an "int8" pill (and say so in their tooltip), the edge runs from what was quantized.
    void quantizersCollapseIntoABadge() {
        auto model = std::make_shared<ir::Model>(makeSmallModel());
        ir::Graph& g = *model->graph;
        auto init = [&](const std::string& name, ir::DType type) {
            ir::Value* v = *g.addValue(name);
            ir::Tensor t = ir::Tensor::fromFloats(name, {}, {0.5f});
            if (type != ir::DType::kFloat) {
                t.dtype = type;
                t.data = std::make_shared<const ir::Buffer>(std::size_t{1});
            }
            g.setInitializer(v, std::move(t));
            return v;
        };
        // r1 → Q → DQ → conv2 (instead of conv2 reading r1 directly).
        ir::Node* conv2 = nullptr;
        for (ir::Node* n : g.nodes())
            if (n->name == "conv2") conv2 = n;
        QVERIFY(conv2);
        ir::Value* r1 = conv2->input(0);
        ir::Value* rq = *g.addValue("r1_q");
        ir::Value* rdq = *g.addValue("r1_dq");
        std::vector<ir::Value*> qIn{r1, init("q_scale", ir::DType::kFloat),
                                    init("q_zero", ir::DType::kUInt8)};
        std::vector<ir::Value*> qOut{rq};
        g.addNode("QuantizeLinear", qIn, qOut, conv2)->name = "q";
        std::vector<ir::Value*> dqIn{rq, init("dq_scale", ir::DType::kFloat),
                                     init("dq_zero", ir::DType::kUInt8)};
        std::vector<ir::Value*> dqOut{rdq};
        g.addNode("DequantizeLinear", dqIn, dqOut, conv2)->name = "dq";
        g.setInput(conv2, 0, rdq);
        QCOMPARE(quantizedInputBadge(*conv2), QStringLiteral("int8"));
        QVERIFY(quantizedInputBadge(**g.nodes().begin()).isEmpty());

        GraphView view;
        view.resize(900, 700);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        const layout::Layout l = layout::layoutGraph(g, view.layoutOptions());
        QVERIFY(!l.find(idIn(g, "q")) && !l.find(idIn(g, "dq")));
        bool fromRelu = false;
        for (const layout::EdgePath& e : l.edges)
            fromRelu = fromRelu || (e.from == idIn(g, "relu1") && e.to == conv2->id());
        QVERIFY(fromRelu);
        view.setGraph(model->graph ? std::shared_ptr<const ir::Graph>(model, model->graph.get())
                                   : nullptr,
                      l);
        NodeItem* item = view.nodeItem(conv2->id());
        QVERIFY(item);
        QVERIFY2(item->toolTip().contains(QStringLiteral("as int8")), qPrintable(item->toolTip()));
    }

    void searchFindsNamesOpsAndTensors() {
        GraphView view;
        show(view);
        QCOMPARE(view.search(QStringLiteral("conv")), 2);       // conv1, conv2 (name and op)
        QCOMPARE(view.search(QStringLiteral("RELU")), 1);       // op type, any case
        QCOMPARE(view.search(QStringLiteral("fc.weight")), 1);  // an initializer read by fc
        QCOMPARE(view.search(QStringLiteral("r1")), 3);         // tensor r1: relu1, conv2, add
        QCOMPARE(view.search(QStringLiteral("nothing-like-this")), 0);
        QCOMPARE(view.searchIndex(), -1);
        QCOMPARE(view.search(QString()), 0);
    }

    void searchNextPreviousWrap() {
        GraphView view;
        show(view);
        view.findAction()->trigger();
        QVERIFY(view.searchBar()->isVisible());
        QTest::keyClicks(view.searchBar()->lineEdit(), QStringLiteral("conv"));
        QCOMPARE(view.searchMatchCount(), 2);
        QCOMPARE(view.searchIndex(), 0);
        QCOMPARE(view.searchBar()->statusText(), QStringLiteral("1 of 2"));
        QCOMPARE(view.selectedNode().value_or(0), id("conv1"));
        QTest::keyClick(view.searchBar()->lineEdit(), Qt::Key_Return);
        QCOMPARE(view.searchIndex(), 1);
        QCOMPARE(view.selectedNode().value_or(0), id("conv2"));
        QCOMPARE(view.searchBar()->statusText(), QStringLiteral("2 of 2"));
        QTest::keyClick(view.searchBar()->lineEdit(), Qt::Key_F3);
        QCOMPARE(view.searchIndex(), 0);  // wrapped
        QTest::keyClick(view.searchBar()->lineEdit(), Qt::Key_Return, Qt::ShiftModifier);
        QCOMPARE(view.searchIndex(), 1);  // wrapped backwards
        view.findPrevious();
        QCOMPARE(view.searchIndex(), 0);
        // The match is scrolled into view.
        QVERIFY(view.viewport()->rect().contains(centerOf(view, id("conv1"))));
        QTest::keyClick(view.searchBar()->lineEdit(), Qt::Key_Escape);
        QVERIFY(!view.searchBar()->isVisible());
    }

    /// A chain whose file order is the reverse of its drawing order, where "conv" is an op type
    /// (c1, c2), part of one (ConvTranspose "up"), part of a name (Relu "conv_act") and part of
    /// a tensor name only (Relu "pre" writes conv_in).
    static std::shared_ptr<ir::Model> searchModel() {
        auto model = std::make_shared<ir::Model>();
        model->graph = std::make_unique<ir::Graph>();
        ir::Graph& g = *model->graph;
        auto value = [&g](const char* name) { return *g.addValue(name); };
        ir::Value* x = value("x");
        ir::Value* convIn = value("conv_in");
        ir::Value* t2 = value("t2");
        ir::Value* t3 = value("t3");
        ir::Value* t4 = value("t4");
        ir::Value* y = value("y");
        g.insertGraphInput(x);
        auto add = [&g](const char* op, const char* name, ir::Value* in, ir::Value* out) {
            g.addNode(op, std::vector<ir::Value*>{in}, std::vector<ir::Value*>{out})->name = name;
        };
        add("Conv", "c2", t4, y);  // file order: bottom first
        add("ConvTranspose", "up", t3, t4);
        add("Relu", "conv_act", t2, t3);
        add("Conv", "c1", convIn, t2);
        add("Relu", "pre", x, convIn);
        g.insertGraphOutput(y);
        return model;
    }
    static QStringList names(const ir::Graph& g, const std::vector<ir::NodeId>& ids) {
        QStringList out;
        for (ir::NodeId i : ids) out << QString::fromStdString(g.findNode(i)->name);
        return out;
    }
    static int highlighted(GraphView& view) {
        int n = 0;
        for (QGraphicsItem* item : view.scene()->items())
            if (auto* node = qgraphicsitem_cast<NodeItem*>(item); node && node->isSearchHit()) ++n;
        return n;
    }

    /// Finding 6 of issue 14: scopes, exact op types first, top to bottom, every hit marked.
    void searchScopesRankAndOrderHits() {
        m_model = searchModel();
        const ir::Graph& g = *m_model->graph;
        GraphView view;
        show(view);
        QCOMPARE(view.searchScope(), SearchScope::kAll);
        QCOMPARE(view.search(QStringLiteral("conv")), 4);
        // Exact op type (top to bottom), then op type or name containing it; "pre", which only
        // writes conv_in, is left to the Tensor scope, and the bar says so.
        QCOMPARE(names(g, view.searchMatches()), (QStringList{"c1", "c2", "conv_act", "up"}));
        QCOMPARE(view.searchTensorOnlyCount(), 1);
        QCOMPARE(highlighted(view), 4);
        QVERIFY(!view.isSearchHit(id("pre")));
        QCOMPARE(view.selectedNode().value_or(0), id("c1"));

        QCOMPARE(view.search(QStringLiteral("conv"), SearchScope::kName), 1);
        QCOMPARE(names(g, view.searchMatches()), QStringList{"conv_act"});
        QCOMPARE(view.searchBar()->scope(), SearchScope::kName);  // the combo box follows
        QCOMPARE(highlighted(view), 1);
        QCOMPARE(view.search(QStringLiteral("CONV"), SearchScope::kOpType), 3);
        QCOMPARE(names(g, view.searchMatches()), (QStringList{"c1", "c2", "up"}));
        QCOMPARE(view.search(QStringLiteral("conv"), SearchScope::kTensor), 2);
        QCOMPARE(names(g, view.searchMatches()), (QStringList{"pre", "c1"}));

        // The combo box searches again.
        view.searchBar()->lineEdit()->setText(QStringLiteral("conv"));
        view.searchBar()->setScope(SearchScope::kAll);
        QCOMPARE(view.searchMatchCount(), 4);
        QCOMPARE(view.searchBar()->statusText(), QStringLiteral("1 of 4 (+1 by tensor)"));
        // Only tensors match: then they are the hits.
        QCOMPARE(view.search(QStringLiteral("conv_in")), 2);
        QCOMPARE(names(g, view.searchMatches()), (QStringList{"pre", "c1"}));
        QCOMPARE(view.searchScope(), SearchScope::kAll);
    }

    void searchThatStopsMatchingClearsItsSelection() {
        GraphView view;
        show(view);
        QCOMPARE(view.search(QStringLiteral("relu")), 1);
        QCOMPARE(view.selectedNode().value_or(0), id("relu1"));
        QCOMPARE(view.search(QStringLiteral("reluX")), 0);
        QVERIFY(view.selectionModel()->isEmpty());
        QCOMPARE(highlighted(view), 0);
        // A selection the user made himself stays.
        QCOMPARE(view.search(QStringLiteral("relu")), 1);
        view.selectNode(id("fc"));
        QCOMPARE(view.search(QStringLiteral("reluX")), 0);
        QCOMPARE(view.selectedNode().value_or(0), id("fc"));
    }

    /// F3 / Shift+F3 step through the hits with the bar closed and the focus in another
    /// widget of the window (the inspector, say).
    void f3WorksWithTheBarClosed() {
        QWidget window;
        auto* row = new QHBoxLayout(&window);
        auto* view = new GraphView(&window);
        auto* elsewhere = new QTreeWidget(&window);
        row->addWidget(view, 3);
        row->addWidget(elsewhere, 1);
        window.resize(1100, 700);
        window.show();
        window.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&window));
        view->setGraph(graph(), layout::layoutGraph(*m_model->graph, view->layoutOptions()));
        view->findAction()->trigger();
        QTest::keyClicks(view->searchBar()->lineEdit(), QStringLiteral("conv"));
        QCOMPARE(view->searchIndex(), 0);
        QCOMPARE(highlighted(*view), 2);
        QTest::keyClick(view->searchBar()->lineEdit(), Qt::Key_Escape);
        QVERIFY(!view->searchBar()->isVisible());
        QCOMPARE(highlighted(*view), 0);  // the halos go with the bar
        elsewhere->setFocus();
        QVERIFY(elsewhere->hasFocus());
        QTest::keyClick(elsewhere, Qt::Key_F3);
        QVERIFY(!view->searchBar()->isVisible());
        QCOMPARE(view->searchIndex(), 1);
        QCOMPARE(view->selectedNode().value_or(0), id("conv2"));
        QCOMPARE(highlighted(*view), 2);  // and come back with F3
        QTest::keyClick(elsewhere, Qt::Key_F3, Qt::ShiftModifier);
        QCOMPARE(view->searchIndex(), 0);
        QCOMPARE(view->selectedNode().value_or(0), id("conv1"));
    }

    /// Finding 8: Ctrl+A selects every drawn node, Escape clears.
    void ctrlASelectsAllEscapeClears() {
        GraphView view;
        show(view);
        view.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&view));
        view.setFocus();
        QTest::keyClick(&view, Qt::Key_A, Qt::ControlModifier);
        QCOMPARE(view.selectionModel()->size(), view.currentLayout()->nodes.size());
        QTest::keyClick(&view, Qt::Key_Escape);
        QVERIFY(view.selectionModel()->isEmpty());
    }

    /// Finding 10: the node menu lists only patterns starting with its op type, and the
    /// owner's node actions; the background has a menu of its own.
    void contextMenusFitTheNodeAndTheBackground() {
        GraphView view;
        show(view);
        QAction edit(QStringLiteral("Delete Node"));
        QAction exportView(QStringLiteral("Export View"));
        view.setNodeMenuActions({&edit});
        view.setCanvasMenuActions({&exportView});
        auto patternNames = [&](const char* node) {
            std::unique_ptr<QMenu> menu(view.createNodeMenu(id(node)));
            QStringList out;
            auto* patterns = menu->findChild<QMenu*>(QStringLiteral("selectPatternMenu"));
            for (QAction* a : patterns->actions())
                if (a->isEnabled()) out << a->data().toString();
            return std::make_pair(out, menu->actions().contains(&edit));
        };
        auto [conv1, conv1Edit] = patternNames("conv1");
        QVERIFY(conv1Edit);
        QVERIFY(!conv1.isEmpty());
        for (const QString& p : conv1)
            QVERIFY2(p.startsWith(QStringLiteral("Conv")), qPrintable(p));
        QVERIFY(conv1.contains(QStringLiteral("Conv → Relu")));
        auto [gemm, gemmEdit] = patternNames("fc");
        QVERIFY(gemmEdit);
        for (const QString& p : gemm) QVERIFY2(p.startsWith(QStringLiteral("Gemm")), qPrintable(p));

        view.selectAll();
        QVERIFY(!view.selectionModel()->isEmpty());
        std::unique_ptr<QMenu> canvas(view.createCanvasMenu());
        QVERIFY(canvas->actions().contains(view.fitAction()));
        QVERIFY(canvas->actions().contains(view.selectAllAction()));
        QVERIFY(canvas->actions().contains(&exportView));
        auto* clear = canvas->findChild<QAction*>(QStringLiteral("clearSelection"));
        QVERIFY(clear && clear->isEnabled());
        clear->trigger();
        QVERIFY(view.selectionModel()->isEmpty());
    }

    void clickAndCtrlClickToggle() {
        GraphView view;
        show(view);
        view.setZoom(1.0);
        view.centerOn(view.nodeItem(id("relu1")));
        SelectionModel* sel = view.selectionModel();
        QSignalSpy selected(&view, &GraphView::nodeSelected);
        QTest::mouseClick(view.viewport(), Qt::LeftButton, {}, centerOf(view, id("relu1")));
        QCOMPARE(sel->sortedIds(), std::vector<ir::NodeId>{id("relu1")});
        QCOMPARE(selected.count(), 1);
        QVERIFY(view.nodeItem(id("relu1"))->isSelected());
        QTest::mouseClick(view.viewport(), Qt::LeftButton, Qt::ControlModifier,
                          centerOf(view, id("conv2")));
        QCOMPARE(sel->size(), std::size_t{2});
        QCOMPARE(sel->current().value_or(0), id("conv2"));
        QTest::mouseClick(view.viewport(), Qt::LeftButton, Qt::ShiftModifier,
                          centerOf(view, id("conv2")));
        QCOMPARE(sel->sortedIds(), std::vector<ir::NodeId>{id("relu1")});
        QVERIFY(!view.nodeItem(id("conv2"))->isSelected());
        // A plain click elsewhere selects only that node.
        QTest::mouseClick(view.viewport(), Qt::LeftButton, {}, centerOf(view, id("conv2")));
        QCOMPARE(sel->sortedIds(), std::vector<ir::NodeId>{id("conv2")});
    }

    void rubberBandSelects() {
        GraphView view;
        show(view);
        view.fitToView();
        const QRectF all = view.mapFromScene(view.scene()->sceneRect()).boundingRect();
        const QPoint from = all.topLeft().toPoint() + QPoint(2, 2);
        const QPoint to = all.bottomRight().toPoint() - QPoint(2, 2);
        // A plain left drag on the background: no modifier needed.
        QTest::mousePress(view.viewport(), Qt::LeftButton, {}, from);
        QTest::mouseMove(view.viewport(), to);
        QTest::mouseRelease(view.viewport(), Qt::LeftButton, {}, to);
        QCOMPARE(view.selectionModel()->size(), m_model->graph->numNodes());
    }

    /// The band around the first two boxes selects those two only; Ctrl+drag adds to it.
    void dragOnTheBackgroundSelectsWhatTheBandCovers() {
        GraphView view;
        show(view);
        view.setZoom(1.0);
        view.centerOn(view.nodeItem(id("conv1")));
        auto boxOf = [&](const char* name) {
            const layout::NodeBox* b = view.currentLayout()->find(id(name));
            return view.mapFromScene(QRectF(b->x, b->y, b->w, b->h)).boundingRect();
        };
        const QRect two = boxOf("conv1").united(boxOf("relu1"));
        const QPoint from = two.topLeft() - QPoint(6, 6);
        const QPoint to = two.bottomRight() + QPoint(6, 4);
        QVERIFY(!view.nodeAt(from) && view.viewport()->rect().contains(to));
        const QScrollBar* h = view.horizontalScrollBar();
        const QScrollBar* v = view.verticalScrollBar();
        const int h0 = h->value(), v0 = v->value();
        QTest::mousePress(view.viewport(), Qt::LeftButton, {}, from);
        QTest::mouseMove(view.viewport(), (from + to) / 2);
        QTest::mouseMove(view.viewport(), to);
        QTest::mouseRelease(view.viewport(), Qt::LeftButton, {}, to);
        QCOMPARE(view.selectionModel()->sortedIds(),
                 (std::vector<ir::NodeId>{id("conv1"), id("relu1")}));
        QCOMPARE(h->value(), h0);  // a band, not a pan
        QCOMPARE(v->value(), v0);

        // Ctrl+drag around fc adds it; a plain click on the background clears.
        view.centerOn(view.nodeItem(id("fc")));
        const QRect fc = boxOf("fc");
        QTest::mousePress(view.viewport(), Qt::LeftButton, Qt::ControlModifier,
                          fc.topLeft() - QPoint(6, 6));
        QTest::mouseMove(view.viewport(), fc.bottomRight() + QPoint(6, 6));
        QTest::mouseRelease(view.viewport(), Qt::LeftButton, Qt::ControlModifier,
                            fc.bottomRight() + QPoint(6, 6));
        QCOMPARE(view.selectionModel()->size(), std::size_t{3});
        QVERIFY(view.selectionModel()->contains(id("fc")));
        QTest::mouseClick(view.viewport(), Qt::LeftButton, {}, fc.topLeft() - QPoint(6, 6));
        QVERIFY(view.selectionModel()->isEmpty());
    }

    /// Middle drag and Space+left drag move the view and select nothing.
    void middleDragAndSpaceDragPan() {
        GraphView view;
        show(view);
        view.setZoom(2.0);
        view.centerOn(view.nodeItem(id("add")));
        QScrollBar* h = view.horizontalScrollBar();
        QScrollBar* v = view.verticalScrollBar();
        QVERIFY2(v->maximum() > 0, "the graph must be taller than the view at zoom 2");
        const QPoint start = view.viewport()->rect().center();
        int v0 = v->value();
        const int h0 = h->value();
        QTest::mousePress(view.viewport(), Qt::MiddleButton, {}, start);
        QTest::mouseMove(view.viewport(), start + QPoint(0, 40));
        QTest::mouseMove(view.viewport(), start + QPoint(0, 80));
        QTest::mouseRelease(view.viewport(), Qt::MiddleButton, {}, start + QPoint(0, 80));
        QCOMPARE(v->value(), v0 - 80);  // the content follows the mouse down
        QCOMPARE(h->value(), h0);
        QVERIFY(view.selectionModel()->isEmpty());

        // Space held: a left drag pans too, even starting on a node.
        v0 = v->value();
        const QPoint onNode = centerOf(view, id("add"));
        QTest::keyPress(&view, Qt::Key_Space);
        QTest::mousePress(view.viewport(), Qt::LeftButton, {}, onNode);
        QTest::mouseMove(view.viewport(), onNode - QPoint(0, 50));
        QTest::mouseRelease(view.viewport(), Qt::LeftButton, {}, onNode - QPoint(0, 50));
        QTest::keyRelease(&view, Qt::Key_Space);
        QCOMPARE(v->value(), v0 + 50);
        QVERIFY(view.selectionModel()->isEmpty());

        // Space released: a left drag draws a band again (and does not pan).
        v0 = v->value();
        const QPoint corner = view.viewport()->rect().topLeft() + QPoint(3, 3);
        QTest::mousePress(view.viewport(), Qt::LeftButton, {}, corner);
        QTest::mouseMove(view.viewport(), corner + QPoint(5, 60));
        QTest::mouseRelease(view.viewport(), Qt::LeftButton, {}, corner + QPoint(5, 60));
        QCOMPARE(v->value(), v0);
    }

    void selectAllOfTypeAndPattern() {
        GraphView view;
        show(view);
        QCOMPARE(view.selectAllOfType(QStringLiteral("Conv")), 2);
        QCOMPARE(view.selectionModel()->sortedIds(),
                 (std::vector<ir::NodeId>{id("conv1"), id("conv2")}));
        QCOMPARE(view.selectPattern({"Conv", "Relu"}), 1);
        QCOMPARE(view.selectionModel()->sortedIds(),
                 (std::vector<ir::NodeId>{id("conv1"), id("relu1")}));

        // The same through the context menu.
        view.selectionModel()->clear();
        std::unique_ptr<QMenu> menu(view.createNodeMenu(id("conv2")));
        auto* all = menu->findChild<QAction*>(QStringLiteral("selectAllOfType"));
        QVERIFY(all);
        QVERIFY(all->text().contains(QStringLiteral("Conv")));
        all->trigger();
        QCOMPARE(view.selectionModel()->size(), std::size_t{2});
        auto* patterns = menu->findChild<QMenu*>(QStringLiteral("selectPatternMenu"));
        QVERIFY(patterns);
        QAction* convRelu = nullptr;
        for (QAction* a : patterns->actions())
            if (a->data().toString() == QStringLiteral("Conv → Relu")) convRelu = a;
        QVERIFY(convRelu);
        QVERIFY(convRelu->isEnabled());
        convRelu->trigger();
        QCOMPARE(view.selectionModel()->size(), std::size_t{2});
        QVERIFY(view.selectionModel()->contains(id("relu1")));
    }

    void externalSelectionModel() {
        SelectionModel shared;
        GraphView view;
        view.setSelectionModel(&shared);
        show(view);
        shared.setSelection({id("gap"), id("fc")}, id("fc"));
        QVERIFY(view.nodeItem(id("gap"))->isSelected());
        QCOMPARE(view.selectedNode().value_or(0), id("fc"));
        view.scene()->clearSelection();
        QVERIFY(shared.isEmpty());
    }

    void exportWritesPngAndSvg() {
        GraphView view;
        show(view);
        view.fitToView();
        QTemporaryDir dir;
        const QString png = dir.filePath(QStringLiteral("view.png"));
        const QString svg = dir.filePath(QStringLiteral("view.svg"));
        QString error;
        const auto visible = GraphView::ExportScope::kVisibleArea;
        QVERIFY2(view.exportView(png, visible, &error), qPrintable(error));
        QVERIFY2(view.exportView(svg, visible, &error), qPrintable(error));
        QVERIFY(QFileInfo(png).size() > 1000);
        QVERIFY(QFileInfo(svg).size() > 1000);
        QImage image(png);
        QCOMPARE(image.size(), view.viewport()->size());
        QFile file(svg);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QByteArray text = file.readAll();
        QVERIFY(text.contains("<svg"));
        QVERIFY(text.contains("Conv"));  // node text is drawn as text
        QVERIFY(!view.exportView(QStringLiteral("/nonexistent-dir/x.png"), visible, &error));
        QVERIFY(!error.isEmpty());
    }

    void shapesOnWiresAndTerminals() {
        GraphView view;
        show(view);
        int conv1Labels = 0;
        for (QGraphicsItem* item : view.scene()->items())
            if (auto* wire = qgraphicsitem_cast<WireItem*>(item);
                wire && wire->from() == id("conv1"))
                for (const auto& label : wire->labels())
                    conv1Labels += label.text == QStringLiteral("1×8×32×32");
        QCOMPARE(conv1Labels, 1);
        QStringList terminals;
        for (QGraphicsItem* item : view.scene()->items())
            if (auto* t = qgraphicsitem_cast<TerminalItem*>(item)) terminals << t->valueName();
        terminals.sort();
        QCOMPARE(terminals, (QStringList{QStringLiteral("x"), QStringLiteral("y")}));
    }

    void subgraphExpandCollapse() {
        const QString path = testdataModel("node/test_if/model.onnx");
        if (path.isEmpty()) QSKIP("libonnx-testdata is not installed");
        auto model = onnx::loadModel(path.toStdString());
        QVERIFY(model.has_value());
        auto shared = std::make_shared<ir::Model>(std::move(*model));
        const ir::Node* ifNode = nullptr;
        for (const ir::Node* n : shared->graph->nodes())
            if (n->opType == "If") ifNode = n;
        QVERIFY(ifNode);
        GraphView view;
        view.resize(900, 700);
        view.setGraph(std::shared_ptr<const ir::Graph>(shared, shared->graph.get()),
                      layout::layoutGraph(*shared->graph, view.layoutOptions()));
        const int collapsed = static_cast<int>(view.scene()->items().size());
        const QRectF before = view.nodeItem(ifNode->id())->sceneBoundingRect();
        QVERIFY(view.nodeItem(ifNode->id())->hasSubgraphs());
        QVERIFY(view.toggleSubgraphs(ifNode->id()));
        QVERIFY(view.isExpanded(ifNode));
        const int expanded = static_cast<int>(view.scene()->items().size());
        QVERIFY2(expanded > collapsed,
                 qPrintable(QStringLiteral("%1 -> %2").arg(collapsed).arg(expanded)));
        NodeItem* item = view.nodeItem(ifNode->id());
        QVERIFY(item->isExpanded());
        QVERIFY(item->sceneBoundingRect().height() > before.height() * 2);
        int nested = 0;
        for (QGraphicsItem* child : item->childItems())
            if (auto* n = qgraphicsitem_cast<NodeItem*>(child); n && n->isNested()) ++nested;
        QVERIFY(nested >= 2);  // then_branch and else_branch hold a node each
        QVERIFY(view.toggleSubgraphs(ifNode->id()));
        QVERIFY(!view.isExpanded(ifNode));
        QCOMPARE(static_cast<int>(view.scene()->items().size()), collapsed);
        QVERIFY(!view.toggleSubgraphs(
            shared->graph->firstNode() == ifNode ? 0 : shared->graph->firstNode()->id()));
    }

    void bigGraphsExpandOffTheGuiThread() {
        // test_if's If node followed by a 3,000-node Relu chain: past the eager size, the
        // relayout of an expansion runs on a pool thread and lands with layoutChanged.
        const QString path = testdataModel("node/test_if/model.onnx");
        if (path.isEmpty()) QSKIP("libonnx-testdata is not installed");
        auto model = onnx::loadModel(path.toStdString());
        QVERIFY(model.has_value());
        ir::Graph& g = *model->graph;
        const ir::Node* ifNode = nullptr;
        for (const ir::Node* n : g.nodes())
            if (n->opType == "If") ifNode = n;
        QVERIFY(ifNode);
        ir::Value* x = g.outputs().front();
        for (int i = 0; i < 3000; ++i) {
            ir::Value* y = *g.addValue("chain_" + std::to_string(i));
            g.addNode("Relu", std::vector<ir::Value*>{x}, std::vector<ir::Value*>{y});
            x = y;
        }
        g.insertGraphOutput(x);
        auto shared = std::make_shared<ir::Model>(std::move(*model));
        GraphView view;
        show(view);
        view.setGraph(std::shared_ptr<const ir::Graph>(shared, shared->graph.get()),
                      layout::layoutGraph(*shared->graph, view.layoutOptions()));
        const double heightBefore = view.currentLayout()->height;
        QSignalSpy changed(&view, &GraphView::layoutChanged);
        QVERIFY(view.toggleSubgraphs(ifNode->id()));
        QVERIFY(view.isExpanded(ifNode));
        QCOMPARE(changed.count(), 0);  // not on the GUI thread
        QVERIFY(changed.wait(30'000));
        QVERIFY(view.currentLayout()->height > heightBefore);
        NodeItem* item = view.nodeItem(ifNode->id());
        QVERIFY(item && item->isExpanded());
        // Collapse, and a second toggle before the first lands: only the newest is installed.
        QVERIFY(view.toggleSubgraphs(ifNode->id()));
        QVERIFY(view.toggleSubgraphs(ifNode->id()));
        QVERIFY(changed.wait(30'000));
        QTest::qWait(200);
        QCOMPARE(changed.count(), 2);
        QVERIFY(view.nodeItem(ifNode->id())->isExpanded());
    }

    void minimapShowsAndMovesTheView() {
        GraphView view;
        show(view);
        view.setZoom(2.0);
        GraphMinimap* minimap = view.minimap();
        QVERIFY(minimap);
        QVERIFY(minimap->isVisible());
        QVERIFY(minimap->width() > 0 && minimap->height() > 0);
        QVERIFY(view.rect().contains(minimap->geometry()));
        // Clicking in the minimap moves the view there.
        const QPoint at(minimap->width() / 2, minimap->height() * 6 / 10);
        QTest::mouseClick(minimap, Qt::LeftButton, {}, at);
        const QPointF wanted = minimap->toScene(at);
        const QPointF centre = view.mapToScene(view.viewport()->rect().center());
        QVERIFY2(std::abs(centre.y() - wanted.y()) < 40,
                 qPrintable(QStringLiteral("%1 vs %2").arg(centre.y()).arg(wanted.y())));
    }

    void largeGraphBuildsItemsLazily() {
        // A 3,001-node chain: above the eager limit.
        auto model = std::make_shared<ir::Model>();
        model->graph = std::make_unique<ir::Graph>();
        ir::Graph& g = *model->graph;
        ir::Value* x = *g.addValue("x");
        g.insertGraphInput(x);
        for (int i = 0; i < 3001; ++i) {
            ir::Value* y = *g.addValue("t" + std::to_string(i));
            ir::Node* n = g.addNode(i % 2 ? "Relu" : "Conv", std::vector<ir::Value*>{x},
                                    std::vector<ir::Value*>{y});
            n->name = "n" + std::to_string(i);
            x = y;
        }
        g.insertGraphOutput(x);
        GraphView view;
        view.resize(900, 700);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.setGraph(std::shared_ptr<const ir::Graph>(model, model->graph.get()),
                      layout::layoutGraph(g, view.layoutOptions()));
        QVERIFY(view.isLazy());
        view.fitToView();
        view.viewport()->repaint();
        QCOMPARE(view.nodeItemCount(), std::size_t{0});  // overview only
        view.setZoom(1.0);
        view.viewport()->repaint();
        QVERIFY(view.nodeItemCount() > 0);
        QVERIFY(view.nodeItemCount() < 200);
        // Search and selection reach nodes that have no item yet.
        QCOMPARE(view.search(QStringLiteral("n2999")), 1);
        view.viewport()->repaint();
        QVERIFY(view.nodeItem(view.selectedNode().value_or(0)));
        QVERIFY(view.nodeItem(view.selectedNode().value_or(0))->isSelected());
    }
};

}  // namespace

std::unique_ptr<QObject> makeGraphViewFeaturesTest() {
    return std::make_unique<GraphViewFeaturesTest>();
}

}  // namespace wh::widgets::test

#include "graph_view_features_test.moc"
