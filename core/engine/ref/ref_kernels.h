#pragma once
/// Reference kernels: plain C++ (Eigen where it helps), always built, the oracle for the oneDNN
/// kernels in tests. Each group registers itself; registerReferenceKernels() calls them all.

#include "core/engine/kernel_registry.h"

namespace wh::engine::ref {

/// Relu, LeakyRelu, PRelu, Clip, Sigmoid, HardSigmoid, HardSwish, Tanh, Erf, Add, Sub, Mul, Div,
/// Pow, Sqrt (numpy broadcasting), Identity, Dropout, Cast.
void registerElementwise(KernelRegistry& registry);
/// Comparisons, Not/And/Or/Xor, Where, Floor, Ceil, Round, Sign, Reciprocal, Softplus, Softsign,
/// Elu, Selu, Celu, ThresholdedRelu, Shrink, Sin, Cos, IsNaN, IsInf, Mod, Min, Max, Sum, Mean.
void registerMathOps(KernelRegistry& registry);
/// Concat, Split, Slice, Gather, Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Shape,
/// Constant, ConstantOfShape, ReduceMean/Sum/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare,
/// ArgMax, ArgMin, Pad, Expand, Tile, Range.
void registerTensorOps(KernelRegistry& registry);
/// Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, MaxPool, AveragePool,
/// GlobalAveragePool, Softmax, LogSoftmax, Resize.
void registerNnOps(KernelRegistry& registry);
/// GlobalMaxPool, DepthToSpace, SpaceToDepth, Size, Trilu, CumSum, Hardmax, InstanceNormalization,
/// LayerNormalization, GatherElements, OneHot.
void registerMoreOps(KernelRegistry& registry);
/// NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss (core/engine/ref/loss_ops.cpp).
void registerLossOps(KernelRegistry& registry);
void registerIndexOps(KernelRegistry& registry);
void registerRnnOps(KernelRegistry& registry);
void registerIntegerOps(KernelRegistry& registry);
/// QuantizeLinear, DequantizeLinear (per-tensor and per-axis).
void registerQuantOps(KernelRegistry& registry);
/// If, Loop, Scan (subgraphs compiled once into nested plans, subgraph_plan.h).
void registerControlFlow(KernelRegistry& registry);
/// Einsum.
void registerEinsum(KernelRegistry& registry);

}  // namespace wh::engine::ref
