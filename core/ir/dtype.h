#pragma once
/// Element types. The numeric values are ONNX's TensorProto.DataType codes, so they survive a
/// round trip unchanged; `isKnownDType` says whether a code from a file is one we understand.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace wh::ir {

enum class DType : int32_t {
    kUndefined = 0,
    kFloat = 1,
    kUInt8 = 2,
    kInt8 = 3,
    kUInt16 = 4,
    kInt16 = 5,
    kInt32 = 6,
    kInt64 = 7,
    kString = 8,
    kBool = 9,
    kFloat16 = 10,
    kDouble = 11,
    kUInt32 = 12,
    kUInt64 = 13,
    kComplex64 = 14,
    kComplex128 = 15,
    kBFloat16 = 16,
};

/// True for the codes 0..16 that ONNX 1.12 defines.
bool isKnownDType(int32_t code);

/// Bytes per element in our packed little-endian buffers (bool is one byte). 0 for string and
/// undefined, whose elements have no fixed size.
std::size_t dtypeSize(DType type);

/// ONNX spelling in lower case: "float", "int64", "float16", ...
std::string_view dtypeName(DType type);

}  // namespace wh::ir
