// foldConstants (fold_constants.h): compute the constant part of a graph once.

#include "core/engine/fold_constants.h"

#include <algorithm>
#include <exception>
#include <unordered_map>

#include <fmt/format.h>

#include "core/engine/node_compiler.h"
#include "core/engine/plan.h"
#include "core/rewrite/edits.h"

namespace wh::engine {

namespace {

constexpr std::size_t kMaxGrowth = std::size_t{1} << 20;  // bytes a fold may add to the model

std::string quoted(const ir::Node& n) { return fmt::format("{} '{}'", n.opType, n.displayName()); }

std::string sizeText(std::size_t bytes) {
    if (bytes >= (std::size_t{1} << 20)) return fmt::format("{:.1f} MiB", bytes / 1048576.0);
    return fmt::format("{:.1f} KiB", bytes / 1024.0);
}

// The dims of a value whose shape is fully known, else nothing.
std::optional<std::vector<int64_t>> knownDims(const ir::Value* v) {
    if (!v || !v->type.isTensor() || !v->type.shape) return std::nullopt;
    std::vector<int64_t> dims;
    for (const ir::Dim& d : v->type.shape->dims) {
        if (!d.isKnown()) return std::nullopt;
        dims.push_back(d.value);
    }
    return dims;
}

int64_t intAttribute(const ir::Node& n, std::string_view name, int64_t otherwise) {
    const ir::Attribute* a = n.attribute(name);
    return a && a->type == ir::AttrType::kInt ? a->i : otherwise;
}

// Shape (with start/end, opset 15) or Size of a value of known shape.
ir::Tensor shapeOf(const ir::Node& n, const std::vector<int64_t>& dims) {
    if (n.opType == "Size") {
        int64_t count = 1;
        for (int64_t d : dims) count *= d;
        return HostTensor::fromInt64s({}, {count}).toIr("");
    }
    const auto rank = static_cast<int64_t>(dims.size());
    auto clampIndex = [rank](int64_t i) { return std::clamp(i < 0 ? i + rank : i, int64_t{0}, rank); };
    const int64_t start = clampIndex(intAttribute(n, "start", 0));
    const int64_t end = clampIndex(intAttribute(n, "end", rank));
    std::vector<int64_t> part;
    for (int64_t i = start; i < end; ++i) part.push_back(dims[static_cast<std::size_t>(i)]);
    return HostTensor::fromInt64s({static_cast<int64_t>(part.size())}, part).toIr("");
}

// Why `n` is not folded whatever its inputs are, or "".
std::string neverFolded(const ir::Node& n) {
    if (!ir::isDefaultDomain(n.domain)) return "it is not an ONNX operator";
    if (isNondeterministic(n, false)) return "it is random";
    if (!n.subgraphs().empty()) return "it has subgraphs";
    if (n.opType == "DequantizeLinear") return "it keeps quantized weights quantized";
    for (const ir::Value* out : n.outputs())
        if (out && out->isGraphOutput()) return "its output is a model output";
    return {};
}

}  // namespace

Expected<std::vector<ir::Tensor>> evaluateNode(const ir::Node& n, int64_t opset,
                                               const std::vector<const ir::Tensor*>& inputs) {
    ir::Model model;
    model.opsetImports.push_back({"", opset, {}});
    ir::Graph& g = *model.graph;
    std::vector<ir::Value*> ins, outs;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (!inputs[i]) {
            ins.push_back(nullptr);
            continue;
        }
        const std::string name = fmt::format("in{}", i);
        WH_ASSIGN_OR_RETURN(ir::Value * v, g.addValue(name));
        ir::Tensor t = *inputs[i];
        t.name = name;
        g.setInitializer(v, std::move(t));
        ins.push_back(v);
    }
    for (int i = 0; i < n.numOutputs(); ++i) {
        if (!n.output(i)) {
            outs.push_back(nullptr);
            continue;
        }
        WH_ASSIGN_OR_RETURN(ir::Value * v, g.addValue(fmt::format("out{}", i)));
        outs.push_back(v);
    }
    ir::Node* copy = g.addNode(n.opType, ins, outs);
    for (const ir::Attribute& a : n.attributes()) copy->attributes().push_back(a.clone());
    for (ir::Value* v : outs)
        if (v) g.insertGraphOutput(v);
    PlanOptions options;
    options.fuse = false;
    options.backends = {Backend::kReference, Backend::kDnnl};
    try {
        WH_ASSIGN_OR_RETURN(Plan plan, Plan::compile(model, options));
        WH_ASSIGN_OR_RETURN(std::vector<HostTensor> results, plan.run({}));
        std::vector<ir::Tensor> tensors;
        for (const HostTensor& r : results) tensors.push_back(r.toIr(""));
        return tensors;
    } catch (const std::exception& e) {
        return tl::unexpected(makeStatus(StatusCode::kUnsupported, "{}", e.what()));
    }
}

