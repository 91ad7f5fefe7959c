// GraphView and the studio with If/Loop bodies and other findings of issue 14: nodes inside an
// expanded body are clicked, selected, found and inspected (ids unique across subgraphs); values
// read only inside bodies are edges into the If; expanded bodies draw readably zoomed out and
// stay in sight; the status bar counts drawn nodes and shows the zoom; Ctrl+9 fits the width of
// a tall graph; Identities forwarding an initializer fold into their consumer.
//
// tests/data/silero_like.onnx comes from tests/tools/make_silero_view_model.py (Silero VAD's shape).
#include <unordered_set>

#include <QGraphicsScene>
#include <QPainter>
#include <QRegularExpression>
#include <QTreeWidget>
#include <QLabel>
#include <QSignalSpy>
#include <QTest>

#include "core/layout/graph_layout.h"
#include "core/onnx/model_io.h"
#include "tests/widgets/widgets_test.h"
#include "widgets/graph_view.h"
#include "widgets/main_window.h"
#include "widgets/node_inspector.h"
#include "widgets/selection_model.h"

namespace wh::widgets::test {
namespace {

const QString kSilero = QStringLiteral(WHITTLE_SOURCE_DIR "/tests/data/silero_like.onnx");
constexpr int kTimeoutMs = 30'000;

/// Every node of `graph` and its subgraphs.
std::vector<const ir::Node*> allNodes(const ir::Graph& graph) {
    std::vector<const ir::Node*> out;
    std::vector<const ir::Graph*> graphs{&graph};
    for (std::size_t i = 0; i < graphs.size(); ++i)
        for (const ir::Node* n : graphs[i]->nodes()) {
            out.push_back(n);
            for (const ir::Graph* sub : n->subgraphs()) graphs.push_back(sub);
        }
    return out;
}

const ir::Node* named(const ir::Graph& graph, const std::string& name) {
    for (const ir::Node* n : allNodes(graph))
        if (n->name == name) return n;
    return nullptr;
}

class GraphViewSubgraphTest : public QObject {
    Q_OBJECT

private:
    std::shared_ptr<ir::Model> m_model;

    std::shared_ptr<const ir::Graph> graph() const {
        return std::shared_ptr<const ir::Graph>(m_model, m_model->graph.get());
    }
    const ir::Node* node(const char* name) const { return named(*m_model->graph, name); }
    void show(GraphView& view) {
        view.resize(1200, 900);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.setGraph(graph(), layout::layoutGraph(*m_model->graph, view.layoutOptions()));
    }
    QPoint viewPointOf(GraphView& view, ir::NodeId id) {
        return view.mapFromScene(view.nodeSceneRect(id).center());
    }

private slots:
    void init() {
        auto model = onnx::loadModel(kSilero.toStdString());
        QVERIFY2(model.has_value(), model ? "" : model.error().message().c_str());
        m_model = std::make_shared<ir::Model>(std::move(*model));
    }

    void nodeIdsAreUniqueAcrossSubgraphs() {
        // The importer numbers subgraph nodes from the model's counter: an inner Conv never
        // shares its id with a top-level node (it did: both counted from 1).
        std::unordered_set<ir::NodeId> ids;
        for (const ir::Node* n : allNodes(*m_model->graph))
            QVERIFY2(ids.insert(n->id()).second,
                     qPrintable(QStringLiteral("id %1 twice (%2)")
                                    .arg(n->id())
                                    .arg(QString::fromStdString(n->name))));
        QVERIFY(ids.size() > 30);
        // A node added later to a body still gets a fresh id, and a clone keeps them all.
        ir::Graph* body = node("if_16k")->subgraphs().front();
        ir::Value* extra = *body->addValue("extra");
        ir::Node* added = body->addNode("Relu", std::vector<ir::Value*>{body->findValue("b16_r1")},
                                        std::vector<ir::Value*>{extra});
        QVERIFY(ids.insert(added->id()).second);
        QVERIFY(m_model->graph->nextNodeId() > added->id());
        auto clone = m_model->graph->clone();
        QCOMPARE(named(*clone, "b16_conv1")->id(), node("b16_conv1")->id());
    }

