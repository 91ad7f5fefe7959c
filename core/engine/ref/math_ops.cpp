// Reference kernels for comparisons, logic, Where, elementwise math (Floor ... IsInf), Mod and
// the variadic Min/Max/Sum/Mean, all with numpy broadcasting (broadcast.h). float16/bfloat16 are
// computed in float; the type is resolved once in the factory.

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include <fmt/format.h>

#include "core/engine/ref/broadcast.h"
#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/ref_kernels.h"

namespace wh::engine::ref {

namespace {

using D = ir::DType;
using Ins = std::span<const HostTensor* const>;
using Outs = std::span<HostTensor* const>;
constexpr Backend kRef = Backend::kReference;

Status requireSameTypes(const KernelContext& ctx, int first, int n) {
    for (int i = first + 1; i < first + n; ++i)
        if (ctx.inputs[static_cast<std::size_t>(i)].dtype !=
            ctx.inputs[static_cast<std::size_t>(first)].dtype)
            return makeStatus(StatusCode::kBadInput, "{}: inputs are {} and {}; they must match",
                              ctx.where(),
                              typeName(ctx.inputs[static_cast<std::size_t>(first)].dtype),
                              typeName(ctx.inputs[static_cast<std::size_t>(i)].dtype));
    return Status::ok();
}

// The type arithmetic is done in: float for float16/bfloat16, the type itself otherwise.
template <class T>
using Calc = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;

template <class T>
inline Calc<T> load(T v) {
    return convertValue<Calc<T>>(v);
}

// Numeric types: every dispatchable type but bool (only these are instantiated).
template <class F>
auto dispatchNumeric(ir::DType dtype, F&& f) -> std::optional<decltype(f(float{}))> {
    if (dtype == D::kFloat16) return f(Half{});
    if (dtype == D::kBFloat16) return f(BFloat16{});
    return dispatch<TypeSet::kReal>(dtype, std::forward<F>(f));
}
// float, double, float16, bfloat16.
template <class F>
auto dispatchFloating(ir::DType dtype, F&& f) -> std::optional<decltype(f(float{}))> {
    if (dtype == D::kFloat16) return f(Half{});
    if (dtype == D::kBFloat16) return f(BFloat16{});
    return dispatch<TypeSet::kFloat>(dtype, std::forward<F>(f));
}

// A broadcast plan for the input shapes seen last (normally computed once).
class PlanCache {
public:
    Expected<const BroadcastPlan*> get(std::initializer_list<const Dims*> dims) {
        bool same = m_valid && dims.size() == m_dims.size();
        std::size_t k = 0;
        for (const Dims* d : dims) same = same && *d == m_dims[k++];
        if (!same) {
            WH_ASSIGN_OR_RETURN(m_plan, planBroadcast(dims));
            m_dims.clear();
            for (const Dims* d : dims) m_dims.push_back(*d);
            m_valid = true;
        }
        return &m_plan;
    }

private:
    std::vector<Dims> m_dims;
    BroadcastPlan m_plan;
    bool m_valid = false;
};

// ---------------------------------------------------------------- unary

// y[i] = fn(load(x[i])) converted to TOut; `outType` is the output dtype.
template <class TIn, class TOut, class Fn>
std::unique_ptr<Kernel> mapKernel(ir::DType outType, Fn fn) {
    return makeKernel([outType, fn](Ins in, Outs out) -> Status {
        const HostTensor& x = *in[0];
        HostTensor& y = *out[0];
        y.ensure(outType, x.dims());
        const TIn* px = x.data<TIn>();
        TOut* py = y.data<TOut>();
        for (int64_t i = 0, n = x.numElements(); i < n; ++i)
            py[i] = convertValue<TOut>(fn(load(px[i])));
        return Status::ok();
    });
}

enum class Types { kFloating, kNumeric, kSigned, kBool };

template <Types types, class F>
auto dispatchTypes(ir::DType dtype, F&& f) -> std::optional<decltype(f(float{}))> {
    if constexpr (types == Types::kFloating) {
        return dispatchFloating(dtype, std::forward<F>(f));
    } else if constexpr (types == Types::kBool) {
        if (dtype != D::kBool) return std::nullopt;
        return f(bool{});
    } else {
        return dispatchNumeric(dtype, std::forward<F>(f));
    }
}

// Same-type unary op; `make(ctx, T{})` gives the functor over Calc<T> (or an error).
template <Types types, class Make>
KernelFactory sameTypeUnary(Make make) {
    return [make](const KernelContext& ctx) -> Expected<KernelBuild> {
        WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
        const TensorInfo& x = ctx.inputs[0];
        auto built = dispatchTypes<types>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
            using T = decltype(tag);
            return mapKernel<T, T>(x.dtype, make(ctx, T{}));
        });
        if (!built) return unsupportedType(ctx, x.dtype);
        TensorInfo out = x;
        out.constant.reset();
        return singleOutput(std::move(*built), std::move(out));
    };
}

