// Initializers in the Node Inspector (issue 15, item 5): a weight's menu views its values in a
// paged table, replaces them from a .npy file, sets them to a constant and changes their type
// where the readers allow, each one undo step recorded as a set_initializer edit; small constants
// show their values inline.
//
// With WHITTLE_SCREENSHOT_DIR set, the tests also save values_dialog.png, inspector_inline.png
// and initializer_menu.png there, for looking at.

#include <cmath>

#include <QAction>
#include <QApplication>
#include <QContextMenuEvent>
#include <QDir>
#include <QMenu>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QTreeWidget>
#include <QUndoStack>

#include "core/data/npy.h"
#include "core/engine/host_tensor.h"
#include "tests/widgets/widgets_test.h"
#include "widgets/document.h"
#include "widgets/graph_view.h"
#include "widgets/main_window.h"
#include "widgets/node_inspector.h"
#include "widgets/tensor_values_dialog.h"

namespace wh::widgets::test {

namespace {

constexpr int kTimeoutMs = 60'000;
const QString kLenet = QStringLiteral(WHITTLE_SOURCE_DIR "/resources/samples/lenet5.onnx");

// Saves `widget`'s picture as `name` in $WHITTLE_SCREENSHOT_DIR, when set.
void shot(QWidget* widget, const char* name) {
    const QByteArray dir = qgetenv("WHITTLE_SCREENSHOT_DIR");
    if (dir.isEmpty()) return;
    QDir().mkpath(QString::fromLocal8Bit(dir));
    widget->grab().save(QString::fromLocal8Bit(dir) + QLatin1Char('/') + QLatin1String(name));
}

QAction* actionNamed(QMenu* menu, const QString& name) {
    return menu ? menu->findChild<QAction*>(name) : nullptr;
}

// The names of the cast actions a menu offers ("castTo_float16", ...), sorted.
QStringList castActions(QMenu* menu) {
    QStringList names;
    for (QAction* a : menu->findChildren<QAction*>())
        if (a->objectName().startsWith(QLatin1String("castTo_"))) names << a->objectName();
    names.sort();
    return names;
}

using Values = std::vector<ir::Value*>;

ir::Value* addValue(ir::Graph& g, const std::string& name) {
    return *g.addValue(name);
}

}  // namespace

class InitializerEditTest : public QObject {
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
    const ir::Tensor* initializer(const std::string& name) const {
        const ir::Value* v = m_w->document()->graph().findValue(name);
        return v ? v->initializer() : nullptr;
    }
    // Selects `node` and returns the inspector showing it.
    NodeInspector* inspect(const std::string& node) {
        const ir::NodeId id = idIn(m_w->document()->graph(), node);
        m_w->graphView()->selectNode(id);
        NodeInspector* inspector = m_w->nodeInspector();
        [&] { QTRY_COMPARE_WITH_TIMEOUT(inspector->shownNode().value_or(0), id, 5000); }();
        return inspector;
    }
    // Triggers action `action` of the inspector's menu for `tensor`.
    void trigger(const QString& tensor, const QString& action) {
        std::unique_ptr<QMenu> menu(m_w->nodeInspector()->createInitializerMenu(tensor, nullptr));
        QVERIFY2(menu, qPrintable(tensor + QStringLiteral(" has no menu")));
        QAction* a = actionNamed(menu.get(), action);
        QVERIFY2(a && a->isEnabled(), qPrintable(action + QStringLiteral(" missing or disabled")));
        a->trigger();
    }

private slots:
    void cleanup() { m_w.reset(); }

