// Reference elementwise kernels: activations, arithmetic with numpy broadcasting, Identity,
// Dropout (inference) and Cast. Plain loops over contiguous rows (see broadcast.h); the type is
// resolved once in the factory, so run() has no per-element dispatch.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "core/engine/ref/broadcast.h"
#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/ref_kernels.h"

namespace wh::engine::ref {

namespace {

using D = ir::DType;
constexpr Backend kRef = Backend::kReference;

// A broadcast plan computed for the shapes seen last; recomputed only when they change (shapes
// are normally fixed at compile time, so this is done once).
class BroadcastCache {
public:
    Expected<const BroadcastPlan*> get(const Dims& a, const Dims& b) {
        if (!m_valid || a != m_a || b != m_b) {
            WH_ASSIGN_OR_RETURN(m_plan, planBroadcast({&a, &b}));
            m_a = a, m_b = b, m_valid = true;
        }
        return &m_plan;
    }
    Expected<const BroadcastPlan*> getTo(const Dims& out, const Dims& b) {
        if (!m_valid || out != m_a || b != m_b) {
            WH_ASSIGN_OR_RETURN(m_plan, planBroadcastTo(out, {&out, &b}));
            m_a = out, m_b = b, m_valid = true;
        }
        return &m_plan;
    }

private:
    Dims m_a, m_b;
    BroadcastPlan m_plan;
    bool m_valid = false;
};

// ---------------------------------------------------------------- unary activations

// `Fn` maps T to T; one kernel per (op, type).
template <class T, class Fn>
std::unique_ptr<Kernel> unaryKernel(Fn fn) {
    return makeKernel(
        [fn](std::span<const HostTensor* const> in, std::span<HostTensor* const> out) -> Status {
            const HostTensor& x = *in[0];
            HostTensor& y = *out[0];
            y.ensure(x.dtype(), x.dims());
            const T* px = x.data<T>();
            T* py = y.data<T>();
            const int64_t n = x.numElements();
            // Erf, Exp, Tanh... cost tens of cycles each: worth the threads on big tensors.
#pragma omp parallel for schedule(static) if (n > 65536)
            for (int64_t i = 0; i < n; ++i) py[i] = fn(px[i]);
            return Status::ok();
        });
}

// Registers a float-only (float, double) unary op whose functor is made by `make(ctx, T{})`.
template <TypeSet set, class Make>
KernelFactory unaryFactory(Make make) {
    return [make](const KernelContext& ctx) -> Expected<KernelBuild> {
        WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
        const TensorInfo& x = ctx.inputs[0];
        auto built = dispatch<set>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
            using T = decltype(tag);
            return unaryKernel<T>(make(ctx, T{}));
        });
        if (!built) return unsupportedType(ctx, x.dtype);
        TensorInfo out = x;
        out.constant.reset();
        return singleOutput(std::move(*built), std::move(out));
    };
}

template <class T>
T sigmoid(T x) {
    // Stable on both sides: exp never overflows.
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
}

