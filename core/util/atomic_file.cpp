#include "core/util/atomic_file.h"

#include <unistd.h>

#include <fstream>
#include <system_error>

#include <fmt/format.h>

namespace wh::util {

namespace fs = std::filesystem;

Status writeAtomically(const fs::path& path, const std::string& bytes) {
    const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    const fs::path tmp = dir / fmt::format(".{}.tmp-{}", path.filename().string(), ::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out)
            return makeStatus(StatusCode::kIo, "{}: cannot write (folder missing or not "
                              "writable)", path.string());
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.flush();
        if (!out) {
            std::error_code ec;
            fs::remove(tmp, ec);
            return makeStatus(StatusCode::kIo, "{}: write failed (disk full?)", path.string());
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        return makeStatus(StatusCode::kIo, "{}: cannot replace ({})", path.string(), ec.message());
    }
    return Status::ok();
}


}  // namespace wh::util
