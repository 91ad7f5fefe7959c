#pragma once
/// ONNX node-test conformance for the reference kernels, shared by test_engine
/// (conformance_test.cpp) and the conformance_report tool (tests/tools/conformance_report.cpp).
///
/// Every folder /usr/share/libonnx-testdata/data/node/test_*/ holds model.onnx and
/// test_data_set_*/{input,output}_*.pb. A folder is attributed to one operator: the op of its
/// only node, or, for multi-node models (the `_expanded` function bodies), the listed op its name
/// starts with. Each folder is compiled with the reference backend only, for the input shapes of
/// its data set, run, and compared with the expected outputs (float: |got-exp| <= atol +
/// rtol*|exp|, NaN == NaN; integers, bools and strings exactly).
///
/// Outcomes: pass; fail (with the worst mismatch); exception (the factory or plan refused with
/// kUnsupported — a deliberate limit, listed with its reason — or the model uses non-tensor
/// values); not supported (the model needs an operator that has no reference kernel).
/// Header-only (inline) so both executables compile it without a library of its own.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/engine/kernel_registry.h"
#include "core/engine/plan.h"
#include "core/onnx/model_io.h"

namespace wh::conformance {

namespace fs = std::filesystem;

/// The operators of the Engine issue, in the issue's order; the report lists all of them.
inline const std::vector<std::string>& issueOps() {
    static const std::vector<std::string> ops = {"Conv",
                                                 "ConvTranspose",
                                                 "Gemm",
                                                 "MatMul",
                                                 "BatchNormalization",
                                                 "Relu",
                                                 "LeakyRelu",
                                                 "PRelu",
                                                 "Clip",
                                                 "Sigmoid",
                                                 "HardSigmoid",
                                                 "HardSwish",
                                                 "Tanh",
                                                 "Erf",
                                                 "Softmax",
                                                 "LogSoftmax",
                                                 "Add",
                                                 "Sub",
                                                 "Mul",
                                                 "Div",
                                                 "Pow",
                                                 "Sqrt",
                                                 "Concat",
                                                 "Split",
                                                 "Slice",
                                                 "Gather",
                                                 "Reshape",
                                                 "Flatten",
                                                 "Transpose",
                                                 "Squeeze",
                                                 "Unsqueeze",
                                                 "Shape",
                                                 "Cast",
                                                 "Constant",
                                                 "ConstantOfShape",
                                                 "Identity",
                                                 "Dropout",
                                                 "MaxPool",
                                                 "AveragePool",
                                                 "GlobalAveragePool",
                                                 "ReduceMean",
                                                 "ReduceSum",
                                                 "Pad",
                                                 "Resize",
                                                 "QuantizeLinear",
                                                 "DequantizeLinear"};
    return ops;
}

/// Where Debian's libonnx-testdata keeps the node tests.
inline fs::path nodeTestRoot() {
    return "/usr/share/libonnx-testdata/data/node";
}

constexpr double kRtol = 1e-4;
constexpr double kAtol = 1e-5;

/// Folders whose expected data we knowingly disagree with, and why. They count as exceptions
/// when they fail (and as passes if they ever pass).
inline const std::map<std::string, std::string>& knownDeviations() {
    static const std::string bf16 =
        "ONNX 1.12's data truncates float to bfloat16; we round to nearest even, as ONNX >= 1.14 "
        "and PyTorch do";
    static const std::string window =
        "ONNX 1.12's expected values are off by up to 6e-5 (its window is not even symmetric); "
        "we compute the spec's formula, as numpy does";
    static const std::map<std::string, std::string> m = {
        {"test_blackmanwindow_expanded", window},
        {"test_blackmanwindow_symmetric_expanded", window},
        {"test_hammingwindow_expanded", window},
        {"test_hammingwindow_symmetric_expanded", window},
        {"test_hannwindow_expanded", window},
        {"test_hannwindow_symmetric_expanded", window},
        {"test_cast_FLOAT_to_BFLOAT16", bf16},
        {"test_castlike_FLOAT_to_BFLOAT16", bf16},
        {"test_castlike_FLOAT_to_BFLOAT16_expanded", bf16},  // its body is one Cast node
    };
    return m;
}

enum class Outcome { kPass, kFail, kException, kNotSupported };

struct CaseResult {
    std::string folder;  ///< "test_add_bcast"
    Outcome outcome = Outcome::kPass;
    std::string detail;  ///< fail: worst mismatch; exception: reason; not supported: missing ops
};

struct OpReport {
    std::string op;
    bool registered = false;  ///< has at least one reference kernel (any opset)
    std::vector<CaseResult> cases;
    int count(Outcome o) const {
        return static_cast<int>(std::count_if(cases.begin(), cases.end(),
                                              [o](const CaseResult& c) { return c.outcome == o; }));
    }
};

/// Operators with a reference kernel for some opset (default domain).
inline std::set<std::string> registeredReferenceOps() {
    std::set<std::string> ops;
    for (const auto& e : engine::KernelRegistry::builtin().entries())
        if (e.domain.empty() && e.backend == engine::Backend::kReference) ops.insert(e.opType);
    return ops;
}

/// The issue's ops followed by any other registered reference op (so the list stays complete).
inline std::vector<std::string> reportedOps() {
    std::vector<std::string> ops = issueOps();
    for (const std::string& op : registeredReferenceOps())
        if (std::find(ops.begin(), ops.end(), op) == ops.end()) ops.push_back(op);
    return ops;
}

namespace detail {

inline std::string squashed(std::string s) {
    std::string out;
    for (char c : s)
        if (c != '_') out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return out;
}

// The op a multi-node folder is named after: the op whose lower-case name equals the first
// underscore-separated words of the folder name ("test_reduce_mean_x" → ReduceMean, but
// "test_castlike_x" is not Cast).
inline std::string opNamedBy(const std::string& folder, const std::vector<std::string>& ops) {
    const std::string name = folder.substr(5);
    std::string best;
    for (const std::string& op : ops) {
        const std::string s = squashed(op);
        for (std::size_t end = name.find('_');; end = name.find('_', end + 1)) {
            const std::string words = squashed(name.substr(0, end));
            if (words == s && s.size() > best.size()) best = op;
            if (words.size() >= s.size() || end == std::string::npos) break;
        }
    }
    return best;
}

inline std::vector<fs::path> sortedDirs(const fs::path& dir, const std::string& prefix) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.is_directory() && e.path().filename().string().rfind(prefix, 0) == 0)
            out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

inline std::vector<fs::path> numberedFiles(const fs::path& dir, const std::string& prefix) {
    std::vector<fs::path> out;
    for (int i = 0;; ++i) {
        fs::path p = dir / fmt::format("{}_{}.pb", prefix, i);
        if (!fs::exists(p)) break;
        out.push_back(p);
    }
    return out;
}

// ONNX 1.12's node tests store bfloat16 data as uint16 tensors: same bits, wrong tag.
inline engine::HostTensor retagged(engine::HostTensor t, const ir::Value* declared) {
    if (!declared || !declared->type.isTensor() ||
        declared->type.elemType != ir::DType::kBFloat16 || t.dtype() != ir::DType::kUInt16)
        return t;
    engine::HostTensor out(ir::DType::kBFloat16, t.dims());
    if (t.byteSize()) std::memcpy(out.raw(), t.raw(), t.byteSize());
    return out;
}

inline bool isFloating(ir::DType t) {
    return t == ir::DType::kFloat || t == ir::DType::kDouble || t == ir::DType::kFloat16 ||
           t == ir::DType::kBFloat16;
}

// Compares one output; returns "" when it matches, else the worst mismatch.
inline std::string compare(const std::string& name, const engine::HostTensor& expected,
                           const engine::HostTensor& got) {
    using engine::dimsToString;
    if (expected.dtype() != got.dtype() || expected.dims() != got.dims())
        return fmt::format("output '{}': expected {}{}, got {}{}", name,
                           ir::dtypeName(expected.dtype()), dimsToString(expected.dims()),
                           ir::dtypeName(got.dtype()), dimsToString(got.dims()));
    const std::string shape =
        fmt::format("{}{}", ir::dtypeName(expected.dtype()), dimsToString(expected.dims()));
    if (expected.dtype() == ir::DType::kString) {
        for (int64_t i = 0; i < expected.numElements(); ++i)
            if (expected.strings()[static_cast<std::size_t>(i)] !=
                got.strings()[static_cast<std::size_t>(i)])
                return fmt::format("output '{}' {}: at index {}: expected \"{}\", got \"{}\"", name,
                                   shape, i, expected.strings()[static_cast<std::size_t>(i)],
                                   got.strings()[static_cast<std::size_t>(i)]);
        return {};
    }
    int64_t worst = -1, mismatches = 0;
    double worstExcess = 0.0;
    const bool floating = isFloating(expected.dtype());
    for (int64_t i = 0; i < expected.numElements(); ++i) {
        if (floating) {
            const double e = expected.at(i), g = got.at(i);
            if (std::isnan(e) && std::isnan(g)) continue;
            if (e == g) continue;  // equal infinities
            const double excess = std::abs(g - e) - (kAtol + kRtol * std::abs(e));
            if (excess <= 0.0) continue;
            ++mismatches;
            if (worst < 0 || !(excess <= worstExcess)) worst = i, worstExcess = excess;
        } else if (expected.intAt(i) != got.intAt(i)) {
            ++mismatches;
            const double excess = std::abs(static_cast<double>(expected.intAt(i)) -
                                           static_cast<double>(got.intAt(i)));
            if (worst < 0 || excess > worstExcess) worst = i, worstExcess = excess;
        }
    }
    if (worst < 0) return {};
    return fmt::format(
        "output '{}' {}: {} mismatches; worst at index {}: expected {}, got {}", name, shape,
        mismatches, worst,
        floating ? fmt::format("{}", expected.at(worst)) : fmt::format("{}", expected.intAt(worst)),
        floating ? fmt::format("{}", got.at(worst)) : fmt::format("{}", got.intAt(worst)));
}

}  // namespace detail

