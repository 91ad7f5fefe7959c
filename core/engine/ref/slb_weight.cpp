// SlbWeight (com.whittle, opset 1): reference kernel (hard argmax), training forward (soft
// softmax(T·A)·V or hard, from the node's knobs) and gradient. The formulas are in
// core/engine/slb_weight.h.

#include "core/engine/slb_weight.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "core/engine/fake_quantize.h"
#include "core/engine/ref/grad_util.h"
#include "core/engine/ref/kernel_util.h"

namespace wh::engine {

int slbLevels(int bits) {
    switch (bits) {
        case 1:
            return 2;
        case 2:
            return 4;
        case 4:
            return 16;
        default:
            return 0;
    }
}

std::vector<double> slbValues(int bits) {
    const int k = slbLevels(bits);
    std::vector<double> v;
    // 1 bit: {-1, +1}, which is also linspace(-1, 1, 2).
    for (int i = 0; i < k; ++i) v.push_back(-1.0 + 2.0 * i / (k - 1));
    return v;
}

namespace ref {

namespace {

using ir::DType;
using Inputs = std::span<const HostTensor* const>;
using Outputs = std::span<HostTensor* const>;

// Below this many logits the kernels stay on the calling thread.
constexpr int64_t kParallelMin = 32768;

Expected<int> readBits(const ir::Node& node) {
    const int64_t bits = node.attrInt("bits", 1);
    if (bits != 1 && bits != 2 && bits != 4)
        return error(StatusCode::kBadInput, "SlbWeight: bits {} is not 1, 2 or 4", bits);
    return static_cast<int>(bits);
}

// The logits' dims checked against the value set; returns the output dims.
Expected<Dims> outputDims(const Dims& a, int bits) {
    if (a.empty())
        return error(StatusCode::kBadInput, "SlbWeight: the logits are a scalar, need [..., {}]",
                     slbLevels(bits));
    if (a.back() >= 0 && a.back() != slbLevels(bits))
        return error(StatusCode::kBadInput,
                     "SlbWeight: logits {} have {} values on the last axis; {} bits need {}",
                     dimsToString(a), a.back(), bits, slbLevels(bits));
    return Dims(a.begin(), a.end() - 1);
}

Status checkInput(std::span<const TensorInfo> inputs, int bits, std::string_view where) {
    if (inputs.size() != 1 || inputs[0].dtype == DType::kUndefined)
        return makeStatus(StatusCode::kBadInput, "{}: SlbWeight takes one input, the logits",
                          where);
    const DType t = inputs[0].dtype;
    if (t != DType::kFloat && t != DType::kDouble)
        return makeStatus(StatusCode::kUnsupported, "SlbWeight of {} ({}): float and double only",
                          typeName(t), where);
    if (inputs[0].rankKnown) {
        auto d = outputDims(inputs[0].dims, bits);
        if (!d) return makeStatus(d.error().code(), "{}: {}", where, d.error().message());
    }
    return Status::ok();
}

// The value set in the kernel's type.
template <class T>
std::vector<T> valuesOf(int bits) {
    std::vector<T> v;
    for (double x : slbValues(bits)) v.push_back(static_cast<T>(x));
    return v;
}

// Calls f(i) for every weight element i, in parallel when there are many logits.
template <class F>
void forRows(int64_t rows, int64_t k, const F& f) {
#pragma omp parallel for schedule(static) if (rows * k >= kParallelMin)
    for (int64_t i = 0; i < rows; ++i) f(i);
}

// W = V[argmax A] over the last axis (first maximum; comparisons skip NaNs).
template <class T>
void hardForward(const T* a, T* w, int64_t rows, int64_t k, const T* v) {
    forRows(rows, k, [&](int64_t i) {
        const T* r = a + i * k;
        int64_t best = 0;
        for (int64_t j = 1; j < k; ++j)
            if (r[j] > r[best] || (std::isnan(r[best]) && !std::isnan(r[j]))) best = j;
        w[i] = v[best];
    });
}

// P = softmax(T·A) over the last axis (max subtracted), into p (rows × k); W = Σ P·V.
template <class T>
void softForward(const T* a, T* w, T* p, int64_t rows, int64_t k, const T* v, T temperature) {
    forRows(rows, k, [&](int64_t i) {
        const T* r = a + i * k;
        T* pr = p + i * k;
        T m = r[0];
        for (int64_t j = 1; j < k; ++j) m = r[j] > m ? r[j] : m;
        T sum = 0;
        for (int64_t j = 0; j < k; ++j) {
            // T·(A − max) ≤ 0: exp never overflows, and the max's term is exactly 1.
            pr[j] = std::exp(temperature * (r[j] - m));
            sum += pr[j];
        }
        const T inv = T(1) / sum;
        T acc = 0;
        for (int64_t j = 0; j < k; ++j) {
            pr[j] *= inv;
            acc += pr[j] * v[j];
        }
        w[i] = acc;
    });
}

template <class T>
Status runHard(const HostTensor& a, HostTensor& w, int bits) {
    WH_ASSIGN_OR_RETURN_STATUS(Dims dims, outputDims(a.dims(), bits));
    w.ensure(a.dtype(), dims);
    const std::vector<T> v = valuesOf<T>(bits);
    const int64_t k = slbLevels(bits);
    hardForward<T>(a.data<T>(), w.data<T>(), a.numElements() / k, k, v.data());
    return Status::ok();
}

Status dispatchHard(const HostTensor& a, HostTensor& w, int bits) {
    auto r = grad::dispatchFloat(a.dtype(),
                                 [&](auto zero) { return runHard<decltype(zero)>(a, w, bits); });
    return r ? *r
             : makeStatus(StatusCode::kUnsupported, "SlbWeight of {}: float and double only",
                          typeName(a.dtype()));
}

Expected<KernelBuild> buildSlbWeight(const KernelContext& ctx) {
    WH_ASSIGN_OR_RETURN(const int bits, readBits(ctx.node));
    WH_RETURN_IF_ERROR(checkInput(ctx.inputs, bits, ctx.where()));
    TensorInfo out;
    out.dtype = ctx.inputs[0].dtype;
    out.rankKnown = ctx.inputs[0].rankKnown;
    if (out.rankKnown) out.dims = Dims(ctx.inputs[0].dims.begin(), ctx.inputs[0].dims.end() - 1);
    // The inference kernel is always hard (the deploy weights).
    auto run = [bits](Inputs in, Outputs outs) -> Status {
        return dispatchHard(*in[0], *outs[0], bits);
    };
    return singleOutput(makeKernel(std::move(run)), std::move(out));
}

// ---- Training --------------------------------------------------------------------------------

// What the training forward tells the gradient kernel of the same step.
struct SlbShared {
    bool hard = false;       // the last forward was hard: zero gradient
    double temperature = 1;  // the T it used
    HostTensor probs;        // P of the last soft forward, A's dims
};

class SlbTrainingForward final : public Kernel {
public:
    SlbTrainingForward(int bits, std::shared_ptr<SlbShared> shared, const NodeFlags* flags)
        : m_bits(bits), m_shared(std::move(shared)), m_flags(flags) {}

