#pragma once
/// Rewriter: the only API for user-visible graph edits.
///
/// A Rewriter wraps one ir::Graph (top level or a subgraph). Every edit it makes is recorded as a
/// Step of primitive, exactly reversible EditOps in its EditLog and announced to its Listeners.
/// undo() restores the graph exactly: node order, NodeIds, names, attribute order, initializer,
/// value_info and graph input/output lists and positions, value types and presence bits; values an
/// edit created are erased again. redo() reapplies a step exactly.
///
/// Every edit checks its arguments first and changes nothing when it fails (the Status says why).
/// Edits outside a group are one step each; beginGroup()/endGroup() (or ScopedGroup) make one step
/// of many edits, so that one user action is one undo step.
///
/// The Rewriter does not reorder nodes or check topological order: an edit places new nodes where
/// documented, and Graph::validate() is the judge.
///
/// Thread-safety: none; the graph's owner thread edits. Undo/redo are only valid while the graph
/// is changed through this Rewriter alone (a primitive called behind its back breaks the log).

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ir/graph.h"
#include "core/rewrite/edit_log.h"
#include "core/rewrite/listener.h"
#include "core/util/status.h"

namespace wh::rewrite {

/// A node to create, described by value *names* so that new nodes can read each other's outputs.
struct NewNode {
    std::string opType;
    std::string domain;
    std::string name;
    std::string docString;
    /// Names of existing values or of outputs of other new nodes; "" = an omitted input.
    std::vector<std::string> inputs;
    /// Names of the values the node produces; "" = an omitted output. Must be free names unless
    /// an operation says otherwise (replace() may reuse the replaced nodes' outputs).
    std::vector<std::string> outputs;
    std::vector<ir::Attribute> attributes;

    NewNode() = default;
    NewNode(std::string opType, std::vector<std::string> inputs, std::vector<std::string> outputs)
        : opType(std::move(opType)), inputs(std::move(inputs)), outputs(std::move(outputs)) {}
    NewNode(NewNode&&) noexcept = default;
    NewNode& operator=(NewNode&&) noexcept = default;
};

/// What eraseNode() does with the node's outputs.
enum class EraseOutputs {
    kMustBeUnused,  ///< fail unless no node, graph output or subgraph reads them; erase them too
    kKeep,          ///< keep the values (without producer): the caller defines them next
};

/// True if a subgraph of `node` (at any depth) reads a value named `name` from the scope
/// `node` is in.
bool subgraphsRead(const ir::Node& node, std::string_view name);

class Rewriter {
public:
    /// Edits `graph`, which must outlive the Rewriter.
    explicit Rewriter(ir::Graph& graph);
    Rewriter(const Rewriter&) = delete;
    Rewriter& operator=(const Rewriter&) = delete;
    ~Rewriter();

    ir::Graph& graph() { return m_graph; }
    const ir::Graph& graph() const { return m_graph; }
    const EditLog& log() const { return m_log; }

    /// Registers a listener (not owned; must outlive its registration).
    void addListener(Listener* listener);
    void removeListener(Listener* listener);

    // ---- Steps, groups, undo ----------------------------------------------------------------

    /// Opens a group: edits until the matching endGroup() form one step called `label`. Groups
    /// nest; only the outermost becomes a step (an inner label becomes a detail line).
    void beginGroup(std::string label);
    /// Closes the innermost group; closing the outermost records its step if anything changed.
    void endGroup();
    /// Reverts every edit made since the innermost beginGroup() and closes that group.
    void cancelGroup();
    int groupDepth() const { return static_cast<int>(m_groups.size()); }

    bool canUndo() const { return m_groups.empty() && m_log.canUndo(); }
    bool canRedo() const { return m_groups.empty() && m_log.canRedo(); }
    /// Reverts the last done step. Fails inside a group or when there is nothing to undo.
    Status undo();
    /// Reapplies the first undone step. Fails inside a group or when there is nothing to redo.
    Status redo();

    // ---- Replaying another Rewriter's step ----------------------------------------------------

