#include "core/rewrite/replace_graph.h"

#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace wh::rewrite {

namespace {

std::vector<std::string> names(const std::vector<ir::Value*>& values) {
    std::vector<std::string> out;
    for (const ir::Value* v : values) out.push_back(v->name());
    return out;
}

bool hasSubgraphs(const ir::Graph& g) {
    for (const ir::Node* n : g.subgraphHolders())
        if (!n->subgraphs().empty()) return true;
    return false;
}

bool sameTensor(const ir::Tensor& a, const ir::Tensor& b) {
    return a.dtype == b.dtype && a.dims == b.dims && a.byteSize() == b.byteSize() &&
           a.strings == b.strings &&
           (a.byteSize() == 0 || std::memcmp(a.data->data(), b.data->data(), a.byteSize()) == 0);
}

Status refuse(const std::string& why) {
    return makeStatus(StatusCode::kUnsupported, "cannot turn the graph into the other one: {}", why);
}

}  // namespace

Status replaceGraph(Rewriter& rewriter, const ir::Graph& target) {
    ir::Graph& graph = rewriter.graph();
    std::vector<std::string> inputs, targetInputs;
    for (const ir::Value* v : graph.inputs())
        if (!v->hasInitializer()) inputs.push_back(v->name());
    for (const ir::Value* v : target.inputs())
        if (!v->hasInitializer()) targetInputs.push_back(v->name());
    if (inputs != targetInputs) return refuse("its graph inputs differ");
    if (names(graph.outputs()) != names(target.outputs())) return refuse("its graph outputs differ");
    if (hasSubgraphs(graph) || hasSubgraphs(target))
        return refuse("If, Loop or Scan bodies are not replaced in place");

    // 0. A value the old nodes compute under a name the target gives an initializer (a Constant
    // node's output that became an initializer) steps aside: the old nodes go in step 2.
    for (const ir::Value* t : target.initializers()) {
        ir::Value* v = graph.findValue(t->name());
        if (!v || !v->producer()) continue;
        std::string free = t->name() + "__replaced";
        for (int k = 2; graph.findValue(free) || target.findValue(free); ++k)
            free = t->name() + "__replaced" + std::to_string(k);
        WH_RETURN_STATUS_IF_ERROR(rewriter.renameValue(*v, free));
    }
    // 1. Initializers the new nodes read: added or replaced.
    for (const ir::Value* t : target.initializers()) {
        const ir::Tensor& tensor = *t->initializer();
        ir::Value* v = graph.findValue(t->name());
        if (!v) {
            if (auto added = rewriter.addInitializer(t->name(), tensor); !added)
                return added.error();
        } else if (!v->hasInitializer()) {
            WH_RETURN_STATUS_IF_ERROR(rewriter.setInitializer(*v, tensor));
        } else if (!sameTensor(*v->initializer(), tensor)) {
            WH_RETURN_STATUS_IF_ERROR(rewriter.replaceInitializer(*v, tensor));
        }
    }
    // 2. Every node, by the target's.
    std::vector<ir::Node*> old;
    for (ir::Node* n : graph.nodes()) old.push_back(n);
    std::vector<NewNode> fresh;
    for (const ir::Node* n : target.nodes()) {
        NewNode spec;
        spec.opType = n->opType;
        spec.domain = n->domain;
        spec.name = n->name;
        spec.docString = n->docString;
        for (const ir::Value* in : n->inputs()) spec.inputs.push_back(in ? in->name() : "");
        for (const ir::Value* out : n->outputs()) spec.outputs.push_back(out ? out->name() : "");
        for (const ir::Attribute& a : n->attributes()) spec.attributes.push_back(a.clone());
        fresh.push_back(std::move(spec));
    }
    if (!old.empty() || !fresh.empty()) {
        if (old.empty()) return refuse("the graph has no node to stand in for");
        if (auto replaced = rewriter.replace(old, std::move(fresh)); !replaced)
            return replaced.error();
    }
    // 3. Initializers only the old nodes read.
    std::set<std::string> keep;
    for (const ir::Value* t : target.initializers()) keep.insert(t->name());
    std::vector<ir::Value*> stale;
    for (ir::Value* v : graph.initializers())
        if (!keep.count(v->name()) && !v->hasUses() && !v->isGraphOutput()) stale.push_back(v);
    for (ir::Value* v : stale) WH_RETURN_STATUS_IF_ERROR(rewriter.removeInitializer(*v));
    return Status::ok();
}

}  // namespace wh::rewrite
