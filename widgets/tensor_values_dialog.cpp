#include "widgets/tensor_values_dialog.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <QDialogButtonBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QTableView>
#include <QVBoxLayout>

#include "core/ir/dtype.h"
#include "widgets/format.h"

namespace wh::widgets {

namespace {

QString qs(const std::string& s) {
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

template <class T>
T load(const std::byte* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

// The shortest text that reads back as the same value (std::to_chars): "0.1", not
// "0.100000001" for a float; doubles likewise.
template <class T>
QString shortest(T v) {
    char buf[64];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    if (ec != std::errc()) return QString::number(static_cast<double>(v), 'g', 17);
    return QString::fromLatin1(buf, end - buf);
}

QString complexText(double re, double im) {
    return QStringLiteral("%1%2%3j").arg(QString::number(re, 'g', 7),
                                         im < 0 ? QString() : QStringLiteral("+"),
                                         QString::number(im, 'g', 7));
}

QString dimsText(const std::vector<int64_t>& dims, std::size_t from, std::size_t to) {
    QStringList parts;
    for (std::size_t i = from; i < to && i < dims.size(); ++i) parts << QString::number(dims[i]);
    return QLatin1Char('[') + parts.join(QLatin1Char(',')) + QLatin1Char(']');
}

}  // namespace

TensorValuesModel::TensorValuesModel(ir::Tensor tensor, int64_t pageSize, QObject* parent)
    : QAbstractTableModel(parent),
      m_tensor(std::move(tensor)),
      // rowCount() is an int: a page never needs more than a few thousand rows anyway.
      m_pageSize(std::clamp<int64_t>(pageSize, 1, 1'000'000)) {
    const int64_t n = m_tensor.numElements();
    if (n < 0) {
        m_readable = false;
    } else if (m_tensor.dtype == ir::DType::kString) {
        m_readable = static_cast<int64_t>(m_tensor.strings.size()) == n;
    } else if (m_tensor.dtype == ir::DType::kUndefined) {
        m_readable = false;
    } else {
        m_readable =
            m_tensor.byteSize() >= ir::dataBytesOf(m_tensor.dtype, static_cast<uint64_t>(n));
    }
    if (!m_readable) return;
    const std::size_t rank = m_tensor.dims.size();
    const int64_t last = rank >= 2 ? m_tensor.dims.back() : 0;
    m_tableLayout = rank >= 2 && last >= 1 && last <= kMaxColumns;
    m_columns = m_tableLayout ? last : 1;
    m_rows = n / m_columns;
}

int64_t TensorValuesModel::pageCount() const {
    return std::max<int64_t>(1, (m_rows + m_pageSize - 1) / m_pageSize);
}

void TensorValuesModel::setPage(int64_t page) {
    page = std::clamp<int64_t>(page, 0, pageCount() - 1);
    if (page == m_page) return;
    beginResetModel();
    m_page = page;
    endResetModel();
}

int TensorValuesModel::rowCount(const QModelIndex& parent) const {
    if (parent.isValid()) return 0;
    return static_cast<int>(std::clamp<int64_t>(m_rows - firstRow(), 0, m_pageSize));
}

int TensorValuesModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(m_columns);
}

int64_t TensorValuesModel::elementIndex(const QModelIndex& index) const {
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= columnCount()) return -1;
    return (firstRow() + index.row()) * m_columns + index.column();
}

QString TensorValuesModel::elementText(int64_t flat, bool exact) const {
    const ir::Tensor& t = m_tensor;
    if (t.dtype == ir::DType::kString) return qs(t.strings[static_cast<std::size_t>(flat)]);
    const std::byte* p =
        t.data->data() +
        (ir::is4Bit(t.dtype) ? 0 : flat * static_cast<int64_t>(ir::dtypeSize(t.dtype)));
    switch (t.dtype) {
        // Seven digits read well in a column; the tooltip has every digit that matters.
        case ir::DType::kFloat:
            return exact ? shortest(load<float>(p))
                         : QString::number(static_cast<double>(load<float>(p)), 'g', 7);
        case ir::DType::kDouble:
            return exact ? shortest(load<double>(p)) : QString::number(load<double>(p), 'g', 10);
        // About as many digits as the type holds: 5 for float16's 11 bits, 4 for bfloat16's 8.
        case ir::DType::kFloat16:
            return QString::number(t.elementAsDouble(flat), 'g', 5);
        case ir::DType::kBFloat16:
            return QString::number(t.elementAsDouble(flat), 'g', 4);
        case ir::DType::kInt64:
            return QString::number(static_cast<qlonglong>(load<int64_t>(p)));
        case ir::DType::kUInt64:
            return QString::number(static_cast<qulonglong>(load<uint64_t>(p)));
        case ir::DType::kBool:
            return load<uint8_t>(p) ? QStringLiteral("true") : QStringLiteral("false");
        case ir::DType::kComplex64: {
            const float re = load<float>(p), im = load<float>(p + sizeof(float));
            return complexText(re, im);
        }
        case ir::DType::kComplex128: {
            const double re = load<double>(p), im = load<double>(p + sizeof(double));
            return complexText(re, im);
        }
        default:  // the other integer types, 4-bit ones included: exact in a double
            return QString::number(static_cast<qlonglong>(t.elementAsDouble(flat)));
    }
}

QString TensorValuesModel::indexText(int64_t flat, std::size_t rank) const {
    std::vector<int64_t> idx(rank);
    for (std::size_t k = rank; k-- > 0;) {
        const int64_t d = std::max<int64_t>(1, m_tensor.dims[k]);
        idx[k] = flat % d;
        flat /= d;
    }
    QStringList parts;
    for (int64_t i : idx) parts << QString::number(i);
    return QLatin1Char('[') + parts.join(QLatin1Char(',')) + QLatin1Char(']');
}

QVariant TensorValuesModel::data(const QModelIndex& index, int role) const {
    const int64_t flat = elementIndex(index);
    if (flat < 0) return {};
    switch (role) {
        case Qt::DisplayRole:
            return elementText(flat);
        case Qt::ToolTipRole:
            return QStringLiteral("%1 = %2").arg(m_tensor.dims.empty()
                                                     ? QStringLiteral("[]")
                                                     : indexText(flat, m_tensor.dims.size()),
                                                 elementText(flat, true));
        case Qt::TextAlignmentRole:
            return m_tensor.dtype == ir::DType::kString
                       ? QVariant(int(Qt::AlignLeft | Qt::AlignVCenter))
                       : QVariant(int(Qt::AlignRight | Qt::AlignVCenter));
        case kValueRole:
            if (m_tensor.dtype == ir::DType::kString) return elementText(flat);
            if (m_tensor.isRealNumeric()) return m_tensor.elementAsDouble(flat);
            return {};
        default:
            return {};
    }
}

QVariant TensorValuesModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (role != Qt::DisplayRole) return QAbstractTableModel::headerData(section, orientation, role);
    if (orientation == Qt::Horizontal)
        return m_tableLayout ? QVariant(QString::number(section)) : QVariant(tr("value"));
    const int64_t row = firstRow() + section;
    if (m_tableLayout) return indexText(row, m_tensor.dims.size() - 1);
    // One element per row: a 1-D index is just the number; higher ranks name every dim.
    if (m_tensor.dims.size() <= 1) return QString::number(row);
    return indexText(row, m_tensor.dims.size());
}

