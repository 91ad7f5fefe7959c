#include "widgets/summary_dock.h"

#include <array>

#include <fmt/format.h>

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QBuffer>
#include <QChart>
#include <QChartView>
#include <QDateTime>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QTimer>
#include <QValueAxis>
#include <QVBoxLayout>

#include "core/engine/benchmark.h"
#include "core/util/atomic_file.h"
#include "widgets/chart_util.h"
#include "widgets/format.h"
#include "widgets/job_runner.h"

namespace wh::widgets {

namespace {

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}

QString ratioText(double before, double after) {
    if (!(before > 0)) return {};
    return QStringLiteral("×%1").arg(QLocale().toString(after / before, 'f', 3));
}

const char* rowName(SummaryDock::Row row) {
    switch (row) {
    case SummaryDock::kFileSize: return QT_TRANSLATE_NOOP("wh::widgets::SummaryDock", "File size");
    case SummaryDock::kParams: return QT_TRANSLATE_NOOP("wh::widgets::SummaryDock", "Parameters");
    case SummaryDock::kFlops: return QT_TRANSLATE_NOOP("wh::widgets::SummaryDock", "FLOPs");
    case SummaryDock::kLatency1:
        return QT_TRANSLATE_NOOP("wh::widgets::SummaryDock", "Latency, batch 1 (ms)");
    case SummaryDock::kLatency64:
        return QT_TRANSLATE_NOOP("wh::widgets::SummaryDock", "Latency, batch 64 (ms)");
    case SummaryDock::kAccuracy: return QT_TRANSLATE_NOOP("wh::widgets::SummaryDock", "Accuracy");
    case SummaryDock::kAgreement:
        return QT_TRANSLATE_NOOP("wh::widgets::SummaryDock", "Same top-1 as the float model");
    case SummaryDock::kVerified:
        return QT_TRANSLATE_NOOP("wh::widgets::SummaryDock", "Export verified");
    default: return "";
    }
}

}  // namespace

SummaryDock::SummaryDock(JobRunner* runner, QWidget* parent)
    : QDockWidget(tr("Summary"), parent), m_runner(runner) {
    setObjectName(QStringLiteral("SummaryDock"));
    auto* panel = new QWidget(this);
    m_title = new QLabel(panel);
    m_title->setObjectName(QStringLiteral("SummaryTitle"));
    m_title->setWordWrap(true);
    m_title->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_exportButton = new QPushButton(tr("Export Report…"), panel);
    m_exportButton->setToolTip(tr("Write this summary as Markdown (with the chart as a PNG) or "
                                  "HTML"));
    m_table = new QTableWidget(kRowCount, 3, panel);
    m_table->setObjectName(QStringLiteral("SummaryTable"));
    m_table->setHorizontalHeaderLabels({tr("Before"), tr("After"), tr("Change")});
    QStringList rows;
    for (int r = 0; r < kRowCount; ++r) rows << tr(rowName(static_cast<Row>(r)));
    m_table->setVerticalHeaderLabels(rows);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_table->verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_chart = new QChart;
    m_chart->setAnimationOptions(QChart::NoAnimation);
    m_chart->setMargins(QMargins(2, 2, 2, 2));
    m_chart->legend()->hide();
    auto* chartView = m_chartView = new QChartView(m_chart, panel);  // owns the chart
    chartView->setObjectName(QStringLiteral("SummaryChart"));
    chartView->setRenderHint(QPainter::Antialiasing);
    chartView->setMinimumWidth(240);

    auto* top = new QHBoxLayout;
    top->setContentsMargins(4, 2, 4, 0);
    top->addWidget(m_title, 1);
    top->addWidget(m_exportButton);
    m_runs = new QTableWidget(0, 4, panel);
    m_runs->setObjectName(QStringLiteral("SummaryRuns"));
    m_runs->setHorizontalHeaderLabels({tr("Runs of this model (select one, or two to compare)"),
                                       tr("Size"), tr("Accuracy"), tr("Verified")});
    m_runs->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_runs->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_runs->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_runs->verticalHeader()->hide();
    m_runs->verticalHeader()->setDefaultSectionSize(m_runs->fontMetrics().height() + 6);
    m_runs->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_runs->setToolTip(tr("Every run of this model file, kept across sessions. One selected: its "
                          "figures; two: the newer against the older; none: the last run."));
    auto* left = new QSplitter(Qt::Vertical, panel);
    left->addWidget(m_table);
    left->addWidget(m_runs);
    left->setSizes({300, 140});
    left->setChildrenCollapsible(false);
    auto* split = new QSplitter(Qt::Horizontal, panel);
    split->addWidget(left);
    split->addWidget(chartView);
    split->setSizes({520, 380});
    split->setChildrenCollapsible(false);
    auto* layout = new QVBoxLayout(panel);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(top);
    layout->addWidget(split, 1);
    setWidget(panel);
    connect(m_exportButton, &QPushButton::clicked, this, &SummaryDock::exportReport);
    connect(m_runs, &QTableWidget::itemSelectionChanged, this, [this] {
        std::vector<int> rows;
        for (const QModelIndex& index : m_runs->selectionModel()->selectedRows())
            rows.push_back(index.row());
        std::sort(rows.begin(), rows.end());
        if (rows.size() > 2) rows.resize(2);
        showRuns(rows);
    });
    clear();
}

