// BatchNormFold (com.whittle, opset 1): reference kernel (running statistics), training forward
// (batch statistics, running averages updated) and gradient (the seed's BatchNormFoldGrad). The
// formulas are in core/engine/batch_norm_fold.h.

#include "core/engine/batch_norm_fold.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/engine/fake_quantize.h"
#include "core/engine/ref/grad_util.h"
#include "core/engine/ref/kernel_util.h"

namespace wh::engine {

namespace ref {

namespace {

using ir::DType;
using Inputs = std::span<const HostTensor* const>;
using Outputs = std::span<HostTensor* const>;

struct BnfAttrs {
    double eps = 1e-5, momentum = 0.9;
    float epsF = 1e-5f;  // as given: the frozen std is computed in X's type from it (see below)
};

Expected<BnfAttrs> readAttrs(const ir::Node& node, std::string_view where) {
    BnfAttrs a;
    a.epsF = node.attrFloat("epsilon", 1e-5f);
    a.eps = a.epsF;
    a.momentum = node.attrFloat("momentum", 0.9f);
    if (!(a.eps >= 0))
        return error(StatusCode::kBadInput, "{}: BatchNormFold epsilon {} is negative", where,
                     a.eps);
    if (!(a.momentum >= 0 && a.momentum <= 1))
        return error(StatusCode::kBadInput, "{}: BatchNormFold momentum {} is not in [0, 1]",
                     where, a.momentum);
    return a;
}

// X, running_mean, running_var: all present, one floating type, the statistics [C] with C =
// X.dims[1] where the shapes are known. Returns C (-1 when unknown).
Expected<int64_t> checkInputs(std::span<const TensorInfo> inputs, std::string_view where) {
    if (inputs.size() != 3 || std::any_of(inputs.begin(), inputs.end(), [](const TensorInfo& t) {
            return t.dtype == DType::kUndefined;
        }))
        return error(StatusCode::kBadInput,
                     "{}: BatchNormFold takes X, running_mean and running_var", where);
    const DType t = inputs[0].dtype;
    if (t != DType::kFloat && t != DType::kDouble)
        return error(StatusCode::kUnsupported, "BatchNormFold of {} ({}): float and double only",
                     typeName(t), where);
    if (inputs[1].dtype != t || inputs[2].dtype != t)
        return error(StatusCode::kBadInput,
                     "{}: BatchNormFold's running_mean and running_var must have X's type {}",
                     where, typeName(t));
    if (inputs[0].rankKnown && inputs[0].dims.size() < 2)
        return error(StatusCode::kBadInput, "{}: BatchNormFold X has rank {} (needs >= 2)", where,
                     inputs[0].dims.size());
    int64_t C = inputs[0].rankKnown ? inputs[0].dims[1] : -1;
    for (int i = 1; i <= 2; ++i) {
        const TensorInfo& s = inputs[static_cast<std::size_t>(i)];
        if (!s.rankKnown) continue;
        if (s.dims.size() != 1 || (C >= 0 && s.dims[0] >= 0 && s.dims[0] != C))
            return error(StatusCode::kBadInput,
                         "{}: BatchNormFold {} is {}, expected [{}] (X's channels)", where,
                         i == 1 ? "running_mean" : "running_var", dimsToString(s.dims), C);
        if (C < 0) C = s.dims[0];
    }
    return C;
}

Status checkRun(const HostTensor& x, const HostTensor& mean, const HostTensor& var) {
    if (x.rank() < 2)
        return makeStatus(StatusCode::kBadInput, "BatchNormFold: X {} has rank < 2",
                          dimsToString(x.dims()));
    for (const HostTensor* s : {&mean, &var})
        if (s->dtype() != x.dtype() || s->rank() != 1 || s->dim(0) != x.dim(1))
            return makeStatus(StatusCode::kBadInput,
                              "BatchNormFold: running statistics {} do not match X {}",
                              dimsToString(s->dims()), dimsToString(x.dims()));
    return Status::ok();
}

// mean = running_mean, std = sqrt(running_var + epsilon), in X's type exactly as the standard
// Add and Sqrt compute sigma from the same initializers, so that sigma / std is exactly 1 when
// frozen.
template <class T>
void runningStats(const HostTensor& rm, const HostTensor& rv, const BnfAttrs& a, HostTensor* mean,
                  HostTensor* std) {
    const int64_t C = rm.numElements();
    if (mean) {
        mean->ensure(rm.dtype(), {C});
        std::copy_n(rm.data<T>(), C, mean->data<T>());
    }
    if (std) {
        std->ensure(rv.dtype(), {C});
        for (int64_t c = 0; c < C; ++c)
            std->data<T>()[c] = std::sqrt(rv.data<T>()[c] + static_cast<T>(a.epsF));
    }
}

Status runInference(Inputs in, Outputs out, const BnfAttrs& a) {
    WH_RETURN_STATUS_IF_ERROR(checkRun(*in[0], *in[1], *in[2]));
    auto at = [&](std::size_t i) { return i < out.size() ? out[i] : nullptr; };
    auto r = grad::dispatchFloat(in[0]->dtype(), [&](auto zero) {
        runningStats<decltype(zero)>(*in[1], *in[2], a, at(0), at(1));
        return Status::ok();
    });
    return r ? *r
             : makeStatus(StatusCode::kUnsupported, "BatchNormFold of {}: float and double only",
                          typeName(in[0]->dtype()));
}

Expected<KernelBuild> buildBatchNormFold(const KernelContext& ctx) {
    WH_ASSIGN_OR_RETURN(BnfAttrs a, readAttrs(ctx.node, ctx.where()));
    WH_ASSIGN_OR_RETURN(int64_t C, checkInputs(ctx.inputs, ctx.where()));
    KernelBuild b;
    // The inference kernel never reads X: the running statistics are what deployment folds.
    b.kernel = makeKernel([a](Inputs in, Outputs out) { return runInference(in, out, a); });
    for (int i = 0; i < 2; ++i) b.outputs.push_back(infoOf(ctx.inputs[0].dtype, {C}));
    return b;
}

// ---- Training --------------------------------------------------------------------------------

// What the training forward leaves for backward: the batch statistics it output, or that it
// output the running ones (no gradient then).
struct BnfShared {
    std::vector<double> mean, std;
    bool batchStats = true;
};

class BnfTrainingForward final : public Kernel {
public:
    BnfTrainingForward(BnfAttrs attrs, std::shared_ptr<BnfShared> shared, const NodeFlags* flags)
        : m_attrs(attrs), m_shared(std::move(shared)), m_flags(flags) {}

