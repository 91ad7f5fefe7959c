// Operator schemas for the palette (core/onnx/op_schema.h) and the ONNX checker wrapper: the
// versions follow the model's opset, inputs/attributes/type constraints are the library's, and
// the checker refuses what onnx.checker (full_check) refuses, naming the node.

#include <algorithm>

#include <gtest/gtest.h>

#include "core/onnx/model_io.h"
#include "core/onnx/op_schema.h"

using namespace wh;

namespace {

const onnx::OpSchema* byName(const std::vector<onnx::OpSchema>& all, const std::string& name) {
    auto it = std::find_if(all.begin(), all.end(), [&](const auto& s) { return s.name == name; });
    return it == all.end() ? nullptr : &*it;
}

const onnx::OpAttribute* attr(const onnx::OpSchema& s, const std::string& name) {
    for (const auto& a : s.attributes)
        if (a.name == name) return &a;
    return nullptr;
}

// x (float[1,4]) -> op -> y, opset 13.
ir::Model unaryModel(const std::string& op, ir::DType inputType = ir::DType::kFloat) {
    ir::Model m;
    m.irVersion = 8;
    m.opsetImports.push_back({"", 13});
    m.graph = std::make_unique<ir::Graph>();
    ir::Graph& g = *m.graph;
    g.name = "g";
    ir::Value* x = *g.addValue("x");
    x->type = ir::Type::tensor(inputType, ir::Shape{{ir::Dim::known(1), ir::Dim::known(4)}});
    g.insertGraphInput(x);
    ir::Value* y = *g.addValue("y");
    y->type = ir::Type::tensor(ir::DType::kFloat, ir::Shape{{ir::Dim::known(1), ir::Dim::known(4)}});
    ir::Value* in[] = {x};
    ir::Value* out[] = {y};
    ir::Node* n = g.addNode(op, in, out);
    n->name = "the_node";
    g.insertGraphOutput(y);
    return m;
}

}  // namespace

TEST(OpSchema, FollowsTheModelsOpset) {
    const auto v13 = onnx::operatorSchemas(13);
    ASSERT_GT(v13.size(), 150u);
    ASSERT_TRUE(std::is_sorted(v13.begin(), v13.end(),
                               [](const auto& a, const auto& b) { return a.name < b.name; }));

    const onnx::OpSchema* conv = byName(v13, "Conv");
    ASSERT_TRUE(conv);
    ASSERT_EQ(conv->inputs.size(), 3u);
    EXPECT_EQ(conv->inputs[0].name, "X");
    EXPECT_EQ(conv->inputs[2].option, onnx::OpParameter::Option::kOptional);
    ASSERT_TRUE(attr(*conv, "group"));
    EXPECT_EQ(attr(*conv, "group")->type, ir::AttrType::kInt);
    EXPECT_EQ(attr(*conv, "group")->defaultText, "1");
    EXPECT_FALSE(attr(*conv, "group")->required);
    const auto convTypes = conv->allowedInputTypes(0);
    EXPECT_NE(std::find(convTypes.begin(), convTypes.end(), "tensor(float)"), convTypes.end());
    EXPECT_EQ(std::find(convTypes.begin(), convTypes.end(), "tensor(int64)"), convTypes.end());

    const onnx::OpSchema* concat = byName(v13, "Concat");
    ASSERT_TRUE(concat);
    EXPECT_TRUE(attr(*concat, "axis") && attr(*concat, "axis")->required);
    EXPECT_EQ(concat->inputs.back().option, onnx::OpParameter::Option::kVariadic);
    EXPECT_FALSE(concat->allowedInputTypes(5).empty()) << "variadic inputs take the last's types";

    // Clip: min and max were attributes before opset 11, inputs since.
    const onnx::OpSchema* clip13 = byName(v13, "Clip");
    ASSERT_TRUE(clip13);
    EXPECT_EQ(clip13->inputs.size(), 3u);
    EXPECT_FALSE(attr(*clip13, "min"));
    const auto clip7 = onnx::findOperatorSchema("Clip", "", 7);
    ASSERT_TRUE(clip7);
    EXPECT_EQ(clip7->inputs.size(), 1u);
    EXPECT_TRUE(attr(*clip7, "min"));
    EXPECT_LE(clip7->sinceVersion, 7);

    // Ops newer than the opset are not offered.
    EXPECT_TRUE(byName(v13, "Softmax"));
    EXPECT_FALSE(byName(onnx::operatorSchemas(9), "Einsum")) << "Einsum is opset 12";
    EXPECT_FALSE(onnx::findOperatorSchema("NoSuchOp", "", 13));
    EXPECT_GE(onnx::newestKnownOpset(), 17);
    EXPECT_EQ(onnx::onnxTypeString(ir::DType::kFloat), "tensor(float)");
    EXPECT_EQ(onnx::onnxTypeString(ir::DType::kInt64), "tensor(int64)");
}

