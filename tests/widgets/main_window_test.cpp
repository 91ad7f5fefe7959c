#include <QApplication>
#include <QDialog>
#include <QDockWidget>
#include <QFile>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMimeData>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeWidget>
#include <QUrl>

#include "core/onnx/model_io.h"
#include "core/rewrite/rewriter.h"
#include "tests/widgets/widgets_test.h"
#include "widgets/document.h"
#include "widgets/graph_view.h"
#include "widgets/help_dialogs.h"
#include "widgets/issues_dock.h"
#include "widgets/jobs_dock.h"
#include "widgets/main_window.h"
#include "widgets/node_inspector.h"

namespace wh::widgets::test {
namespace {

constexpr int kTimeoutMs = 60'000;

/// No dialog of any kind may be up: errors belong in the Issues dock.
bool noDialogShown() {
    if (QApplication::activeModalWidget()) return false;
    for (QWidget* w : QApplication::topLevelWidgets())
        if (qobject_cast<QDialog*>(w) && w->isVisible()) return false;
    return true;
}

class MainWindowTest : public QObject {
    Q_OBJECT

private:
    using Mode = MainWindow::SettingsMode;

    static ir::NodeId nodeNamed(const MainWindow& w, const std::string& name) {
        for (const ir::Node* n : w.model()->graph->nodes())
            if (n->name == name) return n->id();
        return 0;
    }

private slots:
    void hasEveryDock() {
        MainWindow w(Mode::kIgnore);
        for (const char* name : {"NodeInspectorDock", "AlgorithmDock", "ProfilerDock",
                                 "SummaryDock", "VisualizationDock", "JobsDock", "IssuesDock"})
            QVERIFY2(w.findChild<QDockWidget*>(QLatin1String(name)), name);
        // Every dock is a working one now (Studio II): none is an empty placeholder.
        for (auto* dock : w.findChildren<QDockWidget*>())
            QVERIFY2(!dock->findChild<QLabel*>(QStringLiteral("placeholder")),
                     qPrintable(dock->objectName()));
        QCOMPARE(w.windowTitle(), QStringLiteral("Whittle"));
    }

    void helpMenuListsShortcutsAndVersions() {
        MainWindow w(Mode::kIgnore);
        w.show();
        QMenu* help = nullptr;
        for (QAction* a : w.menuBar()->actions())
            if (a->menu() && a->text().remove(QLatin1Char('&')) == QStringLiteral("Help"))
                help = a->menu();
        QVERIFY(help);
        auto* shortcuts = w.findChild<QAction*>(QStringLiteral("KeyboardShortcutsAction"));
        auto* about = w.findChild<QAction*>(QStringLiteral("AboutAction"));
        QVERIFY(shortcuts && help->actions().contains(shortcuts));
        QVERIFY(about && help->actions().contains(about));

        shortcuts->trigger();
        auto* list = w.findChild<QTreeWidget*>(QStringLiteral("ShortcutsList"));
        QVERIFY(list);
        QCOMPARE(list->topLevelItemCount(), static_cast<int>(keyboardShortcuts().size()));
        QStringList keys;
        for (int i = 0; i < list->topLevelItemCount(); ++i)
            keys << list->topLevelItem(i)->text(0) + QLatin1Char(' ') +
                        list->topLevelItem(i)->text(1);
        const QString all = keys.join(QLatin1Char('\n'));
        for (const char* expected : {"Ctrl+O", "F2", "Ctrl+Z", "middle-drag", "rubber-band",
                                     "Ctrl+A", "right-click empty space"})
            QVERIFY2(all.contains(QLatin1String(expected)), expected);
        QVERIFY(!QApplication::activeModalWidget());  // modeless: the studio stays usable

        about->trigger();
        auto* text = w.findChild<QLabel*>(QStringLiteral("AboutText"));
        QVERIFY(text);
        for (const QString& part : {applicationVersion(), QString::fromLatin1(qVersion()),
                                    QStringLiteral("oneDNN 2."), QStringLiteral("ONNX 1.")})
            QVERIFY2(text->text().contains(part),
                     qPrintable(part + QStringLiteral(" in ") + text->text()));
        QVERIFY(!QApplication::activeModalWidget());
        for (QDialog* d : w.findChildren<QDialog*>()) d->close();
    }