void SummaryDock::setHistory(RunHistory* history, const QString& modelPath) {
    m_history = history;
    m_modelPath = modelPath;
    refreshRuns();
}

std::vector<RunRecord> SummaryDock::runs() const {
    return m_history && !m_modelPath.isEmpty() ? m_history->runs(m_modelPath)
                                               : std::vector<RunRecord>{};
}

void SummaryDock::refreshRuns() {
    const QSignalBlocker block(m_runs);
    m_runs->clearSelection();
    const std::vector<RunRecord> list = runs();
    m_runs->setRowCount(static_cast<int>(list.size()));
    for (std::size_t i = 0; i < list.size(); ++i) {
        const RunRecord& r = list[i];
        const int row = static_cast<int>(i);
        auto* name = new QTableWidgetItem(r.label());
        name->setToolTip(tr("%1\nwrote %2\n\n%3").arg(r.label(), r.output, r.recipeJson));
        m_runs->setItem(row, 0, name);
        m_runs->setItem(row, 1, new QTableWidgetItem(ratioText(r.before.bytes, r.after.bytes)));
        QString acc;
        if (r.before.accuracy && r.after.accuracy) {
            const double pt = 100.0 * (*r.after.accuracy - *r.before.accuracy);
            acc = (pt >= 0 ? QStringLiteral("+") : QString()) + QLocale().toString(pt, 'f', 2) +
                  tr(" pt");
        }
        m_runs->setItem(row, 2, new QTableWidgetItem(acc));
        m_runs->setItem(row, 3, new QTableWidgetItem(r.verified ? tr("yes") : tr("NO")));
    }
    if (!m_shownRuns.empty()) {
        m_shownRuns.clear();
        restoreTitle();
        fill();
    }
}

void SummaryDock::selectRuns(const std::vector<int>& rows) {
    QItemSelection selection;
    for (int row : rows)
        selection.select(m_runs->model()->index(row, 0),
                         m_runs->model()->index(row, m_runs->columnCount() - 1));
    m_runs->selectionModel()->select(selection, QItemSelectionModel::ClearAndSelect);
}

