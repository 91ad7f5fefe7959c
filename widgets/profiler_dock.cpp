#include "widgets/profiler_dock.h"

#include <algorithm>
#include <numeric>

#include <QBarCategoryAxis>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QCheckBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QHorizontalBarSeries>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QSpinBox>
#include <QSplitter>
#include <QTableView>
#include <QValueAxis>
#include <QVBoxLayout>

#include "core/engine/benchmark.h"
#include "core/util/atomic_file.h"
#include "widgets/chart_util.h"
#include "widgets/document.h"
#include "widgets/format.h"
#include "widgets/job_runner.h"
#include "widgets/selection_model.h"

namespace wh::widgets {

namespace {

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}

QString formatMs(double ms) {
    return QLocale().toString(ms, 'f', ms < 10 ? 3 : 2);
}

int64_t weightBytes(const analysis::NodeProfile& n) {
    int64_t total = 0;
    for (const auto& [dtype, bytes] : n.weightBytes) total += bytes;
    return total;
}

QString weightBytesTip(const analysis::NodeProfile& n) {
    QStringList parts;
    for (const auto& [dtype, bytes] : n.weightBytes)
        parts << QStringLiteral("%1: %2 bytes").arg(qs(dtype), formatCount(qlonglong{bytes}));
    return parts.join(QLatin1Char('\n'));
}

bool isFusedOrFolded(const analysis::NodeProfile& n) {
    return n.steps == 0;
}

}  // namespace

// ---- ProfileTableModel ----

void ProfileTableModel::setProfile(std::shared_ptr<const analysis::Profile> profile,
                                   std::shared_ptr<const analysis::Profile> baseline) {
    beginResetModel();
    m_profile = std::move(profile);
    m_baseline = std::move(baseline);
    m_rows.clear();
    m_baselineMs.clear();
    if (m_profile) {
        std::unordered_map<std::string, double> before;
        if (m_baseline)
            for (const analysis::NodeProfile& n : m_baseline->nodes)
                if (!n.name.empty()) before.emplace(n.name, n.ms);
        for (std::size_t i = 0; i < m_profile->nodes.size(); ++i) {
            const analysis::NodeProfile& n = m_profile->nodes[i];
            m_rows.emplace(n.node, static_cast<int>(i));
            const auto it = n.name.empty() ? before.end() : before.find(n.name);
            m_baselineMs.push_back(it == before.end() ? std::nullopt
                                                      : std::optional<double>(it->second));
        }
    }
    endResetModel();
}

std::optional<double> ProfileTableModel::baselineMs(int row) const {
    if (row < 0 || row >= static_cast<int>(m_baselineMs.size())) return std::nullopt;
    return m_baselineMs[static_cast<std::size_t>(row)];
}

ir::NodeId ProfileTableModel::nodeAt(int row) const {
    if (!m_profile || row < 0 || row >= static_cast<int>(m_profile->nodes.size())) return 0;
    return m_profile->nodes[static_cast<std::size_t>(row)].node;
}

int ProfileTableModel::rowOf(ir::NodeId id) const {
    const auto it = m_rows.find(id);
    return it == m_rows.end() ? -1 : it->second;
}

int ProfileTableModel::rowCount(const QModelIndex& parent) const {
    if (parent.isValid() || !m_profile) return 0;
    return static_cast<int>(m_profile->nodes.size());
}

int ProfileTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : kColumnCount;
}

