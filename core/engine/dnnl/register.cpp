#include "core/engine/dnnl/dnnl_common.h"

namespace wh::engine {

void registerDnnlKernels(KernelRegistry& registry) {
    dnnlk::registerConv(registry);
    dnnlk::registerMatMul(registry);
    dnnlk::registerNormPool(registry);
    dnnlk::registerElementwise(registry);
    dnnlk::registerSoftmax(registry);
    dnnlk::registerRnn(registry);
    dnnlk::registerTranspose(registry);
    dnnlk::registerQConv(registry);
    dnnlk::registerQMatMul(registry);
    dnnlk::registerQAdd(registry);
    dnnlk::registerDequantize(registry);
}

}  // namespace wh::engine
