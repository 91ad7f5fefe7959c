#pragma once
/// BatchNormFold (domain com.whittle, opset 1): the batch statistics of a convolution's output
/// for the two-conv BatchNormalization fold of quantization-aware training (Jacob et al. 2018,
/// Fig. C.8; the seed's BatchNormFold, GOLDEN_STICK.md 3.4), which the plugin builds around it
/// from standard operators (plugins/simqat). A built-in operator: reference kernel, training
/// forward, gradient and traits are registered by core (core/engine/ref/batch_norm_fold.cpp,
/// core/engine/op_traits.cpp).
///
/// Inputs:  X (float or double, [N, C, ...], rank >= 2);
///          running_mean, running_var (X's type, [C]): BatchNormalization's running statistics.
/// Outputs: mean, std (X's type, [C]).
/// Attributes: epsilon (float, default 1e-5), momentum (float, default 0.9), with ONNX
///          BatchNormalization's meaning.
///
/// Inference kernel, TrainingPlan::evaluate(), and the training forward when frozen
/// (NodeFlags::bnFrozen(): the seed's step >= freeze_bn):
///              mean = running_mean,  std = sqrt(running_var + epsilon)
///          (X is not read), the running statistics unchanged.
/// Training forward otherwise, per channel c over the M = N * H * W (all but axis 1) elements:
///              mean_c = sum x / M,   var_c = sum (x - mean_c)^2 / M   (biased, as the training
///              forward of our BatchNormalization),   std_c = sqrt(var_c + epsilon)
///          and the running statistics become ONNX's
///              running_mean <- momentum * running_mean + (1 - momentum) * mean
///              running_var  <- momentum * running_var  + (1 - momentum) * var.
///          They are the node's state (OpTraits::stateInputsFor gives inputs {1, 2}): the plan
///          stores them into those initializers after the forward pass (never trained), as for
///          BatchNormalization. The seed's kernel outputs 0 and 1 when frozen; the running
///          values instead make the fold's one formula y = c * sigma / std + beta - gamma * mean
///          / std (sigma = sqrt(running_var + epsilon)) the frozen one, y = c + beta - gamma *
///          running_mean / sigma, in every mode.
/// Gradient (the seed's BatchNormFoldGrad), not frozen:
///              dx = dmean_c / M + dstd_c * (x - mean_c) / (M * std_c)
///          (d var_c / dx = 2 (x - mean_c) / M, d std_c / d var_c = 1 / (2 std_c)); frozen:
///          dx = 0. running_mean and running_var get zero gradients (state).
/// Layouts: plain only (no channel-blocked X).

#include <string_view>

#include "core/engine/autodiff.h"
#include "core/engine/kernel_registry.h"

namespace wh::engine {

/// BatchNormFold's name in Whittle's domain (kWhittleDomain, core/engine/fake_quantize.h).
inline constexpr std::string_view kBatchNormFoldOp = "BatchNormFold";

/// Registers the reference BatchNormFold kernel (KernelRegistry::builtin() does).
void registerBatchNormFoldKernel(KernelRegistry& registry);
/// Registers its gradient and training forward (GradRegistry::builtin() does).
void registerBatchNormFoldGradient(GradRegistry& registry);

}  // namespace wh::engine
