#pragma once
/// Subgraph extraction: a new model that computes some tensors of a model from others, as
/// onnx.utils.extract_model does. Not an edit: the source model is left as it is, and the result
/// is a model of its own (to save, or to open in a new document).
///
/// extractModel(model, inputs, outputs) keeps the nodes needed to compute `outputs`, walking
/// back from them and stopping at the given `inputs` and at initializers, in the source's node
/// order, with the initializers they read (tensor data shared with the source). Graph inputs are
/// `inputs` in that order with their declared types (unknown when the source declares none; a
/// given input that was an initializer becomes a real input typed after its data); graph outputs
/// are `outputs` in order. A tensor that subgraphs of kept nodes read by name counts as read.
/// The ir_version, opset imports, producer, domain, model version, doc string, metadata and local
/// functions of the source are kept; value_info entries of tensors that remain are kept, and
/// quantization annotations of tensors that remain.
///
/// Errors (kUsage, naming the tensor): a name the model does not have, a name listed twice, no
/// outputs, a tensor the kept nodes need that is neither a given input, an initializer nor
/// computable from them (a model input not among `inputs`), a given input computed by a node the
/// outputs need (another output of a multi-output node).
///
/// extractSelection(model, nodes) extracts what a selection of main-graph nodes computes: its
/// inputs are the tensors the selection reads and does not produce that are not constants
/// (initializers and outputs of Constant nodes, which come along), in the order the selection
/// (in graph order) first reads them; its outputs the tensors it produces that are read outside
/// it (by a node, a subgraph or as model outputs), in graph order, or, when there are none,
/// every output of the last selected node. kUsage naming the id for a node the model lacks.
///
/// Thread-safety: reads `model` only; safe on a snapshot from any thread.

#include <memory>
#include <string>
#include <vector>

#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::rewrite {

Expected<std::unique_ptr<ir::Model>> extractModel(const ir::Model& model,
                                                  const std::vector<std::string>& inputs,
                                                  const std::vector<std::string>& outputs);

Expected<std::unique_ptr<ir::Model>> extractSelection(const ir::Model& model,
                                                      const std::vector<ir::NodeId>& nodes);

}  // namespace wh::rewrite
