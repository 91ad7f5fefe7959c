#include "app/cli_common.h"

#include "core/onnx/model_io.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace wh::cli {

namespace {
std::atomic<bool> g_interrupted{false};
void onSigint(int) {
    g_interrupted.store(true);
}
}  // namespace

Status refuseToOverwriteInput(const std::string& input, const std::string& output) {
    std::error_code ec;
    if (std::filesystem::exists(output, ec) && std::filesystem::equivalent(input, output, ec))
        return makeStatus(StatusCode::kUsage,
                          "{}: refusing to overwrite the input model; choose another output path",
                          output);
    return Status::ok();
}

int fail(const Status& status) {
    std::fprintf(stderr, "whittle-cli: %s\n", status.message().c_str());
    return exitCodeOf(status);
}

void printJson(const nlohmann::json& j) {
    // Names in a model need not be UTF-8: replace bad bytes rather than throw.
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

int runWithProgress(const std::string& title, const std::function<int(jobs::JobContext&)>& task) {
    jobs::JobContext job;
    g_interrupted.store(false);
    auto previous = std::signal(SIGINT, onSigint);
    const bool terminal = ::isatty(STDERR_FILENO);
    std::atomic<bool> done{false};
    std::thread reporter([&] {
        int lastDecile = -1;
        bool drew = false;
        while (!done.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            if (g_interrupted.load()) job.requestCancel();
            const jobs::ProgressSnapshot s = job.snapshot();
            const int percent = static_cast<int>(s.fraction * 100.0);
            if (terminal) {
                const int filled = percent * 30 / 100;
                std::string eta = s.etaSeconds ? fmt::format(" ETA {:.0f}s", *s.etaSeconds) : "";
                std::fprintf(stderr, "\r%s [%s%s] %3d%% %s%s   ", title.c_str(),
                             std::string(static_cast<std::size_t>(filled), '#').c_str(),
                             std::string(static_cast<std::size_t>(30 - filled), ' ').c_str(),
                             percent, s.stage.c_str(), eta.c_str());
                drew = true;
            } else if (percent / 10 != lastDecile && percent > 0) {
                lastDecile = percent / 10;
                std::fprintf(stderr, "%s: %d%% %s\n", title.c_str(), percent, s.stage.c_str());
            }
        }
        if (drew) std::fprintf(stderr, "\r%s\r", std::string(80, ' ').c_str());
    });
    int code;
    try {
        code = task(job);
    } catch (...) {  // e.g. std::bad_alloc: stop the reporter before the caller reports it
        done.store(true);
        reporter.join();
        std::signal(SIGINT, previous);
        throw;
    }
    done.store(true);
    reporter.join();
    std::signal(SIGINT, previous);
    return code;
}

CLI::App* addCommand(CLI::App& app, Context& ctx, const std::string& name,
                     const std::string& description, std::function<int()> body) {
    CLI::App* sub = app.add_subcommand(name, description);
    sub->add_flag("--json", ctx.json, "print one JSON object on stdout");
    sub->callback([&ctx, name, body = std::move(body)] {
        ctx.ran = true;
        // The engine turns these into a Status at the step that allocates; this is the backstop
        // for everything else a command does (reading data, random inputs, copies).
        Status s = engine::catchMemoryErrors(name, [&] {
            ctx.exitCode = body();
            return Status::ok();
        });
        if (!s.isOk()) ctx.exitCode = fail(s);
    });
    return sub;
}

Expected<std::size_t> parseByteSize(const std::string& text) {
    std::size_t value = 0;
    const char* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, value);
    std::size_t scale = 1;
    if (ec == std::errc() && p != text.data() && p + 1 == end) {
        switch (std::toupper(static_cast<unsigned char>(*p))) {
            case 'K':
                scale = std::size_t{1} << 10;
                break;
            case 'M':
                scale = std::size_t{1} << 20;
                break;
            case 'G':
                scale = std::size_t{1} << 30;
                break;
            case 'T':
                scale = std::size_t{1} << 40;
                break;
            default:
                scale = 0;
        }
        ++p;
    }
    std::size_t bytes = 0;
    if (ec != std::errc() || p != end || scale == 0 || value == 0 ||
        __builtin_mul_overflow(value, scale, &bytes))
        return error(StatusCode::kUsage,
                     "--max-memory '{}' is not a size in bytes (a number > 0, optionally with "
                     "K, M, G or T)",
                     text);
    return bytes;
}

void MemoryArgs::add(CLI::App* sub) {
    sub->add_option("--max-memory", maxMemory,
                    "memory budget for tensors: bytes, or with K/M/G suffix (default 3/4 of "
                    "physical memory or of the address-space limit)");
}

Status MemoryArgs::apply() const {
    if (maxMemory.empty()) return Status::ok();
    WH_ASSIGN_OR_RETURN_STATUS(const std::size_t bytes, parseByteSize(maxMemory));
    engine::setMemoryLimit(bytes);
    return Status::ok();
}

Expected<EngineInputs> loadEngineInputs(const std::string& modelPath, const MemoryArgs& memory,
                                        const std::vector<std::string>& shapeSpecs) {
    WH_RETURN_IF_ERROR(memory.apply());
    EngineInputs in;
    WH_ASSIGN_OR_RETURN(in.shapes, parseShapes(shapeSpecs));
    WH_ASSIGN_OR_RETURN(in.model, onnx::loadModel(modelPath));
    return in;
}

}  // namespace wh::cli