QVariant ProfileTableModel::data(const QModelIndex& index, int role) const {
    if (!m_profile || !index.isValid()) return {};
    const analysis::NodeProfile& n = m_profile->nodes[static_cast<std::size_t>(index.row())];
    const double share = m_profile->stepMs > 0 ? n.ms / m_profile->stepMs : 0.0;
    const std::optional<double> before = baselineMs(index.row());
    const std::optional<double> speedup =
        before && *before > 0 && n.ms > 0 ? std::optional<double>(*before / n.ms) : std::nullopt;
    const bool fused = isFusedOrFolded(n);
    if (role == kNodeIdRole) return QVariant::fromValue(qulonglong{n.node});
    if (role == kSortRole) {
        switch (index.column()) {
        case kNode: return qs(n.name);
        case kOp: return qs(n.op);
        case kMs: return n.ms;
        case kShare: return share;
        case kSpeedup: return speedup ? *speedup : -1.0;
        case kFlops: return qlonglong{n.flops};
        case kParams: return qlonglong{n.params};
        case kWeightBytes: return qlonglong{weightBytes(n)};
        case kActivationBytes: return qlonglong{n.activationBytes};
        case kPrecision: return qs(n.precision);
        case kBackend: return fused ? QString() : qs(std::string(engine::backendName(n.backend)));
        case kFusedInto: return qs(n.fusedIntoName);
        default: return {};
        }
    }
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case kNode: return qs(n.name);
        case kOp: return qs(n.op);
        case kMs: return fused ? QString() : formatMs(n.ms);
        case kShare:
            return fused ? QString() : QLocale().toString(100.0 * share, 'f', 1) + QLatin1Char('%');
        case kSpeedup:
            return speedup ? QLocale().toString(*speedup, 'f', 2) + QChar(0x00d7) : QString();
        case kFlops: return n.flops ? formatCompact(static_cast<double>(n.flops)) : QString();
        case kParams: return n.params ? formatCompact(static_cast<double>(n.params)) : QString();
        case kWeightBytes: {
            const int64_t b = weightBytes(n);
            return b ? formatCompact(static_cast<double>(b)) : QString();
        }
        case kActivationBytes:
            return n.activationBytes ? formatCompact(static_cast<double>(n.activationBytes)) : QString();
        case kPrecision: return qs(n.precision);
        case kBackend: return fused ? QString() : qs(std::string(engine::backendName(n.backend)));
        case kFusedInto:
            return n.fusedInto ? tr("in %1").arg(qs(n.fusedIntoName))
                               : (n.precision == "folded" ? tr("folded") : QString());
        default: return {};
        }
    }
    if (role == Qt::TextAlignmentRole) {
        switch (index.column()) {
        case kMs:
        case kShare:
        case kSpeedup:
        case kFlops:
        case kParams:
        case kWeightBytes:
        case kActivationBytes:
            return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        default: return {};
        }
    }
    if (role == Qt::ToolTipRole) {
        switch (index.column()) {
        case kNode: return qs(n.name);
        case kMs:
            if (n.fusedInto)
                return tr("Computed inside %1's step: its time is counted there")
                    .arg(qs(n.fusedIntoName));
            if (fused) return tr("Computed once when the plan was compiled (a constant)");
            return tr("%1 ms per run, %2 step(s)").arg(formatMs(n.ms)).arg(n.steps);
        case kSpeedup:
            if (before)
                return tr("Baseline %1 ms, now %2 ms").arg(formatMs(*before), formatMs(n.ms));
            return tr("No node of this name in the baseline, or no time of its own");
        case kFlops:
            return tr("%1 FLOPs (multiply-adds count 2)").arg(formatCount(qlonglong{n.flops}));
        case kParams: return tr("%1 parameters").arg(formatCount(qlonglong{n.params}));
        case kWeightBytes: return weightBytesTip(n);
        case kActivationBytes:
            return tr("%1 bytes of outputs at batch %2")
                .arg(formatCount(qlonglong{n.activationBytes}))
                .arg(m_profile->batch);
        default: return {};
        }
    }
    return {};
}

