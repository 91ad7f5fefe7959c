// LayerNormFusion and GeluFusion (transformer_lowering.h), and the reference kernels of the
// com.whittle nodes they produce.

#include "core/engine/transformer_lowering.h"

#include <cmath>
#include <optional>
#include <type_traits>

#include "core/engine/fake_quantize.h"
#include "core/engine/qdq_match.h"

namespace wh::engine {

namespace {

using rewrite::MatchResult;

// The node reading `v`, when it is its only reader and `v` is no graph output; else null.
ir::Node* onlyReader(const ir::Value* v) {
    if (!v || v->isGraphOutput() || v->uses().size() != 1) return nullptr;
    return v->uses().front().node;
}

bool isOp(const ir::Node* n, std::string_view op) {
    return n && ir::isOnnxOp(*n, op) && n->numOutputs() >= 1 && n->output(0);
}

// The constant scalar (one element, float) `v` holds.
std::optional<double> scalarOf(const ir::Value* v) {
    const ir::Tensor* t = qdq::fixed(v);
    if (!t || t->numElements() != 1 || t->dtype != ir::DType::kFloat) return std::nullopt;
    return t->elementAsDouble(0);
}

// Of a binary node reading `x` at one input: the other input.
const ir::Value* otherInput(const ir::Node& n, const ir::Value* x) {
    if (n.numInputs() != 2) return nullptr;
    if (n.input(0) == x) return n.input(1);
    if (n.input(1) == x) return n.input(0);
    return nullptr;
}

bool near(double a, double b) { return std::abs(a - b) <= 1e-6 * std::max(1.0, std::abs(b)); }

// ReduceMean over the last axis only, keeping it: axes [-1] (attribute before opset 18, a
// constant input after) or [rank - 1] with a known rank.
bool meanOverLastAxis(const ir::Node& n) {
    if (n.attrInt("keepdims", 1) != 1) return false;
    std::vector<int64_t> axes = n.attrInts("axes");
    if (n.numInputs() > 1 && n.input(1)) {
        const ir::Tensor* t = qdq::fixed(n.input(1));
        if (!t || t->dtype != ir::DType::kInt64) return false;
        axes.assign(t->values<int64_t>().begin(), t->values<int64_t>().end());
    }
    if (axes.size() != 1) return false;
    if (axes[0] == -1) return true;
    const ir::Value* x = n.input(0);
    return x && x->type.shape && static_cast<int64_t>(x->type.shape->dims.size()) == axes[0] + 1;
}

struct LayerNormGroup {
    const ir::Value* x = nullptr;
    std::vector<ir::Node*> nodes;  // root first
    double epsilon = 0;
    const ir::Value* scale = nullptr;
    const ir::Value* bias = nullptr;
    const ir::Value* output = nullptr;
};

// Weight of [D] (or [1, ..., D]) float constant; D the last dim of `x` when known.
bool affineConstant(const ir::Value* v, const ir::Value* x) {
    const ir::Tensor* t = qdq::fixed(v);
    if (!t || t->dtype != ir::DType::kFloat || t->dims.empty()) return false;
    for (std::size_t i = 0; i + 1 < t->dims.size(); ++i)
        if (t->dims[i] != 1) return false;
    if (x->type.shape && !x->type.shape->dims.empty()) {
        const ir::Dim& last = x->type.shape->dims.back();
        if (last.isKnown() && last.value != t->dims.back()) return false;
    }
    return true;
}

MatchResult findLayerNorm(const ir::Node& root, LayerNormGroup& g) {
    if (!meanOverLastAxis(root)) return MatchResult::failure("not a mean over the last axis");
    g.x = root.input(0);
    g.nodes = {const_cast<ir::Node*>(&root)};
    ir::Node* sub = onlyReader(root.output(0));
    if (!isOp(sub, "Sub") || sub->input(0) != g.x || sub->input(1) != root.output(0))
        return MatchResult::failure("the mean is not subtracted from X");
    const ir::Value* d = sub->output(0);
    if (d->isGraphOutput() || d->uses().size() != 2)
        return MatchResult::failure("X - mean is not read by a Pow and a Div only");
    ir::Node* pow = nullptr;
    ir::Node* div = nullptr;
    for (const ir::Use& u : d->uses()) {
        if (isOp(u.node, "Pow") && u.input == 0) pow = u.node;
        if (isOp(u.node, "Div") && u.input == 0) div = u.node;
    }
    if (!pow || !div) return MatchResult::failure("X - mean is not read by a Pow and a Div");
    if (auto p = scalarOf(pow->input(1)); !p || *p != 2.0)
        return MatchResult::failure("not squared");
    ir::Node* mean2 = onlyReader(pow->output(0));
    if (!isOp(mean2, "ReduceMean") || !meanOverLastAxis(*mean2))
        return MatchResult::failure("the square is not averaged over the last axis");
    ir::Node* addEps = onlyReader(mean2->output(0));
    const ir::Value* epsValue = addEps && isOp(addEps, "Add")
                                    ? otherInput(*addEps, mean2->output(0))
                                    : nullptr;
    const std::optional<double> eps = scalarOf(epsValue);
    if (!eps || !(*eps >= 0)) return MatchResult::failure("no constant epsilon");
    ir::Node* sqrt = onlyReader(addEps->output(0));
    if (!isOp(sqrt, "Sqrt") || onlyReader(sqrt->output(0)) != div || div->input(1) != sqrt->output(0))
        return MatchResult::failure("not divided by the standard deviation");
    g.epsilon = *eps;
    g.nodes.insert(g.nodes.end(), {sub, pow, mean2, addEps, sqrt, div});
    g.output = div->output(0);
    ir::Node* mul = onlyReader(div->output(0));
    const ir::Value* scale = isOp(mul, "Mul") ? otherInput(*mul, div->output(0)) : nullptr;
    if (!scale || !affineConstant(scale, g.x))
        return MatchResult::failure("no constant scale after the normalization");
    g.scale = scale;
    g.nodes.push_back(mul);
    g.output = mul->output(0);
    ir::Node* add = onlyReader(mul->output(0));
    const ir::Value* bias = isOp(add, "Add") ? otherInput(*add, mul->output(0)) : nullptr;
    if (bias && affineConstant(bias, g.x)) {
        g.bias = bias;
        g.nodes.push_back(add);
        g.output = add->output(0);
    }
    return MatchResult::success();
}

struct GeluGroup {
    const ir::Value* x = nullptr;
    std::vector<ir::Node*> nodes;  // root (Erf) first
    const ir::Value* output = nullptr;
};

MatchResult findGelu(const ir::Node& erf, GeluGroup& g) {
    const ir::Node* div = erf.input(0) ? erf.input(0)->producer() : nullptr;
    if (!isOp(div, "Div") || onlyReader(div->output(0)) != &erf)
        return MatchResult::failure("Erf's input is not a division read by it alone");
    if (auto s = scalarOf(div->input(1)); !s || !near(*s, std::sqrt(2.0)))
        return MatchResult::failure("not divided by sqrt(2)");
    g.x = div->input(0);
    ir::Node* add = onlyReader(erf.output(0));
    const std::optional<double> one =
        isOp(add, "Add") ? scalarOf(otherInput(*add, erf.output(0))) : std::nullopt;
    if (!one || *one != 1.0) return MatchResult::failure("erf + 1 missing");
    // x * (erf + 1) * 0.5, in either order of the two products.
    ir::Node* first = onlyReader(add->output(0));
    if (!isOp(first, "Mul")) return MatchResult::failure("erf + 1 is not multiplied");
    ir::Node* second = onlyReader(first->output(0));
    if (!isOp(second, "Mul")) return MatchResult::failure("no second product");
    const ir::Value* a = otherInput(*first, add->output(0));
    const ir::Value* b = otherInput(*second, first->output(0));
    const bool xFirst = a == g.x && scalarOf(b) && *scalarOf(b) == 0.5;
    if (!xFirst) return MatchResult::failure("not x * (1 + erf(x / sqrt(2))) * 0.5");
    g.nodes = {const_cast<ir::Node*>(&erf), const_cast<ir::Node*>(div), add, first, second};
    g.output = second->output(0);
    return MatchResult::success();
}

}  // namespace

MatchResult LayerNormFusion::match(const ir::Node& root) const {
    LayerNormGroup g;
    return findLayerNorm(root, g);
}

Status LayerNormFusion::apply(rewrite::Rewriter& rewriter, ir::Node& root) const {
    LayerNormGroup g;
    WH_ASSERT(findLayerNorm(root, g).matched());
    rewrite::ScopedGroup group(rewriter, "Run a decomposed LayerNorm as one LayerNormalization");
    rewrite::NewNode ln;
    ln.opType = std::string(kLayerNormOp);
    ln.domain = std::string(kWhittleDomain);
    ln.name = root.name;
    ln.inputs = {g.x->name(), g.scale->name(), g.bias ? g.bias->name() : std::string()};
    ln.outputs = {g.output->name()};
    ln.attributes.push_back(ir::Attribute::makeInt("axis", -1));
    ln.attributes.push_back(ir::Attribute::makeFloat("epsilon", static_cast<float>(g.epsilon)));
    if (Status s = qdq::replaceGroup(rewriter, g.nodes, std::move(ln), {}, {}); !s.isOk()) {
        group.cancel();
        return s;
    }
    return Status::ok();
}

MatchResult GeluFusion::match(const ir::Node& root) const {
    GeluGroup g;
    return findGelu(root, g);
}

Status GeluFusion::apply(rewrite::Rewriter& rewriter, ir::Node& root) const {
    GeluGroup g;
    WH_ASSERT(findGelu(root, g).matched());
    rewrite::ScopedGroup group(rewriter, "Run an exact GELU as one Gelu");
    rewrite::NewNode gelu;
    gelu.opType = std::string(kGeluOp);
    gelu.domain = std::string(kWhittleDomain);
    gelu.name = root.name;
    gelu.inputs = {g.x->name()};
    gelu.outputs = {g.output->name()};
    if (Status s = qdq::replaceGroup(rewriter, g.nodes, std::move(gelu), {}, {}); !s.isOk()) {
        group.cancel();
        return s;
    }
    return Status::ok();
}

namespace {

class GeluKernel final : public Kernel {
public:
    Status run(std::span<const HostTensor* const> in, std::span<HostTensor* const> out) override {
        const HostTensor& x = *in[0];
        HostTensor& y = *out[0];
        y.ensure(x.dtype(), x.dims());
        const int64_t n = x.numElements();
        auto apply = [n](const auto* px, auto* py) {
#pragma omp parallel for schedule(static) if (n > 65536)
            for (int64_t i = 0; i < n; ++i) {
                const double v = static_cast<double>(px[i]);
                py[i] = static_cast<std::remove_reference_t<decltype(py[i])>>(
                    0.5 * v * (1.0 + std::erf(v * M_SQRT1_2)));
            }
        };
        if (x.dtype() == ir::DType::kFloat)
            apply(x.data<float>(), y.data<float>());
        else if (x.dtype() == ir::DType::kDouble)
            apply(x.data<double>(), y.data<double>());
        else
            return makeStatus(StatusCode::kUnsupported, "Gelu of {}", ir::dtypeName(x.dtype()));
        return Status::ok();
    }
};

}  // namespace

void registerTransformerKernels(KernelRegistry& registry) {
    const std::string domain(kWhittleDomain);
    // LayerNormalization: the ONNX-17 reference kernel, as its attributes and inputs are the
    // same.
    if (const KernelFactory* onnx =
            registry.find("", kLayerNormOp, 17, Backend::kReference))
        registry.add(domain, std::string(kLayerNormOp), 0, 1, Backend::kReference, *onnx);
    registry.add(domain, std::string(kGeluOp), 0, 1, Backend::kReference,
                 [](const KernelContext& ctx) -> Expected<KernelBuild> {
                     if (ctx.inputs.empty() || (ctx.inputs[0].dtype != ir::DType::kFloat &&
                                                ctx.inputs[0].dtype != ir::DType::kDouble))
                         return error(StatusCode::kUnsupported, "{}: Gelu of float or double",
                                      ctx.where());
                     KernelBuild b;
                     b.kernel = std::make_unique<GeluKernel>();
                     TensorInfo out = ctx.inputs[0];
                     out.constant.reset();
                     b.outputs.push_back(out);
                     return b;
                 });
}

}  // namespace wh::engine
