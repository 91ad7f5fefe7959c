#pragma once
// Shared pieces of whittle-cli's commands: the result/exit-code plumbing, JSON output, and
// progress on stderr with Ctrl+C as cancel.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/engine/benchmark.h"  // parseShapeSpecs
#include "core/engine/host_tensor.h"
#include "core/ir/graph.h"
#include "core/jobs/job_context.h"
#include "core/util/status.h"

namespace wh::cli {

/// What every command shares: --json, and the exit code the command left.
struct Context {
    bool json = false;
    bool ran = false;
    int exitCode = 0;
};

/// Prints "whittle-cli: <message>" (one line) and returns the contract's exit code.
int fail(const Status& status);
/// kUsage "OUT: refusing to overwrite the input model ..." when `output` is the file `input`
/// (same path or a link to it), else ok. Every command that writes a model checks this first.
Status refuseToOverwriteInput(const std::string& input, const std::string& output);
/// Prints `j` as the only thing on stdout.
void printJson(const nlohmann::json& j);

/// Runs `task` with a JobContext whose progress is drawn on stderr (a bar on a terminal, a plain
/// line per 10 % otherwise) and which Ctrl+C cancels (exit code 4).
int runWithProgress(const std::string& title, const std::function<int(jobs::JobContext&)>& task);

/// "1073741824", "512K", "64M", "1G" (binary multiples; case-insensitive) as bytes.
Expected<std::size_t> parseByteSize(const std::string& text);
/// --shape NAME=D0,D1,... values (repeatable) as a map (engine::parseShapeSpecs).
inline Expected<std::map<std::string, engine::Dims>> parseShapes(
    const std::vector<std::string>& specs) {
    return engine::parseShapeSpecs(specs, "--shape ");
}

/// --max-memory SIZE: the engine's memory budget for one command (engine::setMemoryLimit).
struct MemoryArgs {
    std::string maxMemory;
    void add(CLI::App* sub);
    /// Sets the limit when --max-memory was given.
    Status apply() const;
};

/// What the engine commands (run, bench, profile) start from: --max-memory applied, --shape
/// parsed, the model loaded; the first failure as it is.
struct EngineInputs {
    ir::Model model;
    std::map<std::string, engine::Dims> shapes;
};
Expected<EngineInputs> loadEngineInputs(const std::string& modelPath, const MemoryArgs& memory,
                                        const std::vector<std::string>& shapeSpecs);

/// Registers a subcommand whose callback runs `body` and records its exit code in `ctx`. A
/// refused or failed allocation escaping `body` (engine::MemoryLimitError, std::bad_alloc) is
/// reported as bad input (exit 2), never a crash.
CLI::App* addCommand(CLI::App& app, Context& ctx, const std::string& name,
                     const std::string& description, std::function<int()> body);

void addEvalCommand(CLI::App& app, Context& ctx);
void addEditCommand(CLI::App& app, Context& ctx);
void addExtractCommand(CLI::App& app, Context& ctx);
void addRunCommand(CLI::App& app, Context& ctx);
void addBenchCommand(CLI::App& app, Context& ctx);
void addProfileCommand(CLI::App& app, Context& ctx);
void addTrainCommand(CLI::App& app, Context& ctx);
void addCompressCommand(CLI::App& app, Context& ctx);
void addSensitivityCommand(CLI::App& app, Context& ctx);
/// Loads the algorithm plugins (core/algo/plugin_loader.h); each that fails is a warning on
/// stderr, never fatal.
void loadPluginsWithWarnings();

}  // namespace wh::cli
