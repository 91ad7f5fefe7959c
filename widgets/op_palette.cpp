#include "widgets/op_palette.h"

#include <QEvent>
#include <QHeaderView>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QMimeData>
#include <QPainter>
#include <QPixmap>
#include <QPushButton>
#include <QSplitter>
#include <QTextBrowser>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "widgets/op_metadata.h"

namespace wh::widgets {

namespace {

constexpr int kOpRole = Qt::UserRole + 1;  // an operator's index into m_schemas; -1 = category

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}

QString attrTypeName(ir::AttrType t) {
    switch (t) {
        case ir::AttrType::kFloat:
            return QStringLiteral("float");
        case ir::AttrType::kInt:
            return QStringLiteral("int");
        case ir::AttrType::kString:
            return QStringLiteral("string");
        case ir::AttrType::kTensor:
            return QStringLiteral("tensor");
        case ir::AttrType::kGraph:
            return QStringLiteral("graph");
        case ir::AttrType::kFloats:
            return QStringLiteral("floats");
        case ir::AttrType::kInts:
            return QStringLiteral("ints");
        case ir::AttrType::kStrings:
            return QStringLiteral("strings");
        default:
            return QStringLiteral("other");
    }
}

QString optionText(onnx::OpParameter::Option o) {
    switch (o) {
        case onnx::OpParameter::Option::kOptional:
            return QObject::tr(" (optional)");
        case onnx::OpParameter::Option::kVariadic:
            return QObject::tr(" (variadic)");
        default:
            return {};
    }
}

QIcon swatch(const QColor& color) {
    QPixmap pm(12, 12);
    pm.fill(Qt::transparent);
    QPainter p(&pm);
    p.setRenderHint(QPainter::Antialiasing);
    p.setPen(color.darker(140));
    p.setBrush(color);
    p.drawRoundedRect(QRectF(1, 1, 10, 10), 2, 2);
    return QIcon(pm);
}

// A tree whose operator rows can be dragged onto the graph view.
class OperatorTree : public QTreeWidget {
public:
    using QTreeWidget::QTreeWidget;

protected:
    QStringList mimeTypes() const override { return {QString::fromLatin1(OpPalette::kMimeType)}; }
    QMimeData* mimeData(const QList<QTreeWidgetItem*>& items) const override {
        if (items.isEmpty() || items.front()->data(0, kOpRole).toInt() < 0) return nullptr;
        auto* data = new QMimeData;
        data->setData(QString::fromLatin1(OpPalette::kMimeType), items.front()->text(0).toUtf8());
        data->setText(items.front()->text(0));
        return data;
    }
};

}  // namespace

QString schemaHtml(const onnx::OpSchema& s) {
    QString html;
    html += QStringLiteral("<h3 style='margin:0'>%1</h3>").arg(qs(s.name).toHtmlEscaped());
    html += QObject::tr("<p style='color:#666;margin-top:2px'>%1, since opset %2</p>")
                .arg(s.domain.empty() ? QStringLiteral("ai.onnx") : qs(s.domain).toHtmlEscaped())
                .arg(s.sinceVersion);
    auto params = [&](const QString& title, const std::vector<onnx::OpParameter>& list) {
        if (list.empty()) return;
        html += QStringLiteral("<b>%1</b><ul style='margin-top:0'>").arg(title);
        for (const auto& p : list)
            html += QStringLiteral("<li><code>%1</code>: %2%3</li>")
                        .arg(qs(p.name).toHtmlEscaped(), qs(p.typeStr).toHtmlEscaped(),
                             optionText(p.option));
        html += QStringLiteral("</ul>");
    };
    params(QObject::tr("Inputs"), s.inputs);
    params(QObject::tr("Outputs"), s.outputs);
    if (!s.attributes.empty()) {
        html += QObject::tr("<b>Attributes</b><ul style='margin-top:0'>");
        for (const auto& a : s.attributes) {
            QString line =
                QStringLiteral("<code>%1</code>: %2").arg(qs(a.name).toHtmlEscaped(),
                                                          attrTypeName(a.type));
            if (a.required)
                line += QObject::tr(" <b>(required)</b>");
            else if (!a.defaultText.empty())
                line += QObject::tr(" = %1").arg(qs(a.defaultText).toHtmlEscaped());
            html += QStringLiteral("<li>%1</li>").arg(line);
        }
        html += QStringLiteral("</ul>");
    }
    if (!s.typeConstraints.empty()) {
        html += QObject::tr("<b>Types</b><ul style='margin-top:0'>");
        for (const auto& c : s.typeConstraints) {
            QStringList allowed;
            for (const std::string& t : c.allowed) {
                QString name = qs(t);
                if (name.startsWith(QLatin1String("tensor(")) && name.endsWith(QLatin1Char(')')))
                    name = name.mid(7, name.size() - 8);
                allowed << name;
            }
            html += QStringLiteral("<li><code>%1</code>: %2</li>")
                        .arg(qs(c.name).toHtmlEscaped(), allowed.join(QStringLiteral(", ")));
        }
        html += QStringLiteral("</ul>");
    }
    // The documentation's first paragraph (the rest is long Markdown).
    QString doc = qs(s.doc).trimmed();
    const int cut = doc.indexOf(QStringLiteral("\n\n"));
    if (cut > 0) doc = doc.left(cut);
    if (doc.size() > 700) doc = doc.left(700) + QChar(0x2026);
    if (!doc.isEmpty()) html += QStringLiteral("<p>%1</p>").arg(doc.toHtmlEscaped());
    return html;
}