QVariant ProfileTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::DisplayRole) {
        switch (section) {
        case kNode: return tr("Node");
        case kOp: return tr("Op");
        case kMs: return tr("ms");
        case kShare: return tr("Share");
        case kSpeedup: return tr("Speed-up");
        case kFlops: return tr("FLOPs");
        case kParams: return tr("Params");
        case kWeightBytes: return tr("Weights");
        case kActivationBytes: return tr("Activations");
        case kPrecision: return tr("Precision");
        case kBackend: return tr("Backend");
        case kFusedInto: return tr("Fused");
        default: return {};
        }
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case kMs: return tr("Mean time per run of the steps booked on this node");
        case kShare: return tr("Share of the time of all steps");
        case kSpeedup: return tr("Baseline time / this time, for the node of the same name");
        case kWeightBytes: return tr("Bytes of the initializers the node reads");
        case kActivationBytes: return tr("Bytes of the node's outputs at this batch");
        case kPrecision: return tr("The element type the node ran in");
        case kFusedInto: return tr("The step a fused node ran in, or \"folded\" for constants");
        default: return {};
        }
    }
    return {};
}

// ---- ProfileFilterModel ----

void ProfileFilterModel::setText(const QString& text) {
    if (text == m_text) return;
    m_text = text;
    invalidateFilter();
}

void ProfileFilterModel::setHideFused(bool hide) {
    if (hide == m_hideFused) return;
    m_hideFused = hide;
    invalidateFilter();
}

bool ProfileFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    const auto* model = qobject_cast<const ProfileTableModel*>(sourceModel());
    if (!model || !model->profile()) return true;
    const analysis::NodeProfile& n = model->profile()->nodes[static_cast<std::size_t>(sourceRow)];
    if (m_hideFused && isFusedOrFolded(n)) return false;
    if (m_text.isEmpty()) return true;
    (void)sourceParent;
    for (const std::string* field : {&n.name, &n.op, &n.precision})
        if (qs(*field).contains(m_text, Qt::CaseInsensitive)) return true;
    return false;
}

// ---- ProfilerDock ----

