#pragma once
/// VisualizationDock: colours the graph by a per-node figure instead of the op category, with a
/// legend (GraphView::setNodeColors):
///   - Latency share: the Profiler dock's last profile, light to dark red by each node's share
///     of the run; a node fused into another's step takes that step's colour; grey: no time of
///     its own and no step (folded), or not in the profile (profiled before an edit).
///   - Weight bits: for each Conv, Gemm, MatMul (and ConvTranspose), the bit width its weights
///     are stored with — the initializer's element type, or behind a DequantizeLinear the number
///     of distinct quantized levels (an SLB 1-bit export stores ±1 in int8: 1 bit). Nodes
///     without weights are light grey.
/// Choosing "Op category" gives the view its usual colours back. The colours follow the model:
/// after an edit, undo or a new profile they are recomputed. GUI thread only.

#include <map>
#include <unordered_map>

#include <QColor>
#include <QDockWidget>
#include <QPointer>

#include "core/analysis/profiler.h"
#include "core/ir/graph.h"

class QComboBox;
class QLabel;
class QPushButton;

namespace wh::widgets {

class Document;
class GraphView;
class ProfilerDock;

class VisualizationDock : public QDockWidget {
    Q_OBJECT

public:
    enum class Mode { kCategory = 0, kLatency, kBits };

    VisualizationDock(GraphView* view, ProfilerDock* profiler, QWidget* parent = nullptr);

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

public slots:
    /// Recomputes the colours of the current mode.
    void refresh();

private:
    void setLegend(const std::vector<std::pair<QColor, QString>>& entries, const QString& note);

    QPointer<GraphView> m_view;
    QPointer<ProfilerDock> m_profiler;
    QPointer<Document> m_doc;
    QComboBox* m_mode;
    QLabel* m_legend;
    QPushButton* m_profileButton;
    QString m_legendText;
};

}  // namespace wh::widgets
