// BatchNormalization (inference), MaxPool (float32, and uint8/int8 for the int8 plan),
// AveragePool and GlobalAveragePool through oneDNN, on plain NCHW tensors or, inside a plan that
// keeps them, on the layout the producer chose; and the fused com.whittle LayerNormalization
// over the last axis.

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "core/engine/dnnl/dnnl_common.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/kernel_implementation.h"
#include "core/engine/transformer_lowering.h"

namespace wh::engine::dnnlk {

namespace {

using tag = dnnl::memory::format_tag;

/// Batch normalisation with given statistics: y = scale * (x - mean) / sqrt(var + eps) + B.
class BatchNormKernel final : public DnnlKernel {
public:
    /// `data`: how x (and y) are laid out; rank 4/5 (oneDNN's requirement).
    BatchNormKernel(const Dims& x, const dnnl::memory::desc& data, float epsilon,
                    std::vector<Dims> expected,
                    std::vector<std::shared_ptr<const HostTensor>> constants)
        : DnnlKernel("batch_normalization", std::move(expected)),
          m_dims(x),
          m_constants(std::move(constants)) {
        const auto flags = dnnl::normalization_flags::use_global_stats |
                           dnnl::normalization_flags::use_scale |
                           dnnl::normalization_flags::use_shift;
        dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, data,
                                                     epsilon, flags);
        m_pd = dnnl::batch_normalization_forward::primitive_desc(desc, cpuEngine());
        m_bn = dnnl::batch_normalization_forward(m_pd);
        m_src = unboundMemory(data);
        m_dst = unboundMemory(data);
        const dnnl::memory::desc vec = plainDesc({x[1]});
        for (std::size_t i = 0; i < 4; ++i) {
            m_params[i] = unboundMemory(vec);
            if (m_constants[i]) setHandle(m_params[i], *m_constants[i]);
        }
    }

protected:
    void execute(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        setHandle(m_src, *in[0]);
        for (std::size_t i = 0; i < 4; ++i)
            if (!m_constants[i]) setHandle(m_params[i], *in[i + 1]);
        ensureFor(*out[0], m_dims, m_dst.get_desc());
        m_dst.set_data_handle(out[0]->raw());
        m_bn.execute(cpuStream(), {{DNNL_ARG_SRC, m_src},
                                   {DNNL_ARG_DST, m_dst},
                                   {DNNL_ARG_SCALE, m_params[0]},
                                   {DNNL_ARG_SHIFT, m_params[1]},
                                   {DNNL_ARG_MEAN, m_params[2]},
                                   {DNNL_ARG_VARIANCE, m_params[3]}});
        cpuStream().wait();
    }

private:
    Dims m_dims;
    std::vector<std::shared_ptr<const HostTensor>> m_constants;  // scale, B, mean, var
    dnnl::batch_normalization_forward::primitive_desc m_pd;
    dnnl::batch_normalization_forward m_bn;
    dnnl::memory m_src, m_dst, m_params[4];
};

Expected<KernelBuild> buildBatchNorm(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireStaticFloat(ctx, 5, 5));
    if (ctx.options.training || ctx.node.attrInt("training_mode", 0) != 0)
        return error(StatusCode::kUnsupported, "oneDNN BatchNormalization: training mode");
    if (ctx.opset < 9 && ctx.node.attrInt("spatial", 1) != 1)
        return error(StatusCode::kUnsupported, "oneDNN BatchNormalization: spatial=0");
    for (int i = 1; i < ctx.node.numOutputs(); ++i)
        if (ctx.node.output(i))
            return error(StatusCode::kUnsupported, "oneDNN BatchNormalization: output {} asked", i);
    const Dims& x = ctx.inputs[0].dims;
    if (x.size() < 2 || x.size() > 5)
        return error(StatusCode::kUnsupported, "oneDNN BatchNormalization: rank {}", x.size());
    std::vector<Dims> expected{x};
    std::vector<std::shared_ptr<const HostTensor>> constants;
    for (int i = 1; i < 5; ++i) {
        const TensorInfo& p = ctx.inputs[static_cast<std::size_t>(i)];
        if (p.dims != Dims{x[1]})
            return error(StatusCode::kBadInput, "{}: input {} is {}, expected [{}]", ctx.where(), i,
                         dimsToString(p.dims), x[1]);
        expected.push_back(p.dims);
        constants.push_back(p.constant);
    }
    // oneDNN wants rank 4/5; [N, C] and [N, C, L] view as [N, C, L, 1].
    Dims view = x;
    while (view.size() < 4) view.push_back(1);
    const bool native = ctx.options.nativeLayouts && ctx.inputs[0].layout && view == x &&
                        !hasForeignLayout(ctx.inputs);
    const dnnl::memory::desc data = native ? descOf(ctx.inputs[0]) : plainDesc(view);
    KernelBuild build;
    build.readsLayouts = native;
    try {
        build.kernel =
            std::make_unique<BatchNormKernel>(x, data, ctx.node.attrFloat("epsilon", 1e-5f),
                                              std::move(expected), std::move(constants));
    } catch (const dnnl::error& e) {
        return tl::unexpected(buildError(ctx, "batch_normalization", e));
    }
    build.outputs.push_back(native ? floatInfo(x, data) : floatInfo(x));
    return build;
}

