#include "widgets/comparison_view.h"

#include <algorithm>

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLocale>
#include <QPushButton>
#include <QSplitter>
#include <QVBoxLayout>

#include "core/layout/graph_layout.h"
#include "widgets/format.h"
#include "widgets/graph_view.h"
#include "widgets/job_runner.h"
#include "widgets/selection_model.h"
#include "widgets/visualization_dock.h"

namespace wh::widgets {
namespace {

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}

QString nodeLabel(const ir::Node& n) {
    return QStringLiteral("%1 (%2)").arg(qs(n.displayName()), qs(n.opType));
}

/// Node `id` of `model`'s main graph (0 or a stale id: null).
const ir::Node* findNode(const ir::Model* model, ir::NodeId id) {
    return model && id != 0 ? model->graph->findNode(id) : nullptr;
}

/// What the job hands back: both sides laid out and indexed, and the match.
struct Prepared {
    SceneIndex before, after;
    analysis::GraphMatch match;
};

}  // namespace

ComparisonView::ComparisonView(JobRunner* runner, QWidget* parent)
    : QWidget(parent), m_runner(runner) {
    setObjectName(QStringLiteral("ComparisonView"));
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->setSpacing(4);

    auto* bar = new QHBoxLayout;
    auto* back = new QPushButton(tr("Back to Graph"), this);
    back->setObjectName(QStringLiteral("ComparisonBack"));
    back->setToolTip(tr("Return to the model's graph (Escape)"));
    connect(back, &QPushButton::clicked, this, &ComparisonView::closeRequested);
    bar->addWidget(back);
    bar->addWidget(new QLabel(tr("Colour by"), this));
    m_mode = new QComboBox(this);
    m_mode->setObjectName(QStringLiteral("ComparisonMode"));
    m_mode->addItem(tr("Differences"));
    m_mode->addItem(tr("Quantization error (SQNR)"));
    connect(m_mode, &QComboBox::currentIndexChanged, this, [this] {
        if (mode() == Mode::kError && m_sqnr.empty()) emit errorsWanted();
        recolor();
    });
    bar->addWidget(m_mode);
    m_sync = new QCheckBox(tr("Sync selection"), this);
    m_sync->setChecked(true);
    m_sync->setToolTip(tr("Selecting a node on one side selects its match on the other"));
    bar->addWidget(m_sync);
    m_legend = new QLabel(this);
    m_legend->setObjectName(QStringLiteral("ComparisonLegend"));
    m_legend->setTextFormat(Qt::RichText);
    bar->addWidget(m_legend, 1);
    layout->addLayout(bar);
    m_summaryLabel = new QLabel(this);
    m_summaryLabel->setObjectName(QStringLiteral("ComparisonSummary"));
    m_summaryLabel->setWordWrap(true);
    layout->addWidget(m_summaryLabel);

    m_splitter = new QSplitter(Qt::Horizontal, this);
    auto side = [this](QLabel*& title, GraphView*& view, SelectionModel*& selection,
                       const QString& name) {
        auto* pane = new QWidget(m_splitter);
        auto* v = new QVBoxLayout(pane);
        v->setContentsMargins(0, 0, 0, 0);
        v->setSpacing(2);
        title = new QLabel(pane);
        title->setObjectName(name + QStringLiteral("Title"));
        QFont bold = title->font();
        bold.setBold(true);
        title->setFont(bold);
        v->addWidget(title);
        view = new GraphView(pane);
        view->setObjectName(name + QStringLiteral("View"));
        view->clear(tr("Laying out…"));
        selection = new SelectionModel(this);
        view->setSelectionModel(selection);
        v->addWidget(view, 1);
        m_splitter->addWidget(pane);
    };
    side(m_beforeTitle, m_beforeView, m_beforeSelection, QStringLiteral("ComparisonBefore"));
    side(m_afterTitle, m_afterView, m_afterSelection, QStringLiteral("ComparisonAfter"));
    layout->addWidget(m_splitter, 1);
    connect(m_beforeView, &GraphView::nodeSelected, this,
            [this](ir::NodeId id) { onSelected(true, id); });
    connect(m_afterView, &GraphView::nodeSelected, this,
            [this](ir::NodeId id) { onSelected(false, id); });

    m_detailsLabel = new QLabel(tr("Select a node on either side to see what became of it."), this);
    m_detailsLabel->setObjectName(QStringLiteral("ComparisonDetails"));
    m_detailsLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_detailsLabel);
    recolor();
}

