#pragma once
/// FakeQuantize (domain com.whittle, opset 1): simulated quantization for quantization-aware
/// training, stored in the model so that a half-trained model can be saved and reopened. A
/// built-in operator: reference kernel, gradient (STE, optional LSQ) and traits are registered
/// by core (core/engine/ref/fake_quantize.cpp).
///
/// Inputs:  X (float or double);
///          scale (X's type; a scalar or [1]: per tensor; 1-D of length C = X.dims[axis]: per
///          channel), every element > 0;
///          zero_point (optional, scale's type and shape; absent = 0; may be omitted (empty
///          name) when inputs 3 and 4 are given). A float, so that it can be learned; the
///          helper below gives integral ones;
///          range_min, range_max (optional, together; scale's type and shape): the range an
///          observer keeps (see Observe); read only by the training forward with observe = 1.
/// Output:  Y (X's type and dims).
/// Attributes: num_bits (2..8, default 8), unsigned (0/1, default 0), narrow_range (0/1,
///          default 0), symmetric (0/1, default 0), axis (per-channel axis, default 1, negative
///          counts from the end; any axis, e.g. 0 for Conv or depthwise [C,1,k,k] weights),
///          learned (0/1, default 0), observe (0/1, default 0; excludes learned = 1),
///          ema_decay (float in [0, 1), default 0).
///
/// Grid:    unsigned: qmin = 0, qmax = 2^b - 1; signed: qmin = -2^(b-1), qmax = 2^(b-1) - 1;
///          narrow_range drops the lowest code (qmin + 1).
/// Forward: with s, z the scale and zero point of x's channel (or the tensor's),
///              u = round(x / s)               (round half to even, as QuantizeLinear)
///              q = clamp(u + z, qmin, qmax)
///              y = (q - z) * s
///          i.e. exactly DequantizeLinear(QuantizeLinear(x)) for an integral z.
/// Gradient of X (straight-through estimator with the clamp mask):
///              dx = dy  where qmin <= u + z <= qmax,  else 0.
/// learned = 1 (LSQ, Esser et al. 2020, "Learned Step Size Quantization"): per element
///              dy/ds = u - x / s    inside,   qmin - z  below,   qmax - z  above
///          (round's derivative taken as 1), summed over the elements sharing that scale and
///          multiplied by the gradient scale g = 1 / sqrt(n * qmax), n = the number of elements
///          of X sharing that scale in this run (the batch included: numel(X) per tensor,
///          numel(X) / C per channel), qmax of the grid above. When zero_point is given and
///          symmetric = 0 it is learned too (LSQ+-style offset): inside, y = u * s does not
///          depend on z; outside, y = (qmin|qmax - z) * s, so
///              dy/dz = 0   inside,   -s  below or above,
///          summed and scaled by the same g. symmetric = 1 keeps the zero point fixed (0 when
///          absent). learned = 0: scale and zero point get zero gradients (list them in
///          TrainingOptions::frozen to skip them altogether).
///          Note that inside the clamp range the true derivative of y in s is u (piecewise
///          constant); LSQ's u - x/s is the derivative with round's residual held constant, so
///          finite differences of Y agree with it only in the clamped region (the tests add
///          back sum dy * x / s over the inside elements before comparing).
///          At the clamp boundary (u + z exactly qmin or qmax, a kink in z) the gradient takes
///          the inside side. With `learned` = 1 its traits (OpTraits::trainedInput) make the
///          scale (and the zero point unless symmetric) trainable Parameters of a TrainingPlan,
///          per tensor (one element) as well as per channel.
/// Enable (quantization delay): in a TrainingPlan the training forward reads the node's knob
///          NodeFlags::knob("enabled", 1.0) every run; 0 makes the op the identity (forward, and
///          dx = dy with no scale or zero-point gradient). TrainingPlan::evaluate() and the
///          inference Plan always quantize (as the seed does in eval mode).
/// Observe (observe = 1; the seed's SimQAT observer, GOLDEN_STICK.md 3.1): in a TrainingPlan's
///          training forward only (not evaluate(), TrainingFlags::evaluating; not the inference
///          Plan, which use the stored scale and zero point), every run:
///              m_c = min x, M_c = max x over the elements of the run's X (the batch included)
///                    sharing scale c (per tensor, or per channel along axis as above), NaNs
///                    ignored; then m_c <- min(m_c, 0), M_c <- max(M_c, 0);
///              ema_decay d > 0 and a stored range (range_min[c], range_max[c]) != (0, 0):
///                    m_c <- d * range_min[c] + (1 - d) * m_c, likewise M_c (a stored [0, 0]
///                    is "never observed": the first batch initialises it). Note: the seed's
///                    kernel puts d on the batch value and widens after blending; SimQAT itself
///                    never uses the EMA (its quantizers have ema=False);
///              (s_c, z_c) = fakeQuantParamsFromRange(m_c, M_c, num_bits, symmetric,
///                    narrow_range, unsigned) (m_c, M_c rounded to scale's type first);
///          then quantizes X with s, z (the Forward above) in this same run, and the gradient of
///          the step uses them too (STE mask on that grid; no gradient to s or z). The new s, z,
///          m, M are the node's state (OpTraits::stateInputsFor gives inputs {1, 2, 3, 4}): the
///          plan stores them into those initializers after the step (TrainingPlan::state(),
///          writeBack()), so evaluation and inference use the last observed values. Inputs that
///          are graph inputs or absent are not stored. The observer also runs while the
///          "enabled" knob is 0 (the output is then X unchanged, the range still stored), as the
///          seed's observer does during its quantization delay. Works for channel-blocked X
///          (Layouts) and on Parameter X (a Conv weight per channel along axis 0).
///          Required (kBadInput naming the node, at compile): zero_point unless symmetric on a
///          signed grid (the only case whose observed z is always 0); range_min and range_max
///          when ema_decay > 0. observe = 0 keeps scale and zero point as given (or learned).
/// Layouts: the training forward and gradient take X / Y (and their gradients) channel-blocked
///          (nChw16c, GradBuild::ChannelBlocks::kShared) for 4-D X, per tensor or per channel
///          on any axis, so a FakeQuantize between Conv and BatchNormalization keeps the blocked
///          order. Not OpTraits::elementwise: a per-channel or learned scale is not an operand the
///          plan's elementwise rule can keep blocked.
/// Kernels: vectorised and parallel (OpenMP) over runs of elements sharing a scale; Y, the
///          gradient of X and the observed range / scale / zero point are bit-identical to the
///          formulas above computed element by element (std::nearbyint, std::clamp). The LSQ sums
///          are added up in double per fixed work item, then in item order: deterministic
///          whatever the number of threads, but not in element order (equal up to rounding).

