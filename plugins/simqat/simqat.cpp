// simqat: simulated quantization-aware training, the seed's SimulatedQuantizationAwareTraining
// (GOLDEN_STICK.md §3). apply puts observing FakeQuantize nodes (observe = 1: the range of the
// current batch, or its EMA) on the weights of Conv / Gemm / MatMul (per output channel,
// symmetric) and on activations (per tensor, asymmetric), one quantizer per tensor; a Conv
// followed by BatchNormalization is wrapped as a unit in one of the seed's forms:
//
//   no fold      (enable_fusion = false or bn_fold = false)
//                    y = BN(Conv(x, FQ(W)) + b)                        BN trains as usual
//   one-conv fold (enable_fusion, bn_fold, one_conv_fold), with k = γ / sqrt(running_var + ε):
//                    c = Conv(x, FQ(W · k))     y = BN(c / k + b)
//                so the quantized weight is the folded one while BN still normalises with batch
//                statistics in training (running ones in evaluation). k is built from standard
//                ops on BN's initializers (Add, Sqrt, Div, Reshape, Mul): γ trains through it,
//                running_var is BN state (updated by BN, read by the Add, never trained).
//   two-conv fold (one_conv_fold = false; Jacob et al. 2018, Fig. C.8), σ = sqrt(running_var + ε):
//                    c0 = Conv(x, W) + b      μ_B, σ_B = BatchNormFold(c0)
//                    c = Conv(x, FQ(W · γ/σ))     y = c · σ/σ_B + β − γ · (μ_B − b)/σ_B
//                the quantized weight is the folded one and the output is corrected to the batch
//                statistics of a float copy of the Conv. BatchNormFold (com.whittle, core/engine/
//                batch_norm_fold.h) gives the batch mean and std and keeps the running ones as
//                state; frozen (freeze_bn) or in evaluation it gives the running ones, so y =
//                c + β − γ · (μ − b)/σ, what convert deploys. The rest is standard ops; the BN
//                node is replaced by the last Add.
//
// Callbacks: the quantization delay (the "enabled" knob of each FakeQuantize, per kind) and
// freeze_bn (NodeFlags::batchNormFrozen of every BatchNormalization and BatchNormFold from that
// step on).
// convert folds every wrapped BatchNormalization into its Conv and emits QDQ.

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
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
#include "core/engine/batch_norm_fold.h"
#include "core/engine/fake_quantize.h"
#include "qat_common.h"

namespace {

using namespace wh;
using namespace wh::algo;
using namespace wh::algo::quant;
using qat::addFloatInitializer;
using qat::addInt64Initializer;
using qat::floatValues;
using qat::freshName;
using qat::nodeNamed;

constexpr int kBits = 8;  // the seed accepts INT8 only

enum class BnForm { kNoFold, kOneConvFold, kTwoConvFold };

// One Conv → BatchNormalization wrapped as a unit; node and value names (stable across the
// training plan's clone and write-back, unlike pointers).
struct BnUnit {
    BnForm form = BnForm::kNoFold;
    std::string conv;
    std::string bn;      // the BatchNormalization; two-conv fold: the Add that replaced it
    std::string weight;  // the Conv's original weight initializer
    std::string bias;    // the Conv's original bias initializer ("" when none)
    // The BatchNormalization's initializers and epsilon (the two-conv fold erases the node).
    std::string gamma, beta, mean, var;
    float eps = 1e-5f;
    // The nodes the fold added (k, W·k, c / k (+ b); the two-conv fold's statistics Conv,
    // BatchNormFold and correction), in an order they can be erased.
    std::vector<std::string> foldNodes;
};

// Quantization delay and BN freezing, per step (GOLDEN_STICK.md §3.1.6, §3.2).
class SimQatCallback : public train::Callback {
public:
    std::vector<ir::NodeId> actFq, weightFq, batchNorms;
    int64_t actDelay = 0, weightDelay = 0, freezeBn = 10000000;

    // Every quantizer must be a node of the plan: a node id that is not (a plan compiled from
    // another graph) would silently keep its quantizer on through the delay.
    Status onTrainBegin(train::Trainer& trainer) override {
        int missing = 0;
        for (const auto* ids : {&actFq, &weightFq})
            for (ir::NodeId id : *ids) missing += trainer.plan().nodeFlags(id) == nullptr;
        if (missing)
            return makeStatus(StatusCode::kInternal,
                              "simqat: {} fake quantizers are not nodes of the training plan", missing);
        return Status::ok();
    }

