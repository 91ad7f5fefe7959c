#include "widgets/jobs_dock.h"

#include <QListWidget>
#include <QStyle>

namespace wh::widgets {

namespace {
constexpr int kMaxRows = 200;  // keep the list short; old finished jobs scroll away
}

JobsDock::JobsDock(QWidget* parent) : QDockWidget(tr("Jobs"), parent) {
    setObjectName(QStringLiteral("JobsDock"));
    m_list = new QListWidget(this);
    m_list->setObjectName(QStringLiteral("JobsList"));
    setWidget(m_list);
}

int JobsDock::startJob(const QString& title) {
    int id = m_nextId++;
    auto* item = new QListWidgetItem(style()->standardIcon(QStyle::SP_BrowserReload),
                                     tr("%1 — running…").arg(title), m_list);
    Running running{item, title, {}};
    running.timer.start();
    m_running.insert(id, running);
    while (m_list->count() > kMaxRows) {
        QListWidgetItem* oldest = m_list->item(0);
        bool busy = false;
        for (const Running& r : m_running) busy |= r.item == oldest;
        if (busy) break;
        delete m_list->takeItem(0);
    }
    m_list->scrollToItem(item);
    return id;
}

void JobsDock::finishJob(int id, bool ok, const QString& detail) {
    auto it = m_running.find(id);
    if (it == m_running.end()) return;
    const double seconds = static_cast<double>(it->timer.elapsed()) / 1000.0;
    QString text = ok ? tr("%1 — done in %2 s").arg(it->title).arg(seconds, 0, 'f', 2)
                      : tr("%1 — failed").arg(it->title);
    if (!detail.isEmpty()) text += QStringLiteral(" (%1)").arg(detail);
    it->item->setText(text);
    it->item->setToolTip(text);
    it->item->setIcon(
        style()->standardIcon(ok ? QStyle::SP_DialogApplyButton : QStyle::SP_MessageBoxCritical));
    m_running.erase(it);
}

int JobsDock::count() const {
    return m_list->count();
}

QString JobsDock::text(int row) const {
    QListWidgetItem* item = m_list->item(row);
    return item ? item->text() : QString();
}

}  // namespace wh::widgets
