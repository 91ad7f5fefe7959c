#include "core/engine/dnnl/conv.h"
#include "core/engine/kernel_implementation.h"
#include "core/rewrite/pattern.h"

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
    const dnnl::memory::desc src(toDnnl(spec.src), spec.srcType, spec.srcTag);
    const dnnl::memory::desc weights(groupedWeights(spec), spec.weightsType, tag::any);
    const dnnl::memory::desc dst(toDnnl(spec.dst), spec.dstType, spec.dstTag);
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
    const auto alg = spec.algorithm;
    dnnl::convolution_forward::desc desc =
        spec.hasBias ? dnnl::convolution_forward::desc(
                           prop, alg, src, weights,
                           dnnl::memory::desc({spec.weights[0]}, spec.biasType, tag::x), dst,
                           strides, minusOne(spec.dilations), padL, padR)
                     : dnnl::convolution_forward::desc(prop, alg, src, weights, dst, strides,
                                                       minusOne(spec.dilations), padL, padR);
    dnnl::primitive_attr attr;
    if (!spec.outputScales.empty())
        attr.set_output_scales(spec.outputScalesMask, spec.outputScales);
    if (spec.srcZeroPoint) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    if (spec.dstZeroPoint) attr.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
    if (!spec.postOps.empty()) {
        dnnl::post_ops ops;
        for (const PostOp& op : spec.postOps) {
            if (op.kind == PostOp::Kind::kSum)
                ops.append_sum(1.0f);
            else
                ops.append_eltwise(1.0f, op.eltwise.algorithm, op.eltwise.alpha, op.eltwise.beta);
        }
        attr.set_post_ops(ops);
    }
    return dnnl::convolution_forward::primitive_desc(desc, attr, cpuEngine());
}

