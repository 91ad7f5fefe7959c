#pragma once
/// JobsDock: every background job (open, layout, save, statistics; later profile, train,
/// compress, export) with its name, a progress bar, the estimated time left, its state and a
/// Cancel button while it runs. Ended jobs stay listed with their duration (the newest
/// kMaxRows rows are kept) until "Clear Finished" (the button above the list, or the list's
/// context menu) drops them.
///
/// The time left is shown only once the estimate means something: after kEtaMinFraction of the
/// work and kEtaMinSeconds of running ("—" before), since the first percent of a job says
/// little about the rest.

#include <QDockWidget>
#include <QHash>
#include <QPointer>

class QAction;
class QTreeWidget;
class QTreeWidgetItem;
class QProgressBar;
class QToolButton;

namespace wh::widgets {

class Job;
class JobRunner;

class JobsDock : public QDockWidget {
    Q_OBJECT

public:
    enum Column { kName = 0, kProgress, kEta, kState, kCancel, kColumnCount };
    static constexpr int kMaxRows = 200;
    static constexpr double kEtaMinFraction = 0.10;
    static constexpr double kEtaMinSeconds = 1.0;

    explicit JobsDock(QWidget* parent = nullptr);

    /// Lists every job `runner` starts from now on.
    void watch(JobRunner* runner);
    /// Lists `job` (watch() does this for you).
    void addJob(Job* job);

    int count() const;
    int runningCount() const;
    /// Drops the rows of ended jobs (finished, failed or cancelled); running ones stay.
    void clearFinished();
    /// The "Clear Finished" action; enabled while some job has ended.
    QAction* clearFinishedAction() const { return m_clearAction; }
    /// The Time left column of `row`: "—" while unknown or too early to trust.
    QString etaText(int row) const;
    /// "Open lenet5.onnx — running 40 %", "… — done in 0.25 s", "… — failed: <why>",
    /// "… — cancelled": the row as one line (for tests, tooltips and copying).
    QString text(int row) const;
    /// The row's Cancel button while its job runs, else null.
    QToolButton* cancelButton(int row) const;
    QProgressBar* progressBar(int row) const;

private:
    struct Row {
        QTreeWidgetItem* item = nullptr;
        QProgressBar* bar = nullptr;
        QToolButton* cancel = nullptr;
        QPointer<Job> job;
        bool running = true;
    };
    void onProgress(int id, double fraction, double eta, const QString& stage);
    void onEnded(Job* job);
    void trim();
    void updateClearAction();

    QTreeWidget* m_tree;
    QAction* m_clearAction;
    QHash<int, Row> m_rows;  // by job id
};

}  // namespace wh::widgets