    /// The menu of a float weight offers the values, .npy, a constant and the float types its
    /// reader (Conv: float16, float, double) accepts other than its own; none for names not shown.
    void menuOffersTheEdits() {
        open(kLenet);
        NodeInspector* inspector = inspect("conv1");
        QVERIFY(inspector->shownConstants().contains(QStringLiteral("conv1.weight")));
        QVERIFY(inspector->shownConstants().contains(QStringLiteral("conv1.bias")));
        std::unique_ptr<QMenu> menu(
            inspector->createInitializerMenu(QStringLiteral("conv1.bias"), nullptr));
        QVERIFY(menu);
        for (const char* name : {"viewValues", "replaceFromNpy", "setConstant"}) {
            QAction* a = actionNamed(menu.get(), QLatin1String(name));
            QVERIFY2(a && a->isEnabled(), name);
        }
        QCOMPARE(castActions(menu.get()),
                 QStringList({QStringLiteral("castTo_double"), QStringLiteral("castTo_float16")}));
        QVERIFY(!inspector->createInitializerMenu(QStringLiteral("input"), nullptr));

        // Right-click: on the bias's input row, on a row of the weight's section; nothing on
        // the data input.
        QTreeWidget* tree = const_cast<QTreeWidget*>(inspector->tree());
        auto menuAt = [&](QTreeWidgetItem* item, const char* picture = nullptr) {
            QString title;
            QTimer::singleShot(0, this, [&] {
                if (auto* popup = qobject_cast<QMenu*>(QApplication::activePopupWidget())) {
                    title = popup->title();
                    if (picture) shot(popup, picture);
                    popup->close();
                }
            });
            tree->scrollToItem(item);
            const QPoint pos = tree->visualItemRect(item).center();
            QContextMenuEvent event(QContextMenuEvent::Mouse, pos,
                                    tree->viewport()->mapToGlobal(pos));
            QApplication::sendEvent(tree->viewport(), &event);
            QTest::qWait(20);
            return title;
        };
        QCOMPARE(menuAt(inspector->rowOf(QStringLiteral("Inputs"), QStringLiteral("conv1.bias")),
                        "initializer_menu.png"),
                 QStringLiteral("conv1.bias"));
        QCOMPARE(
            menuAt(inspector->rowOf(QStringLiteral("Weight conv1.weight"), QStringLiteral("Max"))),
            QStringLiteral("conv1.weight"));
        QCOMPARE(menuAt(inspector->rowOf(QStringLiteral("Inputs"), QStringLiteral("input"))),
                 QString());
        QVERIFY(!inspector->createInitializerMenu(QStringLiteral("fc1.weight"), nullptr));
    }

    /// Set to Constant: the chooser's value in every element, one undo step; undo restores the
    /// bytes.
    void setConstantIsOneUndoStep() {
        open(kLenet);
        Document* doc = m_w->document();
        NodeInspector* inspector = inspect("conv1");
        const std::string before = initializer("conv1.bias")->data->bytes();
        const int64_t n = initializer("conv1.bias")->numElements();
        QString asked;
        inspector->setValueChooser([&](const QString& tensor) -> std::optional<double> {
            asked = tensor;
            return 0.25;
        });
        trigger(QStringLiteral("conv1.bias"), QStringLiteral("setConstant"));
        QCOMPARE(asked, QStringLiteral("conv1.bias"));
        QTRY_COMPARE_WITH_TIMEOUT(doc->undoStack()->count(), 1, 5000);
        const ir::Tensor* bias = initializer("conv1.bias");
        QCOMPARE(bias->dtype, ir::DType::kFloat);
        QCOMPARE(bias->numElements(), n);
        for (int64_t i = 0; i < n; ++i) QCOMPARE(bias->elementAsDouble(i), 0.25);

        // Cancelled: nothing is asked of the window.
        inspector = m_w->nodeInspector();
        inspector->setValueChooser([](const QString&) { return std::optional<double>(); });
        QSignalSpy edits(inspector, &NodeInspector::editRequested);
        trigger(QStringLiteral("conv1.bias"), QStringLiteral("setConstant"));
        QCOMPARE(edits.count(), 0);

        doc->undoStack()->undo();
        QCOMPARE(initializer("conv1.bias")->data->bytes(), before);
    }

