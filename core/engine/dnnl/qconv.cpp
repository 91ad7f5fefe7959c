// QConv (core/engine/qconv.h) as one oneDNN int8 convolution: u8/s8 src, s8 weights, an f32
// bias in accumulator units, per-channel output scales x_scale * w_scale[m] / y_scale, the
// activation as an eltwise post-op, zero points, u8/s8 dst. oneDNN computes
//     dst = saturate(round(post_ops(scale[m] * (acc + bias[m]))) + y_zero_point)
// with acc the exact int32 sum of src * w (src - x_zero_point when a src zero point is set) and
// rounds f32 -> int8 to nearest even (the CPU's default MXCSR mode), which is QuantizeLinear's
// rounding. Caveat: u8 x s8 on x86 CPUs without VNNI goes through int16 intermediates that
// saturate on full-range weights (STACK.md); the machines this is built for have AVX512-VNNI
// (exact), so it is not guarded against here.
//
// Layouts: int8 activations are nhwc between int8 kernels. With blocked nChw16c src/dst oneDNN
// 2.6 picks ref_int8 (~1,000x slower), so the tags are forced to nhwc; implementation() reports
// what oneDNN picked and a test fails on "ref".

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/engine/dnnl/conv.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/kernel_implementation.h"
#include "core/engine/qconv.h"

namespace wh::engine::dnnlk {

namespace {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using ir::DType;

/// What the kernel needs besides the spec: constant operands prepared at compile time.
struct QConvParams {
    dnnl::memory::desc src;  ///< the input as it arrives (plain NCHW, or a producer's nhwc)
    bool nativeDst = false;  ///< write nhwc (else plain NCHW)
    std::vector<float> bias;  ///< in accumulator units, zero-point compensation folded in
    int32_t srcZeroPoint = 0, dstZeroPoint = 0;
};

class QConvKernel final : public DnnlKernel, public KernelImplementation {
public:
    QConvKernel(const ConvSpec& spec, QConvParams params, const HostTensor& weights)
        : DnnlKernel("int8 convolution", {spec.src}),
          m_outDims(spec.dst),
          m_srcDims(spec.src),
          m_bias(std::move(params.bias)),
          m_srcZp(params.srcZeroPoint),
          m_dstZp(params.dstZeroPoint) {
        setExpectedTypes({dtypeOf(spec.srcType)});
        m_pd = createConvPrimitive(spec);
        m_conv = dnnl::convolution_forward(m_pd);
        m_userSrc = unboundMemory(params.src);
        if (m_pd.src_desc() != params.src) {
            m_src = dnnl::memory(m_pd.src_desc(), cpuEngine());
            m_srcReorder = dnnl::reorder(m_userSrc, m_src);
            // Plain NCHW bytes (a QuantizeLinear's output) to nhwc: a loop beats the reorder.
            m_srcTranspose = params.src == plainDesc(spec.src, spec.srcType) &&
                             isByteNhwc(m_pd.src_desc(), spec.src);
        }
        m_userDst = unboundMemory(params.nativeDst ? m_pd.dst_desc()
                                                   : plainDesc(spec.dst, spec.dstType));
        if (m_pd.dst_desc() != m_userDst.get_desc()) {
            m_dst = dnnl::memory(m_pd.dst_desc(), cpuEngine());
            m_dstReorder = dnnl::reorder(m_dst, m_userDst);
        }
        m_weights = reorderConstant(weights, plainWeightsDesc(spec), m_pd.weights_desc());
        m_biasMem = dnnl::memory(m_pd.bias_desc(), cpuEngine(), m_bias.data());
        m_args = {{DNNL_ARG_SRC, m_srcReorder ? m_src : m_userSrc},
                  {DNNL_ARG_WEIGHTS, m_weights},
                  {DNNL_ARG_BIAS, m_biasMem},
                  {DNNL_ARG_DST, m_dstReorder ? m_dst : m_userDst}};
        const dnnl::memory::desc zpDesc({1}, dt::s32, tag::x);
        if (spec.srcZeroPoint)
            m_args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC,
                           dnnl::memory(zpDesc, cpuEngine(), &m_srcZp));
        if (spec.dstZeroPoint)
            m_args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST,
                           dnnl::memory(zpDesc, cpuEngine(), &m_dstZp));
    }

