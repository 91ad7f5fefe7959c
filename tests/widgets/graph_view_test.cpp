#include <QFontMetricsF>
#include <QGraphicsScene>
#include <QSignalSpy>
#include <QTest>

#include "core/layout/graph_layout.h"
#include "tests/widgets/widgets_test.h"
#include "widgets/graph_view.h"

namespace wh::widgets::test {
namespace {

class GraphViewTest : public QObject {
    Q_OBJECT

private:
    std::shared_ptr<ir::Model> m_model;
    layout::Layout m_layout;

    std::shared_ptr<const ir::Graph> graph() const {
        return std::shared_ptr<const ir::Graph>(m_model, m_model->graph.get());
    }
    template <class T>
    static int countItems(const GraphView& view) {
        int n = 0;
        for (QGraphicsItem* item : view.scene()->items())
            if (qgraphicsitem_cast<T*>(item)) ++n;
        return n;
    }

private slots:
    void init() {
        m_model = std::make_shared<ir::Model>(makeSmallModel());
        GraphView probe;
        m_layout = layout::layoutGraph(*m_model->graph, probe.layoutOptions());
    }

    void oneItemPerNode() {
        GraphView view;
        view.setGraph(graph(), m_layout);
        const int nodes = static_cast<int>(m_model->graph->numNodes());
        QCOMPARE(static_cast<int>(view.nodeItemCount()), nodes);
        QCOMPARE(countItems<NodeItem>(view), nodes);
        // One wire per producer: conv1, relu1, conv2, add, gap, flatten, fc (to the output
        // terminal y) and the input terminal x.
        QCOMPARE(countItems<WireItem>(view), 8);
        QCOMPARE(countItems<TerminalItem>(view), 2);
        for (const ir::Node* node : m_model->graph->nodes()) {
            NodeItem* item = view.nodeItem(node->id());
            QVERIFY2(item, node->name.c_str());
            QCOMPARE(item->opType(), QString::fromStdString(node->opType));
            const layout::NodeBox* box = m_layout.find(node->id());
            QCOMPARE(item->pos(), QPointF(box->x, box->y));
        }
        QCOMPARE(view.nodeItem(m_model->graph->findValue("c1")->producer()->id())->categoryName(),
                 QStringLiteral("Layer"));
    }

    void boxesFitTheirOpType() {
        // Long op types with short names: an average character width made "ReduceMean" wider
        // than its box.
        ir::Model model;
        ir::Graph& g = *model.graph;
        ir::Value* v = *g.addValue("x");
        g.insertGraphInput(v);
        const char* ops[] = {"ReduceMean", "DequantizeLinear", "InstanceNormalization", "Add"};
        for (int i = 0; i < 4; ++i) {
            ir::Value* out = *g.addValue("v" + std::to_string(i));
            g.addNode(ops[i], std::vector<ir::Value*>{v}, std::vector<ir::Value*>{out})->name =
                std::string(1, static_cast<char>('a' + i));
            v = out;
        }
        g.insertGraphOutput(v);
        GraphView view;
        const layout::Layout layout = layout::layoutGraph(g, view.layoutOptions());
        const QFontMetricsF metrics(view.style().opFont);
        for (const ir::Node* n : g.nodes()) {
            const layout::NodeBox* box = layout.find(n->id());
            QVERIFY(box);
            const double text = metrics.horizontalAdvance(QString::fromStdString(n->opType));
            QVERIFY2(box->w >= text + 10, qPrintable(QStringLiteral("%1: box %2, text %3")
                                                         .arg(QString::fromStdString(n->opType))
                                                         .arg(box->w)
                                                         .arg(text)));
        }
    }

    void setGraphReplacesTheScene() {
        GraphView view;
        view.setGraph(graph(), m_layout);
        view.setGraph(graph(), m_layout);
        QCOMPARE(countItems<NodeItem>(view), static_cast<int>(m_model->graph->numNodes()));
        view.clear(QStringLiteral("Loading…"));
        QCOMPARE(countItems<NodeItem>(view), 0);
        QCOMPARE(view.nodeItemCount(), std::size_t{0});
    }

    void selectingEmitsTheNode() {
        GraphView view;
        view.setGraph(graph(), m_layout);
        QSignalSpy selected(&view, &GraphView::nodeSelected);
        QSignalSpy cleared(&view, &GraphView::selectionCleared);
        ir::NodeId relu = m_model->graph->findValue("r1")->producer()->id();
        view.selectNode(relu);
        QCOMPARE(selected.count(), 1);
        QCOMPARE(selected.at(0).at(0).value<ir::NodeId>(), relu);
        QCOMPARE(view.selectedNode().value_or(0), relu);
        view.scene()->clearSelection();
        QCOMPARE(cleared.count(), 1);
        QVERIFY(!view.selectedNode());
    }

    void clickSelects() {
        GraphView view;
        view.resize(800, 600);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.setGraph(graph(), m_layout);
        view.setZoom(1.0);
        NodeItem* item = view.nodeItem(m_model->graph->firstNode()->id());
        view.centerOn(item);
        QPoint at = view.mapFromScene(item->sceneBoundingRect().center());
        QSignalSpy selected(&view, &GraphView::nodeSelected);
        QTest::mouseClick(view.viewport(), Qt::LeftButton, {}, at);
        QCOMPARE(selected.count(), 1);
        QCOMPARE(selected.at(0).at(0).value<ir::NodeId>(), item->nodeId());
    }

    void zoomAndFit() {
        GraphView view;
        view.resize(400, 300);
        view.setGraph(graph(), m_layout);
        view.setZoom(2.0);
        QCOMPARE(view.zoom(), 2.0);
        view.zoomIn();
        QVERIFY(view.zoom() > 2.0);
        view.setZoom(1000);
        QCOMPARE(view.zoom(), 8.0);
        view.fitToView();
        QVERIFY(view.zoom() <= 1.0);
        QVERIFY(view.zoom() > 0.0);
    }

    void emptyGraphShowsAMessage() {
        auto model = std::make_shared<ir::Model>();
        model->graph = std::make_unique<ir::Graph>();
        GraphView view;
        view.setGraph(std::shared_ptr<const ir::Graph>(model, model->graph.get()),
                      layout::layoutGraph(*model->graph));
        QCOMPARE(view.nodeItemCount(), std::size_t{0});
        QCOMPARE(view.scene()->items().size(), 1);  // the message
    }
};

}  // namespace

std::unique_ptr<QObject> makeGraphViewTest() {
    return std::make_unique<GraphViewTest>();
}

}  // namespace wh::widgets::test

#include "graph_view_test.moc"
