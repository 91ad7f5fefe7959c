// Reference kernels that select or place elements by index: TopK, NonZero, GatherND, ScatterND,
// ScatterElements (and the older Scatter). Data movement copies elements by size (any type);
// comparisons and reductions dispatch on the type. Indices are checked against the data before
// anything is written: an out-of-range index is a kBadInput naming it, never a stray write.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include <fmt/format.h>

#include "core/engine/ref/broadcast.h"
#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/ref_kernels.h"

namespace wh::engine::ref {

namespace {

using D = ir::DType;
using Ins = std::span<const HostTensor* const>;
using Outs = std::span<HostTensor* const>;
constexpr Backend kRef = Backend::kReference;

bool isIndexType(D t) { return t == D::kInt32 || t == D::kInt64; }

Status requireIndices(const KernelContext& ctx, const TensorInfo& indices, const char* what) {
    if (!isIndexType(indices.dtype))
        return makeStatus(StatusCode::kBadInput, "{}: {} are {}, not int32 or int64", ctx.where(),
                          what, typeName(indices.dtype));
    return Status::ok();
}

bool movable(D t) { return t != D::kString && t != D::kUndefined && ir::dtypeSize(t) != 0; }

int64_t product(const Dims& d, std::size_t from, std::size_t to) {
    int64_t n = 1;
    for (std::size_t i = from; i < to; ++i) n *= d[i];
    return n;
}

// ---------------------------------------------------------------- TopK

// Values and indices of the k largest (or smallest) elements along `axis`, ties to the smaller
// index (the ONNX rule), NaN ordered above every number (so it counts as largest).
template <class T>
Status topK(const HostTensor& x, int64_t k, int axis, bool largest, HostTensor& values,
            HostTensor& indices) {
    const Dims& d = x.dims();
    const auto au = static_cast<std::size_t>(axis);
    if (k < 0 || k > d[au])
        return makeStatus(StatusCode::kBadInput, "k = {} is not in [0, {}] (axis {} of {})", k,
                          d[au], axis, dimsToString(d));
    Dims od = d;
    od[au] = k;
    values.ensure(x.dtype(), od);
    indices.ensure(D::kInt64, od);
    const int64_t outer = product(d, 0, au), n = d[au], inner = product(d, au + 1, d.size());
    const T* px = x.data<T>();
    T* pv = values.data<T>();
    int64_t* pi = indices.data<int64_t>();
    auto key = [](T v) {  // NaN above everything
        if constexpr (std::is_floating_point_v<T>) return std::isnan(v) ? 1 : 0;
        return 0;
    };
    std::vector<int64_t> order(static_cast<std::size_t>(n));
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            const T* base = px + o * n * inner + i;
            std::iota(order.begin(), order.end(), int64_t{0});
            auto before = [&](int64_t a, int64_t b) {
                const T va = base[a * inner], vb = base[b * inner];
                const int ka = key(va), kb = key(vb);
                if (ka != kb) return largest ? ka > kb : ka < kb;
                if (ka == 0 && va != vb) return largest ? vb < va : va < vb;
                return a < b;
            };
            std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
            for (int64_t j = 0; j < k; ++j) {
                const int64_t at = o * k * inner + j * inner + i;
                pv[at] = base[order[static_cast<std::size_t>(j)] * inner];
                pi[at] = order[static_cast<std::size_t>(j)];
            }
        }
    return Status::ok();
}

Expected<KernelBuild> topKFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, ctx.opset >= 10 ? 2 : 1));
    const TensorInfo& x = ctx.inputs[0];
    const int64_t axisAttr = ctx.node.attrInt("axis", -1);
    const bool largest = ctx.node.attrInt("largest", 1) != 0;
    const int64_t kAttr = ctx.opset < 10 ? ctx.node.attrInt("k", -1) : -1;
    if (ctx.opset >= 10) WH_RETURN_IF_ERROR(requireIndices(ctx, ctx.inputs[1], "K"));
    auto run = [=](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        if (xs.rank() == 0) return makeStatus(StatusCode::kBadInput, "TopK of a scalar");
        WH_ASSIGN_OR_RETURN_STATUS(const int axis, normalizeAxis(axisAttr, xs.rank(), "axis"));
        int64_t k = kAttr;
        if (in.size() > 1 && in[1]) {
            const std::vector<int64_t> kv = in[1]->toInt64s();
            if (kv.size() != 1)
                return makeStatus(StatusCode::kBadInput, "K has {} elements, not 1", kv.size());
            k = kv[0];
        }
        HostTensor scratch;
        HostTensor& indices = outs.size() > 1 && outs[1] ? *outs[1] : scratch;
        auto r = dispatch<TypeSet::kReal>(xs.dtype(), [&](auto zero) {
            return topK<decltype(zero)>(xs, k, axis, largest, *outs[0], indices);
        });
        return r ? *r : makeStatus(StatusCode::kUnsupported, "TopK of {}", typeName(xs.dtype()));
    };
    if (!dispatch<TypeSet::kReal>(x.dtype, [](auto) { return 0; }))
        return unsupportedType(ctx, x.dtype);
    KernelBuild b;
    b.kernel = makeKernel(std::move(run));
    TensorInfo values = unknownDimsLike(x.dtype, x);
    // K known at compile time: the output dims are too.
    const TensorInfo* kInfo = ctx.opset >= 10 ? &ctx.inputs[1] : nullptr;
    int64_t k = kAttr;
    if (kInfo && kInfo->constant && kInfo->constant->numElements() == 1)
        k = kInfo->constant->toInt64s()[0];
    if (x.rankKnown && k >= 0 && !x.dims.empty()) {
        if (auto axis = normalizeAxis(axisAttr, static_cast<int64_t>(x.dims.size()), "axis")) {
            values.dims = x.dims;
            values.dims[static_cast<std::size_t>(*axis)] = k;
        }
    }
    TensorInfo indices = values;
    indices.dtype = D::kInt64;
    b.outputs = {values, indices};
    return b;
}

