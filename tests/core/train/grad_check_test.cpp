// Finite-difference checks of every reference GradKernel.
//
// For one node with random inputs, L = sum_k <r_k, y_k> with fixed random r_k; the analytic
// gradient (the GradKernel fed dL/dy_k = r_k, given only the forward tensors it declared it saves)
// is compared with central differences of L through the forward kernel (the KernelRegistry's
// reference kernel, or the grad build's training forward for BatchNormalization and Dropout).
// Double precision where the forward kernel supports it (h = 1e-6, tolerance 1e-6), else float
// (h = 1e-2 with the sum in double, tolerance 1e-2). The error is the norm-wise relative error
// ||analytic - numeric|| / ||numeric|| over up to 96 sampled elements per input.

#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "core/engine/autodiff.h"
#include "core/engine/kernel_registry.h"
#include "core/engine/training_plan.h"
#include "core/util/rng.h"

using namespace wh;
using namespace wh::engine;

namespace {

enum class Gen {
    kNormal,    // N(0, 1)
    kAway,      // |x| >= 0.2: no kink of Relu & co. within h
    kPositive,  // [0.5, 1.5]
    kDistinct,  // a shuffle of well-separated values: no near-ties for MaxPool
};

struct In {
    Dims dims;
    Gen gen = Gen::kNormal;
    bool constant = false;                    // fed as a compile-time constant; no gradient checked
    std::vector<double> values;               // explicit values (constants)
    ir::DType dtype = ir::DType::kUndefined;  // kUndefined = the case's float type
    bool omitted = false;
};

struct Case {
    std::string name;
    std::string op;
    int opset = 13;
    std::vector<In> inputs;
    std::vector<ir::Attribute> attrs;
    int numOutputs = 1;
    bool bnFrozen = false;
    Backend gradBackend = Backend::kReference;
};

ir::Attribute ints(const char* n, std::vector<int64_t> v) {
    return ir::Attribute::makeInts(n, std::move(v));
}
ir::Attribute intA(const char* n, int64_t v) {
    return ir::Attribute::makeInt(n, v);
}
ir::Attribute flt(const char* n, float v) {
    return ir::Attribute::makeFloat(n, v);
}
ir::Attribute str(const char* n, std::string v) {
    return ir::Attribute::makeString(n, std::move(v));
}

HostTensor makeInput(const In& in, ir::DType floatType, Rng& rng) {
    const ir::DType dt = in.dtype == ir::DType::kUndefined ? floatType : in.dtype;
    HostTensor t(dt, in.dims);
    const int64_t n = t.numElements();
    std::vector<double> v(static_cast<std::size_t>(n));
    if (!in.values.empty()) {
        v = in.values;
    } else {
        for (int64_t i = 0; i < n; ++i) {
            double x = rng.normal();
            switch (in.gen) {
                case Gen::kNormal:
                    break;
                case Gen::kAway:
                    x = (x < 0 ? -0.2 : 0.2) + x;
                    break;
                case Gen::kPositive:
                    x = 0.5 + rng.uniform();
                    break;
                case Gen::kDistinct:
                    x = static_cast<double>(i) * 0.37;
                    break;
            }
            v[static_cast<std::size_t>(i)] = x;
        }
        if (in.gen == Gen::kDistinct) {
            for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
            for (double& x : v) x = x / (0.37 * static_cast<double>(n)) * 4.0 - 2.0;
        }
    }
    for (int64_t i = 0; i < n; ++i) {
        const double x = v[static_cast<std::size_t>(i)];
        switch (dt) {
            case ir::DType::kFloat:
                t.data<float>()[i] = static_cast<float>(x);
                break;
            case ir::DType::kDouble:
                t.data<double>()[i] = x;
                break;
            case ir::DType::kInt64:
                t.data<int64_t>()[i] = static_cast<int64_t>(x);
                break;
            case ir::DType::kBool:
                t.data<bool>()[i] = x != 0.0;
                break;
            default:
                ADD_FAILURE() << "input dtype";
        }
    }
    return t;
}

struct Outcome {
    bool ran = false;
    std::string skipped;
    std::string dtype;
    std::vector<double> errors;  // per checked input
    std::vector<int> checkedInputs;
};

class Checker {
public:
    Checker(const Case& c, ir::DType dt) : m_case(c), m_dt(dt) {}