void registerActivations(KernelRegistry& r) {
    r.add("", "Relu", 6, 18, kRef, unaryFactory<TypeSet::kReal>([](const KernelContext&, auto t) {
              using T = decltype(t);
              return [](T x) { return x > T(0) ? x : T(0); };
          }));
    r.add("", "LeakyRelu", 6, 18, kRef,
          unaryFactory<TypeSet::kFloat>([](const KernelContext& ctx, auto t) {
              using T = decltype(t);
              const T alpha = static_cast<T>(ctx.node.attrFloat("alpha", 0.01f));
              return [alpha](T x) { return x >= T(0) ? x : alpha * x; };
          }));
    r.add("", "Sigmoid", 6, 18, kRef,
          unaryFactory<TypeSet::kFloat>([](const KernelContext&, auto t) {
              using T = decltype(t);
              return [](T x) { return sigmoid(x); };
          }));
    r.add("", "HardSigmoid", 6, 18, kRef,
          unaryFactory<TypeSet::kFloat>([](const KernelContext& ctx, auto t) {
              using T = decltype(t);
              const T alpha = static_cast<T>(ctx.node.attrFloat("alpha", 0.2f));
              const T beta = static_cast<T>(ctx.node.attrFloat("beta", 0.5f));
              return
                  [alpha, beta](T x) { return std::max(T(0), std::min(T(1), alpha * x + beta)); };
          }));
    r.add("", "HardSwish", 14, 18, kRef,
          unaryFactory<TypeSet::kFloat>([](const KernelContext&, auto t) {
              using T = decltype(t);
              // x * HardSigmoid(x) with alpha = 1/6, beta = 0.5.
              return
                  [](T x) { return x * std::max(T(0), std::min(T(1), x * T(1.0 / 6.0) + T(0.5))); };
          }));
    r.add("", "Tanh", 6, 18, kRef, unaryFactory<TypeSet::kFloat>([](const KernelContext&, auto t) {
              using T = decltype(t);
              return [](T x) { return std::tanh(x); };
          }));
    r.add("", "Erf", 9, 18, kRef, unaryFactory<TypeSet::kFloat>([](const KernelContext&, auto t) {
              using T = decltype(t);
              return [](T x) { return std::erf(x); };
          }));
    r.add("", "Sqrt", 6, 18, kRef, unaryFactory<TypeSet::kFloat>([](const KernelContext&, auto t) {
              using T = decltype(t);
              return [](T x) { return std::sqrt(x); };
          }));
    r.add("", "Exp", 6, 18, kRef, unaryFactory<TypeSet::kFloat>([](const KernelContext&, auto t) {
              using T = decltype(t);
              return [](T x) { return std::exp(x); };
          }));
    r.add("", "Log", 6, 18, kRef, unaryFactory<TypeSet::kFloat>([](const KernelContext&, auto t) {
              using T = decltype(t);
              return [](T x) { return std::log(x); };
          }));
    r.add("", "Neg", 6, 18, kRef, unaryFactory<TypeSet::kReal>([](const KernelContext&, auto t) {
              using T = decltype(t);
              return [](T x) { return static_cast<T>(-x); };
          }));
    r.add("", "Abs", 6, 18, kRef, unaryFactory<TypeSet::kReal>([](const KernelContext&, auto t) {
              using T = decltype(t);
              return [](T x) { return x < T(0) ? static_cast<T>(-x) : x; };
          }));
}

// ---------------------------------------------------------------- Clip

// Opset 6-10: min/max attributes (float). Opset 11+: optional scalar inputs 1 and 2.
Expected<KernelBuild> clipFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    const bool attrForm = ctx.opset < 11;
    for (int i = 1; i <= 2 && !attrForm; ++i)
        if (ctx.hasInput(i) && ctx.inputs[static_cast<std::size_t>(i)].dtype != x.dtype)
            return error(StatusCode::kBadInput, "{}: {} is {}, the input is {}", ctx.where(),
                         i == 1 ? "min" : "max",
                         typeName(ctx.inputs[static_cast<std::size_t>(i)].dtype),
                         typeName(x.dtype));
    const ir::Attribute* attrMin = attrForm ? ctx.node.attribute("min") : nullptr;
    const ir::Attribute* attrMax = attrForm ? ctx.node.attribute("max") : nullptr;
    const bool hasMin = attrMin != nullptr, hasMax = attrMax != nullptr;
    const double minValue = hasMin ? attrMin->f : 0.0, maxValue = hasMax ? attrMax->f : 0.0;
    auto built = dispatch<TypeSet::kReal>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel([=](std::span<const HostTensor* const> in,
                              std::span<HostTensor* const> out) -> Status {
            T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
            if (attrForm) {
                if (hasMin) lo = convertValue<T>(minValue);
                if (hasMax) hi = convertValue<T>(maxValue);
            } else {
                for (int i = 1; i <= 2; ++i) {
                    const HostTensor* b = in.size() > static_cast<std::size_t>(i)
                                              ? in[static_cast<std::size_t>(i)]
                                              : nullptr;
                    if (!b) continue;
                    if (b->numElements() != 1)
                        return makeStatus(StatusCode::kBadInput, "{} must be a scalar, it is {}",
                                          i == 1 ? "min" : "max", dimsToString(b->dims()));
                    (i == 1 ? lo : hi) = *b->data<T>();
                }
            }
            const HostTensor& xs = *in[0];
            HostTensor& y = *out[0];
            y.ensure(xs.dtype(), xs.dims());
            const T* px = xs.data<T>();
            T* py = y.data<T>();
            // min(max(x, lo), hi), as the spec (and numpy.clip) order it; NaN passes through.
            for (int64_t i = 0, n = xs.numElements(); i < n; ++i) {
                T v = px[i];
                v = v < lo ? lo : v;
                py[i] = v > hi ? hi : v;
            }
            return Status::ok();
        });
    });
    if (!built) return unsupportedType(ctx, x.dtype);
    TensorInfo out = x;
    out.constant.reset();
    return singleOutput(std::move(*built), std::move(out));
}

