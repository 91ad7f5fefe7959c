#pragma once
/// SlbWeight (domain com.whittle, opset 1): a weight tensor searched over a discrete value set,
/// SLB ("Searching for Low-Bit Weights", Yang et al. 2020; GOLDEN_STICK.md §4.1). A built-in
/// operator: reference kernel, gradient, training forward and traits are registered by core
/// (core/engine/ref/slb_weight.cpp).
///
/// Input:   A (float or double), the logits [d0, ..., dn-1, K]: one K-vector per element of the
///          weight, the last axis indexing the value set. A floating initializer read here is a
///          trainable Parameter of a TrainingPlan (OpTraits::trainedInput), whatever its size.
/// Output:  W (A's type), dims [d0, ..., dn-1] (A's without the last axis).
/// Attribute: bits (1, 2 or 4; default 1). K must be 2 for 1 bit and 2^bits otherwise
///          (kBadInput at compile or run otherwise).
/// Value set V (no scale: a following BatchNormalization absorbs it):
///          1 bit  V = {-1, +1};
///          b bits V_k = -1 + 2k / (2^b - 1), k = 0 .. 2^b - 1 (linspace(-1, 1, 2^b)).
///
/// Soft forward (a TrainingPlan's training forward with the knob hard = 0), with the
/// temperature T = NodeFlags::knob("temperature", 1.0) read every run:
///              P_k = softmax_k(T * A_k)   (max subtracted first: stable for any T)
///              W   = sum_k P_k * V_k
/// Gradient:    dA_k = T * P_k * (V_k - W) * dW   (the softmax's Jacobian; no straight-through).
/// Hard forward (NodeFlags::knob("hard", 0) != 0, TrainingPlan::evaluate(), and the inference
///          Plan, whose kernel is always hard):
///              W = V[argmax_k A_k]   (the first maximum on ties; a NaN logit is never the max
///                                     unless all are NaN, then k = 0)
///          with a zero gradient for A (the seed's one-hot argmax: A freezes).
/// Kernels: parallel (OpenMP) over the weight's elements when there are many; deterministic
///          (each element on its own).

#include <string_view>
#include <vector>

#include "core/engine/autodiff.h"
#include "core/engine/kernel_registry.h"

namespace wh::engine {

/// SlbWeight's name in the com.whittle domain (kWhittleDomain, fake_quantize.h).
inline constexpr std::string_view kSlbWeightOp = "SlbWeight";

/// The number of logits per weight for `bits` (2 for 1 bit, else 2^bits); 0 for bits not in
/// {1, 2, 4}.
int slbLevels(int bits);
/// The value set V for `bits` (see the file comment); empty for bits not in {1, 2, 4}.
std::vector<double> slbValues(int bits);

/// Registers the reference SlbWeight kernel (KernelRegistry::builtin() does).
void registerSlbWeightKernel(KernelRegistry& registry);
/// Registers its gradient and training forward (GradRegistry::builtin() does).
void registerSlbWeightGradient(GradRegistry& registry);

}  // namespace wh::engine
