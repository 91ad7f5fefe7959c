#pragma once
/// IssuesDock: errors and warnings (a failed open, a failed save, a layout problem) listed where
/// they can be read and copied, instead of modal dialogs. An issue may name a node; activating
/// it (double-click, Enter) asks for that node to be shown.

#include <optional>

#include <QDockWidget>

#include "core/ir/graph.h"

class QListWidget;

namespace wh::widgets {

class IssuesDock : public QDockWidget {
    Q_OBJECT

public:
    enum class Severity { kError, kWarning, kInfo };

    explicit IssuesDock(QWidget* parent = nullptr);

    /// Appends an issue (newest last) and scrolls to it.
    void addIssue(Severity severity, const QString& message,
                  std::optional<ir::NodeId> node = std::nullopt);
    void addError(const QString& message) { addIssue(Severity::kError, message); }
    void addWarning(const QString& message) { addIssue(Severity::kWarning, message); }
    void clearIssues();

    int count() const;
    int errorCount() const { return m_errors; }
    /// The message of issue `row`.
    QString message(int row) const;

signals:
    /// An issue naming a node was activated.
    void nodeRequested(wh::ir::NodeId id);
    /// The number of issues changed.
    void countChanged(int count);

private:
    void updateTitle();

    QListWidget* m_list;
    int m_errors = 0;
};

}  // namespace wh::widgets
