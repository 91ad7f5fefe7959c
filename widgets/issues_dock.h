#pragma once
/// IssuesDock: every error and warning — a model that fails to open, one that opens but does not
/// validate, a failed save, an edit the graph refuses — listed where it can be read and copied,
/// instead of in modal dialogs. Each entry has a severity icon, the message, the node it
/// concerns (if any) and the time. Activating an entry that names a node (double-click, Enter)
/// asks for that node to be shown: nodeRequested().
///
/// Issues belong to a document, except application-level ones (a plugin that failed to load):
/// startDocument() drops the document's issues and keeps the application's. A node id means
/// something only in the document it came from, so an issue jumps only while its document is
/// the current one.

#include <optional>
#include <vector>

#include <QDockWidget>

#include "core/ir/graph.h"

class QMenu;
class QTreeWidget;

namespace wh::widgets {

class IssuesDock : public QDockWidget {
    Q_OBJECT

public:
    enum class Severity { kError, kWarning, kInfo };
    enum Column { kMessage = 0, kNode, kTime, kColumnCount };

    explicit IssuesDock(QWidget* parent = nullptr);

    /// Appends an issue of the current document (newest last) and scrolls to it. `nodeName` is
    /// shown in the Node column (defaults to "#id" when only `node` is given).
    void addIssue(Severity severity, const QString& message,
                  std::optional<ir::NodeId> node = std::nullopt, const QString& nodeName = {});
    void addError(const QString& message) { addIssue(Severity::kError, message); }
    void addWarning(const QString& message) { addIssue(Severity::kWarning, message); }
    /// One problem the live validation found.
    struct Finding {
        Severity severity = Severity::kError;
        QString message;
        std::optional<ir::NodeId> node;
        QString nodeName;
    };
    /// Replaces the findings of the previous validation of the current document (run after
    /// every edit) by `findings`; other issues stay. Returns how many were replaced.
    int setValidationFindings(const std::vector<Finding>& findings);
    /// Whether issue `row` came from the live validation.
    bool isValidationFinding(int row) const;
    /// Appends an application-level issue: it names no node and outlives every document.
    void addApplicationIssue(Severity severity, const QString& message);
    /// Another document became current: drops the issues of the previous one (keeping the
    /// application-level ones); later issues belong to the new document.
    void startDocument();
    /// Drops every issue, application-level ones included.
    void clearIssues();

    int count() const;
    int errorCount() const { return m_errors; }
    int warningCount() const { return m_warnings; }
    /// The message of issue `row`.
    QString message(int row) const;
    Severity severity(int row) const;
    /// Whether issue `row` was added with addApplicationIssue().
    bool isApplicationIssue(int row) const;
    /// The node issue `row` concerns, if any.
    std::optional<ir::NodeId> nodeOf(int row) const;
    /// Does what a double-click on row `row` does: emits nodeRequested() if the issue names a
    /// node of the current document.
    void activate(int row);

    /// The list's context menu: Copy (the selected issues, or all of them) and Clear. The
    /// caller owns it.
    QMenu* createContextMenu(QWidget* parent = nullptr);
    /// The selected issues (all when none is selected) as tab-separated lines: message, node,
    /// time — what Copy puts on the clipboard.
    QString copyText() const;

signals:
    /// An issue naming a node was activated.
    void nodeRequested(wh::ir::NodeId id);
    /// The number of issues changed.
    void countChanged(int count);

private:
    void updateTitle();
    void append(Severity severity, const QString& message, std::optional<ir::NodeId> node,
                const QString& nodeName, qint64 document);
    void forget(Severity severity);

    static constexpr qint64 kApplication = -1;  // the document of application-level issues

    QTreeWidget* m_tree;
    int m_errors = 0;
    int m_warnings = 0;
    qint64 m_document = 0;  // counts startDocument() calls: which document issues belong to
};

}  // namespace wh::widgets
