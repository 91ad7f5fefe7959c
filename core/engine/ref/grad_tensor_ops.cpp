// Gradients of data-movement operators: the backward pass moves the gradient back where the
// forward pass took the data from. Shape inputs (Reshape's shape, axes) get no gradient.

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/engine/ref/broadcast.h"
#include "core/engine/ref/grad_kernels.h"
#include "core/engine/ref/grad_util.h"
#include "core/engine/ref/kernel_util.h"

namespace wh::engine::ref {

namespace {

using namespace grad;

Status unsupportedType(ir::DType t) {
    return makeStatus(StatusCode::kUnsupported, "gradients of {} tensors", ir::dtypeName(t));
}

int64_t normalAxis(int64_t axis, int64_t rank) {
    return axis < 0 ? axis + rank : axis;
}

// Reshape, Flatten, Squeeze, Unsqueeze: the same elements in a different shape.
Expected<GradBuild> reshapeLikeFactory(const GradContext& ctx) {
    auto kernel = makeGradKernel([](const GradArgs& a) -> Status {
        HostTensor* gx = gradIn(a, 0);
        const HostTensor* dy = gradOut(a, 0);
        if (!gx || !dy) return Status::ok();
        gx->ensure(dy->dtype(), a.inputDims[0]);
        if (gx->numElements() != dy->numElements())
            return makeStatus(StatusCode::kInternal, "reshape gradient {} vs {}",
                              dimsToString(dy->dims()), dimsToString(a.inputDims[0]));
        std::memcpy(gx->raw(), dy->raw(), dy->byteSize());
        return Status::ok();
    });
    return gradBuild(std::move(kernel), ctx, {}, {});
}

// Concat along `axis`: each input's gradient is its slab of dY.
Expected<GradBuild> concatFactory(const GradContext& ctx) {
    const int64_t axisAttr = ctx.node.attrInt("axis", 0);
    auto kernel = makeGradKernel([axisAttr](const GradArgs& a) -> Status {
        const HostTensor* dy = gradOut(a, 0);
        if (!dy) return Status::ok();
        const int64_t axis = normalAxis(axisAttr, dy->rank());
        int64_t outer = 1, inner = 1;
        for (int d = 0; d < axis; ++d) outer *= dy->dim(d);
        for (int d = static_cast<int>(axis) + 1; d < dy->rank(); ++d) inner *= dy->dim(d);
        const std::size_t elem = ir::dtypeSize(dy->dtype());
        const int64_t rowOut = dy->dim(static_cast<int>(axis)) * inner;
        int64_t offset = 0;  // along the concatenated axis, in elements of `inner`
        for (std::size_t k = 0; k < a.inputDims.size(); ++k) {
            const Dims& dk = a.inputDims[k];
            const int64_t chunk = dk.empty() ? 0 : dk[static_cast<std::size_t>(axis)] * inner;
            if (HostTensor* gk = a.inputGrads[k]) {
                gk->ensure(dy->dtype(), dk);
                auto* dst = static_cast<std::byte*>(gk->raw());
                const auto* src = static_cast<const std::byte*>(dy->raw());
                for (int64_t o = 0; o < outer; ++o)
                    std::memcpy(dst + static_cast<std::size_t>(o * chunk) * elem,
                                src + static_cast<std::size_t>(o * rowOut + offset) * elem,
                                static_cast<std::size_t>(chunk) * elem);
            }
            offset += chunk;
        }
        return Status::ok();
    });
    return gradBuild(std::move(kernel), ctx, {}, {});
}

// Split: the input's gradient is the outputs' gradients side by side (zero where none flows).
Expected<GradBuild> splitFactory(const GradContext& ctx) {
    const int64_t axisAttr = ctx.node.attrInt("axis", 0);
    auto kernel = makeGradKernel([axisAttr](const GradArgs& a) -> Status {
        HostTensor* gx = gradIn(a, 0);
        if (!gx) return Status::ok();
        const Dims& xd = a.inputDims[0];
        const int64_t rank = static_cast<int64_t>(xd.size());
        const int64_t axis = normalAxis(axisAttr, rank);
        ir::DType dtype = ir::DType::kUndefined;
        for (const HostTensor* g : a.outputGrads)
            if (g) dtype = g->dtype();
        gx->ensure(dtype, xd);
        std::memset(gx->raw(), 0, gx->byteSize());
        int64_t outer = 1, inner = 1;
        for (int64_t d = 0; d < axis; ++d) outer *= xd[static_cast<std::size_t>(d)];
        for (int64_t d = axis + 1; d < rank; ++d) inner *= xd[static_cast<std::size_t>(d)];
        const std::size_t elem = ir::dtypeSize(dtype);
        const int64_t rowIn = xd[static_cast<std::size_t>(axis)] * inner;
        int64_t offset = 0;
        for (std::size_t k = 0; k < a.outputGrads.size(); ++k) {
            const HostTensor* g = a.outputGrads[k];
            const HostTensor* y = a.outputs[k];
            const Dims& yd = g ? g->dims() : y->dims();
            const int64_t chunk = yd[static_cast<std::size_t>(axis)] * inner;
            if (g)
                for (int64_t o = 0; o < outer; ++o)
                    std::memcpy(static_cast<std::byte*>(gx->raw()) +
                                    static_cast<std::size_t>(o * rowIn + offset) * elem,
                                static_cast<const std::byte*>(g->raw()) +
                                    static_cast<std::size_t>(o * chunk) * elem,
                                static_cast<std::size_t>(chunk) * elem);
            offset += chunk;
        }
        return Status::ok();
    });
    // The outputs' dims are needed where no gradient flows: save them (cheap next to dY).
    std::vector<int> outs(ctx.outputs.size());
    std::iota(outs.begin(), outs.end(), 0);
    return gradBuild(std::move(kernel), ctx, {}, outs);
}

// Transpose: dX = transpose(dY, inverse(perm)).
Expected<GradBuild> transposeFactory(const GradContext& ctx) {
    const std::vector<int64_t> permAttr = ctx.node.attrInts("perm");
    auto kernel = makeGradKernel([permAttr](const GradArgs& a) -> Status {
        HostTensor* gx = gradIn(a, 0);
        const HostTensor* dy = gradOut(a, 0);
        if (!gx || !dy) return Status::ok();
        const Dims& xd = a.inputDims[0];
        const int rank = static_cast<int>(xd.size());
        std::vector<int64_t> perm = permAttr;
        if (perm.empty())
            for (int d = rank - 1; d >= 0; --d) perm.push_back(d);
        std::vector<int64_t> xStrides(static_cast<std::size_t>(rank), 1);
        for (int d = rank - 2; d >= 0; --d)
            xStrides[static_cast<std::size_t>(d)] =
                xStrides[static_cast<std::size_t>(d) + 1] * xd[static_cast<std::size_t>(d) + 1];
        // dY's axis k is X's axis perm[k]: walk dY in order, scatter to X.
        std::vector<int64_t> s(static_cast<std::size_t>(rank));
        for (int k = 0; k < rank; ++k)
            s[static_cast<std::size_t>(k)] =
                xStrides[static_cast<std::size_t>(perm[static_cast<std::size_t>(k)])];
        gx->ensure(dy->dtype(), xd);
        auto r = dispatchFloat(dy->dtype(), [&](auto zero) -> Status {
            using T = decltype(zero);
            const T* g = dy->data<T>();
            T* o = gx->data<T>();
            const std::vector<int64_t> none(static_cast<std::size_t>(rank), 0);
            forEachBroadcast(dy->dims(), s, none,
                             [&](int64_t i, int64_t ix, int64_t) { o[ix] = g[i]; });
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    return gradBuild(std::move(kernel), ctx, {}, {});
}

// ReduceMean / ReduceSum: dX = dY broadcast back over the reduced axes (divided by the count
// for the mean).
GradFactory reduceFactory(bool mean, int axesInputSince) {
    return [mean, axesInputSince](const GradContext& ctx) -> Expected<GradBuild> {
        const bool axesAsInput = ctx.opset >= axesInputSince;
        const std::vector<int64_t> attrAxes = ctx.node.attrInts("axes");
        const bool keepDims = ctx.node.attrInt("keepdims", 1) != 0;
        const bool noopEmpty = ctx.node.attrInt("noop_with_empty_axes", 0) != 0;
        (void)keepDims;  // the kept-dims shape is rebuilt from X's dims either way
        auto kernel = makeGradKernel([=](const GradArgs& a) -> Status {
            HostTensor* gx = gradIn(a, 0);
            const HostTensor* dy = gradOut(a, 0);
            if (!gx || !dy) return Status::ok();
            const Dims& xd = a.inputDims[0];
            const int64_t rank = static_cast<int64_t>(xd.size());
            std::vector<int64_t> axes = attrAxes;
            if (axesAsInput && a.inputs.size() > 1 && a.inputs[1]) axes = a.inputs[1]->toInt64s();
            Dims kept = xd;
            if (axes.empty() && !noopEmpty) {
                kept.assign(xd.size(), 1);
            } else {
                for (int64_t ax : axes) kept[static_cast<std::size_t>(normalAxis(ax, rank))] = 1;
            }
            const int64_t count = numElementsOf(xd) / std::max<int64_t>(1, numElementsOf(kept));
            gx->ensure(dy->dtype(), xd);
            auto r = dispatchFloat(dy->dtype(), [&](auto zero) -> Status {
                using T = decltype(zero);
                const T* g = dy->data<T>();
                T* o = gx->data<T>();
                const T scale = mean ? T(1) / static_cast<T>(count) : T(1);
                const auto sk = broadcastStrides(xd, kept);
                forEachBroadcast(xd, sk, sk,
                                 [&](int64_t i, int64_t ik, int64_t) { o[i] = g[ik] * scale; });
                return Status::ok();
            });
            return r ? *r : unsupportedType(dy->dtype());
        });
        return gradBuild(std::move(kernel), ctx,
                         axesAsInput ? std::vector<int>{1} : std::vector<int>{}, {});
    };
}

// ---- Slice, Gather, Pad ------------------------------------------------------------------------

// Visits every element of `dims` (row-major), calling f(flat index, multi-index).
template <class F>
void forEachIndex(const Dims& dims, F&& f) {
    const int64_t total = numElementsOf(dims);
    std::vector<int64_t> idx(dims.size(), 0);
    for (int64_t i = 0; i < total; ++i) {
        f(i, idx);
        for (std::size_t d = dims.size(); d-- > 0;) {
            if (++idx[d] < dims[d]) break;
            idx[d] = 0;
        }
    }
}

// Slice (opset 1-9: starts/ends/axes attributes; 10+: inputs 1-4): the forward's own geometry
// (sliceGeometry), walked the other way: dY scattered onto the elements the slice read, zero
// elsewhere.
Expected<GradBuild> sliceFactory(const GradContext& ctx) {
    const bool attrs = ctx.opset < 10;
    SliceParams fixed;
    if (attrs) {
        fixed.starts = ctx.node.attrInts("starts");
        fixed.ends = ctx.node.attrInts("ends");
        fixed.axes = ctx.node.attrInts("axes");
    }
    auto kernel = makeGradKernel([=](const GradArgs& a) -> Status {
        HostTensor* gx = gradIn(a, 0);
        const HostTensor* dy = gradOut(a, 0);
        if (!gx || !dy) return Status::ok();
        const Dims& xd = a.inputDims[0];
        SliceParams p = fixed;
        if (!attrs) {
            std::vector<int64_t>* dest[] = {&p.starts, &p.ends, &p.axes, &p.steps};
            for (int i = 1; i <= 4; ++i)
                if (i < static_cast<int>(a.inputs.size()) && a.inputs[static_cast<std::size_t>(i)])
                    *dest[i - 1] = a.inputs[static_cast<std::size_t>(i)]->toInt64s();
        }
        WH_ASSIGN_OR_RETURN_STATUS(SliceGeometry g, sliceGeometry(xd, p));
        if (g.out != dy->dims())
            return makeStatus(StatusCode::kInternal, "Slice gradient: dY is {}, the slice {}",
                              dimsToString(dy->dims()), dimsToString(g.out));
        const auto strides = contiguousStrides(xd);
        int64_t base = 0;
        std::vector<int64_t> walk(strides.size());
        for (std::size_t d = 0; d < strides.size(); ++d) {
            base += g.start[d] * strides[d];
            walk[d] = g.step[d] * strides[d];
        }
        auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
            using T = decltype(z);
            gx->ensure(dy->dtype(), xd);
            T* o = gx->data<T>() + base;
            std::fill(gx->data<T>(), gx->data<T>() + gx->numElements(), T(0));
            const T* gy = dy->data<T>();
            forEachRow(planStrided(g.out, {walk}),
                       [&](int64_t out, const int64_t* off, int64_t n, const int64_t* step) {
                           for (int64_t k = 0; k < n; ++k) o[off[0] + k * step[0]] += gy[out + k];
                       });
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    return gradBuild(std::move(kernel), ctx, {1, 2, 3, 4}, {});
}

// Gather along `axis`: dX[.., indices[k], ..] += dY[.., k, ..] (indices may repeat).
Expected<GradBuild> gatherFactory(const GradContext& ctx) {
    const int64_t axisAttr = ctx.node.attrInt("axis", 0);
    auto kernel = makeGradKernel([axisAttr](const GradArgs& a) -> Status {
        HostTensor* gx = gradIn(a, 0);
        const HostTensor* dy = gradOut(a, 0);
        if (!gx || !dy) return Status::ok();
        const Dims& xd = a.inputDims[0];
        const int64_t axis = normalAxis(axisAttr, static_cast<int64_t>(xd.size()));
        const std::vector<int64_t> idx = a.inputs[1]->toInt64s();
        int64_t outer = 1, inner = 1;
        for (int64_t d = 0; d < axis; ++d) outer *= xd[static_cast<std::size_t>(d)];
        for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < xd.size(); ++d) inner *= xd[d];
        const int64_t dim = xd[static_cast<std::size_t>(axis)];
        const int64_t K = static_cast<int64_t>(idx.size());
        auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
            using T = decltype(z);
            gx->ensure(dy->dtype(), xd);
            T* o = gx->data<T>();
            std::fill(o, o + gx->numElements(), T(0));
            const T* g = dy->data<T>();
            for (int64_t k = 0; k < K; ++k) {
                const int64_t j = idx[static_cast<std::size_t>(k)] < 0
                                      ? idx[static_cast<std::size_t>(k)] + dim
                                      : idx[static_cast<std::size_t>(k)];
                if (j < 0 || j >= dim)
                    return makeStatus(StatusCode::kBadInput, "Gather index {} outside [0, {})", j,
                                      dim);
            }
            for (int64_t ou = 0; ou < outer; ++ou)
                for (int64_t k = 0; k < K; ++k) {
                    int64_t j = idx[static_cast<std::size_t>(k)];
                    if (j < 0) j += dim;
                    const T* src = g + (ou * K + k) * inner;
                    T* dst = o + (ou * dim + j) * inner;
                    for (int64_t q = 0; q < inner; ++q) dst[q] += src[q];
                }
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    return gradBuild(std::move(kernel), ctx, {1}, {});
}

// Pad, mode "constant" (pads may be negative: cropping): dX[i] = dY[i + pad_begin] where that is
// inside Y, else 0. The constant value gets no gradient. Other modes are unsupported.
Expected<GradBuild> padFactory(const GradContext& ctx) {
    const std::string mode = ctx.node.attrString("mode", "constant");
    if (mode != "constant")
        return error(StatusCode::kUnsupported, "{}: Pad gradient for mode '{}' (constant only)",
                     ctx.where(), mode);
    const bool attrs = ctx.opset < 11;
    const std::vector<int64_t> aPads =
        attrs ? ctx.node.attrInts(ctx.opset < 2 ? "paddings" : "pads") : std::vector<int64_t>{};
    if (!attrs && ctx.hasInput(3))
        return error(StatusCode::kUnsupported, "{}: Pad gradient with axes", ctx.where());
    auto kernel = makeGradKernel([=](const GradArgs& a) -> Status {
        HostTensor* gx = gradIn(a, 0);
        const HostTensor* dy = gradOut(a, 0);
        if (!gx || !dy) return Status::ok();
        const Dims& xd = a.inputDims[0];
        const std::vector<int64_t> pads = attrs ? aPads : a.inputs[1]->toInt64s();
        if (pads.size() != 2 * xd.size())
            return makeStatus(StatusCode::kBadInput, "Pad: {} pads for rank {}", pads.size(),
                              xd.size());
        const Dims& yd = dy->dims();
        const auto ys = contiguousStrides(yd);
        auto r = dispatchFloat(dy->dtype(), [&](auto z) -> Status {
            using T = decltype(z);
            gx->ensure(dy->dtype(), xd);
            T* o = gx->data<T>();
            const T* g = dy->data<T>();
            forEachIndex(xd, [&](int64_t i, const std::vector<int64_t>& idx) {
                int64_t off = 0;
                for (std::size_t d = 0; d < idx.size(); ++d) {
                    const int64_t p = idx[d] + pads[d];
                    if (p < 0 || p >= yd[d]) {
                        o[i] = T(0);
                        return;
                    }
                    off += p * ys[d];
                }
                o[i] = g[off];
            });
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    return gradBuild(std::move(kernel), ctx, {1}, {});
}

}  // namespace

void registerTensorGradients(GradRegistry& r) {
    constexpr auto kRef = Backend::kReference;
    for (const char* op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze"})
        r.add("", op, 1, 99, kRef, reshapeLikeFactory);
    r.add("", "Concat", 4, 99, kRef, concatFactory);
    r.add("", "Split", 2, 99, kRef, splitFactory);
    r.add("", "Transpose", 1, 99, kRef, transposeFactory);
    r.add("", "Slice", 1, 99, kRef, sliceFactory);
    r.add("", "Gather", 1, 99, kRef, gatherFactory);
    r.add("", "Pad", 2, 99, kRef, padFactory);
    r.add("", "ReduceMean", 1, 99, kRef, reduceFactory(true, 18));
    r.add("", "ReduceSum", 1, 99, kRef, reduceFactory(false, 13));
}

}  // namespace wh::engine::ref
