#include "core/engine/dnnl/conv.h"

#include <unordered_map>

#include <fmt/format.h>

namespace wh::engine::dnnlk {

namespace {

using tag = dnnl::memory::format_tag;

dnnl::memory::dims groupedWeights(const ConvSpec& spec) {
    dnnl::memory::dims w(spec.weights.begin(), spec.weights.end());
    if (spec.groups > 1) {
        w[0] /= spec.groups;
        w.insert(w.begin(), spec.groups);
    }
    return w;
}

dnnl::memory::dims minusOne(const Dims& d) {
    dnnl::memory::dims out;
    for (int64_t v : d) out.push_back(v - 1);
    return out;
}

}  // namespace

dnnl::memory::desc plainWeightsDesc(const ConvSpec& spec) {
    const dnnl::memory::dims w = groupedWeights(spec);
    return plainDesc(Dims(w.begin(), w.end()), spec.weightsType);
}

dnnl::convolution_forward::primitive_desc createConvPrimitive(const ConvSpec& spec) {
    const dnnl::memory::desc src(toDnnl(spec.src), spec.srcType, tag::any);
    const dnnl::memory::desc weights(groupedWeights(spec), spec.weightsType, tag::any);
    const dnnl::memory::desc dst(toDnnl(spec.dst), spec.dstType, tag::any);
    // oneDNN needs pad_end such that its floor formula gives our output size (ONNX pads are
    // already consistent for Conv, but auto_pad may leave them implicit).
    Dims padEnd = spec.padEnd;
    for (std::size_t i = 0; i < padEnd.size(); ++i)
        padEnd[i] = dnnlPadEnd(spec.src[i + 2], spec.padBegin[i], spec.weights[i + 2],
                               spec.strides[i], spec.dilations[i], spec.dst[i + 2]);
    const dnnl::memory::dims strides(spec.strides.begin(), spec.strides.end());
    const dnnl::memory::dims padL(spec.padBegin.begin(), spec.padBegin.end());
    const dnnl::memory::dims padR(padEnd.begin(), padEnd.end());
    const auto prop = dnnl::prop_kind::forward_inference;
    const auto alg = dnnl::algorithm::convolution_direct;
    dnnl::convolution_forward::desc desc =
        spec.hasBias
            ? dnnl::convolution_forward::desc(
                  prop, alg, src, weights,
                  dnnl::memory::desc({spec.weights[0]}, spec.biasType, tag::x), dst, strides,
                  minusOne(spec.dilations), padL, padR)
            : dnnl::convolution_forward::desc(prop, alg, src, weights, dst, strides,
                                              minusOne(spec.dilations), padL, padR);
    dnnl::primitive_attr attr;
    if (!spec.outputScales.empty()) attr.set_output_scales(spec.outputScalesMask, spec.outputScales);
    if (!spec.postOps.empty()) {
        dnnl::post_ops ops;
        for (const EltwisePostOp& op : spec.postOps)
            ops.append_eltwise(1.0f, op.algorithm, op.alpha, op.beta);
        attr.set_post_ops(ops);
    }
    return dnnl::convolution_forward::primitive_desc(desc, attr, cpuEngine());
}

namespace {

/// Conv on plain NCHW tensors. Weights are reordered once, at compile time, into the layout the
/// primitive chose; src/dst are reordered to and from the primitive's layout when it prefers a
/// blocked one (a future layout pass between consecutive oneDNN kernels removes those).
class ConvKernel final : public DnnlKernel {
public:
    ConvKernel(const ConvSpec& spec, std::shared_ptr<const HostTensor> constWeights,
               std::shared_ptr<const HostTensor> constBias, std::vector<Dims> expected)
        : DnnlKernel("convolution", std::move(expected)), m_outDims(spec.dst) {
        m_pd = createConvPrimitive(spec);
        m_conv = dnnl::convolution_forward(m_pd);
        m_userSrc = unboundMemory(plainDesc(spec.src, spec.srcType));
        m_userDst = unboundMemory(plainDesc(spec.dst, spec.dstType));
        if (m_pd.src_desc() != m_userSrc.get_desc()) {
            m_src = dnnl::memory(m_pd.src_desc(), cpuEngine());
            m_srcReorder = dnnl::reorder(m_userSrc, m_src);
        }
        if (m_pd.dst_desc() != m_userDst.get_desc()) {
            m_dst = dnnl::memory(m_pd.dst_desc(), cpuEngine());
            m_dstReorder = dnnl::reorder(m_dst, m_userDst);
        }
        const dnnl::memory::desc userWeights = plainWeightsDesc(spec);
        if (constWeights) {
            m_weights = reorderConstant(*constWeights, userWeights, m_pd.weights_desc());
        } else {
            m_userWeights = unboundMemory(userWeights);
            if (m_pd.weights_desc() != userWeights) {
                m_weights = dnnl::memory(m_pd.weights_desc(), cpuEngine());
                m_weightsReorder = dnnl::reorder(m_userWeights, m_weights);
            } else {
                m_weights = m_userWeights;
            }
        }
        if (spec.hasBias) {
            m_bias = unboundMemory(m_pd.bias_desc());
            m_constBias = std::move(constBias);
            if (m_constBias) setHandle(m_bias, *m_constBias);
        }
    }

protected:
    void execute(std::span<const HostTensor* const> in,
                 std::span<HostTensor* const> out) override {
        dnnl::stream& s = cpuStream();
        setHandle(m_userSrc, *in[0]);
        if (m_srcReorder) m_srcReorder.execute(s, m_userSrc, m_src);
        if (m_userWeights) {
            setHandle(m_userWeights, *in[1]);
            if (m_weightsReorder) m_weightsReorder.execute(s, m_userWeights, m_weights);
        }
        if (m_bias && !m_constBias) setHandle(m_bias, *in[2]);
        out[0]->ensure(ir::DType::kFloat, m_outDims);
        m_userDst.set_data_handle(out[0]->raw());
        std::unordered_map<int, dnnl::memory> args{
            {DNNL_ARG_SRC, m_srcReorder ? m_src : m_userSrc},
            {DNNL_ARG_WEIGHTS, m_weights},
            {DNNL_ARG_DST, m_dstReorder ? m_dst : m_userDst}};
        if (m_bias) args.emplace(DNNL_ARG_BIAS, m_bias);
        m_conv.execute(s, args);
        if (m_dstReorder) m_dstReorder.execute(s, m_dst, m_userDst);
        s.wait();
    }

private:
    Dims m_outDims;
    dnnl::convolution_forward::primitive_desc m_pd;
    dnnl::convolution_forward m_conv;
    dnnl::memory m_userSrc, m_src, m_userDst, m_dst, m_userWeights, m_weights, m_bias;
    dnnl::reorder m_srcReorder, m_dstReorder, m_weightsReorder;
    std::shared_ptr<const HostTensor> m_constBias;
};

Expected<KernelBuild> buildConv(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireStaticFloat(ctx, 3, 2));
    const TensorInfo& x = ctx.inputs[0];
    const TensorInfo& w = ctx.inputs[1];
    const std::size_t rank = x.dims.size();
    if (rank < 3 || rank > 5)
        return error(StatusCode::kUnsupported, "oneDNN Conv: rank {} input", rank);
    if (w.dims.size() != rank)
        return error(StatusCode::kBadInput, "{}: weights {} do not match input {}", ctx.where(),
                     dimsToString(w.dims), dimsToString(x.dims));
    ConvSpec spec;
    spec.groups = ctx.node.attrInt("group", 1);
    const int64_t channels = x.dims[1], outChannels = w.dims[0];
    if (spec.groups < 1 || channels % spec.groups != 0 || outChannels % spec.groups != 0 ||
        w.dims[1] * spec.groups != channels)
        return error(StatusCode::kBadInput, "{}: group {} does not fit input {} and weights {}",
                     ctx.where(), spec.groups, dimsToString(x.dims), dimsToString(w.dims));
    const Dims kernel(w.dims.begin() + 2, w.dims.end());
    const std::vector<int64_t> declared = ctx.node.attrInts("kernel_shape");
    if (!declared.empty() && Dims(declared) != kernel)
        return error(StatusCode::kBadInput, "{}: kernel_shape {} but weights {}", ctx.where(),
                     dimsToString(declared), dimsToString(w.dims));
    if (ctx.hasInput(2) && ctx.inputs[2].dims != Dims{outChannels})
        return error(StatusCode::kBadInput, "{}: bias {} for {} output channels", ctx.where(),
                     dimsToString(ctx.inputs[2].dims), outChannels);
    WH_ASSIGN_OR_RETURN(Window win,
                        resolveWindow(ctx, Dims(x.dims.begin() + 2, x.dims.end()), kernel, false));
    spec.src = x.dims;
    spec.weights = w.dims;
    spec.hasBias = ctx.hasInput(2);
    spec.strides = win.strides;
    spec.dilations = win.dilations;
    spec.padBegin = win.padBegin;
    spec.padEnd = win.padEnd;
    spec.dst = {x.dims[0], outChannels};
    spec.dst.insert(spec.dst.end(), win.outSpatial.begin(), win.outSpatial.end());

    KernelBuild build;
    try {
        build.kernel = std::make_unique<ConvKernel>(
            spec, w.constant, spec.hasBias ? ctx.inputs[2].constant : nullptr,
            std::vector<Dims>{x.dims, w.dims, spec.hasBias ? ctx.inputs[2].dims : Dims{}});
    } catch (const dnnl::error& e) {
        return tl::unexpected(buildError(ctx, "convolution", e));
    }
    build.outputs.push_back(floatInfo(spec.dst));
    return build;
}

}  // namespace

void registerConv(KernelRegistry& registry) {
    registry.add("", "Conv", 1, kMaxOpset, Backend::kDnnl, buildConv);
}

}  // namespace wh::engine::dnnlk
