// ir::Model -> ONNX ModelProto, the mirror of importer.cpp: a field is written when it holds a
// non-default value or when the source had it present (ir::Presence), so round trips are exact.

#include <cstring>
#include <fstream>
#include <map>
#include <system_error>
#include <unistd.h>

#include <onnx/onnx_pb.h>

#include "core/onnx/external_data.h"
#include "core/onnx/model_io.h"
#include "core/util/atomic_file.h"
#include "core/onnx/presence_bits.h"

namespace wh::onnx {

namespace fs = std::filesystem;

namespace {

void exportPair(const ir::StringPair& p, ::onnx::StringStringEntryProto* out) {
    if (!p.key.empty() || p.presence.has(bits::kPairKey)) out->set_key(p.key);
    if (!p.value.empty() || p.presence.has(bits::kPairValue)) out->set_value(p.value);
}

void exportOpset(const ir::OpsetId& o, ::onnx::OperatorSetIdProto* out) {
    if (!o.domain.empty() || o.presence.has(bits::kOpsetDomain)) out->set_domain(o.domain);
    if (o.version != 0 || o.presence.has(bits::kOpsetVersion)) out->set_version(o.version);
}

template <class Dst>
void unpackInts(const ir::Tensor& t, google::protobuf::RepeatedField<Dst>* out, bool isSigned) {
    // 4-bit data goes as its packed bytes, one per entry (as it was read).
    const std::size_t elemSize = ir::is4Bit(t.dtype) ? 1 : ir::dtypeSize(t.dtype);
    const std::size_t n = elemSize ? t.byteSize() / elemSize : 0;
    out->Resize(static_cast<int>(n), 0);
    const auto* src = reinterpret_cast<const unsigned char*>(t.data->data());
    for (std::size_t i = 0; i < n; ++i) {
        uint64_t bitsValue = 0;
        std::memcpy(&bitsValue, src + i * elemSize, elemSize);
        if (isSigned && elemSize < 8) {
            const unsigned shift = 64 - 8 * static_cast<unsigned>(elemSize);
            bitsValue = static_cast<uint64_t>(static_cast<int64_t>(bitsValue << shift) >> shift);
        }
        out->Set(static_cast<int>(i), static_cast<Dst>(bitsValue));
    }
}

// An empty tensor's RepeatedField has no storage (a null pointer), and memcpy with a null
// pointer is undefined even for zero bytes.
void copyData(const ir::Tensor& t, void* dst) {
    if (t.byteSize() > 0) std::memcpy(dst, t.data->data(), t.byteSize());
}

void exportTensor(const ir::Tensor& t, ::onnx::TensorProto* out) {
    for (int64_t d : t.dims) out->add_dims(d);
    if (t.dtype != ir::DType::kUndefined || t.presence.has(bits::kTensorDataType))
        out->set_data_type(static_cast<int32_t>(t.dtype));
    if (t.segment) {
        auto* seg = out->mutable_segment();
        if (t.segment->first != 0 || t.segmentPresence.has(bits::kSegmentBegin))
            seg->set_begin(t.segment->first);
        if (t.segment->second != 0 || t.segmentPresence.has(bits::kSegmentEnd))
            seg->set_end(t.segment->second);
    }
    if (!t.name.empty() || t.presence.has(bits::kTensorName)) out->set_name(t.name);
    if (!t.docString.empty() || t.presence.has(bits::kTensorDocString))
        out->set_doc_string(t.docString);
    for (const auto& e : t.externalData) exportPair(e, out->add_external_data());

    switch (t.storage) {
        case ir::TensorStorage::kExternal:
            out->set_data_location(::onnx::TensorProto_DataLocation_EXTERNAL);
            return;
        case ir::TensorStorage::kRaw:
            if (t.presence.has(bits::kTensorDataLocation))
                out->set_data_location(::onnx::TensorProto_DataLocation_DEFAULT);
            out->set_raw_data(t.data->bytes());
            return;
        case ir::TensorStorage::kTyped: break;
    }
    if (t.presence.has(bits::kTensorDataLocation))
        out->set_data_location(::onnx::TensorProto_DataLocation_DEFAULT);
    using D = ir::DType;
    switch (t.dtype) {
        case D::kFloat:
        case D::kComplex64: {
            const auto n = static_cast<int>(t.byteSize() / sizeof(float));
            out->mutable_float_data()->Resize(n, 0.0f);
            copyData(t, out->mutable_float_data()->mutable_data());
            break;
        }
        case D::kDouble:
        case D::kComplex128: {
            const auto n = static_cast<int>(t.byteSize() / sizeof(double));
            out->mutable_double_data()->Resize(n, 0.0);
            copyData(t, out->mutable_double_data()->mutable_data());
            break;
        }
        case D::kInt64: {
            const auto n = static_cast<int>(t.byteSize() / sizeof(int64_t));
            out->mutable_int64_data()->Resize(n, 0);
            copyData(t, out->mutable_int64_data()->mutable_data());
            break;
        }
        case D::kUInt32:
        case D::kUInt64: unpackInts(t, out->mutable_uint64_data(), false); break;
        case D::kInt8:
        case D::kInt16:
        case D::kInt32: unpackInts(t, out->mutable_int32_data(), true); break;
        case D::kUInt8:
        case D::kUInt16:
        case D::kBool:
        case D::kFloat16:
        case D::kBFloat16:
        case D::kUInt4:
        case D::kInt4: unpackInts(t, out->mutable_int32_data(), false); break;
        case D::kString:
            for (const auto& s : t.strings) out->add_string_data(s);
            break;
        case D::kUndefined: break;
    }
}

void exportSparse(const ir::SparseTensor& s, ::onnx::SparseTensorProto* out) {
    if (s.presence.has(bits::kSparseValues)) exportTensor(s.values, out->mutable_values());
    if (s.presence.has(bits::kSparseIndices)) exportTensor(s.indices, out->mutable_indices());
    for (int64_t d : s.dims) out->add_dims(d);
}

void exportShape(const ir::Shape& shape, ::onnx::TensorShapeProto* out) {
    for (const ir::Dim& d : shape.dims) {
        auto* dim = out->add_dim();
        if (d.kind == ir::Dim::Kind::kValue) dim->set_dim_value(d.value);
        else if (d.kind == ir::Dim::Kind::kParam) dim->set_dim_param(d.param);
        if (!d.denotation.empty() || d.presence.has(bits::kDimDenotation))
            dim->set_denotation(d.denotation);
    }
}

void exportType(const ir::Type& t, ::onnx::TypeProto* out) {
    auto elemType = [&](auto* msg) {
        if (t.elemType != ir::DType::kUndefined || t.innerPresence.has(bits::kInnerElemType))
            msg->set_elem_type(static_cast<int32_t>(t.elemType));
        if (t.shape) exportShape(*t.shape, msg->mutable_shape());
    };
    switch (t.kind) {
        case ir::Type::Kind::kNone: break;
        case ir::Type::Kind::kTensor: elemType(out->mutable_tensor_type()); break;
        case ir::Type::Kind::kSparseTensor: elemType(out->mutable_sparse_tensor_type()); break;
        case ir::Type::Kind::kSequence: {
            auto* seq = out->mutable_sequence_type();
            if (t.elem) exportType(*t.elem, seq->mutable_elem_type());
            break;
        }
        case ir::Type::Kind::kOptional: {
            auto* opt = out->mutable_optional_type();
            if (t.elem) exportType(*t.elem, opt->mutable_elem_type());
            break;
        }
        case ir::Type::Kind::kMap: {
            auto* map = out->mutable_map_type();
            if (t.keyType != ir::DType::kUndefined || t.innerPresence.has(bits::kInnerKeyType))
                map->set_key_type(static_cast<int32_t>(t.keyType));
            if (t.elem) exportType(*t.elem, map->mutable_value_type());
            break;
        }
        case ir::Type::Kind::kOpaque: {
            auto* op = out->mutable_opaque_type();
            if (!t.opaqueDomain.empty() || t.innerPresence.has(bits::kInnerOpaqueDomain))
                op->set_domain(t.opaqueDomain);
            if (!t.opaqueName.empty() || t.innerPresence.has(bits::kInnerOpaqueName))
                op->set_name(t.opaqueName);
            break;
        }
    }
    if (!t.denotation.empty() || t.presence.has(bits::kTypeDenotation))
        out->set_denotation(t.denotation);
}

void exportValueInfo(const ir::Value& v, ::onnx::ValueInfoProto* out) {
    if (!v.name().empty() || v.presence.has(bits::kValueInfoName)) out->set_name(v.name());
    if (v.type.kind != ir::Type::Kind::kNone || v.presence.has(bits::kValueInfoType))
        exportType(v.type, out->mutable_type());
    if (!v.docString.empty() || v.presence.has(bits::kValueInfoDocString))
        out->set_doc_string(v.docString);
}

void exportGraph(const ir::Graph& g, ::onnx::GraphProto* out);

void exportAttribute(const ir::Attribute& a, ::onnx::AttributeProto* out) {
    const ir::Presence& p = a.presence;
    if (!a.name.empty() || p.has(bits::kAttrName)) out->set_name(a.name);
    if (a.f != 0.0f || std::signbit(a.f) || p.has(bits::kAttrF)) out->set_f(a.f);
    if (a.i != 0 || p.has(bits::kAttrI)) out->set_i(a.i);
    if (!a.s.empty() || p.has(bits::kAttrS)) out->set_s(a.s);
    if (a.t) exportTensor(*a.t, out->mutable_t());
    if (a.g) exportGraph(*a.g, out->mutable_g());
    for (float f : a.floats) out->add_floats(f);
    for (int64_t i : a.ints) out->add_ints(i);
    for (const auto& s : a.strings) out->add_strings(s);
    for (const auto& t : a.tensors) exportTensor(t, out->add_tensors());
    for (const auto& g : a.graphs) exportGraph(*g, out->add_graphs());
    if (!a.docString.empty() || p.has(bits::kAttrDocString)) out->set_doc_string(a.docString);
    if (a.tp) exportType(*a.tp, out->mutable_tp());
    for (const auto& t : a.typeProtos) exportType(t, out->add_type_protos());
    if (a.type != ir::AttrType::kUndefined || p.has(bits::kAttrType))
        out->set_type(static_cast<::onnx::AttributeProto_AttributeType>(a.type));
    if (!a.refAttrName.empty() || p.has(bits::kAttrRefAttrName))
        out->set_ref_attr_name(a.refAttrName);
    if (a.sparseTensor) exportSparse(*a.sparseTensor, out->mutable_sparse_tensor());
    for (const auto& s : a.sparseTensors) exportSparse(s, out->add_sparse_tensors());
}

void exportNode(const ir::Node& n, ::onnx::NodeProto* out) {
    for (const ir::Value* v : n.inputs()) out->add_input(v ? v->name() : std::string());
    for (const ir::Value* v : n.outputs()) out->add_output(v ? v->name() : std::string());
    if (!n.name.empty() || n.presence.has(bits::kNodeName)) out->set_name(n.name);
    if (!n.opType.empty() || n.presence.has(bits::kNodeOpType)) out->set_op_type(n.opType);
    for (const auto& a : n.attributes()) exportAttribute(a, out->add_attribute());
    if (!n.docString.empty() || n.presence.has(bits::kNodeDocString))
        out->set_doc_string(n.docString);
    if (!n.domain.empty() || n.presence.has(bits::kNodeDomain)) out->set_domain(n.domain);
}

void exportGraph(const ir::Graph& g, ::onnx::GraphProto* out) {
    out->mutable_node()->Reserve(static_cast<int>(g.numNodes()));
    for (const ir::Node* n : g.nodes()) exportNode(*n, out->add_node());
    if (!g.name.empty() || g.presence.has(bits::kGraphName)) out->set_name(g.name);
    for (const ir::Value* v : g.initializers()) exportTensor(*v->initializer(), out->add_initializer());
    if (!g.docString.empty() || g.presence.has(bits::kGraphDocString))
        out->set_doc_string(g.docString);
    for (const ir::Value* v : g.inputs()) exportValueInfo(*v, out->add_input());
    for (const ir::Value* v : g.outputs()) exportValueInfo(*v, out->add_output());
    for (const ir::Value* v : g.valueInfos()) exportValueInfo(*v, out->add_value_info());
    for (const auto& qa : g.quantizationAnnotations) {
        auto* q = out->add_quantization_annotation();
        if (!qa.tensorName.empty() || qa.presence.has(bits::kAnnotationTensorName))
            q->set_tensor_name(qa.tensorName);
        for (const auto& p : qa.quantParameterTensorNames)
            exportPair(p, q->add_quant_parameter_tensor_names());
    }
    for (const ir::Value* v : g.sparseInitializers())
        exportSparse(*v->sparseInitializer(), out->add_sparse_initializer());
}

void exportModel(const ir::Model& m, ::onnx::ModelProto* out) {
    const ir::Presence& p = m.presence;
    if (m.irVersion != 0 || p.has(bits::kModelIrVersion)) out->set_ir_version(m.irVersion);
    if (!m.producerName.empty() || p.has(bits::kModelProducerName))
        out->set_producer_name(m.producerName);
    if (!m.producerVersion.empty() || p.has(bits::kModelProducerVersion))
        out->set_producer_version(m.producerVersion);
    if (!m.domain.empty() || p.has(bits::kModelDomain)) out->set_domain(m.domain);
    if (m.modelVersion != 0 || p.has(bits::kModelVersion)) out->set_model_version(m.modelVersion);
    if (!m.docString.empty() || p.has(bits::kModelDocString)) out->set_doc_string(m.docString);
    if (m.graph) exportGraph(*m.graph, out->mutable_graph());
    for (const auto& o : m.opsetImports) exportOpset(o, out->add_opset_import());
    for (const auto& e : m.metadataProps) exportPair(e, out->add_metadata_props());
    for (const auto& ti : m.trainingInfo) out->add_training_info()->ParseFromString(ti);
    for (const auto& f : m.functions) {
        auto* fp = out->add_functions();
        if (!f.name.empty() || f.presence.has(bits::kFunctionName)) fp->set_name(f.name);
        if (f.body) {
            for (const ir::Value* v : f.body->inputs()) fp->add_input(v->name());
            for (const ir::Value* v : f.body->outputs()) fp->add_output(v->name());
        }
        for (const auto& a : f.attributes) fp->add_attribute(a);
        if (f.body)
            for (const ir::Node* n : f.body->nodes()) exportNode(*n, fp->add_node());
        if (!f.docString.empty() || f.presence.has(bits::kFunctionDocString))
            fp->set_doc_string(f.docString);
        for (const auto& o : f.opsetImports) exportOpset(o, fp->add_opset_import());
        if (!f.domain.empty() || f.presence.has(bits::kFunctionDomain)) fp->set_domain(f.domain);
    }
}

// Every external tensor of a graph and its subgraphs.
void collectExternal(const ir::Graph& g, std::vector<const ir::Tensor*>& out) {
    for (const ir::Value* v : g.initializers())
        if (v->initializer()->storage == ir::TensorStorage::kExternal)
            out.push_back(v->initializer());
    for (const ir::Node* n : g.nodes()) {
        for (const auto& a : n->attributes()) {
            if (a.t && a.t->storage == ir::TensorStorage::kExternal) out.push_back(&*a.t);
            for (const auto& t : a.tensors)
                if (t.storage == ir::TensorStorage::kExternal) out.push_back(&t);
        }
        for (const ir::Graph* sub : n->subgraphs()) collectExternal(*sub, out);
    }
}

}  // namespace

Expected<std::string> serializeModel(const ir::Model& model) {
    ::onnx::ModelProto mp;
    exportModel(model, &mp);
    std::string out;
    if (mp.ByteSizeLong() > INT32_MAX)
        return error(StatusCode::kUnsupported,
                     "the model is larger than protobuf's 2 GiB limit; store its weights as "
                     "external data");
    if (!mp.SerializeToString(&out))
        return error(StatusCode::kInternal, "protobuf serialization failed");
    return out;
}

Status saveModel(const ir::Model& model, const fs::path& path) {
    WH_ASSIGN_OR_RETURN_STATUS(std::string bytes, serializeModel(model));

    // External data files: each location gets its tensors at their recorded offsets.
    std::vector<const ir::Tensor*> external;
    if (model.graph) collectExternal(*model.graph, external);
    std::map<std::string, std::string> files;
    for (const ir::Tensor* t : external) {
        WH_ASSIGN_OR_RETURN_STATUS(
            ExternalRef ref,
            parseExternalRef(path.string(), t->externalData, fmt::format("tensor '{}'", t->name)));
        std::string& content = files[ref.location];
        const uint64_t end = ref.offset + t->byteSize();
        if (content.size() < end) content.resize(end, '\0');
        std::memcpy(content.data() + ref.offset, t->data->data(), t->byteSize());
    }
    const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    for (const auto& [location, content] : files) {
        const fs::path target = dir / location;
        std::error_code ec;
        // An existing data file may belong to the model the user opened (an export into its
        // own folder): never replace it with different bytes.
        if (fs::exists(target, ec)) {
            if (fs::file_size(target, ec) == content.size()) {
                std::ifstream in(target, std::ios::binary);
                std::string existing(content.size(), '\0');
                if (in.read(existing.data(), static_cast<std::streamsize>(existing.size())) &&
                    existing == content)
                    continue;
            }
            return makeStatus(StatusCode::kIo,
                              "{}: external-data file '{}' already exists with other contents "
                              "(perhaps the input model's); export to another folder",
                              path.string(), location);
        }
        fs::create_directories(target.parent_path(), ec);
        WH_RETURN_STATUS_IF_ERROR(util::writeAtomically(target, content));
    }
    return util::writeAtomically(path, bytes);
}

}  // namespace wh::onnx
