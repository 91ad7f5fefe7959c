#pragma once
/// Layered (Sugiyama-style) layout of one ir::Graph: pure geometry, no Qt, no fonts.
///
/// Phases: (1) a topological order (edges closing a cycle are reversed for layout only);
/// (2) longest-path layering, with source nodes (constants, shape helpers) pulled down to sit
/// just above their first consumer; (3) long edges are split by dummy vertices, one shared chain
/// per producer, so a value read far below is drawn as one trunk with branches; (4) barycentric
/// crossing reduction, alternating down and up sweeps, keeping the best order seen; (5) x
/// coordinates by repeated weighted-neighbour averaging, each layer solved exactly under its
/// order and spacing constraints (isotonic regression), with the longest path pinned to one
/// column so the main chain is a straight line.
///
/// Cost is O((V + D + E) log) per sweep, D being the dummy vertices; a 10k-node network takes
/// well under a second.
///
/// Thread-safety: layoutGraph only reads the graph; it may run on a worker thread while no one
/// mutates that graph.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ir/graph.h"

namespace wh::layout {

/// A point in layout coordinates: x to the right, y downward, origin at the top-left corner.
struct Point {
    double x = 0;
    double y = 0;
};

/// The box of one node: top-left corner, size, and its layer (0 = top).
struct NodeBox {
    ir::NodeId id = 0;
    double x = 0;
    double y = 0;
    double w = 0;
    double h = 0;
    int layer = 0;

    double centerX() const { return x + w / 2; }
    double centerY() const { return y + h / 2; }
};

/// A graph input or output drawn as a small rounded box (LayoutOptions::graphTerminals).
struct Terminal {
    std::string value;  ///< the graph input's or output's value name
    bool isInput = true;
    double x = 0;
    double y = 0;
    double w = 0;
    double h = 0;
    int layer = 0;

