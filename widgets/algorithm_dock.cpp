#include "widgets/algorithm_dock.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <QApplication>
#include <QChart>
#include <QChartView>
#include <QCheckBox>
#include <QClipboard>
#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLineSeries>
#include <QPushButton>
#include <QRadioButton>
#include <QRegularExpression>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QTimer>
#include <QValueAxis>
#include <QVBoxLayout>

#include "core/engine/benchmark.h"
#include "core/rewrite/replace_graph.h"
#include "core/util/atomic_file.h"
#include "widgets/document.h"
#include "widgets/format.h"
#include "widgets/job_runner.h"
#include "widgets/param_form.h"
#include "widgets/selection_model.h"

namespace wh::widgets {

namespace {

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}

/// 'it''s' for a POSIX shell.
QString shellQuote(const QString& s) {
    QString out = s;
    out.replace(QLatin1Char('\''), QStringLiteral("'\\''"));
    return QLatin1Char('\'') + out + QLatin1Char('\'');
}

QString percent(double fraction) {
    return QLocale().toString(100.0 * fraction, 'f', 2) + QStringLiteral(" %");
}

}  // namespace

/// Training figures handed from the job's thread to the GUI thread (drained by a timer).
struct AlgorithmDock::Feed : train::Callback {
    struct Point {
        int64_t step;
        double loss, lr;
    };
    struct Batch {
        std::vector<Point> steps;
        std::vector<EpochPoint> epochs;
        std::vector<MetricPoint> metrics;
    };
    std::mutex mutex;
    Batch pending;       // not drained yet
    int64_t total = 0;   // step points ever received

    Status onStepEnd(train::Trainer&, const train::StepInfo& s) override {
        std::lock_guard lock(mutex);
        pending.steps.push_back({s.step, s.loss, s.lr});
        ++total;
        return Status::ok();
    }
    Status onEpochEnd(train::Trainer&, const train::EpochMetrics& m) override {
        std::lock_guard lock(mutex);
        pending.epochs.push_back({m.epoch, m.testAccuracy});
        return Status::ok();
    }
    Status onMetric(train::Trainer&, const train::Metric& m) override {
        std::lock_guard lock(mutex);
        pending.metrics.push_back({m.name, m.epoch, m.value});
        return Status::ok();
    }
    Batch take() {
        std::lock_guard lock(mutex);
        return std::exchange(pending, {});
    }
};