/// Runs one node-test folder on the reference backend.
inline CaseResult runCase(const fs::path& folder) {
    CaseResult r;
    r.folder = folder.filename().string();
    auto fail = [&](Outcome o, std::string why) {
        r.outcome = o;
        r.detail = std::move(why);
        return r;
    };
    auto model = onnx::loadModel(folder / "model.onnx");
    if (!model) return fail(Outcome::kFail, "cannot load model: " + model.error().message());

    // Every node needs a reference kernel at the model's opset.
    const auto& registry = engine::KernelRegistry::builtin();
    std::set<std::string> missing;
    for (const ir::Node* node : model->graph->nodes()) {
        const int64_t opset = model->opsetVersion(node->domain);
        if (!registry.find(node->domain, node->opType, opset, engine::Backend::kReference))
            missing.insert(fmt::format("{}{}-{}", node->domain.empty() ? "" : node->domain + ".",
                                       node->opType, opset));
    }
    if (!missing.empty())
        return fail(Outcome::kNotSupported, fmt::format("needs {}", fmt::join(missing, ", ")));
    for (const ir::Value* v : model->graph->inputs())
        if (!v->type.isTensor())
            return fail(Outcome::kException,
                        fmt::format("input '{}' is {}: the engine runs tensors only", v->name(),
                                    v->type.toString()));
    for (const ir::Value* v : model->graph->outputs())
        if (!v->type.isTensor())
            return fail(Outcome::kException,
                        fmt::format("output '{}' is {}: the engine runs tensors only", v->name(),
                                    v->type.toString()));

    const auto sets = detail::sortedDirs(folder, "test_data_set_");
    if (sets.empty()) return fail(Outcome::kFail, "no test_data_set_*");
    for (const fs::path& set : sets) {
        const std::string setName = set.filename().string();
        std::vector<engine::HostTensor> inputs, expected;
        for (const fs::path& p : detail::numberedFiles(set, "input")) {
            auto t = onnx::loadTensor(p);
            if (!t) return fail(Outcome::kFail, t.error().message());
            auto h = engine::HostTensor::fromIr(*t);
            if (!h) return fail(Outcome::kFail, h.error().message());
            const auto& declared = model->graph->inputs();
            inputs.push_back(detail::retagged(std::move(*h), inputs.size() < declared.size()
                                                                 ? declared[inputs.size()]
                                                                 : nullptr));
        }
        for (const fs::path& p : detail::numberedFiles(set, "output")) {
            auto t = onnx::loadTensor(p);
            if (!t) return fail(Outcome::kFail, t.error().message());
            auto h = engine::HostTensor::fromIr(*t);
            if (!h) return fail(Outcome::kFail, h.error().message());
            const auto& declared = model->graph->outputs();
            expected.push_back(detail::retagged(std::move(*h), expected.size() < declared.size()
                                                                   ? declared[expected.size()]
                                                                   : nullptr));
        }
        // Input i of the data set feeds graph input i (node tests have no initializers).
        engine::PlanOptions options;
        options.backends = {engine::Backend::kReference};
        options.threads = 1;
        const auto& graphInputs = model->graph->inputs();
        if (inputs.size() > graphInputs.size())
            return fail(Outcome::kFail, fmt::format("{}: {} inputs for a model of {}", setName,
                                                    inputs.size(), graphInputs.size()));
        for (std::size_t i = 0; i < inputs.size(); ++i)
            options.inputShapes[graphInputs[i]->name()] = inputs[i].dims();
        auto plan = engine::Plan::compile(*model, options);
        if (!plan) {
            const Outcome o = plan.error().code() == StatusCode::kUnsupported ? Outcome::kException
                                                                              : Outcome::kFail;
            return fail(o, plan.error().message());
        }
        // Older models also list their initializers as graph inputs: feed the initializers.
        for (std::size_t i = inputs.size(); i < graphInputs.size(); ++i) {
            if (!graphInputs[i]->hasInitializer()) break;
            auto h = engine::HostTensor::fromIr(*graphInputs[i]->initializer());
            if (!h) return fail(Outcome::kFail, h.error().message());
            inputs.push_back(std::move(*h));
        }
        if (plan->inputNames().size() != inputs.size())
            return fail(Outcome::kFail,
                        fmt::format("{}: plan takes {} inputs, data set has {}", setName,
                                    plan->inputNames().size(), inputs.size()));
        auto outputs = plan->run(inputs);
        if (!outputs) {
            const Outcome o = outputs.error().code() == StatusCode::kUnsupported
                                  ? Outcome::kException
                                  : Outcome::kFail;
            return fail(o, fmt::format("{}: {}", setName, outputs.error().message()));
        }
        if (outputs->size() != expected.size())
            return fail(Outcome::kFail, fmt::format("{}: {} outputs, {} expected", setName,
                                                    outputs->size(), expected.size()));
        for (std::size_t i = 0; i < expected.size(); ++i) {
            std::string why = detail::compare(plan->outputNames()[i], expected[i], (*outputs)[i]);
            if (why.empty()) continue;
            auto known = knownDeviations().find(r.folder);
            if (known != knownDeviations().end()) return fail(Outcome::kException, known->second);
            return fail(Outcome::kFail, fmt::format("{}: {}", setName, why));
        }
    }
    return r;
}

