// oneDNN gradient of Conv (2-D, float32): convolution_backward_data for dX and
// convolution_backward_weights for dW and dB, behind the same GradKernel interface as the
// reference gradient (which stays the oracle: tests compare the two and check both against
// finite differences). Primitives are built per input shape on first use and cached, since the
// batch of the last step of an epoch may differ. Plain layouts (NCHW, OIHW/GOIHW) at the edges.

#include <algorithm>
#include <map>
#include <memory>

#include <oneapi/dnnl/dnnl.hpp>

#include "core/engine/autodiff.h"
#include "core/engine/dnnl/dnnl_backward.h"
#include "core/engine/dnnl/dnnl_common.h"
#include "core/engine/ref/grad_util.h"

namespace wh::engine {

namespace {

using dnnl::memory;

// The blocked copies live in scratch buffers shared by every convolution backward of the
// thread (they run one after another), one per role, grown to the largest layer: a plan's
// memory then does not grow with the number of layers.
enum Role { kDataDiffDst, kDataWei, kDataDiffSrc, kWSrc, kWDiffDst, kWDiffWei, kRoles };

void* scratch(Role role, std::size_t bytes) {
    thread_local HostTensor buffers[kRoles];
    HostTensor& b = buffers[role];
    if (b.byteSize() < bytes) b.ensure(ir::DType::kUInt8, {static_cast<int64_t>(bytes)});
    return b.raw();
}

// A tensor the caller holds in plain layout, and (when the primitive prefers another layout)
// the library-owned copy in that layout with the reorder between the two.
/// The caller's order of an activation: plain NCHW or, when the training plan keeps it so,
/// channel-blocked nChw16c (core/engine/channel_blocks.h).
memory::desc userDesc(const Dims& d, bool blocked) {
    return blocked
               ? memory::desc(dnnlk::toDnnl(d), memory::data_type::f32, memory::format_tag::nChw16c)
               : dnnlk::plainDesc(d);
}

/// Which of a Conv's activations (X and dX; Y and dY) the training plan keeps channel-blocked:
/// set once, before the first run, and read by both the training forward and the backward.
struct ChannelOrder {
    bool input = false, output = false;
};

/// f32 with the layout left to oneDNN.
memory::desc any(const Dims& d) {
    return memory::desc(dnnlk::toDnnl(d), memory::data_type::f32, memory::format_tag::any);
}

/// A convolution's window as oneDNN takes it (dilations counted from 0, explicit end pads) and
/// its weights' dims with the group split out ([G, M/G, C/G, k...] when grouped).
struct ConvGeometry {
    memory::dims strides, dilations, padBegin, padEnd;
    Dims weights;
};

Expected<ConvGeometry> convGeometry(const ir::Node& node, int64_t group, const Dims& wd,
                                    const std::vector<int64_t>& in, const std::vector<int64_t>& out,
                                    const std::vector<int64_t>& kernel) {
    WH_ASSIGN_OR_RETURN(ref::grad::Window w, ref::grad::readWindow(node, in, out, kernel));
    ConvGeometry g;
    for (std::size_t i = 0; i < in.size(); ++i) {
        g.strides.push_back(w.strides[i]);
        g.dilations.push_back(w.dilations[i] - 1);
        g.padBegin.push_back(w.padBegin[i]);
        g.padEnd.push_back(dnnlk::dnnlPadEnd(in[i], w.padBegin[i], w.kernel[i], w.strides[i],
                                             w.dilations[i], out[i]));
    }
    g.weights = wd;
    if (group > 1) {
        g.weights = {group, wd[0] / group};
        g.weights.insert(g.weights.end(), wd.begin() + 1, wd.end());
    }
    return g;
}

// Winograd F(4x4, 3x3) (oneDNN's jit_wino_4x3, AVX-512) for the training convolutions where it
// measured faster here than the direct kernels: 3x3, stride 1, no dilation, 64+ channels in and
// out (ResNet-20's last stage at batch 128: forward 1.3x, backward data 1.4x, backward weights
// 1.5x faster; at 16 and 32 channels it was slower or level). It rounds differently from the
// direct kernels (~1e-6 relative here), which training does not notice; inference plans keep
// the direct algorithm. oneDNN refuses it without AVX-512: then direct.
dnnl::algorithm trainingConvAlgorithm(const Dims& wd, int64_t group, const memory::dims& strides,
                                      const memory::dims& dil) {
    const bool winograd =
        group == 1 && wd.size() == 4 && wd[0] >= 64 && wd[1] >= 64 && wd[2] == 3 && wd[3] == 3 &&
        std::all_of(strides.begin(), strides.end(), [](auto v) { return v == 1; }) &&
        std::all_of(dil.begin(), dil.end(), [](auto v) { return v == 0; });
    return winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
}

struct Edge {
    memory user, inner;
    dnnl::reorder toInner, toUser;
    bool blocked() const { return static_cast<bool>(inner); }
    const memory& forPrimitive() const { return blocked() ? inner : user; }
    void bindInner(Role role) {
        if (blocked()) inner.set_data_handle(scratch(role, inner.get_desc().get_size()));
    }
};

// `input`: the primitive reads it (reorder user -> inner); otherwise it writes it.
Edge makeEdge(const memory::desc& user, const memory::desc& wanted, bool input) {
    Edge e;
    e.user = dnnlk::unboundMemory(user);
    if (wanted != user) {
        e.inner = dnnlk::unboundMemory(wanted);
        if (input)
            e.toInner = dnnl::reorder(e.user, e.inner);
        else
            e.toUser = dnnl::reorder(e.inner, e.user);
    }
    return e;
}

class ConvBackward : public GradKernel {
public:
    ConvBackward(const ir::Node& node, int64_t group, bool hasBias,
                 std::shared_ptr<const ChannelOrder> order)
        : m_node(&node), m_group(group), m_hasBias(hasBias), m_order(std::move(order)) {}

