#include "core/algo/prune/prune_plan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <set>

namespace wh::algo::prune {

namespace {

using analysis::ChannelDependencies;
using analysis::ChannelEdit;
using analysis::ChannelEditKind;

/// removed[id]: the id's channel is in the selection.
std::vector<bool> removedIds(const ChannelDependencies& deps, const PruneSelection& selection) {
    std::vector<std::set<int>> chosen(deps.groups.size());
    for (std::size_t g = 0; g < selection.remove.size() && g < deps.groups.size(); ++g)
        chosen[g].insert(selection.remove[g].begin(), selection.remove[g].end());
    std::vector<bool> removed(deps.channelOfId.size(), false);
    for (std::size_t id = 0; id < deps.channelOfId.size(); ++id) {
        const auto [g, c] = deps.channelOfId[id];
        removed[id] = g >= 0 && chosen[g].count(c) > 0;
    }
    return removed;
}

int64_t keptCount(const std::vector<int64_t>& ids, const std::vector<bool>& removed,
                  int64_t begin = 0, int64_t end = -1) {
    if (end < 0) end = static_cast<int64_t>(ids.size());
    int64_t n = 0;
    for (int64_t p = begin; p < end; ++p) n += removed[ids[p]] ? 0 : 1;
    return n;
}

/// `t` without the positions p along `axis` where keep[p] is false.
ir::Tensor sliceTensor(const ir::Tensor& t, int axis, const std::vector<bool>& keep) {
    const std::size_t elem = ir::dtypeSize(t.dtype);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= t.dims[i];
    for (std::size_t i = axis + 1; i < t.dims.size(); ++i) inner *= t.dims[i];
    const int64_t n = t.dims[axis];
    const int64_t kept = std::count(keep.begin(), keep.end(), true);
    const std::size_t block = static_cast<std::size_t>(inner) * elem;
    std::string bytes(static_cast<std::size_t>(outer * kept) * block, '\0');
    const std::byte* src = t.data->data();
    char* dst = bytes.data();
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t p = 0; p < n; ++p)
            if (keep[p]) {
                std::memcpy(dst, src + static_cast<std::size_t>(o * n + p) * block, block);
                dst += block;
            }
    ir::Tensor out;
    out.dtype = t.dtype;
    out.dims = t.dims;
    out.dims[axis] = kept;
    out.data = std::make_shared<const ir::Buffer>(std::move(bytes));
    out.docString = t.docString;
    return out;
}

/// An integer tensor of `like`'s dtype (int32 or int64) and dims holding `values`.
Expected<ir::Tensor> intTensorLike(const ir::Tensor& like, const std::vector<int64_t>& values) {
    ir::Tensor out;
    out.dtype = like.dtype;
    out.dims = like.dims;
    if (like.dtype == ir::DType::kInt64) {
        out.data = std::make_shared<const ir::Buffer>(values.data(), values.size() * 8);
    } else if (like.dtype == ir::DType::kInt32) {
        std::vector<int32_t> v(values.begin(), values.end());
        out.data = std::make_shared<const ir::Buffer>(v.data(), v.size() * 4);
    } else {
        return error(StatusCode::kUnsupported, "integer tensor of type {} cannot be rewritten",
                     ir::dtypeName(like.dtype));
    }
    return out;
}

std::vector<int64_t> intsOf(const ir::Tensor& t) {
    std::vector<int64_t> v;
    for (int64_t i = 0; i < t.numElements(); ++i)
        v.push_back(static_cast<int64_t>(t.elementAsDouble(i)));
    return v;
}

class Pruner {
public:
    Pruner(rewrite::Rewriter& rw, const ChannelDependencies& deps, std::vector<bool> removed)
        : m_rw(rw), m_g(rw.graph()), m_deps(deps), m_removed(std::move(removed)) {}

    Status run(PruneReport& report);

private:
    Expected<ir::Node*> node(const ChannelEdit& e) {
        ir::Node* n = m_g.findNode(e.node);
        if (!n) return error(StatusCode::kBadInput, "prune: node '{}' is gone", e.nodeName);
        return n;
    }
    /// Makes input `input` of `n` read `t`: in place when `n` is the value's only reader,
    /// else through a new initializer (the old value removed once unread).
    Status writeParam(ir::Node& n, int input, ir::Tensor t);
    Status removeIfUnread(ir::Value* v);

