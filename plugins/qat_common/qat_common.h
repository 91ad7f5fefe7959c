#pragma once
/// Small helpers shared by the quantization-aware training plugins (simqat, lsq): fresh names,
/// initializers, per-channel ranges of a weight, and the nodes of a graph by name. Header only,
/// everything `inline` in an anonymous-free namespace of its own so that each plugin (a separate
/// shared module) carries its copy.
///
/// Thread-safety: none; these read or edit the caller's graph.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/ir/graph.h"
#include "core/rewrite/rewriter.h"
#include "core/util/status.h"

namespace wh::qat {

/// A value name not yet used in `graph`: `base`, else base_1, base_2, ...
inline std::string freshName(const ir::Graph& graph, const std::string& base) {
    if (!graph.findValueInScope(base)) return base;
    for (int i = 1;; ++i) {
        std::string name = fmt::format("{}_{}", base, i);
        if (!graph.findValueInScope(name)) return name;
    }
}

/// A float32 initializer with a fresh name derived from `base`.
inline Expected<ir::Value*> addFloatInitializer(rewrite::Rewriter& rw, const std::string& base,
                                                std::vector<int64_t> dims,
                                                const std::vector<float>& values) {
    std::string name = freshName(rw.graph(), base);
    return rw.addInitializer(name, ir::Tensor::fromFloats(name, std::move(dims), values));
}

/// An int64 initializer (Reshape shapes) with a fresh name derived from `base`.
inline Expected<ir::Value*> addInt64Initializer(rewrite::Rewriter& rw, const std::string& base,
                                                const std::vector<int64_t>& values) {
    std::string name = freshName(rw.graph(), base);
    ir::Tensor t;
    t.name = name;
    t.dtype = ir::DType::kInt64;
    t.dims = {static_cast<int64_t>(values.size())};
    t.data = std::make_shared<const ir::Buffer>(values.data(), values.size() * sizeof(int64_t));
    return rw.addInitializer(name, std::move(t));
}

/// The float32 values of an initializer value; kBadInput naming it otherwise.
inline Expected<std::vector<float>> floatValues(const ir::Value* v, std::string_view what) {
    if (!v || !v->hasInitializer() || v->initializer()->dtype != ir::DType::kFloat)
        return error(StatusCode::kBadInput, "{} '{}' is not a float32 initializer", what,
                     v ? v->name() : std::string("(absent)"));
    auto span = v->initializer()->values<float>();
    return std::vector<float>(span.begin(), span.end());
}

/// Per-channel minimum and maximum of `values` (dims `dims`) along `axis` (-1 = the whole
/// tensor, one entry). NaNs are ignored; a channel with no finite value gets [0, 0].
inline void channelMinMax(const std::vector<float>& values, const std::vector<int64_t>& dims,
                          int axis, std::vector<float>& mins, std::vector<float>& maxs) {
    int64_t channels = 1, inner = 1;
    if (axis >= 0) {
        channels = dims[static_cast<std::size_t>(axis)];
        for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < dims.size(); ++d)
            inner *= dims[d];
    }
    mins.assign(static_cast<std::size_t>(channels), std::numeric_limits<float>::infinity());
    maxs.assign(static_cast<std::size_t>(channels), -std::numeric_limits<float>::infinity());
    for (std::size_t i = 0; i < values.size(); ++i) {
        const float v = values[i];
        if (!std::isfinite(v)) continue;
        const std::size_t c =
            axis >= 0 ? static_cast<std::size_t>((static_cast<int64_t>(i) / inner) % channels) : 0;
        mins[c] = std::min(mins[c], v);
        maxs[c] = std::max(maxs[c], v);
    }
    for (std::size_t c = 0; c < mins.size(); ++c)
        if (mins[c] > maxs[c]) mins[c] = maxs[c] = 0.0f;
}

/// Index of the channel of flat element `i` along `axis` of `dims` (0 when axis < 0).
inline std::size_t channelOf(std::size_t i, const std::vector<int64_t>& dims, int axis) {
    if (axis < 0) return 0;
    int64_t inner = 1;
    for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < dims.size(); ++d) inner *= dims[d];
    return static_cast<std::size_t>((static_cast<int64_t>(i) / inner) %
                                    dims[static_cast<std::size_t>(axis)]);
}

/// The top-level node called `name`, or null.
inline ir::Node* nodeNamed(const ir::Graph& graph, std::string_view name) {
    for (ir::Node* n : graph.nodes())
        if (n->name == name) return n;
    return nullptr;
}

/// The BatchNormalization reading `conv`'s output as its only consumer, when a QAT algorithm can
/// wrap or fold it: an inference-mode BN (training_mode 0) on input 0, its extra outputs unused,
/// scale, bias, mean and variance float32 initializers (not graph inputs); null otherwise.
/// `exclusiveParams`: each of those four must be read by this BN alone (for a caller that
/// rewrites them in place).
inline ir::Node* batchNormAfterConv(const ir::Node& conv, bool exclusiveParams = false) {
    if (conv.opType != "Conv" || conv.numOutputs() < 1) return nullptr;
    const ir::Value* y = conv.output(0);
    if (!y || y->isGraphOutput() || y->uses().size() != 1) return nullptr;
    const ir::Use& u = y->uses().front();
    ir::Node* bn = u.node;
    if (bn->opType != "BatchNormalization" || !ir::isDefaultDomain(bn->domain) || u.input != 0)
        return nullptr;
    if (bn->numInputs() < 5 || bn->attrInt("training_mode", 0) != 0) return nullptr;
    for (int i = 1; i < bn->numOutputs(); ++i)
        if (bn->output(i) && bn->output(i)->hasUses()) return nullptr;
    for (int i = 1; i <= 4; ++i) {
        const ir::Value* p = bn->input(i);
        if (!p || !p->hasInitializer() || p->isGraphInput() ||
            p->initializer()->dtype != ir::DType::kFloat ||
            (exclusiveParams && p->uses().size() != 1))
            return nullptr;
    }
    return bn;
}

}  // namespace wh::qat
