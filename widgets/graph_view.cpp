#include "widgets/graph_view.h"

#include <algorithm>
#include <cmath>

#include <QFontMetricsF>
#include <QGraphicsScene>
#include <QGraphicsSimpleTextItem>
#include <QScrollBar>
#include <QWheelEvent>

#include "widgets/op_metadata.h"

namespace wh::widgets {

namespace {
constexpr double kMinZoom = 0.01;
constexpr double kMaxZoom = 8.0;
constexpr double kSceneMargin = 40.0;
/// The smallest scale at which the initial view still shows readable labels.
constexpr double kReadableZoom = 0.7;
}  // namespace

GraphView::GraphView(QWidget* parent) : QGraphicsView(parent), m_scene(new QGraphicsScene(this)) {
    setScene(m_scene);
    setRenderHints(QPainter::Antialiasing | QPainter::TextAntialiasing |
                   QPainter::SmoothPixmapTransform);
    setDragMode(QGraphicsView::ScrollHandDrag);
    setTransformationAnchor(QGraphicsView::AnchorUnderMouse);
    setResizeAnchor(QGraphicsView::AnchorViewCenter);
    setViewportUpdateMode(QGraphicsView::SmartViewportUpdate);
    setBackgroundBrush(QColor(0xf6, 0xf7, 0xf9));
    setFrameShape(QFrame::NoFrame);
    // Drops (a .onnx file) go to the main window, not to the scene.
    setAcceptDrops(false);
    viewport()->setAcceptDrops(false);

    m_style.opFont = font();
    m_style.opFont.setPointSizeF(9.0);
    m_style.opFont.setBold(true);
    m_style.nameFont = font();
    m_style.nameFont.setPointSizeF(7.5);

    connect(m_scene, &QGraphicsScene::selectionChanged, this, &GraphView::onSceneSelectionChanged);
    clear();
}

GraphView::~GraphView() {
    // Items reference m_style; delete them before the members go.
    disconnect(m_scene, nullptr, this, nullptr);
    m_scene->clear();
}

layout::LayoutOptions GraphView::layoutOptions() const {
    layout::LayoutOptions options;
    QFontMetricsF op(m_style.opFont);
    QFontMetricsF name(m_style.nameFont);
    // Box width estimate: the wider of the bold op type and the smaller name, per character.
    options.charWidth = std::max(op.averageCharWidth(), name.averageCharWidth() * 1.05);
    options.nodeHeight = std::max(36.0, std::ceil(op.height() + name.height() + 10));
    options.textPadding = 16;
    return options;
}

void GraphView::clear(const QString& message) {
    m_highlighted.clear();
    m_nodeItems.clear();
    m_wireByProducer.clear();
    m_producersOf.clear();
    m_scene->clear();
    m_message = nullptr;
    m_graph.reset();
    resetTransform();
    if (!message.isEmpty()) {
        m_message = m_scene->addSimpleText(message);
        QFont f = font();
        f.setPointSizeF(12);
        m_message->setFont(f);
        m_message->setBrush(QColor(0x6a, 0x73, 0x7d));
        QRectF r = m_message->boundingRect();
        m_message->setPos(-r.width() / 2, -r.height() / 2);
    }
    m_scene->setSceneRect(m_scene->itemsBoundingRect().adjusted(-10, -10, 10, 10));
    centerOn(0, 0);
}

void GraphView::setGraph(std::shared_ptr<const ir::Graph> graph, const layout::Layout& layout) {
    clear();
    m_graph = std::move(graph);
    if (!m_graph) return;
    if (layout.nodes.empty()) {
        clear(tr("The graph has no nodes."));
        return;
    }
    const OpMetadata& meta = OpMetadata::instance();

    // Wires first (z below boxes anyway), grouped by producer.
    std::unordered_map<ir::NodeId, std::vector<const layout::EdgePath*>> byProducer;
    for (const layout::EdgePath& e : layout.edges) {
        byProducer[e.from].push_back(&e);
        m_producersOf[e.to].push_back(e.from);
    }
    for (const auto& [from, edges] : byProducer) {
        auto* wire = new WireItem(from, layout, edges);
        m_scene->addItem(wire);
        m_wireByProducer.emplace(from, wire);
    }

    std::size_t index = 0;
    m_nodeItems.reserve(layout.nodes.size());
    for (const ir::Node* node : m_graph->nodes()) {
        if (index >= layout.nodes.size()) break;
        const layout::NodeBox& box = layout.nodes[index++];
        if (box.id != node->id()) continue;  // layout of another graph: skip rather than lie
        QString opType = QString::fromStdString(node->opType);
        auto* item = new NodeItem(*node, box, meta.categoryOf(opType), &m_style);
        m_scene->addItem(item);
        m_nodeItems.emplace(node->id(), item);
    }

    // The main column: the deepest node lies on the longest path, which layoutGraph keeps
    // straight, so its centre is the column the initial view follows.
    const layout::NodeBox* deepest = &layout.nodes.front();
    for (const layout::NodeBox& b : layout.nodes)
        if (b.layer > deepest->layer) deepest = &b;
    m_mainColumnX = deepest->centerX();

    m_scene->setSceneRect(QRectF(0, 0, layout.width, layout.height)
                              .adjusted(-kSceneMargin, -kSceneMargin, kSceneMargin, kSceneMargin));
}

NodeItem* GraphView::nodeItem(ir::NodeId id) const {
    auto it = m_nodeItems.find(id);
    return it == m_nodeItems.end() ? nullptr : it->second;
}

void GraphView::selectNode(ir::NodeId id, bool center) {
    NodeItem* item = nodeItem(id);
    if (!item) return;
    {
        const QSignalBlocker block(m_scene);
        m_scene->clearSelection();
    }
    item->setSelected(true);  // emits selectionChanged -> nodeSelected
    if (center) centerOn(item);
}

std::optional<ir::NodeId> GraphView::selectedNode() const {
    for (QGraphicsItem* item : m_scene->selectedItems())
        if (auto* node = qgraphicsitem_cast<NodeItem*>(item)) return node->nodeId();
    return std::nullopt;
}

double GraphView::zoom() const {
    return transform().m11();
}

void GraphView::fitToView() {
    QRectF rect = m_scene->sceneRect();
    if (rect.isEmpty()) return;
    fitInView(rect, Qt::KeepAspectRatio);
    if (zoom() > 1.0) setZoom(1.0);
    centerOn(rect.center());
}

void GraphView::showInitialView() {
    QRectF rect = m_scene->sceneRect();
    if (rect.isEmpty()) return;
    double sx = viewport()->width() / rect.width();
    double sy = viewport()->height() / rect.height();
    double fit = std::min(sx, sy);
    if (fit >= kReadableZoom || m_nodeItems.empty()) {
        fitToView();
        return;
    }
    // Too big to fit readably: fit the width if that is readable, else a readable scale, and
    // start at the top (where the inputs are), centred on the main chain.
    double scale = std::clamp(sx, kReadableZoom, 1.0);
    resetTransform();
    QGraphicsView::scale(scale, scale);
    double halfHeight = viewport()->height() / scale / 2;
    double x = sx >= kReadableZoom ? rect.center().x() : m_mainColumnX;
    centerOn(x, rect.top() + halfHeight);
}

void GraphView::zoomIn() {
    scaleBy(1.25);
}
void GraphView::zoomOut() {
    scaleBy(1 / 1.25);
}

void GraphView::setZoom(double z) {
    z = std::clamp(z, kMinZoom, kMaxZoom);
    QPointF center = mapToScene(viewport()->rect().center());
    resetTransform();
    QGraphicsView::scale(z, z);
    centerOn(center);
}

void GraphView::scaleBy(double factor) {
    double target = std::clamp(zoom() * factor, kMinZoom, kMaxZoom);
    factor = target / zoom();
    QGraphicsView::scale(factor, factor);
}

void GraphView::wheelEvent(QWheelEvent* event) {
    const double degrees = event->angleDelta().y() / 8.0;
    if (degrees == 0) {
        QGraphicsView::wheelEvent(event);
        return;
    }
    // 15 degrees (one notch) zooms by 15 %; AnchorUnderMouse keeps the point under the cursor.
    scaleBy(std::pow(1.15, degrees / 15.0));
    event->accept();
}

void GraphView::onSceneSelectionChanged() {
    std::optional<ir::NodeId> id = selectedNode();
    highlightWiresOf(id);
    if (id)
        emit nodeSelected(*id);
    else
        emit selectionCleared();
}

void GraphView::highlightWiresOf(std::optional<ir::NodeId> id) {
    for (WireItem* wire : m_highlighted) wire->setHighlighted(false);
    m_highlighted.clear();
    if (!id) return;
    auto add = [this](ir::NodeId producer) {
        auto it = m_wireByProducer.find(producer);
        if (it == m_wireByProducer.end()) return;
        it->second->setHighlighted(true);
        m_highlighted.push_back(it->second);
    };
    add(*id);
    auto it = m_producersOf.find(*id);
    if (it != m_producersOf.end())
        for (ir::NodeId producer : it->second) add(producer);
}

}  // namespace wh::widgets
