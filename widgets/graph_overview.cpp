#include "widgets/graph_overview.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include <QPainter>
#include <QStyleOptionGraphicsItem>

namespace wh::widgets {

namespace {
const QColor kEdgeColor(0xa4, 0xab, 0xb3);
const QColor kSelectedColor(0xff, 0x9f, 0x00);
const QColor kSearchHitColor(0xd0, 0x2f, 0xc8);  // as NodeItem's search halo, opaque
const QColor kTerminalColor(0x5b, 0x64, 0x6e);
/// Smallest drawn box in device pixels: below this a node would vanish.
constexpr double kMinBoxPx = 1.5;
constexpr double kMinSelectedPx = 5.0;
}  // namespace

// ---- SpatialGrid ---------------------------------------------------------------------------

void SpatialGrid::reset(const QRectF& bounds, double minCell, std::size_t maxCells) {
    m_bounds = bounds;
    double area = std::max(1.0, bounds.width() * bounds.height());
    m_cell = std::max(minCell, std::sqrt(area / static_cast<double>(maxCells)));
    m_cols = std::max(1, static_cast<int>(std::ceil(bounds.width() / m_cell)));
    m_rows = std::max(1, static_cast<int>(std::ceil(bounds.height() / m_cell)));
    m_cells.assign(static_cast<std::size_t>(m_cols) * static_cast<std::size_t>(m_rows), {});
}

void SpatialGrid::cellRange(const QRectF& r, int& c0, int& r0, int& c1, int& r1) const {
    auto col = [&](double x) {
        return std::clamp(static_cast<int>(std::floor((x - m_bounds.left()) / m_cell)), 0,
                          m_cols - 1);
    };
    auto row = [&](double y) {
        return std::clamp(static_cast<int>(std::floor((y - m_bounds.top()) / m_cell)), 0,
                          m_rows - 1);
    };
    c0 = col(r.left());
    c1 = col(r.right());
    r0 = row(r.top());
    r1 = row(r.bottom());
}

void SpatialGrid::insert(int item, const QRectF& box) {
    if (m_cells.empty()) return;
    int c0, r0, c1, r1;
    cellRange(box, c0, r0, c1, r1);
    for (int r = r0; r <= r1; ++r)
        for (int c = c0; c <= c1; ++c)
            m_cells[static_cast<std::size_t>(r) * m_cols + c].push_back(item);
}

void SpatialGrid::query(const QRectF& area, const std::function<void(int)>& visit) const {
    if (m_cells.empty() || !area.intersects(m_bounds.adjusted(-1, -1, 1, 1))) return;
    int c0, r0, c1, r1;
    cellRange(area, c0, r0, c1, r1);
    for (int r = r0; r <= r1; ++r)
        for (int c = c0; c <= c1; ++c)
            for (int item : m_cells[static_cast<std::size_t>(r) * m_cols + c]) visit(item);
}

// ---- GraphOverview -------------------------------------------------------------------------

void GraphOverview::clear() {
    m_boxes.clear();
    m_colorIndex.clear();
    m_palette.clear();
    m_segments.clear();
    m_boxGrid = {};
    m_segmentGrid = {};
    m_bounds = {};
}

void GraphOverview::recolor(const ir::Graph& graph, const layout::Layout& layout,
                            const std::function<QColor(const ir::Node&)>& colorOf) {
    std::unordered_map<QRgb, uint16_t> paletteIndex;
    decltype(m_palette) palette;
    auto colorIndex = [&](const QColor& c) -> uint16_t {
        auto [it, inserted] = paletteIndex.emplace(c.rgba(), static_cast<uint16_t>(palette.size()));
        if (inserted) palette.push_back(c);
        return it->second;
    };
    decltype(m_colorIndex) index;
    index.reserve(layout.nodes.size() + layout.terminals.size());
    for (const layout::NodeBox& b : layout.nodes) {
        const ir::Node* node = graph.findNode(b.id);
        index.push_back(colorIndex(node ? colorOf(*node) : QColor(Qt::gray)));
    }
    for (std::size_t t = 0; t < layout.terminals.size(); ++t)
        index.push_back(colorIndex(kTerminalColor));
    m_palette = std::move(palette);
    m_colorIndex = std::move(index);
}

void GraphOverview::build(const ir::Graph& graph, const layout::Layout& layout,
                          const std::function<QColor(const ir::Node&)>& colorOf) {
    clear();
    std::unordered_map<QRgb, uint16_t> paletteIndex;
    auto colorIndex = [&](const QColor& c) -> uint16_t {
        auto [it, inserted] =
            paletteIndex.emplace(c.rgba(), static_cast<uint16_t>(m_palette.size()));
        if (inserted) m_palette.push_back(c);
        return it->second;
    };
    m_boxes.reserve(layout.nodes.size() + layout.terminals.size());
    for (const layout::NodeBox& b : layout.nodes) {
        m_boxes.emplace_back(b.x, b.y, b.w, b.h);
        const ir::Node* node = graph.findNode(b.id);
        m_colorIndex.push_back(colorIndex(node ? colorOf(*node) : QColor(Qt::gray)));
    }
    for (const layout::Terminal& t : layout.terminals) {
        m_boxes.emplace_back(t.x, t.y, t.w, t.h);
        m_colorIndex.push_back(colorIndex(kTerminalColor));
    }
    // Segments: each trunk once, then each edge's own points; straight lines (no S-curves).
    auto addPolyline = [&](const layout::Point* pts, std::size_t n) {
        for (std::size_t i = 1; i < n; ++i)
            if (pts[i - 1].x != pts[i].x || pts[i - 1].y != pts[i].y)
                m_segments.emplace_back(pts[i - 1].x, pts[i - 1].y, pts[i].x, pts[i].y);
    };
    for (const auto& trunk : layout.trunks) addPolyline(trunk.data(), trunk.size());
    for (const layout::EdgePath& e : layout.edges) {
        if (e.trunk >= 0) {
            const auto& trunk = layout.trunks[static_cast<std::size_t>(e.trunk)];
            layout::Point start = trunk[static_cast<std::size_t>(e.trunkPoints - 1)];
            if (!e.points.empty())
                m_segments.emplace_back(start.x, start.y, e.points.front().x, e.points.front().y);
        }
        addPolyline(e.points.data(), e.points.size());
    }

    m_bounds = QRectF(0, 0, std::max(1.0, layout.width), std::max(1.0, layout.height));
    // About 4 boxes per cell on average keeps queries cheap at every zoom.
    const double cell = 4 * 80.0;
    m_boxGrid.reset(m_bounds, cell);
    for (std::size_t i = 0; i < m_boxes.size(); ++i)
        m_boxGrid.insert(static_cast<int>(i), m_boxes[i]);
    m_segmentGrid.reset(m_bounds, cell);
    for (std::size_t i = 0; i < m_segments.size(); ++i) {
        const QLineF& l = m_segments[i];
        m_segmentGrid.insert(static_cast<int>(i), QRectF(l.p1(), l.p2()).normalized());
    }
    m_boxStamp.assign(m_boxes.size(), 0);
    m_segmentStamp.assign(m_segments.size(), 0);
    m_stamp = 0;
}

std::vector<int> GraphOverview::boxesIn(const QRectF& area) const {
    std::vector<int> out;
    const uint32_t stamp = ++m_stamp;
    m_boxGrid.query(area, [&](int i) {
        if (m_boxStamp[i] == stamp) return;
        m_boxStamp[i] = stamp;
        if (m_boxes[i].intersects(area)) out.push_back(i);
    });
    std::sort(out.begin(), out.end());
    return out;
}

int GraphOverview::boxAt(const QPointF& point) const {
    int found = -1;
    m_boxGrid.query(QRectF(point, QSizeF(0.01, 0.01)), [&](int i) {
        if (m_boxes[i].contains(point)) found = std::max(found, i);
    });
    return found;
}

void GraphOverview::paint(QPainter* painter, const QTransform& t, const QRectF& area,
                          const std::function<bool(int)>& selected,
                          const std::function<bool(int)>& marked) const {
    if (m_boxes.empty()) return;
    // Work in device pixels: sub-pixel boxes get a minimum size there, and boxes or lines that
    // land on the pixel already drawn are skipped (a 100k-node chain overview is mostly that).
    const double sx = t.m11(), sy = t.m22(), dx = t.dx(), dy = t.dy();
    const uint32_t stamp = ++m_stamp;

    painter->save();
    painter->setWorldTransform(QTransform());
    painter->setRenderHint(QPainter::Antialiasing, false);

    std::vector<QLineF> lines;
    lines.reserve(1024);
    m_segmentGrid.query(area, [&](int i) {
        if (m_segmentStamp[i] == stamp) return;
        m_segmentStamp[i] = stamp;
        const QLineF& l = m_segments[i];
        QLineF d(l.x1() * sx + dx, l.y1() * sy + dy, l.x2() * sx + dx, l.y2() * sy + dy);
        if (std::abs(d.x1() - d.x2()) < 0.75 && std::abs(d.y1() - d.y2()) < 0.75) return;
        lines.push_back(d);
    });
    if (!lines.empty()) {
        painter->setPen(QPen(kEdgeColor, 0));
        painter->drawLines(lines.data(), static_cast<int>(lines.size()));
    }

    std::vector<std::vector<QRect>> byColor(m_palette.size());
    std::vector<QRect> chosen;
    std::vector<QRect> hits;
    std::vector<QRect> lastOfColor(m_palette.size(), QRect(-1, -1, 0, 0));
    m_boxGrid.query(area, [&](int i) {
        if (m_boxStamp[i] == stamp) return;
        m_boxStamp[i] = stamp;
        const QRectF& b = m_boxes[i];
        double x = b.x() * sx + dx, y = b.y() * sy + dy;
        double w = b.width() * sx, h = b.height() * sy;
        const bool sel = selected && selected(i);
        const bool hit = !sel && marked && marked(i);
        const double minPx = sel || hit ? kMinSelectedPx : kMinBoxPx;
        if (w < minPx) {
            x += (w - minPx) / 2;
            w = minPx;
        }
        if (h < minPx) {
            y += (h - minPx) / 2;
            h = minPx;
        }
        QRect r(static_cast<int>(std::floor(x)), static_cast<int>(std::floor(y)),
                std::max(1, static_cast<int>(std::lround(w))),
                std::max(1, static_cast<int>(std::lround(h))));
        if (sel) {
            chosen.push_back(r);
            return;
        }
        if (hit) {
            hits.push_back(r);
            return;
        }
        const uint16_t c = m_colorIndex[i];
        if (r == lastOfColor[c]) return;
        lastOfColor[c] = r;
        byColor[c].push_back(r);
    });
    painter->setPen(Qt::NoPen);
    for (std::size_t c = 0; c < byColor.size(); ++c) {
        if (byColor[c].empty()) continue;
        painter->setBrush(m_palette[c]);
        painter->drawRects(byColor[c].data(), static_cast<int>(byColor[c].size()));
    }
    if (!hits.empty()) {
        painter->setBrush(kSearchHitColor);
        painter->setPen(QPen(kSearchHitColor.darker(150), 0));
        painter->drawRects(hits.data(), static_cast<int>(hits.size()));
    }
    if (!chosen.empty()) {
        painter->setBrush(kSelectedColor);
        painter->setPen(QPen(kSelectedColor.darker(150), 0));
        painter->drawRects(chosen.data(), static_cast<int>(chosen.size()));
    }
    painter->restore();
}

// ---- OverviewItem --------------------------------------------------------------------------

OverviewItem::OverviewItem(const GraphOverview* overview, double detailLod,
                           std::function<bool(int)> selected, std::function<bool(int)> marked)
    : m_overview(overview),
      m_detailLod(detailLod),
      m_selected(std::move(selected)),
      m_marked(std::move(marked)) {
    setZValue(-2);
    setAcceptedMouseButtons(Qt::NoButton);
    setFlag(ItemUsesExtendedStyleOption);  // exposedRect: paint only what is asked for
}

QRectF OverviewItem::boundingRect() const {
    return m_overview->bounds().adjusted(-10, -10, 10, 10);
}

void OverviewItem::paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget*) {
    const QTransform t = painter->worldTransform();
    if (option->levelOfDetailFromTransform(t) >= m_detailLod) return;
    m_overview->paint(painter, t, option->exposedRect, m_selected, m_marked);
}

}  // namespace wh::widgets
