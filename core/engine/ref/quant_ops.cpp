// Reference QuantizeLinear and DequantizeLinear (opsets 10-22), per tensor (scalar or
// one-element scale), per axis (1-D scale along `axis`, opset 13+) and, for DequantizeLinear,
// blocked (opset 21 `block_size`: scale of x's rank, ceil(dim / block_size) along `axis`).
// 4-bit int4/uint4 initializers arrive widened to int8/uint8 (HostTensor::fromIr), so a
// weight-only int4 model's blocked DequantizeLinear runs here (folded when its inputs are constant).
//
//   QuantizeLinear:   y = saturate(round_half_even(x / y_scale) + y_zero_point)
//   DequantizeLinear: y = (x - x_zero_point) * x_scale
//
// Integer types uint8 and int8 (int16/uint16 from opset 21; int32 input to DequantizeLinear);
// the zero point is optional and fixes the quantized type (uint8 without it, or output_dtype
// from opset 21). x / scale is computed in float and rounded with the default rounding mode,
// which is ties-to-even — as ONNX Runtime and the ONNX reference do.

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <limits>

#include "core/engine/quant_simd.h"
#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/nn_common.h"
#include "core/engine/ref/ref_kernels.h"

namespace wh::engine::ref {

namespace {

using ir::DType;
using Inputs = std::span<const HostTensor* const>;
using Outputs = std::span<HostTensor* const>;

bool isQuantType(DType t, int64_t opset) {
    if (t == DType::kUInt8 || t == DType::kInt8) return true;
    return opset >= 21 && (t == DType::kUInt16 || t == DType::kInt16);
}

// How scale and zero point index x: one value, or one per slice along `axis`.
struct QuantLayout {
    int axis = -1;      // -1: per tensor
    int64_t inner = 1;  // elements after the axis
    int64_t channels = 1;
    int64_t block = 0;  // > 0: blocked (opset 21): scale index (o * blocks + c / block) * inner + r
    int64_t blocks = 1;

