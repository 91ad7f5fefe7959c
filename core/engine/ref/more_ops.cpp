// Reference kernels: GlobalMaxPool, DepthToSpace, SpaceToDepth, Size, Trilu, CumSum, Hardmax,
// InstanceNormalization, LayerNormalization, GatherElements, EyeLike, OneHot, BitShift.
// Data movement copies elements by size (any type); arithmetic dispatches on the type once in the
// factory.

#include <algorithm>
#include <cmath>
#include <cstring>

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

// ---------------------------------------------------------------- GlobalMaxPool

Expected<KernelBuild> globalMaxPoolFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    TensorInfo out = unknownDimsLike(x.dtype, x);
    if (x.rankKnown) {
        if (x.dims.size() < 3)
            return error(StatusCode::kBadInput, "{}: input is {}, needs N, C and spatial dims",
                         ctx.where(), dimsToString(x.dims));
        for (std::size_t i = 0; i < x.dims.size(); ++i) out.dims[i] = i < 2 ? x.dims[i] : 1;
    }
    auto built = dispatch<TypeSet::kFloat>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel([](Ins in, Outs outs) -> Status {
            const HostTensor& xs = *in[0];
            const Dims& d = xs.dims();
            if (d.size() < 3)
                return makeStatus(StatusCode::kBadInput, "input is {}, needs N, C and spatial dims",
                                  dimsToString(d));
            Dims od = d;
            int64_t spatial = 1;
            for (std::size_t i = 2; i < d.size(); ++i) spatial *= d[i], od[i] = 1;
            if (spatial == 0)
                return makeStatus(StatusCode::kBadInput, "empty spatial dims {}", dimsToString(d));
            HostTensor& y = *outs[0];
            y.ensure(xs.dtype(), od);
            const T* px = xs.data<T>();
            T* py = y.data<T>();
            for (int64_t c = 0, n = d[0] * d[1]; c < n; ++c) {
                const T* p = px + c * spatial;
                T m = p[0];
                for (int64_t i = 1; i < spatial; ++i) m = std::isnan(m) || m >= p[i] ? m : p[i];
                py[c] = m;
            }
            return Status::ok();
        });
    });
    if (!built) return unsupportedType(ctx, x.dtype);
    return singleOutput(std::move(*built), std::move(out));
}

// ---------------------------------------------------------------- DepthToSpace, SpaceToDepth

// Copies element `from` of `in` to element `to` of `out`, for any element size.
inline void copyElement(const HostTensor& in, int64_t from, HostTensor& out, int64_t to,
                        std::size_t size) {
    std::memcpy(static_cast<char*>(out.raw()) + static_cast<std::size_t>(to) * size,
                static_cast<const char*>(in.raw()) + static_cast<std::size_t>(from) * size, size);
}

enum class Mode { kDepthToSpaceDcr, kDepthToSpaceCrd, kSpaceToDepth };

Expected<Dims> blockDims(const Dims& d, int64_t b, Mode mode) {
    if (d.size() != 4) return error(StatusCode::kBadInput, "input is {}, not 4-D", dimsToString(d));
    if (mode == Mode::kSpaceToDepth) {
        if (d[2] >= 0 && d[2] % b != 0)
            return error(StatusCode::kBadInput, "H of {} is not a multiple of blocksize {}",
                         dimsToString(d), b);
        if (d[3] >= 0 && d[3] % b != 0)
            return error(StatusCode::kBadInput, "W of {} is not a multiple of blocksize {}",
                         dimsToString(d), b);
        return Dims{d[0], d[1] < 0 ? -1 : d[1] * b * b, d[2] < 0 ? -1 : d[2] / b,
                    d[3] < 0 ? -1 : d[3] / b};
    }
    if (d[1] >= 0 && d[1] % (b * b) != 0)
        return error(StatusCode::kBadInput, "C of {} is not a multiple of blocksize² {}",
                     dimsToString(d), b * b);
    return Dims{d[0], d[1] < 0 ? -1 : d[1] / (b * b), d[2] < 0 ? -1 : d[2] * b,
                d[3] < 0 ? -1 : d[3] * b};
}

