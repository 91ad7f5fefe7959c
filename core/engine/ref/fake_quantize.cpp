// FakeQuantize (com.whittle, opset 1): reference kernel, training forward (the "enabled" knob,
// the range observer) and gradient (STE with the clamp mask; LSQ scale and zero-point
// gradients). The formulas are in core/engine/fake_quantize.h.

#include "core/engine/fake_quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <tuple>
#include <vector>

#include "core/engine/channel_blocks.h"
#include "core/engine/ref/grad_util.h"
#include "core/engine/ref/kernel_util.h"

namespace wh::engine {

std::pair<int64_t, int64_t> fakeQuantGrid(int bits, bool narrowRange, bool isUnsigned) {
    const int64_t qmin = isUnsigned ? 0 : -(int64_t{1} << (bits - 1));
    const int64_t qmax = isUnsigned ? (int64_t{1} << bits) - 1 : (int64_t{1} << (bits - 1)) - 1;
    return {qmin + (narrowRange ? 1 : 0), qmax};
}

std::pair<float, float> fakeQuantParamsFromRange(float min, float max, int bits, bool symmetric,
                                                 bool narrowRange, bool isUnsigned) {
    const auto [qminI, qmaxI] = fakeQuantGrid(bits, narrowRange, isUnsigned);
    const double qmin = static_cast<double>(qminI), qmax = static_cast<double>(qmaxI);
    // The seed's observer widens the range to contain 0, so that 0 is exactly representable.
    double lo = std::min<double>(min, 0.0), hi = std::max<double>(max, 0.0);
    if (symmetric) {
        const double m = std::max(std::abs(lo), hi);
        lo = -m;
        hi = m;
    }
    if (!(hi > lo)) return {1.0f, static_cast<float>(std::clamp(0.0, qmin, qmax))};
    const double s = (hi - lo) / (qmax - qmin);
    if (symmetric && !isUnsigned) return {static_cast<float>(s), 0.0f};
    // std::round: half away from zero, as the seed's nudging.
    const double z = std::clamp(std::round(qmin - lo / s), qmin, qmax);
    return {static_cast<float>(s), static_cast<float>(z)};
}

namespace ref {

namespace {

using ir::DType;
using Inputs = std::span<const HostTensor* const>;
using Outputs = std::span<HostTensor* const>;

struct FqAttrs {
    int bits = 8;
    bool isUnsigned = false, narrow = false, symmetric = false, learned = false, observe = false;
    int64_t axis = 1;
    double emaDecay = 0;
    double qmin = 0, qmax = 0;
};

Expected<FqAttrs> readAttrs(const ir::Node& node) {
    FqAttrs a;
    const int64_t bits = node.attrInt("num_bits", 8);
    if (bits < 2 || bits > 8)
        return error(StatusCode::kBadInput, "FakeQuantize: num_bits {} is not in 2..8", bits);
    a.bits = static_cast<int>(bits);
    for (auto [name, field] :
         {std::pair{"unsigned", &a.isUnsigned}, std::pair{"narrow_range", &a.narrow},
          std::pair{"symmetric", &a.symmetric}, std::pair{"learned", &a.learned},
          std::pair{"observe", &a.observe}}) {
        const int64_t v = node.attrInt(name, 0);
        if (v != 0 && v != 1)
            return error(StatusCode::kBadInput, "FakeQuantize: {} is {}, not 0 or 1", name, v);
        *field = v == 1;
    }
    if (a.learned && a.observe)
        return error(StatusCode::kBadInput,
                     "FakeQuantize: learned and observe exclude each other (the scale is either "
                     "trained or observed)");
    a.emaDecay = node.attrFloat("ema_decay", 0.0f);
    if (!(a.emaDecay >= 0 && a.emaDecay < 1))
        return error(StatusCode::kBadInput, "FakeQuantize: ema_decay {} is not in [0, 1)",
                     a.emaDecay);
    a.axis = node.attrInt("axis", 1);
    const auto [qmin, qmax] = fakeQuantGrid(a.bits, a.narrow, a.isUnsigned);
    a.qmin = static_cast<double>(qmin);
    a.qmax = static_cast<double>(qmax);
    return a;
}

template <class T>
Status checkScales(const T* s, int64_t n) {
    for (int64_t c = 0; c < n; ++c)
        if (!(s[c] > T(0)))
            return makeStatus(StatusCode::kBadInput, "FakeQuantize: scale[{}] = {} is not > 0", c,
                              static_cast<double>(s[c]));
    return Status::ok();
}

// ---- Iteration without per-element index arithmetic ------------------------------------------
//
// The kernels below walk X in memory order as *work items*: runs of elements that share one
// scale (or, channel-blocked along axis 1, one 16-vector of scales), so that the inner loops have
// no division and vectorise (#pragma omp simd). Items run in parallel (OpenMP) when X is large;
// reductions (observer ranges, LSQ sums) are kept per item and combined in item order
// afterwards, so results do not depend on the number of threads.
//
// Rounding: u = round_half_even(x / s) without a libm call (baseline x86-64 has no roundps):
// the argument v = x / s is first clamped to [qmin - z - 1, qmax - z + 1], which changes no
// result (rounding and the grid clamp are monotonic: anything beyond those bounds clamps to
// qmin / qmax, and is "below" / "above" for the gradient, either way), and bounds |v| < 2^22;
// then (v + 1.5 * 2^23) - 1.5 * 2^23 rounds it to an integer half to even in the default
// rounding mode (the sum lies in [2^23, 2^24), where the spacing of floats is 1; 1.5 * 2^52 for
// double). A -0 rounds to +0 rather than -0, which no result can see (u + z, u - v). That needs
// |z| bounded too: a channel whose zero point is beyond +-2^20 (or NaN) takes std::nearbyint.
// The division stays a division (not a multiplication by 1 / s) so that the results are
// bit-identical to QuantizeLinear's.

constexpr int64_t kB = kChannelBlock;
// Work item length for runs (elements): fixed, so that partial sums do not depend on threads.
constexpr int64_t kPiece = 16384;
// Below this many elements the kernels stay on the calling thread.
constexpr int64_t kParallelMin = 32768;

// How X's elements meet their scales:
//  - runs (lanes = false): X is [outer][channels][inner], every element of a run of `inner`
//    elements using the scale of its channel. Plain X per channel along axis a: outer = the
//    product of the dims before a, inner = of those after it; per tensor: one run of all
//    elements. Channel-blocked X ([N][C/16][H*W][16]) is such runs too along axis 0 (inner =
//    C*H*W), 2 (outer = N*C/16, inner = W*16) and 3 (outer = N*C/16*H, inner = 16).
//  - lanes (channel-blocked X along axis 1): outer = N, channels = C/16 channel blocks, inner =
//    H*W groups of 16 elements whose 16 lanes are 16 consecutive channels.
struct Geometry {
    bool lanes = false;
    int64_t outer = 1, channels = 1, inner = 1;
    int64_t scales = 1;                // the number of scales (C for lanes)
    int64_t pieces = 1, pieceLen = 1;  // runs are cut into pieces of at most kPiece elements

