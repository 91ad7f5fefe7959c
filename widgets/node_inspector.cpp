#include "widgets/node_inspector.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <unordered_set>

#include <QAreaSeries>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QEvent>
#include <QFile>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineSeries>
#include <QLocale>
#include <QMenu>
#include <QSplitter>
#include <QStyledItemDelegate>
#include <QToolButton>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <QValueAxis>

#include "core/jobs/job_context.h"
#include "core/layout/graph_layout.h"
#include "core/onnx/op_schema.h"
#include "widgets/chart_util.h"
#include "widgets/format.h"
#include "widgets/job_runner.h"
#include "widgets/shape_table.h"
#include "widgets/tensor_values_dialog.h"

namespace wh::widgets {

namespace {

constexpr int kAttrRole = Qt::UserRole + 1;  // attribute name on editable rows
constexpr int kNameRole = Qt::UserRole + 2;  // set on the editable node-name row
// Value rows (inputs, outputs): the value's name, what its declared type says, its type without
// inference, and the text after the type.
constexpr int kValueRole = Qt::UserRole + 3;
constexpr int kDeclaredRole = Qt::UserRole + 4;
constexpr int kFallbackTypeRole = Qt::UserRole + 5;
constexpr int kSuffixRole = Qt::UserRole + 6;
// Rows of a constant (its input/output row, its weight section and the section's rows): the
// tensor's name, for the initializer menu.
constexpr int kTensorRole = Qt::UserRole + 7;
constexpr int kDeclaresNoShape = 0;
constexpr int kDeclaresPartialShape = 1;  // some dim neither a number nor a symbol
constexpr int kDeclaresShape = 2;         // complete: inference never overrides it
constexpr std::size_t kCacheSize = 32;

QString qs(const std::string& s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

QString dimsString(const std::vector<int64_t>& dims) {
    QStringList parts;
    for (int64_t d : dims) parts << QString::number(d);
    return QLatin1Char('[') + parts.join(QLatin1Char(',')) + QLatin1Char(']');
}

QString number(double v) {
    return QLocale().toString(v, 'g', 6);
}

bool editable(ir::AttrType t) {
    switch (t) {
        case ir::AttrType::kInt:
        case ir::AttrType::kFloat:
        case ir::AttrType::kString:
        case ir::AttrType::kInts:
        case ir::AttrType::kFloats:
            return true;
        default:
            return false;
    }
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

/// The value holding the constant behind `v`: `v` itself (an initializer or a Constant's
/// output), or the initializer an Identity forwards (PyTorch wraps biases that way; the view
/// folds the Identity into its consumer). Null when `v` is computed.
const ir::Value* constantSource(const ir::Value* v) {
    if (ir::constantTensor(v)) return v;
    const ir::Node* p = v->producer();
    if (p && p->opType == "Identity" && p->numInputs() == 1 && p->input(0) &&
        ir::constantTensor(p->input(0)))
        return p->input(0);
    return nullptr;
}

// What set_initializer's "dtype" casts between (core/rewrite/edits.h): within these two kinds.
constexpr ir::DType kFloatTypes[] = {ir::DType::kFloat, ir::DType::kFloat16, ir::DType::kDouble,
                                     ir::DType::kBFloat16};
constexpr ir::DType kIntegerTypes[] = {ir::DType::kInt8,   ir::DType::kInt16, ir::DType::kInt32,
                                       ir::DType::kInt64,  ir::DType::kUInt8, ir::DType::kUInt16,
                                       ir::DType::kUInt32, ir::DType::kUInt64};

/// The types of `current`'s kind other than it that every reader of `value` accepts at the
/// input it reads it as (by its schema in `opset`; a reader without a known schema accepts
/// all). A type constraint shared with other inputs (Conv's T binds X, W and B) is not
/// checked: converting a model is several such steps, and the checker flags it meanwhile.
std::vector<ir::DType> castTargets(const ir::Value& value, ir::DType current, int64_t opset) {
    std::vector<ir::DType> targets;
    const bool floats = ir::isFloatingPoint(current);
    const bool ints = std::find(std::begin(kIntegerTypes), std::end(kIntegerTypes), current) !=
                      std::end(kIntegerTypes);
    if (floats)
        for (ir::DType t : kFloatTypes)
            if (t != current) targets.push_back(t);
    if (ints)
        for (ir::DType t : kIntegerTypes)
            if (t != current) targets.push_back(t);
    // A weight shared by many nodes has few distinct (op, input) readers: look each up once.
    std::set<std::tuple<std::string, std::string, int>> seen;
    for (const ir::Use& use : value.uses()) {
        if (targets.empty()) break;
        const ir::Node& reader = *use.node;
        const std::string domain = ir::isDefaultDomain(reader.domain) ? "" : reader.domain;
        if (!seen.emplace(reader.opType, domain, use.input).second) continue;
        const std::optional<onnx::OpSchema> schema =
            onnx::findOperatorSchema(reader.opType, domain, opset);
        if (!schema) continue;
        const std::vector<std::string> allowed = schema->allowedInputTypes(use.input);
        if (allowed.empty()) continue;
        std::erase_if(targets, [&](ir::DType t) {
            return std::find(allowed.begin(), allowed.end(), onnx::onnxTypeString(t)) ==
                   allowed.end();
        });
    }
    return targets;
}

/// A tick format showing `step`'s significant decimals ("%.2f" for 0.05).
QString tickFormat(double step) {
    const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
    return QStringLiteral("%.%1f").arg(std::clamp(decimals, 0, 12));
}

/// Sets `axis` to tick at multiples of a 1-2-5 step within its range.
void setRoundTicks(QValueAxis* axis, double lo, double hi, int maxTicks) {
    const double step = niceTickStep(hi - lo, maxTicks);
    axis->setTickType(QValueAxis::TicksDynamic);
    axis->setTickAnchor(0.0);  // ticks at k * step
    axis->setTickInterval(step);
    axis->setLabelFormat(tickFormat(step));
}

}  // namespace

double niceTickStep(double range, int maxTicks) {
    if (!(range > 0) || !std::isfinite(range)) return 1.0;
    const double raw = range / std::max(1, maxTicks);
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * magnitude >= raw * (1 - 1e-9)) return m * magnitude;
    return 10.0 * magnitude;
}

QString smallTensorValues(const ir::Tensor& t, int64_t maxElements) {
    const int64_t n = t.numElements();
    if (n > maxElements || n < 0) return {};
    QStringList parts;
    if (t.dtype == ir::DType::kString) {
        if (static_cast<int64_t>(t.strings.size()) != n) return {};
        for (const std::string& s : t.strings)
            parts << QLatin1Char('"') + qs(s).left(40) + QLatin1Char('"');
    } else {
        if (!t.isRealNumeric() && t.dtype != ir::DType::kBool) return {};
        if (t.byteSize() < ir::dataBytesOf(t.dtype, static_cast<uint64_t>(n))) return {};
        for (int64_t i = 0; i < n; ++i) {
            if (t.dtype == ir::DType::kInt64)  // exact: Slice's "to the end" is INT64_MAX
                parts << QString::number(
                    static_cast<qlonglong>(t.values<int64_t>()[static_cast<std::size_t>(i)]));
            else
                parts << QString::number(t.elementAsDouble(i), 'g', 6);
        }
    }
    if (t.dims.empty() && parts.size() == 1) return parts.front();
    return QLatin1Char('[') + parts.join(QStringLiteral(", ")) + QLatin1Char(']');
}

QString valueTypeString(const ir::Value& value, const ShapeTable* shapes) {
    std::string declared = displayType(value, shapes).toString();
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

    auto* splitter = m_splitter = new QSplitter(Qt::Vertical, this);
    splitter->setChildrenCollapsible(false);
    layout->addWidget(splitter, 1);

    m_tree = new QTreeWidget(splitter);
    m_tree->setColumnCount(2);
    m_tree->setHeaderLabels({tr("Property"), tr("Value")});
    m_tree->setRootIsDecorated(true);
    m_tree->setAlternatingRowColors(true);
    m_tree->setUniformRowHeights(true);
    m_tree->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_tree->setTextElideMode(Qt::ElideRight);
    m_tree->setItemDelegateForColumn(0, new ElideLeftDelegate(m_tree));
    // The property column keeps its share of the width as the dock is resized (40 %, or what
    // the user chose by dragging the divider); the value column takes the rest.
    m_tree->header()->setSectionResizeMode(0, QHeaderView::Interactive);
    m_tree->header()->setStretchLastSection(true);
    m_tree->header()->setMinimumSectionSize(60);
    connect(m_tree->header(), &QHeaderView::sectionResized, this, [this](int section, int, int w) {
        if (section != 0 || m_fittingColumns) return;
        const int total = m_tree->viewport()->width();
        if (total > 0) m_propertyShare = std::clamp(double(w) / total, 0.15, 0.85);
    });
    // Only attribute values are editable, and only by double-click on the value column.
    m_tree->setEditTriggers(QAbstractItemView::NoEditTriggers);
    connect(m_tree, &QTreeWidget::itemDoubleClicked, this, [this](QTreeWidgetItem* item, int col) {
        if (col == 1 && (item->data(0, kAttrRole).isValid() || item->data(0, kNameRole).isValid()))
            m_tree->editItem(item, 1);
    });
    connect(m_tree, &QTreeWidget::itemChanged, this, &NodeInspector::onItemChanged);
    m_tree->viewport()->installEventFilter(this);
    m_tree->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_tree, &QWidget::customContextMenuRequested, this,
            &NodeInspector::showInitializerMenu);
    // The list stays usable however small the dock: about six rows at least.
    m_tree->setMinimumHeight(140);