template <bool toSpace>
Expected<KernelBuild> blockFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    const int64_t b = ctx.node.attrInt("blocksize", 0);
    if (b <= 0 || b > (int64_t(1) << 20))
        return error(StatusCode::kBadInput, "{}: blocksize {} is not positive", ctx.where(), b);
    Mode mode = Mode::kSpaceToDepth;
    if constexpr (toSpace) {
        const std::string m = ctx.node.attrString("mode", "DCR");
        if (m == "DCR")
            mode = Mode::kDepthToSpaceDcr;
        else if (m == "CRD")
            mode = Mode::kDepthToSpaceCrd;
        else
            return error(StatusCode::kBadInput, "{}: mode '{}' is not DCR or CRD", ctx.where(), m);
    }
    if (x.dtype == D::kString || x.dtype == D::kUndefined || ir::dtypeSize(x.dtype) == 0)
        return unsupportedType(ctx, x.dtype);
    TensorInfo out = unknownRank(x.dtype);
    if (x.rankKnown) {
        auto d = blockDims(x.dims, b, mode);
        if (!d) return error(StatusCode::kBadInput, "{}: {}", ctx.where(), d.error().message());
        out = infoOf(x.dtype, std::move(*d));
    }
    auto kernel = makeKernel([b, mode](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        WH_ASSIGN_OR_RETURN_STATUS(const Dims od, blockDims(xs.dims(), b, mode));
        HostTensor& y = *outs[0];
        y.ensure(xs.dtype(), od);
        const std::size_t size = ir::dtypeSize(xs.dtype());
        const Dims& id = xs.dims();
        // Walk the depth-side tensor (N, C, H, W) and its space-side (N, C', H*b, W*b) twin.
        const Dims& depth = mode == Mode::kSpaceToDepth ? od : id;
        const Dims& space = mode == Mode::kSpaceToDepth ? id : od;
        const int64_t cs = space[1], hs = space[2], ws = space[3];
        const int64_t h = depth[2], w = depth[3];
        for (int64_t n = 0; n < depth[0]; ++n)
            for (int64_t c = 0; c < cs; ++c)
                for (int64_t i = 0; i < b; ++i)
                    for (int64_t j = 0; j < b; ++j) {
                        const int64_t dc = mode == Mode::kDepthToSpaceCrd ? (c * b + i) * b + j
                                                                          : (i * b + j) * cs + c;
                        for (int64_t y0 = 0; y0 < h; ++y0)
                            for (int64_t x0 = 0; x0 < w; ++x0) {
                                const int64_t di = ((n * depth[1] + dc) * h + y0) * w + x0;
                                const int64_t si =
                                    ((n * cs + c) * hs + y0 * b + i) * ws + x0 * b + j;
                                if (mode == Mode::kSpaceToDepth)
                                    copyElement(xs, si, y, di, size);
                                else
                                    copyElement(xs, di, y, si, size);
                            }
                    }
        return Status::ok();
    });
    return singleOutput(std::move(kernel), std::move(out));
}

// ---------------------------------------------------------------- Size

Expected<KernelBuild> sizeFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    auto kernel = makeKernel([](Ins in, Outs outs) -> Status {
        HostTensor& y = *outs[0];
        y.ensure(D::kInt64, {});
        *y.data<int64_t>() = in[0]->numElements();
        return Status::ok();
    });
    return singleOutput(std::move(kernel), infoOf(D::kInt64, {}));
}

// ---------------------------------------------------------------- Trilu

