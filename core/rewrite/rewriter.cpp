#include "core/rewrite/rewriter.h"

#include <algorithm>
#include <unordered_set>

#include <fmt/format.h>

namespace wh::rewrite {

using ir::Node;
using ir::Value;

std::vector<std::string> EditLog::descriptions() const {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < m_cursor; ++i) out.push_back(m_steps[i].description);
    return out;
}

namespace {

ValueRef refOf(const Value* v) {
    return v ? ValueRef(v->name()) : std::nullopt;
}

std::vector<ValueRef> refsOf(const std::vector<Value*>& values) {
    std::vector<ValueRef> out;
    out.reserve(values.size());
    for (const Value* v : values) out.push_back(refOf(v));
    return out;
}

ValueMeta metaOf(const Value* v) {
    return {v->type, v->docString, v->presence, v->isCapture()};
}

NodeFields fieldsOf(const Node* n) {
    return {n->name, n->opType, n->domain, n->docString};
}

std::string quoted(const Node& n) {
    return fmt::format("{} '{}'", n.opType, n.displayName());
}

bool graphReads(const ir::Graph& g, std::string_view name) {
    if (const Value* v = g.findValue(name); v && v->isCapture()) return true;
    for (const Node* n : g.subgraphHolders())
        if (subgraphsRead(*n, name)) return true;
    return false;
}

// The first of the graph's subgraph holders (in adoption order) whose subgraphs read `name`.
const Node* findSubgraphReader(const ir::Graph& g, std::string_view name) {
    for (const Node* n : g.subgraphHolders())
        if (subgraphsRead(*n, name)) return n;
    return nullptr;
}

// True if `name` is free in `graph` and every enclosing graph (ONNX names are unique per scope
// chain).
bool nameIsFree(const ir::Graph& graph, const std::string& name) {
    return !name.empty() && graph.uniqueName(name) == name;
}

}  // namespace

bool subgraphsRead(const ir::Node& node, std::string_view name) {
    for (const ir::Graph* sub : node.subgraphs())
        if (sub && graphReads(*sub, name)) return true;
    return false;
}

Rewriter::Rewriter(ir::Graph& graph) : m_graph(graph) {}
Rewriter::~Rewriter() = default;

void Rewriter::addListener(Listener* listener) {
    if (std::find(m_listeners.begin(), m_listeners.end(), listener) == m_listeners.end())
        m_listeners.push_back(listener);
}
void Rewriter::removeListener(Listener* listener) {
    m_listeners.erase(std::remove(m_listeners.begin(), m_listeners.end(), listener),
                      m_listeners.end());
}

// ---- Applying primitive ops ----------------------------------------------------------------

