// Reference Einsum (opset 12+): any equation numpy.einsum accepts with one "..." per term —
// explicit ("ij,jk->ik") or implicit output ("ij,jk": the labels used once, in ASCII order,
// after the "..." dims), repeated labels within a term (diagonals: "ii->i", "ii"), labels
// missing from the output summed over, and "..." broadcast numpy-style (right-aligned; a dim
// of 1 stretches).
//
// Every distinct label is one loop index. Input k's offset is Σ_label idx[label] · s_k(label),
// where s_k(label) is the sum of the strides of the axes of term k carrying that label (so a
// repeated label walks the diagonal) and 0 on a stretched dim of 1. The output loops over its
// labels, the sum over the others; products accumulate in double (float types) or int64.
//
// Fast path (float and double, two inputs, no label repeated within a term, every summed label
// in both inputs, no dim of 1 stretched): a batched matrix product. Labels in both inputs and
// the output are the batch, in A and the output only the rows (M), in B and the output only
// the columns (N), in both inputs only the contraction (K): A and B are permuted to
// [batch, M, K] and [batch, K, N], multiplied with Eigen per batch, and the [batch, M, N]
// result permuted to the output's order. Attention's "bhqd,bhkd->bhqk" takes it.

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <Eigen/Dense>

#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/ref_kernels.h"

namespace wh::engine::ref {

namespace {

using D = ir::DType;
using Ins = std::span<const HostTensor* const>;
using Outs = std::span<HostTensor* const>;
constexpr Backend kRef = Backend::kReference;

// Label ids: 'A'..'Z' 0..25, 'a'..'z' 26..51, then the "..." dims (right-aligned) from 52.
constexpr int kEllipsisBase = 52;

struct Term {
    std::vector<int> letters;  // label ids in order; kEllipsisMark where "..." stands
    bool ellipsis = false;
};
constexpr int kEllipsisMark = -1;

int letterId(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
    return -2;
}

Expected<Term> parseTerm(const std::string& text) {
    Term t;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '.') {
            if (t.ellipsis || text.compare(i, 3, "...") != 0)
                return error(StatusCode::kBadInput, "term '{}': '.' outside one '...'", text);
            t.ellipsis = true;
            t.letters.push_back(kEllipsisMark);
            i += 2;
            continue;
        }
        const int id = letterId(text[i]);
        if (id < 0) return error(StatusCode::kBadInput, "term '{}': label '{}'", text, text[i]);
        t.letters.push_back(id);
    }
    return t;
}

// The equation resolved against the input ranks.
struct Equation {
    std::vector<std::vector<int>> inputAxes;  // per input, per axis: label id
    std::vector<int> output;                  // per output axis: label id
    int ellipsisRank = 0;
};

