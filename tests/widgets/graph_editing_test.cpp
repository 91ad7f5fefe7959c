// Graph editing in the studio (issue 15): the operator palette adds nodes, ports are dragged to
// connect, rewire and disconnect, each one undo step recorded as a named edit; a connection of
// the wrong element type is refused with a message.
//
// With WHITTLE_SCREENSHOT_DIR set, the tests also save what they show there (palette.png,
// connect_drag.png, ...), for looking at.

#include <QAction>
#include <QFile>
#include <QApplication>
#include <QDir>
#include <QLineEdit>
#include <QMenu>
#include <QSignalSpy>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBrowser>
#include <QUndoStack>

#include "core/onnx/model_io.h"
#include "tests/widgets/widgets_test.h"
#include "widgets/document.h"
#include "widgets/graph_view.h"
#include "widgets/issues_dock.h"
#include "widgets/main_window.h"
#include "widgets/op_palette.h"
#include "widgets/selection_model.h"
#include "widgets/shape_table.h"

namespace wh::widgets::test {

namespace {

constexpr int kTimeoutMs = 60'000;
const QString kLenet = QStringLiteral(WHITTLE_SOURCE_DIR "/resources/samples/lenet5.onnx");

std::string serialized(const ir::Model& model) {
    Expected<std::string> bytes = onnx::serializeModel(model);
    return bytes ? *bytes : "error: " + bytes.error().message();
}

QAction* action(const MainWindow& w, const QString& text) {
    for (QAction* a : w.findChildren<QAction*>())
        if (a->text().remove(QLatin1Char('&')).startsWith(text)) return a;
    return nullptr;
}

// Saves `widget`'s picture as `name` in $WHITTLE_SCREENSHOT_DIR, when set.
void shot(QWidget* widget, const char* name) {
    const QByteArray dir = qgetenv("WHITTLE_SCREENSHOT_DIR");
    if (dir.isEmpty()) return;
    QDir().mkpath(QString::fromLocal8Bit(dir));
    widget->grab().save(QString::fromLocal8Bit(dir) + QLatin1Char('/') + QLatin1String(name));
}

}  // namespace

class GraphEditingTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<MainWindow> m_w;

    void open(const QString& path) {
        m_w = std::make_unique<MainWindow>(MainWindow::SettingsMode::kIgnore);
        m_w->resize(1500, 950);
        m_w->show();
        QSignalSpy ready(m_w.get(), &MainWindow::viewReady);
        m_w->openFile(path);
        QVERIFY(ready.wait(kTimeoutMs));
    }
    void waitForView() {
        QSignalSpy ready(m_w.get(), &MainWindow::viewReady);
        QVERIFY(ready.wait(kTimeoutMs));
    }
    ir::NodeId idOf(const std::string& name) const { return idIn(m_w->document()->graph(), name); }
    const ir::Node* node(const std::string& name) const {
        return m_w->document()->node(idOf(name));
    }

    // Presses on `from`, moves to `to` and releases there, as a mouse drag on the view; `midway`
    // runs while the button is held over `to`.
    void drag(const QPoint& from, const QPoint& to, const std::function<void()>& midway = {}) {
        QWidget* vp = m_w->graphView()->viewport();
        QTest::mousePress(vp, Qt::LeftButton, Qt::NoModifier, from);
        QTest::mouseMove(vp, (from + to) / 2);
        QTest::mouseMove(vp, to);
        if (midway) midway();
        QTest::mouseRelease(vp, Qt::LeftButton, Qt::NoModifier, to);
    }
    QPoint port(const std::string& nodeName, bool output, int index) {
        auto p = m_w->graphView()->portViewportPos({idOf(nodeName), output, index});
        return p.value_or(QPoint(-1, -1));
    }

