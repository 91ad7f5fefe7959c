#pragma once
/// EditOp: one primitive, exactly reversible graph change, as recorded in a Step of the EditLog.
///
/// Each record holds everything needed to apply it *and* to revert it, so a step can be undone and
/// redone any number of times. Nodes are referred to by NodeId (undo restores ids) and values by
/// their name at the moment the op runs: ops are always replayed in the recorded order (forward
/// for redo, backward for undo), so the graph is then in exactly the state it was in when the op
/// was recorded and every name resolves to the same value. Holding no pointers is also what lets
/// Rewriter::replay() apply a step recorded on another graph (a job's clone of the document).
///
/// These records are an implementation detail of rewrite::Rewriter, public only so the edit log
/// can hold them and tools can count them; build them through the Rewriter, not by hand.

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/ir/graph.h"

namespace wh::rewrite {

/// An optional value reference: nullopt = omitted input/output (a null Value*).
using ValueRef = std::optional<std::string>;

/// The Value fields a ValueInfoProto carries, plus the capture flag.
struct ValueMeta {
    ir::Type type;
    std::string docString;
    ir::Presence presence;
    bool isCapture = false;
};

/// Creates (forward) or erases (add = false) a value with no producer, uses or list membership.
struct ValueLifeOp {
    bool add = true;
    std::string name;
    ValueMeta meta;
};

/// Everything about a node, enough to rebuild it with the same id at the same place.
struct NodeState {
    ir::NodeId id = 0;
    std::string opType;
    std::string domain;
    std::string name;
    std::string docString;
    ir::Presence presence;
    std::vector<ir::Attribute> attributes;
    std::vector<ValueRef> inputs;
    std::vector<ValueRef> outputs;
    ir::NodeId before = 0;  ///< the node it is placed in front of; 0 = at the end

    NodeState() = default;
    NodeState(NodeState&&) noexcept = default;
    NodeState& operator=(NodeState&&) noexcept = default;
};

/// Adds (forward) or erases (add = false) a node.
struct NodeLifeOp {
    bool add = true;
    NodeState state;
};

/// Replaces a node's whole input (or output) list.
struct NodeWiringOp {
    ir::NodeId node = 0;
    bool outputs = false;
    std::vector<ValueRef> before;
    std::vector<ValueRef> after;
};

/// The plain fields of a node.
struct NodeFields {
    std::string name;
    std::string opType;
    std::string domain;
    std::string docString;
};

/// Changes a node's plain fields.
struct NodeFieldsOp {
    ir::NodeId node = 0;
    NodeFields before;
    NodeFields after;
};

/// Inserts (before = nullopt), erases (after = nullopt) or replaces attribute `index` of a node.
struct AttributeOp {
    ir::NodeId node = 0;
    int index = 0;
    std::optional<ir::Attribute> before;
    std::optional<ir::Attribute> after;
};

/// Moves a node in graph order (0 = the end).
struct MoveNodeOp {
    ir::NodeId node = 0;
    ir::NodeId beforeOld = 0;
    ir::NodeId beforeNew = 0;
};

/// Renames a value.
struct RenameValueOp {
    std::string oldName;
    std::string newName;
};

/// Changes a value's ValueInfo fields.
struct ValueMetaOp {
    std::string name;
    ValueMeta before;
    ValueMeta after;
};

/// Which ordered list of the graph a ListOp edits.
enum class GraphList { kInputs, kOutputs, kValueInfo };

/// Inserts (forward) or erases (insert = false) `name` at `position` of a graph list.
struct ListOp {
    GraphList list = GraphList::kInputs;
    bool insert = true;
    int position = 0;
    std::string name;
};

/// Adds, replaces or removes a dense initializer. `position` is its index in the initializer list
/// while it exists (only used when one side is nullopt).
struct InitializerOp {
    std::string name;
    std::optional<ir::Tensor> before;
    std::optional<ir::Tensor> after;
    int position = -1;
};

/// One primitive, reversible change.
using EditOp = std::variant<ValueLifeOp, NodeLifeOp, NodeWiringOp, NodeFieldsOp, AttributeOp,
                            MoveNodeOp, RenameValueOp, ValueMetaOp, ListOp, InitializerOp>;

}  // namespace wh::rewrite
