#include "widgets/graph_items.h"

#include <algorithm>

#include <QFontMetricsF>
#include <QPainter>
#include <QPainterPathStroker>
#include <QStyleOptionGraphicsItem>

#include "core/onnx/op_schema.h"
#include "widgets/op_metadata.h"
#include "widgets/shape_table.h"

namespace wh::widgets {

namespace {

constexpr double kCornerRadius = 5.0;
constexpr double kArrowSize = 6.0;
const QColor kWireColor(0x8b, 0x93, 0x9c);
const QColor kWireHighlight(0x1f, 0x5f, 0xbf);
const QColor kSelectionColor(0xff, 0xb3, 0x00);
/// Search hits: a halo distinct from the selection's amber and from every category colour.
const QColor kSearchHitColor(0xd0, 0x2f, 0xc8, 170);
constexpr double kHaloWidth = 4.0;
const QColor kLabelColor(0x5b, 0x64, 0x6e);
const QColor kTerminalFill(0xe4, 0xe7, 0xeb);
const QColor kTerminalBorder(0x5b, 0x64, 0x6e);

QString toQString(const std::string& s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

double lodOf(const QStyleOptionGraphicsItem* option, const QPainter* painter) {
    return option->levelOfDetailFromTransform(painter->worldTransform());
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

QString shapeLabel(const ir::Value* value, const ShapeTable* shapes) {
    if (!value) return {};
    const ir::Type& type = displayType(*value, shapes);
    if (type.kind != ir::Type::Kind::kTensor || !type.shape) return {};
    QStringList dims;
    for (const ir::Dim& d : type.shape->dims) {
        if (d.kind == ir::Dim::Kind::kValue)
            dims << QString::number(d.value);
        else if (d.kind == ir::Dim::Kind::kParam)
            dims << toQString(d.param);
        else
            dims << QStringLiteral("?");
    }
    if (dims.isEmpty()) return QStringLiteral("scalar");
    return dims.join(QChar(0x00d7));
}

QString quantizedInputBadge(const ir::Node& node, QStringList* tensors) {
    QString badge;
    for (const ir::Value* in : node.inputs()) {
        const ir::Node* dq = in ? in->producer() : nullptr;
        if (!dq || dq->opType != "DequantizeLinear" || !dq->input(0)) continue;
        const ir::Node* q = dq->input(0)->producer();
        if (!q || q->opType != "QuantizeLinear") continue;
        if (tensors) *tensors << toQString(q->input(0) ? q->input(0)->name() : in->name());
        const ir::Value* zp = q->input(2);
        const ir::DType type =
            zp && zp->initializer() ? zp->initializer()->dtype : ir::DType::kUInt8;
        const bool wide = type == ir::DType::kInt16 || type == ir::DType::kUInt16;
        if (badge.isEmpty() || wide) badge = wide ? QStringLiteral("int16") : QStringLiteral("int8");
    }
    return badge;
}

QFont quantizedBadgeFont(const QFont& nameFont) {
    QFont font = nameFont;
    font.setPointSizeF(std::max(5.0, font.pointSizeF() * 0.8));
    return font;
}

double quantizedBadgeWidth(const QFont& nameFont, const QString& badge) {
    return QFontMetricsF(quantizedBadgeFont(nameFont)).horizontalAdvance(badge) + 6;
}

// ---- NodeItem ------------------------------------------------------------------------------

NodeItem::NodeItem(const ir::Node& node, const layout::NodeBox& box, const OpCategory& category,
                   const GraphStyle* style, bool nested)
    : m_node(&node),
      m_id(node.id()),
      m_rect(0, 0, box.w, box.h),
      m_opType(toQString(node.opType)),
      m_name(toQString(node.name)),
      m_category(category.name),
      m_fill(category.color),
      m_text(category.textColor()),
      m_nested(nested),
      m_style(style) {
    setPos(box.x, box.y);
    setFlag(ItemIsSelectable, true);
    setAcceptHoverEvents(false);
    for (const ir::Graph* body : node.subgraphs()) {
        ++m_numSubgraphs;
        m_subgraphNodes += static_cast<int>(body->numNodesRecursive());
    }
    QStringList quantized;
    m_quantBadge = quantizedInputBadge(node, &quantized);
    if (!m_quantBadge.isEmpty()) m_quantBadgeWidth = quantizedBadgeWidth(style->nameFont, m_quantBadge);
    QFontMetricsF metrics(style->nameFont);
    m_elidedName =
        metrics.elidedText(m_name, Qt::ElideMiddle, box.w - 10 - (m_numSubgraphs ? 14 : 0));
    QString tip = QStringLiteral("<b>%1</b><br>%2")
                      .arg(m_opType.toHtmlEscaped(), toQString(node.displayName()).toHtmlEscaped());
    if (!node.domain.empty() && node.domain != "ai.onnx")
        tip += QStringLiteral("<br><i>%1</i>").arg(toQString(node.domain).toHtmlEscaped());
    if (m_numSubgraphs)
        tip += QStringLiteral(
                   "<br>%1 subgraph(s), %2 node(s) — click + (or double-click) to expand or "
                   "collapse")
                   .arg(m_numSubgraphs)
                   .arg(m_subgraphNodes);
    if (!quantized.isEmpty())
        tip += QStringLiteral("<br>reads %1 as %2 (its QuantizeLinear → DequantizeLinear pair is "
                              "folded into this box)")
                   .arg(quantized.join(QStringLiteral(", ")).toHtmlEscaped(), m_quantBadge);
    setToolTip(tip);
}

void NodeItem::setPanels(std::vector<Panel> panels) {
    prepareGeometryChange();
    m_panels = std::move(panels);
    update();
}

void NodeItem::setProblem(const QString& message) {
    if (message == m_problem) return;
    if (m_baseToolTip.isEmpty()) m_baseToolTip = toolTip();
    m_problem = message;
    setToolTip(message.isEmpty() ? m_baseToolTip
                                 : m_baseToolTip + QStringLiteral("<hr><b>Problem:</b> ") +
                                       message.toHtmlEscaped());
    update();
}

void NodeItem::setSearchHit(bool on) {
    if (m_searchHit == on) return;
    m_searchHit = on;
    update();
}

void NodeItem::setFill(const QColor& fill) {
    if (fill == m_fill) return;
    m_fill = fill;
    m_text = OpCategory{QString(), fill}.textColor();
    update();
}

QRectF NodeItem::badgeRect() const {
    if (!m_numSubgraphs) return {};
    if (isExpanded()) {
        const double headerHeight = m_style->expandedHeader - 6;
        return QRectF(m_rect.right() - 17, m_rect.top() + headerHeight / 2 - 5.5, 11, 11);
    }
    return QRectF(m_rect.right() - 15, m_rect.top() + 4, 11, 11);
}

QRectF NodeItem::boundingRect() const {
    // Room for the search halo, whether it is shown or not (no geometry change when it toggles).
    const double m = kHaloWidth + 1;
    return m_rect.adjusted(-m, -m, m, m);
}

void NodeItem::paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget*) {
    const double lod = lodOf(option, painter);
    // The overview item draws a collapsed top-level node; an expanded one only as a pale box,
    // so the frame, its panels and the nested nodes draw themselves at every zoom.
    if (lod < m_style->detailLod && !m_nested && !isExpanded()) return;
    if (isExpanded()) {
        paintExpanded(painter, lod);
        return;
    }
    paintBox(painter, lod);
    if (lod >= m_style->portMinLod) paintPorts(painter);
    if (!m_problem.isEmpty()) {
        // A red disc with "!" straddling the top-right corner (inside the halo's margin).
        const double r = std::min(kHaloWidth + 1, 6.0);
        const QPointF c(m_rect.right() - 1, m_rect.top() + 1);
        painter->setPen(QPen(Qt::white, 1.0));
        painter->setBrush(QColor(0xd3, 0x2f, 0x2f));
        painter->drawEllipse(c, r, r);
        if (lod >= m_style->textMinLod) {
            QFont f = m_style->nameFont;
            f.setBold(true);
            f.setPointSizeF(std::max(5.0, f.pointSizeF() * 0.8));
            painter->setFont(f);
            painter->drawText(QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r), Qt::AlignCenter,
                              QStringLiteral("!"));
        }
    }
}

int NodeItem::inputPortCount() const {
    if (m_inputPorts < 0) {
        int n = m_node->numInputs();
        if (m_style->opset > 0)
            if (auto arity = onnx::operatorArity(m_node->opType, m_node->domain, m_style->opset))
                n = std::max(n, arity->inputs) + (arity->variadicInputs ? 1 : 0);
        m_inputPorts = n;
    }
    return m_inputPorts;
}

int NodeItem::outputPortCount() const {
    return m_node->numOutputs();
}

QPointF NodeItem::inputPortPos(int index) const {
    const int n = inputPortCount();
    return {m_rect.left() + m_rect.width() * (index + 1) / (n + 1), m_rect.top()};
}

QPointF NodeItem::outputPortPos(int index) const {
    const int n = outputPortCount();
    return {m_rect.left() + m_rect.width() * (index + 1) / (n + 1), m_rect.bottom()};
}

namespace {
// The port of `count` whose centre (given by `pos`) is within reach of `p`, or -1.
template <class PosOf>
int portNear(const QPointF& p, int count, PosOf pos) {
    constexpr double kReach = NodeItem::kPortRadius + 4;
    int best = -1;
    double bestDistance = kReach * kReach;
    for (int i = 0; i < count; ++i) {
        const QPointF d = pos(i) - p;
        const double distance = d.x() * d.x() + d.y() * d.y();
        if (distance <= bestDistance) best = i, bestDistance = distance;
    }
    return best;
}
}  // namespace

int NodeItem::inputPortAt(const QPointF& itemPos) const {
    return portNear(itemPos, inputPortCount(), [this](int i) { return inputPortPos(i); });
}

int NodeItem::outputPortAt(const QPointF& itemPos) const {
    return portNear(itemPos, outputPortCount(), [this](int i) { return outputPortPos(i); });
}

void NodeItem::setHotInputPort(int index) {
    if (index == m_hotInput) return;
    m_hotInput = index;
    update();
}

void NodeItem::setHotOutputPort(int index) {
    if (index == m_hotOutput) return;
    m_hotOutput = index;
    update();
}

void NodeItem::paintPorts(QPainter* painter) {
    // Filled: connected; hollow: an input the node does not read yet (or an unused output).
    const QColor rim = m_fill.darker(170);
    auto port = [&](const QPointF& c, bool connected, bool hot) {
        const double r = hot ? kPortRadius + 1.5 : kPortRadius;
        painter->setPen(QPen(hot ? kSelectionColor : rim, hot ? 2.0 : 1.2));
        painter->setBrush(connected ? QBrush(rim) : QBrush(Qt::white));
        painter->drawEllipse(c, r, r);
    };
    for (int i = 0; i < inputPortCount(); ++i)
        port(inputPortPos(i), m_node->input(i) != nullptr, i == m_hotInput);
    for (int i = 0; i < outputPortCount(); ++i) {
        const ir::Value* out = m_node->output(i);
        port(outputPortPos(i), out && (out->hasUses() || out->isGraphOutput()), i == m_hotOutput);
    }
}

void NodeItem::paintBox(QPainter* painter, double lod) {
    const bool selected = isSelected();
    if (m_searchHit) {
        painter->setPen(Qt::NoPen);
        painter->setBrush(kSearchHitColor);
        painter->drawRoundedRect(m_rect.adjusted(-kHaloWidth, -kHaloWidth, kHaloWidth, kHaloWidth),
                                 kCornerRadius + kHaloWidth, kCornerRadius + kHaloWidth);
    }
    painter->setPen(selected ? QPen(kSelectionColor, 3.0) : QPen(m_fill.darker(140), 1.0));
    painter->setBrush(m_fill);
    if (lod < m_style->textMinLod) {
        painter->drawRect(m_rect);  // far away: plain boxes, no text, no rounding
        return;
    }
    painter->drawRoundedRect(m_rect, kCornerRadius, kCornerRadius);

    QRectF inner = m_rect.adjusted(5, 2, -5, -2);
    if (m_numSubgraphs) {
        // "+" badge: this node holds subgraphs; double-click expands them.
        QRectF badge = badgeRect();
        painter->setPen(QPen(m_text, 1.0));
        painter->setBrush(Qt::NoBrush);
        painter->drawRect(badge);
        painter->drawLine(QPointF(badge.left() + 3, badge.center().y()),
                          QPointF(badge.right() - 3, badge.center().y()));
        painter->drawLine(QPointF(badge.center().x(), badge.top() + 3),
                          QPointF(badge.center().x(), badge.bottom() - 3));
        inner.adjust(0, 0, -12, 0);
    }

    QRectF opLine = inner;  // the op type's line gives way to the quantized-input pill
    if (!m_quantBadge.isEmpty()) {
        // A small pill at the left of the op type: the node reads a quantized tensor.
        const double w = m_quantBadgeWidth;
        const QRectF pill(m_rect.left() + 3, m_rect.top() + 3, w, 10);
        painter->setPen(Qt::NoPen);
        painter->setBrush(QColor(0xe0, 0x8a, 0x1e));  // the Q/DQ nodes' orange
        painter->drawRoundedRect(pill, 3, 3);
        painter->setPen(Qt::white);
        painter->setFont(quantizedBadgeFont(m_style->nameFont));
        painter->drawText(pill, Qt::AlignCenter, m_quantBadge);
        opLine.adjust(w + 2, 0, 0, 0);
    }
    painter->setPen(m_text);
    if (m_elidedName.isEmpty()) {
        painter->setFont(m_style->opFont);
        painter->drawText(opLine, Qt::AlignCenter, m_opType);
        return;
    }
    const double half = inner.height() / 2;
    painter->setFont(m_style->opFont);
    painter->drawText(QRectF(opLine.left(), opLine.top() + 1, opLine.width(), half),
                      Qt::AlignHCenter | Qt::AlignBottom, m_opType);
    painter->setFont(m_style->nameFont);
    QColor nameColor = m_text;
    nameColor.setAlphaF(0.85);
    painter->setPen(nameColor);
    painter->drawText(QRectF(inner.left(), inner.top() + half, inner.width(), half),
                      Qt::AlignHCenter | Qt::AlignTop, m_elidedName);
}

void NodeItem::paintExpanded(QPainter* painter, double lod) {
    const bool selected = isSelected();
    QColor frameFill = m_fill;
    frameFill.setAlphaF(0.12);
    painter->setPen(selected ? QPen(kSelectionColor, 3.0) : QPen(m_fill.darker(130), 1.5));
    painter->setBrush(frameFill);
    painter->drawRoundedRect(m_rect, kCornerRadius, kCornerRadius);
    // Header strip in the category colour.
    QRectF header(m_rect.left(), m_rect.top(), m_rect.width(), m_style->expandedHeader - 6);
    painter->setPen(Qt::NoPen);
    painter->setBrush(m_fill);
    painter->drawRoundedRect(header, kCornerRadius, kCornerRadius);
    if (lod >= m_style->textMinLod) {
        painter->setPen(m_text);
        painter->setFont(m_style->opFont);
        QString title = m_name.isEmpty() ? m_opType : m_opType + QStringLiteral("  ") + m_name;
        painter->drawText(
            header.adjusted(8, 0, -24, 0), Qt::AlignVCenter | Qt::AlignLeft,
            QFontMetricsF(m_style->opFont).elidedText(title, Qt::ElideRight, header.width() - 32));
        // "−" badge: a click (or a double-click on the header) collapses.
        QRectF badge = badgeRect();
        painter->setPen(QPen(m_text, 1.0));
        painter->setBrush(Qt::NoBrush);
        painter->drawRect(badge);
        painter->drawLine(QPointF(badge.left() + 3, badge.center().y()),
                          QPointF(badge.right() - 3, badge.center().y()));
    }
    for (const Panel& panel : m_panels) {
        painter->setPen(QPen(m_fill.darker(120), 1.0, Qt::DashLine));
        painter->setBrush(QColor(255, 255, 255, 200));
        painter->drawRect(panel.rect);
        if (lod >= m_style->textMinLod) {
            painter->setPen(kLabelColor);
            painter->setFont(m_style->nameFont);
            painter->drawText(QRectF(panel.rect.left() + 6, panel.rect.top(),
                                     panel.rect.width() - 12, m_style->panelCaption),
                              Qt::AlignVCenter | Qt::AlignLeft, panel.caption);
        }
    }
}

// ---- TerminalItem --------------------------------------------------------------------------

TerminalItem::TerminalItem(const layout::Terminal& terminal, const QString& typeText,
                           const GraphStyle* style)
    : m_rect(0, 0, terminal.w, terminal.h),
      m_name(toQString(terminal.value)),
      m_isInput(terminal.isInput),
      m_style(style) {
    setPos(terminal.x, terminal.y);
    setAcceptedMouseButtons(Qt::NoButton);
    m_elided = QFontMetricsF(style->nameFont).elidedText(m_name, Qt::ElideMiddle, terminal.w - 10);
    setToolTip(QStringLiteral("<b>%1</b> %2<br>%3")
                   .arg(m_isInput ? QObject::tr("Input") : QObject::tr("Output"),
                        m_name.toHtmlEscaped(), typeText.toHtmlEscaped()));
}

QRectF TerminalItem::boundingRect() const {
    return m_rect.adjusted(-1, -1, 1, 1);
}

void TerminalItem::paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget*) {
    const double lod = lodOf(option, painter);
    if (lod < m_style->detailLod && !parentItem()) return;
    painter->setPen(QPen(kTerminalBorder, 1.0));
    painter->setBrush(kTerminalFill);
    const double r = m_rect.height() / 2;
    painter->drawRoundedRect(m_rect, r, r);
    if (lod < m_style->textMinLod) return;
    painter->setPen(kTerminalBorder);
    painter->setFont(m_style->nameFont);
    painter->drawText(m_rect, Qt::AlignCenter, m_elided);
}

// ---- WireItem ------------------------------------------------------------------------------

WireItem::WireItem(ir::NodeId from, const layout::Layout& layout,
                   const std::vector<const layout::EdgePath*>& edges, std::vector<Label> labels,
                   const GraphStyle* style)
    : m_from(from), m_labels(std::move(labels)), m_style(style) {
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
    QFontMetricsF metrics(style->labelFont);
    for (const Label& label : m_labels)
        m_bounds |= QRectF(label.anchor.x() + 4, label.anchor.y(),
                           metrics.horizontalAdvance(label.text) + 2, metrics.height() + 2);
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

void WireItem::paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget*) {
    const double lod = lodOf(option, painter);
    if (lod < m_style->detailLod && !parentItem()) return;
    const QColor color = m_highlighted ? kWireHighlight : kWireColor;
    painter->setPen(QPen(color, m_highlighted ? 2.2 : 1.3));
    painter->setBrush(Qt::NoBrush);
    painter->drawPath(m_stroke);
    painter->setPen(Qt::NoPen);
    painter->setBrush(color);
    painter->drawPath(m_arrows);
    if (lod < m_style->labelMinLod || m_labels.empty()) return;
    painter->setFont(m_style->labelFont);
    painter->setPen(m_highlighted ? kWireHighlight : kLabelColor);
    const double ascent = QFontMetricsF(m_style->labelFont).ascent();
    for (const Label& label : m_labels)
        painter->drawText(QPointF(label.anchor.x() + 5, label.anchor.y() + ascent + 1), label.text);
}

}  // namespace wh::widgets