/// Node-test folders per op: every folder attributed to an op of `ops`.
inline std::map<std::string, std::vector<fs::path>> foldersByOp(
    const std::vector<std::string>& ops) {
    std::map<std::string, std::vector<fs::path>> out;
    for (const fs::path& folder : detail::sortedDirs(nodeTestRoot(), "test_")) {
        auto model = onnx::loadModel(folder / "model.onnx");
        if (!model) continue;
        std::string op;
        if (model->graph->numNodes() == 1) {
            const ir::Node* node = *model->graph->nodes().begin();
            if (node->domain.empty() || node->domain == "ai.onnx") op = node->opType;
        } else if (model->graph->numNodes() > 1) {
            op = detail::opNamedBy(folder.filename().string(), ops);
        }
        if (!op.empty() && std::find(ops.begin(), ops.end(), op) != ops.end())
            out[op].push_back(folder);
    }
    return out;
}

/// Runs every folder of `op` (from foldersByOp).
inline OpReport runOp(const std::string& op, const std::vector<fs::path>& folders) {
    OpReport report;
    report.op = op;
    report.registered = registeredReferenceOps().count(op) > 0;
    for (const fs::path& f : folders) report.cases.push_back(runCase(f));
    return report;
}

/// Why a node-test folder is outside what the engine runs by design, or "" when it counts in the
/// overall share: string tensors, sequence/optional/map values, training-only operators and
/// training-mode runs (the engine's training has its own graph), and random outputs (no
/// reproducible expected data).
inline std::string exclusionReason(const fs::path& folder) {
    const std::string name = folder.filename().string();
    if (name.find("training_mode") != std::string::npos || name.rfind("test_training_", 0) == 0)
        return "training mode";
    auto model = onnx::loadModel(folder / "model.onnx");
    if (!model) return {};
    auto kind = [](const ir::Value* v) -> std::string {
        if (!v->type.isTensor()) return "sequence, optional or map values";
        if (v->type.elemType == ir::DType::kString) return "string tensors";
        return {};
    };
    for (const auto* list : {&model->graph->inputs(), &model->graph->outputs()})
        for (const ir::Value* v : *list)
            if (std::string k = kind(v); !k.empty()) return k;
    static const std::set<std::string> random = {"Bernoulli", "RandomNormal", "RandomNormalLike",
                                                 "RandomUniform", "RandomUniformLike",
                                                 "Multinomial"};
    static const std::set<std::string> sequenceOps = {
        "SequenceEmpty", "SequenceConstruct", "SequenceInsert", "SequenceAt", "SequenceErase",
        "SequenceLength", "SplitToSequence", "ConcatFromSequence", "SequenceMap", "Optional",
        "OptionalHasElement", "OptionalGetElement"};
    for (const ir::Node* node : model->graph->nodes()) {
        if (node->domain == "ai.onnx.preview.training") return "training-only operator";
        if (random.count(node->opType)) return "random outputs";
        if (sequenceOps.count(node->opType)) return "sequence, optional or map values";
    }
    return {};
}

