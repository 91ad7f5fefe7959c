// engine::writeBack(plan, rewriter): trained weights stored through the Rewriter give the same
// model as TrainingPlan::writeBack(ir::Model&), as one undoable step; errors name the tensor and
// change nothing.

#include <gtest/gtest.h>

#include "core/engine/write_back.h"
#include "core/onnx/model_io.h"
#include "core/train/optimizer.h"
#include "model_builder.h"

using namespace wh;
using namespace wh::engine;
using wh::testing::ModelBuilder;

namespace {

// x[N,1,4,4] → Conv(3x3, pad 1) → BN → Relu → Flatten → Gemm(W2 as a Constant node, transB)
// → logits [N,3].
ir::Model tinyCnn() {
    ModelBuilder b(13, 5);
    b.input("x", {1, 4, 4});
    b.weight("W1", {2, 1, 3, 3}, 9);
    b.weight("B1", {2}, 9);
    b.weight("bn_scale", {2}, 0, 1.0f);
    b.weight("bn_bias", {2}, 0, 0.1f);
    b.weight("bn_mean", {2}, 0, 0.0f);
    b.weight("bn_var", {2}, 0, 1.0f);
    b.constantWeight("W2", {3, 32}, 32);
    b.weight("B2", {3}, 32);
    b.node("Conv", {"x", "W1", "B1"}, {"c"})
        ->attributes()
        .push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    b.node("BatchNormalization", {"c", "bn_scale", "bn_bias", "bn_mean", "bn_var"}, {"bn"});
    b.node("Relu", {"bn"}, {"r"});
    b.node("Flatten", {"r"}, {"f"});
    b.node("Gemm", {"f", "W2", "B2"}, {"logits"})
        ->attributes()
        .push_back(ir::Attribute::makeInt("transB", 1));
    b.output("logits", {3});
    return b.take();
}

std::string serialized(const ir::Model& model) {
    Expected<std::string> bytes = onnx::serializeModel(model);
    return bytes ? *bytes : "error: " + bytes.error().message();
}

// A plan trained for a few SGD steps on fixed data.
TrainingPlan trained(const ir::Model& model) {
    auto plan = TrainingPlan::compile(model);
    EXPECT_TRUE(plan) << plan.error().message();
    HostTensor x(ir::DType::kFloat, {4, 1, 4, 4});
    Rng rng(7);
    for (float& v : x.span<float>()) v = static_cast<float>(rng.normal());
    const HostTensor labels = HostTensor::fromInt64s({4}, {0, 1, 2, 1});
    train::Sgd sgd({0.9, 0, false, 0});
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(plan->forwardBackward(x, labels));
        EXPECT_TRUE(sgd.step(plan->parameters(), 0.1).isOk());
    }
    return std::move(*plan);
}

const ir::Tensor* weightOf(const ir::Graph& g, const std::string& name) {
    const ir::Value* v = g.findValue(name);
    if (!v) return nullptr;
    if (v->hasInitializer()) return v->initializer();
    return v->producer() ? &*v->producer()->attribute("value")->t : nullptr;
}

