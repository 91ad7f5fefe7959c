// oneDNN gradient of Conv (2-D, float32): convolution_backward_data for dX and
// convolution_backward_weights for dW and dB, behind the same GradKernel interface as the
// reference gradient (which stays the oracle: tests compare the two and check both against
// finite differences). Primitives are built per input shape on first use and cached, since the
// batch of the last step of an epoch may differ. Plain layouts (NCHW, OIHW/GOIHW) at the edges.

#include <map>

#include <oneapi/dnnl/dnnl.hpp>

#include "core/engine/autodiff.h"
#include "core/engine/dnnl/dnnl_common.h"
#include "core/engine/ref/grad_util.h"

namespace wh::engine {

namespace {

using dnnl::memory;

class ConvBackward : public GradKernel {
public:
    ConvBackward(const ir::Node& node, int64_t group, bool hasBias)
        : m_node(&node), m_group(group), m_hasBias(hasBias) {}

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
    struct Prims {
        dnnl::convolution_backward_data data;
        dnnl::convolution_backward_weights weights;
        memory::desc src, wei, bias, dst;
    };

    Status run(const GradArgs& a, const HostTensor& dy) {
        const Dims& xd = a.inputDims[0];
        const Dims& wd = a.inputDims[1];
        Prims* p = nullptr;
        auto key = std::make_pair(xd, dy.dims());
        auto it = m_cache.find(key);
        if (it == m_cache.end()) {
            WH_ASSIGN_OR_RETURN_STATUS(Prims built, build(xd, wd, dy.dims()));
            it = m_cache.emplace(key, std::move(built)).first;
        }
        p = &it->second;
        dnnl::stream& s = dnnlk::cpuStream();
        HostTensor* gx = a.inputGrads[0];
        HostTensor* gw = a.inputGrads.size() > 1 ? a.inputGrads[1] : nullptr;
        HostTensor* gb = a.inputGrads.size() > 2 ? a.inputGrads[2] : nullptr;
        auto mem = [](const memory::desc& d, const void* ptr) {
            return memory(d, dnnlk::cpuEngine(), const_cast<void*>(ptr));
        };
        if (gx) {
            gx->ensure(ir::DType::kFloat, xd);
            p->data.execute(s, {{DNNL_ARG_DIFF_DST, mem(p->dst, dy.raw())},
                                {DNNL_ARG_WEIGHTS, mem(p->wei, a.inputs[1]->raw())},
                                {DNNL_ARG_DIFF_SRC, mem(p->src, gx->raw())}});
        }
        if (gw || gb) {
            // oneDNN computes both together; a gradient nobody wants goes to scratch.
            HostTensor* w = gw ? gw : &m_scratchW;
            w->ensure(ir::DType::kFloat, wd);
            std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(p->src, a.inputs[0]->raw())},
                                                 {DNNL_ARG_DIFF_DST, mem(p->dst, dy.raw())},
                                                 {DNNL_ARG_DIFF_WEIGHTS, mem(p->wei, w->raw())}};
            if (m_hasBias) {
                HostTensor* b = gb ? gb : &m_scratchB;
                b->ensure(ir::DType::kFloat, {wd[0]});
                args.insert({DNNL_ARG_DIFF_BIAS, mem(p->bias, b->raw())});
            }
            p->weights.execute(s, args);
        }
        s.wait();
        return Status::ok();
    }

    Expected<Prims> build(const Dims& xd, const Dims& wd, const Dims& yd) {
        const std::vector<int64_t> in(xd.begin() + 2, xd.end()), out(yd.begin() + 2, yd.end()),
            k(wd.begin() + 2, wd.end());
        WH_ASSIGN_OR_RETURN(ref::grad::Window w, ref::grad::readWindow(*m_node, in, out, k));
        memory::dims strides, dil, padL, padR;
        for (std::size_t i = 0; i < in.size(); ++i) {
            strides.push_back(w.strides[i]);
            dil.push_back(w.dilations[i] - 1);
            padL.push_back(w.padBegin[i]);
            padR.push_back(dnnlk::dnnlPadEnd(in[i], w.padBegin[i], w.kernel[i], w.strides[i],
                                             w.dilations[i], out[i]));
        }
        Dims weiDims = wd;
        if (m_group > 1) {
            weiDims = {m_group, wd[0] / m_group};
            weiDims.insert(weiDims.end(), wd.begin() + 1, wd.end());
        }
        Prims p{{}, {}, dnnlk::plainDesc(xd), dnnlk::plainDesc(weiDims),
                dnnlk::plainDesc({wd[0]}), dnnlk::plainDesc(yd)};
        dnnl::engine& eng = dnnlk::cpuEngine();
        const auto algo = dnnl::algorithm::convolution_direct;
        auto fwd = m_hasBias
                       ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo,
                                                         p.src, p.wei, p.bias, p.dst, strides, dil,
                                                         padL, padR)
                       : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo,
                                                         p.src, p.wei, p.dst, strides, dil, padL,
                                                         padR);
        dnnl::convolution_forward::primitive_desc fwdPd(fwd, eng);
        dnnl::convolution_backward_data::primitive_desc dataPd(
            dnnl::convolution_backward_data::desc(algo, p.src, p.wei, p.dst, strides, dil, padL,
                                                  padR),
            eng, fwdPd);
        auto wdesc = m_hasBias ? dnnl::convolution_backward_weights::desc(
                                     algo, p.src, p.wei, p.bias, p.dst, strides, dil, padL, padR)
                               : dnnl::convolution_backward_weights::desc(
                                     algo, p.src, p.wei, p.dst, strides, dil, padL, padR);
        dnnl::convolution_backward_weights::primitive_desc weightsPd(wdesc, eng, fwdPd);
        p.data = dnnl::convolution_backward_data(dataPd);
        p.weights = dnnl::convolution_backward_weights(weightsPd);
        return p;
    }

    const ir::Node* m_node;
    int64_t m_group;
    bool m_hasBias;
    std::map<std::pair<Dims, Dims>, Prims> m_cache;
    HostTensor m_scratchW, m_scratchB;
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
    b.kernel = std::make_unique<ConvBackward>(ctx.node, group, ctx.hasInput(2));
    b.savedInputs.assign(ctx.inputs.size(), false);
    b.savedOutputs.assign(ctx.outputs.size(), false);
    if (ctx.wants(1) || ctx.wants(2)) b.savedInputs[0] = true;
    if (ctx.wants(0)) b.savedInputs[1] = true;
    return b;
}

}  // namespace

void registerDnnlGradients(GradRegistry& registry) {
    registry.add("", "Conv", 1, 99, Backend::kDnnl, convBackwardFactory);
}

}  // namespace wh::engine