void SummaryDock::showRuns(const std::vector<int>& rows) {
    const std::vector<RunRecord> list = runs();
    m_shownRuns.clear();
    for (int row : rows)
        if (row >= 0 && row < static_cast<int>(list.size()))
            m_shownRuns.push_back(list[static_cast<std::size_t>(row)]);
    if (m_shownRuns.empty()) {
        restoreTitle();
        fill();
        return;
    }
    m_exportButton->setEnabled(false);
    if (m_shownRuns.size() == 1) {
        const RunRecord& r = m_shownRuns.front();
        m_title->setText(tr("Run <b>%1</b>: %2 node(s) changed").arg(r.label().toHtmlEscaped())
                             .arg(r.nodesChanged));
        m_table->setHorizontalHeaderLabels({tr("Before"), tr("After"), tr("Change")});
        fillFigures(&r.before, &r.after, {}, &r);
        return;
    }
    // Two runs: the older is A (the list is newest first), its compressed model against B's.
    const RunRecord& b = m_shownRuns[0];
    const RunRecord& a = m_shownRuns[1];
    m_title->setText(tr("Run B <b>%1</b> against run A <b>%2</b> (both compressed models)")
                         .arg(b.label().toHtmlEscaped(), a.label().toHtmlEscaped()));
    m_table->setHorizontalHeaderLabels({tr("A: %1").arg(a.algorithm), tr("B: %1").arg(b.algorithm),
                                        tr("B / A")});
    fillFigures(&a.after, &b.after, {}, nullptr);
    auto set = [this](int row, int column, const QString& text) {
        auto* item = new QTableWidgetItem(text);
        item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        m_table->setItem(row, column, item);
    };
    const auto percent = [](const std::optional<double>& v) {
        return v ? QLocale().toString(100.0 * *v, 'f', 2) + QStringLiteral(" %") : QString();
    };
    set(kAgreement, 0, percent(a.agreement));
    set(kAgreement, 1, percent(b.agreement));
    set(kVerified, 0, a.verified ? tr("yes") : tr("NO"));
    set(kVerified, 1, b.verified ? tr("yes") : tr("NO"));
}

void SummaryDock::recordRun() {
    if (!m_history || m_modelPath.isEmpty() || !m_result) return;
    m_history->add(m_modelPath, currentRecord());
    refreshRuns();
}

void SummaryDock::restoreTitle() {
    m_title->setText(m_liveTitle);
}

SummaryDock::~SummaryDock() {
    if (m_job) m_job->cancel();
}

void SummaryDock::clear() {
    if (m_job) m_job->cancel();
    ++m_waitGeneration;  // a timing waiting for other jobs is dropped
    m_waiting = false;
    m_before.reset();
    m_result.reset();
    for (auto& after : m_latency)
        for (auto& l : after) l.reset();
    m_latencyStatus.clear();
    m_liveTitle = tr("Run an algorithm (Algorithm dock, Ctrl+R): the model before and after it "
                     "are compared here; earlier runs of the model are listed below.");
    m_title->setText(m_liveTitle);
    m_shownRuns.clear();
    fill();
}

bool SummaryDock::isMeasuring() const {
    return m_waiting || (m_job && m_job->isRunning());
}

void SummaryDock::setComparison(std::shared_ptr<const ir::Model> before, const QString& beforeName,
                                std::shared_ptr<const algo::CompressResult> result,
                                const QString& outputPath, bool measureLatency) {
    clear();
    m_before = std::move(before);
    m_beforeName = beforeName;
    m_result = std::move(result);
    m_outputPath = outputPath;
    if (!m_result) return;
    m_resultTime = QDateTime::currentDateTime();
    m_liveTitle = tr("<b>%1</b> → <b>%2</b> by %3: %4 node(s) changed in %5 s")
                      .arg(m_beforeName.toHtmlEscaped(),
                           QFileInfo(m_outputPath).fileName().toHtmlEscaped(),
                           qs(m_result->algorithm))
                      .arg(m_result->apply.changed())
                      .arg(QLocale().toString(m_result->seconds, 'f', 1));
    m_title->setText(m_liveTitle);
    if (measureLatency && m_before) measure();
    recordRun();
    fill();
}

std::optional<double> SummaryDock::latencyMs(bool after, int batch) const {
    return m_latency[after ? 1 : 0][batch == kSmallBatch ? 0 : 1];
}

void SummaryDock::measure() {
    // Timings taken beside another job (the relayout after Apply, a profile, the per-layer
    // error) came out 5-10x too slow for a small model: wait until the runner is idle first
    // (bounded; a timing that could not wait says so).
    m_latencyStatus = tr("waiting for the other jobs to end…");
    m_waiting = true;
    const int generation = ++m_waitGeneration;
    m_runner->whenIdle(this, [this, generation](bool idle) {
        if (generation != m_waitGeneration || !m_result) return;
        m_waiting = false;
        startTiming(idle);
    });
}

