// Reference If (opsets 11–21), Loop (11–21) and Scan (9–21): each subgraph is compiled once
// into a nested plan when the kernel is made (subgraph_plan.h) and run per call or iteration.
// The enclosing plan passes the values the subgraphs read from outer scopes after the node's
// own inputs (capturedNames order). Tensors only: sequence- and optional-typed values (Loop 13+,
// If 16+) are refused by the plans' tensor-only inputs.
//
// Loop, as the spec writes it (M: trip count, cond: condition; either may be omitted):
//   i = 0; c = cond (or true); v = v_initial
//   while ((M omitted || i < M) && (cond omitted || c)) {
//       (c', v, scan_k) = body(i, c, v); c = c'; append scan_k to scan output k; ++i }
// With the condition input omitted the body's condition output is ignored. Both omitted: the
// loop could never end, refused. The enclosing plan's JobContext is polled every iteration and
// every per-iteration tensor counts against the memory budget, so an absurd trip count ends in
// kCancelled or a memory-limit error, never a hang that holds all memory.
//
// Scan (opset 9+): N state variables then M scan inputs; iteration t reads slice t (or L-1-t
// when reversed) of each scan input along its axis, and writes slice t (or L-1-t) of each scan
// output along its axis.

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/engine/ref/kernel_util.h"
#include "core/engine/ref/ref_kernels.h"
#include "core/engine/subgraph_plan.h"
#include "core/jobs/job_context.h"

