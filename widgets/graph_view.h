#pragma once
/// GraphView: draws one graph from a precomputed layout::Layout. Boxes are coloured by op
/// category (OpMetadata), wires are smoothed polylines with arrowheads and tensor shapes, graph
/// inputs and outputs are small rounded boxes. The wheel zooms around the cursor; dragging with
/// the middle button, or with the left one while Space is held, pans.
///
/// Level of detail: zoomed out (a box under ~12 px tall) one OverviewItem draws the whole graph
/// as colour-batched rectangles and lines from a spatial grid. Zoomed in, per-node items draw
/// text, curves and labels; for a large graph they are created only for the visible region (and
/// dropped again when too many accumulate), so a 100k-node model opens and pans like a small one.
///
/// Selection lives in a SelectionModel the view does not own (the document's): click selects,
/// Ctrl/Shift+click toggles, dragging on the background draws a rubber band (selecting what it
/// covers; with Ctrl/Shift adding it to the selection), the context
/// menu selects every node of an op type or every chain of a pattern (rewrite::findChains) and
/// offers the editing actions the owner hands over (setNodeMenuActions); the background's menu
/// fits, selects all, clears the selection and offers the owner's canvas actions. Ctrl+A selects
/// every drawn node, Escape clears the selection.
/// Ctrl+F opens a search bar (all hits get a halo; F3 / Shift+F3 step through them even with the
/// bar closed); a minimap sits in the bottom-right corner; exportView() writes
/// PNG or SVG. Clicking the "+" badge of an If/Loop/Scan node (or double-clicking it) lays out
/// its bodies (core/layout, on the GUI thread: bodies are small) and draws them inside it; the
/// "−" badge (or a double-click on the header) collapses it. The nodes of an expanded body are
/// clicked, selected, searched and inspected like top-level ones (their ids are unique in the
/// model); values a body reads from the enclosing graph are edges into the node holding it.
/// Ctrl+0 fits the whole graph; Ctrl+9 fits its width (a readable overview of a tall, thin
/// network), starting at the top.
///
/// The view never computes the top-level layout itself: a caller runs layout::layoutGraph off
/// the GUI thread (with layoutOptions() read here first, on the GUI thread) and hands the result
/// to setGraph().

#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <QGraphicsView>
#include <QImage>

#include "core/ir/graph.h"
#include "core/layout/graph_layout.h"
#include "widgets/graph_items.h"
#include "widgets/graph_overview.h"
#include "widgets/graph_search_bar.h"

class QAction;
class QGraphicsPathItem;
class QGraphicsSimpleTextItem;
class QMenu;
class QRubberBand;

namespace wh::widgets {

class GraphMinimap;
class SelectionModel;
class ShapeTable;

/// What the view knows about a laid-out graph that is plain data, not scene items: the
/// level-of-detail overview, wires grouped by producer with a spatial index, the producers of
/// each node and the minimap picture. A job builds it off the GUI thread (prepareScene), so
/// that installing a graph of 100k nodes costs the GUI thread only moves.
struct SceneIndex {
    std::shared_ptr<const layout::Layout> layout;
    GraphOverview overview;
    std::vector<std::vector<const layout::EdgePath*>> wireEdges;  // by group, one per producer
    std::unordered_map<ir::NodeId, int> wireGroupOfNode;
    SpatialGrid wireGrid;
    std::unordered_map<ir::NodeId, std::vector<ir::NodeId>> producersOf;  // consumer -> producers
    double mainColumnX = 0;  // the straight main chain the initial view follows
    QImage minimap;
};

class GraphView : public QGraphicsView {
    Q_OBJECT

public:
    explicit GraphView(QWidget* parent = nullptr);
    ~GraphView() override;

    /// Layout sizes that fit this view's fonts (graph terminals on, single-use Constants folded).
    /// Call on the GUI thread; the copy may be used on any thread.
    layout::LayoutOptions layoutOptions() const;
    /// Fonts and zoom thresholds the items draw with.
    const GraphStyle& style() const { return m_style; }

