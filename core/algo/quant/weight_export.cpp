#include "core/algo/quant/weight_export.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace wh::algo::quant {

namespace {

using ir::DType;

ir::Tensor makeTensor(DType dtype, std::vector<int64_t> dims, const void* data, std::size_t bytes) {
    ir::Tensor t;
    t.dtype = dtype;
    t.dims = std::move(dims);
    t.data = std::make_shared<const ir::Buffer>(data, bytes);
    return t;
}

ir::Tensor int64Tensor(const std::vector<int64_t>& values) {
    return makeTensor(DType::kInt64, {static_cast<int64_t>(values.size())}, values.data(),
                      values.size() * sizeof(int64_t));
}

// The grid of `bits` bits: [lo, hi].
std::pair<int32_t, int32_t> gridOf(const QuantizedWeight& q) {
    if (q.isUnsigned) return {0, (1 << q.bits) - 1};
    return {-(1 << (q.bits - 1)), (1 << (q.bits - 1)) - 1};
}

Status checkWeight(const ir::Value& weight, const QuantizedWeight& q,
                   const rewrite::Rewriter& rewriter) {
    const ir::Tensor* init = weight.initializer();
    const std::string& w = weight.name();
    if (!init || init->dtype != DType::kFloat)
        return makeStatus(StatusCode::kBadInput, "weight '{}' is not a float32 initializer", w);
    if (weight.isGraphInput())
        return makeStatus(StatusCode::kUnsupported,
                          "weight '{}' is a graph input (its initializer is only a default the "
                          "caller may override)",
                          w);
    if (rewriter.subgraphReader(w))
        return makeStatus(StatusCode::kUnsupported, "weight '{}' is read inside a subgraph of {}",
                          w, rewriter.subgraphReader(w)->displayName());
    if (init->dims != q.dims)
        return makeStatus(StatusCode::kBadInput, "weight '{}' is {}, the quantized weight is {}", w,
                          fmt::format("[{}]", fmt::join(init->dims, ",")),
                          fmt::format("[{}]", fmt::join(q.dims, ",")));
    if (q.bits < 1 || q.bits > 8)
        return makeStatus(StatusCode::kUnsupported, "weight '{}': {} bits (1 to 8 supported)", w,
                          q.bits);
    if (q.rows <= 0 || q.cols <= 0 || q.rows * q.cols != init->numElements())
        return makeStatus(StatusCode::kBadInput,
                          "weight '{}': rows {} x cols {} do not make its {} elements", w, q.rows,
                          q.cols, init->numElements());
    if (q.transposed) {
        if (q.dims.size() != 2 || q.dims[0] != q.cols || q.dims[1] != q.rows)
            return makeStatus(StatusCode::kBadInput,
                              "weight '{}': transposed needs dims [cols {}, rows {}]", w, q.cols,
                              q.rows);
    } else if (q.dims.empty() || q.dims[0] != q.rows) {
        return makeStatus(StatusCode::kBadInput, "weight '{}': dims[0] must be rows {}", w, q.rows);
    }
    const auto n = static_cast<std::size_t>(q.rows * q.cols);
    const auto ng = static_cast<std::size_t>(q.rows * q.groups());
    if (q.codes.size() != n)
        return makeStatus(StatusCode::kBadInput, "weight '{}': {} codes, {} expected", w,
                          q.codes.size(), n);
    if (q.scales.size() != ng || (!q.zeroPoints.empty() && q.zeroPoints.size() != ng))
        return makeStatus(StatusCode::kBadInput,
                          "weight '{}': {} scales and {} zero points, {} (rows x groups) expected",
                          w, q.scales.size(), q.zeroPoints.size(), ng);
    const auto [lo, hi] = gridOf(q);
    for (std::size_t i = 0; i < n; ++i)
        if (q.codes[i] < lo || q.codes[i] > hi)
            return makeStatus(StatusCode::kBadInput,
                              "weight '{}': code {} at {} is outside the {}-bit grid [{}, {}]", w,
                              q.codes[i], i, q.bits, lo, hi);
    return Status::ok();
}

// Hands out names "<base>" (or "<base>_1", ...) free in the graph and among those already handed
// out, for values and nodes alike, so a node can carry its output's name.
class Names {
public:
    explicit Names(const ir::Graph& graph) : m_graph(graph) {
        for (const ir::Node* n : graph.nodes()) m_taken.insert(n->name);
    }
    std::string operator()(const std::string& base) {
        std::string name = m_graph.uniqueName(base);
        for (int k = 1; m_taken.count(name); ++k)
            name = m_graph.uniqueName(fmt::format("{}_{}", base, k));
        m_taken.insert(name);
        return name;
    }

private:
    const ir::Graph& m_graph;
    std::set<std::string> m_taken;
};

// Builds the new initializers and nodes of one weight, front of the graph, node by node.
class Builder {
public:
    Builder(rewrite::Rewriter& rewriter, std::string weight)
        : m_rw(rewriter),
          m_names(rewriter.graph()),
          m_w(std::move(weight)),
          m_anchor(rewriter.graph().firstNode()) {}