// Floating input, bool output (IsNaN, IsInf).
template <class Make>
KernelFactory predicateUnary(Make make) {
    return [make](const KernelContext& ctx) -> Expected<KernelBuild> {
        WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
        const TensorInfo& x = ctx.inputs[0];
        auto built = dispatchFloating(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
            using T = decltype(tag);
            return mapKernel<T, bool>(D::kBool, make(ctx, T{}));
        });
        if (!built) return unsupportedType(ctx, x.dtype);
        TensorInfo out = x;
        out.constant.reset();
        out.dtype = D::kBool;
        return singleOutput(std::move(*built), std::move(out));
    };
}

template <class T>
T softplus(T x) {
    // log(1 + exp(x)) without overflow.
    return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

void registerUnary(KernelRegistry& r) {
#define WH_FLOAT_UNARY(name, since, expr)                                    \
    r.add("", name, since, 18, kRef,                                         \
          sameTypeUnary<Types::kFloating>([](const KernelContext&, auto t) { \
              using C = Calc<decltype(t)>;                                   \
              return [](C x) -> C { return expr; };                          \
          }))
    WH_FLOAT_UNARY("Floor", 6, std::floor(x));
    WH_FLOAT_UNARY("Ceil", 6, std::ceil(x));
    // Half to even: the default rounding mode.
    WH_FLOAT_UNARY("Round", 11, std::nearbyint(x));
    WH_FLOAT_UNARY("Reciprocal", 6, C(1) / x);
    WH_FLOAT_UNARY("Softplus", 1, softplus(x));
    WH_FLOAT_UNARY("Softsign", 1, x / (C(1) + std::abs(x)));
    WH_FLOAT_UNARY("Sin", 7, std::sin(x));
    WH_FLOAT_UNARY("Cos", 7, std::cos(x));
    WH_FLOAT_UNARY("Tan", 7, std::tan(x));
    WH_FLOAT_UNARY("Asin", 7, std::asin(x));
    WH_FLOAT_UNARY("Acos", 7, std::acos(x));
    WH_FLOAT_UNARY("Atan", 7, std::atan(x));
    WH_FLOAT_UNARY("Sinh", 9, std::sinh(x));
    WH_FLOAT_UNARY("Cosh", 9, std::cosh(x));
    WH_FLOAT_UNARY("Asinh", 9, std::asinh(x));
    WH_FLOAT_UNARY("Acosh", 9, std::acosh(x));
    WH_FLOAT_UNARY("Atanh", 9, std::atanh(x));
#undef WH_FLOAT_UNARY
    r.add("", "Sign", 9, 18, kRef, sameTypeUnary<Types::kNumeric>([](const KernelContext&, auto t) {
              using C = Calc<decltype(t)>;
              return [](C x) -> C { return x > C(0) ? C(1) : (x < C(0) ? C(-1) : C(0)); };
          }));
    r.add("", "Elu", 6, 18, kRef,
          sameTypeUnary<Types::kFloating>([](const KernelContext& ctx, auto t) {
              using C = Calc<decltype(t)>;
              const C alpha = static_cast<C>(ctx.node.attrFloat("alpha", 1.0f));
              return [alpha](C x) -> C { return x < C(0) ? alpha * (std::exp(x) - C(1)) : x; };
          }));
    r.add(
        "", "Selu", 6, 18, kRef,
        sameTypeUnary<Types::kFloating>([](const KernelContext& ctx, auto t) {
            using C = Calc<decltype(t)>;
            const C alpha = static_cast<C>(ctx.node.attrFloat("alpha", 1.67326319217681884765625f));
            const C gamma = static_cast<C>(ctx.node.attrFloat("gamma", 1.05070102214813232421875f));
            return [alpha, gamma](C x) -> C {
                return x > C(0) ? gamma * x : gamma * (alpha * std::exp(x) - alpha);
            };
        }));
    r.add("", "Celu", 12, 18, kRef,
          sameTypeUnary<Types::kFloating>([](const KernelContext& ctx, auto t) {
              using C = Calc<decltype(t)>;
              const C alpha = static_cast<C>(ctx.node.attrFloat("alpha", 1.0f));
              return [alpha](C x) -> C {
                  return std::max(C(0), x) + std::min(C(0), alpha * (std::exp(x / alpha) - C(1)));
              };
          }));
    r.add("", "ThresholdedRelu", 10, 18, kRef,
          sameTypeUnary<Types::kFloating>([](const KernelContext& ctx, auto t) {
              using C = Calc<decltype(t)>;
              const C alpha = static_cast<C>(ctx.node.attrFloat("alpha", 1.0f));
              return [alpha](C x) -> C { return x > alpha ? x : C(0); };
          }));
    r.add("", "Shrink", 9, 18, kRef,
          sameTypeUnary<Types::kNumeric>([](const KernelContext& ctx, auto t) {
              using C = Calc<decltype(t)>;
              const double lambd = ctx.node.attrFloat("lambd", 0.5f);
              const double bias = ctx.node.attrFloat("bias", 0.0f);
              return [lambd, bias](C x) -> double {
                  const double v = static_cast<double>(x);
                  return v < -lambd ? v + bias : (v > lambd ? v - bias : 0.0);
              };
          }));
    r.add("", "Not", 1, 18, kRef, sameTypeUnary<Types::kBool>([](const KernelContext&, auto) {
              return [](bool x) { return !x; };
          }));
    r.add("", "IsNaN", 9, 18, kRef, predicateUnary([](const KernelContext&, auto t) {
              using C = Calc<decltype(t)>;
              return [](C x) { return std::isnan(x); };
          }));
    r.add("", "IsInf", 10, 18, kRef, predicateUnary([](const KernelContext& ctx, auto t) {
              using C = Calc<decltype(t)>;
              const bool neg = ctx.node.attrInt("detect_negative", 1) != 0;
              const bool pos = ctx.node.attrInt("detect_positive", 1) != 0;
              return [neg, pos](C x) {
                  return std::isinf(x) && ((x < C(0) && neg) || (x > C(0) && pos));
              };
          }));
}

// ---------------------------------------------------------------- binary

// z = fn(load(a), load(b)) broadcast; fn may fail (sets `bad`), reported as `badMessage`.
template <class TIn, class TOut, class Fn>
std::unique_ptr<Kernel> binaryKernel(ir::DType outType, Fn fn, const char* badMessage = "") {
    return makeKernel([outType, fn, badMessage, cache = PlanCache()](Ins in,
                                                                     Outs outs) mutable -> Status {
        const HostTensor& a = *in[0];
        const HostTensor& b = *in[1];
        WH_ASSIGN_OR_RETURN_STATUS(const BroadcastPlan* plan, cache.get({&a.dims(), &b.dims()}));
        HostTensor& z = *outs[0];
        z.ensure(outType, plan->outDims);
        const TIn* pa = a.data<TIn>();
        const TIn* pb = b.data<TIn>();
        TOut* pz = z.data<TOut>();
        bool bad = false;
        forEachRow(*plan, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* step) {
            const TIn* ra = pa + off[0];
            const TIn* rb = pb + off[1];
            for (int64_t i = 0; i < n; ++i)
                pz[o + i] =
                    convertValue<TOut>(fn(load(ra[i * step[0]]), load(rb[i * step[1]]), bad));
        });
        if (bad) return makeStatus(StatusCode::kBadInput, "{}", badMessage);
        return Status::ok();
    });
}

