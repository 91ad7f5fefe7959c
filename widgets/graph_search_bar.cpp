#include "widgets/graph_search_bar.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QToolButton>

namespace wh::widgets {

GraphSearchBar::GraphSearchBar(QWidget* parent)
    : QFrame(parent),
      m_edit(new QLineEdit(this)),
      m_scope(new QComboBox(this)),
      m_status(new QLabel(this)) {
    setObjectName(QStringLiteral("GraphSearchBar"));
    setFrameShape(QFrame::StyledPanel);
    setAutoFillBackground(true);
    m_edit->setPlaceholderText(tr("Find node, op type or tensor"));
    m_edit->setClearButtonEnabled(true);
    m_edit->setMinimumWidth(220);
    m_edit->installEventFilter(this);
    // Item data is the SearchScope; the order is the enum's.
    m_scope->addItem(tr("All"), static_cast<int>(SearchScope::kAll));
    m_scope->addItem(tr("Name"), static_cast<int>(SearchScope::kName));
    m_scope->addItem(tr("Op type"), static_cast<int>(SearchScope::kOpType));
    m_scope->addItem(tr("Tensor"), static_cast<int>(SearchScope::kTensor));
    m_scope->setToolTip(
        tr("What to search: everything (op-type matches first), node names, op types or the "
           "names of the tensors nodes read and write"));
    m_scope->setFocusPolicy(Qt::ClickFocus);
    m_status->setMinimumWidth(80);
    m_status->setAlignment(Qt::AlignCenter);

    auto button = [this](const QString& text, const QString& tip) {
        auto* b = new QToolButton(this);
        b->setText(text);
        b->setToolTip(tip);
        b->setAutoRaise(true);
        return b;
    };
    QToolButton* previous =
        button(QStringLiteral("▲"), tr("Previous match (Shift+Enter, Shift+F3)"));
    QToolButton* next = button(QStringLiteral("▼"), tr("Next match (Enter, F3)"));
    QToolButton* close = button(QStringLiteral("✕"), tr("Close (Escape)"));
    auto* row = new QHBoxLayout(this);
    row->setContentsMargins(6, 3, 3, 3);
    row->setSpacing(2);
    row->addWidget(m_scope);
    row->addWidget(m_edit);
    row->addWidget(m_status);
    row->addWidget(previous);
    row->addWidget(next);
    row->addWidget(close);

    connect(m_edit, &QLineEdit::textChanged, this, &GraphSearchBar::searchChanged);
    connect(m_scope, &QComboBox::currentIndexChanged, this, [this] { emit scopeChanged(scope()); });
    connect(previous, &QToolButton::clicked, this, &GraphSearchBar::previousRequested);
    connect(next, &QToolButton::clicked, this, &GraphSearchBar::nextRequested);
    connect(close, &QToolButton::clicked, this, [this] {
        hide();
        emit closed();
    });
    hide();
}

SearchScope GraphSearchBar::scope() const {
    return static_cast<SearchScope>(m_scope->currentData().toInt());
}

void GraphSearchBar::setScope(SearchScope scope) {
    m_scope->setCurrentIndex(m_scope->findData(static_cast<int>(scope)));
}

QString GraphSearchBar::statusText() const {
    return m_status->text();
}

void GraphSearchBar::setStatus(int index, int count, int tensorOnly) {
    QString text;
    if (m_edit->text().isEmpty())
        text.clear();
    else if (count == 0)
        text = tr("No matches");
    else
        text = tr("%1 of %2").arg(index + 1).arg(count);
    if (!text.isEmpty() && count > 0 && tensorOnly > 0) {
        text += tr(" (+%1 by tensor)").arg(tensorOnly);
        m_status->setToolTip(tr("%1 more nodes only read or write a tensor whose name matches: "
                                "choose Tensor to step through them")
                                 .arg(tensorOnly));
    } else {
        m_status->setToolTip(QString());
    }
    m_status->setText(text);
}

void GraphSearchBar::open() {
    show();
    raise();
    m_edit->setFocus(Qt::ShortcutFocusReason);
    m_edit->selectAll();
}

bool GraphSearchBar::eventFilter(QObject* watched, QEvent* event) {
    if (watched == m_edit && event->type() == QEvent::KeyPress) {
        auto* key = static_cast<QKeyEvent*>(event);
        const bool shift = key->modifiers() & Qt::ShiftModifier;
        switch (key->key()) {
            case Qt::Key_Return:
            case Qt::Key_Enter:
            case Qt::Key_F3:
                if (shift)
                    emit previousRequested();
                else
                    emit nextRequested();
                return true;
            case Qt::Key_Escape:
                hide();
                emit closed();
                return true;
            default:
                break;
        }
    }
    return QFrame::eventFilter(watched, event);
}

}  // namespace wh::widgets