ProfilerDock::ProfilerDock(JobRunner* runner, QWidget* parent)
    : QDockWidget(tr("Profiler"), parent), m_runner(runner) {
    setObjectName(QStringLiteral("ProfilerDock"));
    auto* panel = new QWidget(this);

    m_batch = new QSpinBox(panel);
    m_batch->setObjectName(QStringLiteral("ProfilerBatch"));
    m_batch->setRange(1, 4096);
    m_batch->setValue(1);
    m_batch->setToolTip(tr("Batch size the model is compiled and timed for"));
    m_threads = new QSpinBox(panel);
    m_threads->setObjectName(QStringLiteral("ProfilerThreads"));
    m_threads->setRange(0, 256);
    m_threads->setSpecialValueText(tr("all"));
    m_threads->setToolTip(tr("Compute threads (all: every core)"));
    m_runs = new QSpinBox(panel);
    m_runs->setObjectName(QStringLiteral("ProfilerRuns"));
    m_runs->setRange(1, 100000);
    m_runs->setValue(20);
    m_runs->setToolTip(tr("Timed runs (after 3 warm-up runs); the table shows the mean"));
    m_shapes = new QLineEdit(panel);
    m_shapes->setObjectName(QStringLiteral("ProfilerShapes"));
    m_shapes->setPlaceholderText(tr("input=1,3,48,320"));
    m_shapes->setToolTip(tr("Dims of inputs with symbolic sizes: NAME=D0,D1,... separated by "
                            "spaces (as whittle-cli's --shape). Dim 0 of an input takes the batch "
                            "when not given."));
    m_profileButton = new QPushButton(tr("Profile"), panel);
    m_profileButton->setObjectName(QStringLiteral("ProfileButton"));
    m_profileButton->setToolTip(tr("Time every node of the model as it is now (F6)"));
    m_baselineButton = new QPushButton(tr("Set as Baseline"), panel);
    m_baselineButton->setToolTip(
        tr("Keep this profile: later profiles (after edits, or of the compressed model) show "
           "each node's speed-up against it"));
    m_clearBaselineButton = new QPushButton(tr("Clear Baseline"), panel);
    m_csvButton = new QPushButton(tr("Export CSV…"), panel);
    m_csvButton->setToolTip(tr("Write every row to a CSV file (as whittle-cli profile --csv)"));
    m_filterEdit = new QLineEdit(panel);
    m_filterEdit->setObjectName(QStringLiteral("ProfilerFilter"));
    m_filterEdit->setPlaceholderText(tr("Filter: node, op or precision"));
    m_filterEdit->setClearButtonEnabled(true);
    m_hideFused = new QCheckBox(tr("Hide fused"), panel);
    m_hideFused->setToolTip(tr("Hide the nodes computed inside another node's step, and the "
                               "constants folded at compile time"));
    m_summary = new QLabel(panel);
    m_summary->setObjectName(QStringLiteral("ProfilerSummary"));
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);

    m_model = new ProfileTableModel(this);
    m_filter = new ProfileFilterModel(this);
    m_filter->setSourceModel(m_model);
    m_filter->setSortRole(ProfileTableModel::kSortRole);
    m_filter->setSortCaseSensitivity(Qt::CaseInsensitive);
    m_table = new QTableView(panel);
    m_table->setObjectName(QStringLiteral("ProfilerTable"));
    m_table->setModel(m_filter);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(ProfileTableModel::kMs, Qt::DescendingOrder);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_table->setAlternatingRowColors(true);
    m_table->setWordWrap(false);
    m_table->setTextElideMode(Qt::ElideMiddle);
    m_table->verticalHeader()->hide();
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 6);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setColumnWidth(ProfileTableModel::kNode, 260);
    m_table->setColumnWidth(ProfileTableModel::kOp, 110);
    for (int c : {ProfileTableModel::kMs, ProfileTableModel::kShare, ProfileTableModel::kSpeedup,
                  ProfileTableModel::kFlops, ProfileTableModel::kParams,
                  ProfileTableModel::kWeightBytes, ProfileTableModel::kActivationBytes,
                  ProfileTableModel::kPrecision, ProfileTableModel::kBackend})
        m_table->setColumnWidth(c, 78);

    m_chart = new QChart;
    m_chart->setAnimationOptions(QChart::NoAnimation);
    m_chart->legend()->setAlignment(Qt::AlignBottom);
    m_chart->setMargins(QMargins(2, 2, 2, 2));
    m_chartView = new QChartView(m_chart, panel);  // owns the chart
    m_chartView->setObjectName(QStringLiteral("ProfilerChart"));
    m_chartView->setRenderHint(QPainter::Antialiasing);
    m_chartView->setMinimumWidth(260);

    auto* settings = new QHBoxLayout;
    settings->setContentsMargins(4, 2, 4, 0);
    const auto label = [panel](const QString& text, QWidget* buddy) {
        auto* l = new QLabel(text, panel);
        l->setBuddy(buddy);
        return l;
    };
    settings->addWidget(label(tr("&Batch"), m_batch));
    settings->addWidget(m_batch);
    settings->addWidget(label(tr("T&hreads"), m_threads));
    settings->addWidget(m_threads);
    settings->addWidget(label(tr("R&uns"), m_runs));
    settings->addWidget(m_runs);
    settings->addWidget(label(tr("S&hapes"), m_shapes));
    settings->addWidget(m_shapes, 1);
    settings->addWidget(m_profileButton);
    settings->addWidget(m_baselineButton);
    settings->addWidget(m_clearBaselineButton);
    settings->addWidget(m_csvButton);
    auto* filterRow = new QHBoxLayout;
    filterRow->setContentsMargins(4, 0, 4, 0);
    filterRow->addWidget(m_summary, 1);
    filterRow->addWidget(m_filterEdit);
    filterRow->addWidget(m_hideFused);
    m_filterEdit->setMinimumWidth(220);

    QSplitter* split = tableBesideChart(m_table, m_chartView, panel);

    auto* layout = new QVBoxLayout(panel);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    layout->addLayout(settings);
    layout->addLayout(filterRow);
    layout->addWidget(split, 1);
    setWidget(panel);

    connect(m_profileButton, &QPushButton::clicked, this, [this] {
        if (isProfiling())
            cancelProfile();
        else
            profile();
    });
    connect(m_baselineButton, &QPushButton::clicked, this, [this] { setBaselineFromCurrent(); });
    connect(m_clearBaselineButton, &QPushButton::clicked, this, &ProfilerDock::clearBaseline);
    connect(m_csvButton, &QPushButton::clicked, this, &ProfilerDock::exportCsv);
    connect(m_filterEdit, &QLineEdit::textChanged, this, &ProfilerDock::setFilterText);
    connect(m_hideFused, &QCheckBox::toggled, m_filter, &ProfileFilterModel::setHideFused);
    connect(m_table, &QTableView::clicked, this, [this](const QModelIndex& index) {
        // Clicking the row already selected alone jumps to its node again.
        if (m_table->selectionModel()->selectedRows().size() != 1) return;
        const auto id = index.data(ProfileTableModel::kNodeIdRole).toULongLong();
        if (id) emit nodeRequested(static_cast<ir::NodeId>(id));
    });
    connect(m_table->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            [this] { syncSelectionFromRows(); });
    updateSummary();
    updateButtons();
}

