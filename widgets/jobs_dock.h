#pragma once
/// JobsDock: background work (loading, layout, saving) with its state and duration. Minimal for
/// now: later it gains progress bars and cancel buttons fed by JobRunner.

#include <QDockWidget>
#include <QElapsedTimer>
#include <QHash>

class QListWidget;
class QListWidgetItem;

namespace wh::widgets {

class JobsDock : public QDockWidget {
    Q_OBJECT

public:
    explicit JobsDock(QWidget* parent = nullptr);

    /// Lists a running job; returns its id for finishJob().
    int startJob(const QString& title);
    /// Marks job `id` done (ok) or failed, with an optional one-line detail.
    void finishJob(int id, bool ok, const QString& detail = {});

    int count() const;
    int runningCount() const { return static_cast<int>(m_running.size()); }
    /// The displayed text of row `row`.
    QString text(int row) const;

private:
    struct Running {
        QListWidgetItem* item;
        QString title;
        QElapsedTimer timer;
    };
    QListWidget* m_list;
    QHash<int, Running> m_running;
    int m_nextId = 1;
};

}  // namespace wh::widgets
