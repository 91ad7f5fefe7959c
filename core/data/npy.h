#pragma once
/// NumPy .npy files (format 1.0/2.0, little-endian, C order): float32, float64, int64, int32,
/// uint8, int8 and bool, for `whittle-cli run` inputs and outputs.

#include <filesystem>

#include "core/engine/host_tensor.h"
#include "core/util/status.h"

namespace wh::data {

/// Reads a .npy file; the header is checked against the file size before allocating.
Expected<engine::HostTensor> readNpy(const std::filesystem::path& path);

/// Writes `tensor` as .npy, atomically (temporary file + rename).
Status writeNpy(const std::filesystem::path& path, const engine::HostTensor& tensor);

}  // namespace wh::data
