// Fast training kernels for BatchNormalization (a training forward with batch statistics and its
// backward; OpenMP, see below; in plain NCHW or channel-blocked nChw16c order, optionally with
// the Relu that follows computed too) and the backward of Relu and Clip (oneDNN
// eltwise_backward), float32 only. The reference kernels (core/engine/ref/grad_nn_ops.cpp,
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
#include "core/engine/channel_blocks.h"
#include "core/engine/dnnl/dnnl_backward.h"
#include "core/engine/dnnl/dnnl_common.h"

namespace wh::engine::dnnlk {

namespace {

using dnnl::memory;

// ---- BatchNormalization ------------------------------------------------------------------------

// Plain NCHW float32 with one OpenMP region per pass, parallel over channels: oneDNN 2.6 offers
// only its ncsp_bnorm for plain layouts, measured at ~200 ms for [128,16,28,28] here. In the
// channel-blocked order the training plan keeps between convolutions, parallel over the
// (image, channel block) planes instead. Statistics in double per channel.
// What the training forward leaves for the backward: the batch mean and 1/sqrt(var + eps) it
// normalised with, and whether they were batch statistics (false: frozen BN used the running
// ones).
struct BnShared {
    std::vector<float> mean, var, invStd;
    bool batchStats = true;
    bool blocked = false;  // X, Y, dY, dX in nChw16c (the training plan's choice)
    bool relu = false;     // Y = max(0, BN(X)); dY is the Relu output's gradient
    double eps = 1e-5;
    double momentum = 0.9;
};

// Channel-blocked [N, C/16, S, 16] tensors: parallel over the N * C/16 planes (a ResNet stage has
// only one to four channel blocks), each thread summing into its own per-channel partials.
constexpr int64_t kB = kChannelBlock;

// out[c] = sum over n, s of f(plane pointers at (n, c/16), s, lane) for two quantities at once.
template <typename F>
void blockedChannelSums(int64_t N, int64_t C, int64_t S, std::vector<double>& sumA,
                        std::vector<double>& sumB, F&& f) {
    const int64_t CB = C / kB;
    sumA.assign(static_cast<std::size_t>(C), 0.0);
    sumB.assign(static_cast<std::size_t>(C), 0.0);
#pragma omp parallel
    {
        std::vector<double> a(static_cast<std::size_t>(C), 0.0), b(a);
#pragma omp for collapse(2) schedule(static) nowait
        for (int64_t n = 0; n < N; ++n)
            for (int64_t cb = 0; cb < CB; ++cb) {
                float accA[kB] = {}, accB[kB] = {};
                const int64_t base = (n * CB + cb) * S * kB;
                for (int64_t s = 0; s < S; ++s) f(base + s * kB, cb * kB, accA, accB);
                for (int64_t l = 0; l < kB; ++l) {
                    a[static_cast<std::size_t>(cb * kB + l)] += accA[l];
                    b[static_cast<std::size_t>(cb * kB + l)] += accB[l];
                }
            }
#pragma omp critical
        for (int64_t c = 0; c < C; ++c) {
            sumA[static_cast<std::size_t>(c)] += a[static_cast<std::size_t>(c)];
            sumB[static_cast<std::size_t>(c)] += b[static_cast<std::size_t>(c)];
        }
    }
}

// out = A[c] * p + B[c] * q + D[c] elementwise over a blocked tensor (q may be null).
// With `relu`, out = max(0, ...); with `mask` (not null), p is zeroed where mask <= 0 first.
void blockedAffine(int64_t N, int64_t C, int64_t S, const float* p, const float* q, float* out,
                   const float* A, const float* B, const float* D, bool relu = false,
                   const float* mask = nullptr) {
    const int64_t CB = C / kB;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; ++n)
        for (int64_t cb = 0; cb < CB; ++cb) {
            const int64_t base = (n * CB + cb) * S * kB;
            const float* a = A + cb * kB;
            const float* b = B + cb * kB;
            const float* d = D + cb * kB;
            for (int64_t s = 0; s < S; ++s) {
                const int64_t o = base + s * kB;
                if (q && mask) {
#pragma omp simd
                    for (int64_t l = 0; l < kB; ++l) {
                        const float pv = p[o + l];
                        out[o + l] =
                            a[l] * (mask[o + l] > 0.0f ? pv : 0.0f) + b[l] * q[o + l] + d[l];
                    }
                } else if (q) {
#pragma omp simd
                    for (int64_t l = 0; l < kB; ++l)
                        out[o + l] = a[l] * p[o + l] + b[l] * q[o + l] + d[l];
                } else if (relu) {
#pragma omp simd
                    for (int64_t l = 0; l < kB; ++l)
                        out[o + l] = std::max(0.0f, a[l] * p[o + l] + d[l]);
                } else {
#pragma omp simd
                    for (int64_t l = 0; l < kB; ++l) out[o + l] = a[l] * p[o + l] + d[l];
                }
            }
        }
}

// Inputs X, scale, B, running mean, running var; outputs Y, new running mean, new running var
// (running = momentum * running + (1 - momentum) * batch, biased batch variance, as ONNX and the
// reference kernel).
class BnTrainingForward final : public Kernel {
public:
    BnTrainingForward(std::shared_ptr<BnShared> shared, const NodeFlags* flags)
        : m_shared(std::move(shared)), m_flags(flags) {}

