// Channel-blocked training (core/engine/channel_blocks.h, TrainingPlan::chooseChannelBlocks):
// the nChw16c conversions themselves, and a plan whose tensors mix blocked and plain order —
// blocked readers and plain ones (a pool, a Concat, an Add with a plain operand, the graph
// output), Relus fused into BatchNormalization and into an Add, an unfused blocked Relu,
// residual Adds that pass their gradient on (one reading the same tensor twice), a Sub — against
// the plain reference plan: the same loss, gradients and running statistics step after step, and
// the same evaluate().

#include <gtest/gtest.h>

#include <cmath>

#include "core/engine/channel_blocks.h"
#include "core/engine/training_plan.h"
#include "core/util/rng.h"
#include "tests/core/train/model_builder.h"

using namespace wh;
using namespace wh::engine;

namespace {

HostTensor random(const Dims& dims, uint64_t seed) {
    Rng rng(seed);
    HostTensor t(ir::DType::kFloat, dims);
    for (float& x : t.span<float>()) x = static_cast<float>(rng.normal());
    return t;
}

}  // namespace

TEST(ChannelBlocks, ConversionsPlaceEveryElementAndRoundTrip) {
    const HostTensor x = random({3, 32, 5, 7}, 1);
    HostTensor b, back;
    ASSERT_TRUE(toChannelBlocks(x, b).isOk());
    ASSERT_EQ(b.dims(), x.dims());
    const int64_t C = 32, S = 35;
    for (int64_t n = 0; n < 3; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t s = 0; s < S; ++s)
                ASSERT_EQ(b.data<float>()[blockedOffset(n, c, s, C, S)],
                          x.data<float>()[(n * C + c) * S + s])
                    << n << " " << c << " " << s;
    ASSERT_TRUE(fromChannelBlocks(b, back).isOk());
    EXPECT_EQ(0, std::memcmp(back.raw(), x.raw(), x.byteSize()));
    EXPECT_TRUE(channelBlockable({1, 16, 1, 1}));
    EXPECT_FALSE(channelBlockable({1, 24, 4, 4}));
    EXPECT_FALSE(channelBlockable({1, 16, 4}));
    HostTensor bad = random({2, 8, 3, 3}, 2);
    EXPECT_FALSE(toChannelBlocks(bad, b).isOk());
}

