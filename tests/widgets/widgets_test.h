#pragma once
// Shared pieces of the test_widgets binary: one main() runs every test class in turn (Qt Test
// runs one QObject per qExec), so each file exposes a factory here.

#include <memory>
#include <string>

#include <QObject>

#include "core/algo/registry.h"
#include "core/ir/graph.h"

namespace wh::widgets::test {

std::unique_ptr<QObject> makeOpMetadataTest();
std::unique_ptr<QObject> makeGraphViewTest();
std::unique_ptr<QObject> makeMainWindowTest();
std::unique_ptr<QObject> makeDocumentTest();
std::unique_ptr<QObject> makeJobRunnerTest();
std::unique_ptr<QObject> makeStudioTest();
std::unique_ptr<QObject> makeGraphViewFeaturesTest();
std::unique_ptr<QObject> makeDocumentStepTest();
std::unique_ptr<QObject> makeGraphViewSubgraphTest();
std::unique_ptr<QObject> makeStudioPolishTest();
std::unique_ptr<QObject> makeProfilerDockTest();
std::unique_ptr<QObject> makeAlgorithmDockTest();
std::unique_ptr<QObject> makeSummaryDockTest();
std::unique_ptr<QObject> makeVisualizationDockTest();
std::unique_ptr<QObject> makeStudioCompressTest();
std::unique_ptr<QObject> makeSensitivityDockTest();
std::unique_ptr<QObject> makeComparisonViewTest();
std::unique_ptr<QObject> makeGraphEditingTest();
std::unique_ptr<QObject> makeInitializerEditTest();

/// A small CNN built in code: x[1,3,32,32] -> Conv(W,B) -> Relu -> Conv -> Add(residual) ->
/// GlobalAveragePool -> Flatten -> Gemm -> y. Node names: conv1, relu1, conv2, add, gap,
/// flatten, fc. W is an initializer of 8x3x3x3 = 216 elements.
ir::Model makeSmallModel();

/// The real algorithm plugins of the build tree (WHITTLE_PLUGIN_DIR), loaded once into a
/// registry of the tests' own; a plugin that fails to load is a warning.
const algo::Registry& testPlugins();

/// The id of the node of `g` named `name` (top level), or 0.
inline ir::NodeId idIn(const ir::Graph& g, const std::string& name) {
    for (const ir::Node* n : g.nodes())
        if (n->name == name) return n->id();
    return 0;
}

/// A real ONNX file from Debian's libonnx-testdata, or empty when the package is absent.
QString testdataModel(const char* relative);

}  // namespace wh::widgets::test
