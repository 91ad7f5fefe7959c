// lsq: Learned Step Size Quantization (Esser et al., ICLR 2020), beyond the seed's internal
// LearnedStepSizeQuantizationAwareTraining (GOLDEN_STICK.md §5): any 2..8 bits, the paper's
// gradient scale g = 1 / sqrt(n · Qp) (the seed has none), the first and last layers kept at 8
// bits as the paper does, and step sizes initialised from data rather than a constant 6.
//
// apply: BatchNormalization folded into Conv (the folded conv is what trains); every Conv / Gemm
// / MatMul weight gets a learned FakeQuantize (symmetric signed narrow grid [-Qp, Qp], per
// output channel on the weight's output axis, depthwise [C,1,k,k] included); the activations a
// static quantization quantizes (layer inputs, layer outputs or their fused Relu-like
// activation's, quant::activationsToQuantize) get a learned per-tensor FakeQuantize: the
// unsigned grid [0, 2^b - 1] where calibration saw no negative value (after Relu), the signed
// symmetric grid otherwise; zero points stay 0.
// convert: quant::fakeQuantizeToQdq (4-bit weights through the packed writer, 4-bit activations
// through Clip + 8-bit QDQ).

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/algo/algorithm.h"
#include "core/algo/plugin.h"
#include "core/algo/quant/calibration.h"
#include "core/algo/quant/layers.h"
#include "core/algo/quant/qdq.h"
#include "core/rewrite/conv_batch_norm_folding.h"
#include "core/rewrite/greedy_driver.h"
#include "core/rewrite/pattern_sets.h"
#include "qat_common.h"

namespace {

using namespace wh;
using namespace wh::algo;
using namespace wh::algo::quant;

// The step of one group of weights on the narrow signed grid [-Qp, Qp].
//   "mse": the step minimising the rounding + clipping MSE, searched over clip thresholds
//          T = max|w| · (1 - i / 100), i = 0..79, s = T / Qp (fine enough: the MSE is smooth).
//   "lsq": the paper's 2 · mean|w| / sqrt(Qp).
float weightStep(const std::vector<float>& w, int bits, const std::string& init) {
    const double qp = static_cast<double>((1 << (bits - 1)) - 1);
    double maxAbs = 0, sumAbs = 0;
    for (float v : w) {
        maxAbs = std::max(maxAbs, static_cast<double>(std::fabs(v)));
        sumAbs += std::fabs(v);
    }
    if (maxAbs == 0 || w.empty()) return 1.0f;
    if (init == "lsq") return static_cast<float>(2.0 * (sumAbs / w.size()) / std::sqrt(qp));
    double best = maxAbs / qp, bestErr = std::numeric_limits<double>::infinity();
    for (int i = 0; i < 80; ++i) {
        const double s = maxAbs * (1.0 - i / 100.0) / qp;
        double err = 0;
        for (float v : w) {
            const double q = std::clamp(std::nearbyint(v / s), -qp, qp) * s;
            err += (q - v) * (q - v);
        }
        if (err < bestErr) {
            bestErr = err;
            best = s;
        }
    }
    return static_cast<float>(best);
}

// Keeps every learned step positive: after each optimizer step a step below 1 % of its initial
// value is raised to that floor. The FakeQuantize op rejects a step <= 0, and an optimizer whose
// update does not shrink with the parameter (Adam moves each element by about lr) can push a
// small step (first-layer weights, ~1e-4) through zero in one update.
class StepFloorCallback : public train::Callback {
public:
    std::vector<std::string> names;  // the scale initializers
    Status onTrainBegin(train::Trainer& trainer) override {
        m_floor.clear();
        for (const std::string& n : names)
            if (engine::Parameter* p = trainer.plan().parameter(n)) {
                std::vector<float> f(p->value.data<float>(), p->value.data<float>() + p->value.numElements());
                for (float& v : f) v = std::max(0.01f * v, 1e-12f);
                m_floor.emplace_back(p, std::move(f));
            }
        return Status::ok();
    }
    Status onStepEnd(train::Trainer&, const train::StepInfo&) override {
        for (auto& [p, floor] : m_floor) {
            float* v = p->value.data<float>();
            for (std::size_t i = 0; i < floor.size(); ++i) v[i] = std::max(v[i], floor[i]);
        }
        return Status::ok();
    }

private:
    std::vector<std::pair<engine::Parameter*, std::vector<float>>> m_floor;
};

class Lsq : public Algorithm {
public:
    explicit Lsq(const Params& p) : m_p(p) {}

