#include "core/engine/ref/kernel_util.h"

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

void copyTensor(const HostTensor& in, HostTensor& out, const Dims& dims) {
    out.ensure(in.dtype(), dims);
    if (in.dtype() == ir::DType::kString)
        out.strings() = in.strings();
    else if (in.byteSize())
        std::memcpy(out.raw(), in.raw(), in.byteSize());
}

}  // namespace wh::engine::ref
