// JobRunner and JobsDock: results, failures, progress, cancellation (fast, and nothing applied),
// shutdown; and the GUI-latency probe: while heavy work runs, the event loop keeps ticking.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include <QAction>
#include <QElapsedTimer>
#include <QFile>
#include <QProgressBar>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QToolButton>
#include <QTreeWidget>
#include <QUndoStack>

#include "core/models/architectures.h"
#include "core/onnx/model_io.h"
#include "tests/widgets/widgets_test.h"
#include "widgets/document.h"
#include "widgets/graph_view.h"
#include "widgets/job_runner.h"
#include "widgets/jobs_dock.h"
#include "widgets/main_window.h"

namespace wh::widgets::test {
namespace {

constexpr int kTimeoutMs = 120'000;

/// Measures the largest gap between ticks of a 10 ms timer on the GUI thread.
/// A GUI-thread gap that only blocking work on the GUI thread explains (a 20k-node open takes
/// seconds there); scheduler noise under a loaded 2-core ctest run stays well below it.
constexpr double kOffThreadGapMs = 250.0;

class LatencyProbe : public QObject {
public:
    LatencyProbe() {
        m_timer.setInterval(10);
        m_timer.setTimerType(Qt::PreciseTimer);
        connect(&m_timer, &QTimer::timeout, this, [this] {
            const qint64 now = m_clock.nsecsElapsed();
            if (m_last >= 0) m_maxGapNs = std::max(m_maxGapNs, now - m_last);
            m_last = now;
            ++m_ticks;
        });
        m_clock.start();
        m_timer.start();
    }
    double maxGapMs() const { return static_cast<double>(m_maxGapNs) / 1e6; }
    int ticks() const { return m_ticks; }

private:
    QTimer m_timer;
    QElapsedTimer m_clock;
    qint64 m_last = -1;
    qint64 m_maxGapNs = 0;
    int m_ticks = 0;
};

/// A task that spins (checking cancellation every ~2 ms) for `seconds`, then returns 42.
auto spinner(double seconds) {
    return [seconds](jobs::JobContext& ctx) -> Expected<int> {
        auto start = std::chrono::steady_clock::now();
        for (;;) {
            double t =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (t >= seconds) break;
            ctx.setProgress(t / seconds, "spinning");
            WH_RETURN_IF_ERROR(ctx.checkCancelled());
            // Busy CPU work, not sleep: the worker competes with the GUI thread for the cores.
            volatile double x = 0;
            for (int i = 0; i < 20000; ++i) x = x + i * 1e-9;
        }
        return 42;
    };
}

class JobRunnerTest : public QObject {
    Q_OBJECT

private slots:
    void idleWaitersRunOneAtATimeAfterTheJobs() {
        JobRunner runner;
        std::atomic<bool> release{false};
        auto blocking = [&](jobs::JobContext&) -> Expected<int> {
            while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(2));
            return 1;
        };
        runner.run(QStringLiteral("busy"), blocking);
        QStringList order;
        QObject first, second, gone;
        // The first waiter starts a job of its own: the second waits for that one too.
        Job* own = nullptr;
        runner.whenIdle(&first, [&](bool idle) {
            order << QStringLiteral("first %1").arg(idle);
            own = runner.run(QStringLiteral("timing"), [](jobs::JobContext&) -> Expected<int> {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                return 2;
            });
        });
        runner.whenIdle(&second, [&](bool idle) {
            order << QStringLiteral("second %1 %2").arg(idle).arg(own && !own->isRunning());
        });
        {
            QObject context;
            runner.whenIdle(&context, [&](bool) { order << QStringLiteral("gone"); });
        }  // its context is destroyed: never called
        QTest::qWait(200);
        QVERIFY(order.isEmpty());  // the busy job still runs
        QCOMPARE(runner.idleWaiterCount(), 3);
        release = true;
        QVERIFY(QTest::qWaitFor([&] { return order.size() == 2; }, kTimeoutMs));
        QCOMPARE(order, (QStringList{QStringLiteral("first 1"), QStringLiteral("second 1 1")}));
        QCOMPARE(runner.idleWaiterCount(), 0);

