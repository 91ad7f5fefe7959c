#pragma once
/// Helpers shared by the reference kernels: element types as C++ types (float16/bfloat16
/// included), dispatch from ir::DType to a template, a kernel made from a lambda (one virtual
/// call per run, none per element), and small attribute/axis helpers.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/engine/kernel.h"

namespace wh::engine::ref {

/// IEEE half, stored as bits. Conversions round to nearest even.
struct Half {
    uint16_t bits = 0;
};
/// bfloat16, stored as bits (the upper half of a float). Conversions round to nearest even.
struct BFloat16 {
    uint16_t bits = 0;
};

float halfToFloat(Half h);
/// From double directly (not via float), so double→float16 does not round twice.
Half doubleToHalf(double v);
float bfloat16ToFloat(BFloat16 b);
BFloat16 floatToBFloat16(float f);

/// `To` from `From` with C++ semantics for the built-in types (float→int truncates), bool as
/// != 0, and float16/bfloat16 through float/double.
template <class To, class From>
inline To convertValue(From v) {
    if constexpr (std::is_same_v<From, Half>) {
        return convertValue<To>(halfToFloat(v));
    } else if constexpr (std::is_same_v<From, BFloat16>) {
        return convertValue<To>(bfloat16ToFloat(v));
    } else if constexpr (std::is_same_v<To, Half>) {
        return doubleToHalf(static_cast<double>(v));
    } else if constexpr (std::is_same_v<To, BFloat16>) {
        return floatToBFloat16(static_cast<float>(v));
    } else if constexpr (std::is_same_v<To, bool>) {
        return v != From(0);
    } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
        // NaN and out-of-range values are undefined in C++; give 0 / saturate instead.
        if (std::isnan(v)) return To(0);
        if (v >= static_cast<From>(std::numeric_limits<To>::max()))
            return std::numeric_limits<To>::max();
        if (v <= static_cast<From>(std::numeric_limits<To>::lowest()))
            return std::numeric_limits<To>::lowest();
        return static_cast<To>(v);
    } else {
        return static_cast<To>(v);
    }
}

/// The C++ type of a dtype (bool is stored as one byte, as `bool`).
template <ir::DType D>
struct CType;
#define WH_REF_CTYPE(dt, T)       \
    template <>                   \
    struct CType<ir::DType::dt> { \
        using type = T;           \
    };
WH_REF_CTYPE(kFloat, float)
WH_REF_CTYPE(kDouble, double)
WH_REF_CTYPE(kFloat16, Half)
WH_REF_CTYPE(kBFloat16, BFloat16)
WH_REF_CTYPE(kInt8, int8_t)
WH_REF_CTYPE(kInt16, int16_t)
WH_REF_CTYPE(kInt32, int32_t)
WH_REF_CTYPE(kInt64, int64_t)
WH_REF_CTYPE(kUInt8, uint8_t)
WH_REF_CTYPE(kUInt16, uint16_t)
WH_REF_CTYPE(kUInt32, uint32_t)
WH_REF_CTYPE(kUInt64, uint64_t)
WH_REF_CTYPE(kBool, bool)
#undef WH_REF_CTYPE

/// Type sets for dispatch.
enum class TypeSet {
    kFloat,  ///< float, double
    kReal,   ///< float, double and every integer type (not bool, not float16)
    kAll,    ///< kReal + bool, float16, bfloat16
};

/// Calls `f(T{})` with the C++ type of `dtype` when it is in `set`; otherwise returns nullopt.
/// `f` returns R.
template <TypeSet set, class F>
auto dispatch(ir::DType dtype, F&& f) -> std::optional<decltype(f(float{}))> {
    using D = ir::DType;
    switch (dtype) {
        case D::kFloat:
            return f(float{});
        case D::kDouble:
            return f(double{});
        default:
            break;
    }
    if constexpr (set == TypeSet::kReal || set == TypeSet::kAll) {
        switch (dtype) {
            case D::kInt8:
                return f(int8_t{});
            case D::kInt16:
                return f(int16_t{});
            case D::kInt32:
                return f(int32_t{});
            case D::kInt64:
                return f(int64_t{});
            case D::kUInt8:
                return f(uint8_t{});
            case D::kUInt16:
                return f(uint16_t{});
            case D::kUInt32:
                return f(uint32_t{});
            case D::kUInt64:
                return f(uint64_t{});
            default:
                break;
        }
    }
    if constexpr (set == TypeSet::kAll) {
        switch (dtype) {
            case D::kBool:
                return f(bool{});
            case D::kFloat16:
                return f(Half{});
            case D::kBFloat16:
                return f(BFloat16{});
            default:
                break;
        }
    }
    return std::nullopt;
}