Expected<KernelBuild> triluFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    const bool upper = ctx.node.attrInt("upper", 1) != 0;
    if (x.rankKnown && x.dims.size() < 2)
        return error(StatusCode::kBadInput, "{}: input is {}, needs rank >= 2", ctx.where(),
                     dimsToString(x.dims));
    if (x.dtype == D::kString || x.dtype == D::kUndefined || ir::dtypeSize(x.dtype) == 0)
        return unsupportedType(ctx, x.dtype);
    auto kernel = makeKernel([upper](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        const Dims& d = xs.dims();
        if (d.size() < 2)
            return makeStatus(StatusCode::kBadInput, "input is {}, needs rank >= 2",
                              dimsToString(d));
        int64_t k = 0;
        if (in.size() > 1 && in[1]) {
            if (in[1]->numElements() != 1)
                return makeStatus(StatusCode::kBadInput, "k must be a scalar, it is {}",
                                  dimsToString(in[1]->dims()));
            k = in[1]->toInt64s()[0];
        }
        HostTensor& y = *outs[0];
        y.ensure(xs.dtype(), d);
        const std::size_t size = ir::dtypeSize(xs.dtype());
        const int64_t rows = d[d.size() - 2], cols = d.back();
        const int64_t mats = rows * cols == 0 ? 0 : xs.numElements() / (rows * cols);
        if (xs.numElements() == 0) return Status::ok();
        std::memset(y.raw(), 0, y.byteSize());
        for (int64_t m = 0; m < mats; ++m)
            for (int64_t i = 0; i < rows; ++i)
                for (int64_t j = 0; j < cols; ++j) {
                    const bool keep = upper ? j - i >= k : j - i <= k;
                    if (keep) {
                        const int64_t e = (m * rows + i) * cols + j;
                        copyElement(xs, e, y, e, size);
                    }
                }
        return Status::ok();
    });
    TensorInfo out = x;
    out.constant.reset();
    return singleOutput(std::move(kernel), std::move(out));
}

// ---------------------------------------------------------------- CumSum

Expected<KernelBuild> cumSumFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    const TensorInfo& x = ctx.inputs[0];
    const bool exclusive = ctx.node.attrInt("exclusive", 0) != 0;
    const bool reverse = ctx.node.attrInt("reverse", 0) != 0;
    auto built = dispatch<TypeSet::kReal>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel([exclusive, reverse](Ins in, Outs outs) -> Status {
            const HostTensor& xs = *in[0];
            if (in[1]->numElements() != 1)
                return makeStatus(StatusCode::kBadInput, "axis must be a scalar, it is {}",
                                  dimsToString(in[1]->dims()));
            const Dims& d = xs.dims();
            WH_ASSIGN_OR_RETURN_STATUS(
                const int axis,
                normalizeAxis(in[1]->toInt64s()[0], static_cast<int64_t>(d.size()), "axis"));
            HostTensor& y = *outs[0];
            y.ensure(xs.dtype(), d);
            const auto [outer, n, inner] = axisSplit(d, static_cast<std::size_t>(axis));
            const T* px = xs.data<T>();
            T* py = y.data<T>();
            for (int64_t o = 0; o < outer; ++o)
                for (int64_t i = 0; i < inner; ++i) {
                    T acc = T(0);
                    for (int64_t s = 0; s < n; ++s) {
                        const int64_t k = reverse ? n - 1 - s : s;
                        const int64_t e = (o * n + k) * inner + i;
                        if (exclusive) {
                            py[e] = acc;
                            acc = static_cast<T>(acc + px[e]);
                        } else {
                            acc = static_cast<T>(acc + px[e]);
                            py[e] = acc;
                        }
                    }
                }
            return Status::ok();
        });
    });
    if (!built) return unsupportedType(ctx, x.dtype);
    TensorInfo out = x;
    out.constant.reset();
    return singleOutput(std::move(*built), std::move(out));
}

// ---------------------------------------------------------------- Hardmax (opset 13: one axis)

Expected<KernelBuild> hardmaxFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    const int64_t axisAttr = ctx.node.attrInt("axis", -1);
    if (x.rankKnown) {
        auto a = normalizeAxis(axisAttr, static_cast<int64_t>(x.dims.size()), "axis");
        if (!a) return error(StatusCode::kBadInput, "{}: {}", ctx.where(), a.error().message());
    }
    auto built = dispatch<TypeSet::kFloat>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel([axisAttr](Ins in, Outs outs) -> Status {
            const HostTensor& xs = *in[0];
            const Dims& d = xs.dims();
            WH_ASSIGN_OR_RETURN_STATUS(
                const int axis, normalizeAxis(axisAttr, static_cast<int64_t>(d.size()), "axis"));
            HostTensor& y = *outs[0];
            y.ensure(xs.dtype(), d);
            const auto [outer, n, inner] = axisSplit(d, static_cast<std::size_t>(axis));
            const T* px = xs.data<T>();
            T* py = y.data<T>();
            std::fill(py, py + y.numElements(), T(0));
            if (n == 0) return Status::ok();
            for (int64_t o = 0; o < outer; ++o)
                for (int64_t i = 0; i < inner; ++i) {
                    const T* p = px + o * n * inner + i;
                    int64_t best = 0;
                    for (int64_t k = 1; k < n; ++k)
                        if (p[k * inner] > p[best * inner]) best = k;
                    py[(o * n + best) * inner + i] = T(1);
                }
            return Status::ok();
        });
    });
    if (!built) return unsupportedType(ctx, x.dtype);
    TensorInfo out = x;
    out.constant.reset();
    return singleOutput(std::move(*built), std::move(out));
}