void SummaryDock::startTiming(bool idle) {
    m_latencyStatus = tr("measuring…");
    std::shared_ptr<const ir::Model> before = m_before;
    auto after = std::shared_ptr<const ir::Model>(m_result, &m_result->model);
    using Times = std::array<double, 4>;  // before b1, before b64, after b1, after b64
    Job* job = m_runner->run(
        tr("Latency of %1 before and after").arg(m_beforeName),
        [before, after](jobs::JobContext& ctx) -> Expected<Times> {
            Times t{};
            // Before and after back to back at each batch, so that a change of the machine's
            // load between the two is less likely to show as a speed-up.
            int k = 0;
            for (int batch : {kSmallBatch, kLargeBatch})
                for (int side = 0; side < 2; ++side) {
                    ctx.setProgress(k++ / 4.0, fmt::format("batch {}", batch));
                    engine::BenchOptions o;
                    o.batch = batch;
                    o.iterations = batch == kSmallBatch ? 30 : 5;
                    o.warmup = batch == kSmallBatch ? 5 : 1;
                    WH_ASSIGN_OR_RETURN(engine::BenchResult r,
                                        engine::benchmark(side == 0 ? *before : *after, o, &ctx));
                    t[static_cast<std::size_t>(side * 2 + (batch == kSmallBatch ? 0 : 1))] =
                        r.p50Ms;
                }
            return t;
        },
        JobRunner::Lane::kEngine);
    m_job = job;
    m_contended = !idle || m_runner->runningCount() > 1;
    connect(job, &Job::progress, this, [this] {
        m_contended = m_contended || m_runner->runningCount() > 1;
    });
    connect(job, &Job::finished, this, [this, job] {
        m_contended = m_contended || m_runner->runningCount() > 1;
        const Times* t = job->result<Times>();
        if (!t) return;
        m_latency[0][0] = (*t)[0];
        m_latency[0][1] = (*t)[1];
        m_latency[1][0] = (*t)[2];
        m_latency[1][1] = (*t)[3];
        m_latencyStatus.clear();
        if (m_contended)
            m_liveTitle += tr(" · other jobs ran while the latencies were timed: they may be "
                              "off (timed again by a new run)");
        if (m_shownRuns.empty()) m_title->setText(m_liveTitle);
        recordRun();  // the same run, now with its latencies
        fill();
        emit measured(true);
    });
    connect(job, &Job::failed, this, [this](const Status& status) {
        m_latencyStatus = tr("not measured: %1").arg(qs(status.message()));
        fill();
        emit measured(false);
    });
    connect(job, &Job::cancelled, this, [this] {
        m_latencyStatus = tr("not measured (cancelled)");
        fill();
        emit measured(false);
    });
}

QString SummaryDock::cell(Row row, int column) const {
    const QTableWidgetItem* item = m_table->item(row, column);
    return item ? item->text() : QString();
}

RunFigures SummaryDock::figures(bool after) const {
    RunFigures f;
    if (!m_result) return f;
    const algo::CompressResult& c = *m_result;
    f.bytes = static_cast<double>(after ? c.bytesAfter : c.bytesBefore);
    f.params = static_cast<double>(after ? c.paramsAfter : c.paramsBefore);
    f.flops = static_cast<double>(after ? c.flopsAfter : c.flopsBefore);
    f.latency1Ms = latencyMs(after, kSmallBatch);
    f.latency64Ms = latencyMs(after, kLargeBatch);
    f.accuracy = after ? c.accuracyAfter : c.accuracyBefore;
    return f;
}

