#pragma once
/// The scene items of GraphView: one NodeItem per node, one WireItem per producer (its trunk and
/// every branch to a consumer, with arrowheads).

#include <QFont>
#include <QGraphicsItem>
#include <QPainterPath>
#include <QString>

#include "core/ir/graph.h"
#include "core/layout/graph_layout.h"

namespace wh::widgets {

struct OpCategory;

/// Fonts and sizes shared by every item of one view.
struct GraphStyle {
    QFont opFont;    ///< op type, bold
    QFont nameFont;  ///< node name, smaller
    /// Below this zoom (level of detail) text is not drawn: boxes alone read better.
    double textMinLod = 0.3;
};

/// A node's box: fill by op category, op type on top, the (elided) node name below.
class NodeItem : public QGraphicsItem {
public:
    enum { Type = UserType + 1 };

    NodeItem(const ir::Node& node, const layout::NodeBox& box, const OpCategory& category,
             const GraphStyle* style);

    ir::NodeId nodeId() const { return m_id; }
    const QString& opType() const { return m_opType; }
    const QString& name() const { return m_name; }
    const QString& categoryName() const { return m_category; }

    int type() const override { return Type; }
    QRectF boundingRect() const override;
    void paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

private:
    ir::NodeId m_id;
    QRectF m_rect;
    QString m_opType;
    QString m_name;
    QString m_elidedName;
    QString m_category;
    QColor m_fill;
    QColor m_text;
    const GraphStyle* m_style;  // owned by the view, outlives its items
};

/// Everything drawn from one producer: the polyline(s) to its consumers, smoothed between layers,
/// and an arrowhead at each consumer.
class WireItem : public QGraphicsItem {
public:
    enum { Type = UserType + 2 };

    /// `edges` are the layout's edges leaving `from` (all share its trunk, if any).
    WireItem(ir::NodeId from, const layout::Layout& layout,
             const std::vector<const layout::EdgePath*>& edges);

    ir::NodeId from() const { return m_from; }
    /// Highlighted wires (the selected node's inputs and outputs) draw darker and thicker.
    void setHighlighted(bool on);

    int type() const override { return Type; }
    QRectF boundingRect() const override { return m_bounds; }
    QPainterPath shape() const override;
    void paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

private:
    ir::NodeId m_from;
    QPainterPath m_stroke;
    QPainterPath m_arrows;
    QRectF m_bounds;
    bool m_highlighted = false;
};

}  // namespace wh::widgets
