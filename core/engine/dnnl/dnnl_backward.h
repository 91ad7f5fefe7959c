#pragma once
/// Registration of the oneDNN gradient kernels kept in separate files (core/engine/dnnl/
/// *_backward.cpp); registerDnnlGradients() (conv_backward.cpp) calls each. Internal to
/// core/engine/dnnl.

#include "core/engine/autodiff.h"

namespace wh::engine::dnnlk {

/// BatchNormalization (training forward + backward), Relu and Clip backward (norm_backward.cpp).
void registerDnnlNormEltwiseGradients(GradRegistry& registry);

}  // namespace wh::engine::dnnlk
