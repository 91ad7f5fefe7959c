#pragma once
/// Writing a file so that a reader never sees it half-written and a failure leaves the old file
/// intact: a temporary file in the same folder, then a rename. Every output Whittle writes
/// (models, recipes) goes through it.

#include <filesystem>
#include <string>

#include "core/util/status.h"

namespace wh::util {

/// Writes `bytes` to `path` atomically. kIo naming the file when the folder is missing or not
/// writable, the disk is full, or the rename fails (the temporary file is removed then).
Status writeAtomically(const std::filesystem::path& path, const std::string& bytes);

}  // namespace wh::util
