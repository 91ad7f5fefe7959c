// Edit latency benchmark (issue 15, item 9): how long each named edit keeps the whole studio's
// GUI thread (MainWindow, every dock) on 10k- and 100k-node residual chains, i.e. how soon
// control returns to the user, and how long the relayout the edit starts takes in the background
// until the view shows the result. Target: every edit returns in < 100 ms at 100k nodes.
//
//   cmake ... -DWHITTLE_BUILD_BENCH=ON && cmake --build build --target bench_edit_latency
//   QT_QPA_PLATFORM=offscreen build/tests/bench/bench_edit_latency [--sizes 10000,100000]
//
// "GUI-thread CPU" = the CPU time the GUI thread spent within "returns" (the rest of "returns"
// is waiting: for a snapshot copy to stop, or for a core the background jobs hold).
// "returns" = building the edit as a click does (rewrite::renameNodeEdit & co.) and
// MainWindow::applyNamedEdit (the Rewriter group, the undo command, the change
// signal's synchronous handlers: inspector, issues check, dirty state) plus the events it posts,
// processed once. "view" = from the edit to MainWindow::viewReady (layout on a pool thread, scene
// rebuilt). Medians of 5 edits each on nodes in the middle of the graph. No peer: onnx-modifier
// (the tool people use for this job) is not installable offline here, and it re-renders the whole
// graph in the browser after each edit; its README asks for a partial view above ~1,500 nodes.

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <QApplication>
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QStringList>
#include <QUndoStack>

#include "core/models/architectures.h"
#include "core/onnx/model_io.h"
#include "core/rewrite/edits.h"
#include "widgets/document.h"
#include "widgets/main_window.h"

namespace {

using namespace wh;
using widgets::MainWindow;

std::string cpuModel() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown";
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

struct Timing {
    double returns = 0, view = 0;
    double cpu = 0;  // of the GUI thread, within "returns"
};

double cpuMs(const timespec& from, const timespec& to) {
    return static_cast<double>(to.tv_sec - from.tv_sec) * 1e3 +
           static_cast<double>(to.tv_nsec - from.tv_nsec) / 1e6;
}

// Runs `action` (an edit, an undo) and times its return, the GUI thread's CPU within it, and the
// relayout it starts (when it starts one).
Timing timeAction(MainWindow& w, const std::function<void()>& action) {
    QSignalSpy ready(&w, &MainWindow::viewReady);
    QElapsedTimer t;
    t.start();
    timespec c0{}, c1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    action();
    QApplication::processEvents();
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    Timing r{static_cast<double>(t.nsecsElapsed()) / 1e6, 0, cpuMs(c0, c1)};
    if (ready.count() > 0 || ready.wait(60000))
        r.view = static_cast<double>(t.nsecsElapsed()) / 1e6;
    return r;
}

// Times building the edit (as the studio does from a click: node references resolved) and
// applying it.
Timing timeEdit(MainWindow& w, const std::function<rewrite::Edit()>& build) {
    return timeAction(w, [&] {
        const rewrite::Edit edit = build();
        if (!w.applyNamedEdit(edit)) std::fprintf(stderr, "edit %s failed\n", edit.op.c_str());
    });
}

}  // namespace