void Rewriter::apply(const EditOp& op, bool reverse) {
    ir::Graph& g = m_graph;
    auto value = [&](const std::string& name) {
        Value* v = g.findValue(name);
        WH_ASSERT(v);
        return v;
    };
    auto values = [&](const std::vector<ValueRef>& refs) {
        std::vector<Value*> out;
        out.reserve(refs.size());
        for (const ValueRef& r : refs) out.push_back(r ? value(*r) : nullptr);
        return out;
    };
    auto node = [&](ir::NodeId id) {
        Node* n = g.findNode(id);
        WH_ASSERT(n);
        return n;
    };
    auto nodeOrEnd = [&](ir::NodeId id) { return id == 0 ? nullptr : node(id); };
    auto adopt = [&](Node* n) {
        for (ir::Graph* sub : n->subgraphs()) g.adoptSubgraph(sub, n);
    };

    std::visit(
        [&](const auto& o) {
            using T = std::decay_t<decltype(o)>;
            if constexpr (std::is_same_v<T, ValueLifeOp>) {
                if (o.add != reverse) {
                    auto created = g.addValue(o.name);
                    WH_ASSERT(created.has_value());
                    Value* v = *created;
                    v->type = o.meta.type;
                    v->docString = o.meta.docString;
                    v->presence = o.meta.presence;
                    if (o.meta.isCapture) g.markCapture(v);
                    notify([&](Listener& l) { l.valueAdded(o.name); });
                } else {
                    g.eraseValue(value(o.name));
                    notify([&](Listener& l) { l.valueErased(o.name); });
                }
            } else if constexpr (std::is_same_v<T, NodeLifeOp>) {
                const NodeState& s = o.state;
                if (o.add != reverse) {
                    std::vector<Value*> ins = values(s.inputs), outs = values(s.outputs);
                    Node* n = g.addNode(s.opType, ins, outs, nodeOrEnd(s.before), s.id);
                    g.setNodeName(n, s.name);
                    n->domain = s.domain;
                    n->docString = s.docString;
                    n->presence = s.presence;
                    for (const ir::Attribute& a : s.attributes)
                        n->attributes().push_back(a.clone());
                    adopt(n);
                    notify([&](Listener& l) { l.nodeInserted(s.id); });
                } else {
                    g.eraseNode(node(s.id));
                    notify([&](Listener& l) { l.nodeErased(s.id); });
                }
            } else if constexpr (std::is_same_v<T, NodeWiringOp>) {
                Node* n = node(o.node);
                std::vector<Value*> vs = values(reverse ? o.before : o.after);
                if (o.outputs)
                    g.setOutputs(n, vs);
                else
                    g.setInputs(n, vs);
                notify([&](Listener& l) { l.nodeChanged(o.node); });
            } else if constexpr (std::is_same_v<T, NodeFieldsOp>) {
                Node* n = node(o.node);
                const NodeFields& f = reverse ? o.before : o.after;
                g.setNodeName(n, f.name);
                n->opType = f.opType;
                n->domain = f.domain;
                n->docString = f.docString;
                notify([&](Listener& l) { l.nodeChanged(o.node); });
            } else if constexpr (std::is_same_v<T, AttributeOp>) {
                Node* n = node(o.node);
                const auto& from = reverse ? o.after : o.before;
                const auto& to = reverse ? o.before : o.after;
                auto& attrs = n->attributes();
                auto at = attrs.begin() + o.index;
                if (!from) {
                    attrs.insert(at, to->clone());
                } else if (!to) {
                    attrs.erase(at);
                } else {
                    *at = to->clone();
                }
                adopt(n);
                notify([&](Listener& l) { l.nodeChanged(o.node); });
            } else if constexpr (std::is_same_v<T, MoveNodeOp>) {
                g.moveNode(node(o.node), nodeOrEnd(reverse ? o.beforeOld : o.beforeNew));
                notify([&](Listener& l) { l.nodeMoved(o.node); });
            } else if constexpr (std::is_same_v<T, RenameValueOp>) {
                const std::string& from = reverse ? o.newName : o.oldName;
                const std::string& to = reverse ? o.oldName : o.newName;
                Status s = g.renameValue(value(from), to);
                WH_ASSERT(s.isOk());
                notify([&](Listener& l) { l.valueRenamed(from, to); });
            } else if constexpr (std::is_same_v<T, ValueMetaOp>) {
                Value* v = value(o.name);
                const ValueMeta& m = reverse ? o.before : o.after;
                v->type = m.type;
                v->docString = m.docString;
                v->presence = m.presence;
                notify([&](Listener& l) { l.valueChanged(o.name); });
            } else if constexpr (std::is_same_v<T, ListOp>) {
                Value* v = value(o.name);
                const bool insert = o.insert != reverse;
                switch (o.list) {
                    case GraphList::kInputs:
                        if (insert) {
                            g.insertGraphInput(v, o.position);
                        } else {
                            WH_ASSERT(g.inputs()[static_cast<std::size_t>(o.position)] == v);
                            g.eraseGraphInput(o.position);
                        }
                        notify([&](Listener& l) { l.graphIoChanged(); });
                        break;
                    case GraphList::kOutputs:
                        if (insert) {
                            g.insertGraphOutput(v, o.position);
                        } else {
                            WH_ASSERT(g.outputs()[static_cast<std::size_t>(o.position)] == v);
                            g.eraseGraphOutput(o.position);
                        }
                        notify([&](Listener& l) { l.graphIoChanged(); });
                        break;
                    case GraphList::kValueInfo:
                        if (insert)
                            g.insertValueInfo(v, o.position);
                        else
                            g.eraseValueInfo(v);
                        notify([&](Listener& l) { l.valueChanged(o.name); });
                        break;
                }
            } else if constexpr (std::is_same_v<T, InitializerOp>) {
                Value* v = value(o.name);
                const auto& to = reverse ? o.before : o.after;
                if (to)
                    g.setInitializer(v, *to, o.position);
                else
                    g.takeInitializer(v);
                notify([&](Listener& l) { l.initializerChanged(o.name); });
            }
        },
        op);
}

void Rewriter::record(EditOp op) {
    apply(op, false);
    m_pending.push_back(std::move(op));
}

void Rewriter::rollbackTo(std::size_t start) {
    while (m_pending.size() > start) {
        apply(m_pending.back(), true);
        m_pending.pop_back();
    }
}

void Rewriter::finishEdit(std::size_t start, std::string description) {
    if (m_pending.size() == start) return;  // nothing changed: no step
    if (!m_groups.empty()) {
        m_details.push_back(std::move(description));
        return;
    }
    m_log.m_steps.resize(m_log.m_cursor);
    m_log.m_steps.push_back(Step{std::move(description), {}, std::move(m_pending)});
    m_pending.clear();
    ++m_log.m_cursor;
    notify([&](Listener& l) { l.stepCommitted(m_log.m_steps.back()); });
}

// ---- Groups and undo -----------------------------------------------------------------------

void Rewriter::beginGroup(std::string label) {
    m_groups.push_back({std::move(label), m_pending.size(), m_details.size()});
}

void Rewriter::endGroup() {
    WH_ASSERT(!m_groups.empty());
    OpenGroup group = std::move(m_groups.back());
    m_groups.pop_back();
    if (!m_groups.empty()) {
        // A nested group becomes a heading over its own detail lines.
        if (m_pending.size() != group.opStart) {
            for (std::size_t i = group.detailStart; i < m_details.size(); ++i)
                m_details[i] = "  " + m_details[i];
            m_details.insert(m_details.begin() + static_cast<std::ptrdiff_t>(group.detailStart),
                             group.label);
        }
        return;
    }
    std::vector<std::string> details = std::move(m_details);
    m_details.clear();
    if (m_pending.empty()) return;
    m_log.m_steps.resize(m_log.m_cursor);
    m_log.m_steps.push_back(Step{std::move(group.label), std::move(details), std::move(m_pending)});
    m_pending.clear();
    ++m_log.m_cursor;
    notify([&](Listener& l) { l.stepCommitted(m_log.m_steps.back()); });
}

void Rewriter::cancelGroup() {
    WH_ASSERT(!m_groups.empty());
    OpenGroup group = std::move(m_groups.back());
    m_groups.pop_back();
    rollbackTo(group.opStart);
    m_details.resize(group.detailStart);
}

