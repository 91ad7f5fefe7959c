#include "widgets/graph_minimap.h"

#include <algorithm>

#include <QMouseEvent>
#include <QPainter>

#include "widgets/graph_overview.h"
#include "widgets/graph_view.h"

namespace wh::widgets {

namespace {
constexpr double kInset = 4;  // margin between the frame and the picture
}

GraphMinimap::GraphMinimap(GraphView* view, const GraphOverview* overview)
    : QWidget(view), m_view(view), m_overview(overview) {
    setObjectName(QStringLiteral("GraphMinimap"));
    setCursor(Qt::PointingHandCursor);
    setToolTip(tr("Overview: click or drag to move the view"));
    resize(kMaxWidth, kMaxHeight);
    hide();
}

QTransform GraphMinimap::transformFor(const QRectF& bounds, QSize size) {
    if (bounds.isEmpty()) return {};
    const double s = std::min((size.width() - 2 * kInset) / bounds.width(),
                              (size.height() - 2 * kInset) / bounds.height());
    const double ox = (size.width() - bounds.width() * s) / 2 - bounds.left() * s;
    const double oy = (size.height() - bounds.height() * s) / 2 - bounds.top() * s;
    return QTransform(s, 0, 0, s, ox, oy);
}

QSize GraphMinimap::sizeFor(const QRectF& bounds) {
    // Keep the graph's aspect within kMaxWidth x kMaxHeight, but never thinner than a strip.
    const double s = std::min((kMaxWidth - 2 * kInset) / bounds.width(),
                              (kMaxHeight - 2 * kInset) / bounds.height());
    return {std::clamp(static_cast<int>(bounds.width() * s + 2 * kInset), 48, kMaxWidth),
            std::clamp(static_cast<int>(bounds.height() * s + 2 * kInset), 36, kMaxHeight)};
}

QImage GraphMinimap::render(const GraphOverview& overview, qreal dpr) {
    const QRectF b = overview.bounds();
    if (overview.numBoxes() == 0 || b.isEmpty()) return {};
    const QSize size = sizeFor(b);
    QImage picture(size * dpr, QImage::Format_ARGB32_Premultiplied);
    picture.setDevicePixelRatio(dpr);
    picture.fill(QColor(255, 255, 255, 230));
    QPainter p(&picture);
    overview.paint(&p, transformFor(b, size) * QTransform::fromScale(dpr, dpr),
                   b.adjusted(-1, -1, 1, 1), {});
    p.end();
    return picture;
}

QTransform GraphMinimap::sceneToWidget() const {
    return transformFor(m_overview->bounds(), size());
}

void GraphMinimap::rebuild() {
    setPicture(render(*m_overview, devicePixelRatioF()));
}

void GraphMinimap::setPicture(QImage picture) {
    m_picture = std::move(picture);
    if (m_picture.isNull()) {
        hide();
        return;
    }
    resize(sizeFor(m_overview->bounds()));
    update();
}

QPointF GraphMinimap::toScene(const QPointF& p) const {
    return sceneToWidget().inverted().map(p);
}

QRectF GraphMinimap::visibleRect() const {
    QRectF scene = m_view->mapToScene(m_view->viewport()->rect()).boundingRect();
    return sceneToWidget().mapRect(scene);
}

void GraphMinimap::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.drawImage(0, 0, m_picture);
    p.setPen(QColor(0xb0, 0xb6, 0xbd));
    p.setBrush(Qt::NoBrush);
    p.drawRect(rect().adjusted(0, 0, -1, -1));
    // The outline: at least a few pixels so it stays findable at 1:1 on a huge graph.
    QRectF v = visibleRect().intersected(QRectF(rect()).adjusted(1, 1, -1, -1));
    if (v.width() < 4) v.adjust(-(4 - v.width()) / 2, 0, (4 - v.width()) / 2, 0);
    if (v.height() < 4) v.adjust(0, -(4 - v.height()) / 2, 0, (4 - v.height()) / 2);
    p.setPen(QPen(QColor(0x1f, 0x5f, 0xbf), 1.5));
    p.setBrush(QColor(0x1f, 0x5f, 0xbf, 40));
    p.drawRect(v);
}

void GraphMinimap::mousePressEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton) return;
    m_view->centerOn(toScene(event->position()));
    event->accept();
}

void GraphMinimap::mouseMoveEvent(QMouseEvent* event) {
    if (!(event->buttons() & Qt::LeftButton)) return;
    m_view->centerOn(toScene(event->position()));
    event->accept();
}

}  // namespace wh::widgets
