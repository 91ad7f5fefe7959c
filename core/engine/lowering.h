#pragma once
/// Lowering: the first stage of compiling a Plan or a TrainingPlan. The user's model is cloned
/// and a pattern set is applied to the clone through the Rewriter — Constant nodes become
/// initializers (rewrite::ConstantToInitializer); for inference, arithmetic on constants is
/// folded (rewrite::ConstantArithmeticFolding), a BatchNormalization after a
/// Conv is folded into it (rewrite::ConvBatchNormFolding) and QDQ groups become int8 operators
/// (QdqConvFusion, qconv.h; QdqMatMulFusion, qmatmul.h; QdqAddFusion, qadd.h); later stages add theirs through
/// LoweringOptions::patterns. The plans then compile the lowered graph.
///
/// The lowered graph keeps the NodeIds of every node that survived; a Listener on the lowering
/// records what became of the others, so that plans report per-node facts (PlannedNode::
/// fusedInto, observer events) in terms of the user's nodes:
///  - a node a pattern replaced stands for the pattern's root and for every other node that
///    application erased (the folded Conv for the Conv and its BatchNormalization);
///  - a node erased without a replacement became constant (a Constant node, now an initializer).
/// The user's model is never modified.

#include <functional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::rewrite {
class PatternSet;
}

namespace wh::engine {

struct LoweringOptions {
    /// Fold BatchNormalization (inference form) into the Conv before it.
    bool foldBatchNorm = false;
    /// Fold Add/Sub/Mul/Div of two float constants into an initializer
    /// (rewrite::ConstantArithmeticFolding; an exported int32 bias's scale is such a Mul).
    bool foldConstants = false;
    /// Replace QDQ groups by int8 operators (QdqConvFusion: DequantizeLinear → Conv → [act] →
    /// QuantizeLinear becomes one com.whittle QConv; QdqAddFusion: two DequantizeLinear → Add →
    /// [act] → QuantizeLinear one QAdd).
    bool quantizedOps = false;
    /// Fuse what transformer exports spell out op by op: a decomposed LayerNorm into one
    /// com.whittle LayerNormalization, an Erf-based GELU into one com.whittle Gelu
    /// (transformer_lowering.h).
    bool transformerOps = false;
    /// Adds further lowering patterns (applied together with the built-in ones).
    std::function<void(rewrite::PatternSet&)> patterns;
};

class Lowered {
public:
    ir::Model model;

    /// The user's nodes lowered node `id` computes: the node it stands for first, then the
    /// nodes merged into it. A node that survived lowering computes just itself.
    std::vector<ir::NodeId> usersOf(ir::NodeId id) const;
    /// True if user node `id` was erased by lowering and became constant data.
    bool becameConstant(ir::NodeId id) const { return m_constant.count(id) > 0; }
    /// The user's node a lowered node stands for (usersOf(id).front()).
    ir::NodeId origin(ir::NodeId id) const { return usersOf(id).front(); }

private:
    friend Expected<Lowered> lower(const ir::Model& model, const LoweringOptions& options);
    friend class LoweringMap;
    std::unordered_map<ir::NodeId, std::vector<ir::NodeId>> m_users;  // only new nodes
    std::unordered_set<ir::NodeId> m_constant;
};

/// Clones `model` and lowers the clone (see the file comment). Fails only when a pattern
/// breaks the graph (a bug).
Expected<Lowered> lower(const ir::Model& model, const LoweringOptions& options = {});

}  // namespace wh::engine
