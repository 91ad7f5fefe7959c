// Reference MaxPool (float, double, int8, uint8; optional Indices) and AveragePool (float),
// over any number of spatial dims. Plain loops: for every output position, visit every kernel
// offset and skip those that land in the padding.

#include <algorithm>
#include <limits>
#include <vector>

#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/nn_common.h"

namespace wh::engine::ref::nn {

namespace {

using ir::DType;
using Inputs = std::span<const HostTensor* const>;
using Outputs = std::span<HostTensor* const>;

constexpr int kNewestOpset = 22;

int64_t product(std::span<const int64_t> v) {
    int64_t p = 1;
    for (int64_t x : v) p *= x;
    return p;
}

// Visits, for every output position of `g` in row-major order, every kernel offset:
// visit(outIndex, inCoords) where inCoords[d] may lie in the padding (< 0 or >= in[d]).
class WindowWalker {
public:
    explicit WindowWalker(const WindowGeometry& g)
        : m_g(g), m_spatial(static_cast<std::size_t>(g.spatial)) {
        const int64_t K = product(g.kernel);
        m_offsets.reserve(static_cast<std::size_t>(K) * m_spatial);
        std::vector<int64_t> k(m_spatial, 0);
        for (int64_t i = 0; i < K; ++i) {
            for (std::size_t d = 0; d < m_spatial; ++d) m_offsets.push_back(k[d] * g.dilations[d]);
            for (std::size_t d = m_spatial; d-- > 0;) {
                if (++k[d] < g.kernel[d]) break;
                k[d] = 0;
            }
        }
        m_numOffsets = K;
    }

