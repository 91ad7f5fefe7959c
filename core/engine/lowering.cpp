#include "core/engine/lowering.h"

#include <algorithm>

#include "core/engine/constant_node_folding.h"
#include "core/engine/qadd.h"
#include "core/engine/qconv.h"
#include "core/engine/qmatmul.h"
#include "core/engine/qpool.h"
#include "core/engine/transformer_lowering.h"
#include "core/rewrite/constant_arithmetic_folding.h"
#include "core/rewrite/constant_to_initializer.h"
#include "core/rewrite/conv_batch_norm_folding.h"
#include "core/rewrite/greedy_driver.h"
#include "core/rewrite/listener.h"
#include "core/rewrite/rewriter.h"

namespace wh::engine {

std::vector<ir::NodeId> Lowered::usersOf(ir::NodeId id) const {
    auto it = m_users.find(id);
    return it != m_users.end() ? it->second : std::vector<ir::NodeId>{id};
}

/// Collects the nodes one pattern application erased and inserted, then (flush) records which
/// user nodes the inserted ones compute.
class LoweringMap final : public rewrite::Listener {
public:
    explicit LoweringMap(Lowered& lowered) : m_lowered(lowered) {}

    void nodeInserted(ir::NodeId id) override { m_inserted.push_back(id); }
    void nodeErased(ir::NodeId id) override { m_erased.push_back(id); }

    void flush(ir::NodeId root) {
        auto users = [&](ir::NodeId id) {
            auto it = m_lowered.m_users.find(id);
            if (it == m_lowered.m_users.end()) return std::vector<ir::NodeId>{id};
            std::vector<ir::NodeId> u = std::move(it->second);
            m_lowered.m_users.erase(it);
            return u;
        };
        const bool rootErased = std::find(m_erased.begin(), m_erased.end(), root) != m_erased.end();
        // The root's users first: the replacement stands for the pattern's root.
        std::vector<ir::NodeId> all;
        if (rootErased) all = users(root);
        for (ir::NodeId e : m_erased)
            if (e != root)
                for (ir::NodeId u : users(e)) all.push_back(u);
        if (!m_inserted.empty()) {
            // A node inserted without replacing any stands for no user node (usersOf: itself).
            if (!all.empty()) m_lowered.m_users[m_inserted.front()] = std::move(all);
        } else if (!rootErased) {  // merged into the root, which a pattern edited in place
            std::vector<ir::NodeId> r = users(root);
            r.insert(r.end(), all.begin(), all.end());
            if (r.size() > 1) m_lowered.m_users[root] = std::move(r);
        } else {
            m_lowered.m_constant.insert(all.begin(), all.end());
        }
        m_inserted.clear();
        m_erased.clear();
    }

private:
    Lowered& m_lowered;
    std::vector<ir::NodeId> m_inserted, m_erased;
};

Expected<Lowered> lower(const ir::Model& model, const LoweringOptions& options) {
    Lowered lowered;
    lowered.model = model.clone();
    rewrite::PatternSet patterns;
    patterns.emplace<rewrite::ConstantToInitializer>();
    if (options.foldConstants) rewrite::addConstantArithmeticFolding(patterns);
    if (options.foldBatchNorm) patterns.emplace<rewrite::ConvBatchNormFolding>();
    if (options.quantizedOps) {
        // Constant chains exporters leave in QDQ models (a bias zero point as
        // Cast(ConstantOfShape), a shared scale through an Identity), evaluated so that the QDQ
        // patterns see constants.
        patterns.emplace<ConstantNodeFolding>("Identity");
        patterns.emplace<ConstantNodeFolding>("Cast");
        patterns.emplace<ConstantNodeFolding>("ConstantOfShape");
        patterns.emplace<QdqConvFusion>();
        patterns.emplace<QdqMatMulFusion>("MatMul");
        patterns.emplace<QdqMatMulFusion>("Gemm");
        patterns.emplace<QdqAddFusion>();
        patterns.emplace<QdqMaxPoolFusion>();
        patterns.emplace<QuantizeBeforeReshape>();
        patterns.emplace<SameTypeCastAfterQuantize>();
        patterns.emplace<QLinearConvLowering>();
    }
    if (options.transformerOps) {
        patterns.emplace<LayerNormFusion>();
        patterns.emplace<GeluFusion>();
    }
    if (options.patterns) options.patterns(patterns);
    rewrite::Rewriter rewriter(*lowered.model.graph);
    LoweringMap map(lowered);
    rewriter.addListener(&map);
    rewrite::GreedyOptions greedy;
    greedy.groupLabel = "Lower for the engine";
    greedy.afterEach = [&](const rewrite::PatternApplication& a) { map.flush(a.root); };
    rewrite::applyPatternsGreedily(rewriter, patterns, greedy);
    rewriter.removeListener(&map);
    return lowered;
}

}  // namespace wh::engine
