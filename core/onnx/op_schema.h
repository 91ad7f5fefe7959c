#pragma once
/// ONNX operator schemas (from the ONNX library's registry, the one its checker uses), as plain
/// data for the studio's operator palette, and the ONNX checker itself.
///
/// Protobuf and ONNX library types stay here: callers get strings and ir types.
///
/// Thread-safety: every function may run on any thread (the registry is built once, then read).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/ir/attribute.h"
#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::onnx {

/// One formal input or output of an operator.
struct OpParameter {
    enum class Option { kSingle, kOptional, kVariadic };
    std::string name;
    std::string typeStr;  ///< a type constraint ("T") or a type ("tensor(int64)")
    Option option = Option::kSingle;
    std::string description;
};

/// One attribute an operator takes.
struct OpAttribute {
    std::string name;
    ir::AttrType type = ir::AttrType::kUndefined;
    bool required = false;
    std::string defaultText;  ///< the default value as text ("1", "[1, 1]"), empty if none
    std::string description;
};

/// What a type constraint ("T") allows: ONNX type strings such as "tensor(float)".
struct OpTypeConstraint {
    std::string name;
    std::vector<std::string> allowed;
    std::string description;
};

struct OpSchema {
    std::string name;
    std::string domain;  ///< "" for the default ONNX domain
    int sinceVersion = 1;
    bool deprecated = false;
    std::string doc;
    std::vector<OpParameter> inputs;
    std::vector<OpParameter> outputs;
    std::vector<OpAttribute> attributes;  ///< in name order
    std::vector<OpTypeConstraint> typeConstraints;
    int minInputs = 0, maxInputs = 0, minOutputs = 0, maxOutputs = 0;

    /// The ONNX type strings input `index` accepts ("tensor(float)", ...); empty = any. Indices
    /// past a variadic last input take its constraint.
    std::vector<std::string> allowedInputTypes(int index) const;
};

/// Every operator of `domain` ("" = ai.onnx) in its version for opset `opset`: the newest
/// schema whose since-version is at most `opset`, deprecated ones left out, sorted by name.
std::vector<OpSchema> operatorSchemas(int64_t opset, const std::string& domain = "");

/// The schema of `opType` in `domain` for opset `opset`, or nothing if the library knows none.
std::optional<OpSchema> findOperatorSchema(const std::string& opType, const std::string& domain,
                                           int64_t opset);

/// How many inputs and outputs an operator declares, without copying its schema (the graph
/// view asks for every node it draws ports on).
struct OpArity {
    int inputs = 0;   ///< formal inputs (a variadic last one counts once)
    int outputs = 0;  ///< formal outputs
    bool variadicInputs = false;
};
std::optional<OpArity> operatorArity(const std::string& opType, const std::string& domain,
                                     int64_t opset);

/// The newest opset of the default domain the ONNX library knows (17 for ONNX 1.12).
int64_t newestKnownOpset();

/// "tensor(float)" for float32 tensors: the type string ONNX schemas use.
std::string onnxTypeString(ir::DType dtype);

/// A required attribute's starting value for a new node: a value of its type (Cast's "to":
/// float, other ints 0, empty lists), so that the node is complete and can be edited.
ir::Attribute placeholderAttribute(const OpAttribute& attribute, const std::string& opType);

/// Runs the ONNX checker on `model` (onnx.checker.check_model; with `fullCheck`, also strict
/// shape inference with type checks, as full_check=True does). kBadInput with the checker's
/// message, naming the node when it does; kUnsupported when the model's opset is newer than the
/// library's checker knows (newestKnownOpset()).
Status checkWithOnnx(const ir::Model& model, bool fullCheck = true);

}  // namespace wh::onnx
