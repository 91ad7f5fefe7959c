#include "widgets/graph_view.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <functional>

#include <QAction>
#include <QContextMenuEvent>
#include <QFileInfo>
#include <QFontMetricsF>
#include <QFutureWatcher>
#include <QDragEnterEvent>
#include <QGraphicsPathItem>
#include <QGraphicsScene>
#include <QMimeData>
#include <QGraphicsSimpleTextItem>
#include <QImage>
#include <QKeyEvent>
#include <QLineEdit>
#include <QMenu>
#include <QPainter>
#include <QRubberBand>
#include <QScrollBar>
#include <QSvgGenerator>
#include <QThreadPool>
#include <QWheelEvent>
#include <QtConcurrent/QtConcurrentRun>

#include "core/rewrite/chain_selector.h"
#include "widgets/background.h"
#include "widgets/format.h"
#include "widgets/graph_minimap.h"
#include "widgets/graph_search_bar.h"
#include "widgets/op_metadata.h"
#include "widgets/op_palette.h"
#include "widgets/selection_model.h"
#include "widgets/shape_table.h"

namespace wh::widgets {

namespace {
constexpr double kMinZoom = 0.01;
constexpr double kMaxZoom = 8.0;
constexpr double kSceneMargin = 40.0;
/// The smallest scale at which the initial view still shows readable labels.
constexpr double kReadableZoom = 0.7;
/// Up to this many top-level nodes every item is built up front; above, only visible ones.
constexpr std::size_t kEagerNodes = 2000;
/// Lazily built items beyond this count are dropped when they leave the view.
constexpr std::size_t kMaxLiveNodes = 6000;
constexpr int kOverlayMargin = 10;

QString toQString(const std::string& s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

/// ASCII case-insensitive substring test; `needle` is already lower case.
bool containsFolded(const std::string& hay, const std::string& needle) {
    if (needle.size() > hay.size()) return false;
    auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == b;
    });
    return it != hay.end();
}

/// Drops `p`. When it held the last reference (a whole graph, a layout, an index of 100k
/// nodes), a pool thread frees it: that takes tens of milliseconds the GUI thread must not.
template <typename T>
void releaseLater(std::shared_ptr<T> p) {
    if (!p || p.use_count() != 1) return;
    backgroundPool()->start([p = std::move(p)]() mutable { p.reset(); });
}

}  // namespace

GraphView::GraphView(QWidget* parent) : QGraphicsView(parent), m_scene(new QGraphicsScene(this)) {
    // Items come and go with the visible region; a BSP index would be rebuilt on every change,
    // and never holds more than a few thousand items here.
    m_scene->setItemIndexMethod(QGraphicsScene::NoIndex);
    setScene(m_scene);
    setRenderHints(QPainter::Antialiasing | QPainter::TextAntialiasing |
                   QPainter::SmoothPixmapTransform);
    // Node-editor conventions: a left drag on the background draws a rubber band; middle drag or
    // Space+left drag pans (done here, not by QGraphicsView's drag modes, which offer one or
    // the other for the left button only).
    setDragMode(QGraphicsView::NoDrag);
    setTransformationAnchor(QGraphicsView::AnchorUnderMouse);
    setResizeAnchor(QGraphicsView::AnchorViewCenter);
    setViewportUpdateMode(QGraphicsView::SmartViewportUpdate);
    setOptimizationFlags(QGraphicsView::DontSavePainterState);
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
    m_style.labelFont = font();
    m_style.labelFont.setPointSizeF(7.0);

    m_ownSelection = new SelectionModel(this);
    setSelectionModel(m_ownSelection);

    m_searchBar = new GraphSearchBar(this);
    connect(m_searchBar, &GraphSearchBar::searchChanged, this,
            qOverload<const QString&>(&GraphView::search));
    connect(m_searchBar, &GraphSearchBar::scopeChanged, this, [this](SearchScope scope) {
        if (scope != m_scope) search(m_searchBar->lineEdit()->text(), scope);
    });
    connect(m_searchBar, &GraphSearchBar::nextRequested, this, &GraphView::findNext);
    connect(m_searchBar, &GraphSearchBar::previousRequested, this, &GraphView::findPrevious);
    connect(m_searchBar, &GraphSearchBar::closed, this, [this] {
        // The halos go with the bar; the hits stay for F3.
        m_showHits = false;
        markSearchHits();
        setFocus();
    });
    m_minimap = new GraphMinimap(this, &m_overview);

    m_findAction = new QAction(tr("&Find…"), this);
    m_findAction->setShortcut(QKeySequence::Find);
    m_findAction->setShortcutContext(Qt::WindowShortcut);
    connect(m_findAction, &QAction::triggered, this, &GraphView::openSearch);
    addAction(m_findAction);
    // Window-wide like Ctrl+F: F3 must work with the bar closed and the focus elsewhere (in the
    // inspector, say), as in editors and browsers.
    m_findNextAction = new QAction(tr("Find &Next"), this);
    m_findNextAction->setShortcut(QKeySequence(Qt::Key_F3));
    m_findNextAction->setShortcutContext(Qt::WindowShortcut);
    connect(m_findNextAction, &QAction::triggered, this, &GraphView::findNext);
    addAction(m_findNextAction);
    m_findPreviousAction = new QAction(tr("Find Pre&vious"), this);
    m_findPreviousAction->setShortcut(QKeySequence(Qt::SHIFT | Qt::Key_F3));
    m_findPreviousAction->setShortcutContext(Qt::WindowShortcut);
    connect(m_findPreviousAction, &QAction::triggered, this, &GraphView::findPrevious);
    addAction(m_findPreviousAction);
    // Ctrl+A only while the graph has the focus: in the Issues list or the inspector it keeps
    // selecting their rows (the Edit menu entry works from anywhere).
    m_selectAllAction = new QAction(tr("Select &All"), this);
    m_selectAllAction->setShortcut(QKeySequence::SelectAll);
    m_selectAllAction->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    connect(m_selectAllAction, &QAction::triggered, this, &GraphView::selectAll);
    addAction(m_selectAllAction);
    m_fitAction = new QAction(tr("&Fit to Window"), this);
    m_fitAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_0));
    m_fitAction->setShortcutContext(Qt::WindowShortcut);
    connect(m_fitAction, &QAction::triggered, this, &GraphView::fitToView);
    addAction(m_fitAction);
    m_fitWidthAction = new QAction(tr("Fit &Width"), this);
    m_fitWidthAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_9));
    m_fitWidthAction->setShortcutContext(Qt::WindowShortcut);
    connect(m_fitWidthAction, &QAction::triggered, this, &GraphView::fitWidth);
    addAction(m_fitWidthAction);

    m_rubberBand = new QRubberBand(QRubberBand::Rectangle, viewport());

    connect(m_scene, &QGraphicsScene::selectionChanged, this, &GraphView::onSceneSelectionChanged);
    clear();
}

GraphView::~GraphView() {
    // Items reference m_style and m_overview; delete them before the members go.
    disconnect(m_scene, nullptr, this, nullptr);
    if (m_selection) disconnect(m_selection, nullptr, this, nullptr);
    m_scene->clear();
}

layout::LayoutOptions GraphView::layoutOptions() const {
    layout::LayoutOptions options;
    QFontMetricsF op(m_style.opFont);
    QFontMetricsF name(m_style.nameFont);
    // Box width: the wider of the bold op type, measured per character (an average advance
    // clipped "ReduceMean"), and the smaller name, estimated per character (it is elided to
    // fit). The table is made here: fonts are GUI-thread only, the layout may run elsewhere.
    options.charWidth = std::max(op.averageCharWidth(), name.averageCharWidth() * 1.05);
    options.nodeHeight = std::max(36.0, std::ceil(op.height() + name.height() + 10));
    options.textPadding = 16;
    std::array<double, 128> opAdvance{};
    for (int c = 0; c < 128; ++c)
        opAdvance[static_cast<std::size_t>(c)] =
            c >= 32 ? op.horizontalAdvance(QChar(c)) : op.averageCharWidth();
    const double nameChar = name.averageCharWidth() * 1.05, padding = options.textPadding;
    const double badge = quantizedBadgeWidth(m_style.nameFont, QStringLiteral("int16")) + 2;
    options.nodeWidth = [opAdvance, nameChar, padding, badge,
                         fallback = op.maxWidth()](const ir::Node& node) {
        double opWidth = 0;
        for (unsigned char c : node.opType) opWidth += c < 128 ? opAdvance[c] : fallback;
        // Room for the quantized-input pill before the op type.
        if (!quantizedInputBadge(node).isEmpty()) opWidth += badge;
        return std::max(opWidth, static_cast<double>(node.name.size()) * nameChar) + padding;
    };
    options.graphTerminals = true;
    options.terminalHeight = std::ceil(name.height() + 10);
    options.foldConstants = true;
    options.collapseQuantizers = true;
    return options;
}

void GraphView::setSelectionModel(SelectionModel* model) {
    if (m_selection) disconnect(m_selection, nullptr, this, nullptr);
    m_selection = model ? model : m_ownSelection;
    connect(m_selection, &SelectionModel::changed, this, &GraphView::onSelectionChanged);
    m_lastEmitted.reset();
    onSelectionChanged();
}

// ---- Scene construction --------------------------------------------------------------------

