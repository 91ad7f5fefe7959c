#include "core/ir/dtype.h"

namespace wh::ir {

bool isKnownDType(int32_t code) { return (code >= 0 && code <= 16) || code == 21 || code == 22; }

std::size_t dataBytesOf(DType type, uint64_t count) {
    return static_cast<std::size_t>(is4Bit(type) ? (count + 1) / 2 : count * dtypeSize(type));
}

std::size_t dtypeSize(DType type) {
    switch (type) {
        case DType::kFloat: return 4;
        case DType::kUInt8: return 1;
        case DType::kInt8: return 1;
        case DType::kUInt16: return 2;
        case DType::kInt16: return 2;
        case DType::kInt32: return 4;
        case DType::kInt64: return 8;
        case DType::kBool: return 1;
        case DType::kFloat16: return 2;
        case DType::kDouble: return 8;
        case DType::kUInt32: return 4;
        case DType::kUInt64: return 8;
        case DType::kComplex64: return 8;
        case DType::kComplex128: return 16;
        case DType::kBFloat16: return 2;
        case DType::kString:
        case DType::kUndefined:
        case DType::kUInt4:
        case DType::kInt4: return 0;
    }
    return 0;
}

std::string_view dtypeName(DType type) {
    switch (type) {
        case DType::kUndefined: return "undefined";
        case DType::kFloat: return "float";
        case DType::kUInt8: return "uint8";
        case DType::kInt8: return "int8";
        case DType::kUInt16: return "uint16";
        case DType::kInt16: return "int16";
        case DType::kInt32: return "int32";
        case DType::kInt64: return "int64";
        case DType::kString: return "string";
        case DType::kBool: return "bool";
        case DType::kFloat16: return "float16";
        case DType::kDouble: return "double";
        case DType::kUInt32: return "uint32";
        case DType::kUInt64: return "uint64";
        case DType::kComplex64: return "complex64";
        case DType::kComplex128: return "complex128";
        case DType::kBFloat16: return "bfloat16";
        case DType::kUInt4: return "uint4";
        case DType::kInt4: return "int4";
    }
    return "unknown";
}

}  // namespace wh::ir