RunRecord SummaryDock::currentRecord() const {
    RunRecord r;
    if (!m_result) return r;
    const algo::CompressResult& c = *m_result;
    r.when = m_resultTime;
    r.algorithm = qs(c.algorithm);
    r.recipeJson = qs(c.recipeJson);
    r.output = m_outputPath;
    r.nodesChanged = c.apply.changed();
    r.before = figures(false);
    r.after = figures(true);
    if (c.verify.samples > 0) r.agreement = c.verify.floatAgreement;
    r.verified = c.verify.verified;
    r.verifyText = c.verify.verified
                       ? tr("reloaded and run: max |diff| %1, top-1 agreement %2 %")
                             .arg(c.verify.maxAbsDiff, 0, 'g', 3)
                             .arg(QLocale().toString(100.0 * c.verify.top1Agreement, 'f', 2))
                       : qs(c.verify.message);
    return r;
}

void SummaryDock::fill() {
    m_exportButton->setEnabled(m_result != nullptr && m_shownRuns.empty());
    if (!m_shownRuns.empty()) return;  // a run of the history is shown (showRuns)
    m_table->setHorizontalHeaderLabels({tr("Before"), tr("After"), tr("Change")});
    if (!m_result) {
        fillFigures(nullptr, nullptr, {});
        return;
    }
    const RunRecord r = currentRecord();
    fillFigures(&r.before, &r.after, m_latencyStatus, &r);
}

void SummaryDock::fillFigures(const RunFigures* a, const RunFigures* b,
                              const QString& latencyStatus, const RunRecord* verification) {
    auto set = [this](int row, int column, const QString& text) {
        auto* item = new QTableWidgetItem(text);
        item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        m_table->setItem(row, column, item);
    };
    if (!a || !b) {
        for (int r = 0; r < kRowCount; ++r)
            for (int c = 0; c < 3; ++c) set(r, c, QString());
        rebuildChart(nullptr, nullptr);
        return;
    }
    const auto triple = [&](Row row, double before, double after, auto format) {
        set(row, 0, format(before));
        set(row, 1, format(after));
        set(row, 2, ratioText(before, after));
    };
    triple(kFileSize, a->bytes, b->bytes, formatBytes);
    triple(kParams, a->params, b->params, [](double v) { return formatCompact(v, 3); });
    triple(kFlops, a->flops, b->flops, [](double v) { return formatCompact(v, 3); });
    for (Row row : {kLatency1, kLatency64}) {
        const std::optional<double>& x = row == kLatency1 ? a->latency1Ms : a->latency64Ms;
        const std::optional<double>& y = row == kLatency1 ? b->latency1Ms : b->latency64Ms;
        if (x && y) {
            triple(row, *x, *y, [](double v) { return QLocale().toString(v, 'f', 3); });
        } else {
            set(row, 0, latencyStatus.isEmpty() ? tr("not measured") : latencyStatus);
            set(row, 1, QString());
            set(row, 2, QString());
        }
    }
    if (a->accuracy && b->accuracy) {
        set(kAccuracy, 0, QLocale().toString(100.0 * *a->accuracy, 'f', 2) + QStringLiteral(" %"));
        set(kAccuracy, 1, QLocale().toString(100.0 * *b->accuracy, 'f', 2) + QStringLiteral(" %"));
        const double pt = 100.0 * (*b->accuracy - *a->accuracy);
        set(kAccuracy, 2, (pt >= 0 ? QStringLiteral("+") : QString()) +
                              QLocale().toString(pt, 'f', 2) + tr(" pt"));
    } else {
        set(kAccuracy, 0, tr("no dataset evaluated"));
        set(kAccuracy, 1, QString());
        set(kAccuracy, 2, QString());
    }
    for (Row row : {kAgreement, kVerified})
        for (int c = 0; c < 3; ++c) set(row, c, QString());
    if (verification) {  // one run: its export's checks
        const RunRecord& v = *verification;
        if (v.agreement) set(kAgreement, 1, QLocale().toString(100.0 * *v.agreement, 'f', 2) +
                                                QStringLiteral(" %"));
        if (m_result && m_shownRuns.empty() && m_result->verify.samples > 0)
            set(kAgreement, 2, tr("%1 samples").arg(m_result->verify.samples));
        set(kVerified, 1, v.verified ? tr("yes") : tr("NO"));
        set(kVerified, 2, v.verifyText);
        m_table->item(kVerified, 2)->setToolTip(v.verifyText);
    }
    rebuildChart(a, b);
}

