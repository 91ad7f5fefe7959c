#include "core/algo/prune/knockoff.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <set>

#include <fmt/format.h>

#include "core/algo/prune/channel_scores.h"
#include "core/analysis/channel_dependencies.h"
#include "core/data/loader.h"
#include "core/engine/host_tensor.h"
#include "core/engine/training_plan.h"
#include "core/rewrite/rewriter.h"
#include "core/train/lr_schedule.h"
#include "core/train/optimizer.h"

namespace wh::algo::prune {

namespace {

ir::Tensor int64s(const std::vector<int64_t>& v) {
    return engine::HostTensor::fromInt64s({static_cast<int64_t>(v.size())}, v).toIr("");
}

rewrite::NewNode node(std::string op, std::string name, std::vector<std::string> in,
                      std::string out) {
    rewrite::NewNode n(std::move(op), std::move(in), {std::move(out)});
    n.name = std::move(name);
    return n;
}

rewrite::NewNode concat0(std::string name, std::vector<std::string> in, std::string out) {
    rewrite::NewNode n = node("Concat", std::move(name), std::move(in), std::move(out));
    n.attributes.push_back(ir::Attribute::makeInt("axis", 0));
    return n;
}

}  // namespace

Expected<KnockoffModel> buildKnockoffModel(const ir::Model& model,
                                           const std::vector<ir::NodeId>& convs, int64_t batch,
                                           float init) {
    if (batch < 1) return error(StatusCode::kUsage, "knockoff: batch {} must be ≥ 1", batch);
    if (model.opsetVersion("") < 10)
        return error(StatusCode::kUnsupported,
                     "knockoff: the model imports opset {}; the knockoff graph needs ≥ 10",
                     model.opsetVersion(""));
    KnockoffModel km;
    km.model = model.clone();
    km.batch = batch;
    ir::Graph& g = *km.model.graph;
    rewrite::Rewriter rw(g);

    ir::Value* x = nullptr;
    for (ir::Value* v : g.inputs())
        if (!v->hasInitializer()) {
            if (x)
                return error(StatusCode::kUnsupported,
                             "knockoff: the model has several inputs ('{}', '{}'); training feeds "
                             "one",
                             x->name(), v->name());
            x = v;
        }
    if (!x) return error(StatusCode::kBadInput, "knockoff: the model has no input to feed");
    if (g.outputs().empty()) return error(StatusCode::kBadInput, "knockoff: no graph output");
    km.input = x->name();
    ir::Node* first = nullptr;
    for (ir::Node* n : g.nodes()) {
        first = n;
        break;
    }
    const std::vector<ir::Use> inputUses = x->uses();

    auto addInit = [&](const std::string& base, ir::Tensor t) -> Expected<std::string> {
        const std::string name = g.uniqueName(base);
        WH_ASSIGN_OR_RETURN(ir::Value * v, rw.addInitializer(name, std::move(t)));
        return v->name();
    };
    auto fresh = [&](const std::string& base) { return g.uniqueName(base); };

    // Constants shared by every mixed layer.
    std::vector<float> eye(static_cast<std::size_t>(batch * batch), 0.0f);
    for (int64_t i = 0; i < batch; ++i) eye[static_cast<std::size_t>(i * batch + i)] = 1.0f;
    WH_ASSIGN_OR_RETURN(
        km.permutation,
        addInit("kf_permutation", engine::HostTensor::fromFloats({batch, batch}, eye).toIr("")));
    WH_ASSIGN_OR_RETURN(const std::string flat, addInit("kf_flat_shape", int64s({0, -1})));
    WH_ASSIGN_OR_RETURN(const std::string axis0, addInit("kf_axis0", int64s({0})));
    WH_ASSIGN_OR_RETURN(const std::string zero, addInit("kf_0", int64s({0})));
    WH_ASSIGN_OR_RETURN(const std::string n1, addInit("kf_n", int64s({batch})));
    WH_ASSIGN_OR_RETURN(const std::string n2, addInit("kf_2n", int64s({2 * batch})));
    WH_ASSIGN_OR_RETURN(
        const std::string one,
        addInit("kf_one", engine::HostTensor::scalar(ir::DType::kFloat, 1.0).toIr("")));

    // x2 = Concat(x, P · x) in front of everything; the model's readers of x read x2.
    const std::string xs = fresh("kf_input_shape"), xf = fresh("kf_input_flat"),
                      xp = fresh("kf_input_permuted"), xk = fresh("kf_input_knockoff"),
                      x2 = fresh("kf_input_doubled");
    std::vector<rewrite::NewNode> prefix;
    // The sample dims as a constant when declared (0 keeps the batch), else Shape(x).
    std::vector<int64_t> sample{0};
    if (x->type.isTensor() && x->type.shape)
        for (std::size_t i = 1; i < x->type.shape->dims.size(); ++i)
            sample.push_back(x->type.shape->dims[i].isKnown() ? x->type.shape->dims[i].value : -2);
    const bool known = sample.size() > 1 && std::none_of(sample.begin(), sample.end(),
                                                         [](int64_t d) { return d == -2; });
    if (known) {
        WH_ASSIGN_OR_RETURN(const std::string shape, addInit("kf_input_dims", int64s(sample)));
        prefix.push_back(node("Identity", "kf_Shape", {shape}, xs));
    } else {
        prefix.push_back(node("Shape", "kf_Shape", {x->name()}, xs));
    }
    prefix.push_back(node("Reshape", "kf_Flatten", {x->name(), flat}, xf));
    prefix.push_back(node("MatMul", "kf_Permute", {km.permutation, xf}, xp));
    prefix.push_back(node("Reshape", "kf_Unflatten", {xp, xs}, xk));
    prefix.push_back(concat0("kf_Double", {x->name(), xk}, x2));
    for (rewrite::NewNode& spec : prefix) WH_RETURN_IF_ERROR(rw.insertNode(std::move(spec), first));
    ir::Value* doubled = g.findValue(x2);
    for (const ir::Use& u : inputUses) WH_RETURN_IF_ERROR(rw.setInput(*u.node, u.input, doubled));

    // The mixed convolutions.
    std::set<ir::NodeId> seen;
    for (ir::NodeId id : convs) {
        if (!seen.insert(id).second) continue;
        ir::Node* conv = g.findNode(id);
        if (!conv || !ir::isOnnxOp(*conv, "Conv"))
            return error(StatusCode::kBadInput, "knockoff: node {} is not a Conv", id);
        const ir::Tensor* w = analysis::channelParamTensor(conv->input(1));
        if (!w || w->dims.size() < 3)
            return error(StatusCode::kBadInput, "knockoff: Conv '{}' has no constant weights",
                         conv->displayName());
        const ir::Node* bnConst = followingBatchNorm(*conv);
        if (!bnConst)
            return error(StatusCode::kBadInput,
                         "knockoff: Conv '{}' is not followed by a BatchNormalization (its only "
                         "reader)",
                         conv->displayName());
        ir::Node* bn = g.findNode(bnConst->id());
        const int64_t c = w->dims[0];
        std::vector<int64_t> dims(w->dims.size(), 1);
        dims[1] = c;
        const std::string base = conv->displayName();
        KnockoffLayer layer;
        layer.conv = id;
        layer.name = base;
        layer.channels = c;
        WH_ASSIGN_OR_RETURN(layer.kfscale,
                            addInit(base + "_kfscale",
                                    engine::HostTensor::fromFloats(
                                        dims, std::vector<float>(static_cast<std::size_t>(c), init))
                                        .toIr("")));
        const std::string y = conv->output(0)->name();
        const std::string yr = fresh(y + "_real"), yk = fresh(y + "_kf"), a = fresh(y + "_kf_a"),
                          omk = fresh(y + "_kf_1mb"), b = fresh(y + "_kf_b"),
                          mix = fresh(y + "_kf_mix"), out = fresh(y + "_kf_out");
        std::vector<rewrite::NewNode> specs;
        specs.push_back(node("Slice", base + "_kf_real", {y, zero, n1, axis0}, yr));
        specs.push_back(node("Slice", base + "_kf_knockoff", {y, n1, n2, axis0}, yk));
        specs.push_back(node("Mul", base + "_kf_scale_real", {layer.kfscale, yr}, a));
        specs.push_back(node("Sub", base + "_kf_one_minus", {one, layer.kfscale}, omk));
        specs.push_back(node("Mul", base + "_kf_scale_knockoff", {omk, yk}, b));
        specs.push_back(node("Add", base + "_kf_mix", {a, b}, mix));
        specs.push_back(concat0(base + "_kf_concat", {mix, yk}, out));
        for (rewrite::NewNode& spec : specs)
            WH_RETURN_IF_ERROR(rw.insertBefore(*bn, std::move(spec)));
        WH_RETURN_IF_ERROR(rw.setInput(*bn, 0, g.findValue(out)));
        km.layers.push_back(std::move(layer));
    }

    // The loss reads the real half of output 0 only.
    ir::Value* o = g.outputs()[0];
    const std::string real = fresh(o->name() + "_real");
    WH_RETURN_IF_ERROR(rw.insertNode(
        node("Slice", "kf_output_real", {o->name(), zero, n1, axis0}, real), nullptr));
    WH_RETURN_IF_ERROR(rw.removeGraphOutput(0));
    WH_RETURN_IF_ERROR(rw.addGraphOutput(*g.findValue(real), 0));
    WH_RETURN_IF_ERROR(g.validate());
    return km;
}

std::vector<std::string> knockoffFrozen(const KnockoffModel& km) {
    std::set<std::string> scales;
    for (const KnockoffLayer& l : km.layers) scales.insert(l.kfscale);
    std::vector<std::string> frozen;
    for (const ir::Value* v : km.model.graph->initializers())
        if (!scales.count(v->name())) frozen.push_back(v->name());
    return frozen;
}

KnockoffCallback::KnockoffCallback(const KnockoffModel& km, uint64_t seed, bool clamp)
    : m_permutation(km.permutation),
      m_batch(km.batch),
      m_rng(seed ^ 0x6b6e6f636b6f6666ull),
      m_clamp(clamp) {
    for (const KnockoffLayer& l : km.layers) m_scales.push_back(l.kfscale);
}

Status KnockoffCallback::onTrainBegin(train::Trainer& trainer) {
    for (const std::string& s : m_scales)
        if (!trainer.plan().parameter(s))
            return makeStatus(StatusCode::kInternal, "knockoff: '{}' is not a parameter", s);
    engine::Parameter* p = trainer.plan().parameter(m_permutation);
    if (!p || p->value.numElements() != m_batch * m_batch)
        return makeStatus(StatusCode::kInternal, "knockoff: the permutation is not a parameter");
    return Status::ok();
}

Status KnockoffCallback::onStepBegin(train::Trainer& trainer, int64_t) {
    // A uniform random permutation (Fisher-Yates on our own generator: reproducible).
    m_perm.resize(static_cast<std::size_t>(m_batch));
    std::iota(m_perm.begin(), m_perm.end(), 0);
    for (int64_t i = m_batch - 1; i > 0; --i)
        std::swap(m_perm[static_cast<std::size_t>(i)],
                  m_perm[m_rng.below(static_cast<uint64_t>(i + 1))]);
    engine::Parameter* p = trainer.plan().parameter(m_permutation);
    float* v = p->value.data<float>();
    std::fill(v, v + m_batch * m_batch, 0.0f);
    for (int64_t i = 0; i < m_batch; ++i)
        v[i * m_batch + m_perm[static_cast<std::size_t>(i)]] = 1.0f;
    return Status::ok();
}

Status KnockoffCallback::onStepEnd(train::Trainer& trainer, const train::StepInfo&) {
    if (!m_clamp) return Status::ok();
    for (const std::string& s : m_scales) {
        engine::Parameter* p = trainer.plan().parameter(s);
        float* v = p->value.data<float>();
        for (int64_t i = 0; i < p->value.numElements(); ++i) v[i] = std::clamp(v[i], 0.0f, 1.0f);
    }
    return Status::ok();
}

Expected<KnockoffResult> trainKnockoffScales(const ir::Model& model,
                                             const std::vector<ir::NodeId>& convs,
                                             const data::Dataset& data,
                                             const KnockoffOptions& options,
                                             jobs::JobContext* job) {
    WH_ASSIGN_OR_RETURN(KnockoffModel km,
                        buildKnockoffModel(model, convs, options.batch, options.init));
    engine::TrainingOptions to;
    to.threads = options.threads;
    to.seed = options.seed;
    to.frozen = knockoffFrozen(km);
    engine::Dims dims{options.batch};
    for (int64_t d : data.sampleDims()) dims.push_back(d);
    to.inputShapes[km.input] = dims;
    to.job = job;
    WH_ASSIGN_OR_RETURN(engine::TrainingPlan plan, engine::TrainingPlan::compile(km.model, to));

    train::AdamOptions ao;
    ao.beta1 = options.beta1;
    ao.beta2 = options.beta2;
    train::Adam adam(ao);
    train::ConstantLr schedule(options.lr);
    // The dataset outlives the loader (the caller's); a non-owning pointer.
    std::shared_ptr<const data::Dataset> ds(&data, [](const data::Dataset*) {});
    data::DataLoader::Options lo;
    lo.batchSize = options.batch;
    lo.shuffle = true;
    lo.dropLast = true;  // P is batch × batch
    lo.seed = options.seed;
    data::DataLoader loader(ds, lo);
    if (loader.numBatches() == 0)
        return error(StatusCode::kBadInput,
                     "knockoff: the dataset has {} samples, fewer than one batch of {}",
                     data.size(), options.batch);
    train::TrainerOptions topt;
    topt.epochs = options.epochs;
    topt.maxSteps = options.maxSteps;
    topt.evaluateEachEpoch = false;
    train::Trainer trainer(plan, adam, schedule, loader, nullptr, topt);
    KnockoffCallback callback(km, options.seed, options.clamp);
    trainer.addCallback(&callback);
    KnockoffResult result;
    WH_ASSIGN_OR_RETURN(result.metrics, trainer.run(job));
    for (const KnockoffLayer& l : km.layers) {
        const engine::Parameter* p = plan.parameter(l.kfscale);
        if (!p) return error(StatusCode::kInternal, "knockoff: '{}' vanished", l.kfscale);
        result.kfscale[l.conv] = std::vector<float>(
            p->value.data<float>(), p->value.data<float>() + p->value.numElements());
    }
    return result;
}

}  // namespace wh::algo::prune