// ---------------------------------------------------------------- InstanceNormalization

Expected<KernelBuild> instanceNormFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 3));
    const TensorInfo& x = ctx.inputs[0];
    const double eps = ctx.node.attrFloat("epsilon", 1e-5f);
    if (!(eps >= 0.0))
        return error(StatusCode::kBadInput, "{}: epsilon {} is negative", ctx.where(), eps);
    for (int i = 1; i < 3; ++i)
        if (ctx.inputs[static_cast<std::size_t>(i)].dtype != x.dtype)
            return error(StatusCode::kBadInput, "{}: input {} is {}, X is {}", ctx.where(), i,
                         typeName(ctx.inputs[static_cast<std::size_t>(i)].dtype),
                         typeName(x.dtype));
    auto built = dispatch<TypeSet::kFloat>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel([eps](Ins in, Outs outs) -> Status {
            const HostTensor& xs = *in[0];
            const Dims& d = xs.dims();
            if (d.size() < 3)
                return makeStatus(StatusCode::kBadInput, "input is {}, needs N, C and spatial dims",
                                  dimsToString(d));
            const int64_t c = d[1];
            if (in[1]->numElements() != c || in[2]->numElements() != c)
                return makeStatus(StatusCode::kBadInput,
                                  "scale {} and B {} must have C = {} elements",
                                  dimsToString(in[1]->dims()), dimsToString(in[2]->dims()), c);
            int64_t spatial = 1;
            for (std::size_t i = 2; i < d.size(); ++i) spatial *= d[i];
            HostTensor& y = *outs[0];
            y.ensure(xs.dtype(), d);
            const T* px = xs.data<T>();
            const T* scale = in[1]->data<T>();
            const T* bias = in[2]->data<T>();
            T* py = y.data<T>();
            if (spatial == 0) return Status::ok();
            for (int64_t nc = 0; nc < d[0] * c; ++nc) {
                const T* p = px + nc * spatial;
                double mean = 0.0, var = 0.0;
                for (int64_t i = 0; i < spatial; ++i) mean += static_cast<double>(p[i]);
                mean /= static_cast<double>(spatial);
                for (int64_t i = 0; i < spatial; ++i) {
                    const double v = static_cast<double>(p[i]) - mean;
                    var += v * v;
                }
                var /= static_cast<double>(spatial);
                const double k = static_cast<double>(scale[nc % c]) / std::sqrt(var + eps);
                const double b = static_cast<double>(bias[nc % c]);
                for (int64_t i = 0; i < spatial; ++i)
                    py[nc * spatial + i] =
                        static_cast<T>((static_cast<double>(p[i]) - mean) * k + b);
            }
            return Status::ok();
        });
    });
    if (!built) return unsupportedType(ctx, x.dtype);
    TensorInfo out = x;
    out.constant.reset();
    return singleOutput(std::move(*built), std::move(out));
}

// ---------------------------------------------------------------- LayerNormalization (opset 17)

// `t` (Scale or B) broadcast to the normalized dims, as doubles.
Status expandTo(const HostTensor& t, const Dims& dims, std::vector<double>& out) {
    WH_ASSIGN_OR_RETURN_STATUS(const BroadcastPlan plan, planBroadcastTo(dims, {&t.dims()}));
    out.resize(static_cast<std::size_t>(plan.numElements));
    forEachRow(plan, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* st) {
        for (int64_t i = 0; i < n; ++i)
            out[static_cast<std::size_t>(o + i)] = t.at(off[0] + i * st[0]);
    });
    return Status::ok();
}

