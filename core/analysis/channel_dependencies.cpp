#include "core/analysis/channel_dependencies.h"

#include <algorithm>
#include <numeric>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/engine/benchmark.h"
#include "core/engine/plan.h"

namespace wh::analysis {

const ir::Tensor* channelParamTensor(const ir::Value* value) {
    for (int depth = 0; value && depth < 16; ++depth) {
        if (value->isGraphInput()) return nullptr;
        if (const ir::Tensor* t = ir::constantTensor(value)) return t;
        const ir::Node* p = value->producer();
        if (!p || !ir::isOnnxOp(*p, "Identity")) return nullptr;
        value = p->input(0);
    }
    return nullptr;
}

int64_t ChannelDependencies::numPrunableChannels() const {
    int64_t n = 0;
    for (const ChannelGroup& g : groups) n += static_cast<int64_t>(g.channels.size());
    return n;
}

namespace {

using Ids = std::vector<int64_t>;

const std::unordered_set<std::string> kPassThrough = {
    "Relu",          "LeakyRelu",    "Clip",
    "Sigmoid",       "HardSigmoid",  "HardSwish",
    "Tanh",          "Elu",          "Selu",
    "Celu",          "Softplus",     "Softsign",
    "Gelu",          "Erf",          "Exp",
    "Log",           "Neg",          "Abs",
    "Sqrt",          "Reciprocal",   "Floor",
    "Ceil",          "Round",        "Sign",
    "Sin",           "Cos",          "Identity",
    "Dropout",       "Cast",         "MaxPool",
    "AveragePool",   "LpPool",       "GlobalAveragePool",
    "GlobalMaxPool", "GlobalLpPool", "ThresholdedRelu",
    "Shrink",        "Mish",         "Resize",
    "Upsample"};
const std::unordered_set<std::string> kElementwise = {"Add", "Sub", "Mul",  "Div", "Sum",
                                                      "Max", "Min", "Mean", "Pow", "PRelu"};
const std::unordered_set<std::string> kReduce = {
    "ReduceMean", "ReduceSum", "ReduceMax",    "ReduceMin",       "ReduceProd",
    "ReduceL1",   "ReduceL2",  "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"};

int64_t product(const engine::Dims& d, std::size_t from) {
    int64_t p = 1;
    for (std::size_t i = from; i < d.size(); ++i) p *= d[i];
    return p;
}

bool allKnown(const engine::Dims& d) {
    return std::all_of(d.begin(), d.end(), [](int64_t x) { return x >= 0; });
}

std::vector<int64_t> intsOf(const ir::Tensor& t) {
    std::vector<int64_t> v;
    for (int64_t i = 0; i < t.numElements(); ++i)
        v.push_back(static_cast<int64_t>(t.elementAsDouble(i)));
    return v;
}

class Analyzer {
public:
    Analyzer(const ir::Model& model, const engine::Plan& plan,
             const std::map<std::string, engine::Dims>& inputShapes)
        : m_model(model), m_g(*model.graph) {
        for (const ir::Value* v : m_g.initializers()) {
            m_dims[v->name()] = v->initializer()->dims;
            m_const.insert(v->name());
        }
        for (const auto& [name, dims] : inputShapes) m_dims[name] = dims;
        for (const engine::PlannedNode& p : plan.nodes()) {
            const ir::Node* n = m_g.findNode(p.id);
            if (!n) continue;
            if (p.folded) m_folded.insert(p.id);
            for (std::size_t i = 0; i < p.outputs.size() && i < n->outputs().size(); ++i) {
                const ir::Value* o = n->output(static_cast<int>(i));
                if (!o) continue;
                if (p.outputs[i].rankKnown) m_dims[o->name()] = p.outputs[i].dims;
                if (p.folded || p.outputs[i].constant) m_const.insert(o->name());
            }
        }
    }