Status Rewriter::undo() {
    if (!m_groups.empty())
        return makeStatus(StatusCode::kUsage, "cannot undo while group '{}' is open",
                          m_groups.back().label);
    if (!m_log.canUndo()) return makeStatus(StatusCode::kUsage, "nothing to undo");
    const Step& step = m_log.m_steps[m_log.m_cursor - 1];
    for (auto it = step.ops.rbegin(); it != step.ops.rend(); ++it) apply(*it, true);
    --m_log.m_cursor;
    notify([&](Listener& l) { l.stepUndone(step); });
    return Status::ok();
}

Status Rewriter::redo() {
    if (!m_groups.empty())
        return makeStatus(StatusCode::kUsage, "cannot redo while group '{}' is open",
                          m_groups.back().label);
    if (!m_log.canRedo()) return makeStatus(StatusCode::kUsage, "nothing to redo");
    const Step& step = m_log.m_steps[m_log.m_cursor];
    for (const EditOp& op : step.ops) apply(op, false);
    ++m_log.m_cursor;
    notify([&](Listener& l) { l.stepRedone(step); });
    return Status::ok();
}

// ---- Recording helpers -----------------------------------------------------------------------

Value* Rewriter::recordNewValue(const std::string& name) {
    record(ValueLifeOp{true, name, {}});
    return m_graph.findValue(name);
}

void Rewriter::recordDropValue(Value* v) {
    WH_ASSERT(isUnreferenced(*v) && !v->sparseInitializer());
    if (v->isInValueInfo())
        record(ListOp{GraphList::kValueInfo, false, m_graph.valueInfoPosition(v), v->name()});
    record(ValueLifeOp{false, v->name(), metaOf(v)});
}

Node* Rewriter::recordNewNode(NewNode spec, Node* before) {
    NodeLifeOp op;
    op.add = true;
    NodeState& s = op.state;
    // Ids are unique across a model: a Rewriter on an If branch counts past the whole model.
    s.id = m_graph.nextNodeId();
    for (const ir::Graph* g = m_graph.parentGraph(); g; g = g->parentGraph())
        s.id = std::max(s.id, g->nextNodeId());
    s.opType = std::move(spec.opType);
    s.domain = std::move(spec.domain);
    s.name = std::move(spec.name);
    s.docString = std::move(spec.docString);
    s.attributes = std::move(spec.attributes);
    for (std::string& in : spec.inputs)
        s.inputs.push_back(in.empty() ? std::nullopt : ValueRef(std::move(in)));
    for (std::string& out : spec.outputs)
        s.outputs.push_back(out.empty() ? std::nullopt : ValueRef(std::move(out)));
    s.before = before ? before->id() : 0;
    ir::NodeId id = s.id;
    record(std::move(op));
    return m_graph.findNode(id);
}

void Rewriter::recordEraseNode(Node* n) {
    NodeLifeOp op;
    op.add = false;
    NodeState& s = op.state;
    s.id = n->id();
    s.opType = n->opType;
    s.domain = n->domain;
    s.name = n->name;
    s.docString = n->docString;
    s.presence = n->presence;
    for (const ir::Attribute& a : n->attributes()) s.attributes.push_back(a.clone());
    s.inputs = refsOf(n->inputs());
    s.outputs = refsOf(n->outputs());
    s.before = n->next() ? n->next()->id() : 0;
    record(std::move(op));
}

void Rewriter::recordWiring(Node* n, bool outputs, const std::vector<Value*>& after) {
    const std::vector<Value*>& before = outputs ? n->outputs() : n->inputs();
    if (before == after) return;
    record(NodeWiringOp{n->id(), outputs, refsOf(before), refsOf(after)});
}

void Rewriter::recordUsesToValue(Value* from, Value* to, const Node* except) {
    // Collect distinct user nodes first: rewiring changes from->uses().
    std::vector<Node*> users;
    for (const ir::Use& u : from->uses())
        if (u.node != except && std::find(users.begin(), users.end(), u.node) == users.end())
            users.push_back(u.node);
    for (Node* n : users) {
        std::vector<Value*> ins = n->inputs();
        std::replace(ins.begin(), ins.end(), from, to);
        recordWiring(n, false, ins);
    }
}

// ---- Queries ---------------------------------------------------------------------------------

const Node* Rewriter::subgraphReader(std::string_view name) const {
    return findSubgraphReader(m_graph, name);
}

bool Rewriter::isUnreferenced(const Value& v) const {
    return !v.producer() && !v.hasUses() && !v.isGraphInput() && !v.isGraphOutput() &&
           !v.hasInitializer() && !v.sparseInitializer() && !subgraphReader(v.name());
}

// ---- Nodes -----------------------------------------------------------------------------------

Expected<Node*> Rewriter::insertNode(NewNode spec, Node* before) {
    if (spec.opType.empty()) return error(StatusCode::kUsage, "a new node needs an op type");
    if (before && before->graph() != &m_graph)
        return error(StatusCode::kUsage, "node '{}' is not in this graph", before->displayName());
    for (const std::string& in : spec.inputs)
        if (!in.empty() && !m_graph.findValue(in))
            return error(StatusCode::kUsage, "new {} node reads '{}', which is not in this graph",
                         spec.opType, in);
    std::unordered_set<std::string> seen;
    for (const std::string& out : spec.outputs) {
        if (out.empty()) continue;
        if (!nameIsFree(m_graph, out) || !seen.insert(out).second)
            return error(StatusCode::kUsage, "new {} node output name '{}' is taken", spec.opType,
                         out);
    }
    std::string description =
        before ? fmt::format("Insert {} before '{}'", spec.opType, before->displayName())
               : fmt::format("Insert {} at the end", spec.opType);
    std::size_t start = m_pending.size();
    for (const std::string& out : spec.outputs)
        if (!out.empty()) recordNewValue(out);
    Node* n = recordNewNode(std::move(spec), before);
    finishEdit(start, std::move(description));
    return n;
}

