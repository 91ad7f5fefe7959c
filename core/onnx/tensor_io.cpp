// Single TensorProto files (ONNX backend-test data).

#include <fstream>
#include <system_error>

#include <onnx/onnx_pb.h>

#include "core/onnx/model_io.h"

namespace wh::onnx {

namespace fs = std::filesystem;

Expected<ir::Tensor> loadTensor(const fs::path& path, const Limits& limits) {
    const std::string file = path.string();
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec) return error(StatusCode::kBadInput, "{}: cannot read ({})", file, ec.message());
    if (size > limits.maxFileBytes)
        return error(StatusCode::kBadInput, "{}: the file is {} bytes, above the {} byte limit",
                     file, size, limits.maxFileBytes);
    std::ifstream in(path, std::ios::binary);
    std::string bytes(size, '\0');
    if (!in.read(bytes.data(), static_cast<std::streamsize>(size)))
        return error(StatusCode::kBadInput, "{}: read failed", file);
    // Wrap the tensor in a one-initializer model so the importer's checks apply unchanged.
    ::onnx::ModelProto mp;
    ::onnx::TensorProto* t = mp.mutable_graph()->add_initializer();
    if (!t->ParseFromString(bytes))
        return error(StatusCode::kBadInput, "{}: not a valid TensorProto", file);
    const std::string name = t->name();
    if (t->name().empty()) t->set_name("tensor");
    const std::string wrapped = mp.SerializeAsString();
    WH_ASSIGN_OR_RETURN(ir::Model m,
                        parseModel(std::as_bytes(std::span(wrapped.data(), wrapped.size())), file,
                                   path.parent_path(), limits));
    ir::Value* v = m.graph->initializers().front();
    ir::Tensor out = *v->initializer();
    out.name = name;
    return out;
}

}  // namespace wh::onnx