AlgorithmDock::AlgorithmDock(JobRunner* runner, const algo::Registry* registry, QWidget* parent)
    : QDockWidget(tr("Algorithm"), parent), m_runner(runner), m_registry(registry) {
    setObjectName(QStringLiteral("AlgorithmDock"));
    auto* panel = new QWidget;
    auto* layout = new QVBoxLayout(panel);
    layout->setContentsMargins(6, 4, 6, 4);

    m_algorithms = new QComboBox(panel);
    m_algorithms->setObjectName(QStringLiteral("AlgorithmCombo"));
    m_algorithms->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_algorithms->setMinimumContentsLength(16);
    m_description = new QLabel(panel);
    m_description->setWordWrap(true);
    m_description->setObjectName(QStringLiteral("AlgorithmDescription"));
    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Algorithm"), panel));
    top->addWidget(m_algorithms, 1);
    layout->addLayout(top);
    layout->addWidget(m_description);

    auto* paramsBox = new QGroupBox(tr("Parameters"), panel);
    auto* paramsLayout = new QVBoxLayout(paramsBox);
    m_form = new ParamForm(paramsBox);
    m_resetButton = new QPushButton(tr("Reset to Defaults"), paramsBox);
    paramsLayout->addWidget(m_form);
    paramsLayout->addWidget(m_resetButton, 0, Qt::AlignRight);
    layout->addWidget(paramsBox);

    auto* scopeBox = new QGroupBox(tr("Scope"), panel);
    auto* scopeLayout = new QVBoxLayout(scopeBox);
    m_wholeModel = new QRadioButton(tr("Whole model"), scopeBox);
    m_selectionOnly = new QRadioButton(tr("Selected nodes"), scopeBox);
    m_wholeModel->setChecked(true);
    auto* radios = new QHBoxLayout;
    radios->addWidget(m_wholeModel);
    radios->addWidget(m_selectionOnly);
    radios->addStretch(1);
    m_scope = new QLabel(scopeBox);
    m_scope->setObjectName(QStringLiteral("AlgorithmScope"));
    m_scope->setWordWrap(true);
    scopeLayout->addLayout(radios);
    scopeLayout->addWidget(m_scope);
    m_clearExclusions = new QPushButton(scopeBox);
    m_clearExclusions->setObjectName(QStringLiteral("AlgorithmClearExclusions"));
    m_clearExclusions->setToolTip(tr("Compress the excluded nodes again (the recipe's "
                                     "select.exclude_nodes)"));
    m_clearExclusions->hide();
    connect(m_clearExclusions, &QPushButton::clicked, this, &AlgorithmDock::clearExcludedNodes);
    scopeLayout->addWidget(m_clearExclusions, 0, Qt::AlignLeft);
    layout->addWidget(scopeBox);

    auto* dataBox = new QGroupBox(tr("Data and training"), panel);
    auto* dataForm = new QFormLayout(dataBox);
    m_dataset = new QLineEdit(QStringLiteral("fashion-mnist"), dataBox);
    m_dataset->setToolTip(tr("Calibration and training data, and the test split for accuracy: "
                             "fashion-mnist, mnist or folder:PATH"));
    m_dataDir = new QLineEdit(dataBox);
    m_dataDir->setPlaceholderText(tr("the dataset's default folder"));
    m_shapes = new QLineEdit(dataBox);
    m_shapes->setObjectName(QStringLiteral("AlgorithmShapes"));
    m_shapes->setPlaceholderText(tr("only for inputs with symbolic sizes, e.g. tokens=1,128"));
    m_shapes->setToolTip(tr("Dims of inputs with symbolic sizes: NAME=D0,D1,... separated by "
                            "spaces (the recipe's input_shapes, whittle-cli's --shape)."));
    dataForm->addRow(tr("Dataset"), m_dataset);
    dataForm->addRow(tr("Data folder"), m_dataDir);
    dataForm->addRow(tr("Input shapes"), m_shapes);
    m_trainingBox = new QWidget(dataBox);
    auto* trainForm = new QFormLayout(m_trainingBox);
    trainForm->setContentsMargins(0, 0, 0, 0);
    m_epochs = new QSpinBox(m_trainingBox);
    m_epochs->setRange(1, 10000);
    m_steps = new QSpinBox(m_trainingBox);
    m_steps->setRange(0, 100000000);
    m_steps->setSpecialValueText(tr("whole epochs"));
    m_steps->setToolTip(tr("> 0: train this many steps instead of whole epochs"));
    m_batch = new QSpinBox(m_trainingBox);
    m_batch->setRange(1, 65536);
    m_lr = new QLineEdit(m_trainingBox);
    m_lr->setToolTip(tr("Initial learning rate"));
    trainForm->addRow(tr("Epochs"), m_epochs);
    trainForm->addRow(tr("Steps"), m_steps);
    trainForm->addRow(tr("Batch"), m_batch);
    trainForm->addRow(tr("Learning rate"), m_lr);
    dataForm->addRow(m_trainingBox);
    m_evaluate = new QCheckBox(tr("Accuracy before and after"), dataBox);
    m_evaluate->setToolTip(tr("Evaluate the model before and after on the dataset's test split"));
    m_evaluate->setChecked(true);
    m_evalLimit = new QSpinBox(dataBox);
    m_evalLimit->setRange(0, 100000000);
    m_evalLimit->setSpecialValueText(tr("all"));
    m_evalLimit->setToolTip(tr("Evaluate on the first N test samples only"));
    dataForm->addRow(m_evaluate);
    dataForm->addRow(tr("Test samples"), m_evalLimit);
    m_output = new QLineEdit(dataBox);
    m_output->setObjectName(QStringLiteral("AlgorithmOutput"));
    auto* browse = new QPushButton(tr("…"), dataBox);
    browse->setMaximumWidth(browse->fontMetrics().horizontalAdvance(QStringLiteral("……")) + 16);
    browse->setToolTip(tr("Choose where to write the compressed model"));
    auto* outRow = new QHBoxLayout;
    outRow->addWidget(m_output, 1);
    outRow->addWidget(browse);
    dataForm->addRow(tr("Output"), outRow);
    layout->addWidget(dataBox);

    // What runs and what it did stay in sight below the (scrolled) settings.
    auto* runPanel = new QWidget;
    auto* runLayout = new QVBoxLayout(runPanel);
    runLayout->setContentsMargins(6, 2, 6, 4);
    m_runButton = new QPushButton(tr("Run"), runPanel);
    m_runButton->setObjectName(QStringLiteral("AlgorithmRun"));
    m_runButton->setToolTip(tr("Apply, train, convert, export and verify, in the background "
                               "(Ctrl+R)"));
    auto* save = new QPushButton(tr("Save Recipe…"), runPanel);
    auto* load = new QPushButton(tr("Load Recipe…"), runPanel);
    auto* copy = new QPushButton(tr("Copy Command"), runPanel);
    copy->setToolTip(tr("Copy the headless equivalent (the recipe and the whittle-cli compress "
                        "line) to the clipboard"));
    auto* recipeButtons = new QHBoxLayout;  // a row of their own: the dock is narrow
    recipeButtons->addWidget(save);
    recipeButtons->addWidget(load);
    recipeButtons->addWidget(copy);
    recipeButtons->addStretch(1);
    runLayout->addLayout(recipeButtons);
    auto* runRow = new QHBoxLayout;
    runRow->addWidget(m_runButton);
    runRow->addStretch(1);
    runLayout->addLayout(runRow);
    m_resultLabel = new QLabel(runPanel);
    m_resultLabel->setObjectName(QStringLiteral("AlgorithmResult"));
    m_resultLabel->setWordWrap(true);
    m_resultLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_openButton = new QPushButton(tr("Open Result"), runPanel);
    m_openButton->setToolTip(tr("Open the compressed model in the studio (the original stays "
                                "as it is on disk)"));
    m_openButton->hide();
    m_applyButton = new QPushButton(tr("Apply to Model"), runPanel);
    m_applyButton->setObjectName(QStringLiteral("AlgorithmApply"));
    m_applyButton->setToolTip(tr("Make the compressed model the open document's next revision "
                                 "(one step: Undo, Ctrl+Z, brings the original back)"));
    m_applyButton->hide();
    runLayout->addWidget(m_resultLabel);
    auto* resultButtons = new QHBoxLayout;
    m_compareButton = new QPushButton(tr("Compare"), runPanel);
    m_compareButton->setObjectName(QStringLiteral("AlgorithmCompare"));
    m_compareButton->setToolTip(tr("The original and the compressed graph side by side, what "
                                   "changed marked (Tools > Compare Float and Compressed, F8)"));
    m_compareButton->hide();
    connect(m_compareButton, &QPushButton::clicked, this, &AlgorithmDock::compareRequested);
    resultButtons->addWidget(m_openButton);
    resultButtons->addWidget(m_applyButton);
    resultButtons->addWidget(m_compareButton);
    resultButtons->addStretch(1);
    runLayout->addLayout(resultButtons);

    m_chart = new QChart;
    m_chart->setAnimationOptions(QChart::NoAnimation);
    m_chart->setMargins(QMargins(2, 2, 2, 2));
    m_chart->legend()->setAlignment(Qt::AlignBottom);
    m_loss = new QLineSeries;
    m_loss->setName(tr("loss"));
    m_lrSeries = new QLineSeries;
    m_lrSeries->setName(tr("learning rate"));
    m_chart->addSeries(m_loss);
    m_chart->addSeries(m_lrSeries);
    m_stepAxis = new QValueAxis;
    m_stepAxis->setLabelFormat(QStringLiteral("%d"));
    m_lossAxis = new QValueAxis;
    m_lrAxis = new QValueAxis;
    m_lrAxis->setLabelFormat(QStringLiteral("%.2g"));
    for (QValueAxis* axis : {m_stepAxis, m_lossAxis, m_lrAxis}) axis->setTruncateLabels(false);
    m_chart->addAxis(m_stepAxis, Qt::AlignBottom);
    m_chart->addAxis(m_lossAxis, Qt::AlignLeft);
    m_chart->addAxis(m_lrAxis, Qt::AlignRight);
    m_loss->attachAxis(m_stepAxis);
    m_loss->attachAxis(m_lossAxis);
    m_lrSeries->attachAxis(m_stepAxis);
    m_lrSeries->attachAxis(m_lrAxis);
    auto* chartView = m_chartView = new QChartView(m_chart, runPanel);  // owns the chart
    chartView->setObjectName(QStringLiteral("AlgorithmChart"));
    chartView->setRenderHint(QPainter::Antialiasing);
    chartView->setMinimumSize(120, 160);
    runLayout->addWidget(chartView, 100);

    // Per epoch: the test accuracy (when the run evaluates) and the algorithm's own figures
    // (SLB's temperature), each on its own axis.
    m_epochChart = new QChart;
    m_epochChart->setAnimationOptions(QChart::NoAnimation);
    m_epochChart->setMargins(QMargins(2, 2, 2, 2));
    m_epochChart->legend()->setAlignment(Qt::AlignBottom);
    m_accuracy = new QLineSeries;
    m_accuracy->setName(tr("test accuracy %"));
    m_accuracy->setPointsVisible(true);
    m_epochChart->addSeries(m_accuracy);
    m_epochAxis = new QValueAxis;
    m_accuracyAxis = new QValueAxis;
    m_accuracyAxis->setLabelFormat(QStringLiteral("%.3g"));
    m_metricAxis = new QValueAxis;
    m_metricAxis->setLabelFormat(QStringLiteral("%.3g"));
    for (QValueAxis* axis : {m_epochAxis, m_accuracyAxis, m_metricAxis})
        axis->setTruncateLabels(false);
    m_epochAxis->setLabelFormat(QStringLiteral("%d"));
    m_epochChart->addAxis(m_epochAxis, Qt::AlignBottom);
    m_epochChart->addAxis(m_accuracyAxis, Qt::AlignLeft);
    m_epochChart->addAxis(m_metricAxis, Qt::AlignRight);
    m_accuracy->attachAxis(m_epochAxis);
    m_accuracy->attachAxis(m_accuracyAxis);
    m_epochChartView = new QChartView(m_epochChart, runPanel);  // owns the chart
    m_epochChartView->setObjectName(QStringLiteral("AlgorithmEpochChart"));
    m_epochChartView->setRenderHint(QPainter::Antialiasing);
    m_epochChartView->setMinimumSize(120, 170);
    runLayout->addWidget(m_epochChartView, 70);
    runLayout->addStretch(1);  // takes the room when the charts are hidden (no training)
    resetChart();

    auto* scroll = m_scroll = new QScrollArea;
    scroll->setWidget(panel);
    scroll->setWidgetResizable(true);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);  // the form follows the width
    scroll->setFrameShape(QFrame::NoFrame);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(scroll);
    split->addWidget(runPanel);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    split->setChildrenCollapsible(false);
    split->setSizes({400, 400});
    setWidget(split);

    m_poll = new QTimer(this);
    m_poll->setInterval(200);
    connect(m_poll, &QTimer::timeout, this, &AlgorithmDock::drainFeed);

    connect(m_algorithms, &QComboBox::currentIndexChanged, this,
            &AlgorithmDock::onAlgorithmChanged);
    connect(m_resetButton, &QPushButton::clicked, m_form, &ParamForm::resetToDefaults);
    connect(m_form, &ParamForm::changed, this, &AlgorithmDock::updateButtons);
    connect(m_wholeModel, &QRadioButton::toggled, this, &AlgorithmDock::updateScope);
    connect(m_runButton, &QPushButton::clicked, this, [this] { isRunning() ? cancel() : run(); });
    connect(save, &QPushButton::clicked, this, &AlgorithmDock::saveRecipe);
    connect(load, &QPushButton::clicked, this, &AlgorithmDock::loadRecipe);
    connect(copy, &QPushButton::clicked, this, &AlgorithmDock::copyCommand);
    connect(m_openButton, &QPushButton::clicked, this, [this] {
        if (m_result) emit openRequested(outputPath());
    });
    connect(m_applyButton, &QPushButton::clicked, this, [this] {
        QString why;
        if (!applyResult(&why)) setResultText(m_resultLabel->text() + QStringLiteral("\n") + why);
    });
    connect(m_output, &QLineEdit::textEdited, this, [this] { m_outputEdited = true; });
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getSaveFileName(
            this, tr("Write the Compressed Model to"), outputPath(), tr("ONNX models (*.onnx)"));
        if (!path.isEmpty()) setOutputPath(path);
    });
    refreshAlgorithms();
}

