#pragma once
/// Named user edits: what the studio's mouse and keyboard do to a model, each a Rewriter group,
/// described by an op name and JSON arguments that name nodes and tensors (never pointers), so a
/// sequence of them is an edit script that `whittle-cli edit MODEL --script EDITS.json -o OUT`
/// replays headless, to the same bytes the studio saves.
///
/// Ops and their arguments (a node is {"node": NAME} when its name is unique and not empty,
/// else {"node_id": ID}: ids are deterministic for a given file and edit sequence; a dims list is
/// [int >= 0 | "symbol" | null (unknown), ...]; a dtype is named as ir::dtypeName() spells it,
/// "float32"/"float64" accepted too):
///   delete_node      node             bypassed (consumers rewired to its one data input) when
///                                     possible, else erased (its outputs must be unused); the
///                                     weights only it read go too
///   delete_nodes     nodes: [node..]  one step for the whole selection (one node: delete_node).
///                                     Outputs read by nothing outside go with it, and the
///                                     weights (initializers, Constant nodes) only it read. When
///                                     a node outside, a model output or a subgraph reads an
///                                     output, the selection must have one entering data tensor
///                                     and one tensor read outside (a chain): those readers read
///                                     the entering tensor instead (a model output keeps its
///                                     name and type: the entering tensor takes them, so it must
///                                     have a producer and be no model input/output). Otherwise
///                                     refused naming the outside reader and the tensor
///   rename_node      node, name       names stay unique (empty = unnamed)
///   insert_identity  node             an Identity on output 0, before all of its readers
///   add_node         op_type, domain?, name?, inputs?, outputs? | num_outputs?, attributes?,
///                    edge?            a new node. name: made unique among node names (name,
///                                     name_1, ...; default the op type). inputs: tensor names,
///                                     "" = omitted. outputs: names that must be free; "", null
///                                     or missing entries (num_outputs, default 1) become
///                                     "<node name>_out<i>" made unique: names are a function of
///                                     graph and arguments, so a replay gives the same ones.
///                                     attributes: [{"name", "type", "value"}] as set_attribute.
///                                     Placed right after the last producer of its inputs, else
///                                     at the end. edge: {"tensor", "consumer"?: node}: the node
///                                     reads the tensor as input 0 and the consumer (or every
///                                     reader; model outputs keep the tensor) reads its output 0
///                                     (Rewriter::insertOnEdge places it)
///   set_attribute    node, attribute  {"name", "type": int|float|string|ints|floats|strings,
///                                     "value"}
///   set_input        node, index,     input `index` reads the tensor ("" = disconnect); index
///                    tensor           == the input count appends (variadic ops), larger is
///                                     refused. Refused when the tensor is computed by the node or
///                                     by a node that depends on it (a cycle). When the tensor's
///                                     producer comes later in node order, the node and its
///                                     dependents before that producer move right after it, in
///                                     their order. Disconnecting the last input removes
///                                     it (ONNX style; omitted inputs before it stay, so the same
///                                     index can be connected again). The tensor no longer read
///                                     stays (see cleanup)
///   rename_tensor    tensor, name     every reference follows (a graph input/output too)
///   add_output       tensor [dtype, dims] makes the tensor a model output; dtype/dims declare
///                                     its type when it has none
///   remove_output    tensor           drops it from the model outputs
///   add_input        name, dtype,     a new model input (last) of that type; the name must be
///                    dims?            free; no dims = unknown rank
///   remove_input     tensor           a model input nothing reads (else refused naming the
///                                     reader), not a model output; its default initializer and
///                                     the tensor go too
///   set_input_shape  tensor, dims,    the declared type of a model input without initializer
///                    dtype?           (dtype kept when not given). Also removes every value_info
///                                     entry of the graph and the declared types of the tensors
///                                     they listed (stale now: shape inference gives them again);
///                                     model outputs keep their declared types
///   set_batch_size   size             dim 0 of every model input with a declared shape of rank
///                                     >= 1 and no initializer := size (int > 0 or a symbol);
///                                     value_info dropped as set_input_shape does
///   set_initializer  tensor, one of:  an initializer's data: "fill": number (every element; dtype
///                    fill|npy|dtype   and dims kept; integer/bool types need a value that fits),
///                                     "npy": a .npy file (data::readNpy: dtype and dims may
///                                     change), "dtype": a cast between float types (float,
///                                     float16, double, bfloat16) or between integer types
///                                     (refused naming the tensor when an element does not fit).
///                                     fill and dtype refuse external-data and string tensors. A
///                                     declared tensor type of the value follows the new data
///   cleanup          -                erases nodes whose outputs nothing reads (repeatedly),
///                                     then initializers nothing reads
///   dedupe_initializers -             initializers with equal dtype, dims and bytes become one
///                                     (the first); graph inputs and outputs are left alone
///
/// A script file: {"format": "whittle-edit-script", "version": 1, "edits": [{"op": ...,
/// ...arguments}, ...]}.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ir/graph.h"
#include "core/rewrite/rewriter.h"
#include "core/util/status.h"

