// whittle: the desktop studio.
//
//   whittle [MODEL]
//   whittle --screenshot OUT.png [--size 1600x1000] [--expand NODE|OP]... [--zoom fit|width|N]
//           [--select NODE] [--select-op TYPE] [--find TEXT] [--dock NAME] [--profile]
//           [--compress RECIPE.json --compress-output OUT.onnx [--apply]] [--sensitivity RECIPE.json]
//           [--recipe RECIPE.json [--compress-output OUT.onnx]] [--dataset NAME] [--compare]
//           [--export-view OUT.png|OUT.svg [--export-scope whole|visible|selection]] MODEL
//   whittle --help | --version
//
// The screenshot mode opens MODEL, waits until loading and layout are done and the event loop has
// settled, saves a grab of the main window and exits 0; on failure (MODEL does not open, no node
// is named NODE, none is of op type TYPE, nothing matches TEXT, no dock NAME, nothing to expand)
// it prints one line to stderr and exits 1. It waits for shape inference too (bounded), so
// pictures show inferred shapes. --export-view also writes what File > Export View would (the
// whole graph by default) and prints its size. --profile runs the Profiler dock's profile (F6)
// and grabs once it is done (exit 1 if it fails), with that dock raised unless --dock names another;
// --compress RECIPE --compress-output OUT does the same with the Algorithm dock's run, and
// --sensitivity RECIPE with the Sensitivity dock's measurement (F7). --recipe RECIPE drives the
// whole path first (profile as baseline, compress, apply, profile again) so that every dock shows
// real results; --compare grabs the comparison view (F8) of the run. It reads and writes no
// settings, so its pictures do not depend on the user's window layout. --help and --version need
// no display: they are answered before the QApplication (which needs one) exists.

#include <cstdio>
#include <map>
#include <memory>
#include <utility>
#include <cstring>

#include <QAction>
#include <QApplication>
#include <QCommandLineParser>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QLineEdit>
#include <QPixmap>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTimer>

#include "core/algo/plugin_loader.h"
#include "widgets/graph_search_bar.h"
#include "widgets/graph_view.h"
#include "widgets/help_dialogs.h"
#include "widgets/issues_dock.h"
#include "app/omp_policy.h"
#include "widgets/algorithm_dock.h"
#include "widgets/comparison_view.h"
#include "widgets/profiler_dock.h"
#include "widgets/sensitivity_dock.h"
#include "widgets/summary_dock.h"
#include "widgets/visualization_dock.h"
#include "widgets/main_window.h"
#include "widgets/node_inspector.h"

namespace {

int fail(const QString& message) {
    std::fprintf(stderr, "whittle: %s\n", qPrintable(message));
    return 1;
}

// Algorithm plugins load at start; one that fails is listed in the Issues dock, never fatal.
void loadPlugins(wh::widgets::MainWindow& window) {
    for (const wh::algo::PluginLoadResult& r : wh::algo::loadDefaultPlugins())
        if (!r.error.empty())
            window.issuesDock()->addApplicationIssue(wh::widgets::IssuesDock::Severity::kWarning,
                                                     QString::fromStdString(r.error));
    window.algorithmDock()->refreshAlgorithms();
}

/// Whether argv asks for help or the version: then no QApplication (and no display) is needed.
bool wantsHelpOrVersion(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--") == 0) return false;
        for (const char* flag : {"-h", "--help", "-?", "--help-all", "-v", "--version"})
            if (std::strcmp(argv[i], flag) == 0) return true;
    }
    return false;
}

void setApplicationNames() {
    QCoreApplication::setOrganizationName(QStringLiteral("Whittle"));
    QCoreApplication::setApplicationName(QStringLiteral("whittle"));
    QCoreApplication::setApplicationVersion(wh::widgets::applicationVersion());
}

}  // namespace

