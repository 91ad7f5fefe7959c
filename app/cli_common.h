#pragma once
// Shared pieces of whittle-cli's commands: the result/exit-code plumbing, JSON output, and
// progress on stderr with Ctrl+C as cancel.

#include <functional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

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
/// Re-executes the program once with GOMP_SPINCOUNT=1000 unless the user chose an OpenMP wait
/// policy (OMP_WAIT_POLICY, GOMP_SPINCOUNT) or set WHITTLE_KEEP_OMP_POLICY=1. Call first in main.
void preferShortOpenMpSpins();
/// Prints `j` as the only thing on stdout.
void printJson(const nlohmann::json& j);

/// Runs `task` with a JobContext whose progress is drawn on stderr (a bar on a terminal, a plain
/// line per 10 % otherwise) and which Ctrl+C cancels (exit code 4).
int runWithProgress(const std::string& title, const std::function<int(jobs::JobContext&)>& task);

/// Registers a subcommand whose callback runs `body` and records its exit code in `ctx`.
CLI::App* addCommand(CLI::App& app, Context& ctx, const std::string& name,
                     const std::string& description, std::function<int()> body);

void addEvalCommand(CLI::App& app, Context& ctx);
void addRunCommand(CLI::App& app, Context& ctx);
void addBenchCommand(CLI::App& app, Context& ctx);
void addTrainCommand(CLI::App& app, Context& ctx);

}  // namespace wh::cli
