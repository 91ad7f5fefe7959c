#pragma once
/// Quantizable layers and the data they see: which weight of a Conv, Gemm or MatMul is
/// quantized and in which matrix view, and the statistics of their inputs gathered on
/// calibration data (GPTQ's Hessians, per-channel input means for bias correction).
///
/// Thread-safety: reads the model; one call at a time.

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/algo/algorithm.h"
#include "core/algo/quant/calibration.h"
#include "core/algo/quant/gptq.h"
#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::algo::quant {

/// The quantizable weight of a node.
struct LayerWeight {
    ir::Node* node = nullptr;
    ir::Value* weight = nullptr;  ///< a float32 initializer
    /// The matrix view (quantized_weight.h): false for Conv and Gemm with transB = 1, true for
    /// MatMul's [K, N] and Gemm with transB = 0.
    bool transposed = false;
    /// The output-channel axis of the ONNX weight tensor (0, or 1 when transposed).
    int axis = 0;
    /// Why the node cannot be quantized (empty when it can).
    std::string reason;
};

/// Conv (2-D or any rank), Gemm (transA = 0), MatMul with a constant 2-D B: the weight and its
/// view; otherwise `reason` says why not ("weight is not a constant", ...).
LayerWeight layerWeight(ir::Node& node);

/// Statistics of one layer's input on calibration data.
struct LayerInputStats {
    /// One accumulator per conv group (one for Gemm / MatMul), over the GPTQ input rows.
    std::vector<HessianAccumulator> hessians;
    /// Mean of each input channel (Conv: dim 1 of X; Gemm / MatMul: the last dim).
    std::vector<double> channelMean;
};

struct InputStatsOptions {
    bool hessians = true;
    bool means = true;
    int64_t samples = 128;
    int64_t batch = 32;
};

/// Runs `model` on `options.samples` balanced calibration samples of context.data and gathers
/// each layer's input statistics. kUsage when context.data is null.
Expected<std::map<ir::NodeId, LayerInputStats>> gatherInputStats(
    const ir::Model& model, std::span<const LayerWeight> layers, const AlgoContext& context,
    const InputStatsOptions& options);

/// Empirical bias correction (Nagel et al. 2019): b += (W − Ŵ)·E[x], per output channel, with
/// E[x] per input channel (kernel positions share their channel's mean). Adds a zero bias input
/// when the node has none. `quantized` holds Ŵ in the weight's ONNX layout.
Status correctBias(rewrite::Rewriter& rewriter, const LayerWeight& layer,
                   const ir::Tensor& quantized, std::span<const double> channelMean);

}  // namespace wh::algo::quant

namespace wh::algo::quant {

/// The activation tensors a static quantization of `layers` quantizes, once each: every
/// layer's float input 0, and its output — or, when the output feeds a single Relu, Clip,
/// LeakyRelu, Sigmoid, HardSigmoid or HardSwish, that activation's output (the activation is
/// fused, as ONNX Runtime and PyTorch quantize it). Graph outputs stay float.
std::vector<ir::Value*> activationsToQuantize(std::span<const LayerWeight> layers);

/// Folds every Conv → BatchNormalization pair (rewrite::ConvBatchNormFolding) through
/// `rewriter`, adding a note to `report` when any was folded: quantization works on the folded
/// weights, which is what the deploy graph computes.
void foldBatchNorms(rewrite::Rewriter& rewriter, ApplyReport& report);

/// Op types treated as fusable activations by activationsToQuantize.
bool isFusableActivation(const ir::Node& node);

/// resolveScope() over Conv, Gemm and MatMul plus layerWeight(): the layers to quantize, and
/// the scope entries (a node whose weight cannot be quantized is skipped with the reason).
std::vector<LayerWeight> quantizableLayers(ir::Graph& graph, const Selection& selection,
                                           std::vector<ScopeEntry>& scope);

}  // namespace wh::algo::quant

namespace wh::algo::quant {

/// Runs `model` on `samples` balanced calibration samples of context.data and feeds each of
/// `tensors` (value names) to its own RangeObserver (`options`), batch by batch.
Expected<std::vector<RangeObserver>> observeActivations(const ir::Model& model,
                                                        const std::vector<std::string>& tensors,
                                                        const ObserverOptions& options,
                                                        const AlgoContext& context,
                                                        int64_t samples, int64_t batch = 64);

}  // namespace wh::algo::quant
