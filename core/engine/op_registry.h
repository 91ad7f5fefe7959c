#pragma once
/// OpRegistry: factories keyed by (domain, op type, inclusive opset range, backend). The common
/// part of KernelRegistry (forward kernels) and GradRegistry (gradients). "" and "ai.onnx" are
/// the same domain.

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/engine/kernel.h"

namespace wh::engine {

template <typename Factory>
class OpRegistry {
public:
    /// Registers `factory` for opsets [sinceVersion, untilVersion] (inclusive) of `opType` in
    /// `domain` ("" = ai.onnx).
    void add(std::string domain, std::string opType, int sinceVersion, int untilVersion,
             Backend backend, Factory factory) {
        m_byOp[{normalDomain(domain), std::move(opType)}].push_back(
            {sinceVersion, untilVersion, backend, std::move(factory)});
    }

    /// The factory for this op at `opset` from `backend`; null if none.
    const Factory* find(std::string_view domain, std::string_view opType, int64_t opset,
                        Backend backend) const {
        auto it = m_byOp.find({normalDomain(domain), std::string(opType)});
        if (it == m_byOp.end()) return nullptr;
        for (const Registration& r : it->second)
            if (r.backend == backend && opset >= r.sinceVersion && opset <= r.untilVersion)
                return &r.factory;
        return nullptr;
    }

    struct Entry {
        std::string domain, opType;
        int sinceVersion, untilVersion;
        Backend backend;
    };
    /// Every registration, sorted by (domain, op type, backend, since).
    std::vector<Entry> entries() const {
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

private:
    static std::string normalDomain(std::string_view d) {
        return d == "ai.onnx" ? std::string() : std::string(d);
    }
    struct Registration {
        int sinceVersion, untilVersion;
        Backend backend;
        Factory factory;
    };
    std::map<std::pair<std::string, std::string>, std::vector<Registration>> m_byOp;
};

}  // namespace wh::engine
