// Gradients of the network operators. Convolutions go through im2col/col2im and Eigen matrix
// products; pooling recomputes its windows from the saved input; BatchNormalization brings its
// own training forward (batch statistics, ONNX running-average update).

#include <cmath>
#include <cstring>
#include <limits>

#include <Eigen/Core>

#include "core/engine/ref/grad_kernels.h"
#include "core/engine/ref/grad_util.h"

namespace wh::engine::ref {

namespace {

using namespace grad;

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MapM = Eigen::Map<Mat<T>>;
template <class T>
using CMapM = Eigen::Map<const Mat<T>>;

Status unsupportedType(ir::DType t) {
    return makeStatus(StatusCode::kUnsupported, "gradients of {} tensors", ir::dtypeName(t));
}

std::vector<int64_t> spatialOf(const Dims& d) {
    return {d.begin() + 2, d.end()};
}
int64_t product(const std::vector<int64_t>& v) {
    int64_t p = 1;
    for (int64_t x : v) p *= x;
    return p;
}

template <class T>
void zero(HostTensor& t) {
    std::fill(t.data<T>(), t.data<T>() + t.numElements(), T(0));
}

// dB[m] = sum over images n and positions p of dY[n, m, p] (Conv and ConvTranspose).
template <class T>
void biasGradient(const T* dy, int64_t N, int64_t M, int64_t P, ir::DType dtype, HostTensor& gb) {
    gb.ensure(dtype, {M});
    T* b = gb.data<T>();
    for (int64_t m = 0; m < M; ++m) {
        T s = 0;
        for (int64_t n = 0; n < N; ++n) {
            const T* p = dy + (n * M + m) * P;
            for (int64_t q = 0; q < P; ++q) s += p[q];
        }
        b[m] = s;
    }
}

// ---- Conv --------------------------------------------------------------------------------------

// Y[n, g, m, p] = sum_{c, k} W[g, m, c, k] * X[n, g, c, at(p, k)] + B[m]. Per image and group,
// with col = im2col(X[n, g]) of shape [Cg*K, P]:  dW_g += dY_g col^T,  dcol = W_g^T dY_g,
// dX[n, g] = col2im(dcol),  dB = sum over n and p of dY.
Expected<GradBuild> convFactory(const GradContext& ctx) {
    const ir::Node* node = &ctx.node;
    const int64_t group = ctx.node.attrInt("group", 1);
    auto kernel = makeGradKernel([node, group](const GradArgs& a) -> Status {
        const HostTensor* dy = gradOut(a, 0);
        if (!dy) return Status::ok();
        const Dims& xd = a.inputDims[0];
        const Dims& wd = a.inputDims[1];
        const auto inS = spatialOf(xd), outS = spatialOf(dy->dims()), kS = spatialOf(wd);
        if (inS.size() < 1 || inS.size() > 2)
            return makeStatus(StatusCode::kUnsupported, "Conv gradient for {}-d images",
                              inS.size());
        WH_ASSIGN_OR_RETURN_STATUS(Window w, readWindow(*node, inS, outS, kS));
        const int64_t N = xd[0], C = xd[1], M = wd[0], Cg = C / group, Mg = M / group;
        const int64_t K = product(kS), P = product(outS), I = product(inS);
        HostTensor* gx = gradIn(a, 0);
        HostTensor* gw = gradIn(a, 1);
        HostTensor* gb = gradIn(a, 2);
        auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
            using T = decltype(z);
            const T* g = dy->data<T>();
            if (gx) {
                gx->ensure(dy->dtype(), xd);
                zero<T>(*gx);
            }
            if (gw) {
                gw->ensure(dy->dtype(), wd);
                zero<T>(*gw);
            }
            std::vector<T> col(static_cast<std::size_t>(Cg * K * P));
            for (int64_t n = 0; n < N; ++n)
                for (int64_t gi = 0; gi < group; ++gi) {
                    CMapM<T> dyg(g + (n * M + gi * Mg) * P, Mg, P);
                    if (gw) {
                        im2col(a.inputs[0]->data<T>() + (n * C + gi * Cg) * I, Cg, inS, outS, w,
                               col.data());
                        MapM<T> dwg(gw->data<T>() + gi * Mg * Cg * K, Mg, Cg * K);
                        dwg.noalias() += dyg * CMapM<T>(col.data(), Cg * K, P).transpose();
                    }
                    if (gx) {
                        CMapM<T> wg(a.inputs[1]->data<T>() + gi * Mg * Cg * K, Mg, Cg * K);
                        MapM<T>(col.data(), Cg * K, P).noalias() = wg.transpose() * dyg;
                        col2im(col.data(), Cg, inS, outS, w, gx->data<T>() + (n * C + gi * Cg) * I);
                    }
                }
            if (gb) biasGradient(g, N, M, P, dy->dtype(), *gb);
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    std::vector<int> saved;
    if (ctx.wants(1)) saved.push_back(0);  // dW reads X
    if (ctx.wants(0)) saved.push_back(1);  // dX reads W
    return gradBuild(std::move(kernel), ctx, saved, {});
}

// ---- ConvTranspose -----------------------------------------------------------------------------

// ConvTranspose is the adjoint of Conv (image = Y, grid = X): Y[n, g] = col2im(W_g^T X[n, g]).
// Backward with col = im2col(dY[n, g]) of shape [Mg*K, I]: dX[n, g] = W_g col,
// dW_g += X[n, g] col^T, dB = sum of dY.
Expected<GradBuild> convTransposeFactory(const GradContext& ctx) {
    const ir::Node* node = &ctx.node;
    const int64_t group = ctx.node.attrInt("group", 1);
    auto kernel = makeGradKernel([node, group](const GradArgs& a) -> Status {
        const HostTensor* dy = gradOut(a, 0);
        if (!dy) return Status::ok();
        const Dims& xd = a.inputDims[0];
        const Dims& wd = a.inputDims[1];
        const auto inS = spatialOf(xd), outS = spatialOf(dy->dims()), kS = spatialOf(wd);
        const std::size_t ns = inS.size();
        if (ns < 1 || ns > 2)
            return makeStatus(StatusCode::kUnsupported, "ConvTranspose gradient for {}-d images",
                              ns);
        Window w;
        w.kernel = node->attrInts("kernel_shape");
        if (w.kernel.empty()) w.kernel = kS;
        w.strides = node->attrInts("strides");
        if (w.strides.empty()) w.strides.assign(ns, 1);
        w.dilations = node->attrInts("dilations");
        if (w.dilations.empty()) w.dilations.assign(ns, 1);
        std::vector<int64_t> outPad = node->attrInts("output_padding");
        if (outPad.empty()) outPad.assign(ns, 0);
        const std::string autoPad = node->attrString("auto_pad", "NOTSET");
        const std::vector<int64_t> pads = node->attrInts("pads");
        w.padBegin.assign(ns, 0);
        w.padEnd.assign(ns, 0);
        for (std::size_t k = 0; k < ns; ++k) {
            if (!pads.empty() && autoPad == "NOTSET" && !node->attribute("output_shape")) {
                w.padBegin[k] = pads[k];
                w.padEnd[k] = pads[ns + k];
                continue;
            }
            if (autoPad == "VALID") continue;
            // ONNX: total = stride (in - 1) + output_padding + ((k - 1) dilation + 1) - out.
            const int64_t total = w.strides[k] * (inS[k] - 1) + outPad[k] +
                                  (w.kernel[k] - 1) * w.dilations[k] + 1 - outS[k];
            w.padBegin[k] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
            w.padEnd[k] = total - w.padBegin[k];
        }
        const int64_t N = xd[0], C = xd[1], Cg = C / group, Mg = wd[1], M = Mg * group;
        const int64_t K = product(w.kernel), I = product(inS), P = product(outS);
        HostTensor* gx = gradIn(a, 0);
        HostTensor* gw = gradIn(a, 1);
        HostTensor* gb = gradIn(a, 2);
        auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
            using T = decltype(z);
            const T* g = dy->data<T>();
            if (gx) gx->ensure(dy->dtype(), xd);
            if (gw) {
                gw->ensure(dy->dtype(), wd);
                zero<T>(*gw);
            }
            std::vector<T> col(static_cast<std::size_t>(Mg * K * I));
            for (int64_t n = 0; n < N; ++n)
                for (int64_t gi = 0; gi < group; ++gi) {
                    // The image is dY (spatial outS), the grid is X (spatial inS).
                    im2col(g + (n * M + gi * Mg) * P, Mg, outS, inS, w, col.data());
                    CMapM<T> c(col.data(), Mg * K, I);
                    if (gx) {
                        CMapM<T> wg(a.inputs[1]->data<T>() + gi * Cg * Mg * K, Cg, Mg * K);
                        MapM<T>(gx->data<T>() + (n * C + gi * Cg) * I, Cg, I).noalias() = wg * c;
                    }
                    if (gw) {
                        CMapM<T> xg(a.inputs[0]->data<T>() + (n * C + gi * Cg) * I, Cg, I);
                        MapM<T>(gw->data<T>() + gi * Cg * Mg * K, Cg, Mg * K).noalias() +=
                            xg * c.transpose();
                    }
                }
            if (gb) biasGradient(g, N, M, P, dy->dtype(), *gb);
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    std::vector<int> saved;
    if (ctx.wants(1)) saved.push_back(0);
    if (ctx.wants(0)) saved.push_back(1);
    return gradBuild(std::move(kernel), ctx, saved, {});
}

// ---- Gemm and MatMul ---------------------------------------------------------------------------

// Y = alpha A' B' + beta C with A' = transA ? A^T : A, B' likewise:
// dA' = alpha dY B'^T, dB' = alpha A'^T dY, dC = beta dY summed over C's broadcast axes.
Expected<GradBuild> gemmFactory(const GradContext& ctx) {
    const bool transA = ctx.node.attrInt("transA", 0) != 0;
    const bool transB = ctx.node.attrInt("transB", 0) != 0;
    const double alpha = ctx.node.attrFloat("alpha", 1.0f);
    const double beta = ctx.node.attrFloat("beta", 1.0f);
    auto kernel = makeGradKernel([=](const GradArgs& a) -> Status {
        const HostTensor* dy = gradOut(a, 0);
        if (!dy) return Status::ok();
        const Dims& ad = a.inputDims[0];
        const Dims& bd = a.inputDims[1];
        HostTensor* ga = gradIn(a, 0);
        HostTensor* gb = gradIn(a, 1);
        HostTensor* gc = gradIn(a, 2);
        auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
            using T = decltype(z);
            const int64_t M = dy->dim(0), N = dy->dim(1);
            CMapM<T> g(dy->data<T>(), M, N);
            const T al = static_cast<T>(alpha);
            if (ga) {
                ga->ensure(dy->dtype(), ad);
                CMapM<T> b(a.inputs[1]->data<T>(), bd[0], bd[1]);
                MapM<T> o(ga->data<T>(), ad[0], ad[1]);
                // B' = transB ? B^T : B, so dA' = alpha dY B'^T.
                if (!transA) {
                    if (transB)
                        o.noalias() = al * (g * b);
                    else
                        o.noalias() = al * (g * b.transpose());
                } else {
                    if (transB)
                        o.noalias() = al * (b.transpose() * g.transpose());
                    else
                        o.noalias() = al * (b * g.transpose());
                }
            }
            if (gb) {
                gb->ensure(dy->dtype(), bd);
                CMapM<T> x(a.inputs[0]->data<T>(), ad[0], ad[1]);
                MapM<T> o(gb->data<T>(), bd[0], bd[1]);
                // A'^T = transA ? A : A^T; dB' = alpha A'^T dY.
                if (!transB) {
                    if (transA)
                        o.noalias() = al * (x * g);
                    else
                        o.noalias() = al * (x.transpose() * g);
                } else {
                    if (transA)
                        o.noalias() = al * (g.transpose() * x.transpose());
                    else
                        o.noalias() = al * (g.transpose() * x);
                }
            }
            if (gc) {
                WH_RETURN_STATUS_IF_ERROR(reduceToShape(*dy, a.inputDims[2], *gc));
                T* c = gc->data<T>();
                for (int64_t i = 0; i < gc->numElements(); ++i) c[i] *= static_cast<T>(beta);
            }
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    std::vector<int> saved;
    if (ctx.wants(1)) saved.push_back(0);
    if (ctx.wants(0)) saved.push_back(1);
    return gradBuild(std::move(kernel), ctx, saved, {});
}

// numpy matmul: 1-D operands are promoted ([K] -> [1, K] for A, [K, 1] for B) and batch dims
// broadcast. Per batch element: dA_i += dY_i B_i^T, dB_i += A_i^T dY_i (summing over the
// batch elements that share a broadcast operand).
Expected<GradBuild> matmulFactory(const GradContext& ctx) {
    auto kernel = makeGradKernel([](const GradArgs& a) -> Status {
        const HostTensor* dy = gradOut(a, 0);
        if (!dy) return Status::ok();
        Dims ad = a.inputDims[0], bd = a.inputDims[1];
        if (ad.size() == 1) ad.insert(ad.begin(), 1);
        if (bd.size() == 1) bd.push_back(1);
        const int64_t M = ad[ad.size() - 2], K = ad.back(), N = bd.back();
        const Dims aBatch(ad.begin(), ad.end() - 2), bBatch(bd.begin(), bd.end() - 2);
        WH_ASSIGN_OR_RETURN_STATUS(Dims batch, broadcastDims(aBatch, bBatch));
        const auto sa = broadcastStrides(batch, aBatch);
        const auto sb = broadcastStrides(batch, bBatch);
        HostTensor* ga = gradIn(a, 0);
        HostTensor* gb = gradIn(a, 1);
        auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
            using T = decltype(z);
            if (ga) {
                ga->ensure(dy->dtype(), a.inputDims[0]);
                zero<T>(*ga);
            }
            if (gb) {
                gb->ensure(dy->dtype(), a.inputDims[1]);
                zero<T>(*gb);
            }
            const T* g = dy->data<T>();
            forEachBroadcast(batch, sa, sb, [&](int64_t i, int64_t ia, int64_t ib) {
                CMapM<T> gi(g + i * M * N, M, N);
                if (ga) {
                    CMapM<T> bm(a.inputs[1]->data<T>() + ib * K * N, K, N);
                    MapM<T>(ga->data<T>() + ia * M * K, M, K).noalias() += gi * bm.transpose();
                }
                if (gb) {
                    CMapM<T> am(a.inputs[0]->data<T>() + ia * M * K, M, K);
                    MapM<T>(gb->data<T>() + ib * K * N, K, N).noalias() += am.transpose() * gi;
                }
            });
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    std::vector<int> saved;
    if (ctx.wants(1)) saved.push_back(0);
    if (ctx.wants(0)) saved.push_back(1);
    return gradBuild(std::move(kernel), ctx, saved, {});
}

// ---- BatchNormalization ------------------------------------------------------------------------

// What the training forward leaves for backward: per-channel mean and 1/sqrt(var + eps) of the
// last pass, and whether it used batch statistics.
struct BnState {
    std::vector<double> mean, invStd;
    bool batchStats = true;
};

// Training forward. Batch statistics (biased variance, as ONNX's training mode) normalise X;
// the running averages follow ONNX: running = momentum * running + (1 - momentum) * batch.
// Frozen (NodeFlags::bnFrozen()): the running statistics normalise and stay as they are.
class BnTrainingForward : public Kernel {
public:
    BnTrainingForward(std::shared_ptr<BnState> s, const NodeFlags* flags, double eps,
                      double momentum, int nodeOutputs)
        : m_state(std::move(s)),
          m_flags(flags),
          m_eps(eps),
          m_momentum(momentum),
          m_nodeOutputs(nodeOutputs) {}

    Status run(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        const HostTensor& x = *in[0];
        auto r =
            dispatchFloat(x.dtype(), [&](auto z) -> Status { return runT<decltype(z)>(in, out); });
        return r ? *r : unsupportedType(x.dtype());
    }

private:
    template <class T>
    Status runT(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) {
        const HostTensor& x = *in[0];
        if (x.rank() < 2)
            return makeStatus(StatusCode::kBadInput, "BatchNormalization of rank {}", x.rank());
        const int64_t N = x.dim(0), C = x.dim(1), S = x.numElements() / std::max<int64_t>(1, N * C);
        const T* xs = x.data<T>();
        const T* scale = in[1]->data<T>();
        const T* bias = in[2]->data<T>();
        const T* rm = in[3]->data<T>();
        const T* rv = in[4]->data<T>();
        BnState& st = *m_state;
        st.batchStats = !(m_flags && m_flags->bnFrozen());
        st.mean.assign(static_cast<std::size_t>(C), 0.0);
        st.invStd.assign(static_cast<std::size_t>(C), 0.0);
        std::vector<double> var(static_cast<std::size_t>(C), 0.0);
        const double count = static_cast<double>(N * S);
        for (int64_t c = 0; c < C; ++c) {
            const auto cu = static_cast<std::size_t>(c);
            if (st.batchStats) {
                double s = 0, s2 = 0;
                for (int64_t n = 0; n < N; ++n) {
                    const T* p = xs + (n * C + c) * S;
                    for (int64_t q = 0; q < S; ++q) s += p[q];
                }
                const double mean = s / count;
                for (int64_t n = 0; n < N; ++n) {
                    const T* p = xs + (n * C + c) * S;
                    for (int64_t q = 0; q < S; ++q) s2 += (p[q] - mean) * (p[q] - mean);
                }
                st.mean[cu] = mean;
                var[cu] = s2 / count;
            } else {
                st.mean[cu] = rm[c];
                var[cu] = rv[c];
            }
            st.invStd[cu] = 1.0 / std::sqrt(var[cu] + m_eps);
        }
        out[0]->ensure(x.dtype(), x.dims());
        T* y = out[0]->data<T>();
        for (int64_t n = 0; n < N; ++n)
            for (int64_t c = 0; c < C; ++c) {
                const auto cu = static_cast<std::size_t>(c);
                const T a = static_cast<T>(scale[c] * st.invStd[cu]);
                const T b = static_cast<T>(bias[c] - scale[c] * st.invStd[cu] * st.mean[cu]);
                const T* p = xs + (n * C + c) * S;
                T* q = y + (n * C + c) * S;
                for (int64_t k = 0; k < S; ++k) q[k] = a * p[k] + b;
            }
        // New running statistics: the extra outputs after the node's own, and the node's
        // running_mean / running_var outputs when it declares them (opset 14+ training mode);
        // opset 9's saved_mean / saved_var get the batch mean and 1/sqrt(var + eps).
        auto fill = [&](HostTensor* t, auto value) {
            if (!t) return;
            t->ensure(x.dtype(), {C});
            for (int64_t c = 0; c < C; ++c) t->data<T>()[c] = static_cast<T>(value(c));
        };
        const double mom =
            st.batchStats ? (m_flags ? m_flags->bnMomentum(m_momentum) : m_momentum) : 1.0;
        auto newMean = [&](int64_t c) {
            return mom * rm[c] + (1 - mom) * st.mean[static_cast<std::size_t>(c)];
        };
        auto newVar = [&](int64_t c) {
            return mom * rv[c] + (1 - mom) * var[static_cast<std::size_t>(c)];
        };
        const auto at = [&](int i) -> HostTensor* {
            return i < static_cast<int>(out.size()) ? out[static_cast<std::size_t>(i)] : nullptr;
        };
        fill(at(1), newMean);
        fill(at(2), newVar);
        fill(at(3), [&](int64_t c) { return st.mean[static_cast<std::size_t>(c)]; });
        fill(at(4), [&](int64_t c) { return st.invStd[static_cast<std::size_t>(c)]; });
        fill(at(m_nodeOutputs), newMean);
        fill(at(m_nodeOutputs + 1), newVar);
        return Status::ok();
    }

    std::shared_ptr<BnState> m_state;
    const NodeFlags* m_flags;
    double m_eps, m_momentum;
    int m_nodeOutputs;
};

// With xhat = (x - mean) invStd over the M = N*S elements of a channel:
//   dScale = sum dy xhat,  dBias = sum dy,
//   batch statistics: dx = scale invStd / M (M dy - sum dy - xhat sum dy xhat)
//   (the mean and variance depend on x; this is the usual closed form),
//   running statistics: dx = scale invStd dy.
Expected<GradBuild> batchNormFactory(const GradContext& ctx) {
    auto state = std::make_shared<BnState>();
    const double eps = ctx.node.attrFloat("epsilon", 1e-5f);
    const double momentum = ctx.node.attrFloat("momentum", 0.9f);
    auto kernel = makeGradKernel([state](const GradArgs& a) -> Status {
        const HostTensor* dy = gradOut(a, 0);
        if (!dy) return Status::ok();
        const HostTensor& x = *a.inputs[0];
        auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
            using T = decltype(z);
            const int64_t N = x.dim(0), C = x.dim(1),
                          S = x.numElements() / std::max<int64_t>(1, N * C);
            const double M = static_cast<double>(N * S);
            const T* xs = x.data<T>();
            const T* g = dy->data<T>();
            const T* scale = a.inputs[1]->data<T>();
            HostTensor* gx = gradIn(a, 0);
            HostTensor* gs = gradIn(a, 1);
            HostTensor* gbias = gradIn(a, 2);
            if (gx) gx->ensure(dy->dtype(), x.dims());
            if (gs) gs->ensure(dy->dtype(), {C});
            if (gbias) gbias->ensure(dy->dtype(), {C});
            for (int k = 3; k <= 4; ++k)
                if (HostTensor* gk = gradIn(a, k)) {  // statistics are state: no gradient
                    gk->ensure(dy->dtype(), {C});
                    zero<T>(*gk);
                }
            for (int64_t c = 0; c < C; ++c) {
                const double mean = state->mean[static_cast<std::size_t>(c)];
                const double inv = state->invStd[static_cast<std::size_t>(c)];
                double sumDy = 0, sumDyXhat = 0;
                for (int64_t n = 0; n < N; ++n) {
                    const T* p = xs + (n * C + c) * S;
                    const T* q = g + (n * C + c) * S;
                    for (int64_t k = 0; k < S; ++k) {
                        sumDy += q[k];
                        sumDyXhat += q[k] * (p[k] - mean) * inv;
                    }
                }
                if (gs) gs->data<T>()[c] = static_cast<T>(sumDyXhat);
                if (gbias) gbias->data<T>()[c] = static_cast<T>(sumDy);
                if (!gx) continue;
                const double sc = static_cast<double>(scale[c]) * inv;
                for (int64_t n = 0; n < N; ++n) {
                    const T* p = xs + (n * C + c) * S;
                    const T* q = g + (n * C + c) * S;
                    T* o = gx->data<T>() + (n * C + c) * S;
                    if (state->batchStats) {
                        for (int64_t k = 0; k < S; ++k) {
                            const double xhat = (p[k] - mean) * inv;
                            o[k] = static_cast<T>(sc / M * (M * q[k] - sumDy - xhat * sumDyXhat));
                        }
                    } else {
                        for (int64_t k = 0; k < S; ++k) o[k] = static_cast<T>(sc * q[k]);
                    }
                }
            }
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    GradBuild b = gradBuild(std::move(kernel), ctx, {0, 1}, {});
    b.trainingForward = std::make_unique<BnTrainingForward>(state, ctx.flags, eps, momentum,
                                                            static_cast<int>(ctx.outputs.size()));
    return b;
}

// ---- Pooling -----------------------------------------------------------------------------------

// Geometry of a pooling node as 2-D (1-D images are 1 x W).
struct Pool2d {
    int64_t IH, IW, OH, OW, KH, KW, SH, SW, DH, DW, PH, PW, PHe, PWe;
};
Pool2d pool2d(const std::vector<int64_t>& in, const std::vector<int64_t>& out, const Window& w) {
    const bool one = in.size() == 1;
    return {
        one ? 1 : in[0],          in.back(),          one ? 1 : out[0],        out.back(),
        one ? 1 : w.kernel[0],    w.kernel.back(),    one ? 1 : w.strides[0],  w.strides.back(),
        one ? 1 : w.dilations[0], w.dilations.back(), one ? 0 : w.padBegin[0], w.padBegin.back(),
        one ? 0 : w.padEnd[0],    w.padEnd.back()};
}

enum class PoolKind { kMax, kAverage };

// MaxPool: the gradient goes to the first maximum of each window (recomputed from X).
// AveragePool: spread evenly over the window's elements, the divisor counting padding when
// count_include_pad (positions past the end padding, from ceil_mode, never count).
GradFactory poolFactory(PoolKind kind) {
    return [kind](const GradContext& ctx) -> Expected<GradBuild> {
        const ir::Node* node = &ctx.node;
        const bool includePad = ctx.node.attrInt("count_include_pad", 0) != 0;
        auto kernel = makeGradKernel([=](const GradArgs& a) -> Status {
            HostTensor* gx = gradIn(a, 0);
            const HostTensor* dy = gradOut(a, 0);
            if (!gx || !dy) return Status::ok();
            const Dims& xd = a.inputDims[0];
            const auto inS = spatialOf(xd), outS = spatialOf(dy->dims());
            if (inS.size() < 1 || inS.size() > 2)
                return makeStatus(StatusCode::kUnsupported, "{} gradient for {}-d images",
                                  node->opType, inS.size());
            WH_ASSIGN_OR_RETURN_STATUS(Window w, readWindow(*node, inS, outS, {}));
            const Pool2d p = pool2d(inS, outS, w);
            const int64_t planes = xd[0] * xd[1];
            auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
                using T = decltype(z);
                gx->ensure(dy->dtype(), xd);
                zero<T>(*gx);
                const T* g = dy->data<T>();
                const T* xs = kind == PoolKind::kMax ? a.inputs[0]->data<T>() : nullptr;
                for (int64_t pl = 0; pl < planes; ++pl) {
                    T* o = gx->data<T>() + pl * p.IH * p.IW;
                    const T* xp = xs ? xs + pl * p.IH * p.IW : nullptr;
                    for (int64_t oh = 0; oh < p.OH; ++oh)
                        for (int64_t ow = 0; ow < p.OW; ++ow) {
                            const T d = g[(pl * p.OH + oh) * p.OW + ow];
                            const int64_t h0 = oh * p.SH - p.PH, w0 = ow * p.SW - p.PW;
                            if (kind == PoolKind::kMax) {
                                int64_t best = -1;
                                T bestV = -std::numeric_limits<T>::infinity();
                                for (int64_t kh = 0; kh < p.KH; ++kh) {
                                    const int64_t ih = h0 + kh * p.DH;
                                    if (ih < 0 || ih >= p.IH) continue;
                                    for (int64_t kw = 0; kw < p.KW; ++kw) {
                                        const int64_t iw = w0 + kw * p.DW;
                                        if (iw < 0 || iw >= p.IW) continue;
                                        const T v = xp[ih * p.IW + iw];
                                        if (best < 0 || v > bestV) {
                                            best = ih * p.IW + iw;
                                            bestV = v;
                                        }
                                    }
                                }
                                if (best >= 0) o[best] += d;
                                continue;
                            }
                            int64_t count = 0;
                            for (int64_t kh = 0; kh < p.KH; ++kh) {
                                const int64_t ih = h0 + kh * p.DH;
                                const bool hIn = ih >= 0 && ih < p.IH;
                                const bool hPad = ih >= -p.PH && ih < p.IH + p.PHe;
                                for (int64_t kw = 0; kw < p.KW; ++kw) {
                                    const int64_t iw = w0 + kw * p.DW;
                                    const bool wIn = iw >= 0 && iw < p.IW;
                                    const bool wPad = iw >= -p.PW && iw < p.IW + p.PWe;
                                    if (includePad ? (hPad && wPad) : (hIn && wIn)) ++count;
                                }
                            }
                            if (count == 0) continue;
                            const T share = d / static_cast<T>(count);
                            for (int64_t kh = 0; kh < p.KH; ++kh) {
                                const int64_t ih = h0 + kh * p.DH;
                                if (ih < 0 || ih >= p.IH) continue;
                                for (int64_t kw = 0; kw < p.KW; ++kw) {
                                    const int64_t iw = w0 + kw * p.DW;
                                    if (iw >= 0 && iw < p.IW) o[ih * p.IW + iw] += share;
                                }
                            }
                        }
                }
                return Status::ok();
            });
            return r ? *r : unsupportedType(dy->dtype());
        });
        return gradBuild(std::move(kernel), ctx,
                         kind == PoolKind::kMax ? std::vector<int>{0} : std::vector<int>{}, {});
    };
}

Expected<GradBuild> globalAveragePoolFactory(const GradContext& ctx) {
    auto kernel = makeGradKernel([](const GradArgs& a) -> Status {
        HostTensor* gx = gradIn(a, 0);
        const HostTensor* dy = gradOut(a, 0);
        if (!gx || !dy) return Status::ok();
        const Dims& xd = a.inputDims[0];
        const int64_t planes = xd[0] * xd[1];
        const int64_t S = numElementsOf(xd) / std::max<int64_t>(1, planes);
        auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
            using T = decltype(z);
            gx->ensure(dy->dtype(), xd);
            const T* g = dy->data<T>();
            T* o = gx->data<T>();
            for (int64_t pl = 0; pl < planes; ++pl) {
                const T v = g[pl] / static_cast<T>(S);
                std::fill(o + pl * S, o + (pl + 1) * S, v);
            }
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    return gradBuild(std::move(kernel), ctx, {}, {});
}

// ---- Softmax / LogSoftmax ----------------------------------------------------------------------

// Opset < 13 flattens to 2-D at `axis` (default 1); opset 13+ works along `axis` (default -1).
// Softmax: dx = y (dy - sum dy y).  LogSoftmax: dx = dy - exp(y) sum dy.
GradFactory softmaxFactory(bool log) {
    return [log](const GradContext& ctx) -> Expected<GradBuild> {
        const bool legacy = ctx.opset < 13;
        const int64_t axisAttr = ctx.node.attrInt("axis", legacy ? 1 : -1);
        auto kernel = makeGradKernel([=](const GradArgs& a) -> Status {
            HostTensor* gx = gradIn(a, 0);
            const HostTensor* dy = gradOut(a, 0);
            if (!gx || !dy) return Status::ok();
            const HostTensor& y = *a.outputs[0];
            const int64_t rank = y.rank();
            const int64_t axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
            int64_t outer = 1, len = 1, inner = 1;
            for (int64_t d = 0; d < axis; ++d) outer *= y.dim(static_cast<int>(d));
            if (legacy) {
                len = y.numElements() / std::max<int64_t>(1, outer);
            } else {
                len = y.dim(static_cast<int>(axis));
                for (int64_t d = axis + 1; d < rank; ++d) inner *= y.dim(static_cast<int>(d));
            }
            auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
                using T = decltype(z);
                gx->ensure(dy->dtype(), y.dims());
                const T* g = dy->data<T>();
                const T* ys = y.data<T>();
                T* o = gx->data<T>();
                for (int64_t ou = 0; ou < outer; ++ou)
                    for (int64_t in = 0; in < inner; ++in) {
                        const int64_t base = ou * len * inner + in;
                        double s = 0;
                        for (int64_t k = 0; k < len; ++k) {
                            const int64_t i = base + k * inner;
                            s +=
                                log ? static_cast<double>(g[i]) : static_cast<double>(g[i]) * ys[i];
                        }
                        for (int64_t k = 0; k < len; ++k) {
                            const int64_t i = base + k * inner;
                            o[i] = log ? static_cast<T>(g[i] - std::exp(ys[i]) * s)
                                       : static_cast<T>(ys[i] * (g[i] - s));
                        }
                    }
                return Status::ok();
            });
            return r ? *r : unsupportedType(dy->dtype());
        });
        return gradBuild(std::move(kernel), ctx, {}, {0});
    };
}

}  // namespace

void registerNnGradients(GradRegistry& r) {
    constexpr auto kRef = Backend::kReference;
    r.add("", "Conv", 1, 99, kRef, convFactory);
    r.add("", "ConvTranspose", 1, 99, kRef, convTransposeFactory);
    r.add("", "Gemm", 7, 99, kRef, gemmFactory);
    r.add("", "MatMul", 1, 99, kRef, matmulFactory);
    r.add("", "BatchNormalization", 7, 99, kRef, batchNormFactory);
    r.add("", "MaxPool", 1, 99, kRef, poolFactory(PoolKind::kMax));
    r.add("", "AveragePool", 1, 99, kRef, poolFactory(PoolKind::kAverage));
    r.add("", "GlobalAveragePool", 1, 99, kRef, globalAveragePoolFactory);
    r.add("", "Softmax", 1, 99, kRef, softmaxFactory(false));
    r.add("", "LogSoftmax", 1, 99, kRef, softmaxFactory(true));
}

}  // namespace wh::engine::ref