    Status onStepBegin(train::Trainer& trainer, int64_t step) override {
        engine::TrainingPlan& plan = trainer.plan();
        auto enable = [&](const std::vector<ir::NodeId>& ids, int64_t delay) {
            if (delay <= 0) return;  // always on: the knob's default
            for (ir::NodeId id : ids)
                if (engine::NodeFlags* f = plan.nodeFlags(id))
                    f->knobs["enabled"] = step >= delay ? 1.0 : 0.0;
        };
        enable(actFq, actDelay);
        enable(weightFq, weightDelay);
        for (ir::NodeId id : batchNorms)
            if (engine::NodeFlags* f = plan.nodeFlags(id)) {
                if (step >= freezeBn) f->batchNormFrozen = true;
                else f->batchNormFrozen.reset();
            }
        return Status::ok();
    }
};

class SimQat : public Algorithm {
public:
    explicit SimQat(const Params& p) : m_p(p) {
        m_actDelay = p.getInt("act_quant_delay");
        m_weightDelay = p.getInt("weight_quant_delay");
        // `quant_delay` (the seed's tuple key given as one int) sets both unless a side was set
        // explicitly.
        const int64_t both = p.getInt("quant_delay");
        if (both >= 0) {
            const auto& set = p.explicitlySet();
            auto isSet = [&](const char* n) { return std::find(set.begin(), set.end(), n) != set.end(); };
            if (!isSet("act_quant_delay")) m_actDelay = both;
            if (!isSet("weight_quant_delay")) m_weightDelay = both;
        }
    }

