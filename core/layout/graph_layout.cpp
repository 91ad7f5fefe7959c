#include "core/layout/graph_layout.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <queue>
#include <unordered_set>
#include <utility>

namespace wh::layout {

const NodeBox* Layout::find(ir::NodeId id) const {
    auto it = indexById.find(id);
    return it == indexById.end() ? nullptr : &nodes[it->second];
}

std::vector<Point> Layout::path(const EdgePath& edge) const {
    std::vector<Point> points;
    if (edge.trunk >= 0) {
        const auto& trunk = trunks[edge.trunk];
        points.assign(trunk.begin(), trunk.begin() + edge.trunkPoints);
    }
    points.insert(points.end(), edge.points.begin(), edge.points.end());
    if (edge.reversed) std::reverse(points.begin(), points.end());
    return points;
}

namespace {

// Weights of the coordinate phase (as in Gansner et al.'s network-simplex formulation): the
// straighter a long edge's inner segments, the calmer the picture.
constexpr double kWeightRealReal = 1.0;
constexpr double kWeightRealDummy = 2.0;
constexpr double kWeightDummyDummy = 8.0;
// A pinned (main chain) vertex outweighs any realistic sum of neighbour pulls, so its layer's
// block lands on the chain column to well under a pixel.
constexpr double kPinnedWeight = 1e9;
constexpr double kFreeWeight = 1e-3;

bool cancelled(const LayoutOptions& o) {
    return o.cancel && o.cancel->load(std::memory_order_relaxed);
}

/// The layered graph: real nodes 0..numReal-1 (graph order), dummies after them.
struct Layered {
    int numReal = 0;
    std::vector<int> layer;
    std::vector<double> width;
    std::vector<std::vector<int>> succ;
    std::vector<std::vector<int>> pred;
    std::vector<std::vector<int>> layers;  // vertices per layer, in order
    std::vector<int> pos;                  // index within its layer
    std::vector<double> x;                 // centre x

