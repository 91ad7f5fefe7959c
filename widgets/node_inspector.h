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
/// values inline: Clip's "float[] = 0" and "float[] = 6".
///
/// Statistics of tensors above kAsyncElements elements are computed by a JobRunner job (when one
/// is set), so selecting a big layer never stalls the GUI; results are cached per tensor buffer.
///
/// Scalar, string and int/float-list attributes can be edited: double-click the value, type, and
/// press Enter. The inspector does not edit the model itself; it emits attributeEditRequested()
/// and whoever owns the document applies (or rejects) the edit and shows the node again.
///
/// It copies everything it shows into its widgets: it keeps no pointer into the IR, so the model
/// may change or go away afterwards (call clear() or show something new).

#include <cstdint>
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

class QChart;
class QChartView;

namespace wh::widgets {

class JobRunner;
class ShapeTable;

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
    QChartView* m_chartView;
    std::shared_ptr<const ShapeTable> m_shapes;
    double m_propertyShare = 0.4;  // of the tree's width; the user's once they drag the divider
    bool m_fittingColumns = false;
    QChart* m_chart;
    std::optional<ir::NodeId> m_node;
    std::size_t m_selectionSize = 0;
    std::vector<Weight> m_weights;
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

/// The nodes of `graph` and of every subgraph in it (Graph::numNodesRecursive without its
/// per-node vectors: about a millisecond for 100k nodes).
std::size_t totalNodeCount(const ir::Graph& graph);

}  // namespace wh::widgets
