#include "core/rewrite/extract.h"

#include <algorithm>
#include <unordered_set>

#include <fmt/format.h>

namespace wh::rewrite {

namespace {

std::string quoted(const ir::Node& node) {
    return fmt::format("'{}' ({})", node.displayName(), node.opType);
}

// Names that subgraphs of `node` (at any depth) read from enclosing scopes.
void capturedNames(const ir::Node& node, std::unordered_set<std::string>& out) {
    for (const ir::Graph* sub : node.subgraphs()) {
        if (!sub) continue;
        for (const ir::Value* v : sub->valueList())
            if (v->isCapture()) out.insert(v->name());
        for (const ir::Node* n : sub->nodes()) capturedNames(*n, out);
    }
}

Status checkNames(const ir::Graph& g, const std::vector<std::string>& names, const char* what) {
    std::unordered_set<std::string> seen;
    for (const std::string& name : names) {
        if (!g.findValue(name))
            return makeStatus(StatusCode::kUsage, "extract: the model has no tensor '{}' ({})",
                              name, what);
        if (!seen.insert(name).second)
            return makeStatus(StatusCode::kUsage, "extract: '{}' is listed twice among the {}",
                              name, what);
    }
    return Status::ok();
}

}  // namespace

Expected<std::unique_ptr<ir::Model>> extractModel(const ir::Model& model,
                                                  const std::vector<std::string>& inputs,
                                                  const std::vector<std::string>& outputs) {
    if (!model.graph) return error(StatusCode::kUsage, "extract: the model has no graph");
    const ir::Graph& src = *model.graph;
    if (outputs.empty()) return error(StatusCode::kUsage, "extract: no outputs given");
    WH_RETURN_IF_ERROR(checkNames(src, inputs, "inputs"));
    WH_RETURN_IF_ERROR(checkNames(src, outputs, "outputs"));
    const std::unordered_set<std::string> given(inputs.begin(), inputs.end());

    // Walk back from the outputs; each tensor remembers who needs it, for the message.
    std::unordered_set<ir::NodeId> keep;
    std::unordered_set<std::string> initializers, captured, seen;
    std::vector<std::pair<std::string, std::string>> stack;  // (tensor, needed by)
    for (auto it = outputs.rbegin(); it != outputs.rend(); ++it)
        stack.emplace_back(*it, "the outputs");
    while (!stack.empty()) {
        auto [name, by] = std::move(stack.back());
        stack.pop_back();
        if (!seen.insert(name).second || given.count(name)) continue;
        const ir::Value* v = src.findValue(name);
        if (!v)
            return error(StatusCode::kUsage,
                         "extract: '{}' (needed by {}) is not defined in the "
                         "main graph",
                         name, by);
        if (v->hasInitializer() || v->sparseInitializer()) {
            initializers.insert(name);
            continue;
        }
        const ir::Node* p = v->producer();
        if (!p)
            return error(StatusCode::kUsage,
                         "extract: '{}' (needed by {}) is neither a given input, an initializer "
                         "nor computable from them: add it to the inputs",
                         name, by);
        if (!keep.insert(p->id()).second) continue;
        for (const ir::Value* in : p->inputs())
            if (in) stack.emplace_back(in->name(), "node " + quoted(*p));
        std::unordered_set<std::string> reads;
        capturedNames(*p, reads);
        for (const std::string& r : reads)
            if (src.findValue(r)) {
                captured.insert(r);
                stack.emplace_back(r, "a subgraph of node " + quoted(*p));
            }
    }
    for (const std::string& name : inputs)
        if (const ir::Node* p = src.findValue(name)->producer(); p && keep.count(p->id()))
            return error(StatusCode::kUsage,
                         "extract: input '{}' is computed by node {}, which the outputs need too",
                         name, quoted(*p));

    auto out = std::make_unique<ir::Model>(model.clone());
    ir::Graph& g = *out->graph;
    while (!g.inputs().empty()) g.eraseGraphInput(static_cast<int>(g.inputs().size()) - 1);
    while (!g.outputs().empty()) g.eraseGraphOutput(static_cast<int>(g.outputs().size()) - 1);
    const std::vector<ir::Node*> nodes = g.nodeList();
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it)
        if (!keep.count((*it)->id())) g.eraseNode(*it);
    const std::vector<ir::Value*> dense = g.initializers();
    for (ir::Value* v : dense) {
        if (initializers.count(v->name())) continue;
        std::unique_ptr<ir::Tensor> t = g.takeInitializer(v);
        if (given.count(v->name()) && v->type.kind == ir::Type::Kind::kNone) {
            ir::Shape shape;
            for (int64_t d : t->dims) shape.dims.push_back(ir::Dim::known(d));
            v->type = ir::Type::tensor(t->dtype, std::move(shape));
        }
    }
    const std::vector<ir::Value*> sparse = g.sparseInitializers();
    for (ir::Value* v : sparse)
        if (!initializers.count(v->name())) g.takeSparseInitializer(v);
    for (const std::string& name : inputs) g.insertGraphInput(g.findValue(name));
    for (const std::string& name : outputs) g.insertGraphOutput(g.findValue(name));
    // Inputs and outputs declare their types themselves.
    for (ir::Value* v : g.valueList())
        if ((v->isGraphInput() || v->isGraphOutput()) && v->isInValueInfo()) g.eraseValueInfo(v);
    // Tensors nothing refers to any more go (with their value_info entries).
    for (ir::Value* v : g.valueList()) {
        if (v->producer() || v->hasUses() || v->isGraphInput() || v->isGraphOutput() ||
            v->hasInitializer() || v->sparseInitializer() || v->isCapture() ||
            captured.count(v->name()))
            continue;
        if (v->isInValueInfo()) g.eraseValueInfo(v);
        g.eraseValue(v);
    }
    std::erase_if(g.quantizationAnnotations,
                  [&](const ir::TensorAnnotation& a) { return !g.findValue(a.tensorName); });
    if (Status s = g.validate(); !s.isOk())
        return error(StatusCode::kUsage, "extract: the extracted graph is not valid: {}",
                     s.message());
    return out;
}