    int size() const { return static_cast<int>(layer.size()); }
    bool isDummy(int v) const { return v >= numReal; }
    int addVertex(int l, double w) {
        layer.push_back(l);
        width.push_back(w);
        succ.emplace_back();
        pred.emplace_back();
        return size() - 1;
    }
    void addEdge(int u, int v) {
        succ[u].push_back(v);
        pred[v].push_back(u);
    }
};

/// Crossings between layer `l` and `l + 1`: Barth, Mutzel and Jünger's accumulation over the
/// lower positions, in O(E log V).
int64_t countLayerPair(const Layered& g, int l) {
    const auto& upper = g.layers[l];
    const auto& lower = g.layers[l + 1];
    std::vector<int> seq;
    std::vector<int> tmp;
    for (int u : upper) {
        tmp.clear();
        for (int v : g.succ[u]) tmp.push_back(g.pos[v]);
        std::sort(tmp.begin(), tmp.end());
        seq.insert(seq.end(), tmp.begin(), tmp.end());
    }
    // Fenwick tree over lower positions: for each edge, count earlier edges ending to its right.
    const std::size_t n = lower.size();
    std::vector<int64_t> tree(n + 1, 0);
    int64_t crossings = 0;
    int64_t seen = 0;
    for (int p : seq) {
        int64_t atOrLeft = 0;
        for (std::size_t i = static_cast<std::size_t>(p) + 1; i > 0; i -= i & (~i + 1))
            atOrLeft += tree[i];
        crossings += seen - atOrLeft;
        for (std::size_t i = static_cast<std::size_t>(p) + 1; i <= n; i += i & (~i + 1)) ++tree[i];
        ++seen;
    }
    return crossings;
}

int64_t countCrossings(const Layered& g) {
    int64_t total = 0;
    for (int l = 0; l + 1 < static_cast<int>(g.layers.size()); ++l) total += countLayerPair(g, l);
    return total;
}

void refreshPositions(Layered& g) {
    for (const auto& layerVerts : g.layers)
        for (std::size_t i = 0; i < layerVerts.size(); ++i)
            g.pos[layerVerts[i]] = static_cast<int>(i);
}

/// Reorders layer `l` by the mean position of each vertex's neighbours in the adjacent layer
/// (`useUpper`: predecessors, else successors). Vertices without such neighbours keep their
/// position as key, so they stay roughly where they are.
void barycenterLayer(Layered& g, int l, bool useUpper) {
    auto& verts = g.layers[l];
    std::vector<std::pair<double, int>> keyed;
    keyed.reserve(verts.size());
    for (int v : verts) {
        const auto& nbrs = useUpper ? g.pred[v] : g.succ[v];
        double key = g.pos[v];
        if (!nbrs.empty()) {
            double sum = 0;
            for (int n : nbrs) sum += g.pos[n];
            key = sum / static_cast<double>(nbrs.size());
        }
        keyed.emplace_back(key, v);
    }
    std::stable_sort(keyed.begin(), keyed.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < keyed.size(); ++i) {
        verts[i] = keyed[i].second;
        g.pos[keyed[i].second] = static_cast<int>(i);
    }
}

/// Places one layer: centres as close as possible (weighted least squares) to `desired` while
/// keeping the order and the minimum separations. Substituting x_i = o_i + y_i, o_i being the
/// prefix sum of separations, turns it into isotonic regression of (desired_i - o_i), which
/// pool-adjacent-violators solves exactly in O(n).
void placeLayer(Layered& g, const std::vector<int>& verts, const std::vector<double>& desired,
                const std::vector<double>& weight, const LayoutOptions& o) {
    const std::size_t n = verts.size();
    if (n == 0) return;
    std::vector<double> offset(n, 0.0);
    for (std::size_t i = 1; i < n; ++i) {
        int a = verts[i - 1];
        int b = verts[i];
        bool dummy = g.isDummy(a) || g.isDummy(b);
        offset[i] = offset[i - 1] + (g.width[a] + g.width[b]) / 2 + (dummy ? o.edgeGap : o.nodeGap);
    }
    struct Block {
        double sumWT;
        double sumW;
        std::size_t count;
    };
    std::vector<Block> blocks;
    blocks.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        blocks.push_back({weight[i] * (desired[i] - offset[i]), weight[i], 1});
        while (blocks.size() > 1) {
            Block& last = blocks.back();
            Block& prev = blocks[blocks.size() - 2];
            if (prev.sumWT / prev.sumW <= last.sumWT / last.sumW) break;
            prev.sumWT += last.sumWT;
            prev.sumW += last.sumW;
            prev.count += last.count;
            blocks.pop_back();
        }
    }
    std::size_t i = 0;
    for (const Block& b : blocks) {
        double y = b.sumWT / b.sumW;
        for (std::size_t k = 0; k < b.count; ++k, ++i) g.x[verts[i]] = offset[i] + y;
    }
}

/// An Identity that only forwards an initializer (PyTorch exports wrap biases and shared weights
/// this way): to a reader it is that constant under a second name.
bool forwardsInitializer(const ir::Node& node) {
    if (node.opType != "Identity" || node.numInputs() != 1 || node.numOutputs() != 1) return false;
    const ir::Value* in = node.input(0);
    return in && !in->producer() && (in->hasInitializer() || in->sparseInitializer()) &&
           !in->isGraphInput();
}

bool storedConstant(const ir::Value* v) {
    return v && !v->producer() && (v->hasInitializer() || v->sparseInitializer()) &&
           !v->isGraphInput();
}

/// A node of the default domain computed from stored constants only, read by `reader` alone (an
/// int32 bias's scale: Mul(input scale, weight scale)).
bool constantFeedOf(const ir::Node* p, const ir::Node& reader) {
    if (!p || (!p->domain.empty() && p->domain != "ai.onnx") || !p->subgraphs().empty() ||
        p->numInputs() == 0)
        return false;
    for (const ir::Value* in : p->inputs())
        if (in && !storedConstant(in)) return false;
    for (const ir::Value* out : p->outputs()) {
        if (!out) continue;
        if (out->isGraphOutput()) return false;
        for (const ir::Use& use : out->uses())
            if (use.node != &reader) return false;
    }
    return true;
}

/// A DequantizeLinear of a stored weight: every input an initializer or computed from
/// initializers for it alone — what a QDQ export puts in front of each quantized Conv, Gemm or
/// MatMul for its weights and bias. Those feeding nodes are returned in `feeds`.
bool dequantizesInitializer(const ir::Node& node, std::vector<const ir::Node*>* feeds = nullptr) {
    if (node.opType != "DequantizeLinear" || node.numInputs() < 1 || !node.input(0)) return false;
    std::vector<const ir::Node*> found;
    for (const ir::Value* in : node.inputs()) {
        if (!in || storedConstant(in)) continue;
        if (!constantFeedOf(in->producer(), node)) return false;
        found.push_back(in->producer());
    }
    if (feeds) *feeds = std::move(found);
    return true;
}

/// A Constant (or an Identity forwarding an initializer, or a DequantizeLinear of one) whose
/// outputs feed at most one node and leave no graph output.
/// With collapseQuantizers: a DequantizeLinear reading a QuantizeLinear of an activation (the
/// pair a QDQ export puts on every quantized tensor); returns that QuantizeLinear.
const ir::Node* collapsiblePair(const ir::Node& dq) {
    if (dq.opType != "DequantizeLinear" || !ir::isDefaultDomain(dq.domain) || !dq.input(0) ||
        !dq.output(0) || dq.output(0)->isGraphOutput())
        return nullptr;
    const ir::Node* q = dq.input(0)->producer();
    if (!q || q->opType != "QuantizeLinear" || !ir::isDefaultDomain(q->domain) || !q->input(0) ||
        q->output(0) != dq.input(0) || dq.input(0)->isGraphOutput() ||
        dq.input(0)->uses().size() != 1)
        return nullptr;
    for (const ir::Node* n : {q, &dq})
        for (int i = 1; i < n->numInputs(); ++i)
            if (n->input(i) && !storedConstant(n->input(i))) return nullptr;
    return q;
}

bool isFoldableConstant(const ir::Node& node) {
    if (!node.domain.empty() && node.domain != "ai.onnx") return false;
    const bool constant = node.opType == "Constant" && node.numInputs() == 0;
    if (!constant && !forwardsInitializer(node) && !dequantizesInitializer(node)) return false;
    const ir::Node* consumer = nullptr;
    for (const ir::Value* out : node.outputs()) {
        if (!out) continue;
        if (out->isGraphOutput()) return false;
        for (const ir::Use& use : out->uses()) {
            if (consumer && use.node != consumer) return false;
            consumer = use.node;
        }
    }
    return true;
}

double edgeWeight(const Layered& g, int a, int b) {
    bool da = g.isDummy(a);
    bool db = g.isDummy(b);
    if (da && db) return kWeightDummyDummy;
    if (da || db) return kWeightRealDummy;
    return kWeightRealReal;
}

}  // namespace

