#pragma once
/// GraphSearchBar: the find bar GraphView shows over its top-right corner (Ctrl+F). Typing
/// searches; Enter / F3 go to the next match, Shift+Enter / Shift+F3 to the previous one; the
/// label reads "3 of 17"; Escape closes the bar. The bar only edits text and forwards intents;
/// GraphView does the matching.

#include <QFrame>

class QLabel;
class QLineEdit;
class QToolButton;

namespace wh::widgets {

class GraphSearchBar : public QFrame {
    Q_OBJECT

public:
    explicit GraphSearchBar(QWidget* parent = nullptr);

    QLineEdit* lineEdit() const { return m_edit; }
    /// The "3 of 17" / "No matches" text.
    QString statusText() const;
    /// `index` is 0-based; -1 with count 0 shows "No matches" (or nothing for empty text).
    void setStatus(int index, int count);

    /// Shows the bar, focused with its text selected.
    void open();

signals:
    void searchChanged(const QString& text);
    void nextRequested();
    void previousRequested();
    void closed();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    QLineEdit* m_edit;
    QLabel* m_status;
};

}  // namespace wh::widgets