    void capturedInputsAreEdgesIntoTheIf() {
        const ir::Node* ifNode = node("if_16k");
        const auto implicit = layout::implicitInputs(*ifNode);
        QStringList names;
        for (const ir::Value* v : implicit) names << QString::fromStdString(v->name());
        names.sort();
        // `sr` is read by the nested If's condition in the else branch; input and state by all.
        QCOMPARE(names, (QStringList{QStringLiteral("input"), QStringLiteral("sr"),
                                     QStringLiteral("state")}));
        GraphView view;
        show(view);
        const layout::Layout& l = *view.currentLayout();
        QStringList terminals;
        for (const layout::Terminal& t : l.terminals)
            if (t.isInput) terminals << QString::fromStdString(t.value);
        terminals.sort();
        QCOMPARE(terminals, (QStringList{QStringLiteral("input"), QStringLiteral("sr"),
                                         QStringLiteral("state")}));
        int intoIf = 0;
        for (const layout::EdgePath& e : l.edges)
            if (e.to == ifNode->id() && e.fromTerminal >= 0) {
                const std::string& value = l.terminals[std::size_t(e.fromTerminal)].value;
                if (value == "input" || value == "state") {
                    QVERIFY(e.toInput >= ifNode->numInputs());
                    ++intoIf;
                }
            }
        QCOMPARE(intoIf, 2);
        // The shape labels of those wires name the captured values' shapes.
        QStringList labels;
        for (QGraphicsItem* item : view.scene()->items())
            if (auto* wire = qgraphicsitem_cast<WireItem*>(item))
                for (const WireItem::Label& label : wire->labels()) labels << label.text;
        QVERIFY2(labels.contains(QStringLiteral("2×1×16")), qPrintable(labels.join(", ")));
    }

    void identityForwardingAnInitializerIsFolded() {
        const layout::Layout l = layout::layoutGraph(*m_model->graph, GraphView().layoutOptions());
        const ir::NodeId identity = node("bias_identity")->id();
        QVERIFY(!l.find(identity));
        QVERIFY(std::find(l.folded.begin(), l.folded.end(), identity) != l.folded.end());
        // An Identity of a computed value stays a box.
        QVERIFY(l.find(node("state_out")->id()));
    }

    void innerNodesAreClickedSearchedAndSelected() {
        GraphView view;
        show(view);
        QCOMPARE(view.search(QStringLiteral("Conv")), 0);  // collapsed: nothing drawn
        const ir::Node* ifNode = node("if_16k");
        QVERIFY(view.toggleSubgraphs(ifNode->id()));
        QCOMPARE(view.search(QStringLiteral("Conv")), 2);  // b16_conv1, b16_conv2
        const ir::NodeId conv1 = node("b16_conv1")->id();
        QCOMPARE(view.searchMatches().front(), conv1);  // top to bottom
        QCOMPARE(view.selectionModel()->current().value_or(0), conv1);
        QVERIFY(view.nodeItem(conv1)->isSearchHit());
        view.search(QString());
        view.setZoom(1.0);
        // A click on the inner Conv selects it, not the If around it.
        const ir::NodeId conv2 = node("b16_conv2")->id();
        view.selectNode(conv2, true);
        view.selectionModel()->clear();
        QTest::mouseClick(view.viewport(), Qt::LeftButton, {}, viewPointOf(view, conv2));
        QCOMPARE(view.selectionModel()->current().value_or(0), conv2);
        QVERIFY(view.nodeItem(conv2)->isSelected());
        QVERIFY(!view.nodeItem(ifNode->id())->isSelected());
        QCOMPARE(view.drawnNode(conv2), node("b16_conv2"));
        // Nested two deep: expand the If in the else branch, its Convs are found too.
        QVERIFY(view.toggleSubgraphs(node("if_8k")));
        QCOMPARE(view.search(QStringLiteral("Conv")), 6);
        QVERIFY(view.drawnNode(node("a8_conv1")->id()));
        // Ctrl+click adds an inner node to the selection.
        view.setZoom(1.0);
        view.selectNode(node("a8_relu1")->id(), true);
        QTest::mouseClick(view.viewport(), Qt::LeftButton, Qt::ControlModifier,
                          viewPointOf(view, node("a8_relu2")->id()));
        QCOMPARE(view.selectionModel()->size(), std::size_t(2));
    }

