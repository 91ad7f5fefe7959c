#pragma once
/// ComparisonView: a float model and its compressed model side by side, the studio's answer to
/// "what did the compression do to my network?". Two GraphViews (left: before, right: after),
/// laid out in one background job together with analysis::matchGraphs. Quantizer pairs are
/// folded into their consumers as the main view does (an "int8" pill on the node), so a
/// quantized model reads like its float original.
///
/// Colour by:
///   - Differences: both sides pale grey where a node is unchanged; pale yellow where only its
///     weights' values changed (fine-tuning); amber where it is matched but changed (weights
///     quantized or pruned, attributes edited: the reason is in the line under the views); red
///     on the left for a node the compression removed
///     (a BatchNormalization folded into its convolution); green on the right for one it
///     inserted (Q/DQ are counted, drawn as pills).
///   - Quantization error: each layer's SQNR between the float and the compressed activations
///     (the Visualization dock's figures, VisualizationDock::sqnrColor), as a heat map on both.
/// Selecting a node on one side selects and centres its match on the other ("Sync selection");
/// the line under the views names the pair, its status and, when known, its SQNR. Escape (with
/// nothing selected; the first one clears the selection) or "Back to Graph" returns to the
/// document's view (closeRequested). GUI thread only.

#include <map>
#include <memory>
#include <string>

#include <QPointer>
#include <QWidget>

#include "core/analysis/graph_match.h"
#include "core/ir/graph.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QSplitter;

namespace wh::widgets {

class GraphView;
class Job;
class JobRunner;
class SelectionModel;

class ComparisonView : public QWidget {
    Q_OBJECT

public:
    enum class Mode { kDifferences = 0, kError };

    explicit ComparisonView(JobRunner* runner, QWidget* parent = nullptr);
    ~ComparisonView() override;

    /// Shows `before` (named `beforeName`) against `after`; lays both out and matches them in a
    /// job, then emits ready(). The models are kept alive and only read.
    void setModels(std::shared_ptr<const ir::Model> before, const QString& beforeName,
                   std::shared_ptr<const ir::Model> after, const QString& afterName);
    /// The models shown (null before setModels).
    const ir::Model* before() const { return m_before.get(); }
    const ir::Model* after() const { return m_after.get(); }
    /// True once both sides are laid out and matched.
    bool isReady() const { return m_ready; }
    const analysis::GraphMatch& match() const { return m_match; }

    /// Per-layer SQNR (dB) by node name of `before` (VisualizationDock::sqnrByNode); empty: none.
    void setLayerErrors(std::map<std::string, double> sqnrDb);
    bool hasLayerErrors() const { return !m_sqnr.empty(); }
    void setMode(Mode mode);
    Mode mode() const;

    GraphView* beforeView() const { return m_beforeView; }
    GraphView* afterView() const { return m_afterView; }
    /// "73 → 162 nodes · 12 unchanged · 0 retrained · 22 changed · 39 removed (…) · …".
    QString summaryText() const;
    /// The selected pair: "conv1 (Conv) — changed: weight behind DequantizeLinear · 31.2 dB".
    QString detailsText() const;
    /// The legend as plain text, one entry per line.
    QString legendText() const { return m_legendText; }
    /// The colour each mode gives a match kind.
    static QColor kindColor(analysis::MatchKind kind);

    /// Selects node `id` of before (or after) and, with sync on, its match on the other side.
    void selectBefore(ir::NodeId id);
    void selectAfter(ir::NodeId id);

signals:
    /// Both graphs are laid out and matched (or `ok` false: the job failed; summaryText says why).
    void ready(bool ok);
    /// The Quantization error mode wants figures it does not have.
    void errorsWanted();
    /// Back to Graph (or Escape).
    void closeRequested();

protected:
    void keyPressEvent(QKeyEvent* event) override;

private:
    void recolor();
    void onSelected(bool fromBefore, ir::NodeId id);
    void setLegend(const std::vector<std::pair<QColor, QString>>& entries);

    JobRunner* m_runner;
    QPointer<Job> m_job;
    std::shared_ptr<const ir::Model> m_before, m_after;
    analysis::GraphMatch m_match;
    std::map<std::string, double> m_sqnr;
    bool m_ready = false;
    bool m_syncing = false;
    QString m_summary, m_details, m_legendText;

    QLabel* m_beforeTitle;
    QLabel* m_afterTitle;
    QComboBox* m_mode;
    QCheckBox* m_sync;
    QLabel* m_summaryLabel;
    QLabel* m_legend;
    QLabel* m_detailsLabel;
    QSplitter* m_splitter;
    GraphView* m_beforeView;
    GraphView* m_afterView;
    SelectionModel* m_beforeSelection;
    SelectionModel* m_afterSelection;
};

}  // namespace wh::widgets
