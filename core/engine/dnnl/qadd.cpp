// QAdd (core/engine/qadd.h) on same-shaped operands: one vectorised, threaded loop over the
// bytes, in the layout the operands arrive in — nhwc from the int8 convolutions, so a residual
// Add between two QConvs converts nothing — and y written in that layout. A plain operand next
// to an nhwc one is transposed first (a loop, transposeBytes). Broadcasting and other layouts
// are left to the reference kernel (kUnsupported).
//
// Bit for bit the reference's arithmetic: the same float operations in the same order (no
// reciprocal of y_scale, no fused multiply-add), rounded to nearest even by the int32
// conversion (quant_simd.h). AVX2 where the CPU has it, else SSE2.

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/engine/dnnl/dnnl_common.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/kernel_implementation.h"
#include "core/engine/qadd.h"
#include "core/engine/quant_simd.h"

namespace wh::engine::dnnlk {

namespace {

using ir::DType;
using tag = dnnl::memory::format_tag;

bool isByte(DType t) {
    return t == DType::kUInt8 || t == DType::kInt8;
}

float byteValue(const HostTensor& t) {
    return t.dtype() == DType::kUInt8 ? static_cast<float>(t.data<uint8_t>()[0])
                                      : static_cast<float>(t.data<int8_t>()[0]);
}

/// The constants of one QAdd: dequantization of a and b, the activation's bounds on v, and the
/// bounds of v / y_scale that saturate to the output range.
struct QAddConstants {
    float aScale, aZero, bScale, bZero, yScale, yZero;
    float actLo, actHi;  // -inf / +inf without activation
    float tLo, tHi;      // y's range minus y_zero_point
};

// Elements [begin, end): 16 at a time in SSE2, the rest one by one.
template <class A, class B, class Y>
void qaddRange(const A* a, const B* b, Y* y, int64_t begin, int64_t end, const QAddConstants& k) {
    const __m128 as = _mm_set1_ps(k.aScale), az = _mm_set1_ps(k.aZero);
    const __m128 bs = _mm_set1_ps(k.bScale), bz = _mm_set1_ps(k.bZero);
    const __m128 ys = _mm_set1_ps(k.yScale), lo = _mm_set1_ps(k.actLo), hi = _mm_set1_ps(k.actHi);
    const __m128 tLo = _mm_set1_ps(k.tLo), tHi = _mm_set1_ps(k.tHi);
    const __m128i yz = _mm_set1_epi32(static_cast<int>(k.yZero));
    int64_t i = begin;
    for (; i + 16 <= end; i += 16) {
        __m128i wa[4], wb[4];
        simd::widen(a + i, wa);
        simd::widen(b + i, wb);
        __m128 t[4];
        for (int j = 0; j < 4; ++j) {
            const __m128 va = _mm_mul_ps(_mm_sub_ps(_mm_cvtepi32_ps(wa[j]), az), as);
            const __m128 vb = _mm_mul_ps(_mm_sub_ps(_mm_cvtepi32_ps(wb[j]), bz), bs);
            const __m128 v = _mm_min_ps(_mm_max_ps(_mm_add_ps(va, vb), lo), hi);
            t[j] = _mm_min_ps(_mm_max_ps(_mm_div_ps(v, ys), tLo), tHi);
        }
        simd::narrow(t, yz, y + i);
    }
    for (; i < end; ++i) {
        const float v = (static_cast<float>(a[i]) - k.aZero) * k.aScale +
                        (static_cast<float>(b[i]) - k.bZero) * k.bScale;
        const float t = std::clamp(std::min(std::max(v, k.actLo), k.actHi) / k.yScale, k.tLo, k.tHi);
        y[i] = static_cast<Y>(std::nearbyint(t) + k.yZero);
    }
}

// The same with AVX2, 32 elements at a time.
template <class A, class B, class Y>
__attribute__((target("avx2"))) void qaddRangeAvx2(const A* a, const B* b, Y* y, int64_t begin,
                                                   int64_t end, const QAddConstants& k) {
    const __m256 as = _mm256_set1_ps(k.aScale), az = _mm256_set1_ps(k.aZero);
    const __m256 bs = _mm256_set1_ps(k.bScale), bz = _mm256_set1_ps(k.bZero);
    const __m256 ys = _mm256_set1_ps(k.yScale), lo = _mm256_set1_ps(k.actLo);
    const __m256 hi = _mm256_set1_ps(k.actHi);
    const __m256 tLo = _mm256_set1_ps(k.tLo), tHi = _mm256_set1_ps(k.tHi);
    const __m256i yz = _mm256_set1_epi32(static_cast<int>(k.yZero));
    int64_t i = begin;
    for (; i + 32 <= end; i += 32) {
        __m256i wa[4], wb[4];
        simd::widen8(a + i, wa);
        simd::widen8(b + i, wb);
        __m256 t[4];
        for (int j = 0; j < 4; ++j) {
            const __m256 va = _mm256_mul_ps(_mm256_sub_ps(_mm256_cvtepi32_ps(wa[j]), az), as);
            const __m256 vb = _mm256_mul_ps(_mm256_sub_ps(_mm256_cvtepi32_ps(wb[j]), bz), bs);
            const __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(va, vb), lo), hi);
            t[j] = _mm256_min_ps(_mm256_max_ps(_mm256_div_ps(v, ys), tLo), tHi);
        }
        simd::narrow8(t, yz, y + i);
    }
    qaddRange(a, b, y, i, end, k);
}