AlgorithmDock::~AlgorithmDock() {
    if (m_job) m_job->cancel();
}

void AlgorithmDock::refreshAlgorithms() {
    const QString current = algorithmName();
    QSignalBlocker block(m_algorithms);
    m_algorithms->clear();
    for (const std::string& name : m_registry->names()) {
        const algo::AlgorithmInfo* info = m_registry->find(name);
        m_algorithms->addItem(QStringLiteral("%1 — %2").arg(qs(name), qs(info->title)), qs(name));
        m_algorithms->setItemData(m_algorithms->count() - 1, qs(info->description),
                                  Qt::ToolTipRole);
    }
    // Post-training quantization first: the common first step, and it needs no training.
    int index = m_algorithms->findData(current);
    if (index < 0) index = m_algorithms->findData(QStringLiteral("ptq"));
    m_algorithms->setCurrentIndex(std::max(index, 0));
    block.unblock();
    onAlgorithmChanged();
}

bool AlgorithmDock::selectAlgorithm(const QString& name) {
    const int index = m_algorithms->findData(name);
    if (index < 0) return false;
    m_algorithms->setCurrentIndex(index);
    return true;
}

QString AlgorithmDock::algorithmName() const {
    return m_algorithms->currentData().toString();
}

const algo::AlgorithmInfo* AlgorithmDock::currentInfo() const {
    return m_registry->find(algorithmName().toStdString());
}

