#include "widgets/sensitivity_dock.h"

#include <algorithm>
#include <cmath>

#include <QBarCategoryAxis>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QHorizontalBarSeries>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QValueAxis>
#include <QVBoxLayout>

#include "widgets/algorithm_dock.h"
#include "widgets/chart_util.h"
#include "widgets/document.h"
#include "widgets/format.h"
#include "widgets/job_runner.h"

namespace wh::widgets {

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

enum Column { kLayer = 0, kOp, kAccuracy, kChange, kSqnr, kColumns };

// A numeric cell that sorts by value.
QTableWidgetItem* numberItem(double value, const QString& text) {
    auto* item = new QTableWidgetItem(text);
    item->setData(Qt::UserRole, value);
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return item;
}

}  // namespace

SensitivityDock::SensitivityDock(JobRunner* runner, AlgorithmDock* algorithm, QWidget* parent)
    : QDockWidget(tr("Sensitivity"), parent), m_runner(runner), m_algorithm(algorithm) {
    setObjectName(QStringLiteral("SensitivityDock"));
    auto* panel = new QWidget(this);

    m_measure = new QPushButton(tr("Measure"), panel);
    m_measure->setObjectName(QStringLiteral("SensitivityMeasure"));
    m_measure->setToolTip(tr("Compress each layer of the Algorithm dock's scope alone with its "
                             "recipe, the rest float, and measure what it costs (F7)"));
    m_evalLimit = new QSpinBox(panel);
    m_evalLimit->setObjectName(QStringLiteral("SensitivityEvalLimit"));
    m_evalLimit->setRange(0, 1000000);
    m_evalLimit->setValue(1000);
    m_evalLimit->setSpecialValueText(tr("all"));
    m_evalLimit->setToolTip(tr("Test samples per accuracy (the first N of the test split)"));
    m_statusLabel = new QLabel(panel);
    m_statusLabel->setObjectName(QStringLiteral("SensitivityStatus"));
    m_statusLabel->setWordWrap(true);
    m_statusLabel->setContentsMargins(4, 0, 4, 0);

    m_table = new QTableWidget(0, kColumns, panel);
    m_table->setObjectName(QStringLiteral("SensitivityTable"));
    m_table->setHorizontalHeaderLabels(
        {tr("Layer"), tr("Op"), tr("Accuracy"), tr("Change (pt)"), tr("Output SQNR (dB)")});
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setAlternatingRowColors(true);
    m_table->setTextElideMode(Qt::ElideMiddle);
    m_table->verticalHeader()->hide();
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 6);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setColumnWidth(kLayer, 240);
    m_table->setColumnWidth(kOp, 80);
    m_table->setColumnWidth(kAccuracy, 80);
    m_table->setColumnWidth(kChange, 90);

    m_chart = new QChart;
    m_chart->setAnimationOptions(QChart::NoAnimation);
    m_chart->setMargins(QMargins(2, 2, 2, 2));
    m_chart->legend()->setVisible(false);
    m_chartView = new QChartView(m_chart, panel);
    m_chartView->setObjectName(QStringLiteral("SensitivityChart"));
    m_chartView->setRenderHint(QPainter::Antialiasing);
    m_chartView->setMinimumWidth(260);

    m_excludeCount = new QSpinBox(panel);
    m_excludeCount->setObjectName(QStringLiteral("SensitivityExcludeCount"));
    m_excludeCount->setRange(1, 1000);
    m_excludeCount->setValue(1);
    m_exclude = new QPushButton(tr("Exclude from the Recipe"), panel);
    m_exclude->setObjectName(QStringLiteral("SensitivityExclude"));
    m_exclude->setToolTip(tr("Add the most sensitive layers to the Algorithm dock's exclude list: "
                             "the next run leaves them float"));

    auto* top = new QHBoxLayout;
    top->setContentsMargins(4, 2, 4, 0);
    auto* samplesLabel = new QLabel(tr("Test &samples"), panel);
    samplesLabel->setBuddy(m_evalLimit);
    top->addWidget(samplesLabel);
    top->addWidget(m_evalLimit);
    top->addWidget(m_measure);
    top->addSpacing(16);
    auto* excludeLabel = new QLabel(tr("Most sensitive &k"), panel);
    excludeLabel->setBuddy(m_excludeCount);
    top->addWidget(excludeLabel);
    top->addWidget(m_excludeCount);
    top->addWidget(m_exclude);
    top->addStretch(1);

    QSplitter* split = tableBesideChart(m_table, m_chartView, panel);

    auto* layout = new QVBoxLayout(panel);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    layout->addLayout(top);
    layout->addWidget(m_statusLabel);
    layout->addWidget(split, 1);
    setWidget(panel);

    connect(m_measure, &QPushButton::clicked, this, [this] {
        if (isMeasuring())
            m_job->cancel();
        else
            measure();
    });
    connect(m_exclude, &QPushButton::clicked, this, &SensitivityDock::excludeMostSensitive);
    connect(m_table, &QTableWidget::cellClicked, this, [this](int row, int) {
        if (QTableWidgetItem* item = m_table->item(row, kLayer)) requestNode(item->text());
    });
    display(nullptr);
}

