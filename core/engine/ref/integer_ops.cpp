// Reference kernels of the operator format that quantization tools emit:
// DynamicQuantizeLinear (float -> uint8 with the tensor's own scale and zero point),
// MatMulInteger and ConvInteger (uint8/int8 operands with zero points -> exact int32), and
// QLinearMatMul and QLinearConv (the same integer products, requantised to uint8/int8:
//     y = saturate(round_half_even(acc * (a_scale * b_scale / y_scale)) + y_zero_point)
// with acc the exact int32 sum of products of zero-point-corrected operands, plus QLinearConv's
// int32 bias). The multiplier and the product are computed in float, as ONNX Runtime's
// requantisation does; the tests' reference outputs agree.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/engine/kernel_implementation.h"
#include "core/engine/qconv.h"
#include "core/engine/ref/broadcast.h"
#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/nn_common.h"
#include "core/engine/ref/ref_kernels.h"

namespace wh::engine::ref {

namespace {

using D = ir::DType;
using Ins = std::span<const HostTensor* const>;
using Outs = std::span<HostTensor* const>;
constexpr Backend kRef = Backend::kReference;

// ---------------------------------------------------------------- DynamicQuantizeLinear

// ONNX: x_min = min(0, min x), x_max = max(0, max x), scale = (x_max - x_min) / 255,
// zero point = saturate(round(0 - x_min / scale)), y = saturate(round(x / scale) + zero point),
// rounding half to even. An all-zero x gives scale 0, zero point 0 and y 0.
Expected<KernelBuild> dynamicQuantizeFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    if (x.dtype != D::kFloat) return unsupportedType(ctx, x.dtype);
    auto run = [](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        const float* px = xs.data<float>();
        const int64_t n = xs.numElements();
        float lo = 0.0f, hi = 0.0f;
        for (int64_t i = 0; i < n; ++i) {
            if (std::isnan(px[i])) continue;
            lo = std::min(lo, px[i]);
            hi = std::max(hi, px[i]);
        }
        const float scale = (hi - lo) / 255.0f;
        const float zp =
            scale > 0.0f ? std::clamp(std::nearbyint(-lo / scale), 0.0f, 255.0f) : 0.0f;
        HostTensor& y = *outs[0];
        y.ensure(D::kUInt8, xs.dims());
        uint8_t* py = y.data<uint8_t>();
        for (int64_t i = 0; i < n; ++i) {
            const float v = scale > 0.0f ? std::nearbyint(px[i] / scale) + zp : zp;
            py[i] = static_cast<uint8_t>(std::isnan(v) ? 0.0f : std::clamp(v, 0.0f, 255.0f));
        }
        if (outs.size() > 1 && outs[1]) {
            outs[1]->ensure(D::kFloat, {});
            outs[1]->data<float>()[0] = scale;
        }
        if (outs.size() > 2 && outs[2]) {
            outs[2]->ensure(D::kUInt8, {});
            outs[2]->data<uint8_t>()[0] = static_cast<uint8_t>(zp);
        }
        return Status::ok();
    };
    KernelBuild b;
    b.kernel = makeKernel(std::move(run));
    b.outputs = {unknownDimsLike(D::kUInt8, x), infoOf(D::kFloat, {}), infoOf(D::kUInt8, {})};
    b.outputs.resize(static_cast<std::size_t>(std::max(1, ctx.node.numOutputs())));
    return b;
}

// ---------------------------------------------------------------- MatMulInteger

// The zero point for row/column `k` of a tensor: absent = 0, one element = per tensor,
// `count` elements = per row (A) or column (B).
Expected<std::vector<int32_t>> zeroPoints(const HostTensor* zp, int64_t count, const char* what) {
    std::vector<int32_t> z(static_cast<std::size_t>(count), 0);
    if (!zp || zp->empty()) return z;
    const int64_t n = zp->numElements();
    if (n != 1 && n != count)
        return error(StatusCode::kBadInput, "{} has {} elements, expected 1 or {}", what, n, count);
    for (int64_t i = 0; i < count; ++i)
        z[static_cast<std::size_t>(i)] = byteAt(*zp, n == 1 ? 0 : i);
    return z;
}

// The exact int32 product of (a - a_zero_point) and (b - b_zero_point), numpy matmul's batch
// broadcasting (ranks >= 2): `y` gets the batch dims, then [M, N].
Status integerMatMul(const HostTensor& a, const HostTensor* aZero, const HostTensor& b,
                     const HostTensor* bZero, std::string_view op, HostTensor& y) {
    if (a.rank() < 2 || b.rank() < 2)
        return makeStatus(StatusCode::kUnsupported, "{} of rank {} x {} (2 or more)", op, a.rank(),
                          b.rank());
    const Dims& ad = a.dims();
    const Dims& bd = b.dims();
    const int64_t M = ad[ad.size() - 2], K = ad.back(), N = bd.back();
    if (bd[bd.size() - 2] != K)
        return makeStatus(StatusCode::kBadInput, "{}: A {} and B {} do not chain", op,
                          dimsToString(ad), dimsToString(bd));
    const Dims aBatch(ad.begin(), ad.end() - 2), bBatch(bd.begin(), bd.end() - 2);
    WH_ASSIGN_OR_RETURN_STATUS(Dims batch, broadcastDims(aBatch, bBatch));
    WH_ASSIGN_OR_RETURN_STATUS(std::vector<int32_t> za, zeroPoints(aZero, M, "a_zero_point"));
    WH_ASSIGN_OR_RETURN_STATUS(std::vector<int32_t> zb, zeroPoints(bZero, N, "b_zero_point"));
    Dims od = batch;
    od.push_back(M);
    od.push_back(N);
    y.ensure(D::kInt32, od);
    int32_t* py = y.data<int32_t>();
    int64_t batches = 1;
    for (int64_t d : batch) batches *= d;
    // Batch index -> offset in A or B (a broadcast dim of size 1 stays at 0).
    auto offsetOf = [&](int64_t index, const Dims& own, int64_t matrix) {
        int64_t off = 0, stride = matrix;
        for (std::size_t k = batch.size(); k-- > 0;) {
            const int64_t coord = index % batch[k];
            index /= batch[k];
            const std::ptrdiff_t ownAxis = static_cast<std::ptrdiff_t>(k) -
                                           static_cast<std::ptrdiff_t>(batch.size() - own.size());
            if (ownAxis < 0) continue;
            const int64_t size = own[static_cast<std::size_t>(ownAxis)];
            off += (size == 1 ? 0 : coord) * stride;
            stride *= size;
        }
        return off;
    };
    for (int64_t t = 0; t < batches; ++t) {
        const int64_t ao = offsetOf(t, aBatch, M * K), bo = offsetOf(t, bBatch, K * N);
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
                int32_t acc = 0;
                for (int64_t k = 0; k < K; ++k)
                    acc += (byteAt(a, ao + m * K + k) - za[static_cast<std::size_t>(m)]) *
                           (byteAt(b, bo + k * N + n) - zb[static_cast<std::size_t>(n)]);
                py[(t * M + m) * N + n] = acc;
            }
    }
    return Status::ok();
}

