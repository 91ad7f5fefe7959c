// Built-in architectures: valid graphs with the documented structure and parameter counts,
// reproducible from a seed, and exportable as ONNX that loads again identically.

#include <gtest/gtest.h>

#include "core/models/architectures.h"
#include "core/onnx/model_io.h"

using namespace wh;

namespace {
int64_t params(const ir::Model& m) {
    int64_t n = 0;
    for (const ir::Value* v : m.graph->initializers()) n += v->initializer()->numElements();
    return n;
}
int count(const ir::Model& m, const std::string& op) {
    int c = 0;
    for (const ir::Node* n : m.graph->nodes()) c += n->opType == op;
    return c;
}
}  // namespace

TEST(Architectures, LeNet5HasTheTextbookParameterCount) {
    auto m = models::buildArchitecture("lenet5");
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_EQ(params(*m), 61706);
    EXPECT_EQ(count(*m, "Conv"), 2);
    EXPECT_EQ(count(*m, "Gemm"), 3);
}

TEST(Architectures, ResNet20Structure) {
    auto m = models::buildArchitecture("resnet20");
    ASSERT_TRUE(m) << m.error().message();
    // 19 3x3 convs + 2 projection shortcuts; one BN per conv; 9 residual adds.
    EXPECT_EQ(count(*m, "Conv"), 21);
    EXPECT_EQ(count(*m, "BatchNormalization"), 21);
    EXPECT_EQ(count(*m, "Add"), 9);
    // Trainable weights: ~0.27 M as in He et al. (0.27M); BN running stats add a few more.
    int64_t trainable = 0;
    for (const ir::Value* v : m->graph->initializers())
        if (v->name().find("running_") == std::string::npos) trainable += v->initializer()->numElements();
    EXPECT_GT(trainable, 260000);
    EXPECT_LT(trainable, 280000);
    EXPECT_TRUE(m->graph->validate().isOk());
}

TEST(Architectures, MobileNetV2TinyUsesDepthwiseConvs) {
    auto m = models::buildArchitecture("mobilenetv2-tiny");
    ASSERT_TRUE(m) << m.error().message();
    int depthwise = 0;
    for (const ir::Node* n : m->graph->nodes())
        if (n->opType == "Conv" && n->attrInt("group", 1) > 1) ++depthwise;
    EXPECT_EQ(depthwise, 9);
    EXPECT_GT(count(*m, "Add"), 0);
    EXPECT_EQ(count(*m, "Clip"), 9 * 2 - 1 + 2);  // expand+dw per block (block0 has no expand), stem, head
}

TEST(Architectures, SeededAndExportable) {
    auto a = models::buildArchitecture("resnet20", {.seed = 3});
    auto b = models::buildArchitecture("resnet20", {.seed = 3});
    auto c = models::buildArchitecture("resnet20", {.seed = 4});
    ASSERT_TRUE(a && b && c);
    auto sa = onnx::serializeModel(*a), sb = onnx::serializeModel(*b), sc = onnx::serializeModel(*c);
    ASSERT_TRUE(sa && sb && sc);
    EXPECT_EQ(*sa, *sb);
    EXPECT_NE(*sa, *sc);
    auto again = onnx::parseModel(std::as_bytes(std::span(sa->data(), sa->size())), "resnet20", {});
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_EQ(*onnx::serializeModel(*again), *sa);
    EXPECT_FALSE(models::buildArchitecture("vgg16"));
}