    rewrite::Rewriter& m_rw;
    ir::Graph& m_g;
    const ChannelDependencies& m_deps;
    std::vector<bool> m_removed;
};

Status Pruner::removeIfUnread(ir::Value* v) {
    while (v && !v->hasUses() && !v->isGraphOutput() && !v->isGraphInput() &&
           !m_rw.subgraphReader(v->name())) {
        if (v->hasInitializer()) return m_rw.removeInitializer(*v);
        ir::Node* p = v->producer();
        if (!p || p->numOutputs() != 1 ||
            !(ir::isOnnxOp(*p, "Identity") || ir::isOnnxOp(*p, "Constant")))
            return Status::ok();
        ir::Value* in = p->input(0);
        WH_RETURN_STATUS_IF_ERROR(m_rw.eraseNode(*p));
        v = in;
    }
    return Status::ok();
}

Status Pruner::writeParam(ir::Node& n, int input, ir::Tensor t) {
    ir::Value* v = n.input(input);
    if (v->hasInitializer() && v->uses().size() == 1 && !v->isGraphInput() && !v->isGraphOutput() &&
        !m_rw.subgraphReader(v->name()))
        return m_rw.replaceInitializer(*v, std::move(t));
    WH_ASSIGN_OR_RETURN_STATUS(
        ir::Value * fresh,
        m_rw.addInitializer(m_g.uniqueName(v->name() + "_pruned"), std::move(t)));
    WH_RETURN_STATUS_IF_ERROR(m_rw.setInput(n, input, fresh));
    return removeIfUnread(v);
}

Status Pruner::run(PruneReport& report) {
    // Parameter slices, grouped per (node, input) so a weight cut on both axes is written once.
    std::map<std::pair<ir::NodeId, int>, std::vector<const ChannelEdit*>> slices;
    std::vector<std::pair<ir::NodeId, int>> order;
    for (const ChannelEdit& e : m_deps.edits)
        if (e.kind == ChannelEditKind::kSliceParam) {
            auto key = std::make_pair(e.node, e.input);
            if (!slices.count(key)) order.push_back(key);
            slices[key].push_back(&e);
        }
    for (const auto& key : order) {
        const std::vector<const ChannelEdit*>& edits = slices[key];
        WH_ASSIGN_OR_RETURN_STATUS(ir::Node * n, node(*edits.front()));
        const ir::Value* v = n->input(key.second);
        const ir::Tensor* original = v ? analysis::channelParamTensor(v) : nullptr;
        if (!original)
            return makeStatus(StatusCode::kBadInput, "prune: input {} of '{}' is not a constant",
                              key.second, n->displayName());
        ir::Tensor t = *original;
        bool changed = false;
        for (const ChannelEdit* e : edits) {
            if (e->axis >= static_cast<int>(t.dims.size()) ||
                t.dims[e->axis] != static_cast<int64_t>(e->ids.size()))
                return makeStatus(StatusCode::kBadInput,
                                  "prune: input {} of '{}' has dims {}, the analysis expected {} "
                                  "on axis {} (analysis out of date?)",
                                  key.second, n->displayName(), engine::dimsToString(t.dims),
                                  e->ids.size(), e->axis);
            std::vector<bool> keep(e->ids.size());
            for (std::size_t p = 0; p < keep.size(); ++p) keep[p] = !m_removed[e->ids[p]];
            if (std::all_of(keep.begin(), keep.end(), [](bool k) { return k; })) continue;
            const int64_t before = t.numElements();
            t = sliceTensor(t, e->axis, keep);
            report.elementsRemoved += before - t.numElements();
            changed = true;
        }
        if (!changed) continue;
        t.name.clear();
        ++report.paramsSliced;
        WH_RETURN_STATUS_IF_ERROR(writeParam(*n, key.second, std::move(t)));
    }

    for (const ChannelEdit& e : m_deps.edits) {
        if (e.kind == ChannelEditKind::kSliceParam) continue;
        WH_ASSIGN_OR_RETURN_STATUS(ir::Node * n, node(e));
        const int64_t kept = keptCount(e.ids, m_removed);
        if (kept == static_cast<int64_t>(e.ids.size())) continue;
        switch (e.kind) {
            case ChannelEditKind::kDepthwiseGroup:
                WH_RETURN_STATUS_IF_ERROR(
                    m_rw.setAttribute(*n, ir::Attribute::makeInt("group", kept)));
                break;
            case ChannelEditKind::kSplitSizes: {
                std::vector<int64_t> sizes;
                for (const auto& [b, end] : e.ranges)
                    sizes.push_back(keptCount(e.ids, m_removed, b, end));
                if (n->numInputs() > 1 && n->input(1)) {
                    WH_ASSIGN_OR_RETURN_STATUS(
                        ir::Tensor t,
                        intTensorLike(*analysis::channelParamTensor(n->input(1)), sizes));
                    WH_RETURN_STATUS_IF_ERROR(writeParam(*n, 1, std::move(t)));
                } else if (m_deps.opset < 13) {
                    WH_RETURN_STATUS_IF_ERROR(
                        m_rw.setAttribute(*n, ir::Attribute::makeInts("split", sizes)));
                } else {
                    // Opset 13+: the sizes become input 1 (replacing num_outputs, opset 18).
                    ir::Tensor t;
                    t.dtype = ir::DType::kInt64;
                    t.dims = {static_cast<int64_t>(sizes.size())};
                    t.data = std::make_shared<const ir::Buffer>(sizes.data(), sizes.size() * 8);
                    WH_ASSIGN_OR_RETURN_STATUS(
                        ir::Value * s,
                        m_rw.addInitializer(m_g.uniqueName(n->displayName() + "_split"),
                                            std::move(t)));
                    rewrite::NewNode spec(n->opType, {n->input(0)->name(), s->name()}, {});
                    spec.domain = n->domain;
                    spec.name = n->name;
                    spec.docString = n->docString;
                    for (const ir::Value* o : n->outputs())
                        spec.outputs.push_back(o ? o->name() : "");
                    for (const ir::Attribute& a : n->attributes())
                        if (a.name != "num_outputs") spec.attributes.push_back(a.clone());
                    if (auto r = m_rw.replace(*n, std::move(spec)); !r) return r.error();
                }
                break;
            }
            case ChannelEditKind::kSliceBounds: {
                const auto [b, end] = e.ranges.front();
                const int64_t start = keptCount(e.ids, m_removed, 0, b);
                const int64_t stop = start + keptCount(e.ids, m_removed, b, end);
                if (n->attribute("starts")) {  // opset < 10
                    std::vector<int64_t> s = n->attrInts("starts"), t = n->attrInts("ends");
                    s[e.axis] = start;
                    t[e.axis] = stop;
                    WH_RETURN_STATUS_IF_ERROR(
                        m_rw.setAttribute(*n, ir::Attribute::makeInts("starts", s)));
                    WH_RETURN_STATUS_IF_ERROR(
                        m_rw.setAttribute(*n, ir::Attribute::makeInts("ends", t)));
                    break;
                }
                for (int input : {1, 2}) {
                    const ir::Tensor* old = analysis::channelParamTensor(n->input(input));
                    if (!old)
                        return makeStatus(StatusCode::kBadInput,
                                          "prune: Slice '{}' bounds are gone", n->displayName());
                    std::vector<int64_t> v = intsOf(*old);
                    v[e.axis] = input == 1 ? start : stop;
                    WH_ASSIGN_OR_RETURN_STATUS(ir::Tensor t, intTensorLike(*old, v));
                    WH_RETURN_STATUS_IF_ERROR(writeParam(*n, input, std::move(t)));
                }
                break;
            }
            case ChannelEditKind::kReshapeShape: {
                const ir::Tensor* old = analysis::channelParamTensor(n->input(1));
                if (!old)
                    return makeStatus(StatusCode::kBadInput, "prune: Reshape '{}' shape is gone",
                                      n->displayName());
                std::vector<int64_t> v = intsOf(*old);
                v[1] = kept;
                WH_ASSIGN_OR_RETURN_STATUS(ir::Tensor t, intTensorLike(*old, v));
                WH_RETURN_STATUS_IF_ERROR(writeParam(*n, 1, std::move(t)));
                break;
            }
            case ChannelEditKind::kSliceParam:
                break;
        }
    }

    // Declared shapes (value_info, graph inputs and outputs) follow the channel counts.
    for (const analysis::ChannelTensor& ct : m_deps.tensors) {
        ir::Value* v = m_g.findValue(ct.value);
        if (!v || !v->type.isTensor() || !v->type.shape || v->type.shape->rank() < 2) continue;
        const ir::Dim& d = v->type.shape->dims[1];
        const int64_t kept = keptCount(ct.ids, m_removed);
        if (!d.isKnown() || d.value == kept) continue;
        ir::Type type = v->type;
        type.shape->dims[1].value = kept;
        WH_RETURN_STATUS_IF_ERROR(m_rw.setValueType(*v, std::move(type)));
    }
    return m_g.validate();
}

}  // namespace

