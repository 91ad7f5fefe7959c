// slb: Searching for Low-Bit weights (Yang et al., NeurIPS 2020), the seed's
// SlbQuantAwareTraining (GOLDEN_STICK.md §4).
//
// apply: every selected Conv (and, when the selection's include_ops names it, Gemm) reads its
// weight from a com.whittle SlbWeight node (core/engine/slb_weight.h) over trainable logits A
// [..., K] (K = 2 for 1 bit, 2^b otherwise), value set V = {-1, +1} or linspace(-1, 1, 2^b).
// V has no scale: a Conv whose output goes only to a BatchNormalization lets the BN absorb it
// (the seed's design). Any other layer (a Conv without BN, a Gemm) gets a learned per-output-
// channel scale s (a Mul after SlbWeight), initialised to the least-squares fit of the float
// weights by the initial discrete ones (mean |w| for 1 bit).
// Logits: init_from_weights (default) derives them from the float weights: per output channel
// w_n = w / α with α the MSE-optimal clip of w to the value set, then A_k = -(w_n - V_k)² / τ
// with τ = δ² / 2 (δ the spacing of V), so that argmax A is the nearest level of w_n and the
// soft weight at T = 1 follows w_n with slope 1 between levels. The following BN's running mean
// and variance are rescaled by 1/α (the Conv now computes w/α), so that evaluation starts from
// the float model's quantized form. init_from_weights = false: the seed's HeNormal(fan_out)
// random logits (seeded), float weights discarded.
// enable_act_quant: 8-bit asymmetric per-tensor observing FakeQuantize (SimQAT's, no EMA) on the
// layers' inputs and outputs (a BN's output for a Conv → BN, a fused activation's output), with
// the seed's fixed 900-step quantization delay.
//
// Callbacks (GOLDEN_STICK.md §4.2, §4.3): the temperature schedule at each epoch begin, and
// with enable_bn_calibration a statistics pass (train/statistics_pass.h) over the training set
// with hard weights at each epoch end once e > e_s.
//
// convert: W = V[argmax A] as the odd integers q = V · (2^b − 1) ({-1, +1} for 1 bit) in an
// int8 initializer + DequantizeLinear per output channel (core/algo/quant/weight_export.h), the
// following BN folded: scale_c = |f_c| / (2^b − 1) with f_c = γ_c / sqrt(var_c + ε) (a row with
// f_c < 0 has its integers negated so that scales stay positive), bias β + (b − μ)·f; the
// learned scale likewise. packed_export = true stores 1- and 2-bit codes packed (2 and 4 bits per
// code: the odd integers are a (b+1)-bit narrow signed grid) through the shared decompression
// subgraph.

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "core/algo/algorithm.h"
#include "core/algo/plugin.h"
#include "core/algo/quant/calibration.h"
#include "core/algo/quant/layers.h"
#include "core/algo/quant/qdq.h"
#include "core/algo/quant/quantized_weight.h"
#include "core/algo/quant/weight_export.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/slb_weight.h"
#include "core/train/statistics_pass.h"
#include "core/util/rng.h"
#include "qat_common.h"

namespace {

using namespace wh;
using namespace wh::algo;
using namespace wh::algo::quant;
using qat::addFloatInitializer;
using qat::floatValues;
using qat::freshName;
using qat::nodeNamed;

constexpr int64_t kActQuantDelay = 900;  // the seed's SlbActQuantizer, hard-coded

// The temperature schedule (GOLDEN_STICK.md §4.2) at 1-based epoch `e` (has_trained_epoch
// already added): T, and whether the weights are hard from this epoch on.
struct Temperature {
    double t = 1;
    bool hard = false;
};
Temperature temperatureAt(int64_t e, int64_t epochSize, double tStartVal, double tStartTime,
                          double tEndTime, double tFactor) {
    // int() of the seed truncates; the fractions are >= 0.
    const auto es = static_cast<int64_t>(static_cast<double>(epochSize) * tStartTime);
    const auto ee = static_cast<int64_t>(static_cast<double>(epochSize) * tEndTime);
    Temperature r;
    r.t = e > es ? tStartVal * std::pow(tFactor, static_cast<double>(std::min(e, ee) - es))
                 : tStartVal;
    r.hard = e >= ee;
    return r;
}

// One wrapped layer; names (stable across the training plan's clone and the write-back).
struct SlbLayer {
    std::string node;    // the Conv / Gemm
    std::string slb;     // its SlbWeight node
    std::string logits;  // A
    std::string weight;  // the original float weight's name (the export's weight takes it)
    std::vector<int64_t> wdims;
    int axis = 0;  // the weight's output-channel axis
    bool transposed = false;
    // Either the following BatchNormalization absorbs the scale ...
    std::string bn;
    // ... or a learned per-channel scale: Mul(SlbWeight, scale).
    std::string scaleMul, scale;
};

// SLB rewrites the following BN's statistics in place (init_from_weights) and folds it on
// convert: its parameters must be its own.
constexpr bool kExclusiveBnParams = true;

class SlbCallback : public train::Callback {
public:
    std::vector<ir::NodeId> weights;  // the SlbWeight nodes
    int64_t epochSize = 0;            // 0: the trainer's epochs
    int64_t hasTrainedEpoch = 0;
    double tStartVal = 1, tStartTime = 0.2, tEndTime = 0.6, tFactor = 1.2;
    bool bnCalibration = false;
    // Activation quantizers and their delay (enable_act_quant).
    std::vector<ir::NodeId> actFq;
    int64_t actDelay = 0;
    // What the schedule set at each epoch begin (epoch e, T, hard): for reports and tests.
    std::vector<std::tuple<int64_t, double, bool>> history;
    int64_t calibrations = 0;

