#pragma once
// External tensor data (ONNX data_location = EXTERNAL): reading with every path and size
// checked, and writing beside an exported model. Internal to core/onnx.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/ir/tensor.h"
#include "core/onnx/model_io.h"
#include "core/util/status.h"

namespace wh::onnx {

/// Parsed location/offset/length of one external tensor.
struct ExternalRef {
    std::string location;
    uint64_t offset = 0;
    bool hasLength = false;
    uint64_t length = 0;
};

/// Parses the key/value entries; `where` names the tensor in messages.
Expected<ExternalRef> parseExternalRef(const std::string& file,
                                       const std::vector<ir::StringPair>& entries,
                                       std::string_view where);

/// Reads `expectedBytes` bytes of a tensor's external data. The location must be relative,
/// stay inside `baseDir` (no "..", no symlink leading out), and the range must lie in the file.
/// `totalBytes` accumulates over a model and is checked against limits.maxExternalBytes.
Expected<std::string> readExternalData(const std::string& file,
                                       const std::filesystem::path& baseDir,
                                       const std::vector<ir::StringPair>& entries,
                                       uint64_t expectedBytes, std::string_view where,
                                       const Limits& limits, uint64_t& totalBytes);

}  // namespace wh::onnx