std::vector<const ir::Value*> implicitInputs(const ir::Node& node) {
    std::vector<const ir::Value*> out;
    const ir::Graph* scope = node.graph();
    if (!scope) return out;
    // Breadth first, bodies in attribute order: the first body's reads come first.
    const std::vector<ir::Graph*> bodies = node.subgraphs();
    std::vector<const ir::Graph*> pending(bodies.begin(), bodies.end());
    for (std::size_t next = 0; next < pending.size(); ++next) {
        const ir::Graph* sub = pending[next];
        for (const ir::Value* v : sub->valueList()) {
            if (!v->isCapture()) continue;
            const ir::Value* outer = scope->findValue(v->name());
            if (outer && !outer->isCapture() &&
                std::find(out.begin(), out.end(), outer) == out.end())
                out.push_back(outer);
        }
        for (const ir::Node* inner : sub->nodes())
            for (const ir::Graph* g : inner->subgraphs()) pending.push_back(g);
    }
    return out;
}

Layout layoutGraph(const ir::Graph& graph, const LayoutOptions& o) {
    Layout out;
    auto cancelledLayout = [] {
        Layout l;
        l.cancelled = true;
        return l;
    };
    std::vector<ir::Node*> nodes;
    nodes.reserve(graph.numNodes());
    // What folds: foldable constants and weight dequantizers, with the initializer arithmetic
    // that feeds a dequantizer alone (marked first, so that graph order decides nothing).
    std::unordered_set<const ir::Node*> fold;
    if (o.foldConstants)
        for (const ir::Node* node : graph.nodes()) {
            if (!isFoldableConstant(*node)) continue;
            fold.insert(node);
            std::vector<const ir::Node*> feeds;
            if (dequantizesInitializer(*node, &feeds)) fold.insert(feeds.begin(), feeds.end());
        }
    // Collapsed quantizer pairs: a value a collapsed DequantizeLinear makes stands for what its
    // QuantizeLinear read (edges are drawn from there).
    std::unordered_map<const ir::Value*, const ir::Value*> through;
    if (o.collapseQuantizers)
        for (const ir::Node* node : graph.nodes())
            if (const ir::Node* q = collapsiblePair(*node)) {
                fold.insert(q);
                fold.insert(node);
                through.emplace(node->output(0), q->input(0));
            }
    const auto source = [&](const ir::Value* v) {
        for (auto it = through.find(v); it != through.end(); it = through.find(v)) v = it->second;
        return v;
    };
    for (ir::Node* node : graph.nodes()) {
        if (fold.count(node)) {
            out.folded.push_back(node->id());
            continue;
        }
        nodes.push_back(node);
    }
    const int numNodes = static_cast<int>(nodes.size());
    if (numNodes == 0) return out;

    std::unordered_map<const ir::Node*, int> indexOf;
    indexOf.reserve(nodes.size());
    for (int i = 0; i < numNodes; ++i) indexOf.emplace(nodes[i], i);
    // Values read inside If/Loop bodies are inputs of the node holding them (drawn as edges into
    // it), numbered after its explicit inputs.
    std::unordered_map<int, std::vector<const ir::Value*>> implicitOf;
    std::unordered_set<const ir::Value*> readImplicitly;
    for (int i = 0; i < numNodes; ++i) {
        if (nodes[i]->subgraphs().empty()) continue;
        auto values = implicitInputs(*nodes[i]);
        if (values.empty()) continue;
        readImplicitly.insert(values.begin(), values.end());
        implicitOf.emplace(i, std::move(values));
    }

    // Terminals: vertices numNodes.. (inputs first, then outputs).
    std::vector<const ir::Value*> terminalValues;
    std::vector<char> terminalIsInput;
    std::unordered_map<const ir::Value*, int> inputTerminal;
    if (o.graphTerminals) {
        for (const ir::Value* v : graph.inputs()) {
            if (v->hasInitializer() || inputTerminal.count(v)) continue;
            bool used = readImplicitly.count(v) != 0;
            for (const ir::Use& use : v->uses()) used = used || indexOf.count(use.node);
            for (const auto& [dqOut, read] : through) used = used || read == v;
            if (!used) continue;
            inputTerminal.emplace(v, numNodes + static_cast<int>(terminalValues.size()));
            terminalValues.push_back(v);
            terminalIsInput.push_back(1);
        }
        for (const ir::Value* v : graph.outputs()) {
            if (!v->producer() || !indexOf.count(v->producer())) continue;
            terminalValues.push_back(v);
            terminalIsInput.push_back(0);
        }
    }
    const int numReal = numNodes + static_cast<int>(terminalValues.size());

    // ---- Edges between nodes of this graph, one per (producer, consumer) pair ---------------
    struct RawEdge {
        int from;
        int to;
        int toInput;
    };
    std::vector<RawEdge> raw;
    for (int v = 0; v < numNodes; ++v) {
        const ir::Node* node = nodes[v];
        for (int k = 0; k < node->numInputs(); ++k) {
            const ir::Value* value = source(node->input(k));
            if (!value) continue;
            if (!value->producer()) {
                auto t = inputTerminal.find(value);
                if (t != inputTerminal.end()) raw.push_back({t->second, v, k});
                continue;
            }
            auto it = indexOf.find(value->producer());
            if (it == indexOf.end() || it->second == v) continue;
            raw.push_back({it->second, v, k});
        }
        auto implicit = implicitOf.find(v);
        if (implicit == implicitOf.end()) continue;
        for (std::size_t k = 0; k < implicit->second.size(); ++k) {
            const ir::Value* value = implicit->second[k];
            const int toInput = node->numInputs() + static_cast<int>(k);
            if (!value->producer()) {
                auto t = inputTerminal.find(value);
                if (t != inputTerminal.end()) raw.push_back({t->second, v, toInput});
                continue;
            }
            auto it = indexOf.find(value->producer());
            if (it != indexOf.end() && it->second != v) raw.push_back({it->second, v, toInput});
        }
    }
    for (int t = 0; t < static_cast<int>(terminalValues.size()); ++t) {
        if (terminalIsInput[t]) continue;
        const ir::Value* value = terminalValues[t];
        int position = 0;
        for (std::size_t i = 0; i < graph.outputs().size(); ++i)
            if (graph.outputs()[i] == value) position = static_cast<int>(i);
        raw.push_back({indexOf.at(value->producer()), numNodes + t, position});
    }
    std::stable_sort(raw.begin(), raw.end(), [](const RawEdge& a, const RawEdge& b) {
        return a.from != b.from ? a.from < b.from : a.to < b.to;
    });
    raw.erase(std::unique(raw.begin(), raw.end(),
                          [](const RawEdge& a, const RawEdge& b) {
                              return a.from == b.from && a.to == b.to;
                          }),
              raw.end());

    // ---- Topological rank (graph order where already valid; cycles broken) -----------------
    std::vector<std::vector<int>> outAdj(static_cast<std::size_t>(numReal));
    std::vector<int> inDegree(static_cast<std::size_t>(numReal), 0);
    for (const RawEdge& e : raw) {
        outAdj[e.from].push_back(e.to);
        ++inDegree[e.to];
    }
    std::vector<int> rank(static_cast<std::size_t>(numReal), -1);
    {
        std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
        for (int v = 0; v < numReal; ++v)
            if (inDegree[v] == 0) ready.push(v);
        int next = 0;
        std::vector<int> degree = inDegree;
        int scan = 0;  // lowest index that may still be unranked (for cycle breaking)
        while (next < numReal) {
            if (ready.empty()) {
                // A cycle: take the earliest unranked node as if its remaining inputs were absent.
                while (rank[scan] >= 0) ++scan;
                degree[scan] = 0;
                ready.push(scan);
            }
            int v = ready.top();
            ready.pop();
            if (rank[v] >= 0) continue;
            rank[v] = next++;
            for (int w : outAdj[v])
                if (rank[w] < 0 && --degree[w] == 0) ready.push(w);
        }
    }
    std::vector<int> topo(static_cast<std::size_t>(numReal));
    for (int v = 0; v < numReal; ++v) topo[rank[v]] = v;

    // Layout edges all point down the rank order; `reversed` remembers the ones that did not.
    struct DagEdge {
        int top;
        int bottom;
        bool reversed;
        int from;  // vertices
        int to;
        int toInput;
    };
    std::vector<DagEdge> dag;
    dag.reserve(raw.size());
    for (const RawEdge& e : raw) {
        bool reversed = rank[e.from] > rank[e.to];
        dag.push_back({reversed ? e.to : e.from, reversed ? e.from : e.to, reversed, e.from, e.to,
                       e.toInput});
    }
    if (cancelled(o)) return cancelledLayout();

    // ---- Layering -------------------------------------------------------------------------
    Layered g;
    g.numReal = numReal;
    std::vector<double> height(static_cast<std::size_t>(numReal), o.nodeHeight);
    for (int v = 0; v < numNodes; ++v) {
        const ir::Node& node = *nodes[v];
        double w;
        if (o.nodeWidth) {
            w = o.nodeWidth(node);
        } else {
            std::size_t chars = std::max(node.opType.size(), node.name.size());
            w = static_cast<double>(chars) * o.charWidth + o.textPadding;
        }
        w = std::clamp(w, o.minNodeWidth, std::max(o.minNodeWidth, o.maxNodeWidth));
        if (o.nodeSize) {
            Size size = o.nodeSize(node);
            if (size.w > 0) w = size.w;
            if (size.h > 0) height[v] = size.h;
        }
        g.addVertex(0, w);
    }
    for (int v = numNodes; v < numReal; ++v) {
        const std::string& name = terminalValues[v - numNodes]->name();
        double w = static_cast<double>(name.size()) * o.charWidth + o.textPadding;
        g.addVertex(0, std::clamp(w, o.minNodeWidth * 0.6, std::max(o.minNodeWidth, o.maxNodeWidth)));
        height[v] = o.terminalHeight;
    }
    std::vector<std::vector<int>> down(static_cast<std::size_t>(numReal));
    std::vector<std::vector<int>> up(static_cast<std::size_t>(numReal));
    for (const DagEdge& e : dag) {
        down[e.top].push_back(e.bottom);
        up[e.bottom].push_back(e.top);
    }
    for (int v : topo)
        for (int u : up[v]) g.layer[v] = std::max(g.layer[v], g.layer[u] + 1);

    // The main chain: the longest path, found by walking back from the deepest node, preferring
    // the producer of the lowest-numbered input (a node's data input comes first in ONNX).
    std::vector<char> pinned(static_cast<std::size_t>(numReal), 0);
    {
        int deepest = topo.front();
        for (int v : topo)
            if (g.layer[v] > g.layer[deepest]) deepest = v;
        int cur = deepest;
        pinned[cur] = 1;
        while (g.layer[cur] > 0) {
            int best = -1;
            const ir::Node* node = cur < numNodes ? nodes[cur] : nullptr;
            for (int k = 0; node && k < node->numInputs() && best < 0; ++k) {
                const ir::Value* value = node->input(k);
                if (!value || !value->producer()) continue;
                auto it = indexOf.find(value->producer());
                if (it == indexOf.end()) continue;
                if (g.layer[it->second] == g.layer[cur] - 1) {
                    best = it->second;
                }
            }
            if (best < 0) {  // only reached through a reversed (cycle) edge
                for (int u : up[cur])
                    if (g.layer[u] == g.layer[cur] - 1) best = u;
            }
            if (best < 0) break;
            cur = best;
            pinned[cur] = 1;
        }
    }

    // Sources (constants, shape helpers) sit just above their first consumer instead of on top.
    for (int v = 0; v < numReal; ++v) {
        if (!up[v].empty() || down[v].empty() || pinned[v]) continue;
        int minBelow = INT32_MAX;
        for (int w : down[v]) minBelow = std::min(minBelow, g.layer[w]);
        g.layer[v] = minBelow - 1;
    }

    // ---- Dummy chains: one per producer, as deep as its deepest consumer --------------------
    std::vector<std::vector<int>> chainOf(static_cast<std::size_t>(numReal));
    for (int u = 0; u < numReal; ++u) {
        int deepest = -1;
        for (int w : down[u]) deepest = std::max(deepest, g.layer[w]);
        int lu = g.layer[u];
        int prev = u;
        for (int l = lu + 1; l < deepest; ++l) {
            int d = g.addVertex(l, 0.0);
            g.addEdge(prev, d);
            chainOf[u].push_back(d);
            prev = d;
        }
        for (int w : down[u]) {
            int lw = g.layer[w];
            int from = lw == lu + 1 ? u : chainOf[u][lw - lu - 2];
            g.addEdge(from, w);
        }
    }
    out.numDummies = static_cast<std::size_t>(g.size() - numReal);
    if (cancelled(o)) return cancelledLayout();

    // ---- Initial order: depth-first discovery from the sources, in rank order ---------------
    int numLayers = 0;
    for (int l : g.layer) numLayers = std::max(numLayers, l + 1);
    g.layers.assign(static_cast<std::size_t>(numLayers), {});
    g.pos.assign(static_cast<std::size_t>(g.size()), 0);
    {
        std::vector<int> visit(static_cast<std::size_t>(g.size()), -1);
        int counter = 0;
        std::vector<std::pair<int, std::size_t>> stack;
        auto dfsFrom = [&](int root) {
            if (visit[root] >= 0) return;
            visit[root] = counter++;
            stack.emplace_back(root, 0);
            while (!stack.empty()) {
                auto& [v, next] = stack.back();
                const auto& s = g.succ[v];
                if (next >= s.size()) {
                    stack.pop_back();
                    continue;
                }
                int w = s[next++];
                if (visit[w] < 0) {
                    visit[w] = counter++;
                    stack.emplace_back(w, 0);
                }
            }
        };
        for (int v : topo) dfsFrom(v);
        std::vector<int> byVisit(static_cast<std::size_t>(g.size()));
        for (int v = 0; v < g.size(); ++v) byVisit[visit[v]] = v;
        for (int v : byVisit) g.layers[g.layer[v]].push_back(v);
        refreshPositions(g);
    }

    // ---- Crossing reduction ---------------------------------------------------------------
    int64_t bestCrossings = countCrossings(g);
    std::vector<std::vector<int>> bestLayers = g.layers;
    int stale = 0;
    for (int pass = 0; pass < o.orderingPasses && bestCrossings > 0 && stale < 2; ++pass) {
        if (cancelled(o)) return cancelledLayout();
        for (int l = 1; l < numLayers; ++l) barycenterLayer(g, l, true);
        for (int l = numLayers - 2; l >= 0; --l) barycenterLayer(g, l, false);
        int64_t c = countCrossings(g);
        if (c < bestCrossings) {
            bestCrossings = c;
            bestLayers = g.layers;
            stale = 0;
        } else {
            ++stale;
        }
    }
    g.layers = std::move(bestLayers);
    refreshPositions(g);
    out.crossings = bestCrossings;

    // ---- Coordinates ----------------------------------------------------------------------
    g.x.assign(static_cast<std::size_t>(g.size()), 0.0);
    {
        // Start compact and centred on the chain column; the sweeps below refine.
        for (const auto& verts : g.layers) {
            std::vector<double> desired(verts.size(), 0.0);
            std::vector<double> weight(verts.size(), 1.0);
            placeLayer(g, verts, desired, weight, o);
        }
    }
    const double chainX = 0.0;
    std::vector<double> desired;
    std::vector<double> weight;
    for (int pass = 0; pass < o.coordinatePasses; ++pass) {
        if (cancelled(o)) return cancelledLayout();
        const bool downward = pass % 2 == 0;
        for (int i = 0; i < numLayers; ++i) {
            int l = downward ? i : numLayers - 1 - i;
            const auto& verts = g.layers[l];
            desired.assign(verts.size(), 0.0);
            weight.assign(verts.size(), 0.0);
            for (std::size_t k = 0; k < verts.size(); ++k) {
                int v = verts[k];
                if (v < numReal && pinned[v]) {
                    desired[k] = chainX;
                    weight[k] = kPinnedWeight;
                    continue;
                }
                double sumW = 0;
                double sumWX = 0;
                for (int u : g.pred[v]) {
                    double w = edgeWeight(g, u, v);
                    sumW += w;
                    sumWX += w * g.x[u];
                }
                for (int u : g.succ[v]) {
                    double w = edgeWeight(g, v, u);
                    sumW += w;
                    sumWX += w * g.x[u];
                }
                if (sumW > 0) {
                    desired[k] = sumWX / sumW;
                    weight[k] = sumW;
                } else {
                    desired[k] = g.x[v];
                    weight[k] = kFreeWeight;
                }
            }
            placeLayer(g, verts, desired, weight, o);
        }
    }

    // Straighten trunks: averaging leaves a long edge wobbling between the columns its
    // neighbours pushed it to. Each dummy may move freely between its neighbours (order, hence
    // non-overlap, is kept); greedily cut the trunk into the fewest runs whose free intervals
    // share a column, and put each run on one column, as close as possible to its mean x.
    const double inf = std::numeric_limits<double>::infinity();
    auto freeInterval = [&](int d) {
        const auto& verts = g.layers[g.layer[d]];
        const int p = g.pos[d];
        const double x = g.x[d];
        double lo = -inf;
        double hi = inf;
        if (p > 0) {
            int left = verts[p - 1];
            double gap = g.isDummy(left) ? o.edgeGap : o.edgeGap + o.nodeGap / 2;
            lo = g.x[left] + g.width[left] / 2 + gap;
        }
        if (p + 1 < static_cast<int>(verts.size())) {
            int right = verts[p + 1];
            double gap = g.isDummy(right) ? o.edgeGap : o.edgeGap + o.nodeGap / 2;
            hi = g.x[right] - g.width[right] / 2 - gap;
        }
        return std::pair<double, double>{std::min(lo, x), std::max(hi, x)};
    };
    for (int u = 0; u < numReal; ++u) {
        const auto& chain = chainOf[u];
        std::size_t runStart = 0;
        double lo = -inf;
        double hi = inf;
        double sumX = 0;
        auto closeRun = [&](std::size_t runEnd) {
            double column = std::clamp(sumX / static_cast<double>(runEnd - runStart), lo, hi);
            for (std::size_t i = runStart; i < runEnd; ++i) g.x[chain[i]] = column;
        };
        for (std::size_t i = 0; i < chain.size(); ++i) {
            auto [dlo, dhi] = freeInterval(chain[i]);
            if (std::max(lo, dlo) > std::min(hi, dhi)) {
                closeRun(i);
                runStart = i;
                lo = -inf;
                hi = inf;
                sumX = 0;
            }
            lo = std::max(lo, dlo);
            hi = std::min(hi, dhi);
            sumX += g.x[chain[i]];
        }
        if (!chain.empty()) closeRun(chain.size());
    }

    // ---- Output ---------------------------------------------------------------------------
    double minX = 0;
    bool first = true;
    for (int v = 0; v < g.size(); ++v) {
        double left = g.x[v] - g.width[v] / 2;
        if (first || left < minX) minX = left;
        first = false;
    }
    // Layers are as tall as their tallest box (an expanded subgraph), boxes top-aligned.
    std::vector<double> layerHeight(static_cast<std::size_t>(numLayers), 0.0);
    for (int v = 0; v < numReal; ++v)
        layerHeight[g.layer[v]] = std::max(layerHeight[g.layer[v]], height[v]);
    std::vector<double> tops(static_cast<std::size_t>(numLayers) + 1, 0.0);
    for (int l = 0; l < numLayers; ++l) {
        if (layerHeight[l] <= 0) layerHeight[l] = o.nodeHeight;
        tops[l + 1] = tops[l] + layerHeight[l] + o.layerGap;
    }
    auto layerTop = [&](int l) { return tops[static_cast<std::size_t>(l)]; };

    out.numLayers = numLayers;
    out.nodes.resize(static_cast<std::size_t>(numNodes));
    out.indexById.reserve(static_cast<std::size_t>(numNodes));
    // Terminal boxes are placed like nodes; kept in `nodes`-like boxes until the end.
    std::vector<NodeBox> boxes(static_cast<std::size_t>(numReal));
    for (int v = numNodes; v < numReal; ++v) {
        NodeBox& b = boxes[v];
        b.w = g.width[v];
        b.h = height[v];
        b.x = g.x[v] - b.w / 2 - minX;
        b.layer = g.layer[v];
        // Inputs hug the layer's bottom (close to what they feed), outputs its top.
        b.y = terminalIsInput[v - numNodes] ? layerTop(b.layer) + layerHeight[b.layer] - b.h
                                            : layerTop(b.layer);
        out.width = std::max(out.width, b.x + b.w);
        out.height = std::max(out.height, b.y + b.h);
        Terminal t;
        t.value = terminalValues[v - numNodes]->name();
        t.isInput = terminalIsInput[v - numNodes] != 0;
        t.x = b.x;
        t.y = b.y;
        t.w = b.w;
        t.h = b.h;
        t.layer = b.layer;
        out.terminals.push_back(std::move(t));
    }
    for (int v = 0; v < numNodes; ++v) {
        NodeBox& b = out.nodes[v];
        b.id = nodes[v]->id();
        b.w = g.width[v];
        b.h = height[v];
        b.x = g.x[v] - b.w / 2 - minX;
        b.layer = g.layer[v];
        b.y = layerTop(b.layer);
        out.indexById.emplace(b.id, static_cast<std::size_t>(v));
        out.width = std::max(out.width, b.x + b.w);
        out.height = std::max(out.height, b.y + b.h);
        boxes[v] = b;
    }

    // Trunks: the bottom centre of each producer with a dummy chain, then its chain's points.
    std::vector<int> trunkOf(static_cast<std::size_t>(numReal), -1);
    for (int u = 0; u < numReal; ++u) {
        const auto& chain = chainOf[u];
        if (chain.empty()) continue;
        const NodeBox& box = boxes[u];
        std::vector<Point> trunk;
        trunk.reserve(1 + 2 * chain.size());
        trunk.push_back({box.centerX(), box.y + box.h});
        for (int d : chain) {
            double dx = g.x[d] - minX;
            int l = g.layer[d];
            trunk.push_back({dx, layerTop(l)});
            trunk.push_back({dx, layerTop(l) + layerHeight[l]});
        }
        trunkOf[u] = static_cast<int>(out.trunks.size());
        out.trunks.push_back(std::move(trunk));
    }

    out.edges.reserve(dag.size());
    for (const DagEdge& e : dag) {
        EdgePath path;
        if (e.from < numNodes)
            path.from = nodes[e.from]->id();
        else
            path.fromTerminal = e.from - numNodes;
        if (e.to < numNodes)
            path.to = nodes[e.to]->id();
        else
            path.toTerminal = e.to - numNodes;
        path.toInput = e.toInput;
        path.reversed = e.reversed;
        const NodeBox& top = boxes[e.top];
        const NodeBox& bottom = boxes[e.bottom];
        int crossed = bottom.layer - top.layer - 1;
        if (crossed > 0) {
            path.trunk = trunkOf[e.top];
            path.trunkPoints = 1 + 2 * crossed;
        } else {
            path.points.push_back({top.centerX(), top.y + top.h});
        }
        path.points.push_back({bottom.centerX(), bottom.y});
        out.edges.push_back(std::move(path));
    }
    return out;
}

}  // namespace wh::layout
