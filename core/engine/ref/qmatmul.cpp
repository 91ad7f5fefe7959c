// Reference QMatMul (core/engine/qmatmul.h): the QDQ graph's arithmetic, spelled out —
// dequantize x and w, a float product (double accumulator) plus the bias, the activation, then
// QuantizeLinear's round half to even and saturation. The oracle the oneDNN int8 matmul is
// tested against, and its fallback.

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/engine/fake_quantize.h"
#include "core/engine/qmatmul.h"
#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/nn_common.h"

namespace wh::engine {

namespace {

using ir::DType;
using ref::byteAt;
using ref::isByte;

class RefQMatMul final : public Kernel {
public:
    RefQMatMul(std::string activation, float lo, float hi)
        : m_act(std::move(activation)), m_lo(lo), m_hi(hi) {}

    Status run(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        const HostTensor& x = *in[0];
        const HostTensor& w = *in[3];
        const HostTensor& ws = *in[4];
        const HostTensor* bias = in.size() > 8 ? in[8] : nullptr;
        const float xs = in[1]->data<float>()[0], ys = in[6]->data<float>()[0];
        const float xz = byteAt(*in[2], 0), yz = byteAt(*in[7], 0);
        const HostTensor& yzp = *in[7];
        if (x.rank() < 2 || w.rank() != 2 || x.dim(x.rank() - 1) != w.dim(0) ||
            (ws.numElements() != 1 && ws.numElements() != w.dim(1)) ||
            (bias && bias->numElements() != w.dim(1)))
            return makeStatus(StatusCode::kBadInput, "QMatMul of x {} and w {}",
                              dimsToString(x.dims()), dimsToString(w.dims()));
        const int64_t K = w.dim(0), N = w.dim(1), rows = x.numElements() / std::max<int64_t>(K, 1);
        Dims outDims = x.dims();
        outDims.back() = N;
        HostTensor& y = *out[0];
        y.ensure(yzp.dtype(), outDims);
        std::vector<float> wf(static_cast<std::size_t>(K * N));
        for (int64_t k = 0; k < K; ++k)
            for (int64_t n = 0; n < N; ++n)
                wf[static_cast<std::size_t>(k * N + n)] =
                    static_cast<float>(w.data<int8_t>()[k * N + n]) *
                    ws.data<float>()[ws.numElements() == 1 ? 0 : n];
        std::vector<float> xf(static_cast<std::size_t>(K));
        for (int64_t r = 0; r < rows; ++r) {
            for (int64_t k = 0; k < K; ++k)
                xf[static_cast<std::size_t>(k)] = (byteAt(x, r * K + k) - xz) * xs;
            for (int64_t n = 0; n < N; ++n) {
                double acc = 0.0;
                for (int64_t k = 0; k < K; ++k)
                    acc += static_cast<double>(xf[static_cast<std::size_t>(k)]) *
                           wf[static_cast<std::size_t>(k * N + n)];
                float v = static_cast<float>(acc);
                if (bias) v += bias->data<float>()[n];
                ref::storeRequantized(y, r * N + n, v, m_act, m_lo, m_hi, ys, yz);
            }
        }
        return Status::ok();
    }

private:
    std::string m_act;
    float m_lo, m_hi;
};

Expected<KernelBuild> buildRefQMatMul(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(ref::nn::checkQuantizedLayerTypes(ctx));
    const TensorInfo& x = ctx.inputs[0];
    const TensorInfo& w = ctx.inputs[3];
    if (!x.rankKnown || x.dims.size() < 2 || !w.shapeKnown() || w.dims.size() != 2)
        return error(StatusCode::kUnsupported, "{}: needs x of rank >= 2 and known [K, N] weights",
                     ctx.where());
    if (x.dims.back() >= 0 && x.dims.back() != w.dims[0])
        return error(StatusCode::kBadInput, "{}: x {} does not fit w {}", ctx.where(),
                     dimsToString(x.dims), dimsToString(w.dims));
    Dims outDims = x.dims;
    outDims.back() = w.dims[1];
    constexpr float inf = std::numeric_limits<float>::infinity();
    auto kernel = std::make_unique<RefQMatMul>(ctx.node.attrString("activation"),
                                               ctx.node.attrFloat("activation_min", -inf),
                                               ctx.node.attrFloat("activation_max", inf));
    return ref::singleOutput(std::move(kernel), ref::infoOf(ctx.inputs[7].dtype, outDims));
}

}  // namespace

void registerQMatMulKernel(KernelRegistry& registry) {
    registry.add(std::string(kWhittleDomain), std::string(kQMatMulOp), 0, 1, Backend::kReference,
                 buildRefQMatMul);
}

}  // namespace wh::engine
