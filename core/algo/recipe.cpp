#include "core/algo/recipe.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <type_traits>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace wh::algo {

using nlohmann::json;

namespace {

template <class... Args>
Status bad(std::string_view where, fmt::format_string<Args...> format, Args&&... args) {
    return makeStatus(StatusCode::kBadInput, "{}: {}", where,
                      fmt::format(format, std::forward<Args>(args)...));
}

Status checkKeys(const json& object, std::string_view path,
                 std::initializer_list<std::string_view> valid, std::string_view where) {
    if (!object.is_object())
        return bad(where, "'{}' must be an object", path);
    for (auto it = object.begin(); it != object.end(); ++it)
        if (std::find(valid.begin(), valid.end(), it.key()) == valid.end())
            return bad(where, "unknown key '{}{}{}'; valid: {}", path, path.empty() ? "" : ".",
                       it.key(), fmt::join(valid, ", "));
    return Status::ok();
}

Expected<ParamValue> toParamValue(const json& v, std::string_view key, std::string_view where) {
    if (v.is_boolean()) return ParamValue{v.get<bool>()};
    if (v.is_number_integer()) return ParamValue{v.get<int64_t>()};
    if (v.is_number_float()) return ParamValue{v.get<double>()};
    if (v.is_string()) return ParamValue{v.get<std::string>()};
    if (v.is_array()) {
        std::vector<std::string> list;
        for (const json& e : v) {
            if (!e.is_string())
                return tl::unexpected(bad(where, "params.{}: list elements must be strings", key));
            list.push_back(e.get<std::string>());
        }
        return ParamValue{std::move(list)};
    }
    return tl::unexpected(bad(where, "params.{}: unsupported JSON value {}", key, v.dump()));
}

json toJson(const ParamValue& v) {
    struct Visitor {
        json operator()(bool b) const { return b; }
        json operator()(int64_t i) const { return i; }
        json operator()(double d) const { return d; }
        json operator()(const std::string& s) const { return s; }
        json operator()(const std::vector<std::string>& l) const { return l; }
    };
    return std::visit(Visitor{}, v);
}

// nlohmann::json's get<T>() converts between JSON types (a float or a boolean to an integer,
// -1 to a huge unsigned): check the JSON type first so `"epochs": 1.5` or `"seed": -1` is an
// error naming the key, not a different run.
template <class T>
bool hasType(const json& v) {
    if constexpr (std::is_same_v<T, bool>)
        return v.is_boolean();
    else if constexpr (std::is_same_v<T, std::string>)
        return v.is_string();
    else if constexpr (std::is_floating_point_v<T>)
        return v.is_number();
    else if constexpr (std::is_unsigned_v<T>)
        return v.is_number_unsigned();
    else
        return v.is_number_integer();
}

template <class T>
Status readField(const json& object, std::string_view section, const char* key, T& out,
                 std::string_view where) {
    auto it = object.find(key);
    if (it == object.end()) return Status::ok();
    const std::string path =
        section.empty() ? std::string(key) : fmt::format("{}.{}", section, key);
    if (!hasType<T>(*it)) return bad(where, "'{}' has the wrong type ({})", path, it->dump());
    try {
        out = it->get<T>();
    } catch (const json::exception&) {
        return bad(where, "'{}' has the wrong type ({})", path, it->dump());
    }
    return Status::ok();
}

Status readStrings(const json& object, std::string_view section, const char* key,
                   std::vector<std::string>& out, std::string_view where) {
    auto it = object.find(key);
    if (it == object.end()) return Status::ok();
    if (!it->is_array())
        return bad(where, "'{}.{}' must be a list of strings", section, key);
    for (const json& e : *it) {
        if (!e.is_string()) return bad(where, "'{}.{}' must be a list of strings", section, key);
        out.push_back(e.get<std::string>());
    }
    return Status::ok();
}

RecipeTraining trainingDefaults(const AlgorithmInfo& info) {
    RecipeTraining t;
    t.epochs = info.training.epochs;
    t.batch = info.training.batch;
    t.lr = info.training.lr;
    t.optimizer = info.training.optimizer;
    t.schedule = info.training.schedule;
    return t;
}

}  // namespace

Recipe defaultRecipe(const AlgorithmInfo& algorithm) {
    Recipe r;
    r.algorithm = &algorithm;
    r.params = Params(algorithm.params);
    if (algorithm.training.trains) r.train = trainingDefaults(algorithm);
    return r;
}

