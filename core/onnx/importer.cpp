// ONNX ModelProto -> ir::Model. Every size is checked before it is trusted; every message names
// the file and the node or tensor.

#include <cstring>
#include <fstream>
#include <limits>
#include <system_error>
#include <unordered_map>
#include <unordered_set>

#include <google/protobuf/arena.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/stubs/logging.h>
#include <onnx/onnx_pb.h>

#include "core/onnx/external_data.h"
#include "core/onnx/model_io.h"
#include "core/onnx/presence_bits.h"

namespace wh::onnx {

namespace fs = std::filesystem;
using ir::Presence;

namespace {

// Protobuf logs parse errors to stderr by itself; our contract is one line of our own.
struct SilenceProtobufLogs {
    SilenceProtobufLogs() { google::protobuf::SetLogHandler(nullptr); }
};

ir::StringPair importPair(const ::onnx::StringStringEntryProto& p) {
    ir::StringPair out;
    out.key = p.key();
    out.value = p.value();
    if (p.has_key()) out.presence.set(bits::kPairKey);
    if (p.has_value()) out.presence.set(bits::kPairValue);
    return out;
}

ir::OpsetId importOpset(const ::onnx::OperatorSetIdProto& p) {
    ir::OpsetId out;
    out.domain = p.domain();
    out.version = p.version();
    if (p.has_domain()) out.presence.set(bits::kOpsetDomain);
    if (p.has_version()) out.presence.set(bits::kOpsetVersion);
    return out;
}

class Importer {
public:
    Importer(std::string file, fs::path baseDir, const Limits& limits)
        : m_file(std::move(file)), m_baseDir(std::move(baseDir)), m_limits(limits) {}

    Expected<ir::Model> importModel(::onnx::ModelProto& mp);

private:
    std::string m_file;
    fs::path m_baseDir;
    const Limits& m_limits;
    uint64_t m_externalBytes = 0;
    uint64_t m_nodes = 0;

    Status importGraph(::onnx::GraphProto& gp, ir::Graph& g, int depth);
    Expected<ir::Tensor> importTensor(::onnx::TensorProto& tp, std::string_view context);
    Expected<ir::SparseTensor> importSparse(::onnx::SparseTensorProto& sp,
                                            std::string_view context);
    Expected<ir::Type> importType(const ::onnx::TypeProto& tp, std::string_view context,
                                  int depth);
    Expected<ir::Shape> importShape(const ::onnx::TensorShapeProto& sp, std::string_view context);
    Status importValueInfo(const ::onnx::ValueInfoProto& vp, ir::Value& v,
                           std::string_view context);
    Expected<ir::Attribute> importAttribute(::onnx::AttributeProto& ap, ir::Node* owner,
                                            std::string_view context, int depth);
    Expected<ir::Value*> resolveInput(ir::Graph& g, const std::string& name);
    Status checkDims(const google::protobuf::RepeatedField<int64_t>& dims,
                     std::string_view context);
    Status checkAcyclic(const ir::Graph& g, std::string_view graphWhere);