TEST(WriteBack, StoresParametersAndStateAsOneUndoableStep) {
    ir::Model model = tinyCnn();
    const std::string original = serialized(model);
    TrainingPlan plan = trained(model);

    struct Events : rewrite::Listener {
        std::vector<std::string> initializers;
        int nodesChanged = 0;
        void initializerChanged(const std::string& name) override { initializers.push_back(name); }
        void nodeChanged(ir::NodeId) override { ++nodesChanged; }
    } events;
    rewrite::Rewriter rewriter(*model.graph);
    rewriter.addListener(&events);
    ASSERT_TRUE(writeBack(plan, rewriter).isOk());

    // One step; every parameter and the BN running statistics are the plan's, bit for bit.
    ASSERT_EQ(rewriter.log().size(), 1u);
    EXPECT_EQ(rewriter.log().steps()[0].description, kWriteBackLabel);
    ASSERT_NE(plan.parameter("W2"), nullptr);  // the Constant's weight is trained too
    for (const Parameter& p : plan.parameters()) {
        const ir::Tensor* t = weightOf(*model.graph, p.name);
        ASSERT_TRUE(t) << p.name;
        EXPECT_EQ(t->dtype, ir::DType::kFloat) << p.name;
        ASSERT_EQ(t->byteSize(), p.value.byteSize()) << p.name;
        EXPECT_EQ(std::memcmp(t->data->data(), p.value.raw(), t->byteSize()), 0) << p.name;
    }
    ASSERT_EQ(plan.state().size(), 2u);
    for (const auto& [name, value] : plan.state())
        EXPECT_EQ(
            std::memcmp(weightOf(*model.graph, name)->data->data(), value.raw(), value.byteSize()),
            0)
            << name;
    // The Constant was edited as a node, the rest as initializers; a tensor whose bytes did not
    // change is no edit (B1, a Conv bias before BN, gets a zero gradient here).
    ir::Model fresh = tinyCnn();
    std::vector<std::string> changed;
    auto differs = [&](const std::string& name, const HostTensor& value) {
        const ir::Tensor* t = weightOf(*fresh.graph, name);
        return std::memcmp(t->data->data(), value.raw(), value.byteSize()) != 0;
    };
    for (const Parameter& p : plan.parameters())
        if (p.name != "W2" && differs(p.name, p.value)) changed.push_back(p.name);
    for (const auto& [name, value] : plan.state())
        if (differs(name, value)) changed.push_back(name);
    EXPECT_EQ(events.nodesChanged, 1);
    EXPECT_EQ(events.initializers, changed);
    EXPECT_GE(changed.size(), 5u);
    EXPECT_EQ(changed.front(), "W1");

    // TrainingPlan::writeBack(ir::Model&) takes the same path, through a Rewriter of its own.
    ir::Model direct = tinyCnn();
    ASSERT_TRUE(plan.writeBack(direct).isOk());
    EXPECT_TRUE(serialized(direct) == serialized(model));

    // Undo restores the original bytes, redo the trained ones.
    const std::string written = serialized(model);
    EXPECT_NE(written, original);
    ASSERT_TRUE(rewriter.undo().isOk());
    EXPECT_TRUE(serialized(model) == original);
    ASSERT_TRUE(rewriter.redo().isOk());
    EXPECT_TRUE(serialized(model) == written);
}

TEST(WriteBack, ConvertsToDoubleInitializers) {
    ir::Model model = tinyCnn();
    TrainingPlan plan = trained(model);
    // The same graph with B2 stored as double: the trained floats are converted.
    ir::Value* b2 = model.graph->findValue("B2");
    ir::Tensor d = *b2->initializer();
    d.dtype = ir::DType::kDouble;
    std::vector<double> zeros(3, 0.0);
    d.data = std::make_shared<const ir::Buffer>(zeros.data(), zeros.size() * sizeof(double));
    model.graph->setInitializer(b2, d);
    rewrite::Rewriter rewriter(*model.graph);
    ASSERT_TRUE(writeBack(plan, rewriter).isOk());
    const ir::Tensor& t = *b2->initializer();
    ASSERT_EQ(t.dtype, ir::DType::kDouble);
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(t.values<double>()[i], plan.parameter("B2")->value.data<float>()[i]);
}

TEST(WriteBack, DimsMismatchNamesTheTensorAndChangesNothing) {
    ir::Model model = tinyCnn();
    TrainingPlan plan = trained(model);
    // The model changed since the plan was compiled: B1 has 4 elements now.
    model.graph->setInitializer(model.graph->findValue("B1"),
                                ir::Tensor::fromFloats("B1", {4}, {1, 2, 3, 4}));
    const std::string before = serialized(model);
    rewrite::Rewriter rewriter(*model.graph);
    Status s = writeBack(plan, rewriter);
    ASSERT_FALSE(s.isOk());
    EXPECT_EQ(s.code(), StatusCode::kBadInput);
    EXPECT_NE(s.message().find("tensor 'B1' is float[4], the trained one float[2]"),
              std::string::npos)
        << s.message();
    // W1 was written before B1 failed: the cancelled group put it back.
    EXPECT_TRUE(serialized(model) == before);
    EXPECT_EQ(rewriter.log().size(), 0u);
}

TEST(WriteBack, MissingTensorIsNamed) {
    ir::Model model = tinyCnn();
    TrainingPlan plan = trained(model);
    ASSERT_TRUE(model.graph->renameValue(model.graph->findValue("bn_var"), "variance").isOk());
    rewrite::Rewriter rewriter(*model.graph);
    Status s = writeBack(plan, rewriter);
    ASSERT_FALSE(s.isOk());
    EXPECT_NE(s.message().find("tensor 'bn_var' is neither an initializer nor a Constant"),
              std::string::npos)
        << s.message();
    EXPECT_EQ(rewriter.log().size(), 0u);
}

}  // namespace
