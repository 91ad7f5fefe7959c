// Gemm and MatMul through oneDNN's matmul primitive. A constant B (the usual case: weights) is
// reordered once into the layout the primitive prefers, with Gemm's alpha folded in on the way.

#include <unordered_map>

#include "core/engine/dnnl/dnnl_common.h"

namespace wh::engine::dnnlk {

namespace {

using tag = dnnl::memory::format_tag;

struct MatMulSetup {
    Dims a, aStrides;  // oneDNN src: [M, K] or [batch, M, K]
    Dims b, bStrides;  // oneDNN weights: [K, N] or [batch, K, N]
    Dims out;          // oneDNN dst (plain)
    Dims outTensor;    // the ONNX output shape (same bytes as `out`)
    std::shared_ptr<const HostTensor> constB;
    float alpha = 1.0f;
    bool hasC = false;
    Dims c;                                    // C broadcast to rank of `out` (1s where broadcast)
    std::shared_ptr<const HostTensor> constC;  // already multiplied by beta
    std::vector<Dims> expected;
    std::vector<Eltwise> activations;  // fused followers, applied last as eltwise post-ops
};

Dims rowMajorStrides(const Dims& d) {
    Dims s(d.size(), 1);
    for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i)
        s[static_cast<std::size_t>(i)] =
            s[static_cast<std::size_t>(i) + 1] * d[static_cast<std::size_t>(i) + 1];
    return s;
}

class MatMulKernel final : public DnnlKernel {
public:
    explicit MatMulKernel(MatMulSetup setup)
        : DnnlKernel("matmul", setup.expected), m_outDims(setup.outTensor), m_constC(setup.constC) {
        const dnnl::memory::desc src = stridedDesc(setup.a, setup.aStrides);
        const dnnl::memory::desc userB = stridedDesc(setup.b, setup.bStrides);
        const dnnl::memory::desc weights =
            setup.constB
                ? dnnl::memory::desc(toDnnl(setup.b), dnnl::memory::data_type::f32, tag::any)
                : userB;
        const dnnl::memory::desc dst = plainDesc(setup.out);
        dnnl::primitive_attr attr;
        // alpha: folded into a constant B; otherwise an output scale, which oneDNN applies to
        // the product before post-ops — so C must then come as a post-op, not as the bias.
        const bool scaleOutput = setup.alpha != 1.0f && !setup.constB;
        if (scaleOutput) attr.set_output_scales(0, {setup.alpha});
        m_cAsPostOp = setup.hasC && scaleOutput;
        m_hasBias = setup.hasC && !scaleOutput;
        const dnnl::memory::desc cDesc = setup.hasC ? plainDesc(setup.c) : dnnl::memory::desc();
        dnnl::post_ops ops;
        if (m_cAsPostOp) ops.append_binary(dnnl::algorithm::binary_add, cDesc);
        for (const Eltwise& e : setup.activations)
            ops.append_eltwise(1.0f, e.algorithm, e.alpha, e.beta);
        if (ops.len() > 0) attr.set_post_ops(ops);
        dnnl::matmul::desc desc = m_hasBias ? dnnl::matmul::desc(src, weights, cDesc, dst)
                                            : dnnl::matmul::desc(src, weights, dst);
        m_pd = dnnl::matmul::primitive_desc(desc, attr, cpuEngine());
        m_matmul = dnnl::matmul(m_pd);
        m_src = unboundMemory(src);
        m_dst = unboundMemory(dst);
        if (setup.constB)
            m_weights = reorderConstant(*setup.constB, userB, m_pd.weights_desc(), setup.alpha);
        else
            m_weights = unboundMemory(userB);
        m_constWeights = static_cast<bool>(setup.constB);
        if (setup.hasC) {
            m_c = unboundMemory(cDesc);
            if (m_constC) setHandle(m_c, *m_constC);
        }
    }

protected:
    void execute(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        setHandle(m_src, *in[0]);
        if (!m_constWeights) setHandle(m_weights, *in[1]);
        if (m_c && !m_constC) setHandle(m_c, *in[2]);
        out[0]->ensure(ir::DType::kFloat, m_outDims);
        m_dst.set_data_handle(out[0]->raw());
        std::unordered_map<int, dnnl::memory> args{
            {DNNL_ARG_SRC, m_src}, {DNNL_ARG_WEIGHTS, m_weights}, {DNNL_ARG_DST, m_dst}};
        if (m_hasBias) args.emplace(DNNL_ARG_BIAS, m_c);
        if (m_cAsPostOp) args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, m_c);
        m_matmul.execute(cpuStream(), args);
        cpuStream().wait();
    }

private:
    Dims m_outDims;
    std::shared_ptr<const HostTensor> m_constC;
    bool m_cAsPostOp = false, m_hasBias = false, m_constWeights = false;
    dnnl::matmul::primitive_desc m_pd;
    dnnl::matmul m_matmul;
    dnnl::memory m_src, m_weights, m_dst, m_c;
};

