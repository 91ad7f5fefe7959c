#pragma once
/// Writing a QuantizedWeight into an ONNX graph in forms that ONNX Runtime and the onnx 1.12
/// checker (max opset 17, so no int4 tensors and no blocked DequantizeLinear) accept.
///
/// Two forms:
///  - kDequantizeLinear (8-bit per row or per tensor): an int8 (signed grid) or uint8 (unsigned)
///    initializer "<w>_q8" in the ONNX layout, then DequantizeLinear (opset 13) with scale
///    "<w>_scale" float [rows] and zero point "<w>_zero_point" [rows] of the code type (left out
///    when every zero point is 0: an absent one is 0 of the codes' type), `axis` =
///    the output-channel axis of the ONNX tensor (0 when not transposed: Conv, Gemm transB = 1;
///    1 when transposed: MatMul, Gemm transB = 0). When every row has the same scale and zero
///    point, both are scalars and there is no `axis` (per tensor). ONNX Runtime's QDQ fusions
///    recognise this form.
///  - kPacked (any bits, per row or per group): a decompression subgraph of opset-13 ops that
///    ONNX Runtime (and our Plan) constant-fold at load. The codes, matrix-view row-major, are
///    stored packed in the uint8 initializer "<w>_q<bits>" [bytes, 1] at `storageBits` per code:
///    bits 1-2 as 2 (four per byte, lowest bits first), 3-4 as 4 (two per byte, low nibble
///    first), 5-8 as 8 (one per byte); the last byte is zero-padded. Signed codes are stored
///    offset by +2^(bits-1) as unsigned, and so is the zero point. The subgraph:
///        field j = Mod(BitShift(P, s*j, RIGHT), 2^s)   (j < 8/s; no shift for j = 0, no Mod
///                  for the top field; the shift amounts and moduli are uint8 scalars
///                  "uint8_<k>" shared by all weights)
///        codes   = Concat(field 0..8/s-1, axis 1)    ([bytes, 8/s]: the codes in order)
///        x       = Cast<float>(codes) [-> Reshape [-1] -> Slice to rows*cols when the last
///                  byte is padded], then
///          one group per row, not transposed:
///                  -> Reshape to the ONNX dims; w = (x - zero_point) * "<w>_scale" with scale
///                  (and a per-row zero point) [rows, 1, ...] broadcasting over the row
///          otherwise:
///                  [-> Reshape [rows, cols] -> Pad cols to groups*groupSize when groups do
///                  not divide cols] -> Reshape [rows, groups, groupSize];
///                  w = (x - zero_point) * "<w>_scale", both float [rows, groups, 1]
///                  [-> Reshape [rows, groups*groupSize] -> Slice cols -> Transpose
///                  (transposed)] -> Reshape to the ONNX dims
///    A zero point equal for every group (the +2^(bits-1) offset of symmetric grids) is a float
///    scalar "float_<z>" shared by all weights; else "<w>_zero_point". A single group per row is
///    exactly cols wide (groupSize 0, or at least cols). Steps that would do nothing are left
///    out (the Sub when every zero point is 0, ...), so a symmetric 4-bit weight with one group
///    per row takes 7 nodes. Any cols work: padding happens after unpacking, so the
///    initializer holds exactly packedBytes() bytes.
///
/// Every new value and node is named after the weight ("<w>_q4", "<w>_scale", "<w>_dequant",
/// ...), made unique in the graph. The new nodes are placed at the front of the graph (they read
/// only initializers).

#include <cstddef>
#include <cstdint>

#include "core/algo/quant/quantized_weight.h"
#include "core/ir/graph.h"
#include "core/rewrite/rewriter.h"
#include "core/util/status.h"

namespace wh::algo::quant {

/// How writeQuantizedWeight() stores a weight.
enum class WeightFormat {
    kAuto,              ///< kDequantizeLinear for 8 bits per row, kPacked otherwise
    kDequantizeLinear,  ///< one code per byte + DequantizeLinear; bits <= 8, per row only
    kPacked,            ///< packed uint8 codes + decompression subgraph; any bits, groups
};

/// The bits per code in the packed form: 2 for bits 1-2, 4 for 3-4, 8 for 5-8.
int storageBits(int bits);

/// The bytes the codes take at storageBits(q.bits): ceil(rows * cols * storageBits / 8). This is
/// the byte size of the code initializer writeQuantizedWeight() makes (in both forms at 8 bits).
std::size_t packedBytes(const QuantizedWeight& q);

/// Replaces the float initializer `weight` by `q` stored in `format`, as one undo step (one
/// ScopedGroup, "Quantize weight '<w>' to <bits> bits"): every node that read `weight` reads the
/// returned value (the dequantized float tensor, same dims) instead, and the float initializer
/// and its value are removed (kept only if `weight` is also a graph output, which then keeps
/// reading the float tensor).
///
/// Fails, changing nothing, when: `weight` has no float32 initializer or is a graph input (an
/// overridable default); a subgraph reads it; q's dims differ from the initializer's or q is
/// inconsistent (rows * cols, codes, scales, zero points sizes; transposed needs 2-D dims
/// [cols, rows], otherwise dims[0] == rows; codes outside the `bits` grid; bits outside 1..8);
/// kDequantizeLinear is asked for with groups or a zero point outside the code type.
///
/// The model's default-domain opset must be >= 13 (DequantizeLinear's `axis`; the packed
/// subgraph alone needs 11: BitShift, Pad and Slice with their parameters as inputs). This
/// function only sees the graph, so it does not check: call ensureOpset(model, 13) first (the
/// Rewriter cannot edit opset imports).
Expected<ir::Value*> writeQuantizedWeight(rewrite::Rewriter& rewriter, ir::Value& weight,
                                          const QuantizedWeight& q,
                                          WeightFormat format = WeightFormat::kAuto);

/// Makes the model import the default ONNX domain at version >= `minVersion`: adds the import if
/// missing; raises a lower version only when no node (in any graph of the model) is an operator
/// whose inputs or attributes changed meaning between the two versions in a way Whittle knows
/// (e.g. Squeeze/Unsqueeze/Split/ReduceSum at 13, Clip/Pad/Resize at 11, Slice/TopK at 10;
/// models below opset 7 are refused outright: legacy broadcasting). Then it fails with
/// kUnsupported naming those nodes, and changes nothing. Opset imports live outside the graph,
/// so this is not an undoable Rewriter edit.
Status ensureOpset(ir::Model& model, int64_t minVersion);

}  // namespace wh::algo::quant