    Expected<std::string> initializer(const std::string& suffix, ir::Tensor tensor) {
        const std::string name = m_names(m_w + suffix);
        tensor.name = name;
        WH_RETURN_IF_ERROR(m_rw.addInitializer(name, std::move(tensor)));
        return name;
    }
    /// The scalar `v` as the initializer "uint8_<v>" / "float_<v>", shared by every weight that
    /// needs it (made when absent; a different tensor of that name gets a fresh one).
    Expected<std::string> uint8Scalar(int v) {
        const auto byte = static_cast<uint8_t>(v);
        return sharedScalar(fmt::format("uint8_{}", v), DType::kUInt8, &byte, 1);
    }
    Expected<std::string> floatScalar(float v) {
        return sharedScalar(fmt::format("float_{}", v), DType::kFloat, &v, sizeof v);
    }
    Expected<std::string> int64s(const std::string& suffix, const std::vector<int64_t>& values) {
        return initializer(suffix, int64Tensor(values));
    }
    /// A node named like its output "<w><suffix>"; returns the output's name.
    Expected<std::string> node(const std::string& op, const std::string& suffix,
                               std::vector<std::string> inputs,
                               std::optional<ir::Attribute> attribute = std::nullopt) {
        const std::string out = m_names(m_w + suffix);
        rewrite::NewNode spec(op, std::move(inputs), {out});
        spec.name = out;
        if (attribute) spec.attributes.push_back(std::move(*attribute));
        WH_RETURN_IF_ERROR(m_rw.insertNode(std::move(spec), m_anchor));
        return out;
    }

private:
    Expected<std::string> sharedScalar(const std::string& name, DType dtype, const void* data,
                                       std::size_t bytes) {
        if (const ir::Value* e = m_rw.graph().findValue(name); e && !e->isGraphInput()) {
            const ir::Tensor* t = e->initializer();
            if (t && t->dtype == dtype && t->dims.empty() && t->data &&
                t->data->size() == bytes && std::memcmp(t->data->data(), data, bytes) == 0)
                return name;
        }
        const std::string fresh = m_names(name);
        ir::Tensor t = makeTensor(dtype, {}, data, bytes);
        t.name = fresh;
        WH_RETURN_IF_ERROR(m_rw.addInitializer(fresh, std::move(t)));
        return fresh;
    }