    Expected<ApplyReport> apply(rewrite::Rewriter& rw, const Selection& selection,
                                AlgoContext& ctx) override {
        if (!ctx.model) return error(StatusCode::kInternal, "simqat: no model in the context");
        if (m_p.getBool("act_per_channel"))
            return error(StatusCode::kUnsupported,
                         "simqat: act_per_channel must be false (activations are quantized per "
                         "tensor, as in the seed)");
        const bool fold = m_p.getBool("enable_fusion") && m_p.getBool("bn_fold");
        const BnForm foldForm = m_p.getBool("one_conv_fold") ? BnForm::kOneConvFold : BnForm::kTwoConvFold;
        ctx.seed = static_cast<uint64_t>(m_p.getInt("seed"));
        ir::Graph& g = rw.graph();
        ApplyReport report;

        std::vector<LayerWeight> layers = quantizableLayers(g, selection, report.scope);
        if (layers.empty()) {
            report.notes.push_back("nothing to quantize in the selection");
            return report;
        }

        // 1. What gets quantized, decided on the float graph: the layers' inputs and outputs (a
        //    wrapped Conv → BN's output is the BN's), and the outputs of activation ops. A layer
        //    output read only by a Relu, Clip, ... is not quantized: the activation's output is
        //    (the activation is fused into the layer, as in ptq, PyTorch and ONNX Runtime, and
        //    the export runs as one int8 Conv + activation). One quantizer per tensor; graph
        //    outputs stay float (only their other readers see FQ).
        std::vector<ir::Node*> bnOf(layers.size(), nullptr);
        std::vector<ir::Value*> acts;
        std::set<const ir::Value*> seen;
        auto want = [&](ir::Value* v) {
            if (!v || (v->hasInitializer() && !v->isGraphInput()) || !v->hasUses()) return;
            if (v->type.isTensor() && v->type.elemType != ir::DType::kFloat &&
                v->type.elemType != ir::DType::kUndefined)
                return;
            if (fakeQuantizeOf(*v)) return;  // already quantized (a model applied before)
            if (seen.insert(v).second) acts.push_back(v);
        };
        for (std::size_t i = 0; i < layers.size(); ++i) {
            bnOf[i] = qat::batchNormAfterConv(*layers[i].node);
            want(layers[i].node->input(0));
            ir::Value* y = bnOf[i] ? bnOf[i]->output(0) : layers[i].node->output(0);
            const bool fusedActivation = y && y->uses().size() == 1 && !y->isGraphOutput() &&
                                         isFusableActivation(*y->uses().front().node);
            if (!fusedActivation) want(y);
        }
        for (ir::Node* n : g.nodes())
            if (isFusableActivation(*n) && n->numOutputs() > 0) want(n->output(0));

        // 2. Initial activation ranges (the float model's min / max on calibration data), so that
        //    evaluation is sane from step 0; the observers take over in training.
        const int64_t samples = m_p.getInt("calibration_samples");
        std::vector<std::pair<float, float>> ranges(acts.size(), {-6.0f, 6.0f});  // seed's init
        if (samples > 0) {
            if (!ctx.data)
                return error(StatusCode::kUsage,
                             "simqat: calibration_samples > 0 needs a dataset (or set it to 0 "
                             "for the seed's initial range [-6, 6])");
            std::vector<std::string> names;
            for (const ir::Value* v : acts) names.push_back(v->name());
            ObserverOptions oo;
            oo.method = CalibrationMethod::kMinMax;
            WH_ASSIGN_OR_RETURN(std::vector<RangeObserver> obs,
                                observeActivations(*ctx.model, names, oo, ctx, samples, ctx.batch));
            for (std::size_t k = 0; k < acts.size(); ++k)
                if (obs[k].count() > 0) ranges[k] = {obs[k].observedMin(), obs[k].observedMax()};
        }

        // 3. Weights (and the BN units).
        const bool wPerChannel = m_p.getBool("weight_per_channel");
        const bool wSym = m_p.getBool("weight_symmetric");
        const bool wNarrow = m_p.getBool("weight_narrow_range");
        int oneConv = 0, twoConv = 0, unfolded = 0;
        for (std::size_t i = 0; i < layers.size(); ++i) {
            LayerWeight& l = layers[i];
            ir::Node* bn = bnOf[i];
            FakeQuantSpec spec;
            spec.bits = kBits;
            spec.symmetric = wSym;
            spec.isUnsigned = !wSym;  // the seed: signed grid iff symmetric
            spec.narrowRange = wNarrow;
            spec.axis = wPerChannel ? l.axis : -1;
            spec.observe = 1;
            ir::Value* quantized = l.weight;  // what the FQ reads
            WH_ASSIGN_OR_RETURN(std::vector<float> w, floatValues(l.weight, "weight"));
            std::vector<int64_t> wdims = l.weight->initializer()->dims;
            BnUnit unit;
            if (bn) {
                WH_RETURN_IF_ERROR(ensureName(rw, *l.node));
                WH_RETURN_IF_ERROR(ensureName(rw, *bn));
                unit.conv = l.node->name;
                unit.bn = bn->name;
                unit.weight = l.weight->name();
                if (l.node->numInputs() > 2 && l.node->input(2)) unit.bias = l.node->input(2)->name();
                unit.gamma = bn->input(1)->name();
                unit.beta = bn->input(2)->name();
                unit.mean = bn->input(3)->name();
                unit.var = bn->input(4)->name();
                unit.eps = bn->attrFloat("epsilon", 1e-5f);
                unit.form = fold ? foldForm : BnForm::kNoFold;
            }
            if (bn && unit.form == BnForm::kOneConvFold) {
                WH_ASSIGN_OR_RETURN(quantized, buildOneConvFold(rw, *l.node, *bn, unit, w));
                ++oneConv;
            } else if (bn && unit.form == BnForm::kTwoConvFold) {
                WH_ASSIGN_OR_RETURN(quantized, buildTwoConvFold(rw, *l.node, *bn, unit, w));
                ++twoConv;
            } else if (bn) {
                ++unfolded;
            }
            // Initial scales from the weights the quantizer sees (W, or W·γ/σ).
            std::vector<float> mins, maxs, scale, zp;
            qat::channelMinMax(w, wdims, spec.axis, mins, maxs);
            for (std::size_t c = 0; c < mins.size(); ++c) {
                auto [s, z] = engine::fakeQuantParamsFromRange(mins[c], maxs[c], kBits, wSym,
                                                               wNarrow, spec.isUnsigned);
                scale.push_back(s);
                zp.push_back(z);
            }
            WH_ASSIGN_OR_RETURN(ir::Node * fq,
                                insertFakeQuantizeFor(rw, *quantized, *l.node, spec, scale,
                                                      wSym ? std::span<const float>() : std::span<const float>(zp)));
            m_weightFq.push_back(fq->name);
            if (bn) m_units.push_back(std::move(unit));
        }

        // 4. Activations.
        const bool aSym = m_p.getBool("act_symmetric");
        const bool aNarrow = m_p.getBool("act_narrow_range");
        const double ema = m_p.getFloat("act_ema_decay");
        for (std::size_t k = 0; k < acts.size(); ++k) {
            FakeQuantSpec spec;
            spec.bits = kBits;
            spec.symmetric = aSym;
            spec.isUnsigned = !aSym;
            spec.narrowRange = aNarrow;
            spec.axis = -1;
            spec.observe = 1;
            spec.emaDecay = static_cast<float>(ema);
            auto [s, z] = engine::fakeQuantParamsFromRange(ranges[k].first, ranges[k].second,
                                                           kBits, aSym, aNarrow, spec.isUnsigned);
            float sv[] = {s}, zv[] = {z};
            WH_ASSIGN_OR_RETURN(ir::Node * fq, insertFakeQuantize(rw, *acts[k], spec, sv,
                                                                  aSym ? std::span<const float>() : std::span<const float>(zv)));
            m_actFq.push_back(fq->name);
        }
        for (ir::Node* n : g.nodes())
            if (n->opType == "BatchNormalization" ||
                (n->domain == engine::kWhittleDomain && n->opType == engine::kBatchNormFoldOp)) {
                WH_RETURN_IF_ERROR(ensureName(rw, *n));
                m_batchNorms.push_back(n->name);
            }

        report.notes.push_back(fmt::format(
            "{} weights (8 bits, {}, {}), {} activations (8 bits per tensor, {}, {} calibration "
            "samples)",
            layers.size(), wPerChannel ? "per channel" : "per tensor",
            wSym ? "symmetric" : "asymmetric", acts.size(), aSym ? "symmetric" : "asymmetric",
            samples));
        if (oneConv) report.notes.push_back(fmt::format("{} Conv → BatchNormalization with the one-conv BN fold", oneConv));
        if (twoConv) report.notes.push_back(fmt::format("{} Conv → BatchNormalization with the two-conv BN fold", twoConv));
        if (unfolded) report.notes.push_back(fmt::format("{} Conv → BatchNormalization without fold (folded at convert)", unfolded));
        if (m_actDelay > 0 || m_weightDelay > 0)
            report.notes.push_back(fmt::format("quantization delay: activations {} steps, weights {} steps",
                                               m_actDelay, m_weightDelay));
        return report;
    }

