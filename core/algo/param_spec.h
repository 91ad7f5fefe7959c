#pragma once
/// ParamSpec: the typed description of one algorithm parameter (name, type, default, range or
/// choices, help). Every algorithm declares its parameters this way: the studio builds its forms
/// from them, `whittle-cli compress` validates recipes with them, and the resolved values (every
/// default filled in) are written beside each export as OUT.recipe.json.
///
/// Params holds validated values by canonical name. Thread-safety: plain values.

#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/util/status.h"

namespace wh::algo {

enum class ParamType { kBool, kInt, kFloat, kEnum, kString, kList };

/// "bool", "int", "float", "enum", "string", "list".
std::string_view paramTypeName(ParamType type);

/// A parameter value: bool, int64_t (kInt), double (kFloat), std::string (kEnum, kString) or a
/// list of strings (kList).
using ParamValue = std::variant<bool, int64_t, double, std::string, std::vector<std::string>>;

struct ParamSpec {
    std::string name;
    ParamType type = ParamType::kBool;
    ParamValue defaultValue = false;
    std::string help;
    /// kInt and kFloat: the inclusive range.
    double min = -std::numeric_limits<double>::infinity();
    double max = std::numeric_limits<double>::infinity();
    /// kEnum: the allowed values; kList: the allowed elements (empty = any string).
    std::vector<std::string> choices;
    /// Other names accepted in a recipe (the seed product's, e.g. SimQAT's `quant_delay` for
    /// `weight_quant_delay`); the canonical `name` is what is written back.
    std::vector<std::string> aliases;
    /// A heading for forms ("weights", "activations", "training", ...); empty = general.
    std::string group;

    static ParamSpec boolean(std::string name, bool value, std::string help);
    static ParamSpec integer(std::string name, int64_t value, int64_t min, int64_t max,
                             std::string help);
    static ParamSpec real(std::string name, double value, double min, double max,
                          std::string help);
    static ParamSpec choice(std::string name, std::string value, std::vector<std::string> choices,
                            std::string help);
    static ParamSpec text(std::string name, std::string value, std::string help);
    static ParamSpec list(std::string name, std::vector<std::string> value,
                          std::vector<std::string> choices, std::string help);
    ParamSpec&& alias(std::string other) &&;
    ParamSpec&& inGroup(std::string g) &&;
};

/// Checks a value against its spec: the type (an int is accepted for a float and converted),
/// the range, the choices. kBadInput naming the parameter and what is allowed.
Expected<ParamValue> checkParam(const ParamSpec& spec, ParamValue value);

/// The value as text, as a recipe would spell it ("true", "8", "0.01", "minmax", "[a, b]").
std::string paramValueText(const ParamValue& value);

/// Validated parameter values by canonical name: every spec's default, overridden by what the
/// caller set. Getters throw nothing: asking for an unknown name or the wrong type is a
/// programming error (WH_ASSERT).
class Params {
public:
    Params() = default;
    /// Every spec at its default.
    explicit Params(std::span<const ParamSpec> specs);

    /// Sets `name` (canonical or an alias) after checking it. kBadInput for an unknown name
    /// (listing the valid ones) or a bad value.
    Status set(std::string_view name, ParamValue value);

    bool has(std::string_view name) const;
    const ParamValue& value(std::string_view name) const;
    bool getBool(std::string_view name) const;
    int64_t getInt(std::string_view name) const;
    double getFloat(std::string_view name) const;
    const std::string& getString(std::string_view name) const;
    const std::vector<std::string>& getList(std::string_view name) const;

    const std::vector<ParamSpec>& specs() const { return m_specs; }
    /// Values in spec order, canonical names.
    const std::map<std::string, ParamValue, std::less<>>& values() const { return m_values; }
    /// The names the caller set explicitly (canonical).
    const std::vector<std::string>& explicitlySet() const { return m_set; }

private:
    const ParamSpec* find(std::string_view name) const;
    std::vector<ParamSpec> m_specs;
    std::map<std::string, ParamValue, std::less<>> m_values;
    std::vector<std::string> m_set;
};

}  // namespace wh::algo
