// QMatMul (core/engine/qmatmul.h) as one oneDNN int8 matmul: u8/s8 src [M, K] (leading dims
// folded into M), s8 weights [K, N] reordered once into oneDNN's layout, an f32 bias in
// accumulator units with the src zero point folded in (-x_zero_point * sum_k w[k, n]: no padding
// here, so the fold is exact and oneDNN keeps its fastest kernels), per-column output scales
// x_scale * w_scale[n] / y_scale, the activation as an eltwise post-op, a dst zero point, u8/s8
// dst. As for QConv (dnnl/qconv.cpp), oneDNN 2.6 computes
//     dst = saturate(round(post_ops(scale[n] * (acc + bias[n]))) + y_zero_point)
// with acc the exact int32 product and f32 -> int8 rounding to nearest even.

#include <limits>

#include <fmt/format.h>

#include "core/engine/dnnl/dnnl_common.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/kernel_implementation.h"
#include "core/engine/qmatmul.h"

namespace wh::engine::dnnlk {

namespace {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using ir::DType;

struct QMatMulSetup {
    int64_t m = 0, k = 0, n = 0;
    Dims outDims;  // the ONNX output shape [..., M, N]
    dt srcType = dt::u8, dstType = dt::u8;
    std::vector<float> scales;  // one, or one per column
    std::vector<float> bias;    // [N], accumulator units
    int32_t dstZeroPoint = 0;
    std::vector<Eltwise> activations;
};

class QMatMulKernel final : public DnnlKernel, public KernelImplementation {
public:
    QMatMulKernel(QMatMulSetup s, const HostTensor& weights, const Dims& srcDims)
        : DnnlKernel("int8 matmul", {srcDims}), m_outDims(s.outDims), m_bias(std::move(s.bias)),
          m_dstZp(s.dstZeroPoint) {
        setExpectedTypes({dtypeOf(s.srcType)});
        const dnnl::memory::desc src({s.m, s.k}, s.srcType, tag::ab);
        const dnnl::memory::desc userWeights({s.k, s.n}, dt::s8, tag::ab);
        const dnnl::memory::desc anyWeights({s.k, s.n}, dt::s8, tag::any);
        const dnnl::memory::desc bias({1, s.n}, dt::f32, tag::ab);
        const dnnl::memory::desc dst({s.m, s.n}, s.dstType, tag::ab);
        dnnl::primitive_attr attr;
        attr.set_output_scales(s.scales.size() > 1 ? 1 << 1 : 0, s.scales);
        if (m_dstZp != 0) attr.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
        dnnl::post_ops ops;
        for (const Eltwise& e : s.activations) ops.append_eltwise(1.0f, e.algorithm, e.alpha, e.beta);
        if (ops.len() > 0) attr.set_post_ops(ops);
        m_pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, anyWeights, bias, dst), attr,
                                            cpuEngine());
        m_matmul = dnnl::matmul(m_pd);
        m_src = unboundMemory(src);
        m_dst = unboundMemory(dst);
        m_weights = reorderConstant(weights, userWeights, m_pd.weights_desc());
        m_biasMem = dnnl::memory(bias, cpuEngine(), m_bias.data());
        m_args = {{DNNL_ARG_SRC, m_src},
                  {DNNL_ARG_WEIGHTS, m_weights},
                  {DNNL_ARG_BIAS, m_biasMem},
                  {DNNL_ARG_DST, m_dst}};
        if (m_dstZp != 0)
            m_args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST,
                           dnnl::memory({{1}, dt::s32, tag::x}, cpuEngine(), &m_dstZp));
    }

    std::string implementation() const override { return m_pd.impl_info_str(); }

protected:
    void execute(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        setHandle(m_src, *in[0]);
        out[0]->ensure(dtypeOf(m_pd.dst_desc().data_type()), m_outDims);
        m_dst.set_data_handle(out[0]->raw());
        m_matmul.execute(cpuStream(), m_args);
        cpuStream().wait();
    }

private:
    Dims m_outDims;
    std::vector<float> m_bias;  // m_biasMem points into it
    int32_t m_dstZp;            // the zero-point memory points at it
    dnnl::matmul::primitive_desc m_pd;
    dnnl::matmul m_matmul;
    dnnl::memory m_src, m_dst, m_weights, m_biasMem;
    std::unordered_map<int, dnnl::memory> m_args;
};

bool isByte(DType t) {
    return t == DType::kUInt8 || t == DType::kInt8;
}

int32_t byteValue(const HostTensor& t) {
    return t.dtype() == DType::kUInt8 ? t.data<uint8_t>()[0] : t.data<int8_t>()[0];
}