void GraphView::resetScene() {
    // A connection being dragged refers to the old scene's items and graph: it ends.
    if (m_portDrag) {
        m_portDrag.reset();
        viewport()->unsetCursor();
    }
    m_dragLine = nullptr;  // the scene deletes it
    m_highlighted.clear();
    m_nodeItems.clear();
    m_nestedItems.clear();
    m_terminalItems.clear();
    m_wireItems.clear();
    m_overviewItem = nullptr;
    m_message = nullptr;
    m_scene->clear();
    // The old index of a big graph takes tens of milliseconds to free: a worker does it.
    auto old = std::make_shared<SceneIndex>();
    old->overview = std::move(m_overview);
    old->wireEdges = std::move(m_wireEdges);
    old->wireGroupOfNode = std::move(m_wireGroupOfNode);
    old->wireGrid = std::move(m_wireGrid);
    old->producersOf = std::move(m_producersOf);
    m_overview = {};
    m_wireEdges = {};
    m_wireGroupOfNode = {};
    m_wireGrid = {};
    m_producersOf = {};
    releaseLater(std::move(old));
}

void GraphView::clear(const QString& message) {
    resetScene();
    releaseLater(std::move(m_graph));
    releaseLater(std::move(m_layout));
    m_graph.reset();
    m_layout.reset();
    m_expanded.clear();
    m_expansions.clear();
    m_retiredExpansions.clear();
    m_nested.clear();
    m_matches.clear();
    m_hitSet.clear();
    m_matchIndex = -1;
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
    if (m_minimap) m_minimap->rebuild();
}

void GraphView::setGraph(std::shared_ptr<const ir::Graph> graph, const layout::Layout& layout) {
    setGraph(std::move(graph), std::make_shared<const layout::Layout>(layout));
}

void GraphView::setGraph(std::shared_ptr<const ir::Graph> graph,
                         std::shared_ptr<const layout::Layout> layout) {
    SceneIndex index;
    if (graph && layout) index = prepareScene(*graph, std::move(layout), devicePixelRatioF());
    setGraph(std::move(graph), std::move(index));
}

void GraphView::setGraph(std::shared_ptr<const ir::Graph> graph, SceneIndex index) {
    ++m_relayoutGeneration;  // a relayout still running is of what was shown before
    const bool sameGraph = graph && graph == m_graph;
    if (!sameGraph) {
        clear();
        m_graph = std::move(graph);
    }
    releaseLater(std::move(m_layout));
    m_layout = index.layout;
    if (!m_graph || !m_layout) return;
    if (m_layout->nodes.empty()) {
        clear(tr("The graph has no nodes."));
        return;
    }
    buildScene(sameGraph, std::move(index));
}

namespace {

/// A node's fill in the overview and the minimap: its op category's colour, pale when expanded
/// (a frame around its bodies: a solid box of its size would cover them in the zoomed-out view
/// and fill most of the minimap).
QColor categoryFill(const ir::Node& node, bool expanded) {
    const QColor color = OpMetadata::instance().colorOf(toQString(node.opType));
    if (!expanded) return color;
    QColor pale = color;
    pale.setHsvF(color.hsvHueF(), color.hsvSaturationF() * 0.25, 0.97);
    return pale;
}

}  // namespace

SceneIndex GraphView::prepareScene(const ir::Graph& graph,
                                   std::shared_ptr<const layout::Layout> layoutPtr,
                                   qreal devicePixelRatio,
                                   const std::unordered_set<ir::NodeId>& expanded) {
    SceneIndex index;
    index.layout = std::move(layoutPtr);
    const layout::Layout& layout = *index.layout;
    if (layout.nodes.empty()) return index;
    index.overview.build(graph, layout, [&expanded](const ir::Node& node) {
        return categoryFill(node, expanded.count(node.id()) != 0);
    });

    // Wire groups, one per producer, indexed by the bounds of their points.
    std::unordered_map<int, int> byTerminal;
    for (const layout::EdgePath& e : layout.edges) {
        int group;
        if (e.fromTerminal >= 0) {
            auto [it, inserted] =
                byTerminal.emplace(e.fromTerminal, static_cast<int>(index.wireEdges.size()));
            if (inserted) index.wireEdges.emplace_back();
            group = it->second;
        } else {
            auto [it, inserted] =
                index.wireGroupOfNode.emplace(e.from, static_cast<int>(index.wireEdges.size()));
            if (inserted) index.wireEdges.emplace_back();
            group = it->second;
            if (e.toTerminal < 0) index.producersOf[e.to].push_back(e.from);
        }
        index.wireEdges[static_cast<std::size_t>(group)].push_back(&e);
    }
    index.wireGrid.reset(index.overview.bounds(), 320.0);
    for (std::size_t gi = 0; gi < index.wireEdges.size(); ++gi) {
        QRectF bounds;
        for (const layout::EdgePath* e : index.wireEdges[gi]) {
            for (const layout::Point& p : layout.path(*e)) {
                QRectF r(p.x, p.y, 0.1, 0.1);
                bounds = bounds.isNull() ? r : bounds.united(r);
            }
        }
        index.wireGrid.insert(static_cast<int>(gi), bounds.adjusted(-2, -2, 120, 20));
    }

    // The main column: the deepest node lies on the longest path, which layoutGraph keeps
    // straight, so its centre is the column the initial view follows.
    const layout::NodeBox* deepest = &layout.nodes.front();
    for (const layout::NodeBox& b : layout.nodes)
        if (b.layer > deepest->layer) deepest = &b;
    index.mainColumnX = deepest->centerX();
    index.minimap = GraphMinimap::render(index.overview, devicePixelRatio);
    return index;
}

void GraphView::buildScene(bool keepExpansions, SceneIndex index) {
    resetScene();
    m_retiredExpansions.clear();  // no item points into them any more
    if (!keepExpansions) {
        m_expanded.clear();
        m_expansions.clear();
    }
    const layout::Layout& layout = *m_layout;
    m_overview = std::move(index.overview);
    m_wireEdges = std::move(index.wireEdges);
    m_wireGroupOfNode = std::move(index.wireGroupOfNode);
    m_wireGrid = std::move(index.wireGrid);
    m_producersOf = std::move(index.producersOf);
    m_mainColumnX = index.mainColumnX;
    m_overviewItem = new OverviewItem(
        &m_overview, m_style.detailLod,
        [this](int i) {
            const auto& nodes = m_layout->nodes;
            return static_cast<std::size_t>(i) < nodes.size() &&
                   m_selection->contains(nodes[static_cast<std::size_t>(i)].id);
        },
        [this](int i) {
            const auto& nodes = m_layout->nodes;
            return static_cast<std::size_t>(i) < nodes.size() &&
                   isSearchHit(nodes[static_cast<std::size_t>(i)].id);
        });
    m_scene->addItem(m_overviewItem);
    m_wireItems.assign(m_wireEdges.size(), nullptr);
    m_terminalItems.assign(layout.terminals.size(), nullptr);

    m_scene->setSceneRect(QRectF(0, 0, layout.width, layout.height)
                              .adjusted(-kSceneMargin, -kSceneMargin, kSceneMargin, kSceneMargin));
    indexNested();
    m_lazy = layout.nodes.size() > kEagerNodes;
    if (!m_lazy) materialize(m_overview.bounds().adjusted(-1, -1, 1, 1));
    m_minimap->setPicture(std::move(index.minimap));
    if (!m_nodeColors.empty()) applyNodeColors();  // the overlay outlives a relayout
    placeOverlays();
    onSelectionChanged();
}

QRectF GraphView::visibleSceneRect() const {
    return mapToScene(viewport()->rect()).boundingRect();
}

void GraphView::materialize(const QRectF& area) {
    if (!m_layout) return;
    const std::size_t numNodes = m_layout->nodes.size();
    for (int i : m_overview.boxesIn(area)) {
        if (static_cast<std::size_t>(i) < numNodes)
            ensureNodeItem(static_cast<std::size_t>(i));
        else
            ensureTerminalItem(static_cast<std::size_t>(i) - numNodes);
    }
    std::vector<int> groups;
    m_wireGrid.query(area, [&](int g) {
        if (!m_wireItems[static_cast<std::size_t>(g)]) groups.push_back(g);
    });
    for (int g : groups) ensureWire(g);
}

void GraphView::pruneOutside(const QRectF& area) {
    if (m_nodeItems.size() <= kMaxLiveNodes) return;
    m_highlighted.clear();
    for (auto it = m_nodeItems.begin(); it != m_nodeItems.end();) {
        if (!it->second->sceneBoundingRect().intersects(area)) {
            if (it->second->isExpanded()) {
                // Its children go with it.
                const ir::NodeId top = it->first;
                std::erase_if(m_nestedItems, [this, top](const auto& entry) {
                    auto n = m_nested.find(entry.first);
                    return n == m_nested.end() || n->second.top == top;
                });
            }
            delete it->second;
            it = m_nodeItems.erase(it);
        } else {
            ++it;
        }
    }
    for (WireItem*& wire : m_wireItems)
        if (wire && !wire->sceneBoundingRect().intersects(area)) {
            delete wire;
            wire = nullptr;
        }
    for (TerminalItem*& t : m_terminalItems)
        if (t && !t->sceneBoundingRect().intersects(area)) {
            delete t;
            t = nullptr;
        }
}

QColor GraphView::baseColor(const ir::Node& node) const {
    return categoryFill(node, m_expanded.count(&node) != 0);
}

void GraphView::setNodeColors(std::unordered_map<ir::NodeId, QColor> colors) {
    if (colors.empty() && m_nodeColors.empty()) return;
    m_nodeColors = std::move(colors);
    applyNodeColors();
}