template <class A, class B, class Y>
void qaddLoop(const A* a, const B* b, Y* y, int64_t n, const QAddConstants& k) {
    constexpr int64_t block = 1 << 14;
    const int64_t blocks = (n + block - 1) / block;
    // Threads only pay off past a few tens of microseconds of work (a batch-1 ResNet-20 tensor
    // is 16K elements, a few microseconds).
#pragma omp parallel for schedule(static) if (n > (1 << 17))
    for (int64_t j = 0; j < blocks; ++j) {
        const int64_t begin = j * block, end = std::min(n, begin + block);
        if (simd::hasAvx2())
            qaddRangeAvx2(a, b, y, begin, end, k);
        else
            qaddRange(a, b, y, begin, end, k);
    }
}

template <class A, class B>
void qaddTyped(const void* a, const void* b, void* y, DType yType, int64_t n,
               const QAddConstants& k) {
    const auto* pa = static_cast<const A*>(a);
    const auto* pb = static_cast<const B*>(b);
    if (yType == DType::kUInt8)
        qaddLoop(pa, pb, static_cast<uint8_t*>(y), n, k);
    else
        qaddLoop(pa, pb, static_cast<int8_t*>(y), n, k);
}

void qadd(const void* a, DType aType, const void* b, DType bType, void* y, DType yType, int64_t n,
          const QAddConstants& k) {
    const bool ua = aType == DType::kUInt8, ub = bType == DType::kUInt8;
    if (ua && ub) qaddTyped<uint8_t, uint8_t>(a, b, y, yType, n, k);
    if (ua && !ub) qaddTyped<uint8_t, int8_t>(a, b, y, yType, n, k);
    if (!ua && ub) qaddTyped<int8_t, uint8_t>(a, b, y, yType, n, k);
    if (!ua && !ub) qaddTyped<int8_t, int8_t>(a, b, y, yType, n, k);
}

class QAddKernel final : public DnnlKernel, public KernelImplementation {
public:
    /// `transpose`: the input (0 or 3) that arrives plain while the other is nhwc; -1: none.
    QAddKernel(std::vector<Dims> expected, std::vector<DType> types, QAddConstants k,
               dnnl::memory::desc outDesc, int transpose)
        : DnnlKernel("int8 add", std::move(expected)),
          m_k(k),
          m_outDesc(std::move(outDesc)),
          m_transpose(transpose),
          m_aType(types[0]),
          m_bType(types[3]),
          m_yType(types[7]) {
        setExpectedTypes(std::move(types));
    }

    const dnnl::memory::desc& outputDesc() const { return m_outDesc; }
    std::string implementation() const override {
        return m_transpose < 0 ? "loop" : fmt::format("loop, input {} to nhwc", m_transpose);
    }

protected:
    void execute(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        const HostTensor& a = *in[0];
        const void* pa = a.raw();
        const void* pb = in[3]->raw();
        if (m_transpose >= 0) {
            m_scratch.resize(static_cast<std::size_t>(a.numElements()));
            transposeBytes(in[static_cast<std::size_t>(m_transpose)]->raw(), m_scratch.data(),
                           a.dims(), true);
            (m_transpose == 0 ? pa : pb) = m_scratch.data();
        }
        ensureFor(*out[0], a.dims(), m_outDesc);
        qadd(pa, m_aType, pb, m_bType, out[0]->raw(), m_yType, a.numElements(), m_k);
    }

private:
    QAddConstants m_k;
    dnnl::memory::desc m_outDesc;
    int m_transpose;
    DType m_aType, m_bType, m_yType;
    std::vector<uint8_t> m_scratch;
};