// Same-typed inputs of the type set; output `outBool` ? bool : the input type.
template <Types types, bool outBool, class Make>
KernelFactory binaryFactory(Make make) {
    return [make](const KernelContext& ctx) -> Expected<KernelBuild> {
        WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
        WH_RETURN_IF_ERROR(requireSameTypes(ctx, 0, 2));
        const TensorInfo& a = ctx.inputs[0];
        const TensorInfo& b = ctx.inputs[1];
        const ir::DType outType = outBool ? D::kBool : a.dtype;
        WH_ASSIGN_OR_RETURN(TensorInfo out, broadcastInfo(outType, {&a, &b}));
        std::optional<Status> refused;
        auto built = dispatchTypes<types>(a.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
            using T = decltype(tag);
            using TOut = std::conditional_t<outBool, bool, T>;
            auto fn = make(ctx, T{});
            if (!fn) {
                refused = fn.error();
                return nullptr;
            }
            return binaryKernel<T, TOut>(outType, *fn, "integer modulo by zero");
        });
        if (refused) return tl::unexpected(*refused);
        if (!built) return unsupportedType(ctx, a.dtype);
        return singleOutput(std::move(*built), std::move(out));
    };
}

template <class T>
T pyMod(T a, T b) {
    if constexpr (std::is_unsigned_v<T>) {
        return static_cast<T>(a % b);
    } else {
        T r = static_cast<T>(a % b);
        if (r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
        return r;
    }
}

template <class C>
auto modFn(bool fmod) {
    return [fmod](C a, C b, bool& bad) -> C {
        if constexpr (std::is_floating_point_v<C>) {
            (void)fmod;
            return std::fmod(a, b);
        } else {
            if (b == C(0)) {
                bad = true;
                return C(0);
            }
            return fmod ? static_cast<C>(a % b) : pyMod(a, b);
        }
    };
}

void registerBinary(KernelRegistry& r) {
#define WH_COMPARE(name, since, expr)                                             \
    r.add("", name, since, 18, kRef,                                              \
          binaryFactory<Types::kNumeric, true>([](const KernelContext&, auto t) { \
              using C = Calc<decltype(t)>;                                        \
              auto f = [](C a, C b, bool&) -> bool { return expr; };              \
              return Expected<decltype(f)>(f);                                    \
          }))
    WH_COMPARE("Less", 7, a < b);
    WH_COMPARE("Greater", 7, a > b);
    WH_COMPARE("LessOrEqual", 12, a <= b);
    WH_COMPARE("GreaterOrEqual", 12, a >= b);
#undef WH_COMPARE
    // Equal takes bool too.
    r.add("", "Equal", 7, 18, kRef, [](const KernelContext& ctx) -> Expected<KernelBuild> {
        auto f = [](auto a, auto b, bool&) -> bool { return a == b; };
        if (ctx.hasInput(0) && ctx.inputs[0].dtype == D::kBool)
            return binaryFactory<Types::kBool, true>(
                [f](const KernelContext&, auto) { return Expected<decltype(f)>(f); })(ctx);
        return binaryFactory<Types::kNumeric, true>(
            [f](const KernelContext&, auto) { return Expected<decltype(f)>(f); })(ctx);
    });
#define WH_LOGIC(name, expr)                                                 \
    r.add("", name, 7, 18, kRef,                                             \
          binaryFactory<Types::kBool, true>([](const KernelContext&, auto) { \
              auto f = [](bool a, bool b, bool&) -> bool { return expr; };   \
              return Expected<decltype(f)>(f);                               \
          }))
    WH_LOGIC("And", a && b);
    WH_LOGIC("Or", a || b);
    WH_LOGIC("Xor", a != b);
#undef WH_LOGIC
    r.add("", "Mod", 10, 18, kRef,
          binaryFactory<Types::kNumeric, false>([](const KernelContext& ctx, auto t) {
              using C = Calc<decltype(t)>;
              const bool fmod = ctx.node.attrInt("fmod", 0) != 0;
              using F = decltype(modFn<C>(fmod));
              if (std::is_floating_point_v<C> && !fmod)
                  return Expected<F>(error(StatusCode::kBadInput,
                                           "{}: floating-point Mod needs fmod = 1", ctx.where()));
              return Expected<F>(modFn<C>(fmod));
          }));
}

// ---------------------------------------------------------------- Where

Expected<KernelBuild> whereFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 3));
    WH_RETURN_IF_ERROR(requireSameTypes(ctx, 1, 2));
    const TensorInfo& c = ctx.inputs[0];
    const TensorInfo& x = ctx.inputs[1];
    const TensorInfo& y = ctx.inputs[2];
    if (c.dtype != D::kBool)
        return error(StatusCode::kBadInput, "{}: condition is {}, not bool", ctx.where(),
                     typeName(c.dtype));
    WH_ASSIGN_OR_RETURN(TensorInfo out, broadcastInfo(x.dtype, {&c, &x, &y}));
    auto built = dispatch<TypeSet::kAll>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel([cache = PlanCache()](Ins in, Outs outs) mutable -> Status {
            const HostTensor& cs = *in[0];
            const HostTensor& xs = *in[1];
            const HostTensor& ys = *in[2];
            WH_ASSIGN_OR_RETURN_STATUS(const BroadcastPlan* plan,
                                       cache.get({&cs.dims(), &xs.dims(), &ys.dims()}));
            HostTensor& z = *outs[0];
            z.ensure(xs.dtype(), plan->outDims);
            const bool* pc = cs.data<bool>();
            const T* px = xs.data<T>();
            const T* py = ys.data<T>();
            T* pz = z.data<T>();
            forEachRow(*plan, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* st) {
                for (int64_t i = 0; i < n; ++i)
                    pz[o + i] =
                        pc[off[0] + i * st[0]] ? px[off[1] + i * st[1]] : py[off[2] + i * st[2]];
            });
            return Status::ok();
        });
    });
    if (!built) return unsupportedType(ctx, x.dtype);
    return singleOutput(std::move(*built), std::move(out));
}