    Status backward(const GradArgs& a) override {
        const HostTensor* dy = a.outputGrads[0];
        if (!dy) return Status::ok();
        try {
            return run(a, *dy);
        } catch (const dnnl::error& e) {
            return makeStatus(StatusCode::kInternal, "oneDNN convolution backward: {}", e.what());
        }
    }

private:
    // Primitives for one input shape, created with format "any" so that oneDNN picks its fast
    // (blocked) layouts; the plain tensors of the plan are reordered at the edges, as PyTorch
    // does around its oneDNN convolutions.
    struct Prims {
        dnnl::convolution_backward_data data;
        dnnl::convolution_backward_weights weights;
        Edge dataDiffDst, dataWei, dataDiffSrc;  // backward data
        Edge wSrc, wDiffDst, wDiffWei;           // backward weights
        memory bias;                             // diff bias: always plain {M}
        bool shareDiffDst = false;               // wDiffDst reuses dataDiffDst's reorder
    };

    static void bind(Edge& e, const void* ptr) { e.user.set_data_handle(const_cast<void*>(ptr)); }

    Status run(const GradArgs& a, const HostTensor& dy) {
        const Dims& xd = a.inputDims[0];
        const Dims& wd = a.inputDims[1];
        auto key = std::make_pair(xd, dy.dims());
        auto it = m_cache.find(key);
        if (it == m_cache.end()) {
            WH_ASSIGN_OR_RETURN_STATUS(Prims built, build(xd, wd, dy.dims()));
            it = m_cache.emplace(key, std::move(built)).first;
        }
        Prims& p = it->second;
        dnnl::stream& s = dnnlk::cpuStream();
        HostTensor* gx = a.inputGrads[0];
        HostTensor* gw = a.inputGrads.size() > 1 ? a.inputGrads[1] : nullptr;
        HostTensor* gb = a.inputGrads.size() > 2 ? a.inputGrads[2] : nullptr;
        bool dyReordered = false;
        p.dataDiffDst.bindInner(kDataDiffDst);
        p.dataWei.bindInner(kDataWei);
        p.dataDiffSrc.bindInner(kDataDiffSrc);
        p.wSrc.bindInner(kWSrc);
        p.wDiffDst.bindInner(kWDiffDst);
        p.wDiffWei.bindInner(kWDiffWei);
        if (gx) {
            gx->ensure(ir::DType::kFloat, xd);
            bind(p.dataDiffDst, dy.raw());
            bind(p.dataWei, a.inputs[1]->raw());
            bind(p.dataDiffSrc, gx->raw());
            if (p.dataDiffDst.blocked()) {
                p.dataDiffDst.toInner.execute(s, p.dataDiffDst.user, p.dataDiffDst.inner);
                dyReordered = true;
            }
            if (p.dataWei.blocked()) p.dataWei.toInner.execute(s, p.dataWei.user, p.dataWei.inner);
            p.data.execute(s, {{DNNL_ARG_DIFF_DST, p.dataDiffDst.forPrimitive()},
                               {DNNL_ARG_WEIGHTS, p.dataWei.forPrimitive()},
                               {DNNL_ARG_DIFF_SRC, p.dataDiffSrc.forPrimitive()}});
            if (p.dataDiffSrc.blocked())
                p.dataDiffSrc.toUser.execute(s, p.dataDiffSrc.inner, p.dataDiffSrc.user);
        }
        if (gw || gb) {
            // oneDNN computes both together; a gradient nobody wants goes to scratch.
            HostTensor* w = gw ? gw : &m_scratchW;
            w->ensure(ir::DType::kFloat, wd);
            bind(p.wSrc, a.inputs[0]->raw());
            bind(p.wDiffWei, w->raw());
            if (p.wSrc.blocked()) p.wSrc.toInner.execute(s, p.wSrc.user, p.wSrc.inner);
            const memory* diffDst = &p.wDiffDst.forPrimitive();
            if (p.shareDiffDst && dyReordered) {
                diffDst = &p.dataDiffDst.inner;
            } else {
                bind(p.wDiffDst, dy.raw());
                if (p.wDiffDst.blocked())
                    p.wDiffDst.toInner.execute(s, p.wDiffDst.user, p.wDiffDst.inner);
            }
            std::unordered_map<int, memory> args{
                {DNNL_ARG_SRC, p.wSrc.forPrimitive()},
                {DNNL_ARG_DIFF_DST, *diffDst},
                {DNNL_ARG_DIFF_WEIGHTS, p.wDiffWei.forPrimitive()}};
            if (m_hasBias) {
                HostTensor* b = gb ? gb : &m_scratchB;
                b->ensure(ir::DType::kFloat, {wd[0]});
                p.bias.set_data_handle(b->raw());
                args.insert({DNNL_ARG_DIFF_BIAS, p.bias});
            }
            p.weights.execute(s, args);
            if (p.wDiffWei.blocked())
                p.wDiffWei.toUser.execute(s, p.wDiffWei.inner, p.wDiffWei.user);
        }
        s.wait();
        return Status::ok();
    }

