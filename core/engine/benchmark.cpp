#include "core/engine/benchmark.h"

#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/engine/plan.h"
#include "core/engine/threads.h"
#include "core/util/rng.h"

namespace wh::engine {

namespace {

using SteadyClock = std::chrono::steady_clock;

double secondsSince(SteadyClock::time_point t) {
    return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

}  // namespace

Dims dimsWithBatch(const ir::Value& value, int64_t batch) {
    Dims dims;
    if (value.type.shape)
        for (const ir::Dim& d : value.type.shape->dims)
            dims.push_back(d.isKnown() ? d.value : batch);
    return dims;
}

namespace {

// "[N,3,48,W]": the declared shape with its symbols.
std::string declaredShape(const ir::Shape& shape) {
    std::vector<std::string> dims;
    for (const ir::Dim& d : shape.dims)
        dims.push_back(d.isKnown()                       ? std::to_string(d.value)
                       : d.kind == ir::Dim::Kind::kParam ? d.param
                                                         : std::string("?"));
    return fmt::format("[{}]", fmt::join(dims, ","));
}

}  // namespace

Expected<Dims> feedDims(const ir::Value& value, int64_t batch,
                        const std::map<std::string, Dims>& shapes) {
    const std::optional<ir::Shape>& declared = value.type.shape;
    if (auto given = shapes.find(value.name()); given != shapes.end()) {
        const Dims& dims = given->second;
        if (!declared) return dims;
        bool ok = dims.size() == declared->dims.size();
        for (std::size_t d = 0; ok && d < dims.size(); ++d)
            ok = !declared->dims[d].isKnown() || declared->dims[d].value == dims[d];
        if (!ok)
            return error(StatusCode::kBadInput, "input '{}' is declared {}, the shape given is {}",
                         value.name(), declaredShape(*declared), dimsToString(dims));
        return dims;
    }
    Dims dims;
    if (!declared) return dims;
    for (std::size_t d = 0; d < declared->dims.size(); ++d) {
        const ir::Dim& dim = declared->dims[d];
        if (dim.isKnown()) {
            dims.push_back(dim.value);
        } else if (d == 0) {
            dims.push_back(batch);
        } else {
            const std::string what = dim.kind == ir::Dim::Kind::kParam
                                         ? fmt::format("dimension {} '{}'", d, dim.param)
                                         : fmt::format("dimension {}", d);
            return error(StatusCode::kBadInput,
                         "input '{}' {}: {} has no value (only dimension 0 takes the batch size); "
                         "give the input's shape",
                         value.name(), declaredShape(*declared), what);
        }
    }
    return dims;
}

Expected<std::vector<HostTensor>> randomInputs(const ir::Model& model, int64_t batch, uint64_t seed,
                                               const std::map<std::string, Dims>& shapes) {
    Rng rng(seed);
    std::vector<HostTensor> inputs;
    for (const ir::Value* v : model.graph->inputs()) {
        if (v->hasInitializer()) continue;
        if (!v->type.isTensor() || !v->type.shape)
            return error(StatusCode::kUnsupported, "input '{}' has no tensor shape to fill",
                         v->name());
        WH_ASSIGN_OR_RETURN(const Dims dims, feedDims(*v, batch, shapes));
        HostTensor t;
        WH_RETURN_IF_ERROR(catchMemoryErrors(fmt::format("input '{}'", v->name()), [&] {
            t.ensure(v->type.elemType, dims);
            return Status::ok();
        }));
        if (t.dtype() == ir::DType::kFloat)
            for (float& x : t.span<float>()) x = static_cast<float>(rng.uniform() * 2.0 - 1.0);
        inputs.push_back(std::move(t));
    }
    return inputs;
}

Expected<BenchResult> benchmark(const ir::Model& model, const BenchOptions& options,
                                jobs::JobContext* job) {
    for (const auto& [name, dims] : options.shapes) {
        const ir::Value* v = model.graph->findValue(name);
        if (!v || !v->isGraphInput() || v->hasInitializer())
            return error(StatusCode::kUsage, "the model has no input '{}' to shape", name);
    }
    WH_ASSIGN_OR_RETURN(std::vector<HostTensor> inputs,
                        randomInputs(model, options.batch, options.seed, options.shapes));
    PlanOptions po;
    po.threads = options.threads;
    std::size_t k = 0;
    for (const ir::Value* v : model.graph->inputs())
        if (!v->hasInitializer()) po.inputShapes[v->name()] = inputs[k++].dims();
    WH_ASSIGN_OR_RETURN(Plan plan, Plan::compile(model, po));
    const int total = options.warmup + options.iterations;
    std::vector<double> times;
    times.reserve(static_cast<std::size_t>(options.iterations));
    for (int i = 0; i < total; ++i) {
        if (job) WH_RETURN_IF_ERROR(job->checkCancelled());
        const auto t = SteadyClock::now();
        WH_ASSIGN_OR_RETURN(auto out, plan.run(inputs));
        if (i >= options.warmup) times.push_back(secondsSince(t) * 1e3);
        if (job) job->setProgress(static_cast<double>(i + 1) / total, "timing");
    }
    BenchResult r;
    r.batch = options.batch;
    r.threads = options.threads > 0 ? options.threads : computeThreads();
    if (rusage usage{}; ::getrusage(RUSAGE_SELF, &usage) == 0)
        r.peakRssBytes = static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux: kilobytes
    if (times.empty()) return r;
    std::sort(times.begin(), times.end());
    r.p50Ms = times[times.size() / 2];
    r.minMs = times.front();
    double sum = 0;
    for (double t : times) sum += t;
    r.meanMs = sum / static_cast<double>(times.size());
    return r;
}

Expected<std::map<std::string, Dims>> parseShapeSpecs(const std::vector<std::string>& specs,
                                                      const std::string& prefix) {
    std::map<std::string, Dims> shapes;
    for (const std::string& spec : specs) {
        const auto eq = spec.rfind('=');
        auto bad = [&] {
            return error(StatusCode::kUsage,
                         "{}'{}' is not NAME=D0,D1,... (dims: integers >= 0)", prefix, spec);
        };
        if (eq == std::string::npos || eq == 0) return bad();
        Dims dims;
        const std::string list = spec.substr(eq + 1);
        for (std::size_t pos = 0; pos <= list.size() && !list.empty();) {
            const std::size_t comma = std::min(list.find(',', pos), list.size());
            int64_t d = -1;
            auto [p, ec] = std::from_chars(list.data() + pos, list.data() + comma, d);
            if (ec != std::errc() || p != list.data() + comma || d < 0) return bad();
            dims.push_back(d);
            pos = comma + 1;
        }
        if (!shapes.emplace(spec.substr(0, eq), std::move(dims)).second)
            return error(StatusCode::kUsage, "{}names input '{}' twice", prefix, spec.substr(0, eq));
    }
    return shapes;
}

}  // namespace wh::engine
