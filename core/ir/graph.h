#pragma once
/// Graph, Node and Value: Whittle's own model of an ONNX graph.
///
/// The Graph owns its nodes and values; Node and Value can only be created through it. Names are
/// unique per graph (ONNX's SSA rule); an omitted optional input or output is a null Value*.
/// A Node* stays valid until that node is erased; keep a NodeId to refer to a node across undo
/// or threads. Node order is kept exactly as read so exports are lossless.
///
/// The mutating members below are *primitives*: rewrite::Rewriter wraps each with an undo record
/// and listener events, and every user-visible edit must go through it. Importers and tests that
/// build graphs from scratch may call the primitives directly.
///
/// Thread-safety: none. A background job works on its own clone().

#include <cstdint>
#include <functional>
#include <iterator>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/ir/attribute.h"
#include "core/ir/presence.h"
#include "core/ir/tensor.h"
#include "core/ir/type.h"
#include "core/util/status.h"

namespace wh::ir {

class Graph;
class Node;

/// Stable node identity within one graph; never reused by a later node (undo restores it).
/// Nodes of subgraphs adopted before they are filled (as the importer does) draw their ids from
/// the top-level graph's counter, so an id names one node of the whole model.
using NodeId = uint64_t;

/// A use of a value: `node->inputs()[input] == value`.
struct Use {
    Node* node;
    int input;
    bool operator==(const Use&) const = default;
};

/// A named tensor (or other ONNX value) flowing between nodes.
class Value {
public:
    const std::string& name() const { return m_name; }
    Graph* graph() const { return m_graph; }
    /// The node computing this value, or null (graph input, initializer, capture, undefined).
    Node* producer() const { return m_producer; }
    int producerOutput() const { return m_producerOutput; }
    /// Every node input reading this value, in no particular order. Uses inside subgraphs are
    /// recorded on the subgraph's capture value, not here.
    const std::vector<Use>& uses() const { return m_uses; }
    bool hasUses() const { return !m_uses.empty(); }

    bool isGraphInput() const { return m_inputCount > 0; }
    bool isGraphOutput() const { return m_outputCount > 0; }
    bool isInValueInfo() const { return m_inValueInfo; }
    /// A name defined by an enclosing graph and read inside this subgraph.
    bool isCapture() const { return m_isCapture; }

    bool hasInitializer() const { return m_initializer != nullptr; }
    const Tensor* initializer() const { return m_initializer.get(); }
    Tensor* mutableInitializer() { return m_initializer.get(); }
    const SparseTensor* sparseInitializer() const { return m_sparseInitializer.get(); }

    /// ValueInfoProto fields (from graph input/output/value_info entries).
    Type type;
    std::string docString;
    Presence presence;

private:
    friend class Graph;
    explicit Value(Graph* graph, std::string name) : m_graph(graph), m_name(std::move(name)) {}

    Graph* m_graph;
    std::string m_name;
    Node* m_producer = nullptr;
    int m_producerOutput = -1;
    std::vector<Use> m_uses;
    int m_inputCount = 0;
    int m_outputCount = 0;
    bool m_inValueInfo = false;
    bool m_isCapture = false;
    std::unique_ptr<Tensor> m_initializer;
    std::unique_ptr<SparseTensor> m_sparseInitializer;
    std::list<std::unique_ptr<Value>>::iterator m_self;
};

/// One operator application.
class Node {
public:
    NodeId id() const { return m_id; }
    Graph* graph() const { return m_graph; }

    std::string name;
    std::string opType;
    std::string domain;  ///< "" or "ai.onnx" = the default ONNX domain
    std::string docString;
    Presence presence;

    const std::vector<Value*>& inputs() const { return m_inputs; }
    const std::vector<Value*>& outputs() const { return m_outputs; }
    /// Null when absent (omitted optional input or index past the end).
    Value* input(int i) const;
    Value* output(int i) const;
    int numInputs() const { return static_cast<int>(m_inputs.size()); }
    int numOutputs() const { return static_cast<int>(m_outputs.size()); }

