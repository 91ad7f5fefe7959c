#include "core/engine/step_profiler.h"

#include <fmt/format.h>

namespace wh::engine {

void StepProfiler::stepBegin(const StepEvent&) {
    m_start = std::chrono::steady_clock::now();
}

void StepProfiler::stepEnd(const StepEvent& step) {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
    const auto pass = static_cast<std::size_t>(step.pass);
    if (step.nodes.empty()) {
        m_conversions[pass] += s;
        return;
    }
    NodeTimes& root = m_nodes[step.nodes.front()];
    root.seconds[pass] += s;
    ++root.calls[pass];
    for (std::size_t k = 1; k < step.nodes.size(); ++k)
        m_nodes[step.nodes[k]].fusedInto = step.nodes.front();
}

std::string StepProfiler::tableByOpType(const ir::Model& model) const {
    // forward (inference, training forward, evaluation), backward, calls of the forward kind
    std::map<std::string, std::array<double, 3>> byOp;
    for (const auto& [id, t] : m_nodes) {
        const ir::Node* node = model.graph->findNode(id);
        auto& row = byOp[node ? node->opType : "?"];
        const auto bwd = static_cast<std::size_t>(Pass::kBackward);
        for (std::size_t p = 0; p < t.seconds.size(); ++p) {
            row[p == bwd ? 1 : 0] += t.seconds[p];
            if (p != bwd) row[2] += static_cast<double>(t.calls[p]);
        }
    }
    std::array<double, 3> conv{};
    for (std::size_t p = 0; p < m_conversions.size(); ++p)
        conv[p == static_cast<std::size_t>(Pass::kBackward) ? 1 : 0] += m_conversions[p];
    if (conv[0] + conv[1] > 0) byOp["(to plain order)"] = conv;
    std::string out =
        fmt::format("{:<24} {:>10} {:>10} {:>8}\n", "op", "fwd ms", "bwd ms", "calls");
    double f = 0, b = 0;
    for (const auto& [op, t] : byOp) {
        // Op types that only ran inside other nodes' steps (a Relu fused into BN) say so;
        // conversions between layouts count no calls.
        const bool fused = t[0] == 0 && t[1] == 0 && t[2] == 0;
        out += fmt::format("{:<24} {:>10.1f} {:>10.1f} {:>8}\n", op, 1e3 * t[0], 1e3 * t[1],
                           fused ? std::string("fused") : fmt::format("{:.0f}", t[2]));
        f += t[0];
        b += t[1];
    }
    out += fmt::format("{:<24} {:>10.1f} {:>10.1f}\n", "total", 1e3 * f, 1e3 * b);
    return out;
}

void StepProfiler::clear() {
    m_nodes.clear();
    m_conversions = {};
}

}  // namespace wh::engine