    Status onTrainBegin(train::Trainer& trainer) override {
        m_size = epochSize > 0 ? epochSize : trainer.options().epochs;
        if (m_size <= 0)
            return makeStatus(StatusCode::kUsage,
                              "slb: epoch_size is not set and the training has no epoch count");
        if (hasTrainedEpoch >= m_size)
            return makeStatus(StatusCode::kUsage,
                              "slb: has_trained_epoch {} must be below epoch_size {}",
                              hasTrainedEpoch, m_size);
        for (ir::NodeId id : weights)
            if (!trainer.plan().nodeFlags(id))
                return makeStatus(StatusCode::kInternal,
                                  "slb: an SlbWeight node is not a node of the training plan");
        history.clear();
        calibrations = 0;
        return Status::ok();
    }

    Status onEpochBegin(train::Trainer& trainer, int epoch) override {
        const int64_t e = epoch + 1 + hasTrainedEpoch;
        const Temperature t = temperatureAt(e, m_size, tStartVal, tStartTime, tEndTime, tFactor);
        setKnobs(trainer.plan(), t.t, t.hard);
        history.emplace_back(e, t.t, t.hard);
        return trainer.report("temperature", t.t);  // the studio plots it per epoch
    }

    Status onStepBegin(train::Trainer& trainer, int64_t step) override {
        if (actDelay <= 0) return Status::ok();
        for (ir::NodeId id : actFq)
            if (engine::NodeFlags* f = trainer.plan().nodeFlags(id))
                f->knobs["enabled"] = step >= actDelay ? 1.0 : 0.0;
        return Status::ok();
    }

    // BN calibration (§4.3): after epoch e > e_s, one pass over the training set with the hard
    // (argmax) weights, as the seed's model.eval with batch statistics does.
    Status onEpochEnd(train::Trainer& trainer, const train::EpochMetrics& metrics) override {
        if (!bnCalibration) return Status::ok();
        const int64_t e = metrics.epoch + 1 + hasTrainedEpoch;
        const auto es = static_cast<int64_t>(static_cast<double>(m_size) * tStartTime);
        if (e <= es) return Status::ok();
        engine::TrainingPlan& plan = trainer.plan();
        std::vector<std::pair<engine::NodeFlags*, double>> old;
        for (ir::NodeId id : weights)
            if (engine::NodeFlags* f = plan.nodeFlags(id)) {
                old.emplace_back(f, f->knob("hard", 0.0));
                f->knobs["hard"] = 1.0;
            }
        train::StatisticsPassOptions o;
        o.epoch = metrics.epoch;
        auto r = train::runStatisticsPass(plan, trainer.trainLoader(), o);
        for (auto& [f, h] : old) f->knobs["hard"] = h;
        if (!r) return r.error();
        ++calibrations;
        return Status::ok();
    }

private:
    void setKnobs(engine::TrainingPlan& plan, double t, bool hard) {
        for (ir::NodeId id : weights)
            if (engine::NodeFlags* f = plan.nodeFlags(id)) {
                f->knobs["temperature"] = t;
                f->knobs["hard"] = hard ? 1.0 : 0.0;
            }
    }
    int64_t m_size = 0;
};

// Index of the channel (along `axis`) of flat element i.
std::size_t channelOf(std::size_t i, const std::vector<int64_t>& dims, int axis) {
    return qat::channelOf(i, dims, axis);
}

// The value-set index nearest to x: V is evenly spaced over [-1, 1] (ties go up).
int nearestLevel(double x, const std::vector<double>& v) {
    const int k = static_cast<int>(v.size());
    const double step = 2.0 / (k - 1);
    const double i = std::nearbyint((std::clamp(x, -1.0, 1.0) + 1.0) / step);
    return std::clamp(static_cast<int>(i), 0, k - 1);
}

// α minimising Σ (w − α·V[nearest(w/α)])² over α = m · (1 − i/100), i = 0..79, m = max |w|
// (as LSQ's weight step search); 1 bit: the closed form mean |w|.
double fitScale(const std::vector<double>& w, const std::vector<double>& v, int bits) {
    double m = 0, sumAbs = 0;
    for (double x : w) {
        m = std::max(m, std::abs(x));
        sumAbs += std::abs(x);
    }
    if (m == 0 || w.empty()) return 1.0;
    if (bits == 1) return sumAbs / static_cast<double>(w.size());
    double best = m, bestErr = std::numeric_limits<double>::infinity();
    for (int i = 0; i < 80; ++i) {
        const double a = m * (1.0 - i / 100.0);
        double err = 0;
        for (double x : w) {
            const double q = a * v[static_cast<std::size_t>(nearestLevel(x / a, v))];
            err += (q - x) * (q - x);
        }
        if (err < bestErr) {
            bestErr = err;
            best = a;
        }
    }
    return best;
}

class Slb : public Algorithm {
public:
    explicit Slb(const Params& p) : m_p(p) {}

