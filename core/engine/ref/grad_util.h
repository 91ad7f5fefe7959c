#pragma once
/// Helpers shared by the reference gradient kernels (core/engine/ref/grad_*.cpp): float/double
/// dispatch, broadcast iteration, a GradKernel made from a lambda, and convolution/pooling
/// geometry. Internal to core/engine.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/engine/autodiff.h"

namespace wh::engine::ref::grad {

/// Calls `f(T{})` for float or double; nullopt for any other dtype.
template <class F>
auto dispatchFloat(ir::DType dtype, F&& f) -> std::optional<decltype(f(float{}))> {
    if (dtype == ir::DType::kFloat) return f(float{});
    if (dtype == ir::DType::kDouble) return f(double{});
    return std::nullopt;
}

/// Strides (in elements) of `in` when broadcast to `full` (right-aligned, numpy rules): 0 on
/// broadcast axes. The result has full.size() entries.
inline std::vector<int64_t> broadcastStrides(const Dims& full, const Dims& in) {
    std::vector<int64_t> strides(full.size(), 0);
    int64_t s = 1;
    const std::size_t off = full.size() - in.size();
    for (std::size_t k = in.size(); k-- > 0;) {
        strides[off + k] = in[k] == 1 && full[off + k] != 1 ? 0 : s;
        s *= in[k];
    }
    return strides;
}

/// Calls f(i, ia, ib) for every element i of `full` (row-major) with the offsets of the
/// elements of two broadcast operands (strides from broadcastStrides).
template <class F>
void forEachBroadcast(const Dims& full, const std::vector<int64_t>& sa,
                      const std::vector<int64_t>& sb, F&& f) {
    const int rank = static_cast<int>(full.size());
    const int64_t total = numElementsOf(full);
    if (total == 0) return;
    if (rank == 0) {
        f(int64_t{0}, int64_t{0}, int64_t{0});
        return;
    }
    std::vector<int64_t> idx(static_cast<std::size_t>(rank), 0);
    const int64_t inner = full.back();
    const int64_t ia1 = sa.back(), ib1 = sb.back();
    int64_t i = 0, ia = 0, ib = 0;
    while (i < total) {
        for (int64_t k = 0; k < inner; ++k) f(i + k, ia + k * ia1, ib + k * ib1);
        i += inner;
        // Advance the odometer over the outer dims.
        int d = rank - 2;
        for (; d >= 0; --d) {
            const auto du = static_cast<std::size_t>(d);
            ++idx[du];
            ia += sa[du];
            ib += sb[du];
            if (idx[du] < full[du]) break;
            ia -= sa[du] * full[du];
            ib -= sb[du] * full[du];
            idx[du] = 0;
        }
        if (d < 0) break;
    }
}

/// A GradKernel whose backward() is a callable.
template <class Fn>
class FnGradKernel final : public GradKernel {
public:
    explicit FnGradKernel(Fn fn) : m_fn(std::move(fn)) {}
    Status backward(const GradArgs& args) override { return m_fn(args); }

private:
    Fn m_fn;
};

template <class Fn>
std::unique_ptr<GradKernel> makeGradKernel(Fn fn) {
    return std::make_unique<FnGradKernel<Fn>>(std::move(fn));
}

/// A build that saves the given inputs/outputs (by index) of a node with `nIn` inputs and
/// `nOut` outputs.
inline GradBuild gradBuild(std::unique_ptr<GradKernel> kernel, const GradContext& ctx,
                           std::vector<int> savedIn, std::vector<int> savedOut) {
    GradBuild b;
    b.kernel = std::move(kernel);
    b.savedInputs.assign(ctx.inputs.size(), false);
    b.savedOutputs.assign(ctx.outputs.size(), false);
    for (int i : savedIn)
        if (i < static_cast<int>(b.savedInputs.size())) b.savedInputs[static_cast<std::size_t>(i)] = true;
    for (int i : savedOut)
        if (i < static_cast<int>(b.savedOutputs.size())) b.savedOutputs[static_cast<std::size_t>(i)] = true;
    return b;
}

/// Argument accessors with the checks every kernel needs.
inline const HostTensor* gradOut(const GradArgs& a, int i) {
    return i < static_cast<int>(a.outputGrads.size()) ? a.outputGrads[static_cast<std::size_t>(i)]
                                                       : nullptr;
}
inline HostTensor* gradIn(const GradArgs& a, int i) {
    return i < static_cast<int>(a.inputGrads.size()) ? a.inputGrads[static_cast<std::size_t>(i)]
                                                      : nullptr;
}

/// Spatial geometry of a convolution or pooling window over an N-d image (N = rank - 2).
struct Window {
    std::vector<int64_t> kernel, strides, dilations, padBegin, padEnd;
    int spatial() const { return static_cast<int>(kernel.size()); }
};

/// Reads kernel_shape (or `kernelFromWeights`), strides, dilations, pads and auto_pad for an
/// input image of spatial dims `in` producing spatial dims `out` (known from the forward run).
/// auto_pad SAME_* pads are derived from `in`/`out` as ONNX specifies.
Expected<Window> readWindow(const ir::Node& node, const std::vector<int64_t>& in,
                            const std::vector<int64_t>& out,
                            const std::vector<int64_t>& kernelFromWeights);

/// im2col for one image of one group: `image` holds `channels` planes of dims `in`; `col` gets
/// [channels * prod(kernel), prod(out)] (row-major), zero where the window reads padding.
template <class T>
void im2col(const T* image, int64_t channels, const std::vector<int64_t>& in,
            const std::vector<int64_t>& out, const Window& w, T* col);
/// The adjoint of im2col: adds `col` back into `image` (which it does not clear).
template <class T>
void col2im(const T* col, int64_t channels, const std::vector<int64_t>& in,
            const std::vector<int64_t>& out, const Window& w, T* image);

}  // namespace wh::engine::ref::grad
