#pragma once
/// Compute threads used by kernels (OpenMP, which oneDNN and our reference kernels share).

namespace wh::engine {

/// Sets the number of compute threads; 0 = one per core. Cheap when unchanged.
void setComputeThreads(int threads);
/// The number of threads kernels will use.
int computeThreads();

}  // namespace wh::engine