void GraphView::applyNodeColors() {
    if (!m_graph || !m_layout) return;
    m_overview.recolor(*m_graph, *m_layout, [this](const ir::Node& node) {
        const auto c = m_nodeColors.find(node.id());
        return c != m_nodeColors.end() ? c->second : baseColor(node);
    });
    for (QGraphicsItem* item : m_scene->items()) {
        if (item->type() != NodeItem::Type) continue;
        auto* node = static_cast<NodeItem*>(item);
        const auto c = m_nodeColors.find(node->nodeId());
        node->setFill(c != m_nodeColors.end()
                          ? c->second
                          : OpMetadata::instance().categoryOf(node->opType()).color);
    }
    m_minimap->setPicture(GraphMinimap::render(m_overview, devicePixelRatioF()));
    viewport()->update();
}

QColor GraphView::nodeFill(ir::NodeId id) const {
    if (auto it = m_nodeItems.find(id); it != m_nodeItems.end()) return it->second->fill();
    if (auto c = m_nodeColors.find(id); c != m_nodeColors.end()) return c->second;
    const ir::Node* node = m_graph ? m_graph->findNode(id) : nullptr;
    return node ? baseColor(*node) : QColor();
}

NodeItem* GraphView::ensureNodeItem(std::size_t index) {
    const layout::NodeBox& box = m_layout->nodes[index];
    auto found = m_nodeItems.find(box.id);
    if (found != m_nodeItems.end()) return found->second;
    const ir::Node* node = m_graph->findNode(box.id);
    if (!node) return nullptr;
    const OpMetadata& meta = OpMetadata::instance();
    auto* item = new NodeItem(*node, box, meta.categoryOf(toQString(node->opType)), &m_style);
    {
        const bool wasSyncing = std::exchange(m_syncing, true);
        item->setSelected(m_selection->contains(box.id));
        m_scene->addItem(item);
        m_syncing = wasSyncing;
    }
    item->setSearchHit(isSearchHit(box.id));
    if (auto c = m_nodeColors.find(box.id); c != m_nodeColors.end()) item->setFill(c->second);
    if (auto p = m_problems.find(box.id); p != m_problems.end()) item->setProblem(p->second);
    m_nodeItems.emplace(box.id, item);
    if (m_expanded.count(node)) populateExpanded(item, *node);
    return item;
}

void GraphView::ensureTerminalItem(std::size_t index) {
    if (m_terminalItems[index]) return;
    const layout::Terminal& t = m_layout->terminals[index];
    const ir::Value* value = m_graph->findValue(t.value);
    auto* item = new TerminalItem(
        t, value ? toQString(displayType(*value, m_shapes.get()).toString()) : QString(), &m_style);
    m_scene->addItem(item);
    m_terminalItems[index] = item;
}

void GraphView::setShapeTable(std::shared_ptr<const ShapeTable> shapes) {
    if (shapes == m_shapes) return;
    m_shapes = std::move(shapes);
    if (!m_layout || m_wireItems.empty()) return;
    // Labels are made with the wire: rebuild the wires (and terminals) built so far.
    m_highlighted.clear();
    for (WireItem*& wire : m_wireItems) {
        delete wire;
        wire = nullptr;
    }
    for (TerminalItem*& t : m_terminalItems) {
        delete t;
        t = nullptr;
    }
    materialize(m_lazy ? visibleSceneRect() : m_overview.bounds().adjusted(-1, -1, 1, 1));
    highlightWiresOf(m_selection ? m_selection->current() : std::nullopt);
}

QStringList GraphView::wireLabelsOf(ir::NodeId producer) const {
    QStringList texts;
    auto it = m_wireGroupOfNode.find(producer);
    if (it == m_wireGroupOfNode.end()) return texts;
    if (const WireItem* wire = m_wireItems[static_cast<std::size_t>(it->second)])
        for (const WireItem::Label& label : wire->labels()) texts << label.text;
    return texts;
}

const ir::Value* GraphView::valueOf(const ir::Graph& graph, const layout::Layout& layout,
                                    const layout::EdgePath& e) {
    if (e.fromTerminal >= 0)
        return graph.findValue(layout.terminals[static_cast<std::size_t>(e.fromTerminal)].value);
    if (e.toTerminal >= 0) {
        const auto k = static_cast<std::size_t>(e.toInput);
        return k < graph.outputs().size() ? graph.outputs()[k] : nullptr;
    }
    const ir::Node* to = graph.findNode(e.to);
    if (!to) return nullptr;
    if (e.toInput < to->numInputs()) return to->input(e.toInput);
    // A value read inside the consumer's subgraphs.
    const auto implicit = layout::implicitInputs(*to);
    const auto k = static_cast<std::size_t>(e.toInput - to->numInputs());
    return k < implicit.size() ? implicit[k] : nullptr;
}

std::vector<std::string> GraphView::tensorsAt(const QPoint& pos) const {
    std::vector<std::string> out;
    if (!m_layout || !m_graph) return out;
    for (const QGraphicsItem* item : items(pos)) {
        if (item->type() == TerminalItem::Type)
            return {static_cast<const TerminalItem*>(item)->valueName().toStdString()};
        if (item->type() != WireItem::Type) continue;
        // A wire of the main graph (nested bodies' wires are not edited from here).
        const auto it = std::find(m_wireItems.begin(), m_wireItems.end(), item);
        if (it == m_wireItems.end()) continue;
        for (const layout::EdgePath* e :
             m_wireEdges[static_cast<std::size_t>(it - m_wireItems.begin())])
            if (const ir::Value* v = valueOf(*m_graph, *m_layout, *e);
                v && std::find(out.begin(), out.end(), v->name()) == out.end())
                out.push_back(v->name());
        return out;
    }
    return out;
}

QMenu* GraphView::createTensorMenu(const std::vector<std::string>& tensors, QWidget* parent) {
    auto* menu = new QMenu(parent);
    if (m_tensorMenu) m_tensorMenu(*menu, tensors);
    return menu;
}

std::vector<WireItem::Label> GraphView::labelsFor(
    const ir::Graph& graph, const layout::Layout& layout,
    const std::vector<const layout::EdgePath*>& edges) {
    // One label per distinct value, where it leaves its producer (stacked when a node has
    // several outputs in use).
    std::vector<WireItem::Label> labels;
    std::vector<const ir::Value*> seen;
    const double step = QFontMetricsF(m_style.labelFont).height() + 1;
    for (const layout::EdgePath* e : edges) {
        const ir::Value* value = valueOf(graph, layout, *e);
        QPointF anchor;
        if (e->fromTerminal >= 0) {
            const layout::Terminal& t = layout.terminals[static_cast<std::size_t>(e->fromTerminal)];
            anchor = QPointF(t.centerX(), t.y + t.h);
        } else {
            const layout::NodeBox* from = layout.find(e->from);
            if (!from) continue;
            anchor = QPointF(from->centerX(), from->y + from->h);
        }
        if (!value || std::find(seen.begin(), seen.end(), value) != seen.end()) continue;
        seen.push_back(value);
        QString text = shapeLabel(value, m_shapes.get());
        if (text.isEmpty()) continue;
        labels.push_back({anchor + QPointF(0, step * static_cast<double>(labels.size())), text});
    }
    return labels;
}

void GraphView::ensureWire(int group) {
    auto& slot = m_wireItems[static_cast<std::size_t>(group)];
    if (slot) return;
    const auto& edges = m_wireEdges[static_cast<std::size_t>(group)];
    const ir::NodeId from = edges.front()->fromTerminal >= 0 ? 0 : edges.front()->from;
    slot = new WireItem(from, *m_layout, edges, labelsFor(*m_graph, *m_layout, edges), &m_style);
    m_scene->addItem(slot);
    if (from != 0) {
        auto cur = m_selection->current();
        if (cur && *cur == from) {
            slot->setHighlighted(true);
            m_highlighted.push_back(slot);
        }
    }
}

// ---- Subgraphs -----------------------------------------------------------------------------

const GraphView::Expansion& GraphView::expansionOf(const ir::Node& node) {
    auto found = m_expansions.find(&node);
    if (found != m_expansions.end()) return found->second;
    Expansion ex;
    layout::LayoutOptions options = layoutOptions();
    options.nodeSize = [this](const ir::Node& n) -> layout::Size {
        if (!m_expanded.count(&n)) return {};
        return expansionOf(n).size;
    };
    const double pad = m_style.panelPadding;
    double x = pad;
    double tallest = 0;
    for (const ir::Attribute& attr : node.attributes()) {
        std::vector<const ir::Graph*> graphs;
        if (attr.g) graphs.push_back(attr.g.get());
        for (const auto& g : attr.graphs)
            if (g) graphs.push_back(g.get());
        for (std::size_t k = 0; k < graphs.size(); ++k) {
            Body body;
            body.graph = graphs[k];
            body.layout = layout::layoutGraph(*graphs[k], options);
            body.caption = toQString(attr.name);
            if (graphs.size() > 1) body.caption += QStringLiteral("[%1]").arg(k);
            body.caption += tr(" · %n node(s)", nullptr, static_cast<int>(graphs[k]->numNodes()));
            const double w = std::max(body.layout.width, 140.0);
            const double h = std::max(body.layout.height, 24.0);
            NodeItem::Panel panel;
            panel.rect =
                QRectF(x, m_style.expandedHeader, w + 2 * pad, m_style.panelCaption + h + 2 * pad);
            panel.caption = body.caption;
            body.offset = QPointF(x + pad, m_style.expandedHeader + m_style.panelCaption + pad);
            x += panel.rect.width() + pad;
            tallest = std::max(tallest, panel.rect.height());
            ex.panels.push_back(panel);
            ex.bodies.push_back(std::move(body));
        }
    }
    ex.size.w = std::max(x, 160.0);
    ex.size.h = m_style.expandedHeader + tallest + pad;
    return m_expansions.emplace(&node, std::move(ex)).first->second;
}

