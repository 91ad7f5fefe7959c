#include "core/ir/type.h"

#include <fmt/format.h>

namespace wh::ir {

int64_t Shape::numElements() const {
    int64_t n = 1;
    for (const Dim& d : dims) {
        if (!d.isKnown()) return -1;
        n *= d.value;
    }
    return n;
}

std::string Shape::toString() const {
    std::string out = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) {
        if (i) out += ",";
        const Dim& d = dims[i];
        if (d.kind == Dim::Kind::kValue) out += std::to_string(d.value);
        else if (d.kind == Dim::Kind::kParam) out += d.param;
        else out += "?";
    }
    return out + "]";
}

std::string Type::toString() const {
    switch (kind) {
        case Kind::kNone: return "";
        case Kind::kTensor:
            return fmt::format("{}{}", dtypeName(elemType), shape ? shape->toString() : "[...]");
        case Kind::kSparseTensor:
            return fmt::format("sparse {}{}", dtypeName(elemType),
                               shape ? shape->toString() : "[...]");
        case Kind::kSequence: return fmt::format("seq({})", elem ? elem->toString() : "?");
        case Kind::kOptional: return fmt::format("optional({})", elem ? elem->toString() : "?");
        case Kind::kMap:
            return fmt::format("map({}, {})", dtypeName(keyType), elem ? elem->toString() : "?");
        case Kind::kOpaque: return fmt::format("opaque({}.{})", opaqueDomain, opaqueName);
    }
    return "";
}

}  // namespace wh::ir
