#pragma once
/// Benchmark probe: what plain (NCHW) tensors at kernel boundaries cost a convolution, compared
/// with keeping oneDNN's blocked layout between consecutive kernels. Uses no oneDNN type in its
/// interface, so benchmarks outside core/engine/dnnl can call it. Not for production paths.

#include <cstdint>
#include <string>

namespace wh::engine::dnnlk {

struct ConvLayoutTiming {
    double plainMs = 0;      ///< primitive created for NCHW src/dst (oneDNN picks a plain impl)
    double reorderedMs = 0;  ///< blocked primitive + reorders in and out (what ConvKernel does)
    double blockedMs = 0;    ///< blocked primitive alone (what a layout pass would leave)
    std::string plainImpl, blockedImpl;  ///< oneDNN implementation names
    std::string blockedSrc;  ///< e.g. "nChw16c" or "nchw"
};

/// Median time per run of a 3-D (N, C, H, W) fp32 convolution, `reps` runs after warm-up.
/// `kernel` square, stride 1, "same" padding.
ConvLayoutTiming timeConvLayouts(int64_t n, int64_t ic, int64_t oc, int64_t hw, int64_t kernel,
                                 int reps);

}  // namespace wh::engine::dnnlk