    /// Replaces the scene with `graph` placed by `layout` (computed from that very graph with
    /// layoutOptions()). The view keeps `graph` alive and only reads it; nobody may mutate it
    /// while it is shown.
    void setGraph(std::shared_ptr<const ir::Graph> graph, const layout::Layout& layout);
    /// Same without copying the layout.
    void setGraph(std::shared_ptr<const ir::Graph> graph,
                  std::shared_ptr<const layout::Layout> layout);
    /// Empties the view, showing `message` ("Loading…", "No model") in its centre.
    /// Installs an index that prepareScene() built for `graph` (its layout included).
    void setGraph(std::shared_ptr<const ir::Graph> graph, SceneIndex index);
    void clear(const QString& message = {});

    /// Builds the SceneIndex of `graph` laid out as `layout`. Touches no widget: any thread
    /// may call it while the graph and layout stay unchanged. `devicePixelRatio` is the
    /// view's, for the minimap picture.
    /// `expanded`: top-level nodes drawn with their bodies, which the overview and the minimap
    /// show as pale frames rather than solid boxes.
    static SceneIndex prepareScene(const ir::Graph& graph,
                                   std::shared_ptr<const layout::Layout> layout,
                                   qreal devicePixelRatio,
                                   const std::unordered_set<ir::NodeId>& expanded = {});

    /// Inferred tensor types for the wires' shape labels (and terminals) where the model declares
    /// none; null shows declared shapes only. Keyed by value name, so a table of an older
    /// revision of the same model is harmless but may be stale: the owner replaces it (or sets
    /// null) after an edit. Rebuilds the wire items drawn so far.
    void setShapeTable(std::shared_ptr<const ShapeTable> shapes);
    const ShapeTable* shapeTable() const { return m_shapes.get(); }

    /// An overlay: nodes in `colors` are filled with their colour instead of their op
    /// category's (latency share, bit width, ...), in the detailed view, the zoomed-out
    /// overview and the minimap, and again after a relayout. Empty: every node by category.
    void setNodeColors(std::unordered_map<ir::NodeId, QColor> colors);
    const std::unordered_map<ir::NodeId, QColor>& nodeColors() const { return m_nodeColors; }
    /// The fill node `id` is drawn with now (its item's, or what its item would get): for tests.
    QColor nodeFill(ir::NodeId id) const;
    /// The shape labels drawn on the wires leaving node `producer` (empty when its wires are
    /// not built or carry none): for tests.
    QStringList wireLabelsOf(ir::NodeId producer) const;

    const ir::Graph* graph() const { return m_graph.get(); }
    const layout::Layout* currentLayout() const { return m_layout.get(); }
    /// Top-level node items currently in the scene (all of them for a small graph; the visible
    /// region's for a large one).
    std::size_t nodeItemCount() const { return m_nodeItems.size(); }
    /// True when items are built for the visible region only.
    bool isLazy() const { return m_lazy; }
    /// The item drawing node `id`, top-level (created on demand) or inside an expanded body
    /// (when its top-level node has an item), or null.
    NodeItem* nodeItem(ir::NodeId id);
    /// Node `id` if it is drawn: a top-level node with a box, or a node of an expanded body.
    const ir::Node* drawnNode(ir::NodeId id) const;
    /// Boxes drawn: top-level ones plus those of every expanded body (at any depth).
    std::size_t drawnNodeCount() const;
    /// Where node `id` is drawn, in scene coordinates (empty when it is not drawn).
    QRectF nodeSceneRect(ir::NodeId id) const;

    /// The selection edited by this view. Not owned; must outlive the view or be replaced.
    void setSelectionModel(SelectionModel* model);
    SelectionModel* selectionModel() const { return m_selection; }