Expected<KernelBuild> layerNormFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    const TensorInfo& x = ctx.inputs[0];
    const int64_t axisAttr = ctx.node.attrInt("axis", -1);
    const double eps = ctx.node.attrFloat("epsilon", 1e-5f);
    if (!(eps >= 0.0))
        return error(StatusCode::kBadInput, "{}: epsilon {} is negative", ctx.where(), eps);
    const int64_t stash = ctx.node.attrInt("stash_type", 1);
    if (stash != static_cast<int64_t>(D::kFloat) && stash != static_cast<int64_t>(D::kDouble))
        return error(StatusCode::kUnsupported, "{}: stash_type {} is not supported", ctx.where(),
                     stash);
    const auto stashType = static_cast<ir::DType>(stash);
    for (int i = 1; i < 3; ++i)
        if (ctx.hasInput(i) && ctx.inputs[static_cast<std::size_t>(i)].dtype != x.dtype)
            return error(StatusCode::kBadInput, "{}: input {} is {}, X is {}", ctx.where(), i,
                         typeName(ctx.inputs[static_cast<std::size_t>(i)].dtype),
                         typeName(x.dtype));
    if (x.rankKnown) {
        auto a = normalizeAxis(axisAttr, static_cast<int64_t>(x.dims.size()), "axis");
        if (!a) return error(StatusCode::kBadInput, "{}: {}", ctx.where(), a.error().message());
    }
    auto built = dispatch<TypeSet::kFloat>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel([axisAttr, eps, stashType, scale = std::vector<double>(),
                           bias = std::vector<double>()](Ins in, Outs outs) mutable -> Status {
            const HostTensor& xs = *in[0];
            const Dims& d = xs.dims();
            WH_ASSIGN_OR_RETURN_STATUS(
                const int axis, normalizeAxis(axisAttr, static_cast<int64_t>(d.size()), "axis"));
            const Dims normDims(d.begin() + axis, d.end());
            Dims statDims = d;
            int64_t outer = 1, inner = 1;
            for (std::size_t i = 0; i < d.size(); ++i) {
                if (static_cast<int>(i) < axis)
                    outer *= d[i];
                else
                    inner *= d[i], statDims[i] = 1;
            }
            WH_RETURN_STATUS_IF_ERROR(expandTo(*in[1], normDims, scale));
            const bool hasBias = in.size() > 2 && in[2];
            if (hasBias) WH_RETURN_STATUS_IF_ERROR(expandTo(*in[2], normDims, bias));
            HostTensor& y = *outs[0];
            y.ensure(xs.dtype(), d);
            HostTensor* meanOut = outs.size() > 1 ? outs[1] : nullptr;
            HostTensor* invOut = outs.size() > 2 ? outs[2] : nullptr;
            if (meanOut) meanOut->ensure(stashType, statDims);
            if (invOut) invOut->ensure(stashType, statDims);
            const T* px = xs.data<T>();
            T* py = y.data<T>();
            auto store = [&](HostTensor* t, int64_t i, double v) {
                if (!t) return;
                if (stashType == D::kFloat)
                    t->data<float>()[i] = static_cast<float>(v);
                else
                    t->data<double>()[i] = v;
            };
            if (inner == 0) return Status::ok();
            // Rows are independent (each writes its own outputs): threaded on big tensors.
#pragma omp parallel for schedule(static) if (outer * inner > 65536)
            for (int64_t o = 0; o < outer; ++o) {
                const T* p = px + o * inner;
                double mean = 0.0, var = 0.0;
                for (int64_t i = 0; i < inner; ++i) mean += static_cast<double>(p[i]);
                mean /= static_cast<double>(inner);
                for (int64_t i = 0; i < inner; ++i) {
                    const double v = static_cast<double>(p[i]) - mean;
                    var += v * v;
                }
                var /= static_cast<double>(inner);
                const double inv = 1.0 / std::sqrt(var + eps);
                for (int64_t i = 0; i < inner; ++i) {
                    const auto iu = static_cast<std::size_t>(i);
                    const double v = (static_cast<double>(p[i]) - mean) * inv * scale[iu] +
                                     (hasBias ? bias[iu] : 0.0);
                    py[o * inner + i] = static_cast<T>(v);
                }
                store(meanOut, o, mean);
                store(invOut, o, inv);
            }
            return Status::ok();
        });
    });
    if (!built) return unsupportedType(ctx, x.dtype);
    KernelBuild b;
    b.kernel = std::move(*built);
    TensorInfo out = x;
    out.constant.reset();
    b.outputs.push_back(out);
    TensorInfo stat = unknownDimsLike(stashType, x);
    if (x.rankKnown) {
        const int axis = *normalizeAxis(axisAttr, static_cast<int64_t>(x.dims.size()), "axis");
        for (std::size_t i = 0; i < x.dims.size(); ++i)
            stat.dims[i] = static_cast<int>(i) < axis ? x.dims[i] : 1;
    }
    for (std::size_t k = 1; k < std::min<std::size_t>(ctx.node.numOutputs(), 3); ++k)
        b.outputs.push_back(stat);
    return b;
}

