// Reference QConv (core/engine/qconv.h): the QDQ graph's arithmetic, spelled out — dequantize
// x and w, a direct float convolution (double accumulator) plus the bias, the activation, then
// QuantizeLinear's round half to even and saturation. Plain loops: the oracle the oneDNN int8
// kernel is tested against and its fallback.

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/engine/fake_quantize.h"
#include "core/engine/qconv.h"
#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/nn_common.h"

namespace wh::engine {

namespace {

using ir::DType;

using ref::byteAt;
using ref::isByte;

struct QConvGeometry {
    int64_t group = 1;
    std::vector<int64_t> strides, dilations, padBegin;
    Dims out;  // [N, M, oH, oW]
};

class RefQConv final : public Kernel {
public:
    RefQConv(QConvGeometry geometry, std::string activation, float lo, float hi)
        : m_g(std::move(geometry)), m_act(std::move(activation)), m_lo(lo), m_hi(hi) {}

    Status run(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        const HostTensor& x = *in[0];
        const HostTensor& w = *in[3];
        const HostTensor& ws = *in[4];
        const HostTensor* bias = in.size() > 8 ? in[8] : nullptr;
        const float xs = in[1]->data<float>()[0], ys = in[6]->data<float>()[0];
        const float xz = byteAt(*in[2], 0), yz = byteAt(*in[7], 0);
        const HostTensor& yzp = *in[7];
        if (x.rank() != 4 || w.rank() != 4)
            return makeStatus(StatusCode::kBadInput, "QConv of x {} and w {}",
                              dimsToString(x.dims()), dimsToString(w.dims()));
        const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
        const int64_t M = w.dim(0), Cg = w.dim(1), kH = w.dim(2), kW = w.dim(3);
        const int64_t G = m_g.group, Mg = M / G;
        const int64_t oH = m_g.out[2], oW = m_g.out[3];
        if (Cg * G != C || (ws.numElements() != 1 && ws.numElements() != M))
            return makeStatus(StatusCode::kBadInput, "QConv: x {} does not fit w {}",
                              dimsToString(x.dims()), dimsToString(w.dims()));

        // Dequantized operands, as the DequantizeLinear nodes would give them.
        std::vector<float> xf(static_cast<std::size_t>(x.numElements()));
        for (int64_t i = 0; i < x.numElements(); ++i)
            xf[static_cast<std::size_t>(i)] = (byteAt(x, i) - xz) * xs;
        std::vector<float> wf(static_cast<std::size_t>(w.numElements()));
        const int64_t perM = Cg * kH * kW;
        for (int64_t i = 0; i < w.numElements(); ++i)
            wf[static_cast<std::size_t>(i)] = static_cast<float>(w.data<int8_t>()[i]) *
                                              ws.data<float>()[ws.numElements() == 1 ? 0 : i / perM];

        HostTensor& y = *out[0];
        y.ensure(yzp.dtype(), {N, M, oH, oW});
        for (int64_t n = 0; n < N; ++n)
            for (int64_t m = 0; m < M; ++m) {
                const int64_t g = m / Mg;
                for (int64_t oh = 0; oh < oH; ++oh)
                    for (int64_t ow = 0; ow < oW; ++ow) {
                        double acc = 0.0;
                        for (int64_t c = 0; c < Cg; ++c)
                            for (int64_t kh = 0; kh < kH; ++kh) {
                                const int64_t ih = oh * m_g.strides[0] - m_g.padBegin[0] +
                                                   kh * m_g.dilations[0];
                                if (ih < 0 || ih >= H) continue;
                                for (int64_t kw = 0; kw < kW; ++kw) {
                                    const int64_t iw = ow * m_g.strides[1] - m_g.padBegin[1] +
                                                       kw * m_g.dilations[1];
                                    if (iw < 0 || iw >= W) continue;
                                    const int64_t xi = ((n * C + g * Cg + c) * H + ih) * W + iw;
                                    const int64_t wi = ((m * Cg + c) * kH + kh) * kW + kw;
                                    acc += static_cast<double>(xf[static_cast<std::size_t>(xi)]) *
                                           wf[static_cast<std::size_t>(wi)];
                                }
                            }
                        float v = static_cast<float>(acc);
                        if (bias) v += bias->data<float>()[m];
                        ref::storeRequantized(y, ((n * M + m) * oH + oh) * oW + ow, v, m_act,
                                              m_lo, m_hi, ys, yz);
                    }
            }
        return Status::ok();
    }

private:
    QConvGeometry m_g;
    std::string m_act;
    float m_lo, m_hi;
};

Expected<KernelBuild> buildRefQConv(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(ref::nn::checkQuantizedLayerTypes(ctx));
    const TensorInfo& x = ctx.inputs[0];
    const TensorInfo& w = ctx.inputs[3];
    if (!x.rankKnown || !w.shapeKnown() || x.dims.size() != 4 || w.dims.size() != 4)
        return error(StatusCode::kUnsupported, "{}: needs rank-4 x and known weight dims",
                     ctx.where());
    QConvGeometry geo;
    geo.group = ctx.node.attrInt("group", 1);
    if (geo.group < 1 || w.dims[0] % geo.group != 0 ||
        (x.dims[1] >= 0 && w.dims[1] * geo.group != x.dims[1]))
        return error(StatusCode::kBadInput, "{}: group {} does not fit x {} and w {}",
                     ctx.where(), geo.group, dimsToString(x.dims), dimsToString(w.dims));
    WH_ASSIGN_OR_RETURN(ref::nn::WindowAttrs attrs, ref::nn::parseWindowAttrs(ctx.node));
    const std::vector<int64_t> in{x.dims[2], x.dims[3]};
    const std::vector<int64_t> kernel{w.dims[2], w.dims[3]};
    WH_ASSIGN_OR_RETURN(ref::nn::WindowGeometry win,
                        ref::nn::windowGeometry(attrs, in, kernel));
    if (std::count(win.padBegin.begin(), win.padBegin.end(), -1) > 0)
        return error(StatusCode::kUnsupported, "{}: padding depends on an unknown size",
                     ctx.where());
    geo.strides = win.strides;
    geo.dilations = win.dilations;
    geo.padBegin = win.padBegin;
    geo.out = {x.dims[0], w.dims[0], win.out[0], win.out[1]};
    if (win.out[0] < 0 || win.out[1] < 0)
        return error(StatusCode::kUnsupported, "{}: the reference needs known spatial sizes",
                     ctx.where());
    constexpr float inf = std::numeric_limits<float>::infinity();
    auto kernelPtr = std::make_unique<RefQConv>(geo, ctx.node.attrString("activation"),
                                                ctx.node.attrFloat("activation_min", -inf),
                                                ctx.node.attrFloat("activation_max", inf));
    return ref::singleOutput(std::move(kernelPtr), ref::infoOf(ctx.inputs[7].dtype, geo.out));
}

}  // namespace

void registerQConvKernel(KernelRegistry& registry) {
    registry.add(std::string(kWhittleDomain), std::string(kQConvOp), 0, 1, Backend::kReference,
                 buildRefQConv);
}

}  // namespace wh::engine