namespace {

/// How a ConvKernel meets the tensors around it.
struct ConvIo {
    dnnl::memory::desc src;       ///< the input as it arrives (plain, or a producer's layout)
    bool nativeDst = false;       ///< write the primitive's own dst layout (else plain)
    int residualInput = -1;       ///< run-time input a kSum post-op adds (-1: none)
    dnnl::memory::desc residual;  ///< its layout
};

/// Conv, with weights reordered once, at compile time, into the layout the primitive chose.
/// The src is reordered only if it arrives in another layout than the primitive wants; the dst
/// stays in the primitive's layout when the plan keeps native layouts, else goes back to plain.
/// A residual Add fused as a sum post-op is copied into dst first (oneDNN adds dst's previous
/// contents), converting its layout on the way if needed.
class ConvKernel final : public DnnlKernel, public KernelImplementation {
public:
    ConvKernel(const ConvSpec& spec, const ConvIo& io,
               std::shared_ptr<const HostTensor> constWeights,
               std::shared_ptr<const HostTensor> constBias, std::vector<Dims> expected)
        : DnnlKernel("convolution", std::move(expected)),
          m_outDims(spec.dst),
          m_nativeDst(io.nativeDst),
          m_residualInput(io.residualInput) {
        m_pd = createConvPrimitive(spec);
        m_conv = dnnl::convolution_forward(m_pd);
        m_userSrc = unboundMemory(io.src);
        if (m_pd.src_desc() != io.src) {
            m_src = dnnl::memory(m_pd.src_desc(), cpuEngine());
            m_srcReorder = dnnl::reorder(m_userSrc, m_src);
        }
        m_userDst =
            unboundMemory(m_nativeDst ? m_pd.dst_desc() : plainDesc(spec.dst, spec.dstType));
        if (m_pd.dst_desc() != m_userDst.get_desc()) {
            m_dst = dnnl::memory(m_pd.dst_desc(), cpuEngine());
            m_dstReorder = dnnl::reorder(m_dst, m_userDst);
        }
        if (m_residualInput >= 0) {
            m_residual = unboundMemory(io.residual);
            m_residualCopy = dnnl::reorder(m_residual, m_dstReorder ? m_dst : m_userDst);
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
        // Memory objects are handles: execute() repoints them, the argument map stays.
        m_args = {{DNNL_ARG_SRC, m_srcReorder ? m_src : m_userSrc},
                  {DNNL_ARG_WEIGHTS, m_weights},
                  {DNNL_ARG_DST, m_dstReorder ? m_dst : m_userDst}};
        if (m_bias) m_args.emplace(DNNL_ARG_BIAS, m_bias);
    }

    /// "jit_wino_4x3:avx512_core", "brgconv:avx512_core", ...: Plan::describe() shows it.
    std::string implementation() const override { return m_pd.impl_info_str(); }
    /// The layout the output is written in.
    dnnl::memory::desc outputDesc() const { return m_userDst.get_desc(); }
    /// True if the residual arrives laid out like the output, so they can share storage.
    bool canAccumulateInPlace() const {
        return m_residualCopy && !m_dstReorder && m_residual.get_desc() == m_userDst.get_desc();
    }
    int residualInput() const { return m_residualInput; }

protected:
    void execute(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        dnnl::stream& s = cpuStream();
        setHandle(m_userSrc, *in[0]);
        if (m_srcReorder) m_srcReorder.execute(s, m_userSrc, m_src);
        if (m_userWeights) {
            setHandle(m_userWeights, *in[1]);
            if (m_weightsReorder) m_weightsReorder.execute(s, m_userWeights, m_weights);
        }
        if (m_bias && !m_constBias) setHandle(m_bias, *in[2]);
        ensureFor(*out[0], m_outDims, m_userDst.get_desc());
        m_userDst.set_data_handle(out[0]->raw());
        dnnl::memory& dst = m_dstReorder ? m_dst : m_userDst;
        const HostTensor* residual =
            m_residualInput >= 0 ? in[static_cast<std::size_t>(m_residualInput)] : nullptr;
        if (residual && residual != out[0]) {  // else the plan gave dst the residual's storage
            setHandle(m_residual, *residual);
            m_residualCopy.execute(s, m_residual, dst);
        }
        m_conv.execute(s, m_args);
        if (m_dstReorder) m_dstReorder.execute(s, m_dst, m_userDst);
        s.wait();
    }

private:
    Dims m_outDims;
    bool m_nativeDst;
    int m_residualInput;
    dnnl::convolution_forward::primitive_desc m_pd;
    dnnl::convolution_forward m_conv;
    dnnl::memory m_userSrc, m_src, m_userDst, m_dst, m_userWeights, m_weights, m_bias, m_residual;
    dnnl::reorder m_srcReorder, m_dstReorder, m_weightsReorder, m_residualCopy;
    std::shared_ptr<const HostTensor> m_constBias;
    std::unordered_map<int, dnnl::memory> m_args;
};

using ir::isOnnxOp;

/// Takes over the longest prefix of ctx.followers that post-ops can compute: activations
/// (activationOf) and one Add of a tensor shaped like the output (a residual connection).
/// Returns how many it took; fills spec.postOps and io's residual fields.
int takeFollowers(const KernelContext& ctx, bool native, ConvSpec& spec, ConvIo& io) {
    int taken = 0;
    // Run-time inputs: the node's, then each taken follower's other than its link.
    int nextInput = static_cast<int>(ctx.inputs.size());
    std::vector<Eltwise> eltwises;  // the eltwise post-ops so far (addEltwisePostOp)
    for (const Follower& f : ctx.followers) {
        if (isOnnxOp(f.node, "Add") && f.inputs.size() == 2 && io.residualInput < 0) {
            const TensorInfo& other = f.inputs[static_cast<std::size_t>(1 - f.link)];
            if (other.dtype != ir::DType::kFloat || other.dims != spec.dst) break;
            spec.postOps.push_back({PostOp::Kind::kSum, {}});
            io.residualInput = nextInput;
            io.residual = native ? descOf(other) : plainDesc(other.dims);
        } else if (Expected<Eltwise> e = activationOf(f.node, f.opset, f.inputs)) {
            const bool adjacent =
                !spec.postOps.empty() && spec.postOps.back().kind == PostOp::Kind::kEltwise;
            const std::size_t before = eltwises.size();
            if (!addEltwisePostOp(eltwises, adjacent, *e)) break;
            if (eltwises.size() > before)
                spec.postOps.push_back({PostOp::Kind::kEltwise, *e});
            else
                spec.postOps.back().eltwise = eltwises.back();  // merged into the last clip
        } else {
            break;
        }
        nextInput += static_cast<int>(f.inputs.size()) - 1;
        ++taken;
    }
    return taken;
}

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

