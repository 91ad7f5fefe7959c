#include "core/jobs/job_context.h"

#include <algorithm>

namespace wh::jobs {

namespace {

// The ETA looks at this much recent history: long enough to smooth jittery progress, short
// enough to follow a change of pace between phases.
constexpr double kWindowSeconds = 5.0;
constexpr std::size_t kMaxSamples = 64;
constexpr double kMinProgress = 0.01;
constexpr double kMinSeconds = 0.2;

double steadySeconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

JobContext::JobContext() : JobContext(Clock(&steadySeconds)) {}

JobContext::JobContext(Clock clock) : m_clock(std::move(clock)), m_start(m_clock()) {
    m_samples.reserve(kMaxSamples);
    m_samples.push_back({m_start, 0.0});
}

void JobContext::setProgress(double fraction) {
    fraction = std::clamp(fraction, 0.0, 1.0);
    const double now = m_clock();
    std::lock_guard lock(m_mutex);
    if (fraction < m_fraction) m_samples.clear();  // went backward: old rates mean nothing now
    m_fraction = fraction;
    // Samples closer than 50 ms to the previous one only overwrite it, so that a task reporting
    // every element does not flush the window.
    if (!m_samples.empty() && now - m_samples.back().time < 0.05 && m_samples.size() > 1) {
        m_samples.back() = {now, fraction};
    } else {
        if (m_samples.size() == kMaxSamples) m_samples.erase(m_samples.begin());
        m_samples.push_back({now, fraction});
    }
}

void JobContext::setProgress(double fraction, std::string stage) {
    setProgress(fraction);
    std::lock_guard lock(m_mutex);
    m_stage = std::move(stage);
}

void JobContext::setStage(std::string stage) {
    std::lock_guard lock(m_mutex);
    m_stage = std::move(stage);
}

Status JobContext::checkCancelled() const {
    if (isCancelled()) return Status(StatusCode::kCancelled, "cancelled");
    return Status::ok();
}

double JobContext::fraction() const {
    std::lock_guard lock(m_mutex);
    return m_fraction;
}

std::string JobContext::stage() const {
    std::lock_guard lock(m_mutex);
    return m_stage;
}

double JobContext::elapsedSeconds() const {
    return m_clock() - m_start;
}

std::optional<double> JobContext::etaSeconds() const {
    const double now = m_clock();
    std::lock_guard lock(m_mutex);
    return etaLocked(now);
}

std::optional<double> JobContext::etaLocked(double now) const {
    if (m_fraction >= 1.0) return 0.0;
    if (m_samples.empty()) return std::nullopt;
    // The newest sample that is at least a window old and behind by a measurable amount (else
    // the oldest): the rate is measured over the last kWindowSeconds or more, up to now, so a
    // stall lowers it and the ETA grows instead of vanishing.
    const Sample* ref = &m_samples.front();
    for (auto it = m_samples.rbegin(); it != m_samples.rend(); ++it)
        if (now - it->time >= kWindowSeconds && m_fraction - it->fraction >= kMinProgress) {
            ref = &*it;
            break;
        }
    const double done = m_fraction - ref->fraction;
    const double seconds = now - ref->time;
    if (done < kMinProgress || seconds < kMinSeconds) return std::nullopt;
    const double rate = done / seconds;  // fraction per second
    return (1.0 - m_fraction) / rate;
}

ProgressSnapshot JobContext::snapshot() const {
    const double now = m_clock();
    ProgressSnapshot s;
    s.cancelRequested = isCancelled();
    s.elapsedSeconds = now - m_start;
    std::lock_guard lock(m_mutex);
    s.fraction = m_fraction;
    s.stage = m_stage;
    s.etaSeconds = etaLocked(now);
    return s;
}

Subrange::Subrange(JobContext& context, double begin, double end, std::string stage)
    : m_context(context), m_begin(begin), m_end(end) {
    if (stage.empty())
        m_context.setProgress(begin);
    else
        m_context.setProgress(begin, std::move(stage));
}

void Subrange::setProgress(double fraction) {
    m_context.setProgress(m_begin + std::clamp(fraction, 0.0, 1.0) * (m_end - m_begin));
}

}  // namespace wh::jobs
