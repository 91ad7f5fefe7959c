// Reference QAdd (core/engine/qadd.h): the QDQ graph's arithmetic spelled out element by element
// — dequantize a and b, add, the activation, QuantizeLinear's round half to even and saturation
// — over numpy broadcasting. The oracle the fast kernel (core/engine/dnnl/qadd.cpp) is tested
// against and its fallback.

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/engine/fake_quantize.h"
#include "core/engine/qadd.h"
#include "core/engine/ref/broadcast.h"
#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/nn_common.h"

namespace wh::engine {

namespace {

using ir::DType;

using ref::byteAt;
using ref::isByte;

class RefQAdd final : public Kernel {
public:
    RefQAdd(std::string activation, float lo, float hi)
        : m_act(std::move(activation)), m_lo(lo), m_hi(hi) {}

    Status run(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        const HostTensor& a = *in[0];
        const HostTensor& b = *in[3];
        const float as = in[1]->data<float>()[0], bs = in[4]->data<float>()[0];
        const float az = byteAt(*in[2], 0), bz = byteAt(*in[5], 0);
        const float ys = in[6]->data<float>()[0], yz = byteAt(*in[7], 0);
        const DType yType = in[7]->dtype();
        WH_ASSIGN_OR_RETURN_STATUS(ref::BroadcastPlan p,
                                   ref::planBroadcast({&a.dims(), &b.dims()}));
        HostTensor& y = *out[0];
        y.ensure(yType, p.outDims);
        const float qlo = yType == DType::kUInt8 ? 0.0f : -128.0f;
        const float qhi = yType == DType::kUInt8 ? 255.0f : 127.0f;
        ref::forEachRow(p, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* step) {
            for (int64_t i = 0; i < n; ++i) {
                // DequantizeLinear: (x - zero_point) * scale, both in float.
                const float va = (byteAt(a, off[0] + i * step[0]) - az) * as;
                const float vb = (byteAt(b, off[1] + i * step[1]) - bz) * bs;
                float v = va + vb;
                if (m_act == "Relu") v = std::max(v, 0.0f);
                if (m_act == "Clip") v = std::min(std::max(v, m_lo), m_hi);
                // nearbyint in the default FE_TONEAREST mode: round half to even.
                float q = std::nearbyint(v / ys) + yz;
                if (std::isnan(q)) q = 0.0f;
                q = std::clamp(q, qlo, qhi);
                if (yType == DType::kUInt8)
                    y.data<uint8_t>()[o + i] = static_cast<uint8_t>(q);
                else
                    y.data<int8_t>()[o + i] = static_cast<int8_t>(q);
            }
        });
        return Status::ok();
    }

private:
    std::string m_act;
    float m_lo, m_hi;
};

Expected<KernelBuild> buildRefQAdd(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(ref::nn::checkArity(ctx, 8));
    const auto& in = ctx.inputs;
    if (!isByte(in[0].dtype) || !isByte(in[3].dtype) || !isByte(in[7].dtype) ||
        in[2].dtype != in[0].dtype || in[5].dtype != in[3].dtype ||
        in[1].dtype != DType::kFloat || in[4].dtype != DType::kFloat ||
        in[6].dtype != DType::kFloat)
        return error(StatusCode::kBadInput,
                     "{}: expects uint8/int8 a, b and their zero points, float scales, a "
                     "uint8/int8 y zero point",
                     ctx.where());
    const std::string act = ctx.node.attrString("activation");
    if (!act.empty() && act != "Relu" && act != "Clip")
        return error(StatusCode::kBadInput, "{}: unknown activation '{}'", ctx.where(), act);
    WH_ASSIGN_OR_RETURN(TensorInfo out, ref::broadcastInfo(in[7].dtype, {&in[0], &in[3]}));
    constexpr float inf = std::numeric_limits<float>::infinity();
    auto kernel = std::make_unique<RefQAdd>(act, ctx.node.attrFloat("activation_min", -inf),
                                            ctx.node.attrFloat("activation_max", inf));
    return ref::singleOutput(std::move(kernel), std::move(out));
}

}  // namespace

void registerQAddKernel(KernelRegistry& registry) {
    registry.add(std::string(kWhittleDomain), std::string(kQAddOp), 0, 1, Backend::kReference,
                 buildRefQAdd);
}

}  // namespace wh::engine