// ---------------------------------------------------------------- binary arithmetic

enum class Arith { kAdd, kSub, kMul, kDiv };

template <Arith op, class T>
inline T arith(T a, T b) {
    if constexpr (op == Arith::kAdd)
        return static_cast<T>(a + b);
    else if constexpr (op == Arith::kSub)
        return static_cast<T>(a - b);
    else if constexpr (op == Arith::kMul)
        return static_cast<T>(a * b);
    else
        return static_cast<T>(a / b);
}

// Opset < 7 (legacy broadcasting): with broadcast=1, B's dims line up with A's starting at
// `axis` (default: suffix); pad B with trailing 1s so numpy rules then give the same result.
Dims legacyDimsOfB(const Dims& a, const Dims& b, int64_t axis) {
    if (axis < 0) return b;
    Dims out = b;
    const int64_t trailing = static_cast<int64_t>(a.size()) - axis - static_cast<int64_t>(b.size());
    for (int64_t i = 0; i < trailing; ++i) out.push_back(1);
    return out;
}

template <Arith op>
Expected<KernelBuild> arithFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    const TensorInfo& a = ctx.inputs[0];
    TensorInfo b = ctx.inputs[1];
    if (a.dtype != b.dtype)
        return error(StatusCode::kBadInput, "{}: inputs are {} and {}; they must match",
                     ctx.where(), typeName(a.dtype), typeName(b.dtype));
    int64_t legacyAxis = -1;
    if (ctx.opset < 7) {
        if (ctx.node.attrInt("broadcast", 0) != 0 && a.rankKnown && b.rankKnown) {
            const auto rankA = static_cast<int64_t>(a.dims.size());
            const auto rankB = static_cast<int64_t>(b.dims.size());
            const ir::Attribute* axis = ctx.node.attribute("axis");
            legacyAxis = axis ? (axis->i < 0 ? axis->i + rankA : axis->i) : rankA - rankB;
            b.dims = legacyDimsOfB(a.dims, b.dims, legacyAxis);
        } else if (ctx.node.attrInt("broadcast", 0) != 0) {
            return error(StatusCode::kUnsupported,
                         "{}: legacy broadcasting needs inputs of known rank", ctx.where());
        }
    }
    WH_ASSIGN_OR_RETURN(TensorInfo out, broadcastInfo(a.dtype, {&a, &b}));
    auto built = dispatch<TypeSet::kReal>(a.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel([legacyAxis, cache = BroadcastCache()](
                              std::span<const HostTensor* const> in,
                              std::span<HostTensor* const> outs) mutable -> Status {
            const HostTensor& x = *in[0];
            const HostTensor& y = *in[1];
            const Dims yDims =
                legacyAxis >= 0 ? legacyDimsOfB(x.dims(), y.dims(), legacyAxis) : y.dims();
            WH_ASSIGN_OR_RETURN_STATUS(const BroadcastPlan* plan, cache.get(x.dims(), yDims));
            HostTensor& z = *outs[0];
            z.ensure(x.dtype(), plan->outDims);
            const T* px = x.data<T>();
            const T* py = y.data<T>();
            T* pz = z.data<T>();
            bool divideByZero = false;
            forEachRow(*plan, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* step) {
                const T* ra = px + off[0];
                const T* rb = py + off[1];
                const int64_t sa = step[0], sb = step[1];
                T* rz = pz + o;
                if constexpr (op == Arith::kDiv && std::is_integral_v<T>) {
                    for (int64_t i = 0; i < n; ++i) {
                        const T d = rb[i * sb];
                        if (d == T(0)) {
                            divideByZero = true;
                            rz[i] = T(0);
                        } else {
                            rz[i] = static_cast<T>(ra[i * sa] / d);
                        }
                    }
                } else if (sa == 1 && sb == 1) {
                    for (int64_t i = 0; i < n; ++i) rz[i] = arith<op>(ra[i], rb[i]);
                } else {
                    for (int64_t i = 0; i < n; ++i) rz[i] = arith<op>(ra[i * sa], rb[i * sb]);
                }
            });
            if (divideByZero) return makeStatus(StatusCode::kBadInput, "integer division by zero");
            return Status::ok();
        });
    });
    if (!built) return unsupportedType(ctx, a.dtype);
    return singleOutput(std::move(*built), std::move(out));
}

