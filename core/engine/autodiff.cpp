#include "core/engine/autodiff.h"

#include <algorithm>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "core/engine/ref/grad_util.h"

namespace wh::engine {

std::string GradContext::where() const {
    return fmt::format("node '{}' ({})", node.displayName(), node.opType);
}

const GradRegistry& GradRegistry::builtin() {
    static const GradRegistry registry = [] {
        GradRegistry r;
        registerReferenceGradients(r);
        registerDnnlGradients(r);
        return r;
    }();
    return registry;
}

std::vector<std::string> GradRegistry::opTypes() const {
    std::set<std::string> names;
    for (const Entry& e : entries())
        names.insert(e.domain.empty() ? e.opType : e.domain + ":" + e.opType);
    return {names.begin(), names.end()};
}

Expected<Dims> broadcastDims(const Dims& a, const Dims& b) {
    const std::size_t rank = std::max(a.size(), b.size());
    Dims out(rank, 1);
    for (std::size_t k = 0; k < rank; ++k) {
        const int64_t da = k < rank - a.size() ? 1 : a[k - (rank - a.size())];
        const int64_t db = k < rank - b.size() ? 1 : b[k - (rank - b.size())];
        if (da != db && da != 1 && db != 1)
            return error(StatusCode::kBadInput, "shapes {} and {} do not broadcast",
                         dimsToString(a), dimsToString(b));
        out[k] = da == 1 ? db : da;
    }
    return out;
}

Status reduceToShape(const HostTensor& grad, const Dims& shape, HostTensor& out) {
    if (grad.rank() < static_cast<int>(shape.size()))
        return makeStatus(StatusCode::kInternal, "cannot reduce {} to {}",
                          dimsToString(grad.dims()), dimsToString(shape));
    auto r = ref::grad::dispatchFloat(grad.dtype(), [&](auto zero) {
        using T = decltype(zero);
        out.ensure(grad.dtype(), shape);
        T* o = out.data<T>();
        const T* g = grad.data<T>();
        if (grad.dims() == shape) {
            std::memcpy(o, g, grad.byteSize());
            return Status::ok();
        }
        std::fill(o, o + out.numElements(), T(0));
        const auto so = ref::grad::broadcastStrides(grad.dims(), shape);
        const std::vector<int64_t> none(grad.dims().size(), 0);
        ref::grad::forEachBroadcast(grad.dims(), so, none,
                                    [&](int64_t i, int64_t io, int64_t) { o[io] += g[i]; });
        return Status::ok();
    });
    if (!r)
        return makeStatus(StatusCode::kUnsupported, "gradients of {} tensors",
                          ir::dtypeName(grad.dtype()));
    return *r;
}

Status accumulate(HostTensor& out, const HostTensor& in) {
    if (out.dims() != in.dims() || out.dtype() != in.dtype())
        return makeStatus(StatusCode::kInternal, "accumulating {} into {}", dimsToString(in.dims()),
                          dimsToString(out.dims()));
    auto r = ref::grad::dispatchFloat(in.dtype(), [&](auto zero) {
        using T = decltype(zero);
        T* o = out.data<T>();
        const T* i = in.data<T>();
        const int64_t n = in.numElements();
        for (int64_t k = 0; k < n; ++k) o[k] += i[k];
        return Status::ok();
    });
    if (!r)
        return makeStatus(StatusCode::kUnsupported, "gradients of {} tensors",
                          ir::dtypeName(in.dtype()));
    return *r;
}

// ---- Window geometry and im2col ---------------------------------------------------------------

namespace ref::grad {

Expected<Window> readWindow(const ir::Node& node, const std::vector<int64_t>& in,
                            const std::vector<int64_t>& out,
                            const std::vector<int64_t>& kernelFromWeights) {
    const std::size_t n = in.size();
    Window w;
    w.kernel = node.attrInts("kernel_shape");
    if (w.kernel.empty()) w.kernel = kernelFromWeights;
    if (w.kernel.size() != n)
        return error(StatusCode::kBadInput, "kernel_shape has {} dims, the input {} spatial dims",
                     w.kernel.size(), n);
    w.strides = node.attrInts("strides");
    if (w.strides.empty()) w.strides.assign(n, 1);
    w.dilations = node.attrInts("dilations");
    if (w.dilations.empty()) w.dilations.assign(n, 1);
    if (w.strides.size() != n || w.dilations.size() != n)
        return error(StatusCode::kBadInput, "strides/dilations do not match {} spatial dims", n);
    const std::string autoPad = node.attrString("auto_pad", "NOTSET");
    std::vector<int64_t> pads = node.attrInts("pads");
    w.padBegin.assign(n, 0);
    w.padEnd.assign(n, 0);
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
        for (std::size_t k = 0; k < n; ++k) {
            const int64_t effective = (w.kernel[k] - 1) * w.dilations[k] + 1;
            const int64_t total =
                std::max<int64_t>(0, (out[k] - 1) * w.strides[k] + effective - in[k]);
            w.padBegin[k] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
            w.padEnd[k] = total - w.padBegin[k];
        }
    } else if (autoPad == "VALID") {
        // no padding
    } else if (!pads.empty()) {
        if (pads.size() != 2 * n)
            return error(StatusCode::kBadInput, "pads has {} entries, expected {}", pads.size(),
                         2 * n);
        for (std::size_t k = 0; k < n; ++k) {
            w.padBegin[k] = pads[k];
            w.padEnd[k] = pads[n + k];
        }
    }
    return w;
}

// The spatial part is handled as 2-D (1-D images are 1 x W): index (c, kh, kw) of the column
// row, (oh, ow) of the column.
template <class T>
void im2col(const T* image, int64_t channels, const std::vector<int64_t>& in,
            const std::vector<int64_t>& out, const Window& w, T* col) {
    const bool one = in.size() == 1;
    const int64_t IH = one ? 1 : in[0], IW = in.back();
    const int64_t OH = one ? 1 : out[0], OW = out.back();
    const int64_t KH = one ? 1 : w.kernel[0], KW = w.kernel.back();
    const int64_t SH = one ? 1 : w.strides[0], SW = w.strides.back();
    const int64_t DH = one ? 1 : w.dilations[0], DW = w.dilations.back();
    const int64_t PH = one ? 0 : w.padBegin[0], PW = w.padBegin.back();
    for (int64_t c = 0; c < channels; ++c)
        for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
                T* row = col + ((c * KH + kh) * KW + kw) * OH * OW;
                const T* plane = image + c * IH * IW;
                for (int64_t oh = 0; oh < OH; ++oh) {
                    const int64_t ih = oh * SH - PH + kh * DH;
                    T* r = row + oh * OW;
                    if (ih < 0 || ih >= IH) {
                        std::fill(r, r + OW, T(0));
                        continue;
                    }
                    const T* src = plane + ih * IW;
                    for (int64_t ow = 0; ow < OW; ++ow) {
                        const int64_t iw = ow * SW - PW + kw * DW;
                        r[ow] = iw >= 0 && iw < IW ? src[iw] : T(0);
                    }
                }
            }
}