    /// Change Type ▸ float16 converts the weight; undo gives the float bytes back.
    void castToFloat16() {
        open(kLenet);
        Document* doc = m_w->document();
        inspect("conv1");
        const ir::Tensor original = *initializer("conv1.weight");  // shares the buffer
        trigger(QStringLiteral("conv1.weight"), QStringLiteral("castTo_float16"));
        QTRY_COMPARE_WITH_TIMEOUT(doc->undoStack()->count(), 1, 5000);
        const ir::Tensor* w = initializer("conv1.weight");
        QCOMPARE(w->dtype, ir::DType::kFloat16);
        QCOMPARE(w->dims, original.dims);
        for (int64_t i = 0; i < w->numElements(); ++i) {
            const double a = original.elementAsDouble(i), b = w->elementAsDouble(i);
            if (std::abs(a - b) > 1e-3 * std::max(1.0, std::abs(a)))
                QFAIL(qPrintable(QStringLiteral("element %1: %2 became %3").arg(i).arg(a).arg(b)));
        }
        // The menu of the float16 weight now offers float, not float16.
        // (once the window has shown the node again)
        std::unique_ptr<QMenu> menu;
        auto offersFloat = [&] {
            menu.reset(m_w->nodeInspector()->createInitializerMenu(QStringLiteral("conv1.weight"),
                                                                   nullptr));
            return menu && castActions(menu.get()).contains(QStringLiteral("castTo_float"));
        };
        QTRY_VERIFY_WITH_TIMEOUT(offersFloat(), 5000);
        QVERIFY(!castActions(menu.get()).contains(QStringLiteral("castTo_float16")));

        doc->undoStack()->undo();
        QCOMPARE(initializer("conv1.weight")->dtype, ir::DType::kFloat);
        QCOMPARE(initializer("conv1.weight")->data->bytes(), original.data->bytes());
    }

    /// Replace from .npy takes the file's values (and dims); fill, cast and replace are recorded
    /// as set_initializer edits in the edit script.
    void replaceFromNpyAndScript() {
        open(kLenet);
        Document* doc = m_w->document();
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString npy = dir.filePath(QStringLiteral("bias.npy"));
        const std::vector<float> values = {1, -2, 3.5f, 4, 5, -6.25f};
        QVERIFY(
            data::writeNpy(npy.toStdString(), engine::HostTensor::fromFloats({6}, values)).isOk());

        NodeInspector* inspector = inspect("conv1");
        inspector->setValueChooser([](const QString&) { return std::optional<double>(0.5); });
        trigger(QStringLiteral("conv1.bias"), QStringLiteral("setConstant"));
        QTRY_COMPARE_WITH_TIMEOUT(doc->undoStack()->count(), 1, 5000);
        trigger(QStringLiteral("conv1.weight"), QStringLiteral("castTo_double"));
        QTRY_COMPARE_WITH_TIMEOUT(doc->undoStack()->count(), 2, 5000);
        m_w->nodeInspector()->setFileChooser([&](const QString&) { return npy; });
        trigger(QStringLiteral("conv1.bias"), QStringLiteral("replaceFromNpy"));
        QTRY_COMPARE_WITH_TIMEOUT(doc->undoStack()->count(), 3, 5000);

        const ir::Tensor* bias = initializer("conv1.bias");
        QCOMPARE(bias->dtype, ir::DType::kFloat);
        QCOMPARE(bias->dims, std::vector<int64_t>{6});
        for (std::size_t i = 0; i < values.size(); ++i)
            QCOMPARE(bias->elementAsDouble(static_cast<int64_t>(i)), double(values[i]));
        QCOMPARE(initializer("conv1.weight")->dtype, ir::DType::kDouble);

        const auto script = doc->editScript();
        QVERIFY2(script, script ? "" : script.error().message().c_str());
        const nlohmann::json& edits = (*script)["edits"];
        QCOMPARE(edits.size(), std::size_t{3});
        for (const nlohmann::json& e : edits) QVERIFY(e["op"] == "set_initializer");
        QVERIFY(edits[0]["tensor"] == "conv1.bias" && edits[0]["fill"] == 0.5);
        QVERIFY(edits[1]["tensor"] == "conv1.weight" && edits[1]["dtype"] == "double");
        QVERIFY(edits[2]["tensor"] == "conv1.bias" && edits[2]["npy"] == npy.toStdString());
    }

