#include "core/ir/graph.h"

#include <algorithm>
#include <queue>
#include <unordered_set>

#include <fmt/format.h>

namespace wh::ir {

// ---- Node ----------------------------------------------------------------------------------

Value* Node::input(int i) const {
    return i >= 0 && i < numInputs() ? m_inputs[static_cast<std::size_t>(i)] : nullptr;
}
Value* Node::output(int i) const {
    return i >= 0 && i < numOutputs() ? m_outputs[static_cast<std::size_t>(i)] : nullptr;
}

const Attribute* Node::attribute(std::string_view attrName) const {
    for (const Attribute& a : m_attributes)
        if (a.name == attrName) return &a;
    return nullptr;
}
Attribute* Node::mutableAttribute(std::string_view attrName) {
    for (Attribute& a : m_attributes)
        if (a.name == attrName) return &a;
    return nullptr;
}
int64_t Node::attrInt(std::string_view attrName, int64_t fallback) const {
    const Attribute* a = attribute(attrName);
    return a && a->type == AttrType::kInt ? a->i : fallback;
}
float Node::attrFloat(std::string_view attrName, float fallback) const {
    const Attribute* a = attribute(attrName);
    return a && a->type == AttrType::kFloat ? a->f : fallback;
}
std::vector<int64_t> Node::attrInts(std::string_view attrName) const {
    const Attribute* a = attribute(attrName);
    return a && a->type == AttrType::kInts ? a->ints : std::vector<int64_t>{};
}
std::string Node::attrString(std::string_view attrName, std::string fallback) const {
    const Attribute* a = attribute(attrName);
    return a && a->type == AttrType::kString ? a->s : fallback;
}

std::vector<Graph*> Node::subgraphs() const {
    std::vector<Graph*> out;
    for (const Attribute& a : m_attributes) {
        if (a.g) out.push_back(a.g.get());
        for (const auto& g : a.graphs)
            if (g) out.push_back(g.get());
    }
    return out;
}

std::string Node::displayName() const {
    return name.empty() ? fmt::format("{}#{}", opType, m_id) : name;
}

Node* Node::next() const {
    auto it = std::next(m_self);
    return it == m_graph->m_nodes.end() ? nullptr : it->get();
}
Node* Node::prev() const {
    return m_self == m_graph->m_nodes.begin() ? nullptr : std::prev(m_self)->get();
}

// ---- Graph: reading ------------------------------------------------------------------------

Graph::Graph() = default;
Graph::~Graph() = default;

int Graph::depth() const {
    int d = 0;
    for (const Graph* g = parentGraph(); g; g = g->parentGraph()) ++d;
    return d;
}

std::vector<Node*> Graph::nodeList() const {
    std::vector<Node*> out;
    out.reserve(m_nodes.size());
    for (const auto& n : m_nodes) out.push_back(n.get());
    return out;
}

std::size_t Graph::numNodesRecursive() const {
    std::size_t n = m_nodes.size();
    for (const Node* node : m_subgraphHolders)
        for (Graph* sub : node->subgraphs()) n += sub->numNodesRecursive();
    return n;
}

void Graph::adoptSubgraph(Graph* subgraph, Node* node) {
    WH_ASSERT(node->m_graph == this);
    subgraph->m_parentNode = node;
    if (std::find(m_subgraphHolders.begin(), m_subgraphHolders.end(), node) ==
        m_subgraphHolders.end())
        m_subgraphHolders.push_back(node);
}

Node* Graph::findNode(NodeId id) const {
    auto it = m_nodeById.find(id);
    return it == m_nodeById.end() ? nullptr : it->second;
}

std::vector<Node*> Graph::nodesNamed(std::string_view nodeName) const {
    std::vector<Node*> out;
    if (nodeName.empty()) return out;
    std::lock_guard lock(m_nameIndexMutex);
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!m_nodesByName) {
            m_nodesByName.emplace();
            m_nodesByName->reserve(m_nodes.size());
            for (const auto& n : m_nodes)
                if (!n->name.empty()) m_nodesByName->emplace(n->name, n.get());
        }
        out.clear();
        bool stale = false;
        auto [begin, end] = m_nodesByName->equal_range(std::string(nodeName));
        for (auto it = begin; it != end; ++it) {
            stale = stale || it->second->name != nodeName;
            out.push_back(it->second);
        }
        if (!stale) break;
        m_nodesByName.reset();  // a name was written around setNodeName: index again
    }
    return out;
}

