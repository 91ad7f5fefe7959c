#pragma once
/// SCOP's stage one (Tang et al. 2020; the seed's PrunerKfCompressAlgo, GOLDEN_STICK.md §7.1):
/// a per-channel `kfscale` β ∈ [0, 1] is trained, everything else frozen, in a graph that runs
/// every batch twice — real and knockoff — and mixes them after each chosen convolution:
///
///   input x [N, ...]           x_kf = P · x (P an N×N permutation matrix, a new random
///                              permutation of the batch every step, as the seed's KfCallback)
///   X = Concat(x, x_kf)        [2N, ...] through the whole network
///   per chosen Conv (followed by a BatchNormalization):
///       y = conv(X);  y_real = y[0:N];  y_kf = y[N:2N]
///       y' = Concat(β · y_real + (1 − β) · y_kf,  y_kf)       (β: [1, C, 1, 1], init 0.5)
///       BatchNormalization(y')   (training: statistics of the 2N batch, as the seed)
///   output = out[0:N]          the loss reads the real half only
///
/// The knockoff half is never mixed with the real one, so it stays the knockoff network's
/// features; β → 1 keeps the real feature, β → 0 says the knockoff does as well. With β = 1
/// the real half is exactly the original model (β·y + 0·y_kf, computed as the seed writes it).
///
/// P is a frozen float parameter [N, N] that KnockoffCallback overwrites before every step
/// (the trainer feeds one tensor, so the permutation cannot be a second input; a matrix product
/// over the flattened batch applies it, N²·sample multiply-adds, negligible beside the convs).
/// The batch is therefore fixed: the loader drops a last partial batch. After every step
/// KnockoffCallback clamps β to [0, 1] (the reference code's clamp; the seed has none).
///
/// The knockoff graph is a separate model: the caller's model is never changed; only the
/// trained β come back (BN running statistics of the mixed batch are not written back).
///
/// No Qt.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/ir/graph.h"
#include "core/jobs/job_context.h"
#include "core/train/trainer.h"
#include "core/util/rng.h"
#include "core/util/status.h"

namespace wh::algo::prune {

/// One mixed convolution of the knockoff graph.
struct KnockoffLayer {
    ir::NodeId conv = 0;  ///< the Conv (same id in the caller's model and the knockoff model)
    std::string name;     ///< its display name
    std::string kfscale;  ///< the β initializer, [1, C, 1, 1]
    int64_t channels = 0;
};

struct KnockoffModel {
    ir::Model model;
    std::vector<KnockoffLayer> layers;
    std::string permutation;  ///< the P initializer, [batch, batch] (identity as built)
    std::string input;        ///< the fed graph input
    int64_t batch = 0;        ///< N (the network runs 2N)
};

/// Builds the knockoff graph of `model` for the Convs `convs` (each must be a Conv with constant
/// weights whose output 0 is read by one BatchNormalization only: kBadInput naming it
/// otherwise), batch `batch`, every β = `init`. The model's default opset must be ≥ 10
/// (Slice with inputs).
Expected<KnockoffModel> buildKnockoffModel(const ir::Model& model,
                                           const std::vector<ir::NodeId>& convs, int64_t batch,
                                           float init = 0.5f);

/// The names TrainingOptions::frozen needs: every float initializer but the β.
std::vector<std::string> knockoffFrozen(const KnockoffModel& km);

/// Before every step: a new random permutation into P (seeded: the same seed gives the same
/// permutations). After every step: β clamped to [0, 1].
class KnockoffCallback : public train::Callback {
public:
    KnockoffCallback(const KnockoffModel& km, uint64_t seed, bool clamp = true);
    Status onTrainBegin(train::Trainer& trainer) override;
    Status onStepBegin(train::Trainer& trainer, int64_t step) override;
    Status onStepEnd(train::Trainer& trainer, const train::StepInfo& info) override;
    /// The permutation of the last step: knockoff sample i is real sample perm[i].
    const std::vector<int64_t>& permutation() const { return m_perm; }

private:
    std::vector<std::string> m_scales;
    std::string m_permutation;
    int64_t m_batch = 0;
    Rng m_rng;
    bool m_clamp = true;
    std::vector<int64_t> m_perm;
};

struct KnockoffOptions {
    int64_t batch = 64;  ///< N: the real batch (the network runs 2N)
    int epochs = 1;
    int64_t maxSteps = 0;  ///< > 0: stop after this many steps
    /// Adam as the reference code: lr 0.004, β = (0.5, 0.9); constant rate.
    double lr = 0.004;
    double beta1 = 0.5;
    double beta2 = 0.9;
    uint64_t seed = 0;
    int threads = 0;
    float init = 0.5f;
    bool clamp = true;  ///< β clamped to [0, 1] after every step
};

struct KnockoffResult {
    std::map<ir::NodeId, std::vector<float>> kfscale;  ///< trained β per Conv
    train::TrainMetrics metrics;
};

/// Builds the knockoff graph and trains β on `data` (shuffled every epoch with the seed).
/// Progress and cancellation through `job` (kCancelled after the current step).
Expected<KnockoffResult> trainKnockoffScales(const ir::Model& model,
                                             const std::vector<ir::NodeId>& convs,
                                             const data::Dataset& data,
                                             const KnockoffOptions& options,
                                             jobs::JobContext* job = nullptr);

}  // namespace wh::algo::prune
