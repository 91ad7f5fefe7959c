// Reference NN kernels: Conv, ConvTranspose, Gemm, MatMul, BatchNormalization,
// GlobalAveragePool, Softmax, LogSoftmax here; MaxPool/AveragePool in nn_pool.cpp, Resize in
// nn_resize.cpp. Float only. Conv is im2col + an Eigen GEMM per (image, group); ConvTranspose is
// the adjoint: an Eigen GEMM with the transposed weights, then col2im (scatter-add). Every kernel
// recomputes its shapes from the actual inputs at run time; the factories infer what they can.

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <vector>

#include <Eigen/Dense>

#include "core/engine/ref/broadcast.h"
#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/nn_common.h"
#include "core/engine/ref/ref_kernels.h"

namespace wh::engine::ref {

namespace {

using ir::DType;
using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapR = Eigen::Map<MatR>;
using CMapR = Eigen::Map<const MatR>;
using Inputs = std::span<const HostTensor* const>;
using Outputs = std::span<HostTensor* const>;

// The newest opset whose definitions of these ops we know (later ones only widen types).
constexpr int kNewestOpset = 22;

int64_t product(std::span<const int64_t> v) {
    int64_t p = 1;
    for (int64_t x : v) p *= x;
    return p;
}

// Python's floor division (ConvTranspose's pad split follows the ONNX reference exactly, and
// its total padding can be negative).
int64_t floorDiv(int64_t a, int64_t b) {
    const int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// kUnsupported unless every given input in `which` is float: the reference computes in float.
Status requireFloat(const KernelContext& ctx, std::initializer_list<int> which) {
    for (int i : which) {
        if (!ctx.hasInput(i)) continue;
        const DType t = ctx.inputs[static_cast<std::size_t>(i)].dtype;
        if (t != DType::kFloat)
            return makeStatus(StatusCode::kUnsupported,
                              "input {} is {}: the reference {} computes in float only", i,
                              typeName(t), ctx.node.opType);
    }
    return Status::ok();
}

Status checkRunFloat(const HostTensor* t, std::size_t i, std::string_view op) {
    if (t && t->dtype() != DType::kFloat)
        return makeStatus(StatusCode::kUnsupported, "{} input {} is {}: float only", op, i,
                          typeName(t->dtype()));
    return Status::ok();
}

// Every given input must be float.
Status checkRunFloats(Inputs in, std::string_view op) {
    for (std::size_t i = 0; i < in.size(); ++i)
        WH_RETURN_STATUS_IF_ERROR(checkRunFloat(in[i], i, op));
    return Status::ok();
}

// Spatial dims of a rank-known N x C x D1 x ... shape (may hold -1).
std::vector<int64_t> spatialOf(const Dims& dims) {
    return dims.size() > 2 ? std::vector<int64_t>(dims.begin() + 2, dims.end())
                           : std::vector<int64_t>{};
}

// ---------------------------------------------------------------------------------------------
// im2col / col2im over any number of spatial dims.
//
// Both walk one set of positions (im2col: output positions; col2im: input positions) in
// row-major order, with, per dim, the coordinate each position maps to in the other tensor
// for one kernel offset (-1 where it falls into the padding). walkPositions() calls
// f(offset) per position with the flat offset in the other tensor, or -1.

template <class F>
void walkPositions(const std::vector<std::vector<int64_t>>& coord,
                   const std::vector<int64_t>& stride, std::size_t d, int64_t base, F& f) {
    const bool last = d + 1 == coord.size();
    for (int64_t c : coord[d]) {
        const int64_t off = (base < 0 || c < 0) ? -1 : base + c * stride[d];
        if (last)
            f(off);
        else
            walkPositions(coord, stride, d + 1, off, f);
    }
}

std::vector<int64_t> rowMajorStrides(std::span<const int64_t> dims) {
    std::vector<int64_t> s(dims.size(), 1);
    for (std::size_t d = dims.size(); d-- > 1;) s[d - 1] = s[d] * dims[d];
    return s;
}

// Kernel offset k (row-major over g.kernel) as a multi-index.
std::vector<int64_t> kernelIndex(const nn::WindowGeometry& g, int64_t k) {
    std::vector<int64_t> idx(static_cast<std::size_t>(g.spatial));
    for (std::size_t d = idx.size(); d-- > 0;) {
        idx[d] = k % g.kernel[d];
        k /= g.kernel[d];
    }
    return idx;
}

// col[(c*K + k) * P + p] = x[c, in(p, k)] or 0 in the padding; P = prod(out), K = prod(kernel).
void im2col(const float* x, int64_t channels, const nn::WindowGeometry& g, float* col) {
    const int64_t K = product(g.kernel), P = product(g.out), inSize = product(g.in);
    const std::vector<int64_t> inStride = rowMajorStrides(g.in);
    std::vector<std::vector<int64_t>> coord(static_cast<std::size_t>(g.spatial));
    for (int64_t k = 0; k < K; ++k) {
        const std::vector<int64_t> kk = kernelIndex(g, k);
        for (std::size_t d = 0; d < coord.size(); ++d) {
            coord[d].resize(static_cast<std::size_t>(g.out[d]));
            for (int64_t o = 0; o < g.out[d]; ++o) {
                const int64_t i = o * g.strides[d] - g.padBegin[d] + kk[d] * g.dilations[d];
                coord[d][static_cast<std::size_t>(o)] = (i >= 0 && i < g.in[d]) ? i : -1;
            }
        }
        for (int64_t c = 0; c < channels; ++c) {
            const float* xc = x + c * inSize;
            float* dst = col + (c * K + k) * P;
            auto put = [&](int64_t off) { *dst++ = off < 0 ? 0.0f : xc[off]; };
            walkPositions(coord, inStride, 0, 0, put);
        }
    }
}

// The adjoint of im2col for ConvTranspose: y[c, o] += col[(c*K + k) * Pin + p] where input
// position p reaches output position o = p*stride - padBegin + k*dilation (dropped outside).
// Here g.in are ConvTranspose's input sizes and g.out its output sizes.
void col2im(const float* col, int64_t channels, const nn::WindowGeometry& g, float* y) {
    const int64_t K = product(g.kernel), Pin = product(g.in), outSize = product(g.out);
    const std::vector<int64_t> outStride = rowMajorStrides(g.out);
    std::vector<std::vector<int64_t>> coord(static_cast<std::size_t>(g.spatial));
    for (int64_t k = 0; k < K; ++k) {
        const std::vector<int64_t> kk = kernelIndex(g, k);
        for (std::size_t d = 0; d < coord.size(); ++d) {
            coord[d].resize(static_cast<std::size_t>(g.in[d]));
            for (int64_t i = 0; i < g.in[d]; ++i) {
                const int64_t o = i * g.strides[d] - g.padBegin[d] + kk[d] * g.dilations[d];
                coord[d][static_cast<std::size_t>(i)] = (o >= 0 && o < g.out[d]) ? o : -1;
            }
        }
        for (int64_t c = 0; c < channels; ++c) {
            float* yc = y + c * outSize;
            const float* src = col + (c * K + k) * Pin;
            auto add = [&](int64_t off) {
                if (off >= 0) yc[off] += *src;
                ++src;
            };
            walkPositions(coord, outStride, 0, 0, add);
        }
    }
}

// Adds bias[m] to every element of channel m of an N x M x (inner) tensor.
void addChannelBias(float* y, const float* bias, int64_t n, int64_t m, int64_t inner) {
    for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < m; ++c) {
            float* p = y + (i * m + c) * inner;
            const float b = bias[c];
            for (int64_t j = 0; j < inner; ++j) p[j] += b;
        }
}

Status checkBias(const HostTensor* b, int64_t m, std::string_view op) {
    if (b && (b->rank() != 1 || b->dim(0) != m))
        return makeStatus(StatusCode::kBadInput, "{}: bias B is {}, expected [{}]", op,
                          dimsToString(b->dims()), m);
    return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Conv

Expected<KernelBuild> buildConv(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(nn::checkArity(ctx, 2));
    WH_RETURN_IF_ERROR(requireFloat(ctx, {0, 1, 2}));
    WH_ASSIGN_OR_RETURN(nn::WindowAttrs attrs, nn::parseWindowAttrs(ctx.node));
    const int64_t group = ctx.node.attrInt("group", 1);
    if (group < 1) return error(StatusCode::kBadInput, "group {} must be >= 1", group);

    const TensorInfo& xi = ctx.inputs[0];
    const TensorInfo& wi = ctx.inputs[1];
    TensorInfo out = unknownRank(DType::kFloat);
    const int rank = xi.rankKnown   ? static_cast<int>(xi.dims.size())
                     : wi.rankKnown ? static_cast<int>(wi.dims.size())
                                    : -1;
    if (rank >= 0) {
        if (rank < 3)
            return error(StatusCode::kBadInput, "Conv needs inputs of rank >= 3, got rank {}",
                         rank);
        const Dims xd = xi.rankKnown ? xi.dims : Dims(static_cast<std::size_t>(rank), -1);
        const Dims wd = wi.rankKnown ? wi.dims : Dims(static_cast<std::size_t>(rank), -1);
        if (xd.size() != wd.size())
            return error(StatusCode::kBadInput, "Conv input X {} and weights W {} differ in rank",
                         dimsToString(xd), dimsToString(wd));
        out = infoOf(DType::kFloat, Dims(xd.size(), -1));
        out.dims[0] = xd[0];
        out.dims[1] = wd[0];
        const std::vector<int64_t> kernel = spatialOf(wd);
        const bool kernelKnown =
            !attrs.kernel.empty() ||
            std::all_of(kernel.begin(), kernel.end(), [](int64_t k) { return k > 0; });
        if (kernelKnown) {
            WH_ASSIGN_OR_RETURN(nn::WindowGeometry g,
                                nn::windowGeometry(attrs, spatialOf(xd), kernel));
            std::copy(g.out.begin(), g.out.end(), out.dims.begin() + 2);
        }
    }

    auto run = [attrs, group, col = std::vector<float>()](Inputs in,
                                                          Outputs outs) mutable -> Status {
        const HostTensor& x = *in[0];
        const HostTensor& w = *in[1];
        const HostTensor* b = in.size() > 2 ? in[2] : nullptr;
        WH_RETURN_STATUS_IF_ERROR(checkRunFloats(in, "Conv"));
        if (x.rank() < 3 || w.rank() != x.rank())
            return makeStatus(StatusCode::kBadInput, "Conv: X {} and W {} must have one rank >= 3",
                              dimsToString(x.dims()), dimsToString(w.dims()));
        const int64_t n = x.dim(0), c = x.dim(1), m = w.dim(0), cg = w.dim(1);
        if (cg * group != c || m % group != 0)
            return makeStatus(StatusCode::kBadInput,
                              "Conv: X {} and W {} do not fit group {} (need C = W[1]*group and "
                              "W[0] divisible by group)",
                              dimsToString(x.dims()), dimsToString(w.dims()), group);
        const std::vector<int64_t> kernel = spatialOf(w.dims());
        if (!attrs.kernel.empty() && attrs.kernel != kernel)
            return makeStatus(StatusCode::kBadInput, "Conv: kernel_shape {} but W is {}",
                              nn::listToString(attrs.kernel), dimsToString(w.dims()));
        WH_RETURN_STATUS_IF_ERROR(checkBias(b, m, "Conv"));
        WH_ASSIGN_OR_RETURN_STATUS(nn::WindowGeometry g,
                                   nn::windowGeometry(attrs, spatialOf(x.dims()), kernel));
        Dims yd{n, m};
        yd.insert(yd.end(), g.out.begin(), g.out.end());
        HostTensor& y = *outs[0];
        y.ensure(DType::kFloat, yd);

        const int64_t K = product(g.kernel), P = product(g.out), inSize = product(g.in);
        const int64_t mg = m / group;
        col.resize(static_cast<std::size_t>(cg * K * P));
        const float* xp = x.data<float>();
        const float* wp = w.data<float>();
        float* yp = y.data<float>();
        for (int64_t i = 0; i < n; ++i)
            for (int64_t gi = 0; gi < group; ++gi) {
                im2col(xp + (i * c + gi * cg) * inSize, cg, g, col.data());
                CMapR wm(wp + gi * mg * cg * K, mg, cg * K);
                CMapR cm(col.data(), cg * K, P);
                MapR ym(yp + (i * m + gi * mg) * P, mg, P);
                ym.noalias() = wm * cm;
            }
        if (b) addChannelBias(yp, b->data<float>(), n, m, P);
        return Status::ok();
    };
    return singleOutput(makeKernel(std::move(run)), std::move(out));
}

// ---------------------------------------------------------------------------------------------
// ConvTranspose

struct ConvTransposeAttrs {
    nn::WindowAttrs window;
    int64_t group = 1;
    std::vector<int64_t> outputPadding, outputShape;
};

// ConvTranspose geometry (g.in = its input sizes, g.out = its output sizes), following the
// ONNX spec: output = stride*(in-1) + output_padding + ((k-1)*dilation+1) - padBegin - padEnd,
// unless output_shape (or auto_pad SAME_*: in*stride) fixes the output and the padding follows:
// total = stride*(in-1) + output_padding + ((k-1)*dilation+1) - output, split with the smaller
// half at the beginning for SAME_UPPER, at the end otherwise (Python floor division; the total
// may be negative when the output is larger than the kernels reach — those positions get bias
// only). -1 outputs where the input size is unknown.
Expected<nn::WindowGeometry> convTransposeGeometry(const ConvTransposeAttrs& a,
                                                   std::span<const int64_t> inSpatial,
                                                   std::span<const int64_t> kernel) {
    const std::size_t n = inSpatial.size();
    // Reuse the pads/strides/dilations validation of the forward window with no auto_pad.
    nn::WindowAttrs plain = a.window;
    plain.autoPad = nn::AutoPad::kNotSet;
    plain.ceilMode = false;
    nn::WindowGeometry g;
    g.spatial = static_cast<int>(n);
    g.in.assign(inSpatial.begin(), inSpatial.end());
    g.kernel = a.window.kernel.empty() ? std::vector<int64_t>(kernel.begin(), kernel.end())
                                       : a.window.kernel;
    g.strides = a.window.strides.empty() ? std::vector<int64_t>(n, 1) : a.window.strides;
    g.dilations = a.window.dilations.empty() ? std::vector<int64_t>(n, 1) : a.window.dilations;
    const std::vector<int64_t> pads =
        a.window.pads.empty() ? std::vector<int64_t>(2 * n, 0) : a.window.pads;
    const std::vector<int64_t> outPad =
        a.outputPadding.empty() ? std::vector<int64_t>(n, 0) : a.outputPadding;
    std::vector<int64_t> outShape = a.outputShape;
    if (outShape.size() == n + 2) outShape.erase(outShape.begin(), outShape.begin() + 2);
    if (g.kernel.size() != n || g.strides.size() != n || g.dilations.size() != n ||
        pads.size() != 2 * n || outPad.size() != n || (!outShape.empty() && outShape.size() != n))
        return error(StatusCode::kBadInput,
                     "ConvTranspose attributes do not match {} spatial dims: kernel_shape {}, "
                     "strides {}, dilations {}, pads {}, output_padding {}, output_shape {}",
                     n, nn::listToString(g.kernel), nn::listToString(g.strides),
                     nn::listToString(g.dilations), nn::listToString(pads),
                     nn::listToString(outPad), nn::listToString(a.outputShape));
    g.out.assign(n, -1);
    g.padBegin.assign(n, -1);
    g.padEnd.assign(n, -1);
    const bool same =
        a.window.autoPad == nn::AutoPad::kSameUpper || a.window.autoPad == nn::AutoPad::kSameLower;
    for (std::size_t d = 0; d < n; ++d) {
        const int64_t k = g.kernel[d], s = g.strides[d], dil = g.dilations[d];
        if (k < 1 || s < 1 || dil < 1 || outPad[d] < 0)
            return error(StatusCode::kBadInput,
                         "bad ConvTranspose window in dim {}: kernel {}, stride {}, dilation {}, "
                         "output_padding {}",
                         d, k, s, dil, outPad[d]);
        const int64_t in = g.in[d];
        if (in < 0) continue;
        const int64_t full = s * (in - 1) + outPad[d] + (k - 1) * dil + 1;
        if (!outShape.empty() || same) {
            const int64_t target = !outShape.empty() ? outShape[d] : in * s;
            const int64_t total = full - target;
            const int64_t half = floorDiv(total, 2);
            const bool upper = a.window.autoPad == nn::AutoPad::kSameUpper;
            g.padBegin[d] = upper ? half : total - half;
            g.padEnd[d] = total - g.padBegin[d];
            g.out[d] = target;
        } else {
            const bool valid = a.window.autoPad == nn::AutoPad::kValid;
            g.padBegin[d] = valid ? 0 : pads[d];
            g.padEnd[d] = valid ? 0 : pads[d + n];
            if (g.padBegin[d] < 0 || g.padEnd[d] < 0)
                return error(StatusCode::kBadInput, "negative pads {}", nn::listToString(pads));
            g.out[d] = full - g.padBegin[d] - g.padEnd[d];
        }
        if (g.out[d] < 0)
            return error(StatusCode::kBadInput, "ConvTranspose output size {} in dim {}", g.out[d],
                         d);
    }
    return g;
}

Expected<KernelBuild> buildConvTranspose(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(nn::checkArity(ctx, 2));
    WH_RETURN_IF_ERROR(requireFloat(ctx, {0, 1, 2}));
    ConvTransposeAttrs a;
    WH_ASSIGN_OR_RETURN(a.window, nn::parseWindowAttrs(ctx.node));
    a.group = ctx.node.attrInt("group", 1);
    a.outputPadding = ctx.node.attrInts("output_padding");
    a.outputShape = ctx.node.attrInts("output_shape");
    if (a.group < 1) return error(StatusCode::kBadInput, "group {} must be >= 1", a.group);

    const TensorInfo& xi = ctx.inputs[0];
    const TensorInfo& wi = ctx.inputs[1];
    TensorInfo out = unknownRank(DType::kFloat);
    const int rank = xi.rankKnown   ? static_cast<int>(xi.dims.size())
                     : wi.rankKnown ? static_cast<int>(wi.dims.size())
                                    : -1;
    if (rank >= 0) {
        if (rank < 3)
            return error(StatusCode::kBadInput,
                         "ConvTranspose needs inputs of rank >= 3, got rank {}", rank);
        const Dims xd = xi.rankKnown ? xi.dims : Dims(static_cast<std::size_t>(rank), -1);
        const Dims wd = wi.rankKnown ? wi.dims : Dims(static_cast<std::size_t>(rank), -1);
        if (xd.size() != wd.size())
            return error(StatusCode::kBadInput,
                         "ConvTranspose input X {} and weights W {} differ in rank",
                         dimsToString(xd), dimsToString(wd));
        out = infoOf(DType::kFloat, Dims(xd.size(), -1));
        out.dims[0] = xd[0];
        out.dims[1] = wd[1] < 0 ? -1 : wd[1] * a.group;
        const std::vector<int64_t> kernel = spatialOf(wd);
        const bool kernelKnown =
            !a.window.kernel.empty() ||
            std::all_of(kernel.begin(), kernel.end(), [](int64_t k) { return k > 0; });
        if (kernelKnown) {
            WH_ASSIGN_OR_RETURN(nn::WindowGeometry g,
                                convTransposeGeometry(a, spatialOf(xd), kernel));
            std::copy(g.out.begin(), g.out.end(), out.dims.begin() + 2);
        }
    }

    auto run = [a, col = std::vector<float>()](Inputs in, Outputs outs) mutable -> Status {
        const HostTensor& x = *in[0];
        const HostTensor& w = *in[1];
        const HostTensor* b = in.size() > 2 ? in[2] : nullptr;
        WH_RETURN_STATUS_IF_ERROR(checkRunFloats(in, "ConvTranspose"));
        if (x.rank() < 3 || w.rank() != x.rank())
            return makeStatus(StatusCode::kBadInput,
                              "ConvTranspose: X {} and W {} must have one rank >= 3",
                              dimsToString(x.dims()), dimsToString(w.dims()));
        const int64_t n = x.dim(0), c = x.dim(1), mg = w.dim(1), group = a.group;
        if (w.dim(0) != c || c % group != 0)
            return makeStatus(StatusCode::kBadInput,
                              "ConvTranspose: X {} and W {} do not fit group {} (need W[0] = C, "
                              "C divisible by group)",
                              dimsToString(x.dims()), dimsToString(w.dims()), group);
        const int64_t cg = c / group, m = mg * group;
        const std::vector<int64_t> kernel = spatialOf(w.dims());
        if (!a.window.kernel.empty() && a.window.kernel != kernel)
            return makeStatus(StatusCode::kBadInput, "ConvTranspose: kernel_shape {} but W is {}",
                              nn::listToString(a.window.kernel), dimsToString(w.dims()));
        WH_RETURN_STATUS_IF_ERROR(checkBias(b, m, "ConvTranspose"));
        WH_ASSIGN_OR_RETURN_STATUS(nn::WindowGeometry g,
                                   convTransposeGeometry(a, spatialOf(x.dims()), kernel));
        Dims yd{n, m};
        yd.insert(yd.end(), g.out.begin(), g.out.end());
        HostTensor& y = *outs[0];
        y.ensure(DType::kFloat, yd);
        std::fill(y.data<float>(), y.data<float>() + y.numElements(), 0.0f);

        const int64_t K = product(g.kernel), Pin = product(g.in), Pout = product(g.out);
        col.resize(static_cast<std::size_t>(mg * K * Pin));
        const float* xp = x.data<float>();
        const float* wp = w.data<float>();
        float* yp = y.data<float>();
        for (int64_t i = 0; i < n; ++i)
            for (int64_t gi = 0; gi < group; ++gi) {
                // col (mg*K x Pin) = W_g^T (mg*K x cg) * X_g (cg x Pin)
                CMapR wm(wp + gi * cg * mg * K, cg, mg * K);
                CMapR xm(xp + (i * c + gi * cg) * Pin, cg, Pin);
                MapR cm(col.data(), mg * K, Pin);
                cm.noalias() = wm.transpose() * xm;
                col2im(col.data(), mg, g, yp + (i * m + gi * mg) * Pout);
            }
        if (b) addChannelBias(yp, b->data<float>(), n, m, Pout);
        return Status::ok();
    };
    return singleOutput(makeKernel(std::move(run)), std::move(out));
}

// ---------------------------------------------------------------------------------------------
// Gemm: Y = alpha * op(A) * op(B) + beta * C, C unidirectionally broadcast to [M, N].

Expected<KernelBuild> buildGemm(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(nn::checkArity(ctx, 2));
    WH_RETURN_IF_ERROR(requireFloat(ctx, {0, 1, 2}));
    const float alpha = ctx.node.attrFloat("alpha", 1.0f);
    const float beta = ctx.node.attrFloat("beta", 1.0f);
    const bool transA = ctx.node.attrInt("transA", 0) != 0;
    const bool transB = ctx.node.attrInt("transB", 0) != 0;
    const TensorInfo& ai = ctx.inputs[0];
    const TensorInfo& bi = ctx.inputs[1];
    if ((ai.rankKnown && ai.dims.size() != 2) || (bi.rankKnown && bi.dims.size() != 2))
        return error(StatusCode::kBadInput, "Gemm needs 2-D A and B, got {} and {}",
                     dimsToString(ai.dims), dimsToString(bi.dims));
    // A dimension conflict is found here, at compile time (shape inference shows it on this
    // node), not only when the kernel runs.
    if (ai.rankKnown && bi.rankKnown) {
        const int64_t k = ai.dims[transA ? 0 : 1], kb = bi.dims[transB ? 1 : 0];
        if (k >= 0 && kb >= 0 && k != kb)
            return error(StatusCode::kBadInput,
                         "{}: A {} (transA={}) and B {} (transB={}) do not multiply: {} vs {} "
                         "along K",
                         ctx.where(), dimsToString(ai.dims), transA, dimsToString(bi.dims),
                         transB, k, kb);
    }
    TensorInfo out = infoOf(DType::kFloat, {-1, -1});
    if (ai.rankKnown) out.dims[0] = ai.dims[transA ? 1 : 0];
    if (bi.rankKnown) out.dims[1] = bi.dims[transB ? 0 : 1];

    auto run = [=](Inputs in, Outputs outs) -> Status {
        const HostTensor& a = *in[0];
        const HostTensor& b = *in[1];
        const HostTensor* c = in.size() > 2 ? in[2] : nullptr;
        WH_RETURN_STATUS_IF_ERROR(checkRunFloats(in, "Gemm"));
        if (a.rank() != 2 || b.rank() != 2)
            return makeStatus(StatusCode::kBadInput, "Gemm needs 2-D A and B, got {} and {}",
                              dimsToString(a.dims()), dimsToString(b.dims()));
        const int64_t m = a.dim(transA ? 1 : 0), k = a.dim(transA ? 0 : 1);
        const int64_t kb = b.dim(transB ? 1 : 0), n = b.dim(transB ? 0 : 1);
        if (k != kb)
            return makeStatus(StatusCode::kBadInput,
                              "Gemm: A {} (transA={}) and B {} (transB={}) do not multiply",
                              dimsToString(a.dims()), transA, dimsToString(b.dims()), transB);
        HostTensor& y = *outs[0];
        y.ensure(DType::kFloat, {m, n});
        CMapR am(a.data<float>(), a.dim(0), a.dim(1));
        CMapR bm(b.data<float>(), b.dim(0), b.dim(1));
        MapR ym(y.data<float>(), m, n);
        if (!transA && !transB)
            ym.noalias() = alpha * am * bm;
        else if (transA && !transB)
            ym.noalias() = alpha * am.transpose() * bm;
        else if (!transA && transB)
            ym.noalias() = alpha * am * bm.transpose();
        else
            ym.noalias() = alpha * am.transpose() * bm.transpose();
        if (c && beta != 0.0f) {
            // Unidirectional broadcast: C's dims, right-aligned, are 1 or equal to [M, N].
            const Dims& cd = c->dims();
            const int64_t cm = cd.size() == 2 ? cd[0] : 1;
            const int64_t cn = cd.empty() ? 1 : cd.back();
            if (cd.size() > 2 || (cm != 1 && cm != m) || (cn != 1 && cn != n))
                return makeStatus(StatusCode::kBadInput, "Gemm: C {} does not broadcast to [{},{}]",
                                  dimsToString(cd), m, n);
            const float* cp = c->data<float>();
            float* yp = y.data<float>();
            for (int64_t i = 0; i < m; ++i)
                for (int64_t j = 0; j < n; ++j)
                    yp[i * n + j] += beta * cp[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
        }
        return Status::ok();
    };
    return singleOutput(makeKernel(std::move(run)), std::move(out));
}

// ---------------------------------------------------------------------------------------------
// MatMul: numpy.matmul. A 1-D A is a row vector [1, K] and a 1-D B a column vector [K, 1];
// the added dim is dropped from the result. Batch dims broadcast.

struct MatMulShape {
    Dims batch;  // broadcast batch dims
    int64_t m = -1, k = -1, n = -1;
    Dims out;
};

Expected<MatMulShape> matMulShape(const Dims& a, const Dims& b) {
    if (a.empty() || b.empty())
        return error(StatusCode::kBadInput, "MatMul of a scalar: {} x {}", dimsToString(a),
                     dimsToString(b));
    MatMulShape s;
    const Dims aBatch = a.size() > 2 ? Dims(a.begin(), a.end() - 2) : Dims{};
    const Dims bBatch = b.size() > 2 ? Dims(b.begin(), b.end() - 2) : Dims{};
    WH_ASSIGN_OR_RETURN(s.batch, broadcastDims(aBatch, bBatch));
    s.m = a.size() == 1 ? 1 : a[a.size() - 2];
    s.k = a.back();
    const int64_t kb = b.size() == 1 ? b[0] : b[b.size() - 2];
    s.n = b.size() == 1 ? 1 : b.back();
    if (s.k >= 0 && kb >= 0 && s.k != kb)
        return error(StatusCode::kBadInput, "MatMul: {} x {} do not multiply", dimsToString(a),
                     dimsToString(b));
    if (s.k < 0) s.k = kb;
    s.out = s.batch;
    if (a.size() > 1) s.out.push_back(s.m);
    if (b.size() > 1) s.out.push_back(s.n);
    return s;
}

Expected<KernelBuild> buildMatMul(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(nn::checkArity(ctx, 2));
    WH_RETURN_IF_ERROR(requireFloat(ctx, {0, 1}));
    const TensorInfo& ai = ctx.inputs[0];
    const TensorInfo& bi = ctx.inputs[1];
    TensorInfo out = unknownRank(DType::kFloat);
    if (ai.rankKnown && bi.rankKnown) {
        WH_ASSIGN_OR_RETURN(MatMulShape s, matMulShape(ai.dims, bi.dims));
        out = infoOf(DType::kFloat, s.out);
    }
    auto run = [](Inputs in, Outputs outs) -> Status {
        const HostTensor& a = *in[0];
        const HostTensor& b = *in[1];
        WH_RETURN_STATUS_IF_ERROR(checkRunFloats(in, "MatMul"));
        WH_ASSIGN_OR_RETURN_STATUS(MatMulShape s, matMulShape(a.dims(), b.dims()));
        HostTensor& y = *outs[0];
        y.ensure(DType::kFloat, s.out);
        // Each operand's batch dims, right-aligned to the output's, with stride 0 where it
        // broadcasts.
        const std::size_t nb = s.batch.size();
        auto batchStrides = [&](const Dims& d, int64_t matrixSize) {
            std::vector<int64_t> st(nb, 0);
            const std::size_t own = d.size() > 2 ? d.size() - 2 : 0;
            int64_t stride = matrixSize;
            for (std::size_t i = 0; i < own; ++i) {
                const std::size_t di = own - 1 - i, oi = nb - 1 - i;
                st[oi] = d[di] == 1 ? 0 : stride;
                stride *= d[di];
            }
            return st;
        };
        const std::vector<int64_t> sa = batchStrides(a.dims(), s.m * s.k);
        const std::vector<int64_t> sb = batchStrides(b.dims(), s.k * s.n);
        const int64_t batches = product(s.batch);
        std::vector<int64_t> idx(nb, 0);
        const float* ap = a.data<float>();
        const float* bp = b.data<float>();
        float* yp = y.data<float>();
        for (int64_t t = 0; t < batches; ++t) {
            int64_t oa = 0, ob = 0;
            for (std::size_t d = 0; d < nb; ++d) oa += idx[d] * sa[d], ob += idx[d] * sb[d];
            MapR ym(yp + t * s.m * s.n, s.m, s.n);
            ym.noalias() = CMapR(ap + oa, s.m, s.k) * CMapR(bp + ob, s.k, s.n);
            for (std::size_t d = nb; d-- > 0;) {
                if (++idx[d] < s.batch[d]) break;
                idx[d] = 0;
            }
        }
        return Status::ok();
    };
    return singleOutput(makeKernel(std::move(run)), std::move(out));
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization, inference form: Y = (X - mean) / sqrt(var + epsilon) * scale + B,
// folded per channel into Y = X * a + b with a = scale / sqrt(var + epsilon), b = B - mean * a.

Expected<KernelBuild> buildBatchNorm(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(nn::checkArity(ctx, 5));
    WH_RETURN_IF_ERROR(requireFloat(ctx, {0, 1, 2, 3, 4}));
    if (ctx.node.attrInt("training_mode", 0) != 0)
        return error(StatusCode::kUnsupported,
                     "BatchNormalization with training_mode=1 (batch statistics, running-mean "
                     "outputs) is not implemented by the reference yet");
    for (int i = 1; i < ctx.node.numOutputs(); ++i)
        if (ctx.node.output(i))
            return error(StatusCode::kUnsupported,
                         "BatchNormalization output {} (mean/variance statistics of training) is "
                         "not implemented by the reference yet",
                         i);
    const float epsilon = ctx.node.attrFloat("epsilon", 1e-5f);
    // Opsets 6-8: spatial=0 normalises per activation (parameters of shape C x D1 x ...).
    const bool spatial = ctx.opset >= 9 || ctx.node.attrInt("spatial", 1) != 0;
    const TensorInfo& xi = ctx.inputs[0];
    TensorInfo out = xi.rankKnown ? infoOf(DType::kFloat, xi.dims) : unknownRank(DType::kFloat);

    auto run = [epsilon, spatial](Inputs in, Outputs outs) -> Status {
        const HostTensor& x = *in[0];
        for (int i = 0; i < 5; ++i) {
            if (!in[static_cast<std::size_t>(i)])
                return makeStatus(StatusCode::kBadInput, "BatchNormalization: input {} missing", i);
            WH_RETURN_STATUS_IF_ERROR(checkRunFloat(in[static_cast<std::size_t>(i)],
                                                    static_cast<std::size_t>(i),
                                                    "BatchNormalization"));
        }
        if (x.rank() < 2)
            return makeStatus(StatusCode::kBadInput, "BatchNormalization: X {} has rank < 2",
                              dimsToString(x.dims()));
        const int64_t n = x.dim(0), c = x.dim(1),
                      inner = x.numElements() / std::max<int64_t>(1, n * c);
        const int64_t params = spatial ? c : c * inner;
        for (int i = 1; i < 5; ++i)
            if (in[static_cast<std::size_t>(i)]->numElements() != params)
                return makeStatus(StatusCode::kBadInput,
                                  "BatchNormalization: input {} is {}, expected {} values for "
                                  "X {}{}",
                                  i, dimsToString(in[static_cast<std::size_t>(i)]->dims()), params,
                                  dimsToString(x.dims()), spatial ? "" : " (spatial=0)");
        const float* scale = in[1]->data<float>();
        const float* bias = in[2]->data<float>();
        const float* mean = in[3]->data<float>();
        const float* var = in[4]->data<float>();
        std::vector<float> mul(static_cast<std::size_t>(params)), add(mul.size());
        for (int64_t p = 0; p < params; ++p) {
            const double a = scale[p] / std::sqrt(static_cast<double>(var[p]) + epsilon);
            mul[static_cast<std::size_t>(p)] = static_cast<float>(a);
            add[static_cast<std::size_t>(p)] = static_cast<float>(bias[p] - mean[p] * a);
        }
        HostTensor& y = *outs[0];
        y.ensure(DType::kFloat, x.dims());
        const float* xp = x.data<float>();
        float* yp = y.data<float>();
        for (int64_t i = 0; i < n; ++i)
            for (int64_t ch = 0; ch < c; ++ch) {
                const int64_t base = (i * c + ch) * inner;
                for (int64_t j = 0; j < inner; ++j) {
                    const std::size_t p = static_cast<std::size_t>(spatial ? ch : ch * inner + j);
                    yp[base + j] = xp[base + j] * mul[p] + add[p];
                }
            }
        return Status::ok();
    };
    return singleOutput(makeKernel(std::move(run)), std::move(out));
}

// ---------------------------------------------------------------------------------------------
// GlobalAveragePool: mean over every spatial dim, kept as 1s.

Expected<KernelBuild> buildGlobalAveragePool(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(nn::checkArity(ctx, 1));
    WH_RETURN_IF_ERROR(requireFloat(ctx, {0}));
    const TensorInfo& xi = ctx.inputs[0];
    TensorInfo out = unknownRank(DType::kFloat);
    if (xi.rankKnown) {
        if (xi.dims.size() < 2)
            return error(StatusCode::kBadInput, "GlobalAveragePool: X {} has rank < 2",
                         dimsToString(xi.dims));
        out = infoOf(DType::kFloat, Dims(xi.dims.size(), 1));
        out.dims[0] = xi.dims[0];
        out.dims[1] = xi.dims[1];
    }
    auto run = [](Inputs in, Outputs outs) -> Status {
        const HostTensor& x = *in[0];
        WH_RETURN_STATUS_IF_ERROR(checkRunFloats(in, "GlobalAveragePool"));
        if (x.rank() < 2)
            return makeStatus(StatusCode::kBadInput, "GlobalAveragePool: X {} has rank < 2",
                              dimsToString(x.dims()));
        Dims yd(x.dims().size(), 1);
        yd[0] = x.dim(0);
        yd[1] = x.dim(1);
        HostTensor& y = *outs[0];
        y.ensure(DType::kFloat, yd);
        const int64_t rows = x.dim(0) * x.dim(1);
        const int64_t inner = rows ? x.numElements() / rows : 0;
        const float* xp = x.data<float>();
        for (int64_t r = 0; r < rows; ++r) {
            double sum = 0.0;
            for (int64_t j = 0; j < inner; ++j) sum += xp[r * inner + j];
            y.data<float>()[r] = static_cast<float>(sum / static_cast<double>(inner));
        }
        return Status::ok();
    };
    return singleOutput(makeKernel(std::move(run)), std::move(out));
}

// ---------------------------------------------------------------------------------------------
// Softmax / LogSoftmax. Opsets < 13 flatten the input to 2-D at `axis` (default 1) and
// normalise each row; opset 13 normalises along the single dim `axis` (default -1).

template <bool kLog>
Expected<KernelBuild> buildSoftmax(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(nn::checkArity(ctx, 1));
    WH_RETURN_IF_ERROR(requireFloat(ctx, {0}));
    const bool flatten = ctx.opset < 13;
    const int64_t axis = ctx.node.attrInt("axis", flatten ? 1 : -1);
    const TensorInfo& xi = ctx.inputs[0];
    if (xi.rankKnown) {
        const int64_t rank = static_cast<int64_t>(xi.dims.size());
        // Opset < 13 allows axis == rank (every row of length 1).
        if (!(flatten && axis == rank)) WH_RETURN_IF_ERROR(normalizeAxis(axis, rank, "axis"));
    }
    TensorInfo out = xi.rankKnown ? infoOf(DType::kFloat, xi.dims) : unknownRank(DType::kFloat);
    const std::string_view op = kLog ? "LogSoftmax" : "Softmax";

    auto run = [flatten, axis, op](Inputs in, Outputs outs) -> Status {
        const HostTensor& x = *in[0];
        WH_RETURN_STATUS_IF_ERROR(checkRunFloats(in, op));
        const int64_t rank = x.rank();
        int64_t ax = axis;
        if (!(flatten && ax == rank)) {
            WH_ASSIGN_OR_RETURN_STATUS(int a,
                                       normalizeAxis(axis, std::max<int64_t>(rank, 1), "axis"));
            ax = a;
        }
        // Rows of `len` elements `inner` apart: outer * inner rows in all.
        int64_t outer = 1, len = 1, inner = 1;
        for (int64_t d = 0; d < rank; ++d) {
            const int64_t v = x.dim(static_cast<int>(d));
            if (d < ax)
                outer *= v;
            else if (flatten || d == ax)
                len *= v;
            else
                inner *= v;
        }
        HostTensor& y = *outs[0];
        y.ensure(DType::kFloat, x.dims());
        const float* xp = x.data<float>();
        float* yp = y.data<float>();
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) {
                const float* xr = xp + o * len * inner + i;
                float* yr = yp + o * len * inner + i;
                float mx = -std::numeric_limits<float>::infinity();
                for (int64_t j = 0; j < len; ++j) mx = std::max(mx, xr[j * inner]);
                double sum = 0.0;
                for (int64_t j = 0; j < len; ++j)
                    sum += std::exp(static_cast<double>(xr[j * inner]) - mx);
                if constexpr (kLog) {
                    const double logSum = std::log(sum);
                    for (int64_t j = 0; j < len; ++j)
                        yr[j * inner] = static_cast<float>(xr[j * inner] - mx - logSum);
                } else {
                    for (int64_t j = 0; j < len; ++j)
                        yr[j * inner] = static_cast<float>(
                            std::exp(static_cast<double>(xr[j * inner]) - mx) / sum);
                }
            }
        return Status::ok();
    };
    return singleOutput(makeKernel(std::move(run)), std::move(out));
}

}  // namespace

void registerNnOps(KernelRegistry& registry) {
    constexpr Backend kRef = Backend::kReference;
    registry.add("", "Conv", 1, kNewestOpset, kRef, buildConv);
    registry.add("", "ConvTranspose", 1, kNewestOpset, kRef, buildConvTranspose);
    registry.add("", "Gemm", 7, kNewestOpset, kRef, buildGemm);
    registry.add("", "MatMul", 1, kNewestOpset, kRef, buildMatMul);
    registry.add("", "BatchNormalization", 6, kNewestOpset, kRef, buildBatchNorm);
    registry.add("", "GlobalAveragePool", 1, kNewestOpset, kRef, buildGlobalAveragePool);
    registry.add("", "Softmax", 1, kNewestOpset, kRef, buildSoftmax<false>);
    registry.add("", "LogSoftmax", 1, kNewestOpset, kRef, buildSoftmax<true>);
    nn::registerPooling(registry);
    nn::registerResize(registry);
}

}  // namespace wh::engine::ref
