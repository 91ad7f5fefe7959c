#include "core/rewrite/constant_arithmetic_folding.h"

#include <algorithm>
#include <vector>

#include "core/rewrite/rewriter.h"

namespace wh::rewrite {

namespace {

// A float32 initializer whose bytes are all there (not a graph input the user may feed).
const ir::Tensor* floatConstant(const ir::Value* v) {
    if (!v || v->isGraphInput() || !v->hasInitializer()) return nullptr;
    const ir::Tensor* t = v->initializer();
    if (t->dtype != ir::DType::kFloat || !t->data) return nullptr;
    const int64_t n = t->numElements();
    if (n < 0 || t->data->size() != static_cast<std::size_t>(n) * sizeof(float)) return nullptr;
    return t;
}

// The broadcast dims of a and b and their element count; false when they do not broadcast or
// the result would exceed kMaxElements.
bool broadcastDims(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                   std::vector<int64_t>& out, int64_t& elements) {
    const std::size_t rank = std::max(a.size(), b.size());
    out.assign(rank, 1);
    elements = 1;
    for (std::size_t i = 0; i < rank; ++i) {
        const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
        const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
        if (da < 0 || db < 0 || (da != db && da != 1 && db != 1)) return false;
        out[i] = da == 1 ? db : da;
        if (out[i] != 0 && elements > ConstantArithmeticFolding::kMaxElements / out[i]) return false;
        elements *= out[i];
    }
    return elements <= ConstantArithmeticFolding::kMaxElements;
}

// Element strides of `dims` read through broadcasting into `out` (0 on broadcast axes).
std::vector<int64_t> broadcastStrides(const std::vector<int64_t>& dims, const std::vector<int64_t>& out) {
    std::vector<int64_t> strides(out.size(), 0);
    int64_t stride = 1;
    for (std::size_t k = 0; k < dims.size(); ++k) {
        const std::size_t i = dims.size() - 1 - k, o = out.size() - 1 - k;
        strides[o] = dims[i] == 1 ? 0 : stride;
        stride *= dims[i];
    }
    return strides;
}

float combine(const std::string& op, float a, float b) {
    if (op == "Add") return a + b;
    if (op == "Sub") return a - b;
    if (op == "Mul") return a * b;
    return a / b;
}

}  // namespace

MatchResult ConstantArithmeticFolding::match(const ir::Node& root) const {
    if (root.numInputs() != 2 || root.numOutputs() != 1 || !root.output(0))
        return MatchResult::failure("expected two inputs and one output");
    const ir::Value* out = root.output(0);
    if (out->isGraphOutput()) return MatchResult::fail("output '{}' is a graph output", out->name());
    const ir::Tensor* a = floatConstant(root.input(0));
    const ir::Tensor* b = floatConstant(root.input(1));
    if (!a || !b) return MatchResult::failure("the inputs are not both float32 initializers");
    std::vector<int64_t> dims;
    int64_t n = 0;
    if (!broadcastDims(a->dims, b->dims, dims, n))
        return MatchResult::fail("the inputs do not broadcast to at most {} elements", kMaxElements);
    return MatchResult::success();
}

Status ConstantArithmeticFolding::apply(Rewriter& rewriter, ir::Node& root) const {
    const ir::Tensor& a = *floatConstant(root.input(0));
    const ir::Tensor& b = *floatConstant(root.input(1));
    std::vector<int64_t> dims;
    int64_t n = 0;
    broadcastDims(a.dims, b.dims, dims, n);
    const std::vector<int64_t> sa = broadcastStrides(a.dims, dims), sb = broadcastStrides(b.dims, dims);
    auto av = a.values<float>();
    auto bv = b.values<float>();
    std::vector<float> result(static_cast<std::size_t>(n));
    std::vector<int64_t> index(dims.size(), 0);
    int64_t ia = 0, ib = 0;
    for (int64_t e = 0; e < n; ++e) {
        result[static_cast<std::size_t>(e)] =
            combine(root.opType, av[static_cast<std::size_t>(ia)], bv[static_cast<std::size_t>(ib)]);
        // Advance the multi-index (last axis fastest) and the two read offsets.
        for (std::size_t k = dims.size(); k-- > 0;) {
            ia += sa[k];
            ib += sb[k];
            if (++index[k] < dims[k]) break;
            ia -= sa[k] * dims[k];
            ib -= sb[k] * dims[k];
            index[k] = 0;
        }
    }
    ir::Value* out = root.output(0);
    ScopedGroup group(rewriter, "Fold constant arithmetic");
    if (Status s = rewriter.eraseNode(root, EraseOutputs::kKeep); !s.isOk()) {
        group.cancel();
        return s;
    }
    if (Status s = rewriter.setInitializer(*out, ir::Tensor::fromFloats(out->name(), dims, result));
        !s.isOk()) {
        group.cancel();
        return s;
    }
    return Status::ok();
}

void addConstantArithmeticFolding(PatternSet& set) {
    for (const char* op : {"Add", "Sub", "Mul", "Div"}) set.emplace<ConstantArithmeticFolding>(op);
}

}  // namespace wh::rewrite