TensorValuesDialog::TensorValuesDialog(const QString& name, ir::Tensor tensor, QWidget* parent,
                                       int64_t pageSize)
    : QDialog(parent) {
    setWindowTitle(tr("Values of %1").arg(name));
    setObjectName(QStringLiteral("TensorValuesDialog"));
    m_model = new TensorValuesModel(std::move(tensor), pageSize, this);

    auto* layout = new QVBoxLayout(this);
    auto* title = new QLabel(name, this);
    title->setTextFormat(Qt::PlainText);
    QFont bold = title->font();
    bold.setBold(true);
    title->setFont(bold);
    title->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(title);
    m_summary = new QLabel(summaryText(), this);
    m_summary->setTextFormat(Qt::PlainText);
    m_summary->setWordWrap(true);
    layout->addWidget(m_summary);

    m_table = new QTableView(this);
    m_table->setModel(m_model);
    m_table->setAlternatingRowColors(true);
    m_table->setWordWrap(false);
    // Fixed section sizes: nothing measures a page of text to lay the table out.
    m_table->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 6);
    // Columns as wide as the longest text the type gives (not measured on the data: a page
    // of a wide tensor is a quarter of a million cells). A few columns share the width.
    const QString widest = [&] {
        switch (m_model->tensor().dtype) {
            case ir::DType::kInt64:
            case ir::DType::kUInt64:
                return QStringLiteral("-9223372036854775808");
            case ir::DType::kDouble:
                return QStringLiteral("-0.0001234567891");
            case ir::DType::kComplex64:
            case ir::DType::kComplex128:
                return QStringLiteral("-1.234567e-05-1.234567e-05j");
            case ir::DType::kBool:
            case ir::DType::kInt4:
            case ir::DType::kUInt4:
            case ir::DType::kInt8:
            case ir::DType::kUInt8:
                return QStringLiteral("false");
            default:
                return QStringLiteral("-0.0001234567");
        }
    }();
    m_table->horizontalHeader()->setDefaultSectionSize(
        m_table->fontMetrics().horizontalAdvance(widest) + 16);
    m_table->horizontalHeader()->setSectionResizeMode(
        m_model->columnsPerRow() <= 12 ? QHeaderView::Stretch : QHeaderView::Interactive);
    m_table->setSelectionMode(QAbstractItemView::ContiguousSelection);
    layout->addWidget(m_table, 1);

    auto* pager = new QHBoxLayout;
    m_previous = new QPushButton(tr("◀ Previous"), this);
    m_previous->setObjectName(QStringLiteral("previousPage"));
    m_next = new QPushButton(tr("Next ▶"), this);
    m_next->setObjectName(QStringLiteral("nextPage"));
    m_pageBox = new QSpinBox(this);
    m_pageBox->setObjectName(QStringLiteral("pageBox"));
    const int64_t pages = m_model->pageCount();
    m_pageBox->setRange(1, static_cast<int>(std::min<int64_t>(pages, INT32_MAX)));
    m_pageBox->setKeyboardTracking(false);
    m_range = new QLabel(this);
    m_range->setObjectName(QStringLiteral("rangeLabel"));
    pager->addWidget(m_previous);
    pager->addWidget(new QLabel(tr("Page"), this));
    pager->addWidget(m_pageBox);
    pager->addWidget(new QLabel(tr("of %1").arg(formatCount(static_cast<qlonglong>(pages))), this));
    pager->addWidget(m_next);
    pager->addStretch(1);
    pager->addWidget(m_range);
    layout->addLayout(pager);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);

    connect(m_previous, &QPushButton::clicked, this, &TensorValuesDialog::previousPage);
    connect(m_next, &QPushButton::clicked, this, &TensorValuesDialog::nextPage);
    connect(m_pageBox, &QSpinBox::valueChanged, this, [this](int page) { setPage(page - 1); });
    updatePager();
    resize(760, 560);
}

