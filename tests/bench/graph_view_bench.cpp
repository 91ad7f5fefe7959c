// Graph view benchmark: open-to-first-frame, fit-to-view repaint, pan and zoom frame times of
// GraphView for 1k / 10k / 100k-node residual chains (the structure make_io_models.py writes:
// Conv -> BatchNormalization -> Relu -> Add blocks with their own initializers). Runs offscreen:
//
//   cmake ... -DWHITTLE_BUILD_BENCH=ON && cmake --build build --target bench_graph_view
//   ./build/tests/bench/bench_graph_view [--sizes 1000,10000,100000] [--dir /tmp/whittle-bench]
//
// "open" = onnx::loadModel + layout::layoutGraph + GraphView::setGraph + showInitialView + the
// first repaint (what MainWindow does, minus its job plumbing). Frame times are medians of
// synchronous viewport repaints (QWidget::repaint), 1600x1000 viewport.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <QApplication>
#include <QElapsedTimer>
#include <QScrollBar>
#include <QStringList>

#include "core/ir/graph.h"
#include "core/layout/graph_layout.h"
#include "core/models/architectures.h"
#include "core/onnx/model_io.h"
#include "widgets/graph_view.h"

namespace {

using namespace wh;

double ms(const QElapsedTimer& t) {
    return t.nsecsElapsed() / 1e6;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

/// Median repaint time after `step` changes the view, over `n` frames.
template <class F>
double frames(widgets::GraphView& view, int n, F step) {
    std::vector<double> t;
    for (int i = 0; i < n; ++i) {
        step(i);
        QElapsedTimer timer;
        timer.start();
        view.viewport()->repaint();
        t.push_back(ms(timer));
    }
    return median(t);
}

}  // namespace

int main(int argc, char** argv) {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    std::vector<int> sizes{1000, 10000, 100000};
    std::filesystem::path dir = "/tmp/whittle-bench";
    const QStringList args = app.arguments();
    for (int i = 1; i + 1 < args.size(); ++i) {
        if (args[i] == QLatin1String("--sizes")) {
            sizes.clear();
            for (const QString& s : args[i + 1].split(QLatin1Char(','))) sizes.push_back(s.toInt());
        } else if (args[i] == QLatin1String("--dir")) {
            dir = args[i + 1].toStdString();
        }
    }
    std::filesystem::create_directories(dir);

    std::printf(
        "| nodes | open → first frame (s) | of which layout (s) | scene build (ms) | "
        "fit repaint (ms) | pan @fit (ms) | zoom @fit (ms) | pan @1:1 (ms) | "
        "zoom @1:1 (ms) |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int n : sizes) {
        const auto path = dir / ("view_chain_" + std::to_string(n) + ".onnx");
        if (!std::filesystem::exists(path)) {
            ir::Model model = models::buildResidualChain(n);
            if (!onnx::saveModel(model, path).isOk()) {
                std::fprintf(stderr, "cannot write %s\n", path.c_str());
                return 1;
            }
        }
        widgets::GraphView view;
        view.resize(1600, 1000);
        view.show();
        QApplication::processEvents();

        QElapsedTimer open;
        open.start();
        auto model = std::make_shared<ir::Model>(*onnx::loadModel(path));
        QElapsedTimer lt;
        lt.start();
        auto layout = std::make_shared<const layout::Layout>(
            layout::layoutGraph(*model->graph, view.layoutOptions()));
        const double layoutS = ms(lt) / 1000;
        QElapsedTimer bt;
        bt.start();
        view.setGraph(std::shared_ptr<const ir::Graph>(model, model->graph.get()), layout);
        const double buildMs = ms(bt);
        view.showInitialView();
        view.viewport()->repaint();
        const double openS = ms(open) / 1000;
        const int nodes = static_cast<int>(model->graph->numNodes());

        view.fitToView();
        const double fit = frames(view, 5, [](int) {});
        QScrollBar* vbar = view.verticalScrollBar();
        QScrollBar* hbar = view.horizontalScrollBar();
        const double panFit = frames(view, 10, [&](int i) {
            vbar->setValue(vbar->value() + (i % 2 ? -40 : 40));
            hbar->setValue(hbar->value() + (i % 2 ? -40 : 40));
        });
        const double zoomFit = frames(view, 10, [&](int i) {
            if (i % 2)
                view.zoomOut();
            else
                view.zoomIn();
        });
        // 1:1 in the middle of the graph.
        view.setZoom(1.0);
        const layout::NodeBox& mid = layout->nodes[layout->nodes.size() / 2];
        view.centerOn(mid.centerX(), mid.centerY());
        view.viewport()->repaint();
        const double pan1 = frames(view, 20, [&](int) { vbar->setValue(vbar->value() + 60); });
        const double zoom1 = frames(view, 10, [&](int i) {
            if (i % 2)
                view.zoomOut();
            else
                view.zoomIn();
        });
        std::printf("| %d | %.2f | %.2f | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", nodes,
                    openS, layoutS, buildMs, fit, panFit, zoomFit, pan1, zoom1);
        std::fflush(stdout);
        view.clear();
        // Like whittle-cli: the OS frees the model at exit.
        new std::shared_ptr<ir::Model>(model);
    }
    return 0;
}
