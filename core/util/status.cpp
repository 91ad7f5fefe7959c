#include "core/util/status.h"

#include <cstdio>
#include <cstdlib>

namespace wh {

int exitCodeOf(const Status& status) {
    switch (status.code()) {
        case StatusCode::kOk: return 0;
        case StatusCode::kUsage: return 1;
        case StatusCode::kBadInput: return 2;
        case StatusCode::kIo: return 2;
        case StatusCode::kUnsupported: return 3;
        case StatusCode::kCancelled: return 4;
        case StatusCode::kInternal: return 2;
    }
    return 2;
}

namespace detail {
void assertFailed(const char* expr, const char* file, int line) {
    std::fprintf(stderr, "whittle: internal error: assertion '%s' failed at %s:%d\n", expr, file,
                 line);
    std::abort();
}
}  // namespace detail

}  // namespace wh
