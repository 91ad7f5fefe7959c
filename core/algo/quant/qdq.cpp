#include "core/algo/quant/qdq.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "core/algo/quant/quantized_weight.h"
#include "core/algo/quant/weight_export.h"
#include "core/engine/fake_quantize.h"

namespace wh::algo::quant {

namespace {

using ir::Attribute;
using ir::DType;
using rewrite::NewNode;

// A name not yet used in the graph: `base`, else base_1, base_2, ...
std::string freshName(const ir::Graph& graph, const std::string& base) {
    if (!graph.findValueInScope(base)) return base;
    for (int i = 1;; ++i) {
        std::string name = fmt::format("{}_{}", base, i);
        if (!graph.findValueInScope(name)) return name;
    }
}

ir::Tensor floatTensor(std::string name, std::span<const float> values, bool perChannel) {
    std::vector<int64_t> dims;
    if (perChannel) dims = {static_cast<int64_t>(values.size())};
    return ir::Tensor::fromFloats(std::move(name), std::move(dims),
                                  std::vector<float>(values.begin(), values.end()));
}

NewNode fakeQuantizeNode(rewrite::Rewriter& rw, ir::Value& value, const FakeQuantSpec& spec,
                         std::span<const float> scale, std::span<const float> zeroPoint,
                         Expected<std::vector<std::string>>& initializers) {
    const ir::Graph& g = rw.graph();
    const bool perChannel = spec.axis >= 0;
    std::vector<std::string> inputs{value.name()};
    auto add = [&](const std::string& suffix, std::span<const float> v) -> bool {
        std::string name = freshName(g, value.name() + suffix);
        auto added = rw.addInitializer(name, floatTensor(name, v, perChannel));
        if (!added) {
            initializers = tl::unexpected(added.error());
            return false;
        }
        inputs.push_back(name);
        return true;
    };
    if (!add("_fq_scale", scale)) return {};
    std::vector<float> zeros(scale.size(), 0.0f);
    const bool needsZero = !zeroPoint.empty() || spec.emaDecay > 0 ||
                           (spec.observe && !spec.symmetric) || (spec.learned && !spec.symmetric);
    if (needsZero && !add("_fq_zero_point", zeroPoint.empty() ? std::span<const float>(zeros)
                                                              : zeroPoint))
        return {};
    if (spec.emaDecay > 0) {
        if (!add("_fq_min", zeros) || !add("_fq_max", zeros)) return {};
    }
    NewNode n(std::string(engine::kFakeQuantizeOp), std::move(inputs), {});
    n.domain = std::string(engine::kWhittleDomain);
    n.name = freshName(g, value.name() + "_fq");
    n.outputs = {freshName(g, value.name() + "_fq")};
    n.attributes.push_back(Attribute::makeInt("num_bits", spec.bits));
    n.attributes.push_back(Attribute::makeInt("unsigned", spec.isUnsigned ? 1 : 0));
    n.attributes.push_back(Attribute::makeInt("narrow_range", spec.narrowRange ? 1 : 0));
    n.attributes.push_back(Attribute::makeInt("symmetric", spec.symmetric ? 1 : 0));
    if (perChannel) n.attributes.push_back(Attribute::makeInt("axis", spec.axis));
    if (spec.learned) n.attributes.push_back(Attribute::makeInt("learned", 1));
    if (spec.observe) n.attributes.push_back(Attribute::makeInt("observe", spec.observe));
    if (spec.emaDecay > 0) n.attributes.push_back(Attribute::makeFloat("ema_decay", spec.emaDecay));
    initializers = inputs;
    return n;
}

int64_t grid(int bits, bool isUnsigned, bool narrow, bool upper) {
    auto [lo, hi] = engine::fakeQuantGrid(bits, narrow, isUnsigned);
    return upper ? hi : lo;
}

// The scale / zero point (as floats) of a FakeQuantize, which must be initializers.
struct FqParams {
    std::vector<float> scale;
    std::vector<float> zeroPoint;  // same length; zeros when absent
};

Expected<FqParams> paramsOf(const ir::Node& fq) {
    FqParams p;
    auto read = [&](int i, std::vector<float>& out) -> Status {  // NOLINT
        const ir::Value* v = fq.input(i);
        if (!v || !v->hasInitializer() || v->initializer()->dtype != DType::kFloat)
            return makeStatus(StatusCode::kBadInput,
                              "FakeQuantize '{}': input {} must be a float initializer to export",
                              fq.name, i);
        auto vals = v->initializer()->values<float>();
        out.assign(vals.begin(), vals.end());
        return Status::ok();
    };
    WH_RETURN_IF_ERROR(read(1, p.scale));
    if (fq.numInputs() > 2 && fq.input(2)) {
        WH_RETURN_IF_ERROR(read(2, p.zeroPoint));
        if (p.zeroPoint.size() != p.scale.size())
            return error(StatusCode::kBadInput,
                         "FakeQuantize '{}': zero point and scale differ in length", fq.name);
        for (float& z : p.zeroPoint) z = std::nearbyint(z);  // integral on export
    } else {
        p.zeroPoint.assign(p.scale.size(), 0.0f);
    }
    for (float s : p.scale)
        if (!(s > 0) || !std::isfinite(s))
            return error(StatusCode::kBadInput, "FakeQuantize '{}': scale {} is not positive",
                         fq.name, s);
    return p;
}

ir::Tensor codeTensor(std::string name, std::vector<int64_t> dims, const std::vector<int32_t>& q,
                      bool isUnsigned) {
    ir::Tensor t;
    t.name = std::move(name);
    t.dims = std::move(dims);
    t.dtype = isUnsigned ? DType::kUInt8 : DType::kInt8;
    std::string bytes(q.size(), '\0');
    for (std::size_t i = 0; i < q.size(); ++i) bytes[i] = static_cast<char>(static_cast<uint8_t>(q[i]));
    t.data = std::make_shared<const ir::Buffer>(std::move(bytes));
    return t;
}

// Codes of `x` under (scale, zero point) per element, as QuantizeLinear computes them (round
// half to even) and clamped to the grid.
std::vector<int32_t> quantizeValues(std::span<const float> x, const std::vector<int64_t>& dims,
                                    int axis, const FqParams& p, int64_t qmin, int64_t qmax) {
    int64_t inner = 1, channels = 1;
    if (axis >= 0) {
        channels = dims[static_cast<std::size_t>(axis)];
        for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < dims.size(); ++d)
            inner *= dims[d];
    }
    std::vector<int32_t> q(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t c =
            axis >= 0 ? static_cast<std::size_t>((static_cast<int64_t>(i) / inner) % channels) : 0;
        const double u = std::nearbyint(static_cast<double>(x[i]) / p.scale[c]) + p.zeroPoint[c];
        q[i] = static_cast<int32_t>(std::clamp<double>(u, static_cast<double>(qmin),
                                                       static_cast<double>(qmax)));
    }
    return q;
}

// True when a layer reading the quantized weight `fq` also reads a quantized input (a
// FakeQuantize or DequantizeLinear before its input 0): a QDQ layer that int8 runtimes fuse.
bool feedsQuantizedLayer(const ir::Node& fq) {
    for (const ir::Use& use : fq.output(0)->uses()) {
        const ir::Value* x = use.node->numInputs() > 0 ? use.node->input(0) : nullptr;
        const ir::Node* p = x ? x->producer() : nullptr;
        if (p && (p->opType == "DequantizeLinear" ||
                  (p->domain == engine::kWhittleDomain && p->opType == engine::kFakeQuantizeOp)))
            return true;
    }
    return false;
}

// X is an initializer: codes + DequantizeLinear (8 bits, or fewer in a QDQ layer) or the packed
// form (below 8 bits, weight-only). Below 8 bits in a layer whose input is quantized too, the
// codes of the narrow grid go one per byte with DequantizeLinear: ONNX Runtime quantizes a float
// weight of such a layer to 8 bits itself (its weight and bias quantization pass, before the QDQ
// fusions), which would change the decompressed 4-bit values — MobileNetV2-tiny LSQ W4A4 lost
// 0.23 pt in ONNX Runtime against its own unoptimized run — while int8 codes run exactly, and
// as int8 kernels, in both runtimes.
Expected<ir::Value*> convertWeight(rewrite::Rewriter& rw, ir::Node& fq, const FakeQuantSpec& spec,
                                   const FqParams& p) {
    ir::Graph& g = rw.graph();
    const ir::Value& x = *fq.input(0);
    const ir::Tensor& w = *x.initializer();
    if (w.dtype != DType::kFloat)
        return error(StatusCode::kBadInput, "FakeQuantize '{}': weight '{}' is not float32",
                     fq.name, x.name());
    const int64_t qmin = grid(spec.bits, spec.isUnsigned, spec.narrowRange, false);
    const int64_t qmax = grid(spec.bits, spec.isUnsigned, spec.narrowRange, true);
    std::vector<int32_t> q = quantizeValues(w.values<float>(), w.dims, spec.axis, p, qmin, qmax);
    const std::string out = fq.output(0)->name();

    if (spec.bits == 8 || feedsQuantizedLayer(fq)) {
        const std::string base = x.name();
        std::string codes = freshName(g, base + "_quantized");
        WH_RETURN_IF_ERROR(rw.addInitializer(codes, codeTensor(codes, w.dims, q, spec.isUnsigned)));
        std::string scale = freshName(g, base + "_scale");
        WH_RETURN_IF_ERROR(rw.addInitializer(scale, floatTensor(scale, p.scale, spec.axis >= 0)));
        std::vector<std::string> inputs{codes, scale};
        // An absent zero point is 0 of the codes' type: zeros (symmetric weights) need no tensor.
        std::vector<int32_t> zpq(p.zeroPoint.begin(), p.zeroPoint.end());
        if (std::any_of(zpq.begin(), zpq.end(), [](int32_t z) { return z != 0; })) {
            std::string zp = freshName(g, base + "_zero_point");
            ir::Tensor zt = codeTensor(zp, spec.axis >= 0 ? std::vector<int64_t>{static_cast<int64_t>(zpq.size())}
                                                           : std::vector<int64_t>{},
                                       zpq, spec.isUnsigned);
            WH_RETURN_IF_ERROR(rw.addInitializer(zp, std::move(zt)));
            inputs.push_back(zp);
        }
        NewNode dq("DequantizeLinear", std::move(inputs), {out});
        dq.name = freshName(g, base + "_DequantizeLinear");
        if (spec.axis >= 0) dq.attributes.push_back(Attribute::makeInt("axis", spec.axis));
        WH_ASSIGN_OR_RETURN(ir::Node * node, rw.replace(fq, std::move(dq)));
        return node->output(0);
    }

    // Below 8 bits: the matrix view (rows = the per-channel axis, 0 or the last of a 2-D
    // weight) and the packed writer.
    QuantizedWeight qw;
    qw.dims = w.dims;
    qw.bits = spec.bits;
    qw.isUnsigned = spec.isUnsigned;
    qw.narrowRange = spec.narrowRange;
    const int rank = static_cast<int>(w.dims.size());
    if (rank < 1)
        return error(StatusCode::kUnsupported,
                     "FakeQuantize '{}': a scalar weight below 8 bits cannot be packed", fq.name);
    qw.transposed = rank == 2 && spec.axis == 1;
    if (spec.axis >= 0 && spec.axis != 0 && !qw.transposed)
        return error(StatusCode::kUnsupported,
                     "FakeQuantize '{}': {}-bit weight '{}' per channel on axis {} cannot be "
                     "packed (axis 0, or 1 of a 2-D weight)",
                     fq.name, spec.bits, x.name(), spec.axis);
    qw.rows = qw.transposed ? w.dims[1] : w.dims[0];
    qw.cols = w.numElements() / std::max<int64_t>(qw.rows, 1);
    qw.codes.resize(q.size());
    for (int64_t r = 0; r < qw.rows; ++r)
        for (int64_t c = 0; c < qw.cols; ++c)
            qw.codes[static_cast<std::size_t>(r * qw.cols + c)] =
                q[static_cast<std::size_t>(qw.transposed ? c * qw.rows + r : r * qw.cols + c)];
    for (int64_t r = 0; r < qw.rows; ++r) {
        const std::size_t c = spec.axis >= 0 ? static_cast<std::size_t>(r) : 0;
        qw.scales.push_back(p.scale[c]);
        qw.zeroPoints.push_back(static_cast<int32_t>(p.zeroPoint[c]));
    }
    // The writer makes the FakeQuantize read the dequantized weight; then the FakeQuantize
    // (an identity on those values) goes.
    ir::Value* weight = fq.input(0);
    WH_ASSIGN_OR_RETURN(ir::Value * deq, writeQuantizedWeight(rw, *weight, qw));
    WH_RETURN_IF_ERROR(rw.bypass(fq));
    return deq;
}

// X is an activation: [Clip →] QuantizeLinear → DequantizeLinear.
Status convertActivation(rewrite::Rewriter& rw, ir::Node& fq, const FakeQuantSpec& spec,
                         const FqParams& p) {
    ir::Graph& g = rw.graph();
    const std::string x = fq.input(0)->name();
    const std::string out = fq.output(0)->name();
    const bool perChannel = spec.axis >= 0;
    std::vector<NewNode> nodes;
    std::string qIn = x;
    const int64_t qmin = grid(spec.bits, spec.isUnsigned, spec.narrowRange, false);
    const int64_t qmax = grid(spec.bits, spec.isUnsigned, spec.narrowRange, true);
    const bool fullGrid = spec.bits == 8 && !spec.narrowRange;
    if (!fullGrid) {
        if (perChannel)
            return makeStatus(StatusCode::kUnsupported,
                              "FakeQuantize '{}': per-channel activations below 8 bits cannot be "
                              "exported",
                              fq.name);
        const float lo = static_cast<float>((static_cast<double>(qmin) - p.zeroPoint[0]) * p.scale[0]);
        const float hi = static_cast<float>((static_cast<double>(qmax) - p.zeroPoint[0]) * p.scale[0]);
        std::string loName = freshName(g, x + "_clip_min"), hiName = freshName(g, x + "_clip_max");
        WH_RETURN_STATUS_IF_ERROR(rw.addInitializer(loName, ir::Tensor::fromFloats(loName, {}, {lo})));
        WH_RETURN_STATUS_IF_ERROR(rw.addInitializer(hiName, ir::Tensor::fromFloats(hiName, {}, {hi})));
        std::string clipped = freshName(g, x + "_clipped");
        NewNode clip("Clip", {x, loName, hiName}, {clipped});
        clip.name = freshName(g, x + "_Clip");
        nodes.push_back(std::move(clip));
        qIn = clipped;
    }
    std::string scale = freshName(g, x + "_scale");
    WH_RETURN_STATUS_IF_ERROR(rw.addInitializer(scale, floatTensor(scale, p.scale, perChannel)));
    std::string zp = freshName(g, x + "_zero_point");
    std::vector<int32_t> zpq(p.zeroPoint.begin(), p.zeroPoint.end());
    WH_RETURN_STATUS_IF_ERROR(rw.addInitializer(
        zp, codeTensor(zp, perChannel ? std::vector<int64_t>{static_cast<int64_t>(zpq.size())}
                                      : std::vector<int64_t>{},
                       zpq, spec.isUnsigned)));
    std::string quantized = freshName(g, x + "_quantized");
    NewNode q("QuantizeLinear", {qIn, scale, zp}, {quantized});
    q.name = freshName(g, x + "_QuantizeLinear");
    NewNode dq("DequantizeLinear", {quantized, scale, zp}, {out});
    dq.name = freshName(g, x + "_DequantizeLinear");
    if (perChannel) {
        q.attributes.push_back(Attribute::makeInt("axis", spec.axis));
        dq.attributes.push_back(Attribute::makeInt("axis", spec.axis));
    }
    nodes.push_back(std::move(q));
    nodes.push_back(std::move(dq));
    ir::Node* old[] = {&fq};
    WH_RETURN_STATUS_IF_ERROR(rw.replace(old, std::move(nodes)));
    return Status::ok();
}

// The float scale initializer of a DequantizeLinear producing `v`, or null.
const ir::Tensor* dequantScale(const ir::Value* v) {
    if (!v || !v->producer() || v->producer()->opType != "DequantizeLinear") return nullptr;
    const ir::Value* s = v->producer()->input(1);
    if (!s || !s->hasInitializer() || s->initializer()->dtype != DType::kFloat) return nullptr;
    return s->initializer();
}

// Bias of Conv / Gemm reading dequantized input and weight → int32 codes + DequantizeLinear.
Expected<bool> quantizeBias(rewrite::Rewriter& rw, ir::Node& node) {
    const bool conv = node.opType == "Conv";
    if (!conv && node.opType != "Gemm") return false;
    if (node.numInputs() < 3 || !node.input(2) || !node.input(2)->hasInitializer()) return false;
    ir::Value& bias = *node.input(2);
    if (bias.uses().size() != 1 || bias.initializer()->dtype != DType::kFloat) return false;
    const ir::Tensor* sx = dequantScale(node.input(0));
    const ir::Tensor* sw = dequantScale(node.input(1));
    if (!sx || !sw || sx->numElements() != 1) return false;
    if (!conv && (node.attrInt("transA", 0) != 0 || node.attrFloat("alpha", 1.0f) != 1.0f ||
                  node.attrFloat("beta", 1.0f) != 1.0f))
        return false;
    const ir::Tensor& b = *bias.initializer();
    const int64_t n = b.numElements();
    if (b.dims.size() != 1 || (sw->numElements() != 1 && sw->numElements() != n)) return false;
    const float sxv = sx->values<float>()[0];
    std::vector<int32_t> codes(static_cast<std::size_t>(n));
    auto bv = b.values<float>();
    for (int64_t i = 0; i < n; ++i) {
        const float s = sxv * sw->values<float>()[sw->numElements() == 1 ? 0 : i];
        const double q = std::nearbyint(static_cast<double>(bv[static_cast<std::size_t>(i)]) / s);
        if (!(s > 0) || std::fabs(q) > 2147483647.0) return false;  // keep float then
        codes[static_cast<std::size_t>(i)] = static_cast<int32_t>(q);
    }
    ir::Graph& g = rw.graph();
    const std::string base = bias.name();
    std::string codeName = freshName(g, base + "_quantized");
    ir::Tensor ct;
    ct.name = codeName;
    ct.dtype = DType::kInt32;
    ct.dims = {n};
    ct.data = std::make_shared<const ir::Buffer>(codes.data(), codes.size() * sizeof(int32_t));
    WH_RETURN_IF_ERROR(rw.addInitializer(codeName, std::move(ct)));
    // The scale s_x·s_w is not stored a third time: a Mul of the two computes it, in float32
    // as `s` above, and constant folding (ONNX Runtime's, our lowering's) makes it an
    // initializer again before the QDQ fusions read it. It saves 4 bytes per output channel,
    // which is most of what MobileNetV2's 9-weight depthwise channels cost on top of their
    // codes.
    std::string scaleName = freshName(g, base + "_scale");
    NewNode mul("Mul", {node.input(0)->producer()->input(1)->name(),
                        node.input(1)->producer()->input(1)->name()},
                {scaleName});
    mul.name = scaleName;
    WH_RETURN_IF_ERROR(rw.insertBefore(node, std::move(mul)));
    std::string out = freshName(g, base + "_dequantized");
    NewNode dq("DequantizeLinear", {codeName, scaleName}, {out});
    dq.name = freshName(g, base + "_DequantizeLinear");
    dq.attributes.push_back(Attribute::makeInt("axis", 0));
    WH_ASSIGN_OR_RETURN(ir::Node * d, rw.insertBefore(node, std::move(dq)));
    WH_RETURN_IF_ERROR(rw.setInput(node, 2, d->output(0)));
    if (!bias.hasUses() && !bias.isGraphInput() && !bias.isGraphOutput())
        WH_RETURN_IF_ERROR(rw.removeInitializer(bias));
    return true;
}

// A scalar float constant (initializer or Constant node), or `fallback` when `v` is absent.
std::optional<float> scalarFloat(const ir::Value* v, float fallback) {
    if (!v) return fallback;
    const ir::Tensor* t = ir::constantTensor(v);
    if (!t || t->dtype != DType::kFloat || t->numElements() != 1 || !t->data ||
        t->data->size() != sizeof(float))
        return std::nullopt;
    return t->values<float>()[0];
}

// A Relu or Clip whose only reader is a per-tensor QuantizeLinear that saturates at least as
// tightly goes: when Q(lo) is already the grid's lowest code and Q(hi) its highest,
// Q(clip(x, lo, hi)) == Q(x) for every x, so the activation does nothing the QuantizeLinear
// does not (ONNX Runtime's quantizer drops it too). Post-ReLU6 activations calibrate to
// [0, ≤ 6] with zero point 0, so MobileNetV2's Clips all go.
Expected<bool> dropRedundantActivation(rewrite::Rewriter& rw, ir::Node& q) {
    if (!ir::isOnnxOp(q, "QuantizeLinear") || q.numInputs() < 2) return false;
    ir::Value* x = q.input(0);
    ir::Node* act = x ? x->producer() : nullptr;
    if (!act || (!ir::isOnnxOp(*act, "Relu") && !ir::isOnnxOp(*act, "Clip"))) return false;
    if (x->uses().size() != 1 || x->isGraphOutput() || act->numOutputs() != 1) return false;
    const std::optional<float> scale = scalarFloat(q.input(1), 0.0f);
    if (!scale || !(*scale > 0.0f) || !std::isfinite(*scale)) return false;
    const ir::Value* zpValue = q.numInputs() > 2 ? q.input(2) : nullptr;
    int64_t qmin = 0, qmax = 255, zp = 0;
    if (zpValue) {
        const ir::Tensor* t = ir::constantTensor(zpValue);
        if (!t || t->numElements() != 1 || !t->data || t->data->size() != 1) return false;
        if (t->dtype == DType::kInt8) {
            qmin = -128;
            qmax = 127;
            zp = static_cast<int8_t>(t->data->bytes()[0]);
        } else if (t->dtype == DType::kUInt8) {
            zp = static_cast<uint8_t>(t->data->bytes()[0]);
        } else {
            return false;
        }
    }
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
    if (act->opType == "Relu") {
        lo = 0.0f;
    } else if (act->numInputs() > 1 || act->attribute("min") || act->attribute("max")) {
        if (act->attribute("min") || act->attribute("max")) {  // opset < 11
            lo = act->attrFloat("min", lo);
            hi = act->attrFloat("max", hi);
        } else {
            const std::optional<float> l = scalarFloat(act->numInputs() > 1 ? act->input(1) : nullptr, lo);
            const std::optional<float> h = scalarFloat(act->numInputs() > 2 ? act->input(2) : nullptr, hi);
            if (!l || !h) return false;
            lo = *l;
            hi = *h;
        }
    }
    if (std::isnan(lo) || std::isnan(hi)) return false;
    // QuantizeLinear's own arithmetic: saturate(round_half_even(v / scale) + zero_point).
    auto code = [&](float v) {
        const double r = std::nearbyint(static_cast<double>(v / *scale)) + static_cast<double>(zp);
        return std::clamp(r, static_cast<double>(qmin), static_cast<double>(qmax));
    };
    const bool lowFree = (std::isinf(lo) && lo < 0) || code(lo) == static_cast<double>(qmin);
    const bool highFree = (std::isinf(hi) && hi > 0) || code(hi) == static_cast<double>(qmax);
    if (!lowFree || !highFree) return false;
    std::vector<ir::Value*> bounds;
    for (int i = 1; i < act->numInputs(); ++i)
        if (act->input(i)) bounds.push_back(act->input(i));
    WH_RETURN_IF_ERROR(rw.bypass(*act));
    for (ir::Value* v : bounds)
        if (!v->hasUses() && v->hasInitializer() && !v->isGraphInput() && !v->isGraphOutput() &&
            !rw.subgraphReader(v->name()))
            WH_RETURN_IF_ERROR(rw.removeInitializer(*v));
    return true;
}

}  // namespace

