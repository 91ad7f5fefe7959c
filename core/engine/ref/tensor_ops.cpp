// Reference tensor kernels: data movement (Concat, Split, Slice, Gather, Reshape, Flatten,
// Transpose, Squeeze, Unsqueeze, Pad), shape plumbing (Shape, Constant, ConstantOfShape) and
// reductions (ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
// ReduceLogSum, ReduceLogSumExp, ReduceSumSquare, ArgMax, ArgMin).
//
// Shape-like inputs (Reshape's shape, Slice's starts, Unsqueeze's axes, ...) are normally
// constant at compile time: each op has one shape function used both by the factory (to give
// downstream kernels static shapes) and by run() when something was only known at run time.
// Data is moved by element size (1/2/4/8 bytes, or std::string), not by element type.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/engine/ref/broadcast.h"
#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/ref_kernels.h"
#include "core/util/checked_math.h"

namespace wh::engine::ref {

namespace {

using D = ir::DType;
using Ints = std::vector<int64_t>;
using Ins = std::span<const HostTensor* const>;
using Outs = std::span<HostTensor* const>;
constexpr Backend kRef = Backend::kReference;

const HostTensor* optionalInput(Ins in, int i) {
    return static_cast<std::size_t>(i) < in.size() ? in[static_cast<std::size_t>(i)] : nullptr;
}

// The values of input i when it is known at compile time.
std::optional<Ints> constantInts(const KernelContext& ctx, int i) {
    if (!ctx.hasInput(i) || !ctx.inputs[static_cast<std::size_t>(i)].constant) return std::nullopt;
    return ctx.inputs[static_cast<std::size_t>(i)].constant->toInt64s();
}

// Calls f(E{}) with a type of the tensor's element size (or std::string for strings).
template <class F>
void byElementSize(ir::DType dtype, F&& f) {
    if (dtype == D::kString) return f(std::string{});
    switch (ir::dtypeSize(dtype)) {
        case 1:
            return f(uint8_t{});
        case 2:
            return f(uint16_t{});
        case 4:
            return f(uint32_t{});
        case 8:
            return f(uint64_t{});
        default:
            WH_ASSERT(false && "byElementSize: unexpected element size");
    }
}

template <class E>
const E* elems(const HostTensor& t) {
    if constexpr (std::is_same_v<E, std::string>)
        return t.strings().data();
    else
        return t.data<E>();
}
template <class E>
E* elems(HostTensor& t) {
    if constexpr (std::is_same_v<E, std::string>)
        return t.strings().data();
    else
        return t.data<E>();
}

Status checkType(const HostTensor& t, std::string_view what) {
    if (t.dtype() == D::kUndefined || (t.dtype() != D::kString && ir::dtypeSize(t.dtype()) == 0))
        return makeStatus(StatusCode::kUnsupported, "{} has unsupported type {}", what,
                          typeName(t.dtype()));
    return Status::ok();
}

// out[plan order] = in[base + offsets of the plan] (operand 0 of the plan walks the input).
void stridedCopy(const HostTensor& in, int64_t base, const BroadcastPlan& plan, HostTensor& out) {
    byElementSize(in.dtype(), [&](auto tag) {
        using E = decltype(tag);
        const E* src = elems<E>(in) + base;
        E* dst = elems<E>(out);
        forEachRow(plan, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* step) {
            const E* s = src + off[0];
            const int64_t st = step[0];
            if (st == 1)
                std::copy(s, s + n, dst + o);
            else
                for (int64_t i = 0; i < n; ++i) dst[o + i] = s[i * st];
        });
    });
}

// A kernel whose output is its input's data under new dims (Reshape, Flatten, Squeeze, ...).
// `shapeFn(const HostTensor* const* inputs) -> Expected<Dims>` computes the output dims.
template <class ShapeFn>
std::unique_ptr<Kernel> reshapeKernel(ShapeFn shapeFn) {
    return makeKernel([shapeFn](Ins in, Outs out) -> Status {
        WH_ASSIGN_OR_RETURN_STATUS(Dims dims, shapeFn(in));
        if (numElementsOf(dims) != in[0]->numElements())
            return makeStatus(StatusCode::kBadInput, "cannot reshape {} elements {} to {}",
                              in[0]->numElements(), dimsToString(in[0]->dims()),
                              dimsToString(dims));
        copyTensor(*in[0], *out[0], dims);
        return Status::ok();
    });
}

// Unknown dims stay unknown through a product.
int64_t productOrUnknown(const Dims& dims, std::size_t begin, std::size_t end) {
    int64_t p = 1;
    for (std::size_t i = begin; i < end; ++i) {
        if (dims[i] < 0) return -1;
        p *= dims[i];
    }
    return p;
}

// ---------------------------------------------------------------- Concat

Expected<Dims> concatDims(const std::vector<const Dims*>& inputs, int64_t axisAttr) {
    if (inputs.empty()) return error(StatusCode::kBadInput, "no inputs");
    const auto rank = static_cast<int64_t>(inputs[0]->size());
    WH_ASSIGN_OR_RETURN(int axis, normalizeAxis(axisAttr, rank, "axis"));
    Dims out = *inputs[0];
    for (std::size_t k = 1; k < inputs.size(); ++k) {
        const Dims& d = *inputs[k];
        if (static_cast<int64_t>(d.size()) != rank)
            return error(StatusCode::kBadInput, "inputs {} and {} differ in rank",
                         dimsToString(*inputs[0]), dimsToString(d));
        for (int64_t i = 0; i < rank; ++i) {
            auto& o = out[static_cast<std::size_t>(i)];
            const int64_t v = d[static_cast<std::size_t>(i)];
            if (i == axis)
                o = (o < 0 || v < 0) ? -1 : o + v;
            else if (o < 0)
                o = v;
            else if (v >= 0 && v != o)
                return error(StatusCode::kBadInput, "inputs {} and {} differ off axis {}",
                             dimsToString(*inputs[0]), dimsToString(d), axis);
        }
    }
    return out;
}

Expected<KernelBuild> concatFactory(const KernelContext& ctx) {
    const ir::Attribute* axisAttr = ctx.node.attribute("axis");
    if (!axisAttr)
        return error(StatusCode::kBadInput, "{}: attribute 'axis' is missing", ctx.where());
    const int64_t axis = axisAttr->i;
    if (ctx.inputs.empty()) return error(StatusCode::kBadInput, "{}: no inputs", ctx.where());
    std::vector<const Dims*> dims;
    bool ranksKnown = true;
    for (std::size_t i = 0; i < ctx.inputs.size(); ++i) {
        if (!ctx.hasInput(static_cast<int>(i)))
            return error(StatusCode::kBadInput, "{}: input {} is missing", ctx.where(), i);
        if (ctx.inputs[i].dtype != ctx.inputs[0].dtype)
            return error(StatusCode::kBadInput, "{}: inputs are {} and {}", ctx.where(),
                         typeName(ctx.inputs[0].dtype), typeName(ctx.inputs[i].dtype));
        ranksKnown = ranksKnown && ctx.inputs[i].rankKnown;
        dims.push_back(&ctx.inputs[i].dims);
    }
    TensorInfo out = unknownRank(ctx.inputs[0].dtype);
    if (ranksKnown) {
        WH_ASSIGN_OR_RETURN(Dims d, concatDims(dims, axis));
        out = infoOf(ctx.inputs[0].dtype, std::move(d));
    }
    auto kernel = makeKernel([axis](Ins in, Outs outs) -> Status {
        std::vector<const Dims*> dims;
        for (const HostTensor* t : in) dims.push_back(&t->dims());
        WH_ASSIGN_OR_RETURN_STATUS(Dims outDims, concatDims(dims, axis));
        const int a =
            static_cast<int>(axis < 0 ? axis + static_cast<int64_t>(outDims.size()) : axis);
        HostTensor& y = *outs[0];
        y.ensure(in[0]->dtype(), outDims);
        const int64_t outer = productOrUnknown(outDims, 0, static_cast<std::size_t>(a));
        const int64_t inner =
            productOrUnknown(outDims, static_cast<std::size_t>(a) + 1, outDims.size());
        const int64_t outRow = outDims[static_cast<std::size_t>(a)] * inner;
        byElementSize(y.dtype(), [&](auto tag) {
            using E = decltype(tag);
            E* dst = elems<E>(y);
            int64_t column = 0;
            for (const HostTensor* t : in) {
                const int64_t row = t->dim(a) * inner;
                const E* src = elems<E>(*t);
                for (int64_t o = 0; o < outer; ++o)
                    std::copy(src + o * row, src + (o + 1) * row, dst + o * outRow + column);
                column += row;
            }
        });
        return Status::ok();
    });
    return singleOutput(std::move(kernel), std::move(out));
}

// ---------------------------------------------------------------- Split

struct SplitSpec {
    int64_t axis = 0;
    int numOutputs = 1;
    bool fromInput = false;       // opset 13+: sizes in input 1
    Ints sizes;                   // attribute form / constant input; empty = equal parts
    bool numOutputsAttr = false;  // opset 18 num_outputs: ceil-sized parts, last smaller
};

Expected<Ints> splitSizes(const SplitSpec& s, int64_t dim, const Ints& sizes) {
    if (!sizes.empty()) {
        if (static_cast<int>(sizes.size()) != s.numOutputs)
            return error(StatusCode::kBadInput, "split has {} sizes for {} outputs", sizes.size(),
                         s.numOutputs);
        int64_t sum = 0;
        for (int64_t v : sizes) {
            if (v < 0) return error(StatusCode::kBadInput, "negative split size {}", v);
            sum += v;
        }
        if (dim >= 0 && sum != dim)
            return error(StatusCode::kBadInput, "split sizes [{}] do not add up to {}",
                         fmt::join(sizes, ","), dim);
        return sizes;
    }
    if (dim < 0) return Ints(static_cast<std::size_t>(s.numOutputs), -1);
    Ints out;
    if (s.numOutputsAttr) {
        const int64_t part = (dim + s.numOutputs - 1) / s.numOutputs;
        for (int i = 0; i < s.numOutputs; ++i) {
            const int64_t begin = std::min<int64_t>(dim, part * i);
            out.push_back(std::min<int64_t>(dim, begin + part) - begin);
        }
        return out;
    }
    if (dim % s.numOutputs != 0)
        return error(StatusCode::kBadInput, "dimension {} does not split into {} equal parts", dim,
                     s.numOutputs);
    return Ints(static_cast<std::size_t>(s.numOutputs), dim / s.numOutputs);
}

Expected<KernelBuild> splitFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    SplitSpec spec;
    spec.axis = ctx.node.attrInt("axis", 0);
    spec.numOutputs = ctx.node.numOutputs();
    if (ctx.opset < 13) {
        spec.sizes = ctx.node.attrInts("split");
    } else if (ctx.hasInput(1)) {
        spec.fromInput = true;
        if (auto c = constantInts(ctx, 1)) spec.sizes = *c;
    } else if (ctx.opset >= 18 && ctx.node.attribute("num_outputs")) {
        spec.numOutputsAttr = true;
        if (ctx.node.attrInt("num_outputs", 0) != spec.numOutputs)
            return error(StatusCode::kBadInput, "{}: num_outputs is {}, the node has {} outputs",
                         ctx.where(), ctx.node.attrInt("num_outputs", 0), spec.numOutputs);
    }
    if (spec.numOutputs < 1) return error(StatusCode::kBadInput, "{}: no outputs", ctx.where());
    KernelBuild b;
    if (x.rankKnown) {
        WH_ASSIGN_OR_RETURN(int axis,
                            normalizeAxis(spec.axis, static_cast<int64_t>(x.dims.size()), "axis"));
        const bool sizesKnown = !spec.fromInput || !spec.sizes.empty();
        auto sizes = splitSizes(spec, x.dims[static_cast<std::size_t>(axis)], spec.sizes);
        if (!sizes)
            return error(StatusCode::kBadInput, "{}: {}", ctx.where(), sizes.error().message());
        for (int i = 0; i < spec.numOutputs; ++i) {
            Dims d = x.dims;
            d[static_cast<std::size_t>(axis)] =
                sizesKnown ? (*sizes)[static_cast<std::size_t>(i)] : -1;
            b.outputs.push_back(infoOf(x.dtype, std::move(d)));
        }
    } else {
        b.outputs.assign(static_cast<std::size_t>(spec.numOutputs), unknownRank(x.dtype));
    }
    b.kernel = makeKernel([spec](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        WH_ASSIGN_OR_RETURN_STATUS(int axis, normalizeAxis(spec.axis, xs.rank(), "axis"));
        Ints given = spec.sizes;
        if (spec.fromInput && given.empty()) given = in[1]->toInt64s();
        WH_ASSIGN_OR_RETURN_STATUS(Ints sizes, splitSizes(spec, xs.dim(axis), given));
        const int64_t outer = productOrUnknown(xs.dims(), 0, static_cast<std::size_t>(axis));
        const int64_t inner =
            productOrUnknown(xs.dims(), static_cast<std::size_t>(axis) + 1, xs.dims().size());
        const int64_t inRow = xs.dim(axis) * inner;
        byElementSize(xs.dtype(), [&](auto tag) {
            using E = decltype(tag);
            const E* src = elems<E>(xs);
            int64_t column = 0;
            for (std::size_t k = 0; k < sizes.size(); ++k) {
                const int64_t row = sizes[k] * inner;
                if (HostTensor* y = outs[k]) {
                    Dims d = xs.dims();
                    d[static_cast<std::size_t>(axis)] = sizes[k];
                    y->ensure(xs.dtype(), d);
                    E* dst = elems<E>(*y);
                    for (int64_t o = 0; o < outer; ++o)
                        std::copy(src + o * inRow + column, src + o * inRow + column + row,
                                  dst + o * row);
                }
                column += row;
            }
        });
        return Status::ok();
    });
    return b;
}

