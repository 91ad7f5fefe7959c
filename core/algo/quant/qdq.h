#pragma once
/// Fake quantizers in, QDQ out: the shared pieces of every quantization algorithm's apply and
/// convert.
///
/// Training / calibrated form: `com.whittle:FakeQuantize` nodes (core/engine/fake_quantize.h)
/// on weights and activations, their scale and zero point as initializers named after the
/// quantized tensor ("<tensor>_fq_scale", "<tensor>_fq_zero_point"). Such a model runs in the
/// engine, trains, and can be saved and reopened.
///
/// Deploy form (fakeQuantizeToQdq): what ONNX Runtime's QDQ tooling emits and runs —
///   - a quantized weight: an int8 (signed grid) or uint8 initializer of codes + DequantizeLinear
///     (per axis: scale [C], zero point [C]; none when all are 0); weights below 8 bits of a
///     layer whose input is quantized too are such codes on the narrow grid, one per byte (ONNX
///     Runtime would re-quantize a decompressed float weight of a QDQ layer to 8 bits); those of
///     weight-only layers are packed 2 or 4 to a byte and decompressed by standard ops
///     (core/algo/quant/weight_export.h);
///   - a quantized activation: QuantizeLinear → DequantizeLinear, uint8 (asymmetric) or int8
///     (symmetric) zero point; below 8 bits a Clip to the grid's range comes first, so the
///     8-bit QuantizeLinear reproduces the narrower grid exactly;
///   - the bias of a Conv or Gemm whose input and weight are both dequantized becomes int32
///     codes + DequantizeLinear at scale Mul(s_x, s_w) (what ORT fuses into QLinearConv; the
///     Mul is folded as a constant by ORT and by our lowering, and saves a third copy of it);
///   - a Relu or Clip right before a QuantizeLinear that saturates as tightly is dropped.
/// Graph outputs keep their float values.
///
/// Thread-safety: none; edits through the caller's Rewriter.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/ir/graph.h"
#include "core/rewrite/rewriter.h"
#include "core/util/status.h"

namespace wh::algo::quant {

/// The attributes of one FakeQuantize node.
struct FakeQuantSpec {
    int bits = 8;
    bool symmetric = false;
    bool isUnsigned = true;  ///< grid [0, 2^b - 1]; false: [-2^(b-1), 2^(b-1) - 1]
    bool narrowRange = false;
    int axis = -1;           ///< per-channel axis of the quantized tensor; -1 = per tensor
    bool learned = false;    ///< LSQ: scale (and zero point unless symmetric) are trained
    int observe = 0;         ///< 1 = the training forward observes the batch range (SimQAT)
    float emaDecay = 0.0f;   ///< with observe: EMA of the range (0 = the current batch's)
};

/// The usual specs: weights per channel symmetric on the signed grid; activations per tensor
/// asymmetric unsigned (or symmetric signed).
FakeQuantSpec weightSpec(int bits, int axis, bool narrowRange = false);
FakeQuantSpec activationSpec(int bits, bool symmetric);

/// Puts a FakeQuantize on `value`: every node reading it (not graph outputs) reads the
/// quantized value instead. `scale` and `zeroPoint` hold one element (per tensor) or one per
/// channel along spec.axis; `zeroPoint` may be empty (symmetric: no zero-point input unless
/// spec.observe needs one). Initializers "<value>_fq_scale" / "_fq_zero_point" (and
/// "_fq_min"/"_fq_max" when spec.emaDecay > 0). Returns the node.
Expected<ir::Node*> insertFakeQuantize(rewrite::Rewriter& rewriter, ir::Value& value,
                                       const FakeQuantSpec& spec, std::span<const float> scale,
                                       std::span<const float> zeroPoint);
/// The same, for one consumer only (`consumer` reads the quantized value at every input that
/// read `value`).
Expected<ir::Node*> insertFakeQuantizeFor(rewrite::Rewriter& rewriter, ir::Value& value,
                                          ir::Node& consumer, const FakeQuantSpec& spec,
                                          std::span<const float> scale,
                                          std::span<const float> zeroPoint);

/// True for a com.whittle FakeQuantize node.
bool isFakeQuantize(const ir::Node& node);
/// A FakeQuantize node's spec, from its attributes and its scale's length.
FakeQuantSpec specOf(const ir::Node& fakeQuantize);

/// The FakeQuantize reading `value` (the quantizer already on that tensor), or null. Lets
/// algorithms keep one quantizer per tensor.
ir::Node* fakeQuantizeOf(const ir::Value& value);

struct QdqOptions {
    bool int32Bias = true;
    /// Drop a Relu or Clip before a QuantizeLinear whose saturation already clips as tightly
    /// (exact: the quantized values do not change).
    bool dropRedundantActivations = true;
};

/// Replaces every FakeQuantize of `rewriter`'s graph by its deploy form (see the file
/// comment). The scale and zero point must be initializers by now (kBadInput naming the node
/// otherwise); a weight (an initializer X) is quantized to codes here. Returns the number of
/// FakeQuantize nodes converted.
Expected<int> fakeQuantizeToQdq(rewrite::Rewriter& rewriter, const QdqOptions& options = {});

/// Sets the model's opset imports for what the graph now uses: com.whittle 1 when a
/// FakeQuantize is left; the default domain raised to 13 (per-axis QuantizeLinear /
/// DequantizeLinear) when `needsOpset13`, through ensureOpset (weight_export.h), which refuses
/// (kUnsupported) when the graph has ops whose meaning changed before 13.
Status updateOpsetImports(ir::Model& model, bool needsOpset13);

}  // namespace wh::algo::quant