void AlgorithmDock::onAlgorithmChanged() {
    const algo::AlgorithmInfo* info = currentInfo();
    if (!info) {
        m_description->setText(tr("No algorithm is registered: the plugins did not load (see the "
                                  "Issues dock)."));
        m_form->setSpecs({});
        m_trainingBox->hide();
        updateScope();
        updateButtons();
        return;
    }
    QString text = qs(info->description);
    if (info->training.trains)
        text += tr(" Trains %1 epoch(s) by default.").arg(info->training.epochs);
    m_description->setText(text);
    m_form->setSpecs(info->params);
    if (m_base.algorithm != info) m_base = algo::defaultRecipe(*info);
    const algo::RecipeTraining t = m_base.train.value_or(algo::RecipeTraining{});
    setTraining(t.epochs, static_cast<int>(std::max<int64_t>(t.steps, 0)),
                static_cast<int>(t.batch), t.lr);
    const bool trains = info->training.trains || m_base.train.has_value();
    m_trainingBox->setVisible(trains);
    m_chartView->setVisible(trains);  // post-training algorithms have no curves
    m_epochChartView->setVisible(trains);
    if (!m_outputEdited) m_output->setText(suggestedOutput());
    updateScope();
    updateButtons();
}

void AlgorithmDock::setDocument(Document* doc) {
    if (doc == m_doc) return;
    if (m_doc) {
        m_doc->disconnect(this);
        m_doc->selection()->disconnect(this);
    }
    m_doc = doc;
    m_outputEdited = false;
    m_output->setText(suggestedOutput());
    if (m_doc) {
        connect(m_doc, &Document::changed, this, &AlgorithmDock::updateScope);
        connect(m_doc->selection(), &SelectionModel::changed, this, &AlgorithmDock::updateScope);
    }
    updateScope();
    updateButtons();
}

void AlgorithmDock::setSelectionScope(bool selectionOnly) {
    (selectionOnly ? m_selectionOnly : m_wholeModel)->setChecked(true);
    updateScope();
}

void AlgorithmDock::setDataset(const QString& name, const QString& dataDir) {
    m_dataset->setText(name);
    m_dataDir->setText(dataDir);
}

void AlgorithmDock::setTraining(int epochs, int steps, int batch, double lr) {
    m_epochs->setValue(epochs);
    m_steps->setValue(steps);
    m_batch->setValue(batch);
    m_lr->setText(QString::number(lr, 'g', 8));
}

void AlgorithmDock::setEvaluate(bool evaluate, int limit) {
    m_evaluate->setChecked(evaluate);
    m_evalLimit->setValue(limit);
}

void AlgorithmDock::setOutputPath(const QString& path) {
    m_output->setText(path);
    m_outputEdited = true;
}

QString AlgorithmDock::outputPath() const {
    return m_output->text().trimmed();
}

QString AlgorithmDock::suggestedOutput() const {
    const QString algorithm = algorithmName().isEmpty() ? QStringLiteral("compressed")
                                                        : algorithmName();
    if (!m_doc || m_doc->filePath().isEmpty())
        return QDir::home().filePath(QStringLiteral("model-%1.onnx").arg(algorithm));
    const QFileInfo in(m_doc->filePath());
    return in.dir().filePath(QStringLiteral("%1-%2.onnx").arg(in.completeBaseName(), algorithm));
}

bool AlgorithmDock::applyResult(QString* why) {
    auto fail = [&](const QString& text) {
        if (why) *why = text;
        return false;
    };
    if (!m_result) return fail(tr("No run to apply."));
    if (!m_doc || m_doc != m_runDoc || m_doc->revision() != m_runRevision)
        return fail(tr("Not applied: the model changed since the run (run it again, or Open "
                       "Result)."));
    // The model-wide opset imports are not part of an edit: they must already agree.
    auto imports = [](const ir::Model& m) {
        std::vector<std::pair<std::string, int64_t>> v;
        for (const auto& o : m.opsetImports) v.emplace_back(ir::isDefaultDomain(o.domain) ? "" : o.domain, o.version);
        std::sort(v.begin(), v.end());
        return v;
    };
    if (imports(m_doc->model()) != imports(m_result->model))
        return fail(tr("Not applied: the compressed model needs other opsets than the open one "
                       "(Open Result opens it as it is)."));
    const std::shared_ptr<const algo::CompressResult> result = m_result;
    Status s = m_doc->edit(
        fmt::format("Apply {} ({} nodes changed)", result->algorithm, result->apply.changed()),
        [result](rewrite::Rewriter& rw) { return rewrite::replaceGraph(rw, *result->model.graph); });
    if (!s.isOk()) return fail(tr("Not applied: %1").arg(qs(s.message())));
    m_runRevision = 0;  // applied once
    m_applyButton->setEnabled(false);
    return true;
}