    /// The studio binary: --help needs no display; bad --select / --dock are usage errors.
    void guiBinaryExitCodes() {
        struct Run {
            int code;
            QString out, err;
        };
        auto run = [](const QStringList& args, bool display) {
            QProcess p;
            QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
            if (display) {
                env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
            } else {
                for (const char* name : {"QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"})
                    env.remove(QLatin1String(name));
            }
            p.setProcessEnvironment(env);
            p.start(QStringLiteral(WHITTLE_GUI), args);
            if (!p.waitForFinished(kTimeoutMs)) p.kill();
            const bool crashed = p.exitStatus() != QProcess::NormalExit;
            return Run{crashed ? -1 : p.exitCode(),
                       QString::fromLocal8Bit(p.readAllStandardOutput()),
                       QString::fromLocal8Bit(p.readAllStandardError())};
        };
        Run help = run({QStringLiteral("--help")}, false);
        QVERIFY2(help.code == 0, qPrintable(help.err));
        QVERIFY2(help.out.contains(QStringLiteral("--screenshot")), qPrintable(help.out));
        Run version = run({QStringLiteral("--version")}, false);
        QCOMPARE(version.code, 0);
        QVERIFY2(version.out.contains(applicationVersion()) &&
                     version.out.contains(QStringLiteral("oneDNN")),
                 qPrintable(version.out));

        QTemporaryDir dir;
        const QString model = QStringLiteral(WHITTLE_SOURCE_DIR "/resources/samples/lenet5.onnx");
        const QString png = dir.filePath(QStringLiteral("shot.png"));
        const QStringList shot = {QStringLiteral("--screenshot"), png, QStringLiteral("--size"),
                                  QStringLiteral("640x480")};
        Run select = run(
            shot + QStringList{QStringLiteral("--select"), QStringLiteral("does_not_exist"), model},
            true);
        QCOMPARE(select.code, 1);
        QVERIFY2(select.err.contains(QStringLiteral("'does_not_exist'")), qPrintable(select.err));
        Run dock =
            run(shot + QStringList{QStringLiteral("--dock"), QStringLiteral("bogus"), model}, true);
        QCOMPARE(dock.code, 1);
        QVERIFY2(dock.err.contains(QStringLiteral("'bogus'")), qPrintable(dock.err));
        Run find = run(
            shot + QStringList{QStringLiteral("--find"), QStringLiteral("no-such-thing"), model},
            true);
        QCOMPARE(find.code, 1);
        QVERIFY2(find.err.contains(QStringLiteral("'no-such-thing'")), qPrintable(find.err));
        Run zoom =
            run(shot + QStringList{QStringLiteral("--zoom"), QStringLiteral("huge"), model}, true);
        QCOMPARE(zoom.code, 1);
        QVERIFY2(zoom.err.contains(QStringLiteral("'huge'")), qPrintable(zoom.err));
        Run expand =
            run(shot + QStringList{QStringLiteral("--expand"), QStringLiteral("If"), model}, true);
        QCOMPARE(expand.code, 1);  // LeNet holds no If
        QVERIFY2(expand.err.contains(QStringLiteral("--expand")), qPrintable(expand.err));
        QVERIFY(!QFileInfo::exists(png));
        const QString silero = QStringLiteral(WHITTLE_SOURCE_DIR "/tests/data/silero_like.onnx");
        Run inner = run(shot + QStringList{QStringLiteral("--expand"), QStringLiteral("If"),
                                           QStringLiteral("--zoom"), QStringLiteral("width"),
                                           QStringLiteral("--select"), QStringLiteral("a8_lstm"),
                                           silero},
                        true);
        QVERIFY2(inner.code == 0, qPrintable(inner.err));  // a node two bodies deep
        QVERIFY(QFileInfo(png).size() > 0);
        QFile::remove(png);
        Run good =
            run(shot + QStringList{QStringLiteral("--select"), QStringLiteral("conv2"),
                                   QStringLiteral("--dock"), QStringLiteral("inspector"), model},
                true);
        QVERIFY2(good.code == 0, qPrintable(good.err));
        QVERIFY(QFileInfo(png).size() > 0);
    }

