#include "core/ir/tensor.h"

#include <cmath>

#include "core/util/status.h"

namespace wh::ir {

int64_t Tensor::numElements() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
}

std::byte* Tensor::mutableData() {
    // use_count() > 1 means a snapshot or the undo stack still sees the old bytes: copy first.
    if (!data || data.use_count() > 1) {
        data = data ? std::make_shared<const Buffer>(*data) : std::make_shared<const Buffer>();
    }
    return const_cast<Buffer&>(*data).mutableData();
}

Tensor Tensor::fromFloats(std::string name, std::vector<int64_t> dims,
                          const std::vector<float>& values) {
    Tensor t;
    t.name = std::move(name);
    t.dtype = DType::kFloat;
    t.dims = std::move(dims);
    WH_ASSERT(t.numElements() == static_cast<int64_t>(values.size()));
    t.data = std::make_shared<const Buffer>(values.data(), values.size() * sizeof(float));
    return t;
}

bool Tensor::isRealNumeric() const {
    switch (dtype) {
        case DType::kString:
        case DType::kUndefined:
        case DType::kComplex64:
        case DType::kComplex128: return false;
        default: return true;
    }
}

namespace {
template <class T>
double load(const std::byte* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return static_cast<double>(v);
}
double halfToDouble(uint16_t h) {
    const uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    double v;
    if (exp == 0) v = std::ldexp(static_cast<double>(mant), -24);
    else if (exp == 31) v = mant ? NAN : INFINITY;
    else v = std::ldexp(static_cast<double>(mant | 0x400), static_cast<int>(exp) - 25);
    return sign ? -v : v;
}
}  // namespace

double Tensor::elementAsDouble(int64_t index) const {
    if (is4Bit(dtype)) {  // two per byte, the first in the low nibble
        const auto byte = static_cast<uint8_t>(data->data()[index / 2]);
        const int nibble = index % 2 ? byte >> 4 : byte & 0xF;
        return dtype == DType::kInt4 && nibble >= 8 ? nibble - 16 : nibble;
    }
    const std::byte* p = data->data() + index * static_cast<int64_t>(dtypeSize(dtype));
    switch (dtype) {
        case DType::kFloat: return load<float>(p);
        case DType::kDouble: return load<double>(p);
        case DType::kUInt8: return load<uint8_t>(p);
        case DType::kInt8: return load<int8_t>(p);
        case DType::kUInt16: return load<uint16_t>(p);
        case DType::kInt16: return load<int16_t>(p);
        case DType::kInt32: return load<int32_t>(p);
        case DType::kInt64: return load<int64_t>(p);
        case DType::kUInt32: return load<uint32_t>(p);
        case DType::kUInt64: return load<uint64_t>(p);
        case DType::kBool: return load<uint8_t>(p) ? 1.0 : 0.0;
        case DType::kFloat16: {
            uint16_t h;
            std::memcpy(&h, p, 2);
            return halfToDouble(h);
        }
        case DType::kBFloat16: {
            uint16_t h;
            std::memcpy(&h, p, 2);
            uint32_t bits = static_cast<uint32_t>(h) << 16;
            float f;
            std::memcpy(&f, &bits, 4);
            return f;
        }
        default: return 0.0;
    }
}

}  // namespace wh::ir
