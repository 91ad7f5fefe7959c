// Studio II, the Profiler dock: the engine's profiler run as a job from the studio (F6), its
// table sorted, filtered and linked to the graph selection both ways, the top-N chart, a
// baseline's per-node speed-ups, CSV export, bad shape specs, stale profiles and Cancel.

#include <atomic>
#include <chrono>
#include <thread>

#include <QAction>
#include <QBarSet>
#include <QChart>
#include <QFile>
#include <QHorizontalBarSeries>
#include <QItemSelectionModel>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include "tests/widgets/widgets_test.h"
#include "widgets/document.h"
#include "widgets/main_window.h"
#include "widgets/profiler_dock.h"
#include "widgets/selection_model.h"

namespace wh::widgets::test {
namespace {

constexpr int kTimeoutMs = 60'000;

class ProfilerDockTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<MainWindow> m_w;

    ProfilerDock* dock() const { return m_w->profilerDock(); }
    ir::NodeId id(const std::string& name) const { return idIn(*m_w->model()->graph, name); }
    void showSmallModel() {
        m_w = std::make_unique<MainWindow>(MainWindow::SettingsMode::kIgnore);
        m_w->resize(1400, 900);
        m_w->show();
        QSignalSpy ready(m_w.get(), &MainWindow::viewReady);
        m_w->setModel(makeSmallModel());
        QVERIFY(ready.wait(kTimeoutMs));
        dock()->setRuns(3);
    }
    /// Profiles through the Tools menu's action (F6) and waits for the outcome.
    bool profileNow(QString* message = nullptr) {
        QSignalSpy done(dock(), &ProfilerDock::profileFinished);
        auto* action = m_w->findChild<QAction*>(QStringLiteral("ProfileModelAction"));
        if (!action || !action->isEnabled()) return false;
        action->trigger();
        if (done.isEmpty() && !done.wait(kTimeoutMs)) return false;
        if (message) *message = done.first().at(1).toString();
        return done.first().first().toBool();
    }
    /// The source row of every row the table shows, top to bottom.
    std::vector<int> shownRows() const {
        std::vector<int> rows;
        const ProfileFilterModel* f = dock()->filterModel();
        for (int r = 0; r < f->rowCount(); ++r)
            rows.push_back(f->mapToSource(f->index(r, 0)).row());
        return rows;
    }

private slots:
    void cleanup() { m_w.reset(); }

    void profilesEveryNodeSortedByTime() {
        showSmallModel();
        QVERIFY(profileNow());
        const auto profile = dock()->currentProfile();
        QVERIFY(profile);
        QCOMPARE(profile->batch, int64_t{1});
        QCOMPARE(dock()->tableModel()->rowCount(),
                 static_cast<int>(m_w->model()->graph->numNodes()));
        // Slowest first; the ms column's values are the profile's.
        const std::vector<int> rows = shownRows();
        for (std::size_t i = 1; i < rows.size(); ++i)
            QVERIFY(profile->nodes[static_cast<std::size_t>(rows[i - 1])].ms >=
                    profile->nodes[static_cast<std::size_t>(rows[i])].ms);
        QVERIFY(profile->nodes[static_cast<std::size_t>(rows.front())].ms > 0);
        QVERIFY(dock()->summaryText().contains(QStringLiteral("per run at batch 1")));
        // The chart: one bar per node that ran a step of its own, at most kTopN, the slowest on
        // top (a horizontal chart lists its categories bottom up).
        QChart* chart = dock()->chart();
        QCOMPARE(chart->series().size(), qsizetype{1});
        auto* series = qobject_cast<QHorizontalBarSeries*>(chart->series().first());
        QVERIFY(series);
        QCOMPARE(series->count(), 1);  // no baseline: one bar set
        int timed = 0;
        for (const analysis::NodeProfile& n : profile->nodes) timed += n.ms > 0;
        QCOMPARE(series->barSets().first()->count(), std::min(timed, ProfilerDock::kTopN));
        const QBarSet* bars = series->barSets().first();
        QCOMPARE(bars->at(bars->count() - 1),
                 profile->nodes[static_cast<std::size_t>(rows.front())].ms);
    }

