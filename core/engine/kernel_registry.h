#pragma once
/// KernelRegistry: factories keyed by (domain, op type, opset range, backend). Registration is
/// explicit (registerReferenceKernels, registerDnnlKernels), no static initialisers.

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/engine/kernel.h"

namespace wh::engine {

class KernelRegistry {
public:
    /// The registry with every built-in kernel (reference and oneDNN), built on first use.
    static const KernelRegistry& builtin();

    /// Registers `factory` for opsets [sinceVersion, untilVersion] (inclusive) of `opType` in
    /// `domain` ("" = ai.onnx).
    void add(std::string domain, std::string opType, int sinceVersion, int untilVersion,
             Backend backend, KernelFactory factory);

    /// The factory for this op at `opset` from `backend`; null if none.
    const KernelFactory* find(std::string_view domain, std::string_view opType, int64_t opset,
                              Backend backend) const;

    struct Entry {
        std::string domain, opType;
        int sinceVersion, untilVersion;
        Backend backend;
    };
    /// Every registration, sorted by (domain, op type, backend, since).
    std::vector<Entry> entries() const;

private:
    struct Registration {
        int sinceVersion, untilVersion;
        Backend backend;
        KernelFactory factory;
    };
    std::map<std::pair<std::string, std::string>, std::vector<Registration>> m_byOp;
};

/// Adds every reference kernel (core/engine/ref).
void registerReferenceKernels(KernelRegistry& registry);
/// Adds every oneDNN kernel (core/engine/dnnl).
void registerDnnlKernels(KernelRegistry& registry);

}  // namespace wh::engine
