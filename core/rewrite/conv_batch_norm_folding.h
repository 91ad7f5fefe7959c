#pragma once
/// ConvBatchNormFolding: Conv → BatchNormalization (inference form) becomes one Conv with folded
/// weights. With s[m] = scale[m] / sqrt(var[m] + epsilon) per output channel m:
///     W'[m, ...] = W[m, ...] * s[m]
///     B'[m]      = (B[m] - mean[m]) * s[m] + bias[m]      (B = 0 when the Conv has no bias)
/// The new Conv keeps the Conv's name, attributes and input and produces the BatchNormalization's
/// output. Requires: the Conv output read only by the BatchNormalization (as its X), float32
/// constant W (an initializer, not a graph input), B and scale/bias/mean/var, per-channel shapes
/// that agree, and BatchNormalization without training outputs or training_mode = 1. W and B are
/// folded in place (names kept) when only this Conv reads them, else into new initializers
/// ("<W>_bn", "<B>_bn"); a new bias is named after W ("conv.weight" -> "conv.bias"). Initializers
/// the fold leaves unread are removed.

#include <span>
#include <vector>

#include "core/rewrite/pattern.h"

namespace wh::rewrite {

class ConvBatchNormFolding : public Pattern {
public:
    ConvBatchNormFolding() : Pattern("ConvBatchNormFolding", "Conv", 1) {}
    MatchResult match(const ir::Node& root) const override;
    Status apply(Rewriter& rewriter, ir::Node& root) const override;

    /// The folded weights (in place) and bias (the formulas above), computed in double and
    /// stored as float. `convBias` may be empty (no bias); `bias` has one element per channel.
    /// Sizes must already be consistent. The engine's plan-time folding uses it too.
    static void fold(std::span<float> weights, std::span<float> bias,
                     std::span<const float> convBias, std::span<const float> scale,
                     std::span<const float> bnBias, std::span<const float> mean,
                     std::span<const float> var, float epsilon);
};

}  // namespace wh::rewrite