    // The studio's edit script replayed by `whittle-cli edit` on `source` writes the bytes of
    // the studio's save `gui`.
    bool replayGivesTheSameFile(const QString& source, const QString& gui,
                                const QTemporaryDir& dir) {
        const QString script = dir.filePath(QStringLiteral("edits.json"));
        const QString cli = dir.filePath(QStringLiteral("cli.onnx"));
        if (!m_w->saveEditScriptTo(script)) return false;
        const QString cmd = QStringLiteral("%1 edit %2 --script %3 -o %4 >/dev/null 2>&1")
                                .arg(QStringLiteral(WHITTLE_CLI), source, script, cli);
        if (std::system(cmd.toUtf8().constData()) != 0) return false;
        QFile a(gui), b(cli);
        return a.open(QIODevice::ReadOnly) && b.open(QIODevice::ReadOnly) &&
               a.readAll() == b.readAll();
    }

private slots:
    void cleanup() { m_w.reset(); }

    /// The palette lists the opset's operators by category, searches, shows the schema; Enter
    /// adds the match after the selected node; without a selection the node is unconnected and
    /// its required attributes are set. Each add is one undo step and a named edit.
    void paletteAddsOperators() {
        open(kLenet);
        Document* doc = m_w->document();
        const std::string original = serialized(doc->model());
        OpPalette* palette = m_w->operatorPalette();
        QVERIFY(!palette->isVisible());
        QAction* add = action(*m_w, QStringLiteral("Add Operator"));
        QVERIFY(add && add->isEnabled());
        QCOMPARE(add->shortcut(), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_A));
        add->trigger();
        QVERIFY(palette->isVisible());
        QCOMPARE(palette->opset(), int64_t{13});
        QVERIFY(palette->visibleCount() > 150);

        const ir::NodeId relu1 = idOf("relu1");
        m_w->graphView()->selectNode(relu1);
        QTest::keyClicks(palette->searchBox(), QStringLiteral("sigm"));
        QCOMPARE(palette->currentOperator(), QStringLiteral("Sigmoid"));
        QVERIFY(palette->visibleCount() >= 2);  // Sigmoid, HardSigmoid
        QVERIFY(palette->details()->toPlainText().contains(QStringLiteral("Inputs")));
        QVERIFY(palette->details()->toPlainText().contains(QStringLiteral("float")));
        shot(m_w.get(), "palette.png");
        QTest::keyClick(palette->searchBox(), Qt::Key_Return);

        QCOMPARE(doc->graph().numNodes(), std::size_t{13});
        const ir::Node* sigmoid = doc->node(doc->selection()->current().value_or(0));
        QVERIFY(sigmoid && sigmoid->opType == "Sigmoid");
        QCOMPARE(sigmoid->input(0)->name(), std::string("r1"));
        // relu1's reader (pool1) now reads the Sigmoid.
        QCOMPARE(node("pool1")->input(0), sigmoid->output(0));
        QCOMPARE(doc->undoStack()->count(), 1);
        waitForView();

        // Nothing selected: an unconnected Concat with its required axis.
        doc->selection()->clear();
        palette->searchBox()->clear();
        QTest::keyClicks(palette->searchBox(), QStringLiteral("concat"));
        QCOMPARE(palette->currentOperator(), QStringLiteral("Concat"));
        QTest::keyClick(palette->searchBox(), Qt::Key_Return);
        const ir::Node* concat = doc->node(doc->selection()->current().value_or(0));
        QVERIFY(concat && concat->opType == "Concat");
        QCOMPARE(concat->numInputs(), 1);  // its formal input, omitted: a port to connect
        QVERIFY(!concat->input(0));
        QVERIFY(concat->output(0));
        QVERIFY(concat->attribute("axis"));
        QCOMPARE(doc->undoStack()->count(), 2);
        waitForView();

        const auto script = doc->editScript();
        QVERIFY(script);
        QCOMPARE((*script)["edits"].size(), std::size_t{2});
        QVERIFY((*script)["edits"][0]["op"] == "add_node");
        QVERIFY((*script)["edits"][1]["op"] == "add_node");

