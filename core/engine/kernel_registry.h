#pragma once
/// KernelRegistry: factories keyed by (domain, op type, opset range, backend). Registration is
/// explicit (registerReferenceKernels, registerDnnlKernels), no static initialisers.

#include "core/engine/kernel.h"
#include "core/engine/op_registry.h"

namespace wh::engine {

class KernelRegistry : public OpRegistry<KernelFactory> {
public:
    /// The registry with every built-in kernel (reference and oneDNN), built on first use.
    static const KernelRegistry& builtin();
};

/// Adds every reference kernel (core/engine/ref).
void registerReferenceKernels(KernelRegistry& registry);
/// Adds every oneDNN kernel (core/engine/dnnl).
void registerDnnlKernels(KernelRegistry& registry);

}  // namespace wh::engine