    /// Selects `id` alone (it becomes current) and, if `center`, scrolls it into the middle.
    void selectNode(ir::NodeId id, bool center = true);
    /// The current node when selected, else the lowest selected id.
    std::optional<ir::NodeId> selectedNode() const;
    /// Selects every drawn top-level node (Ctrl+A); returns how many.
    int selectAll();
    /// Selects every node of `opType`; returns how many.
    int selectAllOfType(const QString& opType);
    /// Selects every node of every chain `opTypes` (rewrite::findChains); returns the chain count.
    int selectPattern(const std::vector<std::string>& opTypes);
    /// The context menu for node `id` (caller owns it): select its op type, the patterns that
    /// start with its op type, expand/collapse, then the node actions (setNodeMenuActions).
    QMenu* createNodeMenu(ir::NodeId id, QWidget* parent = nullptr);
    /// The background's context menu (caller owns it): Fit, Select All, Clear Selection, then
    /// the canvas actions (setCanvasMenuActions).
    QMenu* createCanvasMenu(QWidget* parent = nullptr);
    /// Actions acting on the selection that the node menu lists (the window's Delete, Rename,
    /// Insert Identity: undoable edits of the document the view does not know about). The menu
    /// selects the clicked node first when it is not selected. Not owned.
    void setNodeMenuActions(QList<QAction*> actions) { m_nodeMenuActions = std::move(actions); }
    /// Actions the background menu lists after its own (the window's Export View). Not owned.
    void setCanvasMenuActions(QList<QAction*> actions) { m_canvasMenuActions = std::move(actions); }
    /// The tensors under viewport point `pos`: a graph input or output box's value, or the values
    /// an edge carries (every value of the producer the wire leaves; a wire is drawn once zoomed
    /// in enough to see it). Empty when there is none.
    std::vector<std::string> tensorsAt(const QPoint& pos) const;
    /// Fills the context menu of an edge or a graph input/output box with the owner's edits of
    /// those tensors (the window's "Make a Model Output", ...).
    using TensorMenuProvider = std::function<void(QMenu& menu, const std::vector<std::string>&)>;
    void setTensorMenuProvider(TensorMenuProvider provider) { m_tensorMenu = std::move(provider); }
    /// The context menu of `tensors` (caller owns it): the provider's actions.
    QMenu* createTensorMenu(const std::vector<std::string>& tensors, QWidget* parent = nullptr);
    /// The innermost drawn node under viewport point `pos` (a node of an expanded body before the
    /// node holding it), if any.
    std::optional<ir::NodeId> nodeAt(const QPoint& pos) const;

    /// Problems the live validation found, by node: those nodes carry a red "!" badge with the
    /// message in their tooltip (NodeItem::setProblem). Replaces the previous set.
    void setProblemNodes(std::unordered_map<ir::NodeId, QString> problems);
    /// The problem drawn on node `id`, empty if none.
    QString problemOf(ir::NodeId id) const;

    /// The model's default-domain opset, for the ports of inputs a node does not have yet (see
    /// NodeItem ports). Set before setGraph().
    void setOpset(int64_t opset) { m_style.opset = opset; }
    /// True when the zoom shows ports (GraphStyle::portMinLod) and they can be dragged.
    bool portsVisible() const;
    /// A port of a top-level node: input `index` or output `index`.
    struct Port {
        ir::NodeId node = 0;
        bool output = false;
        int index = 0;
    };
    /// The port under viewport point `pos` when ports are visible.
    std::optional<Port> portAt(const QPoint& pos);
    /// Where `port` is drawn, in viewport coordinates (null when its node has no item).
    std::optional<QPoint> portViewportPos(const Port& port);
    /// True while a connection is being dragged from a port.
    bool isDraggingConnection() const { return m_portDrag.has_value(); }