Status checkPruneFloors(const ChannelDependencies& deps, const PruneSelection& selection,
                        const ir::Graph& graph) {
    for (std::size_t g = 0; g < selection.remove.size(); ++g) {
        if (g >= deps.groups.size())
            return makeStatus(StatusCode::kUsage, "prune: group {} does not exist ({} groups)", g,
                              deps.groups.size());
        for (int c : selection.remove[g])
            if (c < 0 || c >= static_cast<int>(deps.groups[g].channels.size()))
                return makeStatus(StatusCode::kUsage,
                                  "prune: group {} has no channel {} ({} channels)", g, c,
                                  deps.groups[g].channels.size());
    }
    const std::vector<bool> removed = removedIds(deps, selection);
    for (const analysis::ChannelTensor& t : deps.tensors)
        if (!t.ids.empty() && keptCount(t.ids, removed) == 0) {
            const ir::Value* v = graph.findValue(t.value);
            const ir::Node* p = v ? v->producer() : nullptr;
            return makeStatus(StatusCode::kBadInput,
                              "prune: removing the selected channels would leave '{}' ({} '{}') "
                              "without channels; keep at least one of its {}",
                              t.value, p ? p->opType : "value", p ? p->displayName() : t.value,
                              t.ids.size());
        }
    return Status::ok();
}

