// Fast training kernels for BatchNormalization (a training forward with batch statistics and its
// backward; OpenMP, see below) and the backward of Relu and Clip (oneDNN eltwise_backward),
// float32 only, plain NCHW. The reference kernels (core/engine/ref/grad_nn_ops.cpp,
// grad_elementwise.cpp) stay the oracle: tests compare the two and check both against finite
// differences. Anything these cannot take (float64, extra BN outputs, Clip bounds that want
// gradients) answers kUnsupported so the plan takes the reference gradient.

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "core/engine/autodiff.h"
#include "core/engine/dnnl/dnnl_backward.h"
#include "core/engine/dnnl/dnnl_common.h"

namespace wh::engine::dnnlk {

namespace {

using dnnl::memory;

// ---- BatchNormalization ------------------------------------------------------------------------

// Plain NCHW float32 with one OpenMP region per pass, parallel over channels: oneDNN 2.6 offers
// only its ncsp_bnorm for plain layouts, measured at ~200 ms for [128,16,28,28] here (a blocked
// layout would need two reorders around every BN). Statistics in double per channel.
// What the training forward leaves for the backward: the batch mean and 1/sqrt(var + eps) it
// normalised with, and whether they were batch statistics (false: frozen BN used the running
// ones).
struct BnShared {
    std::vector<float> mean, var, invStd;
    bool batchStats = true;
    double eps = 1e-5;
    double momentum = 0.9;
};

// Inputs X, scale, B, running mean, running var; outputs Y, new running mean, new running var
// (running = momentum * running + (1 - momentum) * batch, biased batch variance, as ONNX and the
// reference kernel).
class BnTrainingForward final : public Kernel {
public:
    BnTrainingForward(std::shared_ptr<BnShared> shared, const TrainingFlags* flags)
        : m_shared(std::move(shared)), m_flags(flags) {}

    Status run(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        const HostTensor& x = *in[0];
        if (x.dtype() != ir::DType::kFloat || x.rank() < 2)
            return makeStatus(StatusCode::kInternal,
                              "BatchNormalization training: float32, rank >= 2");
        BnShared& sh = *m_shared;
        const bool frozen = m_flags && m_flags->batchNormFrozen;
        sh.batchStats = !frozen;
        const int64_t N = x.dim(0), C = x.dim(1), S = x.numElements() / std::max<int64_t>(1, N * C);
        const float* rm = in[3]->data<float>();
        const float* rv = in[4]->data<float>();
        const float* scale = in[1]->data<float>();
        const float* bias = in[2]->data<float>();
        const float* xs = x.data<float>();
        sh.mean.resize(static_cast<std::size_t>(C));
        sh.var.resize(static_cast<std::size_t>(C));
        sh.invStd.resize(static_cast<std::size_t>(C));
        out[0]->ensure(ir::DType::kFloat, x.dims());
        float* y = out[0]->data<float>();
        float* mean = sh.mean.data();
        float* var = sh.var.data();
        float* invStd = sh.invStd.data();
        const double eps = sh.eps;
#pragma omp parallel for schedule(static)
        for (int64_t c = 0; c < C; ++c) {
            double m = rm[c], v = rv[c];
            if (!frozen) {
                double sum = 0;
                for (int64_t n = 0; n < N; ++n) {
                    const float* p = xs + (n * C + c) * S;
                    float part = 0;
#pragma omp simd reduction(+ : part)
                    for (int64_t k = 0; k < S; ++k) part += p[k];
                    sum += part;
                }
                m = sum / static_cast<double>(N * S);
                const float mf = static_cast<float>(m);
                double sq = 0;
                for (int64_t n = 0; n < N; ++n) {
                    const float* p = xs + (n * C + c) * S;
                    float part = 0;
#pragma omp simd reduction(+ : part)
                    for (int64_t k = 0; k < S; ++k) part += (p[k] - mf) * (p[k] - mf);
                    sq += part;
                }
                v = sq / static_cast<double>(N * S);
            }
            const double inv = 1.0 / std::sqrt(v + eps);
            mean[c] = static_cast<float>(m);
            var[c] = static_cast<float>(v);
            invStd[c] = static_cast<float>(inv);
            const float a = static_cast<float>(scale[c] * inv);
            const float b = static_cast<float>(bias[c] - scale[c] * inv * m);
            for (int64_t n = 0; n < N; ++n) {
                const float* p = xs + (n * C + c) * S;
                float* q = y + (n * C + c) * S;
#pragma omp simd
                for (int64_t k = 0; k < S; ++k) q[k] = a * p[k] + b;
            }
        }
        const double mom = frozen ? 1.0 : sh.momentum;
        for (std::size_t k = 1; k <= 2 && k < out.size(); ++k) {
            HostTensor* t = out[k];
            if (!t) continue;
            const float* running = k == 1 ? rm : rv;
            const std::vector<float>& batch = k == 1 ? sh.mean : sh.var;
            t->ensure(ir::DType::kFloat, {C});
            float* o = t->data<float>();
            for (int64_t c = 0; c < C; ++c)
                o[c] = static_cast<float>(mom * running[c] +
                                          (1.0 - mom) * batch[static_cast<std::size_t>(c)]);
        }
        return Status::ok();
    }

private:
    std::shared_ptr<BnShared> m_shared;
    const TrainingFlags* m_flags;
};

// With xhat = (x - mean) invStd over the M = N*S elements of a channel (as the reference):
//   dScale = sum dy xhat,  dBias = sum dy,
//   batch statistics: dx = scale invStd / M (M dy - sum dy - xhat sum dy xhat),
//   running statistics: dx = scale invStd dy.
class BnBackward final : public GradKernel {
public:
    explicit BnBackward(std::shared_ptr<BnShared> shared) : m_shared(std::move(shared)) {}

