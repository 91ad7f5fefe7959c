#pragma once
/// Lossless round trips need to know which optional ONNX fields were *present* in the source even
/// though they held their default ("" or 0): ONNX is proto2, where presence is part of the message.
/// Every IR record that mirrors a proto message carries a `Presence` word; only core/onnx reads or
/// writes its bits (an edit that changes a field need not care: non-default values are always
/// written). A record built by code, not read from a file, has no bits set.

#include <cstdint>

namespace wh::ir {

struct Presence {
    uint32_t bits = 0;
    bool has(int bit) const { return (bits >> bit) & 1u; }
    void set(int bit) { bits |= (1u << bit); }
    bool operator==(const Presence&) const = default;
};

}  // namespace wh::ir