/// Every node-test folder: its outcome, the op it is attributed to ("" if none) and why it is
/// excluded from the share ("" if it counts).
struct SuiteCase {
    CaseResult result;
    std::string op;
    std::string excluded;
};

/// Runs every folder under nodeTestRoot(); `attributed` (from foldersByOp) names their ops.
inline std::vector<SuiteCase> runSuite(const std::map<std::string, std::vector<fs::path>>& attributed) {
    std::map<std::string, std::string> opOf;
    for (const auto& [op, folders] : attributed)
        for (const fs::path& f : folders) opOf[f.filename().string()] = op;
    std::vector<SuiteCase> out;
    for (const fs::path& folder : detail::sortedDirs(nodeTestRoot(), "test_")) {
        if (!fs::exists(folder / "model.onnx")) continue;
        SuiteCase c;
        c.result = runCase(folder);
        auto it = opOf.find(c.result.folder);
        if (it != opOf.end()) c.op = it->second;
        c.excluded = exclusionReason(folder);
        out.push_back(std::move(c));
    }
    return out;
}

struct SuiteShare {
    int total = 0, excluded = 0, counted = 0, pass = 0;
    double share() const { return counted ? static_cast<double>(pass) / counted : 0.0; }
};

inline SuiteShare suiteShare(const std::vector<SuiteCase>& suite) {
    SuiteShare s;
    for (const SuiteCase& c : suite) {
        ++s.total;
        if (!c.excluded.empty()) {
            ++s.excluded;
            continue;
        }
        ++s.counted;
        if (c.result.outcome == Outcome::kPass) ++s.pass;
    }
    return s;
}