    rewrite::Rewriter& m_rw;
    Names m_names;
    std::string m_w;
    ir::Node* m_anchor;  // new nodes go in front of the graph's first node, in creation order
};

// The codes in the ONNX tensor's element order (the matrix view transposed back if needed).
std::vector<int32_t> codesInOnnxOrder(const QuantizedWeight& q) {
    if (!q.transposed) return q.codes;
    std::vector<int32_t> out(q.codes.size());
    for (int64_t r = 0; r < q.rows; ++r)
        for (int64_t c = 0; c < q.cols; ++c)
            out[static_cast<std::size_t>(c * q.rows + r)] =
                q.codes[static_cast<std::size_t>(r * q.cols + c)];
    return out;
}

Expected<std::string> writeDequantizeLinear(Builder& b, const QuantizedWeight& q) {
    const DType codeType = q.isUnsigned ? DType::kUInt8 : DType::kInt8;
    const int32_t zlo = q.isUnsigned ? 0 : -128, zhi = q.isUnsigned ? 255 : 127;
    for (int32_t z : q.zeroPoints)
        if (z < zlo || z > zhi)
            return error(StatusCode::kBadInput,
                         "zero point {} does not fit the {} codes of DequantizeLinear", z,
                         q.isUnsigned ? "uint8" : "int8");
    // int8 and uint8 alike: the low byte of the int32 is the two's-complement byte.
    auto bytesOf = [](const std::vector<int32_t>& v) {
        std::vector<uint8_t> out(v.size());
        for (std::size_t i = 0; i < v.size(); ++i) out[i] = static_cast<uint8_t>(v[i] & 0xff);
        return out;
    };
    const std::vector<uint8_t> codes = bytesOf(codesInOnnxOrder(q));
    std::vector<int32_t> zps = q.zeroPoints;
    if (zps.empty()) zps.assign(static_cast<std::size_t>(q.rows), 0);
    // Per tensor when every row shares scale and zero point (no `axis` then: scalars).
    const bool perTensor =
        std::all_of(q.scales.begin(), q.scales.end(), [&](float s) { return s == q.scales[0]; }) &&
        std::all_of(zps.begin(), zps.end(), [&](int32_t z) { return z == zps[0]; });
    std::vector<float> scales = q.scales;
    if (perTensor) scales.resize(1), zps.resize(1);
    const std::vector<uint8_t> zpBytes = bytesOf(zps);
    const std::vector<int64_t> paramDims =
        perTensor ? std::vector<int64_t>{} : std::vector<int64_t>{q.rows};

    WH_ASSIGN_OR_RETURN(
        std::string x,
        b.initializer("_q8", makeTensor(codeType, q.dims, codes.data(), codes.size())));
    WH_ASSIGN_OR_RETURN(std::string scale,
                        b.initializer("_scale", makeTensor(DType::kFloat, paramDims, scales.data(),
                                                           scales.size() * sizeof(float))));
    std::vector<std::string> inputs{x, scale};
    // An absent zero point is 0 of the codes' type, so zeros (symmetric weights) need no tensor:
    // a byte per channel, and a name, saved.
    if (std::any_of(zps.begin(), zps.end(), [](int32_t z) { return z != 0; })) {
        WH_ASSIGN_OR_RETURN(std::string zp, b.initializer("_zero_point",
                                                          makeTensor(codeType, paramDims,
                                                                     zpBytes.data(), zpBytes.size())));
        inputs.push_back(zp);
    }
    std::optional<ir::Attribute> axis;
    if (!perTensor) axis = ir::Attribute::makeInt("axis", q.transposed ? 1 : 0);
    return b.node("DequantizeLinear", "_dequant", std::move(inputs), std::move(axis));
}

Expected<std::string> writePacked(Builder& b, const QuantizedWeight& q) {
    const int s = storageBits(q.bits);
    const int perByte = 8 / s;
    const int32_t offset = q.isUnsigned ? 0 : 1 << (q.bits - 1);
    const int64_t n = q.rows * q.cols;
    const int64_t groups = q.groups();
    // One group covering the row (groupSize 0, or at least cols) is exactly cols wide: no padding.
    const int64_t groupSize = groups == 1 ? q.cols : q.groupSize;
    const int64_t paddedCols = groups * groupSize;

    // Pack: code i goes to byte i / perByte, bits s * (i % perByte) upwards.
    std::vector<uint8_t> packed(packedBytes(q), 0);
    for (int64_t i = 0; i < n; ++i) {
        const auto v = static_cast<uint32_t>(q.codes[static_cast<std::size_t>(i)] + offset);
        packed[static_cast<std::size_t>(i / perByte)] |=
            static_cast<uint8_t>(v << (s * (i % perByte)));
    }
    const auto bytes = static_cast<int64_t>(packed.size());
    WH_ASSIGN_OR_RETURN(std::string p, b.initializer(fmt::format("_q{}", q.bits),
                                                     makeTensor(DType::kUInt8, {bytes, 1},
                                                                packed.data(), packed.size())));

    // Unpack: field j of each byte = Mod(BitShift(P, s*j, RIGHT), 2^s) in uint8 arithmetic (no
    // shift for field 0, no Mod for the top field). Fields side by side on axis 1 hold the codes
    // in order, as field 0 holds the earliest code; [bytes, perByte] row-major is the flat order.
    std::string codes = p;
    if (perByte > 1) {
        std::vector<std::string> fields;
        for (int j = 0; j < perByte; ++j) {
            std::string field = p;
            if (j > 0) {
                WH_ASSIGN_OR_RETURN(std::string amount, b.uint8Scalar(s * j));
                WH_ASSIGN_OR_RETURN(field,
                                    b.node("BitShift", fmt::format("_shr{}", s * j), {field, amount},
                                           ir::Attribute::makeString("direction", "RIGHT")));
            }
            if (j < perByte - 1) {
                WH_ASSIGN_OR_RETURN(std::string modulus, b.uint8Scalar(1 << s));
                WH_ASSIGN_OR_RETURN(field, b.node("Mod", fmt::format("_field{}", j), {field, modulus}));
            }
            fields.push_back(field);
        }
        WH_ASSIGN_OR_RETURN(codes,
                            b.node("Concat", "_fields", fields, ir::Attribute::makeInt("axis", 1)));
    }
    WH_ASSIGN_OR_RETURN(std::string x,
                        b.node("Cast", "_codes", {codes},
                               ir::Attribute::makeInt("to", static_cast<int64_t>(DType::kFloat))));
    // The padding of the last byte: drop it (on the flat codes, before they get a shape).
    if (bytes * perByte != n) {
        WH_ASSIGN_OR_RETURN(std::string flatShape, b.int64s("_flat_shape", {-1}));
        WH_ASSIGN_OR_RETURN(x, b.node("Reshape", "_unpacked", {x, flatShape}));
        WH_ASSIGN_OR_RETURN(std::string zero, b.int64s("_start", {0}));
        WH_ASSIGN_OR_RETURN(std::string end, b.int64s("_count", {n}));
        WH_ASSIGN_OR_RETURN(x, b.node("Slice", "_codes_used", {x, zero, end, zero}));
    }
    // One group per row of a weight in the ONNX layout (rows = dims[0]): the codes take the
    // ONNX dims at once and scale and zero point broadcast as [rows, 1, ...]. Otherwise the
    // groups need the [rows, groups, groupSize] view.
    const bool direct = groups == 1 && !q.transposed;
    std::vector<int64_t> paramDims{q.rows, groups, 1};
    if (direct) {
        paramDims.assign(q.dims.size(), 1);
        paramDims[0] = q.rows;
        WH_ASSIGN_OR_RETURN(std::string dims, b.int64s("_dims", q.dims));
        WH_ASSIGN_OR_RETURN(x, b.node("Reshape", "_shaped", {x, dims}));
    } else {
        if (paddedCols != q.cols) {
            // [rows, cols] -> pad cols on the right to whole groups (zeros, sliced off below).
            WH_ASSIGN_OR_RETURN(std::string matShape,
                                b.int64s("_matrix_shape", {q.rows, q.cols}));
            WH_ASSIGN_OR_RETURN(x, b.node("Reshape", "_matrix", {x, matShape}));
            WH_ASSIGN_OR_RETURN(std::string pads,
                                b.int64s("_pads", {0, 0, 0, paddedCols - q.cols}));
            WH_ASSIGN_OR_RETURN(x, b.node("Pad", "_padded", {x, pads}));
        }
        WH_ASSIGN_OR_RETURN(std::string groupShape,
                            b.int64s("_group_shape", {q.rows, groups, groupSize}));
        WH_ASSIGN_OR_RETURN(x, b.node("Reshape", "_grouped", {x, groupShape}));
    }

    bool anyZero = offset != 0;
    for (int32_t z : q.zeroPoints) anyZero = anyZero || z != 0;
    if (anyZero) {
        std::vector<float> zp(static_cast<std::size_t>(q.rows * groups));
        for (std::size_t i = 0; i < zp.size(); ++i)
            zp[i] = static_cast<float>((q.zeroPoints.empty() ? 0 : q.zeroPoints[i]) + offset);
        // Symmetric grids store signed codes with a constant offset: one float scalar shared
        // by every weight, not a float per group (which would cost as much as the scales).
        const bool uniform = std::all_of(zp.begin(), zp.end(), [&](float z) { return z == zp[0]; });
        std::string z;
        if (uniform) {
            WH_ASSIGN_OR_RETURN(z, b.floatScalar(zp[0]));
        } else {
            WH_ASSIGN_OR_RETURN(z, b.initializer("_zero_point",
                                                 makeTensor(DType::kFloat, paramDims, zp.data(),
                                                            zp.size() * sizeof(float))));
        }
        WH_ASSIGN_OR_RETURN(x, b.node("Sub", "_centered", {x, z}));
    }
    WH_ASSIGN_OR_RETURN(
        std::string scale,
        b.initializer("_scale", makeTensor(DType::kFloat, paramDims, q.scales.data(),
                                           q.scales.size() * sizeof(float))));
    WH_ASSIGN_OR_RETURN(x, b.node("Mul", "_scaled", {x, scale}));

    if (direct) return x;

    // Back to the ONNX layout and dims; the matrix view only where a Slice or Transpose needs it.
    std::vector<int64_t> shape{q.rows, paddedCols};
    if (paddedCols != q.cols || q.transposed) {
        WH_ASSIGN_OR_RETURN(std::string rowShape, b.int64s("_rows_shape", shape));
        WH_ASSIGN_OR_RETURN(x, b.node("Reshape", "_rows", {x, rowShape}));
    }
    if (paddedCols != q.cols) {
        WH_ASSIGN_OR_RETURN(std::string zero, b.int64s("_col_start", {0}));
        WH_ASSIGN_OR_RETURN(std::string end, b.int64s("_col_end", {q.cols}));
        WH_ASSIGN_OR_RETURN(std::string axis, b.int64s("_axis1", {1}));
        WH_ASSIGN_OR_RETURN(x, b.node("Slice", "_unpadded", {x, zero, end, axis}));
        shape[1] = q.cols;
    }
    if (q.transposed) {
        WH_ASSIGN_OR_RETURN(
            x, b.node("Transpose", "_transposed", {x}, ir::Attribute::makeInts("perm", {1, 0})));
        std::swap(shape[0], shape[1]);
    }
    const std::vector<int64_t> now = paddedCols != q.cols || q.transposed
                                         ? shape
                                         : std::vector<int64_t>{q.rows, groups, groupSize};
    if (now != q.dims) {  // (a rank-3 [rows, groups, groupSize] weight is already there)
        WH_ASSIGN_OR_RETURN(std::string dims, b.int64s("_dims", q.dims));
        WH_ASSIGN_OR_RETURN(x, b.node("Reshape", "_dequant", {x, dims}));
    }
    return x;
}

}  // namespace