Expected<FoldConstantsResult> foldConstants(rewrite::Rewriter& rewriter, int64_t opset) {
    ir::Graph& g = rewriter.graph();
    FoldConstantsResult result;
    // The value each folded output holds, and the folded nodes in graph order.
    std::unordered_map<const ir::Value*, ir::Tensor> computed;
    std::vector<ir::Node*> folded;
    std::vector<std::string> constantsRead;

    auto constantOf = [&](const ir::Value* v) -> const ir::Tensor* {
        if (auto it = computed.find(v); it != computed.end()) return &it->second;
        if (v->isGraphInput()) return nullptr;  // an initializer the caller may override
        return ir::constantTensor(v);
    };

    for (ir::Node* n : g.nodes()) {
        if (n->opType == "Constant" && ir::isDefaultDomain(n->domain)) continue;
        // Shape and Size need only their input's shape.
        const bool ofShape = ir::isDefaultDomain(n->domain) &&
                             (n->opType == "Shape" || n->opType == "Size") && n->numInputs() == 1 &&
                             n->input(0) && n->numOutputs() == 1 && n->output(0);
        std::optional<std::vector<int64_t>> dims;
        if (ofShape) dims = knownDims(n->input(0));

        std::vector<const ir::Tensor*> inputs;
        bool allConstant = true;
        std::size_t inBytes = 0;
        for (const ir::Value* v : n->inputs()) {
            const ir::Tensor* t = v ? constantOf(v) : nullptr;
            if (v && !t) allConstant = false;
            if (t) inBytes += t->byteSize();
            inputs.push_back(t);
        }
        if (!allConstant && !dims) continue;
        if (n->numInputs() == 0) continue;  // a generator with attributes only: already constant
        if (std::string why = neverFolded(*n); !why.empty()) {
            result.left.push_back(fmt::format("{}: {}", quoted(*n), why));
            continue;
        }

        std::vector<ir::Tensor> outs;
        if (dims) {
            outs.push_back(shapeOf(*n, *dims));
        } else {
            auto evaluated = evaluateNode(*n, opset, inputs);
            if (!evaluated) {
                result.left.push_back(fmt::format("{}: the engine cannot compute it ({})",
                                                  quoted(*n), evaluated.error().message()));
                continue;
            }
            outs = std::move(*evaluated);
        }
        std::size_t outBytes = 0;
        for (const ir::Tensor& t : outs) outBytes += t.byteSize();
        if (outBytes > inBytes + kMaxGrowth) {
            result.left.push_back(fmt::format(
                "{}: its output ({}) would grow the model by more than {}", quoted(*n),
                sizeText(outBytes), sizeText(kMaxGrowth)));
            continue;
        }
        std::size_t k = 0;
        for (const ir::Value* out : n->outputs()) {
            if (!out) continue;
            if (k >= outs.size()) break;
            ir::Tensor t = std::move(outs[k++]);
            t.name = out->name();
            computed.emplace(out, std::move(t));
        }
        for (const ir::Value* v : n->inputs())
            if (v && !computed.count(v) && ir::constantTensor(v)) constantsRead.push_back(v->name());
        folded.push_back(n);
    }
    if (folded.empty()) return result;

    // An Identity of a constant: its readers read the constant itself (no second copy of it).
    for (ir::Node* n : folded)
        if (n->opType == "Identity" && n->input(0) && n->output(0) &&
            !rewriter.subgraphReader(n->output(0)->name()))
            WH_RETURN_IF_ERROR(rewriter.replaceAllUsesWith(*n->output(0), *n->input(0)));
    // Consumers before producers; the outputs stay until each is made an initializer or erased.
    std::vector<ir::Value*> outputs;
    for (auto it = folded.rbegin(); it != folded.rend(); ++it) {
        for (ir::Value* out : (*it)->outputs())
            if (out) outputs.push_back(out);
        WH_RETURN_IF_ERROR(rewriter.eraseNode(**it, rewrite::EraseOutputs::kKeep));
    }
    std::reverse(outputs.begin(), outputs.end());  // initializers in graph order
    for (ir::Value* out : outputs) {
        auto it = computed.find(out);
        if (out->hasUses() || rewriter.subgraphReader(out->name())) {
            if (it == computed.end())
                return tl::unexpected(makeStatus(StatusCode::kInternal,
                                                 "fold_constants: no value for '{}'", out->name()));
            WH_RETURN_IF_ERROR(rewriter.setInitializer(*out, std::move(it->second)));
            ++result.initializers;
        } else {
            WH_RETURN_IF_ERROR(rewriter.eraseUnusedValue(*out));
        }
    }
    // The weights and Constant nodes only the folded nodes read.
    WH_RETURN_IF_ERROR(rewrite::dropDeadConstants(rewriter, constantsRead));
    result.folded = static_cast<int>(folded.size());
    return result;
}

}  // namespace wh::engine