    void dockLayoutRoundTrips() {
        QByteArray state;
        {
            MainWindow w(Mode::kIgnore);
            w.findChild<QDockWidget*>(QStringLiteral("ProfilerDock"))->hide();
            state = w.saveState(1);
        }
        MainWindow w(Mode::kIgnore);
        QVERIFY(w.restoreState(state, 1));
        QVERIFY(w.findChild<QDockWidget*>(QStringLiteral("ProfilerDock"))->isHidden());
    }

    void setModelShowsTheGraph() {
        MainWindow w(Mode::kIgnore);
        QSignalSpy ready(&w, &MainWindow::viewReady);
        w.setModel(makeSmallModel(), QStringLiteral("/tmp/small.onnx"));
        QVERIFY(ready.wait(kTimeoutMs));
        QCOMPARE(static_cast<int>(w.graphView()->nodeItemCount()), 7);
        QVERIFY(w.windowTitle().startsWith(QStringLiteral("small.onnx")));
        QVERIFY(!w.isBusy());
        // With nothing selected the inspector describes the model.
        QCOMPARE(w.nodeInspector()->valueOf(QStringLiteral("Model"), QStringLiteral("Nodes")),
                 QStringLiteral("7"));
        QVERIFY(w.nodeInspector()
                    ->valueOf(QStringLiteral("Inputs"), QStringLiteral("x"))
                    .startsWith(QStringLiteral("float[1,3,32,32]")));
    }

    void replacedWeightsKeepTheLayoutEditsRelayOut() {
        MainWindow w(Mode::kIgnore);
        QSignalSpy ready(&w, &MainWindow::viewReady);
        w.setModel(makeSmallModel());
        QVERIFY(ready.wait(kTimeoutMs));
        const ir::Graph* shown = w.graphView()->graph();
        QVERIFY(shown);
        Document* doc = w.document();
        // Only an initializer's data changes (as after a training write-back): no new layout.
        QSignalSpy documentChanged(&w, &MainWindow::documentChanged);
        QVERIFY(doc->edit("Halve W",
                          [](rewrite::Rewriter& r) {
                              ir::Value* v = r.graph().findValue("W");
                              ir::Tensor t = *v->initializer();
                              for (float& x : t.mutableValues<float>()) x *= 0.5f;
                              return r.replaceInitializer(*v, std::move(t));
                          })
                    .isOk());
        QCOMPARE(documentChanged.count(), 1);
        QVERIFY(!w.isBusy());
        QVERIFY(!ready.wait(300));
        QCOMPARE(w.graphView()->graph(), shown);
        // A structural edit is laid out again.
        QVERIFY(doc->insertIdentityAfter(nodeNamed(w, "relu1")).has_value());
        QVERIFY(ready.wait(kTimeoutMs));
        QVERIFY(w.graphView()->graph() != shown);
        QCOMPARE(static_cast<int>(w.graphView()->nodeItemCount()), 8);
    }

