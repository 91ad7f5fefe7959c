// Studio II, the Summary dock: the model before and after a real compression run (post-training
// quantization of the bundled LeNet-5 on Fashion-MNIST) — every figure from the run's result,
// both latencies measured by a job, the after/before chart, and the Markdown and HTML reports.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QFile>
#include <QHeaderView>
#include <QScopeGuard>
#include <QSettings>
#include <QStandardPaths>
#include <QTableWidget>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "core/algo/compress.h"
#include "core/algo/plugin_loader.h"
#include "core/algo/recipe.h"
#include "core/onnx/model_io.h"
#include "tests/widgets/widgets_test.h"
#include "widgets/format.h"
#include "widgets/job_runner.h"
#include "widgets/run_history.h"
#include "widgets/summary_dock.h"

namespace wh::widgets::test {
namespace {

namespace fs = std::filesystem;

constexpr int kTimeoutMs = 240'000;
const std::string kLenet = WHITTLE_SOURCE_DIR "/resources/samples/lenet5.onnx";

class SummaryDockTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::shared_ptr<const ir::Model> m_before;
    std::shared_ptr<const algo::CompressResult> m_result;
    QString m_out;

private slots:
    void initTestCase() {
        if (!fs::exists("/usr/share/datasets/fashion-mnist")) QSKIP("Fashion-MNIST absent");
        algo::Registry registry;
        algo::loadPlugins({WHITTLE_PLUGIN_DIR}, registry);
        auto recipe = algo::parseRecipe(R"({"algorithm": "ptq", "params": {"samples": 64}})",
                                        registry);
        QVERIFY(recipe);
        auto model = onnx::loadModel(kLenet);
        QVERIFY(model);
        m_before = std::make_shared<const ir::Model>(std::move(*model));
        m_out = m_dir.filePath(QStringLiteral("lenet-ptq.onnx"));
        algo::CompressOptions o;
        o.recipe = *recipe;
        o.evaluate = true;
        o.evalLimit = 200;
        o.verifySamples = 32;
        o.output = m_out.toStdString();
        o.input = kLenet;
        auto r = algo::compress(*m_before, o);
        QVERIFY2(r, r ? "" : r.error().message().c_str());
        m_result = std::make_shared<const algo::CompressResult>(std::move(*r));
    }

    void timesOnlyOnceNoOtherJobRuns() {
        // A job is running (a relayout, a profile): the timing waits for it, then runs.
        JobRunner runner;
        std::atomic<bool> release{false};
        Job* busy = runner.run(QStringLiteral("busy"), [&](jobs::JobContext&) -> Expected<int> {
            while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
            return 0;
        });
        QVERIFY(busy->isRunning() || QTest::qWaitFor([&] { return busy->isRunning(); }, 5000));
        SummaryDock dock(&runner);
        QSignalSpy measured(&dock, &SummaryDock::measured);
        dock.setComparison(m_before, QStringLiteral("lenet5.onnx"), m_result, m_out);
        QVERIFY(dock.isMeasuring());
        QCOMPARE(dock.cell(SummaryDock::kLatency1, 0),
                 QStringLiteral("waiting for the other jobs to end…"));
        QVERIFY(!measured.wait(500));
        QVERIFY(!dock.latencyMs(false, SummaryDock::kSmallBatch));
        release = true;
        QVERIFY(measured.wait(kTimeoutMs));
        QVERIFY(measured.first().first().toBool());
        QVERIFY(dock.latencyMs(true, SummaryDock::kLargeBatch).has_value());
        QVERIFY(!dock.isMeasuring());
    }