// ---------------------------------------------------------------- Slice

Expected<KernelBuild> sliceFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    const bool attrForm = ctx.opset < 10;
    SliceParams fixed;
    bool paramsKnown = true;
    if (attrForm) {
        fixed.starts = ctx.node.attrInts("starts");
        fixed.ends = ctx.node.attrInts("ends");
        fixed.axes = ctx.node.attrInts("axes");
    } else {
        WH_RETURN_IF_ERROR(requireInputs(ctx, 3));
        Ints* dest[] = {&fixed.starts, &fixed.ends, &fixed.axes, &fixed.steps};
        for (int i = 1; i <= 4; ++i) {
            if (!ctx.hasInput(i)) continue;
            if (auto c = constantInts(ctx, i))
                *dest[i - 1] = *c;
            else
                paramsKnown = false;
        }
    }
    TensorInfo out = unknownDimsLike(x.dtype, x);
    if (x.rankKnown && paramsKnown) {
        auto g = sliceGeometry(x.dims, fixed);
        if (!g) return error(StatusCode::kBadInput, "{}: {}", ctx.where(), g.error().message());
        out.dims = g->out;
    }
    auto kernel = makeKernel([fixed, paramsKnown](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        WH_RETURN_STATUS_IF_ERROR(checkType(xs, "data"));
        SliceParams p = fixed;
        if (!paramsKnown) {
            Ints* dest[] = {&p.starts, &p.ends, &p.axes, &p.steps};
            for (int i = 1; i <= 4; ++i)
                if (const HostTensor* t = optionalInput(in, i)) *dest[i - 1] = t->toInt64s();
        }
        WH_ASSIGN_OR_RETURN_STATUS(SliceGeometry g, sliceGeometry(xs.dims(), p));
        const auto strides = contiguousStrides(xs.dims());
        int64_t base = 0;
        std::vector<int64_t> walk(strides.size());
        for (std::size_t d = 0; d < strides.size(); ++d) {
            base += g.start[d] * strides[d];
            walk[d] = g.step[d] * strides[d];
        }
        HostTensor& y = *outs[0];
        y.ensure(xs.dtype(), g.out);
        stridedCopy(xs, base, planStrided(g.out, {walk}), y);
        return Status::ok();
    });
    return singleOutput(std::move(kernel), std::move(out));
}

