#pragma once
/// Losses for TrainingPlan: what a training step minimises, as a callback over the graph
/// outputs of the training forward (TrainingOptions::loss). Softmax cross-entropy on output 0 is
/// the default; a distillation loss runs a teacher on LossArgs::inputs inside its callback.

#include <functional>
#include <span>

#include "core/engine/host_tensor.h"
#include "core/util/status.h"

namespace wh::engine {

/// What a loss sees for one batch.
struct LossArgs {
    /// The graph outputs of the training forward, in graph order.
    std::span<const HostTensor* const> outputs;
    /// The batch fed to the graph input, and its targets (labels, or whatever the loss reads).
    const HostTensor& inputs;
    const HostTensor& targets;
    /// dLoss/dOutput: non-null where output i leads back to a trainable parameter. The loss
    /// ensure()s and writes every non-null one (zeros where it does not depend on the output).
    std::span<HostTensor* const> outputGrads;
};

/// Returns the loss of the batch (a mean over its samples, by convention).
using LossFunction = std::function<Expected<double>(const LossArgs&)>;

/// Mean softmax cross-entropy of `logits` [B, C] (or [B, C, 1, ...]) against int64 labels [B]
/// with label smoothing `smoothing`; writes dLoss/dLogits into `grad` when not null.
/// Fails (kBadInput) on a label outside [0, C).
Expected<double> softmaxCrossEntropy(const HostTensor& logits, const HostTensor& labels,
                                     float smoothing, HostTensor* grad);

/// softmaxCrossEntropy on output `output` against the targets as labels; other outputs get
/// zero gradients.
LossFunction softmaxCrossEntropyLoss(float smoothing = 0.0f, int output = 0);

}  // namespace wh::engine
