#pragma once
/// Learning-rate schedules as pure functions of the optimizer step (0-based), so that a run can
/// be resumed or plotted without replaying it:
///  - Constant: base.
///  - Step: base * gamma^floor(step / stepSize).
///  - Cosine: linear warm-up from 0 over `warmupSteps`, then
///    minLr + (base - minLr) (1 + cos(pi t / T)) / 2 over the remaining T steps.
///  - OneCycle (PyTorch's OneCycleLR, cosine annealing): from maxLr / divFactor up to maxLr over
///    the first pctStart of the steps, then down to maxLr / (divFactor * finalDivFactor).
/// Thread-safety: const members are safe to call concurrently.

#include <cstdint>
#include <memory>
#include <string>

#include "core/util/status.h"

namespace wh::train {

class LrSchedule {
public:
    virtual ~LrSchedule() = default;
    /// The learning rate of step `step` (0-based).
    virtual double lr(int64_t step) const = 0;
    virtual std::string name() const = 0;
};

class ConstantLr : public LrSchedule {
public:
    explicit ConstantLr(double base) : m_base(base) {}
    double lr(int64_t) const override { return m_base; }
    std::string name() const override { return "constant"; }

private:
    double m_base;
};

class StepLr : public LrSchedule {
public:
    StepLr(double base, int64_t stepSize, double gamma = 0.1)
        : m_base(base), m_stepSize(stepSize > 0 ? stepSize : 1), m_gamma(gamma) {}
    double lr(int64_t step) const override;
    std::string name() const override { return "step"; }

private:
    double m_base;
    int64_t m_stepSize;
    double m_gamma;
};

class CosineLr : public LrSchedule {
public:
    CosineLr(double base, int64_t totalSteps, int64_t warmupSteps = 0, double minLr = 0.0)
        : m_base(base), m_total(totalSteps), m_warmup(warmupSteps), m_min(minLr) {}
    double lr(int64_t step) const override;
    std::string name() const override { return "cosine"; }

private:
    double m_base;
    int64_t m_total, m_warmup;
    double m_min;
};

class OneCycleLr : public LrSchedule {
public:
    OneCycleLr(double maxLr, int64_t totalSteps, double pctStart = 0.3, double divFactor = 25.0,
               double finalDivFactor = 1e4)
        : m_max(maxLr), m_total(totalSteps), m_pct(pctStart), m_div(divFactor),
          m_finalDiv(finalDivFactor) {}
    double lr(int64_t step) const override;
    std::string name() const override { return "onecycle"; }

private:
    double m_max;
    int64_t m_total;
    double m_pct, m_div, m_finalDiv;
};

/// "constant", "step" (stepSize = totalSteps / 3, gamma 0.1), "cosine", "onecycle"; kUsage
/// otherwise.
Expected<std::unique_ptr<LrSchedule>> makeLrSchedule(const std::string& name, double lr,
                                                     int64_t totalSteps, int64_t warmupSteps = 0);

}  // namespace wh::train