namespace {

ir::Model mixedOrderModel() {
    wh::testing::ModelBuilder b(13, 7);
    b.input("x", {3, 8, 8});
    auto conv = [&](const std::string& in, const std::string& w, int64_t cin, int64_t cout,
                    const std::string& out, bool bias) {
        b.weight(w, {cout, cin, 3, 3}, cin * 9);
        if (bias) b.weight(w + "_b", {cout}, cin * 9);
        b.node("Conv", {in, w, bias ? w + "_b" : ""}, {out})
            ->attributes()
            .push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    };
    auto bn = [&](const std::string& in, const std::string& p, int64_t c, const std::string& out) {
        b.weight(p + "_s", {c}, 0, 1.0f);
        b.weight(p + "_b", {c}, 0, 0.1f);
        b.weight(p + "_m", {c}, 0, 0.0f);
        b.weight(p + "_v", {c}, 0, 1.0f);
        b.node("BatchNormalization", {in, p + "_s", p + "_b", p + "_m", p + "_v"}, {out});
    };
    conv("x", "w1", 3, 16, "c1", false);  // plain in, blocked out
    bn("c1", "bn1", 16, "n1");
    b.node("Relu", {"n1"}, {"r1"});         // fused into bn1
    conv("r1", "w2", 16, 16, "c2", false);  // blocked in and out
    bn("c2", "bn2", 16, "n2");
    b.node("Add", {"n2", "r1"}, {"a1"});   // residual, blocked
    b.node("Relu", {"a1"}, {"r2"});        // fused into the Add
    conv("r2", "w3", 16, 8, "c3", false);  // blocked in, 8 channels: plain out
    b.node("Concat", {"c3", "c3"}, {"cat"})
        ->attributes()
        .push_back(ir::Attribute::makeInt("axis", 1));  // plain, 16 channels
    b.node("Add", {"r2", "cat"}, {"mixed"});            // a plain operand: r2 converted
    conv("r2", "w5", 16, 16, "c5", true);               // blocked, with a bias (no BN after it)
    b.node("Add", {"c5", "c5"}, {"twice"});             // both inputs the same blocked tensor
    b.node("Relu", {"c5"}, {"r3"});                     // not fused (a Conv computes c5), blocked
    b.node("Add", {"twice", "r3"}, {"t2"});             // passes its gradient on
    b.node("Sub", {"t2", "mixed"}, {"d"});
    conv("d", "w4", 16, 16, "c4", false);  // plain in and (only a pool reads it) out
    ir::Node* pool = b.node("MaxPool", {"c4"}, {"p"});
    pool->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {2, 2}));
    pool->attributes().push_back(ir::Attribute::makeInts("strides", {2, 2}));
    b.node("GlobalAveragePool", {"r2"}, {"g"});  // another plain reader of r2
    b.node("Flatten", {"p"}, {"f"});
    b.node("Flatten", {"g"}, {"fg"});
    b.node("Concat", {"f", "fg"}, {"feat"})
        ->attributes()
        .push_back(ir::Attribute::makeInt("axis", 1));
    b.weight("wf", {5, 16 * 16 + 16}, 16 * 16 + 16);
    b.weight("bf", {5}, 16 * 16 + 16);
    b.node("Gemm", {"feat", "wf", "bf"}, {"logits"})
        ->attributes()
        .push_back(ir::Attribute::makeInt("transB", 1));
    b.output("logits", {5});
    return b.take();
}

double relDiff(const HostTensor& a, const HostTensor& b) {
    double d = 0, n = 0;
    for (int64_t i = 0; i < b.numElements(); ++i) {
        d += (a.at(i) - b.at(i)) * (a.at(i) - b.at(i));
        n += b.at(i) * b.at(i);
    }
    return std::sqrt(d) / std::max(1e-12, std::sqrt(n));
}

}  // namespace

