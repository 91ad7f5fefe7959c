#pragma once
/// Numbers as the studio writes them everywhere (status bar, inspector, menus): in the user's
/// locale, always with thousands separators ("10,001 nodes · 10,003 layers"), even where the
/// locale would leave them out (the C locale omits them by default).

#include <cstddef>
#include <string>

#include <QCoreApplication>
#include <QLocale>
#include <QString>
#include <QStringList>

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

/// "1.06 MiB", "299.1 KiB", "512 B": file and tensor sizes.
inline QString formatBytes(double bytes) {
    const QLocale locale = countLocale();
    if (bytes >= 1048576.0) return locale.toString(bytes / 1048576.0, 'f', 2) + QStringLiteral(" MiB");
    if (bytes >= 1024.0) return locale.toString(bytes / 1024.0, 'f', 1) + QStringLiteral(" KiB");
    return locale.toString(static_cast<qlonglong>(bytes)) + QStringLiteral(" B");
}

/// "3.63 G", "11.68 M", "36.9 k", "9,472": FLOPs and parameter counts (`decimals` for G and M).
inline QString formatCompact(double v, int decimals = 2) {
    const QLocale locale = countLocale();
    if (v >= 1e9) return locale.toString(v / 1e9, 'f', decimals) + QStringLiteral(" G");
    if (v >= 1e6) return locale.toString(v / 1e6, 'f', decimals) + QStringLiteral(" M");
    if (v >= 1e4) return locale.toString(v / 1e3, 'f', 1) + QStringLiteral(" k");
    return locale.toString(static_cast<qlonglong>(v));
}

/// A chart label for a node: exporters' names are paths ("/layer4/layer4.0/conv2/Conv"); the
/// last two parts that are not the op type say which layer it is ("layer4.0/conv2").
inline QString shortNodeLabel(const std::string& name, const std::string& op) {
    QStringList parts = QString::fromStdString(name).split(QLatin1Char('/'), Qt::SkipEmptyParts);
    if (parts.size() > 1 && parts.back() == QString::fromStdString(op)) parts.removeLast();
    while (parts.size() > 2) parts.removeFirst();
    const QString label = parts.join(QLatin1Char('/'));
    if (label.isEmpty()) return QString::fromStdString(op);
    // torch.nn.Sequential's layers are numbers ("/4/Conv"): "4" alone says little.
    bool number = false;
    label.toInt(&number);
    return number ? QStringLiteral("%1 %2").arg(QString::fromStdString(op), label) : label;
}

/// `s` cut to `max` characters in the middle ("layer4.…/conv2").
inline QString elideMiddle(const QString& s, int max) {
    if (s.size() <= max) return s;
    const int keep = (max - 1) / 2;
    return s.left(keep) + QChar(0x2026) + s.right(max - 1 - keep);
}

}  // namespace wh::widgets