Expected<PruneReport> applyPrune(rewrite::Rewriter& rewriter, const ChannelDependencies& deps,
                                 const PruneSelection& selection) {
    WH_RETURN_IF_ERROR(checkPruneFloors(deps, selection, rewriter.graph()));
    PruneReport report;
    for (const auto& r : selection.remove) report.channelsRemoved += static_cast<int64_t>(r.size());
    if (report.channelsRemoved == 0) return report;
    rewrite::ScopedGroup group(rewriter, fmt::format("Prune {} channels", report.channelsRemoved));
    Pruner pruner(rewriter, deps, removedIds(deps, selection));
    if (Status s = pruner.run(report); !s.isOk()) {
        group.cancel();
        return tl::unexpected(s);
    }
    return report;
}

PruneSelection selectByL1Norm(const ir::Graph& graph, const ChannelDependencies& deps,
                              double ratio) {
    PruneSelection sel;
    sel.remove.resize(deps.groups.size());
    // Where each channel occurs: (tensor, positions) so the floors can be kept while choosing.
    std::map<std::pair<int, int>, std::map<std::size_t, int64_t>> occurs;
    std::vector<int64_t> kept(deps.tensors.size());
    for (std::size_t t = 0; t < deps.tensors.size(); ++t) {
        kept[t] = static_cast<int64_t>(deps.tensors[t].ids.size());
        for (int64_t id : deps.tensors[t].ids)
            if (deps.channelOfId[id].first >= 0) ++occurs[deps.channelOfId[id]][t];
    }
    for (std::size_t g = 0; g < deps.groups.size(); ++g) {
        const analysis::ChannelGroup& group = deps.groups[g];
        std::vector<std::pair<double, int>> scored;
        for (std::size_t c = 0; c < group.channels.size(); ++c) {
            double sum = 0;
            int64_t count = 0;
            for (const analysis::ChannelRoot& r : group.channels[c]) {
                const ir::Node* n = graph.findNode(r.node);
                const ir::Tensor* w = n ? analysis::channelParamTensor(n->input(1)) : nullptr;
                if (!w || w->dtype != ir::DType::kFloat || w->dims.size() < 2) continue;
                // Output channels: Conv and transB Gemm rows (axis 0), else columns (axis 1).
                const bool rows = n->opType == "Conv" || n->attrInt("transB", 0) != 0;
                const int64_t axisLen = rows ? w->dims[0] : w->dims[1];
                const int64_t inner = rows ? w->numElements() / axisLen : 1;
                const int64_t outer = rows ? 1 : w->dims[0];
                auto v = w->values<float>();
                for (int64_t o = 0; o < outer; ++o)
                    for (int64_t i = 0; i < inner; ++i) {
                        sum += std::fabs(v[(o * axisLen + r.channel) * inner + i]);
                        ++count;
                    }
            }
            scored.emplace_back(count ? sum / static_cast<double>(count) : 0.0,
                                static_cast<int>(c));
        }
        std::stable_sort(scored.begin(), scored.end());
        const std::size_t want =
            static_cast<std::size_t>(std::floor(ratio * static_cast<double>(scored.size())));
        for (const auto& [score, c] : scored) {
            if (sel.remove[g].size() >= want) break;
            const auto& where = occurs[{static_cast<int>(g), c}];
            bool fits = true;
            for (const auto& [t, n] : where) fits = fits && kept[t] - n > 0;
            if (!fits) continue;
            for (const auto& [t, n] : where) kept[t] -= n;
            sel.remove[g].push_back(c);
        }
        std::sort(sel.remove[g].begin(), sel.remove[g].end());
    }
    return sel;
}

}  // namespace wh::algo::prune