// Pow: the exponent may have another type; the result has the base's type. Computed in double.
Expected<KernelBuild> powFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    const TensorInfo& a = ctx.inputs[0];
    const TensorInfo& b = ctx.inputs[1];
    if (ctx.opset < 12 && a.dtype != b.dtype)
        return error(StatusCode::kBadInput, "{}: inputs are {} and {}; they must match",
                     ctx.where(), typeName(a.dtype), typeName(b.dtype));
    WH_ASSIGN_OR_RETURN(TensorInfo out, broadcastInfo(a.dtype, {&a, &b}));
    bool typeOk = true;
    auto built = dispatch<TypeSet::kReal>(a.dtype, [&](auto baseTag) -> std::unique_ptr<Kernel> {
        using TB = decltype(baseTag);
        auto inner = dispatch<TypeSet::kReal>(b.dtype, [&](auto expTag) -> std::unique_ptr<Kernel> {
            using TE = decltype(expTag);
            return makeKernel([cache = BroadcastCache()](
                                  std::span<const HostTensor* const> in,
                                  std::span<HostTensor* const> outs) mutable -> Status {
                const HostTensor& x = *in[0];
                const HostTensor& y = *in[1];
                WH_ASSIGN_OR_RETURN_STATUS(const BroadcastPlan* plan,
                                           cache.get(x.dims(), y.dims()));
                HostTensor& z = *outs[0];
                z.ensure(x.dtype(), plan->outDims);
                const TB* px = x.data<TB>();
                const TE* py = y.data<TE>();
                TB* pz = z.data<TB>();
                forEachRow(*plan, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* st) {
                    for (int64_t i = 0; i < n; ++i) {
                        const double v = std::pow(static_cast<double>(px[off[0] + i * st[0]]),
                                                  static_cast<double>(py[off[1] + i * st[1]]));
                        pz[o + i] = convertValue<TB>(v);
                    }
                });
                return Status::ok();
            });
        });
        if (!inner) {
            typeOk = false;
            return nullptr;
        }
        return std::move(*inner);
    });
    if (!built || !typeOk) return unsupportedType(ctx, built ? b.dtype : a.dtype);
    return singleOutput(std::move(*built), std::move(out));
}

// Opset 6 (before numpy broadcasting): a 1-D slope of x's channel count applies per channel
// (axis 1), as PyTorch exported PReLU(num_parameters=C).
Dims legacySlopeDims(const Dims& x, const Dims& slope) {
    if (slope.size() != 1 || x.size() < 3 || slope[0] != x[1] || slope[0] == x.back()) return slope;
    Dims d(x.size() - 1, 1);
    d[0] = slope[0];
    return d;
}

