#include "core/engine/conv_bn_folding.h"

#include <algorithm>
#include <span>

#include "core/rewrite/conv_batch_norm_folding.h"
#include "core/rewrite/pattern.h"

namespace wh::engine {

namespace {

bool isFloatConstant(const TensorInfo& t, const Dims& dims) {
    return t.constant && t.constant->dtype() == ir::DType::kFloat && t.constant->dims() == dims;
}

}  // namespace

std::optional<FoldedConv> foldBatchNormIntoConv(const ir::Node& bn, int64_t bnOpset,
                                                std::span<const TensorInfo> bnInputs,
                                                const TensorInfo& weights, const TensorInfo* bias) {
    if (!ir::isOnnxOp(bn, "BatchNormalization")) return std::nullopt;
    if (bn.attrInt("training_mode", 0) != 0) return std::nullopt;
    if (bnOpset < 9 && bn.attrInt("spatial", 1) != 1) return std::nullopt;
    for (int i = 1; i < bn.numOutputs(); ++i)
        if (bn.output(i)) return std::nullopt;
    if (!weights.constant || weights.constant->dtype() != ir::DType::kFloat ||
        weights.constant->rank() < 3)
        return std::nullopt;
    const int64_t channels = weights.constant->dim(0);
    const Dims perChannel{channels};
    if (bias && !isFloatConstant(*bias, perChannel)) return std::nullopt;
    if (bnInputs.size() != 5) return std::nullopt;
    for (std::size_t i = 1; i < 5; ++i)
        if (!isFloatConstant(bnInputs[i], perChannel)) return std::nullopt;

    const auto perChannelFloats = [channels](const TensorInfo& t) {
        return std::span<const float>(t.constant->data<float>(),
                                      static_cast<std::size_t>(channels));
    };
    const HostTensor& w = *weights.constant;
    const auto numWeights = static_cast<std::size_t>(w.numElements());
    FoldedConv folded{HostTensor(ir::DType::kFloat, w.dims()),
                      HostTensor(ir::DType::kFloat, perChannel)};
    std::span<float> wOut(folded.weights.data<float>(), numWeights);
    std::copy_n(w.data<float>(), numWeights, wOut.begin());
    rewrite::ConvBatchNormFolding::fold(
        wOut, std::span<float>(folded.bias.data<float>(), static_cast<std::size_t>(channels)),
        bias ? perChannelFloats(*bias) : std::span<const float>(), perChannelFloats(bnInputs[1]),
        perChannelFloats(bnInputs[2]), perChannelFloats(bnInputs[3]), perChannelFloats(bnInputs[4]),
        bn.attrFloat("epsilon", 1e-5f));
    return folded;
}

}  // namespace wh::engine
