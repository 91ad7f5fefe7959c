#include "core/engine/ref/broadcast.h"

#include <algorithm>

namespace wh::engine::ref {

Expected<Dims> broadcastDims(const Dims& a, const Dims& b) {
    const std::size_t rank = std::max(a.size(), b.size());
    Dims out(rank);
    for (std::size_t i = 0; i < rank; ++i) {
        // Right-aligned: missing leading dims act as 1.
        const int64_t x = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
        const int64_t y = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
        if (x == y)
            out[i] = x;
        else if (x == 1)
            out[i] = y;
        else if (y == 1)
            out[i] = x;
        else if (x < 0)
            out[i] = y;  // an unknown dim must equal the known d > 1 (or be 1)
        else if (y < 0)
            out[i] = x;
        else
            return error(StatusCode::kBadInput, "shapes {} and {} do not broadcast",
                         dimsToString(a), dimsToString(b));
    }
    return out;
}

Expected<Dims> broadcastDims(std::initializer_list<const Dims*> shapes) {
    Dims out;
    for (const Dims* s : shapes) {
        WH_ASSIGN_OR_RETURN(out, broadcastDims(out, *s));
    }
    return out;
}

Expected<TensorInfo> broadcastInfo(ir::DType dtype,
                                   std::initializer_list<const TensorInfo*> inputs) {
    TensorInfo out;
    out.dtype = dtype;
    for (const TensorInfo* in : inputs) {
        if (!in->rankKnown) {
            out.rankKnown = false;
            out.dims.clear();
            return out;
        }
        WH_ASSIGN_OR_RETURN(out.dims, broadcastDims(out.dims, in->dims));
    }
    return out;
}

std::vector<int64_t> contiguousStrides(const Dims& dims) {
    std::vector<int64_t> s(dims.size(), 1);
    for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i)
        s[static_cast<std::size_t>(i)] =
            s[static_cast<std::size_t>(i) + 1] * dims[static_cast<std::size_t>(i) + 1];
    return s;
}

Expected<BroadcastPlan> planBroadcastTo(const Dims& outDims,
                                        std::initializer_list<const Dims*> inputs) {
    if (inputs.size() > 8) return error(StatusCode::kInternal, "planBroadcast: more than 8 inputs");
    const std::size_t rank = outDims.size();
    // Per input: strides aligned to the output's rank, 0 where the input is broadcast.
    std::vector<std::vector<int64_t>> full;
    for (const Dims* in : inputs) {
        if (in->size() > rank)
            return error(StatusCode::kBadInput, "shape {} does not broadcast to {}",
                         dimsToString(*in), dimsToString(outDims));
        std::vector<int64_t> s(rank, 0);
        const std::vector<int64_t> own = contiguousStrides(*in);
        const std::size_t lead = rank - in->size();
        for (std::size_t i = 0; i < in->size(); ++i) {
            const int64_t d = (*in)[i], o = outDims[lead + i];
            if (d == o)
                s[lead + i] = d == 1 ? 0 : own[i];
            else if (d == 1)
                s[lead + i] = 0;
            else
                return error(StatusCode::kBadInput, "shape {} does not broadcast to {}",
                             dimsToString(*in), dimsToString(outDims));
        }
        full.push_back(std::move(s));
    }
    return planStrided(outDims, full);
}

BroadcastPlan planStrided(const Dims& outDims, const std::vector<std::vector<int64_t>>& full) {
    const std::size_t rank = outDims.size();
    BroadcastPlan plan;
    plan.outDims = outDims;
    plan.numElements = numElementsOf(outDims);
    // Merge adjacent dims d-1, d when every input walks them as one (stride[d-1] ==
    // stride[d] * dim[d]; broadcast dims have stride 0 on both sides). Size-1 dims merge freely.
    Dims dims;
    std::vector<std::vector<int64_t>> strides(full.size());
    for (std::size_t d = 0; d < rank; ++d) {
        const int64_t size = outDims[d];
        if (size == 1 && !dims.empty()) continue;
        bool merge = !dims.empty();
        for (std::size_t k = 0; merge && k < full.size(); ++k)
            merge = strides[k].back() == full[k][d] * size;
        if (dims.size() == 1 && dims[0] == 1) merge = true;  // a leading 1 absorbs anything
        if (merge) {
            dims.back() *= size;
            for (std::size_t k = 0; k < full.size(); ++k) strides[k].back() = full[k][d];
        } else {
            dims.push_back(size);
            for (std::size_t k = 0; k < full.size(); ++k) strides[k].push_back(full[k][d]);
        }
    }
    if (dims.empty()) {  // scalar output
        dims.push_back(1);
        for (auto& s : strides) s.push_back(0);
    }
    plan.dims = std::move(dims);
    plan.strides = std::move(strides);
    return plan;
}

Expected<BroadcastPlan> planBroadcast(std::initializer_list<const Dims*> inputs) {
    WH_ASSIGN_OR_RETURN(Dims out, broadcastDims(inputs));
    return planBroadcastTo(out, inputs);
}

}  // namespace wh::engine::ref