    void comparesBeforeAndAfterWithMeasuredLatencies() {
        JobRunner runner;
        SummaryDock dock(&runner);
        QVERIFY(!dock.hasComparison());
        QSignalSpy measured(&dock, &SummaryDock::measured);
        dock.setComparison(m_before, QStringLiteral("lenet5.onnx"), m_result, m_out);
        QVERIFY(dock.isMeasuring());
        QCOMPARE(dock.cell(SummaryDock::kLatency1, 0), QStringLiteral("measuring…"));
        QVERIFY(measured.wait(kTimeoutMs));
        QCOMPARE(measured.first().first().toBool(), true);
        for (bool after : {false, true})
            for (int batch : {SummaryDock::kSmallBatch, SummaryDock::kLargeBatch}) {
                QVERIFY(dock.latencyMs(after, batch).has_value());
                QVERIFY(*dock.latencyMs(after, batch) > 0);
            }
        const algo::CompressResult& c = *m_result;
        const double sizeRatio =
            static_cast<double>(c.bytesAfter) / static_cast<double>(c.bytesBefore);
        QCOMPARE(dock.cell(SummaryDock::kFileSize, 2),
                 QStringLiteral("×%1").arg(QLocale().toString(sizeRatio, 'f', 3)));
        QVERIFY(sizeRatio < 0.5);  // int8 weights
        QVERIFY(dock.cell(SummaryDock::kAccuracy, 0).endsWith(QStringLiteral(" %")));
        QVERIFY(dock.cell(SummaryDock::kAccuracy, 2).endsWith(QStringLiteral(" pt")));
        QCOMPARE(dock.cell(SummaryDock::kVerified, 1), QStringLiteral("yes"));
        // The chart: one bar per ratio, size first.
        auto* series = qobject_cast<QBarSeries*>(dock.chart()->series().first());
        QVERIFY(series);
        const QBarSet* bars = series->barSets().first();
        QCOMPARE(bars->count(), 5);  // size, params, FLOPs, latency b1, latency b64
        QVERIFY(std::abs(bars->at(0) - sizeRatio) < 1e-12);
        QVERIFY(std::abs(bars->at(4) - *dock.latencyMs(true, 64) / *dock.latencyMs(false, 64)) <
                1e-12);

        // Reports: Markdown with the chart beside it, HTML with the chart inside.
        QString why;
        const QString md = m_dir.filePath(QStringLiteral("report.md"));
        QVERIFY2(dock.exportReportTo(md, &why), qPrintable(why));
        QFile mdFile(md);
        QVERIFY(mdFile.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(mdFile.readAll());
        QVERIFY(text.contains(QStringLiteral("| File size | ")));
        QVERIFY(text.contains(dock.cell(SummaryDock::kFileSize, 2)));
        QVERIFY(text.contains(QStringLiteral("![after / before](report-chart.png)")));
        QVERIFY(text.contains(QStringLiteral("\"algorithm\": \"ptq\"")));
        QImage chart(m_dir.filePath(QStringLiteral("report-chart.png")));
        QVERIFY(!chart.isNull() && chart.width() > 50);
        const QString html = m_dir.filePath(QStringLiteral("report.html"));
        QVERIFY2(dock.exportReportTo(html, &why), qPrintable(why));
        QFile htmlFile(html);
        QVERIFY(htmlFile.open(QIODevice::ReadOnly));
        const QByteArray page = htmlFile.readAll();
        QVERIFY(page.contains("<img alt=\"after / before\" src=\"data:image/png;base64,"));
        QVERIFY(page.contains("<td>yes</td>"));

        dock.clear();
        QVERIFY(!dock.hasComparison());
        QVERIFY(!dock.exportReportTo(md, &why));
    }

    // Run history: every run of a model file is kept (QSettings, so another session lists it
    // too); one selected shows its before and after, two compare the newer's compressed model
    // against the older's, none the last run again.
    void keepsEveryRunAndComparesAnyTwo() {
        // The settings in a folder of the test's own, put back at the end.
        QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, m_dir.path());
        const auto restore = qScopeGuard([] {
            QSettings::setPath(
                QSettings::IniFormat, QSettings::UserScope,
                QStandardPaths::writableLocation(QStandardPaths::GenericConfigLocation));
        });
        const QString model = m_dir.filePath(QStringLiteral("lenet5.onnx"));
        RunHistory history;
        history.clear(model);
        JobRunner runner;
        SummaryDock dock(&runner);
        dock.setHistory(&history, model);
        QCOMPARE(dock.runsTable()->rowCount(), 0);
        dock.setComparison(m_before, QStringLiteral("lenet5.onnx"), m_result, m_out, false);
        QCOMPARE(dock.runs().size(), std::size_t{1});
        const RunRecord first = dock.runs().front();
        QCOMPARE(first.algorithm, QStringLiteral("ptq"));
        QCOMPARE(first.output, m_out);
        QCOMPARE(first.after.bytes, static_cast<double>(m_result->bytesAfter));
        QVERIFY(first.recipeJson.contains(QStringLiteral("\"ptq\"")));
        // A second, made-up run: half the size, 1 pt less accurate, not verified.
        RunRecord second = first;
        second.when = first.when.addSecs(60);
        second.algorithm = QStringLiteral("rtn");
        second.after.bytes = first.after.bytes / 2;
        second.after.accuracy = *first.after.accuracy - 0.01;
        second.verified = false;
        history.add(model, second);
        dock.setHistory(&history, model);
        QCOMPARE(dock.runsTable()->rowCount(), 2);
        QCOMPARE(dock.runsTable()->item(0, 0)->text(), second.label());  // newest first

        // Another session reads the same runs.
        RunHistory later;
        const std::vector<RunRecord> kept = later.runs(model);
        QCOMPARE(kept.size(), std::size_t{2});
        QCOMPARE(kept[1].when, first.when);
        QCOMPARE(kept[1].after.accuracy, first.after.accuracy);
        QCOMPARE(kept[0].verified, false);

        dock.selectRuns({0, 1});
        QCOMPARE(dock.cell(SummaryDock::kFileSize, 2),
                 QStringLiteral("×%1").arg(QLocale().toString(0.5, 'f', 3)));
        QCOMPARE(dock.cell(SummaryDock::kAccuracy, 2),
                 QStringLiteral("-%1 pt").arg(QLocale().toString(1.0, 'f', 2)));
        QCOMPARE(dock.cell(SummaryDock::kVerified, 0), QStringLiteral("yes"));
        QCOMPARE(dock.cell(SummaryDock::kVerified, 1), QStringLiteral("NO"));
        QCOMPARE(dock.runsTable()->horizontalHeader()->count(), 4);
        dock.selectRuns({1});
        QCOMPARE(dock.cell(SummaryDock::kFileSize, 2),
                 QStringLiteral("×%1").arg(QLocale().toString(
                     first.after.bytes / first.before.bytes, 'f', 3)));
        dock.selectRuns({});
        QCOMPARE(dock.cell(SummaryDock::kFileSize, 1), formatBytes(m_result->bytesAfter));
        history.clear(model);
        QCOMPARE(later.runs(model).size(), std::size_t{0});
    }
};

}  // namespace

std::unique_ptr<QObject> makeSummaryDockTest() {
    return std::make_unique<SummaryDockTest>();
}

}  // namespace wh::widgets::test

#include "summary_dock_test.moc"
