// FakeQuantize (com.whittle): forward against hand-computed values, the STE mask, LSQ gradients
// against finite differences, the "enabled" knob, channel-blocked training, the vectorised
// kernels bit for bit against a scalar reference, the nudging helper,
// and a save / reload through core/onnx.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/engine/autodiff.h"
#include "core/engine/channel_blocks.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/kernel_registry.h"
#include "core/engine/plan.h"
#include "core/engine/training_plan.h"
#include "core/onnx/model_io.h"
#include "core/util/rng.h"
#include "tests/core/train/model_builder.h"

using namespace wh;
using namespace wh::engine;

namespace {

// Integer attributes (ir::Attribute is move-only, so lists of them are built in place).
using IntAttrs = std::vector<std::pair<const char*, int64_t>>;
std::pair<const char*, int64_t> attr(const char* name, int64_t v) {
    return {name, v};
}

HostTensor floats(Dims dims, std::vector<float> v) {
    return HostTensor::fromFloats(std::move(dims), v);
}

HostTensor doubles(Dims dims, const std::vector<double>& v) {
    HostTensor t(ir::DType::kDouble, std::move(dims));
    for (std::size_t i = 0; i < v.size(); ++i) t.data<double>()[i] = v[i];
    return t;
}

std::string str(const HostTensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.numElements(); ++i) s += (i ? ", " : "") + std::to_string(t.at(i));
    return s + "]";
}

// One FakeQuantize node, run through the registries' reference kernel, training forward and
// gradient, as tests/core/train/grad_check_test.cpp does for the standard operators.
class FqOp {
public:
    // `withRange`: the node also has range_min and range_max (inputs 3 and 4; needs the zero
    // point), which train() then takes.
    FqOp(const IntAttrs& attrs, bool withZeroPoint, bool withRange = false)
        : m_zp(withZeroPoint), m_range(withRange) {
        ir::Graph& g = *m_model.graph;
        std::vector<ir::Value*> ins = {*g.addValue("x"), *g.addValue("s")};
        if (m_zp) ins.push_back(*g.addValue("z"));
        if (m_range) {
            ins.push_back(*g.addValue("rmin"));
            ins.push_back(*g.addValue("rmax"));
        }
        std::vector<ir::Value*> outs = {*g.addValue("y")};
        m_node = g.addNode(std::string(kFakeQuantizeOp), ins, outs);
        m_node->domain = std::string(kWhittleDomain);
        m_node->name = "fq";
        for (auto [name, v] : attrs)
            m_node->attributes().push_back(ir::Attribute::makeInt(name, v));
        m_nodeFlags.plan = &m_flags;
    }

    std::vector<TensorInfo> infos(const HostTensor& x, const HostTensor& s, const HostTensor* z,
                                  const HostTensor* rmin = nullptr,
                                  const HostTensor* rmax = nullptr) const {
        std::vector<TensorInfo> in = {TensorInfo::of(x), TensorInfo::of(s)};
        if (m_zp) in.push_back(TensorInfo::of(*z));
        if (m_range) {
            in.push_back(TensorInfo::of(*rmin));
            in.push_back(TensorInfo::of(*rmax));
        }
        return in;
    }

    Expected<HostTensor> infer(const HostTensor& x, const HostTensor& s,
                               const HostTensor* z = nullptr) const {
        const auto in = infos(x, s, z);
        KernelOptions opt;
        KernelContext ctx{*m_node, 1, in, opt};
        const KernelFactory* f =
            KernelRegistry::builtin().find(kWhittleDomain, kFakeQuantizeOp, 1, Backend::kReference);
        if (!f) return error(StatusCode::kInternal, "no FakeQuantize kernel");
        WH_ASSIGN_OR_RETURN(KernelBuild b, (*f)(ctx));
        HostTensor y;
        std::vector<const HostTensor*> ip = {&x, &s};
        if (m_zp) ip.push_back(z);
        std::vector<HostTensor*> op = {&y};
        WH_RETURN_IF_ERROR(b.kernel->run(ip, op));
        return y;
    }

    struct Trained {
        HostTensor y, dx, ds, dz;
        HostTensor newScale, newZeroPoint;    // the state outputs of an observing forward
        HostTensor newRangeMin, newRangeMax;  // (withRange)
    };
    // Training forward, then backward with output gradient `dy`; `blocked` tells both kernels
    // that X, Y and their gradients are nChw16c (x and dy must then be given blocked). The
    // forward gets the two state outputs an observing quantizer writes (scale, zero point).
    Expected<Trained> train(const HostTensor& x, const HostTensor& s, const HostTensor* z,
                            const HostTensor& dy, bool blocked = false,
                            const HostTensor* rmin = nullptr, const HostTensor* rmax = nullptr) {
        const auto in = infos(x, s, z, rmin, rmax);
        const std::vector<TensorInfo> out = {TensorInfo::of(x)};
        GradContext ctx{*m_node, 1, in, out, std::vector<bool>(in.size(), true), &m_nodeFlags};
        const GradFactory* f =
            GradRegistry::builtin().find(kWhittleDomain, kFakeQuantizeOp, 1, Backend::kReference);
        if (!f) return error(StatusCode::kInternal, "no FakeQuantize gradient");
        WH_ASSIGN_OR_RETURN(GradBuild b, (*f)(ctx));
        if (!b.trainingForward) return error(StatusCode::kInternal, "no training forward");
        if (blocked) {
            if (b.channelBlocks != GradBuild::ChannelBlocks::kShared)
                return error(StatusCode::kInternal, "not kShared");
            b.setChannelBlocked(true, true);
        }
        Trained t;
        std::vector<const HostTensor*> ip = {&x, &s};
        if (m_zp) ip.push_back(z);
        if (m_range) {
            ip.push_back(rmin);
            ip.push_back(rmax);
        }
        std::vector<HostTensor*> op = {&t.y, &t.newScale, &t.newZeroPoint, &t.newRangeMin,
                                       &t.newRangeMax};
        WH_RETURN_IF_ERROR(b.trainingForward->run(ip, op));
        std::vector<const HostTensor*> saved;
        std::vector<Dims> dims;
        for (std::size_t i = 0; i < ip.size(); ++i) {
            saved.push_back(b.savedInputs[i] ? ip[i] : nullptr);
            dims.push_back(ip[i]->dims());
        }
        std::vector<const HostTensor*> savedOut = {nullptr}, og = {&dy};
        std::vector<HostTensor*> ig = {&t.dx, &t.ds};
        if (m_zp) ig.push_back(&t.dz);
        if (m_range) {
            ig.push_back(nullptr);
            ig.push_back(nullptr);
        }
        GradArgs args{saved, savedOut, dims, og, ig};
        WH_RETURN_IF_ERROR(b.kernel->backward(args));
        return t;
    }

    NodeFlags& flags() { return m_nodeFlags; }

private:
    ir::Model m_model;
    ir::Node* m_node = nullptr;
    bool m_zp, m_range;
    TrainingFlags m_flags;
    NodeFlags m_nodeFlags;
};