    void selectingANodeFillsTheInspector() {
        MainWindow w(Mode::kIgnore);
        QSignalSpy ready(&w, &MainWindow::viewReady);
        w.setModel(makeSmallModel());
        QVERIFY(ready.wait(kTimeoutMs));

        w.graphView()->selectNode(nodeNamed(w, "conv1"));
        NodeInspector* inspector = w.nodeInspector();
        QCOMPARE(inspector->shownNode().value_or(0), nodeNamed(w, "conv1"));
        auto value = [&](const char* section, const char* property) {
            return inspector->valueOf(QLatin1String(section), QLatin1String(property));
        };
        QCOMPARE(value("Node", "Name"), QStringLiteral("conv1"));
        QCOMPARE(value("Node", "Op type"), QStringLiteral("Conv"));
        QCOMPARE(value("Node", "Domain"), QStringLiteral("ai.onnx"));
        QCOMPARE(value("Attributes", "kernel_shape"),
                 QString::fromStdString(ir::Attribute::makeInts("k", {3, 3}).valueString()));
        QCOMPARE(value("Attributes", "pads"),
                 QString::fromStdString(ir::Attribute::makeInts("p", {1, 1, 1, 1}).valueString()));
        QVERIFY2(value("Inputs", "x").startsWith(QStringLiteral("float[1,3,32,32]")),
                 qPrintable(value("Inputs", "x")));
        QVERIFY2(value("Inputs", "W").contains(QStringLiteral("216 elements")),
                 qPrintable(value("Inputs", "W")));
        QVERIFY2(value("Inputs", "W").startsWith(QStringLiteral("float[8,3,3,3]")),
                 qPrintable(value("Inputs", "W")));
        QVERIFY2(value("Outputs", "c1").startsWith(QStringLiteral("float[1,8,32,32]")),
                 qPrintable(value("Outputs", "c1")));

        // An omitted optional input is listed as such.
        w.graphView()->selectNode(nodeNamed(w, "conv2"));
        QCOMPARE(value("Inputs", "#2"), QStringLiteral("(omitted)"));

        // Clearing the selection shows the model again.
        w.graphView()->scene()->clearSelection();
        QVERIFY(!inspector->shownNode());
        QCOMPARE(value("Model", "Nodes"), QStringLiteral("7"));
    }

    void loadFailureGoesToIssuesNotADialog() {
        MainWindow w(Mode::kIgnore);
        w.show();
        QSignalSpy ready(&w, &MainWindow::viewReady);
        w.setModel(makeSmallModel(), QStringLiteral("small.onnx"));
        QVERIFY(ready.wait(kTimeoutMs));

        QSignalSpy failed(&w, &MainWindow::loadFailed);
        const QString missing = QStringLiteral("/nonexistent/whittle/missing_model.onnx");
        w.openFile(missing);
        QVERIFY(failed.wait(kTimeoutMs));
        QVERIFY(noDialogShown());
        QCOMPARE(w.issuesDock()->count(), 1);
        QCOMPARE(w.issuesDock()->errorCount(), 1);
        QVERIFY2(w.issuesDock()->message(0).contains(QStringLiteral("missing_model.onnx")),
                 qPrintable(w.issuesDock()->message(0)));
        QVERIFY(w.issuesDock()->isVisible());
        // The open document survives a failed open.
        QVERIFY(w.model());
        QCOMPARE(static_cast<int>(w.graphView()->nodeItemCount()), 7);
        QVERIFY(w.windowTitle().startsWith(QStringLiteral("small.onnx")));
        QVERIFY(w.jobsDock()->text(w.jobsDock()->count() - 1).contains(QStringLiteral("failed")));
    }

