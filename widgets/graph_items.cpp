#include "widgets/graph_items.h"

#include <QFontMetricsF>
#include <QPainter>
#include <QPainterPathStroker>
#include <QStyleOptionGraphicsItem>

#include "widgets/op_metadata.h"

namespace wh::widgets {

namespace {

constexpr double kCornerRadius = 5.0;
constexpr double kArrowSize = 6.0;
const QColor kWireColor(0x8b, 0x93, 0x9c);
const QColor kWireHighlight(0x1f, 0x5f, 0xbf);
const QColor kSelectionColor(0xff, 0xb3, 0x00);

QString toQString(const std::string& s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

/// Appends one layout segment: straight when it stays in a layer (vertical), an S-curve when it
/// crosses the gap between two layers.
void appendSegment(QPainterPath& path, const layout::Point& a, const layout::Point& b) {
    if (a.x == b.x) {
        path.lineTo(b.x, b.y);
        return;
    }
    double midY = (a.y + b.y) / 2;
    path.cubicTo(a.x, midY, b.x, midY, b.x, b.y);
}

}  // namespace

// ---- NodeItem ------------------------------------------------------------------------------

NodeItem::NodeItem(const ir::Node& node, const layout::NodeBox& box, const OpCategory& category,
                   const GraphStyle* style)
    : m_id(node.id()),
      m_rect(0, 0, box.w, box.h),
      m_opType(toQString(node.opType)),
      m_name(toQString(node.name)),
      m_category(category.name),
      m_fill(category.color),
      m_text(category.textColor()),
      m_style(style) {
    setPos(box.x, box.y);
    setFlag(ItemIsSelectable);
    setAcceptHoverEvents(false);
    QFontMetricsF metrics(style->nameFont);
    m_elidedName = metrics.elidedText(m_name, Qt::ElideMiddle, box.w - 10);
    QString tip = QStringLiteral("<b>%1</b><br>%2")
                      .arg(m_opType.toHtmlEscaped(), toQString(node.displayName()).toHtmlEscaped());
    if (!node.domain.empty() && node.domain != "ai.onnx")
        tip += QStringLiteral("<br><i>%1</i>").arg(toQString(node.domain).toHtmlEscaped());
    setToolTip(tip);
}

QRectF NodeItem::boundingRect() const {
    return m_rect.adjusted(-2, -2, 2, 2);
}

void NodeItem::paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget*) {
    const double lod = option->levelOfDetailFromTransform(painter->worldTransform());
    const bool selected = isSelected();
    painter->setPen(selected ? QPen(kSelectionColor, 3.0) : QPen(m_fill.darker(140), 1.0));
    painter->setBrush(m_fill);
    if (lod < m_style->textMinLod) {
        painter->drawRect(m_rect);  // far away: plain boxes, no text, no rounding
        return;
    }
    painter->drawRoundedRect(m_rect, kCornerRadius, kCornerRadius);

    painter->setPen(m_text);
    const QRectF inner = m_rect.adjusted(5, 2, -5, -2);
    if (m_elidedName.isEmpty()) {
        painter->setFont(m_style->opFont);
        painter->drawText(inner, Qt::AlignCenter, m_opType);
        return;
    }
    const double half = inner.height() / 2;
    painter->setFont(m_style->opFont);
    painter->drawText(QRectF(inner.left(), inner.top() + 1, inner.width(), half),
                      Qt::AlignHCenter | Qt::AlignBottom, m_opType);
    painter->setFont(m_style->nameFont);
    QColor nameColor = m_text;
    nameColor.setAlphaF(0.85);
    painter->setPen(nameColor);
    painter->drawText(QRectF(inner.left(), inner.top() + half, inner.width(), half),
                      Qt::AlignHCenter | Qt::AlignTop, m_elidedName);
}

// ---- WireItem ------------------------------------------------------------------------------

WireItem::WireItem(ir::NodeId from, const layout::Layout& layout,
                   const std::vector<const layout::EdgePath*>& edges)
    : m_from(from) {
    setZValue(-1);  // under the boxes
    setAcceptedMouseButtons(Qt::NoButton);
    int drawnTrunk = -1;
    for (const layout::EdgePath* edge : edges) {
        if (edge->reversed) {
            // A cycle-closing edge: draw its full path (rare; only in invalid graphs).
            std::vector<layout::Point> pts = layout.path(*edge);
            m_stroke.moveTo(pts.front().x, pts.front().y);
            for (std::size_t i = 1; i < pts.size(); ++i)
                appendSegment(m_stroke, pts[i - 1], pts[i]);
        } else {
            layout::Point start;
            if (edge->trunk >= 0) {
                const auto& trunk = layout.trunks[static_cast<std::size_t>(edge->trunk)];
                if (drawnTrunk != edge->trunk) {
                    m_stroke.moveTo(trunk.front().x, trunk.front().y);
                    for (std::size_t i = 1; i < trunk.size(); ++i)
                        appendSegment(m_stroke, trunk[i - 1], trunk[i]);
                    drawnTrunk = edge->trunk;
                }
                start = trunk[static_cast<std::size_t>(edge->trunkPoints - 1)];
            } else {
                start = edge->points.front();
            }
            m_stroke.moveTo(start.x, start.y);
            layout::Point prev = start;
            for (std::size_t i = edge->trunk >= 0 ? 0 : 1; i < edge->points.size(); ++i) {
                appendSegment(m_stroke, prev, edge->points[i]);
                prev = edge->points[i];
            }
        }
        // Arrowhead at the consumer's top centre, pointing down (or up, for a reversed edge).
        layout::Point tip = edge->points.back();
        double dir = edge->reversed ? -1.0 : 1.0;
        if (edge->reversed) {
            const layout::NodeBox* to = layout.find(edge->to);
            if (to) tip = {to->centerX(), to->y + to->h};
        }
        m_arrows.moveTo(tip.x, tip.y);
        m_arrows.lineTo(tip.x - kArrowSize / 2, tip.y - dir * kArrowSize);
        m_arrows.lineTo(tip.x + kArrowSize / 2, tip.y - dir * kArrowSize);
        m_arrows.closeSubpath();
    }
    m_bounds = m_stroke.boundingRect().united(m_arrows.boundingRect()).adjusted(-3, -3, 3, 3);
}

void WireItem::setHighlighted(bool on) {
    if (on == m_highlighted) return;
    m_highlighted = on;
    setZValue(on ? -0.5 : -1);
    update();
}

QPainterPath WireItem::shape() const {
    QPainterPathStroker stroker;
    stroker.setWidth(4);
    return stroker.createStroke(m_stroke);
}

void WireItem::paint(QPainter* painter, const QStyleOptionGraphicsItem*, QWidget*) {
    const QColor color = m_highlighted ? kWireHighlight : kWireColor;
    painter->setPen(QPen(color, m_highlighted ? 2.2 : 1.3));
    painter->setBrush(Qt::NoBrush);
    painter->drawPath(m_stroke);
    painter->setPen(Qt::NoPen);
    painter->setBrush(color);
    painter->drawPath(m_arrows);
}

}  // namespace wh::widgets