void expectValues(const HostTensor& got, const std::vector<double>& want, const char* what) {
    ASSERT_EQ(got.numElements(), static_cast<int64_t>(want.size())) << what;
    for (int64_t i = 0; i < got.numElements(); ++i)
        EXPECT_NEAR(got.at(i), want[static_cast<std::size_t>(i)], 1e-6)
            << what << " element " << i << ": got " << str(got);
}

}  // namespace

// ---- Forward -------------------------------------------------------------------------------

TEST(FakeQuantize, RoundsHalfToEvenAndClampsToTheSignedGrid) {
    // int8 [-128, 127], s = 0.5: x / s = 0, .48, .5, .52, 1.5, -1.5, 127, 128, -128, -128.6, 200.
    const FqOp op({}, false);
    auto y =
        op.infer(floats({11}, {0, 0.24f, 0.25f, 0.26f, 0.75f, -0.75f, 63.5f, 64, -64, -64.3f, 100}),
                 HostTensor::scalar(ir::DType::kFloat, 0.5));
    ASSERT_TRUE(y) << y.error().message();
    expectValues(*y, {0, 0, 0, 0.5, 1.0, -1.0, 63.5, 63.5, -64, -64, 63.5}, "int8");

    // narrow_range drops -128: -64 / 0.5 = -128 clamps to -127.
    const FqOp narrow({attr("narrow_range", 1)}, false);
    auto yn = narrow.infer(floats({3}, {-64, -63.5f, 64}), floats({1}, {0.5f}));
    ASSERT_TRUE(yn) << yn.error().message();
    expectValues(*yn, {-63.5, -63.5, 63.5}, "narrow");
}

TEST(FakeQuantize, UnsignedGridWithAZeroPoint) {
    // uint4 [0, 15], s = 0.25, z = 3: representable [-0.75, 3.0].
    const FqOp op({attr("num_bits", 4), attr("unsigned", 1)}, true);
    const HostTensor x = floats({7}, {-1.0f, -0.75f, -0.8f, 0.0f, 0.3f, 3.0f, 2.9f});
    const HostTensor s = HostTensor::scalar(ir::DType::kFloat, 0.25);
    const HostTensor z = HostTensor::scalar(ir::DType::kFloat, 3);
    auto y = op.infer(x, s, &z);
    ASSERT_TRUE(y) << y.error().message();
    expectValues(*y, {-0.75, -0.75, -0.75, 0, 0.25, 3.0, 3.0}, "uint4");
    // Narrow: [1, 15], representable [-0.5, 3.0].
    const FqOp narrow({attr("num_bits", 4), attr("unsigned", 1), attr("narrow_range", 1)}, true);
    auto yn = narrow.infer(x, s, &z);
    ASSERT_TRUE(yn) << yn.error().message();
    expectValues(*yn, {-0.5, -0.5, -0.5, 0, 0.25, 3.0, 3.0}, "uint4 narrow");
}

TEST(FakeQuantize, PerChannelAlongAnyAxis) {
    const HostTensor s = floats({3}, {1.0f, 0.5f, 0.25f});
    // x = 1.3 everywhere: x / s = 1.3, 2.6, 5.2 -> 1, 3, 5 -> y = 1, 1.5, 1.25 per channel.
    const HostTensor x = floats({2, 3, 2}, std::vector<float>(12, 1.3f));
    const std::vector<double> want = {1, 1, 1.5, 1.5, 1.25, 1.25, 1, 1, 1.5, 1.5, 1.25, 1.25};
    for (int64_t axis : {1, -2}) {
        const FqOp op({attr("axis", axis)}, false);
        auto y = op.infer(x, s);
        ASSERT_TRUE(y) << y.error().message();
        expectValues(*y, want, axis == 1 ? "axis 1" : "axis -2");
    }
    const FqOp op0({attr("axis", 0)}, false);
    auto y0 = op0.infer(floats({3, 2}, std::vector<float>(6, 1.3f)), s);
    ASSERT_TRUE(y0) << y0.error().message();
    expectValues(*y0, {1, 1, 1.5, 1.5, 1.25, 1.25}, "axis 0");
    // A scale that does not match the axis is bad input.
    EXPECT_FALSE(op0.infer(floats({2, 3}, std::vector<float>(6, 1.0f)), s));
}

TEST(FakeQuantize, DepthwiseWeightsPerOutputChannel) {
    // [C=4, 1, 3, 3], axis 0, int4 [-8, 7]; x = 1.25: x / s = 10, 5, 2.5, 1.25 -> 7 (clamped),
    // 5, 2 (half to even), 1.
    const FqOp op({attr("axis", 0), attr("num_bits", 4)}, false);
    auto y = op.infer(floats({4, 1, 3, 3}, std::vector<float>(36, 1.25f)),
                      floats({4}, {0.125f, 0.25f, 0.5f, 1.0f}));
    ASSERT_TRUE(y) << y.error().message();
    const double perChannel[] = {0.875, 1.25, 1.0, 1.0};
    std::vector<double> want;
    for (double v : perChannel) want.insert(want.end(), 9, v);
    expectValues(*y, want, "depthwise");
}

TEST(FakeQuantize, RejectsBadAttributesAndScales) {
    const HostTensor x = floats({2}, {1, 2});
    EXPECT_FALSE(FqOp({attr("num_bits", 9)}, false).infer(x, floats({1}, {1})));
    EXPECT_FALSE(FqOp({attr("num_bits", 1)}, false).infer(x, floats({1}, {1})));
    EXPECT_FALSE(FqOp({attr("unsigned", 2)}, false).infer(x, floats({1}, {1})));
    EXPECT_FALSE(FqOp({}, false).infer(x, floats({1}, {0})));
    EXPECT_FALSE(FqOp({}, false).infer(x, floats({1}, {-1})));
}

// ---- Gradients -----------------------------------------------------------------------------

TEST(FakeQuantize, StraightThroughWithTheClampMask) {
    FqOp op({}, false);
    const HostTensor x = floats({7}, {0, 0.26f, 63.5f, 64, -64, -64.3f, 100});
    const HostTensor dy = floats({7}, {1, 2, 3, 4, 5, 6, 7});
    auto t = op.train(x, HostTensor::scalar(ir::DType::kFloat, 0.5), nullptr, dy);
    ASSERT_TRUE(t) << t.error().message();
    // 64 / 0.5 = 128 > 127 and -64.3 / 0.5 -> -129 < -128 are clamped.
    expectValues(t->dx, {1, 2, 3, 0, 5, 0, 0}, "dx");
    expectValues(t->ds, {0}, "not learned: no scale gradient");
}