    // Returns a reason when the forward cannot run in this dtype.
    Outcome run() {
        Outcome out;
        out.dtype = std::string(ir::dtypeName(m_dt));
        ir::Model model;
        model.opsetImports.push_back({"", m_case.opset, {}});
        ir::Graph& g = *model.graph;
        std::vector<ir::Value*> ins, outs;
        for (std::size_t i = 0; i < m_case.inputs.size(); ++i)
            ins.push_back(m_case.inputs[i].omitted ? nullptr : *g.addValue(fmt::format("in{}", i)));
        for (int k = 0; k < m_case.numOutputs; ++k)
            outs.push_back(*g.addValue(fmt::format("out{}", k)));
        ir::Node* node = g.addNode(m_case.op, ins, outs);
        node->name = m_case.name;
        for (const ir::Attribute& a : m_case.attrs) node->attributes().push_back(a.clone());

        Rng rng(1234);
        std::vector<HostTensor> values;
        std::vector<TensorInfo> infos;
        std::vector<bool> wants;
        for (const In& in : m_case.inputs) {
            if (in.omitted) {
                values.emplace_back();
                infos.emplace_back();
                wants.push_back(false);
                continue;
            }
            values.push_back(makeInput(in, m_dt, rng));
            TensorInfo info = TensorInfo::of(values.back());
            if (in.constant) info.constant = std::make_shared<const HostTensor>(values.back());
            infos.push_back(info);
            wants.push_back(!in.constant && (values.back().dtype() == ir::DType::kFloat ||
                                             values.back().dtype() == ir::DType::kDouble));
        }
        KernelOptions kopt;
        KernelContext kctx{*node, m_case.opset, infos, kopt};
        const KernelFactory* ff =
            KernelRegistry::builtin().find("", m_case.op, m_case.opset, Backend::kReference);
        if (!ff) {
            out.skipped = "no reference forward kernel";
            return out;
        }
        auto fb = (*ff)(kctx);
        std::vector<TensorInfo> outInfos(static_cast<std::size_t>(m_case.numOutputs));
        if (fb) outInfos = fb->outputs;
        outInfos.resize(static_cast<std::size_t>(m_case.numOutputs));
        m_flags.batchNormFrozen = m_case.bnFrozen;
        const GradFactory* gf =
            GradRegistry::builtin().find("", m_case.op, m_case.opset, m_case.gradBackend);
        if (!gf) {
            ADD_FAILURE() << m_case.name << ": no gradient registered";
            return out;
        }
        m_nodeFlags.plan = &m_flags;
        GradContext gctx{*node, m_case.opset, infos, outInfos, wants, &m_nodeFlags};
        auto gb = (*gf)(gctx);
        if (!gb && gb.error().code() == StatusCode::kUnsupported &&
            m_case.gradBackend != Backend::kReference) {
            out.skipped = "gradient: " + gb.error().message();
            return out;
        }
        if (!gb) {
            ADD_FAILURE() << m_case.name << ": " << gb.error().message();
            return out;
        }
        // A training forward (BatchNormalization, Dropout) stands in for the registry's kernel.
        if (!fb && !gb->trainingForward) {
            out.skipped = "forward: " + fb.error().message();
            return out;
        }
        Kernel& forward = gb->trainingForward ? *gb->trainingForward : *fb->kernel;
        const int extra =
            gb->trainingForward
                ? static_cast<int>(
                      KernelRegistry::builtin().traits(*node).stateInputsFor(*node).size())
                : 0;

        std::vector<HostTensor> ys(static_cast<std::size_t>(m_case.numOutputs + extra));
        auto runForward = [&]() -> Status {
            std::vector<const HostTensor*> ip;
            for (std::size_t i = 0; i < values.size(); ++i)
                ip.push_back(m_case.inputs[i].omitted ? nullptr : &values[i]);
            std::vector<HostTensor*> op;
            for (auto& y : ys) op.push_back(&y);
            if (!gb->trainingForward) op.resize(static_cast<std::size_t>(m_case.numOutputs));
            return forward.run(ip, op);
        };
        if (Status s = runForward(); !s.isOk()) {
            out.skipped = "forward run: " + s.message();
            return out;
        }
        // r_k and L.
        std::vector<HostTensor> rs;
        Rng rr(99);
        for (int k = 0; k < m_case.numOutputs; ++k) {
            HostTensor r(ys[static_cast<std::size_t>(k)].dtype(),
                         ys[static_cast<std::size_t>(k)].dims());
            const bool floating = r.dtype() == ir::DType::kFloat || r.dtype() == ir::DType::kDouble;
            for (int64_t i = 0; floating && i < r.numElements(); ++i) {
                const double v = rr.normal();
                if (r.dtype() == ir::DType::kFloat)
                    r.data<float>()[i] = static_cast<float>(v);
                else
                    r.data<double>()[i] = v;
            }
            rs.push_back(std::move(r));
        }
        auto loss = [&]() {
            double l = 0;
            for (int k = 0; k < m_case.numOutputs; ++k) {
                const HostTensor& y = ys[static_cast<std::size_t>(k)];
                if (y.dtype() != ir::DType::kFloat && y.dtype() != ir::DType::kDouble) continue;
                for (int64_t i = 0; i < y.numElements(); ++i)
                    l += y.at(i) * rs[static_cast<std::size_t>(k)].at(i);
            }
            return l;
        };

        // Analytic gradients, given only what the kernel said it saves.
        std::vector<const HostTensor*> savedIn, savedOut, og;
        std::vector<Dims> dims;
        std::vector<HostTensor> grads(values.size());
        std::vector<HostTensor*> ig;
        for (std::size_t i = 0; i < values.size(); ++i) {
            const bool present = !m_case.inputs[i].omitted;
            savedIn.push_back(present && gb->savedInputs[i] ? &values[i] : nullptr);
            dims.push_back(values[i].dims());
            ig.push_back(wants[i] ? &grads[i] : nullptr);
        }
        for (int k = 0; k < m_case.numOutputs; ++k) {
            savedOut.push_back(gb->savedOutputs[static_cast<std::size_t>(k)]
                                   ? &ys[static_cast<std::size_t>(k)]
                                   : nullptr);
            const bool floating = rs[static_cast<std::size_t>(k)].dtype() == ir::DType::kFloat ||
                                  rs[static_cast<std::size_t>(k)].dtype() == ir::DType::kDouble;
            og.push_back(floating ? &rs[static_cast<std::size_t>(k)] : nullptr);
        }
        GradArgs args{savedIn, savedOut, dims, og, ig};
        if (Status s = gb->kernel->backward(args); !s.isOk()) {
            ADD_FAILURE() << m_case.name << " backward: " << s.message();
            return out;
        }
        out.ran = true;

        // Central differences.
        const double h = m_dt == ir::DType::kDouble ? 1e-6 : 1e-2;
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (!wants[i]) continue;
            HostTensor& x = values[i];
            EXPECT_EQ(grads[i].dims(), x.dims()) << m_case.name << " input " << i;
            if (grads[i].dims() != x.dims()) continue;
            const int64_t n = x.numElements();
            const int64_t stride = std::max<int64_t>(1, n / 96);
            double num2 = 0, diff2 = 0;
            for (int64_t e = 0; e < n; e += stride) {
                auto set = [&](double v) {
                    if (x.dtype() == ir::DType::kFloat)
                        x.data<float>()[e] = static_cast<float>(v);
                    else
                        x.data<double>()[e] = v;
                };
                const double x0 = x.at(e);
                set(x0 + h);
                EXPECT_TRUE(runForward().isOk());
                const double lp = loss();
                set(x0 - h);
                EXPECT_TRUE(runForward().isOk());
                const double lm = loss();
                set(x0);
                const double numeric = (lp - lm) / (2 * h);
                const double analytic = grads[i].at(e);
                num2 += numeric * numeric;
                diff2 += (numeric - analytic) * (numeric - analytic);
            }
            out.errors.push_back(std::sqrt(diff2) / std::max(1e-8, std::sqrt(num2)));
            out.checkedInputs.push_back(static_cast<int>(i));
        }
        return out;
    }

private:
    const Case& m_case;
    ir::DType m_dt;
    TrainingFlags m_flags;
    NodeFlags m_nodeFlags;
};