    int64_t numElements() const { return outer * channels * inner * (lanes ? kB : 1); }
    int64_t items() const { return outer * channels * pieces; }
    // Item `it`: elements [begin, begin + len) of the first scale `scale` (runs), or `len`
    // groups of kB elements from `begin` with scales scale .. scale + 15 (lanes).
    struct Item {
        int64_t begin, len, scale;
    };
    Item item(int64_t it) const {
        if (lanes) return {it * inner * kB, inner, (it % channels) * kB};
        const int64_t run = it / pieces, p = it - run * pieces;
        const int64_t begin = p * pieceLen;
        return {run * inner + begin, std::min(pieceLen, inner - begin), run % channels};
    }
};

Expected<Geometry> geometry(const HostTensor& x, const HostTensor& scale, const HostTensor* zp,
                            int64_t axisAttr, bool blocked) {
    if (zp && zp->dims() != scale.dims())
        return error(StatusCode::kBadInput, "FakeQuantize: zero_point {} and scale {} differ",
                     dimsToString(zp->dims()), dimsToString(scale.dims()));
    if (scale.rank() > 1)
        return error(StatusCode::kBadInput, "FakeQuantize: scale {} is neither a scalar nor 1-D",
                     dimsToString(scale.dims()));
    if (blocked && (x.rank() != 4 || !channelBlockable(x.dims())))
        return error(StatusCode::kInternal, "FakeQuantize: blocked X {} is not nChw16c-able",
                     dimsToString(x.dims()));
    Geometry g;
    g.inner = x.numElements();
    // One scale is per tensor whatever the axis says (it may not even exist).
    if (scale.numElements() != 1) {
        WH_ASSIGN_OR_RETURN(const int axis, normalizeAxis(axisAttr, x.rank(), "FakeQuantize axis"));
        if (scale.numElements() != x.dim(axis)) {
            return error(StatusCode::kBadInput,
                         "FakeQuantize: scale {} does not match dim {} of X {} (axis {})",
                         dimsToString(scale.dims()), axis, dimsToString(x.dims()), axisAttr);
        }
        g.scales = g.channels = x.dim(axis);
        g.outer = g.inner = 1;
        for (int d = 0; d < axis; ++d) g.outer *= x.dim(d);
        for (int d = axis + 1; d < x.rank(); ++d) g.inner *= x.dim(d);
        if (blocked) {
            const int64_t N = x.dim(0), CB = x.dim(1) / kB, H = x.dim(2), W = x.dim(3);
            switch (axis) {
                case 0:  // [N][C*H*W]: as plain
                    break;
                case 1:
                    g.lanes = true;
                    g.outer = N;
                    g.channels = CB;
                    g.inner = H * W;
                    break;
                case 2:  // [N*C/16][H][W*16]
                    g.outer = N * CB;
                    g.inner = W * kB;
                    break;
                default:  // [N*C/16*H][W][16]
                    g.outer = N * CB * H;
                    g.inner = kB;
                    break;
            }
        }
    }
    if (!g.lanes && g.inner > kPiece) {
        g.pieces = (g.inner + kPiece - 1) / kPiece;
        g.pieceLen = (g.inner + g.pieces - 1) / g.pieces;
    } else {
        g.pieceLen = g.inner;
    }
    return g;
}

// Calls f(it) for every work item, in parallel when X is large.
template <class F>
void forItems(const Geometry& g, const F& f) {
    const int64_t items = g.items();
#pragma omp parallel for schedule(static) if (g.numElements() >= kParallelMin)
    for (int64_t it = 0; it < items; ++it) f(it);
}

template <class T>
constexpr T kRoundMagic = T(0x1.8p23f);
template <>
constexpr double kRoundMagic<double> = 0x1.8p52;

// What quantizing with one scale needs: s, z and the bounds [lo, hi] of round's argument.
template <class T>
struct Quant {
    T s = 1, z = 0, lo = 0, hi = 0;
    bool fast = true;  // |z| small enough for the rounding without libm (see above)

