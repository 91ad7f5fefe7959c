#include "core/engine/ref/ref_kernels.h"

namespace wh::engine {

void registerReferenceKernels(KernelRegistry& registry) {
    ref::registerElementwise(registry);
    ref::registerTensorOps(registry);
    ref::registerNnOps(registry);
    ref::registerQuantOps(registry);
}

}  // namespace wh::engine
