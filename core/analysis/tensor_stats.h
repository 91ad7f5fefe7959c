#pragma once
/// Summary statistics of one weight or activation tensor: count, min, max, mean, standard
/// deviation, sparsity and a histogram. What the node inspector shows for every weight, and what
/// calibration and sensitivity reports need; no Qt.
///
/// Thread-safety: computeTensorStats reads the tensor only; call it from any thread while no one
/// writes the tensor (weights are copy-on-write buffers, so a snapshot is safe).

#include <cstdint>
#include <vector>

#include "core/ir/tensor.h"
#include "core/jobs/job_context.h"
#include "core/util/status.h"

namespace wh::analysis {

/// Summary statistics of one numeric tensor. NaN and infinite elements are counted in
/// `nonFinite` and left out of everything else.
struct TensorStats {
    int64_t count = 0;   ///< all elements
    int64_t finite = 0;  ///< elements that are neither NaN nor infinite
    int64_t zeros = 0;   ///< elements exactly 0 (or -0)
    int64_t nonFinite = 0;
    double min = 0;
    double max = 0;
    double mean = 0;
    double stddev = 0;  ///< population standard deviation
    /// Counts over [min, max] split into equal bins (the last bin includes max). Empty when no
    /// finite element exists.
    std::vector<int64_t> histogram;

    /// Fraction of elements that are exactly zero.
    double sparsity() const { return count ? static_cast<double>(zeros) / count : 0.0; }
};

/// Computes TensorStats with `bins` histogram bins (at least 1). Fails with kUnsupported for
/// non-numeric tensors (strings, complex) and kBadInput when the data is shorter than the dims
/// say. Polls `job` (if any) for cancellation about every 256k elements and reports progress.
Expected<TensorStats> computeTensorStats(const ir::Tensor& tensor, int bins = 64,
                                         jobs::JobContext* job = nullptr);

}  // namespace wh::analysis