#include <cstdint>
#include <string_view>
#include <utility>

#include "core/engine/autodiff.h"
#include "core/engine/kernel_registry.h"

namespace wh::engine {

/// Whittle's own ONNX domain and FakeQuantize's name in it.
inline constexpr std::string_view kWhittleDomain = "com.whittle";
inline constexpr std::string_view kFakeQuantizeOp = "FakeQuantize";

/// The integer grid [qmin, qmax] of `bits` bits (see the file comment).
std::pair<int64_t, int64_t> fakeQuantGrid(int bits, bool narrowRange, bool isUnsigned);

/// Scale and zero point for the range [min, max] with the seed's nudging (Golden Stick SimQAT,
/// GOLDEN_STICK.md 3.1): the range is first widened to contain 0 (min <- min(min, 0),
/// max <- max(max, 0)); symmetric: min = -M, max = M with M = max(|min|, max);
///     s  = (max - min) / (qmax - qmin)
///     z  = clamp(round_half_away_from_zero(qmin - min / s), qmin, qmax)
/// so that 0 is exactly representable (z an integer of the grid). Symmetric on a signed grid
/// gives z = 0 (the seed's export convention) rather than the rounding of qmin + M / s, which is
/// -0.5 there. An empty range (max == min, hence both 0) gives s = 1 and z = clamp(0, qmin,
/// qmax). Returns {scale, zeroPoint}. Pure; thread-safe.
std::pair<float, float> fakeQuantParamsFromRange(float min, float max, int bits, bool symmetric,
                                                 bool narrowRange, bool isUnsigned);

/// Registers the reference FakeQuantize kernel (KernelRegistry::builtin() does).
void registerFakeQuantizeKernel(KernelRegistry& registry);
/// Registers its gradient and training forward (GradRegistry::builtin() does).
void registerFakeQuantizeGradient(GradRegistry& registry);

}  // namespace wh::engine