void AlgorithmDock::excludeNodes(const QStringList& names) {
    const algo::AlgorithmInfo* info = currentInfo();
    if (info && m_base.algorithm != info) {
        // The exclusions belong to the current algorithm's recipe from now on.
        const algo::Selection keep = m_base.select;
        m_base = algo::defaultRecipe(*info);
        m_base.select = keep;
    }
    std::vector<std::string>& excluded = m_base.select.excludeNodes;
    for (const QString& name : names) {
        const std::string n = name.toStdString();
        if (std::find(excluded.begin(), excluded.end(), n) == excluded.end()) excluded.push_back(n);
    }
    updateScope();
}

void AlgorithmDock::clearExcludedNodes() {
    m_base.select.excludeNodes.clear();
    updateScope();
}

QStringList AlgorithmDock::excludedNodes() const {
    QStringList out;
    for (const std::string& n : m_base.select.excludeNodes) out << qs(n);
    return out;
}

void AlgorithmDock::updateScope() {
    const algo::AlgorithmInfo* info = currentInfo();
    const int excludedCount = static_cast<int>(m_base.select.excludeNodes.size());
    if (m_clearExclusions) {  // null while the constructor builds the form
        m_clearExclusions->setText(tr("Clear %1 Exclusion(s)").arg(excludedCount));
        m_clearExclusions->setVisible(excludedCount > 0);
    }
    const int selected = m_doc ? static_cast<int>(m_doc->selection()->size()) : 0;
    m_selectionOnly->setText(tr("Selected nodes (%1)").arg(selected));
    if (!m_doc || !info) {
        m_scope->setText(m_doc ? QString() : tr("Open a model to compress it."));
        m_scope->setToolTip(QString());
        return;
    }
    algo::Selection selection = m_base.select;
    selection.nodes.clear();
    if (m_selectionOnly->isChecked()) selection.nodeIds = m_doc->selection()->sortedIds();
    if (m_selectionOnly->isChecked() && selection.nodeIds.empty()) {
        m_scope->setText(tr("Nothing is selected: select nodes on the graph, or choose the whole "
                            "model."));
        m_scope->setToolTip(QString());
        updateButtons();
        return;
    }
    const std::vector<algo::ScopeEntry> scope =
        algo::resolveScope(m_doc->graph(), selection, info->supportedOps);
    int changed = 0;
    QStringList skipped;
    for (const algo::ScopeEntry& e : scope) {
        if (e.included)
            ++changed;
        else
            skipped << QStringLiteral("%1 (%2): %3").arg(qs(e.name), qs(e.op), qs(e.reason));
    }
    QString text = tr("Changes %1 node(s)").arg(formatCount(changed));
    if (!skipped.isEmpty()) text += tr("; skips %1 (hover for why)").arg(skipped.size());
    QStringList ops;
    for (const std::string& op : info->supportedOps) ops << qs(op);
    text += tr(". Supported ops: %1.").arg(ops.join(QStringLiteral(", ")));
    m_scope->setText(text);
    constexpr int kMaxListed = 30;
    QStringList tip = skipped.mid(0, kMaxListed);
    if (skipped.size() > kMaxListed) tip << tr("… and %1 more").arg(skipped.size() - kMaxListed);
    m_scope->setToolTip(tip.join(QLatin1Char('\n')));
    updateButtons();
}

QString AlgorithmDock::scopeText() const {
    return m_scope->text();
}

QString AlgorithmDock::scopeDetails() const {
    return m_scope->toolTip();
}

Expected<algo::Recipe> AlgorithmDock::recipe() const {
    const algo::AlgorithmInfo* info = currentInfo();
    if (!info) return error(StatusCode::kUsage, "no algorithm is chosen");
    algo::Recipe r = m_base.algorithm == info ? m_base : algo::defaultRecipe(*info);
    r.algorithm = info;
    WH_ASSIGN_OR_RETURN(r.params, m_form->params());
    r.select.nodeIds.clear();
    r.select.nodes.clear();
    if (m_selectionOnly->isChecked()) {
        if (!m_doc || m_doc->selection()->isEmpty())
            return error(StatusCode::kUsage, "the scope is the selected nodes, and none is selected");
        for (ir::NodeId id : m_doc->selection()->sortedIds()) {
            const ir::Node* node = m_doc->node(id);
            if (!node) continue;  // inside an If/Loop body: algorithms take top-level nodes
            if (node->name.empty())
                return error(StatusCode::kUsage,
                             "a selected {} node has no name: a recipe names its nodes (rename it, "
                             "F2)",
                             node->opType);
            r.select.nodes.push_back(node->name);
        }
    }
    const QString dataset = m_dataset->text().trimmed();
    if (dataset.isEmpty()) return error(StatusCode::kUsage, "no dataset is given");
    r.dataset.name = dataset.toStdString();
    r.dataset.dataDir = m_dataDir->text().trimmed().toStdString();
    std::vector<std::string> specs;
    for (const QString& part : m_shapes->text().split(QRegularExpression(QStringLiteral("[\\s;]+")),
                                                      Qt::SkipEmptyParts))
        specs.push_back(part.toStdString());
    WH_ASSIGN_OR_RETURN(r.inputShapes, engine::parseShapeSpecs(specs, "input shapes: "));
    if (info->training.trains || r.train) {
        algo::RecipeTraining t = r.train.value_or(algo::RecipeTraining{});
        t.epochs = m_epochs->value();
        t.steps = m_steps->value() > 0 ? m_steps->value() : -1;
        t.batch = m_batch->value();
        bool ok = false;
        const double lr = m_lr->text().trimmed().toDouble(&ok);
        if (!ok || !(lr > 0) || !std::isfinite(lr))
            return error(StatusCode::kBadInput, "learning rate '{}' is not a number > 0",
                         m_lr->text().toStdString());
        t.lr = lr;
        r.train = t;
    }
    return r;
}

