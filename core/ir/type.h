#pragma once
/// Value types: tensors (element type + optional shape with symbolic dims) and ONNX's other kinds
/// (sequence, map, optional, sparse tensor, opaque), which the IR keeps so exports are lossless.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/ir/dtype.h"
#include "core/ir/presence.h"

namespace wh::ir {

/// One dimension: known size, named symbol, or unknown.
struct Dim {
    enum class Kind { kUnknown, kValue, kParam };
    Kind kind = Kind::kUnknown;
    int64_t value = 0;
    std::string param;
    std::string denotation;
    Presence presence;

    static Dim known(int64_t v) { return Dim{Kind::kValue, v, {}, {}, {}}; }
    static Dim symbol(std::string name) { return Dim{Kind::kParam, 0, std::move(name), {}, {}}; }
    bool isKnown() const { return kind == Kind::kValue; }
};

/// A shape of known rank. An absent shape (std::nullopt in Type) means unknown rank.
struct Shape {
    std::vector<Dim> dims;
    int64_t rank() const { return static_cast<int64_t>(dims.size()); }
    /// Product of dims when all are known, else -1.
    int64_t numElements() const;
    /// "[1,3,224,224]" with symbols by name and unknown dims as "?".
    std::string toString() const;
};

/// The type of a Value. Recursive for sequence/optional/map.
struct Type {
    enum class Kind { kNone, kTensor, kSparseTensor, kSequence, kMap, kOptional, kOpaque };
    Kind kind = Kind::kNone;
    DType elemType = DType::kUndefined;  ///< tensor / sparse tensor element type
    std::optional<Shape> shape;          ///< tensor / sparse tensor shape; nullopt = unknown rank
    std::shared_ptr<Type> elem;          ///< sequence / optional element; map value
    DType keyType = DType::kUndefined;   ///< map key
    std::string opaqueDomain;            ///< opaque
    std::string opaqueName;              ///< opaque
    std::string denotation;
    Presence presence;                   ///< bits owned by core/onnx
    Presence innerPresence;              ///< presence inside the kind-specific sub-message

    static Type tensor(DType dtype, std::optional<Shape> shape = std::nullopt) {
        Type t;
        t.kind = Kind::kTensor;
        t.elemType = dtype;
        t.shape = std::move(shape);
        return t;
    }
    bool isTensor() const { return kind == Kind::kTensor; }
    /// "float[1,3,224,224]", "seq(float[?])", "" for kNone.
    std::string toString() const;
};

}  // namespace wh::ir
