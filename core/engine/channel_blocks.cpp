#include "core/engine/channel_blocks.h"

namespace wh::engine {

bool channelBlockable(const Dims& dims) {
    return dims.size() == 4 && dims[1] > 0 && dims[1] % kChannelBlock == 0 && dims[0] >= 0 &&
           dims[2] >= 0 && dims[3] >= 0;
}

namespace {

// One pass over [N, C/16] planes, each a transpose of a [16, S] tile to [S, 16] (or back).
Status convert(const HostTensor& src, HostTensor& dst, bool toBlocks) {
    if (src.dtype() != ir::DType::kFloat || !channelBlockable(src.dims()))
        return makeStatus(StatusCode::kInternal,
                          "channel blocks: 4-D float32 with C % 16 == 0, not {}",
                          dimsToString(src.dims()));
    dst.ensure(ir::DType::kFloat, src.dims());
    const int64_t N = src.dim(0), CB = src.dim(1) / kChannelBlock, S = src.dim(2) * src.dim(3);
    const float* in = src.data<float>();
    float* out = dst.data<float>();
    constexpr int64_t B = kChannelBlock;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; ++n)
        for (int64_t cb = 0; cb < CB; ++cb) {
            const int64_t base = (n * CB + cb) * B * S;  // same tile in both orders
            const float* p = in + base;
            float* q = out + base;
            if (toBlocks) {
                for (int64_t s = 0; s < S; ++s)
#pragma omp simd
                    for (int64_t l = 0; l < B; ++l) q[s * B + l] = p[l * S + s];
            } else {
                for (int64_t l = 0; l < B; ++l)
#pragma omp simd
                    for (int64_t s = 0; s < S; ++s) q[l * S + s] = p[s * B + l];
            }
        }
    return Status::ok();
}

}  // namespace

Status toChannelBlocks(const HostTensor& src, HostTensor& dst) {
    return convert(src, dst, true);
}
Status fromChannelBlocks(const HostTensor& src, HostTensor& dst) {
    return convert(src, dst, false);
}

}  // namespace wh::engine