int main(int argc, char** argv) {
    // The studio's jobs train and run models on the CLI's kernels: the same short OpenMP spins
    // (a re-exec, before any thread exists), or training is 3-5x slower on a shared machine.
    if (!wantsHelpOrVersion(argc, argv)) wh::app::preferShortOpenMpSpins();
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Whittle — a studio for compressing ONNX neural networks."));
    parser.addHelpOption();
    const QCommandLineOption versionOption = parser.addVersionOption();
    QCommandLineOption screenshotOption(
        QStringLiteral("screenshot"),
        QStringLiteral("Open MODEL, save a picture of the window to <file> once it is laid out, "
                       "and exit (1 if MODEL could not be opened: the picture then shows why)."),
        QStringLiteral("file"));
    QCommandLineOption sizeOption(QStringLiteral("size"),
                                  QStringLiteral("Window size for --screenshot (default "
                                                 "1600x1000)."),
                                  QStringLiteral("WxH"), QStringLiteral("1600x1000"));
    QCommandLineOption selectOption(QStringLiteral("select"),
                                    QStringLiteral("With --screenshot: select the node named "
                                                   "<name> (and centre it) before grabbing; "
                                                   "exit 1 if there is none."),
                                    QStringLiteral("name"));
    QCommandLineOption selectOpOption(
        QStringLiteral("select-op"),
        QStringLiteral("With --screenshot: select every node of op type <type> (the inspector "
                       "sums the selection up); exit 1 if there is none."),
        QStringLiteral("type"));
    QCommandLineOption findOption(
        QStringLiteral("find"),
        QStringLiteral("With --screenshot: search for <text> in the find bar (hits marked, the "
                       "first one selected); exit 1 if nothing matches."),
        QStringLiteral("text"));
    parser.addOption(screenshotOption);
    parser.addOption(sizeOption);
    parser.addOption(selectOption);
    parser.addOption(selectOpOption);
    parser.addOption(findOption);
    QCommandLineOption dockOption(QStringLiteral("dock"),
                                  QStringLiteral("With --screenshot: raise the dock whose name "
                                                 "contains <name> (jobs, issues, inspector, "
                                                 "profiler, ...); exit 1 if there is none."),
                                  QStringLiteral("name"));
    parser.addOption(dockOption);
    QCommandLineOption profileOption(
        QStringLiteral("profile"),
        QStringLiteral("With --screenshot: profile the model (Tools > Profile Model, F6) and grab "
                       "once the Profiler dock shows the result; exit 1 if profiling fails."));
    parser.addOption(profileOption);
    QCommandLineOption compressOption(
        QStringLiteral("compress"),
        QStringLiteral("With --screenshot: load <recipe> into the Algorithm dock, run it (writing "
                       "--compress-output) and grab once it ends; exit 1 if it fails."),
        QStringLiteral("recipe"));
    parser.addOption(compressOption);
    QCommandLineOption sensitivityOption(
        QStringLiteral("sensitivity"),
        QStringLiteral("With --screenshot: load <recipe> into the Algorithm dock, measure the "
                       "layers' sensitivity (Tools > Layer Sensitivity, F7) and grab once the "
                       "Sensitivity dock shows it; exit 1 if it fails."),
        QStringLiteral("recipe"));
    parser.addOption(sensitivityOption);
    QCommandLineOption colorByOption(
        QStringLiteral("color-by"),
        QStringLiteral("With --screenshot: colour the nodes by 'category', 'latency' (with "
                       "--profile), 'bits', 'error' or 'pruned' (with --compress) (the "
                       "Visualization dock)."),
        QStringLiteral("mode"));
    parser.addOption(colorByOption);
    QCommandLineOption applyOption(
        QStringLiteral("apply"),
        QStringLiteral("With --compress: apply the result to the open model (Apply to Model: the "
                       "compressed graph as its next revision) before grabbing."));
    parser.addOption(applyOption);
    QCommandLineOption recipeOption(
        QStringLiteral("recipe"),
        QStringLiteral("With --screenshot: the whole studio path before grabbing — profile the "
                       "model and keep it as the Profiler's baseline, run <recipe> (Algorithm "
                       "dock; output: --compress-output or a temporary file), apply the result to "
                       "the model, profile it again (per-layer speed-up), so that every dock "
                       "shows real results; exit 1 if a step fails."),
        QStringLiteral("recipe"));
    parser.addOption(recipeOption);
    QCommandLineOption datasetOption(
        QStringLiteral("dataset"),
        QStringLiteral("With --recipe, --compress or --sensitivity: the dataset to calibrate, "
                       "train and evaluate on instead of the recipe's."),
        QStringLiteral("name"));
    parser.addOption(datasetOption);
    QCommandLineOption compareOption(
        QStringLiteral("compare"),
        QStringLiteral("With --recipe or --compress: grab the comparison view (F8: the original "
                       "and the compressed graph side by side; with --color-by error, the "
                       "per-layer error heat map)."));
    parser.addOption(compareOption);
    QCommandLineOption compressOutputOption(
        QStringLiteral("compress-output"),
        QStringLiteral("With --compress: the ONNX file to write."), QStringLiteral("file"));
    parser.addOption(compressOutputOption);
    QCommandLineOption expandOption(
        QStringLiteral("expand"),
        QStringLiteral("With --screenshot: expand the subgraphs of every node named <node> or of "
                       "op type <node> (If, Loop), at any depth; repeatable. Exit 1 if none."),
        QStringLiteral("node"));
    parser.addOption(expandOption);
    QCommandLineOption zoomOption(
        QStringLiteral("zoom"),
        QStringLiteral("With --screenshot: 'fit' (Ctrl+0), 'width' (Ctrl+9) or a percentage."),
        QStringLiteral("zoom"));
    parser.addOption(zoomOption);
    QCommandLineOption exportViewOption(
        QStringLiteral("export-view"),
        QStringLiteral("With --screenshot: also write what File > Export View writes to <file> "
                       "(.png or .svg)."),
        QStringLiteral("file"));
    parser.addOption(exportViewOption);
    QCommandLineOption exportScopeOption(
        QStringLiteral("export-scope"),
        QStringLiteral("With --export-view: 'whole' (default), 'visible' or 'selection'."),
        QStringLiteral("scope"), QStringLiteral("whole"));
    parser.addOption(exportScopeOption);
    parser.addPositionalArgument(QStringLiteral("model"), QStringLiteral("An ONNX model to open."),
                                 QStringLiteral("[MODEL]"));

    if (wantsHelpOrVersion(argc, argv)) {
        // A QCoreApplication needs no display; process() prints and exits.
        QCoreApplication core(argc, argv);
        setApplicationNames();
        if (parser.parse(QCoreApplication::arguments()) && parser.isSet(versionOption) &&
            !parser.isSet(QStringLiteral("help"))) {
            std::printf("whittle %s\n%s\n", qPrintable(wh::widgets::applicationVersion()),
                        qPrintable(wh::widgets::componentVersions()));
            return 0;
        }
        parser.process(core);
        return 0;
    }

    QApplication app(argc, argv);
    setApplicationNames();
    QApplication::setApplicationDisplayName(QStringLiteral("Whittle"));
    parser.process(app);

    const QStringList positional = parser.positionalArguments();
    if (positional.size() > 1) return fail(QStringLiteral("expected at most one MODEL"));
    const QString modelPath = positional.value(0);

    if (!parser.isSet(screenshotOption)) {
        for (const QCommandLineOption* option :
             {&selectOption, &selectOpOption, &findOption, &dockOption, &sizeOption, &expandOption,
              &zoomOption, &exportViewOption, &exportScopeOption, &profileOption, &compressOption,
              &sensitivityOption, &compressOutputOption, &colorByOption, &applyOption,
              &recipeOption, &datasetOption, &compareOption})
            if (parser.isSet(*option))
                return fail(QStringLiteral("--%1 only goes with --screenshot")
                                .arg(option->names().first()));
        wh::widgets::MainWindow window;
        loadPlugins(window);
        window.show();
        if (!modelPath.isEmpty()) window.openFile(modelPath);
        return app.exec();
    }

    // ---- Screenshot mode ----
    const QString out = parser.value(screenshotOption);
    if (modelPath.isEmpty()) return fail(QStringLiteral("--screenshot needs a MODEL"));
    QRegularExpressionMatch size = QRegularExpression(QStringLiteral("^(\\d{2,5})x(\\d{2,5})$"))
                                       .match(parser.value(sizeOption));
    if (!size.hasMatch())
        return fail(QStringLiteral("--size must look like 1600x1000, not '%1'")
                        .arg(parser.value(sizeOption)));

    using Scope = wh::widgets::GraphView::ExportScope;
    const QString scopeName = parser.value(exportScopeOption);
    const Scope exportScope = scopeName == QLatin1String("visible")     ? Scope::kVisibleArea
                              : scopeName == QLatin1String("selection") ? Scope::kSelection
                                                                        : Scope::kWholeGraph;
    if (scopeName != QLatin1String("whole") && scopeName != QLatin1String("visible") &&
        scopeName != QLatin1String("selection"))
        return fail(QStringLiteral("--export-scope takes whole, visible or selection, not '%1'")
                        .arg(scopeName));

    wh::widgets::MainWindow window(wh::widgets::MainWindow::SettingsMode::kIgnore);
    loadPlugins(window);
    window.resize(size.captured(1).toInt(), size.captured(2).toInt());
    if (parser.isSet(dockOption)) {
        const QString wanted = parser.value(dockOption).toLower();
        QStringList names;
        bool found = false;
        for (QDockWidget* dock : window.findChildren<QDockWidget*>()) {
            QString name = dock->objectName().toLower();
            found = found || (!wanted.isEmpty() && name.contains(wanted));
            if (name.endsWith(QStringLiteral("dock"))) name.chop(4);
            names << name;
        }
        if (!found)
            return fail(QStringLiteral("--dock: no dock's name contains '%1' (docks: %2)")
                            .arg(parser.value(dockOption), names.join(QStringLiteral(", "))));
    }
    window.show();

    int exitCode = 1;
    QString error;
    auto finish = [&](int code, const QString& message) {
        exitCode = code;
        error = message;
        app.exit(code);
    };
    auto raiseDock = [&] {
        if (!parser.isSet(dockOption)) return;
        const QString wanted = parser.value(dockOption).toLower();
        for (QDockWidget* dock : window.findChildren<QDockWidget*>())
            if (dock->objectName().toLower().contains(wanted)) {
                dock->show();
                dock->raise();
            }
    };
    // --color-by: the Visualization dock's mode, set once the view (and any profile) is ready.
    auto applyColorBy = [&]() -> bool {
        if (!parser.isSet(colorByOption)) return true;
        const QString mode = parser.value(colorByOption);
        using Mode = wh::widgets::VisualizationDock::Mode;
        const std::map<QString, Mode> modes{{QStringLiteral("category"), Mode::kCategory},
                                            {QStringLiteral("latency"), Mode::kLatency},
                                            {QStringLiteral("bits"), Mode::kBits},
                                            {QStringLiteral("error"), Mode::kError},
                                            {QStringLiteral("pruned"), Mode::kPruned}};
        const auto it = modes.find(mode);
        if (it == modes.end()) {
            finish(1, QStringLiteral("--color-by takes category, latency, bits, error or pruned, "
                                     "not '%1'")
                          .arg(mode));
            return false;
        }
        window.visualizationDock()->setMode(it->second);
        window.visualizationDock()->show();
        window.visualizationDock()->raise();
        return true;
    };
    // Lets pending layout, paint and resize events run, grabs the window, then exits with `code`
    // (a model that failed to load is pictured too: its errors are in the Issues dock).
    auto grabThen = [&](int code, const QString& message) {
        QTimer::singleShot(400, &app, [&, code, message] {
            // Statistics of a big weight are computed by a job: wait for them (bounded).
            QElapsedTimer waited;
            waited.start();
            // So is shape inference.
            while ((window.nodeInspector()->pendingStats() > 0 || window.isInferringShapes()) &&
                   waited.elapsed() < 20'000)
                QApplication::processEvents(QEventLoop::AllEvents, 50);
            QApplication::processEvents();
            if (code == 0 && parser.isSet(exportViewOption)) {
                const QString file = parser.value(exportViewOption);
                QString why;
                wh::widgets::GraphView::ExportPlan plan;
                if (!window.graphView()->exportView(file, exportScope, &why, &plan)) {
                    finish(1, QStringLiteral("--export-view: %1").arg(why));
                    return;
                }
                std::printf("export-view: %s %dx%d px, scale %.3f%s\n", qPrintable(file),
                            plan.size.width(), plan.size.height(), plan.scale,
                            plan.capped ? " (capped)" : "");
            }
            QPixmap picture = window.grab();
            if (picture.isNull() || !picture.save(out))
                finish(1, QStringLiteral("could not write %1").arg(out));
            else
                finish(code, message);
        });
    };
    QObject::connect(&window, &wh::widgets::MainWindow::loadFailed, &app,
                     [&](const QString& message) {
                         raiseDock();
                         grabThen(1, message);
                     });
    // Every node of the view's graph, subgraphs included, outer ones first.
    auto allNodes = [&] {
        std::vector<const wh::ir::Node*> nodes;
        if (!window.graphView()->graph()) return nodes;
        std::vector<const wh::ir::Graph*> graphs{window.graphView()->graph()};
        for (std::size_t i = 0; i < graphs.size(); ++i)
            for (const wh::ir::Node* node : graphs[i]->nodes()) {
                nodes.push_back(node);
                for (const wh::ir::Graph* sub : node->subgraphs()) graphs.push_back(sub);
            }
        return nodes;
    };
    // After a compression run: the Summary dock times both models first (alone: the per-layer
    // comparison of --color-by error would disturb the timings), then the overlay or the
    // comparison view is prepared, then the grab.
    auto settledGrab = std::make_shared<bool>(false);
    auto grabOnce = [&, settledGrab] {
        if (std::exchange(*settledGrab, true)) return;
        grabThen(0, {});
    };
    auto showComparisonThenGrab = [&] {
        auto* compare = window.comparisonView();
        const bool errors = parser.value(colorByOption) == QLatin1String("error");
        if (parser.isSet(colorByOption) && !errors &&
            parser.value(colorByOption) != QLatin1String("category")) {
            finish(1, QStringLiteral("--compare colours by 'error' or 'category' only"));
            return;
        }
        auto whenLaidOut = [&, compare, errors] {
            // --select: that node of the original, and its match on the right.
            if (parser.isSet(selectOption))
                for (const wh::ir::Node* n : compare->before()->graph->nodes())
                    if (QString::fromStdString(n->name) == parser.value(selectOption))
                        compare->selectBefore(n->id());
            if (!errors) {
                grabOnce();
                return;
            }
            QObject::connect(window.visualizationDock(),
                             &wh::widgets::VisualizationDock::errorsReady, &app,
                             [&](bool ok) {
                                 if (!ok) {
                                     finish(1, QStringLiteral("--compare: the per-layer error "
                                                              "could not be computed"));
                                     return;
                                 }
                                 QTimer::singleShot(0, &app, grabOnce);  // after setLayerErrors
                             });
            compare->setMode(wh::widgets::ComparisonView::Mode::kError);
        };
        QObject::connect(compare, &wh::widgets::ComparisonView::ready, &app,
                         [&, whenLaidOut](bool ok) {
                             if (!ok) {
                                 finish(1, QStringLiteral("--compare: %1")
                                               .arg(window.comparisonView()->summaryText()));
                                 return;
                             }
                             whenLaidOut();
                         });
        if (!window.showComparison())
            finish(1, QStringLiteral("--compare: no run to compare"));
        else if (compare->isReady())  // shown before: no new layout, no ready() to wait for
            whenLaidOut();
    };
    auto overlaysThenGrab = [&] {
        if (*settledGrab) return;
        raiseDock();
        if (parser.isSet(compareOption)) {
            showComparisonThenGrab();
            return;
        }
        if (!applyColorBy()) return;
        auto* overlay = window.visualizationDock();
        if (!overlay->isComputing()) {
            grabOnce();
            return;
        }
        QObject::connect(overlay, &wh::widgets::VisualizationDock::errorsReady, &app, grabOnce);
    };
    auto settleThenGrab = [&] {
        auto* summary = window.summaryDock();
        if (!summary->isMeasuring()) {
            overlaysThenGrab();
            return;
        }
        QObject::connect(summary, &wh::widgets::SummaryDock::measured, &app, overlaysThenGrab);
    };
    // --dataset: the Algorithm dock's dataset, over the recipe's.
    auto overrideDataset = [&] {
        if (parser.isSet(datasetOption))
            window.algorithmDock()->setDataset(parser.value(datasetOption));
    };
    bool expanded = false;
    bool profiling = false;
    QObject::connect(&window, &wh::widgets::MainWindow::viewReady, &app, [&] {
        wh::widgets::GraphView* view = window.graphView();
        if (parser.isSet(expandOption) && !expanded) {
            expanded = true;  // once: a relayout of a big graph comes back as viewReady too
            const QStringList wanted = parser.values(expandOption);
            int count = 0;
            for (const wh::ir::Node* node : allNodes())
                if (!node->subgraphs().empty() && !view->isExpanded(node) &&
                    (wanted.contains(QString::fromStdString(node->name)) ||
                     wanted.contains(QString::fromStdString(node->opType)))) {
                    view->toggleSubgraphs(node);
                    ++count;
                }
            if (count == 0) {
                finish(1, QStringLiteral("--expand: %1 has no If/Loop node named or of type '%2'")
                              .arg(modelPath, wanted.join(QStringLiteral("', '"))));
                return;
            }
            // A big graph's relayout runs on a pool thread: wait for it.
            QElapsedTimer waited;
            waited.start();
            while (waited.elapsed() < 2000) QApplication::processEvents(QEventLoop::AllEvents, 50);
        }
        if (parser.isSet(zoomOption)) {
            const QString zoom = parser.value(zoomOption);
            bool ok = false;
            const double percent = QString(zoom).remove(QLatin1Char('%')).toDouble(&ok);
            if (zoom == QLatin1String("fit"))
                view->fitToView();
            else if (zoom == QLatin1String("width"))
                view->fitWidth();
            else if (ok && percent > 0)
                view->setZoom(percent / 100);
            else {
                finish(
                    1,
                    QStringLiteral("--zoom takes fit, width or a percentage, not '%1'").arg(zoom));
                return;
            }
        }
        if (parser.isSet(selectOption) && view->graph()) {
            const std::string wanted = parser.value(selectOption).toStdString();
            bool found = false;
            for (const wh::ir::Node* node : allNodes())
                if (node->name == wanted && view->drawnNode(node->id()) && !found) {
                    view->selectNode(node->id(), true);
                    found = true;
                }
            if (!found) {
                finish(1, QStringLiteral("--select: %1 has no node named '%2'")
                              .arg(modelPath, parser.value(selectOption)));
                return;
            }
        }
        if (parser.isSet(selectOpOption) &&
            window.graphView()->selectAllOfType(parser.value(selectOpOption)) == 0) {
            finish(1, QStringLiteral("--select-op: %1 has no %2 node")
                          .arg(modelPath, parser.value(selectOpOption)));
            return;
        }
        if (parser.isSet(findOption)) {
            window.graphView()->openSearch();
            window.graphView()->searchBar()->lineEdit()->setText(parser.value(findOption));
            if (window.graphView()->searchMatchCount() == 0) {
                finish(1, QStringLiteral("--find: nothing in %1 matches '%2'")
                              .arg(modelPath, parser.value(findOption)));
                return;
            }
        }
        if (parser.isSet(recipeOption)) {
            if (profiling) return;  // a relayout's second viewReady (after the apply too)
            profiling = true;
            wh::widgets::AlgorithmDock* dock = window.algorithmDock();
            wh::widgets::ProfilerDock* profiler = window.profilerDock();
            QString why;
            if (!dock->loadRecipeFrom(parser.value(recipeOption), &why)) {
                finish(1, QStringLiteral("--recipe: %1").arg(why));
                return;
            }
            overrideDataset();
            if (parser.isSet(compressOutputOption)) {
                dock->setOutputPath(parser.value(compressOutputOption));
            } else {
                static QTemporaryDir scratch;  // removed at exit
                dock->setOutputPath(scratch.filePath(
                    QFileInfo(modelPath).completeBaseName() + QStringLiteral("-compressed.onnx")));
            }
            auto* profileAction = window.findChild<QAction*>(QStringLiteral("ProfileModelAction"));
            // 1. Profile the original, keep it as the baseline; 2. compress; 3. apply;
            // 4. profile the compressed revision (per-layer speed-up); 5. settle and grab.
            auto stage = std::make_shared<int>(0);
            QObject::connect(
                profiler, &wh::widgets::ProfilerDock::profileFinished, &app,
                [&, profiler, dock, stage](bool ok, const QString& message) {
                    if (!ok) {
                        finish(1, QStringLiteral("--recipe: profiling: %1").arg(message));
                        return;
                    }
                    if (*stage == 0) {
                        *stage = 1;
                        profiler->setBaselineFromCurrent();
                        window.findChild<QAction*>(QStringLiteral("RunAlgorithmAction"))->trigger();
                        return;
                    }
                    dock->show();
                    dock->raise();
                    settleThenGrab();
                });
            QObject::connect(dock, &wh::widgets::AlgorithmDock::runFinished, &app,
                             [&, dock, profileAction](bool ok, const QString& message) {
                                 if (!ok) {
                                     finish(1, QStringLiteral("--recipe: %1").arg(message));
                                     return;
                                 }
                                 QString why;
                                 if (!dock->applyResult(&why)) {
                                     finish(1, QStringLiteral("--recipe: apply: %1").arg(why));
                                     return;
                                 }
                                 profileAction->trigger();
                             });
            profileAction->trigger();
            return;
        }
        if (parser.isSet(compressOption)) {
            if (profiling) return;  // a relayout's second viewReady
            profiling = true;
            wh::widgets::AlgorithmDock* dock = window.algorithmDock();
            QString why;
            if (!parser.isSet(compressOutputOption)) {
                finish(1, QStringLiteral("--compress needs --compress-output FILE"));
                return;
            }
            if (!dock->loadRecipeFrom(parser.value(compressOption), &why)) {
                finish(1, QStringLiteral("--compress: %1").arg(why));
                return;
            }
            overrideDataset();
            dock->setOutputPath(parser.value(compressOutputOption));
            QObject::connect(dock, &wh::widgets::AlgorithmDock::runFinished, &app,
                             [&, dock](bool ok, const QString& message) {
                                 if (!ok) {
                                     finish(1, QStringLiteral("--compress: %1").arg(message));
                                     return;
                                 }
                                 if (parser.isSet(applyOption)) {
                                     QString why;
                                     if (!dock->applyResult(&why)) {
                                         finish(1, QStringLiteral("--apply: %1").arg(why));
                                         return;
                                     }
                                 }
                                 dock->show();
                                 dock->raise();
                                 settleThenGrab();
                             });
            window.findChild<QAction*>(QStringLiteral("RunAlgorithmAction"))->trigger();
            return;
        }
        if (parser.isSet(sensitivityOption)) {
            if (profiling) return;  // a relayout's second viewReady
            profiling = true;
            QString why;
            if (!window.algorithmDock()->loadRecipeFrom(parser.value(sensitivityOption), &why)) {
                finish(1, QStringLiteral("--sensitivity: %1").arg(why));
                return;
            }
            overrideDataset();
            wh::widgets::SensitivityDock* dock = window.sensitivityDock();
            QObject::connect(dock, &wh::widgets::SensitivityDock::measured, &app,
                             [&, dock](bool ok, const QString& message) {
                                 if (!ok) {
                                     finish(1, QStringLiteral("--sensitivity: %1").arg(message));
                                     return;
                                 }
                                 dock->show();
                                 dock->raise();
                                 raiseDock();
                                 if (!applyColorBy()) return;
                                 grabThen(0, {});
                             });
            window.findChild<QAction*>(QStringLiteral("LayerSensitivityAction"))->trigger();
            return;
        }
        if (parser.isSet(profileOption)) {
            if (profiling) return;  // a relayout's second viewReady
            profiling = true;
            wh::widgets::ProfilerDock* profiler = window.profilerDock();
            QObject::connect(profiler, &wh::widgets::ProfilerDock::profileFinished, &app,
                             [&, profiler](bool ok, const QString& message) {
                                 if (!ok) {
                                     finish(1, QStringLiteral("--profile: %1").arg(message));
                                     return;
                                 }
                                 profiler->show();
                                 profiler->raise();
                                 raiseDock();
                                 if (!applyColorBy()) return;
                                 grabThen(0, {});
                             });
            window.findChild<QAction*>(QStringLiteral("ProfileModelAction"))->trigger();
            return;
        }
        raiseDock();
        if (!applyColorBy()) return;
        grabThen(0, {});
    });
    QTimer::singleShot(10 * 60 * 1000, &app, [&] {
        finish(1, QStringLiteral("timed out waiting for %1 to load and lay out").arg(modelPath));
    });
    window.openFile(modelPath);
    app.exec();
    if (exitCode != 0) return fail(error);
    return 0;
}
