#pragma once
/// EditLog: the ordered list of user-visible steps a Rewriter has recorded, with a cursor that
/// separates done steps from undone (redoable) ones. A GUI undo stack and the transform log read
/// it; only the Rewriter writes it.

#include <cstddef>
#include <string>
#include <vector>

#include "core/rewrite/edit_op.h"

namespace wh::rewrite {

/// One undo step: one user action (a single edit, or a group such as "apply patterns").
struct Step {
    /// Human-readable, e.g. "Erase Identity 'id3' (consumers read 'x')" or a group's label.
    std::string description;
    /// For a group: one line per edit made inside it, in order. Empty for a single edit.
    std::vector<std::string> details;
    /// The primitive changes, in the order they were applied.
    std::vector<EditOp> ops;
};

/// Steps in order; steps [0, undoCount()) are done, the rest were undone and can be redone.
/// Recording a new step drops the redoable ones.
class EditLog {
public:
    /// All steps, done and undone.
    const std::vector<Step>& steps() const { return m_steps; }
    std::size_t size() const { return m_steps.size(); }
    /// Number of done steps (the cursor).
    std::size_t undoCount() const { return m_cursor; }
    std::size_t redoCount() const { return m_steps.size() - m_cursor; }
    bool canUndo() const { return m_cursor > 0; }
    bool canRedo() const { return m_cursor < m_steps.size(); }
    /// The step undo() would revert; null if none.
    const Step* nextUndo() const { return canUndo() ? &m_steps[m_cursor - 1] : nullptr; }
    /// The step redo() would reapply; null if none.
    const Step* nextRedo() const { return canRedo() ? &m_steps[m_cursor] : nullptr; }
    /// Descriptions of the done steps, oldest first.
    std::vector<std::string> descriptions() const;

private:
    friend class Rewriter;
    std::vector<Step> m_steps;
    std::size_t m_cursor = 0;
};

}  // namespace wh::rewrite