// LSQ in s and z, per tensor and per channel, double precision. Inside the clamp range y = u s
// with u = round(x / s) piecewise constant, so central differences of the real forward give
// sum r u there, where LSQ's derivative is sum r (u - x / s): the test adds back sum r x / s over
// the inside elements. In the clamped region the two agree. Points are kept away from rounding
// and clamping boundaries so that no element changes region within h.
TEST(FakeQuantize, LsqGradientsAgreeWithFiniteDifferences) {
    struct Setup {
        const char* name;
        Dims dims;
        int64_t axis;
        std::vector<double> s, z;
        bool unsignedGrid;
    };
    const std::vector<Setup> setups = {
        {"per tensor int4", {2, 3, 4}, 1, {0.3}, {1}, false},
        {"per channel axis 1 uint4", {2, 3, 4}, 1, {0.2, 0.3, 0.5}, {3, 5, 2}, true},
        {"per channel axis -1 int4", {3, 2, 3}, -1, {0.25, 0.4, 0.15}, {0, -1, 2}, false},
    };
    for (const Setup& st : setups) {
        SCOPED_TRACE(st.name);
        FqOp op({attr("num_bits", 4), attr("unsigned", st.unsignedGrid ? 1 : 0), attr("learned", 1),
                 attr("axis", st.axis)},
                true);
        const auto [qminI, qmaxI] = fakeQuantGrid(4, false, st.unsignedGrid);
        const double qmin = static_cast<double>(qminI), qmax = static_cast<double>(qmaxI);
        const int rank = static_cast<int>(st.dims.size());
        const int axis = static_cast<int>(st.axis < 0 ? st.axis + rank : st.axis);
        int64_t inner = 1, n = 1;
        for (int d = axis + 1; d < rank; ++d) inner *= st.dims[static_cast<std::size_t>(d)];
        for (int64_t d : st.dims) n *= d;
        const int64_t channels = static_cast<int64_t>(st.s.size());
        auto chan = [&](int64_t i) { return channels == 1 ? 0 : (i / inner) % channels; };
        // x = s (k + f - z) with k an integer across the grid and beyond it, f in [.15, .35] or
        // [.65, .85]: never within h of a rounding or clamping boundary (in s or in z).
        Rng rng(7);
        std::vector<double> xv(static_cast<std::size_t>(n)), rv(xv.size());
        for (int64_t i = 0; i < n; ++i) {
            const auto c = static_cast<std::size_t>(chan(i));
            double k = 0, f = 0;
            do {  // q = k + round(f) at qmin or qmax is a kink in z (clamped on one side)
                k = std::floor(qmin - 3 + rng.uniform() * (qmax - qmin + 6));
                f = (rng.uniform() < 0.5 ? 0.15 : 0.65) + 0.2 * rng.uniform();
            } while (k + std::round(f) == qmin || k + std::round(f) == qmax);
            xv[static_cast<std::size_t>(i)] = st.s[c] * (k + f - st.z[c]);
            rv[static_cast<std::size_t>(i)] = rng.normal();
        }
        const HostTensor x = doubles(st.dims, xv), r = doubles(st.dims, rv);
        const Dims sd = {channels};
        HostTensor s = doubles(sd, st.s), z = doubles(sd, st.z);
        auto t = op.train(x, s, &z, r);
        ASSERT_TRUE(t) << t.error().message();
        const double g = 1.0 / std::sqrt(static_cast<double>(n / channels) * qmax);
        auto loss = [&]() {
            auto y = op.infer(x, s, &z);
            EXPECT_TRUE(y);
            double l = 0;
            for (int64_t i = 0; y && i < n; ++i) l += y->at(i) * rv[static_cast<std::size_t>(i)];
            return l;
        };
        int clamped = 0;
        for (int64_t c = 0; c < channels; ++c) {
            // The LSQ correction: sum over inside elements of r x / s.
            double correction = 0;
            for (int64_t i = 0; i < n; ++i) {
                if (chan(i) != c) continue;
                const auto iu = static_cast<std::size_t>(i);
                const double q = std::nearbyint(xv[iu] / st.s[static_cast<std::size_t>(c)]) +
                                 st.z[static_cast<std::size_t>(c)];
                if (q >= qmin && q <= qmax)
                    correction += rv[iu] * xv[iu] / st.s[static_cast<std::size_t>(c)];
                else
                    ++clamped;
            }
            const double h = 1e-7;
            double* sc = s.data<double>() + c;
            double* zc = z.data<double>() + c;
            const double s0 = *sc, z0 = *zc;
            *sc = s0 + h;
            const double lp = loss();
            *sc = s0 - h;
            const double lm = loss();
            *sc = s0;
            const double numericS = (lp - lm) / (2 * h);
            EXPECT_NEAR(t->ds.at(c), g * (numericS - correction), 1e-6 * (1 + std::abs(numericS)))
                << "scale of channel " << c;
            *zc = z0 + h;
            const double zp = loss();
            *zc = z0 - h;
            const double zm = loss();
            *zc = z0;
            EXPECT_NEAR(t->dz.at(c), g * (zp - zm) / (2 * h), 1e-6)
                << "zero point of channel " << c;
        }
        EXPECT_GT(clamped, 0) << "the points cover the clamped region too";
    }
}

TEST(FakeQuantize, SymmetricKeepsTheZeroPointFixed) {
    FqOp op({attr("learned", 1), attr("symmetric", 1)}, true);
    const HostTensor x = floats({4}, {-100, 0.3f, 0.7f, 100});
    const HostTensor z = HostTensor::scalar(ir::DType::kFloat, 0);
    auto t = op.train(x, HostTensor::scalar(ir::DType::kFloat, 0.5), &z, floats({4}, {1, 1, 1, 1}));
    ASSERT_TRUE(t) << t.error().message();
    expectValues(t->dz, {0}, "symmetric: no zero-point gradient");
    EXPECT_NE(t->ds.at(0), 0.0);
}

// ---- The enable knob -----------------------------------------------------------------------

TEST(FakeQuantize, DisabledIsTheIdentityForwardAndBackward) {
    FqOp op({attr("learned", 1)}, false);
    const HostTensor x = floats({3}, {0.26f, 64, -100});
    const HostTensor s = HostTensor::scalar(ir::DType::kFloat, 0.5);
    const HostTensor dy = floats({3}, {1, 2, 3});
    op.flags().knobs["enabled"] = 0.0;
    auto off = op.train(x, s, nullptr, dy);
    ASSERT_TRUE(off) << off.error().message();
    expectValues(off->y, {0.26, 64, -100}, "y");
    expectValues(off->dx, {1, 2, 3}, "dx");
    expectValues(off->ds, {0}, "ds");
    op.flags().knobs["enabled"] = 1.0;
    auto on = op.train(x, s, nullptr, dy);
    ASSERT_TRUE(on) << on.error().message();
    expectValues(on->y, {0.5, 63.5, -64}, "y");
    expectValues(on->dx, {1, 0, 0}, "dx");
}

