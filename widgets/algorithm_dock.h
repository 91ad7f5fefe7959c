#pragma once
/// AlgorithmDock: compression from the studio. Lists the registry's algorithms (built-in and
/// plugins alike: nothing here is specific to one) with their descriptions; a ParamForm built
/// from the chosen algorithm's ParamSpecs; the scope — the whole model or the selected nodes —
/// with the number of nodes the algorithm will change and, in the tooltip, those it skips and
/// why (algo::resolveScope, live as the selection changes); the dataset; the training settings
/// when the algorithm trains; where to write the compressed model.
///
/// Run (Ctrl+R) starts algo::compress — the very pipeline of `whittle-cli compress` — as a job
/// on the document's snapshot (progress and Cancel here and in the Jobs dock): apply, training
/// with the algorithm's callbacks, convert, export (atomic, never over the opened file), reload
/// and verify. While it trains, a chart plots the loss and the learning rate per step, and a
/// second one per epoch the test accuracy (when Evaluate is on) and the figures the algorithm
/// reports (train::Trainer::report: SLB's temperature), live.
/// The result line gives nodes changed, size, FLOPs, latency and accuracy before and after and
/// the verification; "Open Result" opens the exported model, "Compare" shows the original and the
/// compressed graph side by side (compareRequested).
///
/// Recipes: Save Recipe writes the form as a recipe (algo::recipeToJson), Load Recipe fills the
/// form from one (a recipe's node names become the graph selection), and Copy Command puts the
/// exact headless equivalent on the clipboard (the recipe and the `whittle-cli compress` line).
/// GUI thread only.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <QDockWidget>
#include <QList>
#include <QMap>
#include <QPointF>
#include <QPointer>
#include <QStringList>

#include "core/algo/compress.h"
#include "core/algo/recipe.h"
#include "core/algo/registry.h"

class QCheckBox;
class QChart;
class QChartView;
class QScrollArea;
class QComboBox;
class QLabel;
class QLineEdit;
class QLineSeries;
class QPushButton;
class QRadioButton;
class QSpinBox;
class QTimer;
class QValueAxis;
class QWidget;

namespace wh::widgets {

class Document;
class Job;
class JobRunner;
class ParamForm;

class AlgorithmDock : public QDockWidget {
    Q_OBJECT

public:
    /// Lists the algorithms of `registry` (not owned; Registry::global() in the studio).
    AlgorithmDock(JobRunner* runner, const algo::Registry* registry, QWidget* parent = nullptr);
    ~AlgorithmDock() override;

    void setDocument(Document* doc);
    /// Re-reads the registry (after plugins loaded), keeping the chosen algorithm if still there.
    void refreshAlgorithms();
    /// Chooses algorithm `name`; false if the registry has none of that name.
    bool selectAlgorithm(const QString& name);
    QString algorithmName() const;

    ParamForm* form() const { return m_form; }
    /// True: the selected nodes only; false: the whole model.
    void setSelectionScope(bool selectionOnly);
    /// "Changes 7 of 9 candidate nodes; skips 2" (tooltip: each skipped node and why).
    QString scopeText() const;
    QString scopeDetails() const;
    void setDataset(const QString& name, const QString& dataDir = {});
    /// Training settings (used when the algorithm trains): epochs, steps (> 0: instead of
    /// epochs), batch, learning rate.
    void setTraining(int epochs, int steps, int batch, double lr);
    void setEvaluate(bool evaluate, int limit = 0);
    void setOutputPath(const QString& path);
    QString outputPath() const;

    /// Makes the last run's compressed model the document's next revision, as one undo step
    /// (rewrite::replaceGraph). False and `why` when there is no run, the document changed since
    /// the run, its opset imports differ, or the graph cannot be replaced in place (If/Loop).
    bool applyResult(QString* why = nullptr);
    /// Adds `names` to the recipe's exclude list (select.exclude_nodes; the Sensitivity dock's
    /// "exclude the k most sensitive"), each once; the scope line follows.
    void excludeNodes(const QStringList& names);
    /// Empties the exclude list.
    void clearExcludedNodes();
    QStringList excludedNodes() const;

    /// The run the form describes; kBadInput naming the field when one is invalid.
    Expected<algo::Recipe> recipe() const;
    /// The recipe as JSON (every default filled in).
    Expected<std::string> recipeJson() const;
    /// The shell commands that reproduce the run headless: the recipe written next to the
    /// output, then `whittle-cli compress`.
    Expected<QString> cliCommand() const;
    bool saveRecipeTo(const QString& path, QString* error = nullptr);
    bool loadRecipeFrom(const QString& path, QString* error = nullptr);