    Status run(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        const HostTensor& x = *in[0];
        if (x.dtype() != ir::DType::kFloat || x.rank() < 2)
            return makeStatus(StatusCode::kInternal,
                              "BatchNormalization training: float32, rank >= 2");
        BnShared& sh = *m_shared;
        const bool frozen = m_flags && m_flags->bnFrozen();
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
        const bool relu = sh.relu;
        if (sh.blocked) {
            if (!channelBlockable(x.dims()))
                return makeStatus(StatusCode::kInternal,
                                  "BatchNormalization: not channel-blocked {}",
                                  dimsToString(x.dims()));
            std::vector<double> sum, unused;
            if (!frozen) {
                blockedChannelSums(N, C, S, sum, unused, [&](int64_t o, int64_t, float* a, float*) {
#pragma omp simd
                    for (int64_t l = 0; l < kB; ++l) a[l] += xs[o + l];
                });
                for (int64_t c = 0; c < C; ++c) mean[c] = static_cast<float>(sum[c] / (N * S));
                blockedChannelSums(N, C, S, sum, unused,
                                   [&](int64_t o, int64_t c0, float* a, float*) {
                                       const float* m = mean + c0;
#pragma omp simd
                                       for (int64_t l = 0; l < kB; ++l)
                                           a[l] += (xs[o + l] - m[l]) * (xs[o + l] - m[l]);
                                   });
            }
            std::vector<float> A(static_cast<std::size_t>(C)), D(A);
            for (int64_t c = 0; c < C; ++c) {
                const double m = frozen ? rm[c] : mean[c];
                const double v = frozen ? rv[c] : sum[static_cast<std::size_t>(c)] / (N * S);
                const double inv = 1.0 / std::sqrt(v + eps);
                mean[c] = static_cast<float>(m);
                var[c] = static_cast<float>(v);
                invStd[c] = static_cast<float>(inv);
                A[static_cast<std::size_t>(c)] = static_cast<float>(scale[c] * inv);
                D[static_cast<std::size_t>(c)] = static_cast<float>(bias[c] - scale[c] * inv * m);
            }
            blockedAffine(N, C, S, xs, nullptr, y, A.data(), nullptr, D.data(), sh.relu);
        } else {
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
                    if (relu) {
#pragma omp simd
                        for (int64_t k = 0; k < S; ++k) q[k] = std::max(0.0f, a * p[k] + b);
                    } else {
#pragma omp simd
                        for (int64_t k = 0; k < S; ++k) q[k] = a * p[k] + b;
                    }
                }
            }
        }
        const double mom =
            frozen ? 1.0 : (m_flags ? m_flags->bnMomentum(sh.momentum) : sh.momentum);
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
    const NodeFlags* m_flags;
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
        // A fused Relu: its gradient dY (y > 0), with y this node's saved output.
        if (sh.relu &&
            (a.outputs.empty() || !a.outputs[0] || a.outputs[0]->numElements() != x.numElements()))
            return makeStatus(StatusCode::kInternal, "fused Relu: output not saved");
        const float* mask = sh.relu ? a.outputs[0]->data<float>() : nullptr;
        if (sh.blocked) {
            std::vector<double> sumDy, sumDyX;  // sum dy, sum dy (x - mean)
            blockedChannelSums(
                N, C, S, sumDy, sumDyX, [&](int64_t o, int64_t c0, float* s1, float* s2) {
                    const float* m = meanP + c0;
                    if (mask) {
#pragma omp simd
                        for (int64_t l = 0; l < kB; ++l) {
                            const float gv =
                                g[o + l];  // loaded unconditionally: a select, no branch
                            const float d = mask[o + l] > 0.0f ? gv : 0.0f;
                            s1[l] += d;
                            s2[l] += d * (xs[o + l] - m[l]);
                        }
                    } else {
#pragma omp simd
                        for (int64_t l = 0; l < kB; ++l) {
                            s1[l] += g[o + l];
                            s2[l] += g[o + l] * (xs[o + l] - m[l]);
                        }
                    }
                });
            std::vector<float> A(static_cast<std::size_t>(C)), B(A), D(A);
            for (int64_t c = 0; c < C; ++c) {
                const std::size_t k = static_cast<std::size_t>(c);
                const double inv = invP[c], sumDyXhat = sumDyX[k] * inv;
                if (ds) ds[c] = static_cast<float>(sumDyXhat);
                if (db) db[c] = static_cast<float>(sumDy[k]);
                const double sc = static_cast<double>(scale[c]) * inv;
                A[k] = static_cast<float>(sc);
                B[k] = batchStats ? static_cast<float>(-sc / M * sumDyXhat * inv) : 0.0f;
                D[k] = batchStats ? static_cast<float>(-sc / M * sumDy[k] +
                                                       sc / M * sumDyXhat * inv * meanP[c])
                                  : 0.0f;
            }
            if (dx) blockedAffine(N, C, S, g, xs, dx, A.data(), B.data(), D.data(), false, mask);
            return Status::ok();
        }
#pragma omp parallel for schedule(static)
        for (int64_t c = 0; c < C; ++c) {
            const float mean = meanP[c], inv = invP[c];
            double sumDy = 0, sumDyX = 0;  // sum dy, sum dy (x - mean)
            for (int64_t n = 0; n < N; ++n) {
                const float* p = xs + (n * C + c) * S;
                const float* q = g + (n * C + c) * S;
                const float* r = mask ? mask + (n * C + c) * S : nullptr;
                float s1 = 0, s2 = 0;
                if (r) {
#pragma omp simd reduction(+ : s1, s2)
                    for (int64_t k = 0; k < S; ++k) {
                        const float qv = q[k];
                        const float d = r[k] > 0.0f ? qv : 0.0f;
                        s1 += d;
                        s2 += d * (p[k] - mean);
                    }
                } else {
#pragma omp simd reduction(+ : s1, s2)
                    for (int64_t k = 0; k < S; ++k) {
                        s1 += q[k];
                        s2 += q[k] * (p[k] - mean);
                    }
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
                if (const float* r = mask ? mask + (n * C + c) * S : nullptr) {
#pragma omp simd
                    for (int64_t k = 0; k < S; ++k) {
                        const float qv = q[k];
                        o[k] = A * (r[k] > 0.0f ? qv : 0.0f) + B * p[k] + D;
                    }
                } else {
#pragma omp simd
                    for (int64_t k = 0; k < S; ++k) o[k] = A * q[k] + B * p[k] + D;
                }
            }
        }
        return Status::ok();
    }

private:
    std::shared_ptr<BnShared> m_shared;
};

