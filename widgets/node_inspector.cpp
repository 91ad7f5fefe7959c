#include "widgets/node_inspector.h"

#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QStyledItemDelegate>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace wh::widgets {

namespace {

QString qs(const std::string& s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

QString dimsString(const std::vector<int64_t>& dims) {
    QStringList parts;
    for (int64_t d : dims) parts << QString::number(d);
    return QLatin1Char('[') + parts.join(QLatin1Char(',')) + QLatin1Char(']');
}

/// Value names are long paths ("/features/features.3/squeeze/Conv_output_0") whose end says the
/// most: elide them on the left.
class ElideLeftDelegate : public QStyledItemDelegate {
public:
    using QStyledItemDelegate::QStyledItemDelegate;

protected:
    void initStyleOption(QStyleOptionViewItem* option, const QModelIndex& index) const override {
        QStyledItemDelegate::initStyleOption(option, index);
        option->textElideMode = Qt::ElideLeft;
    }
};

}  // namespace

QString valueTypeString(const ir::Value& value) {
    std::string declared = value.type.toString();
    if (!declared.empty()) return qs(declared);
    if (const ir::Tensor* t = value.initializer())
        return qs(std::string(ir::dtypeName(t->dtype))) + dimsString(t->dims);
    if (const ir::Tensor* t = ir::constantTensor(&value))
        return qs(std::string(ir::dtypeName(t->dtype))) + dimsString(t->dims);
    return QStringLiteral("?");
}

NodeInspector::NodeInspector(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    m_title = new QLabel(this);
    m_title->setTextFormat(Qt::PlainText);
    m_title->setWordWrap(true);
    QFont f = m_title->font();
    f.setBold(true);
    m_title->setFont(f);
    layout->addWidget(m_title);

    m_tree = new QTreeWidget(this);
    m_tree->setColumnCount(2);
    m_tree->setHeaderLabels({tr("Property"), tr("Value")});
    m_tree->setRootIsDecorated(true);
    m_tree->setAlternatingRowColors(true);
    m_tree->setUniformRowHeights(true);
    m_tree->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_tree->setTextElideMode(Qt::ElideRight);
    m_tree->setItemDelegateForColumn(0, new ElideLeftDelegate(m_tree));
    m_tree->header()->setSectionResizeMode(0, QHeaderView::Interactive);
    m_tree->header()->setStretchLastSection(true);
    m_tree->setColumnWidth(0, 170);
    layout->addWidget(m_tree);
    clear();
}

void NodeInspector::clear() {
    m_node.reset();
    m_tree->clear();
    m_title->setText(tr("Select a node to see its properties."));
}

QTreeWidgetItem* NodeInspector::addSection(const QString& title) {
    auto* item = new QTreeWidgetItem(m_tree, {title});
    QFont f = item->font(0);
    f.setBold(true);
    item->setFont(0, f);
    item->setFirstColumnSpanned(true);
    item->setExpanded(true);
    return item;
}

void NodeInspector::addRow(QTreeWidgetItem* section, const QString& property, const QString& value,
                           const QString& tooltip) {
    auto* item = new QTreeWidgetItem(section, {property, value});
    item->setToolTip(0, property);
    item->setToolTip(1, tooltip.isEmpty() ? value : tooltip);
}

void NodeInspector::addValueRows(QTreeWidgetItem* section, const std::vector<ir::Value*>& values,
                                 bool asInputs) {
    const QLocale locale;
    for (std::size_t i = 0; i < values.size(); ++i) {
        const ir::Value* v = values[i];
        if (!v) {
            addRow(section, QStringLiteral("#%1").arg(i), tr("(omitted)"));
            continue;
        }
        QString type = valueTypeString(*v);
        QStringList notes;
        if (const ir::Tensor* t = v->initializer())
            notes << tr("initializer, %1 elements")
                         .arg(locale.toString(static_cast<qlonglong>(t->numElements())));
        else if (v->sparseInitializer())
            notes << tr("sparse initializer");
        else if (v->isGraphInput())
            notes << tr("graph input");
        else if (asInputs && v->producer())
            notes << tr("from %1").arg(qs(v->producer()->displayName()));
        if (!asInputs && v->hasUses())
            notes << tr("%n use(s)", nullptr, static_cast<int>(v->uses().size()));
        if (v->isGraphOutput()) notes << tr("graph output");
        QString text = notes.isEmpty()
                           ? type
                           : type + QStringLiteral("  ·  ") + notes.join(QStringLiteral(", "));
        addRow(section, qs(v->name()), text);
    }
}

void NodeInspector::showNode(const ir::Node& node) {
    m_tree->clear();
    m_node = node.id();
    m_title->setText(qs(node.displayName()));

    QTreeWidgetItem* general = addSection(tr("Node"));
    addRow(general, tr("Name"), node.name.empty() ? tr("(unnamed)") : qs(node.name));
    addRow(general, tr("Op type"), qs(node.opType));
    addRow(general, tr("Domain"),
           node.domain.empty() ? QStringLiteral("ai.onnx") : qs(node.domain));
    if (!node.docString.empty()) addRow(general, tr("Doc"), qs(node.docString));

    if (!node.attributes().empty()) {
        QTreeWidgetItem* attrs = addSection(tr("Attributes"));
        for (const ir::Attribute& a : node.attributes())
            addRow(attrs, qs(a.name), qs(a.valueString()));
    }
    addValueRows(addSection(tr("Inputs")), node.inputs(), true);
    addValueRows(addSection(tr("Outputs")), node.outputs(), false);
}

void NodeInspector::showModel(const ir::Model& model, const QString& path) {
    m_tree->clear();
    m_node.reset();
    m_title->setText(path.isEmpty() ? tr("Model") : path.section(QLatin1Char('/'), -1));

    QTreeWidgetItem* general = addSection(tr("Model"));
    if (!path.isEmpty()) addRow(general, tr("File"), path);
    QString producer = qs(model.producerName);
    if (!model.producerVersion.empty()) producer += QLatin1Char(' ') + qs(model.producerVersion);
    if (!producer.isEmpty()) addRow(general, tr("Producer"), producer);
    addRow(general, tr("IR version"), QString::number(model.irVersion));
    QStringList opsets;
    for (const ir::OpsetId& o : model.opsetImports)
        opsets << QStringLiteral("%1 %2")
                      .arg(o.domain.empty() ? QStringLiteral("ai.onnx") : qs(o.domain))
                      .arg(o.version);
    if (!opsets.isEmpty()) addRow(general, tr("Opsets"), opsets.join(QStringLiteral(", ")));
    if (!model.graph) return;
    const ir::Graph& g = *model.graph;
    if (!g.name.empty()) addRow(general, tr("Graph"), qs(g.name));
    const QLocale locale;
    addRow(general, tr("Nodes"), locale.toString(static_cast<qulonglong>(g.numNodesRecursive())));
    addRow(general, tr("Initializers"),
           locale.toString(static_cast<qulonglong>(g.initializers().size())));

    // Graph inputs that are initializers (old exporters list every weight) would drown the real
    // inputs: list only the ones a user feeds.
    std::vector<ir::Value*> fed;
    for (ir::Value* v : g.inputs())
        if (!v->hasInitializer()) fed.push_back(v);
    addValueRows(addSection(tr("Inputs")), fed, true);
    addValueRows(addSection(tr("Outputs")), g.outputs(), false);
}

QString NodeInspector::valueOf(const QString& section, const QString& property) const {
    for (int i = 0; i < m_tree->topLevelItemCount(); ++i) {
        const QTreeWidgetItem* s = m_tree->topLevelItem(i);
        if (s->text(0) != section) continue;
        for (int k = 0; k < s->childCount(); ++k)
            if (s->child(k)->text(0) == property) return s->child(k)->text(1);
    }
    return {};
}

}  // namespace wh::widgets