    // Outputs: mean, std, then (OpTraits::stateInputsFor: inputs {1, 2}) the new running mean
    // and variance; each written only where given.
    Status run(Inputs in, Outputs out) override {
        WH_RETURN_STATUS_IF_ERROR(checkRun(*in[0], *in[1], *in[2]));
        auto r = grad::dispatchFloat(in[0]->dtype(), [&](auto zero) {
            return runT<decltype(zero)>(in, out);
        });
        return r ? *r
                 : makeStatus(StatusCode::kUnsupported,
                              "BatchNormFold of {}: float and double only",
                              typeName(in[0]->dtype()));
    }

private:
    template <class T>
    Status runT(Inputs in, Outputs out) {
        auto at = [&](std::size_t i) { return i < out.size() ? out[i] : nullptr; };
        const HostTensor& x = *in[0];
        const HostTensor& rm = *in[1];
        const HostTensor& rv = *in[2];
        const int64_t N = x.dim(0), C = x.dim(1);
        const int64_t S = N * C > 0 ? x.numElements() / (N * C) : 0;
        BnfShared& sh = *m_shared;
        sh.batchStats = !(m_flags && m_flags->bnFrozen());
        sh.mean.assign(static_cast<std::size_t>(C), 0.0);
        sh.std.assign(static_cast<std::size_t>(C), 0.0);
        if (!sh.batchStats) {
            // Frozen (or evaluating): the running statistics, left as they are.
            runningStats<T>(rm, rv, m_attrs, at(0), at(1));
            if (HostTensor* t = at(2)) copyTensor(rm, *t, rm.dims());
            if (HostTensor* t = at(3)) copyTensor(rv, *t, rv.dims());
            return Status::ok();
        }
        const T* xs = x.data<T>();
        const double M = static_cast<double>(N * S);
        std::vector<double> var(static_cast<std::size_t>(C), 0.0);
        for (int64_t c = 0; c < C; ++c) {
            const auto cu = static_cast<std::size_t>(c);
            double s = 0, s2 = 0;
            for (int64_t n = 0; n < N; ++n) {
                const T* p = xs + (n * C + c) * S;
                for (int64_t k = 0; k < S; ++k) s += p[k];
            }
            const double mean = M > 0 ? s / M : 0.0;
            for (int64_t n = 0; n < N; ++n) {
                const T* p = xs + (n * C + c) * S;
                for (int64_t k = 0; k < S; ++k) s2 += (p[k] - mean) * (p[k] - mean);
            }
            sh.mean[cu] = mean;
            var[cu] = M > 0 ? s2 / M : 0.0;
            sh.std[cu] = std::sqrt(var[cu] + m_attrs.eps);
        }
        const double mom = m_flags ? m_flags->bnMomentum(m_attrs.momentum) : m_attrs.momentum;
        auto fill = [&](HostTensor* t, auto value) {
            if (!t) return;
            t->ensure(x.dtype(), {C});
            for (int64_t c = 0; c < C; ++c) t->data<T>()[c] = static_cast<T>(value(static_cast<std::size_t>(c)));
        };
        fill(at(0), [&](std::size_t c) { return sh.mean[c]; });
        fill(at(1), [&](std::size_t c) { return sh.std[c]; });
        fill(at(2), [&](std::size_t c) { return mom * rm.data<T>()[c] + (1 - mom) * sh.mean[c]; });
        fill(at(3), [&](std::size_t c) { return mom * rv.data<T>()[c] + (1 - mom) * var[c]; });
        return Status::ok();
    }

