#include "widgets/placeholder_dock.h"

#include <QFrame>
#include <QLabel>
#include <QVBoxLayout>

namespace wh::widgets {

PlaceholderDock::PlaceholderDock(const QString& title, const QString& objectName,
                                 const QString& placeholder, QWidget* parent)
    : QDockWidget(title, parent) {
    setObjectName(objectName);
    auto* frame = new QFrame(this);
    frame->setFrameShape(QFrame::StyledPanel);
    auto* layout = new QVBoxLayout(frame);
    auto* label = new QLabel(placeholder, frame);
    label->setObjectName(QStringLiteral("placeholder"));
    label->setAlignment(Qt::AlignCenter);
    label->setWordWrap(true);
    label->setTextFormat(Qt::PlainText);
    // Normal text colour: a disabled (grey) label read as broken and was hard to read; the
    // label says what is available today, which is worth reading.
    label->setForegroundRole(QPalette::WindowText);
    label->setMargin(8);
    layout->addWidget(label);
    setWidget(frame);
}

QString PlaceholderDock::placeholderText() const {
    auto* label = findChild<QLabel*>(QStringLiteral("placeholder"));
    return label ? label->text() : QString();
}

}  // namespace wh::widgets
