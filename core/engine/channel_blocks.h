#pragma once
/// Channel-blocked activations: oneDNN's "nChw16c" order, in which a 4-D [N, C, H, W] tensor is
/// stored as [N, C/16, H, W, 16] (sixteen channels side by side). oneDNN's convolutions (direct
/// and Winograd) run on it natively; a training plan that keeps the activations between
/// convolutions, BatchNormalization and elementwise ops in this order saves two reorders per
/// tensor per pass. Only for C % 16 == 0, so a blocked tensor takes exactly the bytes of the
/// plain one (no padding) and keeps the same dims; which tensors are blocked is the plan's
/// bookkeeping (TrainingPlan), never the tensor's.

#include <cstdint>

#include "core/engine/host_tensor.h"
#include "core/util/status.h"

namespace wh::engine {

inline constexpr int64_t kChannelBlock = 16;

/// True for a 4-D float32 shape whose channels fill whole blocks (the only ones kept blocked).
bool channelBlockable(const Dims& dims);

/// [N, C, H, W] plain <-> nChw16c; `dst` is ensure()d to src's dims. Fails (kInternal) unless
/// channelBlockable(src.dims()).
Status toChannelBlocks(const HostTensor& src, HostTensor& dst);
Status fromChannelBlocks(const HostTensor& src, HostTensor& dst);

/// Offset of element (n, c, s) (s = h * W + w, S = H * W) of a blocked tensor.
inline int64_t blockedOffset(int64_t n, int64_t c, int64_t s, int64_t C, int64_t S) {
    return ((n * (C / kChannelBlock) + c / kChannelBlock) * S + s) * kChannelBlock +
           c % kChannelBlock;
}

}  // namespace wh::engine