void check(const Case& c) {
    Outcome o = Checker(c, ir::DType::kDouble).run();
    if (!o.ran && !o.skipped.empty()) o = Checker(c, ir::DType::kFloat).run();
    if (!o.ran) {
        if (!o.skipped.empty()) GTEST_SKIP() << c.name << ": " << o.skipped;
        return;
    }
    const double tol = o.dtype == "double" ? 1e-6 : 1e-2;
    std::string report;
    for (std::size_t k = 0; k < o.errors.size(); ++k) {
        report += fmt::format(" in{}={:.2e}", o.checkedInputs[k], o.errors[k]);
        EXPECT_LT(o.errors[k], tol)
            << c.name << " (" << o.dtype << ") input " << o.checkedInputs[k] << " dims "
            << dimsToString(c.inputs[static_cast<std::size_t>(o.checkedInputs[k])].dims);
    }
    EXPECT_FALSE(o.errors.empty()) << c.name << ": nothing checked";
    std::printf("[ grad ] %-32s %-6s%s\n", c.name.c_str(), o.dtype.c_str(), report.c_str());
}

template <class... A>
std::vector<ir::Attribute> attrs(A... a) {
    std::vector<ir::Attribute> v;
    (v.push_back(std::move(a)), ...);
    return v;
}

In constI64(std::vector<int64_t> v) {
    In in;
    in.dims = {static_cast<int64_t>(v.size())};
    in.constant = true;
    in.dtype = ir::DType::kInt64;
    for (int64_t x : v) in.values.push_back(static_cast<double>(x));
    return in;
}
In constFloats(std::vector<double> v) {
    In in;
    in.dims = {static_cast<int64_t>(v.size())};
    in.constant = true;
    in.values = std::move(v);
    return in;
}
In constBools(Dims dims, std::vector<double> v) {
    In in;
    in.dims = std::move(dims);
    in.constant = true;
    in.dtype = ir::DType::kBool;
    in.values = std::move(v);
    return in;
}
In omitted() {
    In in;
    in.omitted = true;
    return in;
}
In constScalar(double v) {
    In in;
    in.dims = {};
    in.constant = true;
    in.values = {v};
    return in;
}

}  // namespace