namespace {

constexpr float kScale1 = 0.05f;

// x [3, 8, 8] -> Conv 16 -> FakeQuantize (per tensor) -> BN -> Relu -> Conv 16 -> FakeQuantize
// (per channel, axis 1, with zero points) -> BN -> Relu -> GAP -> Flatten -> Gemm 5. Without
// `fq`, the same model with no FakeQuantize.
ir::Model fqModel(bool fq, bool learned) {
    wh::testing::ModelBuilder b(13, 11);
    b.model().opsetImports.push_back({std::string(kWhittleDomain), 1, {}});
    b.input("x", {3, 8, 8});
    auto fakeQuant = [&](const std::string& in, std::vector<std::string> params,
                         const std::string& out) {
        std::vector<std::string> ins = {in};
        ins.insert(ins.end(), params.begin(), params.end());
        ir::Node* n = b.node(std::string(kFakeQuantizeOp), ins, {out});
        n->attributes().push_back(ir::Attribute::makeInt("learned", learned ? 1 : 0));
        n->attributes().push_back(ir::Attribute::makeInt("axis", 1));
        n->domain = std::string(kWhittleDomain);
    };
    b.conv3x3("x", "w1", 3, 16, "c1");
    if (fq) {
        b.weight("q1_s", {}, 0, kScale1);
        fakeQuant("c1", {"q1_s"}, "q1");
    }
    b.batchNorm(fq ? "q1" : "c1", "bn1", 16, "n1");
    b.node("Relu", {"n1"}, {"r1"});
    b.conv3x3("r1", "w2", 16, 16, "c2");
    if (fq) {
        b.weight("q2_s", {16}, 0, 0.04f);
        b.weight("q2_z", {16}, 0, 2.0f);
        fakeQuant("c2", {"q2_s", "q2_z"}, "q2");
    }
    b.batchNorm(fq ? "q2" : "c2", "bn2", 16, "n2");
    b.node("Relu", {"n2"}, {"r"});
    b.node("GlobalAveragePool", {"r"}, {"g"});
    b.node("Flatten", {"g"}, {"f"});
    b.weight("wf", {5, 16}, 16);
    b.weight("bf", {5}, 16);
    b.node("Gemm", {"f", "wf", "bf"}, {"logits"})
        ->attributes()
        .push_back(ir::Attribute::makeInt("transB", 1));
    b.output("logits", {5});
    return b.take();
}

HostTensor randomImages(int64_t n, uint64_t seed) {
    return wh::testing::randomNormal({n, 3, 8, 8}, seed);
}

HostTensor labelsFor(int64_t n, uint64_t seed) {
    return wh::testing::randomLabels(n, 5, seed);
}

const Parameter* param(const TrainingPlan& plan, const std::string& name) {
    for (const Parameter& p : plan.parameters())
        if (p.name == name) return &p;
    return nullptr;
}

ir::NodeId nodeNamed(const ir::Model& model, const std::string& name) {
    for (const ir::Node* n : model.graph->nodes())
        if (n->name == name) return n->id();
    return 0;
}

}  // namespace

TEST(FakeQuantize, TheEnabledKnobFlipsBetweenSteps) {
    const ir::Model model = fqModel(true, true);
    const ir::Model plainModel = fqModel(false, true);
    TrainingOptions opt;
    opt.threads = 2;
    opt.backends = opt.gradBackends = {Backend::kReference};
    auto plan = TrainingPlan::compile(model, opt);
    auto plain = TrainingPlan::compile(plainModel, opt);
    ASSERT_TRUE(plan) << plan.error().message();
    ASSERT_TRUE(plain) << plain.error().message();
    const HostTensor x = randomImages(4, 1);
    const HostTensor y = labelsFor(4, 2);
    auto lPlain = plain->forwardBackward(x, y);
    auto lOn = plan->forwardBackward(x, y);
    ASSERT_TRUE(lPlain && lOn);
    // Learned quantizers train their scales, per tensor (one element: OpTraits::trainedInput)
    // and per channel; not learned, a one-element scale stays a constant.
    for (const char* name : {"q1_s", "q2_s", "q2_z"})
        ASSERT_NE(param(*plan, name), nullptr) << name;
    EXPECT_NE(param(*plan, "q1_s")->grad.at(0), 0.0);
    {
        auto fixed = TrainingPlan::compile(fqModel(true, false), opt);
        ASSERT_TRUE(fixed) << fixed.error().message();
        EXPECT_EQ(param(*fixed, "q1_s"), nullptr);
    }
    for (const char* name : {"q1_FakeQuantize", "q2_FakeQuantize"})
        ASSERT_NE(plan->nodeFlags(nodeNamed(model, name)), nullptr) << name;
    EXPECT_NE(param(*plan, "q2_s")->grad.at(0), 0.0);
    for (const char* n : {"q1_FakeQuantize", "q2_FakeQuantize"})
        plan->nodeFlags(nodeNamed(model, n))->knobs["enabled"] = 0.0;
    auto lOff = plan->forwardBackward(x, y);
    ASSERT_TRUE(lOff);
    EXPECT_NE(*lOff, *lOn);
    EXPECT_EQ(*lOff, *lPlain) << "disabled: exactly the model without FakeQuantize";
    EXPECT_EQ(param(*plan, "q2_s")->grad.toFloats(), std::vector<float>(16, 0.0f));
    EXPECT_EQ(param(*plan, "w1")->grad.toFloats(), param(*plain, "w1")->grad.toFloats());
    plan->nodeFlags(nodeNamed(model, "q1_FakeQuantize"))->knobs["enabled"] = 1.0;
    auto lHalf = plan->forwardBackward(x, y);
    ASSERT_TRUE(lHalf);
    EXPECT_NE(*lHalf, *lOff);
    EXPECT_NE(*lHalf, *lOn);
    // evaluate() always quantizes.
    auto e = plan->evaluate(x);
    ASSERT_TRUE(e) << e.error().message();
}

// ---- Channel-blocked layouts ---------------------------------------------------------------

TEST(FakeQuantize, BlockedKernelsMatchPlainOnes) {
    // [2, 32, 3, 3] per channel along each axis and per tensor, with zero points, LSQ on.
    const Dims dims = {2, 32, 3, 3};
    Rng rng(3);
    HostTensor x(ir::DType::kFloat, dims), dy(ir::DType::kFloat, dims);
    for (float& v : x.span<float>()) v = static_cast<float>(rng.normal());
    for (float& v : dy.span<float>()) v = static_cast<float>(rng.normal());
    HostTensor xb, dyb;
    ASSERT_TRUE(toChannelBlocks(x, xb).isOk());
    ASSERT_TRUE(toChannelBlocks(dy, dyb).isOk());
    for (int64_t axis : {-1, 0, 1, 2, 3}) {
        SCOPED_TRACE("axis " + std::to_string(axis));
        const int64_t c = axis < 0 ? 1 : dims[static_cast<std::size_t>(axis)];
        HostTensor s(ir::DType::kFloat, {c}), z(ir::DType::kFloat, {c});
        for (int64_t k = 0; k < c; ++k) {
            s.data<float>()[k] = 0.01f + 0.005f * static_cast<float>(k % 7);
            z.data<float>()[k] = static_cast<float>(k % 5) - 2.0f;
        }
        FqOp op({attr("axis", axis < 0 ? 1 : axis), attr("learned", 1), attr("num_bits", 5)}, true);
        auto plain = op.train(x, s, &z, dy);
        auto blocked = op.train(xb, s, &z, dyb, true);
        ASSERT_TRUE(plain) << plain.error().message();
        ASSERT_TRUE(blocked) << blocked.error().message();
        HostTensor y, dx;
        ASSERT_TRUE(fromChannelBlocks(blocked->y, y).isOk());
        ASSERT_TRUE(fromChannelBlocks(blocked->dx, dx).isOk());
        EXPECT_EQ(y.toFloats(), plain->y.toFloats());
        EXPECT_EQ(dx.toFloats(), plain->dx.toFloats());
        // Sums in another order: equal up to rounding.
        for (int64_t k = 0; k < c; ++k) {
            EXPECT_NEAR(blocked->ds.at(k), plain->ds.at(k), 1e-6) << "channel " << k;
            EXPECT_NEAR(blocked->dz.at(k), plain->dz.at(k), 1e-6) << "channel " << k;
        }
    }
}

