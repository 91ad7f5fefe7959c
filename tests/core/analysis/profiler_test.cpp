#include "core/analysis/profiler.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/core/train/model_builder.h"

namespace wh::analysis {
namespace {

// x [N,3,16,16] -> Conv(w1) -> BatchNormalization -> Relu -> Conv(DequantizeLinear(int8 w2))
// -> GlobalAveragePool -> Flatten -> y [N,8]
ir::Model smallCnn() {
    testing::ModelBuilder b;
    b.input("x", {3, 16, 16});
    b.conv3x3("x", "w1", 3, 8, "c1");
    b.batchNorm("c1", "bn", 8, "b1");
    b.node("Relu", {"b1"}, {"r1"});
    // An int8 weight [8,8,3,3] with a per-tensor scale, dequantized (folded at compile time).
    ir::Tensor codes;
    codes.name = "w2_q";
    codes.dtype = ir::DType::kInt8;
    codes.dims = {8, 8, 3, 3};
    std::vector<int8_t> q(8 * 8 * 9);
    for (std::size_t i = 0; i < q.size(); ++i) q[i] = static_cast<int8_t>(static_cast<int>(i % 7) - 3);
    codes.data = std::make_shared<const ir::Buffer>(q.data(), q.size());
    ir::Model& m = b.model();
    m.graph->setInitializer(*m.graph->addValue("w2_q"), std::move(codes));
    m.graph->setInitializer(*m.graph->addValue("w2_s"), ir::Tensor::fromFloats("w2_s", {}, {0.05f}));
    b.node("DequantizeLinear", {"w2_q", "w2_s"}, {"w2"});
    b.node("Conv", {"r1", "w2"}, {"c2"})
        ->attributes()
        .push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    b.node("GlobalAveragePool", {"c2"}, {"p"});
    b.node("Flatten", {"p"}, {"y"})->attributes().push_back(ir::Attribute::makeInt("axis", 1));
    b.output("y", {8});
    return b.take();
}

const NodeProfile& nodeOf(const Profile& p, const std::string& op, int k = 0) {
    for (const NodeProfile& n : p.nodes)
        if (n.op == op && k-- == 0) return n;
    ADD_FAILURE() << "no " << op;
    static NodeProfile none;
    return none;
}

TEST(Profiler, EveryNodeWithItsTimeCostBytesAndPrecision) {
    const ir::Model model = smallCnn();
    ProfileOptions o;
    o.batch = 2;
    o.runs = 5;
    o.warmup = 1;
    o.threads = 1;
    jobs::JobContext job;
    Expected<Profile> r = profileModel(model, o, &job);
    ASSERT_TRUE(r) << r.error().message();
    const Profile& p = *r;
    EXPECT_EQ(p.batch, 2);
    EXPECT_EQ(p.runs, 5);
    EXPECT_DOUBLE_EQ(job.fraction(), 1.0);

    // Every node, in graph order.
    std::size_t i = 0;
    for (const ir::Node* n : model.graph->nodes()) {
        ASSERT_LT(i, p.nodes.size());
        EXPECT_EQ(p.nodes[i].name, n->name);
        EXPECT_EQ(p.nodes[i].op, n->opType);
        ++i;
    }
    EXPECT_EQ(i, p.nodes.size());

    // The first Conv runs a step; BatchNormalization and Relu are fused into it (no time).
    const NodeProfile& c1 = nodeOf(p, "Conv", 0);
    EXPECT_GE(c1.steps, 1);
    EXPECT_GT(c1.ms, 0.0);
    EXPECT_FALSE(c1.fusedInto.has_value());
    EXPECT_EQ(c1.precision, "fp32");
    for (const char* op : {"BatchNormalization", "Relu"}) {
        const NodeProfile& f = nodeOf(p, op);
        EXPECT_EQ(f.steps, 0) << op;
        EXPECT_EQ(f.ms, 0.0) << op;
        ASSERT_TRUE(f.fusedInto.has_value()) << op;
        EXPECT_EQ(*f.fusedInto, c1.node) << op;
        EXPECT_EQ(f.fusedIntoName, c1.name) << op;
        EXPECT_EQ(f.precision, "fp32") << op;  // its root's
    }

    // The weight's DequantizeLinear is computed at compile time; its bytes are its own.
    const NodeProfile& dq = nodeOf(p, "DequantizeLinear");
    EXPECT_EQ(dq.precision, "folded");
    EXPECT_EQ(dq.steps, 0);
    EXPECT_EQ(dq.weightBytes.at("int8"), 8 * 8 * 9);
    EXPECT_EQ(dq.weightBytes.at("float"), 4);
    const NodeProfile& c2 = nodeOf(p, "Conv", 1);
    EXPECT_TRUE(c2.weightBytes.empty());  // it reads the dequantized value, not an initializer

    // Cost: 2 FLOPs per multiply-add; parameters of the float weight; output bytes at batch 2.
    EXPECT_EQ(c1.flops, 2LL * 2 * 8 * 16 * 16 * 3 * 3 * 3);
    EXPECT_EQ(c1.params, 8 * 3 * 3 * 3);
    EXPECT_EQ(c1.weightBytes.at("float"), 8 * 3 * 3 * 3 * 4);
    EXPECT_EQ(c1.activationBytes, 2LL * 8 * 16 * 16 * 4);
    EXPECT_EQ(nodeOf(p, "Flatten").activationBytes, 2LL * 8 * 4);
    int64_t flops = 0;
    for (const NodeProfile& n : p.nodes) flops += n.flops;
    EXPECT_EQ(flops, p.flops);

    // The node times and the conversions make the steps' time, which the runs contain.
    double sum = p.conversionMs;
    for (const NodeProfile& n : p.nodes) sum += n.ms;
    EXPECT_NEAR(sum, p.stepMs, 1e-9);
    EXPECT_GT(p.stepMs, 0.0);
    EXPECT_LE(p.stepMs, p.wallMs);
}

TEST(Profiler, RefusesBadOptionsAndStopsWhenCancelled) {
    const ir::Model model = smallCnn();
    ProfileOptions o;
    o.runs = 0;
    Expected<Profile> bad = profileModel(model, o);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), StatusCode::kUsage);

    o.runs = 3;
    o.inputShapes["nope"] = {1, 3, 16, 16};
    Expected<Profile> unknown = profileModel(model, o);
    ASSERT_FALSE(unknown);
    EXPECT_NE(unknown.error().message().find("nope"), std::string::npos);

    o.inputShapes.clear();
    jobs::JobContext job;
    job.requestCancel();
    Expected<Profile> cancelled = profileModel(model, o, &job);
    ASSERT_FALSE(cancelled);
    EXPECT_EQ(cancelled.error().code(), StatusCode::kCancelled);
}

}  // namespace
}  // namespace wh::analysis
