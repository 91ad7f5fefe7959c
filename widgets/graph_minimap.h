#pragma once
/// GraphMinimap: a small overview of the whole graph in a corner of GraphView, with the visible
/// rectangle outlined. Clicking or dragging in it moves the view there. The picture is drawn
/// once per graph (GraphOverview, boxes only) and cached; only the outline moves.

#include <QImage>
#include <QWidget>

namespace wh::widgets {

class GraphOverview;
class GraphView;

class GraphMinimap : public QWidget {
    Q_OBJECT

public:
    /// Lives over `view` (a child of it); reads `overview`, which the view owns.
    GraphMinimap(GraphView* view, const GraphOverview* overview);

    /// Redraws the cached picture (call after the graph changed) and resizes to its aspect.
    void rebuild();
    /// Shows `picture`, a render() of the view's overview made elsewhere (e.g. by a job).
    void setPicture(QImage picture);
    /// The cached picture of `overview` at device pixel ratio `dpr`; any thread may call it.
    static QImage render(const GraphOverview& overview, qreal dpr);
    /// Scene point shown at widget point `p`.
    QPointF toScene(const QPointF& p) const;
    /// The rectangle (widget coordinates) outlining what the view shows.
    QRectF visibleRect() const;

    static constexpr int kMaxWidth = 200;
    static constexpr int kMaxHeight = 160;

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;

private:
    static QSize sizeFor(const QRectF& bounds);
    static QTransform transformFor(const QRectF& bounds, QSize size);
    QTransform sceneToWidget() const;

    GraphView* m_view;
    const GraphOverview* m_overview;
    QImage m_picture;
};

}  // namespace wh::widgets