    bool isRunning() const;
    /// The last successful run's result (its model is the deploy model), or null.
    std::shared_ptr<const algo::CompressResult> lastResult() const { return m_result; }
    /// The model the last successful run compressed (the document's snapshot then), or null.
    std::shared_ptr<const ir::Model> lastInput() const { return m_input; }
    /// The file name the last successful run's input was shown as ("resnet18.onnx").
    QString lastInputName() const { return m_inputName; }
    /// The dataset (name, folder) the last successful run calibrated and trained on.
    QString lastDataset() const { return m_lastDataset; }
    QString lastDataDir() const { return m_lastDataDir; }
    /// Loss points plotted so far in the running (or last) run.
    int lossPoints() const;
    QChart* chart() const { return m_chart; }
    /// The per-epoch chart: test accuracy (when the run evaluates) and the curves the
    /// algorithm reports (train::Trainer::report: SLB's "temperature"), live.
    QChart* epochChart() const { return m_epochChart; }
    int accuracyPoints() const;
    /// The names of the algorithm's own curves plotted, and one curve's (epoch, value) points.
    QStringList metricCurves() const;
    QList<QPointF> metricPoints(const QString& name) const;
    /// The line under the buttons: what the last run did, or why it failed.
    QString resultText() const;

public slots:
    /// Starts the run the form describes (refused with a message when the form is invalid).
    void run();
    void cancel();
    void saveRecipe();
    void loadRecipe();
    void copyCommand();

signals:
    /// A run ended: `ok` when lastResult() is its result; else `message` says why.
    /// (Connected slots see lastResult(), lastInput() and lastDataset() of the new run.)
    void runFinished(bool ok, const QString& message);
    /// "Open Result": the user wants `path` opened in the studio.
    void openRequested(const QString& path);
    /// "Compare": the user wants the last run's input and result side by side.
    void compareRequested();

private:
    struct Feed;
    void onAlgorithmChanged();
    void updateScope();
    void updateButtons();
    void drainFeed();
    /// The end of an epoch: its test accuracy when the run evaluates while training.
    struct EpochPoint {
        int epoch;
        std::optional<double> accuracy;
    };
    /// A figure the algorithm reported (train::Trainer::report), at the epoch it began.
    struct MetricPoint {
        std::string name;
        int epoch;
        double value;
    };
    void drainEpochs(const std::vector<EpochPoint>& epochs,
                     const std::vector<MetricPoint>& metrics);
    void resetChart();
    void setResultText(const QString& text);
    const algo::AlgorithmInfo* currentInfo() const;
    QString suggestedOutput() const;

    JobRunner* m_runner;
    const algo::Registry* m_registry;
    QPointer<Document> m_doc;
    QPointer<Job> m_job;
    std::shared_ptr<Feed> m_feed;
    std::shared_ptr<const algo::CompressResult> m_result;
    std::shared_ptr<const ir::Model> m_input;
    QString m_inputName;
    QString m_lastDataset, m_lastDataDir;
    /// What the form does not show (optimizer, schedule, include/exclude lists, seed): from
    /// the last loaded recipe, else the algorithm's defaults.
    algo::Recipe m_base;
    bool m_outputEdited = false;

    QComboBox* m_algorithms;
    QLabel* m_description;
    ParamForm* m_form;
    QPushButton* m_resetButton;
    QRadioButton* m_wholeModel;
    QRadioButton* m_selectionOnly;
    QLabel* m_scope;
    QLineEdit* m_dataset;
    QLineEdit* m_dataDir;
    QLineEdit* m_shapes;
    QPushButton* m_clearExclusions = nullptr;
    QPushButton* m_applyButton = nullptr;
    QPushButton* m_compareButton = nullptr;
    QPointer<Document> m_runDoc;  // the document the last run compressed, at m_runRevision
    quint64 m_runRevision = 0;
    QWidget* m_trainingBox;
    QSpinBox* m_epochs;
    QSpinBox* m_steps;
    QSpinBox* m_batch;
    QLineEdit* m_lr;
    QCheckBox* m_evaluate;
    QSpinBox* m_evalLimit;
    QLineEdit* m_output;
    QPushButton* m_runButton;
    QPushButton* m_openButton;
    QLabel* m_resultLabel;
    QChart* m_chart;
    QLineSeries* m_loss;
    QLineSeries* m_lrSeries;
    QValueAxis* m_stepAxis;
    QValueAxis* m_lossAxis;
    QValueAxis* m_lrAxis;
    QTimer* m_poll;
    static constexpr qsizetype kMaxChartPoints = 4000;
    double m_maxLoss = 0, m_maxLr = 0, m_maxStep = 0;
    QScrollArea* m_scroll;
    QChartView* m_chartView;
    QChart* m_epochChart;
    QChartView* m_epochChartView;
    QLineSeries* m_accuracy;
    QMap<QString, QLineSeries*> m_metricSeries;  // owned by m_epochChart
    QValueAxis* m_epochAxis;
    QValueAxis* m_accuracyAxis;
    QValueAxis* m_metricAxis;
    double m_maxEpoch = 0, m_minAccuracy = 100, m_maxMetric = 0;
};

}  // namespace wh::widgets
