#include "core/engine/kernel_registry.h"

#include <algorithm>

#include <fmt/format.h>

namespace wh::engine {

std::string_view backendName(Backend backend) {
    switch (backend) {
        case Backend::kReference:
            return "ref";
        case Backend::kDnnl:
            return "dnnl";
    }
    return "?";
}

bool TensorInfo::shapeKnown() const {
    if (!rankKnown) return false;
    return std::all_of(dims.begin(), dims.end(), [](int64_t d) { return d >= 0; });
}

TensorInfo TensorInfo::of(const HostTensor& t) {
    TensorInfo info;
    info.dtype = t.dtype();
    info.dims = t.dims();
    return info;
}

TensorInfo TensorInfo::of(const ir::Type& type, const Dims* given) {
    TensorInfo info;
    info.dtype = type.kind == ir::Type::Kind::kTensor ? type.elemType : ir::DType::kUndefined;
    if (given) {
        info.dims = *given;
        return info;
    }
    if (!type.shape) {
        info.rankKnown = false;
        return info;
    }
    for (const ir::Dim& d : type.shape->dims) info.dims.push_back(d.isKnown() ? d.value : -1);
    return info;
}

std::string KernelContext::where() const {
    return fmt::format("node '{}' ({})", node.displayName(), node.opType);
}

const KernelRegistry& KernelRegistry::builtin() {
    static const KernelRegistry registry = [] {
        KernelRegistry r;
        registerReferenceKernels(r);
        registerDnnlKernels(r);
        registerOpTraits(r);
        return r;
    }();
    return registry;
}

namespace {
std::string traitsDomain(std::string_view d) {
    return ir::isDefaultDomain(d) ? std::string() : std::string(d);
}
}  // namespace

void KernelRegistry::setTraits(std::string domain, std::string opType, OpTraits traits) {
    m_traits[{traitsDomain(domain), std::move(opType)}] = std::move(traits);
}

const OpTraits& KernelRegistry::traits(const ir::Node& node) const {
    return traits(node.domain, node.opType);
}

const OpTraits& KernelRegistry::traits(std::string_view domain, std::string_view opType) const {
    static const OpTraits kNone;
    auto it = m_traits.find(std::make_pair(traitsDomain(domain), std::string(opType)));
    return it == m_traits.end() ? kNone : it->second;
}

}  // namespace wh::engine
