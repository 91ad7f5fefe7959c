#pragma once
/// The Algorithm interface: the seed product's apply → train with callbacks → convert → export
/// workflow (GOLDEN_STICK.md §2), on ONNX graphs.
///
///   apply     turns the model (and the user's selection) into its training or calibrated
///             form through the Rewriter: fake quantizers, masks, folded BatchNormalization.
///             The caller opens one undo group around it (the studio can undo an apply).
///   callbacks Trainer callbacks for the training between apply and convert (quant delay, BN
///             freezing, temperature schedules); the algorithm's AlgorithmInfo::training says
///             whether it trains and with what default schedule.
///   convert   the deploy form, again through the Rewriter: QDQ int8 / packed int4 weights,
///             channels removed.
///   export    is the pipeline's (core/algo/compress.h): write atomically, reload, verify.
///
/// An Algorithm object is made per run by AlgorithmInfo::create from validated Params and may
/// keep state between apply and convert (which nodes it wrapped). Built-in algorithms and
/// external plugins register the same way (core/algo/registry.h, core/algo/plugin.h).
///
/// Thread-safety: an Algorithm is used by one thread at a time (the job's).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/algo/param_spec.h"
#include "core/data/dataset.h"
#include "core/engine/host_tensor.h"
#include "core/ir/graph.h"
#include "core/jobs/job_context.h"
#include "core/rewrite/rewriter.h"
#include "core/train/trainer.h"
#include "core/util/status.h"

namespace wh::algo {

/// Which nodes the user wants compressed. Everything empty = every node the algorithm
/// supports. Names are node names (ONNX `name`); ops are ONNX op types.
struct Selection {
    std::vector<ir::NodeId> nodeIds;        ///< the studio's selection
    std::vector<std::string> nodes;         ///< by name (recipes)
    std::vector<std::string> includeOps;    ///< restricts the supported ops
    std::vector<std::string> excludeNodes;  ///< by name
    std::vector<std::string> excludeOps;

    bool empty() const {
        return nodeIds.empty() && nodes.empty() && includeOps.empty() && excludeNodes.empty() &&
               excludeOps.empty();
    }
};

/// One node in or out of an algorithm's scope, and why.
struct ScopeEntry {
    ir::NodeId node = 0;
    std::string name;
    std::string op;
    bool included = false;
    std::string reason;  ///< why it is skipped (empty when included)
};

/// Where apply and convert get data, progress and cancellation.
struct AlgoContext {
    /// The model being edited: its graph is the Rewriter's. For opset imports and for running
    /// the model as it stands (calibration, core/algo/probe.h).
    ir::Model* model = nullptr;
    /// Calibration / initialisation data (the recipe's dataset, its training split); null when
    /// the run has none (then algorithms that need it fail with kUsage naming the parameter).
    const data::Dataset* data = nullptr;
    int64_t batch = 64;  ///< batch for calibration passes
    int threads = 0;     ///< 0 = all cores
    uint64_t seed = 0;
    /// Progress (fraction of the current stage) and cancellation (polled between batches).
    jobs::JobContext* job = nullptr;
    /// Dims for symbolic inputs (`--shape`), by input name.
    std::map<std::string, engine::Dims> inputShapes;
};

/// A per-layer figure an algorithm measured (e.g. the relative output error of a quantized
/// weight on calibration inputs).
struct LayerMetric {
    std::string name;  ///< node name
    std::string op;
    std::string metric;  ///< e.g. "relative_output_mse"
    double value = 0;
};

/// What apply did.
struct ApplyReport {
    std::vector<LayerMetric> layers;  ///< per-layer figures, when the algorithm measures any
    std::vector<ScopeEntry> scope;   ///< every candidate node, included or skipped with a reason
    std::vector<std::string> notes;  ///< one line each (e.g. "folded 19 BatchNormalization")
    int changed() const {
        int n = 0;
        for (const ScopeEntry& e : scope) n += e.included;
        return n;
    }
};

class Algorithm {
public:
    virtual ~Algorithm() = default;

    /// Training / calibrated form, through `rewriter` (the caller groups the edits).
    virtual Expected<ApplyReport> apply(rewrite::Rewriter& rewriter, const Selection& selection,
                                        AlgoContext& context) = 0;
    /// Trainer callbacks for the training between apply and convert, owned by the algorithm
    /// (valid until it is destroyed). `graph` is the applied model's graph (node ids as in
    /// it: the training plan's NodeFlags are addressed by them).
    virtual std::vector<train::Callback*> callbacks(const ir::Graph& graph) {
        (void)graph;
        return {};
    }
    /// Deploy form, through `rewriter`.
    virtual Status convert(rewrite::Rewriter& rewriter, AlgoContext& context) = 0;
};

/// Whether and how an algorithm trains between apply and convert (the recipe's `train`
/// section overrides each field).
struct TrainingDefaults {
    bool trains = false;
    int epochs = 1;
    int64_t batch = 128;
    double lr = 0.001;
    std::string optimizer = "sgd";
    std::string schedule = "cosine";
};

/// A registered algorithm: what the studio lists and the CLI resolves by name.
struct AlgorithmInfo {
    std::string name;         ///< registry name, e.g. "ptq" (lower case, no spaces)
    std::string title;        ///< for menus, e.g. "Post-training quantization"
    std::string description;  ///< one paragraph
    std::vector<ParamSpec> params;
    /// The op types it can change (the default scope).
    std::vector<std::string> supportedOps;
    TrainingDefaults training;
    /// Which plugin registered it (a path, or "built-in").
    std::string origin;
    /// A new Algorithm for one run. Params were validated against `params`.
    std::function<Expected<std::unique_ptr<Algorithm>>(const Params&)> create;
};

/// AlgorithmInfo::create for an Algorithm constructed from its Params:
/// `info.create = factoryOf<Ptq>();`.
template <class A>
std::function<Expected<std::unique_ptr<Algorithm>>(const Params&)> factoryOf() {
    return [](const Params& params) -> Expected<std::unique_ptr<Algorithm>> {
        return std::unique_ptr<Algorithm>(std::make_unique<A>(params));
    };
}

/// The nodes of `graph` (top level) that `selection` picks among `supportedOps`, each with the
/// reason when skipped ("not selected", "excluded by name", "op X not supported", ...).
/// Nodes of other ops are listed only when the selection names them.
std::vector<ScopeEntry> resolveScope(const ir::Graph& graph, const Selection& selection,
                                     const std::vector<std::string>& supportedOps);

}  // namespace wh::algo
