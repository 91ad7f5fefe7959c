#pragma once
/// NodeInspector: the properties of the selected node (name, op type, domain, attributes, inputs
/// and outputs with dtype and shape), a summary of a multi-node selection (count, parameters,
/// op types, the nodes), or of the whole model when no node is selected. For each
/// weight the node reads or produces (ir::isParameter: a floating-point initializer or Constant
/// output) it lists the element count, min, max, mean, standard deviation and sparsity, and
/// draws a 64-bin histogram of one weight (a combo box picks which). The histogram sits under
/// the properties in a splitter, at most kHistogramMaxHeight tall, and its header button folds
/// it away, so the property list stays usable in a small window; its axes tick at round numbers
/// (1-2-5 steps, niceTickStep()). The property column keeps its share of the width (40 % until
/// the user drags the divider, then the share they chose) as the dock is resized.
///
/// Inputs and outputs show their type: the declared one, else the one inferred by the engine
/// (setShapeTable(); marked "inferred" in the tooltip), else "?". A constant input (initializer,
/// Constant, or an initializer behind an Identity) of at most kInlineValues elements shows its
/// values inline: Clip's "float[] = 0" and "float[] = 6"; so does a Constant node's output
/// ("int64[4] = [1, 3, 224, 224]").
///
/// Statistics of tensors above kAsyncElements elements are computed by a JobRunner job (when one
/// is set), so selecting a big layer never stalls the GUI; results are cached per tensor buffer.
///
/// Constants can be edited: right-click a weight's section or a constant's input row (or use the
/// "⋯" button beside the histogram) for createInitializerMenu(): view the values in a paged
/// table (TensorValuesDialog), replace them from a .npy file, set every element to a constant,
/// or change the element type to another one every reader's schema accepts. The inspector emits
/// editRequested() with the named edit (set_initializer); the window applies it.
///
/// Scalar, string and int/float-list attributes can be edited: double-click the value, type, and
/// press Enter. The inspector does not edit the model itself; it emits attributeEditRequested()
/// and whoever owns the document applies (or rejects) the edit and shows the node again.
///
/// It copies everything it shows into its widgets: it keeps no pointer into the IR, so the model
/// may change or go away afterwards (call clear() or show something new).

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <QWidget>

#include "core/analysis/tensor_stats.h"
#include "core/ir/graph.h"
#include "core/rewrite/edits.h"
#include "core/util/status.h"

class QTreeWidget;
class QTreeWidgetItem;
class QLabel;
class QComboBox;
class QSplitter;
class QToolButton;
class QMenu;

class QChart;
class QChartView;

namespace wh::widgets {

class JobRunner;
class ShapeTable;
class TensorValuesDialog;

/// The tick interval for an axis spanning `range` with at most about `maxTicks` ticks: 1, 2 or 5
/// times a power of ten (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, ...). `range` <= 0 gives 1.
double niceTickStep(double range, int maxTicks);

/// The values of a constant tensor of at most `maxElements` elements as the inspector writes them
/// ("0", "[1, 2, 3]", "[0.5, -1.25]", "\"text\""); empty when it has more or is not readable.
QString smallTensorValues(const ir::Tensor& tensor, int64_t maxElements);

class NodeInspector : public QWidget {
    Q_OBJECT

public:
    static constexpr int64_t kAsyncElements = 1'000'000;
    static constexpr int kHistogramBins = 64;
    static constexpr int kHistogramMaxHeight = 220;
    static constexpr int64_t kInlineValues = 16;

    explicit NodeInspector(QWidget* parent = nullptr);
    ~NodeInspector() override;

    /// Big tensors' statistics run as jobs of `runner` (not owned; may be null: then inline).
    void setJobRunner(JobRunner* runner) { m_runner = runner; }
    /// Inferred types for values the model declares none for (may be null). Rewrites the types
    /// of the value rows shown in place (no row is rebuilt, an open editor stays).
    void setShapeTable(std::shared_ptr<const ShapeTable> shapes);

    /// The opset whose operator schemas say which element types a constant may be cast to (every
    /// reader's input must accept the type); 0, the default, = the newest the ONNX library knows.
    /// Takes effect at the next showNode().
    void setOpset(int64_t opset) { m_opset = opset; }

