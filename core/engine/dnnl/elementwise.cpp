// Activations as oneDNN eltwise primitives over the flattened tensor, and Add/Sub/Mul/Div as
// binary primitives with the broadcasting oneDNN supports (the second operand broadcast).

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <unordered_map>

#include "core/engine/dnnl/dnnl_common.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/transformer_lowering.h"

namespace wh::engine::dnnlk {

namespace {

/// One eltwise primitive over all elements, optionally followed by more applied in place. On
/// plain tensors it views them flat; on a DnnlLayout it keeps the layout (padding included).
/// (A chain, not eltwise post-ops: oneDNN 2.6 gave zeros for linear with a clip_v2 post-op —
/// the HardSigmoid test caught it.)
class EltwiseKernel final : public DnnlKernel {
public:
    EltwiseKernel(const Dims& dims, const dnnl::memory::desc& data, std::vector<Eltwise> steps)
        : DnnlKernel("eltwise", {dims}), m_dims(dims) {
        for (const Eltwise& step : steps) {
            dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, step.algorithm,
                                             data, step.alpha, step.beta);
            m_steps.emplace_back(dnnl::eltwise_forward::primitive_desc(desc, cpuEngine()));
        }
        m_src = unboundMemory(data);
        m_dst = unboundMemory(data);
    }

protected:
    void execute(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        setHandle(m_src, *in[0]);
        ensureFor(*out[0], m_dims, m_dst.get_desc());
        m_dst.set_data_handle(out[0]->raw());
        for (std::size_t i = 0; i < m_steps.size(); ++i)
            m_steps[i].execute(cpuStream(),
                               {{DNNL_ARG_SRC, i == 0 ? m_src : m_dst}, {DNNL_ARG_DST, m_dst}});
        cpuStream().wait();
    }

private:
    Dims m_dims;
    std::vector<dnnl::eltwise_forward> m_steps;
    dnnl::memory m_src, m_dst;
};

Expected<KernelBuild> buildEltwise(const KernelContext& ctx, std::vector<Eltwise> steps) {
    WH_RETURN_IF_ERROR(requireStaticFloat(ctx, 1, 1));
    const TensorInfo& x = ctx.inputs[0];
    const bool native = x.layout && ctx.options.nativeLayouts && !hasForeignLayout(ctx.inputs);
    const dnnl::memory::desc data = native ? descOf(x) : plainDesc({numElementsOf(x.dims)});
    KernelBuild build;
    build.readsLayouts = native;
    try {
        build.kernel = std::make_unique<EltwiseKernel>(x.dims, data, std::move(steps));
    } catch (const dnnl::error& e) {
        return tl::unexpected(buildError(ctx, "eltwise", e));
    }
    build.outputs.push_back(native ? floatInfo(x.dims, data) : floatInfo(x.dims));
    return build;
}

using Alg = dnnl::algorithm;

Expected<KernelBuild> buildActivation(const KernelContext& ctx) {
    WH_ASSIGN_OR_RETURN(Eltwise e, activationOf(ctx.node, ctx.opset, ctx.inputs));
    return buildEltwise(ctx, {e});
}

Expected<KernelBuild> buildHardSigmoid(const KernelContext& ctx) {
    // max(0, min(1, alpha * x + beta)) = clip(linear(x)); 2.6 has no hardsigmoid algorithm.
    return buildEltwise(ctx, {{Alg::eltwise_linear, ctx.node.attrFloat("alpha", 0.2f),
                               ctx.node.attrFloat("beta", 0.5f)},
                              {Alg::eltwise_clip_v2, 0.0f, 1.0f}});
}

// Pow with a constant scalar exponent that oneDNN computes exactly: 2 (square) and 0.5 (sqrt),
// as LayerNorm decompositions and L2 norms use them. Other exponents stay on the reference
// (oneDNN's general pow goes through exp and log).
Expected<KernelBuild> buildPow(const KernelContext& ctx) {
    const TensorInfo& e = ctx.inputs.size() > 1 ? ctx.inputs[1] : TensorInfo{};
    if (!e.constant || e.constant->numElements() != 1 || e.dims.size() > ctx.inputs[0].dims.size())
        return error(StatusCode::kUnsupported, "oneDNN Pow: the exponent is not a constant scalar");
    const double p = e.constant->at(0);
    if (p == 2.0) return buildEltwise(ctx, {{Alg::eltwise_square}});
    if (p == 0.5) return buildEltwise(ctx, {{Alg::eltwise_sqrt}});
    return error(StatusCode::kUnsupported, "oneDNN Pow: exponent {} (2 and 0.5 only)", p);
}

Expected<KernelBuild> buildSqrt(const KernelContext& ctx) {
    return buildEltwise(ctx, {{Alg::eltwise_sqrt}});
}

Expected<Eltwise> clipOf(const ir::Node& node, int64_t opset, std::span<const TensorInfo> inputs) {
    float lo = -FLT_MAX, hi = FLT_MAX;
    if (opset < 11) {
        lo = node.attrFloat("min", lo);
        hi = node.attrFloat("max", hi);
    } else {
        for (std::size_t i = 1; i <= 2 && i < inputs.size(); ++i) {
            const TensorInfo& b = inputs[i];
            if (b.dtype == ir::DType::kUndefined) continue;  // omitted: unbounded
            if (!b.constant || b.constant->dtype() != ir::DType::kFloat ||
                b.constant->numElements() != 1)
                return error(StatusCode::kUnsupported, "oneDNN Clip: bound {} is not a constant",
                             i);
            (i == 1 ? lo : hi) = b.constant->data<float>()[0];
        }
    }
    // lo > hi: ONNX runtimes give min(max(x, lo), hi) = hi; oneDNN's order is not specified.
    if (std::isnan(lo) || std::isnan(hi) || lo > hi)
        return error(StatusCode::kUnsupported, "oneDNN Clip: bounds [{}, {}]", lo, hi);
    // clip_v2 clamps to [lo, hi], inclusive at both ends.
    return Eltwise{Alg::eltwise_clip_v2, lo, hi};
}

}  // namespace

