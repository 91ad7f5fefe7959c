#pragma once
/// SSE2 (and AVX2) building blocks of the int8 elementwise kernels (QAdd, per-tensor QuantizeLinear and
/// DequantizeLinear): 16 bytes widened to four float vectors, and four float vectors rounded
/// and narrowed to 16 bytes. SSE2 is the x86-64 baseline the project is built for; GCC does not
/// vectorise these loops itself (the float clamps before rounding are control flow to it).
///
/// Rounding: _mm_cvtps_epi32 rounds in the MXCSR mode, round to nearest even by default — what
/// QuantizeLinear (and std::nearbyint in FE_TONEAREST, the reference kernels' rounding) does.
/// Callers clamp the value to the output range minus the zero point *before* rounding, which
/// saturates exactly as rounding then clamping does, and keeps the int32 conversion in range.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <immintrin.h>

namespace wh::engine::simd {

/// 16 bytes as 4 vectors of 4 int32, in order.
inline void widen(const uint8_t* p, __m128i out[4]) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i zero = _mm_setzero_si128();
    const __m128i lo = _mm_unpacklo_epi8(v, zero), hi = _mm_unpackhi_epi8(v, zero);
    out[0] = _mm_unpacklo_epi16(lo, zero);
    out[1] = _mm_unpackhi_epi16(lo, zero);
    out[2] = _mm_unpacklo_epi16(hi, zero);
    out[3] = _mm_unpackhi_epi16(hi, zero);
}

inline void widen(const int8_t* p, __m128i out[4]) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Each byte into the top of a wider lane, then an arithmetic shift down: sign extension.
    const __m128i lo = _mm_unpacklo_epi8(v, v), hi = _mm_unpackhi_epi8(v, v);
    out[0] = _mm_srai_epi32(_mm_unpacklo_epi16(lo, lo), 24);
    out[1] = _mm_srai_epi32(_mm_unpackhi_epi16(lo, lo), 24);
    out[2] = _mm_srai_epi32(_mm_unpacklo_epi16(hi, hi), 24);
    out[3] = _mm_srai_epi32(_mm_unpackhi_epi16(hi, hi), 24);
}

/// Rounds 4x4 floats (already clamped to the output range minus the zero point) to nearest
/// even, adds the zero point and stores 16 bytes.
inline void narrow(const __m128 t[4], __m128i zero, uint8_t* p) {
    __m128i q[4];
    for (int j = 0; j < 4; ++j) q[j] = _mm_add_epi32(_mm_cvtps_epi32(t[j]), zero);
    const __m128i w = _mm_packus_epi16(_mm_packs_epi32(q[0], q[1]), _mm_packs_epi32(q[2], q[3]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), w);
}

inline void narrow(const __m128 t[4], __m128i zero, int8_t* p) {
    __m128i q[4];
    for (int j = 0; j < 4; ++j) q[j] = _mm_add_epi32(_mm_cvtps_epi32(t[j]), zero);
    const __m128i w = _mm_packs_epi16(_mm_packs_epi32(q[0], q[1]), _mm_packs_epi32(q[2], q[3]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), w);
}

// Per-tensor QuantizeLinear and DequantizeLinear to and from 8 bits, the case of every
// activation quantizer in a QDQ model: SSE2 16 elements at a time, threaded over blocks of large
// tensors; bit for bit the reference's general loops (core/engine/ref/quant_ops.cpp: the same
// float division and multiplication, rounding to nearest even, NaN quantizing to 0). Layout
// agnostic: the oneDNN DequantizeLinear runs it on nhwc tensors.
inline constexpr int64_t kBlock = 1 << 14;
inline constexpr int64_t kThreadedFrom = 1 << 17;