// ---------------------------------------------------------------- NonZero

Expected<KernelBuild> nonZeroFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    auto run = [](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        const int64_t n = xs.numElements();
        std::vector<char> nonzero(static_cast<std::size_t>(n));
        auto r = dispatch<TypeSet::kAll>(xs.dtype(), [&](auto zero) {
            using T = decltype(zero);
            const T* p = xs.data<T>();
            for (int64_t i = 0; i < n; ++i)
                nonzero[static_cast<std::size_t>(i)] = convertValue<double>(p[i]) != 0.0;
            return 0;
        });
        if (!r) return makeStatus(StatusCode::kUnsupported, "NonZero of {}", typeName(xs.dtype()));
        const auto count = static_cast<int64_t>(std::count(nonzero.begin(), nonzero.end(), 1));
        const Dims& d = xs.dims();
        const auto rank = static_cast<int64_t>(d.size());
        HostTensor& y = *outs[0];
        y.ensure(D::kInt64, {rank, count});
        int64_t* py = y.data<int64_t>();
        int64_t j = 0;
        std::vector<int64_t> pos(d.size(), 0);
        for (int64_t i = 0; i < n; ++i) {
            if (nonzero[static_cast<std::size_t>(i)]) {
                for (int64_t a = 0; a < rank; ++a) py[a * count + j] = pos[static_cast<std::size_t>(a)];
                ++j;
            }
            for (int64_t a = rank - 1; a >= 0; --a) {  // the next row-major position
                if (++pos[static_cast<std::size_t>(a)] < d[static_cast<std::size_t>(a)]) break;
                pos[static_cast<std::size_t>(a)] = 0;
            }
        }
        return Status::ok();
    };
    if (!dispatch<TypeSet::kAll>(x.dtype, [](auto) { return 0; }))
        return unsupportedType(ctx, x.dtype);
    TensorInfo out = unknownRank(D::kInt64);
    if (x.rankKnown) out = infoOf(D::kInt64, {static_cast<int64_t>(x.dims.size()), -1});
    return singleOutput(makeKernel(std::move(run)), out);
}

