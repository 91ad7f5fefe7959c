#include "core/engine/batch_norm_fold.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/ref/grad_kernels.h"
#include "core/engine/slb_weight.h"

namespace wh::engine {

void registerReferenceGradients(GradRegistry& registry) {
    ref::registerElementwiseGradients(registry);
    ref::registerTensorGradients(registry);
    ref::registerNnGradients(registry);
    ref::registerMoreGradients(registry);
    ref::nn::registerResizeGradient(registry);
    registerFakeQuantizeGradient(registry);
    registerSlbWeightGradient(registry);
    registerBatchNormFoldGradient(registry);
}

}  // namespace wh::engine