TEST(ChannelBlockedTraining, MixedOrdersMatchThePlainReferencePlan) {
    const ir::Model model = mixedOrderModel();
    TrainingOptions fastOpt;
    fastOpt.threads = 2;
    TrainingOptions refOpt = fastOpt;
    refOpt.gradBackends = {Backend::kReference};
    auto fast = TrainingPlan::compile(model, fastOpt);
    auto ref = TrainingPlan::compile(model, refOpt);
    ASSERT_TRUE(fast) << fast.error().message();
    ASSERT_TRUE(ref) << ref.error().message();

    // What the plan chose (the comparison below would pass vacuously with plain order).
    const std::string d = fast->describe();
    for (const char* line :
         {"'c1_Conv' (Conv): ([-1,3,8,8], param, -) -> ([-1,16,8,8] nChw16c)",
          "(BatchNormalization) + Relu: ([-1,16,8,8] nChw16c, param, param, state, state) -> "
          "([-1,16,8,8] nChw16c)",
          "'c2_Conv' (Conv): ([-1,16,8,8] nChw16c, param, -) -> ([-1,16,8,8] nChw16c)",
          "'a1_Add' (Add) + Relu: ([-1,16,8,8] nChw16c, [-1,16,8,8] nChw16c) -> ([-1,16,8,8] "
          "nChw16c)",
          "to plain order: node 'a1_Add' (Add) + Relu output to plain order: ([-1,16,8,8] "
          "nChw16c) -> ([-1,16,8,8])",
          "'r3_Relu' (Relu): ([-1,16,8,8] nChw16c) -> ([-1,16,8,8] nChw16c)",
          "'t2_Add' (Add): ([-1,16,8,8] nChw16c, [-1,16,8,8] nChw16c) -> ([-1,16,8,8] nChw16c)",
          "'c3_Conv' (Conv): ([-1,16,8,8] nChw16c, param, -) -> ([-1,8,8,8])",
          "'mixed_Add' (Add): ([-1,16,8,8], [-1,16,8,8]) -> ([-1,16,8,8])",
          "'c5_Conv' (Conv): ([-1,16,8,8] nChw16c, param, param) -> ([-1,16,8,8] nChw16c)",
          "'twice_Add' (Add): ([-1,16,8,8] nChw16c, [-1,16,8,8] nChw16c) -> ([-1,16,8,8] "
          "nChw16c)",
          "to plain order: node 't2_Add' (Add) output to plain order",
          "'c4_Conv' (Conv): ([-1,16,8,8], param, -) -> ([-1,16,8,8])",
          "'g_GlobalAveragePool' (GlobalAveragePool): ([-1,16,8,8]) -> ([-1,16,1,1])"})
        EXPECT_NE(d.find(line), std::string::npos) << line << "\n" << d;
    EXPECT_EQ(d.find("'r1_Relu'"), std::string::npos) << "fused into bn1\n" << d;
    EXPECT_EQ(d.find("'r2_Relu'"), std::string::npos) << "fused into a1\n" << d;
    auto refDescription = ref->describe();
    EXPECT_EQ(refDescription.find("nChw16c"), std::string::npos) << refDescription;

    Rng rng(5);
    for (int step = 0; step < 3; ++step) {
        const int64_t n = step == 2 ? 6 : 12;  // a new batch size too
        const HostTensor x = random({n, 3, 8, 8}, 30 + static_cast<uint64_t>(step));
        std::vector<int64_t> labels(static_cast<std::size_t>(n));
        for (int64_t& l : labels) l = static_cast<int64_t>(rng.uniform() * 5) % 5;
        const HostTensor y = HostTensor::fromInt64s({n}, labels);
        auto lf = fast->forwardBackward(x, y);
        auto lr = ref->forwardBackward(x, y);
        ASSERT_TRUE(lf) << lf.error().message();
        ASSERT_TRUE(lr) << lr.error().message();
        EXPECT_NEAR(*lf, *lr, 1e-5 * std::max(1.0, std::abs(*lr))) << "step " << step;
        for (std::size_t i = 0; i < ref->parameters().size(); ++i) {
            const Parameter& pf = fast->parameters()[i];
            const Parameter& pr = ref->parameters()[i];
            // No convolution bias feeds a BatchNormalization (its gradient would be rounding
            // noise), so every gradient is well away from zero and per tensor is fine.
            EXPECT_LT(relDiff(pf.grad, pr.grad), 1e-4) << pf.name << " step " << step;
        }
        for (std::size_t i = 0; i < ref->state().size(); ++i)
            EXPECT_LT(relDiff(fast->state()[i].second, ref->state()[i].second), 1e-5)
                << ref->state()[i].first << " step " << step;
        // A plain SGD step on both, so later steps see different weights.
        for (std::size_t i = 0; i < ref->parameters().size(); ++i)
            for (Parameter* p : {&fast->parameters()[i], &ref->parameters()[i]})
                for (int64_t e = 0; e < p->value.numElements(); ++e)
                    p->value.data<float>()[e] -= 0.05f * p->grad.data<float>()[e];
    }
    const HostTensor x = random({4, 3, 8, 8}, 99);
    auto of = fast->evaluate(x);
    auto orf = ref->evaluate(x);
    ASSERT_TRUE(of) << of.error().message();
    ASSERT_TRUE(orf) << orf.error().message();
    EXPECT_LT(relDiff(of->at(0), orf->at(0)), 1e-5);
    // Training again after an evaluation (BN back on batch statistics).
    auto again = fast->forwardBackward(x, HostTensor::fromInt64s({4}, {0, 1, 2, 3}));
    auto againRef = ref->forwardBackward(x, HostTensor::fromInt64s({4}, {0, 1, 2, 3}));
    ASSERT_TRUE(again && againRef);
    EXPECT_NEAR(*again, *againRef, 1e-5 * std::max(1.0, std::abs(*againRef)));
}
