// Studio II, the Sensitivity dock: the Algorithm dock's recipe measured one layer at a time as a
// job (the core's layerSensitivity, what `whittle-cli sensitivity` prints), the table and the
// chart most sensitive first, a row or a bar naming its node, "exclude the k most sensitive"
// writing the Algorithm dock's exclude list (and clearing it), a broken recipe and Cancel.

#include <QBarSet>
#include <QChart>
#include <QHorizontalBarSeries>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include "core/onnx/model_io.h"
#include "tests/widgets/widgets_test.h"
#include "widgets/algorithm_dock.h"
#include "widgets/document.h"
#include "widgets/job_runner.h"
#include "widgets/sensitivity_dock.h"

namespace wh::widgets::test {
namespace {

namespace fs = std::filesystem;

constexpr int kTimeoutMs = 240'000;
const QString kLenet = QStringLiteral(WHITTLE_SOURCE_DIR "/resources/samples/lenet5.onnx");
const fs::path kFashion = "/usr/share/datasets/fashion-mnist";


class SensitivityDockTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<JobRunner> m_runner;
    std::unique_ptr<Document> m_doc;
    std::unique_ptr<AlgorithmDock> m_algorithm;
    std::unique_ptr<SensitivityDock> m_dock;
    QTemporaryDir m_dir;

    bool measureAndWait(QString* message = nullptr) {
        QSignalSpy done(m_dock.get(), &SensitivityDock::measured);
        m_dock->measure();
        if (done.isEmpty() && !done.wait(kTimeoutMs)) return false;
        if (message) *message = done.first().at(1).toString();
        return done.first().first().toBool();
    }

private slots:
    void init() {
        auto model = onnx::loadModel(kLenet.toStdString());
        QVERIFY(model);
        m_runner = std::make_unique<JobRunner>();
        m_doc = std::make_unique<Document>(std::move(*model), kLenet);
        m_algorithm = std::make_unique<AlgorithmDock>(m_runner.get(), &testPlugins());
        m_algorithm->setDocument(m_doc.get());
        QVERIFY(m_dir.isValid());
        const QString recipe = m_dir.filePath(QStringLiteral("ptq4.json"));
        {
            QFile f(recipe);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(R"({"algorithm": "ptq", "params": {"weight_bits": 4, "samples": 64}})");
        }
        QString why;
        QVERIFY2(m_algorithm->loadRecipeFrom(recipe, &why), qPrintable(why));
        m_dock = std::make_unique<SensitivityDock>(m_runner.get(), m_algorithm.get());
        m_dock->resize(1200, 400);
        m_dock->setDocument(m_doc.get());
        m_dock->setEvalLimit(300);
    }
    void cleanup() {
        if (m_runner) m_runner->shutdown();
        m_dock.reset();
        m_algorithm.reset();
        m_doc.reset();
        m_runner.reset();
    }

    void ranksEveryLayerAndLinksToTheGraph() {
        if (!fs::exists(kFashion)) QSKIP("Fashion-MNIST absent");
        QString why;
        QVERIFY2(measureAndWait(&why), qPrintable(why));
        const auto report = m_dock->report();
        QVERIFY(report);
        QCOMPARE(report->layers.size(), std::size_t{5});  // LeNet-5: 2 Conv, 3 Gemm
        QCOMPARE(report->samples, int64_t{300});
        QTableWidget* table = m_dock->table();
        QCOMPARE(table->rowCount(), 5);
        for (int r = 0; r < 5; ++r)
            QCOMPARE(table->item(r, 0)->text(),
                     QString::fromStdString(report->layers[static_cast<std::size_t>(r)].node));
        // The chart: one bar per layer, the most sensitive at the top (the last category).
        auto* series = qobject_cast<QHorizontalBarSeries*>(m_dock->chart()->series().first());
        QVERIFY(series);
        const QBarSet* bars = series->barSets().first();
        QCOMPARE(bars->count(), 5);
        QCOMPARE(bars->at(4), report->layers[0].accuracyDrop * 100);
        QVERIFY(m_dock->statusText().contains(QStringLiteral("300 test samples")));
        // A row names its node.
        QSignalSpy requested(m_dock.get(), &SensitivityDock::nodeRequested);
        emit table->cellClicked(2, 0);
        QCOMPARE(requested.size(), 1);
        QCOMPARE(requested.first().first().value<ir::NodeId>(),
                 idIn(m_doc->graph(), report->layers[2].node));
        // A bar too.
        emit series->clicked(4, series->barSets().first());
        QCOMPARE(requested.size(), 2);
        QCOMPARE(requested.last().first().value<ir::NodeId>(),
                 idIn(m_doc->graph(), report->layers[0].node));
    }

    void excludesTheMostSensitiveFromTheRecipe() {
        if (!fs::exists(kFashion)) QSKIP("Fashion-MNIST absent");
        QVERIFY(measureAndWait());
        const auto report = m_dock->report();
        m_dock->setExcludeCount(2);
        m_dock->findChild<QPushButton*>(QStringLiteral("SensitivityExclude"))->click();
        const QStringList expected = {QString::fromStdString(report->layers[0].node),
                                      QString::fromStdString(report->layers[1].node)};
        QCOMPARE(m_algorithm->excludedNodes(), expected);
        Expected<algo::Recipe> r = m_algorithm->recipe();
        QVERIFY(r);
        QCOMPARE(r->select.excludeNodes.size(), std::size_t{2});
        QVERIFY(m_algorithm->scopeText().startsWith(QStringLiteral("Changes 3 node(s)")));
        // Again: nothing twice.
        m_dock->excludeMostSensitive();
        QCOMPARE(m_algorithm->excludedNodes(), expected);
        // Clear.
        auto* clear = m_algorithm->findChild<QPushButton*>(QStringLiteral("AlgorithmClearExclusions"));
        QVERIFY(clear && !clear->isHidden());
        clear->click();
        QVERIFY(m_algorithm->excludedNodes().isEmpty());
        QVERIFY(m_algorithm->scopeText().startsWith(QStringLiteral("Changes 5 node(s)")));
    }

    void aBrokenRecipeAndCancelSayWhy() {
        // An empty scope: the Algorithm dock's selection scope with nothing selected.
        m_algorithm->setSelectionScope(true);
        QString why;
        QVERIFY(!measureAndWait(&why));
        QVERIFY2(why.contains(QStringLiteral("selected")), qPrintable(why));
        m_algorithm->setSelectionScope(false);
        if (!fs::exists(kFashion)) return;
        QSignalSpy done(m_dock.get(), &SensitivityDock::measured);
        m_dock->measure();
        QVERIFY(m_dock->isMeasuring());
        m_dock->findChild<QPushButton*>(QStringLiteral("SensitivityMeasure"))->click();  // Cancel
        QVERIFY(done.wait(kTimeoutMs));
        QCOMPARE(done.first().first().toBool(), false);
        QVERIFY2(m_dock->statusText().contains(QStringLiteral("cancelled")),
                 qPrintable(m_dock->statusText()));
    }
};

}  // namespace

std::unique_ptr<QObject> makeSensitivityDockTest() {
    return std::make_unique<SensitivityDockTest>();
}

}  // namespace wh::widgets::test

#include "sensitivity_dock_test.moc"
