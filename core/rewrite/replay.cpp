// Rewriter::replay(): applying a step another Rewriter recorded (a job's, on a clone of this
// graph) as a new, checked step here. See the contract in rewriter.h.

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/rewrite/rewriter.h"

namespace wh::rewrite {

using ir::Node;
using ir::Value;

namespace {

Status moved(const std::string& what) {
    return Status(StatusCode::kBadInput, what);
}

std::string refString(const ValueRef& r) {
    return r ? fmt::format("'{}'", *r) : std::string("<none>");
}

std::string refsString(const std::vector<ValueRef>& refs) {
    std::string out = "[";
    for (std::size_t i = 0; i < refs.size(); ++i) out += (i ? ", " : "") + refString(refs[i]);
    return out + "]";
}

std::vector<ValueRef> refsOf(const std::vector<Value*>& values) {
    std::vector<ValueRef> out;
    out.reserve(values.size());
    for (const Value* v : values) out.push_back(v ? ValueRef(v->name()) : std::nullopt);
    return out;
}

std::string nodeName(const Node& n) {
    return fmt::format("{} '{}' (id {})", n.opType, n.displayName(), n.id());
}

bool sameBytes(const ir::Tensor& a, const ir::Tensor& b) {
    if (a.data == b.data) return true;
    const std::size_t n = a.byteSize();
    return n == b.byteSize() && (n == 0 || std::memcmp(a.data->data(), b.data->data(), n) == 0);
}

// What a tensor holds: type, dims and elements (not its name, doc string or storage form).
bool sameTensor(const ir::Tensor& a, const ir::Tensor& b) {
    return a.dtype == b.dtype && a.dims == b.dims && a.strings == b.strings && sameBytes(a, b);
}

bool sameSparse(const ir::SparseTensor& a, const ir::SparseTensor& b) {
    return a.dims == b.dims && sameTensor(a.values, b.values) && sameTensor(a.indices, b.indices);
}

bool sameType(const ir::Type& a, const ir::Type& b) {
    if (a.kind != b.kind || a.elemType != b.elemType || a.keyType != b.keyType ||
        a.opaqueDomain != b.opaqueDomain || a.opaqueName != b.opaqueName ||
        a.denotation != b.denotation || a.shape.has_value() != b.shape.has_value())
        return false;
    if (a.shape) {
        if (a.shape->dims.size() != b.shape->dims.size()) return false;
        for (std::size_t i = 0; i < a.shape->dims.size(); ++i) {
            const ir::Dim &x = a.shape->dims[i], &y = b.shape->dims[i];
            if (x.kind != y.kind || x.value != y.value || x.param != y.param ||
                x.denotation != y.denotation)
                return false;
        }
    }
    if (!a.elem != !b.elem) return false;
    return !a.elem || sameType(*a.elem, *b.elem);
}

bool sameFloats(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() &&
           (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Subgraphs are compared by their node count only: a full structural comparison of nested
// graphs is not worth it for the checks replay makes (and undo stays exact anyway, since the
// recorded "before" is this graph's own attribute).
bool sameGraph(const ir::Graph* a, const ir::Graph* b) {
    if (!a || !b) return a == b;
    return a->numNodesRecursive() == b->numNodesRecursive();
}

bool sameAttribute(const ir::Attribute& a, const ir::Attribute& b) {
    if (a.name != b.name || a.type != b.type || a.refAttrName != b.refAttrName ||
        std::memcmp(&a.f, &b.f, sizeof(float)) != 0 || a.i != b.i || a.s != b.s ||
        !sameFloats(a.floats, b.floats) || a.ints != b.ints || a.strings != b.strings ||
        a.t.has_value() != b.t.has_value() || (a.t && !sameTensor(*a.t, *b.t)) ||
        a.sparseTensor.has_value() != b.sparseTensor.has_value() ||
        (a.sparseTensor && !sameSparse(*a.sparseTensor, *b.sparseTensor)) ||
        a.tp.has_value() != b.tp.has_value() || (a.tp && !sameType(*a.tp, *b.tp)) ||
        !sameGraph(a.g.get(), b.g.get()) || a.tensors.size() != b.tensors.size() ||
        a.graphs.size() != b.graphs.size() || a.sparseTensors.size() != b.sparseTensors.size() ||
        a.typeProtos.size() != b.typeProtos.size())
        return false;
    for (std::size_t i = 0; i < a.tensors.size(); ++i)
        if (!sameTensor(a.tensors[i], b.tensors[i])) return false;
    for (std::size_t i = 0; i < a.graphs.size(); ++i)
        if (!sameGraph(a.graphs[i].get(), b.graphs[i].get())) return false;
    for (std::size_t i = 0; i < a.sparseTensors.size(); ++i)
        if (!sameSparse(a.sparseTensors[i], b.sparseTensors[i])) return false;
    for (std::size_t i = 0; i < a.typeProtos.size(); ++i)
        if (!sameType(a.typeProtos[i], b.typeProtos[i])) return false;
    return true;
}

bool sameAttributes(const std::vector<ir::Attribute>& a, const std::vector<ir::Attribute>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!sameAttribute(a[i], b[i])) return false;
    return true;
}

NodeState copyState(const NodeState& s) {
    NodeState c;
    c.id = s.id;
    c.opType = s.opType;
    c.domain = s.domain;
    c.name = s.name;
    c.docString = s.docString;
    c.presence = s.presence;
    for (const ir::Attribute& a : s.attributes) c.attributes.push_back(a.clone());
    c.inputs = s.inputs;
    c.outputs = s.outputs;
    c.before = s.before;
    return c;
}

NodeState stateOf(const Node& n) {
    NodeState s;
    s.id = n.id();
    s.opType = n.opType;
    s.domain = n.domain;
    s.name = n.name;
    s.docString = n.docString;
    s.presence = n.presence;
    for (const ir::Attribute& a : n.attributes()) s.attributes.push_back(a.clone());
    s.inputs = refsOf(n.inputs());
    s.outputs = refsOf(n.outputs());
    s.before = n.next() ? n.next()->id() : 0;
    return s;
}

std::optional<ir::Attribute> cloneOf(const std::optional<ir::Attribute>& a) {
    if (!a) return std::nullopt;
    return a->clone();
}

// A deep copy of an op (Attributes are move-only).
EditOp copyOp(const EditOp& op) {
    return std::visit(
        [](const auto& o) -> EditOp {
            using T = std::decay_t<decltype(o)>;
            if constexpr (std::is_same_v<T, NodeLifeOp>) {
                return NodeLifeOp{o.add, copyState(o.state)};
            } else if constexpr (std::is_same_v<T, AttributeOp>) {
                return AttributeOp{o.node, o.index, cloneOf(o.before), cloneOf(o.after)};
            } else {
                return o;
            }
        },
        op);
}

ValueMeta metaOf(const Value& v) {
    return {v.type, v.docString, v.presence, v.isCapture()};
}

// Checks `op` against `rw`'s graph in its current state and replaces the op's "before" side by
// this graph's own state (see Rewriter::replay). `erased`: ids of nodes erased earlier in the
// step (they may come back under the same id).
class ReplayChecker {
public:
    ReplayChecker(const Rewriter& rw, ir::NodeId firstFreeId)
        : m_rw(rw), m_g(rw.graph()), m_firstFreeId(firstFreeId) {}

    Status check(EditOp& op) {
        return std::visit([&](auto& o) { return checkOp(o); }, op);
    }

private:
    const Value* value(const std::string& name) const { return m_g.findValue(name); }

    Status needValue(const std::string& name, const char* role) const {
        if (!value(name)) return moved(fmt::format("tensor '{}' ({}) does not exist", name, role));
        return Status::ok();
    }
    Status needValues(const std::vector<ValueRef>& refs, const char* role) const {
        for (const ValueRef& r : refs)
            if (r) WH_RETURN_STATUS_IF_ERROR(needValue(*r, role));
        return Status::ok();
    }
    // Outputs `refs` may be given to node `node` (0 = a new node): each exists, has no other
    // producer and appears once.
    Status canProduce(const std::vector<ValueRef>& refs, ir::NodeId node,
                      const std::string& who) const {
        for (std::size_t i = 0; i < refs.size(); ++i) {
            if (!refs[i]) continue;
            const Value* v = value(*refs[i]);
            if (!v) return moved(fmt::format("{}: output '{}' does not exist", who, *refs[i]));
            if (v->producer() && v->producer()->id() != node)
                return moved(fmt::format("{}: output '{}' is already produced by {}", who, *refs[i],
                                         nodeName(*v->producer())));
            if (v->hasInitializer() || v->isGraphInput() || v->isCapture())
                return moved(fmt::format(
                    "{}: output '{}' is now an initializer, graph input or outer tensor", who,
                    *refs[i]));
            for (std::size_t j = 0; j < i; ++j)
                if (refs[j] == refs[i])
                    return moved(fmt::format("{}: output '{}' listed twice", who, *refs[i]));
        }
        return Status::ok();
    }
    Status findNode(ir::NodeId id, const char* what, Node** out) const {
        *out = m_g.findNode(id);
        if (!*out) return moved(fmt::format("node id {} ({}) does not exist", id, what));
        return Status::ok();
    }
    bool nameIsFree(const std::string& name) const {
        return !name.empty() && m_g.uniqueName(name) == name;
    }

    Status checkOp(ValueLifeOp& o) {
        if (o.add) {
            if (!nameIsFree(o.name))
                return moved(fmt::format("tensor '{}' to create exists already", o.name));
            return Status::ok();
        }
        const Value* v = value(o.name);
        if (!v) return moved(fmt::format("tensor '{}' to erase does not exist", o.name));
        if (!m_rw.isUnreferenced(*v) || v->sparseInitializer() || v->isInValueInfo())
            return moved(fmt::format("tensor '{}' to erase is still referenced", o.name));
        o.meta = metaOf(*v);
        return Status::ok();
    }

    Status checkOp(NodeLifeOp& o) {
        NodeState& s = o.state;
        if (o.add) {
            const std::string who = fmt::format("new {} '{}' (id {})", s.opType, s.name, s.id);
            if (s.id == 0) return moved(fmt::format("{} has no id", who));
            if (const Node* n = m_g.findNode(s.id))
                return moved(fmt::format("{}: the id is taken by {}", who, nodeName(*n)));
            if (s.id < m_firstFreeId && !m_erased.count(s.id))
                return moved(fmt::format(
                    "{}: this graph handed out that id already (it has had nodes the step's "
                    "graph did not know)",
                    who));
            WH_RETURN_STATUS_IF_ERROR(needValues(s.inputs, "input of a new node"));
            WH_RETURN_STATUS_IF_ERROR(canProduce(s.outputs, 0, who));
            if (s.before != 0 && !m_g.findNode(s.before))
                return moved(
                    fmt::format("{}: node id {} to place it before does not exist", who, s.before));
            return Status::ok();
        }
        Node* n = nullptr;
        WH_RETURN_STATUS_IF_ERROR(findNode(s.id, "to erase", &n));
        const std::string who = fmt::format("{} to erase", nodeName(*n));
        if (n->opType != s.opType || n->domain != s.domain)
            return moved(fmt::format("{}: it is no longer {}", who, s.opType));
        if (refsOf(n->inputs()) != s.inputs)
            return moved(fmt::format("{}: its inputs are {}, expected {}", who,
                                     refsString(refsOf(n->inputs())), refsString(s.inputs)));
        if (refsOf(n->outputs()) != s.outputs)
            return moved(fmt::format("{}: its outputs are {}, expected {}", who,
                                     refsString(refsOf(n->outputs())), refsString(s.outputs)));
        if (!sameAttributes(n->attributes(), s.attributes))
            return moved(fmt::format("{}: its attributes changed", who));
        s = stateOf(*n);
        m_erased.insert(s.id);
        return Status::ok();
    }

    Status checkOp(NodeWiringOp& o) {
        Node* n = nullptr;
        WH_RETURN_STATUS_IF_ERROR(findNode(o.node, "to rewire", &n));
        const char* what = o.outputs ? "outputs" : "inputs";
        std::vector<ValueRef> now = refsOf(o.outputs ? n->outputs() : n->inputs());
        if (now != o.before)
            return moved(fmt::format("{}: its {} are {}, expected {}", nodeName(*n), what,
                                     refsString(now), refsString(o.before)));
        if (o.outputs) return canProduce(o.after, n->id(), nodeName(*n));
        return needValues(o.after, "new input");
    }

    Status checkOp(NodeFieldsOp& o) {
        Node* n = nullptr;
        WH_RETURN_STATUS_IF_ERROR(findNode(o.node, "to change", &n));
        const NodeFields& b = o.before;
        if (n->name != b.name || n->opType != b.opType || n->domain != b.domain ||
            n->docString != b.docString)
            return moved(
                fmt::format("{}: its name, op type, domain or doc string changed "
                            "(expected {} '{}')",
                            nodeName(*n), b.opType, b.name));
        return Status::ok();
    }

    Status checkOp(AttributeOp& o) {
        Node* n = nullptr;
        WH_RETURN_STATUS_IF_ERROR(findNode(o.node, "to change an attribute of", &n));
        auto& attrs = n->attributes();
        const int size = static_cast<int>(attrs.size());
        const std::string& name = o.before ? o.before->name : o.after->name;
        if (o.before) {
            if (o.index < 0 || o.index >= size || !sameAttribute(attrs[o.index], *o.before))
                return moved(
                    fmt::format("{}: attribute '{}' is not as the step found it (at "
                                "position {})",
                                nodeName(*n), name, o.index));
            o.before = attrs[o.index].clone();
            return Status::ok();
        }
        if (o.index < 0 || o.index > size)
            return moved(fmt::format("{}: has {} attributes, no position {} for '{}'", nodeName(*n),
                                     size, o.index, name));
        if (n->attribute(name))
            return moved(fmt::format("{}: has attribute '{}' already", nodeName(*n), name));
        return Status::ok();
    }

    Status checkOp(MoveNodeOp& o) {
        Node* n = nullptr;
        WH_RETURN_STATUS_IF_ERROR(findNode(o.node, "to move", &n));
        if (o.beforeNew != 0 && !m_g.findNode(o.beforeNew))
            return moved(fmt::format("{}: node id {} to move it before does not exist",
                                     nodeName(*n), o.beforeNew));
        o.beforeOld = n->next() ? n->next()->id() : 0;
        return Status::ok();
    }

    Status checkOp(RenameValueOp& o) {
        const Value* v = value(o.oldName);
        if (!v) return moved(fmt::format("tensor '{}' to rename does not exist", o.oldName));
        if (!nameIsFree(o.newName))
            return moved(fmt::format("cannot rename '{}': '{}' is taken", o.oldName, o.newName));
        if (v->isCapture())
            return moved(fmt::format("cannot rename '{}': it is an outer tensor", o.oldName));
        if (const Node* r = m_rw.subgraphReader(o.oldName))
            return moved(fmt::format("cannot rename '{}': a subgraph of {} reads it", o.oldName,
                                     nodeName(*r)));
        return Status::ok();
    }

    Status checkOp(ValueMetaOp& o) {
        const Value* v = value(o.name);
        if (!v) return moved(fmt::format("tensor '{}' does not exist", o.name));
        if (!sameType(v->type, o.before.type) || v->docString != o.before.docString)
            return moved(fmt::format("tensor '{}' is {}, expected {}", o.name, v->type.toString(),
                                     o.before.type.toString()));
        o.before = metaOf(*v);
        return Status::ok();
    }

    Status checkOp(ListOp& o) {
        const Value* v = value(o.name);
        if (!v) return moved(fmt::format("tensor '{}' does not exist", o.name));
        const char* listName = o.list == GraphList::kInputs    ? "graph input"
                               : o.list == GraphList::kOutputs ? "graph output"
                                                               : "value_info";
        if (o.list == GraphList::kValueInfo) {
            if (o.insert == v->isInValueInfo())
                return moved(fmt::format("tensor '{}' is {} value_info", o.name,
                                         o.insert ? "in" : "not in"));
            const int size = static_cast<int>(m_g.valueInfos().size());
            o.position = o.insert ? std::clamp(o.position, 0, size) : m_g.valueInfoPosition(v);
            return Status::ok();
        }
        const auto& list = o.list == GraphList::kInputs ? m_g.inputs() : m_g.outputs();
        const int size = static_cast<int>(list.size());
        if (o.insert) {
            if (o.position < 0 || o.position > size)
                return moved(fmt::format("there is no {} position {} for '{}' ({} listed)",
                                         listName, o.position, o.name, size));
        } else if (o.position < 0 || o.position >= size ||
                   list[static_cast<std::size_t>(o.position)] != v) {
            return moved(fmt::format("{} {} is not '{}'", listName, o.position, o.name));
        }
        return Status::ok();
    }

    Status checkOp(InitializerOp& o) {
        const Value* v = value(o.name);
        if (!v) return moved(fmt::format("initializer '{}' does not exist", o.name));
        if (v->producer())
            return moved(fmt::format("'{}' is computed by {}: no initializer", o.name,
                                     nodeName(*v->producer())));
        if (v->isCapture()) return moved(fmt::format("'{}' belongs to an enclosing graph", o.name));
        const ir::Tensor* now = v->initializer();
        if (!o.before) {
            if (now) return moved(fmt::format("tensor '{}' has an initializer already", o.name));
            const int size = static_cast<int>(m_g.initializers().size());
            o.position = std::clamp(o.position, 0, size);
            return Status::ok();
        }
        if (!now) return moved(fmt::format("tensor '{}' has no initializer any more", o.name));
        if (now->dtype != o.before->dtype || now->dims != o.before->dims)
            return moved(fmt::format("initializer '{}' is {}{}, the step expected {}{}", o.name,
                                     ir::dtypeName(now->dtype), fmt::join(now->dims, "x"),
                                     ir::dtypeName(o.before->dtype),
                                     fmt::join(o.before->dims, "x")));
        if (!sameTensor(*now, *o.before))
            return moved(
                fmt::format("initializer '{}' holds other values than the step expected "
                            "(it was changed since)",
                            o.name));
        o.before = *now;
        o.position = m_g.initializerPosition(v);
        return Status::ok();
    }

    const Rewriter& m_rw;
    const ir::Graph& m_g;
    ir::NodeId m_firstFreeId;
    std::unordered_set<ir::NodeId> m_erased;
};

}  // namespace

Status Rewriter::replay(const Step& step) {
    // Copy first: `step` may live in this very log, which recording a step changes.
    std::vector<EditOp> ops;
    ops.reserve(step.ops.size());
    for (const EditOp& op : step.ops) ops.push_back(copyOp(op));
    std::string description = step.description;
    std::vector<std::string> details = step.details;

    const std::size_t start = m_pending.size();
    ReplayChecker checker(*this, m_graph.nextNodeId());
    for (std::size_t i = 0; i < ops.size(); ++i) {
        Status s = checker.check(ops[i]);
        if (!s.isOk()) {
            rollbackTo(start);
            return Status(StatusCode::kBadInput,
                          fmt::format("cannot apply '{}' here (change {} of {}): {}", description,
                                      i + 1, ops.size(), s.message()));
        }
        record(std::move(ops[i]));
    }
    if (m_pending.size() == start) return Status::ok();
    if (!m_groups.empty()) {
        m_details.push_back(std::move(description));
        for (std::string& d : details) m_details.push_back("  " + d);
        return Status::ok();
    }
    m_log.m_steps.resize(m_log.m_cursor);
    m_log.m_steps.push_back(Step{std::move(description), std::move(details), std::move(m_pending)});
    m_pending.clear();
    ++m_log.m_cursor;
    notify([&](Listener& l) { l.stepCommitted(m_log.m_steps.back()); });
    return Status::ok();
}

}  // namespace wh::rewrite
