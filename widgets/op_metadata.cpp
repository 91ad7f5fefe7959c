#include "widgets/op_metadata.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>

// Q_INIT_RESOURCE must be called from the global namespace. whittle_widgets is a static library:
// without this reference the linker would drop the compiled-in resources.
static void initWhittleResources() {
    Q_INIT_RESOURCE(whittle);
}

namespace wh::widgets {

QColor OpCategory::textColor() const {
    // Relative luminance (ITU-R BT.709 weights on sRGB, good enough for choosing a text colour).
    double l = 0.2126 * color.redF() + 0.7152 * color.greenF() + 0.0722 * color.blueF();
    return l > 0.55 ? QColor(0x1b, 0x1f, 0x23) : QColor(Qt::white);
}

OpMetadata OpMetadata::fromJson(const QByteArray& json) {
    OpMetadata meta;
    QJsonParseError parseError;
    QJsonDocument doc = QJsonDocument::fromJson(json, &parseError);
    if (doc.isNull() || !doc.isObject()) {
        meta.m_error = QStringLiteral("op metadata: %1 at offset %2")
                           .arg(parseError.errorString())
                           .arg(parseError.offset);
        return meta;
    }
    QJsonObject root = doc.object();
    QJsonObject unknown = root.value(QStringLiteral("unknown")).toObject();
    if (unknown.contains(QStringLiteral("color")))
        meta.m_unknown.color = QColor(unknown.value(QStringLiteral("color")).toString());
    if (unknown.contains(QStringLiteral("name")))
        meta.m_unknown.name = unknown.value(QStringLiteral("name")).toString();

    for (const QJsonValue& entry : root.value(QStringLiteral("categories")).toArray()) {
        QJsonObject obj = entry.toObject();
        OpCategory category{obj.value(QStringLiteral("name")).toString(),
                            QColor(obj.value(QStringLiteral("color")).toString())};
        if (category.name.isEmpty() || !category.color.isValid()) {
            meta.m_error = QStringLiteral(
                               "op metadata: category '%1' lacks a name or a valid "
                               "colour")
                               .arg(category.name);
            continue;
        }
        int index = static_cast<int>(meta.m_categories.size());
        meta.m_categories.push_back(category);
        for (const QJsonValue& op : obj.value(QStringLiteral("ops")).toArray())
            meta.m_indexByOp.insert(op.toString(), index);
    }
    return meta;
}

const OpMetadata& OpMetadata::instance() {
    static const OpMetadata meta = [] {
        initWhittleResources();
        QFile file(QStringLiteral(":/whittle/op_metadata.json"));
        if (!file.open(QIODevice::ReadOnly)) {
            OpMetadata empty;
            empty.m_error = QStringLiteral("op metadata: resource missing");
            return empty;
        }
        return fromJson(file.readAll());
    }();
    return meta;
}

const OpCategory& OpMetadata::categoryOf(const QString& opType) const {
    auto it = m_indexByOp.constFind(opType);
    return it == m_indexByOp.constEnd() ? m_unknown : m_categories[*it];
}

QVector<OpCategory> OpMetadata::categories() const {
    QVector<OpCategory> all = m_categories;
    all.push_back(m_unknown);
    return all;
}

}  // namespace wh::widgets
