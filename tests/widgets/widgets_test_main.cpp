#include <cctype>
#include <cstring>

#include <QApplication>
#include <QFile>
#include <QTest>

#include "core/algo/plugin_loader.h"
#include "tests/widgets/widgets_test.h"

namespace wh::widgets::test {

namespace {
ir::Value* tensorValue(ir::Graph& g, const std::string& name, std::vector<int64_t> dims) {
    ir::Value* v = *g.addValue(name);
    ir::Shape shape;
    for (int64_t d : dims) shape.dims.push_back(ir::Dim::known(d));
    v->type = ir::Type::tensor(ir::DType::kFloat, shape);
    return v;
}
ir::Value* weight(ir::Graph& g, const std::string& name, std::vector<int64_t> dims) {
    ir::Value* v = *g.addValue(name);
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    g.setInitializer(v, ir::Tensor::fromFloats(
                            name, dims, std::vector<float>(static_cast<std::size_t>(n), 0.5f)));
    return v;
}
ir::Node* add(ir::Graph& g, const char* op, const char* name, std::vector<ir::Value*> in,
              std::vector<ir::Value*> out) {
    ir::Node* n = g.addNode(op, in, out);
    n->name = name;
    return n;
}
}  // namespace

ir::Model makeSmallModel() {
    ir::Model model;
    model.irVersion = 8;
    model.producerName = "whittle-tests";
    model.opsetImports.push_back({"", 17, {}});
    model.graph = std::make_unique<ir::Graph>();
    ir::Graph& g = *model.graph;
    g.name = "small";
    ir::Value* x = tensorValue(g, "x", {1, 3, 32, 32});
    g.insertGraphInput(x);
    ir::Value* w1 = weight(g, "W", {8, 3, 3, 3});
    ir::Value* b1 = weight(g, "B", {8});
    ir::Value* w2 = weight(g, "W2", {8, 8, 3, 3});
    ir::Value* fcw = weight(g, "fc.weight", {10, 8});
    ir::Value* c1 = tensorValue(g, "c1", {1, 8, 32, 32});
    ir::Value* r1 = tensorValue(g, "r1", {1, 8, 32, 32});
    ir::Value* c2 = tensorValue(g, "c2", {1, 8, 32, 32});
    ir::Value* s = tensorValue(g, "s", {1, 8, 32, 32});
    ir::Value* p = tensorValue(g, "p", {1, 8, 1, 1});
    ir::Value* f = tensorValue(g, "f", {1, 8});
    ir::Value* y = tensorValue(g, "y", {1, 10});
    ir::Node* conv1 = add(g, "Conv", "conv1", {x, w1, b1}, {c1});
    conv1->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {3, 3}));
    conv1->attributes().push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    add(g, "Relu", "relu1", {c1}, {r1});
    ir::Node* conv2 = add(g, "Conv", "conv2", {r1, w2, nullptr}, {c2});
    conv2->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {3, 3}));
    conv2->attributes().push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    add(g, "Add", "add", {c2, r1}, {s});
    add(g, "GlobalAveragePool", "gap", {s}, {p});
    ir::Node* flatten = add(g, "Flatten", "flatten", {p}, {f});
    flatten->attributes().push_back(ir::Attribute::makeInt("axis", 1));
    ir::Node* fc = add(g, "Gemm", "fc", {f, fcw}, {y});
    fc->attributes().push_back(ir::Attribute::makeInt("transB", 1));
    g.insertGraphOutput(y);
    return model;
}

const algo::Registry& testPlugins() {
    static algo::Registry* registry = [] {
        auto* r = new algo::Registry;
        for (const algo::PluginLoadResult& res : algo::loadPlugins({WHITTLE_PLUGIN_DIR}, *r))
            if (!res.loaded) qWarning("%s: %s", res.path.c_str(), res.error.c_str());
        return r;
    }();
    return *registry;
}

QString testdataModel(const char* relative) {
    QString path = QStringLiteral("/usr/share/libonnx-testdata/data/") + QLatin1String(relative);
    return QFile::exists(path) ? path : QString();
}

}  // namespace wh::widgets::test

int main(int argc, char** argv) {
    // Offscreen unless the caller chose a platform (ctest sets QT_QPA_PLATFORM=offscreen too).
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("WhittleTests"));
    QApplication::setApplicationName(QStringLiteral("test_widgets"));

    // `test_widgets Class [QtTest options and functions]` runs one test class only.
    QString only;
    if (argc > 1 && argv[1][0] != '-' && std::strchr(argv[1], '(') == nullptr &&
        std::isupper(static_cast<unsigned char>(argv[1][0])) && std::strstr(argv[1], "Test")) {
        only = QString::fromLocal8Bit(argv[1]);
        argv[1] = argv[0];
        ++argv;
        --argc;
    }
    int failures = 0;
    using namespace wh::widgets::test;
    for (auto make :
         {makeOpMetadataTest, makeGraphViewTest, makeMainWindowTest, makeDocumentTest,
          makeJobRunnerTest, makeStudioTest, makeGraphViewFeaturesTest, makeDocumentStepTest,
          makeGraphViewSubgraphTest, makeStudioPolishTest, makeProfilerDockTest,
          makeAlgorithmDockTest, makeSummaryDockTest, makeVisualizationDockTest,
          makeStudioCompressTest, makeSensitivityDockTest, makeComparisonViewTest,
          makeGraphEditingTest, makeInitializerEditTest}) {
        std::unique_ptr<QObject> test = make();
        const QString name = QString::fromLatin1(test->metaObject()->className());
        if (!only.isEmpty() && name.section(QStringLiteral("::"), -1) != only) continue;
        failures += QTest::qExec(test.get(), argc, argv);
    }
    return failures == 0 ? 0 : 1;
}
