#include "core/algo/param_spec.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace wh::algo {

std::string_view paramTypeName(ParamType type) {
    switch (type) {
        case ParamType::kBool: return "bool";
        case ParamType::kInt: return "int";
        case ParamType::kFloat: return "float";
        case ParamType::kEnum: return "enum";
        case ParamType::kString: return "string";
        case ParamType::kList: return "list";
    }
    return "?";
}

ParamSpec ParamSpec::boolean(std::string name, bool value, std::string help) {
    ParamSpec s;
    s.name = std::move(name);
    s.type = ParamType::kBool;
    s.defaultValue = value;
    s.help = std::move(help);
    return s;
}

ParamSpec ParamSpec::integer(std::string name, int64_t value, int64_t min, int64_t max,
                             std::string help) {
    ParamSpec s;
    s.name = std::move(name);
    s.type = ParamType::kInt;
    s.defaultValue = value;
    s.min = static_cast<double>(min);
    s.max = static_cast<double>(max);
    s.help = std::move(help);
    return s;
}

ParamSpec ParamSpec::real(std::string name, double value, double min, double max,
                          std::string help) {
    ParamSpec s;
    s.name = std::move(name);
    s.type = ParamType::kFloat;
    s.defaultValue = value;
    s.min = min;
    s.max = max;
    s.help = std::move(help);
    return s;
}

ParamSpec ParamSpec::choice(std::string name, std::string value, std::vector<std::string> choices,
                            std::string help) {
    ParamSpec s;
    s.name = std::move(name);
    s.type = ParamType::kEnum;
    s.defaultValue = std::move(value);
    s.choices = std::move(choices);
    s.help = std::move(help);
    return s;
}

ParamSpec ParamSpec::text(std::string name, std::string value, std::string help) {
    ParamSpec s;
    s.name = std::move(name);
    s.type = ParamType::kString;
    s.defaultValue = std::move(value);
    s.help = std::move(help);
    return s;
}

ParamSpec ParamSpec::list(std::string name, std::vector<std::string> value,
                          std::vector<std::string> choices, std::string help) {
    ParamSpec s;
    s.name = std::move(name);
    s.type = ParamType::kList;
    s.defaultValue = std::move(value);
    s.choices = std::move(choices);
    s.help = std::move(help);
    return s;
}

ParamSpec&& ParamSpec::alias(std::string other) && {
    aliases.push_back(std::move(other));
    return std::move(*this);
}

ParamSpec&& ParamSpec::inGroup(std::string g) && {
    group = std::move(g);
    return std::move(*this);
}

std::string paramValueText(const ParamValue& value) {
    struct Visitor {
        std::string operator()(bool b) const { return b ? "true" : "false"; }
        std::string operator()(int64_t i) const { return fmt::format("{}", i); }
        std::string operator()(double d) const { return fmt::format("{}", d); }
        std::string operator()(const std::string& s) const { return s; }
        std::string operator()(const std::vector<std::string>& l) const {
            return fmt::format("[{}]", fmt::join(l, ", "));
        }
    };
    return std::visit(Visitor{}, value);
}

namespace {

std::string_view valueTypeName(const ParamValue& v) {
    switch (v.index()) {
        case 0: return "a boolean";
        case 1: return "an integer";
        case 2: return "a number";
        case 3: return "a string";
        default: return "a list";
    }
}

std::string rangeText(const ParamSpec& spec) {
    auto bound = [&](double b) {
        return spec.type == ParamType::kInt ? fmt::format("{}", static_cast<int64_t>(b))
                                            : fmt::format("{}", b);
    };
    if (std::isinf(spec.min) && std::isinf(spec.max)) return "any value";
    if (std::isinf(spec.max)) return fmt::format(">= {}", bound(spec.min));
    if (std::isinf(spec.min)) return fmt::format("<= {}", bound(spec.max));
    return fmt::format("{}..{}", bound(spec.min), bound(spec.max));
}

}  // namespace