TEST(OpSchema, ArityWithoutTheWholeSchema) {
    const auto conv = onnx::operatorArity("Conv", "", 13);
    ASSERT_TRUE(conv);
    EXPECT_EQ(conv->inputs, 3);
    EXPECT_EQ(conv->outputs, 1);
    EXPECT_FALSE(conv->variadicInputs);
    const auto concat = onnx::operatorArity("Concat", "", 13);
    ASSERT_TRUE(concat);
    EXPECT_TRUE(concat->variadicInputs);
    EXPECT_EQ(onnx::operatorArity("Clip", "", 7)->inputs, 1);
    EXPECT_FALSE(onnx::operatorArity("NoSuchOp", "", 13));
}

TEST(OpSchema, PlaceholderAttributesAreComplete) {
    const auto cast = onnx::findOperatorSchema("Cast", "", 13);
    ASSERT_TRUE(cast);
    const onnx::OpAttribute* to = attr(*cast, "to");
    ASSERT_TRUE(to && to->required);
    ir::Attribute a = onnx::placeholderAttribute(*to, "Cast");
    EXPECT_EQ(a.type, ir::AttrType::kInt);
    EXPECT_EQ(a.i, static_cast<int64_t>(ir::DType::kFloat));
}

TEST(OnnxChecker, AcceptsAValidModelAndRefusesBrokenOnesByNode) {
    EXPECT_TRUE(onnx::checkWithOnnx(unaryModel("Relu")).isOk());

    // A required attribute missing (Concat without axis): the checker names the node.
    {
        ir::Model m = unaryModel("Concat");
        Status s = onnx::checkWithOnnx(m);
        ASSERT_FALSE(s.isOk());
        EXPECT_EQ(s.code(), StatusCode::kBadInput);
        EXPECT_NE(s.message().find("the_node"), std::string::npos) << s.message();
    }
    // An op the opset does not know.
    {
        ir::Model m = unaryModel("NoSuchOp");
        EXPECT_FALSE(onnx::checkWithOnnx(m).isOk());
    }
    // A type error only full_check sees: Relu of a string tensor.
    {
        ir::Model m = unaryModel("Relu", ir::DType::kString);
        EXPECT_FALSE(onnx::checkWithOnnx(m, /*fullCheck=*/true).isOk());
        EXPECT_TRUE(onnx::checkWithOnnx(m, /*fullCheck=*/false).isOk());
    }
    // An opset newer than the library's checker: said, not guessed.
    {
        ir::Model m = unaryModel("Relu");
        m.opsetImports[0].version = onnx::newestKnownOpset() + 4;
        Status s = onnx::checkWithOnnx(m);
        EXPECT_EQ(s.code(), StatusCode::kUnsupported);
    }
}

TEST(OnnxChecker, TheSampleModelPasses) {
    auto m = onnx::loadModel(std::string(WHITTLE_SOURCE_DIR) + "/resources/samples/lenet5.onnx");
    ASSERT_TRUE(m) << m.error().message();
    Status s = onnx::checkWithOnnx(*m);
    EXPECT_TRUE(s.isOk()) << s.message();
}