    /// Shows `node`'s properties.
    void showNode(const ir::Node& node);
    /// Shows model-level facts: producer, IR and opset versions, node count, graph inputs and
    /// outputs.
    void showModel(const ir::Model& model, const QString& path);
    /// Shows a summary of the nodes `ids` of `graph` (several selected): how many, the
    /// parameters they read (elements of their initializer inputs, each initializer once), a
    /// histogram of their op types and the first nodes by name. Linear in the selection.
    void showSelection(const ir::Graph& graph, const std::vector<ir::NodeId>& ids);
    /// Shows nothing but a hint.
    void clear();

    /// Opens the editor on the shown node's name (F2); Enter emits renameRequested().
    void editName();

    /// The node shown, if a node is shown.
    std::optional<ir::NodeId> shownNode() const { return m_node; }
    /// How many nodes the selection summary shown is about, 0 when none is shown.
    std::size_t shownSelectionSize() const { return m_selectionSize; }
    /// The property tree (two columns: property, value). For tests and for copying.
    const QTreeWidget* tree() const { return m_tree; }
    /// The value column of the row whose first column is `property` under `section`
    /// ("Node", "Attributes", "Inputs", "Outputs", "Model", "Weight <name>"); empty if absent.
    QString valueOf(const QString& section, const QString& property) const;
    /// The row itself (tests edit attribute values through it), or null.
    QTreeWidgetItem* rowOf(const QString& section, const QString& property) const;

    /// The constants (initializers, Constant values) the shown node reads or produces, by tensor
    /// name: what createInitializerMenu() takes.
    QStringList shownConstants() const;
    /// A new menu (owned by the caller; its title is `tensor`) for the shown constant `tensor`,
    /// null when none is shown by that name. Actions, by objectName: "viewValues" (View
    /// Values…: showValues()), "replaceFromNpy" (Replace from .npy…: the file chooser, then
    /// editRequested(initializerFromNpyEdit)), "setConstant" (Set to Constant…: the value
    /// chooser, then fillInitializerEdit), and the submenu "changeType" (Change Type) of
    /// "castTo_<dtype>" actions (castInitializerEdit): the other float types (float, float16,
    /// double, bfloat16) of a float tensor, or the other integer types of an integer one, that
    /// every reader accepts.
    /// The edits take top-level initializers: for a Constant node's value, a subgraph's
    /// initializer, a string or an external-data tensor the ones that do not apply are disabled
    /// and their tooltip says why.
    QMenu* createInitializerMenu(const QString& tensor, QWidget* parent);
    /// Opens a TensorValuesDialog on the shown constant `tensor` (non-modal, a child of this
    /// widget, deleted when closed) and draws its histogram when it is a weight; null when no
    /// constant of that name is shown.
    TensorValuesDialog* showValues(const QString& tensor);
    /// Asks for the .npy file that replaces `tensor`; "" = cancelled. The default opens a
    /// QFileDialog; tests set their own. An empty function restores the default.
    using FileChooser = std::function<QString(const QString& tensor)>;
    void setFileChooser(FileChooser chooser) { m_fileChooser = std::move(chooser); }
    /// Asks for the value every element of `tensor` gets; nullopt = cancelled. The default opens
    /// QInputDialog::getDouble; tests set their own. An empty function restores the default.
    using ValueChooser = std::function<std::optional<double>(const QString& tensor)>;
    void setValueChooser(ValueChooser chooser) { m_valueChooser = std::move(chooser); }