// ---------------------------------------------------------------- Gather

Expected<KernelBuild> gatherFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    const TensorInfo& data = ctx.inputs[0];
    const TensorInfo& indices = ctx.inputs[1];
    if (indices.dtype != D::kInt64 && indices.dtype != D::kInt32)
        return error(StatusCode::kBadInput, "{}: indices are {}, not int32/int64", ctx.where(),
                     typeName(indices.dtype));
    const int64_t axisAttr = ctx.node.attrInt("axis", 0);
    TensorInfo out = unknownRank(data.dtype);
    if (data.rankKnown && indices.rankKnown) {
        WH_ASSIGN_OR_RETURN(
            int axis, normalizeAxis(axisAttr, static_cast<int64_t>(data.dims.size()), "axis"));
        Dims d(data.dims.begin(), data.dims.begin() + axis);
        d.insert(d.end(), indices.dims.begin(), indices.dims.end());
        d.insert(d.end(), data.dims.begin() + axis + 1, data.dims.end());
        out = infoOf(data.dtype, std::move(d));
    }
    auto kernel = makeKernel([axisAttr](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        const HostTensor& idx = *in[1];
        WH_RETURN_STATUS_IF_ERROR(checkType(xs, "data"));
        WH_ASSIGN_OR_RETURN_STATUS(int axis, normalizeAxis(axisAttr, xs.rank(), "axis"));
        Dims d(xs.dims().begin(), xs.dims().begin() + axis);
        d.insert(d.end(), idx.dims().begin(), idx.dims().end());
        d.insert(d.end(), xs.dims().begin() + axis + 1, xs.dims().end());
        HostTensor& y = *outs[0];
        y.ensure(xs.dtype(), d);
        const int64_t outer = productOrUnknown(xs.dims(), 0, static_cast<std::size_t>(axis));
        const int64_t inner =
            productOrUnknown(xs.dims(), static_cast<std::size_t>(axis) + 1, xs.dims().size());
        const int64_t dim = xs.dim(axis), count = idx.numElements();
        Ints positions(static_cast<std::size_t>(count));
        for (int64_t k = 0; k < count; ++k) {
            int64_t v = idx.intAt(k);
            if (v < -dim || v >= dim)
                return makeStatus(StatusCode::kBadInput,
                                  "index {} is out of range for axis {} of {}", v, axis,
                                  dimsToString(xs.dims()));
            positions[static_cast<std::size_t>(k)] = v < 0 ? v + dim : v;
        }
        byElementSize(xs.dtype(), [&](auto tag) {
            using E = decltype(tag);
            const E* src = elems<E>(xs);
            E* dst = elems<E>(y);
            for (int64_t o = 0; o < outer; ++o)
                for (int64_t k = 0; k < count; ++k) {
                    const E* s = src + (o * dim + positions[static_cast<std::size_t>(k)]) * inner;
                    std::copy(s, s + inner, dst + (o * count + k) * inner);
                }
        });
        return Status::ok();
    });
    return singleOutput(std::move(kernel), std::move(out));
}

// ---------------------------------------------------------------- Reshape, Flatten

// Output dims of Reshape: 0 copies the input dim (unless allowzero), -1 is inferred. Input dims
// may be -1 (unknown): the result is -1 where it depends on them.
Expected<Dims> reshapeDims(const Dims& in, const Ints& shape, bool allowZero) {
    Dims out(shape.size());
    int inferred = -1;
    bool unknown = false;
    int64_t known = 1;
    for (std::size_t i = 0; i < shape.size(); ++i) {
        int64_t v = shape[i];
        if (v == 0 && !allowZero) {
            if (i >= in.size())
                return error(StatusCode::kBadInput, "shape {} copies dim {} of {}",
                             dimsToString(shape), i, dimsToString(in));
            v = in[i];
        }
        if (v == -1) {
            if (inferred >= 0)
                return error(StatusCode::kBadInput, "shape {} has more than one -1",
                             dimsToString(shape));
            inferred = static_cast<int>(i);
        } else if (v < -1) {
            if (shape[i] < -1)
                return error(StatusCode::kBadInput, "shape {} has a negative dim",
                             dimsToString(shape));
            unknown = true;  // a copied unknown input dim
        } else {
            const std::optional<int64_t> product = checkedMul(known, v);
            if (!product)
                return error(StatusCode::kBadInput, "shape {} has more elements than int64 counts",
                             dimsToString(shape));
            known = *product;
        }
        out[i] = v;
    }
    if (inferred >= 0) {
        if (allowZero && std::find(shape.begin(), shape.end(), 0) != shape.end())
            return error(StatusCode::kBadInput, "shape {} has both 0 and -1 with allowzero",
                         dimsToString(shape));
        const int64_t total = productOrUnknown(in, 0, in.size());
        if (total < 0 || unknown) {
            out[static_cast<std::size_t>(inferred)] = -1;
        } else {
            if (known == 0 || total % known != 0)
                return error(StatusCode::kBadInput, "cannot reshape {} to {}", dimsToString(in),
                             dimsToString(shape));
            out[static_cast<std::size_t>(inferred)] = total / known;
        }
    }
    const int64_t total = productOrUnknown(in, 0, in.size());
    if (total >= 0 && productOrUnknown(out, 0, out.size()) >= 0 && numElementsOf(out) != total)
        return error(StatusCode::kBadInput, "cannot reshape {} to {}", dimsToString(in),
                     dimsToString(shape));
    return out;
}

Expected<KernelBuild> reshapeFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    const TensorInfo& x = ctx.inputs[0];
    const bool allowZero = ctx.opset >= 14 && ctx.node.attrInt("allowzero", 0) != 0;
    std::optional<Ints> shape = constantInts(ctx, 1);
    TensorInfo out = unknownRank(x.dtype);
    if (shape) {
        // Unknown input dims are -1; map them to -2 so that "copied unknown" differs from "-1".
        Dims in = x.rankKnown ? x.dims : Dims{};
        for (int64_t& d : in) d = d < 0 ? -2 : d;
        if (x.rankKnown) {
            auto d = reshapeDims(in, *shape, allowZero);
            if (!d) return error(StatusCode::kBadInput, "{}: {}", ctx.where(), d.error().message());
            for (int64_t& v : *d) v = v < 0 ? -1 : v;
            out = infoOf(x.dtype, std::move(*d));
        } else {
            out = infoOf(x.dtype, Dims(shape->size(), -1));
            for (std::size_t i = 0; i < shape->size(); ++i)
                if ((*shape)[i] > 0 || ((*shape)[i] == 0 && allowZero)) out.dims[i] = (*shape)[i];
        }
    } else if (ctx.inputs[1].shapeKnown() && ctx.inputs[1].dims.size() == 1) {
        out = infoOf(x.dtype, Dims(static_cast<std::size_t>(ctx.inputs[1].dims[0]), -1));
    }
    return singleOutput(reshapeKernel([allowZero, shape](Ins in) -> Expected<Dims> {
                            return reshapeDims(in[0]->dims(), shape ? *shape : in[1]->toInt64s(),
                                               allowZero);
                        }),
                        std::move(out));
}

