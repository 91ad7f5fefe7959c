#pragma once
/// Built-in architectures for `whittle-cli train --arch`, built directly as ONNX graphs (opset 13)
/// with He-initialised weights from a seed. CIFAR-style networks adapted to 28x28 inputs:
///
/// - lenet5: conv5x5(6, pad 2)-relu-maxpool2, conv5x5(16)-relu-maxpool2, fc120-relu, fc84-relu,
///   fc(classes). 61,706 parameters for 1x28x28 and 10 classes.
/// - resnet20: conv3x3(16)-BN-relu; three stages of three basic blocks (16, 32, 64 channels; the
///   first block of stages 2 and 3 has stride 2 and a 1x1 conv + BN shortcut); global average
///   pool; fc(classes). He et al. 2016, section 4.2.
/// - mobilenetv2-tiny: conv3x3(16)-BN-relu6; inverted residual blocks (expansion t, channels c,
///   repeats n, stride s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,2,2) (6,96,1,1); conv1x1(256)-
///   BN-relu6; global average pool; fc(classes). Sandler et al. 2018, scaled down.
///
/// BatchNormalization nodes are in inference form (training is a property of the plan).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/ir/graph.h"
#include "core/util/status.h"

namespace wh::models {

struct ArchitectureOptions {
    int64_t channels = 1;
    int64_t height = 28;
    int64_t width = 28;
    int64_t classes = 10;
    uint64_t seed = 0;
};

/// Names accepted by buildArchitecture.
std::vector<std::string> architectureNames();

/// The model, or kUsage naming the valid architectures.
Expected<ir::Model> buildArchitecture(std::string_view name,
                                      const ArchitectureOptions& options = {});

/// A synthetic network of about `targetNodes` nodes (at least 6): Conv1x1 -> BatchNormalization
/// -> Relu blocks with residual Adds on 8x16x16 activations, then GlobalAveragePool and Flatten.
/// Shaped like the graphs users open (a long chain with skips), for the layout and view
/// benchmarks and the GUI latency tests; weights are constant, not trained.
ir::Model buildResidualChain(int targetNodes);

}  // namespace wh::models
