#pragma once
/// Tensor: name, element type, dims and data. Data lives in an immutable, shared Buffer so that a
/// job's snapshot of a graph shares weights with the document; writers copy on write.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/ir/dtype.h"
#include "core/ir/presence.h"

namespace wh::ir {

/// Bytes of tensor data. Immutable once shared (`std::shared_ptr<const Buffer>`).
class Buffer {
public:
    Buffer() = default;
    explicit Buffer(std::string bytes) : m_bytes(std::move(bytes)) {}
    explicit Buffer(std::size_t size) : m_bytes(size, '\0') {}
    Buffer(const void* data, std::size_t size)
        : m_bytes(static_cast<const char*>(data), size) {}

    const std::byte* data() const { return reinterpret_cast<const std::byte*>(m_bytes.data()); }
    std::byte* mutableData() { return reinterpret_cast<std::byte*>(m_bytes.data()); }
    std::size_t size() const { return m_bytes.size(); }
    const std::string& bytes() const { return m_bytes; }

private:
    std::string m_bytes;  // std::string so protobuf's raw_data can be moved in without a copy
};

/// Where the ONNX file kept a tensor's data; export writes it back the same way.
enum class TensorStorage {
    kTyped,     ///< float_data / int32_data / int64_data / ... fields
    kRaw,       ///< raw_data bytes
    kExternal,  ///< a file beside the model (data_location = EXTERNAL)
};

/// A key/value pair as ONNX's StringStringEntryProto (metadata, external data, bindings).
struct StringPair {
    std::string key;
    std::string value;
    Presence presence;
    bool operator==(const StringPair&) const = default;
};

/// A dense tensor. For dtype kString the elements are in `strings` and `data` is empty; for every
/// other type `data` holds numElements() * dtypeSize(dtype) bytes, little-endian, packed.
struct Tensor {
    std::string name;
    DType dtype = DType::kUndefined;
    std::vector<int64_t> dims;
    std::shared_ptr<const Buffer> data = std::make_shared<const Buffer>();
    std::vector<std::string> strings;
    std::string docString;
    TensorStorage storage = TensorStorage::kRaw;
    std::vector<StringPair> externalData;          ///< location/offset/length/checksum as read
    std::optional<std::pair<int64_t, int64_t>> segment;  ///< ONNX Segment (begin, end)
    Presence presence;
    Presence segmentPresence;

    /// Product of dims (1 for a scalar). Dims are validated non-negative on import.
    int64_t numElements() const;
    std::size_t byteSize() const { return data ? data->size() : 0; }

    /// Typed read-only view; T must match dtype's element size.
    template <class T>
    std::span<const T> values() const {
        return {reinterpret_cast<const T*>(data->data()), data->size() / sizeof(T)};
    }
    /// Writable bytes: copies the buffer first if anyone else shares it (copy on write).
    std::byte* mutableData();
    template <class T>
    std::span<T> mutableValues() {
        return {reinterpret_cast<T*>(mutableData()), data->size() / sizeof(T)};
    }

    /// A float32 tensor with the given dims and values (values.size() must match).
    static Tensor fromFloats(std::string name, std::vector<int64_t> dims,
                             const std::vector<float>& values);
    /// One element converted to double (numeric dtypes only; for statistics and display).
    double elementAsDouble(int64_t index) const;
    /// True for numeric, non-complex types.
    bool isRealNumeric() const;
};

/// ONNX SparseTensorProto: values, indices, dense dims.
struct SparseTensor {
    Tensor values;
    Tensor indices;
    std::vector<int64_t> dims;
    Presence presence;  ///< bit 0: values present, bit 1: indices present
};

}  // namespace wh::ir
