#pragma once
/// OpPalette: the ONNX operators of the document's opset (onnx::operatorSchemas, the ONNX
/// library's registry: what its checker accepts), grouped by the categories of
/// resources/op_metadata.json and searchable by name. The chosen operator's schema is shown
/// below the list: its inputs and outputs with their types, its attributes with defaults, the
/// types each constraint allows.
///
/// Adding: double-click or Enter asks for the operator (addRequested(): the studio puts it
/// after the selected node, or unconnected); dragging it out carries kMimeType, which the graph
/// view accepts on a wire (insert there) or on the canvas (an unconnected node).

#include <cstdint>
#include <vector>

#include <QDockWidget>

#include "core/onnx/op_schema.h"

class QLabel;
class QLineEdit;
class QPushButton;
class QTextBrowser;
class QTreeWidget;
class QTreeWidgetItem;

namespace wh::widgets {

class OpPalette : public QDockWidget {
    Q_OBJECT

public:
    /// A drag's MIME type; the data is the operator's name (UTF-8).
    static constexpr const char* kMimeType = "application/x-whittle-onnx-operator";

    explicit OpPalette(QWidget* parent = nullptr);

    /// Lists the operators of opset `opset` of the default domain (the document's); 0 clears the
    /// list (no document).
    void setOpset(int64_t opset);
    int64_t opset() const { return m_opset; }
    /// Shows only operators whose name contains `text` (case-insensitive); the first one shown
    /// becomes current, so Enter adds it.
    void setFilter(const QString& text);
    /// Shows the palette and puts the cursor in its search box (Edit > Add Operator…).
    void focusSearch();

    /// The current operator's name, empty when none.
    QString currentOperator() const;
    /// Selects `opType` when listed (and not filtered out); false otherwise.
    bool setCurrentOperator(const QString& opType);
    /// The schema shown for the current operator, or null.
    const onnx::OpSchema* currentSchema() const;
    /// The operators listed and not filtered out.
    int visibleCount() const;

    QLineEdit* searchBox() const { return m_search; }
    QTreeWidget* tree() const { return m_tree; }
    QTextBrowser* details() const { return m_details; }

signals:
    /// Add `opType` to the model (double-click, Enter, the Add button).
    void addRequested(const QString& opType);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void rebuild();
    void showCurrent();
    void requestAdd();

    int64_t m_opset = 0;
    std::vector<onnx::OpSchema> m_schemas;
    QLineEdit* m_search;
    QTreeWidget* m_tree;
    QTextBrowser* m_details;
    QPushButton* m_add;
    QLabel* m_caption;
};

/// The schema as rich text: since-version, inputs and outputs with types and options,
/// attributes with types and defaults (required ones marked), type constraints, the first
/// paragraph of the documentation.
QString schemaHtml(const onnx::OpSchema& schema);

}  // namespace wh::widgets
