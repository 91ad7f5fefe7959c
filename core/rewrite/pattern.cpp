#include "core/rewrite/pattern.h"

#include <algorithm>

namespace wh::rewrite {

Pattern& PatternSet::add(std::unique_ptr<Pattern> pattern) {
    WH_ASSERT(pattern);
    const Pattern* p = pattern.get();
    m_patterns.push_back(std::move(pattern));
    auto it = std::find_if(m_byRoot.begin(), m_byRoot.end(),
                           [&](const auto& e) { return e.first == p->rootOpType(); });
    if (it == m_byRoot.end()) {
        m_byRoot.emplace_back(p->rootOpType(), std::vector<const Pattern*>{});
        it = std::prev(m_byRoot.end());
    }
    auto& list = it->second;
    // Insert after every pattern of greater or equal benefit: stable, highest first.
    auto where = std::find_if(list.begin(), list.end(),
                              [&](const Pattern* q) { return q->benefit() < p->benefit(); });
    list.insert(where, p);
    return *m_patterns.back();
}

std::vector<const Pattern*> PatternSet::patterns() const {
    std::vector<const Pattern*> out;
    for (const auto& p : m_patterns) out.push_back(p.get());
    return out;
}

const std::vector<const Pattern*>& PatternSet::patternsFor(std::string_view opType) const {
    static const std::vector<const Pattern*> kNone;
    for (const auto& [root, list] : m_byRoot)
        if (root == opType) return list;
    return kNone;
}

const Pattern* PatternSet::find(std::string_view name) const {
    for (const auto& p : m_patterns)
        if (p->name() == name) return p.get();
    return nullptr;
}

}  // namespace wh::rewrite
