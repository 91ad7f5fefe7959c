#include "core/engine/host_tensor.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/util/checked_math.h"

namespace wh::engine {

namespace {
constexpr std::size_t kAlignment = 64;

std::atomic<std::size_t> g_limit{0};  // 0: defaultMemoryLimit()
std::atomic<std::size_t> g_inUse{0};

// Takes `bytes` from the budget; false (nothing taken) when that would pass the limit.
bool reserve(std::size_t bytes) {
    const std::size_t limit = memoryLimit();
    std::size_t used = g_inUse.load(std::memory_order_relaxed);
    do {
        if (bytes > limit || used > limit - bytes) return false;
    } while (!g_inUse.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
}

void release(std::size_t bytes) {
    g_inUse.fetch_sub(bytes, std::memory_order_relaxed);
}

// Zeroed, aligned storage of at least `bytes`, counted against the budget until freed. Throws
// MemoryLimitError (the caller's dtype and dims name the request).
std::shared_ptr<std::byte[]> allocate(std::size_t bytes, ir::DType dtype, const Dims& dims,
                                      std::size_t minBytes) {
    if (bytes > std::numeric_limits<std::size_t>::max() - kAlignment)
        throw MemoryLimitError(dtype, dims, minBytes);
    std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    if (rounded == 0) rounded = kAlignment;
    if (!reserve(rounded)) throw MemoryLimitError(dtype, dims, minBytes);
    std::byte* p = nullptr;
    try {
        p = static_cast<std::byte*>(::operator new[](rounded, std::align_val_t(kAlignment)));
    } catch (const std::bad_alloc&) {
        release(rounded);
        throw MemoryLimitError(dtype, dims, minBytes);
    }
    std::memset(p, 0, rounded);
    return std::shared_ptr<std::byte[]>(p, [rounded](std::byte* q) {
        ::operator delete[](q, std::align_val_t(kAlignment));
        release(rounded);
    });
}

template <class T>
double loadAs(const void* base, int64_t i) {
    return static_cast<double>(static_cast<const T*>(base)[i]);
}

double halfToDouble(uint16_t h) {
    const uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    double v;
    if (exp == 0)
        v = std::ldexp(static_cast<double>(mant), -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = std::ldexp(static_cast<double>(mant | 0x400), static_cast<int>(exp) - 25);
    return sign ? -v : v;
}
}  // namespace

int64_t numElementsOf(const Dims& dims) {
    return checkedProduct(dims).value_or(std::numeric_limits<int64_t>::max());
}

std::optional<int64_t> checkedNumElementsOf(const Dims& dims) {
    return checkedProduct(dims);
}

std::optional<std::size_t> checkedByteSizeOf(ir::DType dtype, const Dims& dims) {
    for (int64_t d : dims)
        if (d < 0) return std::nullopt;
    const std::optional<int64_t> n = checkedProduct(dims);
    if (!n) return std::nullopt;
    if (ir::is4Bit(dtype)) return std::nullopt;  // never held by a HostTensor (fromIr widens)
    return checkedBytes(*n,
                        dtype == ir::DType::kString ? sizeof(std::string) : ir::dtypeSize(dtype));
}

std::string dimsToString(const Dims& dims) {
    return fmt::format("[{}]", fmt::join(dims, ","));
}

std::string bytesToString(std::size_t bytes) {
    const double b = static_cast<double>(bytes);
    if (b >= 1024.0 * 1024 * 1024 * 1024)
        return fmt::format("{} bytes ({:.1f} TiB)", bytes, b / (1024.0 * 1024 * 1024 * 1024));
    if (b >= 1024.0 * 1024 * 1024)
        return fmt::format("{} bytes ({:.1f} GiB)", bytes, b / (1024.0 * 1024 * 1024));
    if (b >= 1024.0 * 1024) return fmt::format("{} bytes ({:.1f} MiB)", bytes, b / (1024.0 * 1024));
    return fmt::format("{} bytes", bytes);
}

std::size_t defaultMemoryLimit() {
    // Computed once: neither physical memory nor (usually) RLIMIT_AS changes under us.
    static const std::size_t kDefault = [] {
        std::size_t total = std::numeric_limits<std::size_t>::max();
        const long pages = ::sysconf(_SC_PHYS_PAGES), pageSize = ::sysconf(_SC_PAGE_SIZE);
        if (pages > 0 && pageSize > 0)
            total = checkedMul(static_cast<std::size_t>(pages), static_cast<std::size_t>(pageSize))
                        .value_or(total);
        rlimit as{};
        if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)
            total = std::min(total, static_cast<std::size_t>(as.rlim_cur));
        return total / 4 * 3;
    }();
    return kDefault;
}

std::size_t memoryLimit() {
    const std::size_t limit = g_limit.load(std::memory_order_relaxed);
    return limit ? limit : defaultMemoryLimit();
}

void setMemoryLimit(std::size_t bytes) {
    g_limit.store(bytes, std::memory_order_relaxed);
}

std::size_t memoryInUse() {
    return g_inUse.load(std::memory_order_relaxed);
}

MemoryLimitError::MemoryLimitError(ir::DType dtype, const Dims& dims, std::size_t minBytes)
    : m_dims(dims) {
    const std::string what =
        fmt::format("a {} tensor of shape {}", ir::dtypeName(dtype), dimsToString(dims));
    const std::optional<std::size_t> bytes = checkedByteSizeOf(dtype, dims);
    if (std::any_of(dims.begin(), dims.end(), [](int64_t d) { return d < 0; })) {
        m_message = fmt::format("{} has a negative dimension", what);
    } else if (!bytes) {
        m_message = fmt::format("{} needs more bytes than a 64-bit size can count", what);
    } else {
        const std::size_t need = std::max(*bytes, minBytes);
        const std::size_t limit = memoryLimit(), used = memoryInUse();
        if (need <= limit && used <= limit - need)  // within budget: the allocator failed
            m_message = fmt::format("{} needs {}: out of memory ({} in use)", what,
                                    bytesToString(need), bytesToString(used));
        else
            m_message = fmt::format("{} needs {}, over the memory limit of {} ({} in use)", what,
                                    bytesToString(need), bytesToString(limit), bytesToString(used));
    }
}

HostTensor::HostTensor(ir::DType dtype, Dims dims) {
    ensure(dtype, dims);
}

void HostTensor::ensure(ir::DType dtype, const Dims& dims, std::size_t minBytes) {
    // Checked before anything changes: a refused request leaves the tensor as it was.
    const std::optional<std::size_t> elementBytes = checkedByteSizeOf(dtype, dims);
    if (!elementBytes) throw MemoryLimitError(dtype, dims, minBytes);
    const int64_t count = numElementsOf(dims);
    if (dtype == ir::DType::kString) {
        // Not counted (a std::string grows on its own), but checked against what is left.
        const std::size_t limit = memoryLimit(), used = memoryInUse();
        if (used > limit || *elementBytes > limit - used)
            throw MemoryLimitError(dtype, dims, minBytes);
        m_strings.assign(static_cast<std::size_t>(count), {});
    } else {
        const std::size_t bytes = std::max(*elementBytes, minBytes);
        if (!m_storage || bytes > m_capacity || m_storage.use_count() > 1) {
            m_storage = allocate(bytes, dtype, dims, minBytes);
            m_capacity = bytes;
        }
    }
    m_dtype = dtype;
    m_dims = dims;
    m_count = count;
}

int64_t HostTensor::dim(int i) const {
    if (i < 0) i += rank();
    return m_dims.at(static_cast<std::size_t>(i));
}

HostTensor HostTensor::reshaped(Dims dims) const {
    WH_ASSERT(numElementsOf(dims) == m_count);
    HostTensor t = *this;
    t.m_dims = std::move(dims);
    return t;
}

HostTensor HostTensor::clone() const {
    HostTensor t(m_dtype, m_dims);
    if (m_dtype == ir::DType::kString)
        t.m_strings = m_strings;
    else if (byteSize())
        std::memcpy(t.raw(), raw(), byteSize());
    return t;
}

Expected<HostTensor> HostTensor::fromIr(const ir::Tensor& tensor) {
    if (ir::is4Bit(tensor.dtype)) {  // widened to one byte per element, sign-extended for int4
        const bool isSigned = tensor.dtype == ir::DType::kInt4;
        HostTensor t(isSigned ? ir::DType::kInt8 : ir::DType::kUInt8, tensor.dims);
        const std::size_t need =
            ir::dataBytesOf(tensor.dtype, static_cast<uint64_t>(t.numElements()));
        if (tensor.byteSize() != need)
            return error(StatusCode::kBadInput, "tensor '{}' holds {} bytes, its shape needs {}",
                         tensor.name, tensor.byteSize(), need);
        const auto* packed = reinterpret_cast<const uint8_t*>(tensor.data->data());
        auto* out = t.data<uint8_t>();
        for (int64_t i = 0; i < t.numElements(); ++i) {
            const uint8_t byte = packed[i / 2];
            const uint8_t nibble = i % 2 ? byte >> 4 : byte & 0xF;
            out[i] = isSigned && nibble >= 8 ? static_cast<uint8_t>(nibble | 0xF0) : nibble;
        }
        return t;
    }
    HostTensor t(tensor.dtype, tensor.dims);
    if (tensor.dtype == ir::DType::kString) {
        t.m_strings = tensor.strings;
        return t;
    }
    if (tensor.byteSize() != t.byteSize())
        return error(StatusCode::kBadInput, "tensor '{}' holds {} bytes, its shape needs {}",
                     tensor.name, tensor.byteSize(), t.byteSize());
    if (t.byteSize()) std::memcpy(t.raw(), tensor.data->data(), t.byteSize());
    return t;
}

ir::Tensor HostTensor::toIr(std::string name) const {
    ir::Tensor t;
    t.name = std::move(name);
    t.dtype = m_dtype;
    t.dims = m_dims;
    if (m_dtype == ir::DType::kString) {
        t.strings = m_strings;
        t.storage = ir::TensorStorage::kTyped;
    } else {
        t.data = std::make_shared<const ir::Buffer>(raw(), byteSize());
    }
    return t;
}

HostTensor HostTensor::fromFloats(Dims dims, const std::vector<float>& values) {
    HostTensor t(ir::DType::kFloat, std::move(dims));
    WH_ASSERT(static_cast<int64_t>(values.size()) == t.numElements());
    if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(float));
    return t;
}

HostTensor HostTensor::fromInt64s(Dims dims, const std::vector<int64_t>& values) {
    HostTensor t(ir::DType::kInt64, std::move(dims));
    WH_ASSERT(static_cast<int64_t>(values.size()) == t.numElements());
    if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(int64_t));
    return t;
}