    Expected<Prims> build(const Dims& xd, const Dims& wd, const Dims& yd) {
        const std::vector<int64_t> in(xd.begin() + 2, xd.end()), out(yd.begin() + 2, yd.end()),
            k(wd.begin() + 2, wd.end());
        WH_ASSIGN_OR_RETURN(ConvGeometry geometry, convGeometry(*m_node, m_group, wd, in, out, k));
        const auto algo = trainingConvAlgorithm(wd, m_group, geometry.strides, geometry.dilations);
        try {
            return build(xd, wd, yd, geometry, algo);
        } catch (const dnnl::error&) {
            if (algo == dnnl::algorithm::convolution_direct) throw;
        }
        return build(xd, wd, yd, geometry, dnnl::algorithm::convolution_direct);
    }

    Prims build(const Dims& xd, const Dims& wd, const Dims& yd, const ConvGeometry& geometry,
                dnnl::algorithm algo) {
        const auto& [strides, dil, padL, padR, weiDims] = geometry;
        const memory::desc src = userDesc(xd, m_order->input), wei = dnnlk::plainDesc(weiDims),
                           bias = dnnlk::plainDesc({wd[0]}), dst = userDesc(yd, m_order->output);
        const memory::desc srcA = any(xd), weiA = any(weiDims), dstA = any(yd);
        dnnl::engine& eng = dnnlk::cpuEngine();
        auto fwd =
            m_hasBias
                ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, srcA,
                                                  weiA, bias, dstA, strides, dil, padL, padR)
                : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, srcA,
                                                  weiA, dstA, strides, dil, padL, padR);
        dnnl::convolution_forward::primitive_desc fwdPd(fwd, eng);
        dnnl::convolution_backward_data::primitive_desc dataPd(
            dnnl::convolution_backward_data::desc(algo, srcA, weiA, dstA, strides, dil, padL, padR),
            eng, fwdPd);
        auto wdesc = m_hasBias ? dnnl::convolution_backward_weights::desc(
                                     algo, srcA, weiA, bias, dstA, strides, dil, padL, padR)
                               : dnnl::convolution_backward_weights::desc(algo, srcA, weiA, dstA,
                                                                          strides, dil, padL, padR);
        dnnl::convolution_backward_weights::primitive_desc weightsPd(wdesc, eng, fwdPd);
        Prims p;
        p.data = dnnl::convolution_backward_data(dataPd);
        p.weights = dnnl::convolution_backward_weights(weightsPd);
        p.dataDiffDst = makeEdge(dst, dataPd.diff_dst_desc(), true);
        p.dataWei = makeEdge(wei, dataPd.weights_desc(), true);
        p.dataDiffSrc = makeEdge(src, dataPd.diff_src_desc(), false);
        p.wSrc = makeEdge(src, weightsPd.src_desc(), true);
        p.shareDiffDst = weightsPd.diff_dst_desc() == dataPd.diff_dst_desc();
        p.wDiffDst = makeEdge(dst, weightsPd.diff_dst_desc(), true);
        p.wDiffWei = makeEdge(wei, weightsPd.diff_weights_desc(), false);
        if (m_hasBias) p.bias = dnnlk::unboundMemory(weightsPd.diff_bias_desc());
        return p;
    }

