#pragma once
/// StepProfiler: a RunObserver that times every step of a plan (wall clock between stepBegin
/// and stepEnd) and sums the times per user node and per pass — the per-layer profiler's
/// engine half, and what `whittle-cli train --profile` prints (the table by op type that
/// WHITTLE_TRAIN_PROFILE used to print). A step's time is booked on its root node; the nodes
/// fused into it are listed with the root (fusedInto) and get no time of their own.
/// Thread-safety: one plan's thread.

#include <array>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/run_observer.h"
#include "core/ir/graph.h"

namespace wh::engine {

class StepProfiler final : public RunObserver {
public:
    /// Per user node: seconds summed per pass (Pass as index), steps run, and the root it
    /// ran in when it was fused into another node's step.
    struct NodeTimes {
        std::array<double, 4> seconds{};
        std::array<long, 4> calls{};
        std::optional<ir::NodeId> fusedInto;
    };

    void stepBegin(const StepEvent& step) override;
    void stepEnd(const StepEvent& step) override;

    /// Every user node some step computed, by id.
    const std::map<ir::NodeId, NodeTimes>& nodes() const { return m_nodes; }
    /// Seconds of layout conversions (steps computing no node), per pass.
    const std::array<double, 4>& conversionSeconds() const { return m_conversions; }
    /// Milliseconds per op type of `model` (the one the plan was compiled from), forward and
    /// backward, and calls: one line per op type, then the total.
    std::string tableByOpType(const ir::Model& model) const;
    void clear();

private:
    std::chrono::steady_clock::time_point m_start;
    std::map<ir::NodeId, NodeTimes> m_nodes;
    std::array<double, 4> m_conversions{};
};

}  // namespace wh::engine