    void garbageFileIsAnIssue() {
        QTemporaryDir dir;
        QString path = dir.filePath(QStringLiteral("garbage.onnx"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("this is not a protobuf \xff\xff\xff\xff");
        f.close();
        MainWindow w(Mode::kIgnore);
        QSignalSpy failed(&w, &MainWindow::loadFailed);
        w.openFile(path);
        QVERIFY(failed.wait(kTimeoutMs));
        QCOMPARE(w.issuesDock()->errorCount(), 1);
        QVERIFY(!w.model());
        QVERIFY(noDialogShown());
    }

    void opensARealModel() {
        QString path = testdataModel("pytorch-converted/test_Conv2d/model.onnx");
        if (path.isEmpty()) QSKIP("libonnx-testdata is not installed");
        MainWindow w(Mode::kIgnore);
        QSignalSpy loaded(&w, &MainWindow::modelLoaded);
        QSignalSpy ready(&w, &MainWindow::viewReady);
        w.openFile(path);
        QVERIFY(ready.wait(kTimeoutMs));
        QCOMPARE(loaded.count(), 1);
        QVERIFY(w.model());
        QVERIFY(w.model()->graph->numNodes() > 0);
        QCOMPARE(w.graphView()->nodeItemCount(), w.model()->graph->numNodes());
        QCOMPARE(w.filePath(), path);
        QVERIFY(w.windowTitle().startsWith(QStringLiteral("model.onnx")));
        QCOMPARE(w.recentFiles().value(0), QFileInfo(path).absoluteFilePath());
        QCOMPARE(w.issuesDock()->count(), 0);
    }

    void saveAsWritesAModelThatOpens() {
        QTemporaryDir dir;
        MainWindow w(Mode::kIgnore);
        QSignalSpy ready(&w, &MainWindow::viewReady);
        w.setModel(makeSmallModel());
        QVERIFY(ready.wait(kTimeoutMs));
        QSignalSpy saved(&w, &MainWindow::saveFinished);
        const QString path = dir.filePath(QStringLiteral("copy.onnx"));
        w.saveTo(path);
        QVERIFY(saved.wait(kTimeoutMs));
        QVERIFY2(saved.at(0).at(0).toBool(), qPrintable(saved.at(0).at(1).toString()));
        QCOMPARE(w.filePath(), path);
        QVERIFY(w.windowTitle().startsWith(QStringLiteral("copy.onnx")));

        MainWindow other(Mode::kIgnore);
        QSignalSpy otherReady(&other, &MainWindow::viewReady);
        other.openFile(path);
        QVERIFY(otherReady.wait(kTimeoutMs));
        QCOMPARE(static_cast<int>(other.graphView()->nodeItemCount()), 7);
    }

    void droppingAFileOpensIt() {
        MainWindow w(Mode::kIgnore);
        QSignalSpy failed(&w, &MainWindow::loadFailed);
        QMimeData mime;
        const QString path = QStringLiteral("/nonexistent/whittle/dropped.onnx");
        mime.setUrls({QUrl::fromLocalFile(path)});
        QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton,
                              Qt::NoModifier);
        QApplication::sendEvent(&w, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&w, &drop);
        QVERIFY(failed.wait(kTimeoutMs));  // it tried to open exactly that file
        QVERIFY(w.issuesDock()->message(0).contains(QStringLiteral("dropped.onnx")));

        QMimeData text;
        text.setUrls({QUrl::fromLocalFile(QStringLiteral("/tmp/notes.txt"))});
        QDragEnterEvent other(QPoint(10, 10), Qt::CopyAction, &text, Qt::LeftButton,
                              Qt::NoModifier);
        other.setAccepted(false);
        QApplication::sendEvent(&w, &other);
        QVERIFY(!other.isAccepted());
    }

    void laterOpenSupersedesEarlier() {
        QString path = testdataModel("pytorch-converted/test_Conv2d/model.onnx");
        if (path.isEmpty()) QSKIP("libonnx-testdata is not installed");
        MainWindow w(Mode::kIgnore);
        QSignalSpy ready(&w, &MainWindow::viewReady);
        QSignalSpy failed(&w, &MainWindow::loadFailed);
        w.openFile(QStringLiteral("/nonexistent/first.onnx"));
        w.openFile(path);
        QVERIFY(ready.wait(kTimeoutMs));
        QCOMPARE(failed.count(), 0);  // the first open's failure was superseded, not reported
        QCOMPARE(w.filePath(), path);
    }
};

}  // namespace

std::unique_ptr<QObject> makeMainWindowTest() {
    return std::make_unique<MainWindowTest>();
}

}  // namespace wh::widgets::test

#include "main_window_test.moc"