    Quant() = default;
    Quant(T scale, T zeroPoint, T qmin, T qmax)
        : s(scale),
          z(zeroPoint),
          lo(qmin - zeroPoint - T(1)),
          hi(qmax - zeroPoint + T(1)),
          fast(std::abs(zeroPoint) <= T(1 << 20)) {}
};

// round(v) half to even (nearbyint in the default rounding mode), v clamped as above first
// when kFast. Comparisons rather than std::min / std::max keep a NaN a NaN.
template <class T, bool kFast>
inline T roundHalfEven(T v, T lo, T hi) {
    if constexpr (kFast) {
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        const T shifted = v + kRoundMagic<T>;  // the rounding to an integer happens here
        return shifted - kRoundMagic<T>;
    } else {
        return std::nearbyint(v);
    }
}

// std::clamp(q, qmin, qmax) (NaN stays NaN).
template <class T>
inline T clampGrid(T q, T qmin, T qmax) {
    return q < qmin ? qmin : qmax < q ? qmax : q;
}

// y = (clamp(round(x / s) + z, qmin, qmax) - z) * s.
template <class T, bool kFast>
inline T quantize(T x, T s, T z, T lo, T hi, T qmin, T qmax) {
    const T q = clampGrid(roundHalfEven<T, kFast>(x / s, lo, hi) + z, qmin, qmax);
    return (q - z) * s;
}

// The scales of item `it`: one (runs) or kB (lanes); false when one of them is not fast.
template <class T>
bool itemQuants(const Geometry& g, const Geometry::Item& r, const T* s, const T* z, T qmin, T qmax,
                Quant<T>* out) {
    bool fast = true;
    for (int64_t l = 0; l < (g.lanes ? kB : 1); ++l) {
        const int64_t c = r.scale + l;
        out[l] = Quant<T>(s[c], z ? z[c] : T(0), qmin, qmax);
        fast = fast && out[l].fast;
    }
    return fast;
}

// The forward over one item.
template <class T, bool kFast>
void forwardItem(const Geometry& g, const Geometry::Item& r, const Quant<T>* qs, const T* x, T* y,
                 T qmin, T qmax) {
    if (g.lanes) {
        T s[kB], z[kB], lo[kB], hi[kB];
        for (int64_t l = 0; l < kB; ++l) {
            s[l] = qs[l].s;
            z[l] = qs[l].z;
            lo[l] = qs[l].lo;
            hi[l] = qs[l].hi;
        }
        for (int64_t k = 0; k < r.len; ++k) {
            const T* px = x + r.begin + k * kB;
            T* py = y + r.begin + k * kB;
#pragma omp simd
            for (int64_t l = 0; l < kB; ++l)
                py[l] = quantize<T, kFast>(px[l], s[l], z[l], lo[l], hi[l], qmin, qmax);
        }
    } else {
        const Quant<T> q = qs[0];
        const T* px = x + r.begin;
        T* py = y + r.begin;
#pragma omp simd
        for (int64_t j = 0; j < r.len; ++j)
            py[j] = quantize<T, kFast>(px[j], q.s, q.z, q.lo, q.hi, qmin, qmax);
    }
}

// y = (clamp(round(x / s) + z, qmin, qmax) - z) * s over X (x may alias y).
template <class T>
Status forward(const HostTensor& x, const HostTensor& scale, const HostTensor* zp, const FqAttrs& a,
               bool blocked, HostTensor& y) {
    WH_ASSIGN_OR_RETURN_STATUS(const Geometry g, geometry(x, scale, zp, a.axis, blocked));
    const T* s = scale.data<T>();
    const T* z = zp ? zp->data<T>() : nullptr;
    WH_RETURN_STATUS_IF_ERROR(checkScales(s, scale.numElements()));
    y.ensure(x.dtype(), x.dims());
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T qmin = static_cast<T>(a.qmin), qmax = static_cast<T>(a.qmax);
    forItems(g, [&](int64_t it) {
        const Geometry::Item r = g.item(it);
        Quant<T> qs[kB];
        if (itemQuants(g, r, s, z, qmin, qmax, qs))
            forwardItem<T, true>(g, r, qs, px, py, qmin, qmax);
        else
            forwardItem<T, false>(g, r, qs, px, py, qmin, qmax);
    });
    return Status::ok();
}

Status runForward(Inputs in, HostTensor& y, const FqAttrs& a, bool blocked) {
    const HostTensor& x = *in[0];
    const HostTensor& scale = *in[1];
    const HostTensor* zp = in.size() > 2 ? in[2] : nullptr;
    if (scale.dtype() != x.dtype() || (zp && zp->dtype() != x.dtype()))
        return makeStatus(StatusCode::kBadInput,
                          "FakeQuantize: X, scale and zero_point types differ");
    auto r = grad::dispatchFloat(
        x.dtype(), [&](auto zero) { return forward<decltype(zero)>(x, scale, zp, a, blocked, y); });
    return r ? *r
             : makeStatus(StatusCode::kUnsupported, "FakeQuantize of {}: float and double only",
                          typeName(x.dtype()));
}

// The inputs a node may have: X, scale[, zero_point[, range_min, range_max]], all of X's
// floating type, and what the observer needs (see the header).
Status checkInputs(std::span<const TensorInfo> inputs, const FqAttrs& a, std::string_view where) {
    auto has = [&](std::size_t i) {
        return i < inputs.size() && inputs[i].dtype != DType::kUndefined;
    };
    if (!has(0) || !has(1) || inputs.size() > 5)
        return makeStatus(StatusCode::kBadInput,
                          "{}: FakeQuantize takes X, scale[, zero_point[, range_min, range_max]]",
                          where);
    const DType t = inputs[0].dtype;
    if (t != DType::kFloat && t != DType::kDouble)
        return makeStatus(StatusCode::kUnsupported,
                          "FakeQuantize of {} ({}): float and double only", typeName(t), where);
    for (std::size_t i = 1; i < inputs.size(); ++i)
        if (has(i) && inputs[i].dtype != t)
            return makeStatus(StatusCode::kBadInput,
                              "FakeQuantize ({}): scale, zero_point, range_min and range_max must "
                              "have X's type {}",
                              where, typeName(t));
    if (has(3) != has(4))
        return makeStatus(StatusCode::kBadInput,
                          "{}: FakeQuantize takes range_min and range_max together", where);
    if (a.observe && a.emaDecay > 0 && !has(3))
        return makeStatus(StatusCode::kBadInput,
                          "{}: FakeQuantize with observe = 1 and ema_decay {} needs range_min and "
                          "range_max (inputs 3 and 4) to keep the observed range",
                          where, a.emaDecay);
    // Only a symmetric signed grid always observes z = 0 (fakeQuantParamsFromRange); any other
    // observed zero point must be stored for evaluation and inference.
    if (a.observe && !has(2) && !(a.symmetric && !a.isUnsigned))
        return makeStatus(StatusCode::kBadInput,
                          "{}: FakeQuantize with observe = 1 needs a zero_point input unless "
                          "symmetric on a signed grid",
                          where);
    return Status::ok();
}

Expected<KernelBuild> buildFakeQuantize(const KernelContext& ctx) {
    WH_ASSIGN_OR_RETURN(FqAttrs a, readAttrs(ctx.node));
    WH_RETURN_IF_ERROR(checkInputs(ctx.inputs, a, ctx.where()));
    TensorInfo out = ctx.inputs[0];
    out.constant.reset();
    out.layout.reset();
    // The inference kernel always quantizes (the "enabled" knob is a training-plan matter) and
    // never observes: it uses the stored scale and zero point (range_min / range_max unread).
    auto run = [a](Inputs in, Outputs outs) -> Status {
        return runForward(in, *outs[0], a, false);
    };
    return singleOutput(makeKernel(std::move(run)), std::move(out));
}

// ---- Training --------------------------------------------------------------------------------

// What the training forward tells the gradient kernel of the same step.
struct FqShared {
    bool blocked = false;   // X, Y and their gradients in nChw16c order (setChannelBlocked)
    bool enabled = true;    // the last forward quantized (the "enabled" knob)
    bool observed = false;  // the last forward observed: use `scale` and `zeroPoint` below
    // What the last observing forward computed (scale's dtype and dims): the gradient must use
    // the values the forward quantized with, not the inputs, which the plan updates only after
    // the backward pass.
    HostTensor scale, zeroPoint, rangeMin, rangeMax;
};

// Of scale c's elements in memory order, the first that compares equal to 0: whether a range
// end of 0 is -0 or +0 (a sequential scan with < and > keeps the first one it meets).
template <class T>
T firstZero(const Geometry& g, const T* x, int64_t c) {
    for (int64_t o = 0; o < g.outer; ++o) {
        const T* p = g.lanes ? x + (o * g.channels + c / kB) * g.inner * kB + c % kB
                             : x + (o * g.channels + c) * g.inner;
        const int64_t step = g.lanes ? kB : 1;
        for (int64_t j = 0; j < g.inner; ++j)
            if (p[j * step] == T(0)) return p[j * step];
    }
    return T(0);
}

// lo[c] = min, hi[c] = max of scale c's elements (NaNs ignored; +-inf where there are none).
template <class T>
void observeRange(const Geometry& g, const T* x, std::vector<T>& lo, std::vector<T>& hi) {
    const int64_t width = g.lanes ? kB : 1, items = g.items();
    const auto size = static_cast<std::size_t>(items * width);
    std::vector<T> itemLo(size), itemHi(size);
    constexpr T inf = std::numeric_limits<T>::infinity();
    forItems(g, [&](int64_t it) {
        const Geometry::Item r = g.item(it);
        // kB lanes: the channels of a block (lanes), or every kB-th element of a run.
        T l[kB], h[kB];
        std::fill_n(l, kB, inf);
        std::fill_n(h, kB, -inf);
        const int64_t groups = g.lanes ? r.len : r.len / kB;
        for (int64_t k = 0; k < groups; ++k) {
            const T* p = x + r.begin + k * kB;
            // Comparisons, not std::min: a NaN is never taken into the range.
#pragma omp simd
            for (int64_t m = 0; m < kB; ++m) {
                l[m] = p[m] < l[m] ? p[m] : l[m];
                h[m] = p[m] > h[m] ? p[m] : h[m];
            }
        }
        if (g.lanes) {
            std::copy_n(l, kB, itemLo.begin() + it * kB);
            std::copy_n(h, kB, itemHi.begin() + it * kB);
            return;
        }
        for (int64_t j = groups * kB; j < r.len; ++j) {
            const T v = x[r.begin + j];
            if (v < l[0]) l[0] = v;
            if (v > h[0]) h[0] = v;
        }
        for (int64_t m = 1; m < kB; ++m) {
            if (l[m] < l[0]) l[0] = l[m];
            if (h[m] > h[0]) h[0] = h[m];
        }
        itemLo[static_cast<std::size_t>(it)] = l[0];
        itemHi[static_cast<std::size_t>(it)] = h[0];
    });
    for (int64_t it = 0; it < items; ++it) {
        const int64_t c0 = g.item(it).scale;
        for (int64_t m = 0; m < width; ++m) {
            const auto c = static_cast<std::size_t>(c0 + m),
                       k = static_cast<std::size_t>(it * width + m);
            if (itemLo[k] < lo[c]) lo[c] = itemLo[k];
            if (itemHi[k] > hi[c]) hi[c] = itemHi[k];
        }
    }
    // The minimum and maximum values do not depend on the order they were met in, except for
    // the sign of a zero.
    for (int64_t c = 0; c < g.scales; ++c) {
        const auto k = static_cast<std::size_t>(c);
        if (lo[k] == T(0)) lo[k] = firstZero(g, x, c);
        if (hi[k] == T(0)) hi[k] = firstZero(g, x, c);
    }
}

// The observer (header, "Observe"): the range of x per tensor or per channel, widened to
// contain 0, blended with the stored range when ema_decay > 0, nudged to a scale and zero point.
// Fills sh.scale, sh.zeroPoint and sh.rangeMin / sh.rangeMax.
template <class T>
Status observe(const HostTensor& x, const HostTensor& scale, const HostTensor* rangeMin,
               const HostTensor* rangeMax, const FqAttrs& a, FqShared& sh) {
    WH_ASSIGN_OR_RETURN_STATUS(const Geometry g, geometry(x, scale, nullptr, a.axis, sh.blocked));
    for (const HostTensor* r : {rangeMin, rangeMax})
        if (r && r->dims() != scale.dims())
            return makeStatus(StatusCode::kBadInput,
                              "FakeQuantize: range_min / range_max {} and scale {} differ",
                              dimsToString(r->dims()), dimsToString(scale.dims()));
    const int64_t channels = scale.numElements();
    std::vector<T> lo(static_cast<std::size_t>(channels), std::numeric_limits<T>::infinity());
    std::vector<T> hi(lo.size(), -std::numeric_limits<T>::infinity());
    observeRange(g, x.data<T>(), lo, hi);
    for (HostTensor* t : {&sh.scale, &sh.zeroPoint, &sh.rangeMin, &sh.rangeMax})
        t->ensure(scale.dtype(), scale.dims());
    T* ps = sh.scale.data<T>();
    T* pz = sh.zeroPoint.data<T>();
    T* pmin = sh.rangeMin.data<T>();
    T* pmax = sh.rangeMax.data<T>();
    const double d = a.emaDecay;
    for (std::size_t c = 0; c < lo.size(); ++c) {
        // Widened to contain 0 (which also turns an empty channel's +-inf into 0).
        double mn = std::min<double>(lo[c], 0.0), mx = std::max<double>(hi[c], 0.0);
        if (d > 0 && rangeMin && rangeMax) {
            const double pmn = rangeMin->data<T>()[c], pmx = rangeMax->data<T>()[c];
            // A stored [0, 0] was never observed: the first batch initialises it.
            if (pmn != 0.0 || pmx != 0.0) {
                mn = d * pmn + (1 - d) * mn;
                mx = d * pmx + (1 - d) * mx;
            }
        }
        pmin[c] = static_cast<T>(mn);
        pmax[c] = static_cast<T>(mx);
        // The stored range is what is nudged, so that scale and range agree exactly.
        const auto [s, z] =
            fakeQuantParamsFromRange(static_cast<float>(pmin[c]), static_cast<float>(pmax[c]),
                                     a.bits, a.symmetric, a.narrow, a.isUnsigned);
        ps[c] = static_cast<T>(s);
        pz[c] = static_cast<T>(z);
    }
    return Status::ok();
}

class FqTrainingForward final : public Kernel {
public:
    FqTrainingForward(FqAttrs attrs, std::shared_ptr<FqShared> shared, const NodeFlags* flags)
        : m_attrs(attrs), m_shared(std::move(shared)), m_flags(flags) {}