template <class Q>
void quantizeRange(const float* x, float scale, float zero, Q* y, int64_t begin, int64_t end) {
    // v / scale clamped to the output range minus the zero point saturates as rounding then
    // clamping does.
    const float lo = static_cast<float>(std::numeric_limits<Q>::lowest()) - zero;
    const float hi = static_cast<float>(std::numeric_limits<Q>::max()) - zero;
    const __m128 s = _mm_set1_ps(scale), tLo = _mm_set1_ps(lo), tHi = _mm_set1_ps(hi);
    const __m128 nanValue = _mm_set1_ps(-zero);
    const __m128i z = _mm_set1_epi32(static_cast<int>(zero));
    int64_t i = begin;
    for (; i + 16 <= end; i += 16) {
        __m128 t[4];
        for (int j = 0; j < 4; ++j) {
            __m128 v = _mm_div_ps(_mm_loadu_ps(x + i + 4 * j), s);
            const __m128 ordered = _mm_cmpord_ps(v, v);
            v = _mm_or_ps(_mm_and_ps(ordered, v), _mm_andnot_ps(ordered, nanValue));
            t[j] = _mm_min_ps(_mm_max_ps(v, tLo), tHi);
        }
        simd::narrow(t, z, y + i);
    }
    for (; i < end; ++i) {
        float q = std::nearbyint(x[i] / scale) + zero;
        if (std::isnan(q)) q = 0.0f;
        y[i] = static_cast<Q>(std::clamp(q, lo + zero, hi + zero));
    }
}

template <class Q>
void quantizePerTensor(const float* x, float scale, float zero, Q* y, int64_t n) {
    const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (n > kThreadedFrom)
    for (int64_t b = 0; b < blocks; ++b)
        quantizeRange(x, scale, zero, y, b * kBlock, std::min(n, (b + 1) * kBlock));
}

template <class Q>
void dequantizeRange(const Q* x, float scale, int zero, float* y, int64_t begin, int64_t end) {
    const __m128 s = _mm_set1_ps(scale);
    const __m128i z = _mm_set1_epi32(zero);
    int64_t i = begin;
    for (; i + 16 <= end; i += 16) {
        __m128i w[4];
        simd::widen(x + i, w);
        for (int j = 0; j < 4; ++j)
            _mm_storeu_ps(y + i + 4 * j, _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(w[j], z)), s));
    }
    for (; i < end; ++i) y[i] = static_cast<float>(static_cast<int>(x[i]) - zero) * scale;
}

template <class Q>
void dequantizePerTensor(const Q* x, float scale, int zero, float* y, int64_t n) {
    const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (n > kThreadedFrom)
    for (int64_t b = 0; b < blocks; ++b)
        dequantizeRange(x, scale, zero, y, b * kBlock, std::min(n, (b + 1) * kBlock));
}

// AVX2 variants, for functions compiled with __attribute__((target("avx2"))) and called only
// where the CPU has it (hasAvx2()).

inline bool hasAvx2() {
    static const bool has = __builtin_cpu_supports("avx2");
    return has;
}

/// 32 bytes as 4 vectors of 8 int32, in order.
__attribute__((target("avx2"))) inline void widen8(const uint8_t* p, __m256i out[4]) {
    for (int j = 0; j < 4; ++j)
        out[j] = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8 * j)));
}

__attribute__((target("avx2"))) inline void widen8(const int8_t* p, __m256i out[4]) {
    for (int j = 0; j < 4; ++j)
        out[j] = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8 * j)));
}

/// narrow() for 4x8 floats: 32 bytes. The packs work within 128-bit lanes; the final
/// permutation puts the 4-byte groups back in order.
template <class Q>  // uint8_t or int8_t
__attribute__((target("avx2"))) inline void narrow8(const __m256 t[4], __m256i zero, Q* p) {
    __m256i q[4];
    for (int j = 0; j < 4; ++j) q[j] = _mm256_add_epi32(_mm256_cvtps_epi32(t[j]), zero);
    const __m256i lo = _mm256_packs_epi32(q[0], q[1]), hi = _mm256_packs_epi32(q[2], q[3]);
    const __m256i w = std::is_unsigned_v<Q> ? _mm256_packus_epi16(lo, hi)
                                             : _mm256_packs_epi16(lo, hi);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm256_permutevar8x32_epi32(w, order));
}

}  // namespace wh::engine::simd