        // A waiter past its deadline is called anyway, with idle false.
        release = false;
        runner.run(QStringLiteral("busy again"), blocking);
        bool called = false, wasIdle = true;
        runner.whenIdle(&gone, [&](bool idle) {
            called = true;
            wasIdle = idle;
        }, 150);
        QVERIFY(QTest::qWaitFor([&] { return called; }, kTimeoutMs));
        QVERIFY(!wasIdle);
        QCOMPARE(runner.runningCount(), 1);
        release = true;
        QVERIFY(runner.waitForIdle(kTimeoutMs));
    }

    void engineJobsShareOneThreadOneAtATime() {
        // Every engine job runs on the same thread (one OpenMP team: see JobRunner::Lane),
        // queued in order, while general jobs run beside them.
        JobRunner runner;
        std::atomic<int> inside{0}, most{0};
        auto engineWork = [&](jobs::JobContext&) -> Expected<std::thread::id> {
            most = std::max(most.load(), ++inside);
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
            --inside;
            return std::this_thread::get_id();
        };
        std::vector<Job*> jobs;
        for (int i = 0; i < 3; ++i)
            jobs.push_back(runner.run(QStringLiteral("engine %1").arg(i), engineWork,
                                      JobRunner::Lane::kEngine));
        QCOMPARE(jobs[2]->stage(), QStringLiteral("waiting for the engine"));
        Job* general = runner.run(QStringLiteral("layout"),
                                  [](jobs::JobContext&) -> Expected<std::thread::id> {
                                      return std::this_thread::get_id();
                                  });
        QVERIFY(runner.waitForIdle(kTimeoutMs));
        QCOMPARE(most.load(), 1);
        for (Job* job : jobs) QVERIFY(job->result<std::thread::id>());
        const std::thread::id engine = *jobs[0]->result<std::thread::id>();
        for (Job* job : jobs) QCOMPARE(*job->result<std::thread::id>(), engine);
        QVERIFY(*general->result<std::thread::id>() != engine);
        // Later engine jobs still find the same thread.
        Job* later =
            runner.run(QStringLiteral("engine later"), engineWork, JobRunner::Lane::kEngine);
        QVERIFY(runner.waitForIdle(kTimeoutMs));
        QCOMPARE(*later->result<std::thread::id>(), engine);
    }

    void finishedDeliversTheResult() {
        JobRunner runner;
        Job* job = runner.run(QStringLiteral("answer"), [](jobs::JobContext& ctx) -> Expected<int> {
            ctx.setProgress(0.5, "thinking");
            return 42;
        });
        QSignalSpy finished(job, &Job::finished);
        QSignalSpy ended(job, &Job::ended);
        QVERIFY(job->isRunning());
        QVERIFY(finished.wait(kTimeoutMs));
        QCOMPARE(ended.count(), 1);
        QCOMPARE(job->state(), Job::State::kFinished);
        QVERIFY(job->result<int>());
        QCOMPARE(*job->result<int>(), 42);
        QVERIFY(!job->result<double>());  // wrong type: null, not garbage
        QCOMPARE(job->fraction(), 1.0);
        QCOMPARE(runner.runningCount(), 0);
    }

    void failedDeliversTheStatus() {
        JobRunner runner;
        Job* job = runner.run(QStringLiteral("fails"), [](jobs::JobContext&) -> Expected<int> {
            return error(StatusCode::kBadInput, "model.onnx: node 'x' is broken");
        });
        QSignalSpy failed(job, &Job::failed);
        QVERIFY(failed.wait(kTimeoutMs));
        QCOMPARE(job->state(), Job::State::kFailed);
        QCOMPARE(failed.at(0).at(0).value<wh::Status>().code(), StatusCode::kBadInput);
        QCOMPARE(job->status().message(), std::string("model.onnx: node 'x' is broken"));
        QVERIFY(!job->result<int>());

        Job* thrower = runner.run(QStringLiteral("throws"), [](jobs::JobContext&) -> Expected<int> {
            throw std::runtime_error("boom");
        });
        QSignalSpy failed2(thrower, &Job::failed);
        QVERIFY(failed2.wait(kTimeoutMs));
        QVERIFY(thrower->status().message().find("boom") != std::string::npos);
    }