    void badgeExpandsOnASingleClick() {
        GraphView view;
        show(view);
        view.setZoom(1.0);
        const ir::Node* ifNode = node("if_16k");
        view.selectNode(ifNode->id(), true);
        NodeItem* item = view.nodeItem(ifNode->id());
        QPoint badge = view.mapFromScene(item->mapToScene(item->badgeRect().center()));
        QTest::mouseClick(view.viewport(), Qt::LeftButton, {}, badge);
        QVERIFY(view.isExpanded(ifNode));
        item = view.nodeItem(ifNode->id());
        badge = view.mapFromScene(item->mapToScene(item->badgeRect().center()));
        QTest::mouseClick(view.viewport(), Qt::LeftButton, {}, badge);
        QVERIFY(!view.isExpanded(ifNode));
    }

    void expandedBodiesStayInSightAndDrawZoomedOut() {
        GraphView view;
        show(view);
        const ir::Node* ifNode = node("if_16k");
        const std::size_t collapsed = view.drawnNodeCount();
        view.setZoom(1.0);
        view.selectNode(ifNode->id(), true);
        QVERIFY(view.toggleSubgraphs(ifNode->id()));
        QVERIFY(view.toggleSubgraphs(node("if_8k")));
        const std::size_t inBodies = ifNode->subgraphs()[0]->numNodes() +
                                     ifNode->subgraphs()[1]->numNodes() +
                                     node("if_8k")->subgraphs()[0]->numNodes() +
                                     node("if_8k")->subgraphs()[1]->numNodes();
        QCOMPARE(view.drawnNodeCount(), collapsed + inBodies);
        const QRectF visible = view.mapToScene(view.viewport()->rect()).boundingRect();
        const QRectF box = view.nodeSceneRect(ifNode->id());
        QVERIFY(visible.intersects(box));
        QVERIFY(visible.contains(box.topLeft()) || visible.contains(box));
        // Zoomed out below the detail level: the body's panels are light, not one solid block.
        view.setZoom(0.2);
        view.centerOn(box.center());
        QImage shot(view.viewport()->size(), QImage::Format_ARGB32);
        shot.fill(Qt::white);
        {
            QPainter painter(&shot);
            view.render(&painter, QRectF(QPointF(0, 0), view.viewport()->size()),
                        view.viewport()->rect());
        }
        // A point in the first panel's caption strip (no nested box there).
        const QPointF inPanel = box.topLeft() + QPointF(20, 34 + 6);
        const QColor c = shot.pixelColor(view.mapFromScene(inPanel));
        QVERIFY2(c.lightness() > 200, qPrintable(c.name()));
    }

    void fitWidthIsReadableOnATallGraph() {
        // A 300-node chain: fitting it all is a thin line; fitting the width is readable.
        auto model = std::make_shared<ir::Model>();
        model->graph = std::make_unique<ir::Graph>();
        ir::Graph& g = *model->graph;
        ir::Value* x = *g.addValue("x");
        g.insertGraphInput(x);
        for (int i = 0; i < 300; ++i) {
            ir::Value* y = *g.addValue("y" + std::to_string(i));
            g.addNode("Relu", std::vector<ir::Value*>{x}, std::vector<ir::Value*>{y})->name =
                "relu" + std::to_string(i);
            x = y;
        }
        g.insertGraphOutput(x);
        GraphView view;
        view.resize(1200, 800);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.setGraph(std::shared_ptr<const ir::Graph>(model, model->graph.get()),
                      layout::layoutGraph(g, view.layoutOptions()));
        QSignalSpy zoomed(&view, &GraphView::zoomChanged);
        view.fitToView();
        const double fit = view.zoom();
        QVERIFY(fit < 0.1);
        view.fitWidthAction()->trigger();
        QVERIFY2(view.zoom() >= 0.7, qPrintable(QString::number(view.zoom())));
        QVERIFY(view.zoom() <= 1.0);
        QVERIFY(zoomed.count() >= 2);
        QCOMPARE(zoomed.last().front().toDouble(), view.zoom());
        // It starts at the top: the first Relu is in sight.
        const QRectF visible = view.mapToScene(view.viewport()->rect()).boundingRect();
        QVERIFY(visible.contains(view.nodeSceneRect(g.firstNode()->id())));
        QCOMPARE(view.fitWidthAction()->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_9));
    }

