#pragma once
/// Optimizers: update a TrainingPlan's parameters in place from their gradients, with PyTorch's
/// semantics so that recipes transfer:
///  - SGD:  g = grad + wd p;  buf = momentum buf + (1 - dampening) g (buf = g on the first step);
///          g = nesterov ? g + momentum buf : buf;  p -= lr g.
///  - Adam: g = grad + wd p (L2, coupled);  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
///          p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
///  - AdamW: as Adam without the L2 term, and p *= 1 - lr wd first (decoupled weight decay).
/// Parameters with trainable == false are skipped. State is per parameter index: always pass
/// the same parameter list. Gradient clipping by global norm lives here too.
/// Thread-safety: none.

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/engine/training_plan.h"
#include "core/util/status.h"

namespace wh::train {

using engine::Parameter;

class Optimizer {
public:
    virtual ~Optimizer() = default;
    /// One update of every trainable parameter with learning rate `lr`.
    virtual Status step(std::span<Parameter> parameters, double lr) = 0;
    /// "sgd", "adam", "adamw".
    virtual std::string name() const = 0;
    /// Forgets momentum buffers and moments (e.g. after parameters were replaced).
    virtual void reset() = 0;
};

struct SgdOptions {
    double momentum = 0.0;
    double dampening = 0.0;
    bool nesterov = false;
    double weightDecay = 0.0;
};

class Sgd : public Optimizer {
public:
    explicit Sgd(SgdOptions options = {}) : m_options(options) {}
    Status step(std::span<Parameter> parameters, double lr) override;
    std::string name() const override { return "sgd"; }
    void reset() override { m_buffers.clear(); }

private:
    SgdOptions m_options;
    std::vector<std::vector<float>> m_buffers;  // momentum, per parameter
};

struct AdamOptions {
    double beta1 = 0.9;
    double beta2 = 0.999;
    double epsilon = 1e-8;
    double weightDecay = 0.0;
    /// True = AdamW (decoupled weight decay), false = Adam with an L2 term.
    bool decoupled = false;
};

class Adam : public Optimizer {
public:
    explicit Adam(AdamOptions options = {}) : m_options(options) {}
    Status step(std::span<Parameter> parameters, double lr) override;
    std::string name() const override { return m_options.decoupled ? "adamw" : "adam"; }
    void reset() override {
        m_m.clear();
        m_v.clear();
        m_t = 0;
    }
    int64_t stepCount() const { return m_t; }

private:
    AdamOptions m_options;
    std::vector<std::vector<float>> m_m, m_v;
    int64_t m_t = 0;
};

/// "sgd" (momentum 0.9 unless `momentum` says otherwise), "adam", "adamw"; kUsage otherwise.
Expected<std::unique_ptr<Optimizer>> makeOptimizer(const std::string& name, double weightDecay = 0,
                                                   double momentum = 0.9);

/// Scales every trainable gradient by min(1, maxNorm / ||g||) where ||g|| is the global L2 norm
/// over all of them; returns ||g|| before clipping. maxNorm <= 0 only measures.
double clipGradientNorm(std::span<Parameter> parameters, double maxNorm);

}  // namespace wh::train
