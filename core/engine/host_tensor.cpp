#include "core/engine/host_tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace wh::engine {

namespace {
constexpr std::size_t kAlignment = 64;

std::shared_ptr<std::byte[]> allocate(std::size_t bytes) {
    const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    auto* p = static_cast<std::byte*>(
        ::operator new[](rounded ? rounded : kAlignment, std::align_val_t(kAlignment)));
    std::memset(p, 0, rounded ? rounded : kAlignment);
    return std::shared_ptr<std::byte[]>(
        p, [](std::byte* q) { ::operator delete[](q, std::align_val_t(kAlignment)); });
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
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
}

std::string dimsToString(const Dims& dims) {
    return fmt::format("[{}]", fmt::join(dims, ","));
}

HostTensor::HostTensor(ir::DType dtype, Dims dims) {
    ensure(dtype, dims);
}

void HostTensor::ensure(ir::DType dtype, const Dims& dims, std::size_t minBytes) {
    m_dtype = dtype;
    m_dims = dims;
    m_count = numElementsOf(dims);
    if (dtype == ir::DType::kString) {
        m_strings.assign(static_cast<std::size_t>(m_count), {});
        return;
    }
    const std::size_t bytes =
        std::max(static_cast<std::size_t>(m_count) * ir::dtypeSize(dtype), minBytes);
    if (!m_storage || bytes > m_capacity || m_storage.use_count() > 1) {
        m_storage = allocate(bytes);
        m_capacity = bytes;
    }
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