void GraphView::populateExpanded(NodeItem* item, const ir::Node& node) {
    const Expansion& ex = expansionOf(node);
    item->setPanels(ex.panels);
    for (const Body& body : ex.bodies) addGraphItems(item, *body.graph, body.layout, body.offset);
}

void GraphView::indexNested() {
    m_nested.clear();
    if (!m_graph || !m_layout) return;
    std::function<void(const ir::Node&, QPointF, ir::NodeId, int)> walk =
        [&](const ir::Node& node, QPointF origin, ir::NodeId top, int depth) {
            for (const Body& body : expansionOf(node).bodies) {
                for (const layout::NodeBox& box : body.layout.nodes) {
                    const ir::Node* inner = body.graph->findNode(box.id);
                    // A subgraph built before it was adopted numbers its nodes on its own:
                    // never let such an id shadow a top-level node.
                    if (!inner || m_layout->indexById.count(box.id)) continue;
                    const QRectF rect(origin + body.offset + QPointF(box.x, box.y),
                                      QSizeF(box.w, box.h));
                    m_nested[box.id] = {inner, rect, top, depth};
                    if (m_expanded.count(inner)) walk(*inner, rect.topLeft(), top, depth + 1);
                }
            }
        };
    for (const ir::Node* node : m_expanded) {
        if (node->graph() != m_graph.get()) continue;
        const layout::NodeBox* box = m_layout->find(node->id());
        if (box) walk(*node, QPointF(box->x, box->y), node->id(), 1);
    }
}

const ir::Node* GraphView::drawnNode(ir::NodeId id) const {
    if (!m_graph || !m_layout) return nullptr;
    if (m_layout->indexById.count(id)) return m_graph->findNode(id);
    auto it = m_nested.find(id);
    return it == m_nested.end() ? nullptr : it->second.node;
}

std::size_t GraphView::drawnNodeCount() const {
    return m_layout ? m_layout->nodes.size() + m_nested.size() : 0;
}

QRectF GraphView::nodeSceneRect(ir::NodeId id) const {
    if (!m_layout) return {};
    if (const layout::NodeBox* box = m_layout->find(id)) return {box->x, box->y, box->w, box->h};
    auto it = m_nested.find(id);
    return it == m_nested.end() ? QRectF() : it->second.rect;
}

void GraphView::addGraphItems(QGraphicsItem* parent, const ir::Graph& graph,
                              const layout::Layout& layout, QPointF offset) {
    const OpMetadata& meta = OpMetadata::instance();
    std::unordered_map<ir::NodeId, std::vector<const layout::EdgePath*>> byNode;
    std::unordered_map<int, std::vector<const layout::EdgePath*>> byTerminal;
    for (const layout::EdgePath& e : layout.edges) {
        if (e.fromTerminal >= 0)
            byTerminal[e.fromTerminal].push_back(&e);
        else
            byNode[e.from].push_back(&e);
    }
    auto addWire = [&](ir::NodeId from, const std::vector<const layout::EdgePath*>& edges) {
        auto* wire = new WireItem(from, layout, edges, labelsFor(graph, layout, edges), &m_style);
        wire->setParentItem(parent);
        wire->setPos(offset);
    };
    for (const auto& [from, edges] : byNode) addWire(from, edges);
    for (const auto& [t, edges] : byTerminal) addWire(0, edges);
    for (const layout::Terminal& t : layout.terminals) {
        const ir::Value* value = graph.findValue(t.value);
        auto* item =
            new TerminalItem(t, value ? toQString(value->type.toString()) : QString(), &m_style);
        item->setParentItem(parent);
        item->moveBy(offset.x(), offset.y());
    }
    for (const layout::NodeBox& box : layout.nodes) {
        const ir::Node* node = graph.findNode(box.id);
        if (!node) continue;
        auto* item = new NodeItem(*node, box, meta.categoryOf(toQString(node->opType)), &m_style,
                                  /*nested=*/true);
        {
            const bool wasSyncing = std::exchange(m_syncing, true);
            item->setParentItem(parent);
            item->setSelected(m_selection->contains(box.id));
            m_syncing = wasSyncing;
        }
        item->moveBy(offset.x(), offset.y());
        item->setSearchHit(isSearchHit(box.id));
        if (auto c = m_nodeColors.find(box.id); c != m_nodeColors.end()) item->setFill(c->second);
        if (m_nested.count(box.id)) m_nestedItems[box.id] = item;
        if (m_expanded.count(node)) populateExpanded(item, *node);
    }
}

bool GraphView::toggleSubgraphs(ir::NodeId topLevelId) {
    return m_graph ? toggleSubgraphs(m_graph->findNode(topLevelId)) : false;
}

bool GraphView::toggleSubgraphs(const ir::Node* node) {
    if (!node || !m_graph || node->subgraphs().empty()) return false;
    if (!m_expanded.erase(node)) m_expanded.insert(node);
    // Sizes change all the way up: drop cached expansions of this node and its ancestors. Items
    // of the current scene still point into them until the new scene replaces it: keep them.
    for (const ir::Node* n = node; n; n = n->graph()->parentNode()) {
        auto handle = m_expansions.extract(n);
        if (!handle.empty()) m_retiredExpansions.push_back(std::move(handle));
    }
    // Anchor the view on the top-level node holding `node`.
    const ir::Node* anchor = node;
    while (anchor->graph()->parentNode()) anchor = anchor->graph()->parentNode();
    relayout(anchor);
    return true;
}

void GraphView::relayout(const ir::Node* anchor) {
    const layout::NodeBox* before = m_layout ? m_layout->find(anchor->id()) : nullptr;
    QPointF offset;
    if (before) offset = mapToScene(viewport()->rect().center()) - QPointF(before->x, before->y);
    // The expanded top-level nodes' sizes: their bodies are laid out here (small graphs).
    std::unordered_map<const ir::Node*, layout::Size> sizes;
    std::unordered_set<ir::NodeId> expandedIds;
    for (const ir::Node* n : m_expanded)
        if (n->graph() == m_graph.get()) {
            sizes.emplace(n, expansionOf(*n).size);
            expandedIds.insert(n->id());
        }
    layout::LayoutOptions options = layoutOptions();
    options.nodeSize = [sizes = std::move(sizes)](const ir::Node& n) -> layout::Size {
        auto it = sizes.find(&n);
        return it == sizes.end() ? layout::Size{} : it->second;
    };
    const ir::NodeId anchorId = anchor->id();
    auto install = [this, anchorId, offset](SceneIndex index) {
        m_layout = index.layout;
        buildScene(/*keepExpansions=*/true, std::move(index));
        if (const layout::NodeBox* after = m_layout->find(anchorId)) {
            centerOn(QPointF(after->x, after->y) + offset);
            // Keep the node in sight: an expansion may grow it past the viewport's edge. Whole
            // if it fits, else its top-left part, where its header and the bodies' inputs are.
            const QRectF box(after->x, after->y, after->w, after->h);
            const QRectF visible = visibleSceneRect();
            if (!visible.contains(box)) {
                const double margin = 24 / std::max(zoom(), 1e-6);
                const double x = box.width() + 2 * margin <= visible.width()
                                     ? box.center().x()
                                     : box.left() - margin + visible.width() / 2;
                const double y = box.height() + 2 * margin <= visible.height()
                                     ? box.center().y()
                                     : box.top() - margin + visible.height() / 2;
                centerOn(x, y);
            }
        }
        updateOverlays();
        emit layoutChanged();
    };
    std::shared_ptr<const ir::Graph> graph = m_graph;
    const qreal dpr = devicePixelRatioF();
    auto work = [graph, options, dpr, expandedIds = std::move(expandedIds)] {
        auto layout = std::make_shared<const layout::Layout>(layout::layoutGraph(*graph, options));
        return std::make_shared<SceneIndex>(
            prepareScene(*graph, std::move(layout), dpr, expandedIds));
    };
    const quint64 generation = ++m_relayoutGeneration;
    if (graph->numNodes() <= kEagerNodes) {
        install(std::move(*work()));
        return;
    }
    // A big graph: lay it out on a pool thread; the current scene stays until the new one is
    // ready. A newer relayout or another graph supersedes this one.
    auto* watcher = new QFutureWatcher<std::shared_ptr<SceneIndex>>(this);
    connect(watcher, &QFutureWatcherBase::finished, this, [=, this] {
        watcher->deleteLater();
        if (generation != m_relayoutGeneration || graph != m_graph) return;
        install(std::move(*watcher->result()));
    });
    watcher->setFuture(QtConcurrent::run(backgroundPool(), std::move(work)));
}

// ---- Selection -----------------------------------------------------------------------------