class PoolKernel final : public DnnlKernel, public KernelImplementation {
public:
    /// `srcDesc`: how the input arrives. `nativeDst`: write the layout oneDNN picks (else plain).
    PoolKernel(dnnl::algorithm alg, const Dims& src, const Dims& dst, const Window& w,
               const dnnl::memory::desc& srcDesc, bool nativeDst)
        : DnnlKernel("pooling", {src}), m_srcDims(src), m_dims(dst) {
        // Max pooling of uint8/int8 (the int8 plan's: max commutes with the quantizer) keeps
        // the type and, native, the layout the tensor arrives in (nhwc from QConv). oneDNN 2.6
        // pools 4-D bytes in plain NCHW with its reference kernel only (~50x slower): such an
        // input is transposed to nhwc first, with a plain loop.
        const dnnl::memory::data_type type = srcDesc.data_type();
        setExpectedTypes({dtypeOf(type)});
        dnnl::memory::desc poolSrc = srcDesc;
        if (type != dnnl::memory::data_type::f32 && src.size() == 4 &&
            srcDesc == plainDesc(src, type)) {
            poolSrc = dnnl::memory::desc(toDnnl(src), type, tag::nhwc);
            m_transposed.resize(poolSrc.get_size());
        }
        const dnnl::memory::desc dstDesc = nativeDst
                                               ? dnnl::memory::desc(toDnnl(dst), type, tag::any)
                                               : plainDesc(dst, type);
        dnnl::memory::dims dil, padR;
        for (std::size_t i = 0; i < w.kernel.size(); ++i) {
            dil.push_back(w.dilations[i] - 1);
            padR.push_back(dnnlPadEnd(src[i + 2], w.padBegin[i], w.kernel[i], w.strides[i],
                                      w.dilations[i], dst[i + 2]));
        }
        dnnl::pooling_v2_forward::desc desc(
            dnnl::prop_kind::forward_inference, alg, poolSrc, dstDesc,
            dnnl::memory::dims(w.strides.begin(), w.strides.end()),
            dnnl::memory::dims(w.kernel.begin(), w.kernel.end()), dil,
            dnnl::memory::dims(w.padBegin.begin(), w.padBegin.end()), padR);
        m_pd = dnnl::pooling_v2_forward::primitive_desc(desc, cpuEngine());
        m_pool = dnnl::pooling_v2_forward(m_pd);
        m_src = unboundMemory(poolSrc);
        m_dst = unboundMemory(m_pd.dst_desc());
    }

    dnnl::memory::desc outputDesc() const { return m_pd.dst_desc(); }
    std::string implementation() const override { return m_pd.impl_info_str(); }

protected:
    void execute(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        if (m_transposed.empty()) {
            setHandle(m_src, *in[0]);
        } else {
            transposeBytes(in[0]->raw(), m_transposed.data(), m_srcDims, true);
            m_src.set_data_handle(m_transposed.data());
        }
        ensureFor(*out[0], m_dims, m_dst.get_desc());
        m_dst.set_data_handle(out[0]->raw());
        m_pool.execute(cpuStream(), {{DNNL_ARG_SRC, m_src}, {DNNL_ARG_DST, m_dst}});
        cpuStream().wait();
    }

private:
    Dims m_srcDims, m_dims;
    std::vector<uint8_t> m_transposed;  // the plain NCHW byte input in nhwc, when it came plain
    dnnl::pooling_v2_forward::primitive_desc m_pd;
    dnnl::pooling_v2_forward m_pool;
    dnnl::memory m_src, m_dst;
};

