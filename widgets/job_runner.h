#pragma once
/// JobRunner: runs long tasks off the GUI thread and reports on them with Qt signals.
///
/// A task is a function `Expected<T>(jobs::JobContext&)`. It runs on a worker of the runner's own
/// thread pool; it reports progress and polls cancellation through its JobContext. The runner
/// polls every running job's progress with a QTimer (the task never touches Qt) and emits
/// Job::progress on the GUI thread; when the task returns, Job::finished, Job::failed or
/// Job::cancelled follows on the GUI thread, immediately (not at the next poll).
///
/// Cancellation: Job::cancel() sets the context's flag; the job ends as cancelled when the task
/// returns, whatever it returns, and its result is dropped: a cancelled job never hands anything
/// to its caller. A task stuck in a step it cannot interrupt (parsing a file) does not hold the
/// GUI up: kDetachMs after cancel() the job ends as cancelled anyway, and the task's eventual
/// outcome is thrown away when it returns (on its worker thread). Shutdown (the destructor, or
/// shutdown()) cancels every job and waits for every worker, detached ones included.
///
/// Thread-safety: create, use and destroy JobRunner and Job on the GUI thread only.

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <typeinfo>

#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QList>
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QString>

#include "core/jobs/job_context.h"
#include "core/util/status.h"

class QThreadPool;
class QTimer;

Q_DECLARE_METATYPE(wh::Status)

namespace wh::widgets {

class JobRunner;

/// One run of a task: its name, state, progress and (once finished) result.
class Job : public QObject {
    Q_OBJECT

public:
    enum class State { kRunning, kFinished, kFailed, kCancelled };

    int id() const { return m_id; }
    const QString& name() const { return m_name; }
    State state() const { return m_state; }
    bool isRunning() const { return m_state == State::kRunning; }
    /// True once cancel() was called (the job may still be running until the task notices).
    bool isCancelRequested() const { return m_context->isCancelled(); }

    /// The last polled progress (fraction in [0, 1], stage text, ETA in seconds if known).
    double fraction() const { return m_fraction; }
    const QString& stage() const { return m_stage; }
    std::optional<double> etaSeconds() const { return m_eta; }
    /// Seconds since start while running; the total duration once ended.
    double seconds() const;
    /// The failure, for a failed job.
    const Status& status() const { return m_status; }

    /// The result of a finished job, or null. T must be the type the task returned (checked).
    template <class T>
    T* result() const {
        if (!m_result) return nullptr;
        if (*m_resultType != typeid(T)) return nullptr;
        return static_cast<T*>(m_result.get());
    }
    /// Gives up the result (e.g. to move a model out); result<T>() is null afterwards.
    void releaseResult() { m_result.reset(); }

public slots:
    /// Asks the task to stop. The job then ends with cancelled() as soon as the task returns.
    void cancel();

signals:
    /// Polled progress, about ten times a second while it changes. `etaSeconds` < 0 = unknown.
    void progress(double fraction, double etaSeconds, const QString& stage);
    /// The task succeeded; result<T>() holds what it returned.
    void finished();
    /// The task returned an error (not kCancelled).
    void failed(const wh::Status& status);
    /// The job was cancelled (the task has returned; its result, if any, was dropped).
    void cancelled();
    /// Any of the three above happened (emitted right after it).
    void ended();
    /// Cancellation was asked for; the task has not returned yet.
    void cancelRequested();

private:
    friend class JobRunner;
    Job(int id, QString name, QObject* parent);

    int m_id;
    QString m_name;
    State m_state = State::kRunning;
    std::shared_ptr<jobs::JobContext> m_context;
    QElapsedTimer m_timer;
    qint64 m_durationMs = -1;
    double m_fraction = 0;
    QString m_stage;
    std::optional<double> m_eta;
    Status m_status;
    std::shared_ptr<void> m_result;
    const std::type_info* m_resultType = &typeid(void);
};

class JobRunner : public QObject {
    Q_OBJECT

public:
    /// A type-erased task: returns its result boxed, or the Status explaining its absence.
    using Work = std::function<Expected<std::shared_ptr<void>>(jobs::JobContext&)>;

