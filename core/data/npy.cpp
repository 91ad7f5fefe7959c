#include "core/data/npy.h"

#include <fstream>
#include <regex>
#include <system_error>
#include <unistd.h>

namespace wh::data {

namespace fs = std::filesystem;

namespace {

struct NpyType {
    const char* descr;
    ir::DType dtype;
};
constexpr NpyType kTypes[] = {
    {"<f4", ir::DType::kFloat}, {"<f8", ir::DType::kDouble}, {"<i8", ir::DType::kInt64},
    {"<i4", ir::DType::kInt32}, {"|u1", ir::DType::kUInt8},  {"|i1", ir::DType::kInt8},
    {"|b1", ir::DType::kBool},  {"<f2", ir::DType::kFloat16},
};

}  // namespace

Expected<engine::HostTensor> readNpy(const fs::path& path) {
    const std::string file = path.string();
    std::ifstream in(path, std::ios::binary);
    if (!in) return error(StatusCode::kBadInput, "{}: cannot open", file);
    std::error_code ec;
    const uint64_t size = fs::file_size(path, ec);
    char magic[8];
    if (!in.read(magic, 8) || std::string_view(magic, 6) != "\x93NUMPY")
        return error(StatusCode::kBadInput, "{}: not a .npy file", file);
    uint32_t headerLen = 0;
    if (magic[6] == 1) {
        uint8_t b[2];
        in.read(reinterpret_cast<char*>(b), 2);
        headerLen = b[0] | (b[1] << 8);
    } else {
        uint8_t b[4];
        in.read(reinterpret_cast<char*>(b), 4);
        headerLen = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t{b[3]} << 24);
    }
    if (!in || headerLen > 65536 || headerLen > size)
        return error(StatusCode::kBadInput, "{}: corrupt .npy header", file);
    std::string header(headerLen, '\0');
    in.read(header.data(), headerLen);
    std::smatch m;
    if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']+)')")))
        return error(StatusCode::kBadInput, "{}: .npy header has no descr", file);
    const std::string descr = m[1];
    const NpyType* type = nullptr;
    for (const NpyType& t : kTypes)
        if (descr == t.descr) type = &t;
    if (!type)
        return error(StatusCode::kUnsupported, "{}: .npy element type '{}' is not supported", file,
                     descr);
    if (std::regex_search(header, std::regex(R"('fortran_order'\s*:\s*True)")))
        return error(StatusCode::kUnsupported, "{}: Fortran-ordered .npy is not supported", file);
    if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
        return error(StatusCode::kBadInput, "{}: .npy header has no shape", file);
    engine::Dims dims;
    const std::string shape = m[1];
    static const std::regex kNumber(R"(\d+)");
    std::sregex_iterator it(shape.begin(), shape.end(), kNumber), end;
    uint64_t count = 1;
    for (; it != end; ++it) {
        const uint64_t d = std::stoull(it->str());
        if (d > (uint64_t{1} << 40) || (d && count > (uint64_t{1} << 40) / d))
            return error(StatusCode::kBadInput, "{}: absurd .npy shape ({})", file, shape);
        count *= d;
        dims.push_back(static_cast<int64_t>(d));
    }
    const uint64_t bytes = count * ir::dtypeSize(type->dtype);
    const uint64_t dataStart = static_cast<uint64_t>(in.tellg());
    if (size < dataStart || size - dataStart != bytes)
        return error(StatusCode::kBadInput, "{}: shape ({}) needs {} bytes of data, the file has {}",
                     file, shape, bytes, size - dataStart);
    engine::HostTensor t(type->dtype, dims);
    if (bytes && !in.read(static_cast<char*>(t.raw()), static_cast<std::streamsize>(bytes)))
        return error(StatusCode::kBadInput, "{}: read failed", file);
    return t;
}

Status writeNpy(const fs::path& path, const engine::HostTensor& tensor) {
    const NpyType* type = nullptr;
    for (const NpyType& t : kTypes)
        if (t.dtype == tensor.dtype()) type = &t;
    if (!type)
        return makeStatus(StatusCode::kUnsupported, "{}: cannot write {} tensors as .npy",
                          path.string(), ir::dtypeName(tensor.dtype()));
    std::string shape = "(";
    for (int i = 0; i < tensor.rank(); ++i) shape += std::to_string(tensor.dim(i)) + ", ";
    if (tensor.rank() > 1) shape.resize(shape.size() - 2);
    else if (tensor.rank() == 1) shape.resize(shape.size() - 1);
    shape += ")";
    std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                     type->descr, shape);
    while ((10 + header.size() + 1) % 64) header += ' ';
    header += '\n';
    const fs::path tmp = path.string() + fmt::format(".tmp-{}", ::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return makeStatus(StatusCode::kIo, "{}: cannot write", path.string());
        out.write("\x93NUMPY\x01\x00", 8);
        const char len[2] = {static_cast<char>(header.size() & 0xff),
                             static_cast<char>(header.size() >> 8)};
        out.write(len, 2);
        out << header;
        out.write(static_cast<const char*>(tensor.raw()),
                  static_cast<std::streamsize>(tensor.byteSize()));
        if (!out) return makeStatus(StatusCode::kIo, "{}: write failed", path.string());
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) return makeStatus(StatusCode::kIo, "{}: {}", path.string(), ec.message());
    return Status::ok();
}

}  // namespace wh::data