int storageBits(int bits) {
    return bits <= 2 ? 2 : bits <= 4 ? 4 : 8;
}

std::size_t packedBytes(const QuantizedWeight& q) {
    const auto bits =
        static_cast<std::size_t>(q.rows * q.cols) * static_cast<std::size_t>(storageBits(q.bits));
    return (bits + 7) / 8;
}

Expected<ir::Value*> writeQuantizedWeight(rewrite::Rewriter& rewriter, ir::Value& weight,
                                          const QuantizedWeight& q, WeightFormat format) {
    WH_RETURN_IF_ERROR(checkWeight(weight, q, rewriter));
    if (format == WeightFormat::kAuto)
        format = q.bits == 8 && q.groups() == 1 ? WeightFormat::kDequantizeLinear
                                                : WeightFormat::kPacked;
    if (format == WeightFormat::kDequantizeLinear && q.groups() != 1)
        return error(StatusCode::kUnsupported,
                     "weight '{}': DequantizeLinear (opset 13) has no groups ({} per row); use "
                     "the packed form",
                     weight.name(), q.groups());

    const std::string w = weight.name();
    rewrite::ScopedGroup group(rewriter, fmt::format("Quantize weight '{}' to {} bits", w, q.bits));
    Builder b(rewriter, w);
    Expected<std::string> out =
        format == WeightFormat::kDequantizeLinear ? writeDequantizeLinear(b, q) : writePacked(b, q);
    ir::Value* result = out ? rewriter.graph().findValue(*out) : nullptr;
    Status status = out ? Status::ok() : out.error();
    if (status.isOk()) status = rewriter.replaceAllUsesWith(weight, *result);
    if (status.isOk() && !weight.isGraphOutput()) status = rewriter.removeInitializer(weight);
    if (!status.isOk()) {
        group.cancel();
        return tl::unexpected<Status>(
            Status(status.code(), fmt::format("weight '{}': {}", w, status.message())));
    }
    return result;
}

