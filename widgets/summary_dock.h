#pragma once
/// SummaryDock: the model before and after a compression run, side by side — file size,
/// parameters, FLOPs, latency at batch 1 and 64, accuracy (when the run had a dataset), agreement
/// with the float model, and the verified-export status (written, reloaded, run, agreeing) — with
/// a chart of the after/before ratios, and a report (Markdown with the chart as a PNG beside it,
/// or HTML with the chart inside) that says what was compressed, how and with what result.
///
/// The figures of the run come from algo::CompressResult; the latencies at batch 1 and 64 are
/// measured by a job (engine::benchmark on both models, same threads, in turn) started when the
/// comparison is set: its progress and Cancel are in the Jobs dock, and until it ends those rows
/// say "measuring…". GUI thread only.

#include <memory>
#include <optional>

#include <QDockWidget>
#include <QPointer>

#include "core/algo/compress.h"
#include "core/ir/graph.h"
#include "widgets/run_history.h"

class QChart;
class QChartView;
class QLabel;
class QPushButton;
class QTableWidget;

namespace wh::widgets {

class Job;
class JobRunner;

class SummaryDock : public QDockWidget {
    Q_OBJECT

public:
    enum Row {
        kFileSize = 0,
        kParams,
        kFlops,
        kLatency1,
        kLatency64,
        kAccuracy,
        kAgreement,
        kVerified,
        kRowCount
    };
    /// Batch sizes of the two latency rows.
    static constexpr int kSmallBatch = 1;
    static constexpr int kLargeBatch = 64;

    explicit SummaryDock(JobRunner* runner, QWidget* parent = nullptr);
    ~SummaryDock() override;

    /// Shows `result` (the run of `algorithm` on `before`, written to `outputPath`) and starts
    /// measuring the latencies — once no other job runs (JobRunner::whenIdle; timings that could
    /// not wait are flagged), before and after back to back at each batch.
    /// `measure` = false skips that (tests, or a model too big to time).
    void setComparison(std::shared_ptr<const ir::Model> before, const QString& beforeName,
                       std::shared_ptr<const algo::CompressResult> result,
                       const QString& outputPath, bool measure = true);
    void clear();
    bool hasComparison() const { return m_result != nullptr; }
    /// True while the latencies are measured or wait to be.
    bool isMeasuring() const;

    /// The cell text of `row` in column 0 (before), 1 (after) or 2 (change).
    QString cell(Row row, int column) const;
    /// Latencies measured so far (ms), by batch; empty until measured.
    std::optional<double> latencyMs(bool after, int batch) const;

    /// The report as Markdown (`chartFile`, when not empty, is the chart image's file name,
    /// written by exportReport beside the report) or HTML (the chart embedded).
    QString reportMarkdown(const QString& chartFile = {}) const;
    QString reportHtml() const;
    /// Writes the report to `path`: HTML for .html/.htm, else Markdown with PATH-chart.png
    /// beside it. Atomic. False and `error` on failure.
    bool exportReportTo(const QString& path, QString* error = nullptr);
    QChart* chart() const { return m_chart; }

    /// Where runs are kept (not owned; null: none) and the model file whose runs to list (the
    /// document's; empty: none). Each run set by setComparison is added, and updated once its
    /// latencies are measured.
    void setHistory(RunHistory* history, const QString& modelPath);
    /// The runs of the model, newest first (the list's rows).
    std::vector<RunRecord> runs() const;
    /// Shows history rows `rows`: one — its before and after; two — the older's compressed
    /// model (A) against the newer's (B); none — the last run.
    void selectRuns(const std::vector<int>& rows);
    QTableWidget* runsTable() const { return m_runs; }

public slots:
    /// Asks for a file (beside the compressed model) and writes the report.
    void exportReport();

signals:
    /// The latency job ended (`ok` when every latency was measured).
    void measured(bool ok);

private:
    void fill();
    void fillFigures(const RunFigures* a, const RunFigures* b, const QString& latencyStatus,
                     const RunRecord* verification = nullptr);
    void rebuildChart(const RunFigures* a, const RunFigures* b);
    RunFigures figures(bool after) const;
    RunRecord currentRecord() const;
    void recordRun();
    void refreshRuns();
    void showRuns(const std::vector<int>& rows);
    void restoreTitle();
    void measure();
    QByteArray chartPng() const;

    JobRunner* m_runner;
    QPointer<Job> m_job;
    std::shared_ptr<const ir::Model> m_before;
    std::shared_ptr<const algo::CompressResult> m_result;
    QString m_beforeName;
    QString m_outputPath;
    std::optional<double> m_latency[2][2];  // [after][batch index]
    QString m_latencyStatus;                // "measuring…", or why not
    bool m_contended = false;               // another job ran while timing
    bool m_waiting = false;                 // measure() waits for the runner to be idle
    int m_waitGeneration = 0;               // a newer measure() or clear() drops older waits
    void startTiming(bool idle);

    RunHistory* m_history = nullptr;
    QString m_modelPath;
    QDateTime m_resultTime;
    QString m_liveTitle;
    std::vector<RunRecord> m_shownRuns;  // history rows shown instead of the last run

    QLabel* m_title;
    QTableWidget* m_table;
    QTableWidget* m_runs;
    QChart* m_chart;
    QChartView* m_chartView;
    QPushButton* m_exportButton;
};

}  // namespace wh::widgets