// Drops `node` from the name index under its current name. A node not found there was renamed
// around setNodeName: the index is dropped (built again when next asked).
void Graph::unindexNodeName(Node* node) {
    std::lock_guard lock(m_nameIndexMutex);
    if (!m_nodesByName || node->name.empty()) return;
    auto [begin, end] = m_nodesByName->equal_range(node->name);
    for (auto it = begin; it != end; ++it)
        if (it->second == node) {
            m_nodesByName->erase(it);
            return;
        }
    m_nodesByName.reset();
}

void Graph::setNodeName(Node* node, std::string nodeName) {
    WH_ASSERT(node->m_graph == this);
    unindexNodeName(node);
    node->name = std::move(nodeName);
    std::lock_guard lock(m_nameIndexMutex);
    if (m_nodesByName && !node->name.empty()) m_nodesByName->emplace(node->name, node);
}

Value* Graph::findValue(std::string_view valueName) const {
    auto it = m_valueByName.find(valueName);
    return it == m_valueByName.end() ? nullptr : it->second;
}

Value* Graph::findValueInScope(std::string_view valueName) const {
    for (const Graph* g = this; g; g = g->parentGraph())
        if (Value* v = g->findValue(valueName); v && !v->isCapture()) return v;
    return nullptr;
}

std::vector<Value*> Graph::valueList() const {
    std::vector<Value*> out;
    out.reserve(m_values.size());
    for (const auto& v : m_values) out.push_back(v.get());
    return out;
}

void Graph::reserve(std::size_t nodes, std::size_t values) {
    m_nodeById.reserve(nodes);
    m_valueByName.reserve(values);
}

std::string Graph::uniqueName(std::string_view base) const {
    auto taken = [&](const std::string& n) {
        for (const Graph* g = this; g; g = g->parentGraph())
            if (g->findValue(n)) return true;
        return false;
    };
    std::string candidate(base);
    for (int i = 1; taken(candidate); ++i) candidate = fmt::format("{}_{}", base, i);
    return candidate;
}

// ---- Graph: primitives ---------------------------------------------------------------------

Expected<Value*> Graph::addValue(std::string valueName) {
    if (m_valueByName.count(valueName))
        return error(StatusCode::kBadInput, "tensor '{}' is defined twice", valueName);
    m_values.push_back(std::unique_ptr<Value>(new Value(this, std::move(valueName))));
    Value* v = m_values.back().get();
    v->m_self = std::prev(m_values.end());
    m_valueByName.emplace(v->m_name, v);
    return v;
}

void Graph::eraseValue(Value* value) {
    WH_ASSERT(value->m_graph == this);
    WH_ASSERT(!value->m_producer && value->m_uses.empty() && !value->isGraphInput() &&
              !value->isGraphOutput() && !value->m_inValueInfo && !value->m_initializer &&
              !value->m_sparseInitializer);
    m_valueByName.erase(value->m_name);
    m_values.erase(value->m_self);
}

Status Graph::renameValue(Value* value, std::string newName) {
    if (newName == value->m_name) return Status::ok();
    if (m_valueByName.count(newName))
        return makeStatus(StatusCode::kUsage, "cannot rename '{}' to '{}': the name is taken",
                          value->m_name, newName);
    m_valueByName.erase(value->m_name);
    value->m_name = std::move(newName);
    m_valueByName.emplace(value->m_name, value);
    if (value->m_initializer) value->m_initializer->name = value->m_name;
    return Status::ok();
}

