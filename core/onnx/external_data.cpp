#include "core/onnx/external_data.h"

#include <charconv>
#include <fstream>
#include <system_error>

namespace wh::onnx {

namespace fs = std::filesystem;

Expected<ExternalRef> parseExternalRef(const std::string& file,
                                       const std::vector<ir::StringPair>& entries,
                                       std::string_view where) {
    ExternalRef ref;
    bool haveLocation = false;
    auto number = [&](const std::string& key, const std::string& text) -> Expected<uint64_t> {
        uint64_t v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc() || end != text.data() + text.size())
            return error(StatusCode::kBadInput, "{}: {} has external-data {} '{}', not a number",
                         file, where, key, text);
        return v;
    };
    for (const ir::StringPair& e : entries) {
        if (e.key == "location") {
            ref.location = e.value;
            haveLocation = true;
        } else if (e.key == "offset") {
            WH_ASSIGN_OR_RETURN(ref.offset, number(e.key, e.value));
        } else if (e.key == "length") {
            WH_ASSIGN_OR_RETURN(ref.length, number(e.key, e.value));
            ref.hasLength = true;
        }
    }
    if (!haveLocation || ref.location.empty())
        return error(StatusCode::kBadInput, "{}: {} is external but names no location", file,
                     where);
    // The OS stops a path at its first NUL: "data.bin\0../x" would open a file other than the
    // one named (and checked) here.
    if (ref.location.find('\0') != std::string::npos)
        return error(StatusCode::kBadInput,
                     "{}: {} has an external-data location with a NUL character", file, where);
    const fs::path loc(ref.location);
    if (loc.is_absolute())
        return error(StatusCode::kBadInput,
                     "{}: {} has an absolute external-data location '{}' (must be relative to "
                     "the model's folder)",
                     file, where, ref.location);
    for (const auto& part : loc)
        if (part == "..")
            return error(StatusCode::kBadInput,
                         "{}: {} has external-data location '{}', which leaves the model's folder",
                         file, where, ref.location);
    return ref;
}

Expected<std::string> readExternalData(const std::string& file, const fs::path& baseDir,
                                       const std::vector<ir::StringPair>& entries,
                                       uint64_t expectedBytes, std::string_view where,
                                       const Limits& limits, uint64_t& totalBytes) {
    WH_ASSIGN_OR_RETURN(ExternalRef ref, parseExternalRef(file, entries, where));
    if (baseDir.empty())
        return error(StatusCode::kBadInput,
                     "{}: {} uses external data, but the model was not read from a folder", file,
                     where);
    std::error_code ec;
    const fs::path target = baseDir / ref.location;
    if (!fs::exists(target, ec))
        return error(StatusCode::kBadInput, "{}: {} refers to external-data file '{}', which is "
                     "missing", file, where, ref.location);
    // A symlink (or a symlinked folder) may still lead out of the model's folder.
    const fs::path realBase = fs::canonical(baseDir, ec);
    const fs::path realTarget = fs::canonical(target, ec);
    if (ec)
        return error(StatusCode::kBadInput, "{}: {} external-data file '{}': {}", file, where,
                     ref.location, ec.message());
    auto rel = realTarget.lexically_relative(realBase);
    if (rel.empty() || *rel.begin() == "..")
        return error(StatusCode::kBadInput,
                     "{}: {} has external-data location '{}', which leads out of the model's "
                     "folder",
                     file, where, ref.location);
    if (!fs::is_regular_file(realTarget, ec))
        return error(StatusCode::kBadInput, "{}: {} external-data location '{}' is not a file",
                     file, where, ref.location);
    if (ref.hasLength && ref.length != expectedBytes)
        return error(StatusCode::kBadInput,
                     "{}: {} has external-data length {} but its shape needs {} bytes", file,
                     where, ref.length, expectedBytes);
    const uint64_t size = fs::file_size(realTarget, ec);
    if (ec || ref.offset > size || expectedBytes > size - ref.offset)
        return error(StatusCode::kBadInput,
                     "{}: {} reads bytes {}..{} of '{}', past its end ({} bytes)", file, where,
                     ref.offset, ref.offset + expectedBytes, ref.location, size);
    totalBytes += expectedBytes;
    if (totalBytes > limits.maxExternalBytes)
        return error(StatusCode::kBadInput, "{}: external data exceeds the {} byte limit", file,
                     limits.maxExternalBytes);
    std::ifstream in(realTarget, std::ios::binary);
    std::string data(expectedBytes, '\0');
    in.seekg(static_cast<std::streamoff>(ref.offset));
    if (!in || !in.read(data.data(), static_cast<std::streamsize>(expectedBytes)))
        return error(StatusCode::kBadInput, "{}: {} could not read external data from '{}'",
                     file, where, ref.location);
    return data;
}

}  // namespace wh::onnx