    Expected<ApplyReport> apply(rewrite::Rewriter& rw, const Selection& selection,
                                AlgoContext& ctx) override {
        if (!ctx.model) return error(StatusCode::kInternal, "slb: no model in the context");
        m_bits = static_cast<int>(m_p.getInt("weight_bits"));
        // The seed's weight quant_dtype (INT1, INT2, INT4) sets the bits unless weight_bits was
        // given explicitly.
        if (const std::string& dt = m_p.getString("quant_dtype"); !dt.empty()) {
            const auto& set = m_p.explicitlySet();
            if (std::find(set.begin(), set.end(), "weight_bits") == set.end())
                m_bits = dt[3] - '0';
        }
        if (engine::slbLevels(m_bits) == 0)
            return error(StatusCode::kUsage, "slb: weight_bits {} is not 1, 2 or 4", m_bits);
        if (m_p.getFloat("t_end_time") < m_p.getFloat("t_start_time"))
            return error(StatusCode::kUsage, "slb: t_end_time {} is below t_start_time {}",
                         m_p.getFloat("t_end_time"), m_p.getFloat("t_start_time"));
        const int64_t epochSize = m_p.getInt("epoch_size");
        if (epochSize > 0 && m_p.getInt("has_trained_epoch") >= epochSize)
            return error(StatusCode::kUsage,
                         "slb: has_trained_epoch {} must be below epoch_size {}",
                         m_p.getInt("has_trained_epoch"), epochSize);
        const bool fromWeights = m_p.getBool("init_from_weights");
        const uint64_t seed = static_cast<uint64_t>(m_p.getInt("seed"));
        ctx.seed = seed;
        ir::Graph& g = rw.graph();
        ApplyReport report;

        // Scope: Conv (every one, the first included, as the seed); Gemm only when asked for.
        const std::vector<std::string> ops = selection.includeOps.empty()
                                                 ? std::vector<std::string>{"Conv"}
                                                 : std::vector<std::string>{"Conv", "Gemm"};
        report.scope = resolveScope(g, selection, ops);
        std::vector<LayerWeight> layers;
        for (ScopeEntry& e : report.scope) {
            if (!e.included) continue;
            LayerWeight l = layerWeight(*g.findNode(e.node));
            if (!l.reason.empty()) {
                e.included = false;
                e.reason = l.reason;
                continue;
            }
            layers.push_back(l);
        }
        if (layers.empty()) {
            report.notes.push_back("nothing to quantize in the selection");
            return report;
        }

        // Activations to quantize, decided on the float graph (SimQAT's choice).
        std::vector<ir::Value*> acts;
        if (m_p.getBool("enable_act_quant")) acts = activationsOf(g, layers);

        // Initial activation ranges from calibration data on the float model (SimQAT's; the
        // observers take over in training), else the seed's [-6, 6].
        std::vector<std::pair<float, float>> ranges(acts.size(), {-6.0f, 6.0f});
        const int64_t samples = m_p.getInt("calibration_samples");
        if (!acts.empty() && ctx.data && samples > 0) {
            std::vector<std::string> names;
            for (const ir::Value* x : acts) names.push_back(x->name());
            ObserverOptions oo;
            oo.method = CalibrationMethod::kMinMax;
            WH_ASSIGN_OR_RETURN(std::vector<RangeObserver> obs,
                                observeActivations(*ctx.model, names, oo, ctx, samples, ctx.batch));
            for (std::size_t k = 0; k < acts.size(); ++k)
                if (obs[k].count() > 0) ranges[k] = {obs[k].observedMin(), obs[k].observedMax()};
        }

        const std::vector<double> v = engine::slbValues(m_bits);
        const int K = engine::slbLevels(m_bits);
        const double delta = 2.0 / (K - 1);
        const double tau = delta * delta / 2.0;
        Rng rng(seed * 0x9e3779b97f4a7c15ull + 12345);
        int64_t totalWeights = 0;
        int absorbed = 0, scaled = 0;
        for (LayerWeight& l : layers) {
            WH_RETURN_IF_ERROR(ensureName(rw, *l.node));
            WH_ASSIGN_OR_RETURN(std::vector<float> wf, floatValues(l.weight, "weight"));
            const std::vector<int64_t> wdims = l.weight->initializer()->dims;
            const auto C = static_cast<std::size_t>(wdims[static_cast<std::size_t>(l.axis)]);
            totalWeights += static_cast<int64_t>(wf.size());
            ir::Node* bn = l.node->opType == "Conv"
                               ? qat::batchNormAfterConv(*l.node, kExclusiveBnParams)
                               : nullptr;

            // Per-channel fit α and the normalised weights.
            std::vector<std::vector<double>> groups(C);
            for (std::size_t i = 0; i < wf.size(); ++i)
                groups[channelOf(i, wdims, l.axis)].push_back(wf[i]);
            std::vector<double> alpha(C, 1.0);
            for (std::size_t c = 0; c < C; ++c) alpha[c] = fitScale(groups[c], v, m_bits);

            std::vector<float> logits(wf.size() * static_cast<std::size_t>(K));
            std::vector<int> initLevel(wf.size());
            if (fromWeights) {
                for (std::size_t i = 0; i < wf.size(); ++i) {
                    const double wn = wf[i] / alpha[channelOf(i, wdims, l.axis)];
                    for (int k = 0; k < K; ++k) {
                        const double d = wn - v[static_cast<std::size_t>(k)];
                        logits[i * K + static_cast<std::size_t>(k)] =
                            static_cast<float>(-d * d / tau);
                    }
                    initLevel[i] = nearestLevel(wn, v);
                }
            } else {
                // HeNormal(mode = fan_out, relu) on the 5-D logits, as MindSpore computes the
                // fans: fan_out = dims[0] · (the product of the dims after the first two).
                double fanOut = static_cast<double>(wdims[0]) * K;
                for (std::size_t d = 2; d < wdims.size(); ++d)
                    fanOut *= static_cast<double>(wdims[d]);
                const double sd = std::sqrt(2.0 / fanOut);
                for (float& a : logits) a = static_cast<float>(sd * rng.normal());
                for (std::size_t i = 0; i < wf.size(); ++i) {
                    int best = 0;
                    for (int k = 1; k < K; ++k)
                        if (logits[i * K + static_cast<std::size_t>(k)] >
                            logits[i * K + static_cast<std::size_t>(best)])
                            best = k;
                    initLevel[i] = best;
                }
            }

            SlbLayer s;
            s.node = l.node->name;
            s.weight = l.weight->name();
            s.wdims = wdims;
            s.axis = l.axis;
            s.transposed = l.transposed;
            std::vector<int64_t> adims = wdims;
            adims.push_back(K);
            WH_ASSIGN_OR_RETURN(ir::Value * a,
                                addFloatInitializer(rw, s.weight + "_slb_logits", adims, logits));
            s.logits = a->name();
            rewrite::NewNode sn(std::string(engine::kSlbWeightOp), {s.logits},
                                {freshName(g, s.weight + "_slb")});
            sn.domain = std::string(engine::kWhittleDomain);
            sn.name = freshName(g, s.node + "_slb_weight");
            sn.attributes.push_back(ir::Attribute::makeInt("bits", m_bits));
            WH_ASSIGN_OR_RETURN(ir::Node * slbNode, rw.insertBefore(*l.node, std::move(sn)));
            s.slb = slbNode->name;
            ir::Value* wOut = slbNode->output(0);

            if (bn) {
                WH_RETURN_IF_ERROR(ensureName(rw, *bn));
                s.bn = bn->name;
                // The Conv computes w/α now: running mean and variance follow (with init from
                // weights; random logits have no relation to the old statistics).
                if (fromWeights) WH_RETURN_IF_ERROR(rescaleBatchNorm(rw, *l.node, *bn, alpha));
                ++absorbed;
            } else {
                // A learned per-channel scale, the least-squares fit of w by s·V[level].
                std::vector<float> sc(C, 1.0f);
                std::vector<double> num(C, 0.0), den(C, 0.0);
                for (std::size_t i = 0; i < wf.size(); ++i) {
                    const std::size_t c = channelOf(i, wdims, l.axis);
                    const double q = v[static_cast<std::size_t>(initLevel[i])];
                    num[c] += wf[i] * q;
                    den[c] += q * q;
                }
                for (std::size_t c = 0; c < C; ++c)
                    sc[c] = den[c] > 0 && num[c] != 0 ? static_cast<float>(num[c] / den[c]) : 1.0f;
                std::vector<int64_t> sdims(wdims.size(), 1);
                sdims[static_cast<std::size_t>(l.axis)] = static_cast<int64_t>(C);
                WH_ASSIGN_OR_RETURN(ir::Value * sv,
                                    addFloatInitializer(rw, s.weight + "_slb_scale", sdims, sc));
                s.scale = sv->name();
                rewrite::NewNode mul("Mul", {wOut->name(), s.scale},
                                     {freshName(g, s.weight + "_slb_scaled")});
                mul.name = freshName(g, s.node + "_slb_scale");
                WH_ASSIGN_OR_RETURN(ir::Node * mulNode, rw.insertBefore(*l.node, std::move(mul)));
                s.scaleMul = mulNode->name;
                wOut = mulNode->output(0);
                ++scaled;
            }
            ir::Value* old = l.weight;
            WH_RETURN_IF_ERROR(rw.setInput(*l.node, 1, wOut));
            if (!old->hasUses() && !old->isGraphOutput() && !rw.subgraphReader(old->name()))
                WH_RETURN_IF_ERROR(rw.removeInitializer(*old));
            m_layers.push_back(std::move(s));
        }

        // Activation quantizers (ranges observed above).
        if (!acts.empty()) {
            for (std::size_t k = 0; k < acts.size(); ++k) {
                FakeQuantSpec spec = activationSpec(8, false);
                spec.observe = 1;
                auto [sc, z] = engine::fakeQuantParamsFromRange(ranges[k].first, ranges[k].second,
                                                                8, false, false, true);
                float sv[] = {sc}, zv[] = {z};
                WH_ASSIGN_OR_RETURN(ir::Node * fq, insertFakeQuantize(rw, *acts[k], spec, sv, zv));
                m_actFq.push_back(fq->name);
            }
        }

        const double packed = std::ceil(static_cast<double>(totalWeights) * m_bits / 8.0);
        report.notes.push_back(fmt::format(
            "{} layers, {} weights at {} bit{} (logits initialised {}); {} Conv → "
            "BatchNormalization absorb the scale, {} layers learn a per-channel scale",
            layers.size(), totalWeights, m_bits, m_bits == 1 ? "" : "s",
            fromWeights ? "from the float weights" : "HeNormal(fan_out), float weights discarded",
            absorbed, scaled));
        report.notes.push_back(fmt::format(
            "packed size at {} bit{} per weight: {:.0f} bytes for the {} quantized weights "
            "(float32: {} bytes; the export stores {})",
            m_bits, m_bits == 1 ? "" : "s", packed, totalWeights, totalWeights * 4, exportForm()));
        if (!acts.empty())
            report.notes.push_back(fmt::format(
                "{} activations at 8 bits (per tensor, asymmetric), quantization delay {} steps",
                acts.size(), kActQuantDelay));
        for (const SlbLayer& s : m_layers) {
            int64_t n = 1;
            for (int64_t d : s.wdims) n *= d;
            report.layers.push_back(
                {s.node, "", "packed_bytes", std::ceil(static_cast<double>(n) * m_bits / 8.0)});
        }
        for (LayerMetric& m : report.layers)
            if (const ir::Node* n = nodeNamed(g, m.name)) m.op = n->opType;
        return report;
    }

