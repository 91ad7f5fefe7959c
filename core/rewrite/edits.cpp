#include "core/rewrite/edits.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/data/npy.h"
#include "core/engine/fold_constants.h"
#include "core/engine/ref/kernel_util.h"

namespace wh::rewrite {

using nlohmann::json;

namespace {

std::string quoted(const ir::Node& node) {
    return fmt::format("'{}' ({})", node.displayName(), node.opType);
}

// {"node": NAME} when the name identifies the node, else {"node_id": ID}.
void putNode(json& args, const ir::Graph& graph, const ir::Node& node) {
    if (!node.name.empty() && graph.nodesNamed(node.name).size() == 1)
        args["node"] = node.name;
    else
        args["node_id"] = node.id();
}

Status bad(const Edit& e, std::string_view why) {
    return makeStatus(StatusCode::kUsage, "edit '{}': {}", e.op, why);
}

Expected<std::string> stringArg(const Edit& e, const char* key) {
    auto it = e.args.find(key);
    if (it == e.args.end() || !it->is_string())
        return tl::unexpected(bad(e, fmt::format("needs \"{}\" (a string)", key)));
    return it->get<std::string>();
}

// A node reference {"node": NAME} or {"node_id": ID}, in `args` (the edit's arguments, or an
// object inside them).
Expected<ir::Node*> nodeRef(const Edit& e, ir::Graph& graph, const json& args) {
    if (auto it = args.find("node_id"); it != args.end()) {
        if (!it->is_number_integer() || it->get<int64_t>() < 0)
            return tl::unexpected(bad(e, "\"node_id\" is not a node id"));
        ir::Node* n = graph.findNode(it->get<ir::NodeId>());
        if (!n)
            return tl::unexpected(
                bad(e, fmt::format("the model has no node #{}", it->get<ir::NodeId>())));
        return n;
    }
    auto it = args.find("node");
    if (it == args.end() || !it->is_string())
        return tl::unexpected(bad(e, "needs \"node\" (a string)"));
    const std::string name = it->get<std::string>();
    const std::vector<ir::Node*> found = graph.nodesNamed(name);
    if (found.size() > 1)
        return tl::unexpected(
            bad(e, fmt::format("two nodes are named '{}': name it by \"node_id\"", name)));
    if (found.empty())
        return tl::unexpected(bad(e, fmt::format("the model has no node '{}'", name)));
    return found.front();
}

Expected<ir::Node*> nodeArg(const Edit& e, ir::Graph& graph) {
    return nodeRef(e, graph, e.args);
}

Expected<ir::Value*> tensorArg(const Edit& e, ir::Graph& graph) {
    WH_ASSIGN_OR_RETURN(std::string name, stringArg(e, "tensor"));
    ir::Value* v = graph.findValue(name);
    if (!v) return tl::unexpected(bad(e, fmt::format("the model has no tensor '{}'", name)));
    return v;
}

json attributeToJson(const ir::Attribute& a) {
    json j{{"name", a.name}};
    switch (a.type) {
        case ir::AttrType::kInt:
            j["type"] = "int", j["value"] = a.i;
            break;
        case ir::AttrType::kFloat:
            j["type"] = "float", j["value"] = a.f;
            break;
        case ir::AttrType::kString:
            j["type"] = "string", j["value"] = a.s;
            break;
        case ir::AttrType::kInts:
            j["type"] = "ints", j["value"] = a.ints;
            break;
        case ir::AttrType::kFloats:
            j["type"] = "floats", j["value"] = a.floats;
            break;
        case ir::AttrType::kStrings:
            j["type"] = "strings", j["value"] = a.strings;
            break;
        default:
            return nullptr;
    }
    return j;
}

Expected<ir::Attribute> attributeFromJson(const Edit& e, const json& j) {
    if (!j.contains("name") || !j["name"].is_string() || !j.contains("type") ||
        !j["type"].is_string() || !j.contains("value"))
        return tl::unexpected(bad(e, "\"attribute\" needs \"name\", \"type\" and \"value\""));
    const std::string name = j["name"], type = j["type"];
    const json& v = j["value"];
    auto all = [&](auto test) { return v.is_array() && std::all_of(v.begin(), v.end(), test); };
    try {
        if (type == "int" && v.is_number_integer()) return ir::Attribute::makeInt(name, v);
        if (type == "float" && v.is_number()) return ir::Attribute::makeFloat(name, v);
        if (type == "string" && v.is_string()) return ir::Attribute::makeString(name, v);
        if (type == "ints" && all([](const json& x) { return x.is_number_integer(); }))
            return ir::Attribute::makeInts(name, v.get<std::vector<int64_t>>());
        if (type == "floats" && all([](const json& x) { return x.is_number(); }))
            return ir::Attribute::makeFloats(name, v.get<std::vector<float>>());
        if (type == "strings" && all([](const json& x) { return x.is_string(); })) {
            ir::Attribute a;
            a.name = name;
            a.type = ir::AttrType::kStrings;
            a.strings = v.get<std::vector<std::string>>();
            return a;
        }
    } catch (const json::exception&) {  // an integer out of int64's range
    }
    return tl::unexpected(bad(
        e, fmt::format("attribute '{}': \"value\" {} is not a valid {}", name, v.dump(), type)));
}

Expected<ir::Attribute> attributeFromJson(const Edit& e) {
    auto it = e.args.find("attribute");
    if (it == e.args.end() || !it->is_object())
        return tl::unexpected(bad(e, "needs \"attribute\": {\"name\", \"type\", \"value\"}"));
    return attributeFromJson(e, *it);
}

}  // namespace

Status dropDeadConstants(Rewriter& r, const std::vector<std::string>& constants) {
    ir::Graph& g = r.graph();
    for (const std::string& name : constants) {
        ir::Value* v = g.findValue(name);
        if (!v || v->hasUses() || v->isGraphOutput() || v->isGraphInput()) continue;
        if (r.subgraphReader(name)) continue;
        if (v->hasInitializer()) {
            WH_RETURN_STATUS_IF_ERROR(r.removeInitializer(*v));
        } else if (ir::Node* p = v->producer();
                   p && p->opType == "Constant" && p->numOutputs() == 1) {
            WH_RETURN_STATUS_IF_ERROR(r.eraseNode(*p));
        }
    }
    return Status::ok();
}

namespace {

// delete_node: bypass when the node has one data input, else erase; then the weights only it
// read (dead initializers or Constant nodes).
Status deleteNode(Rewriter& r, ir::Node& n) {
    const std::string what = quoted(n);
    std::vector<int> dataInputs;
    std::vector<std::string> constants;
    for (int i = 0; i < n.numInputs(); ++i) {
        const ir::Value* v = n.input(i);
        if (!v) continue;
        if (ir::constantTensor(v))
            constants.push_back(v->name());
        else
            dataInputs.push_back(i);
    }
    std::string bypassWhy;
    bool bypassed = false;
    if (dataInputs.size() == 1 && n.numOutputs() >= 1) {
        bypassWhy = Rewriter::bypassBlocker(n, dataInputs.front(), 0);
        if (bypassWhy.empty()) {
            WH_RETURN_STATUS_IF_ERROR(r.bypass(n, dataInputs.front(), 0));
            bypassed = true;  // n is gone
        }
    }
    if (!bypassed) {
        Status erased = r.eraseNode(n);
        if (!erased.isOk()) {
            std::string why = dataInputs.size() == 1
                                  ? fmt::format("it cannot be bypassed ({})", bypassWhy)
                                  : fmt::format(
                                        "it has {} data inputs, so its consumers cannot "
                                        "simply be rewired to one of them",
                                        dataInputs.size());
            return makeStatus(StatusCode::kUsage,
                              "cannot delete node {}: {}, and erasing it needs its outputs to be "
                              "unused ({}). Delete its consumers first.",
                              what, why, erased.message());
        }
    }
    return dropDeadConstants(r, constants);
}

// A value nothing reads: no use, not a graph output, not read by a subgraph.
bool isDead(const Rewriter& r, const ir::Value* v) {
    return v && !v->hasUses() && !v->isGraphOutput() && !r.subgraphReader(v->name());
}

// cleanup: erases nodes none of whose outputs is read (repeatedly: a dead node's inputs may die
// with it), then initializers nothing reads (graph inputs' defaults stay).
Status cleanUp(Rewriter& r) {
    ir::Graph& g = r.graph();
    for (bool erased = true; erased;) {
        erased = false;
        std::vector<ir::Node*> dead;
        for (ir::Node* n : g.nodes()) {
            bool used = false;
            for (const ir::Value* out : n->outputs())
                if (out && !isDead(r, out)) used = true;
            if (!used) dead.push_back(n);
        }
        // Consumers before producers: erase from the back of graph order.
        for (auto it = dead.rbegin(); it != dead.rend(); ++it) {
            WH_RETURN_STATUS_IF_ERROR(r.eraseNode(**it));
            erased = true;
        }
    }
    std::vector<ir::Value*> unused;
    for (ir::Value* v : g.initializers())
        if (!v->isGraphInput() && isDead(r, v)) unused.push_back(v);
    for (ir::Value* v : unused) WH_RETURN_STATUS_IF_ERROR(r.removeInitializer(*v));
    return Status::ok();
}

// dedupe_initializers: initializers with the same dtype, dims and bytes become one (the first
// in initializer order); graph inputs' defaults, graph outputs and values subgraphs read by
// name stay as they are.
Status dedupeInitializers(Rewriter& r) {
    ir::Graph& g = r.graph();
    // By a hash of the bytes (no copy of them); equal hashes are compared in full.
    auto bytesOf = [](const ir::Tensor& t) {
        return std::string_view(reinterpret_cast<const char*>(t.data->data()), t.byteSize());
    };
    std::unordered_map<std::size_t, std::vector<ir::Value*>> kept;
    std::vector<std::pair<ir::Value*, ir::Value*>> duplicates;  // (duplicate, the one kept)
    for (ir::Value* v : g.initializers()) {
        const ir::Tensor* t = v->initializer();
        if (v->isGraphInput() || v->isGraphOutput() || r.subgraphReader(v->name()) ||
            t->dtype == ir::DType::kString || t->storage == ir::TensorStorage::kExternal)
            continue;
        std::vector<ir::Value*>& same = kept[std::hash<std::string_view>{}(bytesOf(*t))];
        const auto equal = std::find_if(same.begin(), same.end(), [&](const ir::Value* k) {
            const ir::Tensor* u = k->initializer();
            return u->dtype == t->dtype && u->dims == t->dims && bytesOf(*u) == bytesOf(*t);
        });
        if (equal == same.end())
            same.push_back(v);
        else
            duplicates.emplace_back(v, *equal);
    }
    for (auto [dup, keep] : duplicates) {
        WH_RETURN_STATUS_IF_ERROR(r.replaceAllUsesWith(*dup, *keep));
        WH_RETURN_STATUS_IF_ERROR(r.removeInitializer(*dup));
    }
    return Status::ok();
}

// "Folded 12 nodes into 3 initializers; left 2: Expand 'e': ..., ..." (the first three left).
std::string foldSummary(const engine::FoldConstantsResult& folded) {
    std::string text = folded.folded == 0
                           ? std::string("Nothing to fold: no node reads only constants")
                           : fmt::format("Folded {} node{} into {} initializer{}", folded.folded,
                                         folded.folded == 1 ? "" : "s", folded.initializers,
                                         folded.initializers == 1 ? "" : "s");
    if (folded.left.empty()) return text;
    text += fmt::format("; left {}: ", folded.left.size());
    for (std::size_t i = 0; i < std::min<std::size_t>(3, folded.left.size()); ++i)
        text += (i ? "; " : "") + folded.left[i];
    if (folded.left.size() > 3) text += "; ...";
    return text;
}

// ---- Arguments of the structural edits -------------------------------------------------------

// An optional string argument ("" when absent).
Expected<std::string> optionalStringArg(const Edit& e, const char* key) {
    auto it = e.args.find(key);
    if (it == e.args.end() || it->is_null()) return std::string();
    if (!it->is_string())
        return tl::unexpected(bad(e, fmt::format("\"{}\" must be a string", key)));
    return it->get<std::string>();
}

Expected<int64_t> intArg(const Edit& e, const char* key) {
    auto it = e.args.find(key);
    if (it == e.args.end() || !it->is_number_integer())
        return tl::unexpected(bad(e, fmt::format("needs \"{}\" (an integer)", key)));
    return it->get<int64_t>();
}

// dtypeName()'s spelling ("float", "float16", "int64", ...), plus NumPy's "float32"/"float64".
std::optional<ir::DType> dtypeFromName(std::string_view name) {
    if (name == "float32") return ir::DType::kFloat;
    if (name == "float64") return ir::DType::kDouble;
    for (int32_t code = 1; code <= 22; ++code)
        if (ir::isKnownDType(code) && ir::dtypeName(static_cast<ir::DType>(code)) == name)
            return static_cast<ir::DType>(code);
    return std::nullopt;
}

Expected<ir::DType> dtypeArg(const Edit& e, const char* key) {
    WH_ASSIGN_OR_RETURN(std::string name, stringArg(e, key));
    const std::optional<ir::DType> d = dtypeFromName(name);
    if (!d || *d == ir::DType::kString)
        return tl::unexpected(bad(e, fmt::format("\"{}\": '{}' is not a tensor element type "
                                                 "(float, float16, bfloat16, double, int8, "
                                                 "uint8, int32, int64, bool, ...)",
                                                 key, name)));
    return *d;
}

json dimsToJson(const std::vector<ir::Dim>& dims) {
    json j = json::array();
    for (const ir::Dim& d : dims) {
        if (d.kind == ir::Dim::Kind::kValue)
            j.push_back(d.value);
        else if (d.kind == ir::Dim::Kind::kParam)
            j.push_back(d.param);
        else
            j.push_back(nullptr);
    }
    return j;
}

// "dims": [int >= 0 | "symbol" | null, ...]; absent = unknown rank (nullopt) when `required` is
// false.
Expected<std::optional<ir::Shape>> dimsArg(const Edit& e, bool required) {
    auto it = e.args.find("dims");
    if (it == e.args.end() || it->is_null()) {
        if (required) return tl::unexpected(bad(e, "needs \"dims\" (a list)"));
        return std::optional<ir::Shape>();
    }
    if (!it->is_array()) return tl::unexpected(bad(e, "\"dims\" must be a list"));
    ir::Shape shape;
    for (std::size_t i = 0; i < it->size(); ++i) {
        const json& d = (*it)[i];
        if (d.is_number_integer() && d.get<int64_t>() >= 0)
            shape.dims.push_back(ir::Dim::known(d.get<int64_t>()));
        else if (d.is_string() && !d.get<std::string>().empty())
            shape.dims.push_back(ir::Dim::symbol(d.get<std::string>()));
        else if (d.is_null())
            shape.dims.push_back(ir::Dim{});
        else
            return tl::unexpected(bad(e, fmt::format("\"dims\" entry {} ({}) is not a size >= 0, "
                                                     "a symbol or null",
                                                     i, d.dump())));
    }
    return std::optional<ir::Shape>(std::move(shape));
}

// `base`, else `base_1`, `base_2`, ...: the first name no node has.
std::string freshNodeName(const ir::Graph& g, const std::string& base) {
    std::string candidate = base;
    for (int i = 1; !g.nodesNamed(candidate).empty(); ++i)
        candidate = fmt::format("{}_{}", base, i);
    return candidate;
}

bool nameIsFree(const ir::Graph& g, const std::string& name) {
    return !name.empty() && g.uniqueName(name) == name;
}

// Removes every value_info entry (declared types of intermediates) and the declared type of the
// values they listed that are not graph inputs or outputs: after an input's shape changed they
// may be wrong, and shape inference gives them again.
Status dropValueInfos(Rewriter& r) {
    const std::vector<ir::Value*> listed = r.graph().valueInfos();
    for (ir::Value* v : listed) {
        WH_RETURN_STATUS_IF_ERROR(r.removeValueInfo(*v));
        if (!v->isGraphInput() && !v->isGraphOutput() && v->type.kind != ir::Type::Kind::kNone)
            WH_RETURN_STATUS_IF_ERROR(r.setValueType(*v, ir::Type{}));
    }
    return Status::ok();
}

// ---- set_initializer: element conversions ----------------------------------------------------

bool isIntegerType(ir::DType t) {
    switch (t) {
        case ir::DType::kInt8:
        case ir::DType::kInt16:
        case ir::DType::kInt32:
        case ir::DType::kInt64:
        case ir::DType::kUInt8:
        case ir::DType::kUInt16:
        case ir::DType::kUInt32:
        case ir::DType::kUInt64:
            return true;
        default:
            return false;
    }
}

// Calls f(T{}) with the C++ type of an integer dtype.
template <class F>
void withIntegerType(ir::DType t, F&& f) {
    switch (t) {
        case ir::DType::kInt8:
            f(int8_t{});
            break;
        case ir::DType::kInt16:
            f(int16_t{});
            break;
        case ir::DType::kInt32:
            f(int32_t{});
            break;
        case ir::DType::kInt64:
            f(int64_t{});
            break;
        case ir::DType::kUInt8:
            f(uint8_t{});
            break;
        case ir::DType::kUInt16:
            f(uint16_t{});
            break;
        case ir::DType::kUInt32:
            f(uint32_t{});
            break;
        case ir::DType::kUInt64:
            f(uint64_t{});
            break;
        default:
            WH_ASSERT(false);
    }
}

// Integer element i, exactly (int64 and uint64 both fit in __int128).
__int128 integerAt(const ir::Tensor& t, int64_t i) {
    __int128 out = 0;
    withIntegerType(t.dtype, [&](auto zero) {
        using T = decltype(zero);
        T v;
        std::memcpy(&v, t.data->data() + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
        out = static_cast<__int128>(v);
    });
    return out;
}

template <class T>
bool fitsIn(__int128 v) {
    return v >= static_cast<__int128>(std::numeric_limits<T>::lowest()) &&
           v <= static_cast<__int128>(std::numeric_limits<T>::max());
}

bool integerFits(ir::DType t, __int128 v) {
    bool fits = false;
    withIntegerType(t, [&](auto zero) { fits = fitsIn<decltype(zero)>(v); });
    return fits;
}

void storeInteger(ir::DType t, std::byte* p, __int128 v) {
    withIntegerType(t, [&](auto zero) {
        using T = decltype(zero);
        const T x = static_cast<T>(v);
        std::memcpy(p, &x, sizeof(T));
    });
}

void storeFloat(ir::DType t, std::byte* p, double v) {
    switch (t) {
        case ir::DType::kFloat: {
            const float x = static_cast<float>(v);
            std::memcpy(p, &x, 4);
            break;
        }
        case ir::DType::kDouble:
            std::memcpy(p, &v, 8);
            break;
        case ir::DType::kFloat16: {
            const engine::ref::Half h = engine::ref::doubleToHalf(v);
            std::memcpy(p, &h.bits, 2);
            break;
        }
        case ir::DType::kBFloat16: {
            const engine::ref::BFloat16 b = engine::ref::floatToBFloat16(static_cast<float>(v));
            std::memcpy(p, &b.bits, 2);
            break;
        }
        default:
            WH_ASSERT(false);
    }
}

// Why an initializer's bytes cannot be rewritten in place (fill, cast); empty if they can.
std::string inPlaceBlocker(const ir::Value& v) {
    const ir::Tensor& t = *v.initializer();
    if (t.storage == ir::TensorStorage::kExternal)
        return fmt::format("'{}' keeps its data in an external file", v.name());
    if (t.dtype == ir::DType::kString) return fmt::format("'{}' holds strings", v.name());
    return {};
}

// set_initializer "fill": every element `value`, dtype and dims kept.
Expected<ir::Tensor> filledTensor(const Edit& e, const ir::Value& v, double value) {
    if (std::string why = inPlaceBlocker(v); !why.empty()) return tl::unexpected(bad(e, why));
    ir::Tensor t = *v.initializer();
    const int64_t count = t.numElements();
    const std::size_t size = ir::dtypeSize(t.dtype);
    auto buffer = std::make_shared<ir::Buffer>(static_cast<std::size_t>(count) * size);
    std::byte* out = buffer->mutableData();
    if (ir::isFloatingPoint(t.dtype)) {
        for (int64_t i = 0; i < count; ++i) storeFloat(t.dtype, out + i * size, value);
    } else if (isIntegerType(t.dtype) || t.dtype == ir::DType::kBool) {
        const ir::DType as = t.dtype == ir::DType::kBool ? ir::DType::kUInt8 : t.dtype;
        const bool integral =
            std::isfinite(value) && std::floor(value) == value && std::fabs(value) < 1.9e19;
        if (!integral || !integerFits(as, static_cast<__int128>(value)) ||
            (t.dtype == ir::DType::kBool && value != 0 && value != 1))
            return tl::unexpected(bad(e, fmt::format("{} does not fit in '{}' ({})", value,
                                                     v.name(), ir::dtypeName(t.dtype))));
        for (int64_t i = 0; i < count; ++i)
            storeInteger(as, out + i * size, static_cast<__int128>(value));
    } else {
        return tl::unexpected(
            bad(e, fmt::format("cannot fill '{}': {} elements", v.name(), ir::dtypeName(t.dtype))));
    }
    t.data = std::move(buffer);
    return t;
}

// set_initializer "dtype": float <-> float, or integer <-> integer with a range check.
Expected<ir::Tensor> castTensor(const Edit& e, const ir::Value& v, ir::DType to) {
    if (std::string why = inPlaceBlocker(v); !why.empty()) return tl::unexpected(bad(e, why));
    const ir::Tensor& from = *v.initializer();
    if (from.dtype == to)
        return tl::unexpected(
            bad(e, fmt::format("'{}' is {} already", v.name(), ir::dtypeName(to))));
    const bool floats = ir::isFloatingPoint(from.dtype) && ir::isFloatingPoint(to);
    const bool ints = isIntegerType(from.dtype) && isIntegerType(to);
    if (!floats && !ints)
        return tl::unexpected(
            bad(e, fmt::format("cannot cast '{}' from {} to {}: only between float types (float, "
                               "float16, double, bfloat16) or between integer types",
                               v.name(), ir::dtypeName(from.dtype), ir::dtypeName(to))));
    const int64_t count = from.numElements();
    const std::size_t size = ir::dtypeSize(to);
    auto buffer = std::make_shared<ir::Buffer>(static_cast<std::size_t>(count) * size);
    std::byte* out = buffer->mutableData();
    for (int64_t i = 0; i < count; ++i) {
        if (floats) {
            storeFloat(to, out + i * size, from.elementAsDouble(i));
            continue;
        }
        const __int128 x = integerAt(from, i);
        if (!integerFits(to, x))
            return tl::unexpected(
                bad(e, fmt::format("element {} of '{}' ({}) does not fit in {}", i, v.name(),
                                   static_cast<long long>(x), ir::dtypeName(to))));
        storeInteger(to, out + i * size, x);
    }
    ir::Tensor t = from;
    t.dtype = to;
    t.data = std::move(buffer);
    return t;
}

// The value's declared type after its initializer became `t` (only when it declares one).
std::optional<ir::Type> typeFollowing(const ir::Value& v, const ir::Tensor& t) {
    if (!v.type.isTensor()) return std::nullopt;
    ir::Type type = v.type;
    type.elemType = t.dtype;
    ir::Shape shape;
    for (int64_t d : t.dims) shape.dims.push_back(ir::Dim::known(d));
    type.shape = std::move(shape);
    return type;
}

// ---- add_node ----------------------------------------------------------------------------------

// What add_node creates, resolved against the graph (names chosen, attributes parsed).
struct AddNodePlan {
    std::string opType, domain, name;
    std::vector<std::string> inputs, outputs;
    std::vector<ir::Attribute> attributes;
    ir::Value* edge = nullptr;     // insert on this edge
    ir::Node* consumer = nullptr;  // ... before this reader (null = every reader)
    ir::Node* before = nullptr;    // otherwise placed before this node (null = at the end)

    NewNode spec() const {
        NewNode s(opType, inputs, outputs);
        s.domain = domain;
        s.name = name;
        for (const ir::Attribute& a : attributes) s.attributes.push_back(a.clone());
        return s;
    }
};

Expected<std::shared_ptr<AddNodePlan>> planAddNode(const Edit& e, ir::Graph& g) {
    auto plan = std::make_shared<AddNodePlan>();
    WH_ASSIGN_OR_RETURN(plan->opType, stringArg(e, "op_type"));
    if (plan->opType.empty()) return tl::unexpected(bad(e, "\"op_type\" is empty"));
    WH_ASSIGN_OR_RETURN(plan->domain, optionalStringArg(e, "domain"));
    WH_ASSIGN_OR_RETURN(std::string base, optionalStringArg(e, "name"));
    plan->name = freshNodeName(g, base.empty() ? plan->opType : base);

    if (auto it = e.args.find("inputs"); it != e.args.end()) {
        if (!it->is_array()) return tl::unexpected(bad(e, "\"inputs\" must be a list of names"));
        for (const json& in : *it) {
            if (!in.is_string() && !in.is_null())
                return tl::unexpected(bad(e, "\"inputs\" must be a list of names"));
            std::string name = in.is_string() ? in.get<std::string>() : std::string();
            if (!name.empty() && !g.findValue(name))
                return tl::unexpected(bad(e, fmt::format("the model has no tensor '{}'", name)));
            plan->inputs.push_back(std::move(name));
        }
    }

    // Output names: as given, else "<node>_out<i>", unique in the graph and among themselves.
    std::vector<std::string> given;
    if (auto it = e.args.find("outputs"); it != e.args.end()) {
        if (!it->is_array()) return tl::unexpected(bad(e, "\"outputs\" must be a list of names"));
        for (const json& out : *it) {
            if (!out.is_string() && !out.is_null())
                return tl::unexpected(bad(e, "\"outputs\" must be a list of names"));
            given.push_back(out.is_string() ? out.get<std::string>() : std::string());
        }
    }
    int64_t count = given.empty() ? 1 : static_cast<int64_t>(given.size());
    if (e.args.contains("num_outputs")) {
        WH_ASSIGN_OR_RETURN(count, intArg(e, "num_outputs"));
        if (count < 1 || count > 4096)
            return tl::unexpected(
                bad(e, fmt::format("\"num_outputs\" {} is not in 1..4096", count)));
        if (!given.empty() && count != static_cast<int64_t>(given.size()))
            return tl::unexpected(bad(e, fmt::format("\"num_outputs\" {} and {} \"outputs\" differ",
                                                     count, given.size())));
    }
    given.resize(static_cast<std::size_t>(count));
    std::unordered_set<std::string> chosen;
    for (const std::string& out : given)
        if (!out.empty() && (!nameIsFree(g, out) || !chosen.insert(out).second))
            return tl::unexpected(bad(e, fmt::format("the tensor name '{}' is taken", out)));
    for (std::size_t i = 0; i < given.size(); ++i) {
        if (given[i].empty()) {
            const std::string stem = fmt::format("{}_out{}", plan->name, i);
            std::string name = g.uniqueName(stem);
            for (int k = 1; chosen.count(name); ++k)
                name = g.uniqueName(fmt::format("{}_{}", stem, k));
            chosen.insert(name);
            given[i] = name;
        }
    }
    plan->outputs = std::move(given);

    if (auto it = e.args.find("attributes"); it != e.args.end()) {
        if (!it->is_array())
            return tl::unexpected(bad(e,
                                      "\"attributes\" must be a list of {\"name\", \"type\", "
                                      "\"value\"}"));
        for (const json& a : *it) {
            if (a.is_null())
                return tl::unexpected(bad(e,
                                          "an attribute holds a tensor, graph or type, which "
                                          "an edit script cannot record"));
            if (!a.is_object())
                return tl::unexpected(bad(e, fmt::format("attribute {} is not {{\"name\", "
                                                         "\"type\", \"value\"}}",
                                                         a.dump())));
            WH_ASSIGN_OR_RETURN(ir::Attribute attribute, attributeFromJson(e, a));
            plan->attributes.push_back(std::move(attribute));
        }
    }

    if (auto it = e.args.find("edge"); it != e.args.end()) {
        if (!it->is_object() || !it->contains("tensor") || !(*it)["tensor"].is_string())
            return tl::unexpected(bad(e, "\"edge\" needs \"tensor\" (a string)"));
        const std::string tensor = (*it)["tensor"];
        plan->edge = g.findValue(tensor);
        if (!plan->edge)
            return tl::unexpected(bad(e, fmt::format("the model has no tensor '{}'", tensor)));
        if (auto c = it->find("consumer"); c != it->end() && !c->is_null()) {
            if (!c->is_object())
                return tl::unexpected(bad(e, "\"consumer\" must be {\"node\"} or {\"node_id\"}"));
            WH_ASSIGN_OR_RETURN(plan->consumer, nodeRef(e, g, *c));
            const auto& ins = plan->consumer->inputs();
            if (std::find(ins.begin(), ins.end(), plan->edge) == ins.end())
                return tl::unexpected(bad(
                    e, fmt::format("node {} does not read '{}'", quoted(*plan->consumer), tensor)));
        }
        if (plan->inputs.empty()) plan->inputs.emplace_back();
        plan->inputs[0] = tensor;
        return plan;
    }

    // Right after the last producer of its inputs (the order stays topological), else at the end.
    std::unordered_set<const ir::Node*> producers;
    for (const std::string& in : plan->inputs)
        if (const ir::Value* v = in.empty() ? nullptr : g.findValue(in); v && v->producer())
            producers.insert(v->producer());
    const ir::Node* last = producers.size() == 1 ? *producers.begin() : nullptr;
    if (producers.size() > 1)  // which comes last: the graph order says
        for (const ir::Node* n : g.nodes())
            if (producers.count(n)) last = n;
    plan->before = last ? last->next() : nullptr;
    return plan;
}

// ---- set_input ---------------------------------------------------------------------------------

// set_input, resolved: the nodes to move after the tensor's producer, and the new input list.
struct SetInputPlan {
    ir::Node* node = nullptr;
    ir::Node* producer = nullptr;
    std::vector<ir::Node*> moves;  // in graph order; placed right after `producer`
    std::vector<ir::Value*> inputs;
};

Expected<SetInputPlan> planSetInput(const Edit& e, ir::Graph& g, ir::Node* n) {
    SetInputPlan plan;
    plan.node = n;
    WH_ASSIGN_OR_RETURN(int64_t index, intArg(e, "index"));
    if (index < 0 || index > n->numInputs())
        return tl::unexpected(bad(e, fmt::format("node {} has {} inputs: {} is not one of them nor "
                                                 "the next",
                                                 quoted(*n), n->numInputs(), index)));
    WH_ASSIGN_OR_RETURN(std::string name, stringArg(e, "tensor"));
    ir::Value* v = nullptr;
    if (!name.empty()) {
        v = g.findValue(name);
        if (!v) return tl::unexpected(bad(e, fmt::format("the model has no tensor '{}'", name)));
    } else if (index == n->numInputs()) {
        return tl::unexpected(
            bad(e, fmt::format("node {} has no input {} to disconnect", quoted(*n), index)));
    }
    if (v && v->producer() && v->producer()->graph() == &g) {
        ir::Node* p = v->producer();
        auto cycle = [&] {
            return tl::unexpected(
                bad(e, fmt::format("cannot connect '{}' to input {} of {}: it is computed by {}, "
                                   "which {} (a cycle)",
                                   name, index, quoted(*n), quoted(*p),
                                   p == n ? std::string("is the node itself")
                                          : fmt::format("reads what {} computes", quoted(*n)))));
        };
        if (p == n) return cycle();
        // The graph is kept in topological order, so what depends on `n` comes after it. The
        // producer is looked for both ways from `n` at once: the search costs the distance
        // between them, not the graph's size (100k nodes).
        bool producerAfter = false;
        for (ir::Node *ahead = n->next(), *behind = n->prev(); ahead || behind;) {
            if (ahead == p) {
                producerAfter = true;
                break;
            }
            if (behind == p) break;
            if (ahead) ahead = ahead->next();
            if (behind) behind = behind->prev();
        }
        // A producer after `n` that depends on it would make a cycle. Otherwise `n` and what
        // depends on it before the producer move right after it, in their order.
        if (producerAfter) {
            std::unordered_set<const ir::Node*> below{n};
            auto readsBelow = [&](const ir::Node& m) {
                for (const ir::Value* in : m.inputs())
                    if (in && in->producer() && below.count(in->producer())) return true;
                return false;
            };
            for (ir::Node* m = n; m != p; m = m->next())
                if (m == n || readsBelow(*m)) {
                    below.insert(m);
                    plan.moves.push_back(m);
                }
            if (readsBelow(*p)) return cycle();
        }
        plan.producer = p;
    }
    plan.inputs = n->inputs();
    if (index == n->numInputs())
        plan.inputs.push_back(v);
    else if (!v && index + 1 == n->numInputs())
        plan.inputs.pop_back();  // ONNX style: an omitted last input is left out...
    else
        plan.inputs[static_cast<std::size_t>(index)] = v;
    // ...but omitted inputs before it stay, so connecting the same index again appends it.
    return plan;
}

// ---- delete_nodes ------------------------------------------------------------------------------

struct DeleteNodesPlan {
    std::vector<ir::Node*> ordered;      // the selection in graph order
    std::vector<std::string> constants;  // weights the selection reads (dropped when dead)
    ir::Value* entering = nullptr;       // the bypass: outside readers of `leaving` read this
    ir::Value* leaving = nullptr;
};

Expected<DeleteNodesPlan> planDeleteNodes(const Edit& e, ir::Graph& g,
                                          const std::vector<ir::Node*>& selection) {
    DeleteNodesPlan plan;
    const std::unordered_set<const ir::Node*> in(selection.begin(), selection.end());
    if (selection.size() == 1)
        plan.ordered = selection;
    else
        for (ir::Node* n : g.nodes())
            if (in.count(n)) plan.ordered.push_back(n);
    std::vector<ir::Value*> entering;
    for (const ir::Node* n : plan.ordered)
        for (ir::Value* v : n->inputs()) {
            if (!v || (v->producer() && in.count(v->producer()))) continue;
            if (ir::constantTensor(v)) {
                if (std::find(plan.constants.begin(), plan.constants.end(), v->name()) ==
                    plan.constants.end())
                    plan.constants.push_back(v->name());
            } else if (std::find(entering.begin(), entering.end(), v) == entering.end()) {
                entering.push_back(v);
            }
        }
    // Outputs read outside the selection (by a node, a subgraph of one, or as model outputs).
    struct Leaving {
        ir::Value* value;
        std::string reader;
        bool bySubgraph;
    };
    std::vector<Leaving> leaving;
    for (const ir::Node* n : plan.ordered)
        for (ir::Value* o : n->outputs()) {
            if (!o) continue;
            std::string reader;
            bool bySubgraph = false;
            for (const ir::Use& u : o->uses())
                if (!in.count(u.node)) {
                    reader = "node " + quoted(*u.node);
                    break;
                }
            if (reader.empty() && o->isGraphOutput()) reader = "the model outputs";
            if (reader.empty())
                for (const ir::Node* m : g.subgraphHolders())
                    if (!in.count(m) && subgraphsRead(*m, o->name())) {
                        reader = "a subgraph of node " + quoted(*m);
                        bySubgraph = true;
                        break;
                    }
            if (!reader.empty()) leaving.push_back({o, reader, bySubgraph});
        }
    if (leaving.empty()) return plan;

    const Leaving& first = leaving.front();
    auto refuse = [&](const std::string& why) {
        return tl::unexpected(bad(
            e, fmt::format("cannot delete the {} selected nodes: '{}' is read by {} outside the "
                           "selection, and {}",
                           plan.ordered.size(), first.value->name(), first.reader, why)));
    };
    if (leaving.size() != 1 || entering.size() != 1)
        return refuse(
            fmt::format("the selection has {} data inputs and {} outputs read outside "
                        "it, so those readers cannot simply be rewired to one tensor. "
                        "Delete them too, or select a chain",
                        entering.size(), leaving.size()));
    ir::Value* x = entering.front();
    ir::Value* y = first.value;
    for (const ir::Node* m : g.subgraphHolders())
        if (!in.count(m) && subgraphsRead(*m, y->name()))
            return refuse(fmt::format("a subgraph of node {} reads it by name", quoted(*m)));
    if (y->isGraphOutput()) {
        // The model output keeps its name: the entering tensor takes it.
        std::string why;
        if (x->isGraphInput() || x->isGraphOutput() || x->isCapture() || !x->producer())
            why = fmt::format(
                "the entering tensor '{}' is a model input or output and cannot "
                "take the name of model output '{}'",
                x->name(), y->name());
        else
            for (const ir::Node* m : g.subgraphHolders())
                if (subgraphsRead(*m, x->name()))
                    why = fmt::format(
                        "a subgraph of node {} reads the entering tensor '{}' by "
                        "name",
                        quoted(*m), x->name());
        if (!why.empty()) return refuse(why);
    }
    plan.entering = x;
    plan.leaving = y;
    return plan;
}

Status deleteNodes(Rewriter& r, const DeleteNodesPlan& plan) {
    ir::Graph& g = r.graph();
    ir::Value* x = plan.entering;
    ir::Value* y = plan.leaving;
    const std::unordered_set<const ir::Node*> in(plan.ordered.begin(), plan.ordered.end());
    std::vector<int> outputPositions;
    std::string yName;
    ir::Type yType;
    if (y) {
        // Readers outside the selection read the entering tensor instead.
        std::vector<ir::Node*> readers;
        for (const ir::Use& u : y->uses())
            if (!in.count(u.node) &&
                std::find(readers.begin(), readers.end(), u.node) == readers.end())
                readers.push_back(u.node);
        for (ir::Node* reader : readers) {
            std::vector<ir::Value*> ins = reader->inputs();
            std::replace(ins.begin(), ins.end(), y, x);
            WH_RETURN_STATUS_IF_ERROR(r.setInputs(*reader, std::move(ins)));
        }
        if (y->isGraphOutput()) {
            yName = y->name();
            yType = y->type;
            for (int i = static_cast<int>(g.outputs().size()) - 1; i >= 0; --i)
                if (g.outputs()[static_cast<std::size_t>(i)] == y) {
                    outputPositions.insert(outputPositions.begin(), i);
                    WH_RETURN_STATUS_IF_ERROR(r.removeGraphOutput(i));
                }
        }
    }
    // Readers before producers: erase from the back of graph order.
    for (auto it = plan.ordered.rbegin(); it != plan.ordered.rend(); ++it)
        WH_RETURN_STATUS_IF_ERROR(r.eraseNode(**it));
    if (!outputPositions.empty()) {
        if (x->isInValueInfo()) WH_RETURN_STATUS_IF_ERROR(r.removeValueInfo(*x));
        WH_RETURN_STATUS_IF_ERROR(r.renameValue(*x, yName));
        if (yType.kind != ir::Type::Kind::kNone)
            WH_RETURN_STATUS_IF_ERROR(r.setValueType(*x, std::move(yType)));
        for (int position : outputPositions)
            WH_RETURN_STATUS_IF_ERROR(r.addGraphOutput(*x, position));
    }
    return dropDeadConstants(r, plan.constants);
}

}  // namespace

Expected<PreparedEdit> prepareEdit(ir::Graph& g, const Edit& e) {
    if (e.op == "delete_node") {
        WH_ASSIGN_OR_RETURN(ir::Node * n, nodeArg(e, g));
        return PreparedEdit{"Delete " + quoted(*n),
                            [n](Rewriter& r, EditResult&) { return deleteNode(r, *n); }};
    }
    if (e.op == "rename_node") {
        WH_ASSIGN_OR_RETURN(ir::Node * n, nodeArg(e, g));
        WH_ASSIGN_OR_RETURN(std::string name, stringArg(e, "name"));
        // Names identify nodes (--select, recipes, the Issues dock, scripts): never two alike.
        for (const ir::Node* other : g.nodesNamed(name))
            if (other != n)
                return tl::unexpected(
                    makeStatus(StatusCode::kUsage,
                               "cannot rename {} to '{}': node #{} ({}) has that name already; "
                               "node names must be unique",
                               quoted(*n), name, other->id(), other->opType));
        return PreparedEdit{fmt::format("Rename {} to '{}'", quoted(*n), name),
                            [n, name](Rewriter& r, EditResult&) { return r.renameNode(*n, name); }};
    }
    if (e.op == "insert_identity") {
        WH_ASSIGN_OR_RETURN(ir::Node * n, nodeArg(e, g));
        ir::Value* out = n->numOutputs() > 0 ? n->output(0) : nullptr;
        if (!out)
            return tl::unexpected(makeStatus(
                StatusCode::kUsage, "node {} has no output 0 to put an Identity on", quoted(*n)));
        return PreparedEdit{
            fmt::format("Insert Identity after {}", quoted(*n)),
            [n, out](Rewriter& r, EditResult& result) -> Status {
                NewNode spec("Identity", {out->name()}, {""});
                spec.name =
                    r.graph().uniqueName((n->name.empty() ? out->name() : n->name) + "_identity");
                WH_ASSIGN_OR_RETURN_STATUS(ir::Node * identity,
                                           r.insertOnEdge(*out, nullptr, std::move(spec)));
                result.created = identity->id();
                return Status::ok();
            }};
    }
    if (e.op == "set_attribute") {
        WH_ASSIGN_OR_RETURN(ir::Node * n, nodeArg(e, g));
        WH_ASSIGN_OR_RETURN(ir::Attribute a, attributeFromJson(e));
        std::string label =
            fmt::format("Set {}.{} = {}", n->displayName(), a.name, a.valueString());
        auto shared = std::make_shared<ir::Attribute>(std::move(a));
        return PreparedEdit{std::move(label), [n, shared](Rewriter& r, EditResult&) {
                                return r.setAttribute(*n, shared->clone());
                            }};
    }
    if (e.op == "rename_tensor") {
        WH_ASSIGN_OR_RETURN(ir::Value * v, tensorArg(e, g));
        WH_ASSIGN_OR_RETURN(std::string name, stringArg(e, "name"));
        if (name.empty()) return tl::unexpected(bad(e, "a tensor needs a name"));
        return PreparedEdit{
            fmt::format("Rename tensor '{}' to '{}'", v->name(), name),
            [v, name](Rewriter& r, EditResult&) { return r.renameValue(*v, name); }};
    }
    if (e.op == "add_output") {
        WH_ASSIGN_OR_RETURN(ir::Value * v, tensorArg(e, g));
        if (v->isGraphOutput())
            return tl::unexpected(bad(e, fmt::format("'{}' is a model output already", v->name())));
        // A model output needs a type: "dtype" (and "dims") give one to a tensor the model
        // declares none for (the studio passes the inferred one).
        std::optional<ir::Type> type;
        if (e.args.contains("dtype")) {
            WH_ASSIGN_OR_RETURN(ir::DType dtype, dtypeArg(e, "dtype"));
            WH_ASSIGN_OR_RETURN(std::optional<ir::Shape> shape, dimsArg(e, false));
            type = ir::Type::tensor(dtype, std::move(shape));
        }
        return PreparedEdit{fmt::format("Make '{}' a model output", v->name()),
                            [v, type](Rewriter& r, EditResult&) -> Status {
                                if (type && v->type.kind == ir::Type::Kind::kNone)
                                    WH_RETURN_STATUS_IF_ERROR(r.setValueType(*v, *type));
                                return r.addGraphOutput(*v);
                            }};
    }
    if (e.op == "remove_output") {
        WH_ASSIGN_OR_RETURN(ir::Value * v, tensorArg(e, g));
        const auto& outs = g.outputs();
        const auto it = std::find(outs.begin(), outs.end(), v);
        if (it == outs.end())
            return tl::unexpected(bad(e, fmt::format("'{}' is not a model output", v->name())));
        const int position = static_cast<int>(it - outs.begin());
        return PreparedEdit{
            fmt::format("Remove model output '{}'", v->name()),
            [position](Rewriter& r, EditResult&) { return r.removeGraphOutput(position); }};
    }
    if (e.op == "cleanup")
        return PreparedEdit{"Clean up dead nodes and unused initializers",
                            [](Rewriter& r, EditResult&) { return cleanUp(r); }};
    if (e.op == "dedupe_initializers")
        return PreparedEdit{"Deduplicate initializers",
                            [](Rewriter& r, EditResult&) { return dedupeInitializers(r); }};
    if (e.op == "fold_constants") {
        WH_ASSIGN_OR_RETURN(int64_t opset, intArg(e, "opset"));
        if (opset < 1) return tl::unexpected(bad(e, "\"opset\" must be 1 or more"));
        return PreparedEdit{"Fold constants", [opset](Rewriter& r, EditResult& result) -> Status {
                                WH_ASSIGN_OR_RETURN_STATUS(engine::FoldConstantsResult folded,
                                                           engine::foldConstants(r, opset));
                                result.summary = foldSummary(folded);
                                return Status::ok();
                            }};
    }
    if (e.op == "add_node") {
        WH_ASSIGN_OR_RETURN(std::shared_ptr<AddNodePlan> plan, planAddNode(e, g));
        std::string label = plan->edge ? fmt::format("Add {} '{}' on '{}'", plan->opType,
                                                     plan->name, plan->edge->name())
                                       : fmt::format("Add {} '{}'", plan->opType, plan->name);
        return PreparedEdit{
            std::move(label), [plan](Rewriter& r, EditResult& result) -> Status {
                ir::Node* n = nullptr;
                if (plan->edge) {
                    WH_ASSIGN_OR_RETURN_STATUS(
                        n, r.insertOnEdge(*plan->edge, plan->consumer, plan->spec()));
                } else {
                    WH_ASSIGN_OR_RETURN_STATUS(n, r.insertNode(plan->spec(), plan->before));
                }
                result.created = n->id();
                return Status::ok();
            }};
    }
    if (e.op == "set_input") {
        WH_ASSIGN_OR_RETURN(ir::Node * n, nodeArg(e, g));
        WH_ASSIGN_OR_RETURN(SetInputPlan plan, planSetInput(e, g, n));
        const std::string tensor = e.args["tensor"];
        const int64_t index = e.args["index"];
        std::string label =
            tensor.empty()
                ? fmt::format("Disconnect input {} of {}", index, quoted(*n))
                : fmt::format("Connect '{}' to input {} of {}", tensor, index, quoted(*n));
        return PreparedEdit{std::move(label), [plan](Rewriter& r, EditResult&) -> Status {
                                if (!plan.moves.empty()) {
                                    ir::Node* after = plan.producer->next();
                                    for (ir::Node* m : plan.moves)
                                        WH_RETURN_STATUS_IF_ERROR(r.moveNode(*m, after));
                                }
                                return r.setInputs(*plan.node, plan.inputs);
                            }};
    }
    if (e.op == "add_input") {
        WH_ASSIGN_OR_RETURN(std::string name, stringArg(e, "name"));
        if (!nameIsFree(g, name))
            return tl::unexpected(bad(e, name.empty()
                                             ? std::string("a tensor needs a name")
                                             : fmt::format("the tensor name '{}' is taken", name)));
        WH_ASSIGN_OR_RETURN(ir::DType dtype, dtypeArg(e, "dtype"));
        WH_ASSIGN_OR_RETURN(std::optional<ir::Shape> shape, dimsArg(e, false));
        ir::Type type = ir::Type::tensor(dtype, std::move(shape));
        std::string label = fmt::format("Add model input '{}' {}", name, type.toString());
        return PreparedEdit{std::move(label), [name, type](Rewriter& r, EditResult&) -> Status {
                                WH_ASSIGN_OR_RETURN_STATUS(ir::Value * v, r.addValue(name, type));
                                return r.addGraphInput(*v);
                            }};
    }
    if (e.op == "remove_input") {
        WH_ASSIGN_OR_RETURN(ir::Value * v, tensorArg(e, g));
        if (!v->isGraphInput())
            return tl::unexpected(bad(e, fmt::format("'{}' is not a model input", v->name())));
        if (v->hasUses())
            return tl::unexpected(
                bad(e, fmt::format("cannot remove model input '{}': node {} reads it", v->name(),
                                   quoted(*v->uses().front().node))));
        for (const ir::Node* m : g.subgraphHolders())
            if (subgraphsRead(*m, v->name()))
                return tl::unexpected(bad(
                    e, fmt::format("cannot remove model input '{}': a subgraph of node {} reads it",
                                   v->name(), quoted(*m))));
        if (v->isGraphOutput())
            return tl::unexpected(
                bad(e, fmt::format("cannot remove model input '{}': it is a model output too",
                                   v->name())));
        return PreparedEdit{fmt::format("Remove model input '{}'", v->name()),
                            [v](Rewriter& r, EditResult&) -> Status {
                                ir::Graph& graph = r.graph();
                                for (int i = static_cast<int>(graph.inputs().size()) - 1; i >= 0;
                                     --i)
                                    if (graph.inputs()[static_cast<std::size_t>(i)] == v)
                                        WH_RETURN_STATUS_IF_ERROR(r.removeGraphInput(i));
                                if (v->hasInitializer()) return r.removeInitializer(*v);
                                return r.eraseUnusedValue(*v);
                            }};
    }
    if (e.op == "set_input_shape") {
        WH_ASSIGN_OR_RETURN(ir::Value * v, tensorArg(e, g));
        if (!v->isGraphInput())
            return tl::unexpected(bad(e, fmt::format("'{}' is not a model input", v->name())));
        if (v->hasInitializer())
            return tl::unexpected(
                bad(e, fmt::format("'{}' has an initializer (a default value): its shape is the "
                                   "initializer's; change that with set_initializer",
                                   v->name())));
        WH_ASSIGN_OR_RETURN(std::optional<ir::Shape> shape, dimsArg(e, true));
        ir::DType dtype = v->type.isTensor() ? v->type.elemType : ir::DType::kUndefined;
        if (e.args.contains("dtype")) {
            WH_ASSIGN_OR_RETURN(dtype, dtypeArg(e, "dtype"));
        } else if (dtype == ir::DType::kUndefined) {
            return tl::unexpected(
                bad(e, fmt::format("needs \"dtype\": '{}' declares no element type", v->name())));
        }
        ir::Type type = v->type.isTensor() ? v->type : ir::Type::tensor(dtype);
        type.elemType = dtype;
        type.shape = std::move(shape);
        std::string label = fmt::format("Set model input '{}' to {}", v->name(), type.toString());
        return PreparedEdit{std::move(label), [v, type](Rewriter& r, EditResult&) -> Status {
                                WH_RETURN_STATUS_IF_ERROR(r.setValueType(*v, type));
                                return dropValueInfos(r);
                            }};
    }
    if (e.op == "set_batch_size") {
        auto it = e.args.find("size");
        ir::Dim batch;
        if (it != e.args.end() && it->is_number_integer() && it->get<int64_t>() > 0)
            batch = ir::Dim::known(it->get<int64_t>());
        else if (it != e.args.end() && it->is_string() && !it->get<std::string>().empty())
            batch = ir::Dim::symbol(it->get<std::string>());
        else
            return tl::unexpected(bad(e, "needs \"size\": an integer > 0 or a symbol (a string)"));
        std::vector<std::pair<ir::Value*, ir::Type>> changes;
        for (ir::Value* v : g.inputs()) {
            if (v->hasInitializer() || !v->type.isTensor() || !v->type.shape ||
                v->type.shape->dims.empty())
                continue;
            if (std::any_of(changes.begin(), changes.end(),
                            [&](const auto& c) { return c.first == v; }))
                continue;
            ir::Type type = v->type;
            ir::Dim& d = type.shape->dims.front();
            d.kind = batch.kind;
            d.value = batch.value;
            d.param = batch.param;
            changes.emplace_back(v, std::move(type));
        }
        if (changes.empty())
            return tl::unexpected(bad(e,
                                      "no model input has a batch dimension (a declared shape "
                                      "of rank >= 1, not an initializer)"));
        const std::string size = batch.isKnown() ? std::to_string(batch.value) : batch.param;
        return PreparedEdit{fmt::format("Set the batch size to {}", size),
                            [changes](Rewriter& r, EditResult&) -> Status {
                                for (const auto& [v, type] : changes)
                                    WH_RETURN_STATUS_IF_ERROR(r.setValueType(*v, type));
                                return dropValueInfos(r);
                            }};
    }
    if (e.op == "set_initializer") {
        WH_ASSIGN_OR_RETURN(ir::Value * v, tensorArg(e, g));
        if (!v->hasInitializer())
            return tl::unexpected(bad(e, fmt::format("'{}' is not an initializer", v->name())));
        const int given = static_cast<int>(e.args.contains("fill")) +
                          static_cast<int>(e.args.contains("npy")) +
                          static_cast<int>(e.args.contains("dtype"));
        if (given != 1)
            return tl::unexpected(
                bad(e, "needs exactly one of \"fill\" (a number), \"npy\" (a file) and \"dtype\""));
        std::optional<ir::Tensor> tensor;
        std::string label;
        if (e.args.contains("fill")) {
            if (!e.args["fill"].is_number())
                return tl::unexpected(bad(e, "\"fill\" must be a number"));
            const double value = e.args["fill"];
            WH_ASSIGN_OR_RETURN(tensor, filledTensor(e, *v, value));
            label = fmt::format("Fill initializer '{}' with {}", v->name(), value);
        } else if (e.args.contains("npy")) {
            WH_ASSIGN_OR_RETURN(std::string path, stringArg(e, "npy"));
            auto host = data::readNpy(path);
            if (!host)
                return tl::unexpected(
                    bad(e, fmt::format("cannot read '{}': {}", path, host.error().message())));
            tensor = host->toIr(v->name());
            tensor->docString = v->initializer()->docString;
            label = fmt::format("Load initializer '{}' from '{}'", v->name(), path);
        } else {
            WH_ASSIGN_OR_RETURN(ir::DType dtype, dtypeArg(e, "dtype"));
            WH_ASSIGN_OR_RETURN(tensor, castTensor(e, *v, dtype));
            label = fmt::format("Cast initializer '{}' to {}", v->name(), ir::dtypeName(dtype));
        }
        auto shared = std::make_shared<const ir::Tensor>(std::move(*tensor));
        const ir::Tensor& old = *v->initializer();
        const std::optional<ir::Type> type = shared->dtype != old.dtype || shared->dims != old.dims
                                                 ? typeFollowing(*v, *shared)
                                                 : std::nullopt;
        return PreparedEdit{std::move(label),
                            [v, shared, type](Rewriter& r, EditResult&) -> Status {
                                WH_RETURN_STATUS_IF_ERROR(r.replaceInitializer(*v, *shared));
                                if (type) return r.setValueType(*v, *type);
                                return Status::ok();
                            }};
    }
    if (e.op == "delete_nodes") {
        auto it = e.args.find("nodes");
        if (it == e.args.end() || !it->is_array() || it->empty())
            return tl::unexpected(bad(e, "needs \"nodes\": a list of {\"node\"} or {\"node_id\"}"));
        std::vector<ir::Node*> selection;
        for (const json& ref : *it) {
            if (!ref.is_object())
                return tl::unexpected(bad(e, "\"nodes\" must list {\"node\"} or {\"node_id\"}"));
            WH_ASSIGN_OR_RETURN(ir::Node * n, nodeRef(e, g, ref));
            if (std::find(selection.begin(), selection.end(), n) == selection.end())
                selection.push_back(n);
        }
        if (selection.size() == 1) {  // exactly delete_node
            ir::Node* n = selection.front();
            return PreparedEdit{"Delete " + quoted(*n),
                                [n](Rewriter& r, EditResult&) { return deleteNode(r, *n); }};
        }
        WH_ASSIGN_OR_RETURN(DeleteNodesPlan plan, planDeleteNodes(e, g, selection));
        return PreparedEdit{fmt::format("Delete {} nodes", plan.ordered.size()),
                            [plan](Rewriter& r, EditResult&) { return deleteNodes(r, plan); }};
    }
    return tl::unexpected(
        makeStatus(StatusCode::kUsage,
                   "unknown edit '{}' (delete_node, delete_nodes, rename_node, insert_identity, "
                   "add_node, set_attribute, set_input, rename_tensor, add_output, "
                   "remove_output, add_input, remove_input, set_input_shape, set_batch_size, "
                   "set_initializer, cleanup, dedupe_initializers, fold_constants)",
                   e.op));
}

Expected<EditResult> applyEdit(Rewriter& rewriter, const Edit& edit) {
    WH_ASSIGN_OR_RETURN(PreparedEdit prepared, prepareEdit(rewriter.graph(), edit));
    EditResult result;
    result.label = prepared.label;
    rewriter.beginGroup(prepared.label);
    Status s = prepared.apply(rewriter, result);
    if (!s.isOk()) {
        rewriter.cancelGroup();
        return tl::unexpected(s);
    }
    rewriter.endGroup();
    return result;
}

Edit deleteNodeEdit(const ir::Graph& graph, const ir::Node& node) {
    Edit e{"delete_node"};
    putNode(e.args, graph, node);
    return e;
}

Edit renameNodeEdit(const ir::Graph& graph, const ir::Node& node, const std::string& name) {
    Edit e{"rename_node"};
    putNode(e.args, graph, node);
    e.args["name"] = name;
    return e;
}

Edit insertIdentityEdit(const ir::Graph& graph, const ir::Node& node) {
    Edit e{"insert_identity"};
    putNode(e.args, graph, node);
    return e;
}

Expected<Edit> setAttributeEdit(const ir::Graph& graph, const ir::Node& node,
                                const ir::Attribute& attribute) {
    json a = attributeToJson(attribute);
    if (a.is_null())
        return error(StatusCode::kUsage,
                     "attribute '{}' of node {} holds a tensor, graph or type: an edit script "
                     "cannot record it",
                     attribute.name, quoted(node));
    Edit e{"set_attribute"};
    putNode(e.args, graph, node);
    e.args["attribute"] = std::move(a);
    return e;
}

Edit renameTensorEdit(const std::string& tensor, const std::string& name) {
    return {"rename_tensor", {{"tensor", tensor}, {"name", name}}};
}

Edit addOutputEdit(const std::string& tensor, const ir::Type* type) {
    Edit e{"add_output", {{"tensor", tensor}}};
    if (type && type->isTensor() && type->elemType != ir::DType::kUndefined) {
        e.args["dtype"] = std::string(ir::dtypeName(type->elemType));
        if (type->shape) e.args["dims"] = dimsToJson(type->shape->dims);
    }
    return e;
}

Edit removeOutputEdit(const std::string& tensor) {
    return {"remove_output", {{"tensor", tensor}}};
}

Edit cleanupEdit() {
    return {"cleanup"};
}

Edit foldConstantsEdit(int64_t opset) {
    return {"fold_constants", {{"opset", opset}}};
}

Edit dedupeInitializersEdit() {
    return {"dedupe_initializers"};
}

namespace {

json attributesToJson(const std::vector<ir::Attribute>& attributes) {
    json list = json::array();
    for (const ir::Attribute& a : attributes) list.push_back(attributeToJson(a));
    return list;
}

}  // namespace

Edit addNodeEdit(const std::string& opType, const std::string& domain, const std::string& name,
                 const std::vector<std::string>& inputs, int numOutputs,
                 const std::vector<ir::Attribute>& attributes) {
    Edit e{"add_node", {{"op_type", opType}}};
    if (!domain.empty()) e.args["domain"] = domain;
    if (!name.empty()) e.args["name"] = name;
    e.args["inputs"] = inputs;
    e.args["num_outputs"] = numOutputs;
    e.args["attributes"] = attributesToJson(attributes);
    return e;
}

Edit addNodeOnEdgeEdit(const ir::Graph& graph, const std::string& opType, const std::string& domain,
                       const std::string& tensor, const ir::Node* consumer,
                       const std::vector<ir::Attribute>& attributes) {
    Edit e{"add_node", {{"op_type", opType}}};
    if (!domain.empty()) e.args["domain"] = domain;
    json edge{{"tensor", tensor}};
    if (consumer) {
        json ref = json::object();
        putNode(ref, graph, *consumer);
        edge["consumer"] = std::move(ref);
    }
    e.args["edge"] = std::move(edge);
    e.args["num_outputs"] = 1;
    e.args["attributes"] = attributesToJson(attributes);
    return e;
}

Edit setInputEdit(const ir::Graph& graph, const ir::Node& node, int index,
                  const std::string& tensor) {
    Edit e{"set_input"};
    putNode(e.args, graph, node);
    e.args["index"] = index;
    e.args["tensor"] = tensor;
    return e;
}

Edit addInputEdit(const std::string& name, ir::DType dtype, const std::vector<ir::Dim>& dims) {
    return {
        "add_input",
        {{"name", name}, {"dtype", std::string(ir::dtypeName(dtype))}, {"dims", dimsToJson(dims)}}};
}

Edit removeInputEdit(const std::string& tensor) {
    return {"remove_input", {{"tensor", tensor}}};
}

Edit setInputShapeEdit(const std::string& tensor, const std::vector<ir::Dim>& dims) {
    return {"set_input_shape", {{"tensor", tensor}, {"dims", dimsToJson(dims)}}};
}

Edit setBatchSizeEdit(const nlohmann::json& size) {
    return {"set_batch_size", {{"size", size}}};
}

Edit fillInitializerEdit(const std::string& tensor, double value) {
    return {"set_initializer", {{"tensor", tensor}, {"fill", value}}};
}

Edit initializerFromNpyEdit(const std::string& tensor, const std::string& npyPath) {
    return {"set_initializer", {{"tensor", tensor}, {"npy", npyPath}}};
}

Edit castInitializerEdit(const std::string& tensor, ir::DType dtype) {
    return {"set_initializer", {{"tensor", tensor}, {"dtype", std::string(ir::dtypeName(dtype))}}};
}

Edit deleteNodesEdit(const ir::Graph& graph, const std::vector<const ir::Node*>& nodes) {
    json refs = json::array();
    for (const ir::Node* n : nodes) {
        json ref = json::object();
        putNode(ref, graph, *n);
        refs.push_back(std::move(ref));
    }
    return {"delete_nodes", {{"nodes", std::move(refs)}}};
}

json scriptToJson(const std::vector<Edit>& edits) {
    json list = json::array();
    for (const Edit& e : edits) {
        json j = e.args;
        j["op"] = e.op;
        list.push_back(std::move(j));
    }
    return {{"format", "whittle-edit-script"}, {"version", 1}, {"edits", std::move(list)}};
}

Expected<std::vector<Edit>> scriptFromJson(const json& j) {
    if (!j.is_object() || j.value("format", std::string()) != "whittle-edit-script")
        return error(StatusCode::kBadInput,
                     "not an edit script: it needs \"format\": \"whittle-edit-script\"");
    if (!j.contains("version") || j["version"] != 1)
        return error(StatusCode::kBadInput, "edit script version {} (this build reads 1)",
                     j.contains("version") ? j["version"].dump() : "missing");
    if (!j.contains("edits") || !j["edits"].is_array())
        return error(StatusCode::kBadInput, "the edit script has no \"edits\" list");
    std::vector<Edit> edits;
    for (std::size_t i = 0; i < j["edits"].size(); ++i) {
        const json& item = j["edits"][i];
        if (!item.is_object() || !item.contains("op") || !item["op"].is_string())
            return error(StatusCode::kBadInput, "edit {} has no \"op\" name", i + 1);
        Edit e{item["op"].get<std::string>(), item};
        e.args.erase("op");
        edits.push_back(std::move(e));
    }
    return edits;
}

}  // namespace wh::rewrite
