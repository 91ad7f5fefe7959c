#pragma once
/// The per-layer profiler: for every node of a model, its latency in the inference Plan and what
/// it costs — what `whittle-cli profile` prints and the studio's Profiler dock will show.
///
/// The model is compiled once for the batch (and `inputShapes`) and run on random inputs
/// (engine::randomInputs): `warmup` runs, then `runs` timed ones with an engine::StepProfiler
/// watching every step. A step's time is booked on its root node; the nodes fused into it (a
/// BatchNormalization folded into its Conv, an activation run as a post-op, the Dequantize /
/// Quantize around an int8 kernel) get no time of their own and name the root in `fusedInto`.
/// Layout conversions compute no node: their time is `conversionMs`. So
///     sum of NodeProfile::ms + conversionMs = stepMs ≈ wallMs
/// where wallMs is the mean wall time of a timed run (the observer's own cost, two clock reads
/// per step, is the difference).
///
/// Per node besides the time: FLOPs and parameters as analysis::modelCost counts them; the bytes
/// of the initializers it reads, by dtype (an int8 weight behind a DequantizeLinear is that
/// node's, not the Conv's); the bytes of its outputs at this batch; and the precision it ran in:
///     "folded"  computed at compile time (constant), no step
///     "q/dq"    QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear (a conversion)
///     else the element type of the step's output: "fp32", "fp16", "bf16", "fp64", "int8"
///           (int8 or uint8), "int16", "int32", "int64", "bool", ...
/// A fused node reports its root's precision. Reports progress and honours cancellation through
/// the JobContext. No Qt.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/host_tensor.h"
#include "core/engine/kernel.h"
#include "core/ir/graph.h"
#include "core/jobs/job_context.h"
#include "core/util/status.h"

namespace wh::analysis {

struct ProfileOptions {
    int64_t batch = 1;
    int threads = 0;  ///< 0 = the engine's default (all cores)
    int runs = 50;
    int warmup = 5;
    uint64_t seed = 0;
    /// Dims to feed, by input name (`--shape`), as engine::BenchOptions::shapes.
    std::map<std::string, engine::Dims> inputShapes;
};

struct NodeProfile {
    ir::NodeId node = 0;
    std::string name;
    std::string op;
    double ms = 0;       ///< mean per run; 0 for fused and folded nodes
    int steps = 0;       ///< steps booked on this node per run (0: fused or folded)
    std::optional<ir::NodeId> fusedInto;
    std::string fusedIntoName;
    engine::Backend backend = engine::Backend::kReference;
    std::string precision;
    int64_t flops = 0;
    int64_t params = 0;
    std::map<std::string, int64_t> weightBytes;  ///< initializer bytes read, by dtype name
    int64_t activationBytes = 0;                 ///< bytes of its outputs at this batch
};

struct Profile {
    int64_t batch = 0;
    int threads = 0;
    int runs = 0;
    std::vector<NodeProfile> nodes;  ///< every node of the main graph, in graph order
    double stepMs = 0;               ///< per run: the nodes' ms plus conversionMs
    double conversionMs = 0;         ///< per run: layout conversions
    double wallMs = 0;               ///< mean wall time of a timed run
    int64_t flops = 0;
    int64_t params = 0;
};

Expected<Profile> profileModel(const ir::Model& model, const ProfileOptions& options,
                               jobs::JobContext* job = nullptr);

/// Every node's row as CSV (RFC 4180 quoting), what `whittle-cli profile --csv` and the studio's
/// Profiler dock write: name,op,ms,steps,fused_into,backend,precision,flops,params,act_bytes,
/// weight_bytes (weight_bytes as "dtype:bytes" pairs separated by spaces).
std::string profileCsv(const Profile& profile);

}  // namespace wh::analysis