    std::vector<train::Callback*> callbacks(const ir::Graph& graph) override {
        std::map<std::string, ir::NodeId, std::less<>> ids;
        for (const ir::Node* n : graph.nodes()) ids.emplace(n->name, n->id());
        m_callback.weights.clear();
        for (const SlbLayer& s : m_layers)
            if (auto it = ids.find(s.slb); it != ids.end())
                m_callback.weights.push_back(it->second);
        m_callback.actFq.clear();
        for (const std::string& n : m_actFq)
            if (auto it = ids.find(n); it != ids.end()) m_callback.actFq.push_back(it->second);
        m_callback.actDelay = m_actFq.empty() ? 0 : kActQuantDelay;
        m_callback.epochSize = m_p.getInt("epoch_size");
        m_callback.hasTrainedEpoch = m_p.getInt("has_trained_epoch");
        m_callback.tStartVal = m_p.getFloat("t_start_val");
        m_callback.tStartTime = m_p.getFloat("t_start_time");
        m_callback.tEndTime = m_p.getFloat("t_end_time");
        m_callback.tFactor = m_p.getFloat("t_factor");
        m_callback.bnCalibration = m_p.getBool("enable_bn_calibration");
        return {&m_callback};
    }

    Status convert(rewrite::Rewriter& rw, AlgoContext&) override {
        for (const SlbLayer& s : m_layers) WH_RETURN_STATUS_IF_ERROR(convertLayer(rw, s));
        if (!m_actFq.empty()) {
            WH_ASSIGN_OR_RETURN_STATUS(int n, fakeQuantizeToQdq(rw));
            (void)n;
        }
        return Status::ok();
    }

private:
    std::string exportForm() const {
        if (m_p.getBool("packed_export") && m_bits <= 2)
            return fmt::format("packed codes at {} bits", storageBits(m_bits + 1));
        return "int8 codes + DequantizeLinear";
    }