HostTensor HostTensor::scalar(ir::DType dtype, double value) {
    HostTensor t(dtype, {});
    using D = ir::DType;
    switch (dtype) {
        case D::kFloat:
            *t.data<float>() = static_cast<float>(value);
            break;
        case D::kDouble:
            *t.data<double>() = value;
            break;
        case D::kInt64:
            *t.data<int64_t>() = static_cast<int64_t>(value);
            break;
        case D::kInt32:
            *t.data<int32_t>() = static_cast<int32_t>(value);
            break;
        case D::kInt8:
            *t.data<int8_t>() = static_cast<int8_t>(value);
            break;
        case D::kUInt8:
            *t.data<uint8_t>() = static_cast<uint8_t>(value);
            break;
        case D::kBool:
            *t.data<uint8_t>() = value != 0.0;
            break;
        default:
            WH_ASSERT(false && "HostTensor::scalar: unsupported dtype");
    }
    return t;
}

double HostTensor::at(int64_t i) const {
    using D = ir::DType;
    const void* p = raw();
    switch (m_dtype) {
        case D::kFloat:
            return loadAs<float>(p, i);
        case D::kDouble:
            return loadAs<double>(p, i);
        case D::kInt64:
            return loadAs<int64_t>(p, i);
        case D::kInt32:
            return loadAs<int32_t>(p, i);
        case D::kInt16:
            return loadAs<int16_t>(p, i);
        case D::kInt8:
            return loadAs<int8_t>(p, i);
        case D::kUInt8:
            return loadAs<uint8_t>(p, i);
        case D::kUInt16:
            return loadAs<uint16_t>(p, i);
        case D::kUInt32:
            return loadAs<uint32_t>(p, i);
        case D::kUInt64:
            return loadAs<uint64_t>(p, i);
        case D::kBool:
            return loadAs<uint8_t>(p, i) ? 1.0 : 0.0;
        case D::kFloat16:
            return halfToDouble(static_cast<const uint16_t*>(p)[i]);
        case D::kBFloat16: {
            uint32_t bits = static_cast<uint32_t>(static_cast<const uint16_t*>(p)[i]) << 16;
            float f;
            std::memcpy(&f, &bits, 4);
            return f;
        }
        default:
            return 0.0;
    }
}

int64_t HostTensor::intAt(int64_t i) const {
    switch (m_dtype) {
        case ir::DType::kInt64:
            return data<int64_t>()[i];
        case ir::DType::kInt32:
            return data<int32_t>()[i];
        case ir::DType::kUInt64:
            return static_cast<int64_t>(data<uint64_t>()[i]);
        default:
            return static_cast<int64_t>(at(i));
    }
}

std::vector<int64_t> HostTensor::toInt64s() const {
    std::vector<int64_t> out(static_cast<std::size_t>(m_count));
    for (int64_t i = 0; i < m_count; ++i) out[static_cast<std::size_t>(i)] = intAt(i);
    return out;
}

std::vector<float> HostTensor::toFloats() const {
    std::vector<float> out(static_cast<std::size_t>(m_count));
    if (m_dtype == ir::DType::kFloat) {
        if (m_count) std::memcpy(out.data(), raw(), byteSize());
        return out;
    }
    for (int64_t i = 0; i < m_count; ++i)
        out[static_cast<std::size_t>(i)] = static_cast<float>(at(i));
    return out;
}

}  // namespace wh::engine
