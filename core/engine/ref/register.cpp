#include "core/engine/batch_norm_fold.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/qadd.h"
#include "core/engine/qconv.h"
#include "core/engine/qmatmul.h"
#include "core/engine/ref/ref_kernels.h"
#include "core/engine/slb_weight.h"
#include "core/engine/transformer_lowering.h"

namespace wh::engine {

void registerReferenceKernels(KernelRegistry& registry) {
    ref::registerElementwise(registry);
    ref::registerMathOps(registry);
    ref::registerTensorOps(registry);
    ref::registerNnOps(registry);
    ref::registerMoreOps(registry);
    ref::registerLossOps(registry);
    ref::registerIndexOps(registry);
    ref::registerRnnOps(registry);
    ref::registerIntegerOps(registry);
    ref::registerQuantOps(registry);
    ref::registerControlFlow(registry);
    ref::registerEinsum(registry);
    registerFakeQuantizeKernel(registry);
    registerSlbWeightKernel(registry);
    registerBatchNormFoldKernel(registry);
    registerQConvKernel(registry);
    registerQMatMulKernel(registry);
    registerQAddKernel(registry);
    registerTransformerKernels(registry);  // after the ONNX LayerNormalization it reuses
}

}  // namespace wh::engine
