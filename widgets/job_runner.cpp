#include "widgets/job_runner.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QThread>
#include <QThreadPool>
#include <QTimer>

namespace wh::widgets {

namespace {
constexpr int kKeepEndedJobs = 64;  // ended Job objects kept for inspection; older ones go
}

struct JobRunner::Outcome {
    Expected<std::shared_ptr<void>> result;
};

// ---- Job -----------------------------------------------------------------------------------

Job::Job(int id, QString name, QObject* parent)
    : QObject(parent),
      m_id(id),
      m_name(std::move(name)),
      m_context(std::make_shared<jobs::JobContext>()) {
    m_timer.start();
}

double Job::seconds() const {
    const qint64 ms = m_durationMs >= 0 ? m_durationMs : m_timer.elapsed();
    return static_cast<double>(ms) / 1000.0;
}

void Job::cancel() {
    if (m_state != State::kRunning || m_context->isCancelled()) return;
    m_context->requestCancel();
    emit cancelRequested();
}

// ---- JobRunner -----------------------------------------------------------------------------

JobRunner::JobRunner(QObject* parent, int maxThreads)
    : QObject(parent),
      m_pool(new QThreadPool(this)),
      m_enginePool(new QThreadPool(this)),
      m_timer(new QTimer(this)) {
    qRegisterMetaType<wh::Status>();
    if (maxThreads <= 0) maxThreads = std::max(2, QThread::idealThreadCount());
    m_pool->setMaxThreadCount(maxThreads);
    // Idle workers linger a little so that a burst of small jobs does not respawn threads.
    m_pool->setExpiryTimeout(30'000);
    m_enginePool->setMaxThreadCount(1);
    m_enginePool->setExpiryTimeout(-1);
    m_timer->setInterval(kPollMs);
    connect(m_timer, &QTimer::timeout, this, &JobRunner::poll);
}

JobRunner::~JobRunner() {
    shutdown();
}

Job* JobRunner::start(const QString& name, Work work, const std::type_info& resultType,
                      Lane lane) {
    auto* job = new Job(m_nextId++, name, this);
    job->m_resultType = &resultType;
    m_jobs.push_back(job);
    prune();
    emit jobStarted(job);
    if (m_shutDown) {
        job->m_context->requestCancel();
        complete(job->id(), std::make_shared<Outcome>(Outcome{tl::unexpected(
                                Status(StatusCode::kCancelled, "the studio is shutting down"))}));
        return job;
    }
    if (!m_timer->isActive()) m_timer->start();

    std::shared_ptr<jobs::JobContext> context = job->m_context;
    const int id = job->id();
    connect(job, &Job::cancelRequested, this,
            [this, id] { QTimer::singleShot(kDetachMs, this, [this, id] { detach(id); }); });
    ++m_activeWorkers;
    QThreadPool* pool = lane == Lane::kEngine ? m_enginePool : m_pool;
    if (lane == Lane::kEngine && pool->activeThreadCount() > 0) {
        context->setStage("waiting for the engine");  // until the task sets its own
        job->m_stage = tr("waiting for the engine");
    }
    pool->start([this, id, context, work = std::move(work)]() mutable {
        auto outcome = std::make_shared<Outcome>();
        try {
            outcome->result = work(*context);
            if (outcome->result && !*outcome->result)
                outcome->result = std::shared_ptr<void>();  // a null box is still a success
        } catch (const std::bad_alloc&) {
            outcome->result = tl::unexpected(Status(StatusCode::kInternal, "out of memory"));
        } catch (const std::exception& e) {
            outcome->result = tl::unexpected(
                Status(StatusCode::kInternal, std::string("unexpected error: ") + e.what()));
        }
        // Destroy captured state (snapshots of big models) here, off the GUI thread; and a
        // result nobody will take (the job was cancelled) too.
        work = nullptr;
        if (context->isCancelled()) outcome->result = tl::unexpected(context->checkCancelled());
        --m_activeWorkers;
        // The runner outlives every worker (its destructor waits for the pool), so posting to it
        // is safe; Qt drops the event if the runner is gone by the time it would run.
        QMetaObject::invokeMethod(
            this, [this, id, outcome]() mutable { complete(id, std::move(outcome)); },
            Qt::QueuedConnection);
    });
    return job;
}

void JobRunner::complete(int id, std::shared_ptr<Outcome> outcome) {
    auto it = std::find_if(m_jobs.begin(), m_jobs.end(), [id](Job* j) { return j->id() == id; });
    if (it == m_jobs.end()) return;
    Job* job = *it;
    if (job->m_state != Job::State::kRunning) return;
    job->m_durationMs = job->m_timer.elapsed();
    job->m_eta.reset();
    jobs::ProgressSnapshot snap = job->m_context->snapshot();
    job->m_stage = QString::fromStdString(snap.stage);

    const bool cancelled =
        job->m_context->isCancelled() ||
        (!outcome->result && outcome->result.error().code() == StatusCode::kCancelled);
    if (cancelled) {
        job->m_state = Job::State::kCancelled;
        // Drop the result here; if it is big, its destruction is the only GUI-thread cost left.
        outcome.reset();
        emit job->cancelled();
    } else if (!outcome->result) {
        job->m_state = Job::State::kFailed;
        job->m_status = outcome->result.error();
        emit job->failed(job->m_status);
    } else {
        job->m_state = Job::State::kFinished;
        job->m_fraction = 1.0;
        job->m_result = std::move(*outcome->result);
        emit job->progress(1.0, 0.0, job->m_stage);
        emit job->finished();
    }
    emit job->ended();
    if (runningCount() == 0) m_timer->stop();
    prune();
    if (!m_idleWaiters.empty()) QTimer::singleShot(0, this, &JobRunner::dispatchIdle);
}

void JobRunner::whenIdle(QObject* context, std::function<void(bool idle)> then, int maxWaitMs) {
    if (m_idleWaiters.empty() && runningCount() == 0) {
        then(true);
        return;
    }
    m_idleWaiters.push_back({context, std::move(then), QDeadlineTimer(maxWaitMs)});
    if (!m_idleTimer) {
        m_idleTimer = new QTimer(this);
        m_idleTimer->setInterval(kPollMs);
        connect(m_idleTimer, &QTimer::timeout, this, &JobRunner::dispatchIdle);
    }
    m_idleTimer->start();
    QTimer::singleShot(0, this, &JobRunner::dispatchIdle);
}

void JobRunner::dispatchIdle() {
    while (!m_idleWaiters.empty()) {
        IdleWaiter& front = m_idleWaiters.front();
        if (!front.context) {
            m_idleWaiters.pop_front();
            continue;
        }
        const bool idle = runningCount() == 0;
        if (!idle && !front.deadline.hasExpired()) break;
        std::function<void(bool)> then = std::move(front.then);
        m_idleWaiters.pop_front();
        then(idle);  // may start a job: the next waiter then waits for it
    }
    if (m_idleWaiters.empty() && m_idleTimer) m_idleTimer->stop();
}

void JobRunner::detach(int id) {
    auto it = std::find_if(m_jobs.begin(), m_jobs.end(), [id](Job* j) { return j->id() == id; });
    if (it == m_jobs.end() || !(*it)->isRunning()) return;
    // The task did not notice the cancellation in time: end the job now; complete() ignores the
    // task's outcome when it finally arrives.
    complete(id, std::make_shared<Outcome>(Outcome{tl::unexpected(
                     Status(StatusCode::kCancelled, "cancelled (the task is still finishing)"))}));
}

void JobRunner::poll() {
    for (Job* job : m_jobs) {
        if (!job->isRunning()) continue;
        jobs::ProgressSnapshot s = job->m_context->snapshot();
        QString stage = QString::fromStdString(s.stage);
        const bool changed =
            s.fraction != job->m_fraction || stage != job->m_stage ||
            s.etaSeconds.has_value() != job->m_eta.has_value() ||
            (s.etaSeconds && job->m_eta && std::abs(*s.etaSeconds - *job->m_eta) >= 0.5);
        job->m_fraction = s.fraction;
        job->m_stage = stage;
        job->m_eta = s.etaSeconds;
        // Emit at least once a second even without change, so that elapsed times tick.
        if (changed || job->m_timer.elapsed() % 1000 < kPollMs)
            emit job->progress(s.fraction, s.etaSeconds.value_or(-1.0), stage);
    }
}

void JobRunner::prune() {
    int ended = 0;
    for (Job* j : m_jobs) ended += j->isRunning() ? 0 : 1;
    for (auto it = m_jobs.begin(); it != m_jobs.end() && ended > kKeepEndedJobs;) {
        if ((*it)->isRunning()) {
            ++it;
            continue;
        }
        (*it)->deleteLater();
        it = m_jobs.erase(it);
        --ended;
    }
}

int JobRunner::runningCount() const {
    return static_cast<int>(
        std::count_if(m_jobs.begin(), m_jobs.end(), [](Job* j) { return j->isRunning(); }));
}

void JobRunner::cancelAll() {
    for (Job* job : m_jobs) job->cancel();
}

void JobRunner::shutdown() {
    if (m_shutDown) return;
    m_shutDown = true;
    cancelAll();
    m_pool->waitForDone();
    m_enginePool->waitForDone();
    m_timer->stop();
    // The workers' completion events are still queued; deliver them now so that every job
    // ends (as cancelled) and no caller waits forever.
    QCoreApplication::sendPostedEvents(this, QEvent::MetaCall);
}

bool JobRunner::waitForIdle(int timeoutMs) {
    QDeadlineTimer deadline(timeoutMs);
    while (runningCount() > 0) {
        if (deadline.hasExpired()) return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
        QThread::msleep(1);
    }
    return true;
}

QString formatDuration(double seconds) {
    if (!(seconds >= 0)) return QStringLiteral("—");
    if (seconds < 1) return QStringLiteral("%1 s").arg(seconds, 0, 'f', 2);
    if (seconds < 10) return QStringLiteral("%1 s").arg(seconds, 0, 'f', 1);
    const qint64 s = std::llround(seconds);
    if (s < 60) return QStringLiteral("%1 s").arg(s);
    if (s < 3600)
        return QStringLiteral("%1 min %2 s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1 h %2 min")
        .arg(s / 3600)
        .arg((s % 3600) / 60, 2, 10, QLatin1Char('0'));
}

}  // namespace wh::widgets