ComparisonView::~ComparisonView() {
    if (m_job) m_job->cancel();
}

void ComparisonView::setModels(std::shared_ptr<const ir::Model> before, const QString& beforeName,
                               std::shared_ptr<const ir::Model> after, const QString& afterName) {
    if (m_job) m_job->cancel();
    m_ready = false;
    m_before = std::move(before);
    m_after = std::move(after);
    m_match = {};
    m_sqnr.clear();
    m_details.clear();
    m_beforeSelection->clear();
    m_afterSelection->clear();
    m_beforeView->clear(tr("Laying out…"));
    m_afterView->clear(tr("Laying out…"));
    m_beforeTitle->setText(tr("Before: %1").arg(beforeName));
    m_afterTitle->setText(tr("After: %1").arg(afterName));
    m_summary = tr("Matching the two graphs…");
    m_summaryLabel->setText(m_summary);
    m_detailsLabel->setText(tr("Select a node on either side to see what became of it."));
    if (!m_before || !m_after) return;
    const layout::LayoutOptions options = m_beforeView->layoutOptions();  // GUI thread only
    const qreal dpr = m_beforeView->devicePixelRatioF();
    std::shared_ptr<const ir::Model> a = m_before, b = m_after;
    Job* job = m_runner->run(
        tr("Compare %1 with %2").arg(beforeName, afterName),
        [a, b, options, dpr](jobs::JobContext& ctx) -> Expected<Prepared> {
            layout::LayoutOptions o = options;
            o.cancel = ctx.cancelFlag();
            Prepared p;
            ctx.setProgress(0.0, "matching");
            p.match = analysis::matchGraphs(*a->graph, *b->graph);
            int side = 0;
            for (const auto& [model, index] :
                 {std::pair{a.get(), &p.before}, {b.get(), &p.after}}) {
                ctx.setProgress(0.1 + 0.45 * side++, "laying out");
                auto placed =
                    std::make_shared<const layout::Layout>(layout::layoutGraph(*model->graph, o));
                if (placed->cancelled) return tl::unexpected(ctx.checkCancelled());
                *index = GraphView::prepareScene(*model->graph, std::move(placed), dpr);
                WH_RETURN_IF_ERROR(ctx.checkCancelled());
            }
            return p;
        });
    m_job = job;
    connect(job, &Job::finished, this, [this, job] {
        Prepared* p = job->result<Prepared>();
        if (!p) return;
        m_match = std::move(p->match);
        m_beforeView->setGraph(std::shared_ptr<const ir::Graph>(m_before, m_before->graph.get()),
                               std::move(p->before));
        m_afterView->setGraph(std::shared_ptr<const ir::Graph>(m_after, m_after->graph.get()),
                              std::move(p->after));
        job->releaseResult();
        m_beforeView->showInitialView();
        m_afterView->showInitialView();
        using K = analysis::MatchKind;
        // "39 removed (BatchNormalization 19, Relu 19, Flatten 1)": op types, most first.
        auto byOp = [this](K kind) {
            std::map<std::string, int> count;
            for (const analysis::NodeMatch& m : m_match.nodes)
                if (m.kind == kind)
                    if (const ir::Node* n = kind == K::kRemoved ? findNode(m_before.get(), m.before)
                                                                : findNode(m_after.get(), m.after))
                        if (kind != K::kInserted || (!ir::isOnnxOp(*n, "QuantizeLinear") &&
                                                     !ir::isOnnxOp(*n, "DequantizeLinear")))
                            ++count[n->opType];
            std::vector<std::pair<int, std::string>> sorted;
            int total = 0;
            for (const auto& [op, c] : count) {
                sorted.emplace_back(-c, op);
                total += c;
            }
            std::sort(sorted.begin(), sorted.end());
            QStringList parts;
            for (const auto& [c, op] : sorted) parts << QStringLiteral("%1 %2").arg(qs(op)).arg(-c);
            return std::pair{total, parts.join(QStringLiteral(", "))};
        };
        auto counted = [](const std::pair<int, QString>& c, const QString& what) {
            return c.first == 0 ? QStringLiteral("0 %1").arg(what)
                                : QStringLiteral("%1 %2 (%3)").arg(c.first).arg(what, c.second);
        };
        const int quantizers = m_match.insertedQuantizers;
        m_summary = tr("%1 → %2 nodes · %3 unchanged · %4 retrained · %5 changed · %6 · %7")
                        .arg(formatCount(static_cast<qulonglong>(m_before->graph->numNodes())),
                             formatCount(static_cast<qulonglong>(m_after->graph->numNodes())))
                        .arg(m_match.count(K::kSame))
                        .arg(m_match.count(K::kValues))
                        .arg(m_match.count(K::kChanged))
                        .arg(counted(byOp(K::kRemoved), tr("removed")),
                             counted(byOp(K::kInserted), tr("inserted")));
        if (quantizers > 0)
            m_summary += tr(" + %1 QuantizeLinear/DequantizeLinear (an int8 pill on the node that "
                            "reads them)")
                             .arg(quantizers);
        m_summaryLabel->setText(m_summary);
        m_ready = true;
        recolor();
        emit ready(true);
    });
    connect(job, &Job::failed, this, [this](const Status& status) {
        m_summary = tr("The graphs could not be compared: %1").arg(qs(status.message()));
        m_summaryLabel->setText(m_summary);
        emit ready(false);
    });
}

