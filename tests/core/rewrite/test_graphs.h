#pragma once
/// Realistic graphs built in code for the rewrite tests (until real models are everywhere).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/ir/graph.h"

namespace wh::test {

/// A small ResNet-like classifier: stem Conv/BatchNormalization/Relu, `blocks` residual blocks
/// (Conv/BN/Relu/Conv/BN/Add/Relu), a Constant shape, an Identity, GlobalAveragePool, Reshape, a
/// Dropout (opset-12 form with ratio initializer and unused mask), Gemm, and an Identity feeding
/// the graph output "logits". Float32 initializers with seeded values, value_info entries with
/// types, node names. `channels` output channels per Conv.
std::unique_ptr<ir::Graph> makeResNetLike(int blocks = 2, int channels = 4, uint32_t seed = 1);

/// Builder helpers.
ir::Value* addInitializer(ir::Graph& g, const std::string& name, std::vector<int64_t> dims,
                          std::vector<float> values);
ir::Value* value(ir::Graph& g, const std::string& name);
ir::Node* addNode(ir::Graph& g, const std::string& opType, const std::string& name,
                  const std::vector<std::string>& inputs, const std::vector<std::string>& outputs);
/// Node count per op type.
int countOps(const ir::Graph& g, const std::string& opType);

}  // namespace wh::test