bool addEltwisePostOp(std::vector<Eltwise>& chain, bool adjacent, const Eltwise& e) {
    const bool repeat = std::any_of(chain.begin(), chain.end(), [&](const Eltwise& c) {
        return c.algorithm == e.algorithm;
    });
    if (!repeat) {
        chain.push_back(e);
        return true;
    }
    Eltwise& last = chain.back();
    if (!adjacent || e.algorithm != Alg::eltwise_clip_v2 || last.algorithm != e.algorithm)
        return false;
    // clip(clip(x, a, b), c, d) = clip(x, max(a, c), min(b, d)) when the ranges meet.
    const float lo = std::max(last.alpha, e.alpha), hi = std::min(last.beta, e.beta);
    if (lo > hi) return false;
    last.alpha = lo;
    last.beta = hi;
    return true;
}

Expected<Eltwise> activationOf(const ir::Node& node, int64_t opset,
                               std::span<const TensorInfo> inputs) {
    if (!node.domain.empty() && node.domain != "ai.onnx")
        return error(StatusCode::kUnsupported, "oneDNN: no activation {}.{}", node.domain,
                     node.opType);
    const std::string& op = node.opType;
    if (op == "Relu") return Eltwise{Alg::eltwise_relu};
    // oneDNN's relu with alpha is exactly LeakyRelu: x > 0 ? x : alpha * x.
    if (op == "LeakyRelu") return Eltwise{Alg::eltwise_relu, node.attrFloat("alpha", 0.01f)};
    if (op == "Sigmoid") return Eltwise{Alg::eltwise_logistic};
    if (op == "Tanh") return Eltwise{Alg::eltwise_tanh};
    // 2.6's hardswish is x * relu6(x + 3) / 6 = ONNX's x * max(0, min(1, x / 6 + 1 / 2)).
    if (op == "HardSwish") return Eltwise{Alg::eltwise_hardswish};
    if (op == "Clip") return clipOf(node, opset, inputs);
    return error(StatusCode::kUnsupported, "oneDNN: {} is not an eltwise activation", op);
}

