// Softmax and LogSoftmax through oneDNN's softmax_v2 (accurate / log algorithms) on the tensor
// viewed as [outer, axis, inner].

#include "core/engine/dnnl/dnnl_common.h"

namespace wh::engine::dnnlk {

namespace {

class SoftmaxKernel final : public DnnlKernel {
public:
    SoftmaxKernel(dnnl::algorithm alg, const Dims& dims, int axis)
        : DnnlKernel("softmax", {dims}), m_dims(dims) {
        const auto ax = static_cast<std::size_t>(axis);
        const int64_t outer = numElementsOf(Dims(dims.begin(), dims.begin() + axis));
        const int64_t inner = numElementsOf(Dims(dims.begin() + axis + 1, dims.end()));
        const dnnl::memory::desc data = plainDesc({outer, dims[ax], inner});
        dnnl::softmax_v2_forward::desc desc(dnnl::prop_kind::forward_inference, alg, data, data, 1);
        m_pd = dnnl::softmax_v2_forward::primitive_desc(desc, cpuEngine());
        m_softmax = dnnl::softmax_v2_forward(m_pd);
        m_src = unboundMemory(data);
        m_dst = unboundMemory(data);
    }

protected:
    void execute(std::span<const HostTensor* const> in,
                 std::span<HostTensor* const> out) override {
        setHandle(m_src, *in[0]);
        out[0]->ensure(ir::DType::kFloat, m_dims);
        m_dst.set_data_handle(out[0]->raw());
        m_softmax.execute(cpuStream(), {{DNNL_ARG_SRC, m_src}, {DNNL_ARG_DST, m_dst}});
        cpuStream().wait();
    }

private:
    Dims m_dims;
    dnnl::softmax_v2_forward::primitive_desc m_pd;
    dnnl::softmax_v2_forward m_softmax;
    dnnl::memory m_src, m_dst;
};

KernelFactory softmaxFactory(dnnl::algorithm alg) {
    return [=](const KernelContext& ctx) -> Expected<KernelBuild> {
        WH_RETURN_IF_ERROR(requireStaticFloat(ctx, 1, 1));
        const Dims& x = ctx.inputs[0].dims;
        const int rank = static_cast<int>(x.size());
        if (rank == 0) return error(StatusCode::kUnsupported, "oneDNN Softmax: scalar input");
        int64_t axis = ctx.node.attrInt("axis", ctx.opset >= 13 ? -1 : 1);
        if (axis < -rank || axis >= rank)
            return error(StatusCode::kBadInput, "{}: axis {} for rank {}", ctx.where(), axis, rank);
        if (axis < 0) axis += rank;
        // Before opset 13 the input is flattened to 2-D at `axis`; that is a single-axis softmax
        // only when axis is the last dimension.
        if (ctx.opset < 13 && axis != rank - 1)
            return error(StatusCode::kUnsupported,
                         "oneDNN Softmax (opset {}): coerced 2-D softmax at axis {} of rank {}",
                         ctx.opset, axis, rank);
        KernelBuild build;
        try {
            build.kernel = std::make_unique<SoftmaxKernel>(alg, x, static_cast<int>(axis));
        } catch (const dnnl::error& e) {
            return tl::unexpected(buildError(ctx, "softmax", e));
        }
        build.outputs.push_back(floatInfo(x));
        return build;
    };
}

}  // namespace

void registerSoftmax(KernelRegistry& registry) {
    registry.add("", "Softmax", 1, kMaxOpset, Backend::kDnnl,
                 softmaxFactory(dnnl::algorithm::softmax_accurate));
    registry.add("", "LogSoftmax", 1, kMaxOpset, Backend::kDnnl,
                 softmaxFactory(dnnl::algorithm::softmax_log));
}

}  // namespace wh::engine::dnnlk