    Status backward(const GradArgs& a) override {
        const HostTensor* dy = a.outputGrads[0];
        if (!dy) return Status::ok();
        const BnShared& sh = *m_shared;
        const HostTensor& x = *a.inputs[0];
        const int64_t N = x.dim(0), C = x.dim(1), S = x.numElements() / std::max<int64_t>(1, N * C);
        if (static_cast<int64_t>(sh.mean.size()) != C)
            return makeStatus(StatusCode::kInternal, "backward before the training forward");
        HostTensor* gx = a.inputGrads[0];
        HostTensor* gs = a.inputGrads.size() > 1 ? a.inputGrads[1] : nullptr;
        HostTensor* gb = a.inputGrads.size() > 2 ? a.inputGrads[2] : nullptr;
        if (gx) gx->ensure(ir::DType::kFloat, x.dims());
        if (gs) gs->ensure(ir::DType::kFloat, {C});
        if (gb) gb->ensure(ir::DType::kFloat, {C});
        for (std::size_t k = 3; k < a.inputGrads.size(); ++k)  // statistics are state
            if (HostTensor* g = a.inputGrads[k]) {
                g->ensure(ir::DType::kFloat, a.inputDims[k]);
                std::fill(g->data<float>(), g->data<float>() + g->numElements(), 0.0f);
            }
        const float* xs = x.data<float>();
        const float* g = dy->data<float>();
        const float* scale = a.inputs[1]->data<float>();
        float* dx = gx ? gx->data<float>() : nullptr;
        float* ds = gs ? gs->data<float>() : nullptr;
        float* db = gb ? gb->data<float>() : nullptr;
        const bool batchStats = sh.batchStats;
        const float* meanP = sh.mean.data();
        const float* invP = sh.invStd.data();
        const double M = static_cast<double>(N * S);
#pragma omp parallel for schedule(static)
        for (int64_t c = 0; c < C; ++c) {
            const float mean = meanP[c], inv = invP[c];
            double sumDy = 0, sumDyX = 0;  // sum dy, sum dy (x - mean)
            for (int64_t n = 0; n < N; ++n) {
                const float* p = xs + (n * C + c) * S;
                const float* q = g + (n * C + c) * S;
                float s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
                for (int64_t k = 0; k < S; ++k) {
                    s1 += q[k];
                    s2 += q[k] * (p[k] - mean);
                }
                sumDy += s1;
                sumDyX += s2;
            }
            const double sumDyXhat = sumDyX * inv;
            if (ds) ds[c] = static_cast<float>(sumDyXhat);
            if (db) db[c] = static_cast<float>(sumDy);
            if (!dx) continue;
            const double sc = static_cast<double>(scale[c]) * inv;
            // dx = sc dy - sc/M sumDy - sc/M sumDyXhat inv (x - mean) = A dy + B x + D
            const float A = static_cast<float>(sc);
            const float B = batchStats ? static_cast<float>(-sc / M * sumDyXhat * inv) : 0.0f;
            const float D =
                batchStats ? static_cast<float>(-sc / M * sumDy + sc / M * sumDyXhat * inv * mean)
                           : 0.0f;
            for (int64_t n = 0; n < N; ++n) {
                const float* p = xs + (n * C + c) * S;
                const float* q = g + (n * C + c) * S;
                float* o = dx + (n * C + c) * S;
#pragma omp simd
                for (int64_t k = 0; k < S; ++k) o[k] = A * q[k] + B * p[k] + D;
            }
        }
        return Status::ok();
    }

private:
    std::shared_ptr<BnShared> m_shared;
};

Expected<GradBuild> batchNormFactory(const GradContext& ctx) {
    if (ctx.outputs.size() != 1 || ctx.inputs.size() != 5)
        return error(StatusCode::kUnsupported, "fast batch normalization: one output only");
    for (const TensorInfo& t : ctx.inputs)
        if (t.dtype != ir::DType::kFloat)
            return error(StatusCode::kUnsupported, "fast batch normalization: float32 only");
    if (!ctx.inputs[0].rankKnown || ctx.inputs[0].dims.size() < 2)
        return error(StatusCode::kUnsupported, "fast batch normalization: rank >= 2");
    auto shared = std::make_shared<BnShared>();
    shared->eps = ctx.node.attrFloat("epsilon", 1e-5f);
    shared->momentum = ctx.node.attrFloat("momentum", 0.9f);
    GradBuild b;
    b.kernel = std::make_unique<BnBackward>(shared);
    b.savedInputs = {true, true, false, false, false};
    b.savedOutputs = {false};
    b.trainingForward = std::make_unique<BnTrainingForward>(shared, ctx.flags);
    b.stateInputs = {3, 4};
    return b;
}

void bindMem(memory& m, const void* p) {
    m.set_data_handle(const_cast<void*>(p));
}

// ---- Relu and Clip -----------------------------------------------------------------------------

// diff_src = diff_dst where the derivative is 1. Relu reads its output (relu_use_dst_for_bwd:
// y > 0, as the reference); Clip reads its input (clip_v2: lo < x <= hi; the reference passes
// x == lo too, a set of measure zero for the activations it sees in training).
class EltwiseBackward final : public GradKernel {
public:
    explicit EltwiseBackward(bool relu) : m_relu(relu) {}