void SummaryDock::rebuildChart(const RunFigures* a, const RunFigures* b) {
    clearChart(m_chart);
    if (!a || !b) {
        m_chart->setTitle(QString());
        return;
    }
    QStringList categories;
    auto* set = new QBarSet(m_shownRuns.size() == 2 ? tr("B / A") : tr("after / before"));
    double top = 1.0;
    const auto add = [&](const QString& name, double before, double after) {
        if (!(before > 0)) return;
        categories << name;
        *set << after / before;
        top = std::max(top, after / before);
    };
    add(tr("size"), a->bytes, b->bytes);
    add(tr("params"), a->params, b->params);
    add(tr("FLOPs"), a->flops, b->flops);
    if (a->latency1Ms && b->latency1Ms)
        add(tr("latency b%1").arg(kSmallBatch), *a->latency1Ms, *b->latency1Ms);
    if (a->latency64Ms && b->latency64Ms)
        add(tr("latency b%1").arg(kLargeBatch), *a->latency64Ms, *b->latency64Ms);
    auto* series = new QBarSeries;
    series->append(set);
    series->setLabelsVisible(true);
    series->setLabelsFormat(QStringLiteral("@value"));
    series->setLabelsPrecision(3);
    m_chart->addSeries(series);
    auto* x = new QBarCategoryAxis;
    x->append(categories);
    x->setTruncateLabels(false);
    auto* y = new QValueAxis;
    y->setRange(0, top * 1.1);
    y->applyNiceNumbers();
    y->setLabelFormat(QStringLiteral("%.2g"));
    m_chart->addAxis(x, Qt::AlignBottom);
    m_chart->addAxis(y, Qt::AlignLeft);
    series->attachAxis(x);
    series->attachAxis(y);
    m_chart->setTitle(m_shownRuns.size() == 2
                          ? tr("Run B / run A (lower: B is smaller or faster)")
                          : tr("After / before (lower is smaller or faster)"));
}

QByteArray SummaryDock::chartPng() const {
    QByteArray bytes;
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    m_chartView->grab().save(&buffer, "PNG");  // as the dock shows it
    return bytes;
}

QString SummaryDock::reportMarkdown(const QString& chartFile) const {
    if (!m_result) return {};
    const algo::CompressResult& c = *m_result;
    QStringList out;
    out << QStringLiteral("# Compression report: %1 → %2")
               .arg(m_beforeName, QFileInfo(m_outputPath).fileName())
        << QString()
        << tr("Written by Whittle on %1. Algorithm **%2**, %3 node(s) changed, %4 s (apply %5 s, "
              "training %6 s, convert %7 s).")
               .arg(QDateTime::currentDateTime().toString(Qt::ISODate), qs(c.algorithm))
               .arg(c.apply.changed())
               .arg(c.seconds, 0, 'f', 1)
               .arg(c.applySeconds, 0, 'f', 1)
               .arg(c.trainSeconds, 0, 'f', 1)
               .arg(c.convertSeconds, 0, 'f', 1)
        << QString() << QStringLiteral("| | before | after | change |")
        << QStringLiteral("|---|---:|---:|---:|");
    for (int r = 0; r < kRowCount; ++r) {
        QString line = QStringLiteral("| %1 |").arg(tr(rowName(static_cast<Row>(r))));
        for (int col = 0; col < 3; ++col)
            line += QStringLiteral(" %1 |").arg(cell(static_cast<Row>(r), col).replace(
                QLatin1Char('|'), QStringLiteral("\\|")));
        out << line;
    }
    if (!chartFile.isEmpty()) out << QString() << QStringLiteral("![after / before](%1)").arg(chartFile);
    if (!c.apply.notes.empty()) {
        out << QString() << tr("Notes:");
        for (const std::string& n : c.apply.notes) out << QStringLiteral("- %1").arg(qs(n));
    }
    int skipped = 0;
    for (const algo::ScopeEntry& e : c.apply.scope) skipped += !e.included;
    if (skipped > 0) {
        out << QString() << tr("Skipped nodes:");
        for (const algo::ScopeEntry& e : c.apply.scope)
            if (!e.included)
                out << QStringLiteral("- %1 (%2): %3").arg(qs(e.name), qs(e.op), qs(e.reason));
    }
    if (!c.recipePath.empty())
        out << QString()
            << tr("Reproduce: `whittle-cli compress %1 --recipe %2 -o %3`")
                   .arg(m_beforeName, qs(c.recipePath.string()), m_outputPath);
    if (!c.recipeJson.empty())
        out << QString() << tr("Recipe:") << QString() << QStringLiteral("```json")
            << qs(c.recipeJson).trimmed() << QStringLiteral("```");
    return out.join(QLatin1Char('\n')) + QLatin1Char('\n');
}

