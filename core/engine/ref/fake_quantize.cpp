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

// Which scale an element of X uses: element i of a plain tensor is in channel (i / inner) %
// channels; in a channel-blocked [N, C, H, W] tensor the offset is decomposed as blockedOffset()
// composes it, whatever the axis.
struct ChannelMap {
    int axis = -1;  // -1: per tensor
    int64_t channels = 1, inner = 1;
    bool blocked = false;
    int64_t C = 0, H = 0, W = 0;

    int64_t channelOf(int64_t i) const {
        if (axis < 0) return 0;
        if (!blocked) return (i / inner) % channels;
        const int64_t S = H * W;
        const int64_t cin = i % kChannelBlock;
        int64_t r = i / kChannelBlock;
        const int64_t s = r % S;
        r /= S;
        const int64_t cb = r % (C / kChannelBlock);
        const int64_t n = r / (C / kChannelBlock);
        switch (axis) {
            case 0:
                return n;
            case 1:
                return cb * kChannelBlock + cin;
            case 2:
                return s / W;
            default:
                return s % W;
        }
    }
};

Expected<ChannelMap> channelMap(const HostTensor& x, const HostTensor& scale, const HostTensor* zp,
                                int64_t axisAttr, bool blocked) {
    ChannelMap m;
    if (zp && zp->dims() != scale.dims())
        return error(StatusCode::kBadInput, "FakeQuantize: zero_point {} and scale {} differ",
                     dimsToString(zp->dims()), dimsToString(scale.dims()));
    if (scale.rank() > 1)
        return error(StatusCode::kBadInput, "FakeQuantize: scale {} is neither a scalar nor 1-D",
                     dimsToString(scale.dims()));
    if (blocked && (x.rank() != 4 || !channelBlockable(x.dims())))
        return error(StatusCode::kInternal, "FakeQuantize: blocked X {} is not nChw16c-able",
                     dimsToString(x.dims()));
    m.blocked = blocked;
    if (blocked) {
        m.C = x.dim(1);
        m.H = x.dim(2);
        m.W = x.dim(3);
    }
    // One scale is per tensor whatever the axis says (it may not even exist).
    if (scale.numElements() == 1) return m;
    WH_ASSIGN_OR_RETURN(m.axis, normalizeAxis(axisAttr, x.rank(), "FakeQuantize axis"));
    if (scale.numElements() != x.dim(m.axis)) {
        return error(StatusCode::kBadInput,
                     "FakeQuantize: scale {} does not match dim {} of X {} (axis {})",
                     dimsToString(scale.dims()), m.axis, dimsToString(x.dims()), axisAttr);
    }
    m.channels = x.dim(m.axis);
    for (int d = m.axis + 1; d < x.rank(); ++d) m.inner *= x.dim(d);
    return m;
}

template <class T>
Status checkScales(const T* s, int64_t n) {
    for (int64_t c = 0; c < n; ++c)
        if (!(s[c] > T(0)))
            return makeStatus(StatusCode::kBadInput, "FakeQuantize: scale[{}] = {} is not > 0", c,
                              static_cast<double>(s[c]));
    return Status::ok();
}

// y = (clamp(round(x / s) + z, qmin, qmax) - z) * s, element by element (x may alias y).
template <class T>
Status forward(const HostTensor& x, const HostTensor& scale, const HostTensor* zp, const FqAttrs& a,
               bool blocked, HostTensor& y) {
    WH_ASSIGN_OR_RETURN_STATUS(ChannelMap m, channelMap(x, scale, zp, a.axis, blocked));
    const T* s = scale.data<T>();
    const T* z = zp ? zp->data<T>() : nullptr;
    WH_RETURN_STATUS_IF_ERROR(checkScales(s, scale.numElements()));
    y.ensure(x.dtype(), x.dims());
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T qmin = static_cast<T>(a.qmin), qmax = static_cast<T>(a.qmax);
    const int64_t n = x.numElements();
    for (int64_t i = 0; i < n; ++i) {
        const int64_t c = m.channelOf(i);
        const T zc = z ? z[c] : T(0);
        // nearbyint in the default rounding mode: half to even, as QuantizeLinear.
        const T q = std::clamp(std::nearbyint(px[i] / s[c]) + zc, qmin, qmax);
        py[i] = (q - zc) * s[c];
    }
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

// The observer (header, "Observe"): the range of x per tensor or per channel, widened to
// contain 0, blended with the stored range when ema_decay > 0, nudged to a scale and zero point.
// Fills sh.scale, sh.zeroPoint and sh.rangeMin / sh.rangeMax.
template <class T>
Status observe(const HostTensor& x, const HostTensor& scale, const HostTensor* rangeMin,
               const HostTensor* rangeMax, const FqAttrs& a, FqShared& sh) {
    WH_ASSIGN_OR_RETURN_STATUS(ChannelMap m, channelMap(x, scale, nullptr, a.axis, sh.blocked));
    for (const HostTensor* r : {rangeMin, rangeMax})
        if (r && r->dims() != scale.dims())
            return makeStatus(StatusCode::kBadInput,
                              "FakeQuantize: range_min / range_max {} and scale {} differ",
                              dimsToString(r->dims()), dimsToString(scale.dims()));
    const int64_t channels = scale.numElements();
    std::vector<T> lo(static_cast<std::size_t>(channels), std::numeric_limits<T>::infinity());
    std::vector<T> hi(lo.size(), -std::numeric_limits<T>::infinity());
    const T* px = x.data<T>();
    const int64_t n = x.numElements();
    for (int64_t i = 0; i < n; ++i) {
        const auto c = static_cast<std::size_t>(m.channelOf(i));
        // Comparisons, not std::min: a NaN is never taken into the range.
        if (px[i] < lo[c]) lo[c] = px[i];
        if (px[i] > hi[c]) hi[c] = px[i];
    }
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
        for (int64_t i = 0; pgx && i < n; ++i) pgx[i] = py ? py[i] : T(0);
    } else {
        WH_ASSIGN_OR_RETURN_STATUS(ChannelMap m, channelMap(x, scale, zp, a.axis, sh.blocked));
        const T* px = x.data<T>();
        const T* s = scale.data<T>();
        const T* z = zp ? zp->data<T>() : nullptr;
        const T qmin = static_cast<T>(a.qmin), qmax = static_cast<T>(a.qmax);
        for (int64_t i = 0; i < n; ++i) {
            const int64_t c = m.channelOf(i);
            const T zc = z ? z[c] : T(0);
            const T v = px[i] / s[c];
            const T u = std::nearbyint(v);
            const T q = u + zc;
            const bool below = q<qmin, above = q> qmax;
            if (pgx) pgx[i] = below || above ? T(0) : py[i];
            if (!a.learned) continue;
            const auto cu = static_cast<std::size_t>(c);
            const T ds = below ? qmin - zc : above ? qmax - zc : u - v;
            sumS[cu] += static_cast<double>(py[i] * ds);
            if (below || above) sumZ[cu] -= static_cast<double>(py[i] * s[c]);
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