    void progressIsPolledWithAnEta() {
        JobRunner runner;
        Job* job = runner.run(QStringLiteral("spin"), spinner(1.0));
        QSignalSpy progress(job, &Job::progress);
        QSignalSpy finished(job, &Job::finished);
        QVERIFY(finished.wait(kTimeoutMs));
        QVERIFY2(progress.count() >= 5, qPrintable(QString::number(progress.count())));
        bool sawEta = false;
        double last = -1;
        for (const QList<QVariant>& p : progress) {
            QVERIFY(p.at(0).toDouble() >= last);
            last = p.at(0).toDouble();
            if (p.at(1).toDouble() > 0) sawEta = true;
        }
        QVERIFY(sawEta);
        QCOMPARE(progress.last().at(0).toDouble(), 1.0);
    }

    void cancelTakesEffectFastAndAppliesNothing() {
        JobRunner runner;
        Job* job = runner.run(QStringLiteral("endless"), spinner(1e9));
        QSignalSpy cancelled(job, &Job::cancelled);
        QSignalSpy finished(job, &Job::finished);
        QTest::qWait(300);
        QVERIFY(job->isRunning());
        QElapsedTimer clock;
        clock.start();
        job->cancel();
        QVERIFY(cancelled.wait(kTimeoutMs));
        const double ms = static_cast<double>(clock.nsecsElapsed()) / 1e6;
        std::printf("PERF cancel of a spinning job took %.1f ms\n", ms);
        QVERIFY2(ms < 500, qPrintable(QStringLiteral("cancel took %1 ms").arg(ms)));
        QCOMPARE(finished.count(), 0);
        QCOMPARE(job->state(), Job::State::kCancelled);
        QVERIFY(!job->result<int>());

        // A task that ignores the flag and succeeds anyway: its result is still dropped.
        std::atomic<bool> release{false};
        Job* stubborn =
            runner.run(QStringLiteral("stubborn"), [&release](jobs::JobContext&) -> Expected<int> {
                while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
                return 7;
            });
        QSignalSpy stubbornCancelled(stubborn, &Job::cancelled);
        QSignalSpy stubbornFinished(stubborn, &Job::finished);
        stubborn->cancel();
        QVERIFY(stubborn->isRunning());  // until the task returns or kDetachMs pass
        release.store(true);
        QVERIFY(stubbornCancelled.wait(kTimeoutMs));
        QCOMPARE(stubbornFinished.count(), 0);
        QVERIFY(!stubborn->result<int>());

        // A task that cannot be interrupted at all: the job still ends within kDetachMs, and
        // the late result is dropped on the worker.
        release.store(false);
        Job* stuck =
            runner.run(QStringLiteral("stuck"), [&release](jobs::JobContext&) -> Expected<int> {
                while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
                return 9;
            });
        QSignalSpy stuckCancelled(stuck, &Job::cancelled);
        QSignalSpy stuckFinished(stuck, &Job::finished);
        QElapsedTimer stuckClock;
        stuckClock.start();
        stuck->cancel();
        QVERIFY(stuckCancelled.wait(kTimeoutMs));
        const double stuckMs = static_cast<double>(stuckClock.nsecsElapsed()) / 1e6;
        std::printf("PERF cancel of an uninterruptible job took %.1f ms\n", stuckMs);
        QVERIFY(stuckMs < 500);
        QCOMPARE(runner.activeWorkers(), 1);  // still running, detached
        release.store(true);
        QTRY_COMPARE_WITH_TIMEOUT(runner.activeWorkers(), 0, 5000);
        QTest::qWait(20);  // its late completion arrives and is ignored
        QCOMPARE(stuckFinished.count(), 0);
        QCOMPARE(stuckCancelled.count(), 1);
        QVERIFY(!stuck->result<int>());
    }

