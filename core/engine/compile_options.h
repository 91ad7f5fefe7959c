#pragma once
/// CompileOptions: what Plan and TrainingPlan are both compiled with (PlanOptions and
/// TrainingOptions add their own).

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/engine/kernel.h"
#include "core/engine/kernel_registry.h"
#include "core/engine/run_observer.h"

namespace wh::jobs {
class JobContext;
}

namespace wh::rewrite {
class PatternSet;
}

namespace wh::engine {

struct CompileOptions {
    int threads = 0;  ///< 0 = all cores
    /// Backends to try, in order, for each node (a factory answering kUnsupported passes the
    /// node on to the next).
    std::vector<Backend> backends{Backend::kDnnl, Backend::kReference};
    /// Shapes for graph inputs whose declared shape has symbolic or unknown dims (e.g. batch).
    std::map<std::string, Dims> inputShapes;
    /// Kernel registry (and operator traits) to use; null = KernelRegistry::builtin().
    const KernelRegistry* registry = nullptr;
    /// Adds lowering patterns (lowering.h): QDQ -> int8 operators, an algorithm's own.
    std::function<void(rewrite::PatternSet&)> lowering;
    /// Called around every step the plan runs (not owned; must outlive the plan's runs).
    /// Null: none, at the cost of one pointer test per step.
    RunObserver* observer = nullptr;
    /// Polled between the steps of Plan::run() and between a Loop's iterations: the run then
    /// stops with kCancelled. Not owned; must outlive the plan's runs. Null: never cancelled.
    const jobs::JobContext* job = nullptr;
};

}  // namespace wh::engine
