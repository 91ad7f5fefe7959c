#include "core/engine/loss.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace wh::engine {

namespace {

bool isFloating(ir::DType t) {
    return t == ir::DType::kFloat || t == ir::DType::kDouble;
}

}  // namespace

// With p = softmax(z) and targets q = (1 - eps) onehot(label) + eps / C, the loss of a row is
// -sum q log p = logsumexp(z) - sum q z, and its gradient p - q (divided by B for the mean).
Expected<double> softmaxCrossEntropy(const HostTensor& logits, const HostTensor& labels,
                                     float smoothing, HostTensor* grad) {
    if (logits.rank() < 1 || labels.dtype() != ir::DType::kInt64 || labels.rank() != 1 ||
        labels.dim(0) != logits.dim(0))
        return error(StatusCode::kBadInput,
                     "cross-entropy needs logits [B, C] and int64 labels [B]; got {} {} and {} {}",
                     ir::dtypeName(logits.dtype()), dimsToString(logits.dims()),
                     ir::dtypeName(labels.dtype()), dimsToString(labels.dims()));
    if (!isFloating(logits.dtype()))
        return error(StatusCode::kBadInput, "cross-entropy of {} logits",
                     ir::dtypeName(logits.dtype()));
    const int64_t B = logits.dim(0);
    const int64_t C = B ? logits.numElements() / B : 0;
    if (grad) grad->ensure(logits.dtype(), logits.dims());
    const int64_t* y = labels.data<int64_t>();
    const double eps = smoothing;
    double total = 0;
    std::vector<double> row(static_cast<std::size_t>(C));
    for (int64_t b = 0; b < B; ++b) {
        if (y[b] < 0 || y[b] >= C)
            return error(StatusCode::kBadInput, "label {} of sample {} is outside [0, {})", y[b], b,
                         C);
        for (int64_t c = 0; c < C; ++c) row[static_cast<std::size_t>(c)] = logits.at(b * C + c);
        const double mx = *std::max_element(row.begin(), row.end());
        double sum = 0;
        for (double v : row) sum += std::exp(v - mx);
        const double lse = mx + std::log(sum);
        double loss = 0;
        for (int64_t c = 0; c < C; ++c) {
            const double q = (c == y[b] ? 1.0 - eps : 0.0) + eps / static_cast<double>(C);
            const double z = row[static_cast<std::size_t>(c)];
            loss += q * (lse - z);
            if (grad) {
                const double g = (std::exp(z - lse) - q) / static_cast<double>(B);
                if (grad->dtype() == ir::DType::kFloat)
                    grad->data<float>()[b * C + c] = static_cast<float>(g);
                else
                    grad->data<double>()[b * C + c] = g;
            }
        }
        total += loss;
    }
    return B ? total / static_cast<double>(B) : 0.0;
}

LossFunction softmaxCrossEntropyLoss(float smoothing, int output) {
    return [smoothing, output](const LossArgs& a) -> Expected<double> {
        const auto k = static_cast<std::size_t>(output);
        if (k >= a.outputs.size() || !a.outputs[k])
            return error(StatusCode::kBadInput, "cross-entropy on output {} of a model with {}",
                         output, a.outputs.size());
        for (std::size_t i = 0; i < a.outputGrads.size(); ++i)
            if (HostTensor* g = a.outputGrads[i]; g && i != k) {
                g->ensure(a.outputs[i]->dtype(), a.outputs[i]->dims());
                std::memset(g->raw(), 0, g->byteSize());
            }
        return softmaxCrossEntropy(*a.outputs[k], a.targets, smoothing,
                                   k < a.outputGrads.size() ? a.outputGrads[k] : nullptr);
    };
}

}  // namespace wh::engine
