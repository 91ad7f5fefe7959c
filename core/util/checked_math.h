#pragma once
/// Integer arithmetic that reports overflow instead of wrapping: for sizes computed from values a
/// model supplies at run time (a ConstantOfShape shape, Pad pads, Resize scales).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace wh {

/// a * b, or nullopt when it does not fit.
template <class T>
std::optional<T> checkedMul(T a, T b) {
    T r;
    if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
    return r;
}

/// a + b, or nullopt when it does not fit.
template <class T>
std::optional<T> checkedAdd(T a, T b) {
    T r;
    if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
    return r;
}

/// Product of `dims` (1 when empty), or nullopt when it overflows int64. Negative factors are
/// multiplied as they are (callers decide what an unknown dim means).
inline std::optional<int64_t> checkedProduct(std::span<const int64_t> dims) {
    int64_t n = 1;
    for (int64_t d : dims)
        if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
    return n;
}

/// Bytes of `count` elements of `elemSize` bytes, or nullopt when count is negative or the
/// product does not fit in size_t.
inline std::optional<std::size_t> checkedBytes(int64_t count, std::size_t elemSize) {
    if (count < 0) return std::nullopt;
    return checkedMul(static_cast<std::size_t>(count), elemSize);
}

}  // namespace wh