void ComparisonView::setLayerErrors(std::map<std::string, double> sqnrDb) {
    m_sqnr = std::move(sqnrDb);
    recolor();
    if (!m_details.isEmpty()) {
        // The line under the views gains the pair's figure.
        if (auto id = m_beforeView->selectedNode()) onSelected(true, *id);
    }
}

void ComparisonView::setMode(Mode mode) {
    m_mode->setCurrentIndex(static_cast<int>(mode));
}

ComparisonView::Mode ComparisonView::mode() const {
    return static_cast<Mode>(m_mode->currentIndex());
}

QString ComparisonView::summaryText() const {
    return m_summary;
}

QString ComparisonView::detailsText() const {
    return m_details;
}

QColor ComparisonView::kindColor(analysis::MatchKind kind) {
    switch (kind) {
        case analysis::MatchKind::kSame:
            return QColor(0xe3, 0xe6, 0xea);
        case analysis::MatchKind::kValues:
            return QColor(0xf6, 0xe7, 0xb4);
        case analysis::MatchKind::kChanged:
            return QColor(0xf5, 0xa6, 0x23);
        case analysis::MatchKind::kRemoved:
            return QColor(0xe0, 0x4f, 0x4f);
        case analysis::MatchKind::kInserted:
            return QColor(0x4c, 0xb0, 0x5a);
    }
    return {};
}

void ComparisonView::setLegend(const std::vector<std::pair<QColor, QString>>& entries) {
    m_legend->setText(VisualizationDock::legendHtml(entries));
    QStringList plain;
    for (const auto& entry : entries) plain << entry.second;
    m_legendText = plain.join(QLatin1Char('\n'));
}