Expected<KernelBuild> flattenFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    const int64_t axisAttr = ctx.node.attrInt("axis", 1);
    // Flatten allows axis == rank (everything in the first dim).
    auto flatDims = [axisAttr](const Dims& d) -> Expected<Dims> {
        const auto rank = static_cast<int64_t>(d.size());
        if (axisAttr < -rank || axisAttr > rank)
            return error(StatusCode::kBadInput, "axis {} is out of range for rank {}", axisAttr,
                         rank);
        const auto axis = static_cast<std::size_t>(axisAttr < 0 ? axisAttr + rank : axisAttr);
        return Dims{productOrUnknown(d, 0, axis), productOrUnknown(d, axis, d.size())};
    };
    TensorInfo out = infoOf(x.dtype, {-1, -1});
    if (x.rankKnown) {
        auto d = flatDims(x.dims);
        if (!d) return error(StatusCode::kBadInput, "{}: {}", ctx.where(), d.error().message());
        out.dims = *d;
    }
    return singleOutput(reshapeKernel([flatDims](Ins in) { return flatDims(in[0]->dims()); }),
                        std::move(out));
}

// ---------------------------------------------------------------- Squeeze, Unsqueeze

Expected<Dims> squeezeDims(const Dims& in, const Ints& axesIn, bool allUnit) {
    const auto rank = static_cast<int64_t>(in.size());
    std::vector<bool> drop(in.size(), false);
    if (allUnit) {
        for (std::size_t i = 0; i < in.size(); ++i) drop[i] = in[i] == 1;
    } else {
        for (int64_t a : axesIn) {
            WH_ASSIGN_OR_RETURN(int axis, normalizeAxis(a, rank, "squeeze axis"));
            if (in[static_cast<std::size_t>(axis)] > 1 || in[static_cast<std::size_t>(axis)] == 0)
                return error(StatusCode::kBadInput, "cannot squeeze axis {} of {}", axis,
                             dimsToString(in));
            drop[static_cast<std::size_t>(axis)] = true;
        }
    }
    Dims out;
    for (std::size_t i = 0; i < in.size(); ++i)
        if (!drop[i]) out.push_back(in[i]);
    return out;
}

Expected<Dims> unsqueezeDims(const Dims& in, const Ints& axesIn) {
    const auto outRank = static_cast<int64_t>(in.size() + axesIn.size());
    std::vector<bool> inserted(static_cast<std::size_t>(outRank), false);
    for (int64_t a : axesIn) {
        WH_ASSIGN_OR_RETURN(int axis, normalizeAxis(a, outRank, "unsqueeze axis"));
        if (inserted[static_cast<std::size_t>(axis)])
            return error(StatusCode::kBadInput, "axis {} appears twice", axis);
        inserted[static_cast<std::size_t>(axis)] = true;
    }
    Dims out;
    std::size_t next = 0;
    for (std::size_t i = 0; i < inserted.size(); ++i) out.push_back(inserted[i] ? 1 : in[next++]);
    return out;
}

template <bool squeeze>
Expected<KernelBuild> squeezeFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    const bool inputForm = ctx.opset >= 13;
    std::optional<Ints> axes;
    if (!inputForm)
        axes = ctx.node.attrInts("axes");
    else if (ctx.hasInput(1))
        axes = constantInts(ctx, 1);
    else
        axes = Ints{};
    if (!squeeze && axes && axes->empty())
        return error(StatusCode::kBadInput, "{}: no axes given", ctx.where());
    TensorInfo out = unknownRank(x.dtype);
    if (axes && x.rankKnown) {
        const bool allUnit = squeeze && axes->empty();
        if (allUnit && !x.shapeKnown()) {
            out = unknownRank(x.dtype);  // which dims are 1 is known only at run time
        } else {
            auto d = squeeze ? squeezeDims(x.dims, *axes, allUnit) : unsqueezeDims(x.dims, *axes);
            if (!d) return error(StatusCode::kBadInput, "{}: {}", ctx.where(), d.error().message());
            out = infoOf(x.dtype, std::move(*d));
        }
    } else if (!squeeze && x.rankKnown && ctx.inputs[1].shapeKnown() &&
               ctx.inputs[1].dims.size() == 1) {
        out = infoOf(x.dtype,
                     Dims(x.dims.size() + static_cast<std::size_t>(ctx.inputs[1].dims[0]), -1));
    }
    return singleOutput(reshapeKernel([axes](Ins in) -> Expected<Dims> {
                            const Ints a = axes ? *axes : in[1]->toInt64s();
                            if constexpr (squeeze)
                                return squeezeDims(in[0]->dims(), a, a.empty());
                            else
                                return unsqueezeDims(in[0]->dims(), a);
                        }),
                        std::move(out));
}

// ---------------------------------------------------------------- Transpose

Expected<KernelBuild> transposeFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    const Ints permAttr = ctx.node.attrInts("perm");
    auto permFor = [permAttr](std::size_t rank) -> Expected<Ints> {
        Ints perm = permAttr;
        if (perm.empty()) {
            for (std::size_t i = 0; i < rank; ++i)
                perm.push_back(static_cast<int64_t>(rank - 1 - i));
            return perm;
        }
        if (perm.size() != rank)
            return error(StatusCode::kBadInput, "perm [{}] for rank {}", fmt::join(perm, ","),
                         rank);
        std::vector<bool> seen(rank, false);
        for (int64_t& p : perm) {
            if (p < 0) p += static_cast<int64_t>(rank);
            if (p < 0 || p >= static_cast<int64_t>(rank) || seen[static_cast<std::size_t>(p)])
                return error(StatusCode::kBadInput, "perm [{}] is not a permutation",
                             fmt::join(permAttr, ","));
            seen[static_cast<std::size_t>(p)] = true;
        }
        return perm;
    };
    TensorInfo out = unknownRank(x.dtype);
    if (x.rankKnown) {
        auto perm = permFor(x.dims.size());
        if (!perm)
            return error(StatusCode::kBadInput, "{}: {}", ctx.where(), perm.error().message());
        Dims d;
        for (int64_t p : *perm) d.push_back(x.dims[static_cast<std::size_t>(p)]);
        out = infoOf(x.dtype, std::move(d));
    }
    auto kernel = makeKernel([permFor](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        WH_RETURN_STATUS_IF_ERROR(checkType(xs, "data"));
        WH_ASSIGN_OR_RETURN_STATUS(Ints perm, permFor(xs.dims().size()));
        const auto strides = contiguousStrides(xs.dims());
        Dims d;
        std::vector<int64_t> walk;
        for (int64_t p : perm) {
            d.push_back(xs.dims()[static_cast<std::size_t>(p)]);
            walk.push_back(strides[static_cast<std::size_t>(p)]);
        }
        HostTensor& y = *outs[0];
        y.ensure(xs.dtype(), d);
        stridedCopy(xs, 0, planStrided(d, {walk}), y);
        return Status::ok();
    });
    return singleOutput(std::move(kernel), std::move(out));
}

// ---------------------------------------------------------------- Shape, Constant, ConstantOfShape

