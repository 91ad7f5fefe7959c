#pragma once
/// Model cost: multiply-accumulate FLOPs and parameters, from the shapes an engine::Plan infers
/// at compile time. What `whittle-cli compress` reports before and after, and what the
/// Summary will compare.
///
/// FLOPs count 2 per multiply-accumulate of Conv, ConvTranspose, Gemm and MatMul (the ops that
/// dominate every CNN and transformer) and of the gate products of LSTM, GRU and RNN (per step,
/// batch row and direction); other ops count their output elements once.
/// Parameters: the elements of the constant inputs of every compute node, where a constant is
/// an initializer or anything the plan folds at compile time — so a dequantized int8 weight
/// counts as many parameters as the float weight it replaced, and the scales and zero points
/// of QuantizeLinear / DequantizeLinear count nothing.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/engine/host_tensor.h"
#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::analysis {

struct NodeCost {
    ir::NodeId node = 0;
    std::string name;
    std::string op;
    int64_t flops = 0;
    int64_t params = 0;
};

struct ModelCost {
    int64_t flops = 0;
    int64_t params = 0;
    std::vector<NodeCost> nodes;  ///< nodes with a cost, in graph order
};

/// The cost of one inference at `batch` (symbolic batch dims), other symbolic dims from
/// `inputShapes`. Errors as engine::Plan::compile.
Expected<ModelCost> modelCost(const ir::Model& model, int64_t batch = 1,
                              const std::map<std::string, engine::Dims>& inputShapes = {},
                              int threads = 1);

}  // namespace wh::analysis