int main(int argc, char** argv) {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    std::vector<int> sizes{10000, 100000};
    const QStringList args = app.arguments();
    for (int i = 1; i + 1 < args.size(); ++i)
        if (args[i] == QLatin1String("--sizes")) {
            sizes.clear();
            for (const QString& s : args[i + 1].split(QLatin1Char(','))) sizes.push_back(s.toInt());
        }
    const std::filesystem::path dir = "/tmp/whittle-bench";
    std::filesystem::create_directories(dir);
    std::printf("CPU: %s; 1600x1000 window, offscreen\n\n", cpuModel().c_str());
    std::printf(
        "| nodes | edit | returns p50 ms | returns max ms | GUI-thread CPU p50 ms | view ready "
        "p50 ms |\n");
    std::printf("|---:|---|---:|---:|---:|---:|\n");
    for (int n : sizes) {
        const auto path = dir / ("view_chain_" + std::to_string(n) + ".onnx");
        if (!std::filesystem::exists(path) &&
            !onnx::saveModel(models::buildResidualChain(n), path).isOk()) {
            std::fprintf(stderr, "cannot write %s\n", path.c_str());
            return 1;
        }
        MainWindow w(MainWindow::SettingsMode::kIgnore);
        w.resize(1600, 1000);
        w.show();
        QSignalSpy ready(&w, &MainWindow::viewReady);
        w.openFile(QString::fromStdString(path.string()));
        if (!ready.wait(120000)) {
            std::fprintf(stderr, "%s did not open\n", path.c_str());
            return 1;
        }
        const ir::Graph& g = w.document()->graph();
        const int nodes = static_cast<int>(g.numNodes());
        // Nodes in the middle of the graph, by graph order.
        std::vector<const ir::Node*> order(g.nodes().begin(), g.nodes().end());
        auto middle = [&](int k) {
            return order[order.size() / 2 + static_cast<std::size_t>(k) * 7];
        };
        struct Row {
            const char* name;
            std::vector<double> returns, view, cpu;
        };
        std::vector<Row> rows{
            {"rename_node", {}, {}}, {"set_attribute", {}, {}}, {"insert_identity", {}, {}},
            {"delete_node", {}, {}}, {"add_output", {}, {}},    {"remove_output", {}, {}},
            {"undo", {}, {}},        {"redo", {}, {}},          {"add_node", {}, {}},
            {"set_input", {}, {}}};
        auto record = [&](std::size_t row, Timing t) {
            rows[row].returns.push_back(t.returns);
            rows[row].view.push_back(t.view);
            rows[row].cpu.push_back(t.cpu);
        };
        for (int k = 0; k < 5; ++k) {
            const ir::Node* node = middle(k);
            record(0, timeEdit(w, [&] {
                       return rewrite::renameNodeEdit(g, *node, "renamed_" + std::to_string(k));
                   }));
            ir::Attribute doc = ir::Attribute::makeString("whittle_note", "benchmark");
            record(1, timeEdit(w, [&] { return *rewrite::setAttributeEdit(g, *node, doc); }));
            record(2, timeEdit(w, [&] { return rewrite::insertIdentityEdit(g, *node); }));
            const ir::Node* identity = nullptr;
            for (const ir::Node* m : g.nodes())
                if (m->opType == "Identity" && m->name == node->name + "_identity") identity = m;
            if (identity)
                record(3, timeEdit(w, [&] { return rewrite::deleteNodeEdit(g, *identity); }));
            const std::string tensor = node->output(0)->name();
            record(4, timeEdit(w, [&] { return rewrite::addOutputEdit(tensor); }));
            record(5, timeEdit(w, [&] { return rewrite::removeOutputEdit(tensor); }));
            // A Relu from the palette on the node's output wire, then its input moved to what
            // the node reads (a port drag).
            record(8, timeEdit(w, [&] {
                       return rewrite::addNodeOnEdgeEdit(g, "Relu", "", tensor, nullptr, {});
                   }));
            const ir::Node* added = nullptr;
            for (const ir::Use& u : g.findValue(tensor)->uses())
                if (u.node->opType == "Relu" && u.node->name.rfind("Relu", 0) == 0) added = u.node;
            if (added && node->input(0))
                record(9, timeEdit(w, [&] {
                           return rewrite::setInputEdit(g, *added, 0, node->input(0)->name());
                       }));
            record(6, timeAction(w, [&] { w.document()->undoStack()->undo(); }));
            record(7, timeAction(w, [&] { w.document()->undoStack()->redo(); }));
        }
        for (const Row& r : rows)
            std::printf("| %d | %s | %.1f | %.1f | %.1f | %.0f |\n", nodes, r.name,
                        median(r.returns), *std::max_element(r.returns.begin(), r.returns.end()),
                        median(r.cpu), median(r.view));
        std::fflush(stdout);
    }
    return 0;
}
