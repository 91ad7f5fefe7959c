// Reference kernels: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12+), as the
// ONNX reference computes them:
//   loss[n, d...] = -w[t] * input[n, t, d...]  with t = target[n, d...]  (w = 1 without weights)
// a target equal to ignore_index contributes 0 with weight 0; reduction "none" keeps the target's
// shape, "sum" sums, "mean" divides the sum by the summed weights (by the number of elements when
// there are neither weights nor an ignore_index). SoftmaxCrossEntropyLoss applies LogSoftmax over
// axis 1 first and can output it (log_prob).

#include <algorithm>
#include <cmath>
#include <optional>

#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/ref_kernels.h"

namespace wh::engine::ref {

namespace {

using D = ir::DType;
using Ins = std::span<const HostTensor* const>;
using Outs = std::span<HostTensor* const>;

enum class Reduction { kNone, kSum, kMean };

struct LossAttrs {
    Reduction reduction = Reduction::kMean;
    std::optional<int64_t> ignoreIndex;
};

Expected<LossAttrs> lossAttrs(const KernelContext& ctx) {
    LossAttrs a;
    const std::string r = ctx.node.attrString("reduction", "mean");
    if (r == "none")
        a.reduction = Reduction::kNone;
    else if (r == "sum")
        a.reduction = Reduction::kSum;
    else if (r != "mean")
        return error(StatusCode::kBadInput, "{}: reduction '{}' (none, sum or mean)", ctx.where(),
                     r);
    if (ctx.node.attribute("ignore_index"))
        a.ignoreIndex = ctx.node.attrInt("ignore_index", 0);
    return a;
}

// The loss of log-probabilities `lp` laid out [N, C, D] for targets [N, D].
template <class T>
Status nllLoss(const T* lp, int64_t n, int64_t c, int64_t d, const HostTensor& target,
               const HostTensor* weight, const LossAttrs& attrs, const Dims& targetDims,
               HostTensor& out) {
    const std::vector<int64_t> t = target.toInt64s();
    if (weight && weight->numElements() != c)
        return makeStatus(StatusCode::kBadInput, "weight has {} elements for {} classes",
                          weight->numElements(), c);
    std::vector<double> loss(static_cast<std::size_t>(n * d));
    double sum = 0.0, weightSum = 0.0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < d; ++k) {
            const int64_t cls = t[static_cast<std::size_t>(i * d + k)];
            if (attrs.ignoreIndex && cls == *attrs.ignoreIndex) continue;
            if (cls < 0 || cls >= c)
                return makeStatus(StatusCode::kBadInput, "target {} outside [0, {}) at {}", cls, c,
                                  i * d + k);
            const double w = weight ? weight->at(cls) : 1.0;
            const double l = -w * static_cast<double>(lp[(i * c + cls) * d + k]);
            loss[static_cast<std::size_t>(i * d + k)] = l;
            sum += l;
            weightSum += w;
        }
    if (attrs.reduction == Reduction::kNone) {
        if (out.dims() != targetDims)
            return makeStatus(StatusCode::kInternal, "loss output {} for targets {}",
                              dimsToString(out.dims()), dimsToString(targetDims));
        T* o = out.data<T>();
        for (std::size_t i = 0; i < loss.size(); ++i) o[i] = static_cast<T>(loss[i]);
        return Status::ok();
    }
    double v = sum;
    if (attrs.reduction == Reduction::kMean)
        v = weight || attrs.ignoreIndex ? sum / weightSum : sum / static_cast<double>(n * d);
    out.data<T>()[0] = static_cast<T>(v);
    return Status::ok();
}

// [N, C, d1...] -> N, C and the product of the rest; kBadInput for rank < 2 or a target shape
// that is not [N, d1...].
Status lossGeometry(const Dims& x, const Dims& target, int64_t& n, int64_t& c, int64_t& d) {
    if (x.size() < 2)
        return makeStatus(StatusCode::kBadInput, "input {} needs at least [N, C]",
                          dimsToString(x));
    Dims want = {x[0]};
    want.insert(want.end(), x.begin() + 2, x.end());
    if (target != want)
        return makeStatus(StatusCode::kBadInput, "target {} for input {} (expected {})",
                          dimsToString(target), dimsToString(x), dimsToString(want));
    n = x[0];
    c = x[1];
    d = 1;
    for (std::size_t i = 2; i < x.size(); ++i) d *= x[i];
    return Status::ok();
}

template <bool kSoftmax>
Expected<KernelBuild> lossFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    const TensorInfo& x = ctx.inputs[0];
    const TensorInfo& target = ctx.inputs[1];
    if (target.dtype != D::kInt32 && target.dtype != D::kInt64)
        return error(StatusCode::kBadInput, "{}: target is {}, not int32 or int64", ctx.where(),
                     typeName(target.dtype));
    if (ctx.hasInput(2) && ctx.inputs[2].dtype != x.dtype)
        return error(StatusCode::kBadInput, "{}: weight is {}, input is {}", ctx.where(),
                     typeName(ctx.inputs[2].dtype), typeName(x.dtype));
    WH_ASSIGN_OR_RETURN(const LossAttrs attrs, lossAttrs(ctx));
    const bool wantLogProb = kSoftmax && ctx.node.output(1) != nullptr;
    auto built = dispatch<TypeSet::kFloat>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel([attrs, wantLogProb](Ins in, Outs outs) -> Status {
            const HostTensor& xs = *in[0];
            const HostTensor& ts = *in[1];
            const HostTensor* ws = in.size() > 2 ? in[2] : nullptr;
            int64_t n = 0, c = 0, d = 0;
            WH_RETURN_STATUS_IF_ERROR(lossGeometry(xs.dims(), ts.dims(), n, c, d));
            HostTensor& y = *outs[0];
            y.ensure(xs.dtype(), attrs.reduction == Reduction::kNone ? ts.dims() : Dims{});
            if constexpr (!kSoftmax) {
                return nllLoss<T>(xs.data<T>(), n, c, d, ts, ws, attrs, ts.dims(), y);
            } else {
                // LogSoftmax over C for every (n, d), in the output when asked for.
                HostTensor local;
                HostTensor& lp = wantLogProb && outs.size() > 1 && outs[1] ? *outs[1] : local;
                lp.ensure(xs.dtype(), xs.dims());
                const T* px = xs.data<T>();
                T* pl = lp.data<T>();
                for (int64_t i = 0; i < n; ++i)
                    for (int64_t k = 0; k < d; ++k) {
                        const T* row = px + i * c * d + k;
                        double m = -INFINITY;
                        for (int64_t j = 0; j < c; ++j)
                            m = std::max(m, static_cast<double>(row[j * d]));
                        double s = 0.0;
                        for (int64_t j = 0; j < c; ++j)
                            s += std::exp(static_cast<double>(row[j * d]) - m);
                        const double logSum = m + std::log(s);
                        for (int64_t j = 0; j < c; ++j)
                            pl[i * c * d + j * d + k] =
                                static_cast<T>(static_cast<double>(row[j * d]) - logSum);
                    }
                return nllLoss<T>(pl, n, c, d, ts, ws, attrs, ts.dims(), y);
            }
        });
    });
    if (!built) return unsupportedType(ctx, x.dtype);
    KernelBuild b;
    b.kernel = std::move(*built);
    TensorInfo out;
    out.dtype = x.dtype;
    out.rankKnown = attrs.reduction != Reduction::kNone || target.rankKnown;
    if (attrs.reduction == Reduction::kNone) out.dims = target.dims;
    b.outputs.push_back(out);
    if (wantLogProb) {
        TensorInfo lp = x;
        lp.constant.reset();
        b.outputs.push_back(lp);
    }
    return b;
}

}  // namespace

void registerLossOps(KernelRegistry& r) {
    constexpr Backend kRef = Backend::kReference;
    r.add("", "NegativeLogLikelihoodLoss", 12, 18, kRef, lossFactory<false>);
    r.add("", "SoftmaxCrossEntropyLoss", 12, 18, kRef, lossFactory<true>);
}

}  // namespace wh::engine::ref