Expected<Node*> Rewriter::insertBefore(Node& anchor, NewNode spec) {
    return insertNode(std::move(spec), &anchor);
}

Expected<Node*> Rewriter::insertAfter(Node& anchor, NewNode spec) {
    if (anchor.graph() != &m_graph)
        return error(StatusCode::kUsage, "node '{}' is not in this graph", anchor.displayName());
    return insertNode(std::move(spec), anchor.next());
}

Expected<Node*> Rewriter::insertOnEdge(Value& value, Node* consumer, NewNode spec) {
    if (value.graph() != &m_graph)
        return error(StatusCode::kUsage, "tensor '{}' is not in this graph", value.name());
    if (consumer) {
        if (consumer->graph() != &m_graph)
            return error(StatusCode::kUsage, "node '{}' is not in this graph",
                         consumer->displayName());
        auto& ins = consumer->inputs();
        if (std::find(ins.begin(), ins.end(), &value) == ins.end())
            return error(StatusCode::kUsage, "node '{}' does not read '{}'",
                         consumer->displayName(), value.name());
    }
    if (spec.opType.empty()) return error(StatusCode::kUsage, "a new node needs an op type");
    if (spec.inputs.empty()) spec.inputs.emplace_back();
    spec.inputs[0] = value.name();
    if (spec.outputs.empty()) spec.outputs.emplace_back();
    if (spec.outputs[0].empty())
        spec.outputs[0] = m_graph.uniqueName(fmt::format("{}_{}", value.name(), spec.opType));
    Node* before = consumer;
    if (!consumer) {
        Node* p = value.producer();
        before = p && p->graph() == &m_graph ? p->next() : m_graph.firstNode();
    }
    std::string description = consumer
                                  ? fmt::format("Insert {} on '{}' before '{}'", spec.opType,
                                                value.name(), consumer->displayName())
                                  : fmt::format("Insert {} on '{}'", spec.opType, value.name());
    std::vector<Node*> consumers;
    if (consumer) {
        consumers.push_back(consumer);
    } else {
        for (const ir::Use& u : value.uses())
            if (std::find(consumers.begin(), consumers.end(), u.node) == consumers.end())
                consumers.push_back(u.node);
    }
    // Validate fully (names) before changing anything, then record.
    for (std::size_t i = 1; i < spec.inputs.size(); ++i)
        if (!spec.inputs[i].empty() && !m_graph.findValue(spec.inputs[i]))
            return error(StatusCode::kUsage, "new {} node reads '{}', which is not in this graph",
                         spec.opType, spec.inputs[i]);
    std::unordered_set<std::string> seen;
    for (const std::string& out : spec.outputs)
        if (!out.empty() && (!nameIsFree(m_graph, out) || !seen.insert(out).second))
            return error(StatusCode::kUsage, "new {} node output name '{}' is taken", spec.opType,
                         out);
    std::size_t start = m_pending.size();
    for (const std::string& out : spec.outputs)
        if (!out.empty()) recordNewValue(out);
    Node* n = recordNewNode(std::move(spec), before);
    Value* out = n->output(0);
    for (Node* c : consumers) {
        std::vector<Value*> ins = c->inputs();
        std::replace(ins.begin(), ins.end(), &value, out);
        recordWiring(c, false, ins);
    }
    finishEdit(start, std::move(description));
    return n;
}

