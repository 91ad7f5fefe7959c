#include "core/rewrite/edits.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace wh::rewrite {

using nlohmann::json;

namespace {

std::string quoted(const ir::Node& node) {
    return fmt::format("'{}' ({})", node.displayName(), node.opType);
}

// {"node": NAME} when the name identifies the node, else {"node_id": ID}.
void putNode(json& args, const ir::Graph& graph, const ir::Node& node) {
    bool unique = !node.name.empty();
    if (unique)
        for (const ir::Node* other : graph.nodes())
            if (other != &node && other->name == node.name) {
                unique = false;
                break;
            }
    if (unique)
        args["node"] = node.name;
    else
        args["node_id"] = node.id();
}

Status bad(const Edit& e, std::string_view why) {
    return makeStatus(StatusCode::kUsage, "edit '{}': {}", e.op, why);
}

Expected<std::string> stringArg(const Edit& e, const char* key) {
    auto it = e.args.find(key);
    if (it == e.args.end() || !it->is_string())
        return tl::unexpected(bad(e, fmt::format("needs \"{}\" (a string)", key)));
    return it->get<std::string>();
}

Expected<ir::Node*> nodeArg(const Edit& e, ir::Graph& graph) {
    if (auto it = e.args.find("node_id"); it != e.args.end()) {
        if (!it->is_number_integer() || it->get<int64_t>() < 0)
            return tl::unexpected(bad(e, "\"node_id\" is not a node id"));
        ir::Node* n = graph.findNode(it->get<ir::NodeId>());
        if (!n)
            return tl::unexpected(
                bad(e, fmt::format("the model has no node #{}", it->get<ir::NodeId>())));
        return n;
    }
    WH_ASSIGN_OR_RETURN(std::string name, stringArg(e, "node"));
    ir::Node* found = nullptr;
    for (ir::Node* n : graph.nodes())
        if (n->name == name) {
            if (found)
                return tl::unexpected(
                    bad(e, fmt::format("two nodes are named '{}': name it by \"node_id\"", name)));
            found = n;
        }
    if (!found) return tl::unexpected(bad(e, fmt::format("the model has no node '{}'", name)));
    return found;
}

Expected<ir::Value*> tensorArg(const Edit& e, ir::Graph& graph) {
    WH_ASSIGN_OR_RETURN(std::string name, stringArg(e, "tensor"));
    ir::Value* v = graph.findValue(name);
    if (!v) return tl::unexpected(bad(e, fmt::format("the model has no tensor '{}'", name)));
    return v;
}

json attributeToJson(const ir::Attribute& a) {
    json j{{"name", a.name}};
    switch (a.type) {
        case ir::AttrType::kInt:
            j["type"] = "int", j["value"] = a.i;
            break;
        case ir::AttrType::kFloat:
            j["type"] = "float", j["value"] = a.f;
            break;
        case ir::AttrType::kString:
            j["type"] = "string", j["value"] = a.s;
            break;
        case ir::AttrType::kInts:
            j["type"] = "ints", j["value"] = a.ints;
            break;
        case ir::AttrType::kFloats:
            j["type"] = "floats", j["value"] = a.floats;
            break;
        case ir::AttrType::kStrings:
            j["type"] = "strings", j["value"] = a.strings;
            break;
        default:
            return nullptr;
    }
    return j;
}

Expected<ir::Attribute> attributeFromJson(const Edit& e) {
    auto it = e.args.find("attribute");
    if (it == e.args.end() || !it->is_object())
        return tl::unexpected(bad(e, "needs \"attribute\": {\"name\", \"type\", \"value\"}"));
    const json& j = *it;
    if (!j.contains("name") || !j["name"].is_string() || !j.contains("type") ||
        !j["type"].is_string() || !j.contains("value"))
        return tl::unexpected(bad(e, "\"attribute\" needs \"name\", \"type\" and \"value\""));
    const std::string name = j["name"], type = j["type"];
    const json& v = j["value"];
    auto all = [&](auto test) { return v.is_array() && std::all_of(v.begin(), v.end(), test); };
    try {
        if (type == "int" && v.is_number_integer()) return ir::Attribute::makeInt(name, v);
        if (type == "float" && v.is_number()) return ir::Attribute::makeFloat(name, v);
        if (type == "string" && v.is_string()) return ir::Attribute::makeString(name, v);
        if (type == "ints" && all([](const json& x) { return x.is_number_integer(); }))
            return ir::Attribute::makeInts(name, v.get<std::vector<int64_t>>());
        if (type == "floats" && all([](const json& x) { return x.is_number(); }))
            return ir::Attribute::makeFloats(name, v.get<std::vector<float>>());
        if (type == "strings" && all([](const json& x) { return x.is_string(); })) {
            ir::Attribute a;
            a.name = name;
            a.type = ir::AttrType::kStrings;
            a.strings = v.get<std::vector<std::string>>();
            return a;
        }
    } catch (const json::exception&) {  // an integer out of int64's range
    }
    return tl::unexpected(bad(
        e, fmt::format("attribute '{}': \"value\" {} is not a valid {}", name, v.dump(), type)));
}

// delete_node: bypass when the node has one data input, else erase; then the weights only it
// read (dead initializers or Constant nodes).
Status deleteNode(Rewriter& r, ir::Node& n) {
    const std::string what = quoted(n);
    std::vector<int> dataInputs;
    std::vector<std::string> constants;
    for (int i = 0; i < n.numInputs(); ++i) {
        const ir::Value* v = n.input(i);
        if (!v) continue;
        if (ir::constantTensor(v))
            constants.push_back(v->name());
        else
            dataInputs.push_back(i);
    }
    ir::Graph& g = r.graph();
    std::string bypassWhy;
    bool bypassed = false;
    if (dataInputs.size() == 1 && n.numOutputs() >= 1) {
        bypassWhy = Rewriter::bypassBlocker(n, dataInputs.front(), 0);
        if (bypassWhy.empty()) {
            WH_RETURN_STATUS_IF_ERROR(r.bypass(n, dataInputs.front(), 0));
            bypassed = true;  // n is gone
        }
    }
    if (!bypassed) {
        Status erased = r.eraseNode(n);
        if (!erased.isOk()) {
            std::string why = dataInputs.size() == 1
                                  ? fmt::format("it cannot be bypassed ({})", bypassWhy)
                                  : fmt::format(
                                        "it has {} data inputs, so its consumers cannot "
                                        "simply be rewired to one of them",
                                        dataInputs.size());
            return makeStatus(StatusCode::kUsage,
                              "cannot delete node {}: {}, and erasing it needs its outputs to be "
                              "unused ({}). Delete its consumers first.",
                              what, why, erased.message());
        }
    }
    for (const std::string& name : constants) {
        ir::Value* v = g.findValue(name);
        if (!v || v->hasUses() || v->isGraphOutput() || v->isGraphInput()) continue;
        if (r.subgraphReader(name)) continue;
        if (v->hasInitializer()) {
            WH_RETURN_STATUS_IF_ERROR(r.removeInitializer(*v));
        } else if (ir::Node* p = v->producer();
                   p && p->opType == "Constant" && p->numOutputs() == 1) {
            WH_RETURN_STATUS_IF_ERROR(r.eraseNode(*p));
        }
    }
    return Status::ok();
}

// A value nothing reads: no use, not a graph output, not read by a subgraph.
bool isDead(const Rewriter& r, const ir::Value* v) {
    return v && !v->hasUses() && !v->isGraphOutput() && !r.subgraphReader(v->name());
}

// cleanup: erases nodes none of whose outputs is read (repeatedly: a dead node's inputs may die
// with it), then initializers nothing reads (graph inputs' defaults stay).
Status cleanUp(Rewriter& r) {
    ir::Graph& g = r.graph();
    for (bool erased = true; erased;) {
        erased = false;
        std::vector<ir::Node*> dead;
        for (ir::Node* n : g.nodes()) {
            bool used = false;
            for (const ir::Value* out : n->outputs())
                if (out && !isDead(r, out)) used = true;
            if (!used) dead.push_back(n);
        }
        // Consumers before producers: erase from the back of graph order.
        for (auto it = dead.rbegin(); it != dead.rend(); ++it) {
            WH_RETURN_STATUS_IF_ERROR(r.eraseNode(**it));
            erased = true;
        }
    }
    std::vector<ir::Value*> unused;
    for (ir::Value* v : g.initializers())
        if (!v->isGraphInput() && isDead(r, v)) unused.push_back(v);
    for (ir::Value* v : unused) WH_RETURN_STATUS_IF_ERROR(r.removeInitializer(*v));
    return Status::ok();
}

// dedupe_initializers: initializers with the same dtype, dims and bytes become one (the first
// in initializer order); graph inputs' defaults, graph outputs and values subgraphs read by
// name stay as they are.
Status dedupeInitializers(Rewriter& r) {
    ir::Graph& g = r.graph();
    // By a hash of the bytes (no copy of them); equal hashes are compared in full.
    auto bytesOf = [](const ir::Tensor& t) {
        return std::string_view(reinterpret_cast<const char*>(t.data->data()), t.byteSize());
    };
    std::unordered_map<std::size_t, std::vector<ir::Value*>> kept;
    std::vector<std::pair<ir::Value*, ir::Value*>> duplicates;  // (duplicate, the one kept)
    for (ir::Value* v : g.initializers()) {
        const ir::Tensor* t = v->initializer();
        if (v->isGraphInput() || v->isGraphOutput() || r.subgraphReader(v->name()) ||
            t->dtype == ir::DType::kString || t->storage == ir::TensorStorage::kExternal)
            continue;
        std::vector<ir::Value*>& same = kept[std::hash<std::string_view>{}(bytesOf(*t))];
        const auto equal = std::find_if(same.begin(), same.end(), [&](const ir::Value* k) {
            const ir::Tensor* u = k->initializer();
            return u->dtype == t->dtype && u->dims == t->dims && bytesOf(*u) == bytesOf(*t);
        });
        if (equal == same.end())
            same.push_back(v);
        else
            duplicates.emplace_back(v, *equal);
    }
    for (auto [dup, keep] : duplicates) {
        WH_RETURN_STATUS_IF_ERROR(r.replaceAllUsesWith(*dup, *keep));
        WH_RETURN_STATUS_IF_ERROR(r.removeInitializer(*dup));
    }
    return Status::ok();
}

}  // namespace