    bool native = ctx.options.nativeLayouts && !hasForeignLayout(ctx.inputs);
    for (const Follower& f : ctx.followers) native = native && !hasForeignLayout(f.inputs);
    ConvIo io;
    io.src = native ? descOf(x) : plainDesc(x.dims);
    io.nativeDst = native;
    ConvSpec fusedSpec = spec;
    ConvIo fusedIo = io;
    const int fused = takeFollowers(ctx, native, fusedSpec, fusedIo);
    // Shapes checked at run time, by input index: x, w and the bias when there is one. Without
    // a bias, input 2 is a fused residual's (takeFollowers), laid out like the output.
    std::vector<Dims> expected{x.dims, w.dims};
    if (spec.hasBias) expected.push_back(ctx.inputs[2].dims);
    const auto make = [&](const ConvSpec& s, const ConvIo& i) {
        return std::make_unique<ConvKernel>(s, i, w.constant,
                                            s.hasBias ? ctx.inputs[2].constant : nullptr, expected);
    };
    // Configurations in order of preference: with the followers, then without; Winograd,
    // blocked tags, then oneDNN's own choice. Left to choose, oneDNN 2.6 takes nhwc (brgconv)
    // on AVX-512 CPUs; measured here, its nChw16c (jit) convolutions are 5-20 % faster (3x3
    // and 1x1, batch 64, 2 threads) when the channels fill whole blocks of 16.
    // Winograd (oneDNN's jit_wino_4x3 / wino_2x3, AVX-512 only, nChw16c) for 3x3, stride 1,
    // undilated, ungrouped float convolutions with constant weights and 32+ channels in and
    // out: measured 1.4-2.5x faster than the direct kernels at batch 1 and 16 on ResNet-18's
    // four shapes (64x56², 128x28², 256x14², 512x7²) and at 32-64 channels, slower at 16
    // channels. It rounds differently (~1e-6 relative), well inside the 1e-4 agreement with
    // ONNX Runtime. In ResNet-18 (2 threads) it takes batch 1 from 15 to 10.5 ms and batch 64
    // from 0.72 to 0.43 s, at the cost of larger weights (16/9 or 36/9 of their size) and
    // scratchpad: peak RSS 162 -> 218 MiB at batch 1, 663 -> 885 MiB at batch 64.
    const bool winograd =
        native && rank == 4 && spec.groups == 1 && w.constant && channels >= 32 &&
        outChannels >= 32 && channels % 16 == 0 && outChannels % 16 == 0 &&
        kernel == Dims{3, 3} && spec.strides == Dims{1, 1} && spec.dilations == Dims{1, 1};
    struct Try {
        ConvSpec spec;
        const ConvIo* io;
    };
    std::vector<Try> tries;
    const auto addTries = [&](const ConvSpec& s, const ConvIo& i) {
        if (winograd) {
            ConvSpec wino = s;
            wino.srcTag = wino.dstTag = tag::nChw16c;
            wino.algorithm = dnnl::algorithm::convolution_winograd;
            tries.push_back({std::move(wino), &i});
        }
        if (native && rank == 4 && (channels % 16 == 0 || outChannels % 16 == 0)) {
            ConvSpec blocked = s;
            if (channels % 16 == 0) blocked.srcTag = tag::nChw16c;
            if (outChannels % 16 == 0) blocked.dstTag = tag::nChw16c;
            tries.push_back({std::move(blocked), &i});
        }
        tries.push_back({s, &i});
    };
    if (fused > 0) addTries(fusedSpec, fusedIo);
    addTries(spec, io);
    KernelBuild build;
    build.readsLayouts = native;
    std::unique_ptr<ConvKernel> conv;
    for (std::size_t k = 0; k < tries.size() && !conv; ++k) {
        try {
            conv = make(tries[k].spec, *tries[k].io);
            if (tries[k].io == &fusedIo) build.fused = fused;
        } catch (const dnnl::error& e) {
            // No implementation for this one: try the next (the plan runs unfused followers).
            if (k + 1 == tries.size()) return tl::unexpected(buildError(ctx, "convolution", e));
        }
    }
    build.outputs.push_back(floatInfo(spec.dst, conv->outputDesc()));
    if (conv->canAccumulateInPlace()) build.accumulatesInto = conv->residualInput();
    build.kernel = std::move(conv);
    return build;
}

}  // namespace

void registerConv(KernelRegistry& registry) {
    registry.add("", "Conv", 1, kMaxOpset, Backend::kDnnl, buildConv);
}

}  // namespace wh::engine::dnnlk