Expected<KernelBuild> buildQMatMul(const KernelContext& ctx) {
    const auto& in = ctx.inputs;
    if (in.size() < 8 || !isByte(in[0].dtype) || in[3].dtype != DType::kInt8 ||
        !isByte(in[7].dtype))
        return error(StatusCode::kUnsupported,
                     "{}: oneDNN QMatMul needs uint8/int8 x and y, int8 w", ctx.where());
    for (int i = 1; i < static_cast<int>(in.size()); ++i)
        if (ctx.hasInput(i) && !in[static_cast<std::size_t>(i)].constant)
            return error(StatusCode::kUnsupported, "{}: oneDNN QMatMul needs constant input {}",
                         ctx.where(), i);
    const TensorInfo& x = in[0];
    const HostTensor& w = *in[3].constant;
    if (!x.shapeKnown() || x.dims.size() < 2 || w.rank() != 2 ||
        std::count(x.dims.begin(), x.dims.end(), 0) > 0 || x.dims.back() != w.dim(0))
        return error(StatusCode::kUnsupported,
                     "{}: oneDNN QMatMul needs a static x [..., M, K] matching w {}, got {}",
                     ctx.where(), dimsToString(w.dims()), dimsToString(x.dims));
    QMatMulSetup s;
    s.k = w.dim(0);
    s.n = w.dim(1);
    s.m = numElementsOf(x.dims) / s.k;
    s.outDims = x.dims;
    s.outDims.back() = s.n;
    s.srcType = dnnlType(x.dtype);
    s.dstType = dnnlType(in[7].dtype);

    const float xScale = in[1].constant->data<float>()[0];
    const HostTensor& wScale = *in[4].constant;
    const float yScale = in[6].constant->data<float>()[0];
    const int32_t xZp = byteValue(*in[2].constant);
    s.dstZeroPoint = byteValue(*in[7].constant);
    if (wScale.numElements() != 1 && wScale.numElements() != s.n)
        return error(StatusCode::kBadInput, "{}: w_scale {} for {} columns", ctx.where(),
                     dimsToString(wScale.dims()), s.n);
    if (ctx.hasInput(5)) {
        const HostTensor& wZp = *in[5].constant;
        for (int64_t i = 0; i < wZp.numElements(); ++i)
            if (wZp.data<int8_t>()[i] != 0)
                return error(StatusCode::kUnsupported,
                             "{}: oneDNN QMatMul takes weights without zero point", ctx.where());
    }
    const HostTensor* bias = ctx.hasInput(8) ? in[8].constant.get() : nullptr;
    if (bias && bias->numElements() != s.n)
        return error(StatusCode::kBadInput, "{}: bias {} for {} columns", ctx.where(),
                     dimsToString(bias->dims()), s.n);
    // Column sums of w for the src zero point, then scales and the bias in accumulator units.
    std::vector<int64_t> columnSum(static_cast<std::size_t>(s.n), 0);
    if (xZp != 0)
        for (int64_t k = 0; k < s.k; ++k)
            for (int64_t n = 0; n < s.n; ++n)
                columnSum[static_cast<std::size_t>(n)] += w.data<int8_t>()[k * s.n + n];
    s.bias.resize(static_cast<std::size_t>(s.n));
    for (int64_t n = 0; n < s.n; ++n) {
        const double accScale =
            static_cast<double>(xScale) * wScale.data<float>()[wScale.numElements() > 1 ? n : 0];
        if (n == 0 || wScale.numElements() > 1) s.scales.push_back(static_cast<float>(accScale / yScale));
        const double b = (bias ? bias->data<float>()[n] / accScale : 0.0) -
                         static_cast<double>(xZp) * static_cast<double>(columnSum[static_cast<std::size_t>(n)]);
        s.bias[static_cast<std::size_t>(n)] = static_cast<float>(b);
    }
    // The activation acts on v / y_scale: Relu as is, Clip with its bounds divided by y_scale.
    const std::string act = ctx.node.attrString("activation");
    constexpr float inf = std::numeric_limits<float>::infinity();
    if (act == "Relu") {
        s.activations.push_back({dnnl::algorithm::eltwise_relu, 0, 0});
    } else if (act == "Clip") {
        s.activations.push_back({dnnl::algorithm::eltwise_clip,
                                 ctx.node.attrFloat("activation_min", -inf) / yScale,
                                 ctx.node.attrFloat("activation_max", inf) / yScale});
    } else if (!act.empty()) {
        return error(StatusCode::kBadInput, "{}: unknown activation '{}'", ctx.where(), act);
    }

    KernelBuild build;
    const Dims outDims = s.outDims;
    try {
        build.kernel = std::make_unique<QMatMulKernel>(std::move(s), w, x.dims);
    } catch (const dnnl::error& e) {
        return tl::unexpected(buildError(ctx, "int8 matmul", e));
    }
    TensorInfo out;
    out.dtype = in[7].dtype;
    out.dims = outDims;
    build.outputs.push_back(std::move(out));
    return build;
}

}  // namespace

void registerQMatMul(KernelRegistry& registry) {
    registry.add(std::string(kWhittleDomain), std::string(kQMatMulOp), 0, 1, Backend::kDnnl,
                 buildQMatMul);
}

}  // namespace wh::engine::dnnlk
