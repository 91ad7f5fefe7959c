#pragma once
/// ConvBnFolding: a BatchNormalization (inference) after a Conv, folded into the Conv's weights
/// and bias when a Plan is compiled, as ONNX Runtime does. The model is not touched: the folded
/// tensors are new constants the plan owns.
///
///   BN(y) = s * (y - mean) + B with s = scale / sqrt(var + epsilon), per output channel o, and
///   y = W * x + b, so BN(y) = (s[o] * W[o]) * x + (s[o] * (b[o] - mean[o]) + B[o]).
///
/// The folded result differs from Conv-then-BN by rounding only (computed in double here).

#include <optional>
#include <span>

#include "core/engine/host_tensor.h"
#include "core/engine/kernel.h"
#include "core/ir/graph.h"

namespace wh::engine {

/// The weights and bias of a Conv with a BatchNormalization folded in.
struct FoldedConv {
    HostTensor weights;
    HostTensor bias;
};

/// Folds `bn` (opset `bnOpset`, inputs `bnInputs`) into a Conv with weights `weights` and bias
/// `bias` (null if the Conv has none). Applies only when the BN is in inference mode, asks for
/// no statistics outputs, and every weight, bias and BN parameter is a float32 constant of
/// matching channel count; otherwise returns nullopt ("did not apply" is not an error).
std::optional<FoldedConv> foldBatchNormIntoConv(const ir::Node& bn, int64_t bnOpset,
                                                std::span<const TensorInfo> bnInputs,
                                                const TensorInfo& weights, const TensorInfo* bias);

}  // namespace wh::engine