FakeQuantSpec weightSpec(int bits, int axis, bool narrowRange) {
    FakeQuantSpec s;
    s.bits = bits;
    s.symmetric = true;
    s.isUnsigned = false;
    s.narrowRange = narrowRange;
    s.axis = axis;
    return s;
}

FakeQuantSpec activationSpec(int bits, bool symmetric) {
    FakeQuantSpec s;
    s.bits = bits;
    s.symmetric = symmetric;
    s.isUnsigned = !symmetric;
    return s;
}

Expected<ir::Node*> insertFakeQuantize(rewrite::Rewriter& rw, ir::Value& value,
                                       const FakeQuantSpec& spec, std::span<const float> scale,
                                       std::span<const float> zeroPoint) {
    Expected<std::vector<std::string>> made = std::vector<std::string>{};
    NewNode n = fakeQuantizeNode(rw, value, spec, scale, zeroPoint, made);
    if (!made) return tl::unexpected(made.error());
    return rw.insertOnEdge(value, nullptr, std::move(n));
}

Expected<ir::Node*> insertFakeQuantizeFor(rewrite::Rewriter& rw, ir::Value& value,
                                          ir::Node& consumer, const FakeQuantSpec& spec,
                                          std::span<const float> scale,
                                          std::span<const float> zeroPoint) {
    Expected<std::vector<std::string>> made = std::vector<std::string>{};
    NewNode n = fakeQuantizeNode(rw, value, spec, scale, zeroPoint, made);
    if (!made) return tl::unexpected(made.error());
    return rw.insertOnEdge(value, &consumer, std::move(n));
}

