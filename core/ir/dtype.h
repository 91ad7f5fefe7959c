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
    /// ONNX 1.16's 4-bit integers, two per byte, the first element in the low nibble. Only in
    /// ir::Tensor data (initializers, Constant values: weight-only int4 models): the engine
    /// reads them widened to uint8 / int8 (engine::HostTensor::fromIr).
    kUInt4 = 21,
    kInt4 = 22,
};

/// True for the codes 0..16 that ONNX 1.12 defines, and the 4-bit codes 21 and 22.
bool isKnownDType(int32_t code);

/// Bytes per element in our packed little-endian buffers (bool is one byte). 0 for string,
/// undefined and the 4-bit types, whose elements have no whole-byte size.
std::size_t dtypeSize(DType type);

/// kUInt4 or kInt4.
inline bool is4Bit(DType type) {
    return type == DType::kUInt4 || type == DType::kInt4;
}

/// float, float16, bfloat16 or double.
inline bool isFloatingPoint(DType type) {
    return type == DType::kFloat || type == DType::kFloat16 || type == DType::kDouble ||
           type == DType::kBFloat16;
}

/// Bytes of data `count` elements of `type` take in an ir::Tensor: count * dtypeSize, or
/// ceil(count / 2) for the 4-bit types. 0 for string and undefined.
std::size_t dataBytesOf(DType type, uint64_t count);

/// ONNX spelling in lower case: "float", "int64", "float16", ...
std::string_view dtypeName(DType type);

}  // namespace wh::ir
