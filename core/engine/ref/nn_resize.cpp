// Reference Resize (opsets 10-19), float. Separable: for every dim and every output index, a
// short list of (input index, weight) taps — one for nearest, two for linear, four for cubic —
// and each output element is the sum over the product of its dims' taps. Dims whose taps are
// the identity (N and C in the usual case) cost nothing extra, so "bilinear on the last two dims"
// and n-linear are the same code.
//
// Coordinates: x_original = f(x_resized) per coordinate_transformation_mode, with
// scale = output/input when sizes are given. Nearest rounds it per nearest_mode and clamps to the
// input; linear and cubic read clamped neighbours (edge padding), cubic with exclude_outside
// drops outside neighbours and renormalises. tf_crop_and_resize gives extrapolation_value where
// x_original falls outside the input. The gradient (registerResizeGradient) spreads dY back over
// the same taps.

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/ref/grad_util.h"
#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/nn_common.h"

namespace wh::engine::ref::nn {

namespace {

using ir::DType;
using Inputs = std::span<const HostTensor* const>;
using Outputs = std::span<HostTensor* const>;

enum class Mode { kNearest, kLinear, kCubic };
enum class Coord {
    kHalfPixel,
    kHalfPixelSymmetric,
    kPytorchHalfPixel,
    kAlignCorners,
    kAsymmetric,
    kTfHalfPixelForNn,
    kTfCropAndResize,
};
enum class Nearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };
enum class AspectPolicy { kStretch, kNotLarger, kNotSmaller };

struct ResizeAttrs {
    int64_t opset = 0;
    Mode mode = Mode::kNearest;
    Coord coord = Coord::kHalfPixel;
    Nearest nearest = Nearest::kRoundPreferFloor;
    double cubicA = -0.75;
    bool excludeOutside = false;
    float extrapolation = 0.0f;
    std::vector<int64_t> axes;  // opset 18; empty = all
    AspectPolicy policy = AspectPolicy::kStretch;
    // Input indices (opset 10 has no roi and no sizes).
    int roiInput = -1, scalesInput = 1, sizesInput = -1;
};

Expected<ResizeAttrs> parseAttrs(const KernelContext& ctx) {
    const ir::Node& node = ctx.node;
    ResizeAttrs a;
    a.opset = ctx.opset;
    const std::string mode = node.attrString("mode", "nearest");
    if (mode == "nearest")
        a.mode = Mode::kNearest;
    else if (mode == "linear")
        a.mode = Mode::kLinear;
    else if (mode == "cubic" && ctx.opset >= 11)
        a.mode = Mode::kCubic;
    else
        return error(StatusCode::kBadInput, "Resize-{}: unknown mode '{}'", ctx.opset, mode);
    if (ctx.opset < 11) {
        // Resize-10 is Upsample's arithmetic: x_original = x_resized / scale, nearest truncates
        // when upsampling and rounds up when downsampling (ONNX Runtime's "simple" mode, which
        // the ONNX tests of that opset were made with).
        a.coord = Coord::kAsymmetric;
        a.nearest = Nearest::kSimple;
        return a;
    }
    a.roiInput = 1;
    a.scalesInput = 2;
    a.sizesInput = 3;
    const std::string coord = node.attrString("coordinate_transformation_mode", "half_pixel");
    if (coord == "half_pixel")
        a.coord = Coord::kHalfPixel;
    else if (coord == "half_pixel_symmetric" && ctx.opset >= 19)
        a.coord = Coord::kHalfPixelSymmetric;
    else if (coord == "pytorch_half_pixel")
        a.coord = Coord::kPytorchHalfPixel;
    else if (coord == "align_corners")
        a.coord = Coord::kAlignCorners;
    else if (coord == "asymmetric")
        a.coord = Coord::kAsymmetric;
    else if (coord == "tf_half_pixel_for_nn")
        a.coord = Coord::kTfHalfPixelForNn;
    else if (coord == "tf_crop_and_resize")
        a.coord = Coord::kTfCropAndResize;
    else
        return error(StatusCode::kBadInput,
                     "Resize-{}: unknown coordinate_transformation_mode '{}'", ctx.opset, coord);
    const std::string nearest = node.attrString("nearest_mode", "round_prefer_floor");
    if (nearest == "round_prefer_floor")
        a.nearest = Nearest::kRoundPreferFloor;
    else if (nearest == "round_prefer_ceil")
        a.nearest = Nearest::kRoundPreferCeil;
    else if (nearest == "floor")
        a.nearest = Nearest::kFloor;
    else if (nearest == "ceil")
        a.nearest = Nearest::kCeil;
    else
        return error(StatusCode::kBadInput, "Resize: unknown nearest_mode '{}'", nearest);
    a.cubicA = node.attrFloat("cubic_coeff_a", -0.75f);
    a.excludeOutside = node.attrInt("exclude_outside", 0) != 0;
    a.extrapolation = node.attrFloat("extrapolation_value", 0.0f);
    if (ctx.opset >= 18) {
        if (node.attrInt("antialias", 0) != 0)
            return error(StatusCode::kUnsupported,
                         "Resize with antialias=1 is not implemented by the reference");
        a.axes = node.attrInts("axes");
        const std::string policy = node.attrString("keep_aspect_ratio_policy", "stretch");
        if (policy == "stretch")
            a.policy = AspectPolicy::kStretch;
        else if (policy == "not_larger")
            a.policy = AspectPolicy::kNotLarger;
        else if (policy == "not_smaller")
            a.policy = AspectPolicy::kNotSmaller;
        else
            return error(StatusCode::kBadInput, "Resize: unknown keep_aspect_ratio_policy '{}'",
                         policy);
    }
    return a;
}

// The resize of one tensor: output dims, per-dim scale and crop box.
struct Resolved {
    Dims out;
    std::vector<double> scale;  // per dim
    // The resized length the coordinate transforms use: the output size, or in * scale when
    // scales are given (unrounded, as the ONNX reference has it: it matters for align_corners
    // and tf_crop_and_resize when in * scale is not an integer).
    std::vector<double> length;
    std::vector<double> roiStart, roiEnd;  // per dim (tf_crop_and_resize)
};

const HostTensor* inputAt(Inputs in, int i) {
    return i >= 0 && i < static_cast<int>(in.size()) ? in[static_cast<std::size_t>(i)] : nullptr;
}

Expected<std::vector<std::size_t>> resolveAxes(const ResizeAttrs& a, int64_t rank) {
    std::vector<std::size_t> axes;
    if (a.axes.empty()) {
        for (int64_t d = 0; d < rank; ++d) axes.push_back(static_cast<std::size_t>(d));
        return axes;
    }
    for (int64_t ax : a.axes) {
        WH_ASSIGN_OR_RETURN(int d, normalizeAxis(ax, rank, "Resize axis"));
        axes.push_back(static_cast<std::size_t>(d));
    }
    return axes;
}

// An output dim computed in double must fit int64 before it is converted (a scale of 1e300
// would otherwise be undefined behaviour); the memory budget judges the rest.
Status checkOutputDim(double length, std::size_t d, const Dims& x) {
    if (!(length < 0x1p62))
        return makeStatus(StatusCode::kBadInput, "Resize: output dim {} of {} would be {:g}", d,
                          dimsToString(x), length);
    return Status::ok();
}

// All of X's dims must be known. `scales`/`sizes`/`roi` may be null or empty.
Expected<Resolved> resolve(const ResizeAttrs& a, const Dims& x, const HostTensor* roi,
                           const HostTensor* scales, const HostTensor* sizes) {
    const int64_t rank = static_cast<int64_t>(x.size());
    WH_ASSIGN_OR_RETURN(std::vector<std::size_t> axes, resolveAxes(a, rank));
    const int64_t na = static_cast<int64_t>(axes.size());
    Resolved r;
    r.out = x;
    r.scale.assign(x.size(), 1.0);
    r.length.assign(x.begin(), x.end());
    r.roiStart.assign(x.size(), 0.0);
    r.roiEnd.assign(x.size(), 1.0);
    const bool haveScales = scales && scales->numElements() > 0;
    const bool haveSizes = sizes && sizes->numElements() > 0;
    if (haveScales == haveSizes)
        return error(StatusCode::kBadInput, "Resize needs exactly one of scales and sizes");
    if (haveSizes) {
        if (sizes->numElements() != na)
            return error(StatusCode::kBadInput, "Resize: sizes {} for {} axes",
                         dimsToString(sizes->dims()), na);
        for (int64_t i = 0; i < na; ++i)
            if (sizes->intAt(i) < 0)
                return error(StatusCode::kBadInput, "Resize: negative size {}", sizes->intAt(i));
        if (a.policy == AspectPolicy::kStretch) {
            for (int64_t i = 0; i < na; ++i) {
                const std::size_t d = axes[static_cast<std::size_t>(i)];
                r.out[d] = sizes->intAt(i);
                r.scale[d] = static_cast<double>(r.out[d]) / static_cast<double>(x[d]);
                r.length[d] = static_cast<double>(r.out[d]);
            }
        } else {
            // One scale for every listed axis: the largest that fits (not_larger) or the
            // smallest that covers (not_smaller).
            double s = a.policy == AspectPolicy::kNotLarger ? 1e300 : 0.0;
            for (int64_t i = 0; i < na; ++i) {
                const double si = static_cast<double>(sizes->intAt(i)) /
                                  static_cast<double>(x[axes[static_cast<std::size_t>(i)]]);
                s = a.policy == AspectPolicy::kNotLarger ? std::min(s, si) : std::max(s, si);
            }
            for (std::size_t d : axes) {
                r.scale[d] = s;
                WH_RETURN_IF_ERROR(checkOutputDim(s * static_cast<double>(x[d]), d, x));
                r.out[d] = static_cast<int64_t>(std::round(s * static_cast<double>(x[d])));
                r.length[d] = static_cast<double>(r.out[d]);
            }
        }
    } else {
        if (scales->numElements() != na)
            return error(StatusCode::kBadInput, "Resize: scales {} for {} axes",
                         dimsToString(scales->dims()), na);
        for (int64_t i = 0; i < na; ++i) {
            const std::size_t d = axes[static_cast<std::size_t>(i)];
            const double s = scales->at(i);
            if (!(s > 0.0)) return error(StatusCode::kBadInput, "Resize: scale {} must be > 0", s);
            r.scale[d] = s;
            r.length[d] = s * static_cast<double>(x[d]);
            WH_RETURN_IF_ERROR(checkOutputDim(r.length[d], d, x));
            r.out[d] = static_cast<int64_t>(std::floor(r.length[d]));
        }
    }
    for (std::size_t d = 0; d < x.size(); ++d)
        if (x[d] == 0 && r.out[d] > 0)
            return error(StatusCode::kBadInput, "Resize of an empty dim {} of {} to size {}", d,
                         dimsToString(x), r.out[d]);
    if (a.coord == Coord::kTfCropAndResize) {
        if (!roi || roi->numElements() != 2 * na)
            return error(StatusCode::kBadInput,
                         "Resize tf_crop_and_resize needs roi of {} values, got {}", 2 * na,
                         roi ? dimsToString(roi->dims()) : std::string("none"));
        for (int64_t i = 0; i < na; ++i) {
            const std::size_t d = axes[static_cast<std::size_t>(i)];
            r.roiStart[d] = roi->at(i);
            r.roiEnd[d] = roi->at(na + i);
        }
    }
    return r;
}

// x_resized -> x_original in one dim.
double originalCoordinate(const ResizeAttrs& a, double x, double scale, int64_t in, int64_t out,
                          double length, double roiStart, double roiEnd) {
    const double inD = static_cast<double>(in), outD = static_cast<double>(out);
    switch (a.coord) {
        case Coord::kHalfPixel:
            return (x + 0.5) / scale - 0.5;
        case Coord::kHalfPixelSymmetric: {
            const double adjustment = outD / (scale * inD);
            const double offset = inD / 2.0 * (1.0 - adjustment);
            return offset + (x + 0.5) / scale - 0.5;
        }
        case Coord::kPytorchHalfPixel:
            return out > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
        case Coord::kAlignCorners:
            return length == 1.0 ? 0.0 : x * (inD - 1.0) / (length - 1.0);
        case Coord::kAsymmetric:
            return x / scale;
        case Coord::kTfHalfPixelForNn:
            return (x + 0.5) / scale;
        case Coord::kTfCropAndResize:
            return length != 1.0 ? roiStart * (inD - 1.0) +
                                       x * (roiEnd - roiStart) * (inD - 1.0) / (length - 1.0)
                                 : 0.5 * (roiStart + roiEnd) * (inD - 1.0);
    }
    return x;
}

int64_t nearestIndex(Nearest mode, double x, double scale) {
    switch (mode) {
        case Nearest::kRoundPreferFloor:
            return static_cast<int64_t>(std::ceil(x - 0.5));
        case Nearest::kRoundPreferCeil:
            return static_cast<int64_t>(std::floor(x + 0.5));
        case Nearest::kFloor:
            return static_cast<int64_t>(std::floor(x));
        case Nearest::kCeil:
            return static_cast<int64_t>(std::ceil(x));
        case Nearest::kSimple:
            return static_cast<int64_t>(scale < 1.0 ? std::ceil(x) : std::floor(x));
    }
    return 0;
}

// Keys' cubic convolution weights of the four neighbours floor(x)-1 .. floor(x)+2 at
// fraction t = x - floor(x).
std::array<double, 4> cubicWeights(double t, double A) {
    auto near = [A](double d) { return ((A + 2) * d - (A + 3)) * d * d + 1; };       // |d| <= 1
    auto far = [A](double d) { return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A; };  // 1<|d|<2
    return {far(t + 1), near(t), near(1 - t), far(2 - t)};
}

// Taps of one dim: for output index o, entries [begin[o], begin[o+1]) of (offset, weight);
// outside[o] when tf_crop_and_resize extrapolates.
struct DimTaps {
    std::vector<int64_t> begin, offset;
    std::vector<double> weight;
    std::vector<char> outside;
};

DimTaps dimTaps(const ResizeAttrs& a, int64_t in, int64_t out, double scale, double length,
                double roiStart, double roiEnd, int64_t stride) {
    DimTaps t;
    t.begin.push_back(0);
    t.outside.assign(static_cast<std::size_t>(out), 0);
    auto clampIndex = [in](int64_t i) { return std::clamp<int64_t>(i, 0, in - 1); };
    for (int64_t o = 0; o < out; ++o) {
        const double x =
            originalCoordinate(a, static_cast<double>(o), scale, in, out, length, roiStart, roiEnd);
        if (a.coord == Coord::kTfCropAndResize && (x < 0.0 || x > static_cast<double>(in - 1))) {
            t.outside[static_cast<std::size_t>(o)] = 1;
            t.offset.push_back(0);
            t.weight.push_back(0.0);
        } else if (a.mode == Mode::kNearest) {
            t.offset.push_back(clampIndex(nearestIndex(a.nearest, x, scale)) * stride);
            t.weight.push_back(1.0);
        } else {
            const double fl = std::floor(x);
            const double frac = x - fl;
            const int64_t x0 = static_cast<int64_t>(fl);
            if (a.mode == Mode::kLinear) {
                t.offset.push_back(clampIndex(x0) * stride);
                t.weight.push_back(1.0 - frac);
                t.offset.push_back(clampIndex(x0 + 1) * stride);
                t.weight.push_back(frac);
            } else {
                std::array<double, 4> w = cubicWeights(frac, a.cubicA);
                if (a.excludeOutside) {
                    double sum = 0.0;
                    for (int k = 0; k < 4; ++k) {
                        const int64_t i = x0 - 1 + k;
                        if (i < 0 || i >= in) w[static_cast<std::size_t>(k)] = 0.0;
                        sum += w[static_cast<std::size_t>(k)];
                    }
                    for (double& v : w) v = sum != 0.0 ? v / sum : 0.0;
                }
                for (int k = 0; k < 4; ++k) {
                    t.offset.push_back(clampIndex(x0 - 1 + k) * stride);
                    t.weight.push_back(w[static_cast<std::size_t>(k)]);
                }
            }
        }
        t.begin.push_back(static_cast<int64_t>(t.offset.size()));
    }
    return t;
}

// The taps of every dim of an input with dims `x` resized as `r` says.
std::vector<DimTaps> allTaps(const ResizeAttrs& a, const Dims& x, const Resolved& r) {
    const std::size_t rank = r.out.size();
    std::vector<int64_t> inStride(rank, 1);
    for (std::size_t d = rank; d-- > 1;) inStride[d - 1] = inStride[d] * x[d];
    std::vector<DimTaps> taps;
    for (std::size_t d = 0; d < rank; ++d)
        taps.push_back(dimTaps(a, x[d], r.out[d], r.scale[d], r.length[d], r.roiStart[d],
                               r.roiEnd[d], inStride[d]));
    return taps;
}

Status resizeFloat(const ResizeAttrs& a, const HostTensor& x, const Resolved& r, HostTensor& y) {
    y.ensure(DType::kFloat, r.out);
    if (y.numElements() == 0) return Status::ok();
    const std::size_t rank = r.out.size();
    const std::vector<DimTaps> taps = allTaps(a, x.dims(), r);
    const float* xp = x.data<float>();
    float* yp = y.data<float>();
    std::vector<int64_t> o(rank, 0);
    // Sum over the product of the taps of dims d.. for output index o.
    auto interp = [&](auto&& self, std::size_t d, int64_t base) -> double {
        if (d == rank) return xp[base];
        const DimTaps& t = taps[d];
        const std::size_t od = static_cast<std::size_t>(o[d]);
        double s = 0.0;
        for (int64_t k = t.begin[od]; k < t.begin[od + 1]; ++k) {
            const double w = t.weight[static_cast<std::size_t>(k)];
            if (w != 0.0) s += w * self(self, d + 1, base + t.offset[static_cast<std::size_t>(k)]);
        }
        return s;
    };
    for (int64_t p = 0; p < y.numElements(); ++p) {
        bool outside = false;
        for (std::size_t d = 0; d < rank; ++d)
            outside = outside || taps[d].outside[static_cast<std::size_t>(o[d])];
        yp[p] = outside ? a.extrapolation : static_cast<float>(interp(interp, 0, 0));
        for (std::size_t d = rank; d-- > 0;) {
            if (++o[d] < r.out[d]) break;
            o[d] = 0;
        }
    }
    return Status::ok();
}

// Resize is linear in X: dX is dY spread back over the same taps with the same weights (summed
// where taps share an input element); extrapolated outputs (tf_crop_and_resize) read no input.
Status resizeFloatBackward(const ResizeAttrs& a, const Dims& xd, const Resolved& r,
                           const HostTensor& dy, HostTensor& dx) {
    dx.ensure(DType::kFloat, xd);
    float* gx = dx.data<float>();
    std::fill(gx, gx + dx.numElements(), 0.0f);
    if (dy.dims() != r.out)
        return makeStatus(StatusCode::kInternal, "Resize gradient: dY is {}, the output {}",
                          dimsToString(dy.dims()), dimsToString(r.out));
    if (dy.numElements() == 0) return Status::ok();
    const std::size_t rank = r.out.size();
    const std::vector<DimTaps> taps = allTaps(a, xd, r);
    const float* gy = dy.data<float>();
    std::vector<int64_t> o(rank, 0);
    auto spread = [&](auto&& self, std::size_t d, int64_t base, double w) -> void {
        if (d == rank) {
            gx[base] += static_cast<float>(w);
            return;
        }
        const DimTaps& t = taps[d];
        const std::size_t od = static_cast<std::size_t>(o[d]);
        for (int64_t k = t.begin[od]; k < t.begin[od + 1]; ++k) {
            const double wk = t.weight[static_cast<std::size_t>(k)];
            if (wk != 0.0) self(self, d + 1, base + t.offset[static_cast<std::size_t>(k)], w * wk);
        }
    };
    for (int64_t p = 0; p < dy.numElements(); ++p) {
        bool outside = false;
        for (std::size_t d = 0; d < rank; ++d)
            outside = outside || taps[d].outside[static_cast<std::size_t>(o[d])];
        if (!outside && gy[p] != 0.0f) spread(spread, 0, 0, gy[p]);
        for (std::size_t d = rank; d-- > 0;) {
            if (++o[d] < r.out[d]) break;
            o[d] = 0;
        }
    }
    return Status::ok();
}

// Output dims at build time: from constant scales or sizes (stretch) where X's dims allow.
TensorInfo buildOutputInfo(const KernelContext& ctx, const ResizeAttrs& a) {
    const TensorInfo& xi = ctx.inputs[0];
    if (!xi.rankKnown) return unknownRank(DType::kFloat);
    // Opset 10 has no roi and no sizes (index -1).
    auto given = [&](int i) { return i >= 0 && ctx.hasInput(i); };
    auto constantAt = [&](int i) -> const HostTensor* {
        return given(i) ? ctx.inputs[static_cast<std::size_t>(i)].constant.get() : nullptr;
    };
    const HostTensor* scales = constantAt(a.scalesInput);
    const HostTensor* sizes = constantAt(a.sizesInput);
    const bool scalesGiven = given(a.scalesInput);
    const bool sizesGiven = given(a.sizesInput);
    TensorInfo out = infoOf(DType::kFloat, Dims(xi.dims.size(), -1));
    const int64_t rank = static_cast<int64_t>(xi.dims.size());
    auto axes = resolveAxes(a, rank);
    if (!axes) return out;
    const std::size_t na = axes->size();
    // Unlisted axes keep their size.
    std::vector<bool> listed(xi.dims.size(), false);
    for (std::size_t d : *axes) listed[d] = true;
    for (std::size_t d = 0; d < xi.dims.size(); ++d)
        if (!listed[d]) out.dims[d] = xi.dims[d];
    const bool useSizes = sizes && sizes->numElements() > 0;
    const bool useScales = scales && scales->numElements() > 0;
    if (useSizes && (!scalesGiven || !scales || scales->numElements() == 0) &&
        a.policy == AspectPolicy::kStretch &&
        static_cast<std::size_t>(sizes->numElements()) == na) {
        for (std::size_t i = 0; i < na; ++i)
            out.dims[(*axes)[i]] = sizes->intAt(static_cast<int64_t>(i));
    } else if (useScales && (!sizesGiven || (sizes && sizes->numElements() == 0)) &&
               static_cast<std::size_t>(scales->numElements()) == na) {
        for (std::size_t i = 0; i < na; ++i) {
            const std::size_t d = (*axes)[i];
            out.dims[d] =
                xi.dims[d] < 0
                    ? -1
                    : static_cast<int64_t>(std::floor(scales->at(static_cast<int64_t>(i)) *
                                                      static_cast<double>(xi.dims[d])));
        }
    }
    return out;
}

Expected<KernelBuild> buildResize(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(checkArity(ctx, 1));
    if (ctx.inputs[0].dtype != DType::kFloat)
        return error(StatusCode::kUnsupported, "Resize of {}: the reference takes float",
                     typeName(ctx.inputs[0].dtype));
    WH_ASSIGN_OR_RETURN(ResizeAttrs a, parseAttrs(ctx));
    TensorInfo out = buildOutputInfo(ctx, a);
    auto run = [a](Inputs in, Outputs outs) -> Status {
        const HostTensor& x = *in[0];
        if (x.dtype() != DType::kFloat)
            return makeStatus(StatusCode::kUnsupported, "Resize of {}", typeName(x.dtype()));
        WH_ASSIGN_OR_RETURN_STATUS(
            Resolved r, resolve(a, x.dims(), inputAt(in, a.roiInput), inputAt(in, a.scalesInput),
                                inputAt(in, a.sizesInput)));
        return resizeFloat(a, x, r, *outs[0]);
    };
    return singleOutput(makeKernel(std::move(run)), std::move(out));
}

// The gradient of X (roi, scales and sizes are not trained: asking for theirs is kUnsupported).
// Keeps roi/scales/sizes (constants in practice) to resolve the geometry per run; not X.
Expected<GradBuild> buildResizeGradient(const GradContext& gctx) {
    using grad::gradBuild;
    using grad::gradIn;
    using grad::gradOut;
    using grad::makeGradKernel;
    const KernelOptions options;
    KernelContext ctx{gctx.node, gctx.opset, gctx.inputs, options};
    WH_RETURN_IF_ERROR(checkArity(ctx, 1));
    for (int i = 1; i < static_cast<int>(gctx.inputs.size()); ++i)
        if (gctx.wants(i))
            return error(StatusCode::kUnsupported, "Resize: no gradient for roi, scales or sizes");
    WH_ASSIGN_OR_RETURN(ResizeAttrs a, parseAttrs(ctx));
    auto kernel = makeGradKernel([a](const GradArgs& args) -> Status {
        const HostTensor* dy = gradOut(args, 0);
        HostTensor* dx = gradIn(args, 0);
        if (!dy || !dx) return Status::ok();
        if (dy->dtype() != DType::kFloat)
            return makeStatus(StatusCode::kUnsupported, "Resize gradient of {}",
                              typeName(dy->dtype()));
        WH_ASSIGN_OR_RETURN_STATUS(
            Resolved r,
            resolve(a, args.inputDims[0], inputAt(args.inputs, a.roiInput),
                    inputAt(args.inputs, a.scalesInput), inputAt(args.inputs, a.sizesInput)));
        return resizeFloatBackward(a, args.inputDims[0], r, *dy, *dx);
    });
    std::vector<int> saved;
    for (int i : {a.roiInput, a.scalesInput, a.sizesInput})
        if (i > 0) saved.push_back(i);
    return gradBuild(std::move(kernel), gctx, saved, {});
}

}  // namespace

void registerResize(KernelRegistry& registry) {
    registry.add("", "Resize", 10, 22, Backend::kReference, buildResize);
}

void registerResizeGradient(GradRegistry& registry) {
    registry.add("", "Resize", 10, 22, Backend::kReference, buildResizeGradient);
}

}  // namespace wh::engine::ref::nn