    /// The values dialog pages a big tensor: 2,500 elements, 1,000 a page, 3 pages, never more
    /// rows than a page; every value as the tensor holds it; the data buffer is shared.
    void valuesDialogPages() {
        std::vector<float> values(2500);
        for (std::size_t i = 0; i < values.size(); ++i)
            values[i] = static_cast<float>(i) * 0.5f - 100.0f;
        const ir::Tensor t = ir::Tensor::fromFloats("big", {2500}, values);
        TensorValuesDialog dialog(QStringLiteral("big"), t, nullptr, 1000);
        TensorValuesModel* model = dialog.model();
        QCOMPARE(model->tensor().data.get(), t.data.get());  // not copied
        QCOMPARE(model->pageCount(), int64_t{3});
        QCOMPARE(model->columnCount(), 1);
        QCOMPARE(dialog.rangeText(), QStringLiteral("Elements 1–1,000 of 2,500"));
        QVERIFY(dialog.summaryText().startsWith(QStringLiteral("float[2500] · 2,500 elements")));
        auto* previous = dialog.findChild<QPushButton*>(QStringLiteral("previousPage"));
        auto* next = dialog.findChild<QPushButton*>(QStringLiteral("nextPage"));
        QVERIFY(previous && next);
        QVERIFY(!previous->isEnabled());
        int64_t seen = 0;
        for (int64_t page = 0; page < 3; ++page) {
            QCOMPARE(model->page(), page);
            QVERIFY(model->rowCount() <= 1000);
            for (int r = 0; r < model->rowCount(); ++r) {
                const QModelIndex index = model->index(r, 0);
                const int64_t flat = model->elementIndex(index);
                QCOMPARE(flat, page * 1000 + r);
                QCOMPARE(model->data(index, TensorValuesModel::kValueRole).toDouble(),
                         double(values[static_cast<std::size_t>(flat)]));
                QCOMPARE(model->data(index).toString().toDouble(),
                         double(values[static_cast<std::size_t>(flat)]));
                QCOMPARE(model->headerData(r, Qt::Vertical).toString(), QString::number(flat));
                ++seen;
            }
            if (page < 2) QTest::mouseClick(next, Qt::LeftButton);
        }
        QCOMPARE(seen, int64_t{2500});
        QCOMPARE(model->rowCount(), 500);
        QCOMPARE(dialog.rangeText(), QStringLiteral("Elements 2,001–2,500 of 2,500"));
        QVERIFY(!next->isEnabled());
        QVERIFY(previous->isEnabled());
        dialog.setPage(99);  // clamped
        QCOMPARE(model->page(), int64_t{2});

        // Rank 3: rows are the leading dims flattened, columns the last dim.
        const ir::Tensor cube = ir::Tensor::fromFloats(
            "cube", {4, 3, 2}, std::vector<float>(values.begin(), values.begin() + 24));
        TensorValuesModel table(cube, 5);
        QCOMPARE(table.totalRows(), int64_t{12});
        QCOMPARE(table.columnCount(), 2);
        QCOMPARE(table.pageCount(), int64_t{3});
        QCOMPARE(table.headerData(4, Qt::Vertical).toString(), QStringLiteral("[1,1]"));
        QCOMPARE(table.data(table.index(4, 1), TensorValuesModel::kValueRole).toDouble(),
                 double(values[9]));

        // 4-bit integers unpacked (low nibble first), int64 exact.
        ir::Tensor int4;
        int4.dtype = ir::DType::kInt4;
        int4.dims = {3};
        const char packed[] = {char(0xF7), char(0x08)};  // 7, -1, -8
        int4.data = std::make_shared<const ir::Buffer>(packed, 2);
        TensorValuesModel nibbles(int4);
        QCOMPARE(nibbles.rowCount(), 3);
        QCOMPARE(nibbles.data(nibbles.index(0, 0)).toString(), QStringLiteral("7"));
        QCOMPARE(nibbles.data(nibbles.index(1, 0)).toString(), QStringLiteral("-1"));
        QCOMPARE(nibbles.data(nibbles.index(2, 0)).toString(), QStringLiteral("-8"));
        ir::Tensor big;
        big.dtype = ir::DType::kInt64;
        big.dims = {};
        const int64_t huge = INT64_MAX;
        big.data = std::make_shared<const ir::Buffer>(&huge, sizeof huge);
        TensorValuesModel scalar(big);
        QCOMPARE(scalar.rowCount(), 1);
        QCOMPARE(scalar.data(scalar.index(0, 0)).toString(), QStringLiteral("9223372036854775807"));
        // Data not in memory (external, not loaded): no rows rather than a read past the end.
        ir::Tensor missing = ir::Tensor::fromFloats("m", {2}, {1, 2});
        missing.dims = {1000};
        TensorValuesModel none(missing);
        QVERIFY(!none.readable());
        QCOMPARE(none.rowCount(), 0);
    }