    std::vector<train::Callback*> callbacks(const ir::Graph& graph) override {
        std::map<std::string, ir::NodeId, std::less<>> ids;
        for (const ir::Node* n : graph.nodes()) ids.emplace(n->name, n->id());
        auto resolve = [&](const std::vector<std::string>& names, std::vector<ir::NodeId>& out) {
            out.clear();
            for (const std::string& n : names)
                if (auto it = ids.find(n); it != ids.end()) out.push_back(it->second);
        };
        resolve(m_actFq, m_callback.actFq);
        resolve(m_weightFq, m_callback.weightFq);
        resolve(m_batchNorms, m_callback.batchNorms);
        m_callback.actDelay = m_actDelay;
        m_callback.weightDelay = m_weightDelay;
        m_callback.freezeBn = m_p.getInt("freeze_bn");
        return {&m_callback};
    }

    Status convert(rewrite::Rewriter& rw, AlgoContext&) override {
        for (const BnUnit& u : m_units) WH_RETURN_STATUS_IF_ERROR(foldUnit(rw, u));
        WH_ASSIGN_OR_RETURN_STATUS(int n, fakeQuantizeToQdq(rw));
        (void)n;
        return Status::ok();
    }

private:
    // convert() and the callbacks find nodes by name (the training plan's clone and the trained
    // model keep names): an unnamed node is given its first output's name, unique among values.
    static Status ensureName(rewrite::Rewriter& rw, ir::Node& n) {
        if (!n.name.empty() || n.numOutputs() < 1 || !n.output(0)) return Status::ok();
        return rw.renameNode(n, n.output(0)->name());
    }

    // One-conv fold (GOLDEN_STICK.md §3.4): builds k = γ / sqrt(var + ε), W_f = W · k (per output
    // channel, axis 0 of the ONNX weight also for depthwise), makes the Conv read W_f without
    // bias and the BN read c / k (+ b). Returns W_f (for the quantizer) and sets `w` to its
    // initial values.
    Expected<ir::Value*> buildOneConvFold(rewrite::Rewriter& rw, ir::Node& conv, ir::Node& bn,
                                          BnUnit& unit, std::vector<float>& w) {
        ir::Graph& g = rw.graph();
        WH_ASSIGN_OR_RETURN(FoldStart start, startFold(rw, conv, bn, w));
        const std::string& base = start.base;
        ir::Value* epsV = start.eps;
        ir::Value* wShapeV = start.wShape;
        ir::Value* yShapeV = start.yShape;
        std::vector<std::string> made;  // creation order
        auto add = [&](const char* op, std::vector<std::string> inputs, const std::string& suffix,
                       ir::Node& before) -> Expected<ir::Value*> {
            rewrite::NewNode n(op, std::move(inputs), {freshName(g, base + suffix)});
            n.name = freshName(g, base + suffix);
            WH_ASSIGN_OR_RETURN(ir::Node * node, rw.insertBefore(before, std::move(n)));
            made.push_back(node->name);
            return node->output(0);
        };
        WH_ASSIGN_OR_RETURN(ir::Value * ve, add("Add", {bn.input(4)->name(), epsV->name()}, "_bn_var_eps", conv));
        WH_ASSIGN_OR_RETURN(ir::Value * sigma, add("Sqrt", {ve->name()}, "_bn_sigma", conv));
        WH_ASSIGN_OR_RETURN(ir::Value * k, add("Div", {bn.input(1)->name(), sigma->name()}, "_bn_k", conv));
        WH_ASSIGN_OR_RETURN(ir::Value * kw, add("Reshape", {k->name(), wShapeV->name()}, "_bn_k_w", conv));
        WH_ASSIGN_OR_RETURN(ir::Value * wf, add("Mul", {conv.input(1)->name(), kw->name()}, "_w_folded", conv));
        WH_RETURN_IF_ERROR(rw.setInput(conv, 1, wf));
        ir::Value* bias = conv.numInputs() > 2 ? conv.input(2) : nullptr;
        if (bias) WH_RETURN_IF_ERROR(rw.setInput(conv, 2, nullptr));
        // c / k (+ b) in front of the BN.
        WH_ASSIGN_OR_RETURN(ir::Value * ky, add("Reshape", {k->name(), yShapeV->name()}, "_bn_k_y", bn));
        rewrite::NewNode div("Div", {conv.output(0)->name(), ky->name()}, {freshName(g, base + "_unfolded")});
        div.name = freshName(g, base + "_unfold");
        WH_ASSIGN_OR_RETURN(ir::Node * divNode, rw.insertOnEdge(*conv.output(0), &bn, std::move(div)));
        made.push_back(divNode->name);
        if (bias) {
            WH_ASSIGN_OR_RETURN(ir::Value * by, add("Reshape", {bias->name(), yShapeV->name()}, "_bias_y", bn));
            rewrite::NewNode addB("Add", {divNode->output(0)->name(), by->name()}, {freshName(g, base + "_biased")});
            addB.name = freshName(g, base + "_add_bias");
            WH_ASSIGN_OR_RETURN(ir::Node * addNode, rw.insertOnEdge(*divNode->output(0), &bn, std::move(addB)));
            made.push_back(addNode->name);
        }
        // Erase order: consumers first.
        unit.foldNodes.assign(made.rbegin(), made.rend());
        return wf;
    }

