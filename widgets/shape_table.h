#pragma once
/// ShapeTable: display-only types of a model's intermediate tensors, inferred by the engine.
///
/// PyTorch exports declare no value_info, so without inference every tensor between two nodes
/// shows "?". ShapeTable::infer() compiles the main graph with engine::Plan (reference kernels
/// first, no fusion: one planned node per user node, each with its outputs' dtype and dims) and
/// keeps each output's type by value name. It never changes the model: the plan compiles a clone.
///
/// Symbolic input dims (a batch "N", a sequence "T") have no value at compile time. The graph is
/// compiled twice, each symbol set to a different probe value each time (1 then 2 for a leading
/// dim, 64 then 64 + k for others); a dim that equals the symbol's probe value in both
/// compilations is shown by the symbol's name, one equal in both is a number, and one that
/// changed otherwise (N·64 after a Reshape, ⌊T/2⌋ after a stride) is unknown ("?"). When the
/// second compilation fails (a Reshape with a baked batch), the first one's dims stand, and
/// note() says which values they are for. Dims only run time knows (NonZero) are unknown.
///
/// Values inside If/Loop bodies are not in the table (the plan compiles bodies on its own).
///
/// Thread-safety: infer() may run on any thread (the studio runs it as a job on a snapshot); a
/// built table is immutable and shared between the view and the inspector.

#include <string>
#include <unordered_map>

#include <QString>

#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::jobs {
class JobContext;
}

namespace wh::widgets {

class ShapeTable {
public:
    /// Infers the types of `model`'s main-graph values. Fails with the engine's compile error
    /// (kUnsupported naming the operator and node, kBadInput for a broken graph) or kCancelled
    /// when `job` (may be null) is cancelled between the compilations.
    static Expected<ShapeTable> infer(const ir::Model& model,
                                      const jobs::JobContext* job = nullptr);

    /// The inferred type of the main-graph value named `name`, or null.
    const ir::Type* find(const std::string& name) const;
    /// Values with an inferred type.
    std::size_t size() const { return m_types.size(); }
    /// Empty, or what the dims stand for when symbols could not be told apart ("for N = 1").
    const QString& note() const { return m_note; }

private:
    std::unordered_map<std::string, ir::Type> m_types;
    QString m_note;
};

/// The type to show for `value`: its declared type when that has a shape whose every dim is a
/// number or a symbol; else the inferred one from `shapes` (may be null) when there is one; else
/// the declared type (possibly kNone). Inferred types never replace a complete declared one.
const ir::Type& displayType(const ir::Value& value, const ShapeTable* shapes);

/// True when `value`'s shown type comes from inference (the inspector says so in a tooltip).
bool isInferredType(const ir::Value& value, const ShapeTable* shapes);

}  // namespace wh::widgets
