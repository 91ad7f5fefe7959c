#include "app/cli_common.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

namespace wh::cli {

namespace {
std::atomic<bool> g_interrupted{false};
void onSigint(int) { g_interrupted.store(true); }
}  // namespace

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
    int code = task(job);
    done.store(true);
    reporter.join();
    std::signal(SIGINT, previous);
    return code;
}

CLI::App* addCommand(CLI::App& app, Context& ctx, const std::string& name,
                     const std::string& description, std::function<int()> body) {
    CLI::App* sub = app.add_subcommand(name, description);
    sub->add_flag("--json", ctx.json, "print one JSON object on stdout");
    sub->callback([&ctx, body = std::move(body)] {
        ctx.ran = true;
        ctx.exitCode = body();
    });
    return sub;
}

}  // namespace wh::cli