// ---- Elementwise with broadcasting
// ---------------------------------------------------------------

TEST(GradCheck, AddBroadcast) {
    check({"Add[2,3,4]+[3,1]", "Add", 13, {{{2, 3, 4}}, {{3, 1}}}});
}
TEST(GradCheck, SubBroadcast) {
    check({"Sub[2,3]-[3]", "Sub", 13, {{{2, 3}}, {{3}}}});
}
TEST(GradCheck, MulBroadcast) {
    check({"Mul[2,1,4]*[3,1]", "Mul", 13, {{{2, 1, 4}}, {{3, 1}}}});
}
TEST(GradCheck, DivBroadcast) {
    check({"Div[2,3,4]/[4]", "Div", 13, {{{2, 3, 4}}, {{4}, Gen::kPositive}}});
}
TEST(GradCheck, MulScalar) {
    check({"Mul[2,3]*[]", "Mul", 13, {{{2, 3}}, {{}}}});
}
TEST(GradCheck, PRelu) {
    check({"PRelu[2,3,4,4] slope[3,1,1]", "PRelu", 13, {{{2, 3, 4, 4}, Gen::kAway}, {{3, 1, 1}}}});
}

// ---- Activations
// ---------------------------------------------------------------------------------

TEST(GradCheck, Relu) {
    check({"Relu", "Relu", 14, {{{3, 4, 5}, Gen::kAway}}});
}
TEST(GradCheck, LeakyRelu) {
    check({"LeakyRelu alpha=0.1",
           "LeakyRelu",
           13,
           {{{3, 4, 5}, Gen::kAway}},
           attrs(flt("alpha", 0.1f))});
}
TEST(GradCheck, Sigmoid) {
    check({"Sigmoid", "Sigmoid", 13, {{{3, 7}}}});
}
TEST(GradCheck, Tanh) {
    check({"Tanh", "Tanh", 13, {{{3, 7}}}});
}
TEST(GradCheck, HardSigmoid) {
    check({"HardSigmoid", "HardSigmoid", 13, {{{4, 6}, Gen::kDistinct}}});
}
TEST(GradCheck, HardSwish) {
    check({"HardSwish", "HardSwish", 14, {{{4, 6}, Gen::kDistinct}}});
}
TEST(GradCheck, Sqrt) {
    check({"Sqrt", "Sqrt", 13, {{{3, 5}, Gen::kPositive}}});
}
TEST(GradCheck, Exp) {
    check({"Exp", "Exp", 13, {{{3, 5}}}});
}
TEST(GradCheck, Log) {
    check({"Log", "Log", 13, {{{3, 5}, Gen::kPositive}}});
}
TEST(GradCheck, Neg) {
    check({"Neg", "Neg", 13, {{{3, 5}}}});
}
TEST(GradCheck, Erf) {
    check({"Erf", "Erf", 13, {{{3, 5}}}});
}
TEST(GradCheck, Identity) {
    check({"Identity", "Identity", 16, {{{3, 5}}}});
}
TEST(GradCheck, Clip) {
    check({"Clip[-0.55,0.75]",
           "Clip",
           13,
           {{{4, 6}, Gen::kDistinct}, constScalar(-0.55), constScalar(0.75)}});
}
TEST(GradCheck, DnnlRelu) {
    Case c{"dnnl Relu", "Relu", 14, {{{3, 4, 5}, Gen::kAway}}};
    c.gradBackend = Backend::kDnnl;
    check(c);
}
TEST(GradCheck, DnnlClip) {
    Case c{"dnnl Clip[-0.55,0.75]",
           "Clip",
           13,
           {{{4, 6}, Gen::kDistinct}, constScalar(-0.55), constScalar(0.75)}};
    c.gradBackend = Backend::kDnnl;
    check(c);
}
TEST(GradCheck, DropoutTraining) {
    check({"Dropout ratio=0.3", "Dropout", 13, {{{4, 8}}, constScalar(0.3)}});
}