    void rowsAndGraphSelectionFollowEachOther() {
        showSmallModel();
        QVERIFY(profileNow());
        Document* doc = m_w->document();
        QTableView* table = dock()->tableView();
        const ProfileFilterModel* f = dock()->filterModel();
        const int conv2 = dock()->tableModel()->rowOf(id("conv2"));
        QVERIFY(conv2 >= 0);
        // One row selected (a click, the arrow keys): its node is selected and brought into view.
        table->selectionModel()->select(f->mapFromSource(dock()->tableModel()->index(conv2, 0)),
                                        QItemSelectionModel::ClearAndSelect |
                                            QItemSelectionModel::Rows);
        QCOMPARE(doc->selection()->current(), std::optional<ir::NodeId>(id("conv2")));
        QCOMPARE(doc->selection()->size(), std::size_t{1});
        // Several rows: their nodes.
        const int fc = dock()->tableModel()->rowOf(id("fc"));
        table->selectionModel()->select(f->mapFromSource(dock()->tableModel()->index(fc, 0)),
                                        QItemSelectionModel::Select | QItemSelectionModel::Rows);
        QCOMPARE(doc->selection()->sortedIds().size(), std::size_t{2});
        QVERIFY(doc->selection()->contains(id("fc")) && doc->selection()->contains(id("conv2")));
        // A selection made in the graph selects the rows of its nodes, and only those.
        doc->selection()->setSelection({id("conv1"), id("gap")});
        QList<int> selected;
        for (const QModelIndex& index : table->selectionModel()->selectedRows())
            selected << f->mapToSource(index).row();
        std::sort(selected.begin(), selected.end());
        QList<int> expected{dock()->tableModel()->rowOf(id("conv1")),
                            dock()->tableModel()->rowOf(id("gap"))};
        std::sort(expected.begin(), expected.end());
        QCOMPARE(selected, expected);
        // A bar of the chart goes to its node too.
        QSignalSpy requested(dock(), &ProfilerDock::nodeRequested);
        auto* series = qobject_cast<QHorizontalBarSeries*>(dock()->chart()->series().first());
        const QBarSet* bars = series->barSets().first();
        emit series->clicked(bars->count() - 1, series->barSets().first());
        QCOMPARE(requested.size(), 1);
        const auto top = static_cast<std::size_t>(shownRows().front());
        QCOMPARE(requested.first().first().value<ir::NodeId>(),
                 dock()->currentProfile()->nodes[top].node);
    }

    void filtersByTextAndHidesFusedNodes() {
        showSmallModel();
        QVERIFY(profileNow());
        const auto profile = dock()->currentProfile();
        dock()->setFilterText(QStringLiteral("conv"));  // names conv1, conv2; op Conv
        QCOMPARE(dock()->filterModel()->rowCount(), 2);
        dock()->setFilterText(QStringLiteral("Gemm"));
        QCOMPARE(dock()->filterModel()->rowCount(), 1);
        dock()->setFilterText(QString());
        const int all = dock()->filterModel()->rowCount();
        int fused = 0;
        for (const analysis::NodeProfile& n : profile->nodes) fused += n.steps == 0;
        QVERIFY2(fused > 0, "relu1 runs as conv1's post-op, add as conv2's sum");
        dock()->filterModel()->setHideFused(true);
        QCOMPARE(dock()->filterModel()->rowCount(), all - fused);
        for (int r : shownRows()) QVERIFY(profile->nodes[static_cast<std::size_t>(r)].steps > 0);
    }

    void baselineGivesPerNodeSpeedups() {
        showSmallModel();
        QVERIFY(profileNow());
        QVERIFY(dock()->setBaselineFromCurrent());
        const auto baseline = dock()->baseline();
        QVERIFY(dock()->tableView()->isColumnHidden(ProfileTableModel::kSpeedup) == false);
        QVERIFY(profileNow());
        const auto now = dock()->currentProfile();
        QVERIFY(now != baseline);
        const ProfileTableModel* m = dock()->tableModel();
        int withSpeedup = 0;
        for (int r = 0; r < m->rowCount(); ++r) {
            const analysis::NodeProfile& n = now->nodes[static_cast<std::size_t>(r)];
            const double speedup =
                m->data(m->index(r, ProfileTableModel::kSpeedup), ProfileTableModel::kSortRole)
                    .toDouble();
            if (n.ms <= 0) {
                QCOMPARE(speedup, -1.0);  // fused: no time of its own to compare
                continue;
            }
            QCOMPARE(m->baselineMs(r), std::optional<double>(baseline->nodes[static_cast<std::size_t>(r)].ms));
            QVERIFY(std::abs(speedup - baseline->nodes[static_cast<std::size_t>(r)].ms / n.ms) < 1e-9);
            ++withSpeedup;
        }
        QVERIFY(withSpeedup > 0);
        QVERIFY(dock()->summaryText().contains(QStringLiteral("faster")));
        // Baseline and now as two bar sets.
        auto* series = qobject_cast<QHorizontalBarSeries*>(dock()->chart()->series().first());
        QCOMPARE(series->count(), 2);
        // Another model: its profile is gone, the baseline stays to compare with.
        QSignalSpy ready(m_w.get(), &MainWindow::viewReady);
        m_w->setModel(makeSmallModel());
        QVERIFY(ready.wait(kTimeoutMs));
        QVERIFY(!dock()->currentProfile());
        QCOMPARE(dock()->baseline(), baseline);
        dock()->clearBaseline();
        QVERIFY(!dock()->baseline());
        QVERIFY(dock()->tableView()->isColumnHidden(ProfileTableModel::kSpeedup));
    }

