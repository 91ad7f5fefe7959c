#pragma once
/// GraphSearchBar: the find bar GraphView shows over its top-right corner (Ctrl+F). Typing
/// searches; a combo box picks what is searched (everything, node names, op types or tensor
/// names); Enter / F3 go to the next match, Shift+Enter / Shift+F3 to the previous one; the
/// label reads "3 of 17"; Escape closes the bar. The bar only edits text and forwards intents;
/// GraphView does the matching.

#include <QFrame>

class QComboBox;
class QLabel;
class QLineEdit;
class QToolButton;

namespace wh::widgets {

/// What a search looks at. kAll ranks nodes whose op type equals the text first, then nodes
/// whose name or op type contains it; nodes that only read or write a tensor whose name contains
/// it count only when nothing else matched ("Conv" must find the Conv nodes, not every
/// BatchNormalization reading "conv1_out"); the bar says how many it left to the Tensor scope.
enum class SearchScope { kAll, kName, kOpType, kTensor };

class GraphSearchBar : public QFrame {
    Q_OBJECT

public:
    explicit GraphSearchBar(QWidget* parent = nullptr);

    QLineEdit* lineEdit() const { return m_edit; }
    QComboBox* scopeBox() const { return m_scope; }
    SearchScope scope() const;
    void setScope(SearchScope scope);
    /// The "3 of 17" / "No matches" text.
    QString statusText() const;
    /// `index` is 0-based; -1 with count 0 shows "No matches" (or nothing for empty text).
    /// `tensorOnly` more nodes match by tensor name only (kAll leaves them to kTensor).
    void setStatus(int index, int count, int tensorOnly = 0);

    /// Shows the bar, focused with its text selected.
    void open();

signals:
    void searchChanged(const QString& text);
    void scopeChanged(wh::widgets::SearchScope scope);
    void nextRequested();
    void previousRequested();
    void closed();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    QLineEdit* m_edit;
    QComboBox* m_scope;
    QLabel* m_status;
};

}  // namespace wh::widgets
