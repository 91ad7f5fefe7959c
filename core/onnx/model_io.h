#pragma once
/// Reading and writing ONNX files. Protobuf types never leave core/onnx: callers see ir::Model.
///
/// Import → export is lossless: the written ModelProto equals the one read, field for field
/// (including which optional fields were present, node/initializer order and external data).
/// Every file is treated as hostile: sizes are checked against Limits before anything is
/// allocated, and every error names the file and the node or tensor involved.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::onnx {

/// Bounds applied while reading; the defaults admit every real model we know of.
struct Limits {
    uint64_t maxFileBytes = uint64_t{2} << 30;          ///< protobuf's own 2 GiB ceiling
    uint64_t maxTensorBytes = uint64_t{2} << 30;        ///< one tensor, dense, in memory
    uint64_t maxExternalBytes = uint64_t{16} << 30;     ///< all external data together
    int maxRank = 64;
    int maxSubgraphDepth = 32;
    uint64_t maxNodes = 20'000'000;
};

/// Reads `path` (and any external-data files beside it).
Expected<ir::Model> loadModel(const std::filesystem::path& path, const Limits& limits = {});

/// Parses bytes already in memory. `displayName` appears in messages; external data is
/// resolved against `baseDir` (empty = external data is an error).
Expected<ir::Model> parseModel(std::span<const std::byte> bytes, std::string_view displayName,
                               const std::filesystem::path& baseDir, const Limits& limits = {});

/// Writes `model` to `path` atomically (a temporary file in the same folder, then rename).
/// Tensors that were external stay external, written to files beside `path` under the same
/// relative locations and offsets. Refuses to write over `protectedInput` when given.
Status saveModel(const ir::Model& model, const std::filesystem::path& path);

/// The serialized ModelProto (external tensors keep their references; no data files written).
Expected<std::string> serializeModel(const ir::Model& model);

/// The ONNX library Whittle reads and writes models with, e.g. "1.12.0".
std::string onnxLibraryVersion();

/// Reads a serialized TensorProto (e.g. the input_0.pb / output_0.pb files of ONNX's node tests).
Expected<ir::Tensor> loadTensor(const std::filesystem::path& path, const Limits& limits = {});

}  // namespace wh::onnx