    std::vector<Attribute>& attributes() { return m_attributes; }
    const std::vector<Attribute>& attributes() const { return m_attributes; }
    const Attribute* attribute(std::string_view name) const;
    Attribute* mutableAttribute(std::string_view name);
    int64_t attrInt(std::string_view name, int64_t fallback) const;
    float attrFloat(std::string_view name, float fallback) const;
    std::vector<int64_t> attrInts(std::string_view name) const;
    std::string attrString(std::string_view name, std::string fallback = {}) const;

    /// Subgraphs held by attributes (If branches, Loop/Scan bodies), in attribute order.
    std::vector<Graph*> subgraphs() const;

    /// "name" if it has one, else "OpType#id": for messages.
    std::string displayName() const;

    Node* next() const;
    Node* prev() const;

private:
    friend class Graph;
    Node(Graph* graph, NodeId id) : m_graph(graph), m_id(id) {}

    Graph* m_graph;
    NodeId m_id;
    std::vector<Value*> m_inputs;
    std::vector<Value*> m_outputs;
    std::vector<Attribute> m_attributes;
    std::list<std::unique_ptr<Node>>::iterator m_self;
};

/// ONNX TensorAnnotation (graph.quantization_annotation).
struct TensorAnnotation {
    std::string tensorName;
    std::vector<StringPair> quantParameterTensorNames;
    Presence presence;
};

class Graph {
public:
    Graph();
    ~Graph();
    Graph(const Graph&) = delete;
    Graph& operator=(const Graph&) = delete;

    std::string name;
    std::string docString;
    Presence presence;
    std::vector<TensorAnnotation> quantizationAnnotations;

    /// For a subgraph: the graph and node whose attribute owns it; null at top level.
    Graph* parentGraph() const { return m_parentNode ? m_parentNode->graph() : nullptr; }
    Node* parentNode() const { return m_parentNode; }
    /// Nesting depth: 0 for a top-level graph.
    int depth() const;

    // ---- Reading -------------------------------------------------------------------------

    class NodeIterator {
    public:
        using iterator_category = std::bidirectional_iterator_tag;
        using value_type = Node*;
        using difference_type = std::ptrdiff_t;
        using pointer = Node* const*;
        using reference = Node*;
        NodeIterator() = default;
        explicit NodeIterator(std::list<std::unique_ptr<Node>>::const_iterator it) : m_it(it) {}
        Node* operator*() const { return m_it->get(); }
        NodeIterator& operator++() {
            ++m_it;
            return *this;
        }
        NodeIterator operator++(int) {
            auto t = *this;
            ++m_it;
            return t;
        }
        NodeIterator& operator--() {
            --m_it;
            return *this;
        }
        NodeIterator operator--(int) {
            auto t = *this;
            --m_it;
            return t;
        }
        bool operator==(const NodeIterator& o) const { return m_it == o.m_it; }

    private:
        std::list<std::unique_ptr<Node>>::const_iterator m_it;
    };
    struct NodeRange {
        NodeIterator b, e;
        NodeIterator begin() const { return b; }
        NodeIterator end() const { return e; }
    };

    /// Nodes in graph order (topological once validated).
    NodeRange nodes() const {
        return {NodeIterator(m_nodes.cbegin()), NodeIterator(m_nodes.cend())};
    }
    std::vector<Node*> nodeList() const;
    std::size_t numNodes() const { return m_nodes.size(); }
    /// Nodes here and, recursively, in subgraphs.
    std::size_t numNodesRecursive() const;
    Node* firstNode() const { return m_nodes.empty() ? nullptr : m_nodes.front().get(); }
    Node* findNode(NodeId id) const;
    /// The nodes named `name` (none for ""), in no particular order. An index answers, built
    /// on the first call and kept from then on by addNode, eraseNode and setNodeName: rename
    /// the nodes of a graph that may have been asked with setNodeName, not by writing
    /// Node::name (the Rewriter does). Safe to call from several threads on a graph that
    /// nobody changes.
    std::vector<Node*> nodesNamed(std::string_view name) const;
    /// Sets the node's name, keeping nodesNamed() right.
    void setNodeName(Node* node, std::string name);
    Value* findValue(std::string_view name) const;
    /// Looks in this graph, then in enclosing graphs.
    Value* findValueInScope(std::string_view name) const;
    std::size_t numValues() const { return m_values.size(); }
    std::vector<Value*> valueList() const;

