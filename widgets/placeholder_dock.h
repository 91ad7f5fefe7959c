#pragma once
/// PlaceholderDock: a dock that already has its place, name and persistence in the window, and a
/// short label saying what exists today (and where) and what the finished dock will add. The
/// text is drawn in the normal text colour: it is information, not a disabled control. Replaced by
/// the real docks (AlgorithmPanel, ProfilerDock, SummaryDock, VisualizationDock) as they are
/// written.

#include <QDockWidget>

namespace wh::widgets {

class PlaceholderDock : public QDockWidget {
    Q_OBJECT

public:
    /// `objectName` keys the dock in saved window state: keep it stable.
    PlaceholderDock(const QString& title, const QString& objectName, const QString& placeholder,
                    QWidget* parent = nullptr);

    QString placeholderText() const;
};

}  // namespace wh::widgets