Expected<KernelBuild> finishPool(const KernelContext& ctx, dnnl::algorithm alg, const Dims& x,
                                 const Window& w) {
    Dims dst{x[0], x[1]};
    dst.insert(dst.end(), w.outSpatial.begin(), w.outSpatial.end());
    const bool native = ctx.options.nativeLayouts && !hasForeignLayout(ctx.inputs);
    KernelBuild build;
    build.readsLayouts = native;
    try {
        const dnnl::memory::data_type type = dnnlType(ctx.inputs[0].dtype);
        auto pool = std::make_unique<PoolKernel>(
            alg, x, dst, w, native ? descOf(ctx.inputs[0]) : plainDesc(x, type), native);
        // Bytes in a layout oneDNN only has its reference pooling for (a 16x28x28 MaxPool: 0.22
        // ms; 4-D plain NCHW is transposed above): leave them to our reference kernel.
        if (type != dnnl::memory::data_type::f32 &&
            pool->implementation().rfind("ref", 0) == 0)
            return error(StatusCode::kUnsupported, "oneDNN {} MaxPool of this layout: {}",
                         ir::dtypeName(ctx.inputs[0].dtype), pool->implementation());
        const dnnl::memory::desc outDesc = pool->outputDesc();
        TensorInfo out = floatInfo(dst);
        out.dtype = dtypeOf(outDesc.data_type());
        if (outDesc != plainDesc(dst, outDesc.data_type()))
            out.layout = std::make_shared<DnnlLayout>(dst, outDesc);
        build.outputs.push_back(std::move(out));
        build.kernel = std::move(pool);
    } catch (const dnnl::error& e) {
        return tl::unexpected(buildError(ctx, "pooling", e));
    }
    return build;
}

Expected<KernelBuild> buildPool(const KernelContext& ctx, bool isMax) {
    const ir::DType type = ctx.hasInput(0) ? ctx.inputs[0].dtype : ir::DType::kUndefined;
    if (isMax && (type == ir::DType::kUInt8 || type == ir::DType::kInt8)) {
        const TensorInfo& t = ctx.inputs[0];
        if (!t.shapeKnown() || std::count(t.dims.begin(), t.dims.end(), 0) > 0)
            return error(StatusCode::kUnsupported, "oneDNN MaxPool: {} input of unknown shape",
                         ir::dtypeName(type));
    } else {
        WH_RETURN_IF_ERROR(requireStaticFloat(ctx, 1, 1));
    }
    const Dims& x = ctx.inputs[0].dims;
    if (x.size() < 3 || x.size() > 5)
        return error(StatusCode::kUnsupported, "oneDNN pooling: rank {}", x.size());
    if (isMax && ctx.node.output(1))
        return error(StatusCode::kUnsupported, "oneDNN MaxPool: Indices output");
    const Dims spatial(x.begin() + 2, x.end());
    const std::vector<int64_t> kernel = ctx.node.attrInts("kernel_shape");
    if (kernel.size() != spatial.size())
        return error(StatusCode::kBadInput, "{}: kernel_shape {} for input {}", ctx.where(),
                     dimsToString(kernel), dimsToString(x));
    const bool ceilMode = ctx.node.attrInt("ceil_mode", 0) != 0;
    WH_ASSIGN_OR_RETURN(Window w, resolveWindow(ctx, spatial, kernel, ceilMode));
    if (isMax) return finishPool(ctx, dnnl::algorithm::pooling_max, x, w);
    const bool includePad = ctx.node.attrInt("count_include_pad", 0) != 0;
    if (includePad) {
        // Windows that ceil_mode stretches past the end padding count only up to that padding
        // in ONNX; oneDNN would count the whole window. Leave those to the reference kernel.
        for (std::size_t i = 0; i < spatial.size(); ++i)
            if (dnnlPadEnd(spatial[i], w.padBegin[i], w.kernel[i], w.strides[i], w.dilations[i],
                           w.outSpatial[i]) > w.padEnd[i])
                return error(StatusCode::kUnsupported,
                             "oneDNN AveragePool: count_include_pad with a ceil_mode tail");
    }
    return finishPool(ctx,
                      includePad ? dnnl::algorithm::pooling_avg_include_padding
                                 : dnnl::algorithm::pooling_avg_exclude_padding,
                      x, w);
}

Expected<KernelBuild> buildGlobalAveragePool(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireStaticFloat(ctx, 1, 1));
    const Dims& x = ctx.inputs[0].dims;
    if (x.size() < 3 || x.size() > 5)
        return error(StatusCode::kUnsupported, "oneDNN GlobalAveragePool: rank {}", x.size());
    Window w;
    const std::size_t r = x.size() - 2;
    w.kernel.assign(x.begin() + 2, x.end());
    w.strides.assign(r, 1);
    w.dilations.assign(r, 1);
    w.padBegin.assign(r, 0);
    w.padEnd.assign(r, 0);
    w.outSpatial.assign(r, 1);
    return finishPool(ctx, dnnl::algorithm::pooling_avg_exclude_padding, x, w);
}