Expected<PreparedEdit> prepareEdit(ir::Graph& g, const Edit& e) {
    if (e.op == "delete_node") {
        WH_ASSIGN_OR_RETURN(ir::Node * n, nodeArg(e, g));
        return PreparedEdit{"Delete " + quoted(*n),
                            [n](Rewriter& r, EditResult&) { return deleteNode(r, *n); }};
    }
    if (e.op == "rename_node") {
        WH_ASSIGN_OR_RETURN(ir::Node * n, nodeArg(e, g));
        WH_ASSIGN_OR_RETURN(std::string name, stringArg(e, "name"));
        // Names identify nodes (--select, recipes, the Issues dock, scripts): never two alike.
        if (!name.empty())
            for (const ir::Node* other : g.nodes())
                if (other != n && other->name == name)
                    return tl::unexpected(makeStatus(
                        StatusCode::kUsage,
                        "cannot rename {} to '{}': node #{} ({}) has that name already; node "
                        "names must be unique",
                        quoted(*n), name, other->id(), other->opType));
        return PreparedEdit{fmt::format("Rename {} to '{}'", quoted(*n), name),
                            [n, name](Rewriter& r, EditResult&) { return r.renameNode(*n, name); }};
    }
    if (e.op == "insert_identity") {
        WH_ASSIGN_OR_RETURN(ir::Node * n, nodeArg(e, g));
        ir::Value* out = n->numOutputs() > 0 ? n->output(0) : nullptr;
        if (!out)
            return tl::unexpected(makeStatus(
                StatusCode::kUsage, "node {} has no output 0 to put an Identity on", quoted(*n)));
        return PreparedEdit{
            fmt::format("Insert Identity after {}", quoted(*n)),
            [n, out](Rewriter& r, EditResult& result) -> Status {
                NewNode spec("Identity", {out->name()}, {""});
                spec.name =
                    r.graph().uniqueName((n->name.empty() ? out->name() : n->name) + "_identity");
                WH_ASSIGN_OR_RETURN_STATUS(ir::Node * identity,
                                           r.insertOnEdge(*out, nullptr, std::move(spec)));
                result.created = identity->id();
                return Status::ok();
            }};
    }
    if (e.op == "set_attribute") {
        WH_ASSIGN_OR_RETURN(ir::Node * n, nodeArg(e, g));
        WH_ASSIGN_OR_RETURN(ir::Attribute a, attributeFromJson(e));
        std::string label =
            fmt::format("Set {}.{} = {}", n->displayName(), a.name, a.valueString());
        auto shared = std::make_shared<ir::Attribute>(std::move(a));
        return PreparedEdit{std::move(label), [n, shared](Rewriter& r, EditResult&) {
                                return r.setAttribute(*n, shared->clone());
                            }};
    }
    if (e.op == "rename_tensor") {
        WH_ASSIGN_OR_RETURN(ir::Value * v, tensorArg(e, g));
        WH_ASSIGN_OR_RETURN(std::string name, stringArg(e, "name"));
        if (name.empty()) return tl::unexpected(bad(e, "a tensor needs a name"));
        return PreparedEdit{
            fmt::format("Rename tensor '{}' to '{}'", v->name(), name),
            [v, name](Rewriter& r, EditResult&) { return r.renameValue(*v, name); }};
    }
    if (e.op == "add_output") {
        WH_ASSIGN_OR_RETURN(ir::Value * v, tensorArg(e, g));
        if (v->isGraphOutput())
            return tl::unexpected(bad(e, fmt::format("'{}' is a model output already", v->name())));
        return PreparedEdit{fmt::format("Make '{}' a model output", v->name()),
                            [v](Rewriter& r, EditResult&) { return r.addGraphOutput(*v); }};
    }
    if (e.op == "remove_output") {
        WH_ASSIGN_OR_RETURN(ir::Value * v, tensorArg(e, g));
        const auto& outs = g.outputs();
        const auto it = std::find(outs.begin(), outs.end(), v);
        if (it == outs.end())
            return tl::unexpected(bad(e, fmt::format("'{}' is not a model output", v->name())));
        const int position = static_cast<int>(it - outs.begin());
        return PreparedEdit{
            fmt::format("Remove model output '{}'", v->name()),
            [position](Rewriter& r, EditResult&) { return r.removeGraphOutput(position); }};
    }
    if (e.op == "cleanup")
        return PreparedEdit{"Clean up dead nodes and unused initializers",
                            [](Rewriter& r, EditResult&) { return cleanUp(r); }};
    if (e.op == "dedupe_initializers")
        return PreparedEdit{"Deduplicate initializers",
                            [](Rewriter& r, EditResult&) { return dedupeInitializers(r); }};
    return tl::unexpected(
        makeStatus(StatusCode::kUsage,
                   "unknown edit '{}' (delete_node, rename_node, insert_identity, set_attribute, "
                   "rename_tensor, add_output, remove_output, cleanup, dedupe_initializers)",
                   e.op));
}

