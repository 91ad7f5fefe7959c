// Reference kernels of the operator format that dynamic quantization tools emit:
// DynamicQuantizeLinear (float -> uint8 with the tensor's own scale and zero point) and
// MatMulInteger (uint8/int8 x uint8/int8 -> int32, with zero points per tensor, per row of A or
// per column of B; leading dims broadcast as numpy's matmul, ranks >= 2).

#include <algorithm>
#include <cmath>

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
        return error(StatusCode::kBadInput, "{} has {} elements, expected 1 or {}", what, n,
                     count);
    for (int64_t i = 0; i < count; ++i) z[static_cast<std::size_t>(i)] = byteAt(*zp, n == 1 ? 0 : i);
    return z;
}

Expected<KernelBuild> matMulIntegerFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    for (std::size_t i = 0; i < 2; ++i)
        if (!isByte(ctx.inputs[i].dtype)) return unsupportedType(ctx, ctx.inputs[i].dtype);
    auto run = [](Ins in, Outs outs) -> Status {
        const HostTensor& a = *in[0];
        const HostTensor& b = *in[1];
        if (a.rank() < 2 || b.rank() < 2)
            return makeStatus(StatusCode::kUnsupported, "MatMulInteger of rank {} x {} (2 or more)",
                              a.rank(), b.rank());
        const Dims& ad = a.dims();
        const Dims& bd = b.dims();
        const int64_t M = ad[ad.size() - 2], K = ad.back(), N = bd.back();
        if (bd[bd.size() - 2] != K)
            return makeStatus(StatusCode::kBadInput, "A {} and B {} do not chain", dimsToString(ad),
                              dimsToString(bd));
        const Dims aBatch(ad.begin(), ad.end() - 2), bBatch(bd.begin(), bd.end() - 2);
        WH_ASSIGN_OR_RETURN_STATUS(Dims batch, broadcastDims(aBatch, bBatch));
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<int32_t> za,
                                   zeroPoints(in.size() > 2 ? in[2] : nullptr, M, "a_zero_point"));
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<int32_t> zb,
                                   zeroPoints(in.size() > 3 ? in[3] : nullptr, N, "b_zero_point"));
        Dims od = batch;
        od.push_back(M);
        od.push_back(N);
        HostTensor& y = *outs[0];
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
                const std::ptrdiff_t ownAxis =
                    static_cast<std::ptrdiff_t>(k) - static_cast<std::ptrdiff_t>(batch.size() - own.size());
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
    };
    return singleOutput(makeKernel(std::move(run)), unknownRank(D::kInt32));
}

}  // namespace

void registerIntegerOps(KernelRegistry& r) {
    r.add("", "DynamicQuantizeLinear", 11, 18, kRef, dynamicQuantizeFactory);
    r.add("", "MatMulInteger", 10, 18, kRef, matMulIntegerFactory);
}

}  // namespace wh::engine::ref