    /// The weight whose histogram is drawn ("" if none) and the number of statistics
    /// computations still running.
    QString histogramTensor() const;
    int pendingStats() const { return m_pending; }
    /// The histogram chart (for tests and screenshots).
    QChartView* histogramView() const { return m_chartView; }
    /// Folds the histogram away (true) or shows it again; the header button does the same.
    void setHistogramCollapsed(bool collapsed);
    bool isHistogramCollapsed() const;

signals:
    /// The user typed `text` as the new value of attribute `name` of node `id`.
    void attributeEditRequested(wh::ir::NodeId id, const QString& name, const QString& text);
    /// The user typed `name` as the node's new name.
    void renameRequested(wh::ir::NodeId id, const QString& name);
    /// Statistics of a weight were shown (computed or taken from the cache).
    void statsReady(const QString& tensorName);
    /// The user asked for a named edit of the model (an initializer's values or type, ...);
    /// the window applies it as one undo step.
    void editRequested(const wh::rewrite::Edit& edit);

protected:
    void changeEvent(QEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    struct Weight {
        QString name;
        ir::Tensor tensor;  // a copy: metadata plus the shared, immutable data buffer
        QTreeWidgetItem* section = nullptr;
        std::optional<analysis::TensorStats> stats;
    };
    /// A constant shown in a row: what its menu needs, copied (the IR may change afterwards).
    struct Constant {
        QString name;
        ir::Tensor tensor;                   // a copy sharing the data buffer
        QString notEditable;                 // why set_initializer does not apply ("" = it does)
        std::vector<ir::DType> castTargets;  // other types of its kind every reader accepts
    };

    QTreeWidgetItem* addSection(const QString& title);
    QTreeWidgetItem* addRow(QTreeWidgetItem* section, const QString& property, const QString& value,
                            const QString& tooltip = {});
    /// One row per value: name, then type and notes (initializer size, producer or use count).
    void addValueRows(QTreeWidgetItem* section, std::span<const ir::Value* const> values,
                      bool asInputs);
    /// Writes a value row's type (declared, inferred or "?") and the rest of its text.
    void setValueRowType(QTreeWidgetItem* row);
    /// Sets the property column to its share of the tree's width.
    void fitColumns();
    void addWeights(const ir::Node& node);
    /// Records the constant `source` holds (once per name) for its menu; returns its name.
    QString noteConstant(const ir::Value& source);
    const Constant* findConstant(const QString& name) const;
    void showInitializerMenu(const QPoint& pos);
    TensorValuesDialog* openValues(const QString& name, const ir::Tensor& tensor);
    void askFillValue(const QString& name, ir::DType dtype);
    void askNpyFile(const QString& name);
    void requestStats(std::size_t index);
    void fillStats(std::size_t index);
    void showHistogram(int index);
    void styleChart();
    void resetWeights();
    void onItemChanged(QTreeWidgetItem* item, int column);

    const analysis::TensorStats* cachedStats(const ir::Tensor& tensor) const;
    void cacheStats(const ir::Tensor& tensor, const analysis::TensorStats& stats);

    QLabel* m_title;
    QTreeWidget* m_tree;
    QWidget* m_histogramPanel;
    QSplitter* m_splitter;
    QComboBox* m_weightCombo;
    QToolButton* m_histogramToggle;
    QToolButton* m_weightMenuButton;
    QChartView* m_chartView;
    std::shared_ptr<const ShapeTable> m_shapes;
    double m_propertyShare = 0.4;  // of the tree's width; the user's once they drag the divider
    bool m_fittingColumns = false;
    QChart* m_chart;
    std::optional<ir::NodeId> m_node;
    std::size_t m_selectionSize = 0;
    std::vector<Weight> m_weights;
    std::vector<Constant> m_constants;
    int64_t m_opset = 0;
    FileChooser m_fileChooser;
    ValueChooser m_valueChooser;
    QTreeWidgetItem* m_nameRow = nullptr;
    JobRunner* m_runner = nullptr;
    quint64 m_generation = 0;  // bumped whenever the content changes: late stats are dropped
    int m_pending = 0;
    bool m_filling = false;  // itemChanged from our own setText is not an edit

    struct CacheEntry {
        std::weak_ptr<const ir::Buffer> buffer;
        analysis::TensorStats stats;
    };
    std::list<CacheEntry> m_cache;  // most recent first
};

/// "float[1,3,224,224]" for a value: its declared type (or, when that has no complete shape, the
/// one inferred in `shapes`, which may be null), else its initializer's dtype and dims, else "?".
QString valueTypeString(const ir::Value& value, const ShapeTable* shapes = nullptr);

}  // namespace wh::widgets