    Expected<ApplyReport> apply(rewrite::Rewriter& rw, const Selection& selection,
                                AlgoContext& ctx) override {
        if (!ctx.model) return error(StatusCode::kInternal, "lsq: no model in the context");
        ApplyReport report;
        const int wbits = static_cast<int>(m_p.getInt("weight_bits"));
        const int abits = static_cast<int>(m_p.getInt("activation_bits"));
        const bool perChannel = m_p.getBool("per_channel");
        const bool keep8 = m_p.getBool("keep_first_last_8bit");
        const int64_t samples = m_p.getInt("calibration_samples");
        const std::string weightInit = m_p.getString("weight_init");
        ctx.seed = static_cast<uint64_t>(m_p.getInt("seed"));
        if (!ctx.data)
            return error(StatusCode::kUsage,
                         "lsq: the activation steps are initialised from calibration data "
                         "(calibration_samples); the run has no dataset");

        rewrite::PatternSet fold;
        fold.emplace<rewrite::ConvBatchNormFolding>();
        rewrite::GreedyReport folded = rewrite::applyPatternsGreedily(rw, fold);
        if (int n = folded.count("ConvBatchNormFolding"))
            report.notes.push_back(fmt::format("folded {} BatchNormalization into Conv", n));

        std::vector<LayerWeight> layers = quantizableLayers(rw.graph(), selection, report.scope);
        if (layers.empty()) {
            report.notes.push_back("nothing to quantize in the selection");
            return report;
        }
        // The first and last quantized layers (graph order) keep 8 bits, weights and input.
        std::set<const ir::Node*> edge;
        std::set<const ir::Value*> edgeInputs;
        if (keep8) {
            for (const LayerWeight* l : {&layers.front(), &layers.back()}) {
                edge.insert(l->node);
                edgeInputs.insert(l->node->input(0));
            }
        }

        // Activations: calibrated on the float model (after the BN fold).
        std::vector<ir::Value*> acts;
        for (ir::Value* v : activationsToQuantize(layers))
            if (!fakeQuantizeOf(*v)) acts.push_back(v);
        std::vector<std::string> names;
        for (const ir::Value* v : acts) names.push_back(v->name());
        ObserverOptions oo;
        WH_ASSIGN_OR_RETURN(oo.method, parseCalibrationMethod(m_p.getString("init")));
        WH_ASSIGN_OR_RETURN(std::vector<RangeObserver> obs,
                            observeActivations(*ctx.model, names, oo, ctx, samples, ctx.batch));

        // Weights.
        int eightBit = 0;
        for (const LayerWeight& l : layers) {
            const int bits = edge.count(l.node) ? 8 : wbits;
            eightBit += bits == 8 && bits != wbits;
            WH_ASSIGN_OR_RETURN(std::vector<float> w, qat::floatValues(l.weight, "weight"));
            const std::vector<int64_t>& dims = l.weight->initializer()->dims;
            const int axis = perChannel ? l.axis : -1;
            const std::size_t channels = axis >= 0 ? static_cast<std::size_t>(dims[static_cast<std::size_t>(axis)]) : 1;
            std::vector<std::vector<float>> groups(channels);
            for (std::size_t i = 0; i < w.size(); ++i) groups[qat::channelOf(i, dims, axis)].push_back(w[i]);
            std::vector<float> scale;
            for (const auto& grp : groups) scale.push_back(weightStep(grp, bits, weightInit));
            FakeQuantSpec spec = weightSpec(bits, axis, /*narrowRange=*/true);
            spec.learned = true;
            WH_ASSIGN_OR_RETURN(ir::Node * fq, insertFakeQuantizeFor(rw, *l.weight, *l.node, spec, scale, {}));
            m_floor.names.push_back(fq->input(1)->name());
        }

        // Activations: unsigned [0, 2^b - 1] when nothing negative was seen, else signed.
        int unsignedActs = 0;
        for (std::size_t k = 0; k < acts.size(); ++k) {
            const int bits = edgeInputs.count(acts[k]) ? 8 : abits;
            const bool isUnsigned = obs[k].count() > 0 && obs[k].observedMin() >= 0.0f;
            unsignedActs += isUnsigned;
            WH_ASSIGN_OR_RETURN(Range r, obs[k].range(bits, !isUnsigned, isUnsigned));
            FakeQuantSpec spec;
            spec.bits = bits;
            spec.symmetric = true;  // zero point fixed at 0 (no offset is learned)
            spec.isUnsigned = isUnsigned;
            spec.learned = true;
            const double levels = isUnsigned ? (1 << bits) - 1 : (1 << (bits - 1)) - 1;
            const double t = isUnsigned ? r.max : std::max(-r.min, r.max);
            const float s = t > 0 ? static_cast<float>(t / levels) : 1.0f;
            float sv[] = {s};
            WH_ASSIGN_OR_RETURN(ir::Node * fq, insertFakeQuantize(rw, *acts[k], spec, sv, {}));
            m_floor.names.push_back(fq->input(1)->name());
        }
        report.notes.push_back(fmt::format(
            "{} weights at {} bits ({} step init{}), {} activations at {} bits ({} unsigned; {} "
            "init on {} samples)",
            layers.size(), wbits, weightInit, keep8 ? ", first and last layer at 8 bits" : "",
            acts.size(), abits, unsignedActs, m_p.getString("init"), samples));
        (void)eightBit;
        return report;
    }

