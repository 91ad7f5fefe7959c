#pragma once
/// SensitivityDock: which layers a recipe hurts most (algo::layerSensitivity, what `whittle-cli
/// sensitivity` prints). Measure (F7) runs a job on the document's snapshot with the Algorithm
/// dock's recipe (algorithm, parameters, scope, dataset, input shapes): every layer in the scope
/// compressed alone, the rest float, its test accuracy and output SQNR. The result fills
///   - a bar chart of the accuracy each layer costs (percentage points), most sensitive at the
///     top (the first kChartBars; the table has them all);
///   - a table: layer, op, accuracy, change in points, SQNR in dB.
/// Clicking a bar or a row selects that layer on the graph (nodeRequested). "Exclude the k most
/// sensitive" puts them into the Algorithm dock's exclude list, so the next run leaves them
/// float (excludeRequested). GUI thread only.

#include <memory>

#include <QDockWidget>
#include <QPointer>

#include "core/algo/sensitivity.h"
#include "core/ir/graph.h"

class QChart;
class QChartView;
class QLabel;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace wh::widgets {

class AlgorithmDock;
class Document;
class Job;
class JobRunner;

class SensitivityDock : public QDockWidget {
    Q_OBJECT

public:
    static constexpr int kChartBars = 20;

    /// Measures what `algorithm`'s form describes (not owned).
    SensitivityDock(JobRunner* runner, AlgorithmDock* algorithm, QWidget* parent = nullptr);
    ~SensitivityDock() override;

    void setDocument(Document* doc);
    /// Test samples per accuracy (the CLI's --eval-limit).
    void setEvalLimit(int samples);
    void setExcludeCount(int k);

    std::shared_ptr<const algo::SensitivityReport> report() const { return m_report; }
    bool isMeasuring() const;
    QChart* chart() const { return m_chart; }
    QTableWidget* table() const { return m_table; }
    QString statusText() const;

public slots:
    void measure();
    /// Sends the k most sensitive layers to the Algorithm dock's exclude list.
    void excludeMostSensitive();

signals:
    void nodeRequested(wh::ir::NodeId id);
    /// `names` joined the Algorithm dock's exclude list.
    void excluded(const QStringList& names);
    void measured(bool ok, const QString& message);

private:
    void display(std::shared_ptr<const algo::SensitivityReport> report);
    void rebuildChart();
    void requestNode(const QString& name);
    void updateButtons();

    JobRunner* m_runner;
    AlgorithmDock* m_algorithm;
    QPointer<Document> m_doc;
    QPointer<Job> m_job;
    std::shared_ptr<const algo::SensitivityReport> m_report;
    QString m_status;

    QPushButton* m_measure;
    QSpinBox* m_evalLimit;
    QLabel* m_statusLabel;
    QChart* m_chart;
    QChartView* m_chartView;
    QTableWidget* m_table;
    QSpinBox* m_excludeCount;
    QPushButton* m_exclude;
};

}  // namespace wh::widgets