    template <class... Args>
    Status bad(fmt::format_string<Args...> format, Args&&... args) const {
        return Status(StatusCode::kBadInput,
                      m_file + ": " + fmt::format(format, std::forward<Args>(args)...));
    }
};

Status Importer::checkDims(const google::protobuf::RepeatedField<int64_t>& dims,
                           std::string_view context) {
    if (dims.size() > m_limits.maxRank)
        return bad("{} has rank {}, above the limit of {}", context, dims.size(),
                   m_limits.maxRank);
    for (int64_t d : dims)
        if (d < 0) return bad("{} has a negative dimension ({})", context, d);
    return Status::ok();
}

// Depth-first search along producer edges, iterative (a hostile chain may be millions of nodes
// long). A node reached again while still on the stack closes a cycle; the message names a node
// that is on it (Kahn's algorithm alone would leave nodes downstream of a cycle unsorted too,
// and could name one of those).
Status Importer::checkAcyclic(const ir::Graph& g, std::string_view graphWhere) {
    enum : uint8_t { kNew = 0, kOnStack, kDone };
    std::unordered_map<const ir::Node*, uint8_t> state;
    struct Frame {
        const ir::Node* node;
        std::size_t nextInput;
    };
    std::vector<Frame> stack;
    for (const ir::Node* start : g.nodes()) {
        if (state[start] != kNew) continue;
        state[start] = kOnStack;
        stack.push_back({start, 0});
        while (!stack.empty()) {
            Frame& f = stack.back();
            if (f.nextInput == f.node->inputs().size()) {
                state[f.node] = kDone;
                stack.pop_back();
                continue;
            }
            const ir::Value* v = f.node->inputs()[f.nextInput++];
            const ir::Node* p = v ? v->producer() : nullptr;
            if (!p) continue;
            uint8_t& ps = state[p];
            if (ps == kNew) {
                ps = kOnStack;
                stack.push_back({p, 0});
            } else if (ps == kOnStack) {
                // stack[k + 1] feeds stack[k], and the top feeds p: the cycle runs
                // p -> top -> top-1 -> ... -> p.
                std::size_t at = stack.size() - 1;
                while (stack[at].node != p) --at;
                std::string path = fmt::format("'{}'", p->displayName());
                std::size_t shown = 0;
                for (std::size_t k = stack.size() - 1; k > at; --k) {
                    if (++shown > 8) {
                        path += " -> ...";
                        break;
                    }
                    path += fmt::format(" -> '{}'", stack[k].node->displayName());
                }
                path += fmt::format(" -> '{}'", p->displayName());
                return bad("{} has a cycle through node '{}' ({}): {}", graphWhere,
                           p->displayName(), p->opType, path);
            }
        }
    }
    return Status::ok();
}

// Elements of `dtype` stored per entry of its typed field, and which field that is.
enum class TypedField { kNone, kFloat, kInt32, kString, kInt64, kDouble, kUInt64 };
TypedField typedFieldOf(ir::DType t) {
    using D = ir::DType;
    switch (t) {
        case D::kFloat:
        case D::kComplex64: return TypedField::kFloat;
        case D::kUInt8:
        case D::kInt8:
        case D::kUInt16:
        case D::kInt16:
        case D::kInt32:
        case D::kBool:
        case D::kFloat16:
        case D::kBFloat16:
        case D::kUInt4:  // one packed byte (two elements) per int32
        case D::kInt4: return TypedField::kInt32;
        case D::kString: return TypedField::kString;
        case D::kInt64: return TypedField::kInt64;
        case D::kDouble:
        case D::kComplex128: return TypedField::kDouble;
        case D::kUInt32:
        case D::kUInt64: return TypedField::kUInt64;
        case D::kUndefined: return TypedField::kNone;
    }
    return TypedField::kNone;
}

int typedFieldsPresent(const ::onnx::TensorProto& tp) {
    return (tp.float_data_size() > 0) + (tp.int32_data_size() > 0) +
           (tp.string_data_size() > 0) + (tp.int64_data_size() > 0) +
           (tp.double_data_size() > 0) + (tp.uint64_data_size() > 0);
}

template <class Src>
std::string packInts(const google::protobuf::RepeatedField<Src>& src, std::size_t elemSize) {
    // Keep the low `elemSize` bytes of each entry (little-endian host, checked at build time).
    static_assert(std::endian::native == std::endian::little);
    std::string out(static_cast<std::size_t>(src.size()) * elemSize, '\0');
    char* p = out.data();
    for (Src v : src) {
        std::memcpy(p, &v, elemSize);
        p += elemSize;
    }
    return out;
}

Expected<ir::Tensor> Importer::importTensor(::onnx::TensorProto& tp, std::string_view context) {
    ir::Tensor t;
    t.name = tp.name();
    const std::string where = fmt::format("{} '{}'", context, tp.name());
    if (tp.has_data_type()) t.presence.set(bits::kTensorDataType);
    if (tp.has_name()) t.presence.set(bits::kTensorName);
    if (tp.has_doc_string()) t.presence.set(bits::kTensorDocString);
    t.docString = tp.doc_string();
    if (!ir::isKnownDType(tp.data_type()))
        return tl::unexpected(bad("{} has unknown data type code {}", where, tp.data_type()));
    t.dtype = static_cast<ir::DType>(tp.data_type());
    WH_RETURN_IF_ERROR(checkDims(tp.dims(), where));
    t.dims.assign(tp.dims().begin(), tp.dims().end());
    if (tp.has_segment()) {
        t.segment = std::make_pair(tp.segment().begin(), tp.segment().end());
        if (tp.segment().has_begin()) t.segmentPresence.set(bits::kSegmentBegin);
        if (tp.segment().has_end()) t.segmentPresence.set(bits::kSegmentEnd);
    }

    // Element count and byte size, with overflow checks before anything is allocated. The
    // running product must fit int64 in the order ir::Tensor::numElements multiplies, so that
    // no later reader overflows either (dims [2^40, 2^40, 0] hold no elements but still would).
    uint64_t count = 1;
    constexpr auto kMaxCount = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    for (int64_t d : t.dims) {
        if (d != 0 && count > kMaxCount / static_cast<uint64_t>(d))
            return tl::unexpected(
                bad("{} has dimensions {} whose product overflows int64", where,
                    fmt::format("[{}]", fmt::join(t.dims, ","))));
        count *= static_cast<uint64_t>(d);
    }
    const std::size_t elemSize = ir::dtypeSize(t.dtype);
    if ((elemSize && count > m_limits.maxTensorBytes / elemSize) ||
        (ir::is4Bit(t.dtype) && count / 2 > m_limits.maxTensorBytes))
        return tl::unexpected(bad("{} would need {} elements, above the {} byte limit", where,
                                  count, m_limits.maxTensorBytes));
    const uint64_t bytes = ir::dataBytesOf(t.dtype, count);
    if (t.dtype == ir::DType::kUndefined && count != 0 &&
        (tp.has_raw_data() || typedFieldsPresent(tp)))
        return tl::unexpected(bad("{} holds data but has no data type", where));

    if (tp.has_data_location()) t.presence.set(bits::kTensorDataLocation);
    for (const auto& e : tp.external_data()) t.externalData.push_back(importPair(e));

    if (tp.data_location() == ::onnx::TensorProto_DataLocation_EXTERNAL) {
        t.storage = ir::TensorStorage::kExternal;
        if (t.dtype == ir::DType::kString)
            return tl::unexpected(bad("{} is a string tensor stored externally", where));
        WH_ASSIGN_OR_RETURN(std::string data,
                            readExternalData(m_file, m_baseDir, t.externalData, bytes, where,
                                             m_limits, m_externalBytes));
        t.data = std::make_shared<const ir::Buffer>(std::move(data));
        return t;
    }
    if (tp.has_raw_data()) {
        t.storage = ir::TensorStorage::kRaw;
        if (typedFieldsPresent(tp))
            return tl::unexpected(bad("{} has both raw_data and typed data", where));
        if (t.dtype == ir::DType::kString)
            return tl::unexpected(bad("{} is a string tensor with raw_data", where));
        if (tp.raw_data().size() != bytes)
            return tl::unexpected(bad("{} holds {} bytes of data but its shape needs {}", where,
                                      tp.raw_data().size(), bytes));
        t.data = std::make_shared<const ir::Buffer>(std::move(*tp.mutable_raw_data()));
        return t;
    }

    t.storage = ir::TensorStorage::kTyped;
    const TypedField field = typedFieldOf(t.dtype);
    const int present = typedFieldsPresent(tp);
    if (present > 1) return tl::unexpected(bad("{} has data in two typed fields", where));
    auto expectCount = [&](int64_t have, uint64_t perElement) -> Status {
        if (static_cast<uint64_t>(have) != count * perElement)
            return bad("{} holds {} values but its shape {} needs {}", where, have,
                       fmt::format("[{}]", fmt::join(t.dims, ",")), count * perElement);
        return Status::ok();
    };
    auto wrongField = [&]() {
        return bad("{} of type {} stores its data in the wrong field", where,
                   ir::dtypeName(t.dtype));
    };
    const bool complex =
        t.dtype == ir::DType::kComplex64 || t.dtype == ir::DType::kComplex128;
    switch (field) {
        case TypedField::kFloat:
            if (present && tp.float_data_size() == 0) return tl::unexpected(wrongField());
            WH_RETURN_IF_ERROR(expectCount(tp.float_data_size(), complex ? 2 : 1));
            t.data = std::make_shared<const ir::Buffer>(tp.float_data().data(),
                                                        tp.float_data_size() * sizeof(float));
            break;
        case TypedField::kInt32: {
            if (present && tp.int32_data_size() == 0) return tl::unexpected(wrongField());
            if (ir::is4Bit(t.dtype)) {  // packed bytes, one per int32 (onnx.helper's form)
                if (static_cast<uint64_t>(tp.int32_data_size()) != bytes)
                    return tl::unexpected(bad("{} holds {} packed bytes but its shape {} needs {}",
                                              where, tp.int32_data_size(),
                                              fmt::format("[{}]", fmt::join(t.dims, ",")), bytes));
                t.data = std::make_shared<const ir::Buffer>(packInts(tp.int32_data(), 1));
                break;
            }
            WH_RETURN_IF_ERROR(expectCount(tp.int32_data_size(), 1));
            t.data = std::make_shared<const ir::Buffer>(packInts(tp.int32_data(), elemSize));
            break;
        }
        case TypedField::kInt64:
            if (present && tp.int64_data_size() == 0) return tl::unexpected(wrongField());
            WH_RETURN_IF_ERROR(expectCount(tp.int64_data_size(), 1));
            t.data = std::make_shared<const ir::Buffer>(tp.int64_data().data(),
                                                        tp.int64_data_size() * sizeof(int64_t));
            break;
        case TypedField::kDouble:
            if (present && tp.double_data_size() == 0) return tl::unexpected(wrongField());
            WH_RETURN_IF_ERROR(expectCount(tp.double_data_size(), complex ? 2 : 1));
            t.data = std::make_shared<const ir::Buffer>(tp.double_data().data(),
                                                        tp.double_data_size() * sizeof(double));
            break;
        case TypedField::kUInt64:
            if (present && tp.uint64_data_size() == 0) return tl::unexpected(wrongField());
            WH_RETURN_IF_ERROR(expectCount(tp.uint64_data_size(), 1));
            t.data = std::make_shared<const ir::Buffer>(packInts(tp.uint64_data(), elemSize));
            break;
        case TypedField::kString:
            if (present && tp.string_data_size() == 0) return tl::unexpected(wrongField());
            WH_RETURN_IF_ERROR(expectCount(tp.string_data_size(), 1));
            t.strings.assign(tp.string_data().begin(), tp.string_data().end());
            break;
        case TypedField::kNone: break;
    }
    return t;
}

Expected<ir::SparseTensor> Importer::importSparse(::onnx::SparseTensorProto& sp,
                                                  std::string_view context) {
    ir::SparseTensor s;
    if (sp.has_values()) {
        s.presence.set(bits::kSparseValues);
        WH_ASSIGN_OR_RETURN(s.values, importTensor(*sp.mutable_values(), context));
    }
    if (sp.has_indices()) {
        s.presence.set(bits::kSparseIndices);
        WH_ASSIGN_OR_RETURN(s.indices, importTensor(*sp.mutable_indices(), context));
    }
    WH_RETURN_IF_ERROR(checkDims(sp.dims(), fmt::format("{} '{}'", context, sp.values().name())));
    s.dims.assign(sp.dims().begin(), sp.dims().end());
    return s;
}

Expected<ir::Shape> Importer::importShape(const ::onnx::TensorShapeProto& sp,
                                          std::string_view context) {
    if (sp.dim_size() > m_limits.maxRank)
        return tl::unexpected(bad("{} has rank {}, above the limit of {}", context,
                                  sp.dim_size(), m_limits.maxRank));
    ir::Shape shape;
    shape.dims.reserve(static_cast<std::size_t>(sp.dim_size()));
    for (const auto& d : sp.dim()) {
        ir::Dim dim;
        if (d.has_dim_value()) {
            dim.kind = ir::Dim::Kind::kValue;
            dim.value = d.dim_value();
        } else if (d.has_dim_param()) {
            dim.kind = ir::Dim::Kind::kParam;
            dim.param = d.dim_param();
        }
        dim.denotation = d.denotation();
        if (d.has_denotation()) dim.presence.set(bits::kDimDenotation);
        shape.dims.push_back(std::move(dim));
    }
    return shape;
}

Expected<ir::Type> Importer::importType(const ::onnx::TypeProto& tp, std::string_view context,
                                        int depth) {
    if (depth > m_limits.maxSubgraphDepth)
        return tl::unexpected(bad("{} has types nested too deeply", context));
    ir::Type t;
    t.denotation = tp.denotation();
    if (tp.has_denotation()) t.presence.set(bits::kTypeDenotation);
    auto elemType = [&](int32_t code) -> Expected<ir::DType> {
        if (!ir::isKnownDType(code))
            return tl::unexpected(bad("{} has unknown element type code {}", context, code));
        return static_cast<ir::DType>(code);
    };
    auto nested = [&](const ::onnx::TypeProto& inner) -> Expected<std::shared_ptr<ir::Type>> {
        WH_ASSIGN_OR_RETURN(ir::Type e, importType(inner, context, depth + 1));
        return std::make_shared<ir::Type>(std::move(e));
    };
    switch (tp.value_case()) {
        case ::onnx::TypeProto::kTensorType: {
            const auto& tt = tp.tensor_type();
            t.kind = ir::Type::Kind::kTensor;
            if (tt.has_elem_type()) t.innerPresence.set(bits::kInnerElemType);
            WH_ASSIGN_OR_RETURN(t.elemType, elemType(tt.elem_type()));
            if (tt.has_shape()) {
                WH_ASSIGN_OR_RETURN(t.shape, importShape(tt.shape(), context));
            }
            break;
        }
        case ::onnx::TypeProto::kSparseTensorType: {
            const auto& tt = tp.sparse_tensor_type();
            t.kind = ir::Type::Kind::kSparseTensor;
            if (tt.has_elem_type()) t.innerPresence.set(bits::kInnerElemType);
            WH_ASSIGN_OR_RETURN(t.elemType, elemType(tt.elem_type()));
            if (tt.has_shape()) {
                WH_ASSIGN_OR_RETURN(t.shape, importShape(tt.shape(), context));
            }
            break;
        }
        case ::onnx::TypeProto::kSequenceType:
            t.kind = ir::Type::Kind::kSequence;
            if (tp.sequence_type().has_elem_type()) {
                WH_ASSIGN_OR_RETURN(t.elem, nested(tp.sequence_type().elem_type()));
            }
            break;
        case ::onnx::TypeProto::kOptionalType:
            t.kind = ir::Type::Kind::kOptional;
            if (tp.optional_type().has_elem_type()) {
                WH_ASSIGN_OR_RETURN(t.elem, nested(tp.optional_type().elem_type()));
            }
            break;
        case ::onnx::TypeProto::kMapType: {
            t.kind = ir::Type::Kind::kMap;
            if (tp.map_type().has_key_type()) t.innerPresence.set(bits::kInnerKeyType);
            WH_ASSIGN_OR_RETURN(t.keyType, elemType(tp.map_type().key_type()));
            if (tp.map_type().has_value_type()) {
                WH_ASSIGN_OR_RETURN(t.elem, nested(tp.map_type().value_type()));
            }
            break;
        }
        case ::onnx::TypeProto::kOpaqueType:
            t.kind = ir::Type::Kind::kOpaque;
            t.opaqueDomain = tp.opaque_type().domain();
            t.opaqueName = tp.opaque_type().name();
            if (tp.opaque_type().has_domain()) t.innerPresence.set(bits::kInnerOpaqueDomain);
            if (tp.opaque_type().has_name()) t.innerPresence.set(bits::kInnerOpaqueName);
            break;
        case ::onnx::TypeProto::VALUE_NOT_SET: break;
    }
    return t;
}

Status Importer::importValueInfo(const ::onnx::ValueInfoProto& vp, ir::Value& v,
                                 std::string_view context) {
    if (vp.has_name()) v.presence.set(bits::kValueInfoName);
    if (vp.has_doc_string()) v.presence.set(bits::kValueInfoDocString);
    v.docString = vp.doc_string();
    if (vp.has_type()) {
        v.presence.set(bits::kValueInfoType);
        auto type = importType(vp.type(), fmt::format("{} '{}'", context, vp.name()), 0);
        if (!type) return type.error();
        v.type = std::move(*type);
    }
    return Status::ok();
}

Expected<ir::Attribute> Importer::importAttribute(::onnx::AttributeProto& ap, ir::Node* owner,
                                                  std::string_view context, int depth) {
    ir::Attribute a;
    a.name = ap.name();
    a.refAttrName = ap.ref_attr_name();
    a.docString = ap.doc_string();
    if (ap.has_name()) a.presence.set(bits::kAttrName);
    if (ap.has_ref_attr_name()) a.presence.set(bits::kAttrRefAttrName);
    if (ap.has_doc_string()) a.presence.set(bits::kAttrDocString);
    if (ap.has_type()) a.presence.set(bits::kAttrType);
    if (ap.has_f()) a.presence.set(bits::kAttrF);
    if (ap.has_i()) a.presence.set(bits::kAttrI);
    if (ap.has_s()) a.presence.set(bits::kAttrS);
    a.type = static_cast<ir::AttrType>(ap.type());
    a.f = ap.f();
    a.i = ap.i();
    a.s = ap.s();
    const std::string where = fmt::format("{} attribute '{}'", context, ap.name());
    if (ap.has_t()) {
        WH_ASSIGN_OR_RETURN(a.t, importTensor(*ap.mutable_t(), where + " tensor"));
    }
    if (ap.has_sparse_tensor()) {
        WH_ASSIGN_OR_RETURN(a.sparseTensor, importSparse(*ap.mutable_sparse_tensor(), where));
    }
    if (ap.has_tp()) {
        WH_ASSIGN_OR_RETURN(a.tp, importType(ap.tp(), where, 0));
    }
    a.floats.assign(ap.floats().begin(), ap.floats().end());
    a.ints.assign(ap.ints().begin(), ap.ints().end());
    a.strings.assign(ap.strings().begin(), ap.strings().end());
    for (auto& tp : *ap.mutable_tensors()) {
        WH_ASSIGN_OR_RETURN(ir::Tensor t, importTensor(tp, where + " tensor"));
        a.tensors.push_back(std::move(t));
    }
    for (auto& sp : *ap.mutable_sparse_tensors()) {
        WH_ASSIGN_OR_RETURN(ir::SparseTensor s, importSparse(sp, where));
        a.sparseTensors.push_back(std::move(s));
    }
    for (const auto& tp : ap.type_protos()) {
        WH_ASSIGN_OR_RETURN(ir::Type t, importType(tp, where, 0));
        a.typeProtos.push_back(std::move(t));
    }
    auto subgraph = [&](::onnx::GraphProto& gp) -> Expected<std::unique_ptr<ir::Graph>> {
        if (depth + 1 > m_limits.maxSubgraphDepth)
            return tl::unexpected(bad("{} nests subgraphs deeper than {} levels", where,
                                      m_limits.maxSubgraphDepth));
        auto g = std::make_unique<ir::Graph>();
        if (owner) owner->graph()->adoptSubgraph(g.get(), owner);
        WH_RETURN_IF_ERROR(importGraph(gp, *g, depth + 1));
        return g;
    };
    if (ap.has_g()) {
        WH_ASSIGN_OR_RETURN(a.g, subgraph(*ap.mutable_g()));
    }
    for (auto& gp : *ap.mutable_graphs()) {
        WH_ASSIGN_OR_RETURN(auto g, subgraph(gp));
        a.graphs.push_back(std::move(g));
    }
    return a;
}

Expected<ir::Value*> Importer::resolveInput(ir::Graph& g, const std::string& name) {
    if (name.empty()) return nullptr;
    if (ir::Value* v = g.findValue(name)) return v;
    WH_ASSIGN_OR_RETURN(ir::Value * v, g.addValue(name));
    if (g.parentGraph() && g.parentGraph()->findValueInScope(name)) g.markCapture(v);
    return v;
}

Status Importer::importGraph(::onnx::GraphProto& gp, ir::Graph& g, int depth) {
    m_nodes += static_cast<uint64_t>(gp.node_size());
    if (m_nodes > m_limits.maxNodes)
        return bad("the model has more than {} nodes", m_limits.maxNodes);
    g.name = gp.name();
    g.docString = gp.doc_string();
    if (gp.has_name()) g.presence.set(bits::kGraphName);
    if (gp.has_doc_string()) g.presence.set(bits::kGraphDocString);
    {
        std::size_t values = static_cast<std::size_t>(gp.input_size() + gp.initializer_size() +
                                                      gp.value_info_size());
        for (const auto& np : gp.node()) values += static_cast<std::size_t>(np.output_size());
        g.reserve(static_cast<std::size_t>(gp.node_size()), values);
    }
    const std::string graphWhere =
        depth == 0 ? std::string("graph") : fmt::format("subgraph '{}'", gp.name());

    for (const auto& vp : gp.input()) {
        ir::Value* v = g.findValue(vp.name());
        if (v && v->isGraphInput())
            return bad("{} lists input '{}' twice", graphWhere, vp.name());
        if (!v) {
            WH_ASSIGN_OR_RETURN_STATUS(v, g.addValue(vp.name()));
        }
        WH_RETURN_STATUS_IF_ERROR(importValueInfo(vp, *v, "input"));
        g.insertGraphInput(v);
    }
    for (auto& tp : *gp.mutable_initializer()) {
        ir::Value* v = g.findValue(tp.name());
        if (v && (v->hasInitializer() || v->sparseInitializer()))
            return bad("initializer '{}' is defined twice", tp.name());
        if (tp.name().empty()) return bad("{} has an initializer without a name", graphWhere);
        auto t = importTensor(tp, "initializer");
        if (!t) return t.error();
        if (!v) {
            WH_ASSIGN_OR_RETURN_STATUS(v, g.addValue(tp.name()));
        }
        ir::Presence keep = t->presence;
        g.setInitializer(v, std::move(*t));
        v->mutableInitializer()->presence = keep;
    }
    for (auto& sp : *gp.mutable_sparse_initializer()) {
        const std::string& name = sp.values().name();
        ir::Value* v = g.findValue(name);
        if (v && (v->hasInitializer() || v->sparseInitializer()))
            return bad("initializer '{}' is defined twice", name);
        auto s = importSparse(sp, "sparse initializer");
        if (!s) return s.error();
        if (!v) {
            WH_ASSIGN_OR_RETURN_STATUS(v, g.addValue(name));
        }
        g.setSparseInitializer(v, std::move(*s));
    }

    std::vector<ir::Value*> ins, outs;
    std::unordered_set<const ir::Value*> outSet;
    for (auto& np : *gp.mutable_node()) {
        const std::string nodeWhere =
            fmt::format("node '{}' ({})", np.name().empty() ? "<unnamed>" : np.name(),
                        np.op_type());
        ins.clear();
        outs.clear();
        outSet.clear();
        for (const std::string& name : np.input()) {
            WH_ASSIGN_OR_RETURN_STATUS(ir::Value * v, resolveInput(g, name));
            ins.push_back(v);
        }
        for (const std::string& name : np.output()) {
            if (name.empty()) {
                outs.push_back(nullptr);
                continue;
            }
            ir::Value* v = g.findValue(name);
            if (v && v->producer())
                return bad("tensor '{}' is produced by two nodes: '{}' and {}", name,
                           v->producer()->displayName(), nodeWhere);
            if (v && (v->isGraphInput() || v->hasInitializer()))
                return bad("{} writes tensor '{}', which is also a graph input or initializer",
                           nodeWhere, name);
            // A set, not std::find: a hostile node may list a million outputs.
            if (v && outSet.count(v)) return bad("{} lists output '{}' twice", nodeWhere, name);
            if (!v) {
                WH_ASSIGN_OR_RETURN_STATUS(v, g.addValue(name));
            }
            outs.push_back(v);
            outSet.insert(v);
        }
        ir::Node* node = g.addNode(np.op_type(), ins, outs);
        node->name = np.name();
        node->domain = np.domain();
        node->docString = np.doc_string();
        if (np.has_name()) node->presence.set(bits::kNodeName);
        if (np.has_op_type()) node->presence.set(bits::kNodeOpType);
        if (np.has_domain()) node->presence.set(bits::kNodeDomain);
        if (np.has_doc_string()) node->presence.set(bits::kNodeDocString);
        node->attributes().reserve(static_cast<std::size_t>(np.attribute_size()));
        for (auto& ap : *np.mutable_attribute()) {
            auto a = importAttribute(ap, node, nodeWhere, depth);
            if (!a) return a.error();
            node->attributes().push_back(std::move(*a));
        }
    }

    for (const auto& vp : gp.output()) {
        WH_ASSIGN_OR_RETURN_STATUS(ir::Value * v, resolveInput(g, vp.name()));
        if (!v) return bad("{} has an output without a name", graphWhere);
        WH_RETURN_STATUS_IF_ERROR(importValueInfo(vp, *v, "output"));
        g.insertGraphOutput(v);
    }
    for (const auto& vp : gp.value_info()) {
        ir::Value* v = g.findValue(vp.name());
        if (v && v->isInValueInfo())
            return bad("value_info lists tensor '{}' twice", vp.name());
        if (!v) {
            WH_ASSIGN_OR_RETURN_STATUS(v, g.addValue(vp.name()));
        }
        WH_RETURN_STATUS_IF_ERROR(importValueInfo(vp, *v, "value_info"));
        g.insertValueInfo(v);
    }
    for (const auto& qa : gp.quantization_annotation()) {
        ir::TensorAnnotation ann;
        ann.tensorName = qa.tensor_name();
        if (qa.has_tensor_name()) ann.presence.set(bits::kAnnotationTensorName);
        for (const auto& p : qa.quant_parameter_tensor_names())
            ann.quantParameterTensorNames.push_back(importPair(p));
        g.quantizationAnnotations.push_back(std::move(ann));
    }

    // Every name read must be defined somewhere: by a node, an input, an initializer, or (in a
    // subgraph) an enclosing scope.
    for (ir::Node* n : g.nodes()) {
        for (ir::Value* v : n->inputs()) {
            if (!v || v->producer() || v->isGraphInput() || v->hasInitializer() ||
                v->sparseInitializer())
                continue;
            if (v->isCapture()) continue;
            if (g.parentGraph() && g.parentGraph()->findValueInScope(v->name())) {
                g.markCapture(v);
                continue;
            }
            return bad("node '{}' ({}) reads tensor '{}', which nothing defines",
                       n->displayName(), n->opType, v->name());
        }
    }
    if (!g.isTopologicallySorted()) {
        WH_RETURN_STATUS_IF_ERROR(checkAcyclic(g, graphWhere));
        Status s = g.sortTopologically();
        if (!s.isOk()) return Status(s.code(), m_file + ": " + s.message());
    }
    for (ir::Value* v : g.outputs()) {
        if (v->producer() || v->isGraphInput() || v->hasInitializer() || v->sparseInitializer() ||
            v->isCapture())
            continue;
        if (g.parentGraph() && g.parentGraph()->findValueInScope(v->name())) {
            g.markCapture(v);
            continue;
        }
        return bad("{} output '{}' is never produced", graphWhere, v->name());
    }
    return Status::ok();
}

Expected<ir::Model> Importer::importModel(::onnx::ModelProto& mp) {
    ir::Model m;
    m.irVersion = mp.ir_version();
    m.producerName = mp.producer_name();
    m.producerVersion = mp.producer_version();
    m.domain = mp.domain();
    m.modelVersion = mp.model_version();
    m.docString = mp.doc_string();
    if (mp.has_ir_version()) m.presence.set(bits::kModelIrVersion);
    if (mp.has_producer_name()) m.presence.set(bits::kModelProducerName);
    if (mp.has_producer_version()) m.presence.set(bits::kModelProducerVersion);
    if (mp.has_domain()) m.presence.set(bits::kModelDomain);
    if (mp.has_model_version()) m.presence.set(bits::kModelVersion);
    if (mp.has_doc_string()) m.presence.set(bits::kModelDocString);
    for (const auto& o : mp.opset_import()) m.opsetImports.push_back(importOpset(o));
    for (const auto& p : mp.metadata_props()) m.metadataProps.push_back(importPair(p));
    if (mp.has_graph()) {
        m.presence.set(bits::kModelGraph);
        WH_RETURN_IF_ERROR(importGraph(*mp.mutable_graph(), *m.graph, 0));
    } else {
        return tl::unexpected(bad("the file holds no graph (is it an ONNX model?)"));
    }
    for (auto& fp : *mp.mutable_functions()) {
        ir::Function f;
        f.name = fp.name();
        f.domain = fp.domain();
        f.docString = fp.doc_string();
        if (fp.has_name()) f.presence.set(bits::kFunctionName);
        if (fp.has_domain()) f.presence.set(bits::kFunctionDomain);
        if (fp.has_doc_string()) f.presence.set(bits::kFunctionDocString);
        f.attributes.assign(fp.attribute().begin(), fp.attribute().end());
        for (const auto& o : fp.opset_import()) f.opsetImports.push_back(importOpset(o));
        // The body is an ordinary graph whose inputs/outputs are the formal parameters.
        ::onnx::GraphProto body;
        for (const auto& in : fp.input()) body.add_input()->set_name(in);
        for (const auto& out : fp.output()) body.add_output()->set_name(out);
        body.mutable_node()->Swap(fp.mutable_node());
        f.body = std::make_unique<ir::Graph>();
        Status s = importGraph(body, *f.body, 1);
        if (!s.isOk())
            return tl::unexpected(Status(s.code(), s.message() + " (in function '" + f.name + "')"));
        // The synthetic ValueInfos set the name bit; function parameters have no such field.
        for (ir::Value* v : f.body->inputs()) v->presence = {};
        for (ir::Value* v : f.body->outputs()) v->presence = {};
        m.functions.push_back(std::move(f));
    }
    for (const auto& ti : mp.training_info()) m.trainingInfo.push_back(ti.SerializeAsString());
    return m;
}

// Names in a message come from the file: escape control characters so that a name holding a line
// break cannot split the one-line message, and cap the length.
Status oneLine(const Status& s) {
    constexpr std::size_t kMaxChars = 2000;
    std::string out;
    out.reserve(std::min(s.message().size(), kMaxChars) + 8);
    for (char c : s.message()) {
        if (out.size() >= kMaxChars) {
            out += "...";
            break;
        }
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
        else out += c;
    }
    return Status(s.code(), std::move(out));
}

Expected<ir::Model> parseModelUnchecked(std::span<const std::byte> bytes,
                                        std::string_view displayName, const fs::path& baseDir,
                                        const Limits& limits) {
    static SilenceProtobufLogs silence;
    std::string file(displayName);
    // CodedInputStream counts in int: nothing above INT32_MAX, whatever the limits say.
    const uint64_t maxBytes = std::min<uint64_t>(limits.maxFileBytes, INT32_MAX);
    if (bytes.size() > maxBytes)
        return error(StatusCode::kBadInput, "{}: the file is {} bytes, above the {} byte limit",
                     file, bytes.size(), maxBytes);
    if (bytes.empty()) return error(StatusCode::kBadInput, "{}: the file is empty", file);
    // An arena makes the many small messages cheap to allocate and free at once.
    google::protobuf::Arena arena;
    auto& mp = *google::protobuf::Arena::CreateMessage<::onnx::ModelProto>(&arena);
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                              static_cast<int>(bytes.size()));
    in.SetTotalBytesLimit(static_cast<int>(std::min<uint64_t>(bytes.size(), INT32_MAX)));
    // Each subgraph level costs three message levels (Attribute, Graph, Node) plus types. The
    // parser gets far more room than our limits need, so that a file nested too deeply is
    // refused by the importer, which can name the node; the cap only bounds the parser's stack.
    in.SetRecursionLimit(std::max(1000, 3 * limits.maxSubgraphDepth + 64));
    if (!mp.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage())
        return error(StatusCode::kBadInput,
                     "{}: not a valid ONNX model (truncated or corrupt protobuf, or nested too "
                     "deeply)",
                     file);
    Importer importer(file, baseDir, limits);
    return importer.importModel(mp);
}

}  // namespace