// ---------------------------------------------------------------- GatherND, ScatterND

// The geometry shared by GatherND and ScatterND: indices [B..., I..., q] address, after the b
// batch dims, the first q dims of data; each addressed slice has `slice` elements.
struct NdGeometry {
    int64_t batch = 1;        // product of the b batch dims
    int64_t perBatch = 1;     // index tuples per batch entry
    int64_t q = 0;            // tuple length
    int64_t slice = 1;        // elements per addressed slice
    int64_t batchStride = 0;  // data elements per batch entry
    std::vector<int64_t> strides;  // data strides of the q addressed dims (in elements)
    Dims addressed;                // their sizes
};

Expected<NdGeometry> ndGeometry(const Dims& data, const Dims& indices, int64_t b) {
    if (indices.empty())
        return error(StatusCode::kBadInput, "indices {} have no last dim", dimsToString(indices));
    const auto r = static_cast<int64_t>(data.size()), qr = static_cast<int64_t>(indices.size());
    if (b < 0 || b >= std::min(r, qr))
        return error(StatusCode::kBadInput, "batch_dims {} for data {} and indices {}", b,
                     dimsToString(data), dimsToString(indices));
    for (int64_t i = 0; i < b; ++i)
        if (data[static_cast<std::size_t>(i)] != indices[static_cast<std::size_t>(i)])
            return error(StatusCode::kBadInput, "batch dim {} differs: data {}, indices {}", i,
                         dimsToString(data), dimsToString(indices));
    NdGeometry g;
    g.q = indices.back();
    if (g.q < 1 || b + g.q > r)
        return error(StatusCode::kBadInput, "indices' last dim {} does not fit data {} (batch_dims {})",
                     g.q, dimsToString(data), b);
    const auto bu = static_cast<std::size_t>(b), qu = static_cast<std::size_t>(g.q);
    g.batch = product(data, 0, bu);
    g.perBatch = product(indices, bu, indices.size() - 1);
    g.slice = product(data, bu + qu, data.size());
    g.batchStride = product(data, bu, data.size());
    for (std::size_t a = 0; a < qu; ++a) {
        g.addressed.push_back(data[bu + a]);
        g.strides.push_back(product(data, bu + a + 1, data.size()));
    }
    return g;
}

// The data offset of every index tuple, checked (negative indices count from the end).
Expected<std::vector<int64_t>> ndOffsets(const NdGeometry& g, const HostTensor& indices) {
    const std::vector<int64_t> idx = indices.toInt64s();
    std::vector<int64_t> offsets(static_cast<std::size_t>(g.batch * g.perBatch));
    for (std::size_t t = 0; t < offsets.size(); ++t) {
        int64_t off = static_cast<int64_t>(t) / g.perBatch * g.batchStride;
        for (std::size_t a = 0; a < g.addressed.size(); ++a) {
            int64_t v = idx[t * g.addressed.size() + a];
            const int64_t size = g.addressed[a];
            if (v < -size || v >= size)
                return error(StatusCode::kBadInput, "index {} out of range [{}, {}) in tuple {}",
                             v, -size, size, t);
            if (v < 0) v += size;
            off += v * g.strides[a];
        }
        offsets[t] = off;
    }
    return offsets;
}

