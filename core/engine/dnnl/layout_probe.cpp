#include "core/engine/dnnl/layout_probe.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

#include "core/engine/dnnl/conv.h"

namespace wh::engine::dnnlk {

namespace {

double medianMs(int reps, const std::function<void()>& run) {
    for (int i = 0; i < 3; ++i) run();
    std::vector<double> ms;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        run();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(ms.begin(), ms.begin() + static_cast<std::ptrdiff_t>(ms.size() / 2), ms.end());
    return ms[ms.size() / 2];
}

std::string tagOf(const dnnl::memory::desc& d, int64_t channels) {
    if (d == plainDesc({d.dims()[0], d.dims()[1], d.dims()[2], d.dims()[3]})) return "nchw";
    const auto& blk = d.data.format_desc.blocking;
    if (blk.inner_nblks == 1) return "nChw" + std::to_string(blk.inner_blks[0]) + "c";
    (void)channels;
    return "blocked";
}

}  // namespace

ConvLayoutTiming timeConvLayouts(int64_t n, int64_t ic, int64_t oc, int64_t hw, int64_t kernel,
                                 int reps) {
    ConvLayoutTiming t;
    ConvSpec spec;
    spec.src = {n, ic, hw, hw};
    spec.weights = {oc, ic, kernel, kernel};
    spec.dst = {n, oc, hw, hw};
    spec.hasBias = true;
    spec.strides = {1, 1};
    spec.dilations = {1, 1};
    spec.padBegin = {(kernel - 1) / 2, (kernel - 1) / 2};
    spec.padEnd = {kernel / 2, kernel / 2};
    dnnl::engine& eng = cpuEngine();
    dnnl::stream& s = cpuStream();
    const auto f32 = dnnl::memory::data_type::f32;

    // Blocked primitive (format_tag::any everywhere), with and without boundary reorders.
    auto pd = createConvPrimitive(spec);
    dnnl::convolution_forward conv(pd);
    dnnl::memory src(pd.src_desc(), eng), wei(pd.weights_desc(), eng), bias(pd.bias_desc(), eng),
        dst(pd.dst_desc(), eng);
    dnnl::memory userSrc(plainDesc(spec.src), eng), userDst(plainDesc(spec.dst), eng);
    dnnl::reorder in(userSrc, src), out(dst, userDst);
    auto runConv = [&] {
        conv.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_BIAS, bias},
                         {DNNL_ARG_DST, dst}});
        s.wait();
    };
    t.blockedMs = medianMs(reps, runConv);
    t.reorderedMs = medianMs(reps, [&] {
        in.execute(s, userSrc, src);
        runConv();
        out.execute(s, dst, userDst);
        s.wait();
    });
    t.blockedImpl = pd.impl_info_str();
    t.blockedSrc = tagOf(pd.src_desc(), ic);

    // The same convolution forced onto plain NCHW src/dst.
    const dnnl::memory::desc srcP = plainDesc(spec.src), dstP = plainDesc(spec.dst);
    dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, srcP,
        dnnl::memory::desc({oc, ic, kernel, kernel}, f32, dnnl::memory::format_tag::any),
        dnnl::memory::desc({oc}, f32, dnnl::memory::format_tag::x), dstP, {1, 1}, {0, 0},
        {spec.padBegin[0], spec.padBegin[1]}, {spec.padEnd[0], spec.padEnd[1]});
    dnnl::convolution_forward::primitive_desc plainPd(desc, eng);
    dnnl::convolution_forward plainConv(plainPd);
    dnnl::memory plainWei(plainPd.weights_desc(), eng);
    t.plainMs = medianMs(reps, [&] {
        plainConv.execute(s, {{DNNL_ARG_SRC, userSrc}, {DNNL_ARG_WEIGHTS, plainWei},
                              {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, userDst}});
        s.wait();
    });
    t.plainImpl = plainPd.impl_info_str();
    return t;
}

}  // namespace wh::engine::dnnlk