namespace {

/// Binary op with numpy broadcasting restricted to what oneDNN 2.6 does: src0 has the output
/// shape, src1 may have 1s anywhere. Commutative ops swap operands to get there. Operands of
/// the same shape in the same DnnlLayout keep it (descriptors `d0`, `d1`; dst is like `d0`).
class BinaryKernel final : public DnnlKernel {
public:
    BinaryKernel(Alg alg, const Dims& a, const Dims& b, const dnnl::memory::desc& d0,
                 const dnnl::memory::desc& d1, const Dims& outTensor, bool swap,
                 std::shared_ptr<const HostTensor> constSrc1)
        : DnnlKernel("binary", {a, b}),
          m_dims(outTensor),
          m_swap(swap),
          m_constSrc1(std::move(constSrc1)) {
        dnnl::binary::desc desc(alg, d0, d1, d0);
        m_pd = dnnl::binary::primitive_desc(desc, cpuEngine());
        m_binary = dnnl::binary(m_pd);
        m_src0 = unboundMemory(d0);
        m_src1 = unboundMemory(d1);
        m_dst = unboundMemory(d0);
        if (m_constSrc1) setHandle(m_src1, *m_constSrc1);
    }

protected:
    void execute(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        setHandle(m_src0, *in[m_swap ? 1 : 0]);
        if (!m_constSrc1) setHandle(m_src1, *in[m_swap ? 0 : 1]);
        ensureFor(*out[0], m_dims, m_dst.get_desc());
        m_dst.set_data_handle(out[0]->raw());
        m_binary.execute(
            cpuStream(),
            {{DNNL_ARG_SRC_0, m_src0}, {DNNL_ARG_SRC_1, m_src1}, {DNNL_ARG_DST, m_dst}});
        cpuStream().wait();
    }

private:
    Dims m_dims;
    bool m_swap;
    std::shared_ptr<const HostTensor> m_constSrc1;
    dnnl::binary::primitive_desc m_pd;
    dnnl::binary m_binary;
    dnnl::memory m_src0, m_src1, m_dst;
};

KernelFactory binaryFactory(Alg alg, bool commutative) {
    return [=](const KernelContext& ctx) -> Expected<KernelBuild> {
        WH_RETURN_IF_ERROR(requireStaticFloat(ctx, 2, 2));
        const Dims& a = ctx.inputs[0].dims;
        const Dims& b = ctx.inputs[1].dims;
        const std::size_t rank = std::max<std::size_t>({a.size(), b.size(), 1});
        Dims out(rank), pa = a, pb = b;
        while (pa.size() < rank) pa.insert(pa.begin(), 1);
        while (pb.size() < rank) pb.insert(pb.begin(), 1);
        for (std::size_t i = 0; i < rank; ++i) {
            if (pa[i] != pb[i] && pa[i] != 1 && pb[i] != 1)
                return error(StatusCode::kBadInput, "{}: {} and {} do not broadcast", ctx.where(),
                             dimsToString(a), dimsToString(b));
            out[i] = std::max(pa[i], pb[i]);
        }
        Dims outTensor = out;
        if (a.empty() && b.empty()) outTensor.clear();  // scalar op scalar stays a scalar
        bool swap = false;
        if (pa != out) {
            if (pb != out || !commutative)
                return error(StatusCode::kUnsupported,
                             "oneDNN binary: first operand {} broadcast (second {})",
                             dimsToString(a), dimsToString(b));
            swap = true;
        }
        const TensorInfo &x = ctx.inputs[0], &y = ctx.inputs[1];
        const bool native = ctx.options.nativeLayouts && (x.layout || y.layout) && a == b &&
                            !hasForeignLayout(ctx.inputs) && descOf(x) == descOf(y);
        Dims src1 = swap ? a : b;
        while (src1.size() < out.size()) src1.insert(src1.begin(), 1);
        const dnnl::memory::desc d0 = native ? descOf(x) : plainDesc(out);
        const dnnl::memory::desc d1 = native ? d0 : plainDesc(src1);
        KernelBuild build;
        build.readsLayouts = native;
        try {
            build.kernel = std::make_unique<BinaryKernel>(alg, a, b, d0, d1, outTensor, swap,
                                                          ctx.inputs[swap ? 0 : 1].constant);
        } catch (const dnnl::error& e) {
            return tl::unexpected(buildError(ctx, "binary", e));
        }
        build.outputs.push_back(native ? floatInfo(outTensor, d0) : floatInfo(outTensor));
        return build;
    };
}

}  // namespace

void registerElementwise(KernelRegistry& registry) {
    const Backend kD = Backend::kDnnl;
    registry.add("", "Relu", 6, kMaxOpset, kD, buildActivation);
    registry.add("", "LeakyRelu", 6, kMaxOpset, kD, buildActivation);
    registry.add("", "Sigmoid", 6, kMaxOpset, kD, buildActivation);
    registry.add("", "Tanh", 6, kMaxOpset, kD, buildActivation);
    registry.add("", "Clip", 6, kMaxOpset, kD, buildActivation);
    registry.add("", "HardSigmoid", 6, kMaxOpset, kD, buildHardSigmoid);
    registry.add("", "HardSwish", 14, kMaxOpset, kD, buildActivation);
    registry.add("", "Pow", 7, kMaxOpset, kD, buildPow);
    // The exact GELU that GeluFusion (transformer_lowering.h) makes of PyTorch's Erf chain.
    registry.add(std::string(kWhittleDomain), std::string(kGeluOp), 0, 1, kD,
                 [](const KernelContext& ctx) {
                     return buildEltwise(ctx, {{Alg::eltwise_gelu_erf}});
                 });
    registry.add("", "Sqrt", 6, kMaxOpset, kD, buildSqrt);
    // Erf: oneDNN has only gelu_erf, not erf itself; the reference kernel runs it.
    registry.add("", "Add", 7, kMaxOpset, kD, binaryFactory(Alg::binary_add, true));
    registry.add("", "Sub", 7, kMaxOpset, kD, binaryFactory(Alg::binary_sub, false));
    registry.add("", "Mul", 7, kMaxOpset, kD, binaryFactory(Alg::binary_mul, true));
    registry.add("", "Div", 7, kMaxOpset, kD, binaryFactory(Alg::binary_div, false));
}

}  // namespace wh::engine::dnnlk