Expected<KernelBuild> buildQAdd(const KernelContext& ctx) {
    const auto& in = ctx.inputs;
    if (in.size() != 8 || !isByte(in[0].dtype) || !isByte(in[3].dtype) || !isByte(in[7].dtype))
        return error(StatusCode::kUnsupported, "{}: the int8 QAdd needs uint8/int8 a, b and y",
                     ctx.where());
    for (int i : {1, 2, 4, 5, 6, 7})
        if (!in[static_cast<std::size_t>(i)].constant)
            return error(StatusCode::kUnsupported, "{}: the int8 QAdd needs constant input {}",
                         ctx.where(), i);
    if (in[1].dtype != DType::kFloat || in[4].dtype != DType::kFloat ||
        in[6].dtype != DType::kFloat || in[2].dtype != in[0].dtype || in[5].dtype != in[3].dtype)
        return error(StatusCode::kBadInput, "{}: expects float scales and zero points of a's and "
                     "b's types", ctx.where());
    const TensorInfo& a = in[0];
    const TensorInfo& b = in[3];
    if (!a.shapeKnown() || a.dims != b.dims)
        return error(StatusCode::kUnsupported,
                     "{}: the int8 QAdd needs equal static shapes, got {} and {} (broadcasting "
                     "is the reference kernel's)",
                     ctx.where(), dimsToString(a.dims), dimsToString(b.dims));

    QAddConstants k{};
    k.aScale = in[1].constant->data<float>()[0];
    k.aZero = byteValue(*in[2].constant);
    k.bScale = in[4].constant->data<float>()[0];
    k.bZero = byteValue(*in[5].constant);
    k.yScale = in[6].constant->data<float>()[0];
    k.yZero = byteValue(*in[7].constant);
    constexpr float inf = std::numeric_limits<float>::infinity();
    const std::string act = ctx.node.attrString("activation");
    k.actLo = act == "Relu" ? 0.0f : act == "Clip" ? ctx.node.attrFloat("activation_min", -inf)
                                                   : -inf;
    k.actHi = act == "Clip" ? ctx.node.attrFloat("activation_max", inf) : inf;
    if (!act.empty() && act != "Relu" && act != "Clip")
        return error(StatusCode::kBadInput, "{}: unknown activation '{}'", ctx.where(), act);
    if (!(k.aScale > 0.0f) || !(k.bScale > 0.0f) || !(k.yScale > 0.0f))
        return error(StatusCode::kUnsupported, "{}: the int8 QAdd needs positive scales",
                     ctx.where());
    const bool uy = in[7].dtype == DType::kUInt8;
    k.tLo = (uy ? 0.0f : -128.0f) - k.yZero;
    k.tHi = (uy ? 255.0f : 127.0f) - k.yZero;

    // Layouts: read plain or nhwc operands as they are; anything else the plan makes plain.
    const dnnl::memory::data_type yType = dnnlType(in[7].dtype);
    auto isNhwc = [](const TensorInfo& t) { return isByteNhwc(descOf(t), t.dims); };
    auto isPlain = [](const TensorInfo& t) { return descOf(t) == plainDesc(t.dims, dnnlType(t.dtype)); };
    const bool native = ctx.options.nativeLayouts && !hasForeignLayout(in) &&
                        (isNhwc(a) || isPlain(a)) && (isNhwc(b) || isPlain(b));
    const bool nhwc = native && (isNhwc(a) || isNhwc(b));
    int transpose = -1;
    if (nhwc && !isNhwc(a)) transpose = 0;
    if (nhwc && !isNhwc(b)) transpose = 3;
    const dnnl::memory::desc outDesc =
        nhwc ? dnnl::memory::desc(toDnnl(a.dims), yType, tag::nhwc) : plainDesc(a.dims, yType);

    std::vector<Dims> expected;
    std::vector<DType> types;
    for (const TensorInfo& t : in) {
        expected.push_back(t.dims);
        types.push_back(t.dtype);
    }
    KernelBuild build;
    build.readsLayouts = native;
    TensorInfo out;
    out.dtype = in[7].dtype;
    out.dims = a.dims;
    if (nhwc) out.layout = std::make_shared<DnnlLayout>(a.dims, outDesc);
    build.outputs.push_back(std::move(out));
    build.kernel = std::make_unique<QAddKernel>(std::move(expected), std::move(types), k, outDesc,
                                                transpose);
    return build;
}

}  // namespace

void registerQAdd(KernelRegistry& registry) {
    registry.add(std::string(kWhittleDomain), std::string(kQAddOp), 0, 1, Backend::kDnnl,
                 buildQAdd);
}

}  // namespace wh::engine::dnnlk