    // f(p, forEachTap) per output position p; forEachTap(tap) calls tap(coords) per kernel
    // offset with that offset's input coordinates.
    template <class F>
    void forEachOutput(F&& f) const {
        const int64_t P = product(m_g.out);
        std::vector<int64_t> o(m_spatial, 0), start(m_spatial), coord(m_spatial);
        for (int64_t p = 0; p < P; ++p) {
            for (std::size_t d = 0; d < m_spatial; ++d)
                start[d] = o[d] * m_g.strides[d] - m_g.padBegin[d];
            auto forEachTap = [&](auto&& tap) {
                const int64_t* off = m_offsets.data();
                for (int64_t k = 0; k < m_numOffsets; ++k, off += m_spatial) {
                    for (std::size_t d = 0; d < m_spatial; ++d) coord[d] = start[d] + off[d];
                    tap(coord.data());
                }
            };
            f(p, forEachTap);
            for (std::size_t d = m_spatial; d-- > 0;) {
                if (++o[d] < m_g.out[d]) break;
                o[d] = 0;
            }
        }
    }

private:
    const WindowGeometry& m_g;
    std::size_t m_spatial;
    std::vector<int64_t> m_offsets;  // K x spatial dilated kernel offsets
    int64_t m_numOffsets = 0;
};

// Output dims N x C x out... at build time (-1 where unknown).
Expected<TensorInfo> poolOutputInfo(DType dtype, const TensorInfo& x, const WindowAttrs& attrs) {
    if (!x.rankKnown) return unknownRank(dtype);
    if (x.dims.size() < 3)
        return error(StatusCode::kBadInput, "pooling needs an input of rank >= 3, got {}",
                     dimsToString(x.dims));
    WH_ASSIGN_OR_RETURN(
        WindowGeometry g,
        windowGeometry(attrs, std::vector<int64_t>(x.dims.begin() + 2, x.dims.end())));
    Dims d{x.dims[0], x.dims[1]};
    d.insert(d.end(), g.out.begin(), g.out.end());
    return infoOf(dtype, d);
}

Expected<WindowGeometry> runGeometry(const HostTensor& x, const WindowAttrs& attrs,
                                     std::string_view op) {
    if (x.rank() < 3)
        return error(StatusCode::kBadInput, "{} needs an input of rank >= 3, got {}", op,
                     dimsToString(x.dims()));
    return windowGeometry(attrs, std::vector<int64_t>(x.dims().begin() + 2, x.dims().end()));
}

Dims poolOutputDims(const HostTensor& x, const WindowGeometry& g) {
    Dims d{x.dim(0), x.dim(1)};
    d.insert(d.end(), g.out.begin(), g.out.end());
    return d;
}

// ---------------------------------------------------------------------------------------------
// MaxPool. Indices (output 1) are flat indices into X: row-major over all dims, or with
// storage_order=1 column-major over the spatial dims (N and C still outermost), as ONNX Runtime
// computes them. Ties keep the first maximum in row-major kernel order.

template <class T>
Status maxPool(const HostTensor& x, const WindowGeometry& g, bool columnMajor, HostTensor& y,
               HostTensor* indices) {
    const Dims yd = poolOutputDims(x, g);
    y.ensure(x.dtype(), yd);
    if (indices) indices->ensure(DType::kInt64, yd);
    const std::size_t S = static_cast<std::size_t>(g.spatial);
    std::vector<int64_t> rowStride(S, 1), colStride(S, 1);
    for (std::size_t d = S; d-- > 1;) rowStride[d - 1] = rowStride[d] * g.in[d];
    for (std::size_t d = 1; d < S; ++d) colStride[d] = colStride[d - 1] * g.in[d - 1];
    const int64_t rows = x.dim(0) * x.dim(1), inSize = product(g.in), P = product(g.out);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    int64_t* ip = indices ? indices->data<int64_t>() : nullptr;
    const WindowWalker walker(g);
    for (int64_t r = 0; r < rows; ++r) {
        const T* xr = xp + r * inSize;
        walker.forEachOutput([&](int64_t p, auto&& forEachTap) {
            T best = std::numeric_limits<T>::lowest();
            int64_t bestOff = -1, bestIndex = -1;
            forEachTap([&](const int64_t* c) {
                int64_t off = 0, colOff = 0;
                for (std::size_t d = 0; d < S; ++d) {
                    if (c[d] < 0 || c[d] >= g.in[d]) return;
                    off += c[d] * rowStride[d];
                    colOff += c[d] * colStride[d];
                }
                if (bestOff < 0 || xr[off] > best) {
                    best = xr[off];
                    bestOff = off;
                    bestIndex = columnMajor ? colOff : off;
                }
            });
            yp[r * P + p] = best;
            if (ip) ip[r * P + p] = bestIndex < 0 ? -1 : r * inSize + bestIndex;
        });
    }
    return Status::ok();
}

Expected<KernelBuild> buildMaxPool(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(checkArity(ctx, 1));
    const DType dtype = ctx.inputs[0].dtype;
    if (dtype != DType::kFloat && dtype != DType::kDouble && dtype != DType::kInt8 &&
        dtype != DType::kUInt8)
        return error(StatusCode::kUnsupported,
                     "MaxPool of {}: the reference takes float, double, int8 and uint8",
                     typeName(dtype));
    WH_ASSIGN_OR_RETURN(WindowAttrs attrs, parseWindowAttrs(ctx.node));
    if (attrs.kernel.empty()) return error(StatusCode::kBadInput, "MaxPool without kernel_shape");
    const int64_t storageOrder = ctx.node.attrInt("storage_order", 0);
    if (storageOrder != 0 && storageOrder != 1)
        return error(StatusCode::kBadInput, "MaxPool storage_order {} (0 or 1)", storageOrder);
    WH_ASSIGN_OR_RETURN(TensorInfo out, poolOutputInfo(dtype, ctx.inputs[0], attrs));
    KernelBuild build;
    build.outputs.push_back(out);
    if (ctx.node.numOutputs() > 1) {
        TensorInfo idx = out;
        idx.dtype = DType::kInt64;
        build.outputs.push_back(idx);
    }
    const bool columnMajor = storageOrder == 1;
    build.kernel = makeKernel([attrs, columnMajor](Inputs in, Outputs outs) -> Status {
        const HostTensor& x = *in[0];
        WH_ASSIGN_OR_RETURN_STATUS(WindowGeometry g, runGeometry(x, attrs, "MaxPool"));
        HostTensor* indices = outs.size() > 1 ? outs[1] : nullptr;
        switch (x.dtype()) {
            case DType::kFloat:
                return maxPool<float>(x, g, columnMajor, *outs[0], indices);
            case DType::kDouble:
                return maxPool<double>(x, g, columnMajor, *outs[0], indices);
            case DType::kInt8:
                return maxPool<int8_t>(x, g, columnMajor, *outs[0], indices);
            case DType::kUInt8:
                return maxPool<uint8_t>(x, g, columnMajor, *outs[0], indices);
            default:
                return makeStatus(StatusCode::kUnsupported, "MaxPool of {}", typeName(x.dtype()));
        }
    });
    return build;
}

// ---------------------------------------------------------------------------------------------
// AveragePool: the mean of the window's input elements; with count_include_pad=1 the divisor
// also counts positions in the explicit/auto padding (never those past it, which ceil_mode can
// add).

Expected<KernelBuild> buildAveragePool(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(checkArity(ctx, 1));
    const DType dtype = ctx.inputs[0].dtype;
    if (dtype != DType::kFloat)
        return error(StatusCode::kUnsupported, "AveragePool of {}: the reference takes float",
                     typeName(dtype));
    WH_ASSIGN_OR_RETURN(WindowAttrs attrs, parseWindowAttrs(ctx.node));
    if (attrs.kernel.empty())
        return error(StatusCode::kBadInput, "AveragePool without kernel_shape");
    const bool includePad = ctx.node.attrInt("count_include_pad", 0) != 0;
    WH_ASSIGN_OR_RETURN(TensorInfo out, poolOutputInfo(dtype, ctx.inputs[0], attrs));
    auto run = [attrs, includePad](Inputs in, Outputs outs) -> Status {
        const HostTensor& x = *in[0];
        if (x.dtype() != DType::kFloat)
            return makeStatus(StatusCode::kUnsupported, "AveragePool of {}", typeName(x.dtype()));
        WH_ASSIGN_OR_RETURN_STATUS(WindowGeometry g, runGeometry(x, attrs, "AveragePool"));
        HostTensor& y = *outs[0];
        y.ensure(DType::kFloat, poolOutputDims(x, g));
        const std::size_t S = static_cast<std::size_t>(g.spatial);
        std::vector<int64_t> stride(S, 1);
        for (std::size_t d = S; d-- > 1;) stride[d - 1] = stride[d] * g.in[d];
        const int64_t rows = x.dim(0) * x.dim(1), inSize = product(g.in), P = product(g.out);
        const float* xp = x.data<float>();
        float* yp = y.data<float>();
        const WindowWalker walker(g);
        for (int64_t r = 0; r < rows; ++r) {
            const float* xr = xp + r * inSize;
            walker.forEachOutput([&](int64_t p, auto&& forEachTap) {
                double sum = 0.0;
                int64_t count = 0, padded = 0;
                forEachTap([&](const int64_t* c) {
                    bool inside = true, insidePadded = true;
                    int64_t off = 0;
                    for (std::size_t d = 0; d < S; ++d) {
                        if (c[d] < -g.padBegin[d] || c[d] >= g.in[d] + g.padEnd[d])
                            insidePadded = false;
                        if (c[d] < 0 || c[d] >= g.in[d]) inside = false;
                        off += c[d] * stride[d];
                    }
                    padded += insidePadded;
                    if (!inside) return;
                    ++count;
                    sum += xr[off];
                });
                const int64_t divisor = includePad ? padded : count;
                yp[r * P + p] =
                    divisor ? static_cast<float>(sum / static_cast<double>(divisor)) : 0.0f;
            });
        }
        return Status::ok();
    };
    return singleOutput(makeKernel(std::move(run)), std::move(out));
}

}  // namespace

void registerPooling(KernelRegistry& registry) {
    registry.add("", "MaxPool", 1, kNewestOpset, Backend::kReference, buildMaxPool);
    registry.add("", "AveragePool", 1, kNewestOpset, Backend::kReference, buildAveragePool);
}

}  // namespace wh::engine::ref::nn