    ChannelDependencies run();

private:
    // ---- ids and ties --------------------------------------------------------------------
    int64_t newRoot(const ir::Node& n, int64_t channel) {
        m_parent.push_back(static_cast<int64_t>(m_parent.size()));
        m_roots.push_back({n.id(), channel});
        m_reason.emplace_back();
        return static_cast<int64_t>(m_parent.size()) - 1;
    }
    int64_t find(int64_t x) {
        while (m_parent[x] != x) x = m_parent[x] = m_parent[m_parent[x]];
        return x;
    }
    void unite(int64_t a, int64_t b) {
        a = find(a);
        b = find(b);
        if (a == b) return;
        if (b < a) std::swap(a, b);
        m_parent[b] = a;
    }
    void block(const Ids& ids, const std::string& reason) {
        for (int64_t id : ids)
            if (m_reason[id].empty()) m_reason[id] = reason;
    }
    const Ids* idsOf(const ir::Value* v) const {
        if (!v) return nullptr;
        auto it = m_ids.find(v->name());
        return it == m_ids.end() ? nullptr : &it->second;
    }
    void blockValue(const ir::Value* v, const std::string& reason) {
        if (const Ids* ids = idsOf(v)) block(*ids, reason);
    }
    void setIds(const ir::Value* v, Ids ids) {
        if (v) m_ids[v->name()] = std::move(ids);
    }
    const engine::Dims* dimsOf(const ir::Value* v) const {
        if (!v) return nullptr;
        auto it = m_dims.find(v->name());
        return it == m_dims.end() ? nullptr : &it->second;
    }
    bool isConst(const ir::Value* v) const { return v && m_const.count(v->name()); }

    std::string where(const ir::Node& n) const {
        return fmt::format("{} '{}'", n.opType, n.displayName());
    }
    void blockInputs(const ir::Node& n, const std::string& reason) {
        for (const ir::Value* v : n.inputs()) blockValue(v, reason);
    }

    /// Records slicing input `input` of `n` along `axis` by `ids`; false (and the ids blocked)
    /// when that parameter is not a constant of the right size.
    bool sliceParam(const ir::Node& n, int input, int axis, const Ids& ids) {
        const ir::Value* v = n.input(input);
        if (!v) return true;
        const ir::Tensor* t = channelParamTensor(v);
        if (!t) {
            block(ids, fmt::format("input {} ('{}') of {} is not a constant", input, v->name(),
                                   where(n)));
            return false;
        }
        if (axis < 0 || axis >= static_cast<int>(t->dims.size()) ||
            t->dims[axis] != static_cast<int64_t>(ids.size()) ||
            (t->dtype != ir::DType::kString &&
             t->byteSize() !=
                 static_cast<std::size_t>(t->numElements()) * ir::dtypeSize(t->dtype))) {
            block(ids, fmt::format("input {} ('{}') of {} has dims {} where {} channels on axis "
                                   "{} were expected",
                                   input, v->name(), where(n), engine::dimsToString(t->dims),
                                   ids.size(), axis));
            return false;
        }
        if (t->dtype == ir::DType::kString) {
            block(ids, fmt::format("input {} of {} holds strings", input, where(n)));
            return false;
        }
        m_edits.push_back(
            {ChannelEditKind::kSliceParam, n.id(), n.displayName(), input, axis, ids, {}});
        return true;
    }

    Ids newRoots(const ir::Node& n, int64_t count) {
        Ids ids(count);
        for (int64_t c = 0; c < count; ++c) ids[c] = newRoot(n, c);
        return ids;
    }

    void visit(const ir::Node& n);
    void visitConv(const ir::Node& n);
    void visitGemm(const ir::Node& n, bool matmul);
    void visitElementwise(const ir::Node& n);
    void visitConcat(const ir::Node& n);
    void visitSplit(const ir::Node& n);
    void visitSlice(const ir::Node& n);
    void visitReshape(const ir::Node& n);
    void visitPad(const ir::Node& n);
    void visitReduce(const ir::Node& n);
    void unknown(const ir::Node& n, const std::string& why) {
        blockInputs(n,
                    why.empty() ? fmt::format("{} does not keep channels apart", where(n)) : why);
    }
    void collectSubgraphReads(const ir::Graph& g);