NodeItem* GraphView::nodeItem(ir::NodeId id) {
    auto it = m_nodeItems.find(id);
    if (it != m_nodeItems.end()) return it->second;
    if (!m_layout) return nullptr;
    if (auto nested = m_nested.find(id); nested != m_nested.end()) {
        nodeItem(nested->second.top);  // builds the top-level item and its bodies' items
        auto built = m_nestedItems.find(id);
        return built == m_nestedItems.end() ? nullptr : built->second;
    }
    auto index = m_layout->indexById.find(id);
    if (index == m_layout->indexById.end()) return nullptr;
    return ensureNodeItem(index->second);
}

void GraphView::selectNode(ir::NodeId id, bool center) {
    const QRectF rect = nodeSceneRect(id);
    if (rect.isEmpty()) return;
    m_selection->selectOnly(id);
    if (center) centerOn(rect.center());
}

std::optional<ir::NodeId> GraphView::selectedNode() const {
    if (auto cur = m_selection->current()) return cur;
    if (m_selection->isEmpty()) return std::nullopt;
    return m_selection->sortedIds().front();
}

int GraphView::selectAll() {
    if (!m_layout) return 0;
    std::vector<ir::NodeId> ids;
    ids.reserve(m_layout->nodes.size());
    for (const layout::NodeBox& box : m_layout->nodes) ids.push_back(box.id);
    m_selection->setSelection(ids, m_selection->current());
    return static_cast<int>(ids.size());
}

int GraphView::selectAllOfType(const QString& opType) {
    if (!m_layout) return 0;
    const std::string op = opType.toStdString();
    std::vector<ir::NodeId> ids;
    for (const layout::NodeBox& box : m_layout->nodes) {
        const ir::Node* node = m_graph->findNode(box.id);
        if (node && node->opType == op) ids.push_back(box.id);
    }
    m_selection->setSelection(ids, ids.empty() ? std::nullopt : std::optional(ids.front()));
    return static_cast<int>(ids.size());
}

int GraphView::selectPattern(const std::vector<std::string>& opTypes) {
    if (!m_graph) return 0;
    auto chains = rewrite::findChains(*m_graph, opTypes);
    std::vector<ir::NodeId> ids;
    for (const auto& chain : chains) ids.insert(ids.end(), chain.begin(), chain.end());
    m_selection->setSelection(ids, ids.empty() ? std::nullopt : std::optional(ids.front()));
    return static_cast<int>(chains.size());
}

QMenu* GraphView::createNodeMenu(ir::NodeId id, QWidget* parent) {
    auto* menu = new QMenu(parent);
    const ir::Node* node = drawnNode(id);
    if (!node) return menu;
    const QString op = toQString(node->opType);
    int sameOp = 0;
    for (const layout::NodeBox& box : m_layout->nodes)
        if (const ir::Node* n = m_graph->findNode(box.id); n && n->opType == node->opType) ++sameOp;
    QAction* all = menu->addAction(tr("Select all %1 nodes (%2)").arg(op, formatCount(sameOp)),
                                   this, [this, op] { selectAllOfType(op); });
    all->setObjectName(QStringLiteral("selectAllOfType"));
    // Only the patterns this node can start: one whose first op is another type would select
    // chains unrelated to what was clicked.
    QMenu* patterns = menu->addMenu(tr("Select pattern"));
    patterns->setObjectName(QStringLiteral("selectPatternMenu"));
    for (const rewrite::ChainPattern& p : rewrite::commonChainPatterns()) {
        if (p.opTypes.empty() || p.opTypes.front() != node->opType) continue;
        const auto chains = rewrite::findChains(*m_graph, p.opTypes);
        if (chains.empty()) continue;
        const bool here = std::any_of(chains.begin(), chains.end(),
                                      [id](const auto& chain) { return chain.front() == id; });
        QString text = tr("%1 (%2)").arg(toQString(p.name),
                                         formatCount(static_cast<qulonglong>(chains.size())));
        if (here) text += tr(" — starts here");
        QAction* a =
            patterns->addAction(text, this, [this, types = p.opTypes] { selectPattern(types); });
        a->setData(toQString(p.name));
    }
    if (patterns->isEmpty()) {
        patterns->addAction(tr("No pattern starts with %1").arg(op))->setEnabled(false);
        patterns->setEnabled(false);
    }
    if (!node->subgraphs().empty()) {
        menu->addSeparator();
        menu->addAction(isExpanded(node) ? tr("Collapse Subgraphs") : tr("Expand Subgraphs"), this,
                        [this, node] { toggleSubgraphs(node); });
    }
    if (!m_nodeMenuActions.isEmpty()) {
        menu->addSeparator();
        menu->addActions(m_nodeMenuActions);
    }
    menu->addSeparator();
    menu->addAction(tr("Clear Selection"), m_selection, &SelectionModel::clear);
    return menu;
}

QMenu* GraphView::createCanvasMenu(QWidget* parent) {
    auto* menu = new QMenu(parent);
    menu->addAction(m_fitAction);
    menu->addSeparator();
    menu->addAction(m_selectAllAction);
    // "\tEsc" only shows the key: keyPressEvent handles Escape (a real shortcut on a menu
    // action would fire instead of closing the menu).
    QAction* clear = menu->addAction(tr("Clear Selection") + QStringLiteral("\tEsc"), m_selection,
                                     &SelectionModel::clear);
    clear->setObjectName(QStringLiteral("clearSelection"));
    clear->setEnabled(!m_selection->isEmpty());
    m_selectAllAction->setEnabled(m_layout != nullptr);
    if (!m_canvasMenuActions.isEmpty()) {
        menu->addSeparator();
        menu->addActions(m_canvasMenuActions);
    }
    return menu;
}

std::optional<ir::NodeId> GraphView::nodeAt(const QPoint& pos) const {
    return nodeAtScene(mapToScene(pos));
}

std::optional<ir::NodeId> GraphView::nodeAtScene(const QPointF& p) const {
    if (!m_layout) return std::nullopt;
    // The deepest nested box holding the point: a node inside a body before the node holding
    // the body. Bodies are small; a linear scan per click is cheap.
    const NestedBox* best = nullptr;
    ir::NodeId bestId = 0;
    for (const auto& [id, nested] : m_nested)
        if (nested.rect.contains(p) && (!best || nested.depth > best->depth)) {
            best = &nested;
            bestId = id;
        }
    if (best) return bestId;
    int i = m_overview.boxAt(p);
    if (i < 0 || static_cast<std::size_t>(i) >= m_layout->nodes.size()) return std::nullopt;
    return m_layout->nodes[static_cast<std::size_t>(i)].id;
}

void GraphView::onSelectionChanged() {
    {
        const bool wasSyncing = std::exchange(m_syncing, true);
        for (const auto& [id, item] : m_nodeItems) item->setSelected(m_selection->contains(id));
        for (const auto& [id, item] : m_nestedItems) item->setSelected(m_selection->contains(id));
        m_syncing = wasSyncing;
    }
    if (m_overviewItem) m_overviewItem->update();
    std::optional<ir::NodeId> cur = m_selection->current();
    highlightWiresOf(cur);
    if (m_selection->isEmpty()) {
        if (m_lastEmitted) {
            m_lastEmitted.reset();
            emit selectionCleared();
        }
    } else if (cur && cur != m_lastEmitted) {
        m_lastEmitted = cur;
        emit nodeSelected(*cur);
    }
}

void GraphView::onSceneSelectionChanged() {
    if (m_syncing) return;
    // Someone changed the items' selection directly (scene()->clearSelection()): take it over,
    // keeping selected nodes that have no item right now.
    std::vector<ir::NodeId> ids;
    for (ir::NodeId id : m_selection->ids())
        if (!m_nodeItems.count(id) && !m_nestedItems.count(id)) ids.push_back(id);
    for (const auto& [id, item] : m_nodeItems)
        if (item->isSelected()) ids.push_back(id);
    for (const auto& [id, item] : m_nestedItems)
        if (item->isSelected()) ids.push_back(id);
    m_selection->setSelection(ids);
}

void GraphView::highlightWiresOf(std::optional<ir::NodeId> id) {
    for (WireItem* wire : m_highlighted) wire->setHighlighted(false);
    m_highlighted.clear();
    if (!id) return;
    auto add = [this](ir::NodeId producer) {
        auto it = m_wireGroupOfNode.find(producer);
        if (it == m_wireGroupOfNode.end()) return;
        WireItem* wire = m_wireItems[static_cast<std::size_t>(it->second)];
        if (!wire) return;
        wire->setHighlighted(true);
        m_highlighted.push_back(wire);
    };
    add(*id);
    auto it = m_producersOf.find(*id);
    if (it != m_producersOf.end())
        for (ir::NodeId producer : it->second) add(producer);
}

// ---- Search --------------------------------------------------------------------------------

namespace {
/// ASCII case-insensitive equality; `needle` is already lower case.
bool equalsFolded(const std::string& hay, const std::string& needle) {
    return hay.size() == needle.size() && containsFolded(hay, needle);
}
}  // namespace

SearchScope GraphView::searchScope() const {
    return m_scope;
}

int GraphView::search(const QString& text, SearchScope scope) {
    m_scope = scope;
    if (m_searchBar->scope() != scope) {
        const QSignalBlocker block(m_searchBar);
        m_searchBar->setScope(scope);
    }
    return search(text);
}

