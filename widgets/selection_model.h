#pragma once
/// SelectionModel: the set of selected nodes of one document, by NodeId. The document owns it;
/// views (GraphView) and compression algorithms read it, views edit it. A NodeId refers to a node
/// of the document's top-level graph or, once the view has expanded it, of an If/Loop body (ids
/// are unique across a model's subgraphs; Document::nodeInModel finds either).
///
/// Thread-safety: GUI thread only (a QObject with signals).

#include <optional>
#include <unordered_set>
#include <vector>

#include <QObject>

#include "core/ir/graph.h"

namespace wh::widgets {

class SelectionModel : public QObject {
    Q_OBJECT

public:
    explicit SelectionModel(QObject* parent = nullptr);

    bool contains(ir::NodeId id) const { return m_ids.count(id) != 0; }
    bool isEmpty() const { return m_ids.empty(); }
    std::size_t size() const { return m_ids.size(); }
    const std::unordered_set<ir::NodeId>& ids() const { return m_ids; }
    /// The selected ids in ascending order (deterministic for algorithms and tests).
    std::vector<ir::NodeId> sortedIds() const;
    /// The node last clicked or searched for, when it is still selected.
    std::optional<ir::NodeId> current() const;

    /// Replaces the selection with `id` (which becomes current).
    void selectOnly(ir::NodeId id);
    /// Replaces the selection with `ids`; `current` (if set) becomes current.
    void setSelection(const std::vector<ir::NodeId>& ids,
                      std::optional<ir::NodeId> current = std::nullopt);
    /// Adds `ids` to the selection.
    void add(const std::vector<ir::NodeId>& ids);
    /// Adds `id` if absent (it becomes current), removes it if present.
    void toggle(ir::NodeId id);
    void clear();

signals:
    /// Emitted once per edit that changed the set (or the current node).
    void changed();

private:
    std::unordered_set<ir::NodeId> m_ids;
    std::optional<ir::NodeId> m_current;
};

}  // namespace wh::widgets