TEST(FakeQuantize, KeepsBlockedLayoutsBetweenConvAndBatchNormalization) {
    const ir::Model model = fqModel(true, true);
    TrainingOptions fastOpt;
    fastOpt.threads = 2;
    TrainingOptions refOpt = fastOpt;
    refOpt.backends = refOpt.gradBackends = {Backend::kReference};
    auto fast = TrainingPlan::compile(model, fastOpt);
    auto ref = TrainingPlan::compile(model, refOpt);
    ASSERT_TRUE(fast) << fast.error().message();
    ASSERT_TRUE(ref) << ref.error().message();
    const std::string d = fast->describe();
    // Per tensor (q1, a learned one-element scale) and per channel along axis 1 (q2, learned
    // scale and zero point): nChw16c in and out, no conversion.
    EXPECT_NE(d.find("'q1_FakeQuantize' (FakeQuantize): ([-1,16,8,8] nChw16c, param)"
                     " -> ([-1,16,8,8] nChw16c)"),
              std::string::npos)
        << d;
    EXPECT_NE(d.find("'q2_FakeQuantize' (FakeQuantize): ([-1,16,8,8] nChw16c, param, param)"
                     " -> ([-1,16,8,8] nChw16c)"),
              std::string::npos)
        << d;
    EXPECT_EQ(d.find("to plain order: node 'c1_Conv'"), std::string::npos) << d;
    EXPECT_EQ(d.find("to plain order: node 'c2_Conv'"), std::string::npos) << d;
    EXPECT_EQ(d.find("to plain order: node 'q1_FakeQuantize'"), std::string::npos) << d;
    EXPECT_EQ(d.find("to plain order: node 'q2_FakeQuantize'"), std::string::npos) << d;

    // Blocked and reference plans train alike (scales and zero points learned).
    const HostTensor x = randomImages(12, 3);
    const HostTensor y = labelsFor(12, 4);
    double first = 0, last = 0;
    for (int step = 0; step < 8; ++step) {
        auto lf = fast->forwardBackward(x, y);
        auto lr = ref->forwardBackward(x, y);
        ASSERT_TRUE(lf) << lf.error().message();
        ASSERT_TRUE(lr) << lr.error().message();
        EXPECT_NEAR(*lf, *lr, 1e-4 * std::max(1.0, std::abs(*lr))) << "step " << step;
        if (step == 0) first = *lf;
        last = *lf;
        for (std::size_t i = 0; i < ref->parameters().size(); ++i) {
            const Parameter& pf = fast->parameters()[i];
            const Parameter& pr = ref->parameters()[i];
            ASSERT_EQ(pf.name, pr.name);
            double diff2 = 0, ref2 = 0;
            for (int64_t e = 0; e < pr.grad.numElements(); ++e) {
                const double a = pf.grad.at(e), b = pr.grad.at(e);
                diff2 += (a - b) * (a - b);
                ref2 += b * b;
            }
            // A rounding flipped by the Conv's different summation order moves one element by a
            // quantum: compare norm-wise.
            EXPECT_LE(std::sqrt(diff2), 2e-3 * std::sqrt(ref2) + 1e-6)
                << pr.name << " step " << step;
        }
        for (std::size_t i = 0; i < ref->parameters().size(); ++i)
            for (Parameter* p : {&fast->parameters()[i], &ref->parameters()[i]})
                for (int64_t e = 0; e < p->value.numElements(); ++e)
                    p->value.data<float>()[e] -= 0.05f * p->grad.data<float>()[e];
    }
    EXPECT_LT(last, first) << "first " << first << " last " << last;
    EXPECT_NE(param(*fast, "q2_s")->value.at(3), 0.04f) << "the scales were learned";
}

TEST(FakeQuantize, ObserverMatchesInBlockedAndPlainOrder) {
    // observe = 1 on [2, 32, 3, 3], per channel along each axis and per tensor, asymmetric:
    // the blocked forward observes the same ranges (so quantizes alike) as the plain one, and
    // both equal quantization with fakeQuantParamsFromRange of each channel's min / max.
    const Dims dims = {2, 32, 3, 3};
    Rng rng(5);
    HostTensor x(ir::DType::kFloat, dims), dy(ir::DType::kFloat, dims);
    for (float& v : x.span<float>()) v = static_cast<float>(rng.normal()) + 0.3f;
    for (float& v : dy.span<float>()) v = static_cast<float>(rng.normal());
    HostTensor xb, dyb;
    ASSERT_TRUE(toChannelBlocks(x, xb).isOk());
    ASSERT_TRUE(toChannelBlocks(dy, dyb).isOk());
    for (int64_t axis : {-1, 0, 1, 2, 3}) {
        SCOPED_TRACE("axis " + std::to_string(axis));
        const int64_t c = axis < 0 ? 1 : dims[static_cast<std::size_t>(axis)];
        HostTensor s(ir::DType::kFloat, {c}), z(ir::DType::kFloat, {c});
        for (int64_t k = 0; k < c; ++k) {
            s.data<float>()[k] = 1.0f;
            z.data<float>()[k] = 0.0f;
        }
        FqOp op({attr("axis", axis < 0 ? 1 : axis), attr("observe", 1)}, true);
        auto plain = op.train(x, s, &z, dy);
        auto blocked = op.train(xb, s, &z, dyb, true);
        ASSERT_TRUE(plain) << plain.error().message();
        ASSERT_TRUE(blocked) << blocked.error().message();
        EXPECT_EQ(blocked->newScale.toFloats(), plain->newScale.toFloats());
        EXPECT_EQ(blocked->newZeroPoint.toFloats(), plain->newZeroPoint.toFloats());
        HostTensor y, dx;
        ASSERT_TRUE(fromChannelBlocks(blocked->y, y).isOk());
        ASSERT_TRUE(fromChannelBlocks(blocked->dx, dx).isOk());
        EXPECT_EQ(y.toFloats(), plain->y.toFloats());
        EXPECT_EQ(dx.toFloats(), plain->dx.toFloats());
        // The oracle: ranges per channel, nudged, quantized.
        int64_t inner = 1;
        for (int d = static_cast<int>(axis) + 1; axis >= 0 && d < 4; ++d)
            inner *= dims[static_cast<std::size_t>(d)];
        std::vector<float> lo(static_cast<std::size_t>(c), 1e30f), hi(lo.size(), -1e30f);
        for (int64_t i = 0; i < x.numElements(); ++i) {
            const auto k = static_cast<std::size_t>(axis < 0 ? 0 : (i / inner) % c);
            lo[k] = std::min(lo[k], x.data<float>()[i]);
            hi[k] = std::max(hi[k], x.data<float>()[i]);
        }
        for (int64_t i = 0; i < x.numElements(); ++i) {
            const auto k = static_cast<std::size_t>(axis < 0 ? 0 : (i / inner) % c);
            const auto [sk, zk] = fakeQuantParamsFromRange(lo[k], hi[k], 8, false, false, false);
            ASSERT_EQ(plain->newScale.at(static_cast<int64_t>(k)), sk) << "channel " << k;
            ASSERT_EQ(plain->newZeroPoint.at(static_cast<int64_t>(k)), zk) << "channel " << k;
            const float q =
                std::clamp(std::nearbyint(x.data<float>()[i] / sk) + zk, -128.0f, 127.0f);
            ASSERT_EQ(plain->y.at(i), (q - zk) * sk) << "element " << i;
        }
        // No gradient to the observed scale and zero point.
        EXPECT_EQ(plain->ds.toFloats(), std::vector<float>(static_cast<std::size_t>(c), 0.0f));
    }
}

