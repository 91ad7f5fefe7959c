#include "widgets/issues_dock.h"

#include <algorithm>
#include <memory>

#include <QApplication>
#include <QClipboard>
#include <QHeaderView>
#include <QMenu>
#include <QStyle>
#include <QTime>
#include <QTreeWidget>

namespace wh::widgets {

namespace {
constexpr int kNodeRole = Qt::UserRole + 1;
constexpr int kMessageRole = Qt::UserRole + 2;
constexpr int kSeverityRole = Qt::UserRole + 3;
constexpr int kDocumentRole = Qt::UserRole + 4;
constexpr int kValidationRole = Qt::UserRole + 5;  // a live-validation finding
constexpr int kMaxIssues = 5000;  // a hostile model could produce endless warnings
}  // namespace

IssuesDock::IssuesDock(QWidget* parent) : QDockWidget(tr("Issues"), parent) {
    setObjectName(QStringLiteral("IssuesDock"));
    m_tree = new QTreeWidget(this);
    m_tree->setObjectName(QStringLiteral("IssuesList"));
    m_tree->setColumnCount(kColumnCount);
    m_tree->setHeaderLabels({tr("Message"), tr("Node"), tr("Time")});
    m_tree->setRootIsDecorated(false);
    m_tree->setWordWrap(true);
    m_tree->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_tree->setTextElideMode(Qt::ElideRight);
    QHeaderView* header = m_tree->header();
    header->setStretchLastSection(false);
    header->setSectionResizeMode(kMessage, QHeaderView::Stretch);
    header->setSectionResizeMode(kNode, QHeaderView::Interactive);
    header->setSectionResizeMode(kTime, QHeaderView::ResizeToContents);
    m_tree->setColumnWidth(kNode, 200);
    setWidget(m_tree);
    connect(m_tree, &QTreeWidget::itemActivated, this,
            [this](QTreeWidgetItem* item, int) { activate(m_tree->indexOfTopLevelItem(item)); });
    m_tree->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_tree, &QWidget::customContextMenuRequested, this, [this](const QPoint& pos) {
        std::unique_ptr<QMenu> menu(createContextMenu(this));
        menu->exec(m_tree->viewport()->mapToGlobal(pos));
    });
    updateTitle();
}

void IssuesDock::addIssue(Severity severity, const QString& message, std::optional<ir::NodeId> node,
                          const QString& nodeName) {
    append(severity, message, node, nodeName, m_document);
}

void IssuesDock::addApplicationIssue(Severity severity, const QString& message) {
    append(severity, message, std::nullopt, {}, kApplication);
}

void IssuesDock::startDocument() {
    ++m_document;
    for (int row = count() - 1; row >= 0; --row) {
        if (isApplicationIssue(row)) continue;
        const Severity old = severity(row);
        delete m_tree->takeTopLevelItem(row);
        forget(old);
    }
    updateTitle();
    emit countChanged(count());
}

int IssuesDock::setValidationFindings(const std::vector<Finding>& findings) {
    int removed = 0;
    for (int row = count() - 1; row >= 0; --row) {
        if (!isValidationFinding(row)) continue;
        const Severity old = severity(row);
        delete m_tree->takeTopLevelItem(row);
        forget(old);
        ++removed;
    }
    for (const Finding& f : findings) {
        append(f.severity, f.message, f.node, f.nodeName, m_document);
        m_tree->topLevelItem(count() - 1)->setData(kMessage, kValidationRole, true);
    }
    if (findings.empty()) {
        updateTitle();
        emit countChanged(count());
    }
    return removed;
}

bool IssuesDock::isValidationFinding(int row) const {
    const QTreeWidgetItem* item = m_tree->topLevelItem(row);
    return item && item->data(kMessage, kValidationRole).toBool();
}

void IssuesDock::forget(Severity severity) {
    if (severity == Severity::kError) --m_errors;
    if (severity == Severity::kWarning) --m_warnings;
}