    void exportsCsvAndFlagsAStaleProfile() {
        showSmallModel();
        QString error;
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("p.csv"));
        QVERIFY(!dock()->exportCsvTo(path, &error));  // nothing profiled yet
        QVERIFY(!error.isEmpty());
        QVERIFY(profileNow());
        QVERIFY(dock()->exportCsvTo(path, &error));
        QFile file(path);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QByteArray csv = file.readAll();
        QCOMPARE(csv.toStdString(), analysis::profileCsv(*dock()->currentProfile()));
        QCOMPARE(static_cast<std::size_t>(csv.count('\n')), m_w->model()->graph->numNodes() + 1);
        QVERIFY(csv.startsWith("name,op,ms,"));
        // An edit leaves the rows and says they are out of date.
        QVERIFY(!dock()->summaryText().contains(QStringLiteral("changed since")));
        QVERIFY(m_w->document()->renameNode(id("fc"), "classifier").isOk());
        QVERIFY(dock()->summaryText().contains(QStringLiteral("changed since")));
        QVERIFY(dock()->currentProfile());
    }

    void waitsForTheOtherJobsBeforeTiming() {
        // A job runs (a compression, a relayout): F6 waits for it, then times the model alone.
        showSmallModel();
        std::atomic<bool> release{false};
        m_w->jobRunner()->run(QStringLiteral("busy"), [&](jobs::JobContext&) -> Expected<int> {
            while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(2));
            return 0;
        });
        QSignalSpy done(dock(), &ProfilerDock::profileFinished);
        m_w->findChild<QAction*>(QStringLiteral("ProfileModelAction"))->trigger();
        QVERIFY(dock()->isProfiling());
        QVERIFY2(dock()->summaryText().contains(QStringLiteral("Waiting for the other jobs")),
                 qPrintable(dock()->summaryText()));
        QVERIFY(!done.wait(300));
        release = true;
        QVERIFY(done.wait(kTimeoutMs));
        QVERIFY(done.first().first().toBool());
        QVERIFY(dock()->currentProfile());
        QVERIFY(!dock()->summaryText().contains(QStringLiteral("may be off")));
    }

    void refusesBadShapesAndCancels() {
        showSmallModel();
        dock()->setShapesText(QStringLiteral("x=1,3,abc"));
        QString message;
        QVERIFY(!profileNow(&message));
        QVERIFY2(message.contains(QStringLiteral("x=1,3,abc")), qPrintable(message));
        QVERIFY(dock()->summaryText().contains(QStringLiteral("x=1,3,abc")));
        // A good spec profiles at that shape.
        dock()->setShapesText(QStringLiteral("x=1,3,32,32"));
        QVERIFY(profileNow(&message));
        dock()->setShapesText(QString());
        // Cancel: the button turns into Cancel while the job runs.
        dock()->setRuns(100000);
        QSignalSpy done(dock(), &ProfilerDock::profileFinished);
        dock()->profile();
        QVERIFY(dock()->isProfiling());
        auto* button = dock()->findChild<QPushButton*>(QStringLiteral("ProfileButton"));
        QCOMPARE(button->text(), QStringLiteral("Cancel"));
        button->click();
        QVERIFY(!done.isEmpty() || done.wait(kTimeoutMs));
        QCOMPARE(done.first().first().toBool(), false);
        QVERIFY(!dock()->isProfiling());
        QCOMPARE(button->text(), QStringLiteral("Profile"));
    }
};

}  // namespace

std::unique_ptr<QObject> makeProfilerDockTest() {
    return std::make_unique<ProfilerDockTest>();
}

}  // namespace wh::widgets::test

#include "profiler_dock_test.moc"
