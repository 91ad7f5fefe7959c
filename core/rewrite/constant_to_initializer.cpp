#include "core/rewrite/constant_to_initializer.h"

namespace wh::rewrite {

namespace {
template <class T>
ir::Tensor makeTensor(ir::DType dtype, std::vector<int64_t> dims, const std::vector<T>& values) {
    ir::Tensor t;
    t.dtype = dtype;
    t.dims = std::move(dims);
    t.data = std::make_shared<const ir::Buffer>(values.data(), values.size() * sizeof(T));
    return t;
}
}  // namespace

Expected<ir::Tensor> ConstantToInitializer::constantValue(const ir::Node& node) {
    if (node.attributes().size() != 1)
        return error(StatusCode::kUnsupported, "expected exactly one attribute, found {}",
                     node.attributes().size());
    const ir::Attribute& a = node.attributes().front();
    if (!a.refAttrName.empty())
        return error(StatusCode::kUnsupported, "attribute '{}' refers to a function attribute",
                     a.name);
    using ir::AttrType;
    using ir::DType;
    if (a.name == "value" && a.type == AttrType::kTensor && a.t) return *a.t;
    if (a.name == "value_float" && a.type == AttrType::kFloat)
        return makeTensor<float>(DType::kFloat, {}, {a.f});
    if (a.name == "value_floats" && a.type == AttrType::kFloats)
        return makeTensor<float>(DType::kFloat, {static_cast<int64_t>(a.floats.size())}, a.floats);
    if (a.name == "value_int" && a.type == AttrType::kInt)
        return makeTensor<int64_t>(DType::kInt64, {}, {a.i});
    if (a.name == "value_ints" && a.type == AttrType::kInts)
        return makeTensor<int64_t>(DType::kInt64, {static_cast<int64_t>(a.ints.size())}, a.ints);
    if (a.name == "value_string" && a.type == AttrType::kString) {
        ir::Tensor t;
        t.dtype = DType::kString;
        t.strings = {a.s};
        return t;
    }
    if (a.name == "value_strings" && a.type == AttrType::kStrings) {
        ir::Tensor t;
        t.dtype = DType::kString;
        t.dims = {static_cast<int64_t>(a.strings.size())};
        t.strings = a.strings;
        return t;
    }
    return error(StatusCode::kUnsupported, "attribute '{}' ({}) is not a supported constant form",
                 a.name, a.valueString());
}

MatchResult ConstantToInitializer::match(const ir::Node& root) const {
    if (root.numOutputs() != 1 || !root.output(0))
        return MatchResult::failure("expected exactly one output");
    const ir::Value* out = root.output(0);
    if (out->isGraphOutput())
        return MatchResult::fail("output '{}' is a graph output", out->name());
    if (out->isGraphInput() || out->hasInitializer())
        return MatchResult::fail("output '{}' is already a graph input or initializer",
                                 out->name());
    if (root.numInputs() != 0) return MatchResult::failure("a Constant node with inputs");
    auto value = constantValue(root);
    if (!value) return MatchResult::failure(value.error().message());
    return MatchResult::success();
}

Status ConstantToInitializer::apply(Rewriter& rewriter, ir::Node& root) const {
    auto value = constantValue(root);
    if (!value) return value.error();
    ir::Value* out = root.output(0);
    ScopedGroup group(rewriter, "Constant to initializer");
    if (Status s = rewriter.eraseNode(root, EraseOutputs::kKeep); !s.isOk()) {
        group.cancel();
        return s;
    }
    if (Status s = rewriter.setInitializer(*out, std::move(*value)); !s.isOk()) {
        group.cancel();
        return s;
    }
    return Status::ok();
}

}  // namespace wh::rewrite
