#include "core/engine/ref/nn_common.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/engine/ref/kernel_util.h"

namespace wh::engine::ref::nn {

std::string listToString(std::span<const int64_t> values) {
    return fmt::format("[{}]", fmt::join(values, ","));
}

Status checkArity(const KernelContext& ctx, int required) {
    for (int i = 0; i < required; ++i)
        if (!ctx.hasInput(i))
            return makeStatus(StatusCode::kBadInput, "{} needs input {} (has {} inputs)",
                              ctx.node.opType, i, ctx.inputs.size());
    if (!ctx.node.output(0))
        return makeStatus(StatusCode::kBadInput, "{} without output 0", ctx.node.opType);
    return Status::ok();
}

Expected<WindowAttrs> parseWindowAttrs(const ir::Node& node) {
    WindowAttrs a;
    a.kernel = node.attrInts("kernel_shape");
    a.strides = node.attrInts("strides");
    a.dilations = node.attrInts("dilations");
    a.pads = node.attrInts("pads");
    a.ceilMode = node.attrInt("ceil_mode", 0) != 0;
    const std::string autoPad = node.attrString("auto_pad", "NOTSET");
    if (autoPad == "NOTSET" || autoPad.empty())
        a.autoPad = AutoPad::kNotSet;
    else if (autoPad == "VALID")
        a.autoPad = AutoPad::kValid;
    else if (autoPad == "SAME_UPPER")
        a.autoPad = AutoPad::kSameUpper;
    else if (autoPad == "SAME_LOWER")
        a.autoPad = AutoPad::kSameLower;
    else
        return error(StatusCode::kBadInput, "unknown auto_pad '{}'", autoPad);
    return a;
}

Expected<WindowGeometry> windowGeometry(const WindowAttrs& attrs,
                                        std::span<const int64_t> inSpatial,
                                        std::span<const int64_t> kernel) {
    WindowGeometry g;
    const int n = static_cast<int>(inSpatial.size());
    const std::size_t un = static_cast<std::size_t>(n);
    g.spatial = n;
    g.in.assign(inSpatial.begin(), inSpatial.end());
    g.kernel =
        attrs.kernel.empty() ? std::vector<int64_t>(kernel.begin(), kernel.end()) : attrs.kernel;
    g.strides = attrs.strides.empty() ? std::vector<int64_t>(un, 1) : attrs.strides;
    g.dilations = attrs.dilations.empty() ? std::vector<int64_t>(un, 1) : attrs.dilations;
    std::vector<int64_t> pads = attrs.pads.empty() ? std::vector<int64_t>(2 * un, 0) : attrs.pads;
    if (g.kernel.size() != un || g.strides.size() != un || g.dilations.size() != un ||
        pads.size() != 2 * un)
        return error(StatusCode::kBadInput,
                     "window attributes do not match {} spatial dims: kernel_shape {}, strides {}, "
                     "dilations {}, pads {}",
                     n, listToString(g.kernel), listToString(g.strides), listToString(g.dilations),
                     listToString(pads));
    g.out.assign(un, -1);
    g.padBegin.assign(un, -1);
    g.padEnd.assign(un, -1);
    for (std::size_t d = 0; d < un; ++d) {
        const int64_t k = g.kernel[d], s = g.strides[d], dil = g.dilations[d];
        if (k < 1 || s < 1 || dil < 1 || pads[d] < 0 || pads[d + un] < 0)
            return error(StatusCode::kBadInput,
                         "bad window in dim {}: kernel {}, stride {}, dilation {}, pads {},{}", d,
                         k, s, dil, pads[d], pads[d + un]);
        const int64_t span = (k - 1) * dil + 1;  // extent of the dilated kernel
        const int64_t in = g.in[d];
        switch (attrs.autoPad) {
            case AutoPad::kNotSet:
                g.padBegin[d] = pads[d];
                g.padEnd[d] = pads[d + un];
                break;
            case AutoPad::kValid:
                g.padBegin[d] = g.padEnd[d] = 0;
                break;
            case AutoPad::kSameUpper:
            case AutoPad::kSameLower: {
                if (in < 0) continue;  // pads and size follow the input size
                const int64_t out = (in + s - 1) / s;
                const int64_t total = std::max<int64_t>(0, (out - 1) * s + span - in);
                const int64_t small = total / 2;
                g.padBegin[d] = attrs.autoPad == AutoPad::kSameUpper ? small : total - small;
                g.padEnd[d] = total - g.padBegin[d];
                g.out[d] = out;
                continue;
            }
        }
        if (in < 0) continue;
        const int64_t room = in + g.padBegin[d] + g.padEnd[d] - span;
        if (room < 0)
            return error(StatusCode::kBadInput,
                         "window of extent {} does not fit in dim {} of size {} padded by {}+{}",
                         span, d, in, g.padBegin[d], g.padEnd[d]);
        int64_t out = room / s + 1;
        if (attrs.ceilMode && attrs.autoPad == AutoPad::kNotSet) {
            out = (room + s - 1) / s + 1;
            // A last window that starts in the end padding sees no input: drop it (PyTorch,
            // ONNX Runtime and the ONNX reference agree).
            if ((out - 1) * s >= in + g.padBegin[d]) --out;
        }
        g.out[d] = out;
    }
    return g;
}

Status checkQuantizedLayerTypes(const KernelContext& ctx) {
    WH_RETURN_STATUS_IF_ERROR(checkArity(ctx, 5));
    if (!ctx.hasInput(6) || !ctx.hasInput(7))
        return makeStatus(StatusCode::kBadInput, "{}: y_scale and y_zero_point are required",
                          ctx.where());
    const auto& in = ctx.inputs;
    if (!ref::isByte(in[0].dtype) || in[3].dtype != ir::DType::kInt8 || !ref::isByte(in[7].dtype) ||
        in[2].dtype != in[0].dtype || in[1].dtype != ir::DType::kFloat ||
        in[4].dtype != ir::DType::kFloat || in[6].dtype != ir::DType::kFloat ||
        (ctx.hasInput(5) && in[5].dtype != ir::DType::kInt8) ||
        (ctx.hasInput(8) && in[8].dtype != ir::DType::kFloat))
        return makeStatus(StatusCode::kBadInput,
                          "{}: expects uint8/int8 x and zero point, int8 w, float scales and "
                          "bias, uint8/int8 y zero point",
                          ctx.where());
    const std::string act = ctx.node.attrString("activation");
    if (!act.empty() && act != "Relu" && act != "Clip")
        return makeStatus(StatusCode::kBadInput, "{}: unknown activation '{}'", ctx.where(), act);
    return Status::ok();
}

}  // namespace wh::engine::ref::nn