    dnnl::memory::desc outputDesc() const { return m_userDst.get_desc(); }
    std::string implementation() const override { return m_pd.impl_info_str(); }

protected:
    void execute(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        dnnl::stream& s = cpuStream();
        if (m_srcTranspose) {
            transposeBytes(in[0]->raw(), m_src.get_data_handle(), m_srcDims, true);
        } else {
            setHandle(m_userSrc, *in[0]);
            if (m_srcReorder) m_srcReorder.execute(s, m_userSrc, m_src);
        }
        ensureFor(*out[0], m_outDims, m_userDst.get_desc());
        m_userDst.set_data_handle(out[0]->raw());
        m_conv.execute(s, m_args);
        if (m_dstReorder) m_dstReorder.execute(s, m_dst, m_userDst);
        s.wait();
    }

private:
    Dims m_outDims, m_srcDims;
    bool m_srcTranspose = false;
    std::vector<float> m_bias;  // m_biasMem points into it
    int32_t m_srcZp, m_dstZp;   // the zero-point memories point at them
    dnnl::convolution_forward::primitive_desc m_pd;
    dnnl::convolution_forward m_conv;
    dnnl::memory m_userSrc, m_src, m_userDst, m_dst, m_weights, m_biasMem;
    dnnl::reorder m_srcReorder, m_dstReorder;
    std::unordered_map<int, dnnl::memory> m_args;
};

bool isByte(DType t) {
    return t == DType::kUInt8 || t == DType::kInt8;
}

int32_t byteValue(const HostTensor& t) {
    return t.dtype() == DType::kUInt8 ? t.data<uint8_t>()[0] : t.data<int8_t>()[0];
}

