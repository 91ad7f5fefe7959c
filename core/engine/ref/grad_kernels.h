#pragma once
/// Reference gradient kernels: plain C++ (Eigen for the matrix products), float and double, the
/// oracle for any faster backward. Each group registers itself; registerReferenceGradients()
/// calls them all.

#include "core/engine/autodiff.h"

namespace wh::engine::ref {

/// Add, Sub, Mul, Div, PRelu, Pow (numpy broadcasting); Relu, LeakyRelu, Sigmoid, Tanh, Clip,
/// HardSigmoid, HardSwish, Sqrt, Erf, Neg, Exp, Log, Identity; Dropout (with a seeded training
/// forward).
void registerElementwiseGradients(GradRegistry& registry);
/// Concat, Split, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, ReduceMean, ReduceSum, Slice,
/// Gather, Pad (constant mode).
void registerTensorGradients(GradRegistry& registry);
/// Conv, ConvTranspose, Gemm, MatMul, BatchNormalization (with a training forward: batch
/// statistics, running averages updated), MaxPool, AveragePool, GlobalAveragePool, Softmax,
/// LogSoftmax.
void registerNnGradients(GradRegistry& registry);

/// Where, Expand, Tile, LayerNormalization (the ops transformer exports add).
void registerMoreGradients(GradRegistry& registry);

namespace nn {
/// Resize (every mode and coordinate transform of the forward; the gradient of X only).
void registerResizeGradient(GradRegistry& registry);
}  // namespace nn

}  // namespace wh::engine::ref