// ---------------------------------------------------------------- GatherElements

Expected<KernelBuild> gatherElementsFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    const TensorInfo& data = ctx.inputs[0];
    const TensorInfo& indices = ctx.inputs[1];
    if (indices.dtype != D::kInt32 && indices.dtype != D::kInt64)
        return error(StatusCode::kBadInput, "{}: indices are {}, not int32 or int64", ctx.where(),
                     typeName(indices.dtype));
    if (data.dtype == D::kString || data.dtype == D::kUndefined || ir::dtypeSize(data.dtype) == 0)
        return unsupportedType(ctx, data.dtype);
    const int64_t axisAttr = ctx.node.attrInt("axis", 0);
    if (data.rankKnown && indices.rankKnown && data.dims.size() != indices.dims.size())
        return error(StatusCode::kBadInput, "{}: data {} and indices {} differ in rank",
                     ctx.where(), dimsToString(data.dims), dimsToString(indices.dims));
    auto kernel = makeKernel([axisAttr](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        const HostTensor& is = *in[1];
        const Dims& d = xs.dims();
        const Dims& id = is.dims();
        if (d.size() != id.size())
            return makeStatus(StatusCode::kBadInput, "data {} and indices {} differ in rank",
                              dimsToString(d), dimsToString(id));
        WH_ASSIGN_OR_RETURN_STATUS(const int axis,
                                   normalizeAxis(axisAttr, static_cast<int64_t>(d.size()), "axis"));
        const auto au = static_cast<std::size_t>(axis);
        HostTensor& y = *outs[0];
        y.ensure(xs.dtype(), id);
        const int64_t total = is.numElements();
        if (total == 0) return Status::ok();
        const std::vector<int64_t> strides = contiguousStrides(d);
        const std::vector<int64_t> idx = is.toInt64s();
        const std::size_t size = ir::dtypeSize(xs.dtype());
        std::vector<int64_t> pos(d.size(), 0);
        for (int64_t e = 0; e < total; ++e) {
            int64_t k = idx[static_cast<std::size_t>(e)];
            if (k < -d[au] || k >= d[au])
                return makeStatus(StatusCode::kBadInput, "index {} out of range for axis {} of {}",
                                  k, axis, dimsToString(d));
            if (k < 0) k += d[au];
            int64_t from = 0;
            for (std::size_t a = 0; a < d.size(); ++a) {
                if (a != au && pos[a] >= d[a])
                    return makeStatus(StatusCode::kBadInput, "indices {} exceed data {}",
                                      dimsToString(id), dimsToString(d));
                from += (a == au ? k : pos[a]) * strides[a];
            }
            copyElement(xs, from, y, e, size);
            for (int a = static_cast<int>(id.size()) - 1; a >= 0; --a) {
                if (++pos[static_cast<std::size_t>(a)] < id[static_cast<std::size_t>(a)]) break;
                pos[static_cast<std::size_t>(a)] = 0;
            }
        }
        return Status::ok();
    });
    TensorInfo out = indices.rankKnown ? infoOf(data.dtype, indices.dims) : unknownRank(data.dtype);
    return singleOutput(std::move(kernel), std::move(out));
}

// ---------------------------------------------------------------- EyeLike

