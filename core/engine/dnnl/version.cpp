// oneDNN's version for the studio's About box and benchmark headers (oneDNN types stay in
// core/engine/dnnl).

#include <dnnl.hpp>
#include <fmt/format.h>

#include "core/engine/benchmark.h"

namespace wh::engine {

std::string oneDnnVersion() {
    const dnnl_version_t* v = dnnl::version();
    return fmt::format("{}.{}.{}", v->major, v->minor, v->patch);
}

}  // namespace wh::engine
