#include "core/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace wh::train {

namespace {
constexpr double kPi = 3.14159265358979323846;
// From `start` to `end` along half a cosine as `pct` goes 0 → 1.
double cosineAnneal(double start, double end, double pct) {
    return end + (start - end) / 2.0 * (1.0 + std::cos(kPi * pct));
}
}  // namespace

double StepLr::lr(int64_t step) const {
    return m_base * std::pow(m_gamma, static_cast<double>(std::max<int64_t>(0, step) / m_stepSize));
}

double CosineLr::lr(int64_t step) const {
    if (step < m_warmup) return m_base * static_cast<double>(step + 1) / static_cast<double>(m_warmup);
    const int64_t span = std::max<int64_t>(1, m_total - m_warmup);
    const double t = std::clamp(static_cast<double>(step - m_warmup) / static_cast<double>(span), 0.0, 1.0);
    return cosineAnneal(m_base, m_min, t);
}

// As torch.optim.lr_scheduler.OneCycleLR (three_phase=False, anneal_strategy='cos'): phase one
// ends at step pctStart * total - 1, phase two at total - 1.
double OneCycleLr::lr(int64_t step) const {
    const double initial = m_max / m_div;
    const double minLr = initial / m_finalDiv;
    const double end1 = m_pct * static_cast<double>(m_total) - 1.0;
    const double end2 = static_cast<double>(m_total) - 1.0;
    const double s = static_cast<double>(step);
    if (s <= end1) return cosineAnneal(initial, m_max, end1 > 0 ? s / end1 : 1.0);
    const double pct = end2 > end1 ? std::min(1.0, (s - end1) / (end2 - end1)) : 1.0;
    return cosineAnneal(m_max, minLr, pct);
}

Expected<std::unique_ptr<LrSchedule>> makeLrSchedule(const std::string& name, double lr,
                                                     int64_t totalSteps, int64_t warmupSteps) {
    if (name == "constant") return std::make_unique<ConstantLr>(lr);
    if (name == "step") return std::make_unique<StepLr>(lr, std::max<int64_t>(1, totalSteps / 3));
    if (name == "cosine") return std::make_unique<CosineLr>(lr, totalSteps, warmupSteps);
    if (name == "onecycle") return std::make_unique<OneCycleLr>(lr, totalSteps);
    return error(StatusCode::kUsage, "unknown schedule '{}' (constant, step, cosine, onecycle)",
                 name);
}

}  // namespace wh::train