bool isFakeQuantize(const ir::Node& node) {
    return node.domain == engine::kWhittleDomain && node.opType == engine::kFakeQuantizeOp;
}

FakeQuantSpec specOf(const ir::Node& fq) {
    FakeQuantSpec s;
    s.bits = static_cast<int>(fq.attrInt("num_bits", 8));
    s.isUnsigned = fq.attrInt("unsigned", 0) != 0;
    s.narrowRange = fq.attrInt("narrow_range", 0) != 0;
    s.symmetric = fq.attrInt("symmetric", 0) != 0;
    s.learned = fq.attrInt("learned", 0) != 0;
    s.observe = static_cast<int>(fq.attrInt("observe", 0));
    s.emaDecay = fq.attrFloat("ema_decay", 0.0f);
    const ir::Value* scale = fq.numInputs() > 1 ? fq.input(1) : nullptr;
    const bool perChannel = scale && scale->hasInitializer() &&
                            scale->initializer()->dims.size() == 1 &&
                            scale->initializer()->numElements() > 1;
    s.axis = -1;
    if (perChannel) {
        int64_t axis = fq.attrInt("axis", 1);
        const ir::Value* x = fq.input(0);
        int64_t rank = -1;
        if (x && x->hasInitializer()) rank = static_cast<int64_t>(x->initializer()->dims.size());
        else if (x && x->type.shape) rank = x->type.shape->rank();
        if (axis < 0 && rank > 0) axis += rank;
        s.axis = static_cast<int>(axis);
    }
    return s;
}