Expected<EditResult> applyEdit(Rewriter& rewriter, const Edit& edit) {
    WH_ASSIGN_OR_RETURN(PreparedEdit prepared, prepareEdit(rewriter.graph(), edit));
    EditResult result{prepared.label, {}};
    rewriter.beginGroup(prepared.label);
    Status s = prepared.apply(rewriter, result);
    if (!s.isOk()) {
        rewriter.cancelGroup();
        return tl::unexpected(s);
    }
    rewriter.endGroup();
    return result;
}

Edit deleteNodeEdit(const ir::Graph& graph, const ir::Node& node) {
    Edit e{"delete_node"};
    putNode(e.args, graph, node);
    return e;
}

Edit renameNodeEdit(const ir::Graph& graph, const ir::Node& node, const std::string& name) {
    Edit e{"rename_node"};
    putNode(e.args, graph, node);
    e.args["name"] = name;
    return e;
}

Edit insertIdentityEdit(const ir::Graph& graph, const ir::Node& node) {
    Edit e{"insert_identity"};
    putNode(e.args, graph, node);
    return e;
}

Expected<Edit> setAttributeEdit(const ir::Graph& graph, const ir::Node& node,
                                const ir::Attribute& attribute) {
    json a = attributeToJson(attribute);
    if (a.is_null())
        return error(StatusCode::kUsage,
                     "attribute '{}' of node {} holds a tensor, graph or type: an edit script "
                     "cannot record it",
                     attribute.name, quoted(node));
    Edit e{"set_attribute"};
    putNode(e.args, graph, node);
    e.args["attribute"] = std::move(a);
    return e;
}

