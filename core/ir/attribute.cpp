#include "core/ir/attribute.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/ir/graph.h"

namespace wh::ir {

Attribute::Attribute() = default;
Attribute::~Attribute() = default;
Attribute::Attribute(Attribute&&) noexcept = default;
Attribute& Attribute::operator=(Attribute&&) noexcept = default;

Attribute Attribute::clone() const {
    Attribute a;
    a.name = name;
    a.type = type;
    a.refAttrName = refAttrName;
    a.docString = docString;
    a.f = f;
    a.i = i;
    a.s = s;
    a.t = t;
    if (g) a.g = g->clone();
    a.sparseTensor = sparseTensor;
    a.tp = tp;
    a.floats = floats;
    a.ints = ints;
    a.strings = strings;
    a.tensors = tensors;
    for (const auto& sub : graphs) a.graphs.push_back(sub ? sub->clone() : nullptr);
    a.sparseTensors = sparseTensors;
    a.typeProtos = typeProtos;
    a.presence = presence;
    return a;
}

Attribute Attribute::makeInt(std::string name, int64_t v) {
    Attribute a;
    a.name = std::move(name);
    a.type = AttrType::kInt;
    a.i = v;
    return a;
}
Attribute Attribute::makeFloat(std::string name, float v) {
    Attribute a;
    a.name = std::move(name);
    a.type = AttrType::kFloat;
    a.f = v;
    return a;
}
Attribute Attribute::makeString(std::string name, std::string v) {
    Attribute a;
    a.name = std::move(name);
    a.type = AttrType::kString;
    a.s = std::move(v);
    return a;
}
Attribute Attribute::makeInts(std::string name, std::vector<int64_t> v) {
    Attribute a;
    a.name = std::move(name);
    a.type = AttrType::kInts;
    a.ints = std::move(v);
    return a;
}
Attribute Attribute::makeFloats(std::string name, std::vector<float> v) {
    Attribute a;
    a.name = std::move(name);
    a.type = AttrType::kFloats;
    a.floats = std::move(v);
    return a;
}
Attribute Attribute::makeTensor(std::string name, Tensor v) {
    Attribute a;
    a.name = std::move(name);
    a.type = AttrType::kTensor;
    a.t = std::move(v);
    return a;
}

std::string Attribute::valueString() const {
    switch (type) {
        case AttrType::kFloat: return fmt::format("{}", f);
        case AttrType::kInt: return fmt::format("{}", i);
        case AttrType::kString: return fmt::format("\"{}\"", s);
        case AttrType::kTensor:
            return t ? fmt::format("tensor {}[{}]", dtypeName(t->dtype), fmt::join(t->dims, ","))
                     : "tensor";
        case AttrType::kGraph:
            return g ? fmt::format("graph ({} nodes)", g->numNodes()) : "graph";
        case AttrType::kFloats: return fmt::format("[{}]", fmt::join(floats, ", "));
        case AttrType::kInts: return fmt::format("[{}]", fmt::join(ints, ", "));
        case AttrType::kStrings: return fmt::format("[\"{}\"]", fmt::join(strings, "\", \""));
        case AttrType::kTensors: return fmt::format("{} tensors", tensors.size());
        case AttrType::kGraphs: return fmt::format("{} graphs", graphs.size());
        case AttrType::kSparseTensor: return "sparse tensor";
        case AttrType::kSparseTensors: return fmt::format("{} sparse tensors", sparseTensors.size());
        case AttrType::kTypeProto: return tp ? tp->toString() : "type";
        case AttrType::kTypeProtos: return fmt::format("{} types", typeProtos.size());
        case AttrType::kUndefined: break;
    }
    return refAttrName.empty() ? "" : "@" + refAttrName;
}

}  // namespace wh::ir
