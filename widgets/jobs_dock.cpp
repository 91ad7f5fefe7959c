#include "widgets/jobs_dock.h"

#include <QAction>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QProgressBar>
#include <QStyle>
#include <QToolButton>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "widgets/job_runner.h"

namespace wh::widgets {

namespace {
constexpr int kBarRange = 1000;
constexpr int kIdRole = Qt::UserRole + 1;
}  // namespace

JobsDock::JobsDock(QWidget* parent) : QDockWidget(tr("Jobs"), parent) {
    setObjectName(QStringLiteral("JobsDock"));
    m_tree = new QTreeWidget(this);
    m_tree->setObjectName(QStringLiteral("JobsList"));
    m_tree->setColumnCount(kColumnCount);
    m_tree->setHeaderLabels({tr("Job"), tr("Progress"), tr("Time left"), tr("State"), QString()});
    m_tree->setRootIsDecorated(false);
    m_tree->setUniformRowHeights(true);
    m_tree->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_tree->setTextElideMode(Qt::ElideMiddle);
    QHeaderView* header = m_tree->header();
    header->setStretchLastSection(false);
    header->setSectionResizeMode(kName, QHeaderView::Interactive);
    header->setSectionResizeMode(kProgress, QHeaderView::Interactive);
    header->setSectionResizeMode(kEta, QHeaderView::ResizeToContents);
    header->setSectionResizeMode(kState, QHeaderView::Stretch);
    header->setSectionResizeMode(kCancel, QHeaderView::ResizeToContents);
    m_tree->setColumnWidth(kName, 260);
    m_tree->setColumnWidth(kProgress, 180);

    m_clearAction = new QAction(tr("Clear Finished"), this);
    m_clearAction->setObjectName(QStringLiteral("ClearFinishedJobsAction"));
    m_clearAction->setToolTip(tr("Remove the jobs that have ended from the list"));
    connect(m_clearAction, &QAction::triggered, this, &JobsDock::clearFinished);
    m_tree->addAction(m_clearAction);
    m_tree->setContextMenuPolicy(Qt::ActionsContextMenu);
    auto* clear = new QToolButton;
    clear->setDefaultAction(m_clearAction);
    clear->setAutoRaise(true);

    auto* panel = new QWidget(this);
    auto* layout = new QVBoxLayout(panel);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    auto* bar = new QHBoxLayout;
    bar->setContentsMargins(4, 0, 4, 0);
    bar->addStretch(1);
    bar->addWidget(clear);
    layout->addLayout(bar);
    layout->addWidget(m_tree, 1);
    setWidget(panel);
    updateClearAction();
}

void JobsDock::watch(JobRunner* runner) {
    connect(runner, &JobRunner::jobStarted, this, &JobsDock::addJob);
}

void JobsDock::addJob(Job* job) {
    const int id = job->id();
    auto* item = new QTreeWidgetItem(m_tree);
    item->setText(kName, job->name());
    item->setToolTip(kName, job->name());
    item->setIcon(kName, style()->standardIcon(QStyle::SP_BrowserReload));
    item->setData(kName, kIdRole, id);
    item->setText(kEta, QStringLiteral("—"));
    item->setText(kState, tr("running"));

    Row row;
    row.item = item;
    row.job = job;
    row.bar = new QProgressBar;
    row.bar->setRange(0, kBarRange);
    row.bar->setValue(0);
    row.bar->setTextVisible(true);
    row.bar->setMaximumHeight(18);
    m_tree->setItemWidget(item, kProgress, row.bar);
    row.cancel = new QToolButton;
    row.cancel->setText(tr("Cancel"));
    row.cancel->setToolTip(tr("Cancel %1").arg(job->name()));
    row.cancel->setAutoRaise(true);
    m_tree->setItemWidget(item, kCancel, row.cancel);
    m_rows.insert(id, row);

    connect(row.cancel, &QToolButton::clicked, job, &Job::cancel);
    connect(job, &Job::progress, this,
            [this, id](double fraction, double eta, const QString& stage) {
                onProgress(id, fraction, eta, stage);
            });
    connect(job, &Job::cancelRequested, this, [this, id] {
        auto it = m_rows.find(id);
        if (it == m_rows.end() || !it->running) return;
        it->item->setText(kState, tr("cancelling…"));
        if (it->cancel) it->cancel->setEnabled(false);
    });
    connect(job, &Job::ended, this, [this, job] { onEnded(job); });
    trim();
    m_tree->scrollToItem(item);
}

void JobsDock::onProgress(int id, double fraction, double eta, const QString& stage) {
    auto it = m_rows.find(id);
    if (it == m_rows.end() || !it->running) return;
    it->bar->setValue(static_cast<int>(fraction * kBarRange + 0.5));
    // The rate over the first percent or first moments (file reading, warm-up) predicts the
    // rest badly: wait for enough of the job before showing a time.
    const bool enough =
        fraction >= kEtaMinFraction && it->job && it->job->seconds() >= kEtaMinSeconds;
    it->item->setText(kEta, eta >= 0 && enough ? formatDuration(eta) : QStringLiteral("—"));
    if (!it->cancel || it->cancel->isEnabled())  // keep "cancelling…" once asked
        it->item->setText(kState, stage.isEmpty() ? tr("running") : stage);
}

void JobsDock::onEnded(Job* job) {
    auto it = m_rows.find(job->id());
    if (it == m_rows.end()) return;
    Row& row = *it;
    row.running = false;
    const QString duration = formatDuration(job->seconds());
    QString state;
    QStyle::StandardPixmap icon = QStyle::SP_DialogApplyButton;
    switch (job->state()) {
        case Job::State::kFinished:
            state = tr("done in %1").arg(duration);
            row.bar->setValue(kBarRange);
            break;
        case Job::State::kFailed:
            state = tr("failed after %1: %2")
                        .arg(duration, QString::fromStdString(job->status().message()));
            icon = QStyle::SP_MessageBoxCritical;
            break;
        case Job::State::kCancelled:
            state = tr("cancelled after %1").arg(duration);
            icon = QStyle::SP_DialogCancelButton;
            break;
        case Job::State::kRunning:
            return;
    }
    row.item->setIcon(kName, style()->standardIcon(icon));
    row.item->setText(kState, state);
    row.item->setToolTip(kState, state);
    row.item->setText(kEta, QString());
    m_tree->removeItemWidget(row.item, kCancel);  // deletes the button
    row.cancel = nullptr;
    if (job->state() != Job::State::kFinished) row.bar->setEnabled(false);
    updateClearAction();
}

void JobsDock::clearFinished() {
    for (int i = m_tree->topLevelItemCount() - 1; i >= 0; --i) {
        const int id = m_tree->topLevelItem(i)->data(kName, kIdRole).toInt();
        auto it = m_rows.find(id);
        if (it != m_rows.end() && it->running) continue;
        m_rows.remove(id);
        delete m_tree->takeTopLevelItem(i);  // and its item widgets
    }
    updateClearAction();
}

void JobsDock::updateClearAction() {
    m_clearAction->setEnabled(count() > runningCount());
}

QString JobsDock::etaText(int row) const {
    QTreeWidgetItem* item = m_tree->topLevelItem(row);
    return item ? item->text(kEta) : QString();
}

void JobsDock::trim() {
    while (m_tree->topLevelItemCount() > kMaxRows) {
        QTreeWidgetItem* oldest = m_tree->topLevelItem(0);
        const int id = oldest->data(kName, kIdRole).toInt();
        auto it = m_rows.find(id);
        if (it != m_rows.end() && it->running) break;  // never drop a running job's row
        m_rows.remove(id);
        delete m_tree->takeTopLevelItem(0);
    }
    updateClearAction();
}

int JobsDock::count() const {
    return m_tree->topLevelItemCount();
}

int JobsDock::runningCount() const {
    int n = 0;
    for (const Row& r : m_rows) n += r.running ? 1 : 0;
    return n;
}

QString JobsDock::text(int row) const {
    QTreeWidgetItem* item = m_tree->topLevelItem(row);
    if (!item) return {};
    QString state = item->text(kState);
    auto it = m_rows.find(item->data(kName, kIdRole).toInt());
    if (it != m_rows.end() && it->running)
        state += QStringLiteral(" %1 %").arg(it->bar->value() * 100 / kBarRange);
    return item->text(kName) + QStringLiteral(" — ") + state;
}

QToolButton* JobsDock::cancelButton(int row) const {
    QTreeWidgetItem* item = m_tree->topLevelItem(row);
    if (!item) return nullptr;
    auto it = m_rows.find(item->data(kName, kIdRole).toInt());
    return it == m_rows.end() ? nullptr : it->cancel;
}

QProgressBar* JobsDock::progressBar(int row) const {
    QTreeWidgetItem* item = m_tree->topLevelItem(row);
    if (!item) return nullptr;
    auto it = m_rows.find(item->data(kName, kIdRole).toInt());
    return it == m_rows.end() ? nullptr : it->bar;
}

}  // namespace wh::widgets