ProfilerDock::~ProfilerDock() {
    if (m_job) m_job->cancel();
}

void ProfilerDock::setDocument(Document* doc) {
    if (doc == m_doc) return;
    ++m_waitGeneration;
    m_waiting = false;
    if (m_job) m_job->cancel();
    if (m_doc) {
        m_doc->disconnect(this);
        m_doc->selection()->disconnect(this);
    }
    m_doc = doc;
    m_status.clear();
    showProfile(nullptr, 0);
    if (m_doc) {
        connect(m_doc, &Document::changed, this, [this] { updateSummary(); });
        connect(m_doc->selection(), &SelectionModel::changed, this,
                &ProfilerDock::syncRowsFromSelection);
    }
    updateButtons();
}

analysis::ProfileOptions ProfilerDock::options() const {
    analysis::ProfileOptions o;
    o.batch = m_batch->value();
    o.threads = m_threads->value();
    o.runs = m_runs->value();
    o.warmup = 3;
    return o;
}

void ProfilerDock::setBatch(int batch) {
    m_batch->setValue(batch);
}

void ProfilerDock::setRuns(int runs) {
    m_runs->setValue(runs);
}

void ProfilerDock::setThreads(int threads) {
    m_threads->setValue(threads);
}

void ProfilerDock::setShapesText(const QString& text) {
    m_shapes->setText(text);
}

bool ProfilerDock::isProfiling() const {
    return m_waiting || (m_job && m_job->isRunning());
}

void ProfilerDock::cancelProfile() {
    ++m_waitGeneration;  // a profile waiting for other jobs is dropped
    if (m_waiting) {
        m_waiting = false;
        m_status = tr("Profiling cancelled.");
        updateButtons();
        updateSummary();
        emit profileFinished(false, m_status);
    }
    if (m_job) m_job->cancel();
}

void ProfilerDock::profile() {
    if (!m_doc) return;
    cancelProfile();
    // Timings beside another job (a relayout, a compression, the Summary's latencies) would be
    // off: the profile starts once the runner is idle (JobRunner::whenIdle).
    m_waiting = true;
    m_status.clear();
    const int generation = m_waitGeneration;
    m_runner->whenIdle(this, [this, generation](bool idle) {
        if (generation != m_waitGeneration) return;
        m_waiting = false;
        startProfile(idle);
    });
    updateButtons();
    updateSummary();
}