namespace wh::engine::ref {

namespace {

using D = ir::DType;
using Ins = std::span<const HostTensor* const>;
using Outs = std::span<HostTensor* const>;
constexpr Backend kRef = Backend::kReference;

// What a control-flow factory starts from: the node's subgraph captures and their infos.
struct Scope {
    std::vector<std::string> names;
    std::vector<TensorInfo> infos;
    std::size_t first = 0;  // run-time index of the first capture
};

Expected<Scope> scopeOf(const KernelContext& ctx) {
    // Only the inference plan says which model it compiles and passes outer values.
    if (!ctx.options.model)
        return error(StatusCode::kUnsupported,
                     "{}: control flow runs in inference plans only (it is not trainable)",
                     ctx.where());
    Scope s;
    s.names = capturedNames(ctx.node);
    s.first = static_cast<std::size_t>(ctx.node.numInputs());
    if (ctx.inputs.size() < s.first + s.names.size())
        return error(StatusCode::kUnsupported,
                     "{}: its subgraphs read {} values from outside, which only the inference "
                     "plan passes (control flow is not trainable)",
                     ctx.where(), s.names.size());
    s.infos.assign(ctx.inputs.begin() + static_cast<std::ptrdiff_t>(s.first),
                   ctx.inputs.begin() + static_cast<std::ptrdiff_t>(s.first + s.names.size()));
    return s;
}

Expected<const ir::Graph*> graphAttr(const KernelContext& ctx, const char* name) {
    const ir::Attribute* a = ctx.node.attribute(name);
    if (!a || !a->g) return error(StatusCode::kBadInput, "{} has no '{}' graph", ctx.where(), name);
    return a->g.get();
}

// What two sources of one value have in common (If's branches; a Loop-carried value before
// and after the body): the dtype when they agree, dims where they agree, -1 elsewhere.
TensorInfo common(const TensorInfo& a, const TensorInfo& b) {
    TensorInfo out;
    out.dtype = a.dtype == b.dtype ? a.dtype : D::kUndefined;
    if (!a.rankKnown || !b.rankKnown || a.dims.size() != b.dims.size()) {
        out.rankKnown = false;
        return out;
    }
    for (std::size_t i = 0; i < a.dims.size(); ++i)
        out.dims.push_back(a.dims[i] == b.dims[i] ? a.dims[i] : -1);
    return out;
}

// A value's info without its compile-time constant (it changes between iterations).
TensorInfo varying(TensorInfo info) {
    info.constant.reset();
    info.layout.reset();
    return info;
}

Status checkCancelled(const jobs::JobContext* job, const char* where, int64_t done) {
    if (job && job->isCancelled())
        return makeStatus(StatusCode::kCancelled, "{}: cancelled after {} iterations", where, done);
    return Status::ok();
}

// Stacks `parts` (equal dims) along `axis` into `out`: part p goes to position order[p].
Status stack(const std::vector<HostTensor>& parts, int64_t axis, bool reverse,
             const TensorInfo& emptyInfo, HostTensor& out, const std::string& what) {
    if (parts.empty()) {
        // No iteration: the per-iteration shape is what the body declares (unknown dims 0).
        Dims dims;
        if (emptyInfo.rankKnown)
            for (int64_t d : emptyInfo.dims) dims.push_back(std::max<int64_t>(d, 0));
        const int64_t r = static_cast<int64_t>(dims.size()) + 1;
        const auto a =
            static_cast<std::size_t>(std::clamp<int64_t>(axis < 0 ? axis + r : axis, 0, r - 1));
        dims.insert(dims.begin() + static_cast<std::ptrdiff_t>(a), 0);
        out.ensure(emptyInfo.dtype == D::kUndefined ? D::kFloat : emptyInfo.dtype, dims);
        return Status::ok();
    }
    const HostTensor& first = parts.front();
    if (first.dtype() == D::kString)
        return makeStatus(StatusCode::kUnsupported, "{}: string scan outputs", what);
    for (std::size_t p = 1; p < parts.size(); ++p)
        if (parts[p].dims() != first.dims() || parts[p].dtype() != first.dtype())
            return makeStatus(StatusCode::kBadInput,
                              "{} is {}{} at iteration 0 but {}{} at iteration {}", what,
                              ir::dtypeName(first.dtype()), dimsToString(first.dims()),
                              ir::dtypeName(parts[p].dtype()), dimsToString(parts[p].dims()), p);
    WH_ASSIGN_OR_RETURN_STATUS(int a, normalizeAxis(axis, first.rank() + 1, what + " axis"));
    Dims dims = first.dims();
    const auto n = static_cast<int64_t>(parts.size());
    dims.insert(dims.begin() + a, n);
    out.ensure(first.dtype(), dims);
    // Each part is [outer, inner] around the new axis; out is [outer, n, inner].
    int64_t outer = 1;
    for (int i = 0; i < a; ++i) outer *= first.dim(i);
    const std::size_t innerBytes =
        static_cast<std::size_t>(first.numElements() / std::max<int64_t>(outer, 1)) *
        ir::dtypeSize(first.dtype());
    if (outer == 0 || innerBytes == 0) return Status::ok();
    auto* dst = static_cast<std::byte*>(out.raw());
    for (int64_t p = 0; p < n; ++p) {
        const int64_t pos = reverse ? n - 1 - p : p;
        const auto* src = static_cast<const std::byte*>(parts[static_cast<std::size_t>(p)].raw());
        for (int64_t o = 0; o < outer; ++o)
            std::memcpy(dst + (o * n + pos) * static_cast<int64_t>(innerBytes),
                        src + o * static_cast<int64_t>(innerBytes), innerBytes);
    }
    return Status::ok();
}

// Slice `index` of `in` along `axis` (the axis removed) into `out`.
void sliceAlong(const HostTensor& in, int axis, int64_t index, HostTensor& out) {
    Dims dims = in.dims();
    const AxisSplit s = axisSplit(dims, static_cast<std::size_t>(axis));
    dims.erase(dims.begin() + axis);
    out.ensure(in.dtype(), dims);
    const std::size_t size = ir::dtypeSize(in.dtype());
    const std::size_t innerBytes = static_cast<std::size_t>(s.inner) * size;
    if (innerBytes == 0) return;
    const auto* src = static_cast<const std::byte*>(in.raw());
    auto* dst = static_cast<std::byte*>(out.raw());
    for (int64_t o = 0; o < s.outer; ++o)
        std::memcpy(dst + o * static_cast<int64_t>(innerBytes),
                    src + (o * s.n + index) * static_cast<int64_t>(innerBytes), innerBytes);
}

// Shares a result's storage with an output (the nested plan hands each run fresh storage).
void give(HostTensor* out, HostTensor value) {
    if (out) *out = std::move(value);
}

// ---------------------------------------------------------------------------------------- If

Expected<KernelBuild> makeIf(const KernelContext& ctx) {
    WH_RETURN_IF_ERROR(requireInputs(ctx, 1));
    WH_ASSIGN_OR_RETURN(Scope scope, scopeOf(ctx));
    WH_ASSIGN_OR_RETURN(const ir::Graph* thenGraph, graphAttr(ctx, "then_branch"));
    WH_ASSIGN_OR_RETURN(const ir::Graph* elseGraph, graphAttr(ctx, "else_branch"));
    const std::size_t nThen = thenGraph->outputs().size(), nElse = elseGraph->outputs().size();
    if (nThen != nElse)
        return error(StatusCode::kBadInput,
                     "{}: then_branch has {} outputs but else_branch has {} (both must give "
                     "the node's {})",
                     ctx.where(), nThen, nElse, ctx.node.numOutputs());
    if (nThen != static_cast<std::size_t>(ctx.node.numOutputs()))
        return error(StatusCode::kBadInput, "{}: its branches have {} outputs, the node {}",
                     ctx.where(), nThen, ctx.node.numOutputs());
    if (!thenGraph->inputs().empty() || !elseGraph->inputs().empty())
        return error(StatusCode::kBadInput, "{}: If branches take no inputs", ctx.where());
    WH_ASSIGN_OR_RETURN(auto thenPlan,
                        SubgraphPlan::compile(*thenGraph, {}, scope.names, scope.infos, ctx.options,
                                              "then_branch"));
    WH_ASSIGN_OR_RETURN(auto elsePlan,
                        SubgraphPlan::compile(*elseGraph, {}, scope.names, scope.infos, ctx.options,
                                              "else_branch"));
    KernelBuild build;
    for (int i = 0; i < static_cast<int>(nThen); ++i)
        build.outputs.push_back(common(thenPlan.outputInfo(i), elsePlan.outputInfo(i)));
    auto branches = std::make_shared<std::pair<SubgraphPlan, SubgraphPlan>>(std::move(thenPlan),
                                                                            std::move(elsePlan));
    const std::size_t first = scope.first, count = scope.names.size();
    build.kernel = makeKernel([branches, first, count](Ins in, Outs out) -> Status {
        const HostTensor& cond = *in[0];
        if (cond.numElements() != 1)
            return makeStatus(StatusCode::kBadInput, "cond has {} elements, not 1",
                              cond.numElements());
        SubgraphPlan& branch = cond.at(0) != 0 ? branches->first : branches->second;
        WH_ASSIGN_OR_RETURN_STATUS(auto results, branch.run({}, in.subspan(first, count)));
        for (std::size_t i = 0; i < out.size() && i < results.size(); ++i)
            give(out[i], std::move(results[i]));
        return Status::ok();
    });
    return build;
}

// -------------------------------------------------------------------------------------- Loop

Expected<KernelBuild> makeLoop(const KernelContext& ctx) {
    WH_ASSIGN_OR_RETURN(Scope scope, scopeOf(ctx));
    WH_ASSIGN_OR_RETURN(const ir::Graph* body, graphAttr(ctx, "body"));
    const int nIn = ctx.node.numInputs();
    if (nIn < 2)
        return error(StatusCode::kBadInput,
                     "{} has {} inputs; a Loop takes M, cond and the loop-carried values",
                     ctx.where(), nIn);
    const int nCarried = nIn - 2;
    const auto bodyIns = static_cast<int>(body->inputs().size());
    const auto bodyOuts = static_cast<int>(body->outputs().size());
    if (bodyIns != 2 + nCarried)
        return error(StatusCode::kBadInput,
                     "{}: the body has {} inputs; it needs 2 + {} (iteration, condition and "
                     "the loop-carried values)",
                     ctx.where(), bodyIns, nCarried);
    if (bodyOuts < 1 + nCarried)
        return error(StatusCode::kBadInput,
                     "{}: the body has {} outputs; it needs 1 + {} (condition and loop-carried "
                     "values) and then the scan outputs",
                     ctx.where(), bodyOuts, nCarried);
    const int nScan = bodyOuts - 1 - nCarried;
    if (ctx.node.numOutputs() > nCarried + nScan)
        return error(StatusCode::kBadInput, "{} has {} outputs; its body gives {} + {} scan",
                     ctx.where(), ctx.node.numOutputs(), nCarried, nScan);
    const bool hasM = ctx.hasInput(0), hasCond = ctx.hasInput(1);
    if (!hasM && !hasCond)
        return error(StatusCode::kBadInput,
                     "{} has neither a trip count M nor a condition: the loop would never end",
                     ctx.where());

    std::vector<TensorInfo> formal{infoOf(D::kInt64, {}), infoOf(D::kBool, {})};
    for (int j = 0; j < nCarried; ++j) {
        TensorInfo info = varying(ctx.inputs[static_cast<std::size_t>(2 + j)]);
        // Dims the body leaves open may change between iterations: compile for any.
        const ir::Type& declared = body->inputs()[static_cast<std::size_t>(2 + j)]->type;
        if (info.rankKnown && declared.shape && declared.shape->dims.size() == info.dims.size())
            for (std::size_t d = 0; d < info.dims.size(); ++d)
                if (!declared.shape->dims[d].isKnown()) info.dims[d] = -1;
        formal.push_back(std::move(info));
    }
    WH_ASSIGN_OR_RETURN(auto plan, SubgraphPlan::compile(*body, formal, scope.names, scope.infos,
                                                         ctx.options, "body"));
    // A constant trip count without a condition: the scan outputs' length is known.
    int64_t knownTrips = -1;
    if (hasM && !hasCond && ctx.inputs[0].constant && ctx.inputs[0].constant->numElements() == 1)
        knownTrips = std::max<int64_t>(ctx.inputs[0].constant->intAt(0), 0);
    KernelBuild build;
    for (int j = 0; j < nCarried; ++j)
        build.outputs.push_back(
            common(varying(ctx.inputs[static_cast<std::size_t>(2 + j)]), plan.outputInfo(1 + j)));
    std::vector<TensorInfo> perIteration;
    for (int k = 0; k < nScan; ++k) {
        TensorInfo info = plan.outputInfo(1 + nCarried + k);
        perIteration.push_back(info);
        if (info.rankKnown) info.dims.insert(info.dims.begin(), knownTrips);
        build.outputs.push_back(varying(std::move(info)));
    }

    auto body_ = std::make_shared<SubgraphPlan>(std::move(plan));
    const std::size_t first = scope.first, count = scope.names.size();
    const jobs::JobContext* job = ctx.options.job;
    build.kernel = makeKernel([=](Ins in, Outs out) -> Status {
        int64_t trips = std::numeric_limits<int64_t>::max();
        if (hasM) {
            if (in[0]->numElements() != 1)
                return makeStatus(StatusCode::kBadInput, "M has {} elements, not 1",
                                  in[0]->numElements());
            trips = in[0]->intAt(0);
        }
        bool cond = true;
        if (hasCond) {
            if (in[1]->numElements() != 1)
                return makeStatus(StatusCode::kBadInput, "cond has {} elements, not 1",
                                  in[1]->numElements());
            cond = in[1]->at(0) != 0;
        }
        auto wanted = [&](int o) {
            return static_cast<std::size_t>(o) < out.size() && out[static_cast<std::size_t>(o)];
        };
        std::vector<HostTensor> carried;
        for (int j = 0; j < nCarried; ++j) carried.push_back(*in[static_cast<std::size_t>(2 + j)]);
        std::vector<std::vector<HostTensor>> scans(static_cast<std::size_t>(nScan));
        const auto captures = in.subspan(first, count);
        std::vector<const HostTensor*> formalPtrs;
        for (int64_t i = 0; i < trips && cond; ++i) {
            WH_RETURN_STATUS_IF_ERROR(checkCancelled(job, "the loop", i));
            const HostTensor iter = HostTensor::scalar(D::kInt64, static_cast<double>(i));
            const HostTensor condIn = HostTensor::scalar(D::kBool, cond ? 1 : 0);
            formalPtrs.assign({&iter, &condIn});
            for (const HostTensor& v : carried) formalPtrs.push_back(&v);
            auto results = body_->run(formalPtrs, captures);
            if (!results)
                return makeStatus(results.error().code(), "iteration {}: {}", i,
                                  results.error().message());
            std::vector<HostTensor>& r = *results;
            if (hasCond) {
                if (r[0].numElements() != 1)
                    return makeStatus(StatusCode::kBadInput,
                                      "iteration {}: the body's condition has {} elements", i,
                                      r[0].numElements());
                cond = r[0].at(0) != 0;
            }
            for (int j = 0; j < nCarried; ++j)
                carried[static_cast<std::size_t>(j)] =
                    std::move(r[static_cast<std::size_t>(1 + j)]);
            for (int k = 0; k < nScan; ++k)
                if (wanted(nCarried + k))  // an omitted scan output is not kept
                    scans[static_cast<std::size_t>(k)].push_back(
                        std::move(r[static_cast<std::size_t>(1 + nCarried + k)]));
        }
        for (int j = 0; j < nCarried && static_cast<std::size_t>(j) < out.size(); ++j)
            give(out[static_cast<std::size_t>(j)], std::move(carried[static_cast<std::size_t>(j)]));
        for (int k = 0; k < nScan; ++k) {
            const std::size_t o = static_cast<std::size_t>(nCarried + k);
            if (o >= out.size() || !out[o]) continue;
            WH_RETURN_STATUS_IF_ERROR(stack(scans[static_cast<std::size_t>(k)], 0, false,
                                            perIteration[static_cast<std::size_t>(k)], *out[o],
                                            fmt::format("scan output {}", k)));
            scans[static_cast<std::size_t>(k)].clear();  // back to the budget early
        }
        return Status::ok();
    });
    return build;
}

// -------------------------------------------------------------------------------------- Scan

Expected<KernelBuild> makeScan(const KernelContext& ctx) {
    WH_ASSIGN_OR_RETURN(Scope scope, scopeOf(ctx));
    WH_ASSIGN_OR_RETURN(const ir::Graph* body, graphAttr(ctx, "body"));
    const ir::Node& node = ctx.node;
    const int64_t m = node.attrInt("num_scan_inputs", -1);
    const int nIn = node.numInputs();
    if (m < 1 || m > nIn)
        return error(StatusCode::kBadInput, "{}: num_scan_inputs is {} for {} inputs", ctx.where(),
                     m, nIn);
    const int nScanIn = static_cast<int>(m), nState = nIn - nScanIn;
    const auto bodyOuts = static_cast<int>(body->outputs().size());
    if (static_cast<int>(body->inputs().size()) != nIn)
        return error(StatusCode::kBadInput, "{}: the body has {} inputs, the node {}", ctx.where(),
                     body->inputs().size(), nIn);
    if (bodyOuts < nState || node.numOutputs() > bodyOuts)
        return error(StatusCode::kBadInput,
                     "{}: the body has {} outputs for {} state variables and the node's {} "
                     "outputs",
                     ctx.where(), bodyOuts, nState, node.numOutputs());
    const int nScanOut = bodyOuts - nState;
    auto listOr = [&](const char* name, int n) -> Expected<std::vector<int64_t>> {
        std::vector<int64_t> v = node.attrInts(name);
        if (v.empty()) return std::vector<int64_t>(static_cast<std::size_t>(n), 0);
        if (static_cast<int>(v.size()) != n)
            return error(StatusCode::kBadInput, "{}: {} has {} entries for {}", ctx.where(), name,
                         v.size(), n);
        return v;
    };
    WH_ASSIGN_OR_RETURN(auto inDirs, listOr("scan_input_directions", nScanIn));
    WH_ASSIGN_OR_RETURN(auto inAxes, listOr("scan_input_axes", nScanIn));
    WH_ASSIGN_OR_RETURN(auto outDirs, listOr("scan_output_directions", nScanOut));
    WH_ASSIGN_OR_RETURN(auto outAxes, listOr("scan_output_axes", nScanOut));

    std::vector<TensorInfo> formal;
    for (int j = 0; j < nState; ++j)
        formal.push_back(varying(ctx.inputs[static_cast<std::size_t>(j)]));
    int64_t length = -1;
    std::vector<int> axes;
    for (int j = 0; j < nScanIn; ++j) {
        TensorInfo info = varying(ctx.inputs[static_cast<std::size_t>(nState + j)]);
        if (!info.rankKnown)
            return error(StatusCode::kUnsupported, "{}: scan input {} has unknown rank",
                         ctx.where(), j);
        WH_ASSIGN_OR_RETURN(int axis,
                            normalizeAxis(inAxes[static_cast<std::size_t>(j)],
                                          static_cast<int64_t>(info.dims.size()),
                                          fmt::format("{}: scan_input_axes", ctx.where())));
        axes.push_back(axis);
        const int64_t len = info.dims[static_cast<std::size_t>(axis)];
        if (len >= 0 && length >= 0 && len != length)
            return error(StatusCode::kBadInput, "{}: scan inputs of lengths {} and {}", ctx.where(),
                         length, len);
        if (len >= 0) length = len;
        info.dims.erase(info.dims.begin() + axis);
        formal.push_back(std::move(info));
    }
    WH_ASSIGN_OR_RETURN(auto plan, SubgraphPlan::compile(*body, formal, scope.names, scope.infos,
                                                         ctx.options, "body"));
    KernelBuild build;
    for (int j = 0; j < nState; ++j)
        build.outputs.push_back(
            common(varying(ctx.inputs[static_cast<std::size_t>(j)]), plan.outputInfo(j)));
    std::vector<TensorInfo> perIteration;
    for (int k = 0; k < nScanOut; ++k) {
        TensorInfo info = varying(plan.outputInfo(nState + k));
        perIteration.push_back(info);
        if (info.rankKnown) {
            WH_ASSIGN_OR_RETURN(int a,
                                normalizeAxis(outAxes[static_cast<std::size_t>(k)],
                                              static_cast<int64_t>(info.dims.size()) + 1,
                                              fmt::format("{}: scan_output_axes", ctx.where())));
            info.dims.insert(info.dims.begin() + a, length);
        }
        build.outputs.push_back(std::move(info));
    }

    auto body_ = std::make_shared<SubgraphPlan>(std::move(plan));
    const std::size_t first = scope.first, count = scope.names.size();
    const jobs::JobContext* job = ctx.options.job;
    build.kernel = makeKernel([=](Ins in, Outs out) -> Status {
        int64_t len = -1;
        for (int j = 0; j < nScanIn; ++j) {
            const HostTensor& t = *in[static_cast<std::size_t>(nState + j)];
            const int axis = axes[static_cast<std::size_t>(j)];
            if (axis >= t.rank())
                return makeStatus(StatusCode::kBadInput, "scan input {} has rank {}", j, t.rank());
            if (len >= 0 && t.dim(axis) != len)
                return makeStatus(StatusCode::kBadInput, "scan inputs of lengths {} and {}", len,
                                  t.dim(axis));
            len = t.dim(axis);
        }
        std::vector<HostTensor> state;
        for (int j = 0; j < nState; ++j) state.push_back(*in[static_cast<std::size_t>(j)]);
        std::vector<HostTensor> slices(static_cast<std::size_t>(nScanIn));
        std::vector<std::vector<HostTensor>> scans(static_cast<std::size_t>(nScanOut));
        const auto captures = in.subspan(first, count);
        std::vector<const HostTensor*> formalPtrs;
        for (int64_t t = 0; t < len; ++t) {
            WH_RETURN_STATUS_IF_ERROR(checkCancelled(job, "the scan", t));
            formalPtrs.clear();
            for (const HostTensor& s : state) formalPtrs.push_back(&s);
            for (int j = 0; j < nScanIn; ++j) {
                const HostTensor& src = *in[static_cast<std::size_t>(nState + j)];
                const int64_t index = inDirs[static_cast<std::size_t>(j)] ? len - 1 - t : t;
                HostTensor& slice = slices[static_cast<std::size_t>(j)];
                slice = HostTensor();  // fresh: the body's last run may still share it
                sliceAlong(src, axes[static_cast<std::size_t>(j)], index, slice);
                formalPtrs.push_back(&slice);
            }
            auto results = body_->run(formalPtrs, captures);
            if (!results)
                return makeStatus(results.error().code(), "iteration {}: {}", t,
                                  results.error().message());
            for (int j = 0; j < nState; ++j)
                state[static_cast<std::size_t>(j)] =
                    std::move((*results)[static_cast<std::size_t>(j)]);
            for (int k = 0; k < nScanOut; ++k)
                scans[static_cast<std::size_t>(k)].push_back(
                    std::move((*results)[static_cast<std::size_t>(nState + k)]));
        }
        for (int j = 0; j < nState && static_cast<std::size_t>(j) < out.size(); ++j)
            give(out[static_cast<std::size_t>(j)], std::move(state[static_cast<std::size_t>(j)]));
        for (int k = 0; k < nScanOut; ++k) {
            const std::size_t o = static_cast<std::size_t>(nState + k);
            if (o >= out.size() || !out[o]) continue;
            WH_RETURN_STATUS_IF_ERROR(stack(scans[static_cast<std::size_t>(k)],
                                            outAxes[static_cast<std::size_t>(k)],
                                            outDirs[static_cast<std::size_t>(k)] != 0,
                                            perIteration[static_cast<std::size_t>(k)], *out[o],
                                            fmt::format("scan output {}", k)));
            scans[static_cast<std::size_t>(k)].clear();
        }
        return Status::ok();
    });
    return build;
}

}  // namespace

void registerControlFlow(KernelRegistry& registry) {
    // If 1 and Loop 1 differ from 11 only in what they say of shapes and omitted inputs.
    registry.add("", "If", 1, 21, kRef, makeIf);
    registry.add("", "Loop", 1, 21, kRef, makeLoop);
    registry.add("", "Scan", 9, 21, kRef, makeScan);
}

}  // namespace wh::engine::ref