// A 2-D tensor of X's shape with ones on the k-th diagonal; type `dtype` or X's.
Expected<KernelBuild> eyeLikeFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    if (x.rankKnown && x.dims.size() != 2)
        return error(StatusCode::kBadInput, "{}: input is {}, EyeLike takes 2-D tensors",
                     ctx.where(), dimsToString(x.dims));
    D dtype = x.dtype;
    if (const ir::Attribute* a = ctx.node.attribute("dtype")) {
        if (!ir::isKnownDType(static_cast<int32_t>(a->i)) || ir::is4Bit(static_cast<D>(a->i)))
            return error(StatusCode::kBadInput, "{}: 'dtype' = {} is not a type", ctx.where(),
                         a->i);
        dtype = static_cast<D>(a->i);
    }
    const int64_t k = ctx.node.attrInt("k", 0);
    auto built = dispatch<TypeSet::kAll>(dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel([dtype, k](Ins in, Outs outs) -> Status {
            const Dims& d = in[0]->dims();
            if (d.size() != 2)
                return makeStatus(StatusCode::kBadInput, "input is {}, EyeLike takes 2-D tensors",
                                  dimsToString(d));
            HostTensor& y = *outs[0];
            y.ensure(dtype, d);
            T* py = y.data<T>();
            std::fill(py, py + y.numElements(), T{});
            for (int64_t r = 0; r < d[0]; ++r)
                if (const int64_t c = r + k; c >= 0 && c < d[1]) py[r * d[1] + c] = T(1);
            return Status::ok();
        });
    });
    if (!built) return unsupportedType(ctx, dtype);
    TensorInfo out = x;
    out.constant.reset();
    out.dtype = dtype;
    return singleOutput(std::move(*built), std::move(out));
}

// ---------------------------------------------------------------- OneHot

Expected<KernelBuild> oneHotFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 3));
    const TensorInfo& values = ctx.inputs[2];
    if (values.dtype == D::kString || values.dtype == D::kUndefined ||
        ir::dtypeSize(values.dtype) == 0)
        return unsupportedType(ctx, values.dtype);
    for (int i = 0; i < 2; ++i)
        if (!dispatch<TypeSet::kReal>(ctx.inputs[static_cast<std::size_t>(i)].dtype,
                                      [](auto) { return 0; }))
            return unsupportedType(ctx, ctx.inputs[static_cast<std::size_t>(i)].dtype);
    const int64_t axisAttr = ctx.node.attrInt("axis", -1);
    auto kernel = makeKernel([axisAttr](Ins in, Outs outs) -> Status {
        const HostTensor& is = *in[0];
        if (in[1]->numElements() != 1 || in[2]->numElements() != 2)
            return makeStatus(StatusCode::kBadInput,
                              "depth {} must be a scalar and values {} two elements",
                              dimsToString(in[1]->dims()), dimsToString(in[2]->dims()));
        const double depthValue = in[1]->at(0);
        if (!(depthValue >= 1.0 && depthValue < 0x1p62))
            return makeStatus(StatusCode::kBadInput, "depth {} is not positive", depthValue);
        const auto depth = static_cast<int64_t>(depthValue);
        const Dims& id = is.dims();
        WH_ASSIGN_OR_RETURN_STATUS(
            const int axis, normalizeAxis(axisAttr, static_cast<int64_t>(id.size()) + 1, "axis"));
        Dims od = id;
        od.insert(od.begin() + axis, depth);
        if (!checkedNumElementsOf(od) || !checkedByteSizeOf(in[2]->dtype(), od))
            return makeStatus(StatusCode::kBadInput, "OneHot of {} with depth {} is too large",
                              dimsToString(id), depth);
        HostTensor& y = *outs[0];
        y.ensure(in[2]->dtype(), od);
        const std::size_t size = ir::dtypeSize(y.dtype());
        for (int64_t e = 0, n = y.numElements(); e < n; ++e) copyElement(*in[2], 0, y, e, size);
        int64_t outer = 1, inner = 1;
        for (int i = 0; i < axis; ++i) outer *= id[static_cast<std::size_t>(i)];
        for (std::size_t i = static_cast<std::size_t>(axis); i < id.size(); ++i) inner *= id[i];
        const bool floating = is.dtype() == D::kFloat || is.dtype() == D::kDouble;
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) {
                const int64_t e = o * inner + i;
                const double v = floating ? is.at(e) : static_cast<double>(is.intAt(e));
                if (!(v >= -depthValue && v < depthValue)) continue;  // out of range: all off
                int64_t k = static_cast<int64_t>(v);
                if (k < 0) k += depth;
                copyElement(*in[2], 1, y, (o * depth + k) * inner + i, size);
            }
        return Status::ok();
    });
    return singleOutput(std::move(kernel), unknownRank(values.dtype));
}