    void shutdownCancelsAndWaits() {
        auto runner = std::make_unique<JobRunner>();
        Job* a = runner->run(QStringLiteral("a"), spinner(1e9));
        Job* b = runner->run(QStringLiteral("b"), spinner(1e9));
        QSignalSpy aEnded(a, &Job::cancelled);
        QSignalSpy bEnded(b, &Job::cancelled);
        QTest::qWait(50);
        QElapsedTimer clock;
        clock.start();
        runner->shutdown();
        QVERIFY(clock.elapsed() < 500);
        QCOMPARE(aEnded.count(), 1);
        QCOMPARE(bEnded.count(), 1);
        QCOMPARE(runner->runningCount(), 0);
        runner.reset();  // and destruction after shutdown is fine
    }

    void jobsDockShowsProgressAndCancels() {
        JobRunner runner;
        JobsDock dock;
        dock.watch(&runner);
        Job* job =
            runner.run(QStringLiteral("Spin a while"), [](jobs::JobContext& ctx) -> Expected<int> {
                ctx.setProgress(0.3, "spinning");
                while (ctx.checkCancelled().isOk())
                    std::this_thread::sleep_for(std::chrono::milliseconds(2));
                return tl::unexpected(ctx.checkCancelled());
            });
        QCOMPARE(dock.count(), 1);
        QCOMPARE(dock.runningCount(), 1);
        QVERIFY(dock.cancelButton(0));
        QVERIFY(dock.progressBar(0));
        QTRY_VERIFY_WITH_TIMEOUT(dock.progressBar(0)->value() > 0, 5000);
        QVERIFY2(dock.text(0).startsWith(QStringLiteral("Spin a while — spinning")),
                 qPrintable(dock.text(0)));
        QSignalSpy cancelled(job, &Job::cancelled);
        dock.cancelButton(0)->click();
        QVERIFY(cancelled.wait(kTimeoutMs));
        QCOMPARE(dock.runningCount(), 0);
        QVERIFY(!dock.cancelButton(0));
        QVERIFY2(dock.text(0).contains(QStringLiteral("cancelled after")),
                 qPrintable(dock.text(0)));

        Job* quick = runner.run(QStringLiteral("Quick"),
                                [](jobs::JobContext&) -> Expected<int> { return 1; });
        QSignalSpy done(quick, &Job::finished);
        QVERIFY(done.wait(kTimeoutMs));
        QVERIFY2(dock.text(1).contains(QStringLiteral("done in")), qPrintable(dock.text(1)));
        QCOMPARE(dock.progressBar(1)->value(), dock.progressBar(1)->maximum());
    }

    void jobsDockClearsFinishedJobs() {
        JobRunner runner;
        JobsDock dock;
        dock.watch(&runner);
        QVERIFY(!dock.clearFinishedAction()->isEnabled());
        Job* spin = runner.run(QStringLiteral("Spin"), [](jobs::JobContext& ctx) -> Expected<int> {
            while (ctx.checkCancelled().isOk())
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            return tl::unexpected(ctx.checkCancelled());
        });
        for (const char* name : {"One", "Two"}) {
            Job* quick = runner.run(QString::fromLatin1(name),
                                    [](jobs::JobContext&) -> Expected<int> { return 1; });
            QSignalSpy ended(quick, &Job::ended);
            QVERIFY(ended.wait(kTimeoutMs));
        }
        Job* bad = runner.run(QStringLiteral("Bad"), [](jobs::JobContext&) -> Expected<int> {
            return error(StatusCode::kBadInput, "no");
        });
        QSignalSpy badEnded(bad, &Job::ended);
        QVERIFY(badEnded.wait(kTimeoutMs));
        QCOMPARE(dock.count(), 4);
        QVERIFY(dock.clearFinishedAction()->isEnabled());
        // In the list's context menu and as a button above it.
        QVERIFY(dock.findChild<QTreeWidget*>()->actions().contains(dock.clearFinishedAction()));
        bool button = false;
        for (QToolButton* b : dock.findChildren<QToolButton*>())
            button = button || b->defaultAction() == dock.clearFinishedAction();
        QVERIFY(button);

        dock.clearFinishedAction()->trigger();
        QCOMPARE(dock.count(), 1);  // the running one stays, with its Cancel button
        QVERIFY2(dock.text(0).startsWith(QStringLiteral("Spin")), qPrintable(dock.text(0)));
        QVERIFY(dock.cancelButton(0));
        QVERIFY(!dock.clearFinishedAction()->isEnabled());
        QSignalSpy cancelled(spin, &Job::ended);
        dock.cancelButton(0)->click();
        QVERIFY(cancelled.wait(kTimeoutMs));
        QVERIFY(dock.clearFinishedAction()->isEnabled());
        dock.clearFinished();
        QCOMPARE(dock.count(), 0);
        // New jobs are listed as before.
        Job* again = runner.run(QStringLiteral("Again"),
                                [](jobs::JobContext&) -> Expected<int> { return 1; });
        QSignalSpy done(again, &Job::ended);
        QVERIFY(done.wait(kTimeoutMs));
        QCOMPARE(dock.count(), 1);
        QVERIFY2(dock.text(0).contains(QStringLiteral("done in")), qPrintable(dock.text(0)));
    }

