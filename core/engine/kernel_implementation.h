#pragma once
/// KernelImplementation: what a kernel tells about the implementation a library picked for it,
/// when that matters to the user — an int8 convolution on "brgconv:avx512_core_vnni" or on
/// "ref_int8:any", about 1,000x slower. A kernel that has something to tell derives from it
/// besides Kernel; Plan::describe() shows it next to the backend.

#include <string>

namespace wh::engine {

class KernelImplementation {
public:
    virtual ~KernelImplementation() = default;
    /// The library's name for the implementation ("brgconv:avx512_core_vnni").
    virtual std::string implementation() const = 0;
};

}  // namespace wh::engine