    const ir::Model& m_model;
    const ir::Graph& m_g;
    std::unordered_map<std::string, engine::Dims> m_dims;
    std::unordered_set<std::string> m_const;
    std::unordered_set<ir::NodeId> m_folded;
    std::unordered_map<std::string, Ids> m_ids;
    std::vector<int64_t> m_parent;
    std::vector<ChannelRoot> m_roots;
    std::vector<std::string> m_reason;
    std::vector<ChannelEdit> m_edits;
};

void Analyzer::visitConv(const ir::Node& n) {
    const ir::Value* x = n.input(0);
    const Ids* xIds = idsOf(x);
    const ir::Tensor* w = channelParamTensor(n.input(1));
    const engine::Dims* xd = dimsOf(x);
    if (!w || w->dims.size() < 3 || !xd || xd->size() < 2 || (*xd)[1] < 0) {
        unknown(n, w ? fmt::format("{}: input shape unknown", where(n))
                     : fmt::format("{}: weights are not a constant", where(n)));
        return;
    }
    const int64_t group = n.attrInt("group", 1);
    const int64_t cin = (*xd)[1], cout = w->dims[0], cgIn = w->dims[1];
    if (group <= 0 || cgIn * group != cin || cout % group != 0) {
        unknown(n, fmt::format("{}: weights {} do not match {} input channels in {} groups",
                               where(n), engine::dimsToString(w->dims), cin, group));
        return;
    }
    const int64_t cgOut = cout / group;
    if (group > 1 && group == cin) {
        // Depthwise: output channel o reads input channel o / multiplier only, so it is that
        // input channel's (weights row o, bias o); `group` becomes the kept input channels.
        if (!xIds) return;  // input channels we cannot remove: the output is not removable
        Ids out(cout);
        for (int64_t o = 0; o < cout; ++o) out[o] = (*xIds)[o / cgOut];
        sliceParam(n, 1, 0, out);
        sliceParam(n, 2, 0, out);
        m_edits.push_back(
            {ChannelEditKind::kDepthwiseGroup, n.id(), n.displayName(), 0, 1, *xIds, {}});
        setIds(n.output(0), std::move(out));
        return;
    }
    if (xIds) {
        // Grouped: every group must keep as many input channels, so local channel i of every
        // group goes together (weights axis 1 has one entry per local channel).
        for (int64_t k = 1; k < group; ++k)
            for (int64_t i = 0; i < cgIn; ++i) unite((*xIds)[k * cgIn + i], (*xIds)[i]);
        sliceParam(n, 1, 1, Ids(xIds->begin(), xIds->begin() + cgIn));
    }
    Ids out = newRoots(n, cout);
    for (int64_t k = 1; k < group; ++k)
        for (int64_t j = 0; j < cgOut; ++j) unite(out[k * cgOut + j], out[j]);
    sliceParam(n, 1, 0, out);
    sliceParam(n, 2, 0, out);
    setIds(n.output(0), std::move(out));
}

void Analyzer::visitGemm(const ir::Node& n, bool matmul) {
    const ir::Value* a = n.input(0);
    const ir::Tensor* b = channelParamTensor(n.input(1));
    const engine::Dims* ad = dimsOf(a);
    const bool transA = !matmul && n.attrInt("transA", 0) != 0;
    const bool transB = !matmul && n.attrInt("transB", 0) != 0;
    if (!b || b->dims.size() != 2 || !ad || ad->size() != 2 || transA) {
        unknown(n, fmt::format("{}: {}", where(n),
                               !b       ? "weights are not a constant"
                               : transA ? "transA = 1"
                                        : "not a 2-D product"));
        return;
    }
    const int kAxis = transB ? 1 : 0, nAxis = transB ? 0 : 1;
    if (const Ids* aIds = idsOf(a)) sliceParam(n, 1, kAxis, *aIds);
    Ids out = newRoots(n, b->dims[nAxis]);
    sliceParam(n, 1, nAxis, out);
    if (!matmul && n.input(2)) {
        const ir::Tensor* c = channelParamTensor(n.input(2));
        if (c && !c->dims.empty() && c->dims.back() == static_cast<int64_t>(out.size()) &&
            out.size() > 1)
            sliceParam(n, 2, static_cast<int>(c->dims.size()) - 1, out);
        else if (!c)
            block(out, fmt::format("{}: bias is not a constant", where(n)));
    }
    setIds(n.output(0), std::move(out));
}

void Analyzer::visitElementwise(const ir::Node& n) {
    const engine::Dims* od = dimsOf(n.output(0));
    if (!od || od->size() < 2 || (*od)[1] < 0) {
        unknown(n, fmt::format("{}: output shape unknown", where(n)));
        return;
    }
    const int64_t rank = static_cast<int64_t>(od->size()), channels = (*od)[1];
    const Ids* out = nullptr;
    std::vector<std::pair<int, int>> constants;  // (input, axis)
    std::string opaque;
    const bool concat = n.opType == "Concat";
    for (int i = 0; i < n.numInputs(); ++i) {
        const ir::Value* v = n.input(i);
        if (!v) continue;
        const engine::Dims* d = dimsOf(v);
        if (!d) {
            opaque = fmt::format("{}: shape of input '{}' unknown", where(n), v->name());
            continue;
        }
        const int64_t axis = 1 - (rank - static_cast<int64_t>(d->size()));
        if (axis < 0 || (*d)[axis] == 1) continue;  // broadcast over the channels
        if (const Ids* ids = idsOf(v); ids && static_cast<int64_t>(ids->size()) == channels) {
            if (!out)
                out = ids;
            else
                for (int64_t c = 0; c < channels; ++c) unite((*out)[c], (*ids)[c]);
        } else if (isConst(v) && !concat) {
            constants.emplace_back(i, static_cast<int>(axis));
        } else {
            opaque = fmt::format("{}: input '{}' has channels that cannot be followed", where(n),
                                 v->name());
        }
    }
    if (!out) return;
    if (!opaque.empty()) {
        blockInputs(n, opaque);
        return;
    }
    for (const auto& [i, axis] : constants)
        if (!sliceParam(n, i, axis, *out)) return;
    setIds(n.output(0), *out);
}

void Analyzer::visitConcat(const ir::Node& n) {
    const engine::Dims* od = dimsOf(n.output(0));
    if (!od || od->size() < 2) {
        unknown(n, fmt::format("{}: output shape unknown", where(n)));
        return;
    }
    int64_t axis = n.attrInt("axis", 0);
    if (axis < 0) axis += static_cast<int64_t>(od->size());
    if (axis != 1) {
        visitElementwise(n);  // inputs share the channel axis position by position
        return;
    }
    Ids out;
    bool any = false;
    for (const ir::Value* v : n.inputs()) {
        const Ids* ids = idsOf(v);
        if (!ids) {
            blockInputs(n, fmt::format("{}: input '{}' has channels that cannot be followed",
                                       where(n), v ? v->name() : std::string()));
            return;
        }
        any = true;
        out.insert(out.end(), ids->begin(), ids->end());
    }
    if (any) setIds(n.output(0), std::move(out));
}

void Analyzer::visitSplit(const ir::Node& n) {
    const Ids* in = idsOf(n.input(0));
    const engine::Dims* xd = dimsOf(n.input(0));
    if (!in) return;
    if (!xd) {
        unknown(n, fmt::format("{}: input shape unknown", where(n)));
        return;
    }
    int64_t axis = n.attrInt("axis", 0);
    if (axis < 0) axis += static_cast<int64_t>(xd->size());
    if (axis != 1) {
        for (const ir::Value* o : n.outputs()) setIds(o, *in);
        return;
    }
    ChannelEdit edit{ChannelEditKind::kSplitSizes, n.id(), n.displayName(), 0, 1, *in, {}};
    int64_t begin = 0;
    for (const ir::Value* o : n.outputs()) {
        const engine::Dims* d = dimsOf(o);
        if (!o || !d || d->size() < 2 || (*d)[1] < 0) {
            unknown(n, fmt::format("{}: output shape unknown", where(n)));
            return;
        }
        edit.ranges.emplace_back(begin, begin + (*d)[1]);
        begin += (*d)[1];
    }
    if (begin != static_cast<int64_t>(in->size())) {
        unknown(n, fmt::format("{}: outputs do not cover the input channels", where(n)));
        return;
    }
    if (n.numInputs() > 1 && n.input(1) && !channelParamTensor(n.input(1))) {
        unknown(n, fmt::format("{}: split sizes are not a constant", where(n)));
        return;
    }
    for (std::size_t k = 0; k < edit.ranges.size(); ++k)
        setIds(n.output(static_cast<int>(k)),
               Ids(in->begin() + edit.ranges[k].first, in->begin() + edit.ranges[k].second));
    m_edits.push_back(std::move(edit));
}

void Analyzer::visitSlice(const ir::Node& n) {
    const Ids* in = idsOf(n.input(0));
    const engine::Dims* xd = dimsOf(n.input(0));
    if (!in) return;
    if (!xd) {
        unknown(n, fmt::format("{}: input shape unknown", where(n)));
        return;
    }
    const int64_t rank = static_cast<int64_t>(xd->size());
    const bool attrs = m_model.opsetVersion() < 10;
    std::vector<int64_t> starts, ends, axes, steps;
    if (attrs) {
        starts = n.attrInts("starts");
        ends = n.attrInts("ends");
        axes = n.attrInts("axes");
    } else {
        const ir::Tensor* s = channelParamTensor(n.input(1));
        const ir::Tensor* e = channelParamTensor(n.input(2));
        const ir::Tensor* a = n.input(3) ? channelParamTensor(n.input(3)) : nullptr;
        const ir::Tensor* st = n.input(4) ? channelParamTensor(n.input(4)) : nullptr;
        if (!s || !e || (n.input(3) && !a) || (n.input(4) && !st)) {
            unknown(n, fmt::format("{}: starts, ends, axes or steps are not constants", where(n)));
            return;
        }
        starts = intsOf(*s);
        ends = intsOf(*e);
        if (a) axes = intsOf(*a);
        if (st) steps = intsOf(*st);
    }
    if (axes.empty())
        for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    int entry = -1;
    for (std::size_t i = 0; i < axes.size(); ++i)
        if ((axes[i] < 0 ? axes[i] + rank : axes[i]) == 1) entry = static_cast<int>(i);
    if (entry < 0) {
        setIds(n.output(0), *in);
        return;
    }
    if (!steps.empty() && steps[entry] != 1) {
        unknown(n, fmt::format("{}: slices the channels with step {}", where(n), steps[entry]));
        return;
    }
    const int64_t c = static_cast<int64_t>(in->size());
    auto clampIndex = [c](int64_t i) { return std::clamp(i < 0 ? i + c : i, int64_t{0}, c); };
    const int64_t b = clampIndex(starts[entry]), e = std::max(b, clampIndex(ends[entry]));
    ChannelEdit edit{ChannelEditKind::kSliceBounds, n.id(), n.displayName(), 0, entry, *in, {}};
    edit.ranges.emplace_back(b, e);
    m_edits.push_back(std::move(edit));
    setIds(n.output(0), Ids(in->begin() + b, in->begin() + e));
}

void Analyzer::visitReshape(const ir::Node& n) {
    const Ids* in = idsOf(n.input(0));
    if (!in) return;
    const engine::Dims* xd = dimsOf(n.input(0));
    const engine::Dims* od = dimsOf(n.output(0));
    if (!xd || !od || !allKnown(*xd) || !allKnown(*od) || xd->size() < 2) {
        unknown(n, fmt::format("{}: shapes unknown", where(n)));
        return;
    }
    const int64_t c = (*xd)[1], spatial = product(*xd, 2);
    Ids out;
    if (od->size() >= 2 && (*od)[0] == (*xd)[0] && (*od)[1] == c && product(*od, 2) == spatial) {
        out = *in;  // only the dims after the channels change
    } else if (od->size() == 2 && (*od)[0] == (*xd)[0] && (*od)[1] == c * spatial &&
               (n.opType != "Flatten" || n.attrInt("axis", 1) == 1)) {
        for (int64_t id : *in) out.insert(out.end(), spatial, id);  // [N, C·S]: channel blocks
    } else {
        unknown(n, fmt::format("{}: {} → {} mixes channels", where(n), engine::dimsToString(*xd),
                               engine::dimsToString(*od)));
        return;
    }
    if (n.opType == "Reshape") {
        const ir::Tensor* shape = channelParamTensor(n.input(1));
        if (!shape) {
            unknown(n, fmt::format("{}: the target shape is computed, not a constant", where(n)));
            return;
        }
        const std::vector<int64_t> s = intsOf(*shape);
        if (s.size() > 1 && s[1] > 0)
            m_edits.push_back(
                {ChannelEditKind::kReshapeShape, n.id(), n.displayName(), 1, 1, out, {}});
    }
    setIds(n.output(0), std::move(out));
}

void Analyzer::visitPad(const ir::Node& n) {
    if (!idsOf(n.input(0))) return;
    const engine::Dims* xd = dimsOf(n.input(0));
    std::vector<int64_t> pads;
    if (n.attribute("pads")) {
        pads = n.attrInts("pads");
    } else if (const ir::Tensor* p = channelParamTensor(n.input(1))) {
        pads = intsOf(*p);
    } else {
        unknown(n, fmt::format("{}: pads are not a constant", where(n)));
        return;
    }
    if (n.input(3)) {
        unknown(n, fmt::format("{}: pads only some axes", where(n)));
        return;
    }
    const std::size_t rank = xd ? xd->size() : 0;
    if (!xd || pads.size() != 2 * rank || pads[1] != 0 || pads[rank + 1] != 0) {
        unknown(n, fmt::format("{}: pads the channels", where(n)));
        return;
    }
    setIds(n.output(0), *idsOf(n.input(0)));
}

void Analyzer::visitReduce(const ir::Node& n) {
    if (!idsOf(n.input(0))) return;
    const engine::Dims* xd = dimsOf(n.input(0));
    std::vector<int64_t> axes = n.attrInts("axes");
    if (axes.empty() && n.input(1)) {
        if (const ir::Tensor* a = channelParamTensor(n.input(1))) axes = intsOf(*a);
    }
    if (!xd || axes.empty()) {
        unknown(n, fmt::format("{}: reduces the channels (axes unknown)", where(n)));
        return;
    }
    const int64_t rank = static_cast<int64_t>(xd->size());
    for (int64_t a : axes)
        if ((a < 0 ? a + rank : a) <= 1) {
            unknown(n, fmt::format("{}: reduces axis {}", where(n), a));
            return;
        }
    setIds(n.output(0), *idsOf(n.input(0)));
}

void Analyzer::visit(const ir::Node& n) {
    if (m_folded.count(n.id())) return;
    const std::string& op = n.opType;
    if (!ir::isDefaultDomain(n.domain)) return unknown(n, {});
    if (!n.subgraphs().empty()) return unknown(n, fmt::format("{} has subgraphs", where(n)));
    if (op == "Conv") return visitConv(n);
    if (op == "Gemm") return visitGemm(n, false);
    if (op == "MatMul") return visitGemm(n, true);
    if (op == "Concat") return visitConcat(n);
    if (op == "Split") return visitSplit(n);
    if (op == "Slice") return visitSlice(n);
    if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze")
        return visitReshape(n);
    if (op == "Pad") return visitPad(n);
    if (kReduce.count(op)) return visitReduce(n);
    if (op == "Shape" || op == "Size") return;  // reads no channel values
    if (kElementwise.count(op)) return visitElementwise(n);
    const Ids* in = idsOf(n.input(0));
    if (op == "BatchNormalization" || op == "InstanceNormalization") {
        if (!in) return;
        if (n.attrInt("spatial", 1) != 1)
            return unknown(n, fmt::format("{}: spatial = 0", where(n)));
        for (int i = 1; i < (op == "BatchNormalization" ? 5 : 3); ++i)
            if (!sliceParam(n, i, 0, *in)) return;
        setIds(n.output(0), *in);
        return;
    }
    if (op == "Transpose") {
        const std::vector<int64_t> perm = n.attrInts("perm");
        if (perm.size() >= 2 && perm[0] == 0 && perm[1] == 1) {
            if (in) setIds(n.output(0), *in);
            return;
        }
        return unknown(n, fmt::format("{} moves the channel axis", where(n)));
    }
    if (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") {
        const engine::Dims* xd = dimsOf(n.input(0));
        int64_t axis = n.attrInt("axis", m_model.opsetVersion() >= 13 ? -1 : 1);
        if (xd && axis < 0) axis += static_cast<int64_t>(xd->size());
        if (in && xd && axis >= 2)
            setIds(n.output(0), *in);
        else if (in)
            unknown(n, fmt::format("{} normalises over the channels", where(n)));
        return;
    }
    if (kPassThrough.count(op)) {
        if (!in) return;
        const engine::Dims* xd = dimsOf(n.input(0));
        const engine::Dims* od = dimsOf(n.output(0));
        if (!xd || !od || xd->size() < 2 || od->size() < 2 || (*xd)[1] != (*od)[1]) {
            return unknown(n, fmt::format("{}: channel count not kept", where(n)));
        }
        if ((op == "Resize" || op == "Upsample") && n.input(3))
            return unknown(n, fmt::format("{}: target sizes given explicitly", where(n)));
        if (op == "MaxPool" && n.output(1) && n.output(1)->hasUses())
            return unknown(n, fmt::format("{}: indices output is used", where(n)));
        setIds(n.output(0), *in);
        if (op == "Dropout" && n.output(1)) setIds(n.output(1), *in);
        return;
    }
    unknown(n, {});
}

void Analyzer::collectSubgraphReads(const ir::Graph& g) {
    for (const ir::Node* n : g.nodes())
        for (const ir::Graph* sub : n->subgraphs())
            for (const ir::Node* s : sub->nodes()) {
                for (const ir::Value* v : s->inputs())
                    if (v && v->isCapture())
                        if (const ir::Value* outer = m_g.findValue(v->name()))
                            blockValue(outer, fmt::format("'{}' is read inside a subgraph of {}",
                                                          v->name(), where(*n)));
            }
}

ChannelDependencies Analyzer::run() {
    for (const ir::Node* n : m_g.nodes()) visit(*n);
    for (const ir::Value* v : m_g.outputs())
        blockValue(v, fmt::format("reaches graph output '{}'", v->name()));
    collectSubgraphReads(m_g);

    ChannelDependencies deps;
    deps.opset = m_model.opsetVersion();
    const int64_t count = static_cast<int64_t>(m_parent.size());
    // A channel (union-find class) is blocked by the first reason of any of its ids.
    std::vector<std::string> classReason(count);
    for (int64_t id = 0; id < count; ++id) {
        const int64_t r = find(id);
        if (classReason[r].empty() && !m_reason[id].empty()) classReason[r] = m_reason[id];
    }
    // Groups: channels linked through a shared producer node.
    std::vector<int64_t> groupParent(count);
    std::iota(groupParent.begin(), groupParent.end(), 0);
    auto gfind = [&](int64_t x) {
        while (groupParent[x] != x) x = groupParent[x] = groupParent[groupParent[x]];
        return x;
    };
    std::unordered_map<ir::NodeId, int64_t> firstOfNode;
    for (int64_t id = 0; id < count; ++id) {
        const int64_t r = find(id);
        if (!classReason[r].empty()) continue;
        auto [it, fresh] = firstOfNode.emplace(m_roots[id].node, r);
        if (!fresh) {
            int64_t a = gfind(it->second), b = gfind(r);
            if (a != b) groupParent[std::max(a, b)] = std::min(a, b);
        }
    }
    deps.channelOfId.assign(count, {-1, -1});
    deps.rootOfId = m_roots;
    std::unordered_map<int64_t, int> groupOfRep;
    std::unordered_map<int64_t, int> channelOfClass;
    std::vector<std::unordered_set<ir::NodeId>> producersSeen;
    for (int64_t id = 0; id < count; ++id) {
        const int64_t r = find(id);
        if (!classReason[r].empty()) continue;
        const int64_t gr = gfind(r);
        auto [git, gfresh] = groupOfRep.emplace(gr, static_cast<int>(deps.groups.size()));
        if (gfresh) {
            deps.groups.emplace_back();
            producersSeen.emplace_back();
        }
        ChannelGroup& group = deps.groups[git->second];
        auto [cit, cfresh] = channelOfClass.emplace(r, static_cast<int>(group.channels.size()));
        if (cfresh) group.channels.emplace_back();
        group.channels[cit->second].push_back(m_roots[id]);
        if (producersSeen[git->second].insert(m_roots[id].node).second)
            group.producers.push_back(m_roots[id].node);
        deps.channelOfId[id] = {git->second, cit->second};
    }
    // Blocked producer channels, by node and reason.
    std::map<std::pair<ir::NodeId, std::string>, std::size_t> blockedAt;
    for (int64_t id = 0; id < count; ++id) {
        const std::string& why = classReason[find(id)];
        if (why.empty()) continue;
        auto key = std::make_pair(m_roots[id].node, why);
        auto [it, fresh] = blockedAt.emplace(key, deps.blocked.size());
        if (fresh) {
            const ir::Node* node = m_g.findNode(m_roots[id].node);
            deps.blocked.push_back({m_roots[id].node, node ? node->displayName() : "", {}, why});
        }
        deps.blocked[it->second].channels.push_back(m_roots[id].channel);
    }
    // Parameters each group touches.
    std::vector<std::set<std::tuple<ir::NodeId, int, int>>> paramsSeen(deps.groups.size());
    for (const ChannelEdit& e : m_edits) {
        if (e.kind != ChannelEditKind::kSliceParam) continue;
        const ir::Node* node = m_g.findNode(e.node);
        for (int64_t id : e.ids) {
            const int gi = deps.channelOfId[id].first;
            if (gi < 0 || !paramsSeen[gi].insert({e.node, e.input, e.axis}).second) continue;
            deps.groups[gi].params.push_back(
                {e.node, e.nodeName, node ? node->opType : "", e.input, e.axis});
        }
    }
    deps.edits = std::move(m_edits);
    for (auto& [name, ids] : m_ids) deps.tensors.push_back({name, std::move(ids)});
    std::sort(deps.tensors.begin(), deps.tensors.end(),
              [](const ChannelTensor& a, const ChannelTensor& b) { return a.value < b.value; });
    return deps;
}

}  // namespace

Expected<ChannelDependencies> analyzeChannelDependencies(const ir::Model& model,
                                                         const ChannelOptions& options) {
    if (!model.graph) return error(StatusCode::kUsage, "channel dependencies: no graph");
    engine::PlanOptions po;
    po.threads = 1;
    po.fuse = false;  // one step per user node, BN not folded: the graph's own shapes
    po.inputShapes = options.inputShapes;
    for (const ir::Value* v : model.graph->inputs())
        if (!v->hasInitializer() && !po.inputShapes.count(v->name())) {
            engine::Dims d = engine::dimsWithBatch(*v, 1);
            if (!d.empty()) po.inputShapes[v->name()] = d;
        }
    WH_ASSIGN_OR_RETURN(engine::Plan plan, engine::Plan::compile(model, po));
    Analyzer analyzer(model, plan, po.inputShapes);
    return analyzer.run();
}

}  // namespace wh::analysis