Expected<std::string> AlgorithmDock::recipeJson() const {
    WH_ASSIGN_OR_RETURN(algo::Recipe r, recipe());
    return algo::recipeToJson(r);
}

Expected<QString> AlgorithmDock::cliCommand() const {
    WH_ASSIGN_OR_RETURN(std::string json, recipeJson());
    if (!m_doc || m_doc->filePath().isEmpty())
        return error(StatusCode::kUsage, "the model has no file yet: save it first");
    const QString out = outputPath();
    if (out.isEmpty()) return error(StatusCode::kUsage, "no output file is given");
    const QFileInfo outInfo(out);
    const QString recipePath =
        outInfo.dir().filePath(outInfo.completeBaseName() + QStringLiteral(".recipe.json"));
    QString command = QStringLiteral("cat > %1 <<'EOF'\n%2\nEOF\n")
                          .arg(shellQuote(recipePath), qs(json).trimmed());
    command += QStringLiteral("whittle-cli compress %1 --recipe %2 -o %3")
                   .arg(shellQuote(m_doc->filePath()), shellQuote(recipePath), shellQuote(out));
    if (m_evaluate->isChecked()) {
        command += QStringLiteral(" --dataset %1").arg(shellQuote(m_dataset->text().trimmed()));
        if (m_evalLimit->value() > 0)
            command += QStringLiteral(" --eval-limit %1").arg(m_evalLimit->value());
    }
    if (!m_dataDir->text().trimmed().isEmpty())
        command += QStringLiteral(" --data-dir %1").arg(shellQuote(m_dataDir->text().trimmed()));
    return command + QLatin1Char('\n');
}

bool AlgorithmDock::saveRecipeTo(const QString& path, QString* errorText) {
    Expected<std::string> json = recipeJson();
    Status s = json ? util::writeAtomically(path.toStdString(), *json + "\n") : json.error();
    if (!s.isOk()) {
        if (errorText) *errorText = qs(s.message());
        return false;
    }
    return true;
}

bool AlgorithmDock::loadRecipeFrom(const QString& path, QString* errorText) {
    auto fail = [&](const QString& why) {
        if (errorText) *errorText = why;
        return false;
    };
    Expected<algo::Recipe> r = algo::loadRecipeFile(path.toStdString(), *m_registry);
    if (!r) return fail(qs(r.error().message()));
    m_base = *r;
    if (!selectAlgorithm(qs(r->algorithm->name))) return fail(tr("unknown algorithm"));
    onAlgorithmChanged();  // same algorithm as before: the combo did not signal
    m_form->setParams(r->params);
    setDataset(qs(r->dataset.name), qs(r->dataset.dataDir));
    QStringList shapes;
    for (const auto& [name, dims] : r->inputShapes) {
        QStringList ds;
        for (int64_t d : dims) ds << QString::number(d);
        shapes << QStringLiteral("%1=%2").arg(qs(name), ds.join(QLatin1Char(',')));
    }
    m_shapes->setText(shapes.join(QLatin1Char(' ')));
    // The recipe's nodes become the selection, so the graph shows what it compresses.
    if (!r->select.nodes.empty() && m_doc) {
        std::vector<ir::NodeId> ids;
        QStringList missing;
        for (const std::string& name : r->select.nodes) {
            bool found = false;
            for (const ir::Node* n : m_doc->graph().nodes())
                if (n->name == name) {
                    ids.push_back(n->id());
                    found = true;
                    break;
                }
            if (!found) missing << qs(name);
        }
        m_doc->selection()->setSelection(ids);
        setSelectionScope(true);
        if (!missing.isEmpty())
            setResultText(tr("The recipe names nodes this model does not have: %1")
                              .arg(missing.join(QStringLiteral(", "))));
    } else {
        setSelectionScope(false);
    }
    m_base.select.nodes.clear();
    return true;
}

void AlgorithmDock::saveRecipe() {
    const QFileInfo out(outputPath());
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Save Recipe"),
        out.dir().filePath(out.completeBaseName() + QStringLiteral(".recipe.json")),
        tr("Recipes (*.json)"));
    if (path.isEmpty()) return;
    QString why;
    setResultText(saveRecipeTo(path, &why) ? tr("Recipe saved to %1").arg(path)
                                           : tr("Recipe not saved: %1").arg(why));
}

void AlgorithmDock::loadRecipe() {
    const QString path = QFileDialog::getOpenFileName(this, tr("Load Recipe"), {},
                                                      tr("Recipes (*.json)"));
    if (path.isEmpty()) return;
    QString why;
    if (!loadRecipeFrom(path, &why)) setResultText(tr("Recipe not loaded: %1").arg(why));
}

void AlgorithmDock::copyCommand() {
    Expected<QString> command = cliCommand();
    if (!command) {
        setResultText(tr("No command: %1").arg(qs(command.error().message())));
        return;
    }
    QApplication::clipboard()->setText(*command);
    setResultText(tr("Copied the recipe and the whittle-cli compress command."));
}

bool AlgorithmDock::isRunning() const {
    return m_job && m_job->isRunning();
}

void AlgorithmDock::cancel() {
    if (m_job) m_job->cancel();
}