Expected<ParamValue> checkParam(const ParamSpec& spec, ParamValue value) {
    auto wrongType = [&](std::string_view want) {
        return error(StatusCode::kBadInput, "parameter '{}' must be {} (got {} {})", spec.name,
                     want, valueTypeName(value), paramValueText(value));
    };
    switch (spec.type) {
        case ParamType::kBool:
            if (!std::holds_alternative<bool>(value)) return wrongType("true or false");
            return value;
        case ParamType::kInt: {
            int64_t i = 0;
            if (auto* p = std::get_if<int64_t>(&value)) {
                i = *p;
            } else if (auto* d = std::get_if<double>(&value);
                       d && std::isfinite(*d) && std::floor(*d) == *d && std::fabs(*d) < 9e15) {
                i = static_cast<int64_t>(*d);
            } else {
                return wrongType(fmt::format("an integer in {}", rangeText(spec)));
            }
            if (static_cast<double>(i) < spec.min || static_cast<double>(i) > spec.max)
                return error(StatusCode::kBadInput, "parameter '{}' = {} is out of range {}",
                             spec.name, i, rangeText(spec));
            return ParamValue{i};
        }
        case ParamType::kFloat: {
            double d = 0;
            if (auto* p = std::get_if<double>(&value)) d = *p;
            else if (auto* i = std::get_if<int64_t>(&value)) d = static_cast<double>(*i);
            else return wrongType(fmt::format("a number in {}", rangeText(spec)));
            if (!std::isfinite(d) || d < spec.min || d > spec.max)
                return error(StatusCode::kBadInput, "parameter '{}' = {} is out of range {}",
                             spec.name, d, rangeText(spec));
            return ParamValue{d};
        }
        case ParamType::kEnum: {
            auto* s = std::get_if<std::string>(&value);
            if (!s || std::find(spec.choices.begin(), spec.choices.end(), *s) == spec.choices.end())
                return error(StatusCode::kBadInput, "parameter '{}' = {} is not one of: {}",
                             spec.name, paramValueText(value), fmt::join(spec.choices, ", "));
            return value;
        }
        case ParamType::kString:
            if (!std::holds_alternative<std::string>(value)) return wrongType("a string");
            return value;
        case ParamType::kList: {
            if (auto* s = std::get_if<std::string>(&value))  // one element written bare
                value = std::vector<std::string>{*s};
            auto* l = std::get_if<std::vector<std::string>>(&value);
            if (!l) return wrongType("a list of strings");
            if (!spec.choices.empty())
                for (const std::string& e : *l)
                    if (std::find(spec.choices.begin(), spec.choices.end(), e) ==
                        spec.choices.end())
                        return error(StatusCode::kBadInput,
                                     "parameter '{}': '{}' is not one of: {}", spec.name, e,
                                     fmt::join(spec.choices, ", "));
            return value;
        }
    }
    return value;
}

Params::Params(std::span<const ParamSpec> specs) : m_specs(specs.begin(), specs.end()) {
    for (const ParamSpec& s : m_specs) m_values[s.name] = s.defaultValue;
}

const ParamSpec* Params::find(std::string_view name) const {
    for (const ParamSpec& s : m_specs) {
        if (s.name == name) return &s;
        for (const std::string& a : s.aliases)
            if (a == name) return &s;
    }
    return nullptr;
}

Status Params::set(std::string_view name, ParamValue value) {
    const ParamSpec* spec = find(name);
    if (!spec) {
        std::vector<std::string> names;
        for (const ParamSpec& s : m_specs) names.push_back(s.name);
        return makeStatus(StatusCode::kBadInput, "unknown parameter '{}'; valid: {}", name,
                          names.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(names, ", ")));
    }
    auto checked = checkParam(*spec, std::move(value));
    if (!checked) return checked.error();
    m_values[spec->name] = std::move(*checked);
    if (std::find(m_set.begin(), m_set.end(), spec->name) == m_set.end())
        m_set.push_back(spec->name);
    return Status::ok();
}

bool Params::has(std::string_view name) const { return m_values.find(name) != m_values.end(); }

const ParamValue& Params::value(std::string_view name) const {
    auto it = m_values.find(name);
    WH_ASSERT(it != m_values.end());
    return it->second;
}

bool Params::getBool(std::string_view name) const { return std::get<bool>(value(name)); }
int64_t Params::getInt(std::string_view name) const { return std::get<int64_t>(value(name)); }
double Params::getFloat(std::string_view name) const { return std::get<double>(value(name)); }
const std::string& Params::getString(std::string_view name) const {
    return std::get<std::string>(value(name));
}
const std::vector<std::string>& Params::getList(std::string_view name) const {
    return std::get<std::vector<std::string>>(value(name));
}

}  // namespace wh::algo