// ---- Tensor ops ---------------------------------------------------------------------------------

TEST(GradCheck, Concat) {
    check({"Concat axis=1",
           "Concat",
           13,
           {{{2, 3, 2}}, {{2, 1, 2}}, {{2, 4, 2}}},
           attrs(intA("axis", 1))});
}
TEST(GradCheck, Split) {
    check({"Split axis=1 [2,3]",
           "Split",
           13,
           {{{2, 5, 3}}, constI64({2, 3})},
           attrs(intA("axis", 1)),
           2});
}
TEST(GradCheck, Reshape) {
    check({"Reshape", "Reshape", 13, {{{2, 3, 4}}, constI64({4, -1})}});
}
TEST(GradCheck, Flatten) {
    check({"Flatten axis=1", "Flatten", 13, {{{2, 3, 2, 2}}}, attrs(intA("axis", 1))});
}
TEST(GradCheck, Transpose) {
    check({"Transpose [0,2,3,1]",
           "Transpose",
           13,
           {{{2, 3, 4, 5}}},
           attrs(ints("perm", {0, 2, 3, 1}))});
}
TEST(GradCheck, Squeeze) {
    check({"Squeeze", "Squeeze", 13, {{{2, 1, 3}}, constI64({1})}});
}
TEST(GradCheck, Unsqueeze) {
    check({"Unsqueeze", "Unsqueeze", 13, {{{2, 3}}, constI64({0, 3})}});
}
TEST(GradCheck, Slice) {
    check({"Slice steps -1,2",
           "Slice",
           13,
           {{{3, 5, 6}},
            constI64({-1, 1}),
            constI64({-100, 6}),
            constI64({1, 2}),
            constI64({-1, 2})}});
}
TEST(GradCheck, SliceLegacyAttrs) {
    check({"Slice opset 9",
           "Slice",
           9,
           {{{4, 5}}},
           attrs(ints("starts", {1, 0}), ints("ends", {3, 4}), ints("axes", {0, 1}))});
}
TEST(GradCheck, GatherRepeated) {
    check({"Gather axis=1 repeated",
           "Gather",
           13,
           {{{2, 4, 3}}, constI64({3, 0, 3, -1})},
           attrs(intA("axis", 1))});
}
TEST(GradCheck, PadConstantNegative) {
    check({"Pad constant +-", "Pad", 13, {{{2, 3, 4}}, constI64({0, 1, -1, 1, 2, 0})}});
}
// The transformer-export set (core/engine/ref/grad_more_ops.cpp).
TEST(GradCheck, WhereBroadcast) {
    // cond [2,1,3] x X [4,1] x Y [1]: every operand broadcast on some axis.
    check({"Where broadcast",
           "Where",
           16,
           {constBools({2, 1, 3}, {1, 0, 1, 0, 0, 1}), {{4, 1}}, {{1}}}});
}
TEST(GradCheck, ExpandRankUp) {
    check({"Expand [3,1] -> [2,3,4]", "Expand", 13, {{{3, 1}}, constI64({2, 1, 4})}});
}
TEST(GradCheck, Tile) {
    check({"Tile [2,3] x [2,1,3]", "Tile", 13, {{{2, 1, 3}}, constI64({2, 3, 1})}});
}
TEST(GradCheck, LayerNormalization) {
    // Normalised over the last two axes; Scale [3,4] and B broadcast from [4].
    check({"LayerNorm axis=1 bias bcast",
           "LayerNormalization",
           17,
           {{{2, 3, 4}}, {{3, 4}}, {{4}}},
           attrs(intA("axis", 1), flt("epsilon", 1e-3f))});
}
TEST(GradCheck, LayerNormalizationNoBias) {
    check({"LayerNorm axis=-1", "LayerNormalization", 17, {{{3, 5}}, {{5}}}});
}
// Resize is linear in X: every mode's gradient is exact up to rounding.
TEST(GradCheck, ResizeNearestUpsample) {
    check({"Resize nearest x2 asymmetric floor",
           "Resize",
           13,
           {{{1, 2, 3, 3}}, omitted(), constFloats({1, 1, 2, 2})},
           attrs(str("mode", "nearest"), str("coordinate_transformation_mode", "asymmetric"),
                 str("nearest_mode", "floor"))});
}
TEST(GradCheck, ResizeLinearHalfPixel) {
    check({"Resize linear x1.5/x0.75 half_pixel",
           "Resize",
           13,
           {{{1, 2, 4, 4}}, omitted(), constFloats({1, 1, 1.5, 0.75})},
           attrs(str("mode", "linear"))});
}
TEST(GradCheck, ResizeCubicSizesAlignCorners) {
    check({"Resize cubic sizes align_corners",
           "Resize",
           13,
           {{{1, 1, 4, 5}}, omitted(), omitted(), constI64({1, 1, 7, 3})},
           attrs(str("mode", "cubic"), str("coordinate_transformation_mode", "align_corners"))});
}
TEST(GradCheck, ResizeTfCropAndResize) {
    check({"Resize linear tf_crop_and_resize",
           "Resize",
           13,
           {{{1, 1, 4, 4}},
            constFloats({0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3}),
            constFloats({1, 1, 1.5, 1.5})},
           attrs(str("mode", "linear"), str("coordinate_transformation_mode", "tf_crop_and_resize"),
                 flt("extrapolation_value", 0.5f))});
}
TEST(GradCheck, Pow) {
    check({"Pow[3,4]^[4]", "Pow", 15, {{{3, 4}, Gen::kPositive}, {{4}}}});
}
TEST(GradCheck, ReduceMean) {
    check({"ReduceMean axes=[1] keepdims=0",
           "ReduceMean",
           13,
           {{{2, 3, 4}}},
           attrs(ints("axes", {1}), intA("keepdims", 0))});
}
TEST(GradCheck, ReduceSum) {
    check({"ReduceSum axes=[0,2]", "ReduceSum", 13, {{{2, 3, 4}}, constI64({0, 2})}});
}

