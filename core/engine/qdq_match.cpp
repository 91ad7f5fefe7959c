// Shared helpers of the QDQ lowering patterns (qdq_match.h).

#include "core/engine/qdq_match.h"

#include <algorithm>
#include <cmath>
#include <span>

#include <fmt/format.h>

#include "core/engine/host_tensor.h"

namespace wh::engine::qdq {

using ir::DType;

const ir::Tensor* fixed(const ir::Value* v) {
    if (!v || v->isGraphInput()) return nullptr;
    const ir::Tensor* t = ir::constantTensor(v);
    return t && t->byteSize() == static_cast<std::size_t>(t->numElements()) * ir::dtypeSize(t->dtype)
               ? t
               : nullptr;
}

bool isScalar(const ir::Tensor& t) {
    return t.numElements() == 1 && t.dims.size() <= 1;
}

const ir::Node* soleReader(const ir::Value* v) {
    if (!v || v->isGraphOutput() || v->uses().size() != 1) return nullptr;
    const ir::Use& u = v->uses().front();
    return u.input == 0 ? u.node : nullptr;
}

const ir::Node* producedBy(const ir::Value* v, std::string_view opType) {
    const ir::Node* p = v ? v->producer() : nullptr;
    return p && ir::isOnnxOp(*p, opType) && p->attrInt("block_size", 0) == 0 ? p : nullptr;
}

bool allZero(const ir::Tensor& t) {
    const auto bytes = std::span(reinterpret_cast<const unsigned char*>(t.data->data()),
                                 t.byteSize());
    return std::all_of(bytes.begin(), bytes.end(), [](unsigned char b) { return b == 0; });
}

std::string perChannelProblem(const ir::Node& dq, const char* what, int rank, int64_t channels,
                              int channelAxis) {
    const ir::Tensor* s = fixed(dq.input(1));
    if (!s || s->dtype != DType::kFloat) return fmt::format("{} scale is not a constant float", what);
    const auto sv = s->values<float>();
    if (!std::all_of(sv.begin(), sv.end(), [](float v) { return v > 0.0f && std::isfinite(v); }))
        return fmt::format("{} scale is not positive", what);
    if (!isScalar(*s)) {
        int64_t axis = dq.attrInt("axis", 1);
        if (axis < 0) axis += rank;
        if (s->dims.size() != 1 || s->numElements() != channels || axis != channelAxis)
            return fmt::format("{} scale {} is neither per tensor nor per output channel", what,
                               dimsToString(s->dims));
    }
    if (const ir::Value* zv = dq.input(2)) {
        const ir::Tensor* z = fixed(zv);
        if (!z || !allZero(*z)) return fmt::format("{} zero point is not all 0", what);
    }
    return {};
}

std::string quantizedOperandsProblem(const ir::Node& op, const char* what, std::size_t weightRank,
                                     const ir::Node*& dqx, const ir::Node*& dqw,
                                     const ir::Tensor*& w) {
    if (op.numInputs() < 2 || op.numOutputs() != 1 || !op.output(0))
        return fmt::format("{} without weights or output", what);
    dqx = producedBy(op.input(0), "DequantizeLinear");
    if (!dqx) return fmt::format("{} input is not a DequantizeLinear output", what);
    if (std::string why = perTensorProblem(*dqx, "input"); !why.empty()) return why;
    dqw = producedBy(op.input(1), "DequantizeLinear");
    if (!dqw) return fmt::format("{} weights are not a DequantizeLinear output", what);
    const ir::Value* wq = dqw->input(0);
    if (!wq || !wq->hasInitializer() || wq->isGraphInput())
        return "quantized weights are not an initializer";
    w = fixed(wq);
    if (!w || w->dtype != DType::kInt8 || w->dims.size() != weightRank)
        return fmt::format("quantized weights are not a rank-{} int8 tensor", weightRank);
    return {};
}

std::string biasProblem(const ir::Value* bias, int64_t channels, const ir::Node*& dqb) {
    dqb = nullptr;
    if (!bias) return {};
    if ((dqb = producedBy(bias, "DequantizeLinear"))) {
        const ir::Tensor* bq = fixed(dqb->input(0));
        if (!bq || bq->dtype != DType::kInt32 || bq->dims != std::vector<int64_t>{channels})
            return "quantized bias is not a constant int32 [channels]";
        return perChannelProblem(*dqb, "bias", 1, channels);
    }
    const ir::Tensor* bf = fixed(bias);
    if (!bf || bf->dtype != DType::kFloat || bf->dims != std::vector<int64_t>{channels})
        return "bias is neither quantized nor a float constant [channels]";
    return {};
}

Expected<std::string> addDequantizedBias(rewrite::Rewriter& rewriter, const ir::Node& dqb,
                                         const std::string& base) {
    const auto q = fixed(dqb.input(0))->values<int32_t>();
    const auto s = fixed(dqb.input(1))->values<float>();
    std::vector<float> bias(q.size());
    for (std::size_t m = 0; m < q.size(); ++m)
        bias[m] = static_cast<float>(q[m]) * s[s.size() == 1 ? 0 : m];
    std::string name = rewriter.graph().uniqueName(base);
    ir::Tensor t = ir::Tensor::fromFloats({}, {static_cast<int64_t>(bias.size())}, bias);
    if (auto v = rewriter.addInitializer(name, std::move(t)); !v) return tl::unexpected(v.error());
    return name;
}

std::string perTensorProblem(const ir::Node& n, const char* what) {
    const ir::Tensor* s = fixed(n.input(1));
    if (!s || s->dtype != DType::kFloat || !isScalar(*s))
        return fmt::format("{} scale is not a constant float scalar", what);
    if (!(s->values<float>()[0] > 0.0f) || !std::isfinite(s->values<float>()[0]))
        return fmt::format("{} scale is not positive", what);
    const ir::Tensor* z = fixed(n.input(2));
    if (!z || !isScalar(*z) || (z->dtype != DType::kUInt8 && z->dtype != DType::kInt8))
        return fmt::format("{} zero point is not a constant uint8/int8 scalar", what);
    return {};
}

std::string readQuantizedTail(const ir::Node& op, const char* what, Activation& act,
                              const ir::Node*& q) {
    const ir::Node* next = soleReader(op.output(0));
    if (!next) return fmt::format("{} output is read by more than one node", what);
    if (std::string why = readActivation(*next, act); !why.empty()) return why;
    if (act.node) {
        if (act.node->numOutputs() != 1) return "activation has extra outputs";
        next = soleReader(act.node->output(0));
        if (!next) return "activation output is read by more than one node";
    }
    if (!ir::isOnnxOp(*next, "QuantizeLinear") || next->attrInt("block_size", 0) != 0)
        return fmt::format("{} output goes to {} '{}', not to a QuantizeLinear", what,
                           next->opType, next->displayName());
    q = next;
    if (!q->output(0)) return "QuantizeLinear output is absent";
    return perTensorProblem(*q, "output");
}

std::string readActivation(const ir::Node& next, Activation& act) {
    if (ir::isOnnxOp(next, "Relu")) {
        act.node = &next;
        return {};
    }
    if (!ir::isOnnxOp(next, "Clip")) return {};
    act.node = &next;
    if (next.attribute("min") || next.attribute("max")) {  // opset 6
        act.min = next.attrFloat("min", act.min);
        act.max = next.attrFloat("max", act.max);
    }
    for (int i = 1; i <= 2; ++i) {
        const ir::Value* bound = next.input(i);
        if (!bound) continue;
        const ir::Tensor* t = fixed(bound);
        if (!t || t->dtype != DType::kFloat || !isScalar(*t))
            return "Clip bounds are not constant float scalars";
        (i == 1 ? act.min : act.max) = t->values<float>()[0];
    }
    return {};
}

void addActivationAttributes(const Activation& act, std::vector<ir::Attribute>& attributes) {
    if (!act.node) return;
    attributes.push_back(ir::Attribute::makeString("activation", act.node->opType));
    if (ir::isOnnxOp(*act.node, "Clip")) {
        attributes.push_back(ir::Attribute::makeFloat("activation_min", act.min));
        attributes.push_back(ir::Attribute::makeFloat("activation_max", act.max));
    }
}

Status replaceGroup(rewrite::Rewriter& rewriter, std::vector<ir::Node*> old,
                    rewrite::NewNode spec, std::vector<const ir::Node*> dequantizers,
                    std::vector<ir::Value*> maybeDead) {
    // By name: erasing a node may erase its output values.
    std::vector<std::string> candidates;
    for (const ir::Value* v : maybeDead) candidates.push_back(v->name());
    for (const ir::Node* n : old)
        for (int i = 1; i < n->numInputs(); ++i)
            if (const ir::Value* in = n->input(i)) candidates.push_back(in->name());
    std::sort(dequantizers.begin(), dequantizers.end());
    dequantizers.erase(std::unique(dequantizers.begin(), dequantizers.end()), dequantizers.end());
    dequantizers.erase(std::remove(dequantizers.begin(), dequantizers.end(), nullptr),
                       dequantizers.end());
    std::vector<rewrite::NewNode> specs;
    specs.push_back(std::move(spec));
    if (auto r = rewriter.replace(old, std::move(specs)); !r) return r.error();
    // A DequantizeLinear something else still reads (a residual Add reading a Conv's input)
    // stays for it.
    for (const ir::Node* dq : dequantizers) {
        const ir::Value* out = dq->output(0);
        if (out->hasUses() || out->isGraphOutput()) continue;
        for (const ir::Value* in : dq->inputs())
            if (in) candidates.push_back(in->name());
        if (Status s = rewriter.eraseNode(*const_cast<ir::Node*>(dq)); !s.isOk()) return s;
    }
    // Initializers nothing reads any more (an int32 bias and its scale, Clip bounds, scales).
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    for (const std::string& name : candidates) {
        ir::Value* v = rewriter.graph().findValue(name);
        if (v && v->hasInitializer() && !v->hasUses() && !v->isGraphInput() &&
            !v->isGraphOutput() && !rewriter.subgraphReader(name))
            if (Status s = rewriter.removeInitializer(*v); !s.isOk()) return s;
    }
    return Status::ok();
}

}  // namespace wh::engine::qdq