namespace wh::rewrite {

struct Edit {
    std::string op;
    nlohmann::json args = nlohmann::json::object();
};

/// What applying an edit did.
struct EditResult {
    std::string label;                  ///< "Delete Conv 'conv1'": the undo step's text
    std::optional<ir::NodeId> created;  ///< insert_identity, add_node: the new node
    /// What an edit of many changes did, for a status line ("Folded 12 nodes into 3
    /// initializers; left 1: ..."); "" for the others.
    std::string summary;
};

/// Applies `edit` through `rewriter` as one group (nested inside an open one). kUsage naming the
/// op and the node or tensor when an argument is wrong or the edit cannot be done; on error the
/// graph is unchanged.
Expected<EditResult> applyEdit(Rewriter& rewriter, const Edit& edit);

/// An edit resolved against a graph: the label applyEdit() gives it, and what applying it does
/// (it holds the graph's nodes and values: apply before the graph changes). For a caller that
/// opens the group itself (the studio's undo step); applyEdit() is prepare + apply in a group.
struct PreparedEdit {
    std::string label;
    std::function<Status(Rewriter&, EditResult&)> apply;
};
/// Resolves `edit` against `graph` without changing it; the errors applyEdit() gives.
Expected<PreparedEdit> prepareEdit(ir::Graph& graph, const Edit& edit);

// The edits, as the studio records them.
Edit deleteNodeEdit(const ir::Graph& graph, const ir::Node& node);
Edit renameNodeEdit(const ir::Graph& graph, const ir::Node& node, const std::string& name);
Edit insertIdentityEdit(const ir::Graph& graph, const ir::Node& node);
/// kUsage for tensor, graph and other attribute types a script cannot hold.
Expected<Edit> setAttributeEdit(const ir::Graph& graph, const ir::Node& node,
                                const ir::Attribute& attribute);
Edit renameTensorEdit(const std::string& tensor, const std::string& name);
/// `type` (may be null): the type to declare when the tensor has none (a model output needs
/// one), e.g. the inferred one; recorded as "dtype" and "dims".
Edit addOutputEdit(const std::string& tensor, const ir::Type* type = nullptr);
Edit removeOutputEdit(const std::string& tensor);
Edit cleanupEdit();
Edit dedupeInitializersEdit();
/// fold_constants, with the model's default-domain opset (it gives the operators' meaning).
Edit foldConstantsEdit(int64_t opset);
/// add_node with `numOutputs` outputs named "<node>_out<i>"; `name` "" = named after the op
/// type. Tensor, graph and type attributes cannot be recorded: the edit is then refused when
/// prepared.
Edit addNodeEdit(const std::string& opType, const std::string& domain, const std::string& name,
                 const std::vector<std::string>& inputs, int numOutputs,
                 const std::vector<ir::Attribute>& attributes);
/// add_node on the edge `tensor` -> `consumer` (null = every reader); one output, the node's
/// other inputs unconnected.
Edit addNodeOnEdgeEdit(const ir::Graph& graph, const std::string& opType, const std::string& domain,
                       const std::string& tensor, const ir::Node* consumer,
                       const std::vector<ir::Attribute>& attributes);
/// set_input; `tensor` "" disconnects.
Edit setInputEdit(const ir::Graph& graph, const ir::Node& node, int index,
                  const std::string& tensor);
Edit addInputEdit(const std::string& name, ir::DType dtype, const std::vector<ir::Dim>& dims);
Edit removeInputEdit(const std::string& tensor);
/// set_input_shape keeping the input's element type.
Edit setInputShapeEdit(const std::string& tensor, const std::vector<ir::Dim>& dims);
/// `size`: an integer > 0 or a symbol (string).
Edit setBatchSizeEdit(const nlohmann::json& size);
Edit fillInitializerEdit(const std::string& tensor, double value);
Edit initializerFromNpyEdit(const std::string& tensor, const std::string& npyPath);
Edit castInitializerEdit(const std::string& tensor, ir::DType dtype);
Edit deleteNodesEdit(const ir::Graph& graph, const std::vector<const ir::Node*>& nodes);

/// The weights named in `constants` that nothing reads any more: initializers go, Constant
/// nodes are erased. Graph inputs and outputs and values read inside subgraphs stay.
Status dropDeadConstants(Rewriter& rewriter, const std::vector<std::string>& constants);

/// A script's JSON, and back (kBadInput naming the edit that is malformed).
nlohmann::json scriptToJson(const std::vector<Edit>& edits);
Expected<std::vector<Edit>> scriptFromJson(const nlohmann::json& json);

}  // namespace wh::rewrite