// ---- Network ops
// ---------------------------------------------------------------------------------

TEST(GradCheck, ConvGroupsStridePad) {
    check({"Conv g=2 s=2 p=1 +bias",
           "Conv",
           13,
           {{{2, 4, 7, 7}}, {{6, 2, 3, 3}}, {{6}}},
           attrs(ints("kernel_shape", {3, 3}), ints("strides", {2, 2}), ints("pads", {1, 1, 1, 1}),
                 intA("group", 2))});
}
TEST(GradCheck, ConvDilatedNoBias) {
    check({"Conv d=2 asym pads",
           "Conv",
           13,
           {{{1, 3, 8, 7}}, {{4, 3, 3, 2}}},
           attrs(ints("dilations", {2, 1}), ints("pads", {1, 0, 2, 1}))});
}
TEST(GradCheck, ConvSameUpper) {
    check({"Conv SAME_UPPER s=2",
           "Conv",
           13,
           {{{2, 2, 6, 6}}, {{3, 2, 3, 3}}, {{3}}},
           attrs(str("auto_pad", "SAME_UPPER"), ints("strides", {2, 2}))});
}
TEST(GradCheck, ConvDepthwise) {
    check({"Conv depthwise g=3",
           "Conv",
           13,
           {{{2, 3, 5, 5}}, {{3, 1, 3, 3}}, {{3}}},
           attrs(intA("group", 3), ints("pads", {1, 1, 1, 1}))});
}
TEST(GradCheck, Conv1d) {
    check({"Conv 1-D s=2",
           "Conv",
           13,
           {{{2, 3, 9}}, {{4, 3, 3}}, {{4}}},
           attrs(ints("strides", {2}))});
}
// The oneDNN Conv gradient, through the same finite-difference check (float32).
TEST(GradCheck, DnnlConvGroupsStridePad) {
    Case c{"dnnl Conv g=2 s=2 p=1 +bias",
           "Conv",
           13,
           {{{2, 4, 7, 7}}, {{6, 2, 3, 3}}, {{6}}},
           attrs(ints("kernel_shape", {3, 3}), ints("strides", {2, 2}), ints("pads", {1, 1, 1, 1}),
                 intA("group", 2))};
    c.gradBackend = Backend::kDnnl;
    check(c);
}
TEST(GradCheck, DnnlConvDilatedNoBias) {
    Case c{"dnnl Conv d=2 asym pads",
           "Conv",
           13,
           {{{1, 3, 8, 7}}, {{4, 3, 3, 2}}},
           attrs(ints("dilations", {2, 1}), ints("pads", {1, 0, 2, 1}))};
    c.gradBackend = Backend::kDnnl;
    check(c);
}
TEST(GradCheck, DnnlConvSameUpperDepthwise) {
    Case c{"dnnl Conv SAME_UPPER s=2 g=2",
           "Conv",
           13,
           {{{2, 2, 6, 6}}, {{2, 1, 3, 3}}, {{2}}},
           attrs(str("auto_pad", "SAME_UPPER"), ints("strides", {2, 2}), intA("group", 2))};
    c.gradBackend = Backend::kDnnl;
    check(c);
}