Expected<KernelBuild> shapeFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    const int64_t startAttr = ctx.opset >= 15 ? ctx.node.attrInt("start", 0) : 0;
    const ir::Attribute* endAttr = ctx.opset >= 15 ? ctx.node.attribute("end") : nullptr;
    const bool hasEnd = endAttr != nullptr;
    const int64_t endValue = hasEnd ? endAttr->i : 0;
    auto range = [=](int64_t rank) {
        auto clampIndex = [rank](int64_t v) {
            if (v < 0) v += rank;
            return std::clamp<int64_t>(v, 0, rank);
        };
        const int64_t begin = clampIndex(startAttr);
        const int64_t end = hasEnd ? clampIndex(endValue) : rank;
        return std::pair<int64_t, int64_t>{begin, std::max(begin, end)};
    };
    auto kernel = makeKernel([range](Ins in, Outs outs) -> Status {
        const auto [begin, end] = range(in[0]->rank());
        HostTensor& y = *outs[0];
        y.ensure(D::kInt64, {end - begin});
        for (int64_t i = begin; i < end; ++i)
            y.data<int64_t>()[i - begin] = in[0]->dim(static_cast<int>(i));
        return Status::ok();
    });
    if (!x.rankKnown) return singleOutput(std::move(kernel), infoOf(D::kInt64, {-1}));
    const auto [begin, end] = range(static_cast<int64_t>(x.dims.size()));
    TensorInfo out = infoOf(D::kInt64, {end - begin});
    // The selected dims alone decide the value: Shape(x)[1:] of [N,3,224,224] is constant.
    const Ints selected(x.dims.begin() + begin, x.dims.begin() + end);
    if (std::all_of(selected.begin(), selected.end(), [](int64_t d) { return d >= 0; }))
        out.constant =
            std::make_shared<const HostTensor>(HostTensor::fromInt64s({end - begin}, selected));
    return singleOutput(std::move(kernel), std::move(out));
}

// A kernel that writes a fixed tensor (Constant; folded by the plan, kept for completeness).
std::unique_ptr<Kernel> fixedKernel(std::shared_ptr<const HostTensor> value) {
    return makeKernel([value](Ins, Outs outs) -> Status {
        copyTensor(*value, *outs[0], value->dims());
        return Status::ok();
    });
}

Expected<KernelBuild> constantFactory(const KernelContext& ctx) {
    const ir::Node& n = ctx.node;
    HostTensor value;
    if (const ir::Attribute* a = n.attribute("value")) {
        WH_ASSIGN_OR_RETURN(value, HostTensor::fromIr(*a->t));
    } else if (const ir::Attribute* a = n.attribute("value_float")) {
        value = HostTensor::scalar(D::kFloat, a->f);
    } else if (const ir::Attribute* a = n.attribute("value_floats")) {
        value = HostTensor::fromFloats({static_cast<int64_t>(a->floats.size())}, a->floats);
    } else if (const ir::Attribute* a = n.attribute("value_int")) {
        value = HostTensor::fromInt64s({}, {a->i});
    } else if (const ir::Attribute* a = n.attribute("value_ints")) {
        value = HostTensor::fromInt64s({static_cast<int64_t>(a->ints.size())}, a->ints);
    } else if (const ir::Attribute* a = n.attribute("value_string")) {
        value = HostTensor(D::kString, {});
        value.strings()[0] = a->s;
    } else if (const ir::Attribute* a = n.attribute("value_strings")) {
        value = HostTensor(D::kString, {static_cast<int64_t>(a->strings.size())});
        value.strings() = a->strings;
    } else if (n.attribute("sparse_value")) {
        return error(StatusCode::kUnsupported, "{}: sparse_value is not supported", ctx.where());
    } else {
        return error(StatusCode::kBadInput, "{}: no value attribute", ctx.where());
    }
    auto shared = std::make_shared<const HostTensor>(std::move(value));
    TensorInfo out = TensorInfo::of(*shared);
    out.constant = shared;
    return singleOutput(fixedKernel(shared), std::move(out));
}

Expected<KernelBuild> constantOfShapeFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    HostTensor fill = HostTensor::scalar(D::kFloat, 0.0);
    if (const ir::Attribute* a = ctx.node.attribute("value")) {
        WH_ASSIGN_OR_RETURN(fill, HostTensor::fromIr(*a->t));
        if (fill.numElements() != 1)
            return error(StatusCode::kBadInput, "{}: value has {} elements, not 1", ctx.where(),
                         fill.numElements());
        if (fill.dtype() == D::kString)
            return error(StatusCode::kUnsupported, "{}: string value", ctx.where());
    }
    TensorInfo out = infoOf(fill.dtype(), {});
    if (auto shape = constantInts(ctx, 0))
        out.dims = *shape;
    else if (ctx.inputs[0].shapeKnown() && ctx.inputs[0].dims.size() == 1)
        out.dims.assign(static_cast<std::size_t>(ctx.inputs[0].dims[0]), -1);
    else
        out = unknownRank(fill.dtype());
    for (int64_t d : out.dims)
        if (d < -1) return error(StatusCode::kBadInput, "{}: negative dim {}", ctx.where(), d);
    auto kernel = makeKernel([fill](Ins in, Outs outs) -> Status {
        const Ints dims = in[0]->toInt64s();
        for (int64_t d : dims)
            if (d < 0) return makeStatus(StatusCode::kBadInput, "negative dim {}", d);
        HostTensor& y = *outs[0];
        y.ensure(fill.dtype(), dims);
        byElementSize(fill.dtype(), [&](auto tag) {
            using E = decltype(tag);
            const E v = elems<E>(fill)[0];
            std::fill(elems<E>(y), elems<E>(y) + y.numElements(), v);
        });
        return Status::ok();
    });
    return singleOutput(std::move(kernel), std::move(out));
}

// ---------------------------------------------------------------- ReduceMean/Sum/Max/Min

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

struct ReduceSpec {
    ReduceKind kind = ReduceKind::kSum;
    bool keepDims = true;
    bool noopWithEmptyAxes = false;
};

// Output dims and, per input dim, whether it is reduced.
Expected<std::pair<Dims, std::vector<bool>>> reduceDims(const Dims& in, const Ints& axes,
                                                        const ReduceSpec& s) {
    std::vector<bool> reduced(in.size(), axes.empty() && !s.noopWithEmptyAxes);
    for (int64_t a : axes) {
        WH_ASSIGN_OR_RETURN(int axis, normalizeAxis(a, static_cast<int64_t>(in.size()), "axis"));
        reduced[static_cast<std::size_t>(axis)] = true;
    }
    Dims out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (!reduced[i])
            out.push_back(in[i]);
        else if (s.keepDims)
            out.push_back(1);
    }
    return std::pair<Dims, std::vector<bool>>{std::move(out), std::move(reduced)};
}