    double centerX() const { return x + w / 2; }
};

/// Width and height of one box; a field <= 0 means "use the default".
struct Size {
    double w = 0;
    double h = 0;
};

/// One drawn edge: an output of `from` feeds input `toInput` of `to` (the first such input when
/// several read the same producer; one EdgePath per producer/consumer pair). An index at or past
/// `to`'s numInputs() names its implicit input `toInput - numInputs()` (implicitInputs()). Its polyline runs
/// from the bottom centre of `from` to the top centre of `to`, with two points (entry, exit) per
/// layer crossed; Layout::path() spells it out.
///
/// Edges from one producer share a trunk (the producer's column of bend points down to its
/// deepest consumer), so the trunk is stored once in Layout::trunks and each edge keeps only its
/// own tail: total size stays linear even when one value is read by every layer of a deep net.
struct EdgePath {
    ir::NodeId from = 0;
    ir::NodeId to = 0;
    int toInput = 0;
    int trunk = -1;       ///< index into Layout::trunks, or -1 when `points` is the whole path
    int trunkPoints = 0;  ///< the path begins with the first `trunkPoints` points of that trunk
    std::vector<Point> points;  ///< the rest of the path, ending at the top centre of `to`
    /// Only in a cyclic graph: the edge closes a cycle and runs upward; the stored points run
    /// top to bottom and Layout::path() reverses them.
    bool reversed = false;
    /// With LayoutOptions::graphTerminals: the edge leaves input terminal `fromTerminal` (then
    /// `from` is 0) or enters output terminal `toTerminal` (then `to` is 0, `toInput` is the
    /// output's position). -1 = a node.
    int fromTerminal = -1;
    int toTerminal = -1;
};

/// Sizes and effort. The defaults suit a 9-10 pt UI font.
struct LayoutOptions {
    double nodeHeight = 40;
    double minNodeWidth = 80;
    double maxNodeWidth = 240;
    /// Width estimate of one label character; the box fits max(op type, name) plus padding,
    /// clamped to [minNodeWidth, maxNodeWidth]. A GUI passes its font's average advance.
    double charWidth = 7.0;
    double textPadding = 20;
    double layerGap = 40;      ///< vertical space between layers (room for edge bends)
    double nodeGap = 24;       ///< horizontal space between two boxes in a layer
    double edgeGap = 12;       ///< horizontal space next to an edge passing through a layer
    int orderingPasses = 8;    ///< crossing-reduction sweeps (each is one down and one up)
    int coordinatePasses = 8;  ///< x-refinement sweeps
    /// Overrides the width estimate when set; called once per node, on the calling thread.
    std::function<double(const ir::Node&)> nodeWidth;
    /// Overrides width and height of single nodes (an expanded If drawn with its branches inside
    /// is taller than a layer); fields <= 0 keep the default. A layer is as tall as its tallest
    /// box; boxes are aligned to the layer's top. Called once per node, on the calling thread.
    std::function<Size(const ir::Node&)> nodeSize;
    /// Graph inputs (not initializers) and outputs get small boxes of their own, wired to their
    /// consumers / producer (Layout::terminals).
    bool graphTerminals = false;
    double terminalHeight = 24;
    /// Constant nodes, Identity nodes that only forward an initializer (PyTorch wraps biases
    /// so) and DequantizeLinear nodes of stored weights (a QDQ export's weights and biases),
    /// whose outputs feed at most one node (and are no graph output), are not laid out; a viewer
    /// shows them with their consumer. Shared constants keep their box.
    bool foldConstants = false;
    /// QuantizeLinear → DequantizeLinear pairs on activations (constant scale and zero point, the
    /// QuantizeLinear read by that DequantizeLinear alone, neither a graph output) are not laid
    /// out: the DequantizeLinear's readers get the edge from what the QuantizeLinear read, and a
    /// viewer marks them as reading a quantized tensor (ids in Layout::folded too).
    bool collapseQuantizers = false;
    /// Polled between phases and sweeps; when it reads true, layoutGraph returns at once with
    /// `Layout::cancelled` set and no boxes.
    const std::atomic<bool>* cancel = nullptr;
};

/// The result: one box per node of the graph (in graph order), the edges between them.
struct Layout {
    /// Graph order; without folded constants, nodes[i] belongs to graph.nodeList()[i].
    std::vector<NodeBox> nodes;
    /// Graph inputs then graph outputs, in graph order (LayoutOptions::graphTerminals).
    std::vector<Terminal> terminals;
    /// Nodes left out by LayoutOptions::foldConstants.
    std::vector<ir::NodeId> folded;
    std::vector<EdgePath> edges;
    /// Shared bend points, one trunk per producer whose edges cross at least one layer: the
    /// bottom centre of the producer, then (entry, exit) per layer crossed.
    std::vector<std::vector<Point>> trunks;
    double width = 0;  ///< bounding box of everything, from (0, 0)
    double height = 0;
    int numLayers = 0;
    int64_t crossings = 0;  ///< edge crossings between adjacent layers, dummies included
    std::size_t numDummies = 0;
    bool cancelled = false;

    /// The box of node `id`, or null when the node was not laid out.
    const NodeBox* find(ir::NodeId id) const;

    /// The whole polyline of `edge`, from `from` to `to` (O(layers crossed)).
    std::vector<Point> path(const EdgePath& edge) const;

    /// NodeId -> index into `nodes`.
    std::unordered_map<ir::NodeId, std::size_t> indexById;
};

/// ONNX's implicit inputs of `node`: the values of its graph read inside its subgraphs (If
/// branches, Loop/Scan bodies, at any depth) through captures, each once, bodies in attribute
/// order. A value the enclosing graph itself captures from further out is left out.
std::vector<const ir::Value*> implicitInputs(const ir::Node& node);

/// Lays out the top level of `graph` (subgraphs of If/Loop/Scan are not expanded). Edges come
/// from values produced by a node of `graph` and read by another; initializers are never boxes,
/// graph inputs and outputs only with LayoutOptions::graphTerminals. A subgraph is laid out by
/// calling this on it (values captured from the enclosing graph draw no edge there; in the
/// enclosing graph they are edges into the node holding the subgraph, see implicitInputs()).
Layout layoutGraph(const ir::Graph& graph, const LayoutOptions& options = {});

}  // namespace wh::layout
