#pragma once
/// The Help menu's contents: the list of keyboard and mouse shortcuts (the README's table, kept
/// in one place here) and the About box with the versions Whittle was built with. Both dialogs
/// are modeless, so that they never block the studio (or a test).

#include <QList>
#include <QPair>
#include <QString>

class QDialog;
class QWidget;

namespace wh::widgets {

/// Whittle's own version ("0.1.0").
QString applicationVersion();
/// One line per component Whittle was built with: Qt (built with / running), oneDNN, ONNX.
/// Needs no QApplication (used by `whittle --version`).
QString componentVersions();
/// (keys, action) pairs, in the order the README lists them.
QList<QPair<QString, QString>> keyboardShortcuts();

/// A modeless dialog (object name "ShortcutsDialog") listing keyboardShortcuts(); deleted on
/// close.
QDialog* createShortcutsDialog(QWidget* parent);
/// A modeless dialog (object name "AboutDialog") naming Whittle, its version and
/// componentVersions(); deleted on close.
QDialog* createAboutDialog(QWidget* parent);

}  // namespace wh::widgets