const HostTensor* optionalInput(std::span<const HostTensor* const> in, std::size_t i) {
    return in.size() > i && in[i] && !in[i]->empty() ? in[i] : nullptr;
}

Expected<KernelBuild> matMulIntegerFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    for (std::size_t i = 0; i < 2; ++i)
        if (!isByte(ctx.inputs[i].dtype)) return unsupportedType(ctx, ctx.inputs[i].dtype);
    auto run = [](Ins in, Outs outs) -> Status {
        return integerMatMul(*in[0], optionalInput(in, 2), *in[1], optionalInput(in, 3),
                             "MatMulInteger", *outs[0]);
    };
    return singleOutput(makeKernel(std::move(run)), unknownRank(D::kInt32));
}

// ---------------------------------------------------------------- requantisation

// A float scale per tensor (one element) or per row/column/channel (`count` elements).
Expected<std::vector<float>> scales(const HostTensor& s, int64_t count, const char* what) {
    if (s.dtype() != D::kFloat)
        return error(StatusCode::kUnsupported, "{} is {}, expected float", what,
                     typeName(s.dtype()));
    const int64_t n = s.numElements();
    if (n != 1 && n != count)
        return error(StatusCode::kBadInput, "{} has {} elements, expected 1 or {}", what, n, count);
    std::vector<float> v(static_cast<std::size_t>(count));
    for (int64_t i = 0; i < count; ++i)
        v[static_cast<std::size_t>(i)] = s.data<float>()[n == 1 ? 0 : i];
    return v;
}