/// A Kernel whose run() is a callable (a lambda capturing what the factory computed).
template <class Fn>
class FnKernel final : public Kernel {
public:
    explicit FnKernel(Fn fn) : m_fn(std::move(fn)) {}
    Status run(std::span<const HostTensor* const> inputs,
               std::span<HostTensor* const> outputs) override {
        return m_fn(inputs, outputs);
    }

private:
    Fn m_fn;
};

template <class Fn>
std::unique_ptr<Kernel> makeKernel(Fn fn) {
    return std::make_unique<FnKernel<Fn>>(std::move(fn));
}

/// A build with one kernel and one output.
inline KernelBuild singleOutput(std::unique_ptr<Kernel> kernel, TensorInfo out) {
    KernelBuild b;
    b.kernel = std::move(kernel);
    b.outputs.push_back(std::move(out));
    return b;
}

/// TensorInfo with dtype and dims (rank known).
/// True for uint8 and int8, the element types of quantized tensors.
inline bool isByte(ir::DType t) {
    return t == ir::DType::kUInt8 || t == ir::DType::kInt8;
}
/// Element `i` of a uint8 or int8 tensor.
inline int32_t byteAt(const HostTensor& t, int64_t i) {
    return t.dtype() == ir::DType::kUInt8 ? static_cast<int32_t>(t.data<uint8_t>()[i])
                                          : static_cast<int32_t>(t.data<int8_t>()[i]);
}

inline TensorInfo infoOf(ir::DType dtype, Dims dims) {
    TensorInfo t;
    t.dtype = dtype;
    t.dims = std::move(dims);
    return t;
}
/// TensorInfo of unknown rank.
inline TensorInfo unknownRank(ir::DType dtype) {
    TensorInfo t;
    t.dtype = dtype;
    t.rankKnown = false;
    return t;
}
/// Same rank as `in`, every dim unknown (or unknown rank).
inline TensorInfo unknownDimsLike(ir::DType dtype, const TensorInfo& in) {
    if (!in.rankKnown) return unknownRank(dtype);
    return infoOf(dtype, Dims(in.dims.size(), -1));
}

/// Normalises `axis` into [0, rank); error naming `what` when out of range.
Expected<int> normalizeAxis(int64_t axis, int64_t rank, std::string_view what);

/// A Slice's parameters (starts and ends; axes and steps may be empty: all axes from 0, step 1).
struct SliceParams {
    std::vector<int64_t> starts, ends, axes, steps;
};
/// Per-axis start, step and length of a slice of `dims` (ONNX clamping rules); axes not sliced
/// get start 0, step 1, full length. A dim of -1 gives length -1 where it is sliced. The Slice
/// kernel and its gradient share it.
struct SliceGeometry {
    std::vector<int64_t> start, step;
    Dims out;
};
Expected<SliceGeometry> sliceGeometry(const Dims& dims, const SliceParams& p);

/// The dtype name of a possibly undefined type, for messages.
std::string typeName(ir::DType dtype);

/// A tensor seen as [outer, n, inner] around one axis: the product of the dims before it, the
/// axis' own dim and the product of the dims after it.
struct AxisSplit {
    int64_t outer = 1, n = 1, inner = 1;
};
inline AxisSplit axisSplit(const Dims& dims, std::size_t axis) {
    AxisSplit s;
    for (std::size_t i = 0; i < axis; ++i) s.outer *= dims[i];
    s.n = dims[axis];
    for (std::size_t i = axis + 1; i < dims.size(); ++i) s.inner *= dims[i];
    return s;
}

/// kUnsupported: "node 'x' (Op): element type T is not supported".
Expected<KernelBuild> unsupportedType(const KernelContext& ctx, ir::DType t);
/// kBadInput naming the first of the node's first `n` inputs that is omitted.
Status requireInputs(const KernelContext& ctx, int n);

/// Copies `in` into `out` (ensure + memcpy; strings copied).
void copyTensor(const HostTensor& in, HostTensor& out, const Dims& dims);

/// The output stage of the reference int8 layers (QConv, QMatMul): `v` through the activation
/// ("" | "Relu" | "Clip" to [lo, hi]), then QuantizeLinear — round half to even (nearbyint in
/// the default FE_TONEAREST mode), plus the zero point, saturated to y's uint8 or int8 grid —
/// stored as element `i` of `y`.
inline void storeRequantized(HostTensor& y, int64_t i, float v, std::string_view activation,
                             float lo, float hi, float scale, float zeroPoint) {
    if (activation == "Relu") v = std::max(v, 0.0f);
    if (activation == "Clip") v = std::min(std::max(v, lo), hi);
    float q = std::nearbyint(v / scale) + zeroPoint;
    if (std::isnan(q)) q = 0.0f;
    if (y.dtype() == ir::DType::kUInt8)
        y.data<uint8_t>()[i] = static_cast<uint8_t>(std::clamp(q, 0.0f, 255.0f));
    else
        y.data<int8_t>()[i] = static_cast<int8_t>(std::clamp(q, -128.0f, 127.0f));
}

}  // namespace wh::engine::ref