    // What both BN folds start from: the base of the new nodes' names, ε as an initializer and
    // the shapes that make a per-channel [C] vector broadcast over the weight ([C, 1, 1, 1]) and
    // over the output ([1, C, 1, 1]); sets `w` to the folded weight's initial values.
    struct FoldStart {
        std::string base;
        ir::Value* eps = nullptr;
        ir::Value* wShape = nullptr;
        ir::Value* yShape = nullptr;
    };
    static Expected<FoldStart> startFold(rewrite::Rewriter& rw, const ir::Node& conv,
                                         const ir::Node& bn, std::vector<float>& w) {
        FoldStart f;
        f.base = conv.name.empty() ? conv.output(0)->name() : conv.name;
        WH_RETURN_IF_ERROR(foldInitialWeight(conv, bn, w));
        const std::vector<int64_t> wdims = conv.input(1)->initializer()->dims;
        std::vector<int64_t> wShape(wdims.size(), 1), yShape(wdims.size(), 1);
        wShape[0] = -1;
        yShape[1] = -1;
        const float eps = bn.attrFloat("epsilon", 1e-5f);
        WH_ASSIGN_OR_RETURN(f.eps, addFloatInitializer(rw, f.base + "_bn_eps", {}, {eps}));
        WH_ASSIGN_OR_RETURN(f.wShape, addInt64Initializer(rw, f.base + "_k_wshape", wShape));
        WH_ASSIGN_OR_RETURN(f.yShape, addInt64Initializer(rw, f.base + "_k_yshape", yShape));
        return f;
    }