    Status run(Inputs in, Outputs out) override {
        const bool evaluating = m_flags && m_flags->plan && m_flags->plan->evaluating;
        const double hard = m_flags ? m_flags->knob("hard", 0.0) : 0.0;
        const double t = m_flags ? m_flags->knob("temperature", 1.0) : 1.0;
        m_shared->hard = evaluating || hard != 0.0;
        m_shared->temperature = t;
        const HostTensor& a = *in[0];
        if (m_shared->hard) return dispatchHard(a, *out[0], m_bits);
        if (!(t > 0) || !std::isfinite(t))
            return makeStatus(StatusCode::kBadInput, "SlbWeight: temperature {} is not > 0", t);
        auto r = grad::dispatchFloat(a.dtype(), [&](auto zero) -> Status {
            using T = decltype(zero);
            WH_ASSIGN_OR_RETURN_STATUS(Dims dims, outputDims(a.dims(), m_bits));
            out[0]->ensure(a.dtype(), dims);
            m_shared->probs.ensure(a.dtype(), a.dims());
            const std::vector<T> v = valuesOf<T>(m_bits);
            const int64_t k = slbLevels(m_bits);
            softForward<T>(a.data<T>(), out[0]->data<T>(), m_shared->probs.data<T>(),
                           a.numElements() / k, k, v.data(), static_cast<T>(t));
            return Status::ok();
        });
        return r ? *r
                 : makeStatus(StatusCode::kUnsupported, "SlbWeight of {}: float and double only",
                              typeName(a.dtype()));
    }

private:
    int m_bits;
    std::shared_ptr<SlbShared> m_shared;
    const NodeFlags* m_flags;
};

// dA_k = T · P_k · (V_k − W) · dW, with W = Σ P·V recomputed from the saved P (no output kept).
template <class T>
Status backwardT(const GradArgs& args, int bits, DType dtype, const SlbShared& sh) {
    HostTensor* ga = grad::gradIn(args, 0);
    if (!ga) return Status::ok();
    const Dims& aDims = args.inputDims[0];
    ga->ensure(dtype, aDims);
    const HostTensor* dw = grad::gradOut(args, 0);
    const int64_t n = numElementsOf(aDims);
    T* pga = ga->data<T>();
    if (sh.hard || !dw || sh.probs.empty()) {
        std::fill_n(pga, n, T(0));
        return Status::ok();
    }
    if (sh.probs.dims() != aDims)
        return makeStatus(StatusCode::kInternal, "SlbWeight gradient: saved P {} vs logits {}",
                          dimsToString(sh.probs.dims()), dimsToString(aDims));
    const std::vector<T> v = valuesOf<T>(bits);
    const int64_t k = slbLevels(bits);
    const T* p = sh.probs.data<T>();
    const T* pdw = dw->data<T>();
    const T t = static_cast<T>(sh.temperature);
    forRows(n / k, k, [&](int64_t i) {
        const T* pr = p + i * k;
        T w = 0;
        for (int64_t j = 0; j < k; ++j) w += pr[j] * v[j];
        const T g = t * pdw[i];
        T* out = pga + i * k;
        for (int64_t j = 0; j < k; ++j) out[j] = g * pr[j] * (v[j] - w);
    });
    return Status::ok();
}

class SlbBackward final : public GradKernel {
public:
    SlbBackward(int bits, DType dtype, std::shared_ptr<SlbShared> shared)
        : m_bits(bits), m_dtype(dtype), m_shared(std::move(shared)) {}