    m_histogramPanel = new QWidget(splitter);
    auto* panelLayout = new QVBoxLayout(m_histogramPanel);
    panelLayout->setContentsMargins(0, 0, 0, 0);
    panelLayout->setSpacing(2);
    auto* header = new QHBoxLayout;
    header->setContentsMargins(0, 0, 0, 0);
    m_histogramToggle = new QToolButton(m_histogramPanel);
    m_histogramToggle->setText(tr("Histogram"));
    m_histogramToggle->setCheckable(true);
    m_histogramToggle->setChecked(true);
    m_histogramToggle->setAutoRaise(true);
    m_histogramToggle->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    m_histogramToggle->setArrowType(Qt::DownArrow);
    m_histogramToggle->setToolTip(tr("Show or fold away the weight histogram"));
    header->addWidget(m_histogramToggle);
    m_weightCombo = new QComboBox(m_histogramPanel);
    m_weightCombo->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_weightCombo->setMinimumContentsLength(12);
    m_weightCombo->setToolTip(tr("The weight whose histogram is drawn"));
    header->addWidget(m_weightCombo, 10);
    m_weightMenuButton = new QToolButton(m_histogramPanel);
    m_weightMenuButton->setObjectName(QStringLiteral("weightMenuButton"));
    m_weightMenuButton->setText(QStringLiteral("⋯"));
    m_weightMenuButton->setAutoRaise(true);
    m_weightMenuButton->setToolTip(
        tr("The weight shown: view its values, replace them, set a constant, change the type"));
    connect(m_weightMenuButton, &QToolButton::clicked, this, [this] {
        const int i = m_weightCombo->currentIndex();
        if (i < 0 || i >= static_cast<int>(m_weights.size())) return;
        std::unique_ptr<QMenu> menu(
            createInitializerMenu(m_weights[static_cast<std::size_t>(i)].name, this));
        if (menu)
            menu->exec(m_weightMenuButton->mapToGlobal(m_weightMenuButton->rect().bottomLeft()));
    });
    header->addWidget(m_weightMenuButton);
    header->addStretch(1);  // the button stays left when there is no combo box
    panelLayout->addLayout(header);
    m_chart = new QChart;
    m_chart->legend()->hide();
    m_chart->setMargins(QMargins(4, 4, 8, 4));
    m_chart->setBackgroundRoundness(0);
    m_chart->setAnimationOptions(QChart::NoAnimation);
    m_chartView = new QChartView(m_chart, m_histogramPanel);  // owns the chart
    m_chartView->setRenderHint(QPainter::Antialiasing);
    m_chartView->setMinimumHeight(120);
    m_chartView->setMaximumHeight(kHistogramMaxHeight);
    panelLayout->addWidget(m_chartView, 1);
    connect(m_weightCombo, &QComboBox::currentIndexChanged, this, &NodeInspector::showHistogram);
    connect(m_histogramToggle, &QToolButton::toggled, this,
            [this](bool shown) { setHistogramCollapsed(!shown); });
    // The tree takes what the chart (at most kHistogramMaxHeight) leaves; the panel may be
    // squeezed to its header, the tree never below its minimum.
    splitter->setStretchFactor(0, 1);
    splitter->setStretchFactor(1, 0);
    styleChart();
    clear();
}

NodeInspector::~NodeInspector() = default;

void NodeInspector::setShapeTable(std::shared_ptr<const ShapeTable> shapes) {
    if (shapes == m_shapes) return;
    m_shapes = std::move(shapes);
    // Rewrite the type of every value row in place: rows (and an editor open on one) stay.
    const QSignalBlocker block(m_tree);
    for (int i = 0; i < m_tree->topLevelItemCount(); ++i) {
        QTreeWidgetItem* section = m_tree->topLevelItem(i);
        for (int k = 0; k < section->childCount(); ++k)
            if (section->child(k)->data(0, kValueRole).isValid())
                setValueRowType(section->child(k));
    }
}

void NodeInspector::setHistogramCollapsed(bool collapsed) {
    {
        const QSignalBlocker block(m_histogramToggle);
        m_histogramToggle->setChecked(!collapsed);
    }
    m_histogramToggle->setArrowType(collapsed ? Qt::RightArrow : Qt::DownArrow);
    m_chartView->setVisible(!collapsed);
    // Folded, the panel is one line: give the rest back to the property list.
    const int header = m_histogramToggle->sizeHint().height() + 4;
    m_histogramPanel->setMaximumHeight(collapsed ? header : QWIDGETSIZE_MAX);
    // The splitter keeps its sizes when a child's limits change: hand the room over explicitly.
    const int total = m_splitter->height();
    const int panel =
        collapsed ? header : std::min(header + kHistogramMaxHeight, std::max(header, total / 2));
    m_splitter->setSizes({std::max(0, total - panel), panel});
}

bool NodeInspector::isHistogramCollapsed() const {
    return !m_histogramToggle->isChecked();
}

void NodeInspector::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    fitColumns();
}