    // Sets `w` (the Conv's weight values) to W · γ / sqrt(running_var + ε) per output channel:
    // the folded weight's initial values, for the quantizer's initial scales.
    static Status foldInitialWeight(const ir::Node& conv, const ir::Node& bn, std::vector<float>& w) {
        const float eps = bn.attrFloat("epsilon", 1e-5f);
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> gamma, floatValues(bn.input(1), "BN scale"));
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> var, floatValues(bn.input(4), "BN variance"));
        const std::vector<int64_t> wdims = conv.input(1)->initializer()->dims;
        const int64_t channels = wdims[0];
        if (static_cast<int64_t>(gamma.size()) != channels || static_cast<int64_t>(var.size()) != channels)
            return makeStatus(StatusCode::kBadInput, "simqat: BN '{}' has {} channels, Conv '{}' {}",
                              bn.name, gamma.size(), conv.name, channels);
        for (std::size_t i = 0; i < w.size(); ++i) {
            const std::size_t c = qat::channelOf(i, wdims, 0);
            w[i] *= gamma[c] / std::sqrt(var[c] + eps);
        }
        return Status::ok();
    }

    // Two-conv fold (GOLDEN_STICK.md §3.4; Jacob et al. 2018, Fig. C.8), σ = sqrt(var + ε)
    // from the running variance, per output channel:
    //   c0 = Conv(x, W) + b                a float copy of the Conv, for the statistics only
    //   μ_B, σ_B = BatchNormFold(c0)       the batch's; the running μ, σ when frozen or in
    //                                      evaluation (core/engine/batch_norm_fold.h)
    //   c = Conv(x, FQ(W · γ/σ))           the original Conv, without its bias
    //   y = c · σ/σ_B + β − γ · (μ_B − b)/σ_B
    // from standard ops with gradients (Add, Sqrt, Div, Reshape, Mul, Sub). c0 keeps the bias so
    // that BatchNormFold's running mean goes on meaning the BN's (the mean of Conv(x, W) + b,
    // as in the float model); μ_B − b is the mean of Conv(x, W), whose scaling the folded
    // weight carries. The seed refuses a Conv with bias; for b = 0 this is its formula. Frozen
    // (μ_B = μ, σ_B = σ): y = c + β + γ (b − μ)/σ, convert's folded bias. The BN is replaced
    // by the last Add (same name, same output); its running statistics are BatchNormFold's
    // state, γ and β train through the graph. Returns W · γ/σ (for the quantizer) and sets `w`
    // to its initial values.
    Expected<ir::Value*> buildTwoConvFold(rewrite::Rewriter& rw, ir::Node& conv, ir::Node& bn,
                                          BnUnit& unit, std::vector<float>& w) {
        ir::Graph& g = rw.graph();
        WH_ASSIGN_OR_RETURN(FoldStart start, startFold(rw, conv, bn, w));
        const std::string& base = start.base;
        ir::Value* epsV = start.eps;
        ir::Value* wShapeV = start.wShape;
        ir::Value* yShapeV = start.yShape;
        const std::string gamma = bn.input(1)->name(), beta = bn.input(2)->name();
        const std::string mean = bn.input(3)->name(), var = bn.input(4)->name();
        std::vector<std::string> made;  // creation order
        auto insert = [&](rewrite::NewNode n, const std::string& suffix, ir::Node& before) -> Expected<ir::Node*> {
            n.name = freshName(g, base + suffix);
            WH_ASSIGN_OR_RETURN(ir::Node * node, rw.insertBefore(before, std::move(n)));
            made.push_back(node->name);
            return node;
        };
        auto add = [&](const char* op, std::vector<std::string> inputs, const std::string& suffix,
                       ir::Node& before) -> Expected<ir::Value*> {
            rewrite::NewNode n(op, std::move(inputs), {freshName(g, base + suffix)});
            WH_ASSIGN_OR_RETURN(ir::Node * node, insert(std::move(n), suffix, before));
            return node->output(0);
        };
        // The statistics: a float Conv with the original's inputs and attributes.
        std::vector<std::string> convInputs;
        for (const ir::Value* v : conv.inputs()) convInputs.push_back(v ? v->name() : std::string());
        rewrite::NewNode c0("Conv", convInputs, {freshName(g, base + "_bn_stats_in")});
        for (const ir::Attribute& a : conv.attributes()) c0.attributes.push_back(a.clone());
        WH_ASSIGN_OR_RETURN(ir::Node * c0Node, insert(std::move(c0), "_bn_stats_conv", conv));
        rewrite::NewNode f(std::string(engine::kBatchNormFoldOp), {c0Node->output(0)->name(), mean, var},
                           {freshName(g, base + "_bn_batch_mean"), freshName(g, base + "_bn_batch_std")});
        f.domain = std::string(engine::kWhittleDomain);
        f.attributes.push_back(ir::Attribute::makeFloat("epsilon", bn.attrFloat("epsilon", 1e-5f)));
        f.attributes.push_back(ir::Attribute::makeFloat("momentum", bn.attrFloat("momentum", 0.9f)));
        WH_ASSIGN_OR_RETURN(ir::Node * fold, insert(std::move(f), "_bn_fold_stats", conv));
        const std::string muB = fold->output(0)->name(), sigmaB = fold->output(1)->name();
        // W · γ/σ for the quantized Conv (running σ, as the one-conv fold).
        WH_ASSIGN_OR_RETURN(ir::Value * ve, add("Add", {var, epsV->name()}, "_bn_var_eps", conv));
        WH_ASSIGN_OR_RETURN(ir::Value * sigma, add("Sqrt", {ve->name()}, "_bn_sigma", conv));
        WH_ASSIGN_OR_RETURN(ir::Value * k, add("Div", {gamma, sigma->name()}, "_bn_k", conv));
        WH_ASSIGN_OR_RETURN(ir::Value * kw, add("Reshape", {k->name(), wShapeV->name()}, "_bn_k_w", conv));
        WH_ASSIGN_OR_RETURN(ir::Value * wf, add("Mul", {conv.input(1)->name(), kw->name()}, "_w_folded", conv));
        WH_RETURN_IF_ERROR(rw.setInput(conv, 1, wf));
        ir::Value* bias = conv.numInputs() > 2 ? conv.input(2) : nullptr;
        if (bias) WH_RETURN_IF_ERROR(rw.setInput(conv, 2, nullptr));
        // The correction to batch statistics: c · σ/σ_B + (β − γ · (μ_B − b)/σ_B).
        WH_ASSIGN_OR_RETURN(ir::Value * r, add("Div", {sigma->name(), sigmaB}, "_bn_correction", bn));
        WH_ASSIGN_OR_RETURN(ir::Value * ry, add("Reshape", {r->name(), yShapeV->name()}, "_bn_correction_y", bn));
        WH_ASSIGN_OR_RETURN(ir::Value * scaled, add("Mul", {conv.output(0)->name(), ry->name()}, "_bn_corrected", bn));
        std::string centre = muB;
        if (bias) {
            WH_ASSIGN_OR_RETURN(ir::Value * m, add("Sub", {muB, bias->name()}, "_bn_batch_mean_nobias", bn));
            centre = m->name();
        }
        WH_ASSIGN_OR_RETURN(ir::Value * gm, add("Mul", {gamma, centre}, "_bn_gamma_mean", bn));
        WH_ASSIGN_OR_RETURN(ir::Value * gms, add("Div", {gm->name(), sigmaB}, "_bn_gamma_mean_std", bn));
        WH_ASSIGN_OR_RETURN(ir::Value * off, add("Sub", {beta, gms->name()}, "_bn_offset", bn));
        WH_ASSIGN_OR_RETURN(ir::Value * offY, add("Reshape", {off->name(), yShapeV->name()}, "_bn_offset_y", bn));
        // The BN's place, name and output go to the last Add.
        rewrite::NewNode y("Add", {scaled->name(), offY->name()}, {bn.output(0)->name()});
        y.name = bn.name;
        WH_ASSIGN_OR_RETURN(ir::Node * yNode, rw.replace(bn, std::move(y)));
        unit.bn = yNode->name;
        // Erase order: consumers first.
        unit.foldNodes.assign(made.rbegin(), made.rend());
        return wf;
    }

    // Folds one wrapped BN into its Conv for deployment (GOLDEN_STICK.md §3.4 "Deploy fold"):
    //   σ = sqrt(running_var + ε), f = γ / σ,  W_d = W · f,  b_d = β + (b − μ) · f
    // (BN(Wx + b) = f (Wx + b − μ) + β). One-conv fold: W_d = W · k is what the quantizer
    // observed, so its scale is kept; likewise the two-conv fold (W · γ/σ), whose b_d is the
    // frozen form of its correction. No fold: the quantizer observed W, so its per-channel scale
    // is re-derived from W_d's range (the seed attaches W's parameters to W_d; ours fit). The
    // seed refuses a Conv with bias; b enters b_d here.
    Status foldUnit(rewrite::Rewriter& rw, const BnUnit& u) {
        ir::Graph& g = rw.graph();
        ir::Node* conv = nodeNamed(g, u.conv);
        ir::Node* bn = nodeNamed(g, u.bn);
        if (!conv || !bn)
            return makeStatus(StatusCode::kBadInput, "simqat: wrapped Conv '{}' / BN '{}' not found",
                              u.conv, u.bn);
        ir::Node* fq = conv->input(1) ? conv->input(1)->producer() : nullptr;
        if (!fq || !isFakeQuantize(*fq))
            return makeStatus(StatusCode::kBadInput, "simqat: Conv '{}' weight is not fake-quantized", u.conv);
        const float eps = u.eps;
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> gamma, floatValues(g.findValue(u.gamma), "BN scale"));
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> beta, floatValues(g.findValue(u.beta), "BN bias"));
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> mean, floatValues(g.findValue(u.mean), "BN mean"));
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> var, floatValues(g.findValue(u.var), "BN variance"));
        ir::Value* wv = g.findValue(u.weight);
        WH_ASSIGN_OR_RETURN_STATUS(std::vector<float> w, floatValues(wv, "Conv weight"));
        const std::vector<int64_t> wdims = wv->initializer()->dims;
        const std::size_t C = gamma.size();
        std::vector<float> b(C, 0.0f);
        if (!u.bias.empty()) {
            WH_ASSIGN_OR_RETURN_STATUS(b, floatValues(g.findValue(u.bias), "Conv bias"));
        }
        std::vector<float> f(C), bd(C);
        for (std::size_t c = 0; c < C; ++c) {
            f[c] = static_cast<float>(gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps));
            bd[c] = beta[c] + (b[c] - mean[c]) * f[c];
        }
        for (std::size_t i = 0; i < w.size(); ++i) w[i] *= f[qat::channelOf(i, wdims, 0)];

        const std::string base = u.conv.empty() ? conv->output(0)->name() : u.conv;
        WH_ASSIGN_OR_RETURN_STATUS(ir::Value * wd, addFloatInitializer(rw, u.weight + "_folded", wdims, w));
        WH_ASSIGN_OR_RETURN_STATUS(ir::Value * bdv, addFloatInitializer(rw, base + "_bias_folded", {static_cast<int64_t>(C)}, bd));
        if (u.form == BnForm::kNoFold) {
            // Re-derive the weight quantizer's scale (and zero point) from W_d's range.
            const FakeQuantSpec spec = specOf(*fq);
            std::vector<float> mins, maxs, scale, zp;
            qat::channelMinMax(w, wdims, spec.axis, mins, maxs);
            for (std::size_t c = 0; c < mins.size(); ++c) {
                auto [s, z] = engine::fakeQuantParamsFromRange(mins[c], maxs[c], spec.bits, spec.symmetric,
                                                               spec.narrowRange, spec.isUnsigned);
                scale.push_back(s);
                zp.push_back(z);
            }
            ir::Value* sv = fq->input(1);
            ir::Tensor st = ir::Tensor::fromFloats(sv->name(), sv->initializer()->dims, scale);
            WH_RETURN_STATUS_IF_ERROR(rw.replaceInitializer(*sv, std::move(st)));
            if (fq->numInputs() > 2 && fq->input(2) && fq->input(2)->hasInitializer()) {
                ir::Value* zv = fq->input(2);
                ir::Tensor zt = ir::Tensor::fromFloats(zv->name(), zv->initializer()->dims, zp);
                WH_RETURN_STATUS_IF_ERROR(rw.replaceInitializer(*zv, std::move(zt)));
            }
        }
        // The quantizer reads W_d; the Conv gets b_d; the BN (or the two-conv fold's last Add)
        // and the nodes the fold added go.
        WH_RETURN_STATUS_IF_ERROR(rw.setInput(*fq, 0, wd));
        WH_RETURN_STATUS_IF_ERROR(setBias(rw, conv, bdv));
        WH_RETURN_STATUS_IF_ERROR(rw.setInput(*bn, 0, conv->output(0)));
        WH_RETURN_STATUS_IF_ERROR(rw.bypass(*bn));
        for (const std::string& name : u.foldNodes)
            if (ir::Node* n = nodeNamed(g, name)) WH_RETURN_STATUS_IF_ERROR(rw.eraseNode(*n));
        // Names: the folded tensors take the names of those they replace once nothing reads
        // them (conv.weight stays conv.weight), and a new bias is conv.bias, as
        // rewrite::ConvBatchNormFolding names them; the export is smaller and reads as the model.
        auto takeName = [&](ir::Value* folded, const std::string& old, std::string wanted) -> Status {
            if (ir::Value* v = old.empty() ? nullptr : g.findValue(old)) {
                if (v->hasUses() || v->isGraphInput() || v->isGraphOutput() || rw.subgraphReader(old))
                    return Status::ok();
                WH_RETURN_STATUS_IF_ERROR(rw.removeInitializer(*v));
                wanted = old;
            }
            if (wanted.empty() || g.findValueInScope(wanted)) return Status::ok();
            return rw.renameValue(*folded, wanted);
        };
        const std::string& wn = u.weight;
        const bool pyTorchName = wn.size() >= 6 && wn.compare(wn.size() - 6, 6, "weight") == 0;
        WH_RETURN_STATUS_IF_ERROR(takeName(wd, u.weight, ""));
        WH_RETURN_STATUS_IF_ERROR(
            takeName(bdv, u.bias, pyTorchName ? wn.substr(0, wn.size() - 6) + "bias" : wn + "_bias"));
        return Status::ok();
    }

    // Makes `conv` read `bias` as input 2 (replacing the node when it has only two inputs).
    static Status setBias(rewrite::Rewriter& rw, ir::Node*& conv, ir::Value* bias) {
        if (conv->numInputs() > 2) return rw.setInput(*conv, 2, bias);
        rewrite::NewNode n("Conv", {conv->input(0)->name(), conv->input(1)->name(), bias->name()},
                           {conv->output(0)->name()});
        n.name = conv->name;
        for (const ir::Attribute& a : conv->attributes()) n.attributes.push_back(a.clone());
        WH_ASSIGN_OR_RETURN_STATUS(conv, rw.replace(*conv, std::move(n)));
        return Status::ok();
    }

    Params m_p;
    int64_t m_actDelay = 0, m_weightDelay = 0;
    std::vector<std::string> m_actFq, m_weightFq, m_batchNorms;
    std::vector<BnUnit> m_units;
    SimQatCallback m_callback;
};