void AlgorithmDock::run() {
    if (isRunning() || !m_doc) return;
    Expected<algo::Recipe> r = recipe();
    const QString out = outputPath();
    QString problem;
    if (!r)
        problem = qs(r.error().message());
    else if (out.isEmpty())
        problem = tr("no output file is given");
    else if (!m_doc->sourcePath().isEmpty() &&
             QFileInfo(out).absoluteFilePath() == QFileInfo(m_doc->sourcePath()).absoluteFilePath())
        problem = tr("the output would overwrite the opened model");
    if (!problem.isEmpty()) {
        setResultText(tr("Not run: %1").arg(problem));
        emit runFinished(false, problem);
        return;
    }
    algo::CompressOptions o;
    o.recipe = *r;
    o.evaluate = m_evaluate->isChecked();
    o.evalLimit = m_evalLimit->value();
    o.evaluateWhileTraining = o.evaluate;  // the live accuracy curve
    o.output = out.toStdString();
    o.input = m_doc->sourcePath().toStdString();
    m_feed = std::make_shared<Feed>();
    resetChart();
    m_result.reset();
    m_openButton->hide();
    m_applyButton->hide();
    m_compareButton->hide();
    m_runDoc = m_doc;
    m_runRevision = m_doc->revision();
    Document::SnapshotTask snapshotTask = m_doc->snapshotTask();
    const QString name = QStringLiteral("%1 %2").arg(
        algorithmName(), m_doc->filePath().isEmpty() ? tr("model")
                                                     : QFileInfo(m_doc->filePath()).fileName());
    // The job hands back the snapshot it compressed too: the Summary dock times it.
    struct Outcome {
        std::shared_ptr<const ir::Model> input;
        std::shared_ptr<const algo::CompressResult> result;
    };
    using Result = Outcome;
    std::shared_ptr<Feed> feed = m_feed;
    const QString inputName =
        m_doc->filePath().isEmpty() ? tr("model") : QFileInfo(m_doc->filePath()).fileName();
    Job* job = m_runner->run(
        tr("Compress: %1").arg(name),
        [snapshotTask = std::move(snapshotTask), o, feed](jobs::JobContext& ctx) mutable
        -> Expected<Result> {
            ctx.setProgress(0.0, "copying");
            std::shared_ptr<const ir::Model> snapshot = snapshotTask();
            if (!snapshot) return error(StatusCode::kCancelled, "the model changed meanwhile");
            o.job = &ctx;
            o.callbacks = {feed.get()};
            WH_ASSIGN_OR_RETURN(algo::CompressResult result, algo::compress(*snapshot, o));
            return Outcome{snapshot,
                           std::make_shared<const algo::CompressResult>(std::move(result))};
        },
        JobRunner::Lane::kEngine);
    m_job = job;
    setResultText(tr("Running %1…").arg(algorithmName()));
    m_poll->start();
    const QString dataset = m_dataset->text().trimmed(), dataDir = m_dataDir->text().trimmed();
    connect(job, &Job::finished, this, [this, job, inputName, dataset, dataDir] {
        drainFeed();
        Result* outcome = job->result<Result>();
        if (!outcome) return;
        m_result = outcome->result;
        m_input = outcome->input;
        m_inputName = inputName;
        m_lastDataset = dataset;
        m_lastDataDir = dataDir;
        job->releaseResult();
        const algo::CompressResult& c = *m_result;
        QStringList parts;
        parts << tr("Wrote %1: %2 node(s) changed")
                     .arg(QFileInfo(outputPath()).fileName())
                     .arg(c.apply.changed());
        if (c.bytesBefore > 0)
            parts << tr("size %1 → %2 (%3×)")
                         .arg(formatBytes(static_cast<double>(c.bytesBefore)), formatBytes(static_cast<double>(c.bytesAfter)))
                         .arg(QLocale().toString(
                             static_cast<double>(c.bytesAfter) / static_cast<double>(c.bytesBefore),
                             'f', 3));
        if (c.flopsBefore > 0 && c.flopsAfter != c.flopsBefore)
            parts << tr("FLOPs ×%1").arg(QLocale().toString(
                static_cast<double>(c.flopsAfter) / static_cast<double>(c.flopsBefore), 'f', 3));
        if (c.accuracyBefore && c.accuracyAfter)
            parts << tr("accuracy %1 → %2").arg(percent(*c.accuracyBefore),
                                                percent(*c.accuracyAfter));
        if (c.verify.latencyMsBefore > 0)
            parts << tr("batch-1 latency %1 → %2 ms")
                         .arg(QLocale().toString(c.verify.latencyMsBefore, 'f', 3),
                              QLocale().toString(c.verify.latencyMsAfter, 'f', 3));
        parts << (c.verify.verified
                      ? tr("verified (reloaded and run: top-1 agreement %1)")
                            .arg(percent(c.verify.top1Agreement))
                      : tr("NOT verified: %1").arg(qs(c.verify.message)));
        parts << tr("%1 s").arg(QLocale().toString(c.seconds, 'f', 1));
        setResultText(parts.join(QStringLiteral(" · ")));
        m_openButton->show();
        m_applyButton->show();
        m_compareButton->show();
        m_applyButton->setEnabled(true);
        emit runFinished(true, {});
    });
    connect(job, &Job::failed, this, [this](const Status& status) {
        drainFeed();
        setResultText(tr("Failed: %1").arg(qs(status.message())));
        emit runFinished(false, qs(status.message()));
    });
    connect(job, &Job::cancelled, this, [this] {
        drainFeed();
        setResultText(tr("Cancelled: nothing was written."));
        emit runFinished(false, tr("cancelled"));
    });
    connect(job, &Job::ended, this, [this] {
        m_poll->stop();
        updateButtons();
    });
    updateButtons();
}