bool NodeInspector::eventFilter(QObject* watched, QEvent* event) {
    // The tree's viewport gets its width after the inspector's resize (and loses some to a
    // scroll bar): follow it.
    if (watched == m_tree->viewport() && event->type() == QEvent::Resize) fitColumns();
    return QWidget::eventFilter(watched, event);
}

void NodeInspector::fitColumns() {
    const int total = m_tree->viewport()->width();
    if (total <= 0) return;
    m_fittingColumns = true;
    m_tree->setColumnWidth(0, std::clamp(qRound(total * m_propertyShare), 60, total - 60));
    m_fittingColumns = false;
}

void NodeInspector::changeEvent(QEvent* event) {
    if (event->type() == QEvent::PaletteChange || event->type() == QEvent::StyleChange)
        styleChart();
    QWidget::changeEvent(event);
}

void NodeInspector::styleChart() {
    // QtCharts draws with its own theme (white labels on some): use the widget palette so text
    // is readable on the background it is drawn on.
    const QPalette pal = palette();
    m_chart->setBackgroundBrush(pal.base());
    m_chart->setPlotAreaBackgroundVisible(false);
    m_chart->setTitleBrush(pal.text());
    for (QAbstractAxis* axis : m_chart->axes()) {
        axis->setLabelsBrush(pal.text());
        axis->setLabelsColor(pal.color(QPalette::Text));
        axis->setTitleBrush(pal.text());
        axis->setLinePenColor(pal.color(QPalette::Mid));
        axis->setGridLineColor(pal.color(QPalette::Midlight));
    }
}

void NodeInspector::editName() {
    if (!m_node || !m_nameRow) return;
    m_tree->setCurrentItem(m_nameRow, 1);
    m_tree->editItem(m_nameRow, 1);
}

void NodeInspector::resetWeights() {
    ++m_generation;
    m_nameRow = nullptr;
    m_weights.clear();
    m_constants.clear();
    const QSignalBlocker block(m_weightCombo);
    m_weightCombo->clear();
    clearChart(m_chart);
    m_chart->setTitle(QString());
    m_histogramPanel->hide();
}

