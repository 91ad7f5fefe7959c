#include "widgets/selection_model.h"

#include <algorithm>

namespace wh::widgets {

SelectionModel::SelectionModel(QObject* parent) : QObject(parent) {}

std::vector<ir::NodeId> SelectionModel::sortedIds() const {
    std::vector<ir::NodeId> out(m_ids.begin(), m_ids.end());
    std::sort(out.begin(), out.end());
    return out;
}

std::optional<ir::NodeId> SelectionModel::current() const {
    if (m_current && contains(*m_current)) return m_current;
    return std::nullopt;
}

void SelectionModel::selectOnly(ir::NodeId id) {
    if (m_ids.size() == 1 && contains(id) && m_current == id) return;
    m_ids.clear();
    m_ids.insert(id);
    m_current = id;
    emit changed();
}

void SelectionModel::setSelection(const std::vector<ir::NodeId>& ids,
                                  std::optional<ir::NodeId> current) {
    std::unordered_set<ir::NodeId> next(ids.begin(), ids.end());
    if (next == m_ids && (!current || current == m_current)) return;
    m_ids = std::move(next);
    if (current) m_current = current;
    emit changed();
}

void SelectionModel::add(const std::vector<ir::NodeId>& ids) {
    bool grew = false;
    for (ir::NodeId id : ids) grew = m_ids.insert(id).second || grew;
    if (grew) emit changed();
}

void SelectionModel::toggle(ir::NodeId id) {
    if (m_ids.erase(id) == 0) {
        m_ids.insert(id);
        m_current = id;
    }
    emit changed();
}

void SelectionModel::clear() {
    if (m_ids.empty()) return;
    m_ids.clear();
    emit changed();
}

}  // namespace wh::widgets