void ComparisonView::recolor() {
    std::unordered_map<ir::NodeId, QColor> left, right;
    if (mode() == Mode::kDifferences) {
        using K = analysis::MatchKind;
        setLegend({{kindColor(K::kSame), tr("unchanged")},
                   {kindColor(K::kValues), tr("weights retrained (values only)")},
                   {kindColor(K::kChanged), tr("changed (weights quantized or pruned, op, "
                                               "attributes)")},
                   {kindColor(K::kRemoved), tr("removed (left)")},
                   {kindColor(K::kInserted), tr("inserted (right)")}});
        for (const analysis::NodeMatch& m : m_match.nodes) {
            if (m.before) left[m.before] = kindColor(m.kind);
            if (m.after) right[m.after] = kindColor(m.kind);
        }
    } else if (m_sqnr.empty()) {
        setLegend({});
        m_legend->setText(
            tr("Computing the per-layer error (SQNR) of the compressed model on "
               "64 calibration samples…"));
        m_legendText = m_legend->text();
    } else {
        const QColor none = VisualizationDock::noDataColor();
        setLegend({{VisualizationDock::sqnrColor(40), tr(">= 40 dB")},
                   {VisualizationDock::sqnrColor(30), tr("30-40 dB")},
                   {VisualizationDock::sqnrColor(20), tr("20-30 dB")},
                   {VisualizationDock::sqnrColor(10), tr("10-20 dB")},
                   {VisualizationDock::sqnrColor(0), tr("< 10 dB")},
                   {none, tr("not compared")}});
        if (m_before)
            for (const ir::Node* n : m_before->graph->nodes()) {
                const std::optional<double> db = VisualizationDock::sqnrOf(*n, m_sqnr);
                const QColor c = db ? VisualizationDock::sqnrColor(*db) : none;
                left[n->id()] = c;
                if (const analysis::NodeMatch* m = m_match.ofBefore(n->id()); m && m->after)
                    right[m->after] = c;
            }
        for (const analysis::NodeMatch& m : m_match.nodes)
            if (m.after && !right.count(m.after)) right[m.after] = none;
    }
    m_beforeView->setNodeColors(std::move(left));
    m_afterView->setNodeColors(std::move(right));
}

void ComparisonView::selectBefore(ir::NodeId id) {
    m_beforeView->selectNode(id, true);
}

void ComparisonView::selectAfter(ir::NodeId id) {
    m_afterView->selectNode(id, true);
}

void ComparisonView::onSelected(bool fromBefore, ir::NodeId id) {
    if (m_syncing) return;
    const analysis::NodeMatch* m = fromBefore ? m_match.ofBefore(id) : m_match.ofAfter(id);
    if (!m) return;
    const ir::Node* a = findNode(m_before.get(), m->before);
    const ir::Node* b = findNode(m_after.get(), m->after);
    QString text;
    switch (m->kind) {
        case analysis::MatchKind::kSame:
            text = tr("%1 — unchanged").arg(nodeLabel(*a));
            break;
        case analysis::MatchKind::kValues:
            text = tr("%1 — retrained: %2 (same structure)").arg(nodeLabel(*a), qs(m->reason));
            break;
        case analysis::MatchKind::kChanged:
            text = tr("%1 → %2 — changed: %3").arg(nodeLabel(*a), nodeLabel(*b), qs(m->reason));
            break;
        case analysis::MatchKind::kRemoved:
            text = tr("%1 — removed by the compression").arg(nodeLabel(*a));
            break;
        case analysis::MatchKind::kInserted:
            text = tr("%1 — inserted by the compression").arg(nodeLabel(*b));
            break;
    }
    if (a)
        if (const std::optional<double> db = VisualizationDock::sqnrOf(*a, m_sqnr))
            text += tr(" · SQNR %1 dB").arg(QLocale().toString(*db, 'f', 1));
    m_details = text;
    m_detailsLabel->setText(text);
    if (!m_sync->isChecked()) return;
    const ir::NodeId other = fromBefore ? m->after : m->before;
    GraphView* view = fromBefore ? m_afterView : m_beforeView;
    m_syncing = true;
    if (other != 0 && view->drawnNode(other))
        view->selectNode(other, true);
    else
        (fromBefore ? m_afterSelection : m_beforeSelection)->clear();
    m_syncing = false;
}

void ComparisonView::keyPressEvent(QKeyEvent* event) {
    if (event->key() == Qt::Key_Escape) {
        emit closeRequested();
        return;
    }
    QWidget::keyPressEvent(event);
}

}  // namespace wh::widgets
