#pragma once
/// Level-of-detail drawing of a whole laid-out graph, for zoom levels where a box is only a few
/// pixels tall: every node is a filled rectangle batched per category colour, every edge a
/// straight line per layout segment, no text, no arrowheads, no antialiasing. A uniform grid
/// indexes boxes and segments so a partial repaint touches only what it exposes, and the same
/// data answers "which node is at this point / in this rectangle" without any QGraphicsItem.
///
/// OverviewItem puts it into a QGraphicsScene (one item for the whole graph); GraphMinimap draws
/// it into a small image.
///
/// Thread-safety: GUI thread only.

#include <cstdint>
#include <functional>
#include <vector>

#include <QColor>
#include <QGraphicsItem>
#include <QLineF>
#include <QRectF>
#include <QTransform>

#include "core/ir/graph.h"
#include "core/layout/graph_layout.h"

namespace wh::widgets {

/// A uniform grid of buckets over a rectangle; items are ints registered in every cell their
/// box overlaps. Queries may report an item more than once.
class SpatialGrid {
public:
    /// Cells of at least `minCell`, and at most about `maxCells` of them.
    void reset(const QRectF& bounds, double minCell, std::size_t maxCells = 1 << 20);
    void insert(int item, const QRectF& box);
    /// Calls `visit(item)` for every item whose cell overlaps `area`.
    void query(const QRectF& area, const std::function<void(int)>& visit) const;
    bool isEmpty() const { return m_cells.empty(); }

private:
    void cellRange(const QRectF& r, int& c0, int& r0, int& c1, int& r1) const;
    QRectF m_bounds;
    double m_cell = 1;
    int m_cols = 0;
    int m_rows = 0;
    std::vector<std::vector<int>> m_cells;
};

/// The boxes and segments of one top-level layout, indexed.
class GraphOverview {
public:
    /// Box i < layout.nodes.size() is node i; after those come the terminals. `colorOf` gives
    /// each node's fill.
    void build(const ir::Graph& graph, const layout::Layout& layout,
               const std::function<QColor(const ir::Node&)>& colorOf);
    /// Gives every node the fill `colorOf` says (an overlay), keeping boxes and segments.
    void recolor(const ir::Graph& graph, const layout::Layout& layout,
                 const std::function<QColor(const ir::Node&)>& colorOf);
    void clear();

    std::size_t numBoxes() const { return m_boxes.size(); }
    const QRectF& box(int i) const { return m_boxes[static_cast<std::size_t>(i)]; }
    const QRectF& bounds() const { return m_bounds; }

    /// Boxes (indices) overlapping `area`, each once.
    std::vector<int> boxesIn(const QRectF& area) const;
    /// The topmost box containing `point`, or -1.
    int boxAt(const QPointF& point) const;

    /// Draws the part of the graph inside `area` (scene coordinates) with `toDevice` mapping
    /// scene to device pixels. `selected(i)` marks boxes drawn in the selection colour (they
    /// get a minimum size so one selected node stays visible in a 100k-node overview);
    /// `marked(i)` (search hits) likewise, in the search-hit colour.
    void paint(QPainter* painter, const QTransform& toDevice, const QRectF& area,
               const std::function<bool(int)>& selected,
               const std::function<bool(int)>& marked = {}) const;

private:
    std::vector<QRectF> m_boxes;
    std::vector<uint16_t> m_colorIndex;
    std::vector<QColor> m_palette;
    std::vector<QLineF> m_segments;
    SpatialGrid m_boxGrid;
    SpatialGrid m_segmentGrid;
    QRectF m_bounds;
    mutable std::vector<uint32_t> m_boxStamp;
    mutable std::vector<uint32_t> m_segmentStamp;
    mutable uint32_t m_stamp = 0;
};

/// One scene item covering the whole graph that paints GraphOverview while the view is zoomed
/// out below `detailLod` (and nothing above it, where the per-node items take over).
class OverviewItem : public QGraphicsItem {
public:
    enum { Type = UserType + 10 };

    OverviewItem(const GraphOverview* overview, double detailLod, std::function<bool(int)> selected,
                 std::function<bool(int)> marked = {});
    int type() const override { return Type; }
    QRectF boundingRect() const override;
    void paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

private:
    const GraphOverview* m_overview;  // owned by the view, outlives this item
    double m_detailLod;
    std::function<bool(int)> m_selected;
    std::function<bool(int)> m_marked;
};

}  // namespace wh::widgets
