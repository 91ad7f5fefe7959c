#pragma once
/// TensorValuesDialog: the elements of one tensor (an initializer or a Constant's value) in a
/// paged table, for the Node Inspector's "View Values…".
///
/// TensorValuesModel lays the tensor out as a table: a tensor of rank >= 2 whose last dim is at
/// most kMaxColumns has one column per index of the last dim and one row per index of the
/// leading dims flattened (the row header names it, "[3,1,4]"); any other tensor (scalar, 1-D,
/// a very wide last dim) is one "value" column with one row per element (the row header is the
/// element's full index). The rows are shown a page (pageSize() rows) at a time: rowCount() never
/// exceeds the page size, and a cell's text is computed when the view asks for it, so a tensor of
/// 100M elements costs no more than one screenful of text. The model keeps a copy of the
/// ir::Tensor, which shares (never copies) its immutable data buffer.
///
/// All numeric types are shown (4-bit integers unpacked, float16/bfloat16 widened, int64 and
/// uint64 exactly, complex as "re+imj"), bool as true/false and strings as their text. A tensor
/// whose data is not in memory (shorter than its dims say) shows no rows and says so.
///
/// Thread-safety: GUI thread only.

#include <cstdint>

#include <QAbstractTableModel>
#include <QDialog>

#include "core/ir/tensor.h"

class QLabel;
class QPushButton;
class QSpinBox;
class QTableView;

namespace wh::widgets {

class TensorValuesModel : public QAbstractTableModel {
    Q_OBJECT

public:
    static constexpr int64_t kDefaultPageSize = 1000;
    /// A last dim wider than this is shown as one column of elements instead.
    static constexpr int64_t kMaxColumns = 256;
    /// data() with this role: the element as a double (numeric types; strings give their text).
    static constexpr int kValueRole = Qt::UserRole;

    /// `pageSize` rows per page (at least 1).
    explicit TensorValuesModel(ir::Tensor tensor, int64_t pageSize = kDefaultPageSize,
                               QObject* parent = nullptr);

    const ir::Tensor& tensor() const { return m_tensor; }
    /// False when the data is shorter than the dims say (external data not loaded): no rows.
    bool readable() const { return m_readable; }
    /// Rows of the whole table (all pages) and values per row.
    int64_t totalRows() const { return m_rows; }
    int64_t columnsPerRow() const { return m_columns; }
    int64_t pageSize() const { return m_pageSize; }
    /// Pages (at least 1) and the page shown (0-based).
    int64_t pageCount() const;
    int64_t page() const { return m_page; }
    /// Shows page `page`, clamped to the valid range (resets the model).
    void setPage(int64_t page);
    /// The first row of the shown page in the whole table (0-based).
    int64_t firstRow() const { return m_page * m_pageSize; }
    /// The flat (row-major) element index of a cell of the shown page, or -1 for none.
    int64_t elementIndex(const QModelIndex& index) const;
    /// The text a cell shows for element `flat` (0 <= flat < numElements()): floats to 7
    /// significant digits (doubles 10), or, `exact`, the shortest text that reads back as the
    /// same value (the tooltip's).
    QString elementText(int64_t flat, bool exact = false) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

private:
    /// "[i,j,k]": the multi-index of flat index `flat` over the first `rank` dims.
    QString indexText(int64_t flat, std::size_t rank) const;

    ir::Tensor m_tensor;
    bool m_readable = false;
    bool m_tableLayout = false;  // rows = leading dims flattened, columns = the last dim
    int64_t m_rows = 0;
    int64_t m_columns = 1;
    int64_t m_pageSize = kDefaultPageSize;
    int64_t m_page = 0;
};

class TensorValuesDialog : public QDialog {
    Q_OBJECT

public:
    /// Shows `tensor` (named `name` in the title), `pageSize` rows per page.
    TensorValuesDialog(const QString& name, ir::Tensor tensor, QWidget* parent = nullptr,
                       int64_t pageSize = TensorValuesModel::kDefaultPageSize);
    ~TensorValuesDialog() override;

    TensorValuesModel* model() const { return m_model; }
    QTableView* table() const { return m_table; }
    /// "Rows 1–1,000 of 2,500" (or "Elements …" for a one-column table).
    QString rangeText() const;
    /// The first line: "float[16,6,5,5] · 2,400 elements".
    QString summaryText() const;

    void setPage(int64_t page);
    void nextPage() { setPage(m_model->page() + 1); }
    void previousPage() { setPage(m_model->page() - 1); }

private:
    void updatePager();

    TensorValuesModel* m_model;
    QTableView* m_table;
    QLabel* m_summary;
    QLabel* m_range;
    QPushButton* m_previous;
    QPushButton* m_next;
    QSpinBox* m_pageBox;
};

}  // namespace wh::widgets