    // Outputs: Y, then (observe = 1, OpTraits::stateInputsFor) the new scale, zero point,
    // range_min and range_max; each written only where the node has that input.
    Status run(Inputs in, Outputs out) override {
        // evaluate() runs this kernel for blocked tensors: inference semantics, always on, and
        // no observing (the stored scale and zero point are used).
        const bool evaluating = m_flags && m_flags->plan && m_flags->plan->evaluating;
        m_shared->enabled = !m_flags || evaluating || m_flags->knob("enabled", 1.0) != 0.0;
        m_shared->observed = false;
        if (m_attrs.observe && !evaluating) {
            // Runs during a quantization delay too (the seed's observer does).
            WH_RETURN_STATUS_IF_ERROR(runObserver(in, out));
            m_shared->observed = true;
        }
        if (!m_shared->enabled) {
            copyTensor(*in[0], *out[0], in[0]->dims());  // plain or blocked: the same bytes
            return Status::ok();
        }
        if (!m_shared->observed) return runForward(in, *out[0], m_attrs, m_shared->blocked);
        const std::vector<const HostTensor*> observed = {in[0], &m_shared->scale,
                                                         &m_shared->zeroPoint};
        return runForward(observed, *out[0], m_attrs, m_shared->blocked);
    }

private:
    Status runObserver(Inputs in, Outputs out) {
        auto input = [&](std::size_t i) { return i < in.size() ? in[i] : nullptr; };
        const HostTensor& x = *in[0];
        if (in[1]->dtype() != x.dtype())
            return makeStatus(StatusCode::kBadInput, "FakeQuantize: X and scale types differ");
        auto r = grad::dispatchFloat(x.dtype(), [&](auto zero) {
            return observe<decltype(zero)>(x, *in[1], input(3), input(4), m_attrs, *m_shared);
        });
        if (!r)
            return makeStatus(StatusCode::kUnsupported, "FakeQuantize of {}: float and double only",
                              typeName(x.dtype()));
        WH_RETURN_STATUS_IF_ERROR(*r);
        // The state outputs, in stateInputsFor()'s order {1, 2, 3, 4}.
        const HostTensor* values[] = {&m_shared->scale, &m_shared->zeroPoint, &m_shared->rangeMin,
                                      &m_shared->rangeMax};
        for (std::size_t k = 0; k < 4; ++k)
            if (1 + k < out.size() && out[1 + k] && input(1 + k))
                copyTensor(*values[k], *out[1 + k], values[k]->dims());
        return Status::ok();
    }

