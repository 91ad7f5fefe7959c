#pragma once
/// Listener: what a rewrite::Rewriter tells observers (GUI highlighting, the undo stack view, the
/// transform log) about every change it makes. Events are fired for each primitive change as it
/// happens, including the inverse changes made by undo, redo and rollback of a failed edit; no one
/// ever diffs graphs to find out what changed.
///
/// Values are named by their name *at the time of the event* (a later rename fires valueRenamed).
/// Callbacks run synchronously on the thread that edits; they must not edit the graph themselves.

#include <string>

#include "core/ir/graph.h"

namespace wh::rewrite {

struct Step;

/// Receives change notifications. Every callback defaults to a no-op: override what you need.
class Listener {
public:
    virtual ~Listener() = default;

    /// A node was added to the graph (a new node, or an erased one brought back by undo).
    virtual void nodeInserted(ir::NodeId id) { (void)id; }
    /// A node was removed; its NodeId may come back through undo.
    virtual void nodeErased(ir::NodeId id) { (void)id; }
    /// A node's inputs, outputs, attributes or fields (name, opType, domain, docString) changed.
    virtual void nodeChanged(ir::NodeId id) { (void)id; }
    /// A node changed its position in graph order.
    virtual void nodeMoved(ir::NodeId id) { (void)id; }

    /// A value was created.
    virtual void valueAdded(const std::string& name) { (void)name; }
    /// A value was removed.
    virtual void valueErased(const std::string& name) { (void)name; }
    /// A value got a new name.
    virtual void valueRenamed(const std::string& oldName, const std::string& newName) {
        (void)oldName;
        (void)newName;
    }
    /// A value's type, docString, presence or value_info membership changed.
    virtual void valueChanged(const std::string& name) { (void)name; }
    /// A value's dense initializer was added, replaced or removed.
    virtual void initializerChanged(const std::string& name) { (void)name; }
    /// The graph input or output list changed.
    virtual void graphIoChanged() {}

    /// A user-visible step was recorded in the edit log (after its primitive events).
    virtual void stepCommitted(const Step& step) { (void)step; }
    /// A step was undone (after its inverse primitive events).
    virtual void stepUndone(const Step& step) { (void)step; }
    /// A step was redone (after its primitive events).
    virtual void stepRedone(const Step& step) { (void)step; }
};

}  // namespace wh::rewrite
