#include "core/engine/buffer_pool.h"

#include <cstdlib>
#include <cstring>
#include <string_view>

namespace wh::engine {

namespace {
const bool g_poison = [] {
    const char* v = std::getenv("WHITTLE_POISON_BUFFERS");
    return v && std::string_view(v) == "1";
}();
}  // namespace

HostTensor BufferPool::acquire(std::size_t bytes) {
    if (bytes == 0) return {};
    // Best fit, and never more than twice the size (a small tensor must not take the buffer a
    // large one will ask for next).
    std::size_t best = m_buffers.size();
    for (std::size_t i = 0; i < m_buffers.size(); ++i) {
        const std::size_t size = m_buffers[i].capacity();
        if (size >= bytes && size <= 2 * bytes + 4096 &&
            (best == m_buffers.size() || size < m_buffers[best].capacity()))
            best = i;
    }
    if (best == m_buffers.size()) return {};
    HostTensor t = std::move(m_buffers[best]);
    m_buffers[best] = std::move(m_buffers.back());
    m_stamps[best] = m_stamps.back();
    m_buffers.pop_back();
    m_stamps.pop_back();
    if (g_poison) std::memset(t.raw(), 0xFF, t.capacity());
    return t;
}

void BufferPool::recycle(HostTensor& t, uint64_t run, bool keep) {
    if (t.empty()) return;
    if (keep && t.dtype() != ir::DType::kString && t.byteSize() > 0 && t.ownsStorageAlone()) {
        m_buffers.push_back(std::move(t));
        m_stamps.push_back(run);
    }
    t = HostTensor();
}

void BufferPool::trim(uint64_t run) {
    for (std::size_t i = m_buffers.size(); i-- > 0;)
        if (m_stamps[i] < run) {
            m_buffers[i] = std::move(m_buffers.back());
            m_stamps[i] = m_stamps.back();
            m_buffers.pop_back();
            m_stamps.pop_back();
        }
}

}  // namespace wh::engine
