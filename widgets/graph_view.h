#pragma once
/// GraphView: draws one graph from a precomputed layout::Layout. Boxes are coloured by op
/// category (OpMetadata), wires are smoothed polylines with arrowheads. The wheel zooms around the
/// cursor, dragging the background pans, clicking a box selects its node.
///
/// The view never computes a layout itself: a caller runs layout::layoutGraph off the GUI thread
/// (with layoutOptions() read here first, on the GUI thread) and hands the result to setGraph().

#include <memory>
#include <optional>
#include <unordered_map>

#include <QGraphicsView>

#include "core/ir/graph.h"
#include "core/layout/graph_layout.h"
#include "widgets/graph_items.h"

class QGraphicsSimpleTextItem;

namespace wh::widgets {

class GraphView : public QGraphicsView {
    Q_OBJECT

public:
    explicit GraphView(QWidget* parent = nullptr);
    ~GraphView() override;

    /// Layout sizes that fit this view's fonts. Call on the GUI thread; the copy may be used on
    /// any thread.
    layout::LayoutOptions layoutOptions() const;

    /// Replaces the scene with `graph` placed by `layout` (computed from that very graph). The
    /// view keeps `graph` alive and only reads it; nobody may mutate it while it is shown.
    void setGraph(std::shared_ptr<const ir::Graph> graph, const layout::Layout& layout);
    /// Empties the view, showing `message` ("Loading…", "No model") in its centre.
    void clear(const QString& message = {});

    const ir::Graph* graph() const { return m_graph.get(); }
    std::size_t nodeItemCount() const { return m_nodeItems.size(); }
    /// The item drawing node `id`, or null.
    NodeItem* nodeItem(ir::NodeId id) const;

    /// Selects `id` (clearing other selections) and, if `center`, scrolls it into the middle.
    void selectNode(ir::NodeId id, bool center = true);
    std::optional<ir::NodeId> selectedNode() const;

    /// Current scale factor (1 = one layout unit per pixel).
    double zoom() const;

public slots:
    /// Shows the whole graph (never magnified beyond 1:1).
    void fitToView();
    /// Fits if that keeps text readable, else shows the top of the graph, centred on the main
    /// column, at a readable scale. Used when a model is first shown.
    void showInitialView();
    void zoomIn();
    void zoomOut();
    /// Sets the scale, clamped to [kMinZoom, kMaxZoom], keeping the view centre.
    void setZoom(double zoom);

signals:
    /// The user (or selectNode) selected node `id`.
    void nodeSelected(wh::ir::NodeId id);
    /// No node is selected any more.
    void selectionCleared();

protected:
    void wheelEvent(QWheelEvent* event) override;

private:
    void onSceneSelectionChanged();
    void highlightWiresOf(std::optional<ir::NodeId> id);
    void scaleBy(double factor);

    QGraphicsScene* m_scene;
    GraphStyle m_style;
    std::shared_ptr<const ir::Graph> m_graph;
    std::unordered_map<ir::NodeId, NodeItem*> m_nodeItems;
    std::unordered_map<ir::NodeId, WireItem*> m_wireByProducer;
    std::unordered_map<ir::NodeId, std::vector<ir::NodeId>> m_producersOf;  // consumer -> producers
    std::vector<WireItem*> m_highlighted;
    QGraphicsSimpleTextItem* m_message = nullptr;
    double m_mainColumnX = 0;
};

}  // namespace wh::widgets