    // convert() and the callbacks find nodes by name (the training plan's clone and the trained
    // model keep names): an unnamed node is given its first output's name.
    static Status ensureName(rewrite::Rewriter& rw, ir::Node& n) {
        if (!n.name.empty() || n.numOutputs() < 1 || !n.output(0)) return Status::ok();
        return rw.renameNode(n, n.output(0)->name());
    }

    // The values SLB quantizes: every layer's float input 0 and its output, or the output of
    // the BN after it, or of the single activation reading that (SimQAT's choice); once each.
    static std::vector<ir::Value*> activationsOf(ir::Graph& g,
                                                 const std::vector<LayerWeight>& layers) {
        std::vector<ir::Value*> acts;
        std::set<const ir::Value*> seen;
        auto want = [&](ir::Value* v) {
            if (!v || (v->hasInitializer() && !v->isGraphInput()) || !v->hasUses()) return;
            if (v->type.isTensor() && v->type.elemType != ir::DType::kFloat &&
                v->type.elemType != ir::DType::kUndefined)
                return;
            if (fakeQuantizeOf(*v)) return;
            if (seen.insert(v).second) acts.push_back(v);
        };
        for (const LayerWeight& l : layers) {
            want(l.node->input(0));
            ir::Node* bn = qat::batchNormAfterConv(*l.node, kExclusiveBnParams);
            ir::Value* y = bn ? bn->output(0) : l.node->output(0);
            if (y && y->uses().size() == 1 && !y->isGraphOutput() &&
                isFusableActivation(*y->uses().front().node))
                y = y->uses().front().node->output(0);
            want(y);
        }
        (void)g;
        return acts;
    }

