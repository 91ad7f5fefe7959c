#pragma once
/// JobContext: what a long-running task (open, layout, save, profile, train, compress) and the
/// code that started it share. The task reports progress (a fraction in [0, 1] and a stage text)
/// and polls for cancellation; the owner reads progress, asks for cancellation and gets an
/// estimate of the time left. No Qt: widgets/JobRunner adapts it to signals.
///
/// Thread-safety: every member may be called from any thread at any time. The task thread
/// typically writes progress and reads the cancel flag; the GUI thread does the opposite.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/util/status.h"

namespace wh::jobs {

/// A consistent copy of a job's reported state.
struct ProgressSnapshot {
    double fraction = 0;                ///< in [0, 1]
    std::string stage;                  ///< "reading file", "laying out", ... (may be empty)
    double elapsedSeconds = 0;          ///< since the context was created
    std::optional<double> etaSeconds;   ///< time left, when it can be estimated
    bool cancelRequested = false;
};

class JobContext {
public:
    /// Seconds on a monotonic clock; injectable so tests can drive the ETA deterministically.
    using Clock = std::function<double()>;

    /// Starts the elapsed-time clock now (std::chrono::steady_clock).
    JobContext();
    /// Same with a custom clock (tests).
    explicit JobContext(Clock clock);
    JobContext(const JobContext&) = delete;
    JobContext& operator=(const JobContext&) = delete;

    // ---- Reported by the task ----------------------------------------------------------------

    /// Sets the overall fraction done, clamped to [0, 1]. Progress may go backward (a phase
    /// restarted); the ETA estimate then starts over.
    void setProgress(double fraction);
    /// Sets the fraction and the stage text together.
    void setProgress(double fraction, std::string stage);
    /// Sets the stage text, keeping the fraction.
    void setStage(std::string stage);

    // ---- Cancellation ------------------------------------------------------------------------

    /// Asks the task to stop at its next check. Idempotent; cannot be withdrawn.
    void requestCancel() { m_cancel.store(true, std::memory_order_relaxed); }
    bool isCancelled() const { return m_cancel.load(std::memory_order_relaxed); }
    /// kCancelled ("cancelled") once requestCancel() was called, else ok. Tasks call it between
    /// units of work: `WH_RETURN_IF_ERROR(ctx.checkCancelled());`
    Status checkCancelled() const;
    /// The flag itself, for APIs that poll an atomic (layout::LayoutOptions::cancel). Valid for
    /// the context's lifetime.
    const std::atomic<bool>* cancelFlag() const { return &m_cancel; }

    // ---- Read by the owner -------------------------------------------------------------------

    double fraction() const;
    std::string stage() const;
    double elapsedSeconds() const;
    /// Time left, from the rate of progress over the last few seconds (a sliding window, so a
    /// slow start does not distort a later, faster phase). Unknown (nullopt) until progress has
    /// moved by at least 1 % over at least 0.2 s; 0 once the fraction reaches 1.
    std::optional<double> etaSeconds() const;
    /// Everything above, read under one lock.
    ProgressSnapshot snapshot() const;

private:
    struct Sample {
        double time;
        double fraction;
    };
    std::optional<double> etaLocked(double now) const;

    Clock m_clock;
    double m_start;
    std::atomic<bool> m_cancel{false};
    mutable std::mutex m_mutex;
    double m_fraction = 0;
    std::string m_stage;
    std::vector<Sample> m_samples;  // ring of recent (time, fraction), oldest first
};

/// Maps a sub-task's [0, 1] progress onto [begin, end] of its parent's: a job of phases gives
/// each phase a Subrange so that the phase reports its own fraction.
class Subrange {
public:
    Subrange(JobContext& context, double begin, double end, std::string stage = {});
    /// Sets the parent's fraction to begin + fraction * (end - begin).
    void setProgress(double fraction);
    JobContext& context() { return m_context; }

private:
    JobContext& m_context;
    double m_begin;
    double m_end;
};

}  // namespace wh::jobs