void ProfilerDock::startProfile(bool idle) {
    if (!m_doc) {
        updateButtons();
        return;
    }
    analysis::ProfileOptions opts = options();
    std::vector<std::string> specs;
    for (const QString& part :
         m_shapes->text().split(QRegularExpression(QStringLiteral("[\\s;]+")),
                                Qt::SkipEmptyParts))
        specs.push_back(part.toStdString());
    Expected<std::map<std::string, engine::Dims>> shapes = engine::parseShapeSpecs(specs);
    if (!shapes) {
        m_status = tr("Shapes: %1").arg(qs(shapes.error().message()));
        updateSummary();
        emit profileFinished(false, m_status);
        return;
    }
    opts.inputShapes = std::move(*shapes);
    Document* doc = m_doc;
    const quint64 revision = doc->revision();
    Document::SnapshotTask snapshotTask = doc->snapshotTask();
    const QString name =
        doc->filePath().isEmpty() ? tr("Untitled") : QFileInfo(doc->filePath()).fileName();
    using Result = std::shared_ptr<const analysis::Profile>;
    Job* job = m_runner->run(
        tr("Profile %1 (batch %2)").arg(name).arg(opts.batch),
        [snapshotTask = std::move(snapshotTask), opts](jobs::JobContext& ctx) -> Expected<Result> {
            ctx.setProgress(0.0, "copying");
            std::shared_ptr<const ir::Model> snapshot = snapshotTask();
            if (!snapshot) return error(StatusCode::kCancelled, "the model changed meanwhile");
            WH_ASSIGN_OR_RETURN(analysis::Profile p, analysis::profileModel(*snapshot, opts, &ctx));
            return std::make_shared<const analysis::Profile>(std::move(p));
        },
        JobRunner::Lane::kEngine);
    m_job = job;
    m_status.clear();
    connect(job, &Job::finished, this, [this, job, doc, revision, name, idle] {
        Result* result = job->result<Result>();
        if (!result || doc != m_doc) return;
        m_profileName = name;
        m_contended = !idle;
        showProfile(*result, revision);
        job->releaseResult();
        emit profileFinished(true, {});
    });
    connect(job, &Job::failed, this, [this, doc, name](const Status& status) {
        if (doc != m_doc) return;
        m_status = tr("Profiling %1 failed: %2").arg(name, qs(status.message()));
        updateSummary();
        emit profileFinished(false, m_status);
    });
    connect(job, &Job::cancelled, this, [this, doc] {
        if (doc != m_doc) return;
        m_status = tr("Profiling cancelled.");
        updateSummary();
        emit profileFinished(false, m_status);
    });
    connect(job, &Job::ended, this, [this] { updateButtons(); });
    updateButtons();
    updateSummary();
}

void ProfilerDock::showProfile(std::shared_ptr<const analysis::Profile> profile,
                               quint64 revision) {
    m_profile = std::move(profile);
    m_profiledRevision = revision;
    m_model->setProfile(m_profile, m_baseline);
    m_table->sortByColumn(m_table->horizontalHeader()->sortIndicatorSection(),
                          m_table->horizontalHeader()->sortIndicatorOrder());
    m_table->setColumnHidden(ProfileTableModel::kSpeedup, !m_baseline);
    rebuildChart();
    syncRowsFromSelection();
    updateSummary();
    updateButtons();
}

bool ProfilerDock::setBaselineFromCurrent() {
    if (!m_profile) return false;
    m_baseline = m_profile;
    m_baselineName = m_profileName;
    showProfile(m_profile, m_profiledRevision);
    return true;
}

void ProfilerDock::clearBaseline() {
    m_baseline.reset();
    m_baselineName.clear();
    showProfile(m_profile, m_profiledRevision);
}