    // Running statistics for a Conv that now computes (w/α_c)·x + b:
    //   μ' = (μ − b)/α + b,  σ'² = σ²/α²  (per output channel c).
    static Status rescaleBatchNorm(rewrite::Rewriter& rw, const ir::Node& conv, ir::Node& bn,
                                   const std::vector<double>& alpha) {
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> mean, floatValues(bn.input(3), "BN mean"));
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> var, floatValues(bn.input(4), "BN variance"));
        if (mean.size() != alpha.size() || var.size() != alpha.size())
            return makeStatus(StatusCode::kBadInput, "slb: BN '{}' has {} channels, Conv '{}' {}",
                              bn.name, mean.size(), conv.name, alpha.size());
        std::vector<float> b(alpha.size(), 0.0f);
        if (conv.numInputs() > 2 && conv.input(2)) {
            WH_ASSIGN_OR_RETURN_STATUS(b, floatValues(conv.input(2), "Conv bias"));
        }
        for (std::size_t c = 0; c < alpha.size(); ++c) {
            mean[c] = static_cast<float>((mean[c] - b[c]) / alpha[c] + b[c]);
            var[c] = static_cast<float>(var[c] / (alpha[c] * alpha[c]));
        }
        for (auto [v, vals] : {std::pair{bn.input(3), &mean}, std::pair{bn.input(4), &var}}) {
            ir::Tensor t = ir::Tensor::fromFloats(v->name(), v->initializer()->dims, *vals);
            WH_RETURN_STATUS_IF_ERROR(rw.replaceInitializer(*v, std::move(t)));
        }
        return Status::ok();
    }

    // Makes `conv` read `bias` as input 2 (replacing the node when it has only two inputs).
    static Status setBias(rewrite::Rewriter& rw, ir::Node*& conv, ir::Value* bias) {
        if (conv->numInputs() > 2) return rw.setInput(*conv, 2, bias);
        rewrite::NewNode n(conv->opType,
                           {conv->input(0)->name(), conv->input(1)->name(), bias->name()},
                           {conv->output(0)->name()});
        n.name = conv->name;
        for (const ir::Attribute& a : conv->attributes()) n.attributes.push_back(a.clone());
        WH_ASSIGN_OR_RETURN_STATUS(conv, rw.replace(*conv, std::move(n)));
        return Status::ok();
    }

    // The deploy form of one layer (see the file comment).
    Status convertLayer(rewrite::Rewriter& rw, const SlbLayer& s) {
        ir::Graph& g = rw.graph();
        ir::Node* layer = nodeNamed(g, s.node);
        ir::Node* slbNode = nodeNamed(g, s.slb);
        if (!layer || !slbNode)
            return makeStatus(StatusCode::kBadInput,
                              "slb: layer '{}' or its SlbWeight '{}' not found", s.node, s.slb);
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> a,
                                   floatValues(g.findValue(s.logits), "SLB logits"));
        const int K = engine::slbLevels(m_bits);
        const std::vector<double> v = engine::slbValues(m_bits);
        const int levels = m_bits == 1 ? 1 : (1 << m_bits) - 1;  // V · levels: odd integers
        const std::size_t n = a.size() / static_cast<std::size_t>(K);
        const auto C = static_cast<std::size_t>(s.wdims[static_cast<std::size_t>(s.axis)]);
        // q = V[argmax A] · levels (first maximum, as the kernel).
        std::vector<int32_t> q(n);
        for (std::size_t i = 0; i < n; ++i) {
            const float* r = a.data() + i * static_cast<std::size_t>(K);
            int best = 0;
            for (int k = 1; k < K; ++k)
                if (r[k] > r[best]) best = k;
            q[i] = static_cast<int32_t>(std::lround(v[static_cast<std::size_t>(best)] * levels));
        }
        // Per-channel factor f (W_deploy = q · f / levels) and the new bias.
        std::vector<double> f(C, 1.0);
        ir::Value* newBias = nullptr;
        ir::Node* bn = s.bn.empty() ? nullptr : nodeNamed(g, s.bn);
        if (!s.bn.empty() && !bn)
            return makeStatus(StatusCode::kBadInput, "slb: BatchNormalization '{}' not found",
                              s.bn);
        if (bn) {
            WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> gamma,
                                       floatValues(bn->input(1), "BN scale"));
            WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> beta,
                                       floatValues(bn->input(2), "BN bias"));
            WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> mean,
                                       floatValues(bn->input(3), "BN mean"));
            WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> var,
                                       floatValues(bn->input(4), "BN variance"));
            const double eps = bn->attrFloat("epsilon", 1e-5f);
            std::vector<float> b(C, 0.0f);
            if (layer->numInputs() > 2 && layer->input(2)) {
                WH_ASSIGN_OR_RETURN_STATUS(b, floatValues(layer->input(2), "Conv bias"));
            }
            if (gamma.size() != C)
                return makeStatus(StatusCode::kBadInput, "slb: BN '{}' has {} channels, '{}' {}",
                                  s.bn, gamma.size(), s.node, C);
            // BN(Wx + b) = f (Wx + b − μ) + β with f = γ / sqrt(var + ε).
            std::vector<float> bd(C);
            for (std::size_t c = 0; c < C; ++c) {
                f[c] = gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps);
                bd[c] = static_cast<float>(beta[c] + (b[c] - mean[c]) * f[c]);
            }
            WH_ASSIGN_OR_RETURN_STATUS(newBias, addFloatInitializer(rw, s.node + "_bias_folded",
                                                                    {static_cast<int64_t>(C)}, bd));
        } else {
            WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> sc,
                                       floatValues(g.findValue(s.scale), "SLB scale"));
            if (sc.size() != C)
                return makeStatus(StatusCode::kBadInput, "slb: scale of '{}' has {} values, not {}",
                                  s.node, sc.size(), C);
            for (std::size_t c = 0; c < C; ++c) f[c] = sc[c];
        }
        // Positive scales: a negative factor negates its row's integers.
        QuantizedWeight qw;
        qw.dims = s.wdims;
        qw.transposed = s.transposed;
        qw.rows = static_cast<int64_t>(C);
        qw.cols = static_cast<int64_t>(n / C);
        qw.codes.resize(n);
        qw.scales.resize(C);
        std::vector<float> wd(n);
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t c = channelOf(i, s.wdims, s.axis);
            const int32_t code = f[c] < 0 ? -q[i] : q[i];
            // The matrix view: row c, column = position within the row (transposed: [K, N]).
            const std::size_t col = s.transposed ? i / C : i % static_cast<std::size_t>(qw.cols);
            qw.codes[c * static_cast<std::size_t>(qw.cols) + col] = code;
            wd[i] = static_cast<float>(code * (std::abs(f[c]) / levels));
        }
        for (std::size_t c = 0; c < C; ++c) {
            // A zero factor (γ = 0) still needs a positive scale: the channel is 0 by its codes'
            // scale being tiny rather than by the scale being 0.
            const double sc = std::abs(f[c]) / levels;
            qw.scales[c] = static_cast<float>(sc > 0 ? sc : std::numeric_limits<float>::min());
        }
        const bool packed = m_p.getBool("packed_export") && m_bits <= 2;
        qw.bits = packed ? m_bits + 1 : 8;
        qw.narrowRange = packed;
        qw.isUnsigned = false;

        // The float deploy weight first, named as the original, then stored as codes.
        WH_ASSIGN_OR_RETURN_STATUS(ir::Value * wv, addFloatInitializer(rw, s.weight, s.wdims, wd));
        WH_RETURN_STATUS_IF_ERROR(rw.setInput(*layer, 1, wv));
        if (!s.scaleMul.empty())
            if (ir::Node* mul = nodeNamed(g, s.scaleMul))
                WH_RETURN_STATUS_IF_ERROR(rw.eraseNode(*mul));
        WH_RETURN_STATUS_IF_ERROR(rw.eraseNode(*slbNode));
        for (const std::string& name : {s.logits, s.scale})
            if (ir::Value* x = name.empty() ? nullptr : g.findValue(name))
                if (!x->hasUses()) WH_RETURN_STATUS_IF_ERROR(rw.removeInitializer(*x));
        if (bn) {
            WH_RETURN_STATUS_IF_ERROR(setBias(rw, layer, newBias));
            WH_RETURN_STATUS_IF_ERROR(rw.bypass(*bn));
        }
        auto dq = writeQuantizedWeight(
            rw, *wv, qw, packed ? WeightFormat::kPacked : WeightFormat::kDequantizeLinear);
        return dq ? Status::ok() : dq.error();
    }

    Params m_p;
    int m_bits = 1;
    std::vector<SlbLayer> m_layers;
    std::vector<std::string> m_actFq;
    SlbCallback m_callback;
};

