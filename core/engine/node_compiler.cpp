#include "core/engine/node_compiler.h"

#include <fmt/format.h>

namespace wh::engine {

std::string nodeWhere(const ir::Node& node) {
    return fmt::format("node '{}' ({})", node.displayName(), node.opType);
}

bool isNondeterministic(const ir::Node& node, bool training) {
    if (!ir::isDefaultDomain(node.domain)) return false;
    const std::string& op = node.opType;
    return op == "RandomNormal" || op == "RandomUniform" || op == "RandomNormalLike" ||
           op == "RandomUniformLike" || op == "Multinomial" || op == "Bernoulli" ||
           (training && op == "Dropout");
}

namespace {

// The error of a factory, naming the node unless it already does.
Status named(const Status& s, const std::string& where) {
    if (s.message().find(where) != std::string::npos) return s;
    return makeStatus(s.code(), "{}: {}", where, s.message());
}

// The build of the first backend whose factory makes one; nullopt when none has a factory.
template <class Build, class Registry, class Context>
Expected<std::optional<Build>> firstBuild(const Registry& registry,
                                          std::span<const Backend> backends, const Context& ctx,
                                          Backend* used) {
    const ir::Node& node = ctx.node;
    Expected<Build> build = error(StatusCode::kUnsupported, "");
    bool found = false;
    for (Backend backend : backends) {
        const auto* factory = registry.find(node.domain, node.opType, ctx.opset, backend);
        if (!factory) continue;
        found = true;
        build = (*factory)(ctx);
        if (used) *used = backend;
        if (build || build.error().code() != StatusCode::kUnsupported) break;
    }
    if (!found) return std::optional<Build>();
    if (!build) return tl::unexpected(named(build.error(), nodeWhere(node)));
    return std::optional<Build>(std::move(*build));
}

}  // namespace

Expected<KernelBuild> selectKernel(const KernelRegistry& registry,
                                   std::span<const Backend> backends, const KernelContext& ctx,
                                   Backend* used) {
    WH_ASSIGN_OR_RETURN(std::optional<KernelBuild> build,
                        firstBuild<KernelBuild>(registry, backends, ctx, used));
    if (build) return std::move(*build);
    const ir::Node& node = ctx.node;
    return error(
        StatusCode::kUnsupported, "operator {}{} (opset {}) of {} is not supported by the engine",
        node.domain.empty() ? "" : node.domain + ".", node.opType, ctx.opset, nodeWhere(node));
}

Expected<std::optional<GradBuild>> selectGradient(const GradRegistry& registry,
                                                  std::span<const Backend> backends,
                                                  const GradContext& ctx) {
    return firstBuild<GradBuild>(registry, backends, ctx, nullptr);
}

Status foldNow(const ir::Node& node, std::span<const HostTensor* const> inputs,
               KernelBuild& build) {
    std::vector<HostTensor> outs(static_cast<std::size_t>(node.numOutputs()));
    std::vector<HostTensor*> outPtrs;
    for (HostTensor& o : outs) outPtrs.push_back(&o);
    const std::string where = nodeWhere(node);
    if (Status s = catchMemoryErrors(where, [&] { return build.kernel->run(inputs, outPtrs); });
        !s.isOk())
        return named(s, where);
    build.outputs.resize(outs.size());
    for (std::size_t i = 0; i < outs.size(); ++i) {
        if (!node.output(static_cast<int>(i))) continue;
        TensorInfo& info = build.outputs[i];
        info = TensorInfo::of(outs[i]);
        info.constant = std::make_shared<const HostTensor>(std::move(outs[i]));
    }
    return Status::ok();
}

namespace {

// The node's only output, when it has exactly one (later optional outputs omitted).
const ir::Value* soleOutput(const ir::Node& node) {
    for (int i = 1; i < node.numOutputs(); ++i)
        if (node.output(i)) return nullptr;
    return node.output(0);
}

}  // namespace

std::vector<ChainLink> followerChain(const ir::Node& node, const KernelRegistry& registry,
                                     std::size_t maxLength,
                                     const std::function<bool(const ir::Node&)>& taken) {
    std::vector<ChainLink> chain;
    const ir::Node* cur = &node;
    while (chain.size() < maxLength) {
        const ir::Value* out = soleOutput(*cur);
        if (!out || out->isGraphOutput() || out->uses().size() != 1) break;
        const ir::Use& use = out->uses().front();
        if (!soleOutput(*use.node) || !registry.traits(*use.node).postOp || taken(*use.node)) break;
        chain.push_back({use.node, use.input});
        cur = use.node;
    }
    return chain;
}

}  // namespace wh::engine
