#include "core/algo/quant/weight_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace wh::algo::quant {

Status validate(const WeightQuantOptions& options) {
    if (options.bits < 2 || options.bits > 16)
        return makeStatus(StatusCode::kUsage,
                          "weight quantization: bits must be in [2, 16], got {}", options.bits);
    if (options.groupSize < 0)
        return makeStatus(StatusCode::kUsage,
                          "weight quantization: group size must be >= 0 (0 = per channel), got {}",
                          options.groupSize);
    return Status::ok();
}

Expected<WeightMatrix> weightMatrix(const ir::Tensor& tensor, bool transposed) {
    if (tensor.dtype != ir::DType::kFloat)
        return error(StatusCode::kBadInput, "weight '{}': only float32 weights can be quantized",
                     tensor.name);
    const auto rank = tensor.dims.size();
    if (transposed ? rank != 2 : rank < 2)
        return error(StatusCode::kBadInput,
                     "weight '{}': rank {} cannot be viewed as a matrix ({})", tensor.name, rank,
                     transposed ? "a transposed view needs rank 2" : "rank >= 2 needed");
    for (int64_t d : tensor.dims)
        if (d < 0) return error(StatusCode::kBadInput, "weight '{}': negative dim", tensor.name);
    const int64_t n = tensor.numElements();
    if (tensor.byteSize() != static_cast<std::size_t>(n) * sizeof(float))
        return error(StatusCode::kBadInput, "weight '{}': {} bytes of data for {} floats",
                     tensor.name, tensor.byteSize(), n);

    WeightMatrix m;
    m.dims = tensor.dims;
    m.transposed = transposed;
    m.rows = transposed ? tensor.dims[1] : tensor.dims[0];
    m.cols = 1;
    if (transposed)
        m.cols = tensor.dims[0];
    else
        for (std::size_t i = 1; i < rank; ++i) m.cols *= tensor.dims[i];
    m.values.resize(static_cast<std::size_t>(n));
    if (n > 0) std::memcpy(m.values.data(), tensor.data->data(), m.values.size() * sizeof(float));
    if (transposed) {
        // ONNX [K, N] -> view [N, K].
        std::vector<float> t(m.values.size());
        for (int64_t k = 0; k < m.cols; ++k)
            for (int64_t r = 0; r < m.rows; ++r)
                t[static_cast<std::size_t>(r * m.cols + k)] =
                    m.values[static_cast<std::size_t>(k * m.rows + r)];
        m.values.swap(t);
    }
    return m;
}

int32_t QuantParams::quantize(double w) const {
    const double q = std::nearbyint(w / static_cast<double>(scale)) + zeroPoint;
    return static_cast<int32_t>(
        std::clamp(q, static_cast<double>(qmin), static_cast<double>(qmax)));
}

QuantParams quantParams(std::span<const float> w, const WeightQuantOptions& options) {
    QuantParams p;
    const int b = options.bits;
    if (options.symmetric) {
        p.qmax = (int32_t{1} << (b - 1)) - 1;
        p.qmin = -(int32_t{1} << (b - 1)) + (options.narrowRange ? 1 : 0);
        double amax = 0.0;
        for (float v : w) amax = std::max(amax, std::fabs(static_cast<double>(v)));
        p.scale = amax > 0.0 ? static_cast<float>(amax / p.qmax) : 1.0f;
        return p;
    }
    p.qmin = options.narrowRange ? 1 : 0;
    p.qmax = (int32_t{1} << b) - 1;
    double lo = 0.0, hi = 0.0;
    for (float v : w) {
        lo = std::min(lo, static_cast<double>(v));
        hi = std::max(hi, static_cast<double>(v));
    }
    if (hi == lo) {
        p.zeroPoint = p.qmin;
        return p;
    }
    const double scale = (hi - lo) / (p.qmax - p.qmin);
    p.scale = static_cast<float>(scale);
    p.zeroPoint =
        static_cast<int32_t>(std::clamp(std::nearbyint(p.qmin - lo / static_cast<double>(p.scale)),
                                        static_cast<double>(p.qmin), static_cast<double>(p.qmax)));
    return p;
}

QuantizedWeight makeQuantizedWeight(const WeightMatrix& matrix, const WeightQuantOptions& options) {
    QuantizedWeight q;
    q.dims = matrix.dims;
    q.rows = matrix.rows;
    q.cols = matrix.cols;
    q.transposed = matrix.transposed;
    q.bits = options.bits;
    q.isUnsigned = !options.symmetric;
    q.narrowRange = options.narrowRange;
    q.groupSize = options.groupSize;
    q.codes.assign(static_cast<std::size_t>(q.rows * q.cols), 0);
    q.scales.assign(static_cast<std::size_t>(q.rows * q.groups()), 1.0f);
    if (!options.symmetric) q.zeroPoints.assign(q.scales.size(), 0);
    return q;
}

Expected<QuantizedWeight> quantizeRtn(const WeightMatrix& matrix,
                                      const WeightQuantOptions& options) {
    WH_RETURN_IF_ERROR(validate(options));
    QuantizedWeight q = makeQuantizedWeight(matrix, options);
    const int64_t groups = q.groups();
    const int64_t width = q.groupSize == 0 ? q.cols : q.groupSize;
    for (int64_t r = 0; r < q.rows; ++r) {
        for (int64_t g = 0; g < groups; ++g) {
            const int64_t begin = g * width, end = std::min(q.cols, begin + width);
            const std::span<const float> w(matrix.values.data() + r * q.cols + begin,
                                           static_cast<std::size_t>(end - begin));
            const QuantParams p = quantParams(w, options);
            q.scales[static_cast<std::size_t>(r * groups + g)] = p.scale;
            if (!q.zeroPoints.empty())
                q.zeroPoints[static_cast<std::size_t>(r * groups + g)] = p.zeroPoint;
            for (int64_t c = begin; c < end; ++c)
                q.codes[static_cast<std::size_t>(r * q.cols + c)] =
                    p.quantize(w[static_cast<std::size_t>(c - begin)]);
        }
    }
    return q;
}

ir::Tensor dequantize(const QuantizedWeight& weight, std::string name) {
    std::vector<float> values(static_cast<std::size_t>(weight.rows * weight.cols));
    for (int64_t r = 0; r < weight.rows; ++r)
        for (int64_t c = 0; c < weight.cols; ++c) {
            // The view is [rows, cols]; a transposed ONNX tensor is [cols, rows].
            const int64_t at = weight.transposed ? c * weight.rows + r : r * weight.cols + c;
            values[static_cast<std::size_t>(at)] = weight.value(r, c);
        }
    return ir::Tensor::fromFloats(std::move(name), weight.dims, values);
}

}  // namespace wh::algo::quant