TensorValuesDialog::~TensorValuesDialog() = default;

QString TensorValuesDialog::summaryText() const {
    const ir::Tensor& t = m_model->tensor();
    QString text =
        tr("%1%2 · %3 elements")
            .arg(qs(std::string(ir::dtypeName(t.dtype))), dimsText(t.dims, 0, t.dims.size()),
                 formatCount(static_cast<qlonglong>(t.numElements())));
    if (!m_model->readable()) return text + tr(" · the data is not in memory");
    if (m_model->columnsPerRow() > 1)
        text += tr(" · rows: dims %1 flattened, columns: the last dim")
                    .arg(dimsText(t.dims, 0, t.dims.size() - 1));
    else if (t.dims.size() >= 2)
        text += tr(" · one element per row (the last dim is too wide for columns)");
    return text;
}

QString TensorValuesDialog::rangeText() const {
    const int64_t total = m_model->totalRows();
    if (total == 0) return tr("No elements");
    const int64_t first = m_model->firstRow() + 1;
    const int64_t last = m_model->firstRow() + m_model->rowCount();
    return tr("%1 %2–%3 of %4")
        .arg(m_model->columnsPerRow() > 1 ? tr("Rows") : tr("Elements"),
             formatCount(static_cast<qlonglong>(first)), formatCount(static_cast<qlonglong>(last)),
             formatCount(static_cast<qlonglong>(total)));
}

void TensorValuesDialog::setPage(int64_t page) {
    m_model->setPage(page);
    updatePager();
    m_table->scrollToTop();
}

void TensorValuesDialog::updatePager() {
    const int64_t page = m_model->page();
    m_previous->setEnabled(page > 0);
    m_next->setEnabled(page + 1 < m_model->pageCount());
    {
        const QSignalBlocker block(m_pageBox);
        m_pageBox->setValue(static_cast<int>(page + 1));
    }
    m_pageBox->setEnabled(m_model->pageCount() > 1);
    m_range->setText(rangeText());
}

}  // namespace wh::widgets