Expected<std::unique_ptr<ir::Model>> extractSelection(const ir::Model& model,
                                                      const std::vector<ir::NodeId>& nodes) {
    if (!model.graph) return error(StatusCode::kUsage, "extract: the model has no graph");
    const ir::Graph& g = *model.graph;
    if (nodes.empty()) return error(StatusCode::kUsage, "extract: no nodes selected");
    std::unordered_set<const ir::Node*> selected;
    for (ir::NodeId id : nodes) {
        const ir::Node* n = g.findNode(id);
        if (!n) return error(StatusCode::kUsage, "extract: the model has no node #{}", id);
        selected.insert(n);
    }
    std::vector<std::string> inputs, outputs;
    auto addOnce = [](std::vector<std::string>& list, const std::string& name) {
        if (std::find(list.begin(), list.end(), name) == list.end()) list.push_back(name);
    };
    const ir::Node* last = nullptr;
    for (const ir::Node* n : g.nodes()) {
        if (!selected.count(n)) continue;
        last = n;
        std::vector<const ir::Value*> reads(n->inputs().begin(), n->inputs().end());
        std::unordered_set<std::string> captured;
        capturedNames(*n, captured);
        std::vector<std::string> capturedSorted(captured.begin(), captured.end());
        std::sort(capturedSorted.begin(), capturedSorted.end());  // a deterministic order
        for (const std::string& name : capturedSorted)
            if (const ir::Value* v = g.findValue(name)) reads.push_back(v);
        for (const ir::Value* v : reads) {
            if (!v || (v->producer() && selected.count(v->producer()))) continue;
            if (ir::constantTensor(v)) continue;  // comes along (initializer, Constant node)
            addOnce(inputs, v->name());
        }
    }
    for (const ir::Node* n : g.nodes()) {
        if (!selected.count(n)) continue;
        for (const ir::Value* o : n->outputs()) {
            if (!o) continue;
            bool outside = o->isGraphOutput();
            for (const ir::Use& u : o->uses()) outside |= !selected.count(u.node);
            if (!outside)
                for (const ir::Node* m : g.nodes()) {
                    if (selected.count(m)) continue;
                    std::unordered_set<std::string> captured;
                    capturedNames(*m, captured);
                    if (captured.count(o->name())) {
                        outside = true;
                        break;
                    }
                }
            if (outside) addOnce(outputs, o->name());
        }
    }
    if (outputs.empty())
        for (const ir::Value* o : last->outputs())
            if (o) addOnce(outputs, o->name());
    return extractModel(model, inputs, outputs);
}

}  // namespace wh::rewrite
