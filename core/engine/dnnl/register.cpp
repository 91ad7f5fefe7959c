#include "core/engine/kernel_registry.h"

namespace wh::engine {

// oneDNN kernels are being written; until then none are registered.
void registerDnnlKernels(KernelRegistry&) {}

}  // namespace wh::engine