    const ir::Node* m_node;
    int64_t m_group;
    bool m_hasBias;
    std::shared_ptr<const ChannelOrder> m_order;
    std::map<std::pair<Dims, Dims>, Prims> m_cache;
    HostTensor m_scratchW, m_scratchB;
};

// The training forward of a 2-D float32 Conv: the same oneDNN primitive as the inference kernel
// (layouts left to oneDNN, plain tensors reordered at the edges) but with its blocked copies in
// the thread's shared scratch buffers rather than in memory owned by each layer, which for a
// MobileNetV2 at batch 128 is hundreds of megabytes. Primitives per input shape, cached.
class ConvTrainingForward final : public Kernel {
public:
    ConvTrainingForward(const ir::Node& node, int64_t group, bool hasBias,
                        std::shared_ptr<const ChannelOrder> order)
        : m_node(&node), m_group(group), m_hasBias(hasBias), m_order(std::move(order)) {}

    Status run(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        try {
            return runImpl(in, out);
        } catch (const dnnl::error& e) {
            return makeStatus(StatusCode::kInternal, "oneDNN convolution (training): {}", e.what());
        }
    }

private:
    struct Prims {
        dnnl::convolution_forward conv;
        Edge src, wei, dst;
        memory bias;
        Dims outDims;
    };

