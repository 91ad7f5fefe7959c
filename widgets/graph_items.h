#pragma once
/// The scene items of GraphView at readable zoom: one NodeItem per node, one WireItem per
/// producer (its trunk and every branch to a consumer, with arrowheads and tensor-shape labels),
/// one TerminalItem per graph input or output. Zoomed out below GraphStyle::detailLod they draw
/// nothing: OverviewItem (graph_overview.h) draws the whole graph cheaply instead.
///
/// A node holding subgraphs (If, Loop, Scan) shows a "+" badge; expanded, it becomes a frame
/// with one panel per body and the body's items as its children.

#include <vector>

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
    QFont opFont;     ///< op type, bold
    QFont nameFont;   ///< node name, smaller
    QFont labelFont;  ///< tensor shapes on wires
    /// Below this zoom items draw nothing (the overview item takes over).
    double detailLod = 0.3;
    /// Below this zoom text is not drawn: boxes alone read better.
    double textMinLod = 0.45;
    /// Below this zoom wires carry no shape labels.
    double labelMinLod = 0.6;
    /// Header height of an expanded node and caption height of each body panel.
    double expandedHeader = 34;
    double panelCaption = 18;
    double panelPadding = 12;
    /// At or above this zoom nodes draw their input and output ports (drag one to connect).
    double portMinLod = 0.9;
    /// The model's default-domain opset: the schemas that say how many inputs an op declares,
    /// so that a node shows ports for the inputs it does not have yet. 0 = unknown.
    int64_t opset = 0;
};

/// A node's box: fill by op category, op type on top, the (elided) node name below.
/// "int8" (or "int16") when `node` reads a tensor through a QuantizeLinear → DequantizeLinear
/// pair (the pairs the layout collapses, LayoutOptions::collapseQuantizers), with the tensors'
/// names in `tensors`; empty otherwise. NodeItem draws it as a pill before the op type.
QString quantizedInputBadge(const ir::Node& node, QStringList* tensors = nullptr);
/// The pill's font (the node-name font, smaller) and its width for `badge`.
QFont quantizedBadgeFont(const QFont& nameFont);
double quantizedBadgeWidth(const QFont& nameFont, const QString& badge);

class NodeItem : public QGraphicsItem {
public:
    enum { Type = UserType + 1 };

    /// `nested`: the node belongs to a subgraph drawn inside an expanded node. It is selected and
    /// searched like any node (node ids are unique across a model's subgraphs) and draws itself
    /// at every zoom (the overview only knows top-level boxes).
    NodeItem(const ir::Node& node, const layout::NodeBox& box, const OpCategory& category,
             const GraphStyle* style, bool nested = false);

    ir::NodeId nodeId() const { return m_id; }
    const ir::Node* node() const { return m_node; }
    bool isNested() const { return m_nested; }
    const QString& opType() const { return m_opType; }
    const QString& name() const { return m_name; }
    const QString& categoryName() const { return m_category; }
    bool hasSubgraphs() const { return m_numSubgraphs > 0; }
    /// The "+" (collapsed) or "−" (expanded) badge in item coordinates; a click on it toggles
    /// the subgraphs. Empty for a node without subgraphs.
    QRectF badgeRect() const;

    /// One panel per subgraph body, in item coordinates, with its caption; empty = collapsed.
    struct Panel {
        QRectF rect;
        QString caption;
    };
    void setPanels(std::vector<Panel> panels);
    bool isExpanded() const { return !m_panels.empty(); }

    /// A search hit draws a halo around its box (the current hit is also selected), so every
    /// match of a search stands out, not only the one shown.
    void setSearchHit(bool on);
    bool isSearchHit() const { return m_searchHit; }

    /// A problem the live validation found on this node (a type or dimension conflict, a
    /// missing input): a red "!" badge at the box's top-right corner, the message in its
    /// tooltip. Empty = none.
    void setProblem(const QString& message);
    const QString& problem() const { return m_problem; }

    /// The box's fill (its op category's colour unless an overlay gave another); the text
    /// colour follows it for contrast.
    void setFill(const QColor& fill);
    const QColor& fill() const { return m_fill; }