AlgorithmInfo slbInfo() {
    AlgorithmInfo info;
    info.name = "slb";
    info.title = "SLB: searching for low-bit weights";
    info.description =
        "The seed's SlbQuantAwareTraining (Yang et al. 2020): each Conv weight becomes logits "
        "over 1-, 2- or 4-bit values ({-1,+1}, linspace(-1,1,2^b)); training uses "
        "softmax(T·A)·V with the seed's temperature schedule, then argmax; the following "
        "BatchNormalization absorbs the scale (other layers learn a per-channel scale). Conv "
        "only by default, the first layer included, as the seed; add Gemm through the "
        "selection's include_ops. Logits start from the float weights (init_from_weights) or at "
        "random as the seed. Optional 8-bit activations and BN re-estimation. Exported as "
        "integer weights with a per-channel DequantizeLinear scale, BN folded.";
    info.supportedOps = {"Conv", "Gemm"};
    constexpr int64_t kMaxEpochs = 1000000;
    // One parameter a line, as in the other plugins' tables.
    // clang-format off
    info.params = {
        ParamSpec::integer("weight_bits", 1, 1, 4, "weight bits: 1, 2 or 4").inGroup("weights"),
        ParamSpec::choice("quant_dtype", "", {"", "INT1", "INT2", "INT4"}, "the seed's weight dtype: sets weight_bits unless that is given").inGroup("weights"),
        ParamSpec::boolean("enable_act_quant", false, "8-bit activations (per tensor, asymmetric, 900-step delay as the seed)").inGroup("activations"),
        ParamSpec::boolean("enable_bn_calibration", false, "after each epoch past t_start_time, re-estimate BatchNormalization statistics with the discrete weights (one pass over the training set)").inGroup("batch norm"),
        ParamSpec::integer("epoch_size", 0, 0, kMaxEpochs, "epochs of the schedule (0 = the training's epoch count)").inGroup("temperature"),
        ParamSpec::integer("has_trained_epoch", 0, 0, kMaxEpochs, "epochs already trained (resumed runs)").inGroup("temperature"),
        ParamSpec::real("t_start_val", 1.0, 1e-6, 1e6, "initial temperature").inGroup("temperature"),
        ParamSpec::real("t_start_time", 0.2, 0.0, 1.0, "fraction of epoch_size after which the temperature rises").inGroup("temperature"),
        ParamSpec::real("t_end_time", 0.6, 0.0, 1.0, "fraction of epoch_size from which the weights are hard (argmax)").inGroup("temperature"),
        ParamSpec::real("t_factor", 1.2, 1e-6, 1e6, "temperature factor per epoch").inGroup("temperature"),
        ParamSpec::boolean("init_from_weights", true, "initialise the logits from the float weights (false: HeNormal random logits, as the seed)").inGroup("weights"),
        ParamSpec::boolean("packed_export", false, "store 1- and 2-bit weights packed (2 and 4 bits per code) instead of int8").inGroup("weights"),
        ParamSpec::integer("calibration_samples", 256, 0, 1000000, "images for the initial activation ranges (enable_act_quant; 0 = [-6, 6])").alias("samples").inGroup("activations"),
        ParamSpec::integer("seed", 0, 0, std::numeric_limits<int32_t>::max(), "seed of the random logits (init_from_weights = false) and calibration sample"),
    };
    // clang-format on
    info.training.trains = true;
    info.training.epochs = 4;
    info.training.lr = 0.001;
    info.training.optimizer = "adam";
    info.training.schedule = "cosine";
    info.training.batch = 128;
    info.create = factoryOf<Slb>();
    return info;
}

Status registerSlb(Registry& r) {
    return r.add(slbInfo());
}

}  // namespace

WHITTLE_PLUGIN("slb", "1.0", registerSlb)