/// The overall section of docs/conformance.md: the share over every node test, what is excluded
/// and why, and what the counted tests that do not pass need.
inline std::string markdownSuite(const std::vector<SuiteCase>& suite) {
    const SuiteShare s = suiteShare(suite);
    std::string md = fmt::format(
        "## All node tests\n\n"
        "**{} of the {} counted node tests pass ({:.1f} %).** ONNX 1.12 ships {} node tests; {} "
        "are excluded by design (below), the other {} count, whatever their operator.\n\n",
        s.pass, s.counted, 100.0 * s.share(), s.total, s.excluded, s.counted);
    std::map<std::string, std::vector<std::string>> byReason, notPassing;
    for (const SuiteCase& c : suite) {
        if (!c.excluded.empty()) {
            byReason[c.excluded].push_back(c.result.folder);
        } else if (c.result.outcome != Outcome::kPass) {
            std::string why = c.result.detail;
            std::replace(why.begin(), why.end(), '|', '/');
            std::replace(why.begin(), why.end(), '\n', ' ');
            if (c.result.outcome == Outcome::kNotSupported)
                notPassing[why].push_back(c.result.folder);  // "needs X-13": grouped by need
            else
                notPassing[fmt::format("{}{}", c.result.outcome == Outcome::kFail ? "**fails**: " : "",
                                       why)]
                    .push_back(c.result.folder);
        }
    }
    md += "### Excluded\n\n| reason | tests | folders |\n|---|---:|---|\n";
    for (const auto& [reason, folders] : byReason)
        md += fmt::format("| {} | {} | {} |\n", reason, folders.size(),
                          fmt::join(folders, ", "));
    md += "\n### Counted, not passing\n\n| why | tests | folders |\n|---|---:|---|\n";
    std::vector<std::pair<std::string, std::vector<std::string>>> rows(notPassing.begin(),
                                                                      notPassing.end());
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
        return a.second.size() > b.second.size();
    });
    for (const auto& [why, folders] : rows)
        md += fmt::format("| {} | {} | {} |\n", why, folders.size(), fmt::join(folders, ", "));
    return md + "\n";
}