    /// View Values… from the menu opens the dialog on the weight as the document holds it and
    /// draws its histogram.
    void viewValuesFromTheMenu() {
        open(kLenet);
        NodeInspector* inspector = inspect("conv2");
        trigger(QStringLiteral("conv2.weight"), QStringLiteral("viewValues"));
        const QList<TensorValuesDialog*> dialogs = inspector->findChildren<TensorValuesDialog*>();
        QCOMPARE(dialogs.size(), qsizetype{1});
        TensorValuesDialog* dialog = dialogs.front();
        QVERIFY(dialog->isVisible());
        QVERIFY2(dialog->summaryText().startsWith(QStringLiteral("float[16,6,5,5] · 2,400")),
                 qPrintable(dialog->summaryText()));
        const ir::Tensor* w = initializer("conv2.weight");
        TensorValuesModel* model = dialog->model();
        QCOMPARE(model->tensor().data.get(), w->data.get());
        QCOMPARE(model->columnCount(), 5);
        QCOMPARE(model->totalRows(), int64_t{480});
        QCOMPARE(model->pageCount(), int64_t{1});
        for (int r = 0; r < model->rowCount(); ++r)
            for (int c = 0; c < model->columnCount(); ++c)
                QCOMPARE(model->data(model->index(r, c), TensorValuesModel::kValueRole).toDouble(),
                         w->elementAsDouble(int64_t{r} * 5 + c));
        QTRY_COMPARE_WITH_TIMEOUT(inspector->histogramTensor(), QStringLiteral("conv2.weight"),
                                  10000);
        dialog->resize(820, 520);
        QTest::qWait(50);
        shot(dialog, "values_dialog.png");
        dialog->close();
        QTRY_VERIFY(inspector->findChildren<TensorValuesDialog*>().isEmpty());  // deleted on close
    }