void AlgorithmDock::resetChart() {
    m_maxLoss = m_maxLr = m_maxStep = 0;
    m_loss->clear();
    m_lrSeries->clear();
    m_stepAxis->setRange(0, 1);
    m_lossAxis->setRange(0, 1);
    m_lrAxis->setRange(0, 1);
    m_chart->setTitle(tr("Training, per step"));
    m_accuracy->clear();
    for (QLineSeries* series : std::as_const(m_metricSeries)) {
        m_epochChart->removeSeries(series);
        delete series;
    }
    m_metricSeries.clear();
    m_maxEpoch = 0;
    m_minAccuracy = 100;
    m_maxMetric = 0;
    m_epochAxis->setRange(0, 1);
    m_accuracyAxis->setRange(0, 100);
    m_metricAxis->setRange(0, 1);
    m_metricAxis->setVisible(false);
    m_epochChart->setTitle(tr("Per epoch: accuracy, algorithm curves"));
}

void AlgorithmDock::drainFeed() {
    if (!m_feed) return;
    const Feed::Batch batch = m_feed->take();
    drainEpochs(batch.epochs, batch.metrics);
    const std::vector<Feed::Point>& points = batch.steps;
    if (points.empty()) return;
    QList<QPointF> loss, lr;
    for (const Feed::Point& p : points) {
        loss.append(QPointF(static_cast<double>(p.step), p.loss));
        lr.append(QPointF(static_cast<double>(p.step), p.lr));
    }
    for (const Feed::Point& p : points) {
        if (std::isfinite(p.loss)) m_maxLoss = std::max(m_maxLoss, p.loss);
        m_maxLr = std::max(m_maxLr, p.lr);
        m_maxStep = std::max(m_maxStep, static_cast<double>(p.step));
    }
    m_loss->append(loss);
    m_lrSeries->append(lr);
    // A long run (10^5 steps) would make every repaint slower: past kMaxChartPoints, keep every
    // other point (the curves' shape stays; the GUI thread's work per drain stays bounded).
    for (QLineSeries* series : {m_loss, m_lrSeries}) {
        if (series->count() <= kMaxChartPoints) continue;
        const QList<QPointF> all = series->points();
        QList<QPointF> half;
        half.reserve(all.size() / 2 + 1);
        for (qsizetype i = 0; i < all.size(); i += 2) half.append(all[i]);
        series->replace(half);
    }
    m_stepAxis->setRange(0, std::max(m_maxStep, 1.0));
    m_lossAxis->setRange(0, m_maxLoss > 0 ? m_maxLoss * 1.05 : 1.0);
    m_lrAxis->setRange(0, m_maxLr > 0 ? m_maxLr * 1.05 : 1.0);
    for (QValueAxis* axis : {m_stepAxis, m_lossAxis, m_lrAxis}) axis->applyNiceNumbers();
}

void AlgorithmDock::drainEpochs(const std::vector<EpochPoint>& epochs,
                                const std::vector<MetricPoint>& metrics) {
    if (epochs.empty() && metrics.empty()) return;
    for (const EpochPoint& e : epochs) {
        m_maxEpoch = std::max(m_maxEpoch, e.epoch + 1.0);
        if (!e.accuracy) continue;
        const double percent = 100.0 * *e.accuracy;
        m_accuracy->append(e.epoch + 1.0, percent);  // measured at the end of the epoch
        m_minAccuracy = std::min(m_minAccuracy, percent);
    }
    for (const MetricPoint& m : metrics) {
        const QString name = QString::fromStdString(m.name);
        QLineSeries*& series = m_metricSeries[name];
        if (!series) {
            series = new QLineSeries;
            series->setName(name);
            series->setPointsVisible(true);
            m_epochChart->addSeries(series);
            series->attachAxis(m_epochAxis);
            series->attachAxis(m_metricAxis);
            m_metricAxis->setVisible(true);
        }
        series->append(m.epoch, m.value);  // reported as the epoch begins
        if (std::isfinite(m.value)) m_maxMetric = std::max(m_maxMetric, m.value);
        m_maxEpoch = std::max(m_maxEpoch, static_cast<double>(m.epoch));
    }
    // A little room past the last epoch, so that its points are not cut by the frame; ticks on
    // whole epochs (every k-th when there are many).
    const double span = std::max(m_maxEpoch, 1.0);
    m_epochAxis->setRange(0, span + 0.15 * std::max(1.0, span / 5));
    m_epochAxis->setTickType(QValueAxis::TicksDynamic);
    m_epochAxis->setTickAnchor(0);
    m_epochAxis->setTickInterval(std::max(1.0, std::ceil(span / 10)));
    // Accuracy from a little under its lowest point: the last few tenths are what one watches.
    m_accuracyAxis->setRange(std::max(0.0, std::floor(m_minAccuracy / 10.0) * 10.0 - 10.0), 100);
    m_metricAxis->setRange(0, m_maxMetric > 0 ? m_maxMetric * 1.05 : 1.0);
    m_metricAxis->applyNiceNumbers();
}

int AlgorithmDock::accuracyPoints() const {
    return static_cast<int>(m_accuracy->count());
}

QStringList AlgorithmDock::metricCurves() const {
    return m_metricSeries.keys();
}

QList<QPointF> AlgorithmDock::metricPoints(const QString& name) const {
    const QLineSeries* series = m_metricSeries.value(name);
    return series ? series->points() : QList<QPointF>{};
}

int AlgorithmDock::lossPoints() const {
    return static_cast<int>(m_loss->count());
}

QString AlgorithmDock::resultText() const {
    return m_resultLabel->text();
}

void AlgorithmDock::setResultText(const QString& text) {
    m_resultLabel->setText(text);
}

void AlgorithmDock::updateButtons() {
    const bool running = isRunning();
    m_runButton->setText(running ? tr("Cancel") : tr("Run"));
    m_runButton->setEnabled(running || (m_doc && currentInfo() && m_form->isValid()));
    m_algorithms->setEnabled(!running);
}

}  // namespace wh::widgets