    BnfAttrs m_attrs;
    std::shared_ptr<BnfShared> m_shared;
    const NodeFlags* m_flags;
};

// dx = dmean / M + dstd (x - mean) / (M std) with batch statistics, 0 with running ones.
template <class T>
Status backwardT(const GradArgs& args, const BnfShared& sh) {
    constexpr DType kType = std::is_same_v<T, float> ? DType::kFloat : DType::kDouble;
    HostTensor* gx = grad::gradIn(args, 0);
    for (int k = 1; k <= 2; ++k)
        if (HostTensor* g = grad::gradIn(args, k)) {  // running statistics are state
            g->ensure(kType, args.inputDims[static_cast<std::size_t>(k)]);
            std::fill_n(g->data<T>(), g->numElements(), T(0));
        }
    if (!gx) return Status::ok();
    gx->ensure(kType, args.inputDims[0]);
    T* o = gx->data<T>();
    const HostTensor* dmean = grad::gradOut(args, 0);
    const HostTensor* dstd = grad::gradOut(args, 1);
    if (!sh.batchStats || (!dmean && !dstd)) {
        std::fill_n(o, gx->numElements(), T(0));
        return Status::ok();
    }
    const HostTensor& x = *args.inputs[0];
    const int64_t N = x.dim(0), C = x.dim(1);
    const int64_t S = N * C > 0 ? x.numElements() / (N * C) : 0;
    const double M = static_cast<double>(N * S);
    const T* xs = x.data<T>();
    for (int64_t c = 0; c < C; ++c) {
        const auto cu = static_cast<std::size_t>(c);
        const double a = dmean ? dmean->data<T>()[c] / M : 0.0;
        const double b = dstd ? dstd->data<T>()[c] / (M * sh.std[cu]) : 0.0;
        const double mean = sh.mean[cu];
        for (int64_t n = 0; n < N; ++n) {
            const T* p = xs + (n * C + c) * S;
            T* q = o + (n * C + c) * S;
            for (int64_t k = 0; k < S; ++k) q[k] = static_cast<T>(a + b * (p[k] - mean));
        }
    }
    return Status::ok();
}

Expected<GradBuild> buildBatchNormFoldGrad(const GradContext& ctx) {
    WH_ASSIGN_OR_RETURN(BnfAttrs a, readAttrs(ctx.node, ctx.where()));
    WH_ASSIGN_OR_RETURN(int64_t C, checkInputs(ctx.inputs, ctx.where()));
    (void)C;
    auto shared = std::make_shared<BnfShared>();
    const DType dtype = ctx.inputs[0].dtype;
    auto kernel = grad::makeGradKernel([shared, dtype](const GradArgs& args) -> Status {
        auto r = grad::dispatchFloat(dtype, [&](auto zero) {
            return backwardT<decltype(zero)>(args, *shared);
        });
        return r ? *r
                 : makeStatus(StatusCode::kUnsupported, "BatchNormFold gradient of {}",
                              typeName(dtype));
    });
    GradBuild b = grad::gradBuild(std::move(kernel), ctx, {0}, {});
    b.trainingForward = std::make_unique<BnfTrainingForward>(a, shared, ctx.flags);
    return b;
}

}  // namespace

}  // namespace ref

void registerBatchNormFoldKernel(KernelRegistry& registry) {
    registry.add(std::string(kWhittleDomain), std::string(kBatchNormFoldOp), 1, 1,
                 Backend::kReference, ref::buildBatchNormFold);
}

void registerBatchNormFoldGradient(GradRegistry& registry) {
    registry.add(std::string(kWhittleDomain), std::string(kBatchNormFoldOp), 1, 1,
                 Backend::kReference, ref::buildBatchNormFoldGrad);
}

}  // namespace wh::engine