Expected<KernelBuild> buildQConv(const KernelContext& ctx) {
    const auto& in = ctx.inputs;
    if (in.size() < 8 || !isByte(in[0].dtype) || in[3].dtype != DType::kInt8 ||
        !isByte(in[7].dtype))
        return error(StatusCode::kUnsupported, "{}: oneDNN QConv needs uint8/int8 x and y, int8 w",
                     ctx.where());
    for (int i = 1; i < static_cast<int>(in.size()); ++i)
        if (ctx.hasInput(i) && !in[static_cast<std::size_t>(i)].constant)
            return error(StatusCode::kUnsupported, "{}: oneDNN QConv needs constant input {}",
                         ctx.where(), i);
    const TensorInfo& x = in[0];
    const HostTensor& w = *in[3].constant;
    if (!x.shapeKnown() || x.dims.size() != 4 || w.rank() != 4 ||
        std::count(x.dims.begin(), x.dims.end(), 0) > 0)
        return error(StatusCode::kUnsupported, "{}: oneDNN QConv needs a static rank-4 x, got {}",
                     ctx.where(), dimsToString(x.dims));
    const int64_t channels = x.dims[1], outChannels = w.dim(0);
    ConvSpec spec;
    spec.groups = ctx.node.attrInt("group", 1);
    if (spec.groups < 1 || channels % spec.groups != 0 || outChannels % spec.groups != 0 ||
        w.dim(1) * spec.groups != channels)
        return error(StatusCode::kBadInput, "{}: group {} does not fit input {} and weights {}",
                     ctx.where(), spec.groups, dimsToString(x.dims), dimsToString(w.dims()));
    const Dims kernel(w.dims().begin() + 2, w.dims().end());
    WH_ASSIGN_OR_RETURN(Window win,
                        resolveWindow(ctx, Dims(x.dims.begin() + 2, x.dims.end()), kernel, false));

    const float xScale = in[1].constant->data<float>()[0];
    const HostTensor& wScale = *in[4].constant;
    const float yScale = in[6].constant->data<float>()[0];
    const int32_t xZp = byteValue(*in[2].constant), yZp = byteValue(*in[7].constant);
    if (wScale.numElements() != 1 && wScale.numElements() != outChannels)
        return error(StatusCode::kBadInput, "{}: w_scale {} for {} output channels", ctx.where(),
                     dimsToString(wScale.dims()), outChannels);
    if (ctx.hasInput(5)) {
        const HostTensor& wZp = *in[5].constant;
        for (int64_t i = 0; i < wZp.numElements(); ++i)
            if (wZp.data<int8_t>()[i] != 0)
                return error(StatusCode::kUnsupported,
                             "{}: oneDNN QConv takes weights without zero point", ctx.where());
    }
    const HostTensor* bias = ctx.hasInput(8) ? in[8].constant.get() : nullptr;
    if (bias && bias->numElements() != outChannels)
        return error(StatusCode::kBadInput, "{}: bias {} for {} output channels", ctx.where(),
                     dimsToString(bias->dims()), outChannels);

    spec.src = x.dims;
    spec.weights = w.dims();
    spec.dst = {x.dims[0], outChannels, win.outSpatial[0], win.outSpatial[1]};
    spec.hasBias = true;
    spec.strides = win.strides;
    spec.dilations = win.dilations;
    spec.padBegin = win.padBegin;
    spec.padEnd = win.padEnd;
    spec.srcType = dnnlType(x.dtype);
    spec.weightsType = dt::s8;
    spec.biasType = dt::f32;
    spec.dstType = dnnlType(in[7].dtype);
    spec.srcTag = tag::nhwc;
    spec.dstTag = tag::nhwc;

    // Output scales and the bias in accumulator units (acc counts x_scale * w_scale[m]).
    QConvParams params;
    const int64_t perChannel = w.numElements() / outChannels;
    bool padded = false;
    for (std::size_t i = 0; i < win.padBegin.size(); ++i)
        padded = padded || win.padBegin[i] != 0 ||
                 dnnlPadEnd(x.dims[i + 2], win.padBegin[i], kernel[i], win.strides[i],
                            win.dilations[i], spec.dst[i + 2]) > 0;
    // A src zero point without padding is a constant per channel, -x_zp * sum(w[m]): folded into
    // the bias, so oneDNN keeps its fastest (brgconv) kernels, which take no src zero point.
    // With padding the sum would include padded positions; oneDNN's zero point handles those.
    const bool foldSrcZp = xZp != 0 && !padded;
    spec.srcZeroPoint = xZp != 0 && !foldSrcZp;
    spec.dstZeroPoint = yZp != 0;
    params.srcZeroPoint = xZp;
    params.dstZeroPoint = yZp;
    spec.outputScalesMask = wScale.numElements() > 1 ? 1 << 1 : 0;
    params.bias.resize(static_cast<std::size_t>(outChannels));
    for (int64_t m = 0; m < outChannels; ++m) {
        const double ws = wScale.data<float>()[wScale.numElements() > 1 ? m : 0];
        const double accScale = static_cast<double>(xScale) * ws;
        if (m == 0 || wScale.numElements() > 1)
            spec.outputScales.push_back(static_cast<float>(accScale / yScale));
        double b = bias ? bias->data<float>()[m] / accScale : 0.0;
        if (foldSrcZp) {
            int64_t sum = 0;
            for (int64_t k = 0; k < perChannel; ++k) sum += w.data<int8_t>()[m * perChannel + k];
            b -= static_cast<double>(xZp) * static_cast<double>(sum);
        }
        params.bias[static_cast<std::size_t>(m)] = static_cast<float>(b);
    }
    // The activation acts on v / y_scale (the output scale includes 1 / y_scale): Relu as is,
    // Clip with its bounds divided by y_scale.
    const std::string act = ctx.node.attrString("activation");
    constexpr float inf = std::numeric_limits<float>::infinity();
    if (act == "Relu") {
        spec.postOps.push_back({PostOp::Kind::kEltwise, {dnnl::algorithm::eltwise_relu, 0, 0}});
    } else if (act == "Clip") {
        const float lo = ctx.node.attrFloat("activation_min", -inf);
        const float hi = ctx.node.attrFloat("activation_max", inf);
        spec.postOps.push_back(
            {PostOp::Kind::kEltwise, {dnnl::algorithm::eltwise_clip, lo / yScale, hi / yScale}});
    } else if (!act.empty()) {
        return error(StatusCode::kBadInput, "{}: unknown activation '{}'", ctx.where(), act);
    }

    const bool native = ctx.options.nativeLayouts && !hasForeignLayout(ctx.inputs);
    params.src = native ? descOf(x) : plainDesc(x.dims, spec.srcType);
    params.nativeDst = native;
    KernelBuild build;
    build.readsLayouts = native;
    std::unique_ptr<QConvKernel> conv;
    try {
        conv = std::make_unique<QConvKernel>(spec, std::move(params), w);
    } catch (const dnnl::error& e) {
        return tl::unexpected(buildError(ctx, "int8 convolution", e));
    }
    TensorInfo out;
    out.dtype = in[7].dtype;
    out.dims = spec.dst;
    if (conv->outputDesc() != plainDesc(spec.dst, spec.dstType))
        out.layout = std::make_shared<DnnlLayout>(spec.dst, conv->outputDesc());
    build.outputs.push_back(std::move(out));
    build.kernel = std::move(conv);
    return build;
}

}  // namespace

void registerQConv(KernelRegistry& registry) {
    registry.add(std::string(kWhittleDomain), std::string(kQConvOp), 0, 1, Backend::kDnnl,
                 buildQConv);
}

}  // namespace wh::engine::dnnlk
