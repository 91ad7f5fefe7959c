#pragma once
/// VisualizationDock: colours the graph by a per-node figure instead of the op category, with a
/// legend (GraphView::setNodeColors):
///   - Latency share: the Profiler dock's last profile, light to dark red by each node's share
///     of the run; a node fused into another's step takes that step's colour; grey: no time of
///     its own and no step (folded), or not in the profile (profiled before an edit).
///   - Quantization error: the last Algorithm dock run's per-layer SQNR (algo::layerErrors: the
///     original and the compressed model on 64 calibration samples of the run's dataset, in a
///     job), red (< 10 dB) to green (>= 40 dB), on the nodes of the original of that name.
///   - Weight bits: for each Conv, Gemm, MatMul (and ConvTranspose), the bit width its weights
///     are stored with — the initializer's element type, or behind a DequantizeLinear the number
///     of distinct quantized levels (an SLB 1-bit export stores ±1 in int8: 1 bit). Nodes
///     without weights are light grey.
///   - Channels removed: the last Algorithm dock run's pruning, the share of each layer's output
///     channels it removed (prunedRatios), light (none) to dark (all but a few).
/// Choosing "Op category" gives the view its usual colours back. The colours follow the model:
/// after an edit, undo or a new profile they are recomputed. GUI thread only.

#include <map>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include <QColor>
#include <QDockWidget>
#include <QPointer>

#include "core/analysis/profiler.h"
#include "core/ir/graph.h"

class QComboBox;
class QLabel;
class QPushButton;

namespace wh::widgets {

class AlgorithmDock;
class Document;
class GraphView;
class Job;
class JobRunner;
class ProfilerDock;

class VisualizationDock : public QDockWidget {
    Q_OBJECT

public:
    enum class Mode { kCategory = 0, kLatency, kBits, kError, kPruned };

    VisualizationDock(GraphView* view, ProfilerDock* profiler, AlgorithmDock* algorithm,
                      JobRunner* runner, QWidget* parent = nullptr);
    ~VisualizationDock() override;
    /// True while the quantization error is computed.
    bool isComputing() const;
    /// The SQNR (dB) by node name of the last computation, for tests.
    const std::map<std::string, double>& sqnrByNode() const { return m_sqnr; }
    static QColor sqnrColor(double db);
    /// A legend line: a colour swatch and its text per entry (rich text).
    static QString legendHtml(const std::vector<std::pair<QColor, QString>>& entries);
    /// The grey of a node the mode has no figure for.
    static QColor noDataColor();
    /// The SQNR `sqnr` (by node name) gives node `node`: its own, or — for a convolution whose
    /// BatchNormalization a compression folded into it — that BatchNormalization's.
    static std::optional<double> sqnrOf(const ir::Node& node,
                                        const std::map<std::string, double>& sqnr);
    /// Computes the last run's per-layer error unless it is computed or being computed; ends
    /// with errorsReady (at once when they are known).
    void ensureErrors();

    void setDocument(Document* doc);
    void setMode(Mode mode);
    Mode mode() const;
    /// The legend as plain text (one entry per line), for tests and the status of the mode.
    QString legendText() const;

    /// Node colours by share of the profile's run (see the file comment).
    static std::unordered_map<ir::NodeId, QColor> latencyColors(const analysis::Profile& profile);
    /// The weights' bit width of every node that has weights (Conv, Gemm, MatMul,
    /// ConvTranspose), by node; 0 when it cannot be told.
    static std::unordered_map<ir::NodeId, int> weightBits(const ir::Graph& graph);
    static QColor bitsColor(int bits);
    /// The share of output channels a compression removed, by node name: each Conv,
    /// ConvTranspose, Gemm and MatMul of `before` whose weights `after` has under the same
    /// node name (1 - channels after / channels before; 0 when none went).
    static std::map<std::string, double> prunedRatios(const ir::Graph& before,
                                                      const ir::Graph& after);

public slots:
    /// Recomputes the colours of the current mode.
    void refresh();

signals:
    /// The quantization error of the last run was computed (`ok`) or could not be.
    void errorsReady(bool ok);

private:
    void setLegend(const std::vector<std::pair<QColor, QString>>& entries, const QString& note);

    QPointer<GraphView> m_view;
    QPointer<ProfilerDock> m_profiler;
    QPointer<Document> m_doc;
    QPointer<AlgorithmDock> m_algorithm;
    JobRunner* m_runner;
    QPointer<Job> m_job;
    const void* m_errorsOf = nullptr;  // the CompressResult m_sqnr was computed for
    std::map<std::string, double> m_sqnr;
    QString m_errorStatus;
    void computeErrors();
    QComboBox* m_mode;
    QLabel* m_legend;
    QPushButton* m_profileButton;
    QString m_legendText;
};

}  // namespace wh::widgets
