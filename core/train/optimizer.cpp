#include "core/train/optimizer.h"

#include <cmath>

namespace wh::train {

namespace {
Status checkFloat(const Parameter& p) {
    if (p.value.dtype() != ir::DType::kFloat || p.grad.dtype() != ir::DType::kFloat ||
        p.grad.numElements() != p.value.numElements())
        return makeStatus(StatusCode::kUnsupported,
                          "parameter '{}': optimizers update float32 tensors with a gradient of "
                          "the same size ({} {}, gradient {} {})",
                          p.name, ir::dtypeName(p.value.dtype()), engine::dimsToString(p.value.dims()),
                          ir::dtypeName(p.grad.dtype()), engine::dimsToString(p.grad.dims()));
    return Status::ok();
}
}  // namespace

Status Sgd::step(std::span<Parameter> parameters, double lr) {
    if (m_buffers.size() < parameters.size()) m_buffers.resize(parameters.size());
    const SgdOptions& o = m_options;
    for (std::size_t i = 0; i < parameters.size(); ++i) {
        Parameter& p = parameters[i];
        if (!p.trainable) continue;
        WH_RETURN_STATUS_IF_ERROR(checkFloat(p));
        float* w = p.value.data<float>();
        const float* g = p.grad.data<float>();
        const int64_t n = p.value.numElements();
        std::vector<float>& buf = m_buffers[i];
        const bool first = buf.empty();
        if (o.momentum != 0 && first) buf.resize(static_cast<std::size_t>(n));
        for (int64_t k = 0; k < n; ++k) {
            double d = g[k] + o.weightDecay * w[k];
            if (o.momentum != 0) {
                float& b = buf[static_cast<std::size_t>(k)];
                b = static_cast<float>(first ? d : o.momentum * b + (1 - o.dampening) * d);
                d = o.nesterov ? d + o.momentum * b : b;
            }
            w[k] = static_cast<float>(w[k] - lr * d);
        }
    }
    return Status::ok();
}

Status Adam::step(std::span<Parameter> parameters, double lr) {
    if (m_m.size() < parameters.size()) {
        m_m.resize(parameters.size());
        m_v.resize(parameters.size());
    }
    ++m_t;
    const AdamOptions& o = m_options;
    const double c1 = 1.0 - std::pow(o.beta1, static_cast<double>(m_t));
    const double c2 = 1.0 - std::pow(o.beta2, static_cast<double>(m_t));
    for (std::size_t i = 0; i < parameters.size(); ++i) {
        Parameter& p = parameters[i];
        if (!p.trainable) continue;
        WH_RETURN_STATUS_IF_ERROR(checkFloat(p));
        float* w = p.value.data<float>();
        const float* g = p.grad.data<float>();
        const auto n = static_cast<std::size_t>(p.value.numElements());
        std::vector<float>& m = m_m[i];
        std::vector<float>& v = m_v[i];
        m.resize(n, 0.0f);
        v.resize(n, 0.0f);
        for (std::size_t k = 0; k < n; ++k) {
            double d = g[k];
            if (o.decoupled) w[k] = static_cast<float>(w[k] * (1.0 - lr * o.weightDecay));
            else d += o.weightDecay * w[k];
            m[k] = static_cast<float>(o.beta1 * m[k] + (1 - o.beta1) * d);
            v[k] = static_cast<float>(o.beta2 * v[k] + (1 - o.beta2) * d * d);
            const double mh = m[k] / c1, vh = v[k] / c2;
            w[k] = static_cast<float>(w[k] - lr * mh / (std::sqrt(vh) + o.epsilon));
        }
    }
    return Status::ok();
}

Expected<std::unique_ptr<Optimizer>> makeOptimizer(const std::string& name, double weightDecay,
                                                   double momentum) {
    if (name == "sgd") {
        SgdOptions o;
        o.momentum = momentum;
        o.weightDecay = weightDecay;
        return std::make_unique<Sgd>(o);
    }
    if (name == "adam" || name == "adamw") {
        AdamOptions o;
        o.weightDecay = weightDecay;
        o.decoupled = name == "adamw";
        return std::make_unique<Adam>(o);
    }
    return error(StatusCode::kUsage, "unknown optimizer '{}' (sgd, adam, adamw)", name);
}

double clipGradientNorm(std::span<Parameter> parameters, double maxNorm) {
    double sq = 0;
    for (const Parameter& p : parameters) {
        if (!p.trainable || p.grad.dtype() != ir::DType::kFloat) continue;
        for (float g : p.grad.span<float>()) sq += static_cast<double>(g) * g;
    }
    const double norm = std::sqrt(sq);
    if (maxNorm > 0 && norm > maxNorm) {
        const auto scale = static_cast<float>(maxNorm / (norm + 1e-12));
        for (Parameter& p : parameters) {
            if (!p.trainable || p.grad.dtype() != ir::DType::kFloat) continue;
            for (float& g : p.grad.span<float>()) g *= scale;
        }
    }
    return norm;
}

}  // namespace wh::train
