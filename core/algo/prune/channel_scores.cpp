#include "core/algo/prune/channel_scores.h"

#include <cmath>
#include <functional>
#include <optional>

namespace wh::algo::prune {

namespace {

using analysis::ChannelDependencies;
using analysis::ChannelRoot;

/// Per channel: the mean of `rootScore` over the roots it can score; a group with no scored
/// root at all is left empty.
ChannelScores meanOverRoots(
    const ChannelDependencies& deps,
    const std::function<std::optional<double>(const ChannelRoot&)>& rootScore) {
    ChannelScores scores(deps.groups.size());
    for (std::size_t g = 0; g < deps.groups.size(); ++g) {
        const analysis::ChannelGroup& group = deps.groups[g];
        std::vector<double> s(group.channels.size(), 0.0);
        bool any = false;
        for (std::size_t c = 0; c < group.channels.size(); ++c) {
            double sum = 0;
            int n = 0;
            for (const ChannelRoot& r : group.channels[c])
                if (std::optional<double> v = rootScore(r)) {
                    sum += *v;
                    ++n;
                }
            if (n > 0) {
                s[c] = sum / n;
                any = true;
            }
        }
        if (any) scores[g] = std::move(s);
    }
    return scores;
}

/// The float values of a constant input, or null.
const ir::Tensor* floatParam(const ir::Node& n, int input) {
    if (input >= n.numInputs() || !n.input(input)) return nullptr;
    const ir::Tensor* t = analysis::channelParamTensor(n.input(input));
    return t && t->dtype == ir::DType::kFloat ? t : nullptr;
}

}  // namespace

const ir::Node* followingBatchNorm(const ir::Node& producer) {
    if (producer.numOutputs() < 1 || !producer.output(0)) return nullptr;
    const ir::Value* y = producer.output(0);
    if (y->uses().size() != 1 || y->isGraphOutput()) return nullptr;
    const ir::Use& u = y->uses().front();
    if (u.input != 0 || !ir::isOnnxOp(*u.node, "BatchNormalization")) return nullptr;
    return floatParam(*u.node, 1) ? u.node : nullptr;
}

ChannelScores l1Scores(const ir::Graph& graph, const ChannelDependencies& deps) {
    return meanOverRoots(deps, [&](const ChannelRoot& r) -> std::optional<double> {
        const ir::Node* n = graph.findNode(r.node);
        const ir::Tensor* w = n ? floatParam(*n, 1) : nullptr;
        if (!w || w->dims.size() < 2) return std::nullopt;
        // Output channels: Conv and transB Gemm rows (axis 0), else columns (axis 1).
        const bool rows = n->opType == "Conv" || n->attrInt("transB", 0) != 0;
        const int64_t axisLen = rows ? w->dims[0] : w->dims[1];
        if (r.channel >= axisLen) return std::nullopt;
        const int64_t inner = rows ? w->numElements() / axisLen : 1;
        const int64_t outer = rows ? 1 : w->dims[0];
        auto v = w->values<float>();
        double sum = 0;
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i)
                sum += std::fabs(v[(o * axisLen + r.channel) * inner + i]);
        return sum;
    });
}

ChannelScores bnGammaScores(const ir::Graph& graph, const ChannelDependencies& deps) {
    return meanOverRoots(deps, [&](const ChannelRoot& r) -> std::optional<double> {
        const ir::Node* n = graph.findNode(r.node);
        const ir::Node* bn = n ? followingBatchNorm(*n) : nullptr;
        if (!bn) return std::nullopt;
        auto gamma = floatParam(*bn, 1)->values<float>();
        if (r.channel >= static_cast<int64_t>(gamma.size())) return std::nullopt;
        return std::fabs(static_cast<double>(gamma[r.channel]));
    });
}

ChannelScores scopScores(const ir::Graph& graph, const ChannelDependencies& deps,
                         const std::map<ir::NodeId, std::vector<float>>& kfscale) {
    return meanOverRoots(deps, [&](const ChannelRoot& r) -> std::optional<double> {
        const auto k = kfscale.find(r.node);
        if (k == kfscale.end() || r.channel >= static_cast<int64_t>(k->second.size()))
            return std::nullopt;
        const ir::Node* n = graph.findNode(r.node);
        const ir::Node* bn = n ? followingBatchNorm(*n) : nullptr;
        if (!bn) return std::nullopt;
        auto gamma = floatParam(*bn, 1)->values<float>();
        if (r.channel >= static_cast<int64_t>(gamma.size())) return std::nullopt;
        const double beta = k->second[static_cast<std::size_t>(r.channel)];
        // The seed's score: |γ| · (β − (1 − β)).
        return std::fabs(static_cast<double>(gamma[r.channel])) * (beta - (1.0 - beta));
    });
}

}  // namespace wh::algo::prune