Expected<KernelBuild> gatherNdFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    const TensorInfo& data = ctx.inputs[0];
    WH_RETURN_IF_ERROR(requireIndices(ctx, ctx.inputs[1], "indices"));
    if (!movable(data.dtype)) return unsupportedType(ctx, data.dtype);
    const int64_t b = ctx.node.attrInt("batch_dims", 0);
    auto run = [b](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        const HostTensor& is = *in[1];
        WH_ASSIGN_OR_RETURN_STATUS(NdGeometry g, ndGeometry(xs.dims(), is.dims(), b));
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<int64_t> offsets, ndOffsets(g, is));
        // Output: indices' dims but the last, then the slice's dims.
        Dims od(is.dims().begin(), is.dims().end() - 1);
        od.insert(od.end(), xs.dims().begin() + b + g.q, xs.dims().end());
        HostTensor& y = *outs[0];
        y.ensure(xs.dtype(), od);
        const std::size_t bytes = static_cast<std::size_t>(g.slice) * ir::dtypeSize(xs.dtype());
        for (std::size_t t = 0; t < offsets.size(); ++t)
            std::memcpy(static_cast<char*>(y.raw()) + t * bytes,
                        static_cast<const char*>(xs.raw()) +
                            static_cast<std::size_t>(offsets[t]) * ir::dtypeSize(xs.dtype()),
                        bytes);
        return Status::ok();
    };
    return singleOutput(makeKernel(std::move(run)), unknownRank(data.dtype));
}

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Expected<Reduction> reductionOf(const KernelContext& ctx) {
    const std::string r = ctx.node.attrString("reduction", "none");
    if (r == "none") return Reduction::kNone;
    if (r == "add") return Reduction::kAdd;
    if (r == "mul") return Reduction::kMul;
    if (r == "max") return Reduction::kMax;
    if (r == "min") return Reduction::kMin;
    return error(StatusCode::kBadInput, "{}: reduction '{}' is not none, add, mul, max or min",
                 ctx.where(), r);
}

template <class T>
void combine(T& into, T v, Reduction r) {
    switch (r) {
        case Reduction::kNone:
            into = v;
            break;
        case Reduction::kAdd:
            into = static_cast<T>(into + v);
            break;
        case Reduction::kMul:
            into = static_cast<T>(into * v);
            break;
        case Reduction::kMax:
            into = std::max(into, v);
            break;
        case Reduction::kMin:
            into = std::min(into, v);
            break;
    }
}

// y = data, then updates written (or combined) at the given element offsets, in order: with
// reduction none, a later duplicate wins (ONNX leaves duplicates undefined; this is numpy's).
template <class T>
void scatterAt(HostTensor& y, const HostTensor& updates, const std::vector<int64_t>& offsets,
               int64_t slice, Reduction r) {
    T* py = y.data<T>();
    const T* pu = updates.data<T>();
    for (std::size_t t = 0; t < offsets.size(); ++t)
        for (int64_t e = 0; e < slice; ++e)
            combine(py[offsets[t] + e], pu[static_cast<int64_t>(t) * slice + e], r);
}

Expected<KernelBuild> scatterNdFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 3));
    const TensorInfo& data = ctx.inputs[0];
    WH_RETURN_IF_ERROR(requireIndices(ctx, ctx.inputs[1], "indices"));
    WH_ASSIGN_OR_RETURN(Reduction red, reductionOf(ctx));
    if (ctx.inputs[2].dtype != data.dtype)
        return error(StatusCode::kBadInput, "{}: updates are {}, data {}", ctx.where(),
                     typeName(ctx.inputs[2].dtype), typeName(data.dtype));
    if (!dispatch<TypeSet::kReal>(data.dtype, [](auto) { return 0; }))
        return unsupportedType(ctx, data.dtype);
    auto run = [red](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        const HostTensor& is = *in[1];
        const HostTensor& us = *in[2];
        WH_ASSIGN_OR_RETURN_STATUS(NdGeometry g, ndGeometry(xs.dims(), is.dims(), 0));
        Dims want(is.dims().begin(), is.dims().end() - 1);
        want.insert(want.end(), xs.dims().begin() + g.q, xs.dims().end());
        if (us.dims() != want)
            return makeStatus(StatusCode::kBadInput, "updates are {}, indices {} and data {} want {}",
                              dimsToString(us.dims()), dimsToString(is.dims()),
                              dimsToString(xs.dims()), dimsToString(want));
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<int64_t> offsets, ndOffsets(g, is));
        HostTensor& y = *outs[0];
        copyTensor(xs, y, xs.dims());
        dispatch<TypeSet::kReal>(xs.dtype(), [&](auto zero) {
            scatterAt<decltype(zero)>(y, us, offsets, g.slice, red);
            return 0;
        });
        return Status::ok();
    };
    TensorInfo out = data;
    out.constant.reset();
    return singleOutput(makeKernel(std::move(run)), out);
}