template <class T>
void col2im(const T* col, int64_t channels, const std::vector<int64_t>& in,
            const std::vector<int64_t>& out, const Window& w, T* image) {
    const bool one = in.size() == 1;
    const int64_t IH = one ? 1 : in[0], IW = in.back();
    const int64_t OH = one ? 1 : out[0], OW = out.back();
    const int64_t KH = one ? 1 : w.kernel[0], KW = w.kernel.back();
    const int64_t SH = one ? 1 : w.strides[0], SW = w.strides.back();
    const int64_t DH = one ? 1 : w.dilations[0], DW = w.dilations.back();
    const int64_t PH = one ? 0 : w.padBegin[0], PW = w.padBegin.back();
    for (int64_t c = 0; c < channels; ++c)
        for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
                const T* row = col + ((c * KH + kh) * KW + kw) * OH * OW;
                T* plane = image + c * IH * IW;
                for (int64_t oh = 0; oh < OH; ++oh) {
                    const int64_t ih = oh * SH - PH + kh * DH;
                    if (ih < 0 || ih >= IH) continue;
                    const T* r = row + oh * OW;
                    T* dst = plane + ih * IW;
                    for (int64_t ow = 0; ow < OW; ++ow) {
                        const int64_t iw = ow * SW - PW + kw * DW;
                        if (iw >= 0 && iw < IW) dst[iw] += r[ow];
                    }
                }
            }
}

template void im2col<float>(const float*, int64_t, const std::vector<int64_t>&,
                            const std::vector<int64_t>&, const Window&, float*);
template void im2col<double>(const double*, int64_t, const std::vector<int64_t>&,
                             const std::vector<int64_t>&, const Window&, double*);
template void col2im<float>(const float*, int64_t, const std::vector<int64_t>&,
                            const std::vector<int64_t>&, const Window&, float*);
template void col2im<double>(const double*, int64_t, const std::vector<int64_t>&,
                             const std::vector<int64_t>&, const Window&, double*);

}  // namespace ref::grad

}  // namespace wh::engine
