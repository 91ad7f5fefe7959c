#include "widgets/issues_dock.h"

#include <QApplication>
#include <QListWidget>
#include <QStyle>
#include <QTime>

namespace wh::widgets {

namespace {
constexpr int kNodeRole = Qt::UserRole + 1;
constexpr int kMessageRole = Qt::UserRole + 2;
}  // namespace

IssuesDock::IssuesDock(QWidget* parent) : QDockWidget(tr("Issues"), parent) {
    setObjectName(QStringLiteral("IssuesDock"));
    m_list = new QListWidget(this);
    m_list->setObjectName(QStringLiteral("IssuesList"));
    m_list->setWordWrap(true);
    m_list->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_list->setUniformItemSizes(false);
    setWidget(m_list);
    connect(m_list, &QListWidget::itemActivated, this, [this](QListWidgetItem* item) {
        QVariant node = item->data(kNodeRole);
        if (node.isValid()) emit nodeRequested(node.value<qulonglong>());
    });
    updateTitle();
}

void IssuesDock::addIssue(Severity severity, const QString& message,
                          std::optional<ir::NodeId> node) {
    QStyle::StandardPixmap icon = QStyle::SP_MessageBoxInformation;
    if (severity == Severity::kError) {
        icon = QStyle::SP_MessageBoxCritical;
        ++m_errors;
    } else if (severity == Severity::kWarning) {
        icon = QStyle::SP_MessageBoxWarning;
    }
    auto* item =
        new QListWidgetItem(style()->standardIcon(icon),
                            QStringLiteral("%1  %2").arg(
                                QTime::currentTime().toString(QStringLiteral("HH:mm:ss")), message),
                            m_list);
    item->setData(kMessageRole, message);
    item->setToolTip(message);
    if (node) item->setData(kNodeRole, QVariant::fromValue<qulonglong>(*node));
    m_list->scrollToItem(item);
    updateTitle();
    emit countChanged(count());
}

void IssuesDock::clearIssues() {
    m_list->clear();
    m_errors = 0;
    updateTitle();
    emit countChanged(0);
}

int IssuesDock::count() const {
    return m_list->count();
}

QString IssuesDock::message(int row) const {
    QListWidgetItem* item = m_list->item(row);
    return item ? item->data(kMessageRole).toString() : QString();
}

void IssuesDock::updateTitle() {
    setWindowTitle(count() == 0 ? tr("Issues") : tr("Issues (%1)").arg(count()));
}

}  // namespace wh::widgets
