#pragma once
/// Numpy multidirectional broadcasting for the reference kernels (and anyone else): shape
/// inference that tolerates unknown (-1) dims, and a row iterator that walks the output in
/// contiguous inner runs with each input's offset and inner stride precomputed — no per-element
/// index arithmetic, no per-element calls through a pointer.
///
///   WH_ASSIGN_OR_RETURN(BroadcastPlan p, planBroadcast({&a.dims(), &b.dims()}));
///   out.ensure(dtype, p.outDims);
///   forEachRow(p, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* step) {
///       for (int64_t i = 0; i < n; ++i) y[o + i] = pa[off[0] + i * step[0]] + pb[off[1] + i *
///       step[1]];
///   });

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "core/engine/host_tensor.h"
#include "core/engine/kernel.h"
#include "core/util/status.h"

namespace wh::engine::ref {

/// The broadcast of two shapes (right-aligned; a dim of 1 stretches). -1 (unknown) combines with
/// a known d > 1 to d and otherwise stays -1. kBadInput when two known dims differ and neither
/// is 1.
Expected<Dims> broadcastDims(const Dims& a, const Dims& b);
/// The broadcast of several shapes.
Expected<Dims> broadcastDims(std::initializer_list<const Dims*> shapes);
/// Output TensorInfo dims of broadcasting `inputs` (unknown rank if any input's rank is unknown).
Expected<TensorInfo> broadcastInfo(ir::DType dtype,
                                   std::initializer_list<const TensorInfo*> inputs);

/// Precomputed iteration of a broadcast: the output is visited in rows of `dims.back()`
/// elements (after merging adjacent dims that every input walks contiguously).
struct BroadcastPlan {
    Dims outDims;                               ///< the full output shape
    Dims dims;                                  ///< merged output dims (at least one)
    std::vector<std::vector<int64_t>> strides;  ///< per input, per merged dim; 0 = broadcast
    int64_t numElements = 0;
};

/// Plans broadcasting `inputs` (all dims known) to their common shape.
Expected<BroadcastPlan> planBroadcast(std::initializer_list<const Dims*> inputs);
/// Plans reading each input broadcast to `outDims` (which must be a valid broadcast target, e.g.
/// PRelu's slope to X's shape). kBadInput if an input does not broadcast to it.
Expected<BroadcastPlan> planBroadcastTo(const Dims& outDims,
                                        std::initializer_list<const Dims*> inputs);

/// Plans visiting `dims` in row-major order while operand k walks its own tensor with
/// `strides[k]` (one stride per dim, any sign; Transpose, Slice and reductions use this). Adjacent
/// dims are merged where every operand allows it.
BroadcastPlan planStrided(const Dims& dims, const std::vector<std::vector<int64_t>>& strides);

/// Calls f(outOffset, inOffsets, count, innerSteps) once per output row: element i of the row is
/// output[outOffset + i], input k's element inOffsets[k] + i * innerSteps[k]. Up to 8 inputs.
template <class F>
void forEachRow(const BroadcastPlan& plan, F&& f) {
    const std::size_t n = plan.strides.size();
    const int rank = static_cast<int>(plan.dims.size());
    if (plan.numElements == 0) return;
    const int64_t inner = plan.dims.back();
    int64_t steps[8], offsets[8];
    for (std::size_t k = 0; k < n; ++k) {
        steps[k] = plan.strides[k].back();
        offsets[k] = 0;
    }
    std::vector<int64_t> index(static_cast<std::size_t>(rank), 0);
    for (int64_t out = 0; out < plan.numElements; out += inner) {
        f(out, static_cast<const int64_t*>(offsets), inner, static_cast<const int64_t*>(steps));
        // Odometer over the outer dims, updating each input's offset incrementally.
        for (int d = rank - 2; d >= 0; --d) {
            const auto du = static_cast<std::size_t>(d);
            if (++index[du] < plan.dims[du]) {
                for (std::size_t k = 0; k < n; ++k) offsets[k] += plan.strides[k][du];
                break;
            }
            for (std::size_t k = 0; k < n; ++k)
                offsets[k] -= plan.strides[k][du] * (plan.dims[du] - 1);
            index[du] = 0;
        }
    }
}

/// Row-major strides of `dims` (innermost 1).
std::vector<int64_t> contiguousStrides(const Dims& dims);

}  // namespace wh::engine::ref