    FqAttrs m_attrs;
    std::shared_ptr<FqShared> m_shared;
    const NodeFlags* m_flags;
};

// One element of the gradient: returns dx (dy inside the clamp range, else 0); with LSQ, ds and
// dz get dy * dy/ds and dy * dy/dz (header; dz here is + dy * s outside, subtracted later).
template <class T, bool kFast>
inline T backwardElement(T x, T dy, T s, T z, T lo, T hi, T qmin, T qmax, T& ds, T& dz) {
    const T v = x / s;
    // v is clamped only where it is below or above anyway: u - v inside is unchanged.
    const T u = roundHalfEven<T, kFast>(v, lo, hi);
    const T q = u + z;
    const bool below = q < qmin;
    const bool above = q > qmax;
    ds = dy * (below ? qmin - z : above ? qmax - z : u - v);
    dz = below || above ? dy * s : T(0);
    return below || above ? T(0) : dy;
}

// The gradient over one item: dx when kDx; with kLearned the item's LSQ sums (one per scale
// of the item) into sumS / sumZ.
template <class T, bool kFast, bool kDx, bool kLearned>
void backwardItem(const Geometry& g, const Geometry::Item& r, const Quant<T>* qs, const T* x,
                  const T* dy, T* dx, T qmin, T qmax, double* sumS, double* sumZ) {
    // kB lanes: the channels of a block (lanes), or every kB-th element of a run; each lane
    // sums in double, as the scales' gradients are sums over many elements.
    T s[kB], z[kB], lo[kB], hi[kB];
    for (int64_t l = 0; l < kB; ++l) {
        const Quant<T>& q = qs[g.lanes ? l : 0];
        s[l] = q.s;
        z[l] = q.z;
        lo[l] = q.lo;
        hi[l] = q.hi;
    }
    double aS[kB] = {}, aZ[kB] = {};
    const int64_t groups = g.lanes ? r.len : r.len / kB;
    for (int64_t k = 0; k < groups; ++k) {
        const int64_t o = r.begin + k * kB;
#pragma omp simd
        for (int64_t l = 0; l < kB; ++l) {
            T ds, dz;
            const T d = backwardElement<T, kFast>(x[o + l], dy[o + l], s[l], z[l], lo[l], hi[l],
                                                  qmin, qmax, ds, dz);
            if constexpr (kDx) dx[o + l] = d;
            if constexpr (kLearned) {
                aS[l] += static_cast<double>(ds);
                aZ[l] -= static_cast<double>(dz);
            }
        }
    }
    if (g.lanes) {
        if constexpr (kLearned) {
            std::copy_n(aS, kB, sumS);
            std::copy_n(aZ, kB, sumZ);
        }
        return;
    }
    for (int64_t j = r.begin + groups * kB; j < r.begin + r.len; ++j) {
        T ds, dz;
        const T d =
            backwardElement<T, kFast>(x[j], dy[j], s[0], z[0], lo[0], hi[0], qmin, qmax, ds, dz);
        if constexpr (kDx) dx[j] = d;
        if constexpr (kLearned) {
            aS[0] += static_cast<double>(ds);
            aZ[0] -= static_cast<double>(dz);
        }
    }
    if constexpr (kLearned) {
        double tS = 0, tZ = 0;
        for (int64_t l = 0; l < kB; ++l) {
            tS += aS[l];
            tZ += aZ[l];
        }
        *sumS = tS;
        *sumZ = tZ;
    }
}

template <class T, bool kDx, bool kLearned>
void backwardItems(const Geometry& g, const T* s, const T* z, const T* x, const T* dy, T* dx,
                   T qmin, T qmax, std::vector<double>& itemS, std::vector<double>& itemZ) {
    const int64_t width = g.lanes ? kB : 1;
    forItems(g, [&](int64_t it) {
        const Geometry::Item r = g.item(it);
        Quant<T> qs[kB];
        double* ps = kLearned ? itemS.data() + it * width : nullptr;
        double* pz = kLearned ? itemZ.data() + it * width : nullptr;
        if (itemQuants(g, r, s, z, qmin, qmax, qs))
            backwardItem<T, true, kDx, kLearned>(g, r, qs, x, dy, dx, qmin, qmax, ps, pz);
        else
            backwardItem<T, false, kDx, kLearned>(g, r, qs, x, dy, dx, qmin, qmax, ps, pz);
    });
}

template <class T>
Status backwardT(const GradArgs& args, const FqAttrs& a, const FqShared& sh) {
    const HostTensor& x = *args.inputs[0];
    // An observing forward quantized with what it observed (the inputs are still the old ones).
    const HostTensor& scale = sh.observed ? sh.scale : *args.inputs[1];
    const HostTensor* zp = args.inputs.size() > 2 ? args.inputs[2] : nullptr;
    if (sh.observed) zp = &sh.zeroPoint;
    const HostTensor* dy = grad::gradOut(args, 0);
    HostTensor* gx = grad::gradIn(args, 0);
    HostTensor* gs = grad::gradIn(args, 1);
    HostTensor* gz = grad::gradIn(args, 2);
    const int64_t n = x.numElements();
    const T* py = dy ? dy->data<T>() : nullptr;
    T* pgx = nullptr;
    if (gx) {
        gx->ensure(x.dtype(), x.dims());
        pgx = gx->data<T>();
    }
    std::vector<double> sumS(static_cast<std::size_t>(scale.numElements()), 0.0);
    std::vector<double> sumZ(sumS.size(), 0.0);
    if (!sh.enabled || !py) {
        // The identity (quantization delay), or no gradient flowing in.
        if (pgx && !py) std::fill_n(pgx, n, T(0));
        if (pgx && py && pgx != py) std::copy_n(py, n, pgx);
    } else if (pgx || a.learned) {
        WH_ASSIGN_OR_RETURN_STATUS(const Geometry g, geometry(x, scale, zp, a.axis, sh.blocked));
        const T* px = x.data<T>();
        const T* s = scale.data<T>();
        const T* z = zp ? zp->data<T>() : nullptr;
        const T qmin = static_cast<T>(a.qmin), qmax = static_cast<T>(a.qmax);
        // LSQ: per work item sums, added up in item order (deterministic, whatever the threads).
        const int64_t width = g.lanes ? kB : 1;
        std::vector<double> itemS, itemZ;
        if (a.learned) {
            itemS.assign(static_cast<std::size_t>(g.items() * width), 0.0);
            itemZ.assign(itemS.size(), 0.0);
        }
        if (pgx && a.learned)
            backwardItems<T, true, true>(g, s, z, px, py, pgx, qmin, qmax, itemS, itemZ);
        else if (pgx)
            backwardItems<T, true, false>(g, s, z, px, py, pgx, qmin, qmax, itemS, itemZ);
        else
            backwardItems<T, false, true>(g, s, z, px, py, pgx, qmin, qmax, itemS, itemZ);
        for (int64_t it = 0; a.learned && it < g.items(); ++it) {
            const int64_t c0 = g.item(it).scale;
            for (int64_t m = 0; m < width; ++m) {
                const auto k = static_cast<std::size_t>(it * width + m);
                sumS[static_cast<std::size_t>(c0 + m)] += itemS[k];
                sumZ[static_cast<std::size_t>(c0 + m)] += itemZ[k];
            }
        }
    }
    // LSQ's gradient scale: 1 / sqrt(elements sharing one scale * qmax).
    const double perScale = static_cast<double>(n) / static_cast<double>(sumS.size());
    const double g = 1.0 / std::sqrt(std::max(1.0, perScale) * a.qmax);
    const bool learnZ = a.learned && !a.symmetric;
    for (auto [t, sums, on] : {std::tuple{gs, &sumS, a.learned}, std::tuple{gz, &sumZ, learnZ}}) {
        if (!t) continue;
        t->ensure(scale.dtype(), scale.dims());
        T* p = t->template data<T>();
        for (std::size_t c = 0; c < sums->size(); ++c)
            p[c] = on ? static_cast<T>(g * (*sums)[c]) : T(0);
    }
    return Status::ok();
}

class FqBackward final : public GradKernel {
public:
    FqBackward(FqAttrs attrs, std::shared_ptr<FqShared> shared)
        : m_attrs(attrs), m_shared(std::move(shared)) {}

