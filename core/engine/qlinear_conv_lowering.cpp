// QLinearConvLowering (qconv.h): an ONNX QLinearConv → one QConv (oneDNN int8 convolution).

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/engine/fake_quantize.h"
#include "core/engine/qconv.h"
#include "core/engine/qdq_match.h"

namespace wh::engine {

namespace {

using ir::DType;
using rewrite::MatchResult;
using namespace qdq;

bool isByte(DType t) {
    return t == DType::kUInt8 || t == DType::kInt8;
}

int32_t byteAt(const ir::Tensor& t, int64_t i) {
    return t.dtype == DType::kUInt8 ? static_cast<int32_t>(t.values<uint8_t>()[i])
                                    : static_cast<int32_t>(t.values<int8_t>()[i]);
}

std::string scalarProblem(const ir::Node& n, int scale, int zero, const char* what) {
    const ir::Tensor* s = fixed(n.input(scale));
    if (!s || s->dtype != DType::kFloat || !isScalar(*s))
        return fmt::format("{} scale is not a constant float scalar", what);
    const float v = s->values<float>()[0];
    if (!(v > 0.0f) || !std::isfinite(v)) return fmt::format("{} scale is not positive", what);
    const ir::Tensor* z = fixed(n.input(zero));
    if (!z || !isScalar(*z) || !isByte(z->dtype))
        return fmt::format("{} zero point is not a constant uint8/int8 scalar", what);
    return {};
}

// w - w_zero_point[m] as int8, or why it cannot be.
std::string signedWeights(const ir::Node& n, std::vector<int8_t>* out) {
    const ir::Value* wv = n.input(3);
    const ir::Tensor* w = fixed(wv);
    if (!w || !wv->hasInitializer()) return "weights are not a constant initializer";
    if (!isByte(w->dtype) || w->dims.size() != 4)
        return "weights are not a rank-4 uint8/int8 tensor";
    const int64_t M = w->dims[0];
    const ir::Tensor* s = fixed(n.input(4));
    if (!s || s->dtype != DType::kFloat || (!isScalar(*s) && s->numElements() != M))
        return "weight scale is neither a constant per-tensor nor a per-channel float";
    const auto sv = s->values<float>();
    if (!std::all_of(sv.begin(), sv.end(), [](float v) { return v > 0.0f && std::isfinite(v); }))
        return "weight scale is not positive";
    const ir::Tensor* z = n.input(5) ? fixed(n.input(5)) : nullptr;
    if (n.input(5) && (!z || z->dtype != w->dtype || (!isScalar(*z) && z->numElements() != M)))
        return "weight zero point is neither a constant per-tensor nor a per-channel value of "
               "the weights' type";
    const int64_t n1 = w->numElements(), perM = M > 0 ? n1 / M : 0;
    if (out) out->resize(static_cast<std::size_t>(n1));
    for (int64_t i = 0; i < n1; ++i) {
        const int64_t m = perM > 0 ? i / perM : 0;
        const int32_t v = byteAt(*w, i) - (z ? byteAt(*z, z->numElements() == 1 ? 0 : m) : 0);
        if (v < -128 || v > 127)
            return fmt::format(
                "weights minus their zero point do not fit int8 (weight {} of "
                "channel {} is {}): oneDNN takes int8 weights without zero point",
                i % std::max<int64_t>(perM, 1), m, v);
        if (out) (*out)[static_cast<std::size_t>(i)] = static_cast<int8_t>(v);
    }
    return {};
}

}  // namespace

std::string qlinearConvLoweringProblem(const ir::Node& n) {
    if (n.numInputs() < 8 || n.numOutputs() != 1 || !n.output(0) || !n.input(0))
        return "QLinearConv without its eight inputs or its output";
    for (int i = 1; i < n.numInputs(); ++i)
        if (i != 5 && i != 8 && !n.input(i)) return fmt::format("input {} is absent", i);
    if (std::string why = scalarProblem(n, 1, 2, "input"); !why.empty()) return why;
    if (std::string why = scalarProblem(n, 6, 7, "output"); !why.empty()) return why;
    if (std::string why = signedWeights(n, nullptr); !why.empty()) return why;
    if (const ir::Value* b = n.input(8)) {
        const ir::Tensor* t = fixed(b);
        if (!t || t->dtype != DType::kInt32 || t->numElements() != fixed(n.input(3))->dims[0])
            return "bias is not a constant int32 [M]";
    }
    return {};
}

MatchResult QLinearConvLowering::match(const ir::Node& node) const {
    if (std::string why = qlinearConvLoweringProblem(node); !why.empty())
        return MatchResult::failure(why);
    return MatchResult::success();
}

Status QLinearConvLowering::apply(rewrite::Rewriter& rewriter, ir::Node& node) const {
    WH_ASSERT(qlinearConvLoweringProblem(node).empty());
    ir::Graph& graph = rewriter.graph();
    rewrite::ScopedGroup group(rewriter, "Run a QLinearConv as one int8 QConv");
    auto fail = [&](Status s) {
        group.cancel();
        return s;
    };
    auto name = [](const ir::Value* v) { return v ? v->name() : std::string(); };
    const ir::Tensor& w = *fixed(node.input(3));
    const int64_t M = w.dims[0];
    const auto ws = fixed(node.input(4))->values<float>();
    const float xs = fixed(node.input(1))->values<float>()[0];
    const std::string base = node.output(0)->name();

    // int8 weights without zero point: the same initializer when they already are.
    std::string weights = name(node.input(3));
    const ir::Tensor* wz = node.input(5) ? fixed(node.input(5)) : nullptr;
    const bool zeroFree =
        !wz || std::all_of(wz->values<uint8_t>().begin(), wz->values<uint8_t>().end(),
                           [](uint8_t b) { return b == 0; });
    if (w.dtype != DType::kInt8 || !zeroFree) {
        std::vector<int8_t> q;
        signedWeights(node, &q);
        ir::Tensor t;
        t.dtype = DType::kInt8;
        t.dims = w.dims;
        t.data = std::make_shared<const ir::Buffer>(q.data(), q.size());
        weights = graph.uniqueName(base + "_qconv_w");
        if (auto v = rewriter.addInitializer(weights, std::move(t)); !v) return fail(v.error());
    }

    // The int32 bias in float: B[m] * x_scale * w_scale[m] (QConv adds it to the real sum).
    std::string bias;
    if (const ir::Value* b = node.input(8)) {
        const auto bq = fixed(b)->values<int32_t>();
        std::vector<float> bf(static_cast<std::size_t>(M));
        for (int64_t m = 0; m < M; ++m)
            bf[static_cast<std::size_t>(m)] =
                static_cast<float>(static_cast<double>(bq[m]) * xs * ws[ws.size() == 1 ? 0 : m]);
        bias = graph.uniqueName(base + "_qconv_bias");
        if (auto v = rewriter.addInitializer(bias, ir::Tensor::fromFloats({}, {M}, bf)); !v)
            return fail(v.error());
    }

    rewrite::NewNode qconv;
    qconv.opType = std::string(kQConvOp);
    qconv.domain = std::string(kWhittleDomain);
    qconv.name = node.name;
    qconv.docString = node.docString;
    qconv.inputs = {
        name(node.input(0)), name(node.input(1)), name(node.input(2)), weights, name(node.input(4)),
        std::string(),       name(node.input(6)), name(node.input(7)), bias};
    qconv.outputs = {base};
    for (const ir::Attribute& a : node.attributes()) qconv.attributes.push_back(a.clone());
    if (Status s = replaceGroup(rewriter, {&node}, std::move(qconv), {}, {}); !s.isOk())
        return fail(s);
    return Status::ok();
}

}  // namespace wh::engine