TEST(GradCheck, ConvTranspose) {
    check({"ConvTranspose s=2 p=1 op=1",
           "ConvTranspose",
           13,
           {{{2, 4, 4, 4}}, {{4, 3, 3, 3}}, {{3}}},
           attrs(ints("strides", {2, 2}), ints("pads", {1, 1, 1, 1}),
                 ints("output_padding", {1, 1}))});
}
TEST(GradCheck, ConvTransposeGroups) {
    check({"ConvTranspose g=2",
           "ConvTranspose",
           13,
           {{{1, 4, 3, 3}}, {{4, 2, 2, 2}}},
           attrs(intA("group", 2), ints("strides", {2, 2}))});
}
TEST(GradCheck, GemmTransB) {
    check({"Gemm transB a=0.5 b=2 C[4]",
           "Gemm",
           13,
           {{{3, 5}}, {{4, 5}}, {{4}}},
           attrs(intA("transB", 1), flt("alpha", 0.5f), flt("beta", 2.0f))});
}
TEST(GradCheck, GemmTransA) {
    check({"Gemm transA C[3,1]",
           "Gemm",
           13,
           {{{5, 3}}, {{5, 4}}, {{3, 1}}},
           attrs(intA("transA", 1))});
}
TEST(GradCheck, MatMulBatched) {
    check({"MatMul [2,3,4]x[4,5]", "MatMul", 13, {{{2, 3, 4}}, {{4, 5}}}});
}
TEST(GradCheck, MatMulBroadcast) {
    check({"MatMul [3,4]x[2,4,5]", "MatMul", 13, {{{3, 4}}, {{2, 4, 5}}}});
}
TEST(GradCheck, MatMulVector) {
    check({"MatMul [4]x[4,5]", "MatMul", 13, {{{4}}, {{4, 5}}}});
}
// The running statistics are state (never trained): fed as constants.
In stat(Dims d, Gen g = Gen::kNormal) {
    In in{std::move(d), g};
    in.constant = true;
    Rng rng(7);
    for (int64_t i = 0; i < numElementsOf(in.dims); ++i)
        in.values.push_back(g == Gen::kPositive ? 0.5 + rng.uniform() : rng.normal());
    return in;
}
TEST(GradCheck, BatchNormTraining) {
    check({"BatchNorm training",
           "BatchNormalization",
           15,
           {{{4, 3, 3, 3}}, {{3}}, {{3}}, stat({3}), stat({3}, Gen::kPositive)},
           attrs(flt("epsilon", 1e-3f))});
}
TEST(GradCheck, BatchNormFrozen) {
    Case c{"BatchNorm frozen",
           "BatchNormalization",
           15,
           {{{4, 3, 3, 3}}, {{3}}, {{3}}, stat({3}), stat({3}, Gen::kPositive)}};
    c.bnFrozen = true;
    check(c);
}
TEST(GradCheck, BatchNorm2d) {
    check({"BatchNorm [6,4]",
           "BatchNormalization",
           15,
           {{{6, 4}}, {{4}}, {{4}}, stat({4}), stat({4}, Gen::kPositive)}});
}
// The fast (backend kDnnl) BatchNormalization training forward + backward, through the same
// finite-difference check (float32).
TEST(GradCheck, DnnlBatchNormTraining) {
    Case c{"dnnl BatchNorm training",
           "BatchNormalization",
           15,
           {{{4, 3, 3, 3}}, {{3}}, {{3}}, stat({3}), stat({3}, Gen::kPositive)},
           attrs(flt("epsilon", 1e-3f))};
    c.gradBackend = Backend::kDnnl;
    check(c);
}
TEST(GradCheck, DnnlBatchNormFrozen) {
    Case c{"dnnl BatchNorm frozen",
           "BatchNormalization",
           15,
           {{{4, 3, 3, 3}}, {{3}}, {{3}}, stat({3}), stat({3}, Gen::kPositive)}};
    c.bnFrozen = true;
    c.gradBackend = Backend::kDnnl;
    check(c);
}
TEST(GradCheck, DnnlBatchNorm2d) {
    Case c{"dnnl BatchNorm [6,4]",
           "BatchNormalization",
           15,
           {{{6, 4}}, {{4}}, {{4}}, stat({4}), stat({4}, Gen::kPositive)}};
    c.gradBackend = Backend::kDnnl;
    check(c);
}
TEST(GradCheck, MaxPool) {
    check({"MaxPool k2 s2",
           "MaxPool",
           13,
           {{{2, 3, 6, 6}, Gen::kDistinct}},
           attrs(ints("kernel_shape", {2, 2}), ints("strides", {2, 2}))});
}
TEST(GradCheck, MaxPoolPadOverlap) {
    check(
        {"MaxPool k3 s2 p1",
         "MaxPool",
         13,
         {{{1, 2, 7, 7}, Gen::kDistinct}},
         attrs(ints("kernel_shape", {3, 3}), ints("strides", {2, 2}), ints("pads", {1, 1, 1, 1}))});
}
TEST(GradCheck, AveragePoolExcludePad) {
    check(
        {"AveragePool k3 s2 p1",
         "AveragePool",
         13,
         {{{2, 2, 7, 7}}},
         attrs(ints("kernel_shape", {3, 3}), ints("strides", {2, 2}), ints("pads", {1, 1, 1, 1}))});
}
TEST(GradCheck, AveragePoolIncludePad) {
    check({"AveragePool k3 p1 include_pad",
           "AveragePool",
           13,
           {{{1, 2, 5, 5}}},
           attrs(ints("kernel_shape", {3, 3}), ints("pads", {1, 1, 1, 1}),
                 intA("count_include_pad", 1))});
}
TEST(GradCheck, GlobalAveragePool) {
    check({"GlobalAveragePool", "GlobalAveragePool", 13, {{{2, 3, 4, 5}}}});
}
TEST(GradCheck, Softmax) {
    check({"Softmax axis=-1", "Softmax", 13, {{{3, 5}}}});
}
TEST(GradCheck, SoftmaxMiddleAxis) {
    check({"Softmax axis=1 [2,3,4]", "Softmax", 13, {{{2, 3, 4}}}, attrs(intA("axis", 1))});
}
TEST(GradCheck, SoftmaxLegacy) {
    check({"Softmax opset 11 axis=1", "Softmax", 11, {{{2, 3, 4}}}, attrs(intA("axis", 1))});
}
TEST(GradCheck, LogSoftmax) {
    check({"LogSoftmax", "LogSoftmax", 13, {{{3, 6}}}});
}