TEST(FakeQuantize, ObserverInDoublePerTensorSymmetric) {
    // No zero point: symmetric on the signed grid observes z = 0, so none is needed or written.
    FqOp op({attr("observe", 1), attr("symmetric", 1), attr("num_bits", 4)}, false);
    const HostTensor x = doubles({2, 3}, {-0.7, 0.1, 2.6, 1.3, -1.9, 0.0});
    const HostTensor s = doubles({}, {1.0});
    const HostTensor dy = doubles({2, 3}, {1, 1, 1, 1, 1, 1});
    auto t = op.train(x, s, nullptr, dy);
    ASSERT_TRUE(t) << t.error().message();
    const auto [sw, zw] = fakeQuantParamsFromRange(-1.9f, 2.6f, 4, true, false, false);
    ASSERT_EQ(zw, 0.0f);
    ASSERT_EQ(t->newScale.dtype(), ir::DType::kDouble);
    EXPECT_EQ(t->newScale.at(0), static_cast<double>(sw));
    EXPECT_TRUE(t->newZeroPoint.empty());
    const double sd = sw;
    for (int64_t i = 0; i < 6; ++i) {
        const double q = std::clamp(std::nearbyint(x.data<double>()[i] / sd), -8.0, 7.0);
        EXPECT_EQ(t->y.at(i), q * sd) << "element " << i << " of " << str(x);
    }
    // 2.6 / s = 8 rounds past qmax = 7: clamped, so no gradient there.
    EXPECT_EQ(t->dx.at(2), 0.0);
    EXPECT_EQ(t->dx.at(0), 1.0);
}

// ---- The vectorised kernels against a scalar reference -------------------------------------

namespace {

// The header's formulas element by element, as the first (scalar) implementation computed them:
// std::nearbyint, std::clamp, sequential sums; every array in X's memory order, `channelOf`
// giving an element's scale (0 per tensor).
template <class T>
struct Reference {
    std::vector<T> y, dx;
    std::vector<double> ds, dz, absSum;  // absSum: sum of |terms| of ds, for tolerances
    std::vector<T> lo, hi;               // the observer's range, per scale
};

template <class T>
void referenceForward(const std::vector<T>& x, const std::vector<T>& dy, const std::vector<T>& s,
                      const std::vector<T>& z, const std::function<std::size_t(int64_t)>& channelOf,
                      T qmin, T qmax, Reference<T>& r) {
    const std::size_t n = x.size();
    r.y.assign(n, T(0));
    r.dx.assign(n, T(0));
    r.ds.assign(s.size(), 0.0);
    r.dz.assign(s.size(), 0.0);
    r.absSum.assign(s.size(), 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t c = channelOf(static_cast<int64_t>(i));
        const T v = x[i] / s[c];
        const T u = std::nearbyint(v);
        r.y[i] = (std::clamp(u + z[c], qmin, qmax) - z[c]) * s[c];
        const T q = u + z[c];
        const bool below = q < qmin;
        const bool above = q > qmax;
        r.dx[i] = below || above ? T(0) : dy[i];
        const T ds = below ? qmin - z[c] : above ? qmax - z[c] : u - v;
        r.ds[c] += static_cast<double>(dy[i] * ds);
        r.absSum[c] += std::abs(static_cast<double>(dy[i] * ds));
        if (below || above) r.dz[c] -= static_cast<double>(dy[i] * s[c]);
    }
}

template <class T>
void referenceRange(const std::vector<T>& x, std::size_t scales,
                    const std::function<std::size_t(int64_t)>& channelOf, Reference<T>& r) {
    r.lo.assign(scales, std::numeric_limits<T>::infinity());
    r.hi.assign(scales, -std::numeric_limits<T>::infinity());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t c = channelOf(static_cast<int64_t>(i));
        if (x[i] < r.lo[c]) r.lo[c] = x[i];
        if (x[i] > r.hi[c]) r.hi[c] = x[i];
    }
    for (std::size_t c = 0; c < scales; ++c) {
        r.lo[c] = std::min<T>(r.lo[c], T(0));
        r.hi[c] = std::max<T>(r.hi[c], T(0));
    }
}