Expected<ir::Model> parseModel(std::span<const std::byte> bytes, std::string_view displayName,
                               const fs::path& baseDir, const Limits& limits) {
    auto model = parseModelUnchecked(bytes, displayName, baseDir, limits);
    if (!model) return tl::unexpected(oneLine(model.error()));
    return model;
}

Expected<ir::Model> loadModel(const fs::path& path, const Limits& limits) {
    const std::string file = path.string();
    std::error_code ec;
    if (fs::is_directory(path, ec))
        return error(StatusCode::kBadInput, "{}: is a directory, not an ONNX file", file);
    const auto size = fs::file_size(path, ec);
    if (ec) return error(StatusCode::kBadInput, "{}: cannot read ({})", file, ec.message());
    if (size > limits.maxFileBytes)
        return error(StatusCode::kBadInput, "{}: the file is {} bytes, above the {} byte limit",
                     file, size, limits.maxFileBytes);
    std::ifstream in(path, std::ios::binary);
    if (!in) return error(StatusCode::kBadInput, "{}: cannot open for reading", file);
    std::string data(size, '\0');
    if (!in.read(data.data(), static_cast<std::streamsize>(size)))
        return error(StatusCode::kBadInput, "{}: read failed", file);
    return parseModel(std::as_bytes(std::span(data.data(), data.size())), file,
                      path.parent_path().empty() ? fs::path(".") : path.parent_path(), limits);
}

}  // namespace wh::onnx
