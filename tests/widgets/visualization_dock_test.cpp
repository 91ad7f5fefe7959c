// Studio II, the Visualization dock: the graph coloured by latency share (a profile's steps,
// fused nodes with their step's colour) and by weight bit width (float initializers, and the
// levels the integers behind a DequantizeLinear use), with a legend; back to op categories.

#include <QSignalSpy>
#include <QTest>

#include "tests/widgets/widgets_test.h"
#include "widgets/document.h"
#include "widgets/graph_view.h"
#include "widgets/main_window.h"
#include "widgets/profiler_dock.h"
#include "widgets/visualization_dock.h"

namespace wh::widgets::test {
namespace {

constexpr int kTimeoutMs = 60'000;

/// An int8 initializer of `n` elements cycling through `levels` distinct values, read by a
/// DequantizeLinear whose output feeds a new Conv named `name` on `x`.
ir::Value* quantizedConv(ir::Graph& g, ir::Value* x, const std::string& name, int levels) {
    const std::vector<int64_t> dims{8, 8, 3, 3};
    ir::Tensor q;
    q.name = name + ".wq";
    q.dtype = ir::DType::kInt8;
    q.dims = dims;
    std::vector<std::byte> bytes(8 * 8 * 9);
    for (std::size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<std::byte>(static_cast<int8_t>(static_cast<int>(i % levels) - levels / 2));
    q.data = std::make_shared<const ir::Buffer>(bytes.data(), bytes.size());
    ir::Value* wq = *g.addValue(q.name);
    g.setInitializer(wq, std::move(q));
    ir::Value* scale = *g.addValue(name + ".scale");
    g.setInitializer(scale, ir::Tensor::fromFloats(name + ".scale", {}, {0.1f}));
    ir::Value* w = *g.addValue(name + ".w");
    g.addNode("DequantizeLinear", std::vector<ir::Value*>{wq, scale}, std::vector<ir::Value*>{w})
        ->name = name + "_dq";
    ir::Value* y = *g.addValue(name + ".y");
    g.addNode("Conv", std::vector<ir::Value*>{x, w}, std::vector<ir::Value*>{y})->name = name;
    return y;
}

class VisualizationDockTest : public QObject {
    Q_OBJECT

private slots:
    void bitWidthsOfFloatAndQuantizedWeights() {
        ir::Model model = makeSmallModel();  // conv1: float weights
        ir::Graph& g = *model.graph;
        ir::Value* x = g.findValue("x");
        quantizedConv(g, x, "w1", 2);
        quantizedConv(g, x, "w4", 16);
        quantizedConv(g, x, "w8", 200);
        const auto bits = VisualizationDock::weightBits(g);
        QCOMPARE(bits.at(idIn(g, "conv1")), 32);
        QCOMPARE(bits.at(idIn(g, "w1")), 1);
        QCOMPARE(bits.at(idIn(g, "w4")), 4);
        QCOMPARE(bits.at(idIn(g, "w8")), 8);
        QVERIFY(!bits.count(idIn(g, "relu1")));
    }

    // Channels removed: conv1 pruned from 8 to 6 output channels, fc's input follows (its output
    // channels stay), conv2 untouched; matched by node name.
    void prunedRatiosByNodeName() {
        ir::Model before = makeSmallModel();
        ir::Model after = before.clone();
        ir::Graph& g = *after.graph;
        g.setInitializer(g.findValue("W"),
                         ir::Tensor::fromFloats("W", {6, 3, 3, 3}, std::vector<float>(162, 0.5f)));
        const auto ratios = VisualizationDock::prunedRatios(*before.graph, g);
        QCOMPARE(ratios.at("conv1"), 0.25);
        QCOMPARE(ratios.at("conv2"), 0.0);
        QCOMPARE(ratios.at("fc"), 0.0);  // Gemm transB: its output channels are dim 0
        QVERIFY(!ratios.count("relu1"));
    }

    void latencyColoursFollowTheSteps() {
        analysis::Profile p;
        p.stepMs = 3.0;
        auto node = [](ir::NodeId id, double ms, int steps, std::optional<ir::NodeId> into) {
            analysis::NodeProfile n;
            n.node = id;
            n.ms = ms;
            n.steps = steps;
            n.fusedInto = into;
            return n;
        };
        p.nodes = {node(1, 2.0, 1, {}), node(2, 0, 0, 1), node(3, 0.5, 1, {}),
                   node(4, 0, 0, {})};
        const auto colors = VisualizationDock::latencyColors(p);
        QCOMPARE(colors.at(2), colors.at(1));  // fused: its step's colour
        QVERIFY(colors.at(1).lightnessF() < colors.at(3).lightnessF());  // slower: darker
        QVERIFY(colors.at(4) != colors.at(1) && colors.at(4) != colors.at(3));
    }

    void coloursTheViewAndGoesBack() {
        MainWindow w(MainWindow::SettingsMode::kIgnore);
        w.resize(1400, 900);
        w.show();
        QSignalSpy ready(&w, &MainWindow::viewReady);
        w.setModel(makeSmallModel());
        QVERIFY(ready.wait(kTimeoutMs));
        VisualizationDock* dock = w.visualizationDock();
        GraphView* view = w.graphView();
        const ir::NodeId conv1 = idIn(*w.model()->graph, "conv1");
        const QColor category = view->nodeFill(conv1);
        dock->setMode(VisualizationDock::Mode::kBits);
        QCOMPARE(view->nodeFill(conv1), VisualizationDock::bitsColor(32));
        QVERIFY(dock->legendText().contains(QStringLiteral("32-bit weights: 3 node(s)")));
        // Latency: nothing until profiled, then every node coloured.
        dock->setMode(VisualizationDock::Mode::kLatency);
        QVERIFY(view->nodeColors().empty());
        QVERIFY(dock->legendText().contains(QStringLiteral("Profile Now")));
        QSignalSpy profiled(w.profilerDock(), &ProfilerDock::profileFinished);
        w.profilerDock()->setRuns(2);
        w.profilerDock()->profile();
        QVERIFY(profiled.wait(kTimeoutMs));
        QCOMPARE(view->nodeColors().size(), w.model()->graph->numNodes());
        QCOMPARE(view->nodeFill(conv1),
                 VisualizationDock::latencyColors(*w.profilerDock()->currentProfile()).at(conv1));
        dock->setMode(VisualizationDock::Mode::kCategory);
        QVERIFY(view->nodeColors().empty());
        QCOMPARE(view->nodeFill(conv1), category);
    }
};

}  // namespace

std::unique_ptr<QObject> makeVisualizationDockTest() {
    return std::make_unique<VisualizationDockTest>();
}

}  // namespace wh::widgets::test

#include "visualization_dock_test.moc"
