#pragma once
/// KernelRegistry: factories keyed by (domain, op type, opset range, backend). Registration is
/// explicit (registerReferenceKernels, registerDnnlKernels), no static initialisers.

#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "core/engine/kernel.h"
#include "core/engine/op_registry.h"

namespace wh::engine {

class KernelRegistry : public OpRegistry<KernelFactory> {
public:
    /// The registry with every built-in kernel (reference and oneDNN) and the traits of the
    /// standard operators (registerOpTraits), built on first use. Copy it to add operators.
    static const KernelRegistry& builtin();

    /// Declares the traits of `opType` in `domain` ("" = ai.onnx), replacing earlier ones.
    void setTraits(std::string domain, std::string opType, OpTraits traits);
    /// The declared traits of `node`'s operator; all false / empty when none were declared.
    const OpTraits& traits(const ir::Node& node) const;
    const OpTraits& traits(std::string_view domain, std::string_view opType) const;

private:
    std::map<std::pair<std::string, std::string>, OpTraits, std::less<>> m_traits;
};

/// Adds every reference kernel (core/engine/ref).
void registerReferenceKernels(KernelRegistry& registry);
/// Adds every oneDNN kernel (core/engine/dnnl).
void registerDnnlKernels(KernelRegistry& registry);
/// Declares the traits of the standard ONNX operators (op_traits.cpp).
void registerOpTraits(KernelRegistry& registry);

}  // namespace wh::engine
