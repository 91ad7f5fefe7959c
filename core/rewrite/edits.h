#pragma once
/// Named user edits: what the studio's mouse and keyboard do to a model, each a Rewriter group,
/// described by an op name and JSON arguments that name nodes and tensors (never pointers), so a
/// sequence of them is an edit script that `whittle-cli edit MODEL --script EDITS.json -o OUT`
/// replays headless, to the same bytes the studio saves.
///
/// Ops and their arguments (a node is {"node": NAME} when its name is unique and not empty,
/// else {"node_id": ID}: ids are deterministic for a given file and edit sequence):
///   delete_node      node             bypassed (consumers rewired to its one data input) when
///                                     possible, else erased (its outputs must be unused); the
///                                     weights only it read go too
///   rename_node      node, name       names stay unique (empty = unnamed)
///   insert_identity  node             an Identity on output 0, before all of its readers
///   set_attribute    node, attribute  {"name", "type": int|float|string|ints|floats|strings,
///                                     "value"}
///   rename_tensor    tensor, name     every reference follows (a graph input/output too)
///   add_output       tensor           makes the tensor a model output
///   remove_output    tensor           drops it from the model outputs
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
    std::optional<ir::NodeId> created;  ///< insert_identity: the new node
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
Edit addOutputEdit(const std::string& tensor);
Edit removeOutputEdit(const std::string& tensor);
Edit cleanupEdit();
Edit dedupeInitializersEdit();

/// A script's JSON, and back (kBadInput naming the edit that is malformed).
nlohmann::json scriptToJson(const std::vector<Edit>& edits);
Expected<std::vector<Edit>> scriptFromJson(const nlohmann::json& json);

}  // namespace wh::rewrite