Expected<std::vector<Node*>> Rewriter::replace(std::span<Node* const> oldNodes,
                                               std::vector<NewNode> newNodes) {
    if (oldNodes.empty()) return error(StatusCode::kUsage, "replace() needs at least one node");
    std::unordered_set<const Node*> old;
    std::unordered_set<Value*> oldOutputs;
    for (Node* n : oldNodes) {
        if (!n || n->graph() != &m_graph)
            return error(StatusCode::kUsage, "replace(): a node is not in this graph");
        if (!old.insert(n).second)
            return error(StatusCode::kUsage, "replace(): node '{}' is listed twice",
                         n->displayName());
        for (Value* v : n->outputs())
            if (v) oldOutputs.insert(v);
    }
    // Which old outputs the new nodes produce again, and which names they create.
    std::unordered_set<std::string> produced;
    for (const NewNode& s : newNodes) {
        if (s.opType.empty()) return error(StatusCode::kUsage, "a new node needs an op type");
        for (const std::string& out : s.outputs) {
            if (out.empty()) continue;
            if (!produced.insert(out).second)
                return error(StatusCode::kUsage, "replace(): '{}' is produced twice", out);
            Value* existing = m_graph.findValue(out);
            if (existing ? !oldOutputs.count(existing) : !nameIsFree(m_graph, out))
                return error(StatusCode::kUsage,
                             "replace(): output name '{}' is taken by a value the replaced nodes "
                             "do not produce",
                             out);
        }
    }
    std::vector<Value*> dropped;
    for (Value* v : oldOutputs) {
        if (produced.count(v->name())) continue;
        for (const ir::Use& u : v->uses())
            if (!old.count(u.node))
                return error(StatusCode::kUsage,
                             "replace(): '{}' is still read by node '{}' and no new node "
                             "produces it",
                             v->name(), u.node->displayName());
        if (v->isGraphOutput())
            return error(StatusCode::kUsage,
                         "replace(): graph output '{}' would no longer be produced", v->name());
        if (const Node* r = subgraphReader(v->name()))
            return error(StatusCode::kUsage, "replace(): '{}' is read inside a subgraph of '{}'",
                         v->name(), r->displayName());
        dropped.push_back(v);
    }
    for (const NewNode& s : newNodes)
        for (const std::string& in : s.inputs) {
            if (in.empty() || produced.count(in)) continue;
            Value* v = m_graph.findValue(in);
            if (!v || oldOutputs.count(v))
                return error(StatusCode::kUsage,
                             "replace(): new {} node reads '{}', which "
                             "nothing will define",
                             s.opType, in);
        }

    // Graph order of the old nodes, and the first non-replaced node after the first of them.
    std::vector<Node*> ordered;
    Node* before = nullptr;
    bool inRun = false;
    for (Node* n : m_graph.nodes()) {
        if (old.count(n)) {
            ordered.push_back(n);
            inRun = true;
        } else if (inRun && !before) {
            before = n;
        }
    }
    std::string description =
        ordered.size() == 1
            ? fmt::format("Replace {}", quoted(*ordered[0]))
            : fmt::format("Replace {} nodes from {}", ordered.size(), quoted(*ordered[0]));
    if (newNodes.size() == 1) description += fmt::format(" by {}", newNodes[0].opType);

    std::size_t start = m_pending.size();
    for (Node* n : ordered) recordEraseNode(n);
    std::vector<Node*> created;
    for (NewNode& s : newNodes) {
        for (const std::string& out : s.outputs)
            if (!out.empty() && !m_graph.findValue(out)) recordNewValue(out);
        created.push_back(recordNewNode(std::move(s), before));
    }
    // Sort for a deterministic log (the set's order is not).
    std::sort(dropped.begin(), dropped.end(),
              [](const Value* a, const Value* b) { return a->name() < b->name(); });
    for (Value* v : dropped)
        if (isUnreferenced(*v) && !v->isCapture()) recordDropValue(v);
    finishEdit(start, std::move(description));
    return created;
}

Expected<Node*> Rewriter::replace(Node& oldNode, NewNode newNode) {
    std::vector<NewNode> specs;
    specs.push_back(std::move(newNode));
    Node* nodes[] = {&oldNode};
    WH_ASSIGN_OR_RETURN(std::vector<Node*> created, replace(nodes, std::move(specs)));
    return created.front();
}

std::string Rewriter::bypassBlocker(const Node& node, int input, int output) {
    const Value* x = node.input(input);
    const Value* y = node.output(output);
    if (!x) return fmt::format("input {} is absent", input);
    if (!y) return fmt::format("output {} is absent", output);
    if (x == y) return "the node reads its own output";
    if (y->isGraphInput() || y->hasInitializer())
        return fmt::format("output {} ('{}') is also a graph input or initializer", output,
                           y->name());
    const ir::Graph& g = *node.graph();
    for (int i = 0; i < node.numOutputs(); ++i) {
        const Value* o = node.output(i);
        if (i == output || !o) continue;
        if (o->hasUses()) return fmt::format("output {} ('{}') is used", i, o->name());
        if (o->isGraphOutput())
            return fmt::format("output {} ('{}') is a graph output", i, o->name());
        if (const Node* r = findSubgraphReader(g, o->name()))
            return fmt::format("output {} is read inside a subgraph of '{}'", i, r->displayName());
    }
    if (!y->isGraphOutput()) {
        if (const Node* r = findSubgraphReader(g, y->name()))
            return fmt::format("output {} is read inside a subgraph of '{}'", output,
                               r->displayName());
        return {};
    }
    // y keeps its name as a graph output: x's producer must be able to produce y instead.
    const Node* p = x->producer();
    if (!p || p->graph() != &g || x->isCapture())
        return fmt::format("output {} is a graph output and input {} ('{}') has no producer node",
                           output, input, x->name());
    if (p == &node) return "the node reads its own output";
    if (x->isGraphOutput())
        return fmt::format("input {} ('{}') and output {} are both graph outputs", input, x->name(),
                           output);
    if (x->hasInitializer() || x->isGraphInput())
        return fmt::format("input {} ('{}') is an initializer or graph input", input, x->name());
    if (const Node* r = findSubgraphReader(g, x->name()))
        return fmt::format("input {} is read inside a subgraph of '{}'", input, r->displayName());
    return {};
}

Status Rewriter::bypass(Node& node, int input, int output) {
    if (node.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "node '{}' is not in this graph", node.displayName());
    if (std::string why = bypassBlocker(node, input, output); !why.empty())
        return makeStatus(StatusCode::kUsage, "cannot erase {}: {}", quoted(node), why);
    Value* x = node.input(input);
    Value* y = node.output(output);
    std::vector<Value*> others;
    for (int i = 0; i < node.numOutputs(); ++i)
        if (i != output && node.output(i)) others.push_back(node.output(i));
    std::size_t start = m_pending.size();
    const std::string what = quoted(node);  // before the node goes
    std::string description;
    recordEraseNode(&node);
    if (!y->isGraphOutput()) {
        description =
            fmt::format("Erase {} (readers of '{}' read '{}')", what, y->name(), x->name());
        recordUsesToValue(y, x, nullptr);
        recordDropValue(y);
    } else {
        // Keep the graph output's name (and its type, docString, value_info): x's producer now
        // produces y, x's other readers read y, and x goes away.
        Node* p = x->producer();
        description = fmt::format("Erase {} ('{}' now produces graph output '{}')", what,
                                  p->displayName(), y->name());
        std::vector<Value*> outs = p->outputs();
        std::replace(outs.begin(), outs.end(), x, y);
        recordWiring(p, true, outs);  // y has no producer since the node went
        recordUsesToValue(x, y, nullptr);
        recordDropValue(x);
    }
    for (Value* o : others) recordDropValue(o);
    finishEdit(start, std::move(description));
    return Status::ok();
}