    /// Ports, on the box's top edge (inputs, left to right) and bottom edge (outputs). Input
    /// ports: the node's inputs, then those its schema declares that it does not have, and one
    /// more on a variadic op (Concat, Sum) to append to; output ports: its outputs.
    static constexpr double kPortRadius = 4.0;
    int inputPortCount() const;
    int outputPortCount() const;
    /// Port centres in item coordinates.
    QPointF inputPortPos(int index) const;
    QPointF outputPortPos(int index) const;
    /// The port within reach of `itemPos` (item coordinates), or -1.
    int inputPortAt(const QPointF& itemPos) const;
    int outputPortAt(const QPointF& itemPos) const;
    /// Draws port `index` highlighted (a connection being dragged is over it); -1 = none.
    void setHotInputPort(int index);
    void setHotOutputPort(int index);

    int type() const override { return Type; }
    QRectF boundingRect() const override;
    void paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

private:
    void paintBox(QPainter* painter, double lod);
    void paintExpanded(QPainter* painter, double lod);
    void paintPorts(QPainter* painter);

    const ir::Node* m_node;
    ir::NodeId m_id;
    QRectF m_rect;
    QString m_opType;
    QString m_name;
    QString m_elidedName;
    QString m_category;
    QColor m_fill;
    QColor m_text;
    int m_numSubgraphs = 0;
    int m_subgraphNodes = 0;
    /// "int8" when the node reads a tensor through a QuantizeLinear → DequantizeLinear pair the
    /// layout collapsed (LayoutOptions::collapseQuantizers); empty otherwise.
    QString m_quantBadge;
    double m_quantBadgeWidth = 0;
    bool m_nested;
    bool m_searchHit = false;
    std::vector<Panel> m_panels;
    mutable int m_inputPorts = -1;  // computed on first use (a schema lookup)
    QString m_problem;
    QString m_baseToolTip;
    int m_hotInput = -1;
    int m_hotOutput = -1;
    const GraphStyle* m_style;  // owned by the view, outlives its items
};

/// A graph input or output: a small rounded grey box with the value's name.
class TerminalItem : public QGraphicsItem {
public:
    enum { Type = UserType + 3 };

    TerminalItem(const layout::Terminal& terminal, const QString& typeText,
                 const GraphStyle* style);
    const QString& valueName() const { return m_name; }
    bool isInput() const { return m_isInput; }

    int type() const override { return Type; }
    QRectF boundingRect() const override;
    void paint(QPainter* painter, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

private:
    QRectF m_rect;
    QString m_name;
    QString m_elided;
    bool m_isInput;
    const GraphStyle* m_style;
};

/// Everything drawn from one producer (a node or an input terminal): the polyline(s) to its
/// consumers, smoothed between layers, an arrowhead at each consumer, and the shape of each
/// value next to where it leaves the producer.
class WireItem : public QGraphicsItem {
public:
    enum { Type = UserType + 2 };

    /// A tensor-shape label; `anchor` is where the value leaves its producer.
    struct Label {
        QPointF anchor;
        QString text;
    };

    /// `edges` are the layout's edges leaving one producer (all share its trunk, if any);
    /// `from` is the producing node's id, 0 for a terminal.
    WireItem(ir::NodeId from, const layout::Layout& layout,
             const std::vector<const layout::EdgePath*>& edges, std::vector<Label> labels,
             const GraphStyle* style);

    ir::NodeId from() const { return m_from; }
    const std::vector<Label>& labels() const { return m_labels; }
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
    std::vector<Label> m_labels;
    QRectF m_bounds;
    bool m_highlighted = false;
    const GraphStyle* m_style;
};

class ShapeTable;

/// "1×64×56×56" for a tensor value with a known shape (declared, else inferred in `shapes`,
/// which may be null; symbols by name, unknown dims as "?"), empty otherwise.
QString shapeLabel(const ir::Value* value, const ShapeTable* shapes = nullptr);

}  // namespace wh::widgets
