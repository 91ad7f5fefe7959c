#pragma once
/// RunHistory: every compression run of a model the studio made (recipe, figures before and
/// after, export path, verification), kept per model file across sessions in QSettings
/// (group "runHistory", one JSON list per absolute model path, newest first, at most kMaxRuns).
/// The Summary dock lists them and compares any two. GUI thread only.

#include <optional>
#include <vector>

#include <QDateTime>
#include <QString>

namespace wh::widgets {

/// The Summary dock's figures of one model.
struct RunFigures {
    double bytes = 0;
    double params = 0;
    double flops = 0;
    std::optional<double> latency1Ms;   ///< batch 1
    std::optional<double> latency64Ms;  ///< batch 64
    std::optional<double> accuracy;     ///< fraction
};

struct RunRecord {
    QDateTime when;
    QString algorithm;
    QString recipeJson;
    QString output;  ///< the exported file
    int nodesChanged = 0;
    RunFigures before, after;
    std::optional<double> agreement;  ///< top-1 agreement with the float model
    bool verified = false;
    QString verifyText;

    /// "12:04 ptq → lenet5-ptq.onnx": a list entry and a column header.
    QString label() const;
};

class RunHistory {
public:
    static constexpr int kMaxRuns = 50;

    /// `persist` false: in memory only (tests, --screenshot).
    explicit RunHistory(bool persist = true) : m_persist(persist) {}

    /// The runs of model file `modelPath` (absolute or not), newest first.
    std::vector<RunRecord> runs(const QString& modelPath) const;
    /// Adds `run` as the newest of `modelPath`; a run with the same time and output replaces it
    /// (its latencies measured later).
    void add(const QString& modelPath, const RunRecord& run);
    void clear(const QString& modelPath);

private:
    void store(const QString& modelPath, const std::vector<RunRecord>& runs);
    bool m_persist;
    mutable std::vector<std::pair<QString, std::vector<RunRecord>>> m_memory;
};

}  // namespace wh::widgets