// True when the first follower offered is a Relu on the node's output (GradBuild::fused).
bool takesRelu(const GradContext& ctx) {
    return !ctx.followers.empty() && ir::isOnnxOp(ctx.followers.front().node, "Relu") &&
           ctx.followers.front().link == 0;
}

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
    if (ctx.inputs[0].dims.size() == 4) {
        b.channelBlocks = GradBuild::ChannelBlocks::kShared;
        b.setChannelBlocked = [shared](bool in, bool) { shared->blocked = in; };
    }
    if (takesRelu(ctx)) {  // the gradient then masks dY with the output's sign
        shared->relu = true;
        b.fused = 1;
        b.savedOutputs = {true};
    }
    return b;
}

// ---- Residual Add, optionally with the Relu after it
// ---------------------------------------------

// Y = A + B (same dims, float32), or max(0, A + B) once the plan fused the following Relu
// (GradBuild::fused): one pass over memory instead of two each way. Elementwise, so it works
// in any order its operands share (the plan keeps ResNet blocks channel-blocked).
struct AddShared {
    bool relu = false;
};

class AddTrainingForward final : public Kernel {
public:
    explicit AddTrainingForward(std::shared_ptr<AddShared> shared) : m_shared(std::move(shared)) {}

    Status run(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        const HostTensor& a = *in[0];
        const HostTensor& b = *in[1];
        if (a.dtype() != ir::DType::kFloat || b.dtype() != ir::DType::kFloat ||
            a.dims() != b.dims())
            return makeStatus(StatusCode::kInternal,
                              "Add (training): same-shaped float32, got {} and {}",
                              dimsToString(a.dims()), dimsToString(b.dims()));
        out[0]->ensure(ir::DType::kFloat, a.dims());
        const float* x = a.data<float>();
        const float* y = b.data<float>();
        float* o = out[0]->data<float>();
        const int64_t n = a.numElements();
        if (m_shared->relu) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
            for (int64_t i = 0; i < n; ++i) o[i] = std::max(0.0f, x[i] + y[i]);
        } else {
#pragma omp parallel for simd schedule(static) if (n > 65536)
            for (int64_t i = 0; i < n; ++i) o[i] = x[i] + y[i];
        }
        return Status::ok();
    }