// ---------------------------------------------------------------- Min, Max, Sum, Mean

enum class Fold { kMin, kMax, kSum, kMean };

template <Fold fold>
Expected<KernelBuild> variadicFactory(const KernelContext& ctx) {
    const int n = static_cast<int>(ctx.node.inputs().size());
    if (n < 1) return error(StatusCode::kBadInput, "{}: no inputs", ctx.where());
    WH_RETURN_IF_ERROR(requireInputs(ctx, n));
    WH_RETURN_IF_ERROR(requireSameTypes(ctx, 0, n));
    const ir::DType dtype = ctx.inputs[0].dtype;
    TensorInfo out = ctx.inputs[0];
    out.constant.reset();
    for (int i = 1; i < n; ++i) {
        WH_ASSIGN_OR_RETURN(out,
                            broadcastInfo(dtype, {&out, &ctx.inputs[static_cast<std::size_t>(i)]}));
    }
    auto body = [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        using C = Calc<T>;
        return makeKernel([n, acc = std::vector<C>()](Ins in, Outs outs) mutable -> Status {
            Dims outDims = in[0]->dims();
            for (int i = 1; i < n; ++i) {
                WH_ASSIGN_OR_RETURN_STATUS(
                    outDims, broadcastDims(outDims, in[static_cast<std::size_t>(i)]->dims()));
            }
            HostTensor& z = *outs[0];
            z.ensure(in[0]->dtype(), outDims);
            acc.resize(static_cast<std::size_t>(z.numElements()));
            for (int i = 0; i < n; ++i) {
                const HostTensor& x = *in[static_cast<std::size_t>(i)];
                WH_ASSIGN_OR_RETURN_STATUS(const BroadcastPlan plan,
                                           planBroadcastTo(outDims, {&x.dims()}));
                const T* px = x.data<T>();
                forEachRow(plan, [&](int64_t o, const int64_t* off, int64_t m, const int64_t* st) {
                    for (int64_t k = 0; k < m; ++k) {
                        const C v = load(px[off[0] + k * st[0]]);
                        C& d = acc[static_cast<std::size_t>(o + k)];
                        if (i == 0)
                            d = v;
                        else if constexpr (fold == Fold::kMin)
                            d = (std::isnan(static_cast<double>(d)) || d < v) ? d : v;
                        else if constexpr (fold == Fold::kMax)
                            d = (std::isnan(static_cast<double>(d)) || d > v) ? d : v;
                        else
                            d = static_cast<C>(d + v);
                    }
                });
            }
            T* pz = z.data<T>();
            for (std::size_t k = 0; k < acc.size(); ++k) {
                if constexpr (fold == Fold::kMean)
                    pz[k] = convertValue<T>(acc[k] / static_cast<C>(n));
                else
                    pz[k] = convertValue<T>(acc[k]);
            }
            return Status::ok();
        });
    };
    std::optional<std::unique_ptr<Kernel>> built;
    if constexpr (fold == Fold::kMin || fold == Fold::kMax)
        built = dispatchNumeric(dtype, body);
    else
        built = dispatchFloating(dtype, body);
    if (!built) return unsupportedType(ctx, dtype);
    return singleOutput(std::move(*built), std::move(out));
}

}  // namespace

void registerMathOps(KernelRegistry& r) {
    registerUnary(r);
    registerBinary(r);
    r.add("", "Where", 9, 18, kRef, whereFactory);
    r.add("", "Min", 6, 18, kRef, variadicFactory<Fold::kMin>);
    r.add("", "Max", 6, 18, kRef, variadicFactory<Fold::kMax>);
    r.add("", "Sum", 6, 18, kRef, variadicFactory<Fold::kSum>);
    r.add("", "Mean", 6, 18, kRef, variadicFactory<Fold::kMean>);
}

}  // namespace wh::engine::ref