QString SummaryDock::reportHtml() const {
    if (!m_result) return {};
    const algo::CompressResult& c = *m_result;
    QString html = QStringLiteral(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%1</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
        "td{text-align:right}th{text-align:left}</style></head><body>\n")
                       .arg(tr("Compression report").toHtmlEscaped());
    html += QStringLiteral("<h1>%1 → %2</h1>\n")
                .arg(m_beforeName.toHtmlEscaped(), QFileInfo(m_outputPath).fileName().toHtmlEscaped());
    html += QStringLiteral("<p>%1</p>\n")
                .arg(tr("Algorithm %1, %2 node(s) changed, %3 s.")
                         .arg(qs(c.algorithm))
                         .arg(c.apply.changed())
                         .arg(c.seconds, 0, 'f', 1)
                         .toHtmlEscaped());
    html += QStringLiteral("<table><tr><th></th><th>%1</th><th>%2</th><th>%3</th></tr>\n")
                .arg(tr("before"), tr("after"), tr("change"));
    for (int r = 0; r < kRowCount; ++r) {
        html += QStringLiteral("<tr><th>%1</th>").arg(tr(rowName(static_cast<Row>(r))).toHtmlEscaped());
        for (int col = 0; col < 3; ++col)
            html += QStringLiteral("<td>%1</td>").arg(cell(static_cast<Row>(r), col).toHtmlEscaped());
        html += QStringLiteral("</tr>\n");
    }
    html += QStringLiteral("</table>\n<p><img alt=\"after / before\" src=\"data:image/png;base64,%1\"></p>\n")
                .arg(QString::fromLatin1(chartPng().toBase64()));
    if (!c.recipeJson.empty())
        html += QStringLiteral("<h2>%1</h2><pre>%2</pre>\n")
                    .arg(tr("Recipe"), qs(c.recipeJson).toHtmlEscaped());
    return html + QStringLiteral("</body></html>\n");
}

bool SummaryDock::exportReportTo(const QString& path, QString* errorText) {
    auto fail = [&](const std::string& why) {
        if (errorText) *errorText = qs(why);
        return false;
    };
    if (!m_result) return fail("nothing to report: run an algorithm first");
    const QFileInfo info(path);
    const QString suffix = info.suffix().toLower();
    if (suffix == QLatin1String("html") || suffix == QLatin1String("htm")) {
        const Status s = util::writeAtomically(path.toStdString(), reportHtml().toStdString());
        return s.isOk() ? true : fail(s.message());
    }
    const QString chartName = info.completeBaseName() + QStringLiteral("-chart.png");
    const QByteArray png = chartPng();
    Status s = util::writeAtomically(info.dir().filePath(chartName).toStdString(),
                                     std::string(png.constData(), static_cast<std::size_t>(png.size())));
    if (!s.isOk()) return fail(s.message());
    s = util::writeAtomically(path.toStdString(), reportMarkdown(chartName).toStdString());
    return s.isOk() ? true : fail(s.message());
}

void SummaryDock::exportReport() {
    if (!m_result) return;
    const QFileInfo out(m_outputPath);
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Export Report"), out.dir().filePath(out.completeBaseName() + QStringLiteral("-report.md")),
        tr("Markdown (*.md);;HTML (*.html)"));
    if (path.isEmpty()) return;
    QString why;
    if (!exportReportTo(path, &why))
        m_title->setText(tr("Report not written: %1").arg(why));
}

}  // namespace wh::widgets