Expected<Recipe> parseRecipe(std::string_view text, const Registry& registry,
                             std::string_view where) {
    json root;
    try {
        root = json::parse(text.begin(), text.end());
    } catch (const json::parse_error& e) {
        return tl::unexpected(bad(where, "not valid JSON: {}", e.what()));
    }
    WH_RETURN_IF_ERROR(checkKeys(root, "",
                                 {"algorithm", "params", "select", "dataset", "train", "seed",
                                  "input_shapes", "comment"},
                                 where));
    auto alg = root.find("algorithm");
    if (alg == root.end() || !alg->is_string())
        return tl::unexpected(bad(where, "'algorithm' (a string) is required; registered: {}",
                                  fmt::join(registry.names(), ", ")));
    auto info = registry.lookup(alg->get<std::string>());
    if (!info) return tl::unexpected(bad(where, "{}", info.error().message()));
    Recipe r = defaultRecipe(**info);

    if (auto p = root.find("params"); p != root.end()) {
        if (!p->is_object()) return tl::unexpected(bad(where, "'params' must be an object"));
        for (auto it = p->begin(); it != p->end(); ++it) {
            WH_ASSIGN_OR_RETURN(ParamValue v, toParamValue(it.value(), it.key(), where));
            Status s = r.params.set(it.key(), std::move(v));
            if (!s.isOk())
                return tl::unexpected(
                    bad(where, "params of '{}': {}", (*info)->name, s.message()));
        }
    }
    if (auto s = root.find("select"); s != root.end()) {
        WH_RETURN_IF_ERROR(checkKeys(*s, "select",
                                     {"nodes", "include_ops", "exclude_nodes", "exclude_ops"},
                                     where));
        WH_RETURN_IF_ERROR(readStrings(*s, "select", "nodes", r.select.nodes, where));
        WH_RETURN_IF_ERROR(readStrings(*s, "select", "include_ops", r.select.includeOps, where));
        WH_RETURN_IF_ERROR(
            readStrings(*s, "select", "exclude_nodes", r.select.excludeNodes, where));
        WH_RETURN_IF_ERROR(readStrings(*s, "select", "exclude_ops", r.select.excludeOps, where));
    }
    if (auto d = root.find("dataset"); d != root.end()) {
        if (d->is_string()) {
            r.dataset.name = d->get<std::string>();
        } else {
            WH_RETURN_IF_ERROR(checkKeys(*d, "dataset", {"name", "split", "data_dir"}, where));
            WH_RETURN_IF_ERROR(readField(*d, "dataset", "name", r.dataset.name, where));
            WH_RETURN_IF_ERROR(readField(*d, "dataset", "split", r.dataset.split, where));
            WH_RETURN_IF_ERROR(readField(*d, "dataset", "data_dir", r.dataset.dataDir, where));
            if (r.dataset.split != "train" && r.dataset.split != "test")
                return tl::unexpected(
                    bad(where, "'dataset.split' = '{}'; valid: train, test", r.dataset.split));
        }
    }
    if (auto t = root.find("train"); t != root.end()) {
        WH_RETURN_IF_ERROR(checkKeys(*t, "train",
                                     {"epochs", "steps", "batch", "lr", "optimizer", "schedule",
                                      "momentum", "weight_decay"},
                                     where));
        RecipeTraining tr = trainingDefaults(**info);
        WH_RETURN_IF_ERROR(readField(*t, "train", "epochs", tr.epochs, where));
        WH_RETURN_IF_ERROR(readField(*t, "train", "steps", tr.steps, where));
        WH_RETURN_IF_ERROR(readField(*t, "train", "batch", tr.batch, where));
        WH_RETURN_IF_ERROR(readField(*t, "train", "lr", tr.lr, where));
        WH_RETURN_IF_ERROR(readField(*t, "train", "optimizer", tr.optimizer, where));
        WH_RETURN_IF_ERROR(readField(*t, "train", "schedule", tr.schedule, where));
        WH_RETURN_IF_ERROR(readField(*t, "train", "momentum", tr.momentum, where));
        WH_RETURN_IF_ERROR(readField(*t, "train", "weight_decay", tr.weightDecay, where));
        if (tr.epochs < 0 || tr.batch <= 0 || !(tr.lr >= 0) || tr.steps < -1)
            return tl::unexpected(bad(
                where, "'train': epochs must be >= 0, steps >= -1 (-1: by epochs), batch > 0 "
                       "and lr >= 0"));
        // Checked here, not when training starts (after calibration, as a usage error that
        // names neither the recipe nor the key). The names are core/train's (optimizer.cpp,
        // lr_schedule.cpp).
        static constexpr std::string_view kOptimizers[] = {"sgd", "adam", "adamw"};
        static constexpr std::string_view kSchedules[] = {"constant", "step", "cosine", "onecycle"};
        if (std::find(std::begin(kOptimizers), std::end(kOptimizers), tr.optimizer) ==
            std::end(kOptimizers))
            return tl::unexpected(bad(where, "'train.optimizer' = '{}'; valid: {}", tr.optimizer,
                                      fmt::join(kOptimizers, ", ")));
        if (std::find(std::begin(kSchedules), std::end(kSchedules), tr.schedule) ==
            std::end(kSchedules))
            return tl::unexpected(bad(where, "'train.schedule' = '{}'; valid: {}", tr.schedule,
                                      fmt::join(kSchedules, ", ")));
        if (!(tr.momentum >= 0 && tr.momentum < 1))
            return tl::unexpected(
                bad(where, "'train.momentum' = {} is out of range [0, 1)", tr.momentum));
        if (!(tr.weightDecay >= 0))
            return tl::unexpected(
                bad(where, "'train.weight_decay' = {} must be >= 0", tr.weightDecay));
        r.train = tr;
    }
    if (auto sh = root.find("input_shapes"); sh != root.end()) {
        if (!sh->is_object())
            return tl::unexpected(
                bad(where, "'input_shapes' must be an object: {{\"NAME\": [D0, D1, ...]}}"));
        for (auto it = sh->begin(); it != sh->end(); ++it) {
            engine::Dims dims;
            bool ok = it.value().is_array();
            for (const json& d : ok ? it.value() : json::array()) {
                ok = ok && d.is_number_integer() && d.get<int64_t>() >= 0;
                if (ok) dims.push_back(d.get<int64_t>());
            }
            if (!ok)
                return tl::unexpected(bad(where,
                                          "'input_shapes.{}' must be an array of dims >= 0, "
                                          "e.g. [1, 128]",
                                          it.key()));
            r.inputShapes[it.key()] = std::move(dims);
        }
    }
    // One seed: a top-level `seed` sets the algorithm's `seed` parameter too (refused when out
    // of its range); without one, an explicit params.seed is the run's seed.
    if (root.contains("seed")) {
        WH_RETURN_IF_ERROR(readField(root, "", "seed", r.seed, where));
        if (r.params.has("seed")) {
            if (r.seed > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                return tl::unexpected(bad(where, "'seed' = {} is too large", r.seed));
            Status s = r.params.set("seed", static_cast<int64_t>(r.seed));
            if (!s.isOk()) return tl::unexpected(bad(where, "'seed': {}", s.message()));
        }
    } else if (r.params.has("seed")) {
        r.seed = static_cast<uint64_t>(r.params.getInt("seed"));
    }
    return r;
}

std::map<std::string, engine::Dims> inputShapesFor(const Recipe& recipe,
                                                   std::map<std::string, engine::Dims> given) {
    for (const auto& [name, dims] : recipe.inputShapes) given.emplace(name, dims);
    return given;
}

Expected<Recipe> loadRecipeFile(const std::string& path, const Registry& registry) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) return error(StatusCode::kBadInput, "{}: cannot be read", path);
    const std::streamoff size = in.tellg();
    if (size > (16 << 20))
        return error(StatusCode::kBadInput, "{}: a recipe larger than 16 MiB", path);
    std::string text(static_cast<std::size_t>(std::max<std::streamoff>(size, 0)), '\0');
    in.seekg(0);
    if (!in.read(text.data(), static_cast<std::streamsize>(text.size())))
        return error(StatusCode::kBadInput, "{}: cannot be read", path);
    return parseRecipe(text, registry, path);
}