ir::Node* fakeQuantizeOf(const ir::Value& value) {
    for (const ir::Use& u : value.uses())
        if (isFakeQuantize(*u.node) && u.input == 0) return u.node;
    return nullptr;
}

Expected<int> fakeQuantizeToQdq(rewrite::Rewriter& rw, const QdqOptions& options) {
    std::vector<ir::Node*> fqs;
    for (ir::Node* n : rw.graph().nodes())
        if (isFakeQuantize(*n)) fqs.push_back(n);
    for (ir::Node* fq : fqs) {
        const FakeQuantSpec spec = specOf(*fq);
        WH_ASSIGN_OR_RETURN(FqParams p, paramsOf(*fq));
        if (spec.bits < 2 || spec.bits > 8)
            return error(StatusCode::kUnsupported, "FakeQuantize '{}': {} bits cannot be exported",
                         fq->name, spec.bits);
        ir::Value* x = fq->input(0);
        // By name: the conversion may erase them (the packed writer removes the float weight),
        // and a pointer kept across it would dangle (found by AddressSanitizer).
        std::vector<std::string> inputs{x->name()};
        for (int i = 1; i < fq->numInputs(); ++i)
            if (fq->input(i)) inputs.push_back(fq->input(i)->name());
        if (x->hasInitializer() && !x->isGraphInput()) {
            WH_RETURN_IF_ERROR(convertWeight(rw, *fq, spec, p));
        } else {
            WH_RETURN_IF_ERROR(convertActivation(rw, *fq, spec, p));
        }
        // The weight and the fake quantizer's own initializers (scale, zero point, range) are
        // unused now, unless the conversion removed them already.
        for (const std::string& name : inputs) {
            ir::Value* v = rw.graph().findValue(name);
            if (v && !v->hasUses() && v->hasInitializer() && !v->isGraphInput() &&
                !v->isGraphOutput())
                WH_RETURN_IF_ERROR(rw.removeInitializer(*v));
        }
    }
    if (options.int32Bias) {
        std::vector<ir::Node*> nodes = rw.graph().nodeList();
        for (ir::Node* n : nodes) WH_RETURN_IF_ERROR(quantizeBias(rw, *n));
    }
    if (options.dropRedundantActivations) {
        std::vector<ir::Node*> nodes = rw.graph().nodeList();
        for (ir::Node* n : nodes) WH_RETURN_IF_ERROR(dropRedundantActivation(rw, *n));
    }
    return static_cast<int>(fqs.size());
}

