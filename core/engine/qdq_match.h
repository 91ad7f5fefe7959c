#pragma once
/// Shared matching and rewriting helpers of the QDQ lowering patterns (QdqConvFusion, qconv.h;
/// QdqAddFusion, qadd.h): what makes a quantizer per tensor and constant, the activation between
/// an operator and its QuantizeLinear, and the replacement of a group by one int8 node.
/// Internal to core/engine.

#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/ir/graph.h"
#include "core/rewrite/rewriter.h"
#include "core/util/status.h"

namespace wh::engine::qdq {

/// A constant the user does not feed (initializer or Constant output) with all its bytes;
/// else null.
const ir::Tensor* fixed(const ir::Value* v);
bool isScalar(const ir::Tensor& t);
/// The single node reading `v` (as input 0), if `v` has exactly one reader and is no graph
/// output.
const ir::Node* soleReader(const ir::Value* v);
/// `v`'s producer if it is an ONNX `opType` without blocked quantization; else null.
const ir::Node* producedBy(const ir::Value* v, std::string_view opType);
/// Why the scale and zero point of a per-tensor quantizer `n` (QuantizeLinear or
/// DequantizeLinear) do not qualify — not a constant float scalar scale > 0, not a constant
/// uint8/int8 scalar zero point — or "" if they do. `what` names the operand in the reason.
std::string perTensorProblem(const ir::Node& n, const char* what);

/// True when every byte of `t` is 0.
bool allZero(const ir::Tensor& t);
/// Why a DequantizeLinear `dq` of a rank-`rank` constant is neither per tensor nor per channel
/// along `channelAxis` (`channels` scales > 0) with all-zero zero points — the weights' and the
/// int32 bias's quantizers — or "" if it is. `what` names the operand in the reason.
std::string perChannelProblem(const ir::Node& dq, const char* what, int rank, int64_t channels,
                              int channelAxis = 0);

/// The two quantized operands of a QDQ layer `op` (`what` names it in reasons): input 0 from
/// a per-tensor DequantizeLinear (`dqx`), input 1 from a DequantizeLinear (`dqw`) of a rank-
/// `weightRank` int8 initializer (`w`). Returns why they do not qualify, or "".
std::string quantizedOperandsProblem(const ir::Node& op, const char* what, std::size_t weightRank,
                                     const ir::Node*& dqx, const ir::Node*& dqw,
                                     const ir::Tensor*& w);
/// Why `bias` (a layer's optional bias input, null when absent) is neither an int32 [channels]
/// constant through a DequantizeLinear per tensor or per channel (stored in `dqb`) nor a float
/// [channels] constant (`dqb` null), or "" if it is one of them.
std::string biasProblem(const ir::Value* bias, int64_t channels, const ir::Node*& dqb);
/// Adds the float bias the DequantizeLinear `dqb` computes (int32 codes times scale) as a new
/// initializer named after `base`; returns its name.
Expected<std::string> addDequantizedBias(rewrite::Rewriter& rewriter, const ir::Node& dqb,
                                         const std::string& base);

/// The activation between an operator and its QuantizeLinear: Relu, or Clip with constant
/// bounds.
struct Activation {
    const ir::Node* node = nullptr;  ///< null: none
    float min = -std::numeric_limits<float>::infinity();
    float max = std::numeric_limits<float>::infinity();
};

/// If `next` is a Relu or a Clip, records it in `act`; returns why a Clip does not qualify
/// (bounds not constant float scalars), else "".
std::string readActivation(const ir::Node& next, Activation& act);
/// The tail of a QDQ group after its operator `op` (named `what` in reasons): op's output read
/// only by [an activation (recorded in `act`), read only by] a per-tensor QuantizeLinear
/// (stored in `q`). Returns why the tail does not qualify, or "".
std::string readQuantizedTail(const ir::Node& op, const char* what, Activation& act,
                              const ir::Node*& q);
/// The int8 node's attributes for `act`: activation ("Relu" or "Clip"), activation_min and
/// activation_max (Clip).
void addActivationAttributes(const Activation& act, std::vector<ir::Attribute>& attributes);

/// Replaces the group's nodes `old` (the root first: the new node stands where it stood) by
/// `spec`, then erases each of `dequantizers` (null entries skipped) that only the group read,
/// and the initializers among `maybeDead` and the erased nodes' inputs nothing reads any more.
Status replaceGroup(rewrite::Rewriter& rewriter, std::vector<ir::Node*> old,
                    rewrite::NewNode spec, std::vector<const ir::Node*> dequantizers,
                    std::vector<ir::Value*> maybeDead);

}  // namespace wh::engine::qdq