Status Rewriter::eraseNode(Node& node, EraseOutputs outputs) {
    if (node.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "node '{}' is not in this graph", node.displayName());
    std::vector<Value*> outs;
    for (Value* o : node.outputs()) {
        if (!o || std::find(outs.begin(), outs.end(), o) != outs.end()) continue;
        outs.push_back(o);
        if (outputs != EraseOutputs::kMustBeUnused) continue;
        if (!o->uses().empty())
            return makeStatus(StatusCode::kUsage, "cannot erase {}: '{}' is read by node '{}'",
                              quoted(node), o->name(), o->uses().front().node->displayName());
        if (o->isGraphOutput())
            return makeStatus(StatusCode::kUsage, "cannot erase {}: '{}' is a graph output",
                              quoted(node), o->name());
        if (const Node* r = subgraphReader(o->name()))
            return makeStatus(StatusCode::kUsage,
                              "cannot erase {}: '{}' is read inside a subgraph of '{}'",
                              quoted(node), o->name(), r->displayName());
    }
    std::string description = fmt::format("Erase {}", quoted(node));
    std::size_t start = m_pending.size();
    recordEraseNode(&node);
    if (outputs == EraseOutputs::kMustBeUnused)
        for (Value* o : outs)
            if (isUnreferenced(*o)) recordDropValue(o);
    finishEdit(start, std::move(description));
    return Status::ok();
}

Status Rewriter::moveNode(Node& node, Node* before) {
    if (node.graph() != &m_graph || (before && before->graph() != &m_graph))
        return makeStatus(StatusCode::kUsage, "moveNode(): node is not in this graph");
    if (before == &node || node.next() == before) return Status::ok();
    std::size_t start = m_pending.size();
    std::string description =
        before ? fmt::format("Move {} before '{}'", quoted(node), before->displayName())
               : fmt::format("Move {} to the end", quoted(node));
    record(MoveNodeOp{node.id(), node.next() ? node.next()->id() : 0, before ? before->id() : 0});
    finishEdit(start, std::move(description));
    return Status::ok();
}

Status Rewriter::renameNode(Node& node, std::string name) {
    if (node.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "node '{}' is not in this graph", node.displayName());
    NodeFields after = fieldsOf(&node);
    after.name = std::move(name);
    std::string description =
        fmt::format("Rename node '{}' to '{}'", node.displayName(), after.name);
    std::size_t start = m_pending.size();
    if (after.name != node.name) record(NodeFieldsOp{node.id(), fieldsOf(&node), after});
    finishEdit(start, std::move(description));
    return Status::ok();
}

Status Rewriter::setNodeDocString(Node& node, std::string docString) {
    if (node.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "node '{}' is not in this graph", node.displayName());
    NodeFields after = fieldsOf(&node);
    after.docString = std::move(docString);
    std::size_t start = m_pending.size();
    if (after.docString != node.docString) record(NodeFieldsOp{node.id(), fieldsOf(&node), after});
    finishEdit(start, fmt::format("Set the doc string of {}", quoted(node)));
    return Status::ok();
}

Status Rewriter::setInput(Node& node, int index, Value* value) {
    if (node.graph() != &m_graph || (value && value->graph() != &m_graph))
        return makeStatus(StatusCode::kUsage, "setInput(): node or value is not in this graph");
    if (index < 0 || index >= node.numInputs())
        return makeStatus(StatusCode::kUsage, "node '{}' has no input {}", node.displayName(),
                          index);
    std::vector<Value*> ins = node.inputs();
    ins[static_cast<std::size_t>(index)] = value;
    std::size_t start = m_pending.size();
    recordWiring(&node, false, ins);
    finishEdit(start, fmt::format("Set input {} of {} to '{}'", index, quoted(node),
                                  value ? value->name() : std::string("<none>")));
    return Status::ok();
}

Status Rewriter::setInputs(Node& node, std::vector<Value*> inputs) {
    if (node.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "setInputs(): node '{}' is not in this graph",
                          node.displayName());
    for (const Value* v : inputs)
        if (v && v->graph() != &m_graph)
            return makeStatus(StatusCode::kUsage, "setInputs(): tensor '{}' is not in this graph",
                              v->name());
    std::size_t start = m_pending.size();
    recordWiring(&node, false, inputs);
    finishEdit(start, fmt::format("Set the {} inputs of {}", inputs.size(), quoted(node)));
    return Status::ok();
}