// y = saturate(round_half_even(acc * multiplier) + zero point), y's type that of `yZero`
// (uint8 without it). float arithmetic, as ONNX Runtime's requantisation.
class Requantizer {
public:
    explicit Requantizer(const HostTensor* yZero)
        : m_type(yZero ? yZero->dtype() : D::kUInt8),
          m_zero(yZero ? static_cast<float>(byteAt(*yZero, 0)) : 0.0f),
          m_lo(m_type == D::kUInt8 ? 0.0f : -128.0f),
          m_hi(m_type == D::kUInt8 ? 255.0f : 127.0f) {}
    D type() const { return m_type; }
    void put(HostTensor& y, int64_t i, int32_t acc, float multiplier) const {
        // nearbyint in the default FE_TONEAREST mode: round half to even.
        const float q =
            std::clamp(std::nearbyint(static_cast<float>(acc) * multiplier) + m_zero, m_lo, m_hi);
        if (m_type == D::kUInt8)
            y.data<uint8_t>()[i] = static_cast<uint8_t>(q);
        else
            y.data<int8_t>()[i] = static_cast<int8_t>(q);
    }

private:
    D m_type;
    float m_zero, m_lo, m_hi;
};

Status checkScalarZero(const HostTensor* z, const char* what) {
    if (z && (z->numElements() != 1 || !isByte(z->dtype())))
        return makeStatus(StatusCode::kBadInput, "{} {} of {} is not a uint8/int8 scalar", what,
                          dimsToString(z->dims()), typeName(z->dtype()));
    return Status::ok();
}

// ---------------------------------------------------------------- QLinearMatMul

// Inputs a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point. a's scale and
// zero point per tensor or per row, b's per tensor or per column (as ONNX Runtime accepts).
Expected<KernelBuild> qlinearMatMulFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 8));
    for (std::size_t i : {0u, 3u})
        if (!isByte(ctx.inputs[i].dtype)) return unsupportedType(ctx, ctx.inputs[i].dtype);
    if (!isByte(ctx.inputs[7].dtype)) return unsupportedType(ctx, ctx.inputs[7].dtype);
    auto run = [acc = HostTensor()](Ins in, Outs outs) mutable -> Status {
        WH_RETURN_STATUS_IF_ERROR(checkScalarZero(in[7], "y_zero_point"));
        WH_RETURN_STATUS_IF_ERROR(
            integerMatMul(*in[0], in[2], *in[3], in[5], "QLinearMatMul", acc));
        const int64_t M = acc.dim(acc.rank() - 2), N = acc.dim(acc.rank() - 1);
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> as, scales(*in[1], M, "a_scale"));
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> bs, scales(*in[4], N, "b_scale"));
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> ys, scales(*in[6], 1, "y_scale"));
        const Requantizer rq(in[7]);
        HostTensor& y = *outs[0];
        y.ensure(rq.type(), acc.dims());
        const int32_t* pa = acc.data<int32_t>();
        for (int64_t i = 0; i < acc.numElements(); ++i) {
            const int64_t m = (i / N) % M, n = i % N;
            rq.put(y, i, pa[i],
                   as[static_cast<std::size_t>(m)] * bs[static_cast<std::size_t>(n)] / ys[0]);
        }
        return Status::ok();
    };
    return singleOutput(makeKernel(std::move(run)), unknownRank(ctx.inputs[7].dtype));
}

// ---------------------------------------------------------------- ConvInteger, QLinearConv

// A lambda kernel that tells Plan::describe() something (KernelImplementation).
template <class Fn>
class ExplainedKernel final : public Kernel, public KernelImplementation {
public:
    ExplainedKernel(Fn fn, std::string text) : m_fn(std::move(fn)), m_text(std::move(text)) {}
    Status run(Ins inputs, Outs outputs) override { return m_fn(inputs, outputs); }
    std::string implementation() const override { return m_text; }

private:
    Fn m_fn;
    std::string m_text;
};

int64_t product(std::span<const int64_t> v) {
    int64_t p = 1;
    for (int64_t d : v) p *= d;
    return p;
}