int GraphView::search(const QString& text) {
    // The node the previous search showed: deselected below when nothing matches any more, so
    // that a stale hit does not look like the answer.
    std::optional<ir::NodeId> shown;
    if (m_matchIndex >= 0) shown = m_matches[static_cast<std::size_t>(m_matchIndex)];
    m_matches.clear();
    m_hitSet.clear();
    m_matchIndex = -1;
    m_tensorOnly = 0;
    m_showHits = true;
    const std::string needle = text.trimmed().toLower().toStdString();
    if (m_layout && !needle.empty()) {
        struct Hit {
            int rank;
            double y, x;
            ir::NodeId id;
        };
        std::vector<Hit> hits;
        auto tensorHit = [&needle](const ir::Node& node) {
            for (const ir::Value* v : node.inputs())
                if (v && containsFolded(v->name(), needle)) return true;
            for (const ir::Value* v : node.outputs())
                if (v && containsFolded(v->name(), needle)) return true;
            return false;
        };
        // Every drawn node: the top level's, then those of expanded bodies.
        std::vector<std::pair<const ir::Node*, QRectF>> drawn;
        drawn.reserve(m_layout->nodes.size() + m_nested.size());
        for (const layout::NodeBox& box : m_layout->nodes)
            if (const ir::Node* node = m_graph->findNode(box.id))
                drawn.emplace_back(node, QRectF(box.x, box.y, box.w, box.h));
        for (const auto& [id, nested] : m_nested) drawn.emplace_back(nested.node, nested.rect);
        for (const auto& [node, rect] : drawn) {
            const bool opExact = equalsFolded(node->opType, needle);
            const bool op = opExact || containsFolded(node->opType, needle);
            const bool name = containsFolded(node->name, needle);
            int rank = -1;
            switch (m_scope) {
                case SearchScope::kAll:
                    rank = opExact ? 0 : (op || name) ? 1 : tensorHit(*node) ? 2 : -1;
                    break;
                case SearchScope::kName:
                    rank = name ? 0 : -1;
                    break;
                case SearchScope::kOpType:
                    rank = opExact ? 0 : op ? 1 : -1;
                    break;
                case SearchScope::kTensor:
                    rank = tensorHit(*node) ? 0 : -1;
                    break;
            }
            if (rank >= 0) hits.push_back({rank, rect.y(), rect.x(), node->id()});
        }
        // On-screen order within a rank: F3 walks down the graph, not through the file.
        std::stable_sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
            if (a.rank != b.rank) return a.rank < b.rank;
            if (a.y != b.y) return a.y < b.y;
            return a.x < b.x;
        });
        // Tensor-only hits (rank 2) are a fallback: when names or op types matched, they would
        // drown them (ResNet's "Conv" matched every BatchNormalization reading "convN_out").
        if (m_scope == SearchScope::kAll && !hits.empty() && hits.front().rank < 2) {
            auto firstTensorOnly =
                std::find_if(hits.begin(), hits.end(), [](const Hit& h) { return h.rank == 2; });
            m_tensorOnly = static_cast<int>(hits.end() - firstTensorOnly);
            hits.erase(firstTensorOnly, hits.end());
        }
        m_matches.reserve(hits.size());
        for (const Hit& h : hits) m_matches.push_back(h.id);
        m_hitSet.insert(m_matches.begin(), m_matches.end());
    }
    markSearchHits();
    if (!m_matches.empty())
        goToMatch(0);
    else if (shown && m_selection->size() == 1 && m_selection->contains(*shown))
        m_selection->clear();
    m_searchBar->setStatus(m_matchIndex, searchMatchCount(), m_tensorOnly);
    return searchMatchCount();
}

void GraphView::markSearchHits() {
    for (const auto& [id, item] : m_nodeItems) item->setSearchHit(isSearchHit(id));
    for (const auto& [id, item] : m_nestedItems) item->setSearchHit(isSearchHit(id));
    if (m_overviewItem) m_overviewItem->update();
}

void GraphView::goToMatch(int index) {
    m_matchIndex = index;
    const ir::NodeId id = m_matches[static_cast<std::size_t>(index)];
    if (zoom() < 0.5) setZoom(1.0);
    selectNode(id, true);
    m_searchBar->setStatus(m_matchIndex, searchMatchCount(), m_tensorOnly);
}

void GraphView::findNext() {
    if (m_matches.empty()) {
        // Nothing searched yet (or the graph was replaced since): search the bar's text again,
        // or open the bar to type one.
        const QString text = m_searchBar->lineEdit()->text();
        if (text.trimmed().isEmpty() || search(text) == 0) openSearch();
        return;
    }
    if (!m_showHits) {
        m_showHits = true;
        markSearchHits();
    }
    goToMatch((m_matchIndex + 1) % searchMatchCount());
}

void GraphView::findPrevious() {
    if (m_matches.empty()) {
        findNext();  // the same fallback; the first hit is as good as the last one here
        return;
    }
    if (!m_showHits) {
        m_showHits = true;
        markSearchHits();
    }
    goToMatch((m_matchIndex - 1 + searchMatchCount()) % searchMatchCount());
}

void GraphView::openSearch() {
    placeOverlays();
    m_searchBar->open();
}

// ---- Export --------------------------------------------------------------------------------

GraphView::ExportPlan GraphView::planExport(ExportScope scope) const {
    ExportPlan plan;
    if (!m_graph || !m_layout) return plan;
    const qreal dpr = std::max<qreal>(1.0, devicePixelRatioF());
    if (scope == ExportScope::kVisibleArea) {
        plan.source = visibleSceneRect();
        plan.scale = zoom() * dpr;
        plan.size = viewport()->size() * dpr;
        return plan;
    }
    if (scope == ExportScope::kWholeGraph) {
        plan.source = m_scene->sceneRect();
    } else {
        constexpr double kMargin = 24;
        for (ir::NodeId id : m_selection->sortedIds()) {
            const QRectF r = nodeSceneRect(id);
            if (!r.isEmpty()) plan.source = plan.source.isNull() ? r : plan.source.united(r);
        }
        if (plan.source.isNull()) return plan;
        // Shape labels sit to the right of the wires, beside the boxes: keep room for them.
        const double labels =
            QFontMetricsF(m_style.labelFont).horizontalAdvance(QStringLiteral("batch×512×28×28"));
        plan.source.adjust(-kMargin, -kMargin, kMargin + labels, kMargin);
    }
    // Readable, unless that is more pixels than a picture should have.
    const double w = plan.source.width() * kExportScale;
    const double h = plan.source.height() * kExportScale;
    double shrink = std::min({1.0, kMaxExportSide / w, kMaxExportSide / h,
                              std::sqrt(static_cast<double>(kMaxExportPixels) / (w * h))});
    plan.capped = shrink < 1.0;
    plan.scale = kExportScale * shrink;
    plan.size = QSize(std::max(1, static_cast<int>(std::ceil(w * shrink))),
                      std::max(1, static_cast<int>(std::ceil(h * shrink))));
    return plan;
}

bool GraphView::exportView(const QString& path, ExportScope scope, QString* error,
                           ExportPlan* done) {
    auto fail = [&](const QString& message) {
        if (error) *error = message;
        return false;
    };
    const ExportPlan plan = planExport(scope);
    if (plan.size.isEmpty())
        return fail(scope == ExportScope::kSelection ? tr("no node is selected")
                                                     : tr("there is no graph to export"));
    // A big graph has items for the visible region only; at a scale where items (not the
    // overview) draw, the exported area needs them too. The cap bounds how many that can be.
    if (m_lazy && plan.scale >= m_style.detailLod && scope != ExportScope::kVisibleArea)
        materialize(plan.source);
    const QRectF target(QPointF(0, 0), QSizeF(plan.size));
    if (QFileInfo(path).suffix().compare(QStringLiteral("svg"), Qt::CaseInsensitive) == 0) {
        QSvgGenerator svg;
        svg.setFileName(path);
        svg.setSize(plan.size);
        svg.setViewBox(target);
        svg.setTitle(m_graph->name.empty() ? tr("Whittle graph") : toQString(m_graph->name));
        QPainter painter;
        if (!painter.begin(&svg)) return fail(tr("%1: cannot write").arg(path));
        painter.fillRect(target, backgroundBrush());
        m_scene->render(&painter, target, plan.source, Qt::KeepAspectRatio);
        painter.end();
    } else {
        QImage image(plan.size, QImage::Format_ARGB32_Premultiplied);
        if (image.isNull())
            return fail(tr("not enough memory for a %1 × %2 picture")
                            .arg(plan.size.width())
                            .arg(plan.size.height()));
        image.fill(backgroundBrush().color());
        QPainter painter(&image);
        painter.setRenderHints(renderHints());
        m_scene->render(&painter, target, plan.source, Qt::KeepAspectRatio);
        painter.end();
        if (!image.save(path)) return fail(tr("%1: cannot write the image").arg(path));
    }
    if (m_lazy) pruneOutside(visibleSceneRect());
    if (QFileInfo(path).size() <= 0) return fail(tr("%1: nothing was written").arg(path));
    if (done) *done = plan;
    return true;
}

// ---- Zoom and view -------------------------------------------------------------------------

double GraphView::zoom() const {
    return transform().m11();
}

double GraphView::minZoom() const {
    // A huge graph must still fit: allow zooming out to half its fit scale.
    QRectF rect = m_scene->sceneRect();
    if (rect.isEmpty() || viewport()->width() <= 0) return kMinZoom;
    double fit = std::min(viewport()->width() / rect.width(), viewport()->height() / rect.height());
    return std::min(kMinZoom, fit / 2);
}

void GraphView::fitToView() {
    QRectF rect = m_scene->sceneRect();
    if (rect.isEmpty()) return;
    fitInView(rect, Qt::KeepAspectRatio);
    if (zoom() > 1.0) setZoom(1.0);
    centerOn(rect.center());
    updateOverlays();
}