/// docs/conformance.md: one row per op.
/// `suite` (markdownSuite), when given, comes before the per-op table.
inline std::string markdownReport(const std::vector<OpReport>& reports,
                                  const std::string& suite = {}) {
    std::string md =
        "# Reference engine conformance\n\n"
        "ONNX node tests (Debian `libonnx-testdata`, ONNX 1.12) run on the reference backend only\n"
        "(`PlanOptions.backends = {Backend::kReference}`), compared with rtol 1e-4, atol 1e-5 for\n"
        "floating point, exactly otherwise. A test is attributed to the op of its only node (or,\n"
        "for `_expanded` function bodies, to the op it is named after).\n\n"
        "*pass* / *total*: passing tests / tests attributed to the op. *fail*: wrong results or\n"
        "errors. *exceptions*: tests not run to completion on purpose — a deliberately refused\n"
        "attribute combination or type (kUnsupported), or a model that needs an operator the\n"
        "reference engine does not register (\"needs …\").\n\n"
        "Regenerate: `build/tests/conformance_report > docs/conformance.md`.\n\n" +
        suite +
        "## Per operator\n\n"
        "| op | pass | total | fail | exceptions |\n"
        "|---|---:|---:|---:|---|\n";
    int pass = 0, total = 0, failed = 0;
    for (const OpReport& r : reports) {
        std::vector<std::string> notes;
        if (!r.registered) notes.push_back("no reference kernel registered");
        for (const CaseResult& c : r.cases) {
            if (c.outcome == Outcome::kPass) continue;
            std::string why = c.detail;
            std::replace(why.begin(), why.end(), '|', '/');
            std::replace(why.begin(), why.end(), '\n', ' ');
            notes.push_back(fmt::format("`{}`: {}{}", c.folder,
                                        c.outcome == Outcome::kFail ? "**FAILS**: " : "", why));
        }
        if (!r.registered) {
            // Do not list every test of an op that has no kernel yet.
            notes.erase(notes.begin() + 1, notes.end());
        }
        const int p = r.count(Outcome::kPass), f = r.count(Outcome::kFail);
        pass += p;
        total += static_cast<int>(r.cases.size());
        failed += r.registered ? f : 0;
        md += fmt::format("| {} | {} | {} | {} | {} |\n", r.op, p, r.cases.size(),
                          r.registered ? f : 0, fmt::join(notes, "<br>"));
    }
    md += fmt::format("| **all** | **{}** | **{}** | **{}** | |\n", pass, total, failed);
    return md;
}

}  // namespace wh::conformance