void ProfilerDock::rebuildChart() {
    clearChart(m_chart);
    if (!m_profile) {
        m_chart->setTitle(QString());
        return;
    }
    std::vector<std::size_t> order(m_profile->nodes.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return m_profile->nodes[a].ms > m_profile->nodes[b].ms;
    });
    order.erase(std::remove_if(order.begin(), order.end(),
                               [&](std::size_t i) { return m_profile->nodes[i].ms <= 0; }),
                order.end());
    if (order.size() > static_cast<std::size_t>(kTopN)) order.resize(kTopN);
    std::reverse(order.begin(), order.end());  // the slowest at the top of a horizontal chart

    auto* now = new QBarSet(m_baseline ? tr("now") : tr("ms"));
    QBarSet* before = m_baseline ? new QBarSet(tr("baseline")) : nullptr;
    QStringList categories;
    double maxMs = 0;
    std::vector<ir::NodeId> ids;
    for (std::size_t i : order) {
        const analysis::NodeProfile& n = m_profile->nodes[i];
        QString label = elideMiddle(shortNodeLabel(n.name, n.op), 24);
        // Categories must be unique: a repeated label gets the node's position.
        if (categories.contains(label)) label += QStringLiteral(" #%1").arg(i);
        categories << label;
        *now << n.ms;
        maxMs = std::max(maxMs, n.ms);
        if (before) {
            const double b = m_model->baselineMs(static_cast<int>(i)).value_or(0.0);
            *before << b;
            maxMs = std::max(maxMs, b);
        }
        ids.push_back(n.node);
    }
    auto* series = new QHorizontalBarSeries;
    if (before) series->append(before);
    series->append(now);
    series->setBarWidth(0.8);
    m_chart->addSeries(series);
    auto* y = new QBarCategoryAxis;
    y->append(categories);
    y->setTruncateLabels(false);  // already short; else Qt Charts shows "..." in a narrow dock
    auto* x = new QValueAxis;
    x->setRange(0, maxMs > 0 ? maxMs * 1.05 : 1.0);
    x->setTitleText(tr("ms per run"));
    x->applyNiceNumbers();  // round ticks
    x->setLabelFormat(QStringLiteral("%g"));
    m_chart->addAxis(y, Qt::AlignLeft);
    m_chart->addAxis(x, Qt::AlignBottom);
    series->attachAxis(y);
    series->attachAxis(x);
    m_chart->legend()->setVisible(before != nullptr);
    m_chart->setTitle(tr("%1 slowest nodes").arg(order.size()));
    const auto jump = [this, ids](int index, QBarSet*) {
        if (index >= 0 && index < static_cast<int>(ids.size()))
            emit nodeRequested(ids[static_cast<std::size_t>(index)]);
    };
    connect(series, &QHorizontalBarSeries::clicked, this, jump);
}

QString ProfilerDock::summaryText() const {
    return m_summary->text();
}

void ProfilerDock::updateSummary() {
    QStringList parts;
    if (!m_doc) {
        parts << tr("Open a model, then Profile (F6) times every node.");
    } else if (!m_profile) {
        parts << (m_waiting     ? tr("Waiting for the other jobs to end, then profiling…")
                  : isProfiling() ? tr("Profiling…")
                                  : tr("Profile (F6) times every node of the model as it is now."));
    } else {
        const analysis::Profile& p = *m_profile;
        parts << tr("%1: %2 ms per run at batch %3, %4 threads (%5 runs); %6 FLOPs, %7 parameters")
                     .arg(m_profileName, formatMs(p.wallMs))
                     .arg(p.batch)
                     .arg(p.threads)
                     .arg(p.runs)
                     .arg(formatCompact(static_cast<double>(p.flops)),
                          formatCompact(static_cast<double>(p.params)));
        if (p.conversionMs > 0.0005)
            parts << tr("layout conversions %1 ms").arg(formatMs(p.conversionMs));
        if (m_doc->revision() != m_profiledRevision)
            parts << tr("the model changed since: Profile again");
        if (m_contended)
            parts << tr("other jobs ran while it was timed: the times may be off");
    }
    if (m_baseline) {
        QString b = tr("baseline %1: %2 ms at batch %3")
                        .arg(m_baselineName, formatMs(m_baseline->wallMs))
                        .arg(m_baseline->batch);
        if (m_profile && m_profile != m_baseline && m_profile->wallMs > 0) {
            b += tr(", now %1× faster").arg(
                QLocale().toString(m_baseline->wallMs / m_profile->wallMs, 'f', 2));
            if (m_profile->batch != m_baseline->batch)
                b += tr(" (different batch sizes: not comparable)");
        }
        parts << b;
    }
    if (!m_status.isEmpty()) parts << m_status;
    m_summary->setText(parts.join(QStringLiteral(" · ")));
}