// Equal bits (so -0 != +0), or both NaN.
template <class T>
bool sameBits(T a, T b) {
    return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <class T>
std::vector<T> values(const HostTensor& t) {
    return std::vector<T>(t.data<T>(), t.data<T>() + t.numElements());
}

template <class T>
HostTensor tensorOf(Dims dims, const std::vector<T>& v) {
    HostTensor t(ir::DType::kDouble, std::move(dims));
    if constexpr (std::is_same_v<T, float>) t = HostTensor(ir::DType::kFloat, t.dims());
    std::copy(v.begin(), v.end(), t.data<T>());
    return t;
}

template <class T>
void expectSameBits(const std::vector<T>& got, const std::vector<T>& want, const char* what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    int64_t bad = 0;
    for (std::size_t i = 0; i < got.size(); ++i)
        if (!sameBits(got[i], want[i]) && bad++ < 5)
            ADD_FAILURE() << what << " element " << i << ": got " << got[i] << ", want " << want[i];
    EXPECT_EQ(bad, 0) << what << ": elements that differ";
}

// X [3, 32, 20, 18] (over the kernels' parallel and work-item thresholds; runs not multiples
// of 16 elements), plain or nChw16c, per tensor or per channel on each axis: forward and
// gradient (STE, LSQ) bit for bit against the reference (the LSQ sums, added up in another
// order, up to rounding), and the observer's ranges, scales and zero points bit for bit.
template <class T>
void checkAgainstReference() {
    const Dims dims = {3, 32, 20, 18};
    const int64_t N = dims[0], C = dims[1], H = dims[2], W = dims[3], S = H * W;
    const int64_t n = N * C * H * W;
    const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
    for (const bool blocked : {false, true})
        for (const int64_t axis : {-1, 0, 1, 2, 3}) {
            SCOPED_TRACE(std::string(blocked ? "blocked" : "plain") + " axis " +
                         std::to_string(axis));
            const auto scales = static_cast<std::size_t>(axis < 0 ? 1 : dims[axis]);
            // The scale of memory offset i (old ChannelMap arithmetic, spelled out).
            const std::function<std::size_t(int64_t)> channelOf = [&](int64_t i) -> std::size_t {
                if (axis < 0) return 0;
                int64_t nn, c, h, w;
                if (blocked) {
                    const int64_t l = i % 16, sp = (i / 16) % S, cb = (i / 16 / S) % (C / 16);
                    nn = i / 16 / S / (C / 16);
                    c = cb * 16 + l;
                    h = sp / W;
                    w = sp % W;
                } else {
                    w = i % W;
                    h = (i / W) % H;
                    c = (i / S) % C;
                    nn = i / S / C;
                }
                const int64_t idx[] = {nn, c, h, w};
                return static_cast<std::size_t>(idx[axis]);
            };
            for (const bool unsignedGrid : {false, true}) {
                SCOPED_TRACE(unsignedGrid ? "uint4 narrow" : "int8");
                const T qmin = unsignedGrid ? 1 : -128, qmax = unsignedGrid ? 15 : 127;
                Rng rng(static_cast<uint64_t>(11 + axis * 2 + (blocked ? 100 : 0)));
                // Scales: powers of two (exact ties below) and others; zero points: integral,
                // fractional (a learned one), one far off the grid (the kernels' libm path).
                std::vector<T> s(scales), z(scales);
                for (std::size_t c = 0; c < scales; ++c) {
                    const T pow2[] = {T(0.0625), T(0.125), T(1), T(0.03125)};
                    s[c] = c % 2 == 0 ? pow2[c / 2 % 4] : T(0.01) + T(0.037) * T(c % 7);
                    z[c] = (unsignedGrid ? T(8) : T(0)) + T(static_cast<int64_t>(c % 5) - 2);
                    if (c % 6 == 3) z[c] += T(0.375);
                }
                if (scales > 2) z[2] = T(3.5e6);
                for (const bool withNaN : {false, true}) {
                    SCOPED_TRACE(withNaN ? "with NaN" : "no NaN");
                    std::vector<T> x(static_cast<std::size_t>(n)), dy(x.size());
                    for (int64_t i = 0; i < n; ++i) {
                        const std::size_t c = channelOf(i);
                        const auto k = static_cast<int64_t>(rng.uniform() * 300) - 150;
                        T v;
                        switch (static_cast<int>(rng.uniform() * 10)) {
                            case 0:  // an exact tie k + 1/2 (for the power-of-two scales)
                                v = (T(k) + T(0.5)) * s[c];
                                break;
                            case 1:  // far outside
                                v = T(k) * T(1e6) * (rng.uniform() < 0.1 ? T(1e20) : T(1));
                                break;
                            case 2: {
                                const T special[] = {
                                    T(0), -T(0), inf, -inf, T(1e-40), T(0x1p22) * s[c], nan};
                                v = special[static_cast<int>(rng.uniform() * (withNaN ? 7 : 6))];
                                break;
                            }
                            default:  // around the grid
                                v = static_cast<T>(rng.normal() * 80.0) * s[c];
                        }
                        x[static_cast<std::size_t>(i)] = v;
                        dy[static_cast<std::size_t>(i)] = static_cast<T>(rng.normal());
                    }
                    Reference<T> want;
                    referenceForward(x, dy, s, z, channelOf, qmin, qmax, want);
                    const IntAttrs attrs = {attr("axis", axis < 0 ? 1 : axis), attr("learned", 1),
                                            attr("unsigned", unsignedGrid ? 1 : 0),
                                            attr("narrow_range", unsignedGrid ? 1 : 0),
                                            attr("num_bits", unsignedGrid ? 4 : 8)};
                    FqOp op(attrs, true);
                    const Dims sd = {static_cast<int64_t>(scales)};
                    const HostTensor xt = tensorOf(dims, x), dyt = tensorOf(dims, dy);
                    const HostTensor st = tensorOf(sd, s), zt = tensorOf(sd, z);
                    auto got = op.train(xt, st, &zt, dyt, blocked);
                    ASSERT_TRUE(got) << got.error().message();
                    expectSameBits(values<T>(got->y), want.y, "y");
                    expectSameBits(values<T>(got->dx), want.dx, "dx");
                    // The inference kernel is the same forward.
                    if (!blocked) {
                        auto y = op.infer(xt, st, &zt);
                        ASSERT_TRUE(y) << y.error().message();
                        expectSameBits(values<T>(*y), want.y, "inference y");
                    }
                    const double g = 1.0 / std::sqrt(static_cast<double>(n / scales) * qmax);
                    const double eps = std::is_same_v<T, float> ? 1e-6 : 1e-12;
                    for (std::size_t c = 0; c < scales; ++c) {
                        const T gs = got->ds.data<T>()[c], gz = got->dz.data<T>()[c];
                        const double ws = g * want.ds[c], wz = g * want.dz[c];
                        if (std::isnan(ws)) {
                            EXPECT_TRUE(std::isnan(gs)) << "ds channel " << c;
                            continue;
                        }
                        const double tol = eps * (g * want.absSum[c] + std::abs(ws) + 1e-30);
                        EXPECT_NEAR(gs, ws, tol) << "ds channel " << c;
                        EXPECT_NEAR(gz, wz, eps * (std::abs(wz) + g * want.absSum[c]) + 1e-30)
                            << "dz channel " << c;
                    }
                }
                // The observer, on finite data (NaNs ignored) with zeros of both signs. A third
                // of the channels (the tensor, per tensor) is never negative, a third never
                // positive, their first zero in memory order being -0 and later ones +0: the
                // range's end is then 0 with the sign of the first zero met.
                std::vector<T> x(static_cast<std::size_t>(n)), dy(x.size());
                std::vector<int64_t> seen(scales, 0);
                for (int64_t i = 0; i < n; ++i) {
                    const std::size_t c = channelOf(i);
                    const int mode = static_cast<int>((c + (axis < 0 ? 1 : 0)) % 3);
                    const double r = rng.uniform();
                    T v = static_cast<T>(rng.normal() * (1.0 + static_cast<double>(c % 4)));
                    if (mode == 1) v = std::abs(v);
                    if (mode == 2) v = -std::abs(v);
                    if (r < 0.1)
                        v = r < 0.05 && mode == 0 ? -T(0) : T(0);
                    else if (r < 0.11)
                        v = nan;
                    else if (r < 0.1101)
                        v = mode == 2 ? T(-1e6) : T(1e6);
                    if (mode != 0 && seen[c]++ == 1) v = -T(0);
                    x[static_cast<std::size_t>(i)] = v;
                    dy[static_cast<std::size_t>(i)] = static_cast<T>(rng.normal());
                }
                Reference<T> want;
                referenceRange(x, scales, channelOf, want);
                std::vector<T> ws(scales), wz(scales);
                for (std::size_t c = 0; c < scales; ++c) {
                    const auto [sc, zc] = fakeQuantParamsFromRange(
                        static_cast<float>(want.lo[c]), static_cast<float>(want.hi[c]),
                        unsignedGrid ? 4 : 8, false, unsignedGrid, unsignedGrid);
                    ws[c] = static_cast<T>(sc);
                    wz[c] = static_cast<T>(zc);
                }
                referenceForward(x, dy, ws, wz, channelOf, qmin, qmax, want);
                const IntAttrs attrs = {attr("axis", axis < 0 ? 1 : axis), attr("observe", 1),
                                        attr("unsigned", unsignedGrid ? 1 : 0),
                                        attr("narrow_range", unsignedGrid ? 1 : 0),
                                        attr("num_bits", unsignedGrid ? 4 : 8)};
                FqOp op(attrs, true, true);
                const Dims sd = {static_cast<int64_t>(scales)};
                const std::vector<T> zeros(scales, T(0)), ones(scales, T(1));
                const HostTensor xt = tensorOf(dims, x), dyt = tensorOf(dims, dy);
                const HostTensor st = tensorOf(sd, ones), zt = tensorOf(sd, zeros);
                auto got = op.train(xt, st, &zt, dyt, blocked, &zt, &zt);
                ASSERT_TRUE(got) << got.error().message();
                expectSameBits(values<T>(got->newRangeMin), want.lo, "range_min");
                expectSameBits(values<T>(got->newRangeMax), want.hi, "range_max");
                expectSameBits(values<T>(got->newScale), ws, "observed scale");
                expectSameBits(values<T>(got->newZeroPoint), wz, "observed zero point");
                expectSameBits(values<T>(got->y), want.y, "observed y");
                expectSameBits(values<T>(got->dx), want.dx, "observed dx");
            }
        }
}

}  // namespace