    Status runImpl(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) {
        const HostTensor& x = *in[0];
        const HostTensor& w = *in[1];
        if (x.dtype() != ir::DType::kFloat || x.rank() != 4 || w.rank() != 4)
            return makeStatus(StatusCode::kInternal, "oneDNN convolution (training): 2-D float32");
        auto it = m_cache.find(x.dims());
        if (it == m_cache.end()) {
            WH_ASSIGN_OR_RETURN_STATUS(Prims built, build(x.dims(), w.dims()));
            it = m_cache.emplace(x.dims(), std::move(built)).first;
        }
        Prims& p = it->second;
        dnnl::stream& s = dnnlk::cpuStream();
        out[0]->ensure(ir::DType::kFloat, p.outDims);
        p.src.bindInner(kWSrc);
        p.wei.bindInner(kDataWei);
        p.dst.bindInner(kDataDiffSrc);
        p.src.user.set_data_handle(const_cast<void*>(x.raw()));
        p.wei.user.set_data_handle(const_cast<void*>(w.raw()));
        p.dst.user.set_data_handle(out[0]->raw());
        if (p.src.blocked()) p.src.toInner.execute(s, p.src.user, p.src.inner);
        if (p.wei.blocked()) p.wei.toInner.execute(s, p.wei.user, p.wei.inner);
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, p.src.forPrimitive()},
                                             {DNNL_ARG_WEIGHTS, p.wei.forPrimitive()},
                                             {DNNL_ARG_DST, p.dst.forPrimitive()}};
        if (m_hasBias) {
            p.bias.set_data_handle(const_cast<void*>(in[2]->raw()));
            args.insert({DNNL_ARG_BIAS, p.bias});
        }
        p.conv.execute(s, args);
        if (p.dst.blocked()) p.dst.toUser.execute(s, p.dst.inner, p.dst.user);
        s.wait();
        return Status::ok();
    }

    Expected<Prims> build(const Dims& xd, const Dims& wd) {
        const std::vector<int64_t> in(xd.begin() + 2, xd.end()), k(wd.begin() + 2, wd.end());
        // Output size: the inference kernel's window resolution (auto_pad, pads, checks).
        const KernelOptions options;
        const KernelContext ctx{*m_node, 0, {}, options};
        WH_ASSIGN_OR_RETURN(dnnlk::Window window, dnnlk::resolveWindow(ctx, in, k, false));
        const std::vector<int64_t>& outS = window.outSpatial;
        WH_ASSIGN_OR_RETURN(ConvGeometry geometry, convGeometry(*m_node, m_group, wd, in, outS, k));
        const auto& [strides, dil, padL, padR, weiDims] = geometry;
        Dims yd{xd[0], wd[0]};
        yd.insert(yd.end(), outS.begin(), outS.end());
        const memory::desc bias = dnnlk::plainDesc({wd[0]});
        const auto prop = dnnl::prop_kind::forward_training;
        auto primitiveDesc = [&](dnnl::algorithm algo) {
            auto desc =
                m_hasBias ? dnnl::convolution_forward::desc(prop, algo, any(xd), any(weiDims), bias,
                                                            any(yd), strides, dil, padL, padR)
                          : dnnl::convolution_forward::desc(prop, algo, any(xd), any(weiDims),
                                                            any(yd), strides, dil, padL, padR);
            return dnnl::convolution_forward::primitive_desc(desc, dnnlk::cpuEngine());
        };
        const auto algo = trainingConvAlgorithm(wd, m_group, strides, dil);
        dnnl::convolution_forward::primitive_desc pd;
        try {
            pd = primitiveDesc(algo);
        } catch (const dnnl::error&) {
            if (algo == dnnl::algorithm::convolution_direct) throw;
            pd = primitiveDesc(dnnl::algorithm::convolution_direct);
        }
        Prims p;
        p.conv = dnnl::convolution_forward(pd);
        p.src = makeEdge(userDesc(xd, m_order->input), pd.src_desc(), true);
        p.wei = makeEdge(dnnlk::plainDesc(weiDims), pd.weights_desc(), true);
        p.dst = makeEdge(userDesc(yd, m_order->output), pd.dst_desc(), false);
        if (m_hasBias) p.bias = dnnlk::unboundMemory(bias);
        p.outDims = yd;
        return p;
    }

    const ir::Node* m_node;
    int64_t m_group;
    bool m_hasBias;
    std::shared_ptr<const ChannelOrder> m_order;
    std::map<Dims, Prims> m_cache;
};

// 2-D float32 only; anything else is kUnsupported so the plan takes the reference gradient.
Expected<GradBuild> convBackwardFactory(const GradContext& ctx) {
    for (int i = 0; i < 3; ++i)
        if (ctx.hasInput(i) && ctx.inputs[static_cast<std::size_t>(i)].dtype != ir::DType::kFloat)
            return error(StatusCode::kUnsupported, "oneDNN convolution backward: float32 only");
    if (!ctx.hasInput(1) || !ctx.inputs[1].rankKnown || ctx.inputs[1].dims.size() != 4)
        return error(StatusCode::kUnsupported, "oneDNN convolution backward: 2-D only");
    const int64_t group = ctx.node.attrInt("group", 1);
    GradBuild b;
    auto order = std::make_shared<ChannelOrder>();
    b.kernel = std::make_unique<ConvBackward>(ctx.node, group, ctx.hasInput(2), order);
    if (ctx.outputs.size() == 1) {
        b.trainingForward =
            std::make_unique<ConvTrainingForward>(ctx.node, group, ctx.hasInput(2), order);
        b.trainingForwardIsInference = true;
        b.channelBlocks = GradBuild::ChannelBlocks::kFree;
        b.setChannelBlocked = [order](bool in, bool out) { *order = {in, out}; };
    }
    b.savedInputs.assign(ctx.inputs.size(), false);
    b.savedOutputs.assign(ctx.outputs.size(), false);
    if (ctx.wants(1) || ctx.wants(2)) b.savedInputs[0] = true;
    if (ctx.wants(0)) b.savedInputs[1] = true;
    return b;
}

}  // namespace

void registerDnnlGradients(GradRegistry& registry) {
    registry.add("", "Conv", 1, 99, Backend::kDnnl, convBackwardFactory);
    dnnlk::registerDnnlNormEltwiseGradients(registry);
}

}  // namespace wh::engine