    const std::vector<Value*>& inputs() const { return m_inputs; }
    const std::vector<Value*>& outputs() const { return m_outputs; }
    /// Values with a dense initializer, in file order.
    const std::vector<Value*>& initializers() const { return m_initializers; }
    const std::vector<Value*>& sparseInitializers() const { return m_sparseInitializers; }
    /// Values listed in graph.value_info, in file order.
    const std::vector<Value*>& valueInfos() const { return m_valueInfos; }

    /// Capacity hint for builders that know the sizes in advance (importers).
    void reserve(std::size_t nodes, std::size_t values);

    /// A name not yet used in this graph or its ancestors: `base`, else `base_1`, `base_2`, ...
    std::string uniqueName(std::string_view base) const;
    NodeId nextNodeId() const { return m_nextNodeId; }

    // ---- Primitives (wrapped by rewrite::Rewriter) -----------------------------------------

    /// A new value with no producer. Fails if the name is taken in this graph.
    Expected<Value*> addValue(std::string name);
    /// Marks `value` as read from an enclosing scope (importer; subgraph capture).
    void markCapture(Value* value) { value->m_isCapture = true; }
    /// Removes a value nothing refers to (no producer, uses, list membership or initializer).
    void eraseValue(Value* value);
    /// Renames; the new name must be free in this graph.
    Status renameValue(Value* value, std::string newName);

    /// A new node placed before `before` (null = at the end). Outputs must have no producer;
    /// null entries stand for omitted inputs/outputs. `id` 0 = a fresh id; undo passes the
    /// erased node's id, which must be free.
    Node* addNode(std::string opType, std::span<Value* const> inputs,
                  std::span<Value* const> outputs, Node* before = nullptr, NodeId id = 0);
    /// Removes the node: its inputs lose a use, its outputs lose their producer (the values stay).
    void eraseNode(Node* node);
    /// Moves a node before `before` (null = to the end).
    void moveNode(Node* node, Node* before);
    void setInput(Node* node, int index, Value* value);
    /// Replaces all inputs (count may change).
    void setInputs(Node* node, std::span<Value* const> inputs);
    /// Replaces output `index` (which must become a value without producer; null = omitted).
    void setOutput(Node* node, int index, Value* value);
    void setOutputs(Node* node, std::span<Value* const> outputs);
    /// Points every node input reading `from` at `to`. Graph outputs are not touched.
    void replaceAllUsesWith(Value* from, Value* to);

    void insertGraphInput(Value* value, int position = -1);
    void eraseGraphInput(int position);
    void insertGraphOutput(Value* value, int position = -1);
    void eraseGraphOutput(int position);
    void setGraphOutput(int position, Value* value);

    /// Sets (or replaces) the dense initializer; a new one is listed at `position` (-1 = end).
    void setInitializer(Value* value, Tensor tensor, int position = -1);
    /// Removes and returns the initializer (null if none).
    std::unique_ptr<Tensor> takeInitializer(Value* value);
    void setSparseInitializer(Value* value, SparseTensor tensor, int position = -1);
    std::unique_ptr<SparseTensor> takeSparseInitializer(Value* value);
    int initializerPosition(const Value* value) const;
    int sparseInitializerPosition(const Value* value) const;

    void insertValueInfo(Value* value, int position = -1);
    void eraseValueInfo(Value* value);
    int valueInfoPosition(const Value* value) const;

    /// Attaches `subgraph` as owned by `node`, a node of this graph (call after moving it into
    /// an attribute); `node` is then among subgraphHolders().
    void adoptSubgraph(Graph* subgraph, Node* node);
    /// The nodes that hold subgraphs (If branches, Loop/Scan bodies), each once, in the order
    /// they first adopted one; a node whose graph attributes were since removed may stay listed
    /// until it is erased. Questions about every subgraph (what reads a name from this scope,
    /// how many nodes at every depth) ask these instead of every node: most graphs have none.
    const std::vector<Node*>& subgraphHolders() const { return m_subgraphHolders; }

    // ---- Whole-graph operations ------------------------------------------------------------