OpPalette::OpPalette(QWidget* parent) : QDockWidget(tr("Operators"), parent) {
    setObjectName(QStringLiteral("OperatorPaletteDock"));
    auto* body = new QWidget(this);
    auto* layout = new QVBoxLayout(body);
    layout->setContentsMargins(4, 4, 4, 4);
    m_search = new QLineEdit(body);
    m_search->setPlaceholderText(tr("Search operators (Enter adds the first match)"));
    m_search->setClearButtonEnabled(true);
    m_search->installEventFilter(this);
    m_caption = new QLabel(body);
    m_caption->setStyleSheet(QStringLiteral("color: palette(mid)"));
    m_tree = new OperatorTree(body);
    m_tree->setHeaderHidden(true);
    m_tree->setRootIsDecorated(true);
    m_tree->setUniformRowHeights(true);
    m_tree->setDragEnabled(true);
    m_tree->setDragDropMode(QAbstractItemView::DragOnly);
    m_tree->setToolTip(
        tr("Double-click or Enter: add after the selected node (unconnected when none is "
           "selected).\nDrag onto a wire to insert it there, or onto the canvas."));
    m_details = new QTextBrowser(body);
    m_details->setOpenLinks(false);
    auto* split = new QSplitter(Qt::Vertical, body);
    split->addWidget(m_tree);
    split->addWidget(m_details);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    m_add = new QPushButton(tr("&Add to Model"), body);
    m_add->setEnabled(false);
    layout->addWidget(m_search);
    layout->addWidget(m_caption);
    layout->addWidget(split, 1);
    layout->addWidget(m_add);
    setWidget(body);

    connect(m_search, &QLineEdit::textChanged, this, &OpPalette::setFilter);
    connect(m_search, &QLineEdit::returnPressed, this, &OpPalette::requestAdd);
    connect(m_tree, &QTreeWidget::currentItemChanged, this, &OpPalette::showCurrent);
    connect(m_tree, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem* item) {
        if (item && item->data(0, kOpRole).toInt() >= 0) requestAdd();
    });
    connect(m_add, &QPushButton::clicked, this, &OpPalette::requestAdd);
}

void OpPalette::setOpset(int64_t opset) {
    if (opset == m_opset) return;
    m_opset = opset;
    m_schemas = opset > 0 ? onnx::operatorSchemas(opset) : std::vector<onnx::OpSchema>{};
    rebuild();
}

void OpPalette::rebuild() {
    const QString current = currentOperator();
    m_tree->clear();
    const OpMetadata& meta = OpMetadata::instance();
    QHash<QString, QTreeWidgetItem*> groups;
    for (const OpCategory& c : meta.categories()) {  // file order, "Other" last
        auto* group = new QTreeWidgetItem(m_tree, {c.name});
        group->setData(0, kOpRole, -1);
        group->setIcon(0, swatch(c.color));
        group->setFlags(Qt::ItemIsEnabled);
        QFont bold = group->font(0);
        bold.setBold(true);
        group->setFont(0, bold);
        groups.insert(c.name, group);
    }
    for (std::size_t i = 0; i < m_schemas.size(); ++i) {
        const QString name = qs(m_schemas[i].name);
        QTreeWidgetItem* group = groups.value(meta.categoryOf(name).name);
        if (!group) continue;
        auto* item = new QTreeWidgetItem(group, {name});
        item->setData(0, kOpRole, static_cast<int>(i));
        item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsDragEnabled);
    }
    for (auto* group : groups)
        if (group->childCount() == 0) delete group;
    setFilter(m_search->text());
    if (!current.isEmpty()) setCurrentOperator(current);
}