template <ReduceKind kind>
Expected<KernelBuild> reduceFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    ReduceSpec spec;
    spec.kind = kind;
    spec.keepDims = ctx.node.attrInt("keepdims", 1) != 0;
    // Axes became an input in opset 13 (ReduceSum) and 18 (the others), with
    // noop_with_empty_axes.
    const bool inputForm = ctx.opset >= (kind == ReduceKind::kSum ? 13 : 18);
    std::optional<Ints> axes;
    if (!inputForm) {
        axes = ctx.node.attrInts("axes");
    } else {
        spec.noopWithEmptyAxes = ctx.node.attrInt("noop_with_empty_axes", 0) != 0;
        axes = ctx.hasInput(1) ? constantInts(ctx, 1) : std::optional<Ints>(Ints{});
    }
    TensorInfo out = unknownRank(x.dtype);
    if (axes && x.rankKnown) {
        auto r = reduceDims(x.dims, *axes, spec);
        if (!r) return error(StatusCode::kBadInput, "{}: {}", ctx.where(), r.error().message());
        out = infoOf(x.dtype, std::move(r->first));
    } else if (x.rankKnown && spec.keepDims) {
        out = unknownDimsLike(x.dtype, x);
    }
    auto built = dispatch<TypeSet::kReal>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel(
            [spec, axes, acc = std::vector<double>()](Ins in, Outs outs) mutable -> Status {
                const HostTensor& xs = *in[0];
                const Ints a = axes ? *axes : (optionalInput(in, 1) ? in[1]->toInt64s() : Ints{});
                WH_ASSIGN_OR_RETURN_STATUS(auto r, reduceDims(xs.dims(), a, spec));
                const auto& [outDims, reduced] = r;
                HostTensor& y = *outs[0];
                y.ensure(xs.dtype(), outDims);
                // Walk the input in order; operand 0 is the output position (stride 0 on reduced
                // dims). Accumulate in double: this is the oracle.
                Dims keptDims;
                for (std::size_t i = 0; i < reduced.size(); ++i)
                    keptDims.push_back(reduced[i] ? 1 : xs.dims()[i]);
                std::vector<int64_t> toOut = contiguousStrides(keptDims);
                int64_t count = 1;
                for (std::size_t i = 0; i < reduced.size(); ++i)
                    if (reduced[i]) {
                        toOut[i] = 0;
                        count *= xs.dims()[i];
                    }
                // Sum or mean over trailing axes (a LayerNorm's statistics, a pooled
                // sequence): contiguous rows, in parallel, the same double accumulation.
                const auto firstReduced = static_cast<std::size_t>(
                    std::find(reduced.begin(), reduced.end(), true) - reduced.begin());
                const bool trailing =
                    std::all_of(reduced.begin() + static_cast<std::ptrdiff_t>(firstReduced),
                                reduced.end(), [](bool b) { return b; });
                if ((spec.kind == ReduceKind::kSum || spec.kind == ReduceKind::kMean) &&
                    trailing && count > 0) {
                    const T* src = xs.data<T>();
                    T* dst = y.data<T>();
                    const int64_t rows = xs.numElements() / count;
#pragma omp parallel for schedule(static) if (rows * count > 65536)
                    for (int64_t r = 0; r < rows; ++r) {
                        const T* row = src + r * count;
                        double sum = 0.0;
                        for (int64_t i = 0; i < count; ++i) sum += static_cast<double>(row[i]);
                        dst[r] = convertValue<T>(spec.kind == ReduceKind::kMean
                                                     ? sum / static_cast<double>(count)
                                                     : sum);
                    }
                    return Status::ok();
                }
                const double init = spec.kind == ReduceKind::kMax    ? -INFINITY
                                    : spec.kind == ReduceKind::kMin  ? INFINITY
                                    : spec.kind == ReduceKind::kProd ? 1.0
                                                                     : 0.0;
                acc.assign(static_cast<std::size_t>(y.numElements()), init);
                const T* px = xs.data<T>();
                forEachRow(planStrided(xs.dims(), {toOut}),
                           [&](int64_t o, const int64_t* off, int64_t n, const int64_t* step) {
                               double* dst = acc.data() + off[0];
                               const int64_t st = step[0];
                               for (int64_t i = 0; i < n; ++i) {
                                   const double v = static_cast<double>(px[o + i]);
                                   double& d = dst[i * st];
                                   switch (spec.kind) {
                                       case ReduceKind::kMax:
                                           d = std::max(d, v);
                                           break;
                                       case ReduceKind::kMin:
                                           d = std::min(d, v);
                                           break;
                                       case ReduceKind::kProd:
                                           d *= v;
                                           break;
                                       case ReduceKind::kL1:
                                           d += std::abs(v);
                                           break;
                                       case ReduceKind::kL2:
                                       case ReduceKind::kSumSquare:
                                           d += v * v;
                                           break;
                                       case ReduceKind::kLogSumExp:
                                           d += std::exp(v);
                                           break;
                                       default:
                                           d += v;
                                   }
                               }
                           });
                T* py = y.data<T>();
                for (std::size_t i = 0; i < acc.size(); ++i) {
                    double v = acc[i];
                    if (spec.kind == ReduceKind::kMean) v /= static_cast<double>(count);
                    if (spec.kind == ReduceKind::kL2) v = std::sqrt(v);
                    if (spec.kind == ReduceKind::kLogSum || spec.kind == ReduceKind::kLogSumExp)
                        v = std::log(v);
                    py[i] = convertValue<T>(v);
                }
                return Status::ok();
            });
    });
    if (!built)
        return error(StatusCode::kUnsupported, "{}: element type {} is not supported", ctx.where(),
                     typeName(x.dtype));
    return singleOutput(std::move(*built), std::move(out));
}

// ---------------------------------------------------------------- ArgMax, ArgMin

template <bool isMax>
Expected<KernelBuild> argFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    const int64_t axisAttr = ctx.node.attrInt("axis", 0);
    const bool keepDims = ctx.node.attrInt("keepdims", 1) != 0;
    const bool last = ctx.node.attrInt("select_last_index", 0) != 0;
    auto outDims = [axisAttr, keepDims](const Dims& in) -> Expected<std::pair<Dims, int>> {
        WH_ASSIGN_OR_RETURN(int axis,
                            normalizeAxis(axisAttr, static_cast<int64_t>(in.size()), "axis"));
        Dims out;
        for (std::size_t i = 0; i < in.size(); ++i) {
            if (static_cast<int>(i) != axis)
                out.push_back(in[i]);
            else if (keepDims)
                out.push_back(1);
        }
        return std::pair<Dims, int>{std::move(out), axis};
    };
    TensorInfo out = unknownRank(D::kInt64);
    if (x.rankKnown) {
        auto r = outDims(x.dims);
        if (!r) return error(StatusCode::kBadInput, "{}: {}", ctx.where(), r.error().message());
        out = infoOf(D::kInt64, std::move(r->first));
    }
    auto built = dispatch<TypeSet::kReal>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel([outDims, last](Ins in, Outs outs) -> Status {
            const HostTensor& xs = *in[0];
            WH_ASSIGN_OR_RETURN_STATUS(auto r, outDims(xs.dims()));
            const auto axis = static_cast<std::size_t>(r.second);
            const auto [outer, n, inner] = axisSplit(xs.dims(), axis);
            if (n == 0)
                return makeStatus(StatusCode::kBadInput, "reducing an empty axis of {}",
                                  dimsToString(xs.dims()));
            HostTensor& y = *outs[0];
            y.ensure(D::kInt64, r.first);
            const T* px = xs.data<T>();
            int64_t* py = y.data<int64_t>();
            for (int64_t o = 0; o < outer; ++o)
                for (int64_t i = 0; i < inner; ++i) {
                    const T* p = px + o * n * inner + i;
                    int64_t best = 0;
                    for (int64_t k = 1; k < n; ++k) {
                        const T v = p[k * inner], b = p[best * inner];
                        const bool better =
                            isMax ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
                        if (better) best = k;
                    }
                    py[o * inner + i] = best;
                }
            return Status::ok();
        });
    });
    if (!built)
        return error(StatusCode::kUnsupported, "{}: element type {} is not supported", ctx.where(),
                     typeName(x.dtype));
    return singleOutput(std::move(*built), std::move(out));
}

// ---------------------------------------------------------------- Pad

enum class PadMode { kConstant, kReflect, kEdge };