AlgorithmInfo simqatInfo() {
    AlgorithmInfo info;
    info.name = "simqat";
    info.title = "Simulated quantization-aware training";
    info.description =
        "The seed's SimQAT: 8-bit fake quantizers that observe each batch's range (weights per "
        "channel symmetric, activations per tensor asymmetric), optional BN folding while "
        "training (one-conv or two-conv fold), quantization delay and BN freezing; exported as QDQ ONNX with "
        "BatchNormalization folded.";
    info.supportedOps = {"Conv", "Gemm", "MatMul"};
    constexpr int64_t kMaxSteps = std::numeric_limits<int32_t>::max();
    info.params = {
        ParamSpec::integer("act_quant_delay", 0, 0, kMaxSteps, "training steps before activations are fake-quantized (the observer runs meanwhile)").inGroup("activations"),
        ParamSpec::integer("weight_quant_delay", 0, 0, kMaxSteps, "training steps before weights are fake-quantized").inGroup("weights"),
        ParamSpec::integer("quant_delay", -1, -1, kMaxSteps, "the seed's quant_delay: sets both delays unless one is given explicitly; -1 = unset"),
        ParamSpec::boolean("act_per_channel", false, "must stay false: activations are per tensor (as in the seed)").inGroup("activations"),
        ParamSpec::boolean("weight_per_channel", true, "one weight scale per output channel").alias("per_channel").inGroup("weights"),
        ParamSpec::boolean("act_symmetric", false, "symmetric int8 activations (false: asymmetric uint8)").alias("symmetric").inGroup("activations"),
        ParamSpec::boolean("weight_symmetric", true, "symmetric signed weights (false: asymmetric uint8 with a zero point)").inGroup("weights"),
        ParamSpec::boolean("act_narrow_range", false, "drop the activation grid's lowest code").inGroup("activations"),
        ParamSpec::boolean("weight_narrow_range", false, "drop the weight grid's lowest code ([-127, 127])").alias("narrow_range").inGroup("weights"),
        ParamSpec::boolean("enable_fusion", false, "fuse Conv → BatchNormalization for bn_fold (the seed's Conv2dBn)").inGroup("batch norm"),
        ParamSpec::boolean("bn_fold", false, "simulate BN folding while training (needs enable_fusion)").inGroup("batch norm"),
        ParamSpec::boolean("one_conv_fold", true, "one-conv fold (quantize W·γ/σ, BN on c·σ/γ); false = two-conv fold (a float Conv for the batch statistics, y = c·σ/σ_B + β − γ·μ_B/σ_B)").inGroup("batch norm"),
        ParamSpec::integer("freeze_bn", 10000000, 0, kMaxSteps, "step from which every BatchNormalization uses its running statistics").inGroup("batch norm"),
        ParamSpec::real("act_ema_decay", 0.0, 0.0, 0.9999, "EMA of the observed activation range (0 = the current batch's, as the seed)").inGroup("activations"),
        ParamSpec::integer("calibration_samples", 256, 0, 1000000, "images for the initial activation ranges (0 = the seed's [-6, 6])").alias("samples").inGroup("activations"),
        ParamSpec::integer("seed", 0, 0, std::numeric_limits<int32_t>::max(), "seed for the calibration sample"),
    };
    info.training.trains = true;
    info.training.epochs = 1;
    info.training.lr = 0.001;
    info.training.optimizer = "sgd";
    info.training.schedule = "cosine";
    info.training.batch = 128;
    info.create = factoryOf<SimQat>();
    return info;
}

Status registerSimQat(Registry& r) { return r.add(simqatInfo()); }

}  // namespace

WHITTLE_PLUGIN("simqat", "1.0", registerSimQat)
