#pragma once
/// PlaceholderDock: a dock that already has its place, name and persistence in the window, and a
/// one-line label saying what will appear there. Replaced by the real docks (AlgorithmPanel,
/// ProfilerDock, SummaryDock, VisualizationDock) as they are written.

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