    /// Applies `step`, recorded by another Rewriter on another graph (typically a job's clone of
    /// this graph, so the same NodeIds and value names), to this graph as one new step of this
    /// log, undoable and redoable like any edit, with the usual Listener events. Inside a group it
    /// becomes part of that group (a detail line with the step's details indented below).
    ///
    /// EditOps hold no pointers: nodes are NodeIds and values are names, resolved in this graph
    /// op by op, in the state the step's earlier ops left it in. Before each op is applied it is
    /// checked; "this graph moved on" (kBadInput, naming the node or tensor and why) means:
    ///  - a node or value the op refers to is missing, or one it creates exists already (a value
    ///    name taken; a NodeId present, or below nextNodeId(): ids are never reused, so a new
    ///    node's id must be one this graph never handed out);
    ///  - what the op overwrites differs from the op's recorded "before": a node's input or
    ///    output list, its name/opType/domain/docString (NodeFieldsOp), the attribute at the
    ///    op's index, a value's type or docString, the graph input/output at a position, and an
    ///    initializer's presence, dtype, dims and data (buffers shared with the source, as a
    ///    clone's are, are not compared byte by byte);
    ///  - a node to erase computes something else: op type, domain, wiring or attributes differ.
    ///    Attributes are compared field by field, subgraph attributes only by node count.
    ///  - the op would break an invariant (a value that would get two producers, a value to
    ///    erase or rename that is still referenced, ...).
    /// What is not compared (names and doc strings of erased nodes, positions in node order and
    /// in the value_info and initializer lists, presence bits) is taken from this graph: the ops
    /// recorded here carry this graph's "before" side, so undo restores this graph exactly.
    ///
    /// On failure everything the call applied is rolled back (listeners see those ops and their
    /// inverses, as with cancelGroup()): the graph and the log are unchanged. A step with no ops
    /// records nothing.
    Status replay(const Step& step);

    // ---- Nodes -------------------------------------------------------------------------------

    /// Creates `spec` in front of `before` (null = at the end). Output names must be free.
    Expected<ir::Node*> insertNode(NewNode spec, ir::Node* before);
    /// Creates `spec` right before `anchor`.
    Expected<ir::Node*> insertBefore(ir::Node& anchor, NewNode spec);
    /// Creates `spec` right after `anchor`.
    Expected<ir::Node*> insertAfter(ir::Node& anchor, NewNode spec);
    /// Puts a node on an edge: the new node reads `value` as input 0 (spec.inputs[0] is set to it;
    /// further inputs as given) and `consumer` (or, if null, every node reading `value`) reads the
    /// new node's output 0 instead. An empty output 0 name becomes a fresh "<value>_<opType>".
    /// Placed before `consumer`, or (null) right after `value`'s producer / at the front. Graph
    /// outputs keep reading `value`.
    Expected<ir::Node*> insertOnEdge(ir::Value& value, ir::Node* consumer, NewNode spec);
    /// Replaces `oldNodes` by `newNodes`, placed where the first old node (in graph order) was.
    /// A new node may list an old node's output name among its outputs: it then produces that
    /// value, so its consumers and graph outputs are rewired to it. Every other old output must
    /// be read only by old nodes; those values are erased. Returns the new nodes in order.
    Expected<std::vector<ir::Node*>> replace(std::span<ir::Node* const> oldNodes,
                                             std::vector<NewNode> newNodes);
    /// Replaces one node (see the span overload).
    Expected<ir::Node*> replace(ir::Node& oldNode, NewNode newNode);
    /// Erases a pass-through node (Identity, inference Dropout): the consumers of output `output`
    /// read input `input` instead. If the output is a graph output, the input's producer produces
    /// the output value instead, so graph outputs keep their names (and the input value goes).
    /// The node's other outputs must be unused; they are erased. See bypassBlocker().
    Status bypass(ir::Node& node, int input = 0, int output = 0);
    /// Why bypass(node, input, output) would fail; empty if it would succeed.
    static std::string bypassBlocker(const ir::Node& node, int input = 0, int output = 0);
    /// Erases a node (see EraseOutputs).
    Status eraseNode(ir::Node& node, EraseOutputs outputs = EraseOutputs::kMustBeUnused);
    /// Moves `node` in front of `before` (null = to the end).
    Status moveNode(ir::Node& node, ir::Node* before);
    /// Sets the node's name (need not be unique).
    Status renameNode(ir::Node& node, std::string name);
    /// Sets the node's docString.
    Status setNodeDocString(ir::Node& node, std::string docString);
    /// Makes input `index` (existing) read `value` (null = omitted).
    Status setInput(ir::Node& node, int index, ir::Value* value);
    /// Replaces the node's whole input list (null = omitted); the count may change, so inputs
    /// can be appended (variadic ops) or trailing ones dropped. Values must be in this graph.
    Status setInputs(ir::Node& node, std::vector<ir::Value*> inputs);
    /// Makes every node input reading `from` read `to`; graph outputs too if `graphOutputs`.
    Status replaceAllUsesWith(ir::Value& from, ir::Value& to, bool graphOutputs = false);