// ScatterElements (and Scatter, opsets 9-10): y = data; y[index along axis] = updates,
// element by element; indices and updates share their dims.
Expected<KernelBuild> scatterElementsFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 3));
    const TensorInfo& data = ctx.inputs[0];
    WH_RETURN_IF_ERROR(requireIndices(ctx, ctx.inputs[1], "indices"));
    Reduction red = Reduction::kNone;
    if (ctx.node.opType == "ScatterElements") {
        WH_ASSIGN_OR_RETURN(red, reductionOf(ctx));
    }
    if (ctx.inputs[2].dtype != data.dtype)
        return error(StatusCode::kBadInput, "{}: updates are {}, data {}", ctx.where(),
                     typeName(ctx.inputs[2].dtype), typeName(data.dtype));
    if (!dispatch<TypeSet::kReal>(data.dtype, [](auto) { return 0; }))
        return unsupportedType(ctx, data.dtype);
    const int64_t axisAttr = ctx.node.attrInt("axis", 0);
    auto run = [red, axisAttr](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        const HostTensor& is = *in[1];
        const HostTensor& us = *in[2];
        const Dims& d = xs.dims();
        const Dims& id = is.dims();
        if (id != us.dims() || id.size() != d.size())
            return makeStatus(StatusCode::kBadInput, "data {}, indices {} and updates {} do not agree",
                              dimsToString(d), dimsToString(id), dimsToString(us.dims()));
        WH_ASSIGN_OR_RETURN_STATUS(const int axis,
                                   normalizeAxis(axisAttr, static_cast<int64_t>(d.size()), "axis"));
        const auto au = static_cast<std::size_t>(axis);
        for (std::size_t a = 0; a < d.size(); ++a)
            if (a != au && id[a] > d[a])
                return makeStatus(StatusCode::kBadInput, "indices {} exceed data {} on axis {}",
                                  dimsToString(id), dimsToString(d), a);
        const std::vector<int64_t> idx = is.toInt64s();
        const std::vector<int64_t> strides = contiguousStrides(d);
        std::vector<int64_t> offsets(idx.size());
        std::vector<int64_t> pos(d.size(), 0);
        for (std::size_t e = 0; e < idx.size(); ++e) {
            int64_t k = idx[e];
            if (k < -d[au] || k >= d[au])
                return makeStatus(StatusCode::kBadInput, "index {} out of range for axis {} of {}",
                                  k, axis, dimsToString(d));
            if (k < 0) k += d[au];
            int64_t off = 0;
            for (std::size_t a = 0; a < d.size(); ++a) off += (a == au ? k : pos[a]) * strides[a];
            offsets[e] = off;
            for (std::size_t a = d.size(); a-- > 0;) {  // the next position in indices
                if (++pos[a] < id[a]) break;
                pos[a] = 0;
            }
        }
        HostTensor& y = *outs[0];
        copyTensor(xs, y, d);
        dispatch<TypeSet::kReal>(xs.dtype(), [&](auto zero) {
            scatterAt<decltype(zero)>(y, us, offsets, 1, red);
            return 0;
        });
        return Status::ok();
    };
    TensorInfo out = data;
    out.constant.reset();
    return singleOutput(makeKernel(std::move(run)), out);
}

}  // namespace

void registerIndexOps(KernelRegistry& r) {
    r.add("", "TopK", 1, 18, kRef, topKFactory);
    r.add("", "NonZero", 9, 18, kRef, nonZeroFactory);
    r.add("", "GatherND", 11, 18, kRef, gatherNdFactory);
    r.add("", "ScatterND", 11, 18, kRef, scatterNdFactory);
    r.add("", "ScatterElements", 11, 18, kRef, scatterElementsFactory);
    r.add("", "Scatter", 9, 10, kRef, scatterElementsFactory);
}

}  // namespace wh::engine::ref