void GraphView::fitWidth() {
    QRectF rect = m_scene->sceneRect();
    if (rect.isEmpty() || viewport()->width() <= 0) return;
    const double sx = viewport()->width() / rect.width();
    const double fit = std::min(sx, viewport()->height() / rect.height());
    // The width, but no closer than the smallest readable scale: a narrow graph then shows as
    // many of its nodes as can still be read, not a 1:1 close-up.
    const double scale = std::min(1.0, std::max(fit, std::min(sx, kReadableZoom)));
    resetTransform();
    QGraphicsView::scale(scale, scale);
    centerOn(rect.center().x(), rect.top() + viewport()->height() / scale / 2);
    updateOverlays();
}

void GraphView::showInitialView() {
    QRectF rect = m_scene->sceneRect();
    if (rect.isEmpty()) return;
    double sx = viewport()->width() / rect.width();
    double sy = viewport()->height() / rect.height();
    double fit = std::min(sx, sy);
    if (fit >= kReadableZoom || !m_layout) {
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
    updateOverlays();
}

void GraphView::zoomIn() {
    scaleBy(1.25);
}
void GraphView::zoomOut() {
    scaleBy(1 / 1.25);
}

void GraphView::setZoom(double z) {
    z = std::clamp(z, minZoom(), kMaxZoom);
    QPointF center = mapToScene(viewport()->rect().center());
    resetTransform();
    QGraphicsView::scale(z, z);
    centerOn(center);
    updateOverlays();
}

void GraphView::scaleBy(double factor) {
    double target = std::clamp(zoom() * factor, minZoom(), kMaxZoom);
    factor = target / zoom();
    QGraphicsView::scale(factor, factor);
    updateOverlays();
}

void GraphView::placeOverlays() {
    if (m_searchBar) {
        m_searchBar->adjustSize();
        m_searchBar->move(width() - m_searchBar->width() - kOverlayMargin, kOverlayMargin);
    }
    if (m_minimap) {
        m_minimap->move(width() - m_minimap->width() - kOverlayMargin,
                        height() - m_minimap->height() - kOverlayMargin);
    }
    updateOverlays();
}

void GraphView::updateOverlays() {
    // Every scale change ends here (wheel, actions, fits, setTransform by the window).
    if (zoom() != m_lastZoom) {
        m_lastZoom = zoom();
        emit zoomChanged(m_lastZoom);
    }
    if (!m_minimap) return;
    // Only useful when part of the graph is out of sight.
    const bool show =
        m_layout && !m_layout->nodes.empty() && !visibleSceneRect().contains(m_overview.bounds());
    if (show != m_minimap->isVisible()) m_minimap->setVisible(show);
    if (show) m_minimap->update();
}

// ---- Events --------------------------------------------------------------------------------

void GraphView::paintEvent(QPaintEvent* event) {
    // Build the items of what is about to be drawn (large graphs), only when zoomed in enough
    // for them to draw anything.
    if (m_lazy && m_layout && zoom() >= m_style.detailLod) {
        const QRectF visible = visibleSceneRect();
        const QRectF area = visible.adjusted(-visible.width() / 4, -visible.height() / 4,
                                             visible.width() / 4, visible.height() / 4);
        pruneOutside(area);
        materialize(area);
    }
    QGraphicsView::paintEvent(event);
}

void GraphView::resizeEvent(QResizeEvent* event) {
    QGraphicsView::resizeEvent(event);
    placeOverlays();
}

void GraphView::scrollContentsBy(int dx, int dy) {
    QGraphicsView::scrollContentsBy(dx, dy);
    updateOverlays();
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

void GraphView::mousePressEvent(QMouseEvent* event) {
    const QPoint pos = event->position().toPoint();
    if (event->button() == Qt::MiddleButton || (event->button() == Qt::LeftButton && m_spaceHeld)) {
        m_panning = true;
        m_panButton = event->button();
        m_panLast = pos;
        viewport()->setCursor(Qt::ClosedHandCursor);
        event->accept();
        return;
    }
    if (event->button() != Qt::LeftButton || !m_layout) {
        QGraphicsView::mousePressEvent(event);
        return;
    }
    const bool modifier = event->modifiers() & (Qt::ControlModifier | Qt::ShiftModifier);
    // A click on the "+" / "−" badge of the innermost node under the cursor toggles its bodies
    // (only where the badge is drawn, i.e. with text).
    if (!modifier && zoom() >= m_style.textMinLod) {
        for (QGraphicsItem* item : items(pos)) {
            auto* node = qgraphicsitem_cast<NodeItem*>(item);
            if (!node) continue;
            const QRectF badge = node->badgeRect().adjusted(-3, -3, 3, 3);
            if (!badge.isEmpty() && badge.contains(node->mapFromScene(mapToScene(pos)))) {
                toggleSubgraphs(node->node());
                m_badgeToggled = true;  // a double-click's second press must not undo it
                m_pressHandled = true;
                event->accept();
                return;
            }
            break;
        }
    }
    m_badgeToggled = false;
    if (!modifier && m_graph) {
        if (std::optional<Port> port = portAt(pos)) {
            const ir::Node* n = m_graph->findNode(port->node);
            NodeItem* item = n ? nodeItem(port->node) : nullptr;
            if (n && item) {
                PortDrag drag;
                drag.pressed = *port;
                if (port->output) {
                    const ir::Value* v = n->output(port->index);
                    if (v) {
                        drag.kind = PortDrag::Kind::kFromOutput;
                        drag.tensor = v->name();
                    }
                    drag.origin = item->mapToScene(item->outputPortPos(port->index));
                } else if (const ir::Value* v = n->input(port->index)) {
                    drag.kind = PortDrag::Kind::kRewire;
                    drag.tensor = v->name();
                    drag.origin = item->mapToScene(item->inputPortPos(port->index));
                } else {
                    drag.kind = PortDrag::Kind::kFromInput;
                    drag.origin = item->mapToScene(item->inputPortPos(port->index));
                }
                if (!port->output || !drag.tensor.empty()) {
                    m_portDrag = std::move(drag);
                    if (!m_dragLine) {
                        m_dragLine = new QGraphicsPathItem;
                        QPen pen(QColor(0xff, 0x8f, 0x00), 2.0, Qt::DashLine);
                        pen.setCosmetic(true);
                        m_dragLine->setPen(pen);
                        m_dragLine->setZValue(1e6);
                        m_scene->addItem(m_dragLine);
                    }
                    updatePortDrag(pos);
                    viewport()->setCursor(Qt::CrossCursor);
                    event->accept();
                    return;
                }
            }
        }
    }
    std::optional<ir::NodeId> hit = nodeAt(pos);
    if (hit) {
        if (modifier)
            m_selection->toggle(*hit);
        else
            m_selection->selectOnly(*hit);
        m_pressHandled = true;
        event->accept();
        return;
    }
    // The background: a plain press starts a new selection, Ctrl/Shift adds to the current one.
    if (!modifier) m_selection->clear();
    m_rubberActive = true;
    m_rubberModifiers = event->modifiers();
    m_rubberOrigin = pos;
    m_rubberBand->setGeometry(QRect(pos, QSize()));
    m_rubberBand->show();
    event->accept();
}

void GraphView::mouseMoveEvent(QMouseEvent* event) {
    if (m_panning) {
        const QPoint pos = event->position().toPoint();
        const QPoint delta = pos - m_panLast;
        m_panLast = pos;
        horizontalScrollBar()->setValue(horizontalScrollBar()->value() - delta.x());
        verticalScrollBar()->setValue(verticalScrollBar()->value() - delta.y());
        event->accept();
        return;
    }
    if (m_rubberActive) {
        m_rubberBand->setGeometry(QRect(m_rubberOrigin, event->position().toPoint()).normalized());
        event->accept();
        return;
    }
    if (m_portDrag) {
        updatePortDrag(event->position().toPoint());
        event->accept();
        return;
    }
    QGraphicsView::mouseMoveEvent(event);
}

void GraphView::mouseReleaseEvent(QMouseEvent* event) {
    if (m_panning && event->button() == m_panButton) {
        m_panning = false;
        m_panButton = Qt::NoButton;
        if (m_spaceHeld)
            viewport()->setCursor(Qt::OpenHandCursor);
        else
            viewport()->unsetCursor();
        event->accept();
        return;
    }
    if (m_portDrag && event->button() == Qt::LeftButton) {
        updatePortDrag(event->position().toPoint());
        finishPortDrag(true);
        event->accept();
        return;
    }
    if (m_rubberActive && event->button() == Qt::LeftButton) {
        m_rubberActive = false;
        m_rubberBand->hide();
        const QRect band = QRect(m_rubberOrigin, event->position().toPoint()).normalized();
        // A click without a drag only cleared the selection (at the press).
        if (band.width() < 2 && band.height() < 2) {
            event->accept();
            return;
        }
        const QRectF area = mapToScene(band).boundingRect();
        std::vector<ir::NodeId> ids;
        for (int i : m_overview.boxesIn(area))
            if (static_cast<std::size_t>(i) < m_layout->nodes.size())
                ids.push_back(m_layout->nodes[static_cast<std::size_t>(i)].id);
        m_selection->add(ids);
        event->accept();
        return;
    }
    if (m_pressHandled && event->button() == Qt::LeftButton) {
        // The press selected a node; the release must not reach the scene, which would clear
        // its item selection as if the background had been clicked.
        m_pressHandled = false;
        event->accept();
        return;
    }
    QGraphicsView::mouseReleaseEvent(event);
}

void GraphView::mouseDoubleClickEvent(QMouseEvent* event) {
    if (event->button() == Qt::LeftButton && std::exchange(m_badgeToggled, false)) {
        // The first click hit the badge and toggled already (the node under the cursor is the
        // relaid-out one now): the double-click adds nothing.
        event->accept();
        return;
    }
    if (event->button() == Qt::LeftButton && m_graph) {
        const QPoint pos = event->position().toPoint();
        // The innermost node item under the cursor (a nested If inside a Loop body, say).
        bool overItem = false;
        for (QGraphicsItem* item : items(pos)) {
            auto* node = dynamic_cast<NodeItem*>(item);
            overItem = overItem || node;
            if (node && node->hasSubgraphs()) {
                // Inside an expanded node only its header toggles it; its body is for its children.
                if (node->isExpanded() &&
                    node->mapFromScene(mapToScene(pos)).y() > m_style.expandedHeader)
                    continue;
                toggleSubgraphs(node->node());
                event->accept();
                return;
            }
        }
        if (auto hit = overItem ? std::nullopt : nodeAt(pos)) {
            if (toggleSubgraphs(*hit)) {
                event->accept();
                return;
            }
        }
    }
    // Not a subgraph toggle. Qt already delivered this click's press; the scene must not see
    // the double-click (it would change item selection behind the SelectionModel's back).
    event->accept();
}

void GraphView::contextMenuEvent(QContextMenuEvent* event) {
    std::optional<ir::NodeId> hit = nodeAt(event->pos());
    if (!hit) {
        const std::vector<std::string> tensors = tensorsAt(event->pos());
        std::unique_ptr<QMenu> menu(tensors.empty() || !m_tensorMenu
                                        ? createCanvasMenu(this)
                                        : createTensorMenu(tensors, this));
        menu->exec(event->globalPos());
        event->accept();
        return;
    }
    if (!m_selection->contains(*hit)) m_selection->selectOnly(*hit);
    std::unique_ptr<QMenu> menu(createNodeMenu(*hit, this));
    menu->exec(event->globalPos());
    event->accept();
}

void GraphView::keyPressEvent(QKeyEvent* event) {
    if (event->key() == Qt::Key_Space && event->modifiers() == Qt::NoModifier) {
        if (!event->isAutoRepeat() && !m_spaceHeld) {
            m_spaceHeld = true;
            if (!m_panning) viewport()->setCursor(Qt::OpenHandCursor);
        }
        event->accept();
        return;
    }
    if (event->key() == Qt::Key_Escape && m_portDrag) {
        finishPortDrag(false);
        event->accept();
        return;
    }
    if (event->key() == Qt::Key_Escape && event->modifiers() == Qt::NoModifier &&
        !m_selection->isEmpty()) {
        m_selection->clear();
        event->accept();
        return;
    }
    QGraphicsView::keyPressEvent(event);
}

void GraphView::keyReleaseEvent(QKeyEvent* event) {
    if (event->key() == Qt::Key_Space) {
        if (!event->isAutoRepeat()) {
            m_spaceHeld = false;
            if (!m_panning) viewport()->unsetCursor();
        }
        event->accept();
        return;
    }
    QGraphicsView::keyReleaseEvent(event);
}

void GraphView::focusOutEvent(QFocusEvent* event) {
    // The Space release goes elsewhere once focus has left: do not stay in pan mode.
    m_spaceHeld = false;
    if (!m_panning) viewport()->unsetCursor();
    QGraphicsView::focusOutEvent(event);
}

void GraphView::setProblemNodes(std::unordered_map<ir::NodeId, QString> problems) {
    for (const auto& [id, item] : m_nodeItems)
        if (m_problems.count(id) && !problems.count(id)) item->setProblem({});
    m_problems = std::move(problems);
    for (const auto& [id, message] : m_problems)
        if (auto it = m_nodeItems.find(id); it != m_nodeItems.end()) it->second->setProblem(message);
}

QString GraphView::problemOf(ir::NodeId id) const {
    auto it = m_problems.find(id);
    return it == m_problems.end() ? QString() : it->second;
}

bool GraphView::portsVisible() const {
    return m_layout && zoom() >= m_style.portMinLod;
}

std::optional<GraphView::Port> GraphView::portAt(const QPoint& pos) {
    if (!portsVisible() || !m_graph) return std::nullopt;
    const QPointF p = mapToScene(pos);
    // A port sits on the box's edge, half outside it: look just above and below too.
    const double reach = NodeItem::kPortRadius + 4;
    for (double dy : {0.0, reach, -reach}) {
        std::optional<ir::NodeId> id = nodeAtScene(p + QPointF(0, dy));
        if (!id || m_nested.count(*id) || !m_graph->findNode(*id)) continue;
        NodeItem* item = nodeItem(*id);
        if (!item || item->isExpanded()) continue;
        const QPointF local = item->mapFromScene(p);
        if (int i = item->inputPortAt(local); i >= 0) return Port{*id, false, i};
        if (int o = item->outputPortAt(local); o >= 0) return Port{*id, true, o};
    }
    return std::nullopt;
}

std::optional<QPoint> GraphView::portViewportPos(const Port& port) {
    NodeItem* item = m_graph && m_graph->findNode(port.node) ? nodeItem(port.node) : nullptr;
    if (!item) return std::nullopt;
    const QPointF local = port.output ? item->outputPortPos(port.index) : item->inputPortPos(port.index);
    return mapFromScene(item->mapToScene(local));
}

void GraphView::setHotPort(const std::optional<Port>& port) {
    auto mark = [this](const std::optional<Port>& p, bool on) {
        if (!p) return;
        if (NodeItem* item = nodeItem(p->node)) {
            if (p->output)
                item->setHotOutputPort(on ? p->index : -1);
            else
                item->setHotInputPort(on ? p->index : -1);
        }
    };
    mark(m_portDrag->target, false);
    m_portDrag->target = port;
    mark(port, true);
}

void GraphView::updatePortDrag(const QPoint& pos) {
    if (!m_portDrag) return;
    const QPointF end = mapToScene(pos);
    // A target: an input port for a tensor being carried, an output port for a free input.
    std::optional<Port> target = portAt(pos);
    const bool wantOutput = m_portDrag->kind == PortDrag::Kind::kFromInput;
    if (target && (target->output != wantOutput || target->node == m_portDrag->pressed.node))
        target.reset();
    setHotPort(target);
    QPainterPath path(m_portDrag->origin);
    const QPointF a = m_portDrag->origin;
    const double bend = std::max(30.0, std::abs(end.y() - a.y()) / 2);
    // Outputs leave downward and inputs are entered from above: bend the line that way.
    const double dir = m_portDrag->pressed.output ? 1 : -1;
    path.cubicTo(a + QPointF(0, dir * bend), end - QPointF(0, dir * bend), end);
    m_dragLine->setPath(path);
    m_dragLine->show();
}

void GraphView::finishPortDrag(bool drop) {
    if (!m_portDrag) return;
    PortDrag drag = *m_portDrag;
    setHotPort(std::nullopt);
    m_portDrag.reset();
    if (m_dragLine) m_dragLine->hide();
    viewport()->unsetCursor();
    if (!drop || !m_graph) return;
    const QString tensor = QString::fromStdString(drag.tensor);
    switch (drag.kind) {
        case PortDrag::Kind::kFromOutput:
            if (drag.target) emit connectRequested(drag.target->node, drag.target->index, tensor);
            break;
        case PortDrag::Kind::kFromInput:
            if (drag.target)
                if (const ir::Node* producer = m_graph->findNode(drag.target->node))
                    if (const ir::Value* v = producer->output(drag.target->index))
                        emit connectRequested(drag.pressed.node, drag.pressed.index,
                                              QString::fromStdString(v->name()));
            break;
        case PortDrag::Kind::kRewire:
            if (!drag.target)
                emit disconnectRequested(drag.pressed.node, drag.pressed.index);
            else if (drag.target->node != drag.pressed.node ||
                     drag.target->index != drag.pressed.index)
                emit rewireRequested(drag.pressed.node, drag.pressed.index, drag.target->node,
                                     drag.target->index, tensor);
            break;
    }
}

void GraphView::dragEnterEvent(QDragEnterEvent* event) {
    if (event->mimeData()->hasFormat(QString::fromLatin1(OpPalette::kMimeType)) && m_graph) {
        event->acceptProposedAction();
        return;
    }
    QGraphicsView::dragEnterEvent(event);
}

void GraphView::dragMoveEvent(QDragMoveEvent* event) {
    if (event->mimeData()->hasFormat(QString::fromLatin1(OpPalette::kMimeType)) && m_graph) {
        event->acceptProposedAction();
        return;
    }
    QGraphicsView::dragMoveEvent(event);
}

void GraphView::dropEvent(QDropEvent* event) {
    const QString format = QString::fromLatin1(OpPalette::kMimeType);
    if (!event->mimeData()->hasFormat(format) || !m_graph) {
        QGraphicsView::dropEvent(event);
        return;
    }
    const QString op = QString::fromUtf8(event->mimeData()->data(format));
    QStringList tensors;
    for (const std::string& t : tensorsAt(event->position().toPoint()))
        tensors << QString::fromStdString(t);
    event->acceptProposedAction();
    emit operatorDropped(op, tensors);
}

}  // namespace wh::widgets
