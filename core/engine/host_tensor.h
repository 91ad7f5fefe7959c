#pragma once
/// HostTensor: a dense tensor in host memory, as kernels see it. Storage is 64-byte aligned (what
/// oneDNN and AVX-512 like) and shared, so copies are cheap and a plan can alias constants.
/// Thread-safety: none for writes; concurrent reads are fine.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ir/dtype.h"
#include "core/ir/tensor.h"
#include "core/util/status.h"

namespace wh::engine {

using Dims = std::vector<int64_t>;

/// Product of dims (1 for a scalar); saturates at INT64_MAX when the product overflows (no
/// allocation can satisfy that, so HostTensor::ensure refuses it).
int64_t numElementsOf(const Dims& dims);
/// Product of dims, or nullopt when it overflows int64.
std::optional<int64_t> checkedNumElementsOf(const Dims& dims);
/// Bytes of `dims` elements of `dtype` (strings count sizeof(std::string) each), or nullopt when
/// a dim is negative or the size overflows.
std::optional<std::size_t> checkedByteSizeOf(ir::DType dtype, const Dims& dims);
/// "[1,3,224,224]".
std::string dimsToString(const Dims& dims);
/// "40000000000 bytes (37.3 GiB)".
std::string bytesToString(std::size_t bytes);

// ---------------------------------------------------------------- memory budget
// Every HostTensor storage is counted, process-wide, against one limit; a request that would
// go over it fails before the allocator is asked. Kernels need not check: HostTensor::ensure
// throws MemoryLimitError, and the plans turn it into a Status naming the node at the step
// boundary (catchMemoryErrors). Thread-safe (atomics); storage shared by several tensors counts
// once, and returns to the budget when its last owner lets go.

/// The limit HostTensor storage may take in all, in bytes.
std::size_t memoryLimit();
/// Sets the limit; 0 restores defaultMemoryLimit(). Storage already held is kept even when it
/// is over the new limit (only new requests fail).
void setMemoryLimit(std::size_t bytes);
/// 3/4 of physical memory (sysconf), or of RLIMIT_AS when that is lower.
std::size_t defaultMemoryLimit();
/// Bytes of HostTensor storage alive now (rounded up to the 64-byte alignment).
std::size_t memoryInUse();

/// Why storage could not be had: the size overflows, a dim is negative, the budget is spent, or
/// the allocator failed. A std::bad_alloc, so code that already handles that handles this too.
/// what() is one line: "a float tensor of shape [..] needs N bytes (..), over the memory limit
/// of M bytes (..)".
class MemoryLimitError : public std::bad_alloc {
public:
    MemoryLimitError(ir::DType dtype, const Dims& dims, std::size_t minBytes);
    const char* what() const noexcept override { return m_message.c_str(); }
    const Dims& dims() const { return m_dims; }

private:
    Dims m_dims;
    std::string m_message;
};

/// Runs `f` (returning Status); a MemoryLimitError or std::bad_alloc it throws becomes a
/// kBadInput Status "<where>: <what>". For step boundaries: where = "node 'x' (Op)".
template <class F>
Status catchMemoryErrors(std::string_view where, F&& f) {
    try {
        return f();
    } catch (const MemoryLimitError& e) {
        return makeStatus(StatusCode::kBadInput, "{}: {}", where, e.what());
    } catch (const std::bad_alloc&) {
        return makeStatus(StatusCode::kBadInput, "{}: out of memory (limit {}, {} in use)", where,
                          bytesToString(memoryLimit()), bytesToString(memoryInUse()));
    }
}

class HostTensor {
public:
    HostTensor() = default;
    /// Allocates zeroed storage for `dims` elements of `dtype` (strings: empty strings).
    /// Throws MemoryLimitError as ensure() does.
    HostTensor(ir::DType dtype, Dims dims);

    /// A copy of an IR tensor's data (IR buffers are not aligned); 4-bit data widened to
    /// uint8 / int8 (sign-extended), one element per byte.
    static Expected<HostTensor> fromIr(const ir::Tensor& tensor);
    /// An IR tensor named `name` holding a copy of this data (raw storage).
    ir::Tensor toIr(std::string name) const;
    /// A float tensor holding `values` (size must match dims).
    static HostTensor fromFloats(Dims dims, const std::vector<float>& values);
    static HostTensor fromInt64s(Dims dims, const std::vector<int64_t>& values);
    /// A scalar (rank 0) of the given type holding `value` converted.
    static HostTensor scalar(ir::DType dtype, double value);

    ir::DType dtype() const { return m_dtype; }
    const Dims& dims() const { return m_dims; }
    int rank() const { return static_cast<int>(m_dims.size()); }
    /// Dimension i; negative i counts from the back.
    int64_t dim(int i) const;
    int64_t numElements() const { return m_count; }
    std::size_t byteSize() const { return m_count * ir::dtypeSize(m_dtype); }
    /// Bytes of storage held (≥ byteSize(): a padded layout's, or a reused larger buffer's).
    std::size_t capacity() const { return m_storage ? m_capacity : 0; }
    bool empty() const { return m_dtype == ir::DType::kUndefined; }
    /// True when this tensor has storage that no other tensor (view, copy) shares.
    bool ownsStorageAlone() const { return m_storage && m_storage.use_count() == 1; }

    /// (Re)shapes to `dims` of `dtype`, reusing the storage when it is large enough and not
    /// shared (the bytes are then kept: an in-place kernel relies on it); otherwise the new
    /// storage is zeroed. What kernels call on their outputs.
    /// `minBytes`: more storage than the elements need, for a Layout that pads.
    /// Throws MemoryLimitError when the storage cannot be had (overflow, negative dim, over
    /// memoryLimit(), allocator failure); the tensor is then left as it was.
    void ensure(ir::DType dtype, const Dims& dims, std::size_t minBytes = 0);
    /// Same elements, new dims (element counts must match). Shares storage.
    HostTensor reshaped(Dims dims) const;
    /// A deep copy (own storage).
    HostTensor clone() const;

    template <class T>
    T* data() {
        return reinterpret_cast<T*>(m_storage.get());
    }
    template <class T>
    const T* data() const {
        return reinterpret_cast<const T*>(m_storage.get());
    }
    template <class T>
    std::span<T> span() {
        return {data<T>(), static_cast<std::size_t>(m_count)};
    }
    template <class T>
    std::span<const T> span() const {
        return {data<T>(), static_cast<std::size_t>(m_count)};
    }
    void* raw() { return m_storage.get(); }
    const void* raw() const { return m_storage.get(); }

    /// Elements of a string tensor.
    std::vector<std::string>& strings() { return m_strings; }
    const std::vector<std::string>& strings() const { return m_strings; }

    /// Element i converted to double / int64 (any numeric dtype): for shape inputs, tests.
    double at(int64_t i) const;
    int64_t intAt(int64_t i) const;
    /// All elements as int64 (shape-like inputs: Reshape shape, Slice starts, ...).
    std::vector<int64_t> toInt64s() const;
    /// All elements as float (tests, statistics).
    std::vector<float> toFloats() const;

private:
    ir::DType m_dtype = ir::DType::kUndefined;
    Dims m_dims;
    int64_t m_count = 0;
    std::size_t m_capacity = 0;
    std::shared_ptr<std::byte[]> m_storage;
    std::vector<std::string> m_strings;
};

}  // namespace wh::engine