    /// Small constants show their values inline: an initializer input, and a Constant node's
    /// output. The menu follows what the readers accept: Reshape's shape takes int64 only, so
    /// no type is offered; a Constant's value can be viewed but not edited.
    void inlineValues() {
        open(kLenet);
        NodeInspector* inspector = inspect("conv1");
        inspector->setValueChooser([](const QString&) { return std::optional<double>(0.25); });
        trigger(QStringLiteral("conv1.bias"), QStringLiteral("setConstant"));
        QTRY_COMPARE_WITH_TIMEOUT(m_w->document()->undoStack()->count(), 1, 5000);
        QTRY_COMPARE_WITH_TIMEOUT(
            m_w->nodeInspector()->valueOf(QStringLiteral("Inputs"), QStringLiteral("conv1.bias")),
            QStringLiteral("float[6] = [0.25, 0.25, 0.25, 0.25, 0.25, 0.25]  ·  initializer, 6 "
                           "elements"),
            5000);
        QVERIFY(m_w->nodeInspector()
                    ->valueOf(QStringLiteral("Inputs"), QStringLiteral("conv1.weight"))
                    .startsWith(QStringLiteral("float[6,1,5,5]  ·  initializer")));
        shot(m_w->nodeInspector(), "inspector_inline.png");

        // A model built here: Constant -> Reshape's shape, an int64 initializer -> Reshape too.
        ir::Model model;
        model.opsetImports.push_back({"", 13, {}});
        model.graph = std::make_unique<ir::Graph>();
        ir::Graph& g = *model.graph;
        ir::Value* x = addValue(g, "x");
        g.insertGraphInput(x);
        ir::Value* shape = addValue(g, "shape");
        ir::Node* constant = g.addNode("Constant", Values{}, Values{shape});
        constant->name = "shape_const";
        ir::Tensor value;
        value.dtype = ir::DType::kInt64;
        value.dims = {4};
        const int64_t dims[] = {1, 3, 224, 224};
        value.data = std::make_shared<const ir::Buffer>(dims, sizeof dims);
        constant->attributes().push_back(ir::Attribute::makeTensor("value", value));
        ir::Value* y = addValue(g, "y");
        g.addNode("Reshape", Values{x, shape}, Values{y})->name = "reshape";
        ir::Value* shape2 = addValue(g, "shape2");
        ir::Tensor init = value;
        init.name = "shape2";
        g.setInitializer(shape2, init);
        ir::Value* z = addValue(g, "z");
        g.addNode("Reshape", Values{y, shape2}, Values{z})->name = "reshape2";
        g.insertGraphOutput(z);

        NodeInspector standalone;
        standalone.resize(480, 600);
        standalone.showNode(*g.findNode(idIn(g, "shape_const")));
        const QString output =
            standalone.valueOf(QStringLiteral("Outputs"), QStringLiteral("shape"));
        QVERIFY2(output.startsWith(QStringLiteral("int64[4] = [1, 3, 224, 224]  ·  ")),
                 qPrintable(output));
        std::unique_ptr<QMenu> menu(
            standalone.createInitializerMenu(QStringLiteral("shape"), nullptr));
        QVERIFY(menu);
        QVERIFY(actionNamed(menu.get(), QStringLiteral("viewValues"))->isEnabled());
        QVERIFY(!actionNamed(menu.get(), QStringLiteral("setConstant"))->isEnabled());
        QVERIFY(!actionNamed(menu.get(), QStringLiteral("replaceFromNpy"))->isEnabled());

        standalone.showNode(*g.findNode(idIn(g, "reshape2")));
        QVERIFY(standalone.valueOf(QStringLiteral("Inputs"), QStringLiteral("shape2"))
                    .startsWith(QStringLiteral("int64[4] = [1, 3, 224, 224]")));
        menu.reset(standalone.createInitializerMenu(QStringLiteral("shape2"), nullptr));
        QVERIFY(menu);
        QVERIFY(actionNamed(menu.get(), QStringLiteral("setConstant"))->isEnabled());
        QVERIFY(castActions(menu.get()).isEmpty());  // Reshape's shape is int64 only
        QVERIFY(!menu->findChild<QMenu*>(QStringLiteral("changeType"))->isEnabled());
    }
};

std::unique_ptr<QObject> makeInitializerEditTest() {
    return std::make_unique<InitializerEditTest>();
}

}  // namespace wh::widgets::test

#include "initializer_edit_test.moc"
