// The ONNX library's version, for the studio's About box (ONNX headers stay in core/onnx).

#ifndef ONNX_NAMESPACE
#define ONNX_NAMESPACE onnx
#endif
#include <onnx/common/version.h>

#include "core/onnx/model_io.h"

namespace wh::onnx {

std::string onnxLibraryVersion() { return ::ONNX_NAMESPACE::LAST_RELEASE_VERSION; }

}  // namespace wh::onnx