    /// No time left before 10 % of the work and 1 s of running, however fast the start was.
    void jobsDockWaitsBeforeEstimatingTimeLeft() {
        JobRunner runner;
        JobsDock dock;
        dock.watch(&runner);
        auto target = std::make_shared<std::atomic<int>>(0);  // per mille
        runner.run(QStringLiteral("Steady"), [target](jobs::JobContext& ctx) -> Expected<int> {
            int step = 0;
            while (ctx.checkCancelled().isOk()) {
                // Creeps forward (never back) so that the core always has a rate.
                ctx.setProgress(std::min(0.99, (target->load() + 0.1 * ++step) / 1000.0));
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
            return tl::unexpected(ctx.checkCancelled());
        });
        QElapsedTimer clock;
        clock.start();
        // 40 % within the first second: the core estimates, the dock does not show it yet.
        target->store(100);
        QTest::qWait(150);
        target->store(400);
        QTRY_VERIFY_WITH_TIMEOUT(dock.progressBar(0)->value() >= 400, 5000);
        QTest::qWait(150);
        if (clock.elapsed() < 900) QCOMPARE(dock.etaText(0), QStringLiteral("—"));
        // Past 1 s and 10 %: shown.
        QTest::qWait(static_cast<int>(std::max<qint64>(0, 1100 - clock.elapsed())));
        target->store(600);
        QTRY_VERIFY_WITH_TIMEOUT(dock.etaText(0) != QStringLiteral("—"), 5000);
        QVERIFY2(!dock.etaText(0).isEmpty(), qPrintable(dock.etaText(0)));
        runner.cancelAll();
    }

    void jobsDockShowsNoTimeLeftBelowTenPercent() {
        JobRunner runner;
        JobsDock dock;
        dock.watch(&runner);
        auto target = std::make_shared<std::atomic<int>>(0);
        runner.run(QStringLiteral("Slow start"), [target](jobs::JobContext& ctx) -> Expected<int> {
            int step = 0;
            while (ctx.checkCancelled().isOk()) {
                ctx.setProgress(std::min(0.09, 0.01 + 0.0005 * ++step));
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
            return tl::unexpected(ctx.checkCancelled());
        });
        QTest::qWait(1400);  // over 1 s, under 10 %: the core has an estimate, the dock waits
        QVERIFY(dock.progressBar(0)->value() > 10);
        QCOMPARE(dock.etaText(0), QStringLiteral("—"));
        runner.cancelAll();
    }

    void guiStaysResponsiveWhileAHeavyJobRuns() {
        // Opening a network-shaped model (load, check, copy, layout, view index: all off the
        // GUI thread), then installing its view. 20k nodes by default; the benchmark figure
        // for 100k comes from WHITTLE_LATENCY_NODES=100000 (docs/benchmarks.md).
        const int nodes = qEnvironmentVariableIsSet("WHITTLE_LATENCY_NODES")
                              ? qEnvironmentVariableIntValue("WHITTLE_LATENCY_NODES")
                              : 20000;
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString big = dir.filePath(QStringLiteral("chain.onnx"));
        {
            ir::Model model = models::buildResidualChain(nodes);
            QVERIFY(onnx::saveModel(model, big.toStdString()).isOk());
        }
        {
            MainWindow w(MainWindow::SettingsMode::kIgnore);
            w.resize(1400, 900);
            w.show();
            QSignalSpy ready(&w, &MainWindow::viewReady);
            QSignalSpy failed(&w, &MainWindow::loadFailed);
            LatencyProbe probe;
            QElapsedTimer clock;
            clock.start();
            w.openFile(big);
            QVERIFY(ready.wait(kTimeoutMs));
            const double seconds = static_cast<double>(clock.elapsed()) / 1000.0;
            // Let the view paint and settle: that is GUI work too.
            QTest::qWait(500);
            std::printf(
                "PERF open+layout of %zu nodes: %.2f s, %d probe ticks, max GUI gap "
                "%.1f ms\n",
                w.model()->graph->numNodes(), seconds, probe.ticks(), probe.maxGapMs());
            QCOMPARE(failed.count(), 0);
            QVERIFY(w.graphView()->currentLayout());
            QCOMPARE(w.graphView()->currentLayout()->nodes.size(), w.model()->graph->numNodes());
            const double openGap = probe.maxGapMs();

            // One edit of the big graph: the edit itself plus the snapshot copy its relayout
            // takes, both on the GUI thread (reported, not asserted).
            QElapsedTimer editClock;
            editClock.start();
            QVERIFY(w.renameNode(w.model()->graph->firstNode()->id(), QStringLiteral("stem")));
            std::printf("PERF rename + snapshot of %zu nodes on the GUI thread: %lld ms\n",
                        w.model()->graph->numNodes(), static_cast<long long>(editClock.elapsed()));
            QVERIFY(ready.wait(kTimeoutMs));
            // Undo it, so that opening again does not ask about unsaved changes.
            w.document()->undoStack()->undo();
            QVERIFY(!w.document()->isDirty());
            QVERIFY(ready.wait(kTimeoutMs));

            // Cancelling a second open of it: fast, and the open document stays.
            const ir::Model* before = w.model();
            LatencyProbe probe2;
            w.openFile(big);
            QVERIFY(w.openJob());
            Job* job = w.openJob();
            QSignalSpy cancelled(job, &Job::cancelled);
            QTest::qWait(50);  // into parsing
            QElapsedTimer c;
            c.start();
            job->cancel();
            QVERIFY(cancelled.wait(kTimeoutMs));
            const double ms = static_cast<double>(c.nsecsElapsed()) / 1e6;
            std::printf(
                "PERF cancel of opening %d nodes during '%s': %.1f ms (max GUI gap "
                "%.1f ms)\n",
                nodes, qPrintable(job->stage()), ms, probe2.maxGapMs());
            QVERIFY2(ms < 500, qPrintable(QStringLiteral("cancel took %1 ms").arg(ms)));
            QCOMPARE(w.model(), before);
            // Not a speed target (the < 50 ms figure is a benchmark, docs/benchmarks.md): the
            // assertion only tells "the heavy work ran off the GUI thread" (it would stall for
            // seconds) from scheduler noise when ctest runs other tests on both cores.
            QVERIFY2(openGap < kOffThreadGapMs,
                     qPrintable(QStringLiteral("the GUI thread stalled for %1 ms").arg(openGap)));
        }
        JobRunner runner;
        LatencyProbe probe;
        Job* job = runner.run(QStringLiteral("heavy"), spinner(2.0));
        QSignalSpy finished(job, &Job::finished);
        QVERIFY(finished.wait(kTimeoutMs));
        std::printf("PERF synthetic 2 s job: max GUI gap %.1f ms\n", probe.maxGapMs());
        QVERIFY2(
            probe.maxGapMs() < kOffThreadGapMs,
            qPrintable(QStringLiteral("the GUI thread stalled for %1 ms").arg(probe.maxGapMs())));
    }
};

}  // namespace

std::unique_ptr<QObject> makeJobRunnerTest() {
    return std::make_unique<JobRunnerTest>();
}

}  // namespace wh::widgets::test

#include "job_runner_test.moc"
