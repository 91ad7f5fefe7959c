#include "core/algo/quant/gptq.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include <Eigen/Dense>

namespace wh::algo::quant {

namespace {

using MatrixRd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixRf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr int64_t kHessianChunk = 1024;  // rows converted to double at a time

// GPTQ of rows [row0, row0 + nrows) of `m` with Hessian `acc`, written into `q`.
Status gptqRows(const WeightMatrix& m, int64_t row0, int64_t nrows, const HessianAccumulator& acc,
                const WeightQuantOptions& options, const GptqOptions& gptq, QuantizedWeight& q) {
    const int64_t cols = m.cols;
    if (nrows == 0 || cols == 0) return Status::ok();
    Eigen::MatrixXd w(nrows, cols);  // column-major: GPTQ walks columns
    for (int64_t r = 0; r < nrows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
            const float v = m.at(row0 + r, c);
            if (!std::isfinite(v))
                return makeStatus(StatusCode::kBadInput, "GPTQ: weight element ({}, {}) is {}",
                                  row0 + r, c, v);
            w(r, c) = v;
        }
    Eigen::MatrixXd h = Eigen::Map<const MatrixRd>(acc.hessian().data(), cols, cols);

    // Dead inputs: the column never matters, quantize it as 0 and keep H invertible.
    for (int64_t i = 0; i < cols; ++i)
        if (h(i, i) == 0.0) {
            h(i, i) = 1.0;
            w.col(i).setZero();
        }

    const int64_t groups = q.groups();
    const int64_t width = q.groupSize == 0 ? cols : q.groupSize;
    const bool dynamicGroups = q.groupSize > 0 && !gptq.actOrder;
    std::vector<QuantParams> params(static_cast<std::size_t>(nrows * groups));
    std::vector<float> scratch;
    // Parameters of (row, group) from the current values of the group's columns; `col0` is the
    // group's first column in `source`'s column order (the original order when called).
    auto setParams = [&](const Eigen::MatrixXd& source, int64_t g, int64_t col0) {
        const int64_t n = std::min(width, cols - g * width);
        scratch.resize(static_cast<std::size_t>(n));
        for (int64_t r = 0; r < nrows; ++r) {
            for (int64_t k = 0; k < n; ++k)
                scratch[static_cast<std::size_t>(k)] = static_cast<float>(source(r, col0 + k));
            const QuantParams p = quantParams(scratch, options);
            params[static_cast<std::size_t>(r * groups + g)] = p;
            q.scales[static_cast<std::size_t>((row0 + r) * groups + g)] = p.scale;
            if (!q.zeroPoints.empty())
                q.zeroPoints[static_cast<std::size_t>((row0 + r) * groups + g)] = p.zeroPoint;
        }
    };
    if (!dynamicGroups)  // per row, or act order's static groups: from the original order
        for (int64_t g = 0; g < groups; ++g) setParams(w, g, g * width);

    std::vector<int64_t> perm(static_cast<std::size_t>(cols));
    std::iota(perm.begin(), perm.end(), 0);
    if (gptq.actOrder) {
        // Stable, so that ties keep their order and the result is the same everywhere.
        std::stable_sort(perm.begin(), perm.end(),
                         [&](int64_t a, int64_t b) { return h(a, a) > h(b, b); });
        Eigen::MatrixXd wp(nrows, cols), hp(cols, cols);
        for (int64_t j = 0; j < cols; ++j) wp.col(j) = w.col(perm[static_cast<std::size_t>(j)]);
        for (int64_t i = 0; i < cols; ++i)
            for (int64_t j = 0; j < cols; ++j)
                hp(i, j) = h(perm[static_cast<std::size_t>(i)], perm[static_cast<std::size_t>(j)]);
        w.swap(wp);
        h.swap(hp);
    }

    const double damp = gptq.damp * h.diagonal().mean();
    h.diagonal().array() += damp;
    Eigen::LLT<Eigen::MatrixXd> llt(h);
    if (llt.info() != Eigen::Success)
        return makeStatus(StatusCode::kBadInput,
                          "GPTQ: the damped Hessian is not positive definite (damp {}); "
                          "raise damp or add calibration data",
                          gptq.damp);
    const Eigen::MatrixXd hinv = llt.solve(Eigen::MatrixXd::Identity(cols, cols));
    Eigen::LLT<Eigen::MatrixXd> lltInv(hinv);
    if (lltInv.info() != Eigen::Success)
        return makeStatus(StatusCode::kBadInput,
                          "GPTQ: the inverse Hessian is numerically singular (damp {}); raise damp",
                          gptq.damp);
    const Eigen::MatrixXd u = lltInv.matrixU();

    Eigen::VectorXd err(nrows);
    for (int64_t i1 = 0; i1 < cols;) {
        int64_t i2 = std::min(i1 + gptq.blockSize, cols);
        if (dynamicGroups) i2 = std::min(i2, (i1 / width + 1) * width);
        const int64_t count = i2 - i1;
        Eigen::MatrixXd blockErr(nrows, count);
        for (int64_t j = i1; j < i2; ++j) {
            if (dynamicGroups && j % width == 0) setParams(w, j / width, j);
            const int64_t orig = perm[static_cast<std::size_t>(j)];
            const int64_t g = q.groupOf(orig);
            const double d = u(j, j);
            for (int64_t r = 0; r < nrows; ++r) {
                const QuantParams& p = params[static_cast<std::size_t>(r * groups + g)];
                const int32_t code = p.quantize(w(r, j));
                q.codes[static_cast<std::size_t>((row0 + r) * cols + orig)] = code;
                err(r) = (w(r, j) - static_cast<double>(p.dequantize(code))) / d;
            }
            const int64_t rest = i2 - j - 1;
            if (rest > 0)
                w.middleCols(j + 1, rest).noalias() -= err * u.row(j).segment(j + 1, rest);
            blockErr.col(j - i1) = err;
        }
        if (i2 < cols)
            w.rightCols(cols - i2).noalias() -= blockErr * u.block(i1, i2, count, cols - i2);
        i1 = i2;
    }
    return Status::ok();
}

Status checkGptq(const WeightMatrix& matrix, const WeightQuantOptions& options,
                 const GptqOptions& gptq) {
    WH_RETURN_STATUS_IF_ERROR(validate(options));
    if (!(gptq.damp > 0.0) || !std::isfinite(gptq.damp))
        return makeStatus(StatusCode::kUsage, "GPTQ: damp must be > 0, got {}", gptq.damp);
    if (gptq.blockSize < 1)
        return makeStatus(StatusCode::kUsage, "GPTQ: block size must be >= 1, got {}",
                          gptq.blockSize);
    if (static_cast<int64_t>(matrix.values.size()) != matrix.rows * matrix.cols)
        return makeStatus(StatusCode::kUsage, "GPTQ: matrix holds {} values for {} x {}",
                          matrix.values.size(), matrix.rows, matrix.cols);
    return Status::ok();
}

}  // namespace

HessianAccumulator::HessianAccumulator(int64_t cols)
    : m_cols(std::max<int64_t>(cols, 0)), m_h(static_cast<std::size_t>(m_cols * m_cols), 0.0) {}

void HessianAccumulator::add(const float* x, int64_t n) {
    if (n <= 0 || m_cols == 0) return;
    Eigen::Map<MatrixRd> h(m_h.data(), m_cols, m_cols);
    for (int64_t start = 0; start < n; start += kHessianChunk) {
        const int64_t c = std::min(kHessianChunk, n - start);
        const Eigen::MatrixXd xd =
            Eigen::Map<const MatrixRf>(x + start * m_cols, c, m_cols).cast<double>();
        // Running average: H_new = N/(N+c) H + 2/(N+c) Σ x xᵀ over the c new rows.
        const double total = static_cast<double>(m_rows + c);
        h *= static_cast<double>(m_rows) / total;
        h.noalias() += (2.0 / total) * (xd.transpose() * xd);
        m_rows += c;
    }
}

void HessianAccumulator::merge(const HessianAccumulator& other) {
    WH_ASSERT(other.m_cols == m_cols);
    if (other.m_rows == 0) return;
    const double total = static_cast<double>(m_rows + other.m_rows);
    const double a = static_cast<double>(m_rows) / total;
    const double b = static_cast<double>(other.m_rows) / total;
    for (std::size_t i = 0; i < m_h.size(); ++i) m_h[i] = a * m_h[i] + b * other.m_h[i];
    m_rows += other.m_rows;
}

Expected<std::vector<float>> im2colRows(std::span<const float> input,
                                        std::span<const int64_t> inputDims,
                                        std::span<const int64_t> weightDims,
                                        const ConvGeometry& geometry, int64_t groupIndex) {
    const auto rank = inputDims.size();
    if (rank < 3 || rank > 5 || weightDims.size() != rank)
        return error(StatusCode::kBadInput,
                     "im2col: input rank {} and weight rank {} (need equal, 3 to 5)", rank,
                     weightDims.size());
    const std::size_t spatial = rank - 2;
    const int64_t batch = inputDims[0], channels = inputDims[1], group = geometry.group;
    if (group < 1 || channels % group != 0 || weightDims[1] * group != channels ||
        weightDims[0] % group != 0 || groupIndex < 0 || groupIndex >= group)
        return error(StatusCode::kBadInput,
                     "im2col: input channels {}, weight dims [{}, {}, ...], group {}, index {} "
                     "disagree",
                     channels, weightDims[0], weightDims[1], group, groupIndex);
    auto attr = [&](const std::vector<int64_t>& v, std::size_t expected, int64_t fallback,
                    const char* name) -> Expected<std::vector<int64_t>> {
        if (v.empty()) return std::vector<int64_t>(expected, fallback);
        if (v.size() != expected)
            return error(StatusCode::kBadInput, "im2col: {} has {} values, expected {}", name,
                         v.size(), expected);
        return v;
    };
    WH_ASSIGN_OR_RETURN(auto strides, attr(geometry.strides, spatial, 1, "strides"));
    WH_ASSIGN_OR_RETURN(auto pads, attr(geometry.pads, 2 * spatial, 0, "pads"));
    WH_ASSIGN_OR_RETURN(auto dilations, attr(geometry.dilations, spatial, 1, "dilations"));

    std::array<int64_t, 3> in{}, kernel{}, out{}, inStride{}, outStride{}, kStride{};
    int64_t inSize = 1, outSize = 1, kSize = 1;
    for (std::size_t s = 0; s < spatial; ++s) {
        in[s] = inputDims[2 + s];
        kernel[s] = weightDims[2 + s];
        if (strides[s] < 1 || dilations[s] < 1 || pads[s] < 0 || pads[s + spatial] < 0 ||
            in[s] < 0 || kernel[s] < 1)
            return error(StatusCode::kBadInput, "im2col: bad geometry in spatial dim {}", s);
        const int64_t span = dilations[s] * (kernel[s] - 1) + 1;
        const int64_t padded = in[s] + pads[s] + pads[s + spatial];
        if (padded < span)
            return error(StatusCode::kBadInput,
                         "im2col: kernel extent {} exceeds padded input {} in spatial dim {}", span,
                         padded, s);
        out[s] = (padded - span) / strides[s] + 1;
        inSize *= in[s];
        outSize *= out[s];
        kSize *= kernel[s];
    }
    for (std::size_t s = spatial; s-- > 0;) {
        inStride[s] = s + 1 == spatial ? 1 : inStride[s + 1] * in[s + 1];
        outStride[s] = s + 1 == spatial ? 1 : outStride[s + 1] * out[s + 1];
        kStride[s] = s + 1 == spatial ? 1 : kStride[s + 1] * kernel[s + 1];
    }
    if (batch < 0 || static_cast<int64_t>(input.size()) != batch * channels * inSize)
        return error(StatusCode::kBadInput, "im2col: {} input values for dims of {} elements",
                     input.size(), batch * channels * inSize);

    const int64_t cg = channels / group;
    const int64_t cols = cg * kSize;
    std::vector<float> rows(static_cast<std::size_t>(batch * outSize * cols), 0.0f);
    std::size_t at = 0;
    for (int64_t n = 0; n < batch; ++n)
        for (int64_t o = 0; o < outSize; ++o) {
            std::array<int64_t, 3> origin{};  // input coordinate of kernel position 0
            for (std::size_t s = 0; s < spatial; ++s)
                origin[s] = (o / outStride[s]) % out[s] * strides[s] - pads[s];
            for (int64_t c = 0; c < cg; ++c) {
                const float* plane = input.data() + (n * channels + groupIndex * cg + c) * inSize;
                for (int64_t k = 0; k < kSize; ++k, ++at) {
                    int64_t offset = 0;
                    bool inside = true;
                    for (std::size_t s = 0; s < spatial && inside; ++s) {
                        const int64_t i = origin[s] + (k / kStride[s]) % kernel[s] * dilations[s];
                        inside = i >= 0 && i < in[s];
                        offset += i * inStride[s];
                    }
                    if (inside) rows[at] = plane[offset];
                }
            }
        }
    return rows;
}

Expected<QuantizedWeight> quantizeGptq(const WeightMatrix& matrix,
                                       const HessianAccumulator& hessian,
                                       const WeightQuantOptions& options, const GptqOptions& gptq) {
    return quantizeGptq(matrix, std::span<const HessianAccumulator>(&hessian, 1), options, gptq);
}

Expected<QuantizedWeight> quantizeGptq(const WeightMatrix& matrix,
                                       std::span<const HessianAccumulator> hessians,
                                       const WeightQuantOptions& options, const GptqOptions& gptq) {
    WH_RETURN_IF_ERROR(checkGptq(matrix, options, gptq));
    const auto blocks = static_cast<int64_t>(hessians.size());
    if (blocks < 1 || matrix.rows % blocks != 0)
        return error(StatusCode::kUsage, "GPTQ: {} rows cannot be split into {} Hessian blocks",
                     matrix.rows, blocks);
    for (const HessianAccumulator& h : hessians)
        if (h.cols() != matrix.cols)
            return error(StatusCode::kUsage, "GPTQ: Hessian of {} columns for a matrix of {}",
                         h.cols(), matrix.cols);
    QuantizedWeight q = makeQuantizedWeight(matrix, options);
    const int64_t per = matrix.rows / blocks;
    for (int64_t b = 0; b < blocks; ++b)
        WH_RETURN_IF_ERROR(gptqRows(matrix, b * per, per, hessians[static_cast<std::size_t>(b)],
                                    options, gptq, q));
    return q;
}

}  // namespace wh::algo::quant