// PRelu: y = x < 0 ? slope * x : x, slope broadcast to x's shape (unidirectionally).
Expected<KernelBuild> preluFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    const TensorInfo& x = ctx.inputs[0];
    TensorInfo slope = ctx.inputs[1];
    const bool legacy = ctx.opset < 7;
    if (x.dtype != slope.dtype)
        return error(StatusCode::kBadInput, "{}: X is {}, slope is {}", ctx.where(),
                     typeName(x.dtype), typeName(slope.dtype));
    if (x.shapeKnown() && slope.shapeKnown()) {
        if (legacy) slope.dims = legacySlopeDims(x.dims, slope.dims);
        auto plan = planBroadcastTo(x.dims, {&slope.dims});
        if (!plan)
            return error(StatusCode::kBadInput, "{}: slope {}", ctx.where(),
                         plan.error().message());
    }
    auto built = dispatch<TypeSet::kReal>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel([legacy, cache = BroadcastCache()](
                              std::span<const HostTensor* const> in,
                              std::span<HostTensor* const> outs) mutable -> Status {
            const HostTensor& xs = *in[0];
            const HostTensor& s = *in[1];
            const Dims sDims = legacy ? legacySlopeDims(xs.dims(), s.dims()) : s.dims();
            WH_ASSIGN_OR_RETURN_STATUS(const BroadcastPlan* plan, cache.getTo(xs.dims(), sDims));
            HostTensor& y = *outs[0];
            y.ensure(xs.dtype(), xs.dims());
            const T* px = xs.data<T>();
            const T* ps = s.data<T>();
            T* py = y.data<T>();
            forEachRow(*plan, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* st) {
                for (int64_t i = 0; i < n; ++i) {
                    const T v = px[off[0] + i * st[0]];
                    py[o + i] = v < T(0) ? static_cast<T>(ps[off[1] + i * st[1]] * v) : v;
                }
            });
            return Status::ok();
        });
    });
    if (!built) return unsupportedType(ctx, x.dtype);
    TensorInfo out = x;
    out.constant.reset();
    return singleOutput(std::move(*built), std::move(out));
}

// ---------------------------------------------------------------- Identity, Dropout

Expected<KernelBuild> identityFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    TensorInfo out = ctx.inputs[0];
    out.constant.reset();
    return singleOutput(makeKernel([](std::span<const HostTensor* const> in,
                                      std::span<HostTensor* const> outs) -> Status {
                            copyTensor(*in[0], *outs[0], in[0]->dims());
                            return Status::ok();
                        }),
                        std::move(out));
}

// Inference only: output = input, mask (if asked for) all ones. Opset 12+ takes `ratio` and
// `training_mode` as inputs; training_mode true is refused (kUnsupported) until training lands.
Expected<KernelBuild> dropoutFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    const bool hasTrainingInput = ctx.opset >= 12 && ctx.hasInput(2);
    // Training with ratio 0 drops nothing: the same as inference. Other ratios need random masks.
    auto isTraining = [](const HostTensor* t) {
        return t && t->numElements() > 0 && t->at(0) != 0.0;
    };
    auto dropsSomething = [](const HostTensor* ratio) {
        return !ratio || ratio->numElements() == 0 || ratio->at(0) != 0.0;  // default ratio 0.5
    };
    if (hasTrainingInput && ctx.inputs[2].constant && isTraining(ctx.inputs[2].constant.get()) &&
        (!ctx.hasInput(1) || ctx.inputs[1].constant) &&
        dropsSomething(ctx.hasInput(1) ? ctx.inputs[1].constant.get() : nullptr))
        return error(StatusCode::kUnsupported,
                     "{}: training_mode = true with ratio > 0 is not supported (inference only)",
                     ctx.where());
    const ir::DType maskType = ctx.opset >= 10 ? D::kBool : x.dtype;
    const bool wantMask = ctx.node.numOutputs() > 1 && ctx.node.output(1) != nullptr;
    if (wantMask && maskType != D::kBool &&
        !dispatch<TypeSet::kAll>(maskType, [](auto) { return 0; }))
        return unsupportedType(ctx, maskType);
    KernelBuild b;
    b.kernel = makeKernel(
        [hasTrainingInput, maskType, isTraining, dropsSomething](
            std::span<const HostTensor* const> in, std::span<HostTensor* const> outs) -> Status {
            if (hasTrainingInput && isTraining(in[2]) &&
                dropsSomething(in.size() > 1 ? in[1] : nullptr))
                return makeStatus(
                    StatusCode::kUnsupported,
                    "training_mode = true with ratio > 0 is not supported (inference only)");
            copyTensor(*in[0], *outs[0], in[0]->dims());
            if (outs.size() > 1 && outs[1]) {
                HostTensor& mask = *outs[1];
                mask.ensure(maskType, in[0]->dims());
                dispatch<TypeSet::kAll>(maskType, [&](auto tag) {
                    using T = decltype(tag);
                    T* p = mask.data<T>();
                    const T one = convertValue<T>(1.0);
                    for (int64_t i = 0, n = mask.numElements(); i < n; ++i) p[i] = one;
                    return 0;
                });
            }
            return Status::ok();
        });
    TensorInfo out = x;
    out.constant.reset();
    b.outputs.push_back(out);
    out.dtype = maskType;
    b.outputs.push_back(out);
    return b;
}