void NodeInspector::clear() {
    m_node.reset();
    m_selectionSize = 0;
    resetWeights();
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

QTreeWidgetItem* NodeInspector::addRow(QTreeWidgetItem* section, const QString& property,
                                       const QString& value, const QString& tooltip) {
    auto* item = new QTreeWidgetItem(section, {property, value});
    item->setToolTip(0, property);
    item->setToolTip(1, tooltip.isEmpty() ? value : tooltip);
    return item;
}

void NodeInspector::addValueRows(QTreeWidgetItem* section, std::span<const ir::Value* const> values,
                                 bool asInputs) {
    for (std::size_t i = 0; i < values.size(); ++i) {
        const ir::Value* v = values[i];
        if (!v) {
            addRow(section, QStringLiteral("#%1").arg(i), tr("(omitted)"));
            continue;
        }
        QString suffix;
        // Small constants (Clip's bounds, a Reshape's target shape, a Constant node's value) say
        // what they hold. An output is a constant only when a Constant node computes it.
        const ir::Value* source = nullptr;
        if (asInputs)
            source = constantSource(v);
        else if (ir::constantTensor(v))
            source = v;
        QString constantName;
        if (source) {
            const QString values = smallTensorValues(*ir::constantTensor(source), kInlineValues);
            if (!values.isEmpty()) suffix += QStringLiteral(" = ") + values;
            constantName = noteConstant(*source);
        }
        QStringList notes;
        if (const ir::Tensor* t = v->initializer())
            notes << tr("initializer, %1 elements")
                         .arg(formatCount(static_cast<qlonglong>(t->numElements())));
        else if (v->sparseInitializer())
            notes << tr("sparse initializer");
        else if (v->isGraphInput())
            notes << tr("graph input");
        else if (asInputs && v->producer() && v->producer()->opType == "Identity" &&
                 v->producer()->numInputs() == 1 && v->producer()->input(0) &&
                 v->producer()->input(0)->initializer())
            // PyTorch wraps biases in an Identity; the view folds it into this node.
            notes << tr("initializer %1 via Identity, %2 elements")
                         .arg(qs(v->producer()->input(0)->name()),
                              formatCount(static_cast<qlonglong>(
                                  v->producer()->input(0)->initializer()->numElements())));
        else if (asInputs && v->producer() && v->producer()->opType == "DequantizeLinear" &&
                 v->producer()->input(0) && v->producer()->input(0)->initializer())
            // A quantized weight: the view folds its DequantizeLinear into this node.
            notes << tr("%1 initializer %2 via DequantizeLinear, %3 elements")
                         .arg(qs(std::string(
                                  ir::dtypeName(v->producer()->input(0)->initializer()->dtype))),
                              qs(v->producer()->input(0)->name()),
                              formatCount(static_cast<qlonglong>(
                                  v->producer()->input(0)->initializer()->numElements())));
        else if (asInputs && v->producer())
            notes << tr("from %1").arg(qs(v->producer()->displayName()));
        if (!asInputs && v->hasUses())
            notes << tr("%n use(s)", nullptr, static_cast<int>(v->uses().size()));
        if (v->isGraphOutput()) notes << tr("graph output");
        if (!notes.isEmpty()) suffix += QStringLiteral("  ·  ") + notes.join(QStringLiteral(", "));

        // The type part follows the shape table (setShapeTable() rewrites it in place), so the
        // row keeps what it needs to: the value's name, what the file declares, the rest.
        QTreeWidgetItem* row = addRow(section, qs(v->name()), QString());
        const ir::Type& declared = v->type;
        int declaredKind = kDeclaresNoShape;
        if (declared.isTensor() && declared.shape) {
            declaredKind = kDeclaresShape;
            for (const ir::Dim& d : declared.shape->dims)
                if (d.kind == ir::Dim::Kind::kUnknown) declaredKind = kDeclaresPartialShape;
        }
        row->setData(0, kValueRole, qs(v->name()));
        row->setData(0, kDeclaredRole, declaredKind);
        row->setData(0, kFallbackTypeRole, valueTypeString(*v));
        row->setData(0, kSuffixRole, suffix);
        if (!constantName.isEmpty()) row->setData(0, kTensorRole, constantName);
        setValueRowType(row);
    }
}

void NodeInspector::setValueRowType(QTreeWidgetItem* row) {
    QString type = row->data(0, kFallbackTypeRole).toString();
    const int declared = row->data(0, kDeclaredRole).toInt();
    bool inferred = false;
    if (declared != kDeclaresShape && m_shapes) {
        const ir::Type* t = m_shapes->find(row->data(0, kValueRole).toString().toStdString());
        // A declared partial shape ([N,?]) beats an inferred unknown rank.
        if (t && (declared == kDeclaresNoShape || t->shape)) {
            type = qs(t->toString());
            inferred = true;
        }
    }
    const QString text = type + row->data(0, kSuffixRole).toString();
    row->setText(1, text);
    row->setToolTip(1, inferred ? tr("%1\n(shape inferred by the engine%2)")
                                      .arg(text, m_shapes->note().isEmpty()
                                                     ? QString()
                                                     : QStringLiteral(", ") + m_shapes->note())
                                : text);
}

void NodeInspector::showNode(const ir::Node& node) {
    const QSignalBlocker block(m_tree);  // filling is not editing
    resetWeights();
    m_tree->clear();
    m_node = node.id();
    m_selectionSize = 0;
    m_title->setText(qs(node.displayName()));

    QTreeWidgetItem* general = addSection(tr("Node"));
    m_nameRow = addRow(general, tr("Name"), node.name.empty() ? QString() : qs(node.name));
    m_nameRow->setFlags(m_nameRow->flags() | Qt::ItemIsEditable);
    m_nameRow->setData(0, kNameRole, true);
    m_nameRow->setToolTip(1, tr("%1 — double-click or F2 to rename").arg(qs(node.name)));
    if (node.name.empty()) {
        m_nameRow->setData(1, Qt::DisplayRole, QString());
        m_nameRow->setForeground(1, palette().brush(QPalette::Disabled, QPalette::Text));
    }
    addRow(general, tr("Op type"), qs(node.opType));
    addRow(general, tr("Domain"),
           node.domain.empty() ? QStringLiteral("ai.onnx") : qs(node.domain));
    if (!node.docString.empty()) addRow(general, tr("Doc"), qs(node.docString));
    if (const ir::Node* owner = node.graph() ? node.graph()->parentNode() : nullptr) {
        // A node of an If branch or a Loop body: say whose, down from the top level.
        QStringList path;
        for (const ir::Graph* g = node.graph(); g && g->parentNode(); g = g->parentGraph()) {
            const ir::Node* holder = g->parentNode();
            QString body = QStringLiteral("?");
            for (const ir::Attribute& a : holder->attributes()) {
                if (a.g.get() == g) body = qs(a.name);
                for (std::size_t k = 0; k < a.graphs.size(); ++k)
                    if (a.graphs[k].get() == g)
                        body = QStringLiteral("%1[%2]").arg(qs(a.name)).arg(k);
            }
            path.prepend(tr("%1 of %2").arg(body, qs(holder->displayName())));
        }
        QTreeWidgetItem* row = addRow(general, tr("In subgraph"), path.join(QStringLiteral(" › ")));
        row->setToolTip(1, tr("Inside %1: read-only here (edits take top-level nodes)")
                               .arg(qs(owner->displayName())));
    }

    if (!node.attributes().empty()) {
        QTreeWidgetItem* attrs = addSection(tr("Attributes"));
        for (const ir::Attribute& a : node.attributes()) {
            QTreeWidgetItem* row = addRow(attrs, qs(a.name), qs(a.valueString()));
            if (editable(a.type) && a.refAttrName.empty()) {
                row->setFlags(row->flags() | Qt::ItemIsEditable);
                row->setData(0, kAttrRole, qs(a.name));
                row->setToolTip(1, tr("%1 — double-click to edit").arg(qs(a.valueString())));
            }
        }
    }
    addValueRows(addSection(tr("Inputs")), node.inputs(), true);
    if (!node.subgraphs().empty()) {
        // ONNX's implicit inputs: what the bodies read from this graph (drawn as edges too).
        const auto implicit = layout::implicitInputs(node);
        if (!implicit.empty())
            addValueRows(addSection(tr("Implicit inputs (read by its subgraphs)")), implicit, true);
    }
    addValueRows(addSection(tr("Outputs")), node.outputs(), false);
    addWeights(node);
}

void NodeInspector::addWeights(const ir::Node& node) {
    std::vector<const ir::Value*> values;
    for (const ir::Value* v : node.inputs())
        if (v && ir::isParameter(v)) values.push_back(v);
    for (const ir::Value* v : node.outputs())
        if (v && ir::isParameter(v)) values.push_back(v);
    if (values.empty()) return;

    for (const ir::Value* v : values) {
        Weight w;
        w.name = qs(v->name());
        w.tensor = *ir::constantTensor(v);
        w.section = addSection(tr("Weight %1").arg(w.name));
        w.section->setToolTip(
            0, tr("%1\nRight-click: view the values, replace them, set a constant, change the "
                  "type")
                   .arg(w.name));
        w.section->setData(0, kTensorRole, noteConstant(*v));
        addRow(w.section, tr("Elements"),
               formatCount(static_cast<qlonglong>(w.tensor.numElements())));
        for (const QString& p : {tr("Min"), tr("Max"), tr("Mean"), tr("Std"), tr("Sparsity")})
            addRow(w.section, p, tr("computing…"));
        m_weights.push_back(std::move(w));
    }
    // The histogram shows the biggest weight first (a Conv's kernel rather than its bias).
    std::size_t biggest = 0;
    for (std::size_t i = 0; i < m_weights.size(); ++i)
        if (m_weights[i].tensor.numElements() > m_weights[biggest].tensor.numElements())
            biggest = i;
    {
        const QSignalBlocker block(m_weightCombo);
        for (const Weight& w : m_weights)
            m_weightCombo->addItem(
                tr("%1  (%2)")
                    .arg(w.name, formatCount(static_cast<qlonglong>(w.tensor.numElements()))));
        m_weightCombo->setCurrentIndex(static_cast<int>(biggest));
    }
    m_weightCombo->setVisible(m_weights.size() > 1);
    m_histogramPanel->show();
    // Shown again after a node without weights: the splitter would give it only its minimum,
    // too little for the axis labels. Up to its full height when the list keeps half.
    if (!isHistogramCollapsed()) {
        const int header = m_histogramToggle->sizeHint().height() + 4;
        const int total = m_splitter->height();
        const int want = std::min(header + kHistogramMaxHeight, std::max(header, total / 2));
        const QList<int> sizes = m_splitter->sizes();
        if (sizes.size() == 2 && sizes[1] < want) m_splitter->setSizes({total - want, want});
    }
    for (std::size_t i = 0; i < m_weights.size(); ++i) requestStats(i);
}

void NodeInspector::requestStats(std::size_t index) {
    Weight& w = m_weights[index];
    if (const analysis::TensorStats* cached = cachedStats(w.tensor)) {
        w.stats = *cached;
        fillStats(index);
        return;
    }
    if (!m_runner || w.tensor.numElements() <= kAsyncElements) {
        Expected<analysis::TensorStats> stats =
            analysis::computeTensorStats(w.tensor, kHistogramBins);
        if (stats) {
            cacheStats(w.tensor, *stats);
            w.stats = std::move(*stats);
        }
        fillStats(index);
        return;
    }
    // Big: a job reads the shared, immutable buffer; the tensor copy keeps it alive.
    ++m_pending;
    const quint64 generation = m_generation;
    ir::Tensor tensor = w.tensor;
    Job* job = m_runner->run(tr("Statistics of %1").arg(w.name), [tensor](jobs::JobContext& ctx) {
        ctx.setStage("statistics");
        return analysis::computeTensorStats(tensor, kHistogramBins, &ctx);
    });
    connect(job, &Job::ended, this, [this, job, generation, index, tensor] {
        --m_pending;
        analysis::TensorStats* stats = job->result<analysis::TensorStats>();
        if (stats) cacheStats(tensor, *stats);  // even if the inspector moved on meanwhile
        if (stats && index < m_weights.size() && generation == m_generation) {
            m_weights[index].stats = *stats;
            fillStats(index);
        }
        job->releaseResult();
    });
}

void NodeInspector::fillStats(std::size_t index) {
    const QSignalBlocker block(m_tree);
    Weight& w = m_weights[index];
    QTreeWidgetItem* s = w.section;
    auto set = [&](int row, const QString& text) {
        if (QTreeWidgetItem* item = s->child(row)) {
            item->setText(1, text);
            item->setToolTip(1, text);
        }
    };
    if (!w.stats) {
        for (int r = 1; r <= 5; ++r) set(r, tr("n/a"));
    } else {
        const analysis::TensorStats& st = *w.stats;
        set(1, number(st.min));
        set(2, number(st.max));
        set(3, number(st.mean));
        set(4, number(st.stddev));
        set(5, tr("%1 %  (%2 zeros)")
                   .arg(QLocale().toString(100.0 * st.sparsity(), 'f', 2))
                   .arg(formatCount(static_cast<qlonglong>(st.zeros))));
        if (st.nonFinite > 0)
            addRow(s, tr("NaN / Inf"), formatCount(static_cast<qlonglong>(st.nonFinite)));
    }
    if (static_cast<int>(index) == m_weightCombo->currentIndex())
        showHistogram(static_cast<int>(index));
    emit statsReady(w.name);
}

void NodeInspector::showHistogram(int index) {
    clearChart(m_chart);
    if (index < 0 || index >= static_cast<int>(m_weights.size())) return;
    const Weight& w = m_weights[static_cast<std::size_t>(index)];
    if (!w.stats || w.stats->histogram.empty()) {
        m_chart->setTitle(w.stats ? tr("%1: no finite values").arg(w.name)
                                  : tr("%1: computing…").arg(w.name));
        return;
    }
    const analysis::TensorStats& st = *w.stats;
    const auto bins = static_cast<int>(st.histogram.size());
    // A constant tensor has min == max: give its single bar a visible width.
    const double lo = st.min;
    const double hi = st.max > st.min ? st.max : st.min + std::max(1e-6, std::abs(st.min) * 0.01);
    const double step = (hi - lo) / bins;

    // A step outline (two points per bin) filled down to zero: one area reads better than 64
    // thin bars and keeps the value axis continuous.
    // The area series does not own its outlines: parent them to it, so that removeAllSeries()
    // (which deletes the area) frees them too.
    auto* area = new QAreaSeries;
    auto* upper = new QLineSeries(area);
    auto* lower = new QLineSeries(area);
    int64_t peak = 0;
    for (int b = 0; b < bins; ++b) {
        const double c = static_cast<double>(st.histogram[static_cast<std::size_t>(b)]);
        peak = std::max<int64_t>(peak, st.histogram[static_cast<std::size_t>(b)]);
        upper->append(lo + b * step, c);
        upper->append(lo + (b + 1) * step, c);
    }
    lower->append(lo, 0);
    lower->append(hi, 0);
    area->setUpperSeries(upper);
    area->setLowerSeries(lower);
    QColor fill = palette().color(QPalette::Highlight);
    area->setPen(QPen(fill.darker(130), 1.0));
    fill.setAlpha(150);
    area->setBrush(fill);
    m_chart->addSeries(area);

    // Ticks at round numbers (multiples of a 1-2-5 step) inside the data's range, not at
    // fifths of it ("-0.0873, 0.0412, ..." read as noise).
    auto* x = new QValueAxis;
    x->setRange(lo, hi);
    setRoundTicks(x, lo, hi, 5);
    // No "value" title under the axis: in a short chart its height is what the tick labels
    // need (QtCharts elides them to "..." otherwise); the chart title names the weight.
    auto* y = new QValueAxis;
    const double top = std::max<double>(1, static_cast<double>(peak) * 1.05);
    y->setRange(0, top);
    setRoundTicks(y, 0, top, 4);
    if (y->tickInterval() < 1) y->setTickInterval(1);  // counts are whole
    y->setLabelFormat(QStringLiteral("%.0f"));         // counts
    y->setTitleText(tr("count"));
    QFont small = font();
    small.setPointSizeF(std::max(7.0, small.pointSizeF() - 1));
    for (QValueAxis* axis : {x, y}) {
        axis->setLabelsFont(small);
        axis->setTitleFont(small);
    }
    m_chart->addAxis(x, Qt::AlignBottom);
    m_chart->addAxis(y, Qt::AlignLeft);
    area->attachAxis(x);
    area->attachAxis(y);
    QFont titleFont = font();
    titleFont.setBold(true);
    m_chart->setTitleFont(titleFont);
    m_chart->setTitle(tr("%1 — %2 bins").arg(w.name).arg(bins));
    styleChart();
}

QString NodeInspector::histogramTensor() const {
    const int i = m_weightCombo->currentIndex();
    if (i < 0 || i >= static_cast<int>(m_weights.size()) || m_chart->series().isEmpty()) return {};
    return m_weights[static_cast<std::size_t>(i)].name;
}

const analysis::TensorStats* NodeInspector::cachedStats(const ir::Tensor& tensor) const {
    for (const CacheEntry& e : m_cache)
        if (auto b = e.buffer.lock(); b && b == tensor.data) return &e.stats;
    return nullptr;
}

void NodeInspector::cacheStats(const ir::Tensor& tensor, const analysis::TensorStats& stats) {
    // Keyed by the immutable buffer: an edit that changes the weight makes a new buffer.
    m_cache.remove_if([](const CacheEntry& e) { return e.buffer.expired(); });
    m_cache.push_front({tensor.data, stats});
    while (m_cache.size() > kCacheSize) m_cache.pop_back();
}

void NodeInspector::onItemChanged(QTreeWidgetItem* item, int column) {
    if (column != 1 || !m_node) return;
    if (item->data(0, kNameRole).isValid()) {
        emit renameRequested(*m_node, item->text(1));
        return;
    }
    QVariant name = item->data(0, kAttrRole);
    if (!name.isValid()) return;
    emit attributeEditRequested(*m_node, name.toString(), item->text(1));
}

void NodeInspector::showModel(const ir::Model& model, const QString& path) {
    const QSignalBlocker block(m_tree);
    resetWeights();
    m_tree->clear();
    m_node.reset();
    m_selectionSize = 0;
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
    // The status bar says the same ("12 top-level nodes (1,234 in all)").
    const std::size_t total = g.numNodesRecursive();
    addRow(general, tr("Nodes"),
           total == g.numNodes() ? formatCount(static_cast<qulonglong>(total))
                                 : tr("%1 top-level, %2 in all")
                                       .arg(formatCount(static_cast<qulonglong>(g.numNodes())),
                                            formatCount(static_cast<qulonglong>(total))));
    addRow(general, tr("Initializers"),
           formatCount(static_cast<qulonglong>(g.initializers().size())));

    // Graph inputs that are initializers (old exporters list every weight) would drown the real
    // inputs: list only the ones a user feeds.
    std::vector<ir::Value*> fed;
    for (ir::Value* v : g.inputs())
        if (!v->hasInitializer()) fed.push_back(v);
    addValueRows(addSection(tr("Inputs")), fed, true);
    addValueRows(addSection(tr("Outputs")), g.outputs(), false);
}

void NodeInspector::showSelection(const ir::Graph& graph, const std::vector<ir::NodeId>& ids) {
    const QSignalBlocker block(m_tree);
    resetWeights();
    m_tree->clear();
    m_node.reset();
    m_selectionSize = ids.size();
    m_title->setText(tr("%1 nodes selected").arg(formatCount(static_cast<qulonglong>(ids.size()))));

    // One pass over the selection: op histogram, parameters (an initializer shared by two
    // selected nodes counts once), the nodes in id order.
    std::map<std::string, int> ops;
    std::unordered_set<const ir::Value*> weights;
    qlonglong parameters = 0;
    std::vector<const ir::Node*> nodes;
    nodes.reserve(ids.size());
    for (ir::NodeId id : ids) {
        const ir::Node* node = graph.findNode(id);
        if (!node) continue;
        nodes.push_back(node);
        ++ops[node->opType];
        for (const ir::Value* v : node->inputs())
            if (v && v->initializer() && weights.insert(v).second)
                parameters += static_cast<qlonglong>(v->initializer()->numElements());
    }

    QTreeWidgetItem* general = addSection(tr("Selection"));
    addRow(general, tr("Nodes"), formatCount(static_cast<qulonglong>(nodes.size())));
    addRow(general, tr("Op types"), formatCount(static_cast<qulonglong>(ops.size())));
    addRow(general, tr("Parameters"), formatCount(parameters),
           tr("Elements of the initializers the selected nodes read (%1 tensors, each counted "
              "once)")
               .arg(formatCount(static_cast<qulonglong>(weights.size()))));

    // Most frequent first: "Conv 20, Relu 17, …".
    std::vector<std::pair<std::string, int>> byCount(ops.begin(), ops.end());
    std::stable_sort(byCount.begin(), byCount.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    QTreeWidgetItem* histogram = addSection(tr("Ops"));
    for (const auto& [op, count] : byCount) addRow(histogram, qs(op), formatCount(count));

    // The nodes themselves, up to a screenful or so: enough to check what a band caught.
    constexpr std::size_t kListed = 200;
    QTreeWidgetItem* list = addSection(tr("Nodes"));
    for (std::size_t i = 0; i < nodes.size() && i < kListed; ++i)
        addRow(list, qs(nodes[i]->displayName()), qs(nodes[i]->opType));
    if (nodes.size() > kListed)
        addRow(list, tr("…"),
               tr("%1 more").arg(formatCount(static_cast<qulonglong>(nodes.size() - kListed))));
    list->setExpanded(nodes.size() <= 20);
}

QString NodeInspector::noteConstant(const ir::Value& source) {
    const QString name = qs(source.name());
    if (findConstant(name)) return name;
    const ir::Tensor& tensor = *ir::constantTensor(&source);
    Constant c;
    c.name = name;
    c.tensor = tensor;
    // What set_initializer refuses (core/rewrite/edits.h), said before the user asks.
    if (!source.initializer())
        c.notEditable = tr("A Constant node's value: the edits take initializers");
    else if (source.graph() && source.graph()->parentNode())
        c.notEditable = tr("An initializer of a subgraph: the edits take top-level ones");
    if (c.notEditable.isEmpty())
        c.castTargets = castTargets(source, tensor.dtype,
                                    m_opset > 0 ? m_opset : onnx::newestKnownOpset());
    m_constants.push_back(std::move(c));
    return name;
}

const NodeInspector::Constant* NodeInspector::findConstant(const QString& name) const {
    for (const Constant& c : m_constants)
        if (c.name == name) return &c;
    return nullptr;
}

QStringList NodeInspector::shownConstants() const {
    QStringList names;
    for (const Constant& c : m_constants) names << c.name;
    return names;
}

QMenu* NodeInspector::createInitializerMenu(const QString& tensor, QWidget* parent) {
    const Constant* c = findConstant(tensor);
    if (!c) return nullptr;
    // Everything the actions need is copied into them: the inspector may show something else
    // (or the tensor change) before one is triggered.
    const QString name = c->name;
    const ir::Tensor copy = c->tensor;
    const ir::DType dtype = c->tensor.dtype;
    const QString dtypeText = qs(std::string(ir::dtypeName(dtype)));
    auto* menu = new QMenu(parent);
    menu->setObjectName(QStringLiteral("initializerMenu"));
    menu->setTitle(name);
    menu->setToolTipsVisible(true);
    QAction* view = menu->addAction(tr("View Values…"), this,
                                    [this, name, copy] { openValues(name, copy); });
    view->setObjectName(QStringLiteral("viewValues"));
    view->setToolTip(tr("The elements of %1 in a table, a page at a time").arg(name));
    menu->addSeparator();

    const bool external = c->tensor.storage == ir::TensorStorage::kExternal;
    const bool strings = dtype == ir::DType::kString;
    QAction* npy =
        menu->addAction(tr("Replace from .npy…"), this, [this, name] { askNpyFile(name); });
    npy->setObjectName(QStringLiteral("replaceFromNpy"));
    npy->setEnabled(c->notEditable.isEmpty());
    npy->setToolTip(c->notEditable.isEmpty()
                        ? tr("Load new data (dtype and shape may change) from a NumPy file")
                        : c->notEditable);

    QAction* fill = menu->addAction(tr("Set to Constant…"), this,
                                    [this, name, dtype] { askFillValue(name, dtype); });
    fill->setObjectName(QStringLiteral("setConstant"));
    QString fillWhyNot = c->notEditable;
    if (fillWhyNot.isEmpty() && strings) fillWhyNot = tr("A string tensor has no numeric value");
    if (fillWhyNot.isEmpty() && external)
        fillWhyNot = tr("External data: replace it from a .npy file instead");
    fill->setEnabled(fillWhyNot.isEmpty());
    fill->setToolTip(fillWhyNot.isEmpty()
                         ? tr("Every element of %1 gets one value; dtype and shape stay").arg(name)
                         : fillWhyNot);

    QMenu* types = menu->addMenu(tr("Change Type"));
    types->setObjectName(QStringLiteral("changeType"));
    types->setToolTipsVisible(true);
    for (ir::DType to : c->castTargets) {
        const QString toText = qs(std::string(ir::dtypeName(to)));
        QAction* cast = types->addAction(toText, this, [this, name, to] {
            emit editRequested(rewrite::castInitializerEdit(name.toStdString(), to));
        });
        cast->setObjectName(QStringLiteral("castTo_") + toText);
        cast->setToolTip(
            tr("Convert every element of %1 from %2 to %3").arg(name, dtypeText, toText));
    }
    QString castWhyNot = c->notEditable;
    if (castWhyNot.isEmpty() && external)
        castWhyNot = tr("External data: replace it from a .npy file instead");
    if (castWhyNot.isEmpty() && c->castTargets.empty())
        castWhyNot = tr("No other %1 type that every reader of %2 accepts")
                         .arg(ir::isFloatingPoint(dtype) ? tr("float") : tr("integer"), name);
    if (castWhyNot.isEmpty() && !ir::isFloatingPoint(dtype) &&
        std::find(std::begin(kIntegerTypes), std::end(kIntegerTypes), dtype) ==
            std::end(kIntegerTypes))
        castWhyNot = tr("%1 tensors cannot be cast").arg(dtypeText);
    types->setEnabled(castWhyNot.isEmpty());
    types->menuAction()->setObjectName(QStringLiteral("changeTypeMenu"));
    types->menuAction()->setToolTip(
        castWhyNot.isEmpty() ? tr("%1 now; the types listed are those its readers accept")
                                   .arg(dtypeText)
                             : castWhyNot);
    return menu;
}

void NodeInspector::showInitializerMenu(const QPoint& pos) {
    QTreeWidgetItem* item = m_tree->itemAt(pos);
    QString name;
    for (QTreeWidgetItem* i = item; i && name.isEmpty(); i = i->parent())
        name = i->data(0, kTensorRole).toString();
    if (name.isEmpty()) return;
    std::unique_ptr<QMenu> menu(createInitializerMenu(name, this));
    if (menu) menu->exec(m_tree->viewport()->mapToGlobal(pos));
}

TensorValuesDialog* NodeInspector::showValues(const QString& tensor) {
    const Constant* c = findConstant(tensor);
    return c ? openValues(c->name, c->tensor) : nullptr;
}

TensorValuesDialog* NodeInspector::openValues(const QString& name, const ir::Tensor& tensor) {
    // The histogram is the other half of "what is in this tensor": draw this one's.
    for (std::size_t i = 0; i < m_weights.size(); ++i)
        if (m_weights[i].name == name) m_weightCombo->setCurrentIndex(static_cast<int>(i));
    auto* dialog = new TensorValuesDialog(name, tensor, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->show();
    return dialog;
}

void NodeInspector::askNpyFile(const QString& name) {
    const QString path =
        m_fileChooser ? m_fileChooser(name)
                      : QFileDialog::getOpenFileName(this, tr("Replace %1 from .npy").arg(name),
                                                     QString(), tr("NumPy arrays (*.npy)"));
    if (path.isEmpty()) return;
    emit editRequested(
        rewrite::initializerFromNpyEdit(name.toStdString(), QFile::encodeName(path).toStdString()));
}

void NodeInspector::askFillValue(const QString& name, ir::DType dtype) {
    std::optional<double> value;
    if (m_valueChooser) {
        value = m_valueChooser(name);
    } else {
        // Integer types take whole numbers (set_initializer refuses a value that does not fit).
        const bool floats = ir::isFloatingPoint(dtype);
        const double big = std::numeric_limits<double>::max();
        bool ok = false;
        const double v = QInputDialog::getDouble(
            this, tr("Set to Constant"),
            tr("Every element of %1 (%2) becomes:")
                .arg(name, qs(std::string(ir::dtypeName(dtype)))),
            0.0, dtype == ir::DType::kBool ? 0.0 : -big, dtype == ir::DType::kBool ? 1.0 : big,
            floats ? 8 : 0, &ok);
        if (ok) value = v;
    }
    if (value) emit editRequested(rewrite::fillInitializerEdit(name.toStdString(), *value));
}

QTreeWidgetItem* NodeInspector::rowOf(const QString& section, const QString& property) const {
    for (int i = 0; i < m_tree->topLevelItemCount(); ++i) {
        QTreeWidgetItem* s = m_tree->topLevelItem(i);
        if (s->text(0) != section) continue;
        for (int k = 0; k < s->childCount(); ++k)
            if (s->child(k)->text(0) == property) return s->child(k);
    }
    return nullptr;
}

QString NodeInspector::valueOf(const QString& section, const QString& property) const {
    const QTreeWidgetItem* row = rowOf(section, property);
    return row ? row->text(1) : QString();
}

}  // namespace wh::widgets