// ---- Loss
// ----------------------------------------------------------------------------------------

TEST(GradCheck, SoftmaxCrossEntropyWithSmoothing) {
    for (float smoothing : {0.0f, 0.1f}) {
        Rng rng(5);
        std::vector<double> z(4 * 7);
        for (double& v : z) v = rng.normal() * 2;
        HostTensor logits(ir::DType::kDouble, {4, 7});
        for (std::size_t i = 0; i < z.size(); ++i) logits.data<double>()[i] = z[i];
        HostTensor labels = HostTensor::fromInt64s({4}, {0, 6, 3, 3});
        HostTensor grad;
        auto loss = softmaxCrossEntropy(logits, labels, smoothing, &grad);
        ASSERT_TRUE(loss) << loss.error().message();
        double worst = 0;
        for (int64_t i = 0; i < logits.numElements(); ++i) {
            const double x0 = logits.data<double>()[i];
            logits.data<double>()[i] = x0 + 1e-6;
            const double lp = *softmaxCrossEntropy(logits, labels, smoothing, nullptr);
            logits.data<double>()[i] = x0 - 1e-6;
            const double lm = *softmaxCrossEntropy(logits, labels, smoothing, nullptr);
            logits.data<double>()[i] = x0;
            worst = std::max(worst, std::abs((lp - lm) / 2e-6 - grad.data<double>()[i]));
        }
        EXPECT_LT(worst, 1e-7) << "smoothing " << smoothing;
        std::printf("[ grad ] %-32s double max abs err %.2e\n",
                    fmt::format("SoftmaxCE smoothing={}", smoothing).c_str(), worst);
    }
    // Uniform logits: loss = log C whatever the smoothing.
    HostTensor flat(ir::DType::kFloat, {2, 5});
    auto l = softmaxCrossEntropy(flat, HostTensor::fromInt64s({2}, {1, 4}), 0.2f, nullptr);
    ASSERT_TRUE(l);
    EXPECT_NEAR(*l, std::log(5.0), 1e-6);
    EXPECT_FALSE(softmaxCrossEntropy(flat, HostTensor::fromInt64s({2}, {1, 5}), 0.f, nullptr));
}

TEST(GradRegistry, CoversTheIssueOps) {
    const auto ops = GradRegistry::builtin().opTypes();
    for (const char* op :
         {"Conv",   "ConvTranspose", "Gemm",        "MatMul",    "BatchNormalization",
          "Relu",   "MaxPool",       "AveragePool", "Add",       "Mul",
          "Concat", "Reshape",       "Flatten",     "Transpose", "Softmax",
          "Pow",    "Slice",         "Gather",      "Pad",       "Resize",
          "Where",  "Expand",        "Tile",        "LayerNormalization"})
        EXPECT_NE(std::find(ops.begin(), ops.end(), op), ops.end()) << op;
}