    Status backward(const GradArgs& args) override {
        auto r = grad::dispatchFloat(m_dtype, [&](auto zero) {
            return backwardT<decltype(zero)>(args, m_bits, m_dtype, *m_shared);
        });
        return r ? *r
                 : makeStatus(StatusCode::kUnsupported, "SlbWeight gradient of {}",
                              typeName(m_dtype));
    }

private:
    int m_bits;
    DType m_dtype;
    std::shared_ptr<SlbShared> m_shared;
};

Expected<GradBuild> buildSlbWeightGrad(const GradContext& ctx) {
    WH_ASSIGN_OR_RETURN(const int bits, readBits(ctx.node));
    WH_RETURN_IF_ERROR(checkInput(ctx.inputs, bits, ctx.where()));
    auto shared = std::make_shared<SlbShared>();
    // Nothing saved by the plan: the training forward keeps P itself.
    GradBuild b = grad::gradBuild(std::make_unique<SlbBackward>(bits, ctx.inputs[0].dtype, shared),
                                  ctx, {}, {});
    b.trainingForward = std::make_unique<SlbTrainingForward>(bits, shared, ctx.flags);
    return b;
}

}  // namespace

}  // namespace ref

void registerSlbWeightKernel(KernelRegistry& registry) {
    registry.add(std::string(kWhittleDomain), std::string(kSlbWeightOp), 1, 1, Backend::kReference,
                 ref::buildSlbWeight);
}

void registerSlbWeightGradient(GradRegistry& registry) {
    registry.add(std::string(kWhittleDomain), std::string(kSlbWeightOp), 1, 1, Backend::kReference,
                 ref::buildSlbWeightGrad);
}

}  // namespace wh::engine