    // The scale / zero-point index of element `i`.
    int64_t paramIndex(int64_t i) const {
        if (axis < 0) return 0;
        const int64_t c = (i / inner) % channels;
        if (block == 0) return c;
        return ((i / inner / channels) * blocks + c / block) * inner + i % inner;
    }
};

Expected<QuantLayout> layoutOf(const HostTensor& x, const HostTensor& scale,
                               const HostTensor* zeroPoint, int64_t axisAttr, int64_t opset,
                               std::string_view op, int64_t blockSize = 0) {
    QuantLayout l;
    if (zeroPoint && zeroPoint->dims() != scale.dims())
        return error(StatusCode::kBadInput, "{}: zero point {} and scale {} differ in shape", op,
                     dimsToString(zeroPoint->dims()), dimsToString(scale.dims()));
    if (blockSize > 0) {
        // Blocked (opset 21): scale has x's rank and dims, but ceil(dim / block_size) along
        // the axis; element j along the axis uses scale row j / block_size.
        WH_ASSIGN_OR_RETURN(l.axis, normalizeAxis(axisAttr, x.rank(), "axis"));
        l.channels = x.dim(l.axis);
        l.block = blockSize;
        l.blocks = (l.channels + blockSize - 1) / blockSize;
        bool fits = scale.rank() == x.rank();
        for (int d = 0; fits && d < x.rank(); ++d)
            fits = scale.dim(d) == (d == l.axis ? l.blocks : x.dim(d));
        if (!fits)
            return error(StatusCode::kBadInput,
                         "{}: blocked scale {} does not fit x {} with block_size {} along axis {}",
                         op, dimsToString(scale.dims()), dimsToString(x.dims()), blockSize,
                         axisAttr);
        for (int d = l.axis + 1; d < x.rank(); ++d) l.inner *= x.dim(d);
        return l;
    }
    if (scale.rank() <= 1 && scale.numElements() == 1) return l;
    if (scale.rank() == 1 && opset >= 13) {
        WH_ASSIGN_OR_RETURN(l.axis, normalizeAxis(axisAttr, x.rank(), "axis"));
        l.channels = x.dim(l.axis);
        if (scale.numElements() != l.channels)
            return error(StatusCode::kBadInput,
                         "{}: scale {} does not match dim {} of x {} (axis {})", op,
                         dimsToString(scale.dims()), l.axis, dimsToString(x.dims()), axisAttr);
        for (int d = l.axis + 1; d < x.rank(); ++d) l.inner *= x.dim(d);
        return l;
    }
    return error(StatusCode::kUnsupported,
                 "{}-{}: scale of shape {} (blocked quantization or a scale of rank > 1) is not "
                 "implemented",
                 op, opset, dimsToString(scale.dims()));
}

template <class Q>
void quantize(const HostTensor& x, const float* scale, const HostTensor* zp, const QuantLayout& l,
              HostTensor& y) {
    const Q* zpData = zp ? zp->data<Q>() : nullptr;
    if constexpr (sizeof(Q) == 1) {
        if (l.axis < 0 && x.dtype() == DType::kFloat) {
            simd::quantizePerTensor(x.data<float>(), scale[0],
                              zpData ? static_cast<float>(zpData[0]) : 0.0f, y.data<Q>(),
                              x.numElements());
            return;
        }
    }
    Q* yp = y.data<Q>();
    constexpr float lo = static_cast<float>(std::numeric_limits<Q>::lowest());
    constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
    const int64_t n = x.numElements();
    for (int64_t i = 0; i < n; ++i) {
        const int64_t c = l.axis < 0 ? 0 : (i / l.inner) % l.channels;
        const float v = x.dtype() == DType::kFloat ? x.data<float>()[i]
                                                   : static_cast<float>(x.data<int32_t>()[i]);
        const float z = zpData ? static_cast<float>(zpData[c]) : 0.0f;
        // nearbyint in the default FE_TONEAREST mode: round half to even.
        float q = std::nearbyint(v / scale[c]) + z;
        if (std::isnan(q)) q = 0.0f;  // undefined by ONNX; keep it deterministic
        yp[i] = static_cast<Q>(std::clamp(q, lo, hi));
    }
}

template <class Q>
void dequantize(const HostTensor& x, const float* scale, const HostTensor* zp, const QuantLayout& l,
                HostTensor& y) {
    const Q* xp = x.data<Q>();
    const Q* zpData = zp ? zp->data<Q>() : nullptr;
    float* yp = y.data<float>();
    if constexpr (sizeof(Q) == 1) {
        if (l.axis < 0) {
            simd::dequantizePerTensor(xp, scale[0], zpData ? static_cast<int>(zpData[0]) : 0, yp,
                                x.numElements());
            return;
        }
    }
    const int64_t n = x.numElements();
    for (int64_t i = 0; i < n; ++i) {
        const int64_t c = l.paramIndex(i);
        const int64_t z = zpData ? static_cast<int64_t>(zpData[c]) : 0;
        yp[i] = static_cast<float>(static_cast<int64_t>(xp[i]) - z) * scale[c];
    }
}

Status checkScaleFloat(const KernelContext& ctx, int i) {
    if (ctx.inputs[static_cast<std::size_t>(i)].dtype != DType::kFloat)
        return makeStatus(StatusCode::kUnsupported,
                          "{} with a {} scale: the reference takes float scales", ctx.node.opType,
                          typeName(ctx.inputs[static_cast<std::size_t>(i)].dtype));
    return Status::ok();
}

Status checkNotBlocked(const KernelContext& ctx) {
    if (ctx.node.attrInt("block_size", 0) != 0)
        return makeStatus(StatusCode::kUnsupported,
                          "{} with block_size {} (blocked quantization) is not implemented",
                          ctx.node.opType, ctx.node.attrInt("block_size", 0));
    return Status::ok();
}

Expected<KernelBuild> buildQuantize(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(nn::checkArity(ctx, 2));
    const DType xType = ctx.inputs[0].dtype;
    if (xType != DType::kFloat && xType != DType::kInt32)
        return error(StatusCode::kUnsupported,
                     "QuantizeLinear of {}: the reference takes float and int32 inputs",
                     typeName(xType));
    WH_RETURN_IF_ERROR(checkScaleFloat(ctx, 1));
    WH_RETURN_IF_ERROR(checkNotBlocked(ctx));
    DType qType = DType::kUInt8;
    if (ctx.hasInput(2))
        qType = ctx.inputs[2].dtype;
    else if (ctx.opset >= 21 && ctx.node.attrInt("output_dtype", 0) != 0)
        qType = static_cast<DType>(ctx.node.attrInt("output_dtype", 0));
    if (!isQuantType(qType, ctx.opset))
        return error(StatusCode::kUnsupported,
                     "QuantizeLinear-{} to {}: the reference quantizes to uint8 and int8 (and "
                     "16-bit integers from opset 21)",
                     ctx.opset, typeName(qType));
    const int64_t axis = ctx.node.attrInt("axis", 1);
    const int64_t opset = ctx.opset;
    const TensorInfo& xi = ctx.inputs[0];
    TensorInfo out = xi.rankKnown ? infoOf(qType, xi.dims) : unknownRank(qType);
    auto run = [qType, axis, opset](Inputs in, Outputs outs) -> Status {
        const HostTensor& x = *in[0];
        const HostTensor& scale = *in[1];
        const HostTensor* zp = in.size() > 2 ? in[2] : nullptr;
        if (scale.dtype() != DType::kFloat || (zp && zp->dtype() != qType) ||
            (x.dtype() != DType::kFloat && x.dtype() != DType::kInt32))
            return makeStatus(StatusCode::kUnsupported, "QuantizeLinear of {} with {} scale",
                              typeName(x.dtype()), typeName(scale.dtype()));
        WH_ASSIGN_OR_RETURN_STATUS(QuantLayout l,
                                   layoutOf(x, scale, zp, axis, opset, "QuantizeLinear"));
        HostTensor& y = *outs[0];
        y.ensure(qType, x.dims());
        const float* s = scale.data<float>();
        switch (qType) {
            case DType::kUInt8:
                quantize<uint8_t>(x, s, zp, l, y);
                break;
            case DType::kInt8:
                quantize<int8_t>(x, s, zp, l, y);
                break;
            case DType::kUInt16:
                quantize<uint16_t>(x, s, zp, l, y);
                break;
            case DType::kInt16:
                quantize<int16_t>(x, s, zp, l, y);
                break;
            default:
                break;
        }
        return Status::ok();
    };
    return singleOutput(makeKernel(std::move(run)), std::move(out));
}

Expected<KernelBuild> buildDequantize(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(nn::checkArity(ctx, 2));
    const DType xType = ctx.inputs[0].dtype;
    if (!isQuantType(xType, ctx.opset) && xType != DType::kInt32)
        return error(StatusCode::kUnsupported,
                     "DequantizeLinear-{} of {}: the reference takes uint8, int8 and int32 (and "
                     "16-bit integers from opset 21)",
                     ctx.opset, typeName(xType));
    WH_RETURN_IF_ERROR(checkScaleFloat(ctx, 1));
    const int64_t blockSize = ctx.opset >= 21 ? ctx.node.attrInt("block_size", 0) : 0;
    if (blockSize < 0)
        return error(StatusCode::kBadInput, "DequantizeLinear: block_size {} is negative",
                     blockSize);
    if (ctx.hasInput(2) && ctx.inputs[2].dtype != xType)
        return error(StatusCode::kBadInput, "DequantizeLinear: zero point is {}, x is {}",
                     typeName(ctx.inputs[2].dtype), typeName(xType));
    const int64_t axis = ctx.node.attrInt("axis", 1);
    const int64_t opset = ctx.opset;
    const TensorInfo& xi = ctx.inputs[0];
    TensorInfo out = xi.rankKnown ? infoOf(DType::kFloat, xi.dims) : unknownRank(DType::kFloat);
    auto run = [axis, opset, blockSize](Inputs in, Outputs outs) -> Status {
        const HostTensor& x = *in[0];
        const HostTensor& scale = *in[1];
        const HostTensor* zp = in.size() > 2 ? in[2] : nullptr;
        if (scale.dtype() != DType::kFloat || (zp && zp->dtype() != x.dtype()))
            return makeStatus(StatusCode::kUnsupported, "DequantizeLinear of {} with {} scale",
                              typeName(x.dtype()), typeName(scale.dtype()));
        WH_ASSIGN_OR_RETURN_STATUS(
            QuantLayout l, layoutOf(x, scale, zp, axis, opset, "DequantizeLinear", blockSize));
        HostTensor& y = *outs[0];
        y.ensure(DType::kFloat, x.dims());
        const float* s = scale.data<float>();
        switch (x.dtype()) {
            case DType::kUInt8:
                dequantize<uint8_t>(x, s, zp, l, y);
                break;
            case DType::kInt8:
                dequantize<int8_t>(x, s, zp, l, y);
                break;
            case DType::kUInt16:
                dequantize<uint16_t>(x, s, zp, l, y);
                break;
            case DType::kInt16:
                dequantize<int16_t>(x, s, zp, l, y);
                break;
            case DType::kInt32:
                dequantize<int32_t>(x, s, zp, l, y);
                break;
            default:
                return makeStatus(StatusCode::kUnsupported, "DequantizeLinear of {}",
                                  typeName(x.dtype()));
        }
        return Status::ok();
    };
    return singleOutput(makeKernel(std::move(run)), std::move(out));
}

}  // namespace

void registerQuantOps(KernelRegistry& registry) {
    registry.add("", "QuantizeLinear", 10, 22, Backend::kReference, buildQuantize);
    registry.add("", "DequantizeLinear", 10, 22, Backend::kReference, buildDequantize);
}

}  // namespace wh::engine::ref