    /// Searches in searchScope() (case-insensitive substring; see SearchScope for the ranking).
    /// Hits are ordered by rank, then top to bottom, then left to right, and all get a halo.
    /// Goes to the first hit and returns the number of hits. When nothing matches any more, the
    /// node the previous search selected is deselected.
    int search(const QString& text);
    /// Sets the scope (the bar's combo box follows) and searches.
    int search(const QString& text, SearchScope scope);
    SearchScope searchScope() const;
    int searchMatchCount() const { return static_cast<int>(m_matches.size()); }
    /// Nodes that match by tensor name only, left out of a kAll search that found others.
    int searchTensorOnlyCount() const { return m_tensorOnly; }
    /// The hits in the order F3 visits them.
    const std::vector<ir::NodeId>& searchMatches() const { return m_matches; }
    /// Whether node `id` is drawn as a search hit.
    bool isSearchHit(ir::NodeId id) const { return m_showHits && m_hitSet.count(id) != 0; }
    /// 0-based index of the match shown, -1 if none.
    int searchIndex() const { return m_matchIndex; }
    GraphSearchBar* searchBar() const { return m_searchBar; }
    GraphMinimap* minimap() const { return m_minimap; }
    /// Ctrl+F: opens the search bar.
    QAction* findAction() const { return m_findAction; }
    /// F3 / Shift+F3 (window-wide: they work with the bar closed).
    QAction* findNextAction() const { return m_findNextAction; }
    QAction* findPreviousAction() const { return m_findPreviousAction; }
    /// Ctrl+A (while the graph has the focus), Ctrl+0 and Ctrl+9.
    QAction* selectAllAction() const { return m_selectAllAction; }
    QAction* fitAction() const { return m_fitAction; }
    QAction* fitWidthAction() const { return m_fitWidthAction; }

    /// Expands or collapses the subgraphs of `node` (top level or nested). Re-lays out the graph
    /// on this thread. False if the node holds no subgraph.
    bool toggleSubgraphs(const ir::Node* node);
    bool toggleSubgraphs(ir::NodeId topLevelId);
    bool isExpanded(const ir::Node* node) const { return m_expanded.count(node) != 0; }

    /// What Export View writes.
    enum class ExportScope {
        kWholeGraph,   ///< the whole graph at a readable scale (labels and shapes drawn)
        kVisibleArea,  ///< what the viewport shows, as it shows it
        kSelection,    ///< the selected nodes (and what lies between them) at a readable scale
    };
    /// The picture an export makes: the scene area, its scale, its size in pixels, and whether
    /// the scale was lowered below kExportScale to keep within kMaxExportSide and
    /// kMaxExportPixels (a huge graph then shows as the zoomed-out overview does).
    struct ExportPlan {
        QRectF source;
        double scale = 1;
        QSize size;
        bool capped = false;
    };
    /// 1 layout unit per pixel: op types, names and tensor shapes all drawn and readable.
    static constexpr double kExportScale = 1.0;
    static constexpr int kMaxExportSide = 16384;
    static constexpr qint64 kMaxExportPixels = 40'000'000;  // ~160 MB while drawing
    /// The picture exportView() would make for `scope`; an empty size when there is nothing to
    /// export (no graph, no selection for kSelection).
    ExportPlan planExport(ExportScope scope) const;
    /// Writes the picture of `scope` to `path`: SVG when it ends in .svg, else a raster image
    /// (PNG). On failure returns false and sets `error`; `plan` (optional) gets what was written.
    bool exportView(const QString& path, ExportScope scope = ExportScope::kWholeGraph,
                    QString* error = nullptr, ExportPlan* plan = nullptr);

