#pragma once
/// BufferPool: the storage of released activations and consumed gradients of a training plan,
/// handed to the next tensor that needs at least that many bytes (best fit, at most twice the
/// size), so that from the second step on a step allocates (and zero-fills, and page-faults)
/// nothing. Buffers no tensor took during a whole run are freed by trim().
/// Tests: with WHITTLE_POISON_BUFFERS=1 in the environment (ctest sets it for every test) each
/// buffer acquire() hands out is first filled with 0xFF bytes (NaN floats, -1 integers), so a
/// kernel that reads its output before writing it, or relies on fresh storage being zero, shows.
/// Thread-safety: none; one plan's.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/engine/host_tensor.h"

namespace wh::engine {

class BufferPool {
public:
    /// A pooled tensor holding at least `bytes` bytes of storage (its dims are stale: callers
    /// ensure()), or an empty tensor when none fits.
    HostTensor acquire(std::size_t bytes);
    /// Empties `t`, keeping its storage for reuse when `keep` and no other tensor shares it
    /// (a Reshape's view, a gradient passed through); `run` stamps when it was given back.
    void recycle(HostTensor& t, uint64_t run, bool keep = true);
    /// Frees the buffers given back before run `run` and not taken since.
    void trim(uint64_t run);

private:
    std::vector<HostTensor> m_buffers;
    std::vector<uint64_t> m_stamps;  // the run that gave each buffer back
};

}  // namespace wh::engine