SensitivityDock::~SensitivityDock() {
    if (m_job) m_job->cancel();
}

void SensitivityDock::setDocument(Document* doc) {
    if (doc == m_doc) return;
    if (m_job) m_job->cancel();
    m_doc = doc;
    m_status.clear();
    display(nullptr);
}

void SensitivityDock::setEvalLimit(int samples) { m_evalLimit->setValue(samples); }
void SensitivityDock::setExcludeCount(int k) { m_excludeCount->setValue(k); }

bool SensitivityDock::isMeasuring() const { return m_job && m_job->isRunning(); }

QString SensitivityDock::statusText() const { return m_statusLabel->text(); }

void SensitivityDock::measure() {
    if (!m_doc) return;
    if (m_job) m_job->cancel();
    Expected<algo::Recipe> recipe = m_algorithm->recipe();
    if (!recipe) {
        m_status = tr("The Algorithm dock's recipe: %1").arg(qs(recipe.error().message()));
        display(m_report);
        emit measured(false, m_status);
        return;
    }
    algo::SensitivityOptions o;
    o.evalLimit = m_evalLimit->value();
    Document::SnapshotTask snapshotTask = m_doc->snapshotTask();
    const QString name =
        m_doc->filePath().isEmpty() ? tr("Untitled") : QFileInfo(m_doc->filePath()).fileName();
    using Result = std::shared_ptr<const algo::SensitivityReport>;
    Job* job = m_runner->run(
        tr("Sensitivity of %1 to %2").arg(name, qs(recipe->algorithm->name)),
        [snapshotTask = std::move(snapshotTask), r = *recipe,
         o](jobs::JobContext& ctx) mutable -> Expected<Result> {
            ctx.setProgress(0.0, "copying");
            std::shared_ptr<const ir::Model> snapshot = snapshotTask();
            if (!snapshot) return error(StatusCode::kCancelled, "the model changed meanwhile");
            o.job = &ctx;
            WH_ASSIGN_OR_RETURN(algo::SensitivityReport report,
                                algo::layerSensitivity(*snapshot, r, o));
            return std::make_shared<const algo::SensitivityReport>(std::move(report));
        },
        JobRunner::Lane::kEngine);
    m_job = job;
    m_status = tr("Measuring… (compressing one layer at a time; progress in the Jobs dock)");
    Document* doc = m_doc;
    connect(job, &Job::finished, this, [this, job, doc] {
        Result* result = job->result<Result>();
        if (!result || doc != m_doc) return;
        m_status.clear();
        display(*result);
        job->releaseResult();
        emit measured(true, {});
    });
    connect(job, &Job::failed, this, [this, doc](const Status& status) {
        if (doc != m_doc) return;
        m_status = tr("Measuring failed: %1").arg(qs(status.message()));
        display(m_report);
        emit measured(false, m_status);
    });
    connect(job, &Job::cancelled, this, [this, doc] {
        if (doc != m_doc) return;
        m_status = tr("Measuring cancelled.");
        display(m_report);
        emit measured(false, m_status);
    });
    connect(job, &Job::ended, this, [this] { updateButtons(); });
    display(m_report);
}

void SensitivityDock::display(std::shared_ptr<const algo::SensitivityReport> report) {
    m_report = std::move(report);
    m_table->setSortingEnabled(false);
    m_table->setRowCount(0);
    if (m_report) {
        const auto& layers = m_report->layers;
        m_table->setRowCount(static_cast<int>(layers.size()));
        for (std::size_t i = 0; i < layers.size(); ++i) {
            const algo::LayerSensitivity& l = layers[i];
            const int row = static_cast<int>(i);
            m_table->setItem(row, kLayer, new QTableWidgetItem(qs(l.node)));
            m_table->setItem(row, kOp, new QTableWidgetItem(qs(l.op)));
            m_table->setItem(row, kAccuracy,
                             numberItem(l.accuracy, QString::number(l.accuracy * 100, 'f', 2) +
                                                        QStringLiteral(" %")));
            const double change = -l.accuracyDrop * 100;
            m_table->setItem(row, kChange,
                             numberItem(change, QStringLiteral("%1%2").arg(
                                                    change > 0 ? QStringLiteral("+") : QString(),
                                                    QString::number(change, 'f', 2))));
            m_table->setItem(row, kSqnr,
                             numberItem(l.sqnrDb, std::isfinite(l.sqnrDb)
                                                      ? QString::number(l.sqnrDb, 'f', 1)
                                                      : tr("exact")));
        }
    }
    if (!m_status.isEmpty())
        m_statusLabel->setText(m_status);
    else if (!m_report)
        m_statusLabel->setText(
            m_doc ? tr("Measure compresses each layer of the Algorithm dock's scope alone, with its "
                       "recipe, and shows what each costs: the layers at the top are the ones to "
                       "leave float.")
                  : tr("Open a model to measure its layers."));
    else
        m_statusLabel->setText(
            tr("%1, one layer at a time: float accuracy %2 % on %3 test samples; %4 layers in "
               "%5 s. Click a layer to find it on the graph.")
                .arg(qs(m_report->algorithm))
                .arg(QString::number(m_report->baselineAccuracy * 100, 'f', 2))
                .arg(formatCount(static_cast<qlonglong>(m_report->samples)))
                .arg(m_report->layers.size())
                .arg(QString::number(m_report->seconds, 'f', 1)));
    rebuildChart();
    updateButtons();
}

