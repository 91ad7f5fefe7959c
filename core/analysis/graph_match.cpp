#include "core/analysis/graph_match.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include <fmt/format.h>

namespace wh::analysis {
namespace {

std::string dimsText(const std::vector<int64_t>& dims) {
    if (dims.empty()) return "scalar";
    return fmt::format("{}", fmt::join(dims, "×"));
}

// The first difference between two attributes of the same name, or nullopt. Tensors and graphs
// (If branches, Loop bodies) are not compared: their holders count as changed elsewhere or not
// at all.
bool sameAttribute(const ir::Attribute& a, const ir::Attribute& b) {
    if (a.type != b.type) return false;
    switch (a.type) {
        case ir::AttrType::kFloat:
            return a.f == b.f;
        case ir::AttrType::kInt:
            return a.i == b.i;
        case ir::AttrType::kString:
            return a.s == b.s;
        case ir::AttrType::kFloats:
            return a.floats == b.floats;
        case ir::AttrType::kInts:
            return a.ints == b.ints;
        case ir::AttrType::kStrings:
            return a.strings == b.strings;
        default:
            return true;
    }
}

std::optional<std::string> constantDifference(const ir::Tensor& a, const ir::Tensor& b,
                                              const std::string& what) {
    if (a.dtype != b.dtype)
        return fmt::format("{} {} → {}", what, ir::dtypeName(a.dtype), ir::dtypeName(b.dtype));
    if (a.dims != b.dims)
        return fmt::format("{} {} → {}", what, dimsText(a.dims), dimsText(b.dims));
    if (a.dtype == ir::DType::kString)
        return a.strings == b.strings ? std::nullopt
                                      : std::optional(fmt::format("{} values", what));
    if (a.byteSize() != b.byteSize() || a.byteSize() > kCompareBytes) return std::nullopt;
    if (a.data != b.data && a.byteSize() > 0 &&
        std::memcmp(a.data->data(), b.data->data(), a.byteSize()) != 0)
        return fmt::format("{} values", what);
    return std::nullopt;
}

// What makes `a` and `b` (matched) differ: up to three reasons joined by "; " (empty when
// nothing does; constant inputs first: that is what a compression changes), and whether any is
// structural — more than a constant's values.
struct Difference {
    std::string reason;
    bool structural = false;
};

Difference difference(const ir::Node& a, const ir::Node& b) {
    if (a.opType != b.opType || a.domain != b.domain)
        return {fmt::format("{} → {}", a.opType, b.opType), true};
    Difference d;
    std::vector<std::string> reasons;
    auto note = [&](std::string reason, bool structural = true) {
        reasons.push_back(std::move(reason));
        d.structural = d.structural || structural;
    };
    const int inputs = std::max(a.numInputs(), b.numInputs());
    for (int i = 0; i < inputs; ++i) {
        const ir::Value* va = a.input(i);
        const ir::Value* vb = b.input(i);
        const std::string what = i == 1 ? "weight" : i == 2 ? "bias" : fmt::format("input {}", i);
        if (!va || !vb) {
            if (va != vb) note(fmt::format("{} {}", what, va ? "removed" : "added"));
            continue;
        }
        const ir::Tensor* ta = ir::constantTensor(va);
        const ir::Tensor* tb = ir::constantTensor(vb);
        if (ta && !tb) {
            const ir::Node* p = vb->producer();
            note(p ? fmt::format("{} behind {}", what, p->opType)
                   : fmt::format("{} no longer constant", what));
        } else if (!ta && tb) {
            note(fmt::format("{} now constant", what));
        } else if (ta && tb) {
            if (auto c = constantDifference(*ta, *tb, what))
                note(*c, ta->dtype != tb->dtype || ta->dims != tb->dims);
        }
    }
    if (a.numOutputs() != b.numOutputs())
        note(fmt::format("{} → {} outputs", a.numOutputs(), b.numOutputs()));
    for (const ir::Attribute& x : a.attributes()) {
        const ir::Attribute* y = b.attribute(x.name);
        if (!y)
            note(fmt::format("attribute {} removed", x.name));
        else if (!sameAttribute(x, *y))
            note(fmt::format("attribute {}", x.name));
    }
    for (const ir::Attribute& y : b.attributes())
        if (!a.attribute(y.name)) note(fmt::format("attribute {} added", y.name));
    if (reasons.size() > 3) reasons.resize(3);
    d.reason = fmt::format("{}", fmt::join(reasons, "; "));
    return d;
}

// Names that occur once among `graph`'s top-level nodes.
std::unordered_map<std::string, const ir::Node*> uniqueNames(const ir::Graph& graph) {
    std::unordered_map<std::string, const ir::Node*> byName;
    std::unordered_map<std::string, int> count;
    for (const ir::Node* n : graph.nodes())
        if (!n->name.empty() && ++count[n->name] == 1) byName[n->name] = n;
    std::erase_if(byName, [&](const auto& kv) { return count[kv.first] > 1; });
    return byName;
}

std::string firstOutputName(const ir::Node& n) {
    return n.numOutputs() > 0 && n.output(0) ? n.output(0)->name() : std::string();
}

std::string firstInputName(const ir::Node& n) {
    return n.numInputs() > 0 && n.input(0) ? n.input(0)->name() : std::string();
}

}  // namespace

int GraphMatch::count(MatchKind kind) const {
    int c = 0;
    for (const NodeMatch& m : nodes) c += m.kind == kind;
    return c;
}

const NodeMatch* GraphMatch::ofBefore(ir::NodeId id) const {
    auto it = byBefore.find(id);
    return it == byBefore.end() ? nullptr : &nodes[it->second];
}

const NodeMatch* GraphMatch::ofAfter(ir::NodeId id) const {
    auto it = byAfter.find(id);
    return it == byAfter.end() ? nullptr : &nodes[it->second];
}

const char* matchKindName(MatchKind kind) {
    switch (kind) {
        case MatchKind::kSame:
            return "same";
        case MatchKind::kValues:
            return "values";
        case MatchKind::kChanged:
            return "changed";
        case MatchKind::kRemoved:
            return "removed";
        case MatchKind::kInserted:
            return "inserted";
    }
    return "?";
}

GraphMatch matchGraphs(const ir::Graph& before, const ir::Graph& after) {
    std::unordered_map<const ir::Node*, const ir::Node*> pair;   // before -> after
    std::unordered_map<const ir::Node*, const ir::Node*> taken;  // after -> before

    // (1) Unique names.
    const auto namesBefore = uniqueNames(before);
    const auto namesAfter = uniqueNames(after);
    for (const auto& [name, a] : namesBefore)
        if (auto it = namesAfter.find(name); it != namesAfter.end()) {
            pair[a] = it->second;
            taken[it->second] = a;
        }
    // (2), (3): by the first output's, then the first input's value name and the op type.
    for (auto key : {&firstOutputName, &firstInputName}) {
        std::unordered_map<std::string, std::vector<const ir::Node*>> open;
        for (const ir::Node* b : after.nodes())
            if (!taken.count(b))
                if (std::string k = key(*b); !k.empty()) open[k + '\n' + b->opType].push_back(b);
        for (const ir::Node* a : before.nodes()) {
            if (pair.count(a)) continue;
            const std::string k = key(*a);
            if (k.empty()) continue;
            auto it = open.find(k + '\n' + a->opType);
            if (it == open.end()) continue;
            for (const ir::Node* b : it->second)
                if (!taken.count(b)) {
                    pair[a] = b;
                    taken[b] = a;
                    break;
                }
        }
    }

    GraphMatch match;
    for (const ir::Node* a : before.nodes()) {
        NodeMatch m;
        m.before = a->id();
        if (auto it = pair.find(a); it != pair.end()) {
            m.after = it->second->id();
            Difference d = difference(*a, *it->second);
            m.kind = d.reason.empty() ? MatchKind::kSame
                     : d.structural   ? MatchKind::kChanged
                                      : MatchKind::kValues;
            m.reason = std::move(d.reason);
            match.byAfter[m.after] = match.nodes.size();
        } else {
            m.kind = MatchKind::kRemoved;
        }
        match.byBefore[m.before] = match.nodes.size();
        match.nodes.push_back(std::move(m));
    }
    for (const ir::Node* b : after.nodes()) {
        if (taken.count(b)) continue;
        match.insertedQuantizers +=
            ir::isOnnxOp(*b, "QuantizeLinear") || ir::isOnnxOp(*b, "DequantizeLinear");
        match.byAfter[b->id()] = match.nodes.size();
        match.nodes.push_back({0, b->id(), MatchKind::kInserted, {}});
    }
    return match;
}

}  // namespace wh::analysis