// Output dims; pads = [begin_0.., end_0..] over all axes (already expanded from `axes`).
Expected<Dims> padDims(const Dims& in, const Ints& pads) {
    if (pads.size() != 2 * in.size())
        return error(StatusCode::kBadInput, "{} pads for rank {}", pads.size(), in.size());
    Dims out(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        // Pads are the model's numbers: a sum past int64 is refused, not wrapped.
        std::optional<int64_t> sum = checkedAdd(in[i], pads[i]);
        if (sum) sum = checkedAdd(*sum, pads[i + in.size()]);
        if (in[i] >= 0 && !sum)
            return error(StatusCode::kBadInput, "pads [{}] overflow dim {} of {}",
                         fmt::join(pads, ","), i, dimsToString(in));
        out[i] = in[i] < 0 ? -1 : *sum;
        if (in[i] >= 0 && out[i] < 0)
            return error(StatusCode::kBadInput, "pads [{}] remove more than {}",
                         fmt::join(pads, ","), dimsToString(in));
    }
    return out;
}

// Pads over all axes from pads given for `axes` (opset 18); identity when axes is empty.
Expected<Ints> expandPads(const Ints& pads, const Ints& axes, std::size_t rank) {
    if (axes.empty()) return pads;
    if (pads.size() != 2 * axes.size())
        return error(StatusCode::kBadInput, "{} pads for {} axes", pads.size(), axes.size());
    Ints full(2 * rank, 0);
    for (std::size_t k = 0; k < axes.size(); ++k) {
        WH_ASSIGN_OR_RETURN(int a, normalizeAxis(axes[k], static_cast<int64_t>(rank), "axis"));
        full[static_cast<std::size_t>(a)] = pads[k];
        full[static_cast<std::size_t>(a) + rank] = pads[k + axes.size()];
    }
    return full;
}

Expected<KernelBuild> padFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    const TensorInfo& x = ctx.inputs[0];
    const std::string modeName = ctx.node.attrString("mode", "constant");
    PadMode mode;
    if (modeName == "constant")
        mode = PadMode::kConstant;
    else if (modeName == "reflect")
        mode = PadMode::kReflect;
    else if (modeName == "edge")
        mode = PadMode::kEdge;
    else
        return error(StatusCode::kUnsupported, "{}: mode '{}' is not supported", ctx.where(),
                     modeName);
    const bool attrForm = ctx.opset < 11;
    std::optional<Ints> pads, axes = Ints{};
    double attrValue = 0.0;
    if (attrForm) {
        pads = ctx.node.attrInts("pads");
        attrValue = ctx.node.attrFloat("value", 0.0f);
    } else {
        WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
        pads = constantInts(ctx, 1);
        if (ctx.opset >= 18 && ctx.hasInput(3)) axes = constantInts(ctx, 3);
    }
    TensorInfo out = unknownDimsLike(x.dtype, x);
    if (pads && axes && x.rankKnown) {
        auto full = expandPads(*pads, *axes, x.dims.size());
        if (!full)
            return error(StatusCode::kBadInput, "{}: {}", ctx.where(), full.error().message());
        auto d = padDims(x.dims, *full);
        if (!d) return error(StatusCode::kBadInput, "{}: {}", ctx.where(), d.error().message());
        out.dims = *d;
    }
    auto built = dispatch<TypeSet::kAll>(x.dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel([=](Ins in, Outs outs) -> Status {
            const HostTensor& xs = *in[0];
            const std::size_t rank = xs.dims().size();
            Ints p = pads ? *pads : in[1]->toInt64s();
            Ints ax = axes ? *axes : in[3]->toInt64s();
            WH_ASSIGN_OR_RETURN_STATUS(p, expandPads(p, ax, rank));
            WH_ASSIGN_OR_RETURN_STATUS(Dims outDims, padDims(xs.dims(), p));
            T value = convertValue<T>(attrValue);
            if (const HostTensor* v = attrForm ? nullptr : optionalInput(in, 2))
                if (v->numElements() > 0) value = v->data<T>()[0];
            HostTensor& y = *outs[0];
            // First: the budget refuses an absurd output before the index tables below (as
            // long as its dims) are built.
            y.ensure(xs.dtype(), outDims);
            // Per axis, the source index of every output index (-1: the constant).
            std::vector<Ints> source(rank);
            for (std::size_t a = 0; a < rank; ++a) {
                const int64_t dim = xs.dims()[a];
                const int64_t begin = p[a];
                if (mode != PadMode::kConstant && dim == 0 && outDims[a] > 0)
                    return makeStatus(StatusCode::kBadInput, "cannot {}-pad an empty axis {}",
                                      mode == PadMode::kEdge ? "edge" : "reflect", a);
                if (mode == PadMode::kReflect && dim == 1 && outDims[a] > 1)
                    return makeStatus(StatusCode::kBadInput, "cannot reflect-pad axis {} of size 1",
                                      a);
                source[a].resize(static_cast<std::size_t>(outDims[a]));
                for (int64_t o = 0; o < outDims[a]; ++o) {
                    int64_t i = o - begin;
                    if (i < 0 || i >= dim) {
                        if (mode == PadMode::kConstant)
                            i = -1;
                        else if (mode == PadMode::kEdge)
                            i = std::clamp<int64_t>(i, 0, dim - 1);
                        else {
                            // Reflect without repeating the edge: period 2*(dim-1).
                            const int64_t period = 2 * (dim - 1);
                            i = ((i % period) + period) % period;
                            if (i >= dim) i = period - i;
                        }
                    }
                    source[a][static_cast<std::size_t>(o)] = i;
                }
            }
            const int64_t total = y.numElements();
            if (total == 0) return Status::ok();
            const T* px = xs.data<T>();
            T* py = y.data<T>();
            if (rank == 0) {
                py[0] = px[0];
                return Status::ok();
            }
            const auto strides = contiguousStrides(xs.dims());
            const int64_t inner = outDims.back();
            const Ints& last = source.back();
            Ints index(rank, 0);
            for (int64_t o = 0; o < total; o += inner) {
                // Offset of the row's first element in the input, or -1 if the row is padding.
                int64_t base = 0;
                for (std::size_t a = 0; a + 1 < rank && base >= 0; ++a) {
                    const int64_t s = source[a][static_cast<std::size_t>(index[a])];
                    base = s < 0 ? -1 : base + s * strides[a];
                }
                for (int64_t i = 0; i < inner; ++i) {
                    const int64_t s = last[static_cast<std::size_t>(i)];
                    py[o + i] = base < 0 || s < 0 ? value : px[base + s];
                }
                for (int a = static_cast<int>(rank) - 2; a >= 0; --a) {
                    if (++index[static_cast<std::size_t>(a)] < outDims[static_cast<std::size_t>(a)])
                        break;
                    index[static_cast<std::size_t>(a)] = 0;
                }
            }
            return Status::ok();
        });
    });
    if (!built)
        return error(StatusCode::kUnsupported, "{}: element type {} is not supported", ctx.where(),
                     typeName(x.dtype));
    return singleOutput(std::move(*built), std::move(out));
}

// ---------------------------------------------------------------- Expand, Tile, Range
// Their output sizes are the model's numbers (a shape, repeats, a count): checked for overflow
// here, and against the memory budget by HostTensor::ensure.

Expected<KernelBuild> expandFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    const TensorInfo& x = ctx.inputs[0];
    TensorInfo out = unknownRank(x.dtype);
    if (auto shape = constantInts(ctx, 1); shape && x.rankKnown) {
        auto d = broadcastDims(x.dims, *shape);
        if (!d) return error(StatusCode::kBadInput, "{}: {}", ctx.where(), d.error().message());
        out = infoOf(x.dtype, std::move(*d));
    }
    auto kernel = makeKernel([](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        const Ints shape = in[1]->toInt64s();
        for (int64_t d : shape)
            if (d < 0)
                return makeStatus(StatusCode::kBadInput, "negative dim in shape {}",
                                  dimsToString(shape));
        WH_ASSIGN_OR_RETURN_STATUS(const Dims outDims, broadcastDims(xs.dims(), shape));
        HostTensor& y = *outs[0];
        y.ensure(xs.dtype(), outDims);
        WH_ASSIGN_OR_RETURN_STATUS(const BroadcastPlan plan,
                                   planBroadcastTo(outDims, {&xs.dims()}));
        byElementSize(xs.dtype(), [&](auto tag) {
            using E = decltype(tag);
            const E* src = elems<E>(xs);
            E* dst = elems<E>(y);
            forEachRow(plan, [&](int64_t o, const int64_t* offs, int64_t n, const int64_t* steps) {
                for (int64_t i = 0; i < n; ++i) dst[o + i] = src[offs[0] + i * steps[0]];
            });
        });
        return Status::ok();
    });
    return singleOutput(std::move(kernel), std::move(out));
}

