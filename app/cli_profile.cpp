// whittle-cli profile: per-node latency and cost of a model (shared/CLI.md).

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "app/cli_common.h"
#include "core/analysis/profiler.h"
#include "core/util/atomic_file.h"

using nlohmann::json;

namespace wh::cli {

namespace {

json toJson(const analysis::Profile& p) {
    json nodes = json::array();
    for (const analysis::NodeProfile& n : p.nodes)
        nodes.push_back({{"name", n.name},
                         {"op", n.op},
                         {"ms", n.ms},
                         {"steps", n.steps},
                         {"fused_into", n.fusedInto ? json(n.fusedIntoName) : json(nullptr)},
                         {"backend", std::string(engine::backendName(n.backend))},
                         {"precision", n.precision},
                         {"flops", n.flops},
                         {"params", n.params},
                         {"act_bytes", n.activationBytes},
                         {"weight_bytes", n.weightBytes}});
    return {{"batch", p.batch},     {"threads", p.threads},
            {"runs", p.runs},       {"total_ms", p.stepMs},
            {"wall_ms", p.wallMs},  {"conversion_ms", p.conversionMs},
            {"flops", p.flops},     {"params", p.params},
            {"nodes", nodes}};
}

// The `top` slowest nodes, then the time per op type and the totals.
void printTable(const analysis::Profile& p, int top, const std::vector<std::string>& shapes) {
    std::vector<const analysis::NodeProfile*> byTime;
    for (const auto& n : p.nodes)
        if (n.steps > 0) byTime.push_back(&n);
    std::stable_sort(byTime.begin(), byTime.end(),
                     [](const auto* a, const auto* b) { return a->ms > b->ms; });
    // The input shapes when given (--shape), else the batch every symbolic dim 0 took.
    std::string inputs = fmt::format("batch {}", p.batch);
    if (!shapes.empty()) inputs = fmt::format("inputs {}", fmt::join(shapes, " "));
    std::printf("%s, threads %d, %d runs: %.3f ms per run (steps %.3f ms, of which layout "
                "conversions %.3f ms); %.3f GFLOPs, %lld parameters\n\n",
                inputs.c_str(), p.threads, p.runs, p.wallMs, p.stepMs,
                p.conversionMs, static_cast<double>(p.flops) * 1e-9,
                static_cast<long long>(p.params));
    std::printf("%-36s %-18s %9s %6s %-9s %-6s %10s %s\n", "node", "op", "ms", "%", "precision",
                "backend", "MFLOPs", "fused");
    const double total = p.stepMs > 0 ? p.stepMs : 1.0;
    for (std::size_t i = 0; i < byTime.size() && static_cast<int>(i) < top; ++i) {
        const auto& n = *byTime[i];
        std::string fused;
        for (const auto& m : p.nodes)
            if (m.fusedInto && *m.fusedInto == n.node)
                fused += (fused.empty() ? "" : ",") + m.op;
        std::printf("%-36.36s %-18.18s %9.4f %6.1f %-9s %-6s %10.2f %s\n", n.name.c_str(),
                    n.op.c_str(), n.ms, 100.0 * n.ms / total, n.precision.c_str(),
                    std::string(engine::backendName(n.backend)).c_str(),
                    static_cast<double>(n.flops) * 1e-6, fused.c_str());
    }
    if (static_cast<int>(byTime.size()) > top)
        std::printf("... %zu more nodes (--top, --csv or --json for all)\n", byTime.size() - top);
    std::map<std::string, std::pair<double, int>> byOp;
    for (const auto& n : p.nodes) {
        auto& e = byOp[n.op];
        e.first += n.ms;
        e.second += 1;
    }
    std::vector<std::pair<std::string, std::pair<double, int>>> ops(byOp.begin(), byOp.end());
    std::stable_sort(ops.begin(), ops.end(),
                     [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
    std::printf("\n%-24s %9s %6s %6s\n", "op type", "ms", "%", "nodes");
    for (const auto& [op, e] : ops)
        std::printf("%-24.24s %9.4f %6.1f %6d\n", op.c_str(), e.first, 100.0 * e.first / total,
                    e.second);
    if (p.conversionMs > 0)
        std::printf("%-24s %9.4f %6.1f\n", "(layout conversions)", p.conversionMs,
                    100.0 * p.conversionMs / total);
}

}  // namespace

void addProfileCommand(CLI::App& app, Context& ctx) {
    struct Args {
        std::string model;
        analysis::ProfileOptions options;
        std::string csv;
        int top = 20;
        MemoryArgs memory;
        std::vector<std::string> shapes;
    };
    auto args = std::make_shared<Args>();
    CLI::App* sub = addCommand(app, ctx, "profile", "Per-node latency, FLOPs, parameters and bytes",
                               [&ctx, args] {
        auto in = loadEngineInputs(args->model, args->memory, args->shapes);
        if (!in) return fail(in.error());
        args->options.inputShapes = std::move(in->shapes);
        return runWithProgress("profile", [&](jobs::JobContext& job) {
            auto p = analysis::profileModel(in->model, args->options, &job);
            if (!p) return fail(p.error());
            if (!args->csv.empty())
                if (Status s = util::writeAtomically(args->csv, analysis::profileCsv(*p)); !s.isOk()) return fail(s);
            if (ctx.json)
                printJson(toJson(*p));
            else
                printTable(*p, args->top, args->shapes);
            return 0;
        });
    });
    sub->add_option("MODEL", args->model, "ONNX file")->required();
    sub->add_option("--batch", args->options.batch, "batch size")->capture_default_str();
    sub->add_option("--threads", args->options.threads, "compute threads (0 = all cores)");
    sub->add_option("--runs", args->options.runs, "timed runs")->capture_default_str();
    sub->add_option("--csv", args->csv, "write every node's row to this CSV file");
    sub->add_option("--top", args->top, "slowest nodes to print (text output)")
        ->capture_default_str();
    sub->add_option("--shape", args->shapes,
                    "NAME=D0,D1,... dims of an input (repeat per input); without it only dim 0 "
                    "of an input may be symbolic (it takes --batch)");
    args->memory.add(sub);
}

}  // namespace wh::cli