    Status backward(const GradArgs& args) override {
        const HostTensor& x = *args.inputs[0];
        auto r = grad::dispatchFloat(x.dtype(), [&](auto zero) {
            return backwardT<decltype(zero)>(args, m_attrs, *m_shared);
        });
        return r ? *r
                 : makeStatus(StatusCode::kUnsupported, "FakeQuantize gradient of {}",
                              typeName(x.dtype()));
    }

private:
    FqAttrs m_attrs;
    std::shared_ptr<FqShared> m_shared;
};

Expected<GradBuild> buildFakeQuantizeGrad(const GradContext& ctx) {
    WH_ASSIGN_OR_RETURN(FqAttrs a, readAttrs(ctx.node));
    WH_RETURN_IF_ERROR(checkInputs(ctx.inputs, a, ctx.where()));
    auto shared = std::make_shared<FqShared>();
    GradBuild b = grad::gradBuild(std::make_unique<FqBackward>(a, shared), ctx, {0, 1, 2}, {});
    b.trainingForward = std::make_unique<FqTrainingForward>(a, shared, ctx.flags);
    // Per tensor the order does not matter; per channel the kernels decompose blocked offsets.
    if (ctx.inputs[0].rankKnown && ctx.inputs[0].dims.size() == 4) {
        b.channelBlocks = GradBuild::ChannelBlocks::kShared;
        b.setChannelBlocked = [shared](bool in, bool) { shared->blocked = in; };
    }
    return b;
}

}  // namespace

}  // namespace ref

void registerFakeQuantizeKernel(KernelRegistry& registry) {
    registry.add(std::string(kWhittleDomain), std::string(kFakeQuantizeOp), 1, 1,
                 Backend::kReference, ref::buildFakeQuantize);
}

void registerFakeQuantizeGradient(GradRegistry& registry) {
    registry.add(std::string(kWhittleDomain), std::string(kFakeQuantizeOp), 1, 1,
                 Backend::kReference, ref::buildFakeQuantizeGrad);
}

}  // namespace wh::engine