Status Rewriter::replaceAllUsesWith(Value& from, Value& to, bool graphOutputs) {
    if (from.graph() != &m_graph || to.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "replaceAllUsesWith(): value is not in this graph");
    if (&from == &to) return Status::ok();
    std::size_t start = m_pending.size();
    std::string description = fmt::format("Make readers of '{}' read '{}'", from.name(), to.name());
    recordUsesToValue(&from, &to, nullptr);
    if (graphOutputs) {
        const auto& outs = m_graph.outputs();
        for (std::size_t i = 0; i < outs.size(); ++i) {
            if (outs[i] != &from) continue;
            int pos = static_cast<int>(i);
            record(ListOp{GraphList::kOutputs, false, pos, from.name()});
            record(ListOp{GraphList::kOutputs, true, pos, to.name()});
        }
    }
    finishEdit(start, std::move(description));
    return Status::ok();
}

// ---- Attributes --------------------------------------------------------------------------------

Status Rewriter::setAttribute(Node& node, ir::Attribute attribute) {
    if (node.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "node '{}' is not in this graph", node.displayName());
    if (attribute.name.empty()) return makeStatus(StatusCode::kUsage, "an attribute needs a name");
    auto& attrs = node.attributes();
    auto it = std::find_if(attrs.begin(), attrs.end(),
                           [&](const ir::Attribute& a) { return a.name == attribute.name; });
    std::string description =
        fmt::format("Set {}.{} = {}", node.displayName(), attribute.name, attribute.valueString());
    AttributeOp op;
    op.node = node.id();
    op.index = static_cast<int>(it - attrs.begin());
    if (it != attrs.end()) op.before = it->clone();
    op.after = std::move(attribute);
    std::size_t start = m_pending.size();
    record(std::move(op));
    finishEdit(start, std::move(description));
    return Status::ok();
}

Status Rewriter::removeAttribute(Node& node, std::string_view name) {
    if (node.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "node '{}' is not in this graph", node.displayName());
    auto& attrs = node.attributes();
    auto it = std::find_if(attrs.begin(), attrs.end(),
                           [&](const ir::Attribute& a) { return a.name == name; });
    if (it == attrs.end())
        return makeStatus(StatusCode::kUsage, "node '{}' has no attribute '{}'", node.displayName(),
                          name);
    AttributeOp op;
    op.node = node.id();
    op.index = static_cast<int>(it - attrs.begin());
    op.before = it->clone();
    std::size_t start = m_pending.size();
    record(std::move(op));
    finishEdit(start, fmt::format("Remove {}.{}", node.displayName(), name));
    return Status::ok();
}

// ---- Values -------------------------------------------------------------------------------------

Status Rewriter::renameValue(Value& value, std::string name) {
    if (value.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "tensor '{}' is not in this graph", value.name());
    if (name == value.name()) return Status::ok();
    if (!nameIsFree(m_graph, name))
        return makeStatus(StatusCode::kUsage, "cannot rename '{}' to '{}': the name is taken",
                          value.name(), name);
    if (value.isCapture())
        return makeStatus(StatusCode::kUsage,
                          "cannot rename '{}': it names a tensor of an enclosing graph",
                          value.name());
    if (const Node* r = subgraphReader(value.name()))
        return makeStatus(StatusCode::kUsage,
                          "cannot rename '{}': a subgraph of node '{}' reads it by name",
                          value.name(), r->displayName());
    std::string description = fmt::format("Rename '{}' to '{}'", value.name(), name);
    std::size_t start = m_pending.size();
    record(RenameValueOp{value.name(), std::move(name)});
    finishEdit(start, std::move(description));
    return Status::ok();
}

Status Rewriter::setValueType(Value& value, ir::Type type) {
    if (value.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "tensor '{}' is not in this graph", value.name());
    ValueMeta after = metaOf(&value);
    after.type = std::move(type);
    std::string description =
        fmt::format("Set the type of '{}' to {}", value.name(), after.type.toString());
    std::size_t start = m_pending.size();
    record(ValueMetaOp{value.name(), metaOf(&value), std::move(after)});
    finishEdit(start, std::move(description));
    return Status::ok();
}

Status Rewriter::addValueInfo(Value& value, int position) {
    if (value.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "tensor '{}' is not in this graph", value.name());
    if (value.isInValueInfo())
        return makeStatus(StatusCode::kUsage, "'{}' is already in value_info", value.name());
    const int size = static_cast<int>(m_graph.valueInfos().size());
    if (position < 0 || position > size) position = size;
    std::size_t start = m_pending.size();
    record(ListOp{GraphList::kValueInfo, true, position, value.name()});
    finishEdit(start, fmt::format("List '{}' in value_info", value.name()));
    return Status::ok();
}

Status Rewriter::removeValueInfo(Value& value) {
    if (value.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "tensor '{}' is not in this graph", value.name());
    if (!value.isInValueInfo())
        return makeStatus(StatusCode::kUsage, "'{}' is not in value_info", value.name());
    std::size_t start = m_pending.size();
    record(ListOp{GraphList::kValueInfo, false, m_graph.valueInfoPosition(&value), value.name()});
    finishEdit(start, fmt::format("Drop '{}' from value_info", value.name()));
    return Status::ok();
}

Expected<Value*> Rewriter::addValue(std::string name, ir::Type type) {
    if (!nameIsFree(m_graph, name))
        return error(StatusCode::kUsage, "cannot add tensor '{}': the name is taken", name);
    std::string description = fmt::format("Add tensor '{}'", name);
    std::size_t start = m_pending.size();
    record(ValueLifeOp{true, name, ValueMeta{std::move(type), {}, {}, false}});
    finishEdit(start, std::move(description));
    return m_graph.findValue(name);
}