        doc->undoStack()->undo();
        doc->undoStack()->undo();
        QCOMPARE(serialized(doc->model()), original);
        doc->undoStack()->redo();
        QCOMPARE(doc->graph().numNodes(), std::size_t{13});
    }

    /// Ports: dragging a wire's end off an input disconnects it; dragging from an output port
    /// to an input port connects; moving a wire's end to another input rewires. One undo step
    /// each, all recorded in the edit script.
    void portsConnectRewireAndDisconnect() {
        open(kLenet);
        Document* doc = m_w->document();
        GraphView* view = m_w->graphView();
        const std::string original = serialized(doc->model());
        view->selectNode(idOf("relu1"));
        view->setZoom(1.4);
        view->selectNode(idOf("relu1"));  // centred at that zoom
        QApplication::processEvents();
        QVERIFY(view->portsVisible());

        // relu1's input 0 reads c1: take the wire's end off it and drop it on nothing.
        const QPoint reluIn = port("relu1", false, 0);
        QCOMPARE(view->portAt(reluIn)->node, idOf("relu1"));
        QVERIFY(!view->portAt(reluIn)->output);
        drag(reluIn, reluIn + QPoint(160, 10));
        QVERIFY(!node("relu1")->input(0));
        QCOMPARE(doc->undoStack()->count(), 1);
        waitForView();

        // From conv1's output port to relu1's free input: connected again.
        const QPoint convOut = port("conv1", true, 0);
        const QPoint freeIn = port("relu1", false, 0);
        QVERIFY(view->portAt(convOut) && view->portAt(convOut)->output);
        drag(convOut, freeIn, [&] {
            QVERIFY(view->isDraggingConnection());
            shot(m_w.get(), "connect_drag.png");
        });
        QVERIFY(!view->isDraggingConnection());
        QVERIFY(node("relu1")->input(0));
        QCOMPARE(node("relu1")->input(0)->name(), std::string("c1"));
        QCOMPARE(doc->undoStack()->count(), 2);
        QCOMPARE(serialized(doc->model()), original);  // the same wiring as before
        waitForView();

        // Escape while dragging: nothing happens.
        {
            QWidget* vp = view->viewport();
            const QPoint from = port("conv1", true, 0);
            QTest::mousePress(vp, Qt::LeftButton, Qt::NoModifier, from);
            QTest::mouseMove(vp, from + QPoint(40, 40));
            QVERIFY(view->isDraggingConnection());
            QTest::keyClick(view, Qt::Key_Escape);
            QVERIFY(!view->isDraggingConnection());
            QTest::mouseRelease(vp, Qt::LeftButton, Qt::NoModifier, from + QPoint(40, 40));
            QCOMPARE(doc->undoStack()->count(), 2);
        }

        const auto script = doc->editScript();
        QVERIFY(script);
        QVERIFY((*script)["edits"][0]["op"] == "set_input");
        QVERIFY((*script)["edits"][1]["op"] == "set_input");

        doc->undoStack()->undo();
        QVERIFY(!node("relu1")->input(0));
        doc->undoStack()->undo();
        QCOMPARE(serialized(doc->model()), original);
    }

    /// A connection whose element type the operator does not take is refused, saying why; a
    /// wire's end moved from one input to another is one undo step.
    void wrongTypesAreRefusedAndRewiringIsOneStep() {
        open(kLenet);
        Document* doc = m_w->document();
        // An unconnected Shape, then fed relu1's output (float: allowed): it computes int64.
        doc->selection()->clear();
        QVERIFY(m_w->addOperator(QStringLiteral("Shape")));
        const ir::NodeId shapeId = doc->selection()->current().value_or(0);
        const ir::Node* shape = doc->node(shapeId);
        QVERIFY(shape && shape->opType == "Shape");
        QCOMPARE(m_w->connectionProblem(shapeId, 0, QStringLiteral("r1")), QString());
        QVERIFY(m_w->connectInput(shapeId, 0, QStringLiteral("r1")));
        const QString shapeOut = QString::fromStdString(shape->output(0)->name());
        QTRY_VERIFY_WITH_TIMEOUT(
            m_w->shapeTable() && m_w->shapeTable()->find(shapeOut.toStdString()), kTimeoutMs);
        const int steps = doc->undoStack()->count();

        const QString why = m_w->connectionProblem(idOf("relu2"), 0, shapeOut);
        QVERIFY2(why.contains(QStringLiteral("int64")) && why.contains(QStringLiteral("float")),
                 qPrintable(why));
        QVERIFY(!m_w->connectInput(idOf("relu2"), 0, shapeOut));
        QCOMPARE(doc->undoStack()->count(), steps);
        QVERIFY(m_w->statusBar()->currentMessage().contains(QStringLiteral("int64")));
        QVERIFY(m_w->issuesDock()->count() >= 1);

        // Another shape is allowed with a warning (ONNX allows it; the operator may take it).
        QCOMPARE(m_w->shapeChange(idOf("relu2"), 0, QStringLiteral("c2")), QString());
        const QString other = m_w->shapeChange(idOf("relu2"), 0, QStringLiteral("p1"));
        QVERIFY2(other.contains(QStringLiteral("float[batch,6,14,14] where")) &&
                     other.contains(QStringLiteral("read float[batch,16,10,10] ('c2')")),
                 qPrintable(other));

        // A float tensor is fine: move c2 from relu2 to relu3 (one step), then undo.
        const std::string before = serialized(doc->model());
        QVERIFY(m_w->rewireInput(idOf("relu2"), 0, idOf("relu3"), 0, QStringLiteral("c2")));
        QVERIFY2(m_w->statusBar()->currentMessage().startsWith(
                     QStringLiteral("Moved, with another shape: 'c2' is float[batch,16,10,10] where "
                                    "input 0 of Relu 'relu3' read float[batch,120]")),
                 qPrintable(m_w->statusBar()->currentMessage()));
        shot(m_w.get(), "shape_warning.png");
        QVERIFY(!node("relu2")->input(0));
        QCOMPARE(node("relu3")->input(0)->name(), std::string("c2"));
        QCOMPARE(doc->undoStack()->count(), steps + 1);
        doc->undoStack()->undo();
        QCOMPARE(serialized(doc->model()), before);
    }

    /// Shapes: a graph input's dims set from its box's menu are inferred again at once, and the
    /// dimension conflict that follows (LeNet at 32×32: fc1 takes 400 features, gets 576) is
    /// shown on the node where it appears: a "!" badge and an Issues entry that jumps there.
    /// Set Batch Size and Add Model Input (and Remove) are one undo step each.
    void shapeEditsShowConflictsOnTheNode() {
        open(kLenet);
        Document* doc = m_w->document();
        GraphView* view = m_w->graphView();
        const std::string original = serialized(doc->model());
        QStringList answers;
        m_w->setTextPrompt([&](const QString&, const QString&, const QString&) {
            return answers.isEmpty() ? std::optional<QString>() : answers.takeFirst();
        });
        auto dims = [&](const char* input) {
            return QString::fromStdString(doc->graph().findValue(input)->type.shape->toString());
        };

        answers << QStringLiteral("batch, 1, 32, 32");
        std::unique_ptr<QMenu> menu(view->createTensorMenu({"input"}));
        QAction* setShape = menu->findChild<QAction*>(QStringLiteral("setInputShape"));
        QVERIFY(setShape);
        QVERIFY(!menu->findChild<QAction*>(QStringLiteral("removeInput")));  // it is read
        setShape->trigger();
        QCOMPARE(dims("input"), QStringLiteral("[batch,1,32,32]"));
        QCOMPARE(doc->undoStack()->count(), 1);
        const ir::NodeId fc1 = idOf("fc1");
        QTRY_VERIFY_WITH_TIMEOUT(!view->problemOf(fc1).isEmpty(), kTimeoutMs);
        QVERIFY2(view->problemOf(fc1).contains(QStringLiteral("576")) ||
                     view->problemOf(fc1).contains(QStringLiteral("400")),
                 qPrintable(view->problemOf(fc1)));
        IssuesDock* issues = m_w->issuesDock();
        int finding = -1;
        for (int i = 0; i < issues->count(); ++i)
            if (issues->nodeOf(i) == fc1) finding = i;
        QVERIFY(finding >= 0);
        QCOMPARE(issues->severity(finding), IssuesDock::Severity::kWarning);
        QVERIFY(issues->message(finding).contains(QStringLiteral("do not multiply")));
        QVERIFY(view->problemOf(idOf("conv1")).isEmpty());  // only where it appears
        issues->activate(finding);
        QCOMPARE(doc->selection()->current().value_or(0), fc1);
        view->setZoom(1.3);
        view->selectNode(fc1);
        QApplication::processEvents();
        shot(m_w.get(), "dimension_conflict.png");

        doc->undoStack()->undo();
        QCOMPARE(serialized(doc->model()), original);
        QTRY_VERIFY_WITH_TIMEOUT(view->problemOf(fc1).isEmpty(), kTimeoutMs);

        // Edit > Set Batch Size (Ctrl+Shift+B): dim 0 of every input.
        answers << QStringLiteral("4");
        QAction* batch = action(*m_w, QStringLiteral("Set Batch Size"));
        QVERIFY(batch && batch->isEnabled());
        batch->trigger();
        QCOMPARE(dims("input"), QStringLiteral("[4,1,28,28]"));
        doc->undoStack()->undo();

        // Add Model Input, then remove it from its box's menu (nothing reads it).
        answers << QStringLiteral("mask: int64[batch, 128]");
        action(*m_w, QStringLiteral("Add Model Input"))->trigger();
        const ir::Value* mask = doc->graph().findValue("mask");
        QVERIFY(mask && mask->isGraphInput());
        QCOMPARE(mask->type.elemType, ir::DType::kInt64);
        QCOMPARE(dims("mask"), QStringLiteral("[batch,128]"));
        menu.reset(view->createTensorMenu({"mask"}));
        QAction* remove = menu->findChild<QAction*>(QStringLiteral("removeInput"));
        QVERIFY(remove);
        remove->trigger();
        QVERIFY(!doc->graph().findValue("mask"));
        // A malformed answer changes nothing and says why.
        const int steps = doc->undoStack()->count();
        answers << QStringLiteral("oops");
        QVERIFY(!m_w->addModelInput());
        QCOMPARE(doc->undoStack()->count(), steps);

        const auto script = doc->editScript();
        QVERIFY(script);
        QVERIFY((*script)["edits"][0]["op"] == "add_input");
        QVERIFY((*script)["edits"][1]["op"] == "remove_input");
        doc->undoStack()->undo();
        doc->undoStack()->undo();
        QCOMPARE(serialized(doc->model()), original);
    }

    /// Every saved result passes onnx.checker with full_check (python3-onnx, the reference
    /// implementation): the model after palette, port and shape edits as the studio saves it,
    /// and an extracted selection. The edit script replayed by `whittle-cli edit` gives the
    /// same bytes. A model the checker refuses is written only when the user says so.
    void savedResultsPassTheOnnxChecker() {
        open(kLenet);
        Document* doc = m_w->document();
        QTemporaryDir dir;
        QStringList answers;
        m_w->setTextPrompt([&](const QString&, const QString&, const QString&) {
            return answers.isEmpty() ? std::optional<QString>() : answers.takeFirst();
        });
        auto checker = [](const QString& path) {
            const QString cmd = QStringLiteral(
                                    "/usr/bin/python3 -c \"import onnx, sys; "
                                    "onnx.checker.check_model(onnx.load(sys.argv[1]), "
                                    "full_check=True)\" '%1'")
                                    .arg(path);
            return std::system(cmd.toUtf8().constData()) == 0;
        };
        auto save = [&](const QString& path) {
            QSignalSpy saved(m_w.get(), &MainWindow::saveFinished);
            m_w->saveTo(path);
            return saved.wait(kTimeoutMs) && saved.at(0).at(0).toBool();
        };

        m_w->graphView()->selectNode(idOf("relu1"));
        QVERIFY(m_w->addOperator(QStringLiteral("Sigmoid")));
        answers << QStringLiteral("N");
        QVERIFY(m_w->setBatchSize());
        // A free Tanh fed r4 (set_input) and made a model output.
        doc->selection()->clear();
        QVERIFY(m_w->addOperator(QStringLiteral("Tanh")));
        const ir::NodeId tanh = doc->selection()->current().value_or(0);
        QVERIFY(m_w->connectInput(tanh, 0, QStringLiteral("r4")));
        const std::string tanhOut = doc->node(tanh)->output(0)->name();
        QTRY_VERIFY_WITH_TIMEOUT(m_w->shapeTable() && m_w->shapeTable()->find(tanhOut),
                                 kTimeoutMs);
        std::unique_ptr<QMenu> menu(m_w->graphView()->createTensorMenu({tanhOut}));
        QAction* makeOutput = menu->findChild<QAction*>(QStringLiteral("addOutput"));
        QVERIFY(makeOutput);
        makeOutput->trigger();  // declares the inferred type: an output needs one
        QVERIFY(doc->graph().findValue(tanhOut)->isGraphOutput());
        QCOMPARE(doc->graph().findValue(tanhOut)->type.elemType, ir::DType::kFloat);
        const QString gui = dir.filePath(QStringLiteral("edited.onnx"));
        QString asked;
        m_w->setSaveAnywayHandler([&](const QString& why) {
            asked = why;
            return false;
        });
        QVERIFY2(save(gui), qPrintable(asked));
        QVERIFY2(checker(gui), "onnx.checker refused the studio's save");
        QVERIFY(replayGivesTheSameFile(kLenet, gui, dir));

        // Extract conv2 → relu2 → pool2: one input (p1), one output (p2), 3 nodes.
        doc->selection()->clear();
        for (const char* n : {"conv2", "relu2", "pool2"}) doc->selection()->add({idOf(n)});
        // p1 has no declared type since Set Batch Size: the inferred one is written.
        QTRY_VERIFY_WITH_TIMEOUT(m_w->shapeTable() != nullptr, kTimeoutMs);
        const QString part = dir.filePath(QStringLiteral("part.onnx"));
        QAction* extract = action(*m_w, QStringLiteral("Extract Selection"));
        QVERIFY(extract && extract->isEnabled());
        QCOMPARE(extract->shortcut(), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_X));
        QVERIFY(m_w->extractSelectionTo(part));
        auto extracted = onnx::loadModel(part.toStdString());
        QVERIFY(extracted);
        QCOMPARE(extracted->graph->numNodes(), std::size_t{3});
        QCOMPARE(extracted->graph->inputs().size(), std::size_t{1});
        QCOMPARE(extracted->graph->inputs()[0]->name(), std::string("p1"));
        QCOMPARE(extracted->graph->outputs()[0]->name(), std::string("p2"));
        QVERIFY2(checker(part), "onnx.checker refused the extracted model");
        QVERIFY(!m_w->extractSelectionTo(kLenet));  // never over the opened file
        {
            MainWindow other(MainWindow::SettingsMode::kIgnore);
            other.resize(1500, 950);
            other.show();
            QSignalSpy ready(&other, &MainWindow::viewReady);
            other.openFile(part);
            QVERIFY(ready.wait(kTimeoutMs));
            other.graphView()->fitToView();
            QApplication::processEvents();
            shot(&other, "extraction.png");
        }

        // An Add with nothing connected: the checker refuses it. Cancel writes nothing; Save
        // Anyway writes it.
        doc->selection()->clear();
        QVERIFY(m_w->addOperator(QStringLiteral("Add")));
        const QString broken = dir.filePath(QStringLiteral("broken.onnx"));
        asked.clear();
        QVERIFY(!save(broken));
        QVERIFY(!asked.isEmpty());
        QVERIFY(!QFile::exists(broken));
        m_w->setSaveAnywayHandler([](const QString&) { return true; });
        QVERIFY(save(broken));
        QVERIFY(QFile::exists(broken));
        QVERIFY(!checker(broken));
    }

    /// Edit > Fold Constants computes the Identity of a weight away (one undo step, said in the
    /// status bar); the script replayed by whittle-cli gives the same file as the studio's save.
    void foldConstantsFromTheMenu() {
        open(QStringLiteral(WHITTLE_SOURCE_DIR "/tests/data/silero_like.onnx"));
        Document* doc = m_w->document();
        const std::size_t nodes = doc->graph().numNodes();
        QVERIFY(doc->graph().findValue("out.bias_id"));
        QAction* fold = action(*m_w, QStringLiteral("Fold Constants"));
        QVERIFY(fold && fold->isEnabled());
        fold->trigger();
        QCOMPARE(doc->graph().numNodes(), nodes - 1);
        QVERIFY(!doc->graph().findValue("out.bias_id"));
        QVERIFY(node("add_bias"));
        QCOMPARE(node("add_bias")->input(1)->name(), std::string("out.bias"));
        QVERIFY2(m_w->statusBar()->currentMessage().startsWith(
                     QStringLiteral("Folded 1 node into 0 initializers")),
                 qPrintable(m_w->statusBar()->currentMessage()));
        QCOMPARE(doc->undoStack()->undoText(), QStringLiteral("Fold constants"));
        shot(m_w.get(), "fold_constants.png");
        doc->undoStack()->undo();
        QCOMPARE(doc->graph().numNodes(), nodes);
        QCOMPARE(node("add_bias")->input(1)->name(), std::string("out.bias_id"));
        doc->undoStack()->redo();
        QCOMPARE(doc->graph().numNodes(), nodes - 1);

        QTemporaryDir dir;
        const QString gui = dir.filePath(QStringLiteral("folded.onnx"));
        QSignalSpy saved(m_w.get(), &MainWindow::saveFinished);
        m_w->saveTo(gui);
        QVERIFY(saved.wait(kTimeoutMs) && saved.at(0).at(0).toBool());
        QVERIFY(replayGivesTheSameFile(doc->sourcePath(), gui, dir));
    }

    /// File > Extract Between Tensors (Ctrl+Alt+X) offers the selection's boundary, and writes
    /// the part between the tensors given; a part that needs a model input not given is refused.
    void extractBetweenTensors() {
        open(kLenet);
        Document* doc = m_w->document();
        for (const char* n : {"conv2", "relu2"}) doc->selection()->add({idOf(n)});
        QStringList offered;
        m_w->setTextPrompt([&](const QString&, const QString&, const QString& initial) {
            offered << initial;
            return offered.size() == 1 ? std::optional<QString>(initial) : std::nullopt;
        });
        QAction* between = action(*m_w, QStringLiteral("Extract Between Tensors"));
        QVERIFY(between && between->isEnabled());
        QCOMPARE(between->shortcut(), QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_X));
        between->trigger();  // cancelled at the second question: nothing written
        QCOMPARE(offered, (QStringList{QStringLiteral("p1"), QStringLiteral("r2")}));

        QTemporaryDir dir;
        const QString part = dir.filePath(QStringLiteral("between.onnx"));
        QVERIFY(m_w->extractBetweenTo(part, {"p1"}, {"r3", "p2"}));
        auto extracted = onnx::loadModel(part.toStdString());
        QVERIFY(extracted);
        // conv2, relu2, pool2, flatten, fc1, relu3.
        QCOMPARE(extracted->graph->numNodes(), std::size_t{6});
        QCOMPARE(extracted->graph->outputs()[0]->name(), std::string("r3"));
        QCOMPARE(extracted->graph->outputs()[1]->name(), std::string("p2"));
        QVERIFY(extracted->graph->outputs()[0]->type.shape.has_value());  // typed from inference
        QVERIFY(!m_w->extractBetweenTo(dir.filePath(QStringLiteral("no.onnx")), {}, {"r3"}));
        QVERIFY(!QFile::exists(dir.filePath(QStringLiteral("no.onnx"))));
        QVERIFY(!m_w->extractBetweenTo(part, {"p1"}, {"nonesuch"}));
    }
};

std::unique_ptr<QObject> makeGraphEditingTest() {
    return std::make_unique<GraphEditingTest>();
}

}  // namespace wh::widgets::test

#include "graph_editing_test.moc"