    /// `maxThreads` workers (at least 1; default: the machine's ideal thread count, at least 2).
    explicit JobRunner(QObject* parent = nullptr, int maxThreads = 0);
    /// shutdown().
    ~JobRunner() override;

    /// Where a job runs. kEngine: the one engine thread, for every job that runs the engine
    /// (compress, profile, timings, shape inference, sensitivity): libgomp gives each thread
    /// that starts a parallel region its own team and, once the process has more OpenMP
    /// threads than CPUs, throttles every team's spin-wait to ~100 iterations — kernels then
    /// sleep between steps (a small CNN ran 3-16x slower in the studio after a compression
    /// had run on another pool thread). One engine thread keeps one team. Engine jobs run one
    /// after the other, queued in order; kGeneral jobs (open, layout, save) run beside them.
    enum class Lane { kGeneral, kEngine };

    /// Starts `work` returning a value of `resultType`. Prefer run<T>().
    Job* start(const QString& name, Work work, const std::type_info& resultType,
               Lane lane = Lane::kGeneral);

    /// Starts `work`, a callable `Expected<T>(jobs::JobContext&)`, on `lane`. Connect to the
    /// returned job's signals right away (before returning to the event loop) to see every one
    /// of them.
    template <class F>
    Job* run(const QString& name, F work, Lane lane = Lane::kGeneral) {
        using R = std::invoke_result_t<F&, jobs::JobContext&>;
        using T = typename R::value_type;
        return start(
            name,
            [work = std::move(work)](
                jobs::JobContext& ctx) mutable -> Expected<std::shared_ptr<void>> {
                R r = work(ctx);
                if (!r) return tl::unexpected(r.error());
                return std::static_pointer_cast<void>(std::make_shared<T>(std::move(*r)));
            },
            typeid(T), lane);
    }

    /// Jobs still kept (running, and the most recent ended ones), oldest first.
    QList<Job*> jobs() const { return m_jobs; }
    int runningCount() const;
    /// Asks every running job to stop.
    void cancelAll();
    /// Cancels everything and blocks until every worker has returned. Idempotent.
    void shutdown();
    /// Processes events until no job runs or `timeoutMs` passes; true if idle. For tests and for
    /// closing the window.
    bool waitForIdle(int timeoutMs);

    /// Calls `then` on the GUI thread once no job runs (right away when none does and nobody
    /// waits) — for
    /// work whose result is a timing. Waiters are served one at a time, in order: each may start
    /// a job, which the next one then waits for. A waiter still waiting after `maxWaitMs` is
    /// called anyway with `idle` false; one whose `context` is gone is dropped.
    void whenIdle(QObject* context, std::function<void(bool idle)> then, int maxWaitMs = 30'000);
    /// Waiters not called yet.
    int idleWaiterCount() const { return static_cast<int>(m_idleWaiters.size()); }

    /// How often running jobs' progress is polled.
    static constexpr int kPollMs = 100;
    /// How long after cancel() a job whose task has not returned is ended anyway.
    static constexpr int kDetachMs = 250;
    /// Tasks still executing (detached ones included).
    int activeWorkers() const { return m_activeWorkers.load(); }

signals:
    /// A job was started (the Jobs dock lists it).
    void jobStarted(wh::widgets::Job* job);

private:
    struct Outcome;
    void complete(int id, std::shared_ptr<Outcome> outcome);
    void detach(int id);
    void poll();
    void prune();
    void dispatchIdle();
    struct IdleWaiter {
        QPointer<QObject> context;
        std::function<void(bool)> then;
        QDeadlineTimer deadline;
    };
    std::deque<IdleWaiter> m_idleWaiters;
    QTimer* m_idleTimer = nullptr;

    QThreadPool* m_pool;
    QThreadPool* m_enginePool;  // one thread that never expires: one OpenMP team
    QTimer* m_timer;
    QList<Job*> m_jobs;
    int m_nextId = 1;
    bool m_shutDown = false;
    std::atomic<int> m_activeWorkers{0};
};

/// "12 s", "3 min 05 s", "1 h 02 min": for ETAs and durations.
QString formatDuration(double seconds);

}  // namespace wh::widgets
