// FakeQuantize (com.whittle, opset 1): reference kernel, training forward (the "enabled" knob)
// and gradient (STE with the clamp mask; LSQ scale and zero-point gradients). The formulas are
// in core/engine/fake_quantize.h.

#include "core/engine/fake_quantize.h"

#include <algorithm>
#include <cmath>
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
    bool isUnsigned = false, narrow = false, symmetric = false, learned = false;
    int64_t axis = 1;
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
          std::pair{"symmetric", &a.symmetric}, std::pair{"learned", &a.learned}}) {
        const int64_t v = node.attrInt(name, 0);
        if (v != 0 && v != 1)
            return error(StatusCode::kBadInput, "FakeQuantize: {} is {}, not 0 or 1", name, v);
        *field = v == 1;
    }
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

Status checkTypes(std::span<const TensorInfo> inputs, bool hasZp, std::string_view where) {
    const DType t = inputs[0].dtype;
    if (t != DType::kFloat && t != DType::kDouble)
        return makeStatus(StatusCode::kUnsupported,
                          "FakeQuantize of {} ({}): float and double only", typeName(t), where);
    if (inputs[1].dtype != t || (hasZp && inputs[2].dtype != t))
        return makeStatus(StatusCode::kBadInput,
                          "FakeQuantize ({}): scale and zero_point must have X's type {}", where,
                          typeName(t));
    return Status::ok();
}

Expected<KernelBuild> buildFakeQuantize(const KernelContext& ctx) {
    if (!ctx.hasInput(0) || !ctx.hasInput(1) || ctx.inputs.size() > 3)
        return error(StatusCode::kBadInput, "{}: FakeQuantize takes X, scale[, zero_point]",
                     ctx.where());
    WH_RETURN_IF_ERROR(checkTypes(ctx.inputs, ctx.hasInput(2), ctx.where()));
    WH_ASSIGN_OR_RETURN(FqAttrs a, readAttrs(ctx.node));
    TensorInfo out = ctx.inputs[0];
    out.constant.reset();
    out.layout.reset();
    // The inference kernel always quantizes (the "enabled" knob is a training-plan matter).
    auto run = [a](Inputs in, Outputs outs) -> Status {
        return runForward(in, *outs[0], a, false);
    };
    return singleOutput(makeKernel(std::move(run)), std::move(out));
}

// ---- Training --------------------------------------------------------------------------------

// What the training forward tells the gradient kernel of the same step.
struct FqShared {
    bool blocked = false;  // X, Y and their gradients in nChw16c order (setChannelBlocked)
    bool enabled = true;   // the last forward quantized (the "enabled" knob)
};

class FqTrainingForward final : public Kernel {
public:
    FqTrainingForward(FqAttrs attrs, std::shared_ptr<FqShared> shared, const NodeFlags* flags)
        : m_attrs(attrs), m_shared(std::move(shared)), m_flags(flags) {}

    Status run(Inputs in, Outputs out) override {
        // evaluate() runs this kernel for blocked tensors: inference semantics, always on.
        const bool evaluating = m_flags && m_flags->plan && m_flags->plan->evaluating;
        m_shared->enabled = !m_flags || evaluating || m_flags->knob("enabled", 1.0) != 0.0;
        if (m_shared->enabled) return runForward(in, *out[0], m_attrs, m_shared->blocked);
        copyTensor(*in[0], *out[0], in[0]->dims());  // plain or blocked: the same bytes
        return Status::ok();
    }

private:
    FqAttrs m_attrs;
    std::shared_ptr<FqShared> m_shared;
    const NodeFlags* m_flags;
};

template <class T>
Status backwardT(const GradArgs& args, const FqAttrs& a, const FqShared& sh) {
    const HostTensor& x = *args.inputs[0];
    const HostTensor& scale = *args.inputs[1];
    const HostTensor* zp = args.inputs.size() > 2 ? args.inputs[2] : nullptr;
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
    if (!ctx.hasInput(0) || !ctx.hasInput(1) || ctx.inputs.size() > 3)
        return error(StatusCode::kBadInput, "{}: FakeQuantize takes X, scale[, zero_point]",
                     ctx.where());
    WH_RETURN_IF_ERROR(checkTypes(ctx.inputs, ctx.hasInput(2), ctx.where()));
    WH_ASSIGN_OR_RETURN(FqAttrs a, readAttrs(ctx.node));
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