// ---------------------------------------------------------------- Cast

// Input 0 converted to `target` (Cast's `to`, CastLike's input 1's type).
Expected<KernelBuild> castTo(const KernelContext& ctx, ir::DType target) {
    const TensorInfo& x = ctx.inputs[0];
    if (x.dtype == D::kString || target == D::kString)
        return error(StatusCode::kUnsupported, "{}: casts from or to string are not supported",
                     ctx.where());
    if (ir::is4Bit(target))  // the engine holds 4-bit data widened only (HostTensor::fromIr)
        return error(StatusCode::kUnsupported, "{}: casts to {} are not supported", ctx.where(),
                     ir::dtypeName(target));
    TensorInfo out = x;
    out.constant.reset();
    out.dtype = target;
    if (x.dtype == target) return identityFactory(ctx);
    std::unique_ptr<Kernel> kernel;
    dispatch<TypeSet::kAll>(x.dtype, [&](auto fromTag) {
        using From = decltype(fromTag);
        dispatch<TypeSet::kAll>(target, [&](auto toTag) {
            using To = decltype(toTag);
            kernel = makeKernel([target](std::span<const HostTensor* const> in,
                                         std::span<HostTensor* const> outs) -> Status {
                const HostTensor& xs = *in[0];
                HostTensor& y = *outs[0];
                y.ensure(target, xs.dims());
                const From* px = xs.data<From>();
                To* py = y.data<To>();
                for (int64_t i = 0, n = xs.numElements(); i < n; ++i)
                    py[i] = convertValue<To>(px[i]);
                return Status::ok();
            });
            return 0;
        });
        return 0;
    });
    if (!kernel)
        return error(StatusCode::kUnsupported, "{}: cast from {} to {} is not supported",
                     ctx.where(), typeName(x.dtype), typeName(target));
    return singleOutput(std::move(kernel), std::move(out));
}

Expected<KernelBuild> castFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const ir::Attribute* to = ctx.node.attribute("to");
    if (!to) return error(StatusCode::kBadInput, "{}: attribute 'to' is missing", ctx.where());
    if (!ir::isKnownDType(static_cast<int32_t>(to->i)))
        return error(StatusCode::kBadInput, "{}: 'to' = {} is not a type", ctx.where(), to->i);
    return castTo(ctx, static_cast<ir::DType>(to->i));
}

// CastLike (opset 15): Cast to the type of input 1 (whose values are not read).
Expected<KernelBuild> castLikeFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    return castTo(ctx, ctx.inputs[1].dtype);
}

}  // namespace

void registerElementwise(KernelRegistry& r) {
    registerActivations(r);
    r.add("", "Clip", 6, 18, kRef, clipFactory);
    r.add("", "PRelu", 6, 18, kRef, preluFactory);
    r.add("", "Add", 6, 18, kRef, arithFactory<Arith::kAdd>);
    r.add("", "Sub", 6, 18, kRef, arithFactory<Arith::kSub>);
    r.add("", "Mul", 6, 18, kRef, arithFactory<Arith::kMul>);
    r.add("", "Div", 6, 18, kRef, arithFactory<Arith::kDiv>);
    r.add("", "Pow", 7, 18, kRef, powFactory);
    r.add("", "Identity", 1, 18, kRef, identityFactory);
    r.add("", "Dropout", 6, 18, kRef, dropoutFactory);
    r.add("", "Cast", 6, 18, kRef, castFactory);
    r.add("", "CastLike", 15, 18, kRef, castLikeFactory);
}

}  // namespace wh::engine::ref