Node* Graph::addNode(std::string opType, std::span<Value* const> inputs,
                     std::span<Value* const> outputs, Node* before, NodeId id) {
    // Ids come from the top-level graph's counter, so that a node inside an If branch or a Loop
    // body never shares its id with a node of another graph of the model: a viewer or a
    // selection can name any node by id alone. (A subgraph filled before it is adopted counts
    // on its own; the importer adopts first.) The local counter still bounds this graph's ids.
    Graph* root = this;
    while (root->m_parentNode) root = root->m_parentNode->m_graph;
    if (id == 0) id = std::max(m_nextNodeId, root->m_nextNodeId);
    WH_ASSERT(!m_nodeById.count(id));
    m_nextNodeId = std::max(m_nextNodeId, id + 1);
    root->m_nextNodeId = std::max(root->m_nextNodeId, id + 1);
    auto where = before ? before->m_self : m_nodes.end();
    auto it = m_nodes.insert(where, std::unique_ptr<Node>(new Node(this, id)));
    Node* node = it->get();
    node->m_self = it;
    node->opType = std::move(opType);
    m_nodeById.emplace(id, node);
    setInputs(node, inputs);
    setOutputs(node, outputs);
    return node;
}

void Graph::removeUse(Value* value, Node* node, int index) {
    auto& uses = value->m_uses;
    auto it = std::find(uses.begin(), uses.end(), Use{node, index});
    WH_ASSERT(it != uses.end());
    *it = uses.back();
    uses.pop_back();
}

void Graph::eraseNode(Node* node) {
    WH_ASSERT(node->m_graph == this);
    setInputs(node, {});
    setOutputs(node, {});
    m_nodeById.erase(node->m_id);
    unindexNodeName(node);
    std::erase(m_subgraphHolders, node);
    m_nodes.erase(node->m_self);
}

void Graph::moveNode(Node* node, Node* before) {
    if (node == before) return;
    auto where = before ? before->m_self : m_nodes.end();
    m_nodes.splice(where, m_nodes, node->m_self);
}

void Graph::setInput(Node* node, int index, Value* value) {
    auto i = static_cast<std::size_t>(index);
    WH_ASSERT(index >= 0 && i < node->m_inputs.size());
    if (Value* old = node->m_inputs[i]) removeUse(old, node, index);
    node->m_inputs[i] = value;
    if (value) value->m_uses.push_back({node, index});
}

void Graph::setInputs(Node* node, std::span<Value* const> inputs) {
    for (std::size_t i = 0; i < node->m_inputs.size(); ++i)
        if (Value* old = node->m_inputs[i]) removeUse(old, node, static_cast<int>(i));
    node->m_inputs.assign(inputs.begin(), inputs.end());
    for (std::size_t i = 0; i < node->m_inputs.size(); ++i)
        if (Value* v = node->m_inputs[i]) v->m_uses.push_back({node, static_cast<int>(i)});
}

void Graph::setOutput(Node* node, int index, Value* value) {
    auto i = static_cast<std::size_t>(index);
    WH_ASSERT(index >= 0 && i < node->m_outputs.size());
    if (Value* old = node->m_outputs[i]) {
        old->m_producer = nullptr;
        old->m_producerOutput = -1;
    }
    node->m_outputs[i] = value;
    if (value) {
        WH_ASSERT(!value->m_producer);
        value->m_producer = node;
        value->m_producerOutput = index;
    }
}

void Graph::setOutputs(Node* node, std::span<Value* const> outputs) {
    for (Value* old : node->m_outputs) {
        if (!old) continue;
        old->m_producer = nullptr;
        old->m_producerOutput = -1;
    }
    node->m_outputs.assign(outputs.begin(), outputs.end());
    for (std::size_t i = 0; i < node->m_outputs.size(); ++i) {
        Value* v = node->m_outputs[i];
        if (!v) continue;
        WH_ASSERT(!v->m_producer);
        v->m_producer = node;
        v->m_producerOutput = static_cast<int>(i);
    }
}

void Graph::replaceAllUsesWith(Value* from, Value* to) {
    if (from == to) return;
    std::vector<Use> uses = from->m_uses;
    for (const Use& u : uses) setInput(u.node, u.input, to);
}

namespace {
void insertAt(std::vector<Value*>& list, Value* v, int position) {
    if (position < 0 || static_cast<std::size_t>(position) > list.size())
        list.push_back(v);
    else
        list.insert(list.begin() + position, v);
}
int positionOf(const std::vector<Value*>& list, const Value* v) {
    auto it = std::find(list.begin(), list.end(), v);
    return it == list.end() ? -1 : static_cast<int>(it - list.begin());
}
}  // namespace