void OpPalette::setFilter(const QString& text) {
    const QString needle = text.trimmed();
    QTreeWidgetItem* first = nullptr;
    QTreeWidgetItem* prefix = nullptr;  // "sigm" picks Sigmoid before HardSigmoid
    QTreeWidgetItem* exact = nullptr;
    int shown = 0;
    for (int g = 0; g < m_tree->topLevelItemCount(); ++g) {
        QTreeWidgetItem* group = m_tree->topLevelItem(g);
        int visible = 0;
        for (int i = 0; i < group->childCount(); ++i) {
            QTreeWidgetItem* item = group->child(i);
            const bool match = needle.isEmpty() || item->text(0).contains(needle, Qt::CaseInsensitive);
            item->setHidden(!match);
            if (!match) continue;
            ++visible;
            if (!first) first = item;
            if (!exact && item->text(0).compare(needle, Qt::CaseInsensitive) == 0) exact = item;
            if (!needle.isEmpty() && item->text(0).startsWith(needle, Qt::CaseInsensitive) &&
                (!prefix || item->text(0).size() < prefix->text(0).size()))
                prefix = item;
        }
        group->setHidden(visible == 0);
        group->setExpanded(true);
        shown += visible;
    }
    if (m_opset <= 0)
        m_caption->setText(tr("Open a model to list its opset's operators"));
    else if (shown == 1)
        m_caption->setText(tr("1 operator of opset %1").arg(m_opset));
    else
        m_caption->setText(tr("%1 operators of opset %2").arg(shown).arg(m_opset));
    if (!needle.isEmpty()) {
        QTreeWidgetItem* pick = exact ? exact : prefix ? prefix : first;
        if (pick) m_tree->setCurrentItem(pick);
        else m_tree->setCurrentItem(nullptr);
    }
}

void OpPalette::focusSearch() {
    show();
    raise();
    m_search->setFocus(Qt::ShortcutFocusReason);
    m_search->selectAll();
}

QString OpPalette::currentOperator() const {
    const QTreeWidgetItem* item = m_tree->currentItem();
    if (!item || item->isHidden() || item->data(0, kOpRole).toInt() < 0) return {};
    return item->text(0);
}

bool OpPalette::setCurrentOperator(const QString& opType) {
    for (int g = 0; g < m_tree->topLevelItemCount(); ++g) {
        QTreeWidgetItem* group = m_tree->topLevelItem(g);
        for (int i = 0; i < group->childCount(); ++i) {
            QTreeWidgetItem* item = group->child(i);
            if (item->text(0) == opType && !item->isHidden()) {
                group->setExpanded(true);
                m_tree->setCurrentItem(item);
                m_tree->scrollToItem(item);
                return true;
            }
        }
    }
    return false;
}

const onnx::OpSchema* OpPalette::currentSchema() const {
    const QTreeWidgetItem* item = m_tree->currentItem();
    const int index = item ? item->data(0, kOpRole).toInt() : -1;
    if (index < 0 || static_cast<std::size_t>(index) >= m_schemas.size()) return nullptr;
    return &m_schemas[static_cast<std::size_t>(index)];
}

int OpPalette::visibleCount() const {
    int n = 0;
    for (int g = 0; g < m_tree->topLevelItemCount(); ++g) {
        const QTreeWidgetItem* group = m_tree->topLevelItem(g);
        for (int i = 0; i < group->childCount(); ++i) n += group->child(i)->isHidden() ? 0 : 1;
    }
    return n;
}

void OpPalette::showCurrent() {
    const onnx::OpSchema* s = currentSchema();
    m_add->setEnabled(s != nullptr);
    m_details->setHtml(s ? schemaHtml(*s) : QString());
}

void OpPalette::requestAdd() {
    const QString op = currentOperator();
    if (!op.isEmpty()) emit addRequested(op);
}

bool OpPalette::eventFilter(QObject* watched, QEvent* event) {
    // Up and Down in the search box move through the matches.
    if (watched == m_search && event->type() == QEvent::KeyPress) {
        const int key = static_cast<QKeyEvent*>(event)->key();
        if (key == Qt::Key_Down || key == Qt::Key_Up) {
            QTreeWidgetItem* item = m_tree->currentItem();
            do {
                item = item ? (key == Qt::Key_Down ? m_tree->itemBelow(item)
                                                   : m_tree->itemAbove(item))
                            : m_tree->topLevelItem(0);
            } while (item && (item->isHidden() || item->data(0, kOpRole).toInt() < 0));
            if (item) m_tree->setCurrentItem(item);
            return true;
        }
    }
    return QDockWidget::eventFilter(watched, event);
}

}  // namespace wh::widgets