// The exact int32 convolution of (x - x_zero_point) and (w - w_zero_point[m]) (N-D, groups,
// Conv's window attributes; padding is 0 after the zero point is subtracted, i.e. x_zero_point
// in x's terms). `acc` gets [N, M, out...].
Status integerConv(const HostTensor& x, const HostTensor* xZero, const HostTensor& w,
                   const HostTensor* wZero, const nn::WindowAttrs& attrs, int64_t group,
                   std::string_view op, HostTensor& acc) {
    if (x.rank() < 3 || w.rank() != x.rank())
        return makeStatus(StatusCode::kBadInput, "{}: x {} and w {} must have one rank >= 3", op,
                          dimsToString(x.dims()), dimsToString(w.dims()));
    const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0), Cg = w.dim(1);
    if (group < 1 || Cg * group != C || M % group != 0)
        return makeStatus(StatusCode::kBadInput, "{}: x {} and w {} do not fit group {}", op,
                          dimsToString(x.dims()), dimsToString(w.dims()), group);
    WH_RETURN_STATUS_IF_ERROR(checkScalarZero(xZero, "x_zero_point"));
    const std::vector<int64_t> spatialIn(x.dims().begin() + 2, x.dims().end());
    const std::vector<int64_t> kernel(w.dims().begin() + 2, w.dims().end());
    if (!attrs.kernel.empty() && attrs.kernel != kernel)
        return makeStatus(StatusCode::kBadInput, "{}: kernel_shape {} but w is {}", op,
                          nn::listToString(attrs.kernel), dimsToString(w.dims()));
    WH_ASSIGN_OR_RETURN_STATUS(nn::WindowGeometry g, nn::windowGeometry(attrs, spatialIn, kernel));
    WH_ASSIGN_OR_RETURN_STATUS(std::vector<int32_t> wz, zeroPoints(wZero, M, "w_zero_point"));
    const int32_t xz = xZero ? byteAt(*xZero, 0) : 0;
    const int64_t K = product(g.kernel), P = product(g.out), inSize = product(g.in);
    const int spatial = g.spatial;

    // offset[k * P + p]: the input position kernel tap k of output position p reads, -1 in the
    // padding (the same for every channel).
    std::vector<int64_t> offset(static_cast<std::size_t>(K * P));
    std::vector<int64_t> kk(static_cast<std::size_t>(spatial)), oo(kk.size());
    for (int64_t k = 0; k < K; ++k) {
        for (int d = spatial, r = static_cast<int>(k); d-- > 0;) {
            kk[static_cast<std::size_t>(d)] = r % g.kernel[static_cast<std::size_t>(d)];
            r /= static_cast<int>(g.kernel[static_cast<std::size_t>(d)]);
        }
        for (int64_t p = 0; p < P; ++p) {
            int64_t r = p, off = 0, stride = 1;
            for (int d = spatial; d-- > 0;) {
                const auto du = static_cast<std::size_t>(d);
                const int64_t o = r % g.out[du];
                r /= g.out[du];
                const int64_t i = o * g.strides[du] - g.padBegin[du] + kk[du] * g.dilations[du];
                if (off >= 0 && i >= 0 && i < g.in[du])
                    off += i * stride;
                else
                    off = -1;
                stride *= g.in[du];
            }
            offset[static_cast<std::size_t>(k * P + p)] = off;
        }
    }

    Dims od{N, M};
    od.insert(od.end(), g.out.begin(), g.out.end());
    acc.ensure(D::kInt32, od);
    int32_t* pa = acc.data<int32_t>();
    std::fill(pa, pa + acc.numElements(), 0);
    const int64_t Mg = M / group;
    std::vector<int32_t> xc(static_cast<std::size_t>(inSize));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
            for (int64_t i = 0; i < inSize; ++i)
                xc[static_cast<std::size_t>(i)] = byteAt(x, (n * C + c) * inSize + i) - xz;
            const int64_t gi = c / Cg, cw = c % Cg;
            for (int64_t m = gi * Mg; m < (gi + 1) * Mg; ++m) {
                int32_t* out = pa + (n * M + m) * P;
                for (int64_t k = 0; k < K; ++k) {
                    const int32_t wv =
                        byteAt(w, (m * Cg + cw) * K + k) - wz[static_cast<std::size_t>(m)];
                    if (wv == 0) continue;
                    const int64_t* off = offset.data() + k * P;
                    for (int64_t p = 0; p < P; ++p)
                        if (off[p] >= 0) out[p] += xc[static_cast<std::size_t>(off[p])] * wv;
                }
            }
        }
    return Status::ok();
}

// The output's TensorInfo when the shapes are known at compile time, else unknown dims.
TensorInfo convOutputInfo(const KernelContext& ctx, const nn::WindowAttrs& attrs, int xi, int wi,
                          D type) {
    const TensorInfo& x = ctx.inputs[static_cast<std::size_t>(xi)];
    const TensorInfo& w = ctx.inputs[static_cast<std::size_t>(wi)];
    if (!x.rankKnown) return unknownRank(type);
    TensorInfo out = infoOf(type, Dims(x.dims.size(), -1));
    if (x.dims.size() < 3 || !w.shapeKnown() || w.dims.size() != x.dims.size()) return out;
    out.dims[0] = x.dims[0];
    out.dims[1] = w.dims[0];
    const std::vector<int64_t> spatialIn(x.dims.begin() + 2, x.dims.end());
    const std::vector<int64_t> kernel(w.dims.begin() + 2, w.dims.end());
    if (auto g = nn::windowGeometry(attrs, spatialIn, kernel))
        std::copy(g->out.begin(), g->out.end(), out.dims.begin() + 2);
    return out;
}

