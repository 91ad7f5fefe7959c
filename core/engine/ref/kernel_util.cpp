#include "core/engine/ref/kernel_util.h"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

namespace wh::engine::ref {

float halfToFloat(Half h) {
    const uint32_t sign = (h.bits >> 15) & 1, exp = (h.bits >> 10) & 0x1f, mant = h.bits & 0x3ff;
    float v;
    if (exp == 0)
        v = std::ldexp(static_cast<float>(mant), -24);
    else if (exp == 31)
        v = mant ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
    else
        v = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
    return sign ? -v : v;
}

Half doubleToHalf(double v) {
    uint16_t sign = std::signbit(v) ? 0x8000 : 0;
    if (std::isnan(v)) return {static_cast<uint16_t>(sign | 0x7e00)};
    double a = std::fabs(v);
    if (a >= 65520.0) return {static_cast<uint16_t>(sign | 0x7c00)};  // rounds to infinity
    if (a < std::ldexp(1.0, -14)) {
        // Subnormal (or zero): units of 2^-24, rounded to nearest even.
        const double units = std::nearbyint(std::ldexp(a, 24));  // default mode: ties to even
        return {static_cast<uint16_t>(sign | static_cast<uint16_t>(units))};
    }
    int e;
    const double m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
    // 11 significant bits: mantissa units of 2^(e-11).
    double units = std::nearbyint(std::ldexp(m, 11));  // in [1024, 2048]
    if (units >= 2048.0) {
        units /= 2.0;
        ++e;
    }
    const int biased = e - 1 + 15;
    if (biased >= 31) return {static_cast<uint16_t>(sign | 0x7c00)};
    const uint16_t mant = static_cast<uint16_t>(static_cast<uint32_t>(units) - 1024);
    return {static_cast<uint16_t>(sign | (biased << 10) | mant)};
}

float bfloat16ToFloat(BFloat16 b) {
    return std::bit_cast<float>(static_cast<uint32_t>(b.bits) << 16);
}

BFloat16 floatToBFloat16(float f) {
    uint32_t u = std::bit_cast<uint32_t>(f);
    if (std::isnan(f)) return {static_cast<uint16_t>((u >> 16) | 0x40)};
    u += 0x7fff + ((u >> 16) & 1);  // round to nearest even
    return {static_cast<uint16_t>(u >> 16)};
}

Expected<int> normalizeAxis(int64_t axis, int64_t rank, std::string_view what) {
    if (axis < -rank || axis >= rank)
        return error(StatusCode::kBadInput, "{} {} is out of range for rank {}", what, axis, rank);
    return static_cast<int>(axis < 0 ? axis + rank : axis);
}

std::string typeName(ir::DType dtype) {
    return dtype == ir::DType::kUndefined ? std::string("undefined")
                                          : std::string(ir::dtypeName(dtype));
}

Expected<KernelBuild> unsupportedType(const KernelContext& ctx, ir::DType t) {
    return error(StatusCode::kUnsupported, "{}: element type {} is not supported", ctx.where(),
                 typeName(t));
}

Status requireInputs(const KernelContext& ctx, int n) {
    for (int i = 0; i < n; ++i)
        if (!ctx.hasInput(i))
            return makeStatus(StatusCode::kBadInput, "{}: input {} is missing", ctx.where(), i);
    return Status::ok();
}

void copyTensor(const HostTensor& in, HostTensor& out, const Dims& dims) {
    out.ensure(in.dtype(), dims);
    if (in.dtype() == ir::DType::kString)
        out.strings() = in.strings();
    else if (in.byteSize())
        std::memcpy(out.raw(), in.raw(), in.byteSize());
}

Expected<SliceGeometry> sliceGeometry(const Dims& dims, const SliceParams& p) {
    const auto rank = static_cast<int64_t>(dims.size());
    SliceGeometry g;
    g.start.assign(dims.size(), 0);
    g.step.assign(dims.size(), 1);
    g.out = dims;
    if (p.starts.size() != p.ends.size())
        return error(StatusCode::kBadInput, "{} starts but {} ends", p.starts.size(),
                     p.ends.size());
    if (!p.axes.empty() && p.axes.size() != p.starts.size())
        return error(StatusCode::kBadInput, "{} axes for {} starts", p.axes.size(),
                     p.starts.size());
    if (!p.steps.empty() && p.steps.size() != p.starts.size())
        return error(StatusCode::kBadInput, "{} steps for {} starts", p.steps.size(),
                     p.starts.size());
    std::vector<bool> seen(dims.size(), false);
    for (std::size_t k = 0; k < p.starts.size(); ++k) {
        WH_ASSIGN_OR_RETURN(
            int axis, normalizeAxis(p.axes.empty() ? static_cast<int64_t>(k) : p.axes[k], rank,
                                    "slice axis"));
        const auto a = static_cast<std::size_t>(axis);
        if (seen[a]) return error(StatusCode::kBadInput, "axis {} is sliced twice", axis);
        seen[a] = true;
        const int64_t step = p.steps.empty() ? 1 : p.steps[k];
        if (step == 0) return error(StatusCode::kBadInput, "slice step is 0 on axis {}", axis);
        g.step[a] = step;
        const int64_t dim = dims[a];
        if (dim < 0) {
            g.out[a] = -1;
            continue;
        }
        // Clamp as the spec says: [0, dim] for positive steps, [-1, dim-1] for negative ones.
        int64_t start = p.starts[k], end = p.ends[k];
        if (start < 0) start = start < -dim ? 0 : start + dim;
        if (end < 0) end = end < -dim ? -1 : end + dim;
        int64_t len;
        if (step > 0) {
            start = std::clamp<int64_t>(start, 0, dim);
            end = std::clamp<int64_t>(end, 0, dim);
            len = end > start ? (end - start + step - 1) / step : 0;
        } else {
            start = std::clamp<int64_t>(start, 0, dim - 1);
            end = std::clamp<int64_t>(end, -1, dim - 1);
            len = start > end ? (start - end + (-step) - 1) / (-step) : 0;
        }
        g.start[a] = len > 0 ? start : 0;
        g.out[a] = len;
    }
    return g;
}

}  // namespace wh::engine::ref