void Graph::insertGraphInput(Value* value, int position) {
    insertAt(m_inputs, value, position);
    ++value->m_inputCount;
}
void Graph::eraseGraphInput(int position) {
    WH_ASSERT(position >= 0 && static_cast<std::size_t>(position) < m_inputs.size());
    --m_inputs[static_cast<std::size_t>(position)]->m_inputCount;
    m_inputs.erase(m_inputs.begin() + position);
}
void Graph::insertGraphOutput(Value* value, int position) {
    insertAt(m_outputs, value, position);
    ++value->m_outputCount;
}
void Graph::eraseGraphOutput(int position) {
    WH_ASSERT(position >= 0 && static_cast<std::size_t>(position) < m_outputs.size());
    --m_outputs[static_cast<std::size_t>(position)]->m_outputCount;
    m_outputs.erase(m_outputs.begin() + position);
}
void Graph::setGraphOutput(int position, Value* value) {
    WH_ASSERT(position >= 0 && static_cast<std::size_t>(position) < m_outputs.size());
    --m_outputs[static_cast<std::size_t>(position)]->m_outputCount;
    m_outputs[static_cast<std::size_t>(position)] = value;
    ++value->m_outputCount;
}

void Graph::setInitializer(Value* value, Tensor tensor, int position) {
    tensor.name = value->m_name;
    if (!value->m_initializer) insertAt(m_initializers, value, position);
    value->m_initializer = std::make_unique<Tensor>(std::move(tensor));
}
std::unique_ptr<Tensor> Graph::takeInitializer(Value* value) {
    if (!value->m_initializer) return nullptr;
    m_initializers.erase(m_initializers.begin() + positionOf(m_initializers, value));
    return std::move(value->m_initializer);
}
void Graph::setSparseInitializer(Value* value, SparseTensor tensor, int position) {
    if (!value->m_sparseInitializer) insertAt(m_sparseInitializers, value, position);
    value->m_sparseInitializer = std::make_unique<SparseTensor>(std::move(tensor));
}
std::unique_ptr<SparseTensor> Graph::takeSparseInitializer(Value* value) {
    if (!value->m_sparseInitializer) return nullptr;
    m_sparseInitializers.erase(m_sparseInitializers.begin() +
                               positionOf(m_sparseInitializers, value));
    return std::move(value->m_sparseInitializer);
}
int Graph::initializerPosition(const Value* value) const {
    return positionOf(m_initializers, value);
}
int Graph::sparseInitializerPosition(const Value* value) const {
    return positionOf(m_sparseInitializers, value);
}

void Graph::insertValueInfo(Value* value, int position) {
    WH_ASSERT(!value->m_inValueInfo);
    insertAt(m_valueInfos, value, position);
    value->m_inValueInfo = true;
}
void Graph::eraseValueInfo(Value* value) {
    int pos = positionOf(m_valueInfos, value);
    if (pos < 0) return;
    m_valueInfos.erase(m_valueInfos.begin() + pos);
    value->m_inValueInfo = false;
}
int Graph::valueInfoPosition(const Value* value) const {
    return positionOf(m_valueInfos, value);
}

// ---- Whole-graph operations ----------------------------------------------------------------

