// Operator schemas and the checker, from the ONNX library (libonnx): the registry its checker
// and shape inference use, so what the palette offers is what the checker accepts.

#include "core/onnx/op_schema.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <onnx/checker.h>
#include <onnx/defs/data_type_utils.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include "core/onnx/model_io.h"

namespace wh::onnx {

namespace {

namespace on = ::ONNX_NAMESPACE;

OpParameter::Option optionOf(on::OpSchema::FormalParameterOption o) {
    switch (o) {
        case on::OpSchema::Optional:
            return OpParameter::Option::kOptional;
        case on::OpSchema::Variadic:
            return OpParameter::Option::kVariadic;
        default:
            return OpParameter::Option::kSingle;
    }
}

std::string defaultText(const on::AttributeProto& a) {
    switch (a.type()) {
        case on::AttributeProto::INT:
            return std::to_string(a.i());
        case on::AttributeProto::FLOAT:
            return fmt::format("{}", a.f());
        case on::AttributeProto::STRING:
            return "\"" + a.s() + "\"";
        case on::AttributeProto::INTS:
            return fmt::format("[{}]", fmt::join(a.ints(), ", "));
        case on::AttributeProto::FLOATS:
            return fmt::format("[{}]", fmt::join(a.floats(), ", "));
        case on::AttributeProto::STRINGS:
            return fmt::format("[{}]", fmt::join(a.strings(), ", "));
        default:
            return a.has_t() ? "a tensor" : "";
    }
}

OpSchema convert(const on::OpSchema& s) {
    OpSchema out;
    out.name = s.Name();
    out.domain = s.domain() == "ai.onnx" ? "" : s.domain();
    out.sinceVersion = s.SinceVersion();
    out.deprecated = s.deprecated();
    out.doc = s.doc() ? s.doc() : "";
    auto params = [](const std::vector<on::OpSchema::FormalParameter>& list) {
        std::vector<OpParameter> result;
        for (const auto& p : list)
            result.push_back(
                {p.GetName(), p.GetTypeStr(), optionOf(p.GetOption()), p.GetDescription()});
        return result;
    };
    out.inputs = params(s.inputs());
    out.outputs = params(s.outputs());
    for (const auto& [name, a] : s.attributes()) {
        OpAttribute attr{name, static_cast<ir::AttrType>(a.type), a.required,
                         a.default_value.has_name() || a.default_value.type() != 0
                             ? defaultText(a.default_value)
                             : "",
                         a.description};
        out.attributes.push_back(std::move(attr));
    }
    for (const auto& t : s.typeConstraintParams())
        out.typeConstraints.push_back({t.type_param_str, t.allowed_type_strs, t.description});
    out.minInputs = s.min_input();
    out.maxInputs = s.max_input();
    out.minOutputs = s.min_output();
    out.maxOutputs = s.max_output();
    return out;
}

std::string registryDomain(const std::string& domain) {
    return domain == "ai.onnx" ? std::string() : domain;
}

}  // namespace

std::vector<std::string> OpSchema::allowedInputTypes(int index) const {
    if (inputs.empty() || index < 0) return {};
    const OpParameter* p = nullptr;
    if (index < static_cast<int>(inputs.size()))
        p = &inputs[index];
    else if (inputs.back().option == OpParameter::Option::kVariadic)
        p = &inputs.back();
    if (!p) return {};
    for (const OpTypeConstraint& c : typeConstraints)
        if (c.name == p->typeStr) return c.allowed;
    return {p->typeStr};  // a fixed type such as "tensor(int64)"
}

std::vector<OpSchema> operatorSchemas(int64_t opset, const std::string& domain) {
    const std::string d = registryDomain(domain);
    std::map<std::string, const on::OpSchema*> newest;
    // Every version of every op: the model's opset may be older than the library's newest.
    static const std::vector<on::OpSchema> all = on::OpSchemaRegistry::get_all_schemas_with_history();
    for (const on::OpSchema& s : all) {
        if (registryDomain(s.domain()) != d || s.SinceVersion() > opset) continue;
        const on::OpSchema*& kept = newest[s.Name()];
        if (!kept || kept->SinceVersion() < s.SinceVersion()) kept = &s;
    }
    std::vector<OpSchema> result;
    for (const auto& [name, s] : newest)
        if (!s->deprecated()) result.push_back(convert(*s));
    return result;
}

std::optional<OpSchema> findOperatorSchema(const std::string& opType, const std::string& domain,
                                           int64_t opset) {
    const on::OpSchema* s = on::OpSchemaRegistry::Schema(opType, static_cast<int>(opset),
                                                         registryDomain(domain));
    if (!s) return std::nullopt;
    return convert(*s);
}

std::optional<OpArity> operatorArity(const std::string& opType, const std::string& domain,
                                     int64_t opset) {
    const on::OpSchema* s = on::OpSchemaRegistry::Schema(opType, static_cast<int>(opset),
                                                         registryDomain(domain));
    if (!s) return std::nullopt;
    OpArity a;
    a.inputs = static_cast<int>(s->inputs().size());
    a.outputs = static_cast<int>(s->outputs().size());
    a.variadicInputs =
        !s->inputs().empty() && s->inputs().back().GetOption() == on::OpSchema::Variadic;
    return a;
}

int64_t newestKnownOpset() {
    const auto& map = on::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
    const auto it = map.find(on::ONNX_DOMAIN);
    return it == map.end() ? 0 : it->second.second;
}

std::string onnxTypeString(ir::DType dtype) {
    try {
        return "tensor(" + on::Utils::DataTypeUtils::ToDataTypeString(static_cast<int32_t>(dtype)) +
               ")";
    } catch (const std::exception&) {
        return {};
    }
}

ir::Attribute placeholderAttribute(const OpAttribute& a, const std::string& opType) {
    ir::Attribute out;
    out.name = a.name;
    out.type = a.type;
    if (a.type == ir::AttrType::kInt && opType == "Cast" && a.name == "to")
        out.i = static_cast<int64_t>(ir::DType::kFloat);
    return out;
}

Status checkWithOnnx(const ir::Model& model, bool fullCheck) {
    const int64_t known = newestKnownOpset();
    const int64_t opset = model.opsetVersion("");
    if (opset > known)
        return makeStatus(StatusCode::kUnsupported,
                          "the model uses opset {}, newer than the ONNX checker of this build "
                          "knows ({}; ONNX {}): it cannot be checked",
                          opset, known, onnxLibraryVersion());
    WH_ASSIGN_OR_RETURN_STATUS(std::string bytes, serializeModel(model));
    on::ModelProto proto;
    if (!proto.ParseFromString(bytes))
        return makeStatus(StatusCode::kInternal, "the serialized model does not parse back");
    try {
        on::checker::check_model(proto);
        if (fullCheck) {
            on::ShapeInferenceOptions options{/*check_type=*/true, /*strict_mode=*/1};
            on::shape_inference::InferShapes(proto, on::OpSchemaRegistry::Instance(), options);
        }
    } catch (const on::checker::ValidationError& e) {
        return makeStatus(StatusCode::kBadInput, "ONNX checker: {}", e.what());
    } catch (const on::InferenceError& e) {
        return makeStatus(StatusCode::kBadInput, "ONNX shape inference: {}", e.what());
    } catch (const std::exception& e) {
        return makeStatus(StatusCode::kBadInput, "ONNX checker: {}", e.what());
    }
    return Status::ok();
}

}  // namespace wh::onnx
