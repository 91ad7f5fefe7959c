#include <QSet>
#include <QTest>

#include "tests/widgets/widgets_test.h"
#include "widgets/op_metadata.h"

namespace wh::widgets::test {
namespace {

class OpMetadataTest : public QObject {
    Q_OBJECT

private slots:
    void compiledInMetadataLoads() {
        const OpMetadata& meta = OpMetadata::instance();
        QVERIFY2(meta.error().isEmpty(), qPrintable(meta.error()));
        QVERIFY(meta.categories().size() >= 10);
    }

    void opsHaveTheirCategory_data() {
        QTest::addColumn<QString>("op");
        QTest::addColumn<QString>("category");
        QTest::newRow("Conv") << "Conv"
                              << "Layer";
        QTest::newRow("Gemm") << "Gemm"
                              << "Layer";
        QTest::newRow("MatMul") << "MatMul"
                                << "Layer";
        QTest::newRow("Relu") << "Relu"
                              << "Activation";
        QTest::newRow("Clip") << "Clip"
                              << "Activation";
        QTest::newRow("BatchNormalization") << "BatchNormalization"
                                            << "Normalization";
        QTest::newRow("LayerNormalization") << "LayerNormalization"
                                            << "Normalization";
        QTest::newRow("MaxPool") << "MaxPool"
                                 << "Pool";
        QTest::newRow("Reshape") << "Reshape"
                                 << "Tensor/Shape";
        QTest::newRow("Gather") << "Gather"
                                << "Tensor/Shape";
        QTest::newRow("QuantizeLinear") << "QuantizeLinear"
                                        << "Quantization";
        QTest::newRow("DequantizeLinear") << "DequantizeLinear"
                                          << "Quantization";
        QTest::newRow("Loop") << "Loop"
                              << "Control";
        QTest::newRow("Constant") << "Constant"
                                  << "Constant";
        QTest::newRow("Add") << "Add"
                             << "Elementwise";
        QTest::newRow("unknown") << "SomeCustomOp"
                                 << "Other";
    }
    void opsHaveTheirCategory() {
        QFETCH(QString, op);
        QFETCH(QString, category);
        QCOMPARE(OpMetadata::instance().categoryOf(op).name, category);
    }

    void categoriesHaveDistinctColours() {
        QSet<QRgb> colours;
        for (const OpCategory& c : OpMetadata::instance().categories()) {
            QVERIFY2(c.color.isValid(), qPrintable(c.name));
            QVERIFY2(!colours.contains(c.color.rgb()), qPrintable(c.name + " reuses a colour"));
            colours.insert(c.color.rgb());
        }
    }

    void unknownOpsAreNeutralGrey() {
        QColor grey = OpMetadata::instance().colorOf(QStringLiteral("NoSuchOp"));
        QCOMPARE(grey.hsvSaturationF() < 0.15, true);
    }

    void malformedJsonIsReportedNotFatal() {
        OpMetadata meta = OpMetadata::fromJson("{ not json");
        QVERIFY(!meta.error().isEmpty());
        QCOMPARE(meta.categoryOf(QStringLiteral("Conv")).name, QStringLiteral("Other"));
    }
};

}  // namespace

std::unique_ptr<QObject> makeOpMetadataTest() {
    return std::make_unique<OpMetadataTest>();
}

}  // namespace wh::widgets::test

#include "op_metadata_test.moc"
