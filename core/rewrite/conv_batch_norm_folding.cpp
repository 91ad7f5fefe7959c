#include "core/rewrite/conv_batch_norm_folding.h"

#include <cmath>

namespace wh::rewrite {

namespace {

const ir::Node* soleBatchNormUser(const ir::Node& conv) {
    const ir::Value* y = conv.output(0);
    if (!y || y->uses().size() != 1) return nullptr;
    const ir::Use& u = y->uses().front();
    if (u.input != 0 || u.node->opType != "BatchNormalization" ||
        !ir::isDefaultDomain(u.node->domain))
        return nullptr;
    return u.node;
}

// A float32 constant whose element count is `count`; else the reason it is not.
std::string checkChannelParam(const ir::Value* v, const char* what, int64_t count) {
    if (!v) return fmt::format("{} is absent", what);
    const ir::Tensor* t = ir::constantTensor(v);
    if (!t || v->isGraphInput()) return fmt::format("{} ('{}') is not a constant", what, v->name());
    if (t->dtype != ir::DType::kFloat)
        return fmt::format("{} ('{}') is {}, not float32", what, v->name(),
                           ir::dtypeName(t->dtype));
    if (t->numElements() != count ||
        t->byteSize() != static_cast<std::size_t>(count) * sizeof(float))
        return fmt::format("{} ('{}') has {} elements, expected {}", what, v->name(),
                           t->numElements(), count);
    return {};
}

std::vector<float> floatsOf(const ir::Value* v) {
    auto span = ir::constantTensor(v)->values<float>();
    return {span.begin(), span.end()};
}

}  // namespace

void ConvBatchNormFolding::fold(std::span<float> weights, std::span<float> bias,
                                std::span<const float> convBias, std::span<const float> scale,
                                std::span<const float> bnBias, std::span<const float> mean,
                                std::span<const float> var, float epsilon) {
    // BN(y) = scale * (y - mean) / sqrt(var + eps) + bias with y = W*x + B. Per channel m this is
    // (W*x)[m] * s[m] + (B[m] - mean[m]) * s[m] + bias[m], s[m] = scale[m] / sqrt(var[m] + eps):
    // scaling the m-th filter by s[m] and replacing the bias gives the same result.
    const std::size_t channels = scale.size();
    const std::size_t perChannel = channels ? weights.size() / channels : 0;
    for (std::size_t m = 0; m < channels; ++m) {
        const double s = static_cast<double>(scale[m]) /
                         std::sqrt(static_cast<double>(var[m]) + static_cast<double>(epsilon));
        for (std::size_t k = 0; k < perChannel; ++k) {
            float& w = weights[m * perChannel + k];
            w = static_cast<float>(static_cast<double>(w) * s);
        }
        const double b = convBias.empty() ? 0.0 : static_cast<double>(convBias[m]);
        bias[m] = static_cast<float>((b - static_cast<double>(mean[m])) * s +
                                     static_cast<double>(bnBias[m]));
    }
}

MatchResult ConvBatchNormFolding::match(const ir::Node& conv) const {
    const ir::Value* y = conv.output(0);
    if (!y) return MatchResult::failure("output 0 is absent");
    if (y->isGraphOutput()) return MatchResult::fail("output '{}' is a graph output", y->name());
    if (y->uses().size() != 1)
        return MatchResult::fail("output 0 has {} users, expected 1 (BatchNormalization)",
                                 y->uses().size());
    const ir::Node* bn = soleBatchNormUser(conv);
    if (!bn)
        return MatchResult::fail("output 0 is read by {} '{}', not by a BatchNormalization's X",
                                 y->uses().front().node->opType,
                                 y->uses().front().node->displayName());
    if (bn->numInputs() != 5)
        return MatchResult::fail("BatchNormalization has {} inputs", bn->numInputs());
    if (!bn->output(0)) return MatchResult::failure("BatchNormalization output 0 is absent");
    for (int i = 1; i < bn->numOutputs(); ++i)
        if (const ir::Value* o = bn->output(i); o && (o->hasUses() || o->isGraphOutput()))
            return MatchResult::fail("BatchNormalization training output {} ('{}') is used", i,
                                     o->name());
    if (bn->attrInt("training_mode", 0) != 0)
        return MatchResult::failure("BatchNormalization has training_mode = 1");
    if (bn->attrInt("spatial", 1) != 1)
        return MatchResult::failure("BatchNormalization has spatial = 0");

    const ir::Value* w = conv.input(1);
    if (!w || !w->hasInitializer() || w->isGraphInput())
        return MatchResult::failure("Conv weights are not an initializer");
    const ir::Tensor& wt = *w->initializer();
    if (wt.dtype != ir::DType::kFloat)
        return MatchResult::fail("Conv weights '{}' are {}, not float32", w->name(),
                                 ir::dtypeName(wt.dtype));
    if (wt.dims.size() < 3 || wt.dims[0] <= 0)
        return MatchResult::fail("Conv weights '{}' have rank {}", w->name(), wt.dims.size());
    if (wt.byteSize() != static_cast<std::size_t>(wt.numElements()) * sizeof(float))
        return MatchResult::fail("Conv weights '{}' have a truncated buffer", w->name());
    const int64_t channels = wt.dims[0];
    if (const ir::Value* b = conv.input(2)) {
        if (!b->hasInitializer() || b->isGraphInput())
            return MatchResult::failure("Conv bias is not an initializer");
        if (std::string why = checkChannelParam(b, "Conv bias", channels); !why.empty())
            return MatchResult::failure(std::move(why));
    }
    const char* names[] = {"", "scale", "B", "mean", "var"};
    for (int i = 1; i <= 4; ++i)
        if (std::string why = checkChannelParam(bn->input(i), names[i], channels); !why.empty())
            return MatchResult::failure("BatchNormalization " + why);
    return MatchResult::success();
}

Status ConvBatchNormFolding::apply(Rewriter& rewriter, ir::Node& conv) const {
    ir::Graph& g = rewriter.graph();
    ir::Node* bn = const_cast<ir::Node*>(soleBatchNormUser(conv));
    WH_ASSERT(bn);
    ir::Value* w = conv.input(1);
    ir::Value* b = conv.input(2);
    const float epsilon = bn->attrFloat("epsilon", 1e-5f);

    const std::vector<float> scale = floatsOf(bn->input(1));
    std::vector<float> weights = floatsOf(w), bias(scale.size());
    fold(weights, bias, b ? floatsOf(b) : std::vector<float>{}, scale, floatsOf(bn->input(2)),
         floatsOf(bn->input(3)), floatsOf(bn->input(4)), epsilon);

    // New tensors, stored inline: they must not inherit an external-data location or the
    // presence bits of the tensors they were computed from.
    ir::Tensor wt = ir::Tensor::fromFloats({}, w->initializer()->dims, weights);
    wt.docString = w->initializer()->docString;
    ir::Tensor bt = ir::Tensor::fromFloats({}, {static_cast<int64_t>(bias.size())}, bias);
    if (b) bt.docString = b->initializer()->docString;

    // Values whose initializers may become unread: the old weights and all the BN parameters.
    std::vector<ir::Value*> maybeDead = {w};
    if (b) maybeDead.push_back(b);
    for (int i = 1; i <= 4; ++i) maybeDead.push_back(bn->input(i));

    ScopedGroup group(rewriter, "Fold BatchNormalization into Conv");
    auto fail = [&](Status s) {
        group.cancel();
        return s;
    };
    // A tensor only this Conv reads is folded in place and keeps its name; one shared with
    // other nodes must stay as it is, and the folded one gets a new name. A new bias is named
    // after the weight (PyTorch's "conv.weight" -> "conv.bias").
    auto ownedHere = [&](const ir::Value* v) {
        return v && v->uses().size() == 1 && !v->isGraphOutput() &&
               !rewriter.subgraphReader(v->name());
    };
    std::string wName, bName;
    if (ownedHere(w)) {
        wName = w->name();
        if (Status s = rewriter.replaceInitializer(*w, std::move(wt)); !s.isOk()) return fail(s);
    } else {
        wName = g.uniqueName(w->name() + "_bn");
        if (auto v = rewriter.addInitializer(wName, std::move(wt)); !v) return fail(v.error());
    }
    if (ownedHere(b)) {
        bName = b->name();
        if (Status s = rewriter.replaceInitializer(*b, std::move(bt)); !s.isOk()) return fail(s);
    } else {
        const std::string& wn = w->name();
        const bool pyTorchName = wn.size() >= 6 && wn.compare(wn.size() - 6, 6, "weight") == 0;
        bName = g.uniqueName(b ? b->name() + "_bn"
                               : pyTorchName ? wn.substr(0, wn.size() - 6) + "bias" : wn + "_bias");
        if (auto v = rewriter.addInitializer(bName, std::move(bt)); !v) return fail(v.error());
    }

    NewNode folded;
    folded.opType = conv.opType;
    folded.domain = conv.domain;
    folded.name = conv.name;
    folded.docString = conv.docString;
    folded.inputs = {conv.input(0) ? conv.input(0)->name() : std::string(), wName, bName};
    folded.outputs = {bn->output(0)->name()};
    for (const ir::Attribute& a : conv.attributes()) folded.attributes.push_back(a.clone());
    ir::Node* pair[] = {&conv, bn};
    std::vector<NewNode> specs;
    specs.push_back(std::move(folded));
    if (auto r = rewriter.replace(pair, std::move(specs)); !r) return fail(r.error());

    for (std::size_t i = 0; i < maybeDead.size(); ++i) {
        ir::Value* v = maybeDead[i];
        if (std::find(maybeDead.begin(), maybeDead.begin() + static_cast<std::ptrdiff_t>(i), v) !=
            maybeDead.begin() + static_cast<std::ptrdiff_t>(i))
            continue;  // listed twice (one tensor used for two parameters)
        if (v->hasInitializer() && !v->hasUses() && !v->isGraphInput() && !v->isGraphOutput() &&
            !rewriter.subgraphReader(v->name()))
            if (Status s = rewriter.removeInitializer(*v); !s.isOk()) return fail(s);
    }
    return Status::ok();
}

}  // namespace wh::rewrite