// Tile's output dims: dim * repeats, -1 where the dim is unknown.
Expected<Dims> tileDims(const Dims& in, const Ints& repeats) {
    if (repeats.size() != in.size())
        return error(StatusCode::kBadInput, "{} repeats for rank {}", repeats.size(), in.size());
    Dims out(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (repeats[i] < 0)
            return error(StatusCode::kBadInput, "negative repeats {}", dimsToString(repeats));
        const std::optional<int64_t> d = checkedMul(in[i], repeats[i]);
        if (in[i] >= 0 && !d)
            return error(StatusCode::kBadInput, "repeats {} overflow {}", dimsToString(repeats),
                         dimsToString(in));
        out[i] = in[i] < 0 ? -1 : *d;
    }
    return out;
}

Expected<KernelBuild> tileFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 2));
    const TensorInfo& x = ctx.inputs[0];
    TensorInfo out = unknownDimsLike(x.dtype, x);
    if (auto repeats = constantInts(ctx, 1); repeats && x.rankKnown) {
        auto d = tileDims(x.dims, *repeats);
        if (!d) return error(StatusCode::kBadInput, "{}: {}", ctx.where(), d.error().message());
        out.dims = std::move(*d);
    }
    auto kernel = makeKernel([](Ins in, Outs outs) -> Status {
        const HostTensor& xs = *in[0];
        WH_ASSIGN_OR_RETURN_STATUS(const Dims outDims, tileDims(xs.dims(), in[1]->toInt64s()));
        HostTensor& y = *outs[0];
        y.ensure(xs.dtype(), outDims);
        const int64_t total = y.numElements();
        if (total == 0) return Status::ok();
        const std::size_t rank = outDims.size();
        const std::vector<int64_t> strides = contiguousStrides(xs.dims());
        byElementSize(xs.dtype(), [&](auto tag) {
            using E = decltype(tag);
            const E* src = elems<E>(xs);
            E* dst = elems<E>(y);
            // Odometer over the output; the source index of each is its index modulo the dim.
            std::vector<int64_t> index(rank, 0);
            for (int64_t o = 0; o < total; ++o) {
                int64_t from = 0;
                for (std::size_t a = 0; a < rank; ++a) from += index[a] % xs.dims()[a] * strides[a];
                dst[o] = src[from];
                for (int a = static_cast<int>(rank) - 1; a >= 0; --a) {
                    const auto au = static_cast<std::size_t>(a);
                    if (++index[au] < outDims[au]) break;
                    index[au] = 0;
                }
            }
        });
        return Status::ok();
    });
    return singleOutput(std::move(kernel), std::move(out));
}

Expected<KernelBuild> rangeFactory(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 3));
    const ir::DType dtype = ctx.inputs[0].dtype;
    auto built = dispatch<TypeSet::kReal>(dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
        using T = decltype(tag);
        return makeKernel([](Ins in, Outs outs) -> Status {
            for (int i = 0; i < 3; ++i)
                if (in[static_cast<std::size_t>(i)]->numElements() != 1)
                    return makeStatus(StatusCode::kBadInput, "input {} is not a scalar", i);
            const T start = in[0]->data<T>()[0], limit = in[1]->data<T>()[0],
                    delta = in[2]->data<T>()[0];
            if (delta == T(0)) return makeStatus(StatusCode::kBadInput, "delta is 0");
            // n = max(ceil((limit - start) / delta), 0), in double: no integer overflow.
            const double n =
                std::max(std::ceil((static_cast<double>(limit) - static_cast<double>(start)) /
                                   static_cast<double>(delta)),
                         0.0);
            if (!(n < 0x1p62))
                return makeStatus(StatusCode::kBadInput,
                                  "Range from {} to {} by {} has {:g} "
                                  "elements",
                                  static_cast<double>(start), static_cast<double>(limit),
                                  static_cast<double>(delta), n);
            HostTensor& y = *outs[0];
            y.ensure(in[0]->dtype(), {static_cast<int64_t>(n)});
            T* dst = y.data<T>();
            for (int64_t i = 0; i < y.numElements(); ++i)
                dst[i] = static_cast<T>(start + static_cast<T>(i) * delta);
            return Status::ok();
        });
    });
    if (!built)
        return error(StatusCode::kUnsupported, "{}: element type {} is not supported", ctx.where(),
                     typeName(dtype));
    return singleOutput(std::move(*built), infoOf(dtype, {-1}));
}
}  // namespace

void registerTensorOps(KernelRegistry& r) {
    r.add("", "Concat", 4, 18, kRef, concatFactory);
    r.add("", "Split", 2, 18, kRef, splitFactory);
    r.add("", "Slice", 1, 18, kRef, sliceFactory);
    r.add("", "Gather", 1, 18, kRef, gatherFactory);
    r.add("", "Reshape", 5, 18, kRef, reshapeFactory);
    r.add("", "Flatten", 1, 18, kRef, flattenFactory);
    r.add("", "Transpose", 1, 18, kRef, transposeFactory);
    r.add("", "Squeeze", 1, 18, kRef, squeezeFactory<true>);
    r.add("", "Unsqueeze", 1, 18, kRef, squeezeFactory<false>);
    r.add("", "Shape", 1, 18, kRef, shapeFactory);
    r.add("", "Constant", 1, 18, kRef, constantFactory);
    r.add("", "ConstantOfShape", 9, 18, kRef, constantOfShapeFactory);
    r.add("", "ReduceMean", 1, 18, kRef, reduceFactory<ReduceKind::kMean>);
    r.add("", "ReduceSum", 1, 18, kRef, reduceFactory<ReduceKind::kSum>);
    r.add("", "ReduceMax", 1, 18, kRef, reduceFactory<ReduceKind::kMax>);
    r.add("", "ReduceMin", 1, 18, kRef, reduceFactory<ReduceKind::kMin>);
    r.add("", "ReduceProd", 1, 18, kRef, reduceFactory<ReduceKind::kProd>);
    r.add("", "ReduceL1", 1, 18, kRef, reduceFactory<ReduceKind::kL1>);
    r.add("", "ReduceL2", 1, 18, kRef, reduceFactory<ReduceKind::kL2>);
    r.add("", "ReduceLogSum", 1, 18, kRef, reduceFactory<ReduceKind::kLogSum>);
    r.add("", "ReduceLogSumExp", 1, 18, kRef, reduceFactory<ReduceKind::kLogSumExp>);
    r.add("", "ReduceSumSquare", 1, 18, kRef, reduceFactory<ReduceKind::kSumSquare>);
    r.add("", "ArgMax", 1, 18, kRef, argFactory<true>);
    r.add("", "ArgMin", 1, 18, kRef, argFactory<false>);
    r.add("", "Pad", 2, 18, kRef, padFactory);
    r.add("", "Expand", 8, 18, kRef, expandFactory);
    r.add("", "Tile", 6, 18, kRef, tileFactory);
    r.add("", "Range", 11, 18, kRef, rangeFactory);
}

}  // namespace wh::engine::ref