// ConvInteger (opset 10): x, w, [x_zero_point], [w_zero_point] -> int32.
Expected<KernelBuild> convIntegerFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    for (std::size_t i = 0; i < 2; ++i)
        if (!isByte(ctx.inputs[i].dtype)) return unsupportedType(ctx, ctx.inputs[i].dtype);
    WH_ASSIGN_OR_RETURN(nn::WindowAttrs attrs, nn::parseWindowAttrs(ctx.node));
    const int64_t group = ctx.node.attrInt("group", 1);
    auto run = [attrs, group](Ins in, Outs outs) -> Status {
        return integerConv(*in[0], optionalInput(in, 2), *in[1], optionalInput(in, 3), attrs, group,
                           "ConvInteger", *outs[0]);
    };
    return singleOutput(makeKernel(std::move(run)), convOutputInfo(ctx, attrs, 0, 1, D::kInt32));
}

// QLinearConv (opset 10): x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
// y_zero_point, [B int32] -> y. w's scale and zero point per tensor or per output channel.
Expected<KernelBuild> qlinearConvFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 8));
    for (std::size_t i : {0u, 3u, 7u})
        if (!isByte(ctx.inputs[i].dtype)) return unsupportedType(ctx, ctx.inputs[i].dtype);
    if (ctx.hasInput(8) && ctx.inputs[8].dtype != D::kInt32)
        return unsupportedType(ctx, ctx.inputs[8].dtype);
    WH_ASSIGN_OR_RETURN(nn::WindowAttrs attrs, nn::parseWindowAttrs(ctx.node));
    const int64_t group = ctx.node.attrInt("group", 1);
    auto run = [attrs, group, acc = HostTensor()](Ins in, Outs outs) mutable -> Status {
        WH_RETURN_STATUS_IF_ERROR(checkScalarZero(in[7], "y_zero_point"));
        WH_RETURN_STATUS_IF_ERROR(
            integerConv(*in[0], in[2], *in[3], in[5], attrs, group, "QLinearConv", acc));
        const int64_t M = acc.dim(1);
        const int64_t P = acc.numElements() / std::max<int64_t>(1, acc.dim(0) * M);
        const HostTensor* bias = optionalInput(in, 8);
        if (bias && (bias->dtype() != D::kInt32 || bias->numElements() != M))
            return makeStatus(StatusCode::kBadInput, "QLinearConv: B {} of {}, expected int32 [{}]",
                              dimsToString(bias->dims()), typeName(bias->dtype()), M);
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> xs, scales(*in[1], 1, "x_scale"));
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> ws, scales(*in[4], M, "w_scale"));
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> ys, scales(*in[6], 1, "y_scale"));
        const Requantizer rq(in[7]);
        HostTensor& y = *outs[0];
        y.ensure(rq.type(), acc.dims());
        int32_t* pa = acc.data<int32_t>();
        for (int64_t i = 0; i < acc.numElements(); ++i) {
            const int64_t m = (i / P) % M;
            const int32_t b = bias ? bias->data<int32_t>()[m] : 0;
            rq.put(y, i, pa[i] + b, xs[0] * ws[static_cast<std::size_t>(m)] / ys[0]);
        }
        return Status::ok();
    };
    // Plan::describe() says why this QLinearConv is not on oneDNN's int8 convolution
    // (QLinearConvLowering did not apply, or lowering was off).
    std::string why = qlinearConvLoweringProblem(ctx.node);
    return singleOutput(
        std::make_unique<ExplainedKernel<decltype(run)>>(
            std::move(run), why.empty() ? "int32 loops" : "int32 loops, not QConv: " + why),
        convOutputInfo(ctx, attrs, 0, 3, ctx.inputs[7].dtype));
}

}  // namespace

void registerIntegerOps(KernelRegistry& r) {
    r.add("", "DynamicQuantizeLinear", 11, 18, kRef, dynamicQuantizeFactory);
    r.add("", "MatMulInteger", 10, 18, kRef, matMulIntegerFactory);
    r.add("", "ConvInteger", 10, 18, kRef, convIntegerFactory);
    r.add("", "QLinearMatMul", 10, 22, kRef, qlinearMatMulFactory);
    r.add("", "QLinearConv", 10, 18, kRef, qlinearConvFactory);
}

}  // namespace wh::engine::ref