// ---------------------------------------------------------------- BitShift (opset 11)

// Y = X << S or X >> S, elementwise with numpy broadcasting, unsigned integers only (the spec's
// uint8/16/32/64). A shift by the type's width or more gives 0 (C++ leaves it undefined; numpy's
// left_shift/right_shift on unsigned types give 0, as does ONNX Runtime).
Expected<KernelBuild> bitShiftFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    const TensorInfo& x = ctx.inputs[0];
    const TensorInfo& s = ctx.inputs[1];
    if (x.dtype != s.dtype)
        return error(StatusCode::kBadInput, "{}: inputs are {} and {}; they must match",
                     ctx.where(), typeName(x.dtype), typeName(s.dtype));
    const ir::Attribute* direction = ctx.node.attribute("direction");
    if (!direction || (direction->s != "LEFT" && direction->s != "RIGHT"))
        return error(StatusCode::kBadInput, "{}: 'direction' must be LEFT or RIGHT{}", ctx.where(),
                     direction ? fmt::format(", it is '{}'", direction->s) : " (it is missing)");
    const bool left = direction->s == "LEFT";
    WH_ASSIGN_OR_RETURN(TensorInfo out, broadcastInfo(x.dtype, {&x, &s}));
    auto built = dispatch<TypeSet::kReal>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        if constexpr (!std::is_integral_v<T> || !std::is_unsigned_v<T>) {
            return nullptr;
        } else {
            return makeKernel([left](Ins in, Outs outs) -> Status {
                const HostTensor& xs = *in[0];
                const HostTensor& ss = *in[1];
                WH_ASSIGN_OR_RETURN_STATUS(BroadcastPlan plan,
                                           planBroadcast({&xs.dims(), &ss.dims()}));
                HostTensor& y = *outs[0];
                y.ensure(xs.dtype(), plan.outDims);
                const T* px = xs.data<T>();
                const T* ps = ss.data<T>();
                T* py = y.data<T>();
                constexpr T kWidth = static_cast<T>(sizeof(T) * 8);
                forEachRow(plan, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* st) {
                    for (int64_t i = 0; i < n; ++i) {
                        const T v = px[off[0] + i * st[0]];
                        const T k = ps[off[1] + i * st[1]];
                        py[o + i] = k >= kWidth ? T(0)
                                    : left      ? static_cast<T>(v << k)
                                                : static_cast<T>(v >> k);
                    }
                });
                return Status::ok();
            });
        }
    });
    if (!built || !*built) return unsupportedType(ctx, x.dtype);
    return singleOutput(std::move(*built), std::move(out));
}

}  // namespace

void registerMoreOps(KernelRegistry& r) {
    r.add("", "GlobalMaxPool", 1, 18, kRef, globalMaxPoolFactory);
    r.add("", "DepthToSpace", 1, 18, kRef, blockFactory<true>);
    r.add("", "SpaceToDepth", 1, 18, kRef, blockFactory<false>);
    r.add("", "Size", 1, 18, kRef, sizeFactory);
    r.add("", "Trilu", 14, 18, kRef, triluFactory);
    r.add("", "CumSum", 11, 18, kRef, cumSumFactory);
    r.add("", "Hardmax", 13, 18, kRef, hardmaxFactory);
    r.add("", "InstanceNormalization", 6, 18, kRef, instanceNormFactory);
    r.add("", "LayerNormalization", 17, 18, kRef, layerNormFactory);
    r.add("", "GatherElements", 11, 18, kRef, gatherElementsFactory);
    r.add("", "OneHot", 9, 18, kRef, oneHotFactory);
    r.add("", "EyeLike", 9, 18, kRef, eyeLikeFactory);
    r.add("", "BitShift", 11, 18, kRef, bitShiftFactory);
}

}  // namespace wh::engine::ref
