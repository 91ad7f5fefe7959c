#include "core/engine/ref/ref_kernels.h"

namespace wh::engine::ref {

// Kernels of this group are being written; until then the group registers nothing.
void registerNnOps(KernelRegistry&) {}

}  // namespace wh::engine::ref