Edit renameTensorEdit(const std::string& tensor, const std::string& name) {
    return {"rename_tensor", {{"tensor", tensor}, {"name", name}}};
}

Edit addOutputEdit(const std::string& tensor) {
    return {"add_output", {{"tensor", tensor}}};
}

Edit removeOutputEdit(const std::string& tensor) {
    return {"remove_output", {{"tensor", tensor}}};
}

Edit cleanupEdit() {
    return {"cleanup"};
}

Edit dedupeInitializersEdit() {
    return {"dedupe_initializers"};
}

json scriptToJson(const std::vector<Edit>& edits) {
    json list = json::array();
    for (const Edit& e : edits) {
        json j = e.args;
        j["op"] = e.op;
        list.push_back(std::move(j));
    }
    return {{"format", "whittle-edit-script"}, {"version", 1}, {"edits", std::move(list)}};
}

Expected<std::vector<Edit>> scriptFromJson(const json& j) {
    if (!j.is_object() || j.value("format", std::string()) != "whittle-edit-script")
        return error(StatusCode::kBadInput,
                     "not an edit script: it needs \"format\": \"whittle-edit-script\"");
    if (!j.contains("version") || j["version"] != 1)
        return error(StatusCode::kBadInput, "edit script version {} (this build reads 1)",
                     j.contains("version") ? j["version"].dump() : "missing");
    if (!j.contains("edits") || !j["edits"].is_array())
        return error(StatusCode::kBadInput, "the edit script has no \"edits\" list");
    std::vector<Edit> edits;
    for (std::size_t i = 0; i < j["edits"].size(); ++i) {
        const json& item = j["edits"][i];
        if (!item.is_object() || !item.contains("op") || !item["op"].is_string())
            return error(StatusCode::kBadInput, "edit {} has no \"op\" name", i + 1);
        Edit e{item["op"].get<std::string>(), item};
        e.args.erase("op");
        edits.push_back(std::move(e));
    }
    return edits;
}

}  // namespace wh::rewrite