Expected<Equation> parseEquation(std::string eq, const std::vector<int>& ranks) {
    eq.erase(std::remove_if(eq.begin(), eq.end(), [](char c) { return c == ' '; }), eq.end());
    const std::size_t arrow = eq.find("->");
    const std::string lhs = eq.substr(0, arrow);
    std::vector<std::string> texts;
    for (std::size_t start = 0;;) {
        const std::size_t comma = lhs.find(',', start);
        texts.push_back(lhs.substr(start, comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (texts.size() != ranks.size())
        return error(StatusCode::kBadInput, "equation '{}' has {} terms for {} inputs", eq,
                     texts.size(), ranks.size());
    Equation e;
    std::vector<Term> terms;
    for (std::size_t k = 0; k < texts.size(); ++k) {
        WH_ASSIGN_OR_RETURN(Term t, parseTerm(texts[k]));
        const int explicitCount = static_cast<int>(t.letters.size()) - (t.ellipsis ? 1 : 0);
        const int ell = ranks[k] - explicitCount;
        if (ell < 0 || (!t.ellipsis && ell != 0))
            return error(StatusCode::kBadInput,
                         "term '{}' of equation '{}' does not fit input "
                         "{} of rank {}",
                         texts[k], eq, k, ranks[k]);
        e.ellipsisRank = std::max(e.ellipsisRank, ell);
        terms.push_back(std::move(t));
    }
    std::array<int, kEllipsisBase> uses{};
    for (std::size_t k = 0; k < terms.size(); ++k) {
        const int ell =
            ranks[k] - (static_cast<int>(terms[k].letters.size()) - (terms[k].ellipsis ? 1 : 0));
        std::vector<int> axes;
        for (int id : terms[k].letters) {
            if (id == kEllipsisMark) {
                for (int j = 0; j < ell; ++j)
                    axes.push_back(kEllipsisBase + e.ellipsisRank - ell + j);
            } else {
                axes.push_back(id);
                ++uses[static_cast<std::size_t>(id)];
            }
        }
        e.inputAxes.push_back(std::move(axes));
    }
    if (arrow == std::string::npos) {
        for (int j = 0; j < e.ellipsisRank; ++j) e.output.push_back(kEllipsisBase + j);
        for (int id = 0; id < kEllipsisBase; ++id)
            if (uses[static_cast<std::size_t>(id)] == 1) e.output.push_back(id);
        return e;
    }
    WH_ASSIGN_OR_RETURN(Term out, parseTerm(eq.substr(arrow + 2)));
    for (int id : out.letters) {
        if (id == kEllipsisMark) {
            for (int j = 0; j < e.ellipsisRank; ++j) e.output.push_back(kEllipsisBase + j);
            continue;
        }
        if (uses[static_cast<std::size_t>(id)] == 0)
            return error(StatusCode::kBadInput, "equation '{}': output label '{}' is in no input",
                         eq, static_cast<char>(id < 26 ? 'A' + id : 'a' + (id - 26)));
        if (std::count(out.letters.begin(), out.letters.end(), id) > 1)
            return error(StatusCode::kBadInput, "equation '{}': an output label repeats", eq);
        e.output.push_back(id);
    }
    return e;
}

// Sizes of every label (-1: unknown), broadcasting dims of 1.
Expected<std::vector<int64_t>> labelSizes(const Equation& e, const std::vector<Dims>& dims,
                                          int numLabels) {
    std::vector<int64_t> size(static_cast<std::size_t>(numLabels), -2);  // -2: not seen
    for (std::size_t k = 0; k < dims.size(); ++k)
        for (std::size_t a = 0; a < dims[k].size(); ++a) {
            const int64_t d = dims[k][a];
            int64_t& s = size[static_cast<std::size_t>(e.inputAxes[k][a])];
            if (s == -2 || s == 1) {
                s = d;
            } else if (d == 1 || d == s) {
            } else if (d < 0 || s < 0) {
                s = -1;
            } else {
                return error(StatusCode::kBadInput, "input {} axis {} is {}, elsewhere {}", k, a, d,
                             s);
            }
        }
    return size;
}

template <class T>
void compute(const Equation& e, const std::vector<int64_t>& size, Ins in, HostTensor& out) {
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
    // Loop order: the output labels, then the summed ones.
    std::vector<int> order = e.output;
    for (int id = 0; id < static_cast<int>(size.size()); ++id)
        if (size[static_cast<std::size_t>(id)] != -2 &&
            std::find(order.begin(), order.end(), id) == order.end())
            order.push_back(id);
    const std::size_t nOut = e.output.size(), n = order.size(), nIn = in.size();
    std::vector<int64_t> extent(n);
    for (std::size_t p = 0; p < n; ++p) extent[p] = size[static_cast<std::size_t>(order[p])];
    // stride[k][p]: how far input k moves when label order[p] steps.
    std::vector<std::vector<int64_t>> stride(nIn, std::vector<int64_t>(n, 0));
    for (std::size_t k = 0; k < nIn; ++k) {
        const Dims& dims = in[k]->dims();
        int64_t s = 1;
        for (std::size_t a = dims.size(); a-- > 0;) {
            const auto p = static_cast<std::size_t>(
                std::find(order.begin(), order.end(), e.inputAxes[k][a]) - order.begin());
            if (!(dims[a] == 1 && extent[p] != 1)) stride[k][p] += s;
            s *= dims[a];
        }
    }
    int64_t outCount = 1, sumCount = 1;
    for (std::size_t p = 0; p < nOut; ++p) outCount *= extent[p];
    for (std::size_t p = nOut; p < n; ++p) sumCount *= extent[p];
    T* dst = out.data<T>();
    std::vector<const T*> src(nIn);
    for (std::size_t k = 0; k < nIn; ++k) src[k] = in[k]->data<T>();
    std::vector<int64_t> idx(n, 0), base(nIn, 0), off(nIn, 0);
    // Steps the odometer over positions [from, to): the last position fastest.
    auto step = [&](std::size_t from, std::size_t to, std::vector<int64_t>& o) {
        for (std::size_t p = to; p-- > from;) {
            for (std::size_t k = 0; k < nIn; ++k) o[k] += stride[k][p];
            if (++idx[p] < extent[p]) return;
            for (std::size_t k = 0; k < nIn; ++k) o[k] -= stride[k][p] * extent[p];
            idx[p] = 0;
        }
    };
    for (int64_t i = 0; i < outCount; ++i) {
        off = base;
        Acc sum = 0;
        for (int64_t r = 0; r < sumCount; ++r) {
            Acc prod = 1;
            for (std::size_t k = 0; k < nIn; ++k) prod *= static_cast<Acc>(src[k][off[k]]);
            sum += prod;
            step(nOut, n, off);
        }
        dst[i] = static_cast<T>(sum);
        step(0, nOut, base);
    }
}

// The batched-matmul plan of a two-input equation, when it has one (see the file comment).
struct MatmulPlan {
    std::vector<int> batch, m, n, k;  // label ids, in the order of their first appearance
};

std::optional<MatmulPlan> matmulPlan(const Equation& e) {
    if (e.inputAxes.size() != 2) return std::nullopt;
    const auto& a = e.inputAxes[0];
    const auto& b = e.inputAxes[1];
    auto has = [](const std::vector<int>& v, int id) {
        return std::find(v.begin(), v.end(), id) != v.end();
    };
    for (const auto* term : {&a, &b})
        for (int id : *term)
            if (std::count(term->begin(), term->end(), id) > 1) return std::nullopt;
    MatmulPlan p;
    std::vector<int> seen;
    for (const auto* term : {&a, &b, &e.output})
        for (int id : *term) {
            if (has(seen, id)) continue;
            seen.push_back(id);
            const bool inA = has(a, id), inB = has(b, id), inOut = has(e.output, id);
            if (inA && inB && inOut)
                p.batch.push_back(id);
            else if (inA && inOut)
                p.m.push_back(id);
            else if (inB && inOut)
                p.n.push_back(id);
            else if (inA && inB)
                p.k.push_back(id);
            else
                return std::nullopt;  // summed in one input only: the general loop
        }
    return p;
}

// `in` (dims per its labels `axes`) copied into the order of `labels`.
template <class T>
void permuteInto(const HostTensor& in, const std::vector<int>& axes, const std::vector<int>& labels,
                 const std::vector<int64_t>& size, std::vector<T>& out) {
    const std::size_t r = labels.size();
    std::vector<int64_t> extent(r), stride(r, 0);
    for (std::size_t p = 0; p < r; ++p) {
        extent[p] = size[static_cast<std::size_t>(labels[p])];
        int64_t s = 1;
        for (std::size_t a = axes.size(); a-- > 0;) {
            if (axes[a] == labels[p]) stride[p] = s;
            s *= in.dims()[a];
        }
    }
    out.resize(static_cast<std::size_t>(in.numElements()));
    const T* src = in.data<T>();
    std::vector<int64_t> idx(r, 0);
    int64_t off = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
        out[i] = src[off];
        for (std::size_t p = r; p-- > 0;) {
            off += stride[p];
            if (++idx[p] < extent[p]) break;
            off -= stride[p] * extent[p];
            idx[p] = 0;
        }
    }
}

template <class T>
void batchedMatmul(const Equation& e, const MatmulPlan& p, const std::vector<int64_t>& size, Ins in,
                   HostTensor& out) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    auto prod = [&](const std::vector<int>& ids) {
        int64_t n = 1;
        for (int id : ids) n *= size[static_cast<std::size_t>(id)];
        return n;
    };
    const int64_t B = prod(p.batch), M = prod(p.m), N = prod(p.n), K = prod(p.k);
    auto cat = [](std::vector<int> x, const std::vector<int>& y, const std::vector<int>& z) {
        x.insert(x.end(), y.begin(), y.end());
        x.insert(x.end(), z.begin(), z.end());
        return x;
    };
    std::vector<T> a, b;
    permuteInto<T>(*in[0], e.inputAxes[0], cat(p.batch, p.m, p.k), size, a);
    permuteInto<T>(*in[1], e.inputAxes[1], cat(p.batch, p.k, p.n), size, b);
    HostTensor c(out.dtype(), Dims{B * M * N});
    for (int64_t i = 0; i < B; ++i) {
        Eigen::Map<const Mat> ma(a.data() + i * M * K, M, K), mb(b.data() + i * K * N, K, N);
        Eigen::Map<Mat> mc(c.data<T>() + i * M * N, M, N);
        mc.noalias() = ma * mb;
    }
    const std::vector<int> cLabels = cat(p.batch, p.m, p.n);
    Dims cDims;
    for (int id : cLabels) cDims.push_back(size[static_cast<std::size_t>(id)]);
    std::vector<T> result;
    permuteInto<T>(c.reshaped(cDims), cLabels, e.output, size, result);
    std::copy(result.begin(), result.end(), out.data<T>());
}

// True when no input stretches a dim of 1 (the fast path needs equal dims).
bool noStretch(const Equation& e, const std::vector<int64_t>& size, Ins in) {
    for (std::size_t k = 0; k < in.size(); ++k)
        for (std::size_t a = 0; a < e.inputAxes[k].size(); ++a)
            if (in[k]->dims()[a] != size[static_cast<std::size_t>(e.inputAxes[k][a])]) return false;
    return true;
}

Expected<KernelBuild> makeEinsum(const KernelContext& ctx) {
    const int n = ctx.node.numInputs();
    if (n < 1) return error(StatusCode::kBadInput, "{} has no inputs", ctx.where());
    WH_RETURN_IF_ERROR(requireInputs(ctx, n));
    const D dtype = ctx.inputs[0].dtype;
    std::vector<int> ranks;
    std::vector<Dims> dims;
    for (int k = 0; k < n; ++k) {
        const TensorInfo& info = ctx.inputs[static_cast<std::size_t>(k)];
        if (info.dtype != dtype)
            return error(StatusCode::kBadInput, "{}: input {} is {}, input 0 {}", ctx.where(), k,
                         typeName(info.dtype), typeName(dtype));
        if (!info.rankKnown)
            return error(StatusCode::kUnsupported, "{}: input {} has unknown rank", ctx.where(), k);
        ranks.push_back(static_cast<int>(info.dims.size()));
        dims.push_back(info.dims);
    }
    const std::string equation = ctx.node.attrString("equation");
    auto parsed = parseEquation(equation, ranks);
    if (!parsed)
        return error(parsed.error().code(), "{}: {}", ctx.where(), parsed.error().message());
    const Equation eq = std::move(*parsed);
    const int numLabels = kEllipsisBase + eq.ellipsisRank;
    auto sizes = labelSizes(eq, dims, numLabels);
    if (!sizes) return error(sizes.error().code(), "{}: {}", ctx.where(), sizes.error().message());
    Dims outDims;
    for (int id : eq.output) outDims.push_back((*sizes)[static_cast<std::size_t>(id)]);
    const bool supported = dispatch<TypeSet::kReal>(dtype, [](auto) { return true; }).has_value();
    if (!supported) return unsupportedType(ctx, dtype);
    const std::optional<MatmulPlan> fast = matmulPlan(eq);
    return singleOutput(makeKernel([eq, numLabels, fast](Ins in, Outs out) -> Status {
                            std::vector<Dims> dims;
                            for (const HostTensor* t : in) dims.push_back(t->dims());
                            WH_ASSIGN_OR_RETURN_STATUS(auto size, labelSizes(eq, dims, numLabels));
                            Dims outDims;
                            for (int id : eq.output)
                                outDims.push_back(size[static_cast<std::size_t>(id)]);
                            out[0]->ensure(in[0]->dtype(), outDims);
                            if (fast && noStretch(eq, size, in) && out[0]->numElements() > 0) {
                                if (in[0]->dtype() == D::kFloat) {
                                    batchedMatmul<float>(eq, *fast, size, in, *out[0]);
                                    return Status::ok();
                                }
                                if (in[0]->dtype() == D::kDouble) {
                                    batchedMatmul<double>(eq, *fast, size, in, *out[0]);
                                    return Status::ok();
                                }
                            }
                            dispatch<TypeSet::kReal>(in[0]->dtype(), [&](auto t) {
                                compute<decltype(t)>(eq, size, in, *out[0]);
                                return true;
                            });
                            return Status::ok();
                        }),
                        infoOf(dtype, outDims));
}

}  // namespace

void registerEinsum(KernelRegistry& registry) {
    registry.add("", "Einsum", 12, 21, kRef, makeEinsum);
}

}  // namespace wh::engine::ref