    Status backward(const GradArgs& a) override {
        const HostTensor* dy = a.outputGrads[0];
        HostTensor* gx = a.inputGrads[0];
        if (!dy || !gx) return Status::ok();
        try {
            float lo = 0.0f, hi = 0.0f;
            if (!m_relu) {
                lo = a.inputs.size() > 1 && a.inputs[1] ? a.inputs[1]->data<float>()[0] : -INFINITY;
                hi = a.inputs.size() > 2 && a.inputs[2] ? a.inputs[2]->data<float>()[0] : INFINITY;
            }
            const HostTensor& v = m_relu ? *a.outputs[0] : *a.inputs[0];
            Prims& p = prims(v.numElements(), lo, hi);
            gx->ensure(ir::DType::kFloat, a.inputDims[0]);
            bindMem(p.data, v.raw());
            bindMem(p.diffDst, dy->raw());
            bindMem(p.diffSrc, gx->raw());
            dnnl::stream& s = cpuStream();
            p.bwd.execute(s, {{m_relu ? DNNL_ARG_DST : DNNL_ARG_SRC, p.data},
                              {DNNL_ARG_DIFF_DST, p.diffDst},
                              {DNNL_ARG_DIFF_SRC, p.diffSrc}});
            s.wait();
            return Status::ok();
        } catch (const dnnl::error& e) {
            return makeStatus(StatusCode::kInternal, "oneDNN eltwise backward: {}", e.what());
        }
    }

private:
    struct Prims {
        dnnl::eltwise_backward bwd;
        memory data, diffDst, diffSrc;
    };