TEST(FakeQuantize, KernelsMatchTheScalarReferenceInFloat) {
    checkAgainstReference<float>();
}

TEST(FakeQuantize, KernelsMatchTheScalarReferenceInDouble) {
    checkAgainstReference<double>();
}

// ---- Nudging -------------------------------------------------------------------------------

TEST(FakeQuantize, ParamsFromRangeNudgeTheZeroPoint) {
    EXPECT_EQ(fakeQuantGrid(8, false, false), (std::pair<int64_t, int64_t>{-128, 127}));
    EXPECT_EQ(fakeQuantGrid(8, true, false), (std::pair<int64_t, int64_t>{-127, 127}));
    EXPECT_EQ(fakeQuantGrid(4, true, true), (std::pair<int64_t, int64_t>{1, 15}));
    // uint8 [-1, 3]: s = 4 / 255, z = round(0 + 1 / s) = round(63.75) = 64.
    auto [s, z] = fakeQuantParamsFromRange(-1, 3, 8, false, false, true);
    EXPECT_FLOAT_EQ(s, 4.0f / 255);
    EXPECT_EQ(z, 64.0f);
    // The range is widened to contain 0: [0.5, 2] -> [0, 2], z = qmin.
    std::tie(s, z) = fakeQuantParamsFromRange(0.5f, 2, 8, false, false, true);
    EXPECT_FLOAT_EQ(s, 2.0f / 255);
    EXPECT_EQ(z, 0.0f);
    // Signed int8 [-1, 3]: z = round(-128 + 63.75) = -64; a half rounds away from zero: [-1, 1]
    // gives -128 + 127.5 = -0.5 -> -1.
    std::tie(s, z) = fakeQuantParamsFromRange(-1, 3, 8, false, false, false);
    EXPECT_EQ(z, -64.0f);
    std::tie(s, z) = fakeQuantParamsFromRange(-1, 1, 8, false, false, false);
    EXPECT_EQ(z, -1.0f);
    // Symmetric: M = max(|min|, max). Signed: z = 0; narrow int8 gives s = M / 127.
    std::tie(s, z) = fakeQuantParamsFromRange(-0.5f, 2.54f, 8, true, true, false);
    EXPECT_FLOAT_EQ(s, 2.54f / 127);
    EXPECT_EQ(z, 0.0f);
    // Symmetric on an unsigned grid: the middle, as the seed's kernel: 0 + 127.5 -> 128.
    std::tie(s, z) = fakeQuantParamsFromRange(-1, 1, 8, true, false, true);
    EXPECT_FLOAT_EQ(s, 2.0f / 255);
    EXPECT_EQ(z, 128.0f);
    // Clamped to the grid: uint8 narrow with min = 0 -> qmin 1.
    std::tie(s, z) = fakeQuantParamsFromRange(0, 1, 8, false, true, true);
    EXPECT_EQ(z, 1.0f);
    // Empty range: s = 1, 0 on the grid.
    std::tie(s, z) = fakeQuantParamsFromRange(0, 0, 8, false, false, false);
    EXPECT_EQ(s, 1.0f);
    EXPECT_EQ(z, 0.0f);
    // The nudged parameters represent 0 and the range's ends up to one step.
    FqOp op({attr("unsigned", 1)}, true);
    std::tie(s, z) = fakeQuantParamsFromRange(-1, 3, 8, false, false, true);
    const HostTensor zt = HostTensor::scalar(ir::DType::kFloat, z);
    auto y = op.infer(floats({3}, {0, -1, 3}), HostTensor::scalar(ir::DType::kFloat, s), &zt);
    ASSERT_TRUE(y) << y.error().message();
    EXPECT_EQ(y->at(0), 0.0);
    EXPECT_NEAR(y->at(1), -1, s);
    EXPECT_NEAR(y->at(2), 3, s);
}

// ---- Save and reload -----------------------------------------------------------------------

TEST(FakeQuantize, SavedAndReloadedRunsTheSame) {
    const ir::Model model = fqModel(true, true);
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() /
        ("whittle_fq_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         ".onnx");
    ASSERT_TRUE(onnx::saveModel(model, path).isOk());
    auto loaded = onnx::loadModel(path);
    std::filesystem::remove(path);
    ASSERT_TRUE(loaded) << loaded.error().message();
    int fqNodes = 0;
    for (const ir::Node* n : loaded->graph->nodes())
        if (n->opType == kFakeQuantizeOp && n->domain == kWhittleDomain) {
            ++fqNodes;
            EXPECT_EQ(n->attrInt("learned", 0), 1);
        }
    EXPECT_EQ(fqNodes, 2);
    EXPECT_EQ(loaded->opsetVersion(kWhittleDomain), 1);
    PlanOptions opt;
    opt.threads = 2;
    auto a = Plan::compile(model, opt);
    auto b = Plan::compile(*loaded, opt);
    ASSERT_TRUE(a) << a.error().message();
    ASSERT_TRUE(b) << b.error().message();
    const HostTensor x = randomImages(3, 9);
    auto ya = a->run({x});
    auto yb = b->run({x});
    ASSERT_TRUE(ya && yb);
    EXPECT_EQ((*ya)[0].toFloats(), (*yb)[0].toFloats());
    // The quantizer is on in inference: the output differs from the model without it.
    auto c = Plan::compile(fqModel(false, true), opt);
    ASSERT_TRUE(c) << c.error().message();
    auto yc = c->run({x});
    ASSERT_TRUE(yc);
    EXPECT_NE((*ya)[0].toFloats(), (*yc)[0].toFloats());
}