    // ---- Attributes -------------------------------------------------------------------------

    /// Replaces the attribute of the same name in place, or appends it.
    Status setAttribute(ir::Node& node, ir::Attribute attribute);
    /// Removes the named attribute (fails if absent).
    Status removeAttribute(ir::Node& node, std::string_view name);

    // ---- Values -------------------------------------------------------------------------------

    /// Renames a value; the name must be free here and in enclosing graphs, and no subgraph may
    /// read the value by its old name.
    Status renameValue(ir::Value& value, std::string name);
    /// Sets the value's type (the ValueInfo a graph input/output/value_info entry exports).
    Status setValueType(ir::Value& value, ir::Type type);
    /// Lists the value in graph.value_info at `position` (-1 = end).
    Status addValueInfo(ir::Value& value, int position = -1);
    /// Removes the value's graph.value_info entry.
    Status removeValueInfo(ir::Value& value);
    /// A new value `name` (must be free here and in enclosing graphs) of type `type`, with no
    /// producer and nothing referring to it yet: the caller makes it a graph input (or the like)
    /// within the same group.
    Expected<ir::Value*> addValue(std::string name, ir::Type type = {});
    /// Erases a value nothing refers to (its value_info entry goes too).
    Status eraseUnusedValue(ir::Value& value);

    // ---- Initializers ---------------------------------------------------------------------------

    /// A new value `name` (must be free) holding `tensor`, listed last among initializers.
    Expected<ir::Value*> addInitializer(std::string name, ir::Tensor tensor);
    /// Adds (listed last) or replaces (same position) the value's initializer. The value must
    /// have no producer.
    Status setInitializer(ir::Value& value, ir::Tensor tensor);
    /// Replaces an existing initializer, keeping its position.
    Status replaceInitializer(ir::Value& value, ir::Tensor tensor);
    /// Removes the initializer. Fails while a node still reads the value, unless it is a graph
    /// input (then only the default goes). A value left unreferenced is erased.
    Status removeInitializer(ir::Value& value);

    // ---- Graph inputs and outputs ---------------------------------------------------------------

    Status addGraphInput(ir::Value& value, int position = -1);
    Status removeGraphInput(int position);
    Status addGraphOutput(ir::Value& value, int position = -1);
    Status removeGraphOutput(int position);

    // ---- Queries ------------------------------------------------------------------------------

    /// The node whose subgraph (at any depth) reads a value named `name` from this scope; null if
    /// none does.
    const ir::Node* subgraphReader(std::string_view name) const;
    /// True if nothing refers to `value`: no producer, use, graph input/output, initializer or
    /// subgraph reader (a value_info entry does not count).
    bool isUnreferenced(const ir::Value& value) const;

private:
    struct OpenGroup {
        std::string label;
        std::size_t opStart;
        std::size_t detailStart;
    };

    void apply(const EditOp& op, bool reverse);
    void record(EditOp op);
    void rollbackTo(std::size_t start);
    void finishEdit(std::size_t start, std::string description);

    ir::Value* recordNewValue(const std::string& name);
    void recordDropValue(ir::Value* value);
    ir::Node* recordNewNode(NewNode spec, ir::Node* before);
    void recordEraseNode(ir::Node* node);
    void recordWiring(ir::Node* node, bool outputs, const std::vector<ir::Value*>& after);
    void recordUsesToValue(ir::Value* from, ir::Value* to, const ir::Node* except);

    template <class F>
    void notify(F&& f) {
        for (Listener* l : m_listeners) f(*l);
    }

    ir::Graph& m_graph;
    EditLog m_log;
    std::vector<Listener*> m_listeners;
    std::vector<EditOp> m_pending;
    std::vector<OpenGroup> m_groups;
    std::vector<std::string> m_details;
};

/// Opens a group for its lifetime: `ScopedGroup g(rewriter, "Fold BN"); ... ` ends it on scope
/// exit; cancel() reverts and closes it early.
class ScopedGroup {
public:
    ScopedGroup(Rewriter& rewriter, std::string label) : m_rewriter(rewriter) {
        m_rewriter.beginGroup(std::move(label));
    }
    ~ScopedGroup() {
        if (m_open) m_rewriter.endGroup();
    }
    ScopedGroup(const ScopedGroup&) = delete;
    ScopedGroup& operator=(const ScopedGroup&) = delete;
    /// Reverts the group's edits and closes it.
    void cancel() {
        if (m_open) m_rewriter.cancelGroup();
        m_open = false;
    }

private:
    Rewriter& m_rewriter;
    bool m_open = true;
};

}  // namespace wh::rewrite