Status Rewriter::eraseUnusedValue(Value& value) {
    if (value.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "tensor '{}' is not in this graph", value.name());
    if (!isUnreferenced(value) || value.sparseInitializer() || value.isCapture())
        return makeStatus(StatusCode::kUsage, "cannot erase '{}': it is still referenced",
                          value.name());
    std::string description = fmt::format("Erase unused tensor '{}'", value.name());
    std::size_t start = m_pending.size();
    recordDropValue(&value);
    finishEdit(start, std::move(description));
    return Status::ok();
}

// ---- Initializers -------------------------------------------------------------------------------

Expected<Value*> Rewriter::addInitializer(std::string name, ir::Tensor tensor) {
    if (!nameIsFree(m_graph, name))
        return error(StatusCode::kUsage, "cannot add initializer '{}': the name is taken", name);
    std::string description = fmt::format("Add initializer '{}'", name);
    std::size_t start = m_pending.size();
    Value* v = recordNewValue(name);
    int position = static_cast<int>(m_graph.initializers().size());
    record(InitializerOp{name, std::nullopt, std::move(tensor), position});
    finishEdit(start, std::move(description));
    return v;
}

Status Rewriter::setInitializer(Value& value, ir::Tensor tensor) {
    if (value.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "tensor '{}' is not in this graph", value.name());
    if (value.producer())
        return makeStatus(StatusCode::kUsage, "'{}' is computed by node '{}': no initializer",
                          value.name(), value.producer()->displayName());
    if (value.isCapture())
        return makeStatus(StatusCode::kUsage, "'{}' belongs to an enclosing graph", value.name());
    std::string description = fmt::format("Set initializer '{}'", value.name());
    std::size_t start = m_pending.size();
    InitializerOp op{value.name(), std::nullopt, std::move(tensor), -1};
    if (value.initializer()) {
        op.before = *value.initializer();
        op.position = m_graph.initializerPosition(&value);
    } else {
        op.position = static_cast<int>(m_graph.initializers().size());
    }
    record(std::move(op));
    finishEdit(start, std::move(description));
    return Status::ok();
}

Status Rewriter::replaceInitializer(Value& value, ir::Tensor tensor) {
    if (value.graph() != &m_graph || !value.initializer())
        return makeStatus(StatusCode::kUsage, "'{}' has no initializer to replace", value.name());
    return setInitializer(value, std::move(tensor));
}

Status Rewriter::removeInitializer(Value& value) {
    if (value.graph() != &m_graph || !value.initializer())
        return makeStatus(StatusCode::kUsage, "'{}' has no initializer to remove", value.name());
    if (value.hasUses() && !value.isGraphInput())
        return makeStatus(StatusCode::kUsage, "cannot remove initializer '{}': node '{}' reads it",
                          value.name(), value.uses().front().node->displayName());
    if (!value.isGraphInput() && !value.hasUses())
        if (const Node* r = subgraphReader(value.name()))
            return makeStatus(StatusCode::kUsage,
                              "cannot remove initializer '{}': a subgraph of '{}' reads it",
                              value.name(), r->displayName());
    std::string description = fmt::format("Remove initializer '{}'", value.name());
    std::size_t start = m_pending.size();
    record(InitializerOp{value.name(), *value.initializer(), std::nullopt,
                         m_graph.initializerPosition(&value)});
    if (isUnreferenced(value) && !value.sparseInitializer() && !value.isCapture())
        recordDropValue(&value);
    finishEdit(start, std::move(description));
    return Status::ok();
}

// ---- Graph inputs and outputs
// ---------------------------------------------------------------------

Status Rewriter::addGraphInput(Value& value, int position) {
    if (value.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "tensor '{}' is not in this graph", value.name());
    const int size = static_cast<int>(m_graph.inputs().size());
    if (position < 0 || position > size) position = size;
    std::size_t start = m_pending.size();
    record(ListOp{GraphList::kInputs, true, position, value.name()});
    finishEdit(start, fmt::format("Add graph input '{}'", value.name()));
    return Status::ok();
}

Status Rewriter::removeGraphInput(int position) {
    if (position < 0 || position >= static_cast<int>(m_graph.inputs().size()))
        return makeStatus(StatusCode::kUsage, "there is no graph input {}", position);
    const std::string name = m_graph.inputs()[static_cast<std::size_t>(position)]->name();
    std::size_t start = m_pending.size();
    record(ListOp{GraphList::kInputs, false, position, name});
    finishEdit(start, fmt::format("Remove graph input '{}'", name));
    return Status::ok();
}

Status Rewriter::addGraphOutput(Value& value, int position) {
    if (value.graph() != &m_graph)
        return makeStatus(StatusCode::kUsage, "tensor '{}' is not in this graph", value.name());
    const int size = static_cast<int>(m_graph.outputs().size());
    if (position < 0 || position > size) position = size;
    std::size_t start = m_pending.size();
    record(ListOp{GraphList::kOutputs, true, position, value.name()});
    finishEdit(start, fmt::format("Add graph output '{}'", value.name()));
    return Status::ok();
}

Status Rewriter::removeGraphOutput(int position) {
    if (position < 0 || position >= static_cast<int>(m_graph.outputs().size()))
        return makeStatus(StatusCode::kUsage, "there is no graph output {}", position);
    const std::string name = m_graph.outputs()[static_cast<std::size_t>(position)]->name();
    std::size_t start = m_pending.size();
    record(ListOp{GraphList::kOutputs, false, position, name});
    finishEdit(start, fmt::format("Remove graph output '{}'", name));
    return Status::ok();
}

}  // namespace wh::rewrite