/// com.whittle LayerNormalization over the last axis (what LayerNormFusion makes of PyTorch's
/// decomposed LayerNorm) as oneDNN's layer_normalization on [rows, C], Scale and B constant.
class LayerNormKernel final : public DnnlKernel {
public:
    LayerNormKernel(const Dims& dims, int64_t channels, float epsilon, const HostTensor& scale,
                    const HostTensor* bias)
        : DnnlKernel("layer_normalization", {dims}), m_dims(dims) {
        const dnnl::memory::desc data =
            plainDesc({numElementsOf(dims) / channels, channels});
        auto flags = dnnl::normalization_flags::use_scale;
        if (bias) flags = flags | dnnl::normalization_flags::use_shift;
        dnnl::layer_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, data,
                                                     epsilon, flags);
        m_ln = dnnl::layer_normalization_forward(
            dnnl::layer_normalization_forward::primitive_desc(desc, cpuEngine()));
        m_src = unboundMemory(data);
        m_dst = unboundMemory(data);
        const dnnl::memory::desc vec = plainDesc({channels});
        m_scale = dnnl::memory(vec, cpuEngine());
        std::memcpy(m_scale.get_data_handle(), scale.raw(), vec.get_size());
        if (bias) {
            m_shift = dnnl::memory(vec, cpuEngine());
            std::memcpy(m_shift.get_data_handle(), bias->raw(), vec.get_size());
        }
    }

protected:
    void execute(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        setHandle(m_src, *in[0]);
        out[0]->ensure(ir::DType::kFloat, m_dims);
        m_dst.set_data_handle(out[0]->raw());
        std::unordered_map<int, dnnl::memory> args = {
            {DNNL_ARG_SRC, m_src}, {DNNL_ARG_DST, m_dst}, {DNNL_ARG_SCALE, m_scale}};
        if (m_shift) args[DNNL_ARG_SHIFT] = m_shift;
        m_ln.execute(cpuStream(), args);
        cpuStream().wait();
    }

private:
    Dims m_dims;
    dnnl::layer_normalization_forward m_ln;
    dnnl::memory m_src, m_dst, m_scale, m_shift;
};

Expected<KernelBuild> buildLayerNorm(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireStaticFloat(ctx, 1, 1));
    const Dims& x = ctx.inputs[0].dims;
    const int64_t axis = ctx.node.attrInt("axis", -1);
    if (x.empty() || (axis != -1 && axis != static_cast<int64_t>(x.size()) - 1))
        return error(StatusCode::kUnsupported, "oneDNN LayerNormalization: axis {} of {}", axis,
                     dimsToString(x));
    const int64_t channels = x.back();
    auto vector = [&](int i) -> const HostTensor* {
        if (!ctx.hasInput(i)) return nullptr;
        const auto& c = ctx.inputs[static_cast<std::size_t>(i)].constant;
        return c && c->dtype() == ir::DType::kFloat && c->numElements() == channels ? c.get()
                                                                                    : nullptr;
    };
    const HostTensor* scale = vector(1);
    const HostTensor* bias = vector(2);
    if (!scale || (ctx.hasInput(2) && !bias))
        return error(StatusCode::kUnsupported,
                     "oneDNN LayerNormalization: Scale and B must be constants of {} floats",
                     channels);
    if (ctx.node.attrInt("stash_type", 1) != 1 || ctx.node.numOutputs() > 1)
        return error(StatusCode::kUnsupported,
                     "oneDNN LayerNormalization: Mean and InvStdDev outputs, stash_type");
    KernelBuild build;
    try {
        build.kernel = std::make_unique<LayerNormKernel>(
            x, channels, ctx.node.attrFloat("epsilon", 1e-5f), *scale, bias);
    } catch (const dnnl::error& e) {
        return tl::unexpected(buildError(ctx, "layer_normalization", e));
    }
    build.outputs.push_back(floatInfo(x));
    return build;
}

}  // namespace

void registerNormPool(KernelRegistry& registry) {
    // The LayerNorm that LayerNormFusion (transformer_lowering.h) makes of PyTorch's op chain.
    registry.add(std::string(kWhittleDomain), std::string(kLayerNormOp), 0, 1, Backend::kDnnl,
                 buildLayerNorm);
    // ONNX's own, when it normalises the last axis and only Y is asked for.
    registry.add("", "LayerNormalization", 17, kMaxOpset, Backend::kDnnl, buildLayerNorm);
    registry.add("", "BatchNormalization", 7, kMaxOpset, Backend::kDnnl, buildBatchNorm);
    registry.add("", "MaxPool", 1, kMaxOpset, Backend::kDnnl,
                 [](const KernelContext& ctx) { return buildPool(ctx, true); });
    registry.add("", "AveragePool", 1, kMaxOpset, Backend::kDnnl,
                 [](const KernelContext& ctx) { return buildPool(ctx, false); });
    registry.add("", "GlobalAveragePool", 1, kMaxOpset, Backend::kDnnl, buildGlobalAveragePool);
}

}  // namespace wh::engine::dnnlk