    /// Deep copy with the same NodeIds, order and names; tensor data stays shared.
    /// `cancelled`, when given, is asked every 1024 values and nodes: once it says true the copy
    /// stops and null is returned (a snapshot that an edit made stale while it was being taken).
    std::unique_ptr<Graph> clone(const std::function<bool()>& cancelled = {}) const;

    /// Checks structure: every input defined (by a producer earlier in order, a graph input, an
    /// initializer, or an enclosing scope), no cycles, every graph output produced, subgraphs
    /// valid. The message names the node or tensor. Does not reorder.
    Status validate() const;
    /// True when every node comes after the producers of its inputs.
    bool isTopologicallySorted() const;
    /// Stable topological sort (keeps the current order where it is already valid); fails on a
    /// cycle naming a node on it. Recurses into subgraphs.
    Status sortTopologically();

private:
    friend class Node;
    std::list<std::unique_ptr<Node>> m_nodes;
    std::list<std::unique_ptr<Value>> m_values;
    std::unordered_map<std::string_view, Value*> m_valueByName;  // keys view Value::m_name
    std::unordered_map<NodeId, Node*> m_nodeById;
    std::vector<Value*> m_inputs;
    std::vector<Value*> m_outputs;
    std::vector<Value*> m_initializers;
    std::vector<Value*> m_sparseInitializers;
    std::vector<Value*> m_valueInfos;
    std::vector<Node*> m_subgraphHolders;
    // Node names -> nodes (names not empty), once nodesNamed() was called.
    mutable std::mutex m_nameIndexMutex;
    mutable std::optional<std::unordered_multimap<std::string, Node*>> m_nodesByName;
    NodeId m_nextNodeId = 1;
    Node* m_parentNode = nullptr;

    void removeUse(Value* value, Node* node, int index);
    void unindexNodeName(Node* node);
};

/// The tensor a value is known to hold before running anything: its initializer, or the `value`
/// attribute of the Constant node producing it. Null otherwise.
const Tensor* constantTensor(const Value* value);
/// A weight an algorithm may compress: a floating-point constant (initializer or Constant node
/// output, as many non-PyTorch exporters emit) that is not a graph input the user feeds.
bool isParameter(const Value* value);
/// True for the default ONNX operator domain ("" or "ai.onnx").
bool isDefaultDomain(std::string_view domain);
/// True when `node` is the ONNX operator `opType` (default domain).
bool isOnnxOp(const Node& node, std::string_view opType);

/// ONNX OperatorSetIdProto.
struct OpsetId {
    std::string domain;
    int64_t version = 0;
    Presence presence;
};

/// ONNX FunctionProto (a model-local function). The body's inputs/outputs are the function's
/// formal parameters (untyped values).
struct Function {
    std::string name;
    std::string domain;
    std::vector<std::string> attributes;
    std::vector<OpsetId> opsetImports;
    std::string docString;
    std::unique_ptr<Graph> body;
    Presence presence;
};

/// A whole model: metadata, opsets, the main graph and local functions.
class Model {
public:
    Model();
    ~Model();
    Model(Model&&) noexcept;
    Model& operator=(Model&&) noexcept;

    int64_t irVersion = 0;
    std::vector<OpsetId> opsetImports;
    std::string producerName;
    std::string producerVersion;
    std::string domain;
    int64_t modelVersion = 0;
    std::string docString;
    std::vector<StringPair> metadataProps;
    std::unique_ptr<Graph> graph;
    std::vector<Function> functions;
    /// TrainingInfoProto messages, kept as serialized bytes: nothing in Whittle reads them, and
    /// exports must keep them.
    std::vector<std::string> trainingInfo;
    Presence presence;

    /// Opset version imported for `domain` ("" and "ai.onnx" are the same); 0 if none.
    int64_t opsetVersion(std::string_view domain = "") const;
    /// Deep copy (tensor data shared).
    Model clone() const;
    /// The same, or nullopt once `cancelled` says true (Graph::clone). Once it has said true,
    /// this model is not read again (what was copied is freed after): a caller may let the
    /// model change from then on.
    std::optional<Model> cloneUnlessCancelled(const std::function<bool()>& cancelled) const;
};

}  // namespace wh::ir