std::unique_ptr<Graph> Graph::clone(const std::function<bool()>& cancelled) const {
    std::size_t work = 0;
    auto stop = [&] { return cancelled && ++work % 1024 == 0 && cancelled(); };
    auto g = std::make_unique<Graph>();
    g->name = name;
    g->docString = docString;
    g->presence = presence;
    g->quantizationAnnotations = quantizationAnnotations;
    g->m_nextNodeId = m_nextNodeId;
    std::unordered_map<const Value*, Value*> map;
    map.reserve(m_values.size());
    for (const auto& v : m_values) {
        if (stop()) return nullptr;
        Value* c = *g->addValue(v->m_name);
        c->type = v->type;
        c->docString = v->docString;
        c->presence = v->presence;
        c->m_isCapture = v->m_isCapture;
        if (v->m_initializer) c->m_initializer = std::make_unique<Tensor>(*v->m_initializer);
        if (v->m_sparseInitializer)
            c->m_sparseInitializer = std::make_unique<SparseTensor>(*v->m_sparseInitializer);
        map.emplace(v.get(), c);
    }
    auto mapList = [&](const std::vector<Value*>& src) {
        std::vector<Value*> out;
        out.reserve(src.size());
        for (Value* v : src) out.push_back(map.at(v));
        return out;
    };
    for (Value* v : m_inputs) g->insertGraphInput(map.at(v));
    for (Value* v : m_outputs) g->insertGraphOutput(map.at(v));
    g->m_initializers = mapList(m_initializers);
    g->m_sparseInitializers = mapList(m_sparseInitializers);
    for (Value* v : m_valueInfos) g->insertValueInfo(map.at(v));
    std::vector<Value*> ins, outs;
    for (const auto& n : m_nodes) {
        if (stop()) return nullptr;
        ins.clear();
        outs.clear();
        for (Value* v : n->m_inputs) ins.push_back(v ? map.at(v) : nullptr);
        for (Value* v : n->m_outputs) outs.push_back(v ? map.at(v) : nullptr);
        Node* c = g->addNode(n->opType, ins, outs, nullptr, n->m_id);
        c->name = n->name;
        c->domain = n->domain;
        c->docString = n->docString;
        c->presence = n->presence;
        for (const Attribute& a : n->m_attributes) c->m_attributes.push_back(a.clone());
        for (Graph* sub : c->subgraphs()) g->adoptSubgraph(sub, c);
    }
    return g;
}

bool Graph::isTopologicallySorted() const {
    // NodeIds are dense (a counter), so a flat vector beats a hash set on big graphs.
    std::vector<char> seen(static_cast<std::size_t>(m_nextNodeId), 0);
    for (const auto& n : m_nodes) {
        for (Value* v : n->m_inputs)
            if (v && v->m_producer && !seen[static_cast<std::size_t>(v->m_producer->m_id)])
                return false;
        seen[static_cast<std::size_t>(n->m_id)] = 1;
    }
    return true;
}

