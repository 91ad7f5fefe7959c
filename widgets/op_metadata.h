#pragma once
/// Operator categories and colours for drawing, read from data (resources/op_metadata.json,
/// compiled in as ":/whittle/op_metadata.json"), never hard-coded.
///
/// Thread-safety: instance() is built once, on first use, then only read; reading is safe from
/// any thread.

#include <QByteArray>
#include <QColor>
#include <QHash>
#include <QString>
#include <QVector>

namespace wh::widgets {

/// One category: a display name and its fill colour.
struct OpCategory {
    QString name;
    QColor color;
    /// Black or white, whichever reads better on `color`.
    QColor textColor() const;
};

/// Maps op types to categories.
class OpMetadata {
public:
    /// Parses the JSON format of resources/op_metadata.json. On malformed input the result
    /// knows no ops (everything is the neutral "Other") and `error()` says why.
    static OpMetadata fromJson(const QByteArray& json);

    /// The metadata compiled into the widgets library.
    static const OpMetadata& instance();

    /// The category of `opType`; the neutral grey "Other" for unknown ops.
    const OpCategory& categoryOf(const QString& opType) const;
    const QColor& colorOf(const QString& opType) const { return categoryOf(opType).color; }

    /// Every category in file order, the unknown one last.
    QVector<OpCategory> categories() const;
    const OpCategory& unknownCategory() const { return m_unknown; }
    /// Empty when parsing succeeded.
    const QString& error() const { return m_error; }

private:
    QVector<OpCategory> m_categories;
    QHash<QString, int> m_indexByOp;
    OpCategory m_unknown{QStringLiteral("Other"), QColor(0x8a, 0x8f, 0x96)};
    QString m_error;
};

}  // namespace wh::widgets