    Status convert(rewrite::Rewriter& rw, AlgoContext&) override {
        WH_ASSIGN_OR_RETURN_STATUS(int n, fakeQuantizeToQdq(rw));
        (void)n;
        return Status::ok();
    }

    std::vector<train::Callback*> callbacks(const ir::Graph&) override { return {&m_floor}; }

private:
    Params m_p;
    StepFloorCallback m_floor;
};

AlgorithmInfo lsqInfo() {
    AlgorithmInfo info;
    info.name = "lsq";
    info.title = "Learned step size quantization (LSQ)";
    info.description =
        "Quantization-aware training with learned step sizes (Esser et al. 2020): BN folded, "
        "weights per channel and activations per tensor at 2-8 bits with trained scales and "
        "the paper's gradient scaling, first and last layers at 8 bits; exported as QDQ ONNX "
        "(packed weights below 8 bits).";
    info.supportedOps = {"Conv", "Gemm", "MatMul"};
    info.params = {
        ParamSpec::integer("weight_bits", 4, 2, 8, "weight bits").inGroup("weights"),
        ParamSpec::integer("activation_bits", 8, 2, 8, "activation bits").inGroup("activations"),
        ParamSpec::boolean("per_channel", true, "one weight step per output channel").inGroup("weights"),
        ParamSpec::boolean("keep_first_last_8bit", true, "the first and last quantized layers' weights and inputs at 8 bits (as the LSQ paper)"),
        ParamSpec::choice("init", "mse", {"minmax", "mse", "percentile"}, "activation step initialisation from calibration").alias("calibration").inGroup("activations"),
        ParamSpec::choice("weight_init", "mse", {"mse", "lsq"}, "weight step initialisation: the MSE-optimal clip, or the paper's 2·mean|w|/sqrt(Qp)").inGroup("weights"),
        ParamSpec::integer("calibration_samples", 256, 1, 1000000, "images for the activation step initialisation").alias("samples").inGroup("activations"),
        ParamSpec::integer("seed", 0, 0, std::numeric_limits<int32_t>::max(), "seed for the calibration sample"),
    };
    info.training.trains = true;
    info.training.epochs = 1;
    info.training.lr = 0.0005;
    info.training.optimizer = "adam";
    info.training.schedule = "cosine";
    info.training.batch = 128;
    info.create = factoryOf<Lsq>();
    return info;
}

Status registerLsq(Registry& r) { return r.add(lsqInfo()); }

}  // namespace

WHITTLE_PLUGIN("lsq", "1.0", registerLsq)