    void studioInspectsInnerNodesAndCountsDrawnOnes() {
        MainWindow w(MainWindow::SettingsMode::kIgnore);
        w.resize(1400, 900);
        w.show();
        QSignalSpy ready(&w, &MainWindow::viewReady);
        w.openFile(kSilero);
        QVERIFY(ready.wait(kTimeoutMs));
        GraphView* view = w.graphView();
        QVERIFY2(w.zoomStatus().contains(QRegularExpression(QStringLiteral("^Zoom \\d+ %$"))),
                 qPrintable(w.zoomStatus()));
        view->setZoom(0.5);
        QCOMPARE(w.zoomStatus(), QStringLiteral("Zoom 50 %"));
        const QString before = w.statusSummary();
        const ir::Node* ifNode = named(*view->graph(), "if_16k");
        QVERIFY(view->toggleSubgraphs(ifNode));
        const QString after = w.statusSummary();
        QVERIFY2(after != before &&
                     after.contains(QStringLiteral("(%1 drawn)").arg(view->drawnNodeCount())),
                 qPrintable(before + " → " + after));
        // Selecting an inner LSTM shows it in the inspector, with where it lives.
        const ir::Node* lstm = named(*view->graph(), "b16_lstm");
        view->selectNode(lstm->id(), true);
        QCOMPARE(w.nodeInspector()->shownNode().value_or(0), lstm->id());
        auto* tree = w.nodeInspector()->findChild<QTreeWidget*>();
        QVERIFY(tree);
        QStringList texts;
        for (QTreeWidgetItem* item : tree->findItems(QStringLiteral("*"),
                                                     Qt::MatchWildcard | Qt::MatchRecursive))
            texts << item->text(0) + QStringLiteral(" = ") + item->text(1);
        const QString all = texts.join(QLatin1Char('\n'));
        QVERIFY2(all.contains(QStringLiteral("Op type = LSTM")), qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("then_branch of if_16k")), qPrintable(all));
        // The If lists what its branches read from the graph as implicit inputs.
        view->selectNode(ifNode->id(), true);
        texts.clear();
        for (QTreeWidgetItem* item : tree->findItems(QStringLiteral("*"),
                                                     Qt::MatchWildcard | Qt::MatchRecursive))
            texts << item->text(0);
        QVERIFY2(texts.contains(QStringLiteral("Implicit inputs (read by its subgraphs)")) &&
                     texts.contains(QStringLiteral("state")),
                 qPrintable(texts.join(", ")));
        // The Add's bias comes through a folded Identity: its row names the initializer.
        view->selectNode(named(*view->graph(), "add_bias")->id(), true);
        texts.clear();
        for (QTreeWidgetItem* item : tree->findItems(QStringLiteral("*"),
                                                     Qt::MatchWildcard | Qt::MatchRecursive))
            texts << item->text(1);
        QVERIFY2(texts.filter(QStringLiteral("initializer out.bias via Identity")).size() == 1,
                 qPrintable(texts.join("\n")));
    }
};

}  // namespace

std::unique_ptr<QObject> makeGraphViewSubgraphTest() {
    return std::make_unique<GraphViewSubgraphTest>();
}

}  // namespace wh::widgets::test

#include "graph_view_subgraph_test.moc"
