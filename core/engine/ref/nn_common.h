#pragma once
/// Internal to the reference NN kernels (nn_ops.cpp, nn_pool.cpp, nn_resize.cpp): the sliding
/// window geometry shared by Conv, ConvTranspose, MaxPool and AveragePool, and the registration
/// functions of the files that registerNnOps() calls.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/engine/kernel.h"
#include "core/engine/kernel_registry.h"

namespace wh::engine::ref::nn {

enum class AutoPad { kNotSet, kValid, kSameUpper, kSameLower };

/// The window attributes as written on the node (kernel_shape, strides, dilations, pads,
/// auto_pad, ceil_mode). Empty vectors mean "not given"; defaults are filled in by
/// windowGeometry() once the number of spatial dims is known.
struct WindowAttrs {
    std::vector<int64_t> kernel, strides, dilations, pads;
    AutoPad autoPad = AutoPad::kNotSet;
    bool ceilMode = false;
};

/// Reads the window attributes of `node`; kBadInput for an unknown auto_pad string.
Expected<WindowAttrs> parseWindowAttrs(const ir::Node& node);

/// One sliding window resolved for given spatial input sizes.
struct WindowGeometry {
    int spatial = 0;
    std::vector<int64_t> in, out;  ///< spatial sizes; -1 where unknown
    std::vector<int64_t> kernel, strides, dilations;
    std::vector<int64_t> padBegin, padEnd;  ///< -1 where they depend on an unknown size
};

/// Conv/pool geometry: `inSpatial` may hold -1 (then that output dim is -1). `kernel` overrides
/// attrs.kernel when attrs.kernel is empty (Conv takes it from the weights). Output size:
/// floor((in + padBegin + padEnd - ((k-1)*d+1)) / s) + 1 (ceil with ceil_mode, dropping a last
/// window that would start in the end padding); SAME_*: ceil(in / s) with the total padding
/// split evenly, the odd one at the end (UPPER) or the beginning (LOWER); VALID: no padding.
Expected<WindowGeometry> windowGeometry(const WindowAttrs& attrs,
                                        std::span<const int64_t> inSpatial,
                                        std::span<const int64_t> kernel = {});

/// kBadInput unless the first `required` inputs and output 0 are present (hostile models may
/// omit them; kernels dereference them unchecked).
Status checkArity(const KernelContext& ctx, int required);

/// The inputs of the int8 layers QConv and QMatMul (qconv.h, qmatmul.h): x, x_scale,
/// x_zero_point, w, w_scale, [w_zero_point], y_scale, y_zero_point, [B] — kBadInput naming the
/// node unless uint8/int8 x with its zero point, int8 w, float scales and bias, a uint8/int8 y
/// zero point, and an activation attribute "", "Relu" or "Clip".
Status checkQuantizedLayerTypes(const KernelContext& ctx);

/// "[1,2,3]" for messages.
std::string listToString(std::span<const int64_t> values);

/// MaxPool, AveragePool (nn_pool.cpp).
void registerPooling(KernelRegistry& registry);
/// Resize (nn_resize.cpp).
void registerResize(KernelRegistry& registry);

}  // namespace wh::engine::ref::nn