void ProfilerDock::updateButtons() {
    const bool running = isProfiling();
    m_profileButton->setText(running ? tr("Cancel") : tr("Profile"));
    m_profileButton->setEnabled(m_doc || running);
    m_baselineButton->setEnabled(m_profile && m_profile != m_baseline);
    m_clearBaselineButton->setEnabled(m_baseline != nullptr);
    m_csvButton->setEnabled(m_profile != nullptr);
}

void ProfilerDock::setFilterText(const QString& text) {
    if (m_filterEdit->text() != text) m_filterEdit->setText(text);
    m_filter->setText(text);
}

bool ProfilerDock::exportCsvTo(const QString& path, QString* errorText) {
    if (!m_profile) {
        if (errorText) *errorText = tr("Nothing to export: profile the model first.");
        return false;
    }
    const Status s = util::writeAtomically(path.toStdString(), analysis::profileCsv(*m_profile));
    if (!s.isOk()) {
        if (errorText) *errorText = qs(s.message());
        return false;
    }
    return true;
}

void ProfilerDock::exportCsv() {
    if (!m_profile) return;
    QString suggested = QStringLiteral("profile.csv");
    if (m_doc && !m_doc->filePath().isEmpty()) {
        const QFileInfo info(m_doc->filePath());
        suggested = info.dir().filePath(
            QStringLiteral("%1-profile-b%2.csv").arg(info.completeBaseName()).arg(m_profile->batch));
    }
    const QString path = QFileDialog::getSaveFileName(this, tr("Export Profile as CSV"), suggested,
                                                      tr("CSV files (*.csv)"));
    if (path.isEmpty()) return;
    QString message;
    if (!exportCsvTo(path, &message)) {
        m_status = tr("CSV not written: %1").arg(message);
    } else {
        m_status = tr("Wrote %1").arg(QFileInfo(path).fileName());
    }
    updateSummary();
}

void ProfilerDock::syncRowsFromSelection() {
    if (m_syncing || !m_doc) return;
    m_syncing = true;
    QItemSelection rows;
    for (ir::NodeId id : m_doc->selection()->sortedIds()) {
        const int row = m_model->rowOf(id);
        if (row < 0) continue;
        const QModelIndex index = m_filter->mapFromSource(m_model->index(row, 0));
        if (index.isValid()) rows.select(index, index);
    }
    m_table->selectionModel()->select(
        rows, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    if (!rows.isEmpty()) m_table->scrollTo(rows.indexes().first());
    m_syncing = false;
}

void ProfilerDock::syncSelectionFromRows() {
    if (m_syncing || !m_doc) return;
    std::vector<ir::NodeId> ids;
    for (const QModelIndex& index : m_table->selectionModel()->selectedRows()) {
        const auto id = index.data(ProfileTableModel::kNodeIdRole).toULongLong();
        if (id && m_doc->node(static_cast<ir::NodeId>(id)))
            ids.push_back(static_cast<ir::NodeId>(id));
    }
    if (ids.empty()) return;
    m_syncing = true;
    if (ids.size() == 1)
        emit nodeRequested(ids.front());  // one row (a click, the arrow keys): go to its node
    else
        m_doc->selection()->setSelection(ids);
    m_syncing = false;
}

}  // namespace wh::widgets
