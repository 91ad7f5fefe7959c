#pragma once
/// Node attributes, mirroring ONNX's AttributeProto field for field (so exports are lossless),
/// including subgraphs, which the Attribute owns.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/ir/box.h"
#include "core/ir/presence.h"
#include "core/ir/tensor.h"
#include "core/ir/type.h"

namespace wh::ir {

class Graph;

/// ONNX AttributeProto.AttributeType codes.
enum class AttrType : int32_t {
    kUndefined = 0,
    kFloat = 1,
    kInt = 2,
    kString = 3,
    kTensor = 4,
    kGraph = 5,
    kFloats = 6,
    kInts = 7,
    kStrings = 8,
    kTensors = 9,
    kGraphs = 10,
    kSparseTensor = 11,
    kSparseTensors = 12,
    kTypeProto = 13,
    kTypeProtos = 14,
};

/// One attribute. Move-only because it owns subgraphs; `clone()` copies deeply (tensor data
/// stays shared, copy on write).
struct Attribute {
    std::string name;
    AttrType type = AttrType::kUndefined;
    std::string refAttrName;  ///< set inside function bodies: refers to the caller's attribute
    std::string docString;

    float f = 0.0f;
    int64_t i = 0;
    std::string s;
    Box<Tensor> t;
    std::unique_ptr<Graph> g;
    Box<SparseTensor> sparseTensor;
    Box<Type> tp;

    std::vector<float> floats;
    std::vector<int64_t> ints;
    std::vector<std::string> strings;
    std::vector<Tensor> tensors;
    std::vector<std::unique_ptr<Graph>> graphs;
    std::vector<SparseTensor> sparseTensors;
    std::vector<Type> typeProtos;

    Presence presence;  ///< bits owned by core/onnx

    Attribute();
    ~Attribute();
    Attribute(Attribute&&) noexcept;
    Attribute& operator=(Attribute&&) noexcept;
    Attribute clone() const;

    static Attribute makeInt(std::string name, int64_t v);
    static Attribute makeFloat(std::string name, float v);
    static Attribute makeString(std::string name, std::string v);
    static Attribute makeInts(std::string name, std::vector<int64_t> v);
    static Attribute makeFloats(std::string name, std::vector<float> v);
    static Attribute makeTensor(std::string name, Tensor v);

    /// Short human form for inspectors and logs: "3", "[1, 1]", "tensor float[64]", "graph".
    std::string valueString() const;
};

}  // namespace wh::ir
