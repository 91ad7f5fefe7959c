#pragma once
/// Numbers as the studio writes them everywhere (status bar, inspector, menus): in the user's
/// locale, always with thousands separators ("10,001 nodes · 10,003 layers"), even where the
/// locale would leave them out (the C locale omits them by default).

#include <cstddef>

#include <QCoreApplication>
#include <QLocale>
#include <QString>

namespace wh::widgets {

inline QLocale countLocale() {
    QLocale locale;
    locale.setNumberOptions(locale.numberOptions() & ~QLocale::OmitGroupSeparator);
    return locale;
}

inline QString formatCount(qulonglong n) {
    return countLocale().toString(n);
}

inline QString formatCount(qlonglong n) {
    return countLocale().toString(n);
}

inline QString formatCount(int n) {
    return countLocale().toString(n);
}

/// "209 nodes", or "12 top-level nodes (1,234 in all)" when subgraphs (If/Loop bodies) hold
/// more: the status bar and the inspector say the same thing.
inline QString formatNodeCount(std::size_t topLevel, std::size_t total) {
    if (total == topLevel)
        return QCoreApplication::translate("wh::widgets", "%1 nodes")
            .arg(formatCount(static_cast<qulonglong>(topLevel)));
    return QCoreApplication::translate("wh::widgets", "%1 top-level nodes (%2 in all)")
        .arg(formatCount(static_cast<qulonglong>(topLevel)),
             formatCount(static_cast<qulonglong>(total)));
}

}  // namespace wh::widgets