    // Elementwise: the tensor is viewed as 1-D.
    Prims& prims(int64_t n, float lo, float hi) {
        auto key = std::make_tuple(n, lo, hi);
        auto it = m_cache.find(key);
        if (it != m_cache.end()) return it->second;
        const memory::desc d = plainDesc({n});
        const auto alg = m_relu ? dnnl::algorithm::eltwise_relu_use_dst_for_bwd
                                : dnnl::algorithm::eltwise_clip_v2;
        const float alpha = m_relu ? 0.0f : lo, beta = m_relu ? 0.0f : hi;
        dnnl::eltwise_forward::primitive_desc fwdPd(
            dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, alg, d, alpha, beta),
            cpuEngine());
        dnnl::eltwise_backward::primitive_desc bwdPd(
            dnnl::eltwise_backward::desc(alg, d, d, alpha, beta), cpuEngine(), fwdPd);
        Prims p{dnnl::eltwise_backward(bwdPd), unboundMemory(d), unboundMemory(d),
                unboundMemory(d)};
        return m_cache.emplace(key, std::move(p)).first->second;
    }

    bool m_relu;
    std::map<std::tuple<int64_t, float, float>, Prims> m_cache;
};

Expected<GradBuild> reluFactory(const GradContext& ctx) {
    if (ctx.inputs.empty() || ctx.inputs[0].dtype != ir::DType::kFloat)
        return error(StatusCode::kUnsupported, "oneDNN eltwise backward: float32 only");
    GradBuild b;
    b.kernel = std::make_unique<EltwiseBackward>(true);
    b.savedInputs.assign(ctx.inputs.size(), false);
    b.savedOutputs.assign(ctx.outputs.size(), false);
    b.savedOutputs[0] = true;
    return b;
}

// Opset 11+ (bounds as inputs) with bounds that want no gradient.
Expected<GradBuild> clipFactory(const GradContext& ctx) {
    if (ctx.opset < 11 || ctx.inputs.empty() || ctx.inputs[0].dtype != ir::DType::kFloat)
        return error(StatusCode::kUnsupported, "oneDNN eltwise backward: float32 Clip-11+ only");
    for (int i = 1; i <= 2; ++i) {
        if (ctx.wants(i))
            return error(StatusCode::kUnsupported, "oneDNN eltwise backward: trained Clip bounds");
        if (ctx.hasInput(i) && ctx.inputs[static_cast<std::size_t>(i)].dtype != ir::DType::kFloat)
            return error(StatusCode::kUnsupported, "oneDNN eltwise backward: float32 only");
    }
    GradBuild b;
    b.kernel = std::make_unique<EltwiseBackward>(false);
    b.savedInputs.assign(ctx.inputs.size(), true);
    b.savedOutputs.assign(ctx.outputs.size(), false);
    return b;
}

}  // namespace

void registerDnnlNormEltwiseGradients(GradRegistry& registry) {
    registry.add("", "BatchNormalization", 9, 99, Backend::kDnnl, batchNormFactory);
    registry.add("", "Relu", 6, 99, Backend::kDnnl, reluFactory);
    registry.add("", "Clip", 11, 99, Backend::kDnnl, clipFactory);
}

}  // namespace wh::engine::dnnlk
