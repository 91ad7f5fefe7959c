#pragma once
/// ProfilerDock: the engine's per-layer profiler (analysis::profileModel, what `whittle-cli
/// profile` prints) on the open model, linked to the graph.
///
/// Profile (F6) runs a JobRunner job on the document's snapshot (progress and Cancel in the
/// Jobs dock) with the dock's batch, threads, runs and input shapes ("NAME=D0,D1,..." per
/// symbolic input, as the CLI's --shape). The result fills:
///   - a sortable, filterable table, one row per node of the main graph: node, op, ms, share of
///     the run, speed-up against the baseline, FLOPs, parameters, weight and activation bytes,
///     precision, backend, and the step a fused node ran in. Sorted by time, slowest first.
///   - a bar chart of the kTopN slowest nodes (with their baseline times once one is set).
/// Clicking a row or a bar selects that node in the graph and brings it into view (nodeRequested);
/// selecting rows selects their nodes; a selection made in the graph selects its rows.
///
/// Baseline: "Set as Baseline" keeps the current profile; later profiles (after an edit, or of
/// another model, e.g. the compressed export opened next) get a per-node speed-up column,
/// matched by node name, and the total speed-up in the summary line. The baseline survives
/// opening another model; the profile itself does not (it described the previous model). After
/// an edit the rows stay and the summary says they are out of date.
///
/// "Export CSV…" writes every row (analysis::profileCsv), atomically. GUI thread only.

#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include <QAbstractTableModel>
#include <QDockWidget>
#include <QPointer>
#include <QSortFilterProxyModel>

#include "core/analysis/profiler.h"
#include "core/ir/graph.h"

class QCheckBox;
class QChart;
class QChartView;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableView;

namespace wh::widgets {

class Document;
class Job;
class JobRunner;

/// The rows of a Profile (and, when set, their baseline's times), for ProfilerDock's table.
class ProfileTableModel : public QAbstractTableModel {
    Q_OBJECT

public:
    enum Column {
        kNode = 0,
        kOp,
        kMs,
        kShare,
        kSpeedup,
        kFlops,
        kParams,
        kWeightBytes,
        kActivationBytes,
        kPrecision,
        kBackend,
        kFusedInto,
        kColumnCount
    };
    /// The value a column sorts by (a number for numeric columns).
    static constexpr int kSortRole = Qt::UserRole + 1;
    /// The row's NodeId (qulonglong).
    static constexpr int kNodeIdRole = Qt::UserRole + 2;

    using QAbstractTableModel::QAbstractTableModel;

    /// Shows `profile` (null: empty); speed-ups against `baseline` (null: none), by node name.
    void setProfile(std::shared_ptr<const analysis::Profile> profile,
                    std::shared_ptr<const analysis::Profile> baseline);
    const analysis::Profile* profile() const { return m_profile.get(); }
    /// The baseline's ms for row `row`'s node, when the baseline has a node of that name.
    std::optional<double> baselineMs(int row) const;
    ir::NodeId nodeAt(int row) const;
    /// The row of node `id`, or -1.
    int rowOf(ir::NodeId id) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    std::shared_ptr<const analysis::Profile> m_profile;
    std::shared_ptr<const analysis::Profile> m_baseline;
    std::vector<std::optional<double>> m_baselineMs;  // per row
    std::unordered_map<ir::NodeId, int> m_rows;
};

/// Keeps the rows whose node name, op or precision contains the filter text (case-insensitive),
/// and, when fused rows are hidden, only the nodes that ran a step of their own.
class ProfileFilterModel : public QSortFilterProxyModel {
    Q_OBJECT

public:
    using QSortFilterProxyModel::QSortFilterProxyModel;
    void setText(const QString& text);
    void setHideFused(bool hide);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;

private:
    QString m_text;
    bool m_hideFused = false;
};

class ProfilerDock : public QDockWidget {
    Q_OBJECT

public:
    static constexpr int kTopN = 10;