namespace {

// Operators whose inputs or attributes changed meaning at `version` (the default domain, for
// the versions ensureOpset() may cross from 7 up).
struct Change {
    const char* op;
    int64_t version;
};
constexpr Change kChanges[] = {
    {"BatchNormalization", 9},
    {"Upsample", 9},
    {"Slice", 10},
    {"TopK", 10},
    {"Upsample", 10},
    {"Clip", 11},
    {"Pad", 11},
    {"Resize", 11},
    {"Split", 13},
    {"Squeeze", 13},
    {"Unsqueeze", 13},
    {"ReduceSum", 13},
    {"Split", 18},
    {"ReduceMean", 18},
    {"ReduceMax", 18},
    {"ReduceMin", 18},
    {"ReduceProd", 18},
    {"ReduceL1", 18},
    {"ReduceL2", 18},
    {"ReduceLogSum", 18},
    {"ReduceLogSumExp", 18},
    {"ReduceSumSquare", 18},
    {"Pad", 18},
};

void findChanged(const ir::Graph& graph, int64_t from, int64_t to,
                 std::vector<std::string>& found) {
    for (const ir::Node* n : graph.nodes()) {
        if (ir::isDefaultDomain(n->domain))
            for (const Change& c : kChanges)
                if (n->opType == c.op && c.version > from && c.version <= to) {
                    found.push_back(fmt::format("{} ({} changed at {})", n->displayName(),
                                                n->opType, c.version));
                    break;
                }
        for (const ir::Graph* sub : n->subgraphs()) findChanged(*sub, from, to, found);
    }
}

}  // namespace

Status ensureOpset(ir::Model& model, int64_t minVersion) {
    for (ir::OpsetId& id : model.opsetImports) {
        if (!ir::isDefaultDomain(id.domain)) continue;
        if (id.version >= minVersion) return Status::ok();
        if (id.version < 7)
            return makeStatus(StatusCode::kUnsupported,
                              "the model imports opset {}; raising it to {} would change legacy "
                              "broadcasting: convert the model first",
                              id.version, minVersion);
        std::vector<std::string> changed;
        if (model.graph) findChanged(*model.graph, id.version, minVersion, changed);
        if (!changed.empty())
            return makeStatus(StatusCode::kUnsupported,
                              "the model imports opset {}; raising it to {} would change {}",
                              id.version, minVersion, fmt::join(changed, ", "));
        id.version = minVersion;
        return Status::ok();
    }
    model.opsetImports.push_back({"", minVersion, {}});
    return Status::ok();
}

}  // namespace wh::algo::quant