/// Builds the kernel, taking over the activations that follow (a Relu after a Gemm) as eltwise
/// post-ops when oneDNN has an implementation with them.
Expected<KernelBuild> finish(const KernelContext& ctx, MatMulSetup setup) {
    KernelBuild build;
    build.outputs.push_back(floatInfo(setup.outTensor));
    MatMulSetup fused = setup;
    int taken = 0;  // followers, two clips merged into one post-op counting as two
    for (const Follower& f : ctx.followers) {
        Expected<Eltwise> e = activationOf(f.node, f.opset, f.inputs);
        if (!e || !addEltwisePostOp(fused.activations, true, *e)) break;
        ++taken;
    }
    if (!fused.activations.empty()) {
        try {
            build.kernel = std::make_unique<MatMulKernel>(fused);
            build.fused = taken;
            return build;
        } catch (const dnnl::error&) {
            // No implementation with these post-ops: the plan runs the followers itself.
        }
    }
    try {
        build.kernel = std::make_unique<MatMulKernel>(std::move(setup));
    } catch (const dnnl::error& e) {
        return tl::unexpected(buildError(ctx, "matmul", e));
    }
    return build;
}

Expected<KernelBuild> buildMatMul(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireStaticFloat(ctx, 2, 2));
    const Dims& a = ctx.inputs[0].dims;
    const Dims& b = ctx.inputs[1].dims;
    if (a.size() < 2 || b.size() < 2)
        return error(StatusCode::kUnsupported, "oneDNN MatMul: 1-D operand ({} x {})",
                     dimsToString(a), dimsToString(b));
    const int64_t k = a.back(), n = b.back();
    if (b[b.size() - 2] != k)
        return error(StatusCode::kBadInput, "{}: MatMul of {} and {}", ctx.where(), dimsToString(a),
                     dimsToString(b));
    MatMulSetup s;
    s.expected = {a, b};
    s.outTensor = Dims(a.begin(), a.end() - 1);
    s.outTensor.push_back(n);
    if (b.size() == 2) {
        // [..., M, K] x [K, N]: every leading dim folds into M.
        const int64_t m = numElementsOf(a) / k;
        s.a = {m, k};
        s.b = {k, n};
        s.out = {m, n};
    } else if (a.size() == b.size() && std::equal(a.begin(), a.end() - 2, b.begin())) {
        const int64_t batch = numElementsOf(Dims(a.begin(), a.end() - 2));
        const int64_t m = a[a.size() - 2];
        s.a = {batch, m, k};
        s.b = {batch, k, n};
        s.out = {batch, m, n};
    } else {
        return error(StatusCode::kUnsupported, "oneDNN MatMul: broadcast batch dims ({} x {})",
                     dimsToString(a), dimsToString(b));
    }
    s.aStrides = rowMajorStrides(s.a);
    s.bStrides = rowMajorStrides(s.b);
    s.constB = ctx.inputs[1].constant;
    return finish(ctx, std::move(s));
}

Expected<KernelBuild> buildGemm(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireStaticFloat(ctx, 3, 2));
    const Dims& a = ctx.inputs[0].dims;
    const Dims& b = ctx.inputs[1].dims;
    if (a.size() != 2 || b.size() != 2)
        return error(StatusCode::kBadInput, "{}: Gemm needs 2-D A and B, got {} and {}",
                     ctx.where(), dimsToString(a), dimsToString(b));
    const bool transA = ctx.node.attrInt("transA", 0) != 0;
    const bool transB = ctx.node.attrInt("transB", 0) != 0;
    const float alpha = ctx.node.attrFloat("alpha", 1.0f);
    const float beta = ctx.node.attrFloat("beta", 1.0f);
    const int64_t m = transA ? a[1] : a[0], k = transA ? a[0] : a[1];
    const int64_t kb = transB ? b[1] : b[0], n = transB ? b[0] : b[1];
    if (k != kb)
        return error(StatusCode::kBadInput, "{}: Gemm of {}{} and {}{}", ctx.where(),
                     dimsToString(a), transA ? "ᵀ" : "", dimsToString(b), transB ? "ᵀ" : "");
    MatMulSetup s;
    s.a = {m, k};
    s.aStrides = transA ? Dims{1, m} : Dims{k, 1};
    s.b = {k, n};
    s.bStrides = transB ? Dims{1, k} : Dims{n, 1};
    s.out = {m, n};
    s.outTensor = {m, n};
    s.alpha = alpha;
    s.constB = ctx.inputs[1].constant;
    s.expected = {a, b};
    if (ctx.hasInput(2) && beta != 0.0f) {
        const TensorInfo& c = ctx.inputs[2];
        if (c.dims.size() > 2)
            return error(StatusCode::kBadInput, "{}: Gemm C {}", ctx.where(), dimsToString(c.dims));
        Dims cd = c.dims;
        while (cd.size() < 2) cd.insert(cd.begin(), 1);
        if ((cd[0] != 1 && cd[0] != m) || (cd[1] != 1 && cd[1] != n))
            return error(StatusCode::kBadInput, "{}: C {} does not broadcast to [{},{}]",
                         ctx.where(), dimsToString(c.dims), m, n);
        s.hasC = true;
        s.c = cd;
        s.expected.push_back(c.dims);
        if (c.constant) {
            if (beta == 1.0f) {
                s.constC = c.constant;
            } else {
                auto scaled = std::make_shared<HostTensor>(c.constant->clone());
                for (float& v : scaled->span<float>()) v *= beta;
                s.constC = std::move(scaled);
            }
        } else if (beta != 1.0f) {
            return error(StatusCode::kUnsupported, "oneDNN Gemm: beta {} with a computed C", beta);
        }
    }
    return finish(ctx, std::move(s));
}

}  // namespace

void registerMatMul(KernelRegistry& registry) {
    registry.add("", "MatMul", 1, kMaxOpset, Backend::kDnnl, buildMatMul);
    registry.add("", "Gemm", 7, kMaxOpset, Backend::kDnnl, buildGemm);
}

}  // namespace wh::engine::dnnlk
