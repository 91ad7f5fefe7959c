#pragma once
/// Small helpers the docks' Qt Charts share. GUI thread only.

#include <QAbstractAxis>
#include <QChart>
#include <QSplitter>

namespace wh::widgets {

/// Removes every series and axis of `chart` (the axes deleted: removeAxis only detaches them).
inline void clearChart(QChart* chart) {
    chart->removeAllSeries();
    for (QAbstractAxis* axis : chart->axes()) {
        chart->removeAxis(axis);
        delete axis;
    }
}

/// A table (left, 3/5 of the width) beside its chart (right), neither collapsible: the layout of
/// the Profiler and Sensitivity docks.
inline QSplitter* tableBesideChart(QWidget* table, QWidget* chart, QWidget* parent) {
    auto* split = new QSplitter(Qt::Horizontal, parent);
    split->addWidget(table);
    split->addWidget(chart);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    split->setSizes({600, 400});
    split->setChildrenCollapsible(false);
    return split;
}

}  // namespace wh::widgets