    explicit ProfilerDock(JobRunner* runner, QWidget* parent = nullptr);
    ~ProfilerDock() override;

    /// The document to profile (null: none). A new document drops the shown profile, keeps the
    /// baseline; the dock follows its selection and its edits.
    void setDocument(Document* doc);

    /// Profiling settings (the dock's fields).
    analysis::ProfileOptions options() const;
    void setBatch(int batch);
    void setRuns(int runs);
    void setThreads(int threads);
    /// "NAME=D0,D1,..." specs separated by spaces or ';'.
    void setShapesText(const QString& text);

    /// The profile shown, or null.
    std::shared_ptr<const analysis::Profile> currentProfile() const { return m_profile; }
    std::shared_ptr<const analysis::Profile> baseline() const { return m_baseline; }
    /// The document revision the shown profile was made of.
    quint64 profiledRevision() const { return m_profiledRevision; }
    /// True while a profile waits for the other jobs to end or runs.
    bool isProfiling() const;

    /// Keeps the current profile as the baseline (false when there is none).
    bool setBaselineFromCurrent();
    void clearBaseline();
    /// Writes every row as CSV to `path` (atomically); false and `error` on failure.
    bool exportCsvTo(const QString& path, QString* error = nullptr);

    ProfileTableModel* tableModel() const { return m_model; }
    ProfileFilterModel* filterModel() const { return m_filter; }
    QTableView* tableView() const { return m_table; }
    QChart* chart() const { return m_chart; }
    /// The summary line above the table.
    QString summaryText() const;

public slots:
    /// Profiles the document once no other job runs (JobRunner::whenIdle: timings beside another
    /// job are off), as it is then; a profile already waiting or running is cancelled first.
    void profile();
    /// Cancels a profile waiting or running (profileFinished(false) follows).
    void cancelProfile();
    /// Asks for a file (the model's folder and name suggested) and writes the CSV there.
    void exportCsv();
    void setFilterText(const QString& text);

signals:
    /// The user picked node `id` (a row or a bar): select it and bring it into view.
    void nodeRequested(wh::ir::NodeId id);
    /// A profile ended: `ok` when currentProfile() is the new one; else `message` says why.
    void profileFinished(bool ok, const QString& message);

private:
    void showProfile(std::shared_ptr<const analysis::Profile> profile, quint64 revision);
    void rebuildChart();
    void updateSummary();
    void updateButtons();
    void syncRowsFromSelection();
    void syncSelectionFromRows();

    JobRunner* m_runner;
    QPointer<Document> m_doc;
    QPointer<Job> m_job;
    std::shared_ptr<const analysis::Profile> m_profile;
    std::shared_ptr<const analysis::Profile> m_baseline;
    QString m_baselineName;  // the model the baseline was made of
    QString m_profileName;
    quint64 m_profiledRevision = 0;
    QString m_status;  // last failure or cancellation, until the next profile
    bool m_waiting = false;    // profile() waits for the runner to be idle
    int m_waitGeneration = 0;  // cancelProfile(), setDocument() and a newer profile() drop a wait
    bool m_contended = false;  // the shown profile could not wait for the other jobs
    void startProfile(bool idle);

    ProfileTableModel* m_model;
    ProfileFilterModel* m_filter;
    QTableView* m_table;
    QChart* m_chart;
    QChartView* m_chartView;
    QSpinBox* m_batch;
    QSpinBox* m_threads;
    QSpinBox* m_runs;
    QLineEdit* m_shapes;
    QLineEdit* m_filterEdit;
    QCheckBox* m_hideFused;
    QPushButton* m_profileButton;
    QPushButton* m_baselineButton;
    QPushButton* m_clearBaselineButton;
    QPushButton* m_csvButton;
    QLabel* m_summary;
    bool m_syncing = false;
};

}  // namespace wh::widgets