Status Graph::sortTopologically() {
    for (const auto& n : m_nodes)
        for (Graph* sub : n->subgraphs()) WH_RETURN_STATUS_IF_ERROR(sub->sortTopologically());
    if (isTopologicallySorted()) return Status::ok();
    // Kahn's algorithm with a min-heap on the original position: stable where possible.
    std::unordered_map<const Node*, std::size_t> position;
    std::vector<Node*> order = nodeList();
    for (std::size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
    std::unordered_map<const Node*, int> pending;
    for (Node* n : order) {
        int count = 0;
        for (Value* v : n->m_inputs)
            if (v && v->m_producer) ++count;
        pending[n] = count;
    }
    std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> ready;
    for (Node* n : order)
        if (pending[n] == 0) ready.push(position[n]);
    std::vector<Node*> sorted;
    sorted.reserve(order.size());
    while (!ready.empty()) {
        Node* n = order[ready.top()];
        ready.pop();
        sorted.push_back(n);
        for (Value* out : n->m_outputs) {
            if (!out) continue;
            for (const Use& u : out->m_uses)
                if (--pending[u.node] == 0) ready.push(position[u.node]);
        }
    }
    if (sorted.size() != order.size()) {
        for (Node* n : order)
            if (pending[n] > 0)
                return makeStatus(StatusCode::kBadInput,
                                  "the graph has a cycle through node '{}' ({})", n->displayName(),
                                  n->opType);
    }
    for (Node* n : sorted) m_nodes.splice(m_nodes.end(), m_nodes, n->m_self);
    return Status::ok();
}

Status Graph::validate() const {
    std::unordered_set<const Node*> seen;
    seen.reserve(m_nodes.size());
    auto defined = [&](const Value* v) {
        if (v->isGraphInput() || v->m_initializer || v->m_sparseInitializer) return true;
        if (v->m_isCapture) return parentGraph() && parentGraph()->findValueInScope(v->m_name);
        return v->m_producer != nullptr;
    };
    for (const auto& n : m_nodes) {
        for (Value* v : n->m_inputs) {
            if (!v) continue;
            if (!defined(v))
                return makeStatus(StatusCode::kBadInput,
                                  "node '{}' ({}) reads tensor '{}', which nothing defines",
                                  n->displayName(), n->opType, v->m_name);
            if (v->m_producer && !seen.count(v->m_producer)) {
                return makeStatus(StatusCode::kBadInput,
                                  "node '{}' ({}) reads tensor '{}' before node '{}' produces it",
                                  n->displayName(), n->opType, v->m_name,
                                  v->m_producer->displayName());
            }
        }
        for (Graph* sub : n->subgraphs()) {
            if (sub->m_parentNode != n.get() ||
                std::find(m_subgraphHolders.begin(), m_subgraphHolders.end(), n.get()) ==
                    m_subgraphHolders.end())
                return makeStatus(StatusCode::kInternal,
                                  "a subgraph of node '{}' ({}) was attached without "
                                  "Graph::adoptSubgraph",
                                  n->displayName(), n->opType);
            WH_RETURN_STATUS_IF_ERROR(sub->validate());
        }
        seen.insert(n.get());
    }
    for (Value* v : m_outputs)
        if (!defined(v))
            return makeStatus(StatusCode::kBadInput, "graph output '{}' is never produced",
                              v->m_name);
    return Status::ok();
}

// ---- Free functions ------------------------------------------------------------------------

const Tensor* constantTensor(const Value* value) {
    if (!value) return nullptr;
    if (value->initializer()) return value->initializer();
    const Node* p = value->producer();
    if (p && p->opType == "Constant" && (p->domain.empty() || p->domain == "ai.onnx")) {
        const Attribute* a = p->attribute("value");
        if (a && a->t) return &*a->t;
    }
    return nullptr;
}

bool isParameter(const Value* value) {
    const Tensor* t = constantTensor(value);
    if (!t) return false;
    // An initializer that is also a graph input is a default the user may override: not fixed.
    if (value->isGraphInput()) return false;
    switch (t->dtype) {
        case DType::kFloat:
        case DType::kFloat16:
        case DType::kBFloat16:
        case DType::kDouble:
            return t->numElements() > 1;
        default:
            return false;
    }
}

bool isDefaultDomain(std::string_view domain) {
    return domain.empty() || domain == "ai.onnx";
}

bool isOnnxOp(const Node& node, std::string_view opType) {
    return node.opType == opType && isDefaultDomain(node.domain);
}

// ---- Model ---------------------------------------------------------------------------------

Model::Model() : graph(std::make_unique<Graph>()) {}
Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

int64_t Model::opsetVersion(std::string_view d) const {
    auto norm = [](std::string_view s) { return s == "ai.onnx" ? std::string_view() : s; };
    for (const OpsetId& o : opsetImports)
        if (norm(o.domain) == norm(d)) return o.version;
    return 0;
}

Model Model::clone() const {
    return *cloneUnlessCancelled({});
}

std::optional<Model> Model::cloneUnlessCancelled(const std::function<bool()>& cancelled) const {
    Model m;
    m.irVersion = irVersion;
    m.opsetImports = opsetImports;
    m.producerName = producerName;
    m.producerVersion = producerVersion;
    m.domain = domain;
    m.modelVersion = modelVersion;
    m.docString = docString;
    m.metadataProps = metadataProps;
    m.graph = nullptr;
    if (graph) {
        m.graph = graph->clone(cancelled);
        if (!m.graph) return std::nullopt;
    }
    for (const Function& f : functions) {
        Function c;
        c.name = f.name;
        c.domain = f.domain;
        c.attributes = f.attributes;
        c.opsetImports = f.opsetImports;
        c.docString = f.docString;
        c.body = f.body ? f.body->clone() : nullptr;
        c.presence = f.presence;
        m.functions.push_back(std::move(c));
    }
    m.trainingInfo = trainingInfo;
    m.presence = presence;
    return m;
}

}  // namespace wh::ir