std::string paramValueJson(const ParamValue& value) { return toJson(value).dump(); }

std::string recipeToJson(const Recipe& r) {
    json j;
    j["algorithm"] = r.algorithm ? r.algorithm->name : std::string();
    json params = json::object();
    for (const ParamSpec& spec : r.params.specs()) params[spec.name] = toJson(r.params.value(spec.name));
    j["params"] = params;
    j["select"] = {{"nodes", r.select.nodes},
                   {"include_ops", r.select.includeOps},
                   {"exclude_nodes", r.select.excludeNodes},
                   {"exclude_ops", r.select.excludeOps}};
    j["dataset"] = {{"name", r.dataset.name}, {"split", r.dataset.split},
                    {"data_dir", r.dataset.dataDir}};
    if (r.train)
        j["train"] = {{"epochs", r.train->epochs},       {"steps", r.train->steps},
                      {"batch", r.train->batch},         {"lr", r.train->lr},
                      {"optimizer", r.train->optimizer}, {"schedule", r.train->schedule},
                      {"momentum", r.train->momentum},   {"weight_decay", r.train->weightDecay}};
    j["seed"] = r.seed;
    if (!r.inputShapes.empty()) j["input_shapes"] = r.inputShapes;
    return j.dump(2) + "\n";
}

}  // namespace wh::algo
