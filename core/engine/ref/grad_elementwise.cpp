// Gradients of elementwise operators. Binary operators follow numpy broadcasting: each input's
// gradient is accumulated through the broadcast offsets, which sums over the broadcast axes.

#include <algorithm>
#include <cmath>

#include "core/engine/ref/grad_kernels.h"
#include "core/engine/ref/grad_util.h"
#include "core/util/rng.h"

namespace wh::engine::ref {

namespace {

using namespace grad;

Status unsupportedType(ir::DType t) {
    return makeStatus(StatusCode::kUnsupported, "gradients of {} tensors", ir::dtypeName(t));
}

// ---- Binary ------------------------------------------------------------------------------------

enum class Binary { kAdd, kSub, kMul, kDiv, kPRelu, kPow };

// dA = dY * da(a, b), dB = dY * db(a, b); both summed over their broadcast axes.
GradFactory binaryFactory(Binary op) {
    return [op](const GradContext& ctx) -> Expected<GradBuild> {
        const bool needValues = op != Binary::kAdd && op != Binary::kSub;
        auto kernel = makeGradKernel([op](const GradArgs& a) -> Status {
            const HostTensor* dy = gradOut(a, 0);
            HostTensor* ga = gradIn(a, 0);
            HostTensor* gb = gradIn(a, 1);
            const Dims& da = a.inputDims[0];
            const Dims& db = a.inputDims[1];
            // The plan runs backward only when the (single) output has a gradient.
            if (!dy) return makeStatus(StatusCode::kInternal, "no output gradient");
            auto r = dispatchFloat(dy->dtype(), [&](auto zero) -> Status {
                using T = decltype(zero);
                const Dims& full = dy->dims();
                const auto sa = broadcastStrides(full, da);
                const auto sb = broadcastStrides(full, db);
                const T* g = dy->data<T>();
                const T* x = a.inputs[0] ? a.inputs[0]->data<T>() : nullptr;
                const T* y = a.inputs[1] ? a.inputs[1]->data<T>() : nullptr;
                if ((op == Binary::kAdd || op == Binary::kSub) && da == full && db == full) {
                    // No broadcasting (residual additions): the gradients are dY and +-dY.
                    const int64_t n = dy->numElements();
                    const T sign = op == Binary::kAdd ? T(1) : T(-1);
                    for (auto [t, s] : {std::pair{ga, T(1)}, std::pair{gb, sign}}) {
                        if (!t) continue;
                        t->ensure(dy->dtype(), full);
                        T* o = t->template data<T>();
#pragma omp parallel for simd schedule(static) if (n > 65536)
                        for (int64_t i = 0; i < n; ++i) o[i] = s * g[i];
                    }
                    return Status::ok();
                }
                T* oa = nullptr;
                T* ob = nullptr;
                if (ga) {
                    ga->ensure(dy->dtype(), da);
                    oa = ga->data<T>();
                    std::fill(oa, oa + ga->numElements(), T(0));
                }
                if (gb) {
                    gb->ensure(dy->dtype(), db);
                    ob = gb->data<T>();
                    std::fill(ob, ob + gb->numElements(), T(0));
                }
                forEachBroadcast(full, sa, sb, [&](int64_t i, int64_t ia, int64_t ib) {
                    const T d = g[i];
                    switch (op) {
                        case Binary::kAdd:
                            if (oa) oa[ia] += d;
                            if (ob) ob[ib] += d;
                            break;
                        case Binary::kSub:
                            if (oa) oa[ia] += d;
                            if (ob) ob[ib] -= d;
                            break;
                        case Binary::kMul:
                            if (oa) oa[ia] += d * y[ib];
                            if (ob) ob[ib] += d * x[ia];
                            break;
                        case Binary::kDiv:
                            if (oa) oa[ia] += d / y[ib];
                            if (ob) ob[ib] -= d * x[ia] / (y[ib] * y[ib]);
                            break;
                        case Binary::kPow: {
                            // d(a^b)/da = b a^(b-1); d(a^b)/db = a^b ln a (a > 0; 0 where a <= 0,
                            // whose power is real only for integer b and then constant in b).
                            const T av = x[ia], bv = y[ib];
                            if (oa) oa[ia] += d * bv * std::pow(av, bv - T(1));
                            if (ob && av > T(0)) ob[ib] += d * std::pow(av, bv) * std::log(av);
                            break;
                        }
                        case Binary::kPRelu:
                            if (oa) oa[ia] += x[ia] > T(0) ? d : d * y[ib];
                            if (ob && x[ia] <= T(0)) ob[ib] += d * x[ia];
                            break;
                    }
                });
                return Status::ok();
            });
            return r ? *r : unsupportedType(dy->dtype());
        });
        // PRelu's slope broadcasts unidirectionally onto X; numpy rules cover it.
        GradBuild b = gradBuild(std::move(kernel), ctx,
                                needValues ? std::vector<int>{0, 1} : std::vector<int>{}, {});
        // A residual addition: dA is dY itself, which the plan passes on without a copy.
        if ((op == Binary::kAdd || op == Binary::kSub) && ctx.inputs.size() == 2 &&
            !ctx.outputs.empty() && ctx.inputs[0].rankKnown && ctx.outputs[0].rankKnown &&
            ctx.inputs[0].dims == ctx.outputs[0].dims && ctx.inputs[1].dims == ctx.outputs[0].dims)
            b.gradPassThrough = 0;
        return b;
    };
}

// ---- Unary -------------------------------------------------------------------------------------

// What a unary derivative is a function of.
enum class Source { kInput, kOutput, kNone };

// dx = dy * f'(v), with v the forward input, the forward output, or nothing (constant f').
template <class Deriv>
GradFactory unaryFactory(Source source, Deriv deriv) {
    return [source, deriv](const GradContext& ctx) -> Expected<GradBuild> {
        const ir::Node* node = &ctx.node;
        auto kernel = makeGradKernel([source, deriv, node](const GradArgs& a) -> Status {
            HostTensor* gx = gradIn(a, 0);
            const HostTensor* dy = gradOut(a, 0);
            if (!gx || !dy) return Status::ok();
            const HostTensor* v = source == Source::kOutput  ? a.outputs[0]
                                  : source == Source::kInput ? a.inputs[0]
                                                             : dy;
            auto r = dispatchFloat(dy->dtype(), [&](auto zero) -> Status {
                using T = decltype(zero);
                gx->ensure(dy->dtype(), a.inputDims[0]);
                const T* g = dy->data<T>();
                const T* p = v->data<T>();
                T* o = gx->data<T>();
                const int64_t n = dy->numElements();
                for (int64_t i = 0; i < n; ++i) o[i] = g[i] * deriv(*node, p[i]);
                return Status::ok();
            });
            return r ? *r : unsupportedType(dy->dtype());
        });
        return gradBuild(std::move(kernel), ctx,
                         source == Source::kInput ? std::vector<int>{0} : std::vector<int>{},
                         source == Source::kOutput ? std::vector<int>{0} : std::vector<int>{});
    };
}

// Clip: dy passes where min <= x <= max (PyTorch's clamp convention); the bounds' gradients
// collect what was clipped.
Expected<GradBuild> clipFactory(const GradContext& ctx) {
    const bool boundsAsInputs = ctx.opset >= 11;
    const float attrMin = ctx.node.attrFloat("min", -INFINITY);
    const float attrMax = ctx.node.attrFloat("max", INFINITY);
    auto kernel = makeGradKernel([=](const GradArgs& a) -> Status {
        const HostTensor* dy = gradOut(a, 0);
        const HostTensor* x = a.inputs[0];
        auto r = dispatchFloat(x->dtype(), [&](auto zero) -> Status {
            using T = decltype(zero);
            T lo = static_cast<T>(attrMin), hi = static_cast<T>(attrMax);
            if (boundsAsInputs) {
                lo = a.inputs.size() > 1 && a.inputs[1] ? static_cast<T>(a.inputs[1]->at(0))
                                                        : -std::numeric_limits<T>::infinity();
                hi = a.inputs.size() > 2 && a.inputs[2] ? static_cast<T>(a.inputs[2]->at(0))
                                                        : std::numeric_limits<T>::infinity();
            }
            const int64_t n = x->numElements();
            const T* xs = x->data<T>();
            const T* g = dy ? dy->data<T>() : nullptr;
            T sumLo = 0, sumHi = 0;
            HostTensor* gx = gradIn(a, 0);
            if (gx) gx->ensure(x->dtype(), x->dims());
            for (int64_t i = 0; i < n; ++i) {
                const T d = g ? g[i] : T(0);
                const bool inside = xs[i] >= lo && xs[i] <= hi;
                if (gx) gx->data<T>()[i] = inside ? d : T(0);
                if (xs[i] < lo) sumLo += d;
                if (xs[i] > hi) sumHi += d;
            }
            for (int k = 1; k <= 2; ++k)
                if (HostTensor* gb = gradIn(a, k)) {
                    gb->ensure(x->dtype(), a.inputDims[static_cast<std::size_t>(k)]);
                    gb->data<T>()[0] = k == 1 ? sumLo : sumHi;
                }
            return Status::ok();
        });
        return r ? *r : unsupportedType(x->dtype());
    });
    return gradBuild(std::move(kernel), ctx, {0, 1, 2}, {});
}

// ---- Dropout -----------------------------------------------------------------------------------

// Shared by Dropout's training forward and its gradient: the mask of the last forward pass.
struct DropoutState {
    std::vector<uint8_t> mask;  // empty = identity (no dropout in the last pass)
    double scale = 1.0;
};

Expected<GradBuild> dropoutFactory(const GradContext& ctx) {
    auto state = std::make_shared<DropoutState>();
    const NodeFlags* flags = ctx.flags;
    const float attrRatio = ctx.node.attrFloat("ratio", 0.5f);
    const bool ratioInput = ctx.opset >= 12;
    const uint64_t nodeSalt = ctx.node.id() * 0x9e3779b97f4a7c15ull;

    class Forward : public Kernel {
    public:
        Forward(std::shared_ptr<DropoutState> s, const NodeFlags* f, float r, bool ri,
                uint64_t salt)
            : m_state(std::move(s)), m_flags(f), m_attrRatio(r), m_ratioInput(ri), m_salt(salt) {}
        Status run(std::span<const HostTensor* const> in,
                   std::span<HostTensor* const> out) override {
            const HostTensor& x = *in[0];
            double ratio = m_attrRatio;
            if (m_ratioInput) ratio = in.size() > 1 && in[1] ? in[1]->at(0) : 0.5;
            const bool active = !(m_flags && m_flags->dropoutOff()) && ratio > 0.0;
            const int64_t n = x.numElements();
            DropoutState& s = *m_state;
            if (active) {
                Rng rng((m_flags ? m_flags->seed() : 0) ^ m_salt ^
                        ((m_flags ? m_flags->dropoutStep() : 0) * 0xbf58476d1ce4e5b9ull));
                s.mask.resize(static_cast<std::size_t>(n));
                for (auto& m : s.mask) m = rng.uniform() >= ratio ? 1 : 0;
                s.scale = 1.0 / (1.0 - ratio);
            } else {
                s.mask.clear();
                s.scale = 1.0;
            }
            auto r = dispatchFloat(x.dtype(), [&](auto zero) -> Status {
                using T = decltype(zero);
                out[0]->ensure(x.dtype(), x.dims());
                const T* xs = x.data<T>();
                T* y = out[0]->data<T>();
                const T scale = static_cast<T>(s.scale);
                for (int64_t i = 0; i < n; ++i)
                    y[i] = s.mask.empty()
                               ? xs[i]
                               : (s.mask[static_cast<std::size_t>(i)] ? xs[i] * scale : T(0));
                return Status::ok();
            });
            if (!r) return unsupportedType(x.dtype());
            if (out.size() > 1 && out[1]) {
                out[1]->ensure(ir::DType::kBool, x.dims());
                auto* m = out[1]->data<uint8_t>();
                for (int64_t i = 0; i < n; ++i)
                    m[i] = s.mask.empty() ? 1 : s.mask[static_cast<std::size_t>(i)];
            }
            return *r;
        }

    private:
        std::shared_ptr<DropoutState> m_state;
        const NodeFlags* m_flags;
        float m_attrRatio;
        bool m_ratioInput;
        uint64_t m_salt;
    };

    auto kernel = makeGradKernel([state](const GradArgs& a) -> Status {
        HostTensor* gx = gradIn(a, 0);
        if (!gx) return Status::ok();
        const HostTensor* dy = gradOut(a, 0);
        if (!dy) {
            gx->ensure(ir::DType::kFloat, a.inputDims[0]);
            return Status::ok();
        }
        auto r = dispatchFloat(dy->dtype(), [&](auto zero) -> Status {
            using T = decltype(zero);
            gx->ensure(dy->dtype(), dy->dims());
            const T* g = dy->data<T>();
            T* o = gx->data<T>();
            const T scale = static_cast<T>(state->scale);
            const int64_t n = dy->numElements();
            for (int64_t i = 0; i < n; ++i)
                o[i] = state->mask.empty()
                           ? g[i]
                           : (state->mask[static_cast<std::size_t>(i)] ? g[i] * scale : T(0));
            return Status::ok();
        });
        return r ? *r : unsupportedType(dy->dtype());
    });
    GradBuild b = gradBuild(std::move(kernel), ctx, {}, {});
    b.trainingForward = std::make_unique<Forward>(state, flags, attrRatio, ratioInput, nodeSalt);
    return b;
}

}  // namespace

void registerElementwiseGradients(GradRegistry& r) {
    constexpr auto kRef = Backend::kReference;
    r.add("", "Add", 7, 99, kRef, binaryFactory(Binary::kAdd));
    r.add("", "Sub", 7, 99, kRef, binaryFactory(Binary::kSub));
    r.add("", "Mul", 7, 99, kRef, binaryFactory(Binary::kMul));
    r.add("", "Div", 7, 99, kRef, binaryFactory(Binary::kDiv));
    r.add("", "PRelu", 7, 99, kRef, binaryFactory(Binary::kPRelu));
    r.add("", "Pow", 7, 99, kRef, binaryFactory(Binary::kPow));

    // Each derivative is written for the value the kernel saves: x (input) or y (output).
    r.add("", "Relu", 6, 99, kRef, unaryFactory(Source::kOutput, [](const ir::Node&, auto y) {
              return y > 0 ? decltype(y)(1) : decltype(y)(0);
          }));
    r.add("", "LeakyRelu", 6, 99, kRef, unaryFactory(Source::kInput, [](const ir::Node& n, auto x) {
              using T = decltype(x);
              return x > 0 ? T(1) : static_cast<T>(n.attrFloat("alpha", 0.01f));
          }));
    r.add("", "Sigmoid", 6, 99, kRef, unaryFactory(Source::kOutput, [](const ir::Node&, auto y) {
              return y * (decltype(y)(1) - y);
          }));
    r.add("", "Tanh", 6, 99, kRef, unaryFactory(Source::kOutput, [](const ir::Node&, auto y) {
              return decltype(y)(1) - y * y;
          }));
    r.add("", "HardSigmoid", 6, 99, kRef,
          unaryFactory(Source::kInput, [](const ir::Node& n, auto x) {
              using T = decltype(x);
              const T alpha = static_cast<T>(n.attrFloat("alpha", 0.2f));
              const T beta = static_cast<T>(n.attrFloat("beta", 0.5f));
              const T v = alpha * x + beta;
              return v > T(0) && v < T(1) ? alpha : T(0);
          }));
    // HardSwish(x) = x * max(0, min(1, x/6 + 1/2)).
    r.add("", "HardSwish", 14, 99, kRef, unaryFactory(Source::kInput, [](const ir::Node&, auto x) {
              using T = decltype(x);
              if (x < T(-3)) return T(0);
              if (x > T(3)) return T(1);
              return (T(2) * x + T(3)) / T(6);
          }));
    r.add("", "Sqrt", 6, 99, kRef, unaryFactory(Source::kOutput, [](const ir::Node&, auto y) {
              return decltype(y)(0.5) / y;
          }));
    r.add("", "Exp", 6, 99, kRef,
          unaryFactory(Source::kOutput, [](const ir::Node&, auto y) { return y; }));
    r.add("", "Log", 6, 99, kRef,
          unaryFactory(Source::kInput, [](const ir::Node&, auto x) { return decltype(x)(1) / x; }));
    r.add("", "Erf", 9, 99, kRef, unaryFactory(Source::kInput, [](const ir::Node&, auto x) {
              using T = decltype(x);
              return static_cast<T>(1.1283791670955126) * std::exp(-x * x);  // 2/sqrt(pi)
          }));
    r.add("", "Neg", 6, 99, kRef,
          unaryFactory(Source::kNone, [](const ir::Node&, auto x) { return decltype(x)(-1); }));
    r.add("", "Identity", 1, 99, kRef,
          unaryFactory(Source::kNone, [](const ir::Node&, auto x) { return decltype(x)(1); }));
    r.add("", "Clip", 6, 99, kRef, clipFactory);
    r.add("", "Dropout", 7, 99, kRef, dropoutFactory);
}

}  // namespace wh::engine::ref