namespace {

bool usesWhittleDomain(const ir::Graph& g) {
    for (const ir::Node* n : g.nodes()) {
        if (n->domain == engine::kWhittleDomain) return true;
        for (const ir::Graph* sub : n->subgraphs())
            if (usesWhittleDomain(*sub)) return true;
    }
    return false;
}

}  // namespace

Status updateOpsetImports(ir::Model& model, bool needsOpset13) {
    const bool hasWhittle = usesWhittleDomain(*model.graph);
    auto find = [&](std::string_view domain) -> ir::OpsetId* {
        for (ir::OpsetId& o : model.opsetImports)
            if (o.domain == domain || (domain.empty() && o.domain == "ai.onnx")) return &o;
        return nullptr;
    };
    if (hasWhittle && !find(engine::kWhittleDomain)) {
        ir::OpsetId o;
        o.domain = std::string(engine::kWhittleDomain);
        o.version = 1;
        model.opsetImports.push_back(o);
    }
    if (!hasWhittle) {
        auto it = std::remove_if(model.opsetImports.begin(), model.opsetImports.end(),
                                 [](const ir::OpsetId& o) { return o.domain == engine::kWhittleDomain; });
        model.opsetImports.erase(it, model.opsetImports.end());
    }
    if (!needsOpset13) return Status::ok();
    return ensureOpset(model, 13);
}

}  // namespace wh::algo::quant
