#include "core/engine/kernel_registry.h"

#include <algorithm>

#include <fmt/format.h>

namespace wh::engine {

std::string_view backendName(Backend backend) {
    switch (backend) {
        case Backend::kReference: return "ref";
        case Backend::kDnnl: return "dnnl";
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

std::string KernelContext::where() const {
    return fmt::format("node '{}' ({})", node.displayName(), node.opType);
}

namespace {
std::string normalDomain(std::string_view d) {
    return d == "ai.onnx" ? std::string() : std::string(d);
}
}  // namespace

const KernelRegistry& KernelRegistry::builtin() {
    static const KernelRegistry registry = [] {
        KernelRegistry r;
        registerReferenceKernels(r);
        registerDnnlKernels(r);
        return r;
    }();
    return registry;
}

void KernelRegistry::add(std::string domain, std::string opType, int sinceVersion,
                         int untilVersion, Backend backend, KernelFactory factory) {
    m_byOp[{normalDomain(domain), std::move(opType)}].push_back(
        {sinceVersion, untilVersion, backend, std::move(factory)});
}

const KernelFactory* KernelRegistry::find(std::string_view domain, std::string_view opType,
                                          int64_t opset, Backend backend) const {
    auto it = m_byOp.find({normalDomain(domain), std::string(opType)});
    if (it == m_byOp.end()) return nullptr;
    for (const Registration& r : it->second)
        if (r.backend == backend && opset >= r.sinceVersion && opset <= r.untilVersion)
            return &r.factory;
    return nullptr;
}

std::vector<KernelRegistry::Entry> KernelRegistry::entries() const {
    std::vector<Entry> out;
    for (const auto& [key, regs] : m_byOp)
        for (const Registration& r : regs)
            out.push_back({key.first, key.second, r.sinceVersion, r.untilVersion, r.backend});
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
        return std::tie(a.domain, a.opType, a.backend, a.sinceVersion) <
               std::tie(b.domain, b.opType, b.backend, b.sinceVersion);
    });
    return out;
}

}  // namespace wh::engine
