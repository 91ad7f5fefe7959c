#include "widgets/shape_table.h"

#include <map>
#include <optional>
#include <vector>

#include <QStringList>

#include "core/engine/plan.h"
#include "core/jobs/job_context.h"

namespace wh::widgets {

namespace {

/// A symbolic (or unknown) dim of the graph inputs and the values it takes in the two probes.
struct Symbol {
    std::string name;    // "" for an unnamed unknown dim: shown as "?"
    int64_t first = 1;   // probe A
    int64_t second = 2;  // probe B
};

/// The dims of one planned value in one probe; nullopt: unknown rank.
using ProbeDims = std::optional<engine::Dims>;

/// Compiles `model` with the graph inputs' symbols set as `pick` says; the outputs' dims and
/// dtypes of every planned node, by value name.
Expected<std::unordered_map<std::string, std::pair<ir::DType, ProbeDims>>> probe(
    const ir::Model& model, const std::map<std::string, engine::Dims>& inputShapes) {
    engine::PlanOptions options;
    options.threads = 1;   // a background job beside the GUI: leave the other cores alone
    options.fuse = false;  // one planned node per user node, BatchNormalization kept
    // Reference kernels build without preparing weights; oneDNN only for what they lack.
    options.backends = {engine::Backend::kReference, engine::Backend::kDnnl};
    options.inputShapes = inputShapes;
    WH_ASSIGN_OR_RETURN(engine::Plan plan, engine::Plan::compile(model, options));
    std::unordered_map<std::string, std::pair<ir::DType, ProbeDims>> out;
    const ir::Graph& graph = *model.graph;
    for (const engine::PlannedNode& planned : plan.nodes()) {
        const ir::Node* node = graph.findNode(planned.id);
        if (!node) continue;  // made by lowering
        for (std::size_t i = 0; i < planned.outputs.size() && i < node->outputs().size(); ++i) {
            const ir::Value* v = node->outputs()[i];
            if (!v) continue;
            const engine::TensorInfo& info = planned.outputs[i];
            out[v->name()] = {info.dtype,
                              info.rankKnown ? ProbeDims(info.dims) : ProbeDims(std::nullopt)};
        }
    }
    return out;
}

bool isComplete(const ir::Type& type) {
    if (!type.isTensor() || !type.shape) return false;
    for (const ir::Dim& d : type.shape->dims)
        if (d.kind == ir::Dim::Kind::kUnknown) return false;
    return true;
}

}  // namespace

Expected<ShapeTable> ShapeTable::infer(const ir::Model& model, const jobs::JobContext* job) {
    if (!model.graph) return error(StatusCode::kBadInput, "the model has no graph");
    const ir::Graph& graph = *model.graph;

    // The symbols of the fed inputs, by name (one "N" in two inputs is one symbol); each
    // unnamed unknown dim is a symbol of its own.
    std::vector<Symbol> symbols;
    std::map<std::string, std::size_t> byName;
    std::map<std::string, std::vector<std::size_t>> symbolsOfInput;  // per dim; npos: known
    constexpr std::size_t kKnown = static_cast<std::size_t>(-1);
    for (const ir::Value* v : graph.inputs()) {
        if (v->hasInitializer() || !v->type.isTensor() || !v->type.shape) continue;
        std::vector<std::size_t>& dims = symbolsOfInput[v->name()];
        for (std::size_t i = 0; i < v->type.shape->dims.size(); ++i) {
            const ir::Dim& d = v->type.shape->dims[i];
            if (d.isKnown()) {
                dims.push_back(kKnown);
                continue;
            }
            std::size_t index;
            auto named = d.kind == ir::Dim::Kind::kParam ? byName.find(d.param) : byName.end();
            if (named != byName.end()) {
                index = named->second;
            } else {
                index = symbols.size();
                // A leading dim is a batch: 1 is what every export runs with. Others (lengths,
                // image sides) get a size most layers accept.
                const int64_t first = i == 0 ? 1 : 64;
                symbols.push_back({d.kind == ir::Dim::Kind::kParam ? d.param : std::string(), first,
                                   first + 1 + static_cast<int64_t>(symbols.size())});
                if (d.kind == ir::Dim::Kind::kParam) byName[d.param] = index;
            }
            dims.push_back(index);
        }
    }
    auto shapesFor = [&](bool second) {
        std::map<std::string, engine::Dims> shapes;
        for (const ir::Value* v : graph.inputs()) {
            auto it = symbolsOfInput.find(v->name());
            if (it == symbolsOfInput.end()) continue;
            engine::Dims dims;
            for (std::size_t i = 0; i < it->second.size(); ++i) {
                const std::size_t s = it->second[i];
                dims.push_back(s == kKnown ? v->type.shape->dims[i].value
                               : second    ? symbols[s].second
                                           : symbols[s].first);
            }
            shapes[v->name()] = std::move(dims);
        }
        return shapes;
    };

    WH_ASSIGN_OR_RETURN(auto first, probe(model, shapesFor(false)));
    ShapeTable table;
    std::unordered_map<std::string, std::pair<ir::DType, ProbeDims>> second;
    bool haveSecond = false;
    if (!symbols.empty()) {
        if (job) WH_RETURN_IF_ERROR(job->checkCancelled());
        auto b = probe(model, shapesFor(true));
        if (b) {
            second = std::move(*b);
            haveSecond = true;
        } else {
            QStringList values;
            for (const Symbol& s : symbols)
                if (!s.name.empty())
                    values << QStringLiteral("%1 = %2")
                                  .arg(QString::fromStdString(s.name))
                                  .arg(s.first);
            table.m_note = QStringLiteral("for %1").arg(values.join(QStringLiteral(", ")));
        }
    }

    for (auto& [name, entry] : first) {
        const auto& [dtype, dimsA] = entry;
        if (!dimsA) {
            table.m_types[name] = ir::Type::tensor(dtype);
            continue;
        }
        const engine::Dims* dimsB = nullptr;
        if (haveSecond) {
            auto it = second.find(name);
            if (it != second.end() && it->second.second &&
                it->second.second->size() == dimsA->size())
                dimsB = &*it->second.second;
        }
        ir::Shape shape;
        for (std::size_t i = 0; i < dimsA->size(); ++i) {
            const int64_t a = (*dimsA)[i];
            ir::Dim dim;  // unknown unless proven otherwise
            if (a < 0) {
                // Only run time knows.
            } else if (symbols.empty() || (!haveSecond)) {
                dim = ir::Dim::known(a);
            } else if (!dimsB) {
                // The second probe lost this value (or its rank changed): no proof either way.
            } else if ((*dimsB)[i] == a) {
                dim = ir::Dim::known(a);
            } else {
                for (const Symbol& s : symbols)
                    if (s.first == a && s.second == (*dimsB)[i]) {
                        if (!s.name.empty()) dim = ir::Dim::symbol(s.name);
                        break;
                    }
            }
            shape.dims.push_back(std::move(dim));
        }
        table.m_types[name] = ir::Type::tensor(dtype, std::move(shape));
    }
    return table;
}

const ir::Type* ShapeTable::find(const std::string& name) const {
    auto it = m_types.find(name);
    return it == m_types.end() ? nullptr : &it->second;
}

const ir::Type& displayType(const ir::Value& value, const ShapeTable* shapes) {
    if (isComplete(value.type) || !shapes) return value.type;
    const ir::Type* inferred = shapes->find(value.name());
    if (!inferred) return value.type;
    // A declared partial shape ([N,?]) beats an inferred one that knows less (unknown rank).
    if (value.type.isTensor() && value.type.shape && !inferred->shape) return value.type;
    return *inferred;
}

bool isInferredType(const ir::Value& value, const ShapeTable* shapes) {
    return &displayType(value, shapes) != &value.type;
}

}  // namespace wh::widgets