void SensitivityDock::rebuildChart() {
    clearChart(m_chart);
    if (!m_report || m_report->layers.empty()) {
        m_chart->setTitle(QString());
        return;
    }
    const auto& layers = m_report->layers;
    const int n = std::min<int>(kChartBars, static_cast<int>(layers.size()));
    auto* set = new QBarSet(tr("accuracy lost (pt)"));
    QStringList categories;
    QStringList names;
    double lo = 0, hi = 0;
    for (int i = n - 1; i >= 0; --i) {  // the most sensitive at the top
        const algo::LayerSensitivity& l = layers[static_cast<std::size_t>(i)];
        QString label = elideMiddle(shortNodeLabel(l.node, l.op), 24);
        if (categories.contains(label)) label += QStringLiteral(" #%1").arg(i + 1);
        categories << label;
        names << qs(l.node);
        const double drop = l.accuracyDrop * 100;
        *set << drop;
        lo = std::min(lo, drop);
        hi = std::max(hi, drop);
    }
    auto* series = new QHorizontalBarSeries;
    series->append(set);
    series->setBarWidth(0.8);
    m_chart->addSeries(series);
    auto* y = new QBarCategoryAxis;
    y->append(categories);
    y->setTruncateLabels(false);
    auto* x = new QValueAxis;
    const double span = std::max(hi - lo, 0.1);
    x->setRange(lo < 0 ? lo - 0.05 * span : 0.0, hi + 0.05 * span);
    x->applyNiceNumbers();
    x->setLabelFormat(QStringLiteral("%.2f"));
    x->setTitleText(tr("accuracy lost with only this layer compressed (points)"));
    m_chart->addAxis(y, Qt::AlignLeft);
    m_chart->addAxis(x, Qt::AlignBottom);
    series->attachAxis(y);
    series->attachAxis(x);
    m_chart->setTitle(n < static_cast<int>(layers.size())
                          ? tr("The %1 most sensitive of %2 layers").arg(n).arg(layers.size())
                          : tr("%1 layers, most sensitive at the top").arg(n));
    connect(series, &QHorizontalBarSeries::clicked, this, [this, names](int index, QBarSet*) {
        if (index >= 0 && index < names.size()) requestNode(names[index]);
    });
}

void SensitivityDock::requestNode(const QString& name) {
    if (!m_doc) return;
    const std::string n = name.toStdString();
    for (const ir::Node* node : m_doc->graph().nodes())
        if (node->name == n) {
            emit nodeRequested(node->id());
            return;
        }
}

void SensitivityDock::excludeMostSensitive() {
    if (!m_report) return;
    QStringList names;
    const int k = std::min<int>(m_excludeCount->value(), static_cast<int>(m_report->layers.size()));
    for (int i = 0; i < k; ++i) names << qs(m_report->layers[static_cast<std::size_t>(i)].node);
    m_algorithm->excludeNodes(names);
    m_statusLabel->setText(tr("Excluded in the Algorithm dock's recipe (the next run leaves them "
                              "float): %1")
                               .arg(names.join(QStringLiteral(", "))));
    emit excluded(names);
}

void SensitivityDock::updateButtons() {
    const bool running = isMeasuring();
    m_measure->setText(running ? tr("Cancel") : tr("Measure"));
    m_measure->setEnabled(m_doc != nullptr);
    m_exclude->setEnabled(!running && m_report && !m_report->layers.empty());
    m_excludeCount->setEnabled(m_exclude->isEnabled());
    if (m_report) m_excludeCount->setMaximum(std::max<int>(1, static_cast<int>(m_report->layers.size())));
}

}  // namespace wh::widgets
