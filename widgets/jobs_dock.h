#pragma once
/// JobsDock: every background job (open, layout, save, statistics; later profile, train,
/// compress, export) with its name, a progress bar, the estimated time left, its state and a
/// Cancel button while it runs. Ended jobs stay listed with their duration (the newest
/// kMaxRows rows are kept).

#include <QDockWidget>
#include <QHash>

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

    explicit JobsDock(QWidget* parent = nullptr);

    /// Lists every job `runner` starts from now on.
    void watch(JobRunner* runner);
    /// Lists `job` (watch() does this for you).
    void addJob(Job* job);

    int count() const;
    int runningCount() const;
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
        bool running = true;
    };
    void onProgress(int id, double fraction, double eta, const QString& stage);
    void onEnded(Job* job);
    void trim();

    QTreeWidget* m_tree;
    QHash<int, Row> m_rows;  // by job id
};

}  // namespace wh::widgets
