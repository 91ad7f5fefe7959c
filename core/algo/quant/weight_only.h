#pragma once
/// Weight-only quantization (rtn, gptq): each selected Conv, Gemm or MatMul weight becomes
/// integer codes with per-channel or per-group scales, written in its deploy form at once
/// (core/algo/quant/weight_export.h: int8 DequantizeLinear, or packed 2/4-bit codes with a
/// decompression subgraph). Activations stay float, so apply is also the deploy form.

#include "core/algo/algorithm.h"
#include "core/algo/quant/gptq.h"
#include "core/algo/quant/weight_quant.h"
#include "core/util/status.h"

namespace wh::algo::quant {

struct WeightOnlyOptions {
    WeightQuantOptions quant;
    bool gptq = false;
    GptqOptions gptqOptions;
    int64_t samples = 128;  ///< GPTQ calibration images
};

/// Quantizes the weights of the selected layers (BatchNormalization folded into Conv first).
Expected<ApplyReport> applyWeightOnly(rewrite::Rewriter& rewriter, const Selection& selection,
                                      AlgoContext& context, const WeightOnlyOptions& options);

/// The weight-only ParamSpecs shared by rtn and gptq: weight_bits, group_size, symmetric.
std::vector<ParamSpec> weightOnlyParams();
/// WeightOnlyOptions from those parameters.
WeightOnlyOptions weightOnlyOptions(const Params& params);

}  // namespace wh::algo::quant