void IssuesDock::append(Severity severity, const QString& message, std::optional<ir::NodeId> node,
                        const QString& nodeName, qint64 document) {
    if (count() >= kMaxIssues) {
        const Severity old = this->severity(0);
        delete m_tree->takeTopLevelItem(0);
        forget(old);
    }
    QStyle::StandardPixmap icon = QStyle::SP_MessageBoxInformation;
    if (severity == Severity::kError) {
        icon = QStyle::SP_MessageBoxCritical;
        ++m_errors;
    } else if (severity == Severity::kWarning) {
        icon = QStyle::SP_MessageBoxWarning;
        ++m_warnings;
    }
    auto* item = new QTreeWidgetItem(m_tree);
    item->setIcon(kMessage, style()->standardIcon(icon));
    // One line in the list; the whole text in the tooltip.
    QString oneLine = message;
    oneLine.replace(QLatin1Char('\n'), QLatin1Char(' '));
    item->setText(kMessage, oneLine);
    item->setToolTip(kMessage, message);
    item->setData(kMessage, kMessageRole, message);
    item->setData(kMessage, kSeverityRole, static_cast<int>(severity));
    item->setData(kMessage, kDocumentRole, document);
    if (node) {
        item->setData(kMessage, kNodeRole, QVariant::fromValue<qulonglong>(*node));
        const QString shown = nodeName.isEmpty() ? QStringLiteral("#%1").arg(*node) : nodeName;
        item->setText(kNode, shown);
        item->setToolTip(kNode, tr("%1 — double-click to show it").arg(shown));
    }
    item->setText(kTime, QTime::currentTime().toString(QStringLiteral("HH:mm:ss")));
    m_tree->scrollToItem(item);
    updateTitle();
    emit countChanged(count());
}

void IssuesDock::clearIssues() {
    m_tree->clear();
    m_errors = 0;
    m_warnings = 0;
    updateTitle();
    emit countChanged(0);
}

int IssuesDock::count() const {
    return m_tree->topLevelItemCount();
}

QString IssuesDock::message(int row) const {
    QTreeWidgetItem* item = m_tree->topLevelItem(row);
    return item ? item->data(kMessage, kMessageRole).toString() : QString();
}

IssuesDock::Severity IssuesDock::severity(int row) const {
    QTreeWidgetItem* item = m_tree->topLevelItem(row);
    return item ? static_cast<Severity>(item->data(kMessage, kSeverityRole).toInt())
                : Severity::kInfo;
}

std::optional<ir::NodeId> IssuesDock::nodeOf(int row) const {
    QTreeWidgetItem* item = m_tree->topLevelItem(row);
    if (!item) return std::nullopt;
    QVariant node = item->data(kMessage, kNodeRole);
    if (!node.isValid()) return std::nullopt;
    return node.value<qulonglong>();
}

bool IssuesDock::isApplicationIssue(int row) const {
    QTreeWidgetItem* item = m_tree->topLevelItem(row);
    return item && item->data(kMessage, kDocumentRole).toLongLong() == kApplication;
}

void IssuesDock::activate(int row) {
    QTreeWidgetItem* item = m_tree->topLevelItem(row);
    // Node ids are per document: the same id in another document is an unrelated node.
    if (!item || item->data(kMessage, kDocumentRole).toLongLong() != m_document) return;
    if (std::optional<ir::NodeId> node = nodeOf(row)) emit nodeRequested(*node);
}

QMenu* IssuesDock::createContextMenu(QWidget* parent) {
    auto* menu = new QMenu(parent);
    const bool any = count() > 0;
    QAction* copy =
        menu->addAction(m_tree->selectedItems().isEmpty() ? tr("&Copy All") : tr("&Copy"), this,
                        [this] { QApplication::clipboard()->setText(copyText()); });
    copy->setObjectName(QStringLiteral("copyIssues"));
    copy->setEnabled(any);
    QAction* clear = menu->addAction(tr("C&lear"), this, &IssuesDock::clearIssues);
    clear->setObjectName(QStringLiteral("clearIssues"));
    clear->setEnabled(any);
    return menu;
}

QString IssuesDock::copyText() const {
    QList<QTreeWidgetItem*> items = m_tree->selectedItems();
    // In list order, not in the order they were clicked.
    std::sort(items.begin(), items.end(), [this](QTreeWidgetItem* a, QTreeWidgetItem* b) {
        return m_tree->indexOfTopLevelItem(a) < m_tree->indexOfTopLevelItem(b);
    });
    if (items.isEmpty())
        for (int row = 0; row < count(); ++row) items << m_tree->topLevelItem(row);
    QStringList lines;
    for (const QTreeWidgetItem* item : items) {
        QStringList fields{item->data(kMessage, kMessageRole).toString(), item->text(kNode),
                           item->text(kTime)};
        lines << fields.join(QLatin1Char('\t'));
    }
    return lines.join(QLatin1Char('\n'));
}

void IssuesDock::updateTitle() {
    setWindowTitle(count() == 0 ? tr("Issues") : tr("Issues (%1)").arg(count()));
}

}  // namespace wh::widgets
