#include "widgets/run_history.h"

#include <QCryptographicHash>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSettings>

namespace wh::widgets {

namespace {

QString absolute(const QString& path) { return QFileInfo(path).absoluteFilePath(); }

// Settings keys may not hold every path character: one key per path hash, the path inside.
QString keyOf(const QString& modelPath) {
    return QStringLiteral("runHistory/") +
           QString::fromLatin1(QCryptographicHash::hash(absolute(modelPath).toUtf8(),
                                                        QCryptographicHash::Sha1)
                                   .toHex());
}

QJsonValue optional(const std::optional<double>& v) { return v ? QJsonValue(*v) : QJsonValue(); }
std::optional<double> optional(const QJsonValue& v) {
    return v.isDouble() ? std::optional<double>(v.toDouble()) : std::nullopt;
}

QJsonObject toJson(const RunFigures& f) {
    return {{"bytes", f.bytes},
            {"params", f.params},
            {"flops", f.flops},
            {"latency1_ms", optional(f.latency1Ms)},
            {"latency64_ms", optional(f.latency64Ms)},
            {"accuracy", optional(f.accuracy)}};
}

RunFigures figuresOf(const QJsonObject& o) {
    RunFigures f;
    f.bytes = o.value(QStringLiteral("bytes")).toDouble();
    f.params = o.value(QStringLiteral("params")).toDouble();
    f.flops = o.value(QStringLiteral("flops")).toDouble();
    f.latency1Ms = optional(o.value(QStringLiteral("latency1_ms")));
    f.latency64Ms = optional(o.value(QStringLiteral("latency64_ms")));
    f.accuracy = optional(o.value(QStringLiteral("accuracy")));
    return f;
}

QJsonObject toJson(const RunRecord& r) {
    return {{"when", r.when.toString(Qt::ISODateWithMs)},
            {"algorithm", r.algorithm},
            {"recipe", r.recipeJson},
            {"output", r.output},
            {"nodes_changed", r.nodesChanged},
            {"before", toJson(r.before)},
            {"after", toJson(r.after)},
            {"agreement", optional(r.agreement)},
            {"verified", r.verified},
            {"verify", r.verifyText}};
}

RunRecord recordOf(const QJsonObject& o) {
    RunRecord r;
    r.when = QDateTime::fromString(o.value(QStringLiteral("when")).toString(), Qt::ISODateWithMs);
    r.algorithm = o.value(QStringLiteral("algorithm")).toString();
    r.recipeJson = o.value(QStringLiteral("recipe")).toString();
    r.output = o.value(QStringLiteral("output")).toString();
    r.nodesChanged = o.value(QStringLiteral("nodes_changed")).toInt();
    r.before = figuresOf(o.value(QStringLiteral("before")).toObject());
    r.after = figuresOf(o.value(QStringLiteral("after")).toObject());
    r.agreement = optional(o.value(QStringLiteral("agreement")));
    r.verified = o.value(QStringLiteral("verified")).toBool();
    r.verifyText = o.value(QStringLiteral("verify")).toString();
    return r;
}

}  // namespace

QString RunRecord::label() const {
    return QStringLiteral("%1 %2 → %3")
        .arg(when.toString(QStringLiteral("MM-dd hh:mm:ss")), algorithm,
             QFileInfo(output).fileName());
}

std::vector<RunRecord> RunHistory::runs(const QString& modelPath) const {
    const QString key = keyOf(modelPath);
    if (!m_persist) {
        for (const auto& [k, list] : m_memory)
            if (k == key) return list;
        return {};
    }
    const QJsonDocument doc =
        QJsonDocument::fromJson(QSettings().value(key + QStringLiteral("/runs")).toByteArray());
    std::vector<RunRecord> out;
    for (const QJsonValue& v : doc.array())
        if (v.isObject()) out.push_back(recordOf(v.toObject()));
    return out;
}

void RunHistory::add(const QString& modelPath, const RunRecord& run) {
    std::vector<RunRecord> list = runs(modelPath);
    std::erase_if(list, [&](const RunRecord& r) { return r.when == run.when && r.output == run.output; });
    list.insert(list.begin(), run);
    if (list.size() > static_cast<std::size_t>(kMaxRuns)) list.resize(kMaxRuns);
    store(modelPath, list);
}

void RunHistory::clear(const QString& modelPath) { store(modelPath, {}); }

void RunHistory::store(const QString& modelPath, const std::vector<RunRecord>& runs) {
    const QString key = keyOf(modelPath);
    if (!m_persist) {
        for (auto& [k, list] : m_memory)
            if (k == key) {
                list = runs;
                return;
            }
        m_memory.emplace_back(key, runs);
        return;
    }
    QJsonArray array;
    for (const RunRecord& r : runs) array.append(toJson(r));
    QSettings settings;
    settings.setValue(key + QStringLiteral("/model"), absolute(modelPath));
    settings.setValue(key + QStringLiteral("/runs"),
                      QJsonDocument(array).toJson(QJsonDocument::Compact));
}

}  // namespace wh::widgets