    /// Current scale factor (1 = one layout unit per pixel).
    double zoom() const;

public slots:
    /// Shows the whole graph (never magnified beyond 1:1).
    void fitToView();
    /// A readable overview: fits the graph's width, but at most at the smallest scale that keeps
    /// labels readable (70 %) and never below the whole-graph fit, and shows the top. On a tall,
    /// thin network (MobileNetV2) fitToView() gives a thin line; this shows its first layers.
    void fitWidth();
    /// Fits if that keeps text readable, else shows the top of the graph, centred on the main
    /// column, at a readable scale. Used when a model is first shown.
    void showInitialView();
    void zoomIn();
    void zoomOut();
    /// Sets the scale, clamped to [minimum, kMaxZoom], keeping the view centre.
    void setZoom(double zoom);
    void openSearch();
    void findNext();
    void findPrevious();

signals:
    /// The current node changed to `id` (click, search, selectNode).
    void nodeSelected(wh::ir::NodeId id);
    /// No node is selected any more.
    void selectionCleared();
    /// A relayout (expanding or collapsing a subgraph) is installed. Big graphs are laid out
    /// on a pool thread, so this comes after toggleSubgraphs() returned.
    void layoutChanged();
    /// The scale changed (wheel, zoom actions, fits); `zoom` as zoom() returns it.
    void zoomChanged(double zoom);
    /// A connection was dragged from an output port to an input port (or the other way):
    /// input `input` of `node` should read `tensor`.
    void connectRequested(wh::ir::NodeId node, int input, const QString& tensor);
    /// The end of a wire was dragged from input `fromInput` of `from` to input `toInput` of `to`:
    /// the first should stop reading `tensor` and the second read it.
    void rewireRequested(wh::ir::NodeId from, int fromInput, wh::ir::NodeId to, int toInput,
                         const QString& tensor);
    /// The end of a wire was dragged off input `input` of `node` and dropped on nothing.
    void disconnectRequested(wh::ir::NodeId node, int input);
    /// An operator was dropped from the palette (OpPalette::kMimeType) on the view: on the wire
    /// carrying `tensors` (empty: on the canvas).
    void operatorDropped(const QString& opType, const QStringList& tensors);

protected:
    void wheelEvent(QWheelEvent* event) override;
    void paintEvent(QPaintEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void scrollContentsBy(int dx, int dy) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;
    void contextMenuEvent(QContextMenuEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;
    void keyReleaseEvent(QKeyEvent* event) override;
    void focusOutEvent(QFocusEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dragMoveEvent(QDragMoveEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    // A connection dragged from a port: from an output (to an input), from an unconnected input
    // (to an output), or an existing wire's end taken off an input (to another input, or to
    // nothing: disconnect).
    struct PortDrag {
        enum class Kind { kFromOutput, kFromInput, kRewire };
        Kind kind = Kind::kFromOutput;
        Port pressed;
        std::string tensor;  // kFromOutput, kRewire: the tensor the wire carries
        QPointF origin;      // scene
        std::optional<Port> target;
    };
    void updatePortDrag(const QPoint& pos);
    void finishPortDrag(bool drop);
    void setHotPort(const std::optional<Port>& port);

    struct Body {
        const ir::Graph* graph = nullptr;
        layout::Layout layout;
        QString caption;
        QPointF offset;  // in the expanded node's coordinates
    };
    struct Expansion {
        std::vector<Body> bodies;
        std::vector<NodeItem::Panel> panels;
        layout::Size size;
    };

    void buildScene(bool keepExpansions, SceneIndex index);
    void resetScene();
    void materialize(const QRectF& area);
    void pruneOutside(const QRectF& area);
    NodeItem* ensureNodeItem(std::size_t index);
    void ensureTerminalItem(std::size_t index);
    void ensureWire(int group);
    // The value edge `e` carries, or null.
    static const ir::Value* valueOf(const ir::Graph& graph, const layout::Layout& layout,
                                    const layout::EdgePath& e);
    std::vector<WireItem::Label> labelsFor(const ir::Graph& graph, const layout::Layout& layout,
                                           const std::vector<const layout::EdgePath*>& edges);
    void populateExpanded(NodeItem* item, const ir::Node& node);
    void addGraphItems(QGraphicsItem* parent, const ir::Graph& graph, const layout::Layout& layout,
                       QPointF offset);
    /// Rebuilds m_nested from the expanded top-level nodes.
    void indexNested();
    /// The innermost drawn node at scene point `p`: nested ones first, else a top-level box.
    std::optional<ir::NodeId> nodeAtScene(const QPointF& p) const;
    const Expansion& expansionOf(const ir::Node& node);
    void relayout(const ir::Node* anchor);
    QRectF visibleSceneRect() const;

    void onSelectionChanged();
    void onSceneSelectionChanged();
    void highlightWiresOf(std::optional<ir::NodeId> id);
    void scaleBy(double factor);
    double minZoom() const;
    void goToMatch(int index);
    /// Gives the items (and the overview) of the current hits their halo, or takes it away.
    void markSearchHits();
    void placeOverlays();
    void updateOverlays();

    QGraphicsScene* m_scene;
    GraphStyle m_style;
    std::shared_ptr<const ir::Graph> m_graph;
    std::shared_ptr<const layout::Layout> m_layout;
    std::shared_ptr<const ShapeTable> m_shapes;
    std::unordered_map<ir::NodeId, QColor> m_nodeColors;
    std::unordered_map<ir::NodeId, QString> m_problems;
    /// Recolours the overview, the minimap and every node item from m_nodeColors.
    void applyNodeColors();
    QColor baseColor(const ir::Node& node) const;
    GraphOverview m_overview;
    OverviewItem* m_overviewItem = nullptr;
    bool m_lazy = false;

    std::unordered_map<ir::NodeId, NodeItem*> m_nodeItems;
    // Nodes drawn inside expanded bodies, by id (ids are unique across a model's subgraphs):
    // where they are in the scene and the top-level node holding them. Items of them exist
    // while their top-level node's item does.
    struct NestedBox {
        const ir::Node* node = nullptr;
        QRectF rect;  // scene coordinates
        ir::NodeId top = 0;
        int depth = 1;
    };
    std::unordered_map<ir::NodeId, NestedBox> m_nested;
    std::unordered_map<ir::NodeId, NodeItem*> m_nestedItems;
    std::vector<TerminalItem*> m_terminalItems;  // by terminal index, null until built
    // Wire groups: all edges leaving one producer (node or input terminal).
    std::vector<std::vector<const layout::EdgePath*>> m_wireEdges;
    std::vector<WireItem*> m_wireItems;
    TensorMenuProvider m_tensorMenu;  // by group, null until built
    std::unordered_map<ir::NodeId, int> m_wireGroupOfNode;
    SpatialGrid m_wireGrid;
    std::unordered_map<ir::NodeId, std::vector<ir::NodeId>> m_producersOf;  // consumer -> producers
    std::vector<WireItem*> m_highlighted;
    QGraphicsSimpleTextItem* m_message = nullptr;
    double m_mainColumnX = 0;

    SelectionModel* m_selection = nullptr;
    SelectionModel* m_ownSelection = nullptr;
    std::optional<ir::NodeId> m_lastEmitted;
    bool m_syncing = false;

    std::unordered_set<const ir::Node*> m_expanded;
    std::unordered_map<const ir::Node*, Expansion> m_expansions;
    // Dropped from m_expansions but still drawn until the next scene is built.
    std::vector<std::unordered_map<const ir::Node*, Expansion>::node_type> m_retiredExpansions;
    quint64 m_relayoutGeneration = 0;

    std::vector<ir::NodeId> m_matches;
    std::unordered_set<ir::NodeId> m_hitSet;
    bool m_showHits = true;  // the halos go when the bar closes; F3 brings them back
    int m_matchIndex = -1;
    int m_tensorOnly = 0;
    SearchScope m_scope = SearchScope::kAll;

    GraphSearchBar* m_searchBar = nullptr;
    GraphMinimap* m_minimap = nullptr;
    QAction* m_findAction = nullptr;
    QAction* m_findNextAction = nullptr;
    QAction* m_findPreviousAction = nullptr;
    QAction* m_selectAllAction = nullptr;
    QAction* m_fitAction = nullptr;
    QAction* m_fitWidthAction = nullptr;
    double m_lastZoom = 0;
    QList<QAction*> m_nodeMenuActions;
    QList<QAction*> m_canvasMenuActions;
    QRubberBand* m_rubberBand = nullptr;
    QPoint m_rubberOrigin;
    bool m_rubberActive = false;
    bool m_pressHandled = false;  // the left press selected a node: its release is ours too
    bool m_badgeToggled = false;  // the last left press toggled a node's subgraphs
    Qt::KeyboardModifiers m_rubberModifiers;
    bool m_spaceHeld = false;  // Space+left-drag pans
    bool m_panning = false;    // a middle- or Space+left-drag is moving the view
    Qt::MouseButton m_panButton = Qt::NoButton;
    QPoint m_panLast;
    std::optional<PortDrag> m_portDrag;
    QGraphicsPathItem* m_dragLine = nullptr;
};

}  // namespace wh::widgets
