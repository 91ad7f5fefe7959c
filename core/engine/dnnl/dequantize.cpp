// DequantizeLinear of an int8 tensor that an int8 kernel left in nhwc (a QConv's or QAdd's
// output read by float operators: the last residual Add of a ResNet, the pooling after a
// MobileNet's head): per tensor, dequantized where it lies into a float nhwc tensor, which the
// oneDNN float kernels read as it is — instead of a conversion to plain, the reference
// DequantizeLinear, and the float kernels' own reorders. The arithmetic is the reference's
// (quant_simd.h, bit for bit). Any other case (plain input, per-axis scales, scales not
// constant) is the reference kernel's (kUnsupported).

#include "core/engine/dnnl/dnnl_common.h"
#include "core/engine/kernel_implementation.h"
#include "core/engine/quant_simd.h"

namespace wh::engine::dnnlk {

namespace {

using ir::DType;

class NhwcDequantizeKernel final : public DnnlKernel, public KernelImplementation {
public:
    NhwcDequantizeKernel(Dims dims, DType type, float scale, int zero, dnnl::memory::desc out)
        : DnnlKernel("dequantize", {dims}),
          m_dims(std::move(dims)),
          m_type(type),
          m_scale(scale),
          m_zero(zero),
          m_out(std::move(out)) {
        setExpectedTypes({type});
    }

    std::string implementation() const override { return "loop"; }

protected:
    void execute(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        ensureFor(*out[0], m_dims, m_out);
        float* y = static_cast<float*>(out[0]->raw());
        const int64_t n = in[0]->numElements();
        if (m_type == DType::kUInt8)
            simd::dequantizePerTensor(in[0]->data<uint8_t>(), m_scale, m_zero, y, n);
        else
            simd::dequantizePerTensor(in[0]->data<int8_t>(), m_scale, m_zero, y, n);
    }

private:
    Dims m_dims;
    DType m_type;
    float m_scale;
    int m_zero;
    dnnl::memory::desc m_out;
};

Expected<KernelBuild> buildDequantize(const KernelContext& ctx) {
    const auto& in = ctx.inputs;
    const TensorInfo& x = in[0];
    if (!ctx.options.nativeLayouts || hasForeignLayout(in) || !x.layout ||
        (x.dtype != DType::kUInt8 && x.dtype != DType::kInt8) || !x.shapeKnown() ||
        !isByteNhwc(descOf(x), x.dims))
        return error(StatusCode::kUnsupported, "{}: only an nhwc uint8/int8 input is dequantized "
                     "by oneDNN", ctx.where());
    if (ctx.node.attrInt("block_size", 0) != 0 || in.size() < 2 || !in[1].constant ||
        in[1].dtype != DType::kFloat || in[1].constant->numElements() != 1 ||
        in[1].constant->rank() > 1 ||
        (ctx.hasInput(2) && (!in[2].constant || in[2].dtype != x.dtype ||
                             in[2].constant->numElements() != 1)))
        return error(StatusCode::kUnsupported,
                     "{}: the oneDNN DequantizeLinear takes a constant per-tensor scale and zero "
                     "point",
                     ctx.where());
    const float scale = in[1].constant->data<float>()[0];
    int zero = 0;
    if (ctx.hasInput(2))
        zero = x.dtype == DType::kUInt8 ? in[2].constant->data<uint8_t>()[0]
                                        : in[2].constant->data<int8_t>()[0];
    const dnnl::memory::desc out(toDnnl(x.dims), dnnl::memory::data_type::f32,
                                 dnnl::memory::format_tag::nhwc);
    KernelBuild build;
    build.readsLayouts = true;
    build.kernel = std::make_unique<NhwcDequantizeKernel>(x.dims, x.dtype, scale, zero, out);
    build.outputs.push_back(floatInfo(x.dims, out));
    return build;
}

}  // namespace

void registerDequantize(KernelRegistry& registry) {
    registry.add("", "DequantizeLinear", 10, 22, Backend::kDnnl, buildDequantize);
}

}  // namespace wh::engine::dnnlk