private:
    std::shared_ptr<AddShared> m_shared;
};

// dA = dB = dY, masked by Y > 0 with a fused Relu. Without it, the plan passes dY to A itself
// (gradPassThrough) and only dB is written here.
class AddBackward final : public GradKernel {
public:
    explicit AddBackward(std::shared_ptr<AddShared> shared) : m_shared(std::move(shared)) {}

    Status backward(const GradArgs& a) override {
        const HostTensor* dy = a.outputGrads[0];
        if (!dy) return Status::ok();
        const bool relu = m_shared->relu;
        if (relu && (a.outputs.empty() || !a.outputs[0] ||
                     a.outputs[0]->numElements() != dy->numElements()))
            return makeStatus(StatusCode::kInternal, "fused Relu: output not saved");
        const float* mask = relu ? a.outputs[0]->data<float>() : nullptr;
        const float* g = dy->data<float>();
        const int64_t n = dy->numElements();
        float* outs[2] = {nullptr, nullptr};
        for (int k = 0; k < 2; ++k)
            if (HostTensor* t = a.inputGrads[static_cast<std::size_t>(k)]) {
                t->ensure(ir::DType::kFloat, dy->dims());
                outs[k] = t->data<float>();
            }
        float* ga = outs[0];
        float* gb = outs[1];
        if (mask) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
            for (int64_t i = 0; i < n; ++i) {
                const float gv = g[i];
                const float d = mask[i] > 0.0f ? gv : 0.0f;
                if (ga) ga[i] = d;
                if (gb) gb[i] = d;
            }
        } else {
#pragma omp parallel for simd schedule(static) if (n > 65536)
            for (int64_t i = 0; i < n; ++i) {
                if (ga) ga[i] = g[i];
                if (gb) gb[i] = g[i];
            }
        }
        return Status::ok();
    }

private:
    std::shared_ptr<AddShared> m_shared;
};

// Float32 operands of one and the same (known) shape; anything else (broadcasting) is the
// reference gradient's.
Expected<GradBuild> addFactory(const GradContext& ctx) {
    if (ctx.inputs.size() != 2 || ctx.outputs.size() != 1)
        return error(StatusCode::kUnsupported, "fast Add: two inputs, one output");
    for (const TensorInfo* t : {&ctx.inputs[0], &ctx.inputs[1], &ctx.outputs[0]})
        if (t->dtype != ir::DType::kFloat || !t->rankKnown || t->dims != ctx.outputs[0].dims)
            return error(StatusCode::kUnsupported, "fast Add: same-shaped float32 only");
    auto shared = std::make_shared<AddShared>();
    GradBuild b;
    b.kernel = std::make_unique<AddBackward>(shared);
    b.trainingForward = std::make_unique<AddTrainingForward>(shared);
    b.trainingForwardIsInference = true;
    b.savedInputs = {false, false};
    b.savedOutputs = {false};
    if (takesRelu(ctx)) {  // the gradient masks dY itself, for both inputs
        shared->relu = true;
        b.fused = 1;
        b.savedOutputs = {true};
    } else {
        b.gradPassThrough = 0;
    }
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
    registry.add("", "Add", 7, 99, Backend::kDnnl, addFactory);
    registry.add("", "Clip", 11, 99, Backend::kDnnl, clipFactory);
}

}  // namespace wh::engine::dnnlk
