#include "core/analysis/cost.h"

#include <unordered_map>

#include "core/engine/benchmark.h"
#include "core/engine/plan.h"

namespace wh::analysis {

namespace {

struct Known {
    engine::Dims dims;
    bool constant = false;
};

bool isQdq(const std::string& op) {
    return op == "QuantizeLinear" || op == "DequantizeLinear" || op == "DynamicQuantizeLinear";
}

}  // namespace

Expected<ModelCost> modelCost(const ir::Model& model, int64_t batch,
                              const std::map<std::string, engine::Dims>& inputShapes,
                              int threads) {
    engine::PlanOptions po;
    po.threads = threads;
    po.inputShapes = inputShapes;
    // One step per user node, nothing lowered: the shapes and constants of the graph as the user
    // wrote it (an int8 QConv standing for DequantizeLinear → Conv → QuantizeLinear would hide
    // the Conv's weight and output).
    po.fuse = false;
    for (const ir::Value* v : model.graph->inputs())
        if (!v->hasInitializer() && !po.inputShapes.count(v->name())) {
            engine::Dims d = engine::dimsWithBatch(*v, batch);
            if (!d.empty()) po.inputShapes[v->name()] = d;
        }
    WH_ASSIGN_OR_RETURN(engine::Plan plan, engine::Plan::compile(model, po));
    const ir::Graph& g = *model.graph;
    std::unordered_map<std::string, Known> known;
    for (const ir::Value* v : g.initializers())
        known[v->name()] = Known{v->initializer()->dims, true};
    for (const auto& [name, dims] : po.inputShapes) known[name] = Known{dims, false};
    std::unordered_map<ir::NodeId, const engine::PlannedNode*> planned;
    for (const engine::PlannedNode& p : plan.nodes()) {
        planned[p.id] = &p;
        const ir::Node* n = g.findNode(p.id);
        if (!n) continue;
        for (std::size_t i = 0; i < p.outputs.size() && i < n->outputs().size(); ++i)
            if (n->output(static_cast<int>(i)))
                known[n->output(static_cast<int>(i))->name()] =
                    Known{p.outputs[i].dims, p.folded || p.outputs[i].constant != nullptr};
    }
    auto dimsOf = [&](const ir::Value* v) -> const Known* {
        if (!v) return nullptr;
        auto it = known.find(v->name());
        return it == known.end() ? nullptr : &it->second;
    };
    auto elems = [](const engine::Dims& d) {
        int64_t n = 1;
        for (int64_t x : d) n *= x < 0 ? 0 : x;
        return n;
    };
    ModelCost cost;
    for (const ir::Node* n : g.nodes()) {
        auto it = planned.find(n->id());
        if (it == planned.end() || it->second->folded) continue;
        if (isQdq(n->opType)) continue;
        NodeCost c;
        c.node = n->id();
        c.name = n->name;
        c.op = n->opType;
        const Known* y = n->numOutputs() ? dimsOf(n->output(0)) : nullptr;
        const int64_t outElems = y ? elems(y->dims) : 0;
        const std::string& op = n->opType;
        if ((op == "Conv" || op == "ConvTranspose") && n->numInputs() > 1) {
            const Known* w = dimsOf(n->input(1));
            if (w && !w->dims.empty() && w->dims[0] > 0) {
                const int64_t perOut = elems(w->dims) / w->dims[0];
                if (op == "Conv") {
                    c.flops = 2 * outElems * perOut;
                } else {
                    const Known* x = dimsOf(n->input(0));
                    c.flops = x ? 2 * elems(x->dims) * perOut : 0;
                }
            }
        } else if (op == "Gemm" || op == "MatMul") {
            const Known* a = dimsOf(n->input(0));
            if (a && !a->dims.empty()) {
                int64_t k = a->dims.back();
                if (op == "Gemm" && n->attrInt("transA", 0) && a->dims.size() == 2) k = a->dims[0];
                c.flops = 2 * outElems * k;
            }
        } else if ((op == "LSTM" || op == "GRU" || op == "RNN") && n->numInputs() > 2) {
            // Per step and direction, the gates' two products: [N, I]·[I, G·H] + [N, H]·[H, G·H]
            // — W [D, G·H, I] and R [D, G·H, H] hold D·G·H·(I + H) multipliers, each used once
            // per step and batch row (the gates' elementwise work is small beside them).
            const Known* x = dimsOf(n->input(0));
            const Known* w = dimsOf(n->input(1));
            const Known* r = dimsOf(n->input(2));
            if (x && w && r && x->dims.size() == 3) {
                const int64_t steps = x->dims[0] * x->dims[1];  // T·N (either layout)
                c.flops = 2 * steps * (elems(w->dims) + elems(r->dims));
            }
        } else {
            c.flops = outElems;
        }
        for (int i = 0; i < n->numInputs(); ++i) {
            const Known* k = dimsOf(n->input(i));
            if (k && k->constant) c.params += elems(k->dims);
        }
        cost.flops += c.flops;
        cost.params += c.params;
        cost.nodes.push_back(std::move(c));
    }
    return cost;
}

}  // namespace wh::analysis
