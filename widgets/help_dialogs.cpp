#include "widgets/help_dialogs.h"

#include "core/engine/benchmark.h"
#include "core/onnx/model_io.h"

#include <QDialog>
#include <QDialogButtonBox>
#include <QHeaderView>
#include <QLabel>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <QtGlobal>

#ifndef WHITTLE_VERSION
#define WHITTLE_VERSION "unknown"
#endif

namespace wh::widgets {

QString applicationVersion() {
    return QStringLiteral(WHITTLE_VERSION);
}

QString componentVersions() {
    const QString running = QString::fromLatin1(qVersion());
    QString qt = QStringLiteral("Qt %1").arg(QStringLiteral(QT_VERSION_STR));
    if (running != QStringLiteral(QT_VERSION_STR))
        qt += QStringLiteral(" (running %1)").arg(running);
    // Versions of the headers Whittle was compiled against (the libraries it links).
    const QString dnnl =
        QStringLiteral("oneDNN %1").arg(QString::fromStdString(engine::oneDnnVersion()));
    const QString onnx =
        QStringLiteral("ONNX %1").arg(QString::fromStdString(onnx::onnxLibraryVersion()));
    return QStringList{qt, dnnl, onnx}.join(QLatin1Char('\n'));
}

QList<QPair<QString, QString>> keyboardShortcuts() {
    auto tr = [](const char* text) { return QDialog::tr(text); };
    return {
        {tr("Ctrl+O / Ctrl+S / Ctrl+Shift+S / Ctrl+E"), tr("open, save, save as, export a copy")},
        {tr("Ctrl+Shift+E"), tr("export the view as PNG or SVG")},
        {tr("Ctrl+F, F3, Shift+F3"),
         tr("find a node by name, op type or tensor name (all hits marked, exact op types "
            "first, top to bottom); next, previous — also with the find bar closed")},
        {tr("click, Ctrl/Shift+click"), tr("select a node, toggle one")},
        {tr("Ctrl+A, Esc"), tr("select every node, clear the selection")},
        {tr("drag on empty space, Ctrl/Shift+drag"),
         tr("rubber-band selection; add to the selection")},
        {tr("middle-drag or Space+drag"), tr("pan")},
        {tr("wheel"), tr("zoom around the cursor")},
        {tr("right-click a node"),
         tr("select all of its op type or a pattern starting with it; delete, rename, insert "
            "Identity")},
        {tr("right-click empty space"),
         tr("fit, select all, clear the selection, export the view")},
        {tr("click + / −, or double-click"),
         tr("expand or collapse an If/Loop body (its nodes can then be clicked, found and "
            "inspected)")},
        {tr("Ctrl+0, Ctrl+9, Ctrl+1, Ctrl++ / Ctrl+-"),
         tr("fit to view, fit width (a readable overview of a tall graph), 1:1, zoom; the "
            "status bar shows the zoom")},
        {tr("Delete, F2, Ctrl+I"),
         tr("delete the node (rewired), rename, insert Identity after it")},
        {tr("Ctrl+Shift+A"),
         tr("add an operator of the model's opset: type to search, Enter adds it after the "
            "selected node; or drag it from the Operators dock onto a wire")},
        {tr("drag a port (zoomed in)"),
         tr("output to input: connect; a wire's end to another input: rewire; to empty "
            "space: disconnect (Esc cancels)")},
        {tr("right-click a wire or an input"),
         tr("make it a model output, rename it, set an input's shape, remove an unused input")},
        {tr("Ctrl+Shift+B"), tr("set the batch size (dim 0 of every model input)")},
        {tr("Ctrl+Shift+X"), tr("extract the selection as a model of its own")},
        {tr("Ctrl+Alt+X"), tr("extract the model between chosen input and output tensors")},
        {tr("Ctrl+Z, Ctrl+Shift+Z"), tr("undo, redo")},
        {tr("F6"),
         tr("profile the model: every node's time, FLOPs and bytes in the Profiler dock; a "
            "row or bar selects its node")},
        {tr("F7"),
         tr("layer sensitivity: each layer of the Algorithm dock's scope compressed alone, "
            "ranked by the accuracy it costs; exclude the worst from the recipe")},
        {tr("Ctrl+R"),
         tr("compress: run the Algorithm dock's algorithm (apply, train, convert, export, "
            "verify) in the background")},
        {tr("F8"),
         tr("compare: the last run's original and compressed graphs side by side, matched node "
            "by node, what changed marked (F8 or Esc: back to the graph)")},
        {tr("Ctrl+Q"), tr("quit")},
    };
}

namespace {

QDialog* modelessDialog(QWidget* parent, const QString& objectName, const QString& title) {
    auto* dialog = new QDialog(parent);
    dialog->setObjectName(objectName);
    dialog->setWindowTitle(title);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setModal(false);
    return dialog;
}

void addCloseButton(QDialog* dialog, QVBoxLayout* layout) {
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, dialog);
    QObject::connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::close);
    layout->addWidget(buttons);
}

}  // namespace

QDialog* createShortcutsDialog(QWidget* parent) {
    QDialog* dialog = modelessDialog(parent, QStringLiteral("ShortcutsDialog"),
                                     QDialog::tr("Keyboard Shortcuts"));
    auto* layout = new QVBoxLayout(dialog);
    auto* list = new QTreeWidget(dialog);
    list->setObjectName(QStringLiteral("ShortcutsList"));
    list->setColumnCount(2);
    list->setHeaderLabels({QDialog::tr("Keys"), QDialog::tr("Action")});
    list->setRootIsDecorated(false);
    list->setSelectionMode(QAbstractItemView::NoSelection);
    for (const auto& [keys, action] : keyboardShortcuts())
        new QTreeWidgetItem(list, QStringList{keys, action});
    list->header()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    layout->addWidget(list);
    addCloseButton(dialog, layout);
    dialog->resize(640, 420);
    return dialog;
}

QDialog* createAboutDialog(QWidget* parent) {
    QDialog* dialog =
        modelessDialog(parent, QStringLiteral("AboutDialog"), QDialog::tr("About Whittle"));
    auto* layout = new QVBoxLayout(dialog);
    auto* text = new QLabel(dialog);
    text->setObjectName(QStringLiteral("AboutText"));
    text->setTextFormat(Qt::RichText);
    text->setTextInteractionFlags(Qt::TextSelectableByMouse);
    QString components = componentVersions().toHtmlEscaped();
    components.replace(QLatin1Char('\n'), QStringLiteral("<br>"));
    text->setText(QDialog::tr("<h3>Whittle %1</h3><p>A studio for compressing neural networks "
                              "stored as ONNX.</p><p>Built with:<br>%2</p>")
                      .arg(applicationVersion().toHtmlEscaped(), components));
    layout->addWidget(text);
    addCloseButton(dialog, layout);
    return dialog;
}

}  // namespace wh::widgets
