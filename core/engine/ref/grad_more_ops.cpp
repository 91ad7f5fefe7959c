// Gradients of the operators transformer exports add to the CNN set: Where, Expand, Tile and
// LayerNormalization. (PyTorch's GELU is an Erf chain and its opset-14 LayerNorm a
// ReduceMean/Sub/Pow/Sqrt/Div chain: both already differentiable op by op.)

#include <algorithm>
#include <cmath>

#include "core/engine/ref/broadcast.h"
#include "core/engine/ref/grad_kernels.h"
#include "core/engine/ref/grad_util.h"

namespace wh::engine::ref {

namespace {

using namespace grad;

Status unsupportedType(ir::DType t) {
    return makeStatus(StatusCode::kUnsupported, "gradients of {} tensors", ir::dtypeName(t));
}

// `t` ensured to `dims` and zeroed; null stays null.
template <class T>
T* zeroed(HostTensor* t, ir::DType dtype, const Dims& dims) {
    if (!t) return nullptr;
    t->ensure(dtype, dims);
    T* p = t->data<T>();
    std::fill(p, p + t->numElements(), T(0));
    return p;
}

// Where(cond, X, Y): dX = dY where cond, dY_Y = dY where not; each summed over its broadcast
// axes. The condition gets no gradient.
Expected<GradBuild> whereFactory(const GradContext& ctx) {
    auto kernel = makeGradKernel([](const GradArgs& a) -> Status {
        const HostTensor* dy = gradOut(a, 0);
        if (!dy) return Status::ok();
        const HostTensor& cond = *a.inputs[0];
        if (cond.dtype() != ir::DType::kBool)
            return makeStatus(StatusCode::kBadInput, "Where: the condition is {}, not bool",
                              ir::dtypeName(cond.dtype()));
        auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
            using T = decltype(z);
            T* gx = zeroed<T>(gradIn(a, 1), dy->dtype(), a.inputDims[1]);
            T* gy = zeroed<T>(gradIn(a, 2), dy->dtype(), a.inputDims[2]);
            WH_ASSIGN_OR_RETURN_STATUS(
                const BroadcastPlan plan,
                planBroadcastTo(dy->dims(), {&cond.dims(), &a.inputDims[1], &a.inputDims[2]}));
            const auto* c = cond.data<bool>();
            const T* g = dy->data<T>();
            forEachRow(plan, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* st) {
                for (int64_t i = 0; i < n; ++i) {
                    const bool take = c[off[0] + i * st[0]];
                    if (take && gx) gx[off[1] + i * st[1]] += g[o + i];
                    if (!take && gy) gy[off[2] + i * st[2]] += g[o + i];
                }
            });
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    return gradBuild(std::move(kernel), ctx, {0}, {});
}

// Expand(X, shape): dX is dY summed over the axes X was broadcast along.
Expected<GradBuild> expandFactory(const GradContext& ctx) {
    auto kernel = makeGradKernel([](const GradArgs& a) -> Status {
        const HostTensor* dy = gradOut(a, 0);
        HostTensor* gx = gradIn(a, 0);
        if (!dy || !gx) return Status::ok();
        auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
            using T = decltype(z);
            T* o = zeroed<T>(gx, dy->dtype(), a.inputDims[0]);
            WH_ASSIGN_OR_RETURN_STATUS(const BroadcastPlan plan,
                                       planBroadcastTo(dy->dims(), {&a.inputDims[0]}));
            const T* g = dy->data<T>();
            forEachRow(plan, [&](int64_t out, const int64_t* off, int64_t n, const int64_t* st) {
                for (int64_t i = 0; i < n; ++i) o[off[0] + i * st[0]] += g[out + i];
            });
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    return gradBuild(std::move(kernel), ctx, {}, {});
}

// Tile(X, repeats): dX is the sum of dY's tiles. Y's axis d of r_d * x_d elements is walked as
// two axes (r_d, x_d), the first one not moving in X.
Expected<GradBuild> tileFactory(const GradContext& ctx) {
    auto kernel = makeGradKernel([](const GradArgs& a) -> Status {
        const HostTensor* dy = gradOut(a, 0);
        HostTensor* gx = gradIn(a, 0);
        if (!dy || !gx) return Status::ok();
        const Dims& xd = a.inputDims[0];
        const Dims& yd = dy->dims();
        if (yd.size() != xd.size())
            return makeStatus(StatusCode::kInternal, "Tile gradient: {} from {}",
                              dimsToString(yd), dimsToString(xd));
        Dims split;
        std::vector<int64_t> xStrides, yStrides;
        const auto xs = contiguousStrides(xd);
        const auto ys = contiguousStrides(yd);
        for (std::size_t d = 0; d < xd.size(); ++d) {
            if (xd[d] == 0) return Status::ok();
            if (yd[d] % xd[d] != 0)
                return makeStatus(StatusCode::kInternal, "Tile gradient: {} from {}",
                                  dimsToString(yd), dimsToString(xd));
            split.push_back(yd[d] / xd[d]);
            split.push_back(xd[d]);
            xStrides.push_back(0);
            xStrides.push_back(xs[d]);
            yStrides.push_back(xd[d] * ys[d]);
            yStrides.push_back(ys[d]);
        }
        auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
            using T = decltype(z);
            T* o = zeroed<T>(gx, dy->dtype(), xd);
            const T* g = dy->data<T>();
            if (split.empty()) {  // a scalar
                o[0] = g[0];
                return Status::ok();
            }
            const BroadcastPlan plan = planStrided(split, {xStrides, yStrides});
            forEachRow(plan, [&](int64_t, const int64_t* off, int64_t n, const int64_t* st) {
                for (int64_t i = 0; i < n; ++i) o[off[0] + i * st[0]] += g[off[1] + i * st[1]];
            });
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    return gradBuild(std::move(kernel), ctx, {}, {});
}

// LayerNormalization (opset 17) over the axes from `axis` on, per row of D elements:
//   x̂ = (x - mean) * inv,  y = x̂ * scale + B,  inv = 1 / sqrt(var + eps)
//   dx = inv * (g - mean(g) - x̂ * mean(g * x̂)),  g = dy * scale
//   dScale = Σ_rows dy * x̂,  dB = Σ_rows dy   (each reduced onto its own broadcast shape)
// Statistics are recomputed in double from the saved X. Gradients flowing into the optional Mean
// and InvStdDev outputs are refused.
Expected<GradBuild> layerNormFactory(const GradContext& ctx) {
    const int64_t axisAttr = ctx.node.attrInt("axis", -1);
    const double eps = ctx.node.attrFloat("epsilon", 1e-5f);
    auto kernel = makeGradKernel([axisAttr, eps](const GradArgs& a) -> Status {
        const HostTensor* dy = gradOut(a, 0);
        if (gradOut(a, 1) || gradOut(a, 2))
            return makeStatus(StatusCode::kUnsupported,
                              "LayerNormalization: gradients of the Mean and InvStdDev outputs");
        if (!dy) return Status::ok();
        const HostTensor& x = *a.inputs[0];
        const HostTensor& scale = *a.inputs[1];
        const Dims& d = x.dims();
        const auto rank = static_cast<int64_t>(d.size());
        const int64_t axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
        if (axis < 0 || axis >= rank)
            return makeStatus(StatusCode::kBadInput, "LayerNormalization: axis {} for rank {}",
                              axisAttr, rank);
        const Dims normDims(d.begin() + axis, d.end());
        const int64_t inner = numElementsOf(normDims);
        const int64_t outer = inner == 0 ? 0 : x.numElements() / inner;
        const bool hasBias = a.inputDims.size() > 2 && !a.inputDims[2].empty() && gradIn(a, 2);
        auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
            using T = decltype(z);
            // Offsets of Scale (and B) for each position of a row.
            WH_ASSIGN_OR_RETURN_STATUS(const BroadcastPlan sPlan,
                                       planBroadcastTo(normDims, {&a.inputDims[1]}));
            std::vector<int64_t> sOff(static_cast<std::size_t>(inner));
            forEachRow(sPlan, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* st) {
                for (int64_t i = 0; i < n; ++i)
                    sOff[static_cast<std::size_t>(o + i)] = off[0] + i * st[0];
            });
            std::vector<int64_t> bOff;
            if (hasBias) {
                WH_ASSIGN_OR_RETURN_STATUS(const BroadcastPlan bPlan,
                                           planBroadcastTo(normDims, {&a.inputDims[2]}));
                bOff.resize(static_cast<std::size_t>(inner));
                forEachRow(bPlan, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* st) {
                    for (int64_t i = 0; i < n; ++i)
                        bOff[static_cast<std::size_t>(o + i)] = off[0] + i * st[0];
                });
            }
            HostTensor* gxT = gradIn(a, 0);
            if (gxT) gxT->ensure(dy->dtype(), d);
            T* gs = zeroed<T>(gradIn(a, 1), dy->dtype(), a.inputDims[1]);
            T* gb = hasBias ? zeroed<T>(gradIn(a, 2), dy->dtype(), a.inputDims[2]) : nullptr;
            const T* px = x.data<T>();
            const T* pg = dy->data<T>();
            const T* ps = scale.data<T>();
            std::vector<double> xhat(static_cast<std::size_t>(inner));
            for (int64_t row = 0; row < outer; ++row) {
                const T* xr = px + row * inner;
                const T* gr = pg + row * inner;
                double mean = 0, var = 0;
                for (int64_t i = 0; i < inner; ++i) mean += static_cast<double>(xr[i]);
                mean /= static_cast<double>(inner);
                for (int64_t i = 0; i < inner; ++i) {
                    const double v = static_cast<double>(xr[i]) - mean;
                    var += v * v;
                }
                var /= static_cast<double>(inner);
                const double inv = 1.0 / std::sqrt(var + eps);
                double meanG = 0, meanGx = 0;
                for (int64_t i = 0; i < inner; ++i) {
                    const auto iu = static_cast<std::size_t>(i);
                    xhat[iu] = (static_cast<double>(xr[i]) - mean) * inv;
                    const double g =
                        static_cast<double>(gr[i]) * static_cast<double>(ps[sOff[iu]]);
                    meanG += g;
                    meanGx += g * xhat[iu];
                    if (gs) gs[sOff[iu]] += static_cast<T>(static_cast<double>(gr[i]) * xhat[iu]);
                    if (gb) gb[bOff[iu]] += gr[i];
                }
                meanG /= static_cast<double>(inner);
                meanGx /= static_cast<double>(inner);
                if (!gxT) continue;
                T* gx = gxT->data<T>() + row * inner;
                for (int64_t i = 0; i < inner; ++i) {
                    const auto iu = static_cast<std::size_t>(i);
                    const double g =
                        static_cast<double>(gr[i]) * static_cast<double>(ps[sOff[iu]]);
                    gx[i] = static_cast<T>(inv * (g - meanG - xhat[iu] * meanGx));
                }
            }
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    return gradBuild(std::move(kernel), ctx, {0, 1}, {});
}

}  // namespace

void registerMoreGradients(GradRegistry& r) {
    constexpr auto kRef = Backend::kReference;
    r.add("", "Where", 9, 99, kRef, whereFactory);
    r.add("", "Expand", 8, 99, kRef, expandFactory);
    r.add("", "Tile", 6, 99, kRef, tileFactory);
    r.add("", "LayerNormalization", 17, 99, kRef, layerNormFactory);
}

}  // namespace wh::engine::ref
