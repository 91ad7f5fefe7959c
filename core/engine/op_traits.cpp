#include "core/engine/batch_norm_fold.h"
#include "core/engine/fake_quantize.h"
#include "core/engine/kernel_registry.h"
#include "core/engine/slb_weight.h"

namespace wh::engine {

void registerOpTraits(KernelRegistry& registry) {
    // Same-shaped operands, one output element from the same element of each: forward (the
    // reference and oneDNN kernels) and gradient (grad_elementwise.cpp) are order-agnostic.
    for (const char* op : {"Add", "Sub", "Mul"}) {
        OpTraits t;
        t.elementwise = true;
        t.postOp = std::string_view(op) == "Add";  // a residual connection: oneDNN's sum post-op
        registry.setTraits("", op, t);
    }
    // Activations: oneDNN eltwise post-ops of a Conv or Gemm, and (Relu) of the training
    // forwards of BatchNormalization and Add. Unary, so they can also overwrite their input.
    for (const char* op : {"Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSwish"}) {
        OpTraits t;
        t.elementwise = t.postOp = t.inPlace = true;
        registry.setTraits("", op, t);
    }
    OpTraits hardSigmoid;
    hardSigmoid.elementwise = hardSigmoid.inPlace = true;
    registry.setTraits("", "HardSigmoid", hardSigmoid);
    // Unary math with an elementwise derivative (or none), same dtype in and out.
    for (const char* op :
         {"Floor", "Ceil", "Round", "Sign", "Reciprocal", "Softplus", "Softsign", "Elu", "Selu",
          "Celu", "ThresholdedRelu", "Shrink", "Sin", "Cos", "Not"}) {
        OpTraits t;
        t.elementwise = t.inPlace = true;
        registry.setTraits("", op, t);
    }
    // Same-index elements of same-shaped operands; bool outputs or another dtype, so not in place.
    for (const char* op :
         {"IsNaN", "IsInf", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And",
          "Or", "Xor", "Where", "Mod", "Min", "Max", "Sum", "Mean"}) {
        OpTraits t;
        t.elementwise = true;
        registry.setTraits("", op, t);
    }
    // Running mean and variance: updated by the training forward, never trained.
    OpTraits bn;
    bn.stateInputs = {3, 4};
    registry.setTraits("", "BatchNormalization", bn);
    // FakeQuantize computes y[i] from x[i] alone, so it may overwrite its input. Not elementwise:
    // the plan's rule only keeps blocked order across scalar constant operands, and a scale that
    // is learned or per channel is neither. Its gradient declares ChannelBlocks::kShared instead
    // (the kernels decompose blocked offsets themselves), which keeps nChw16c across it.
    OpTraits fq;
    fq.inPlace = true;
    // LSQ: a learned quantizer trains its scale, and its zero point unless symmetric, even as
    // one-element (per-tensor) initializers. An observing one (observe = 1) instead updates its
    // scale, zero point and range (inputs 1 to 4) as state in its training forward: per node,
    // so that the two kinds can share a model.
    fq.trainedInput = [](const ir::Node& node, int input) {
        if (node.attrInt("learned", 0) == 0 || node.attrInt("observe", 0) != 0) return false;
        return input == 1 || (input == 2 && node.attrInt("symmetric", 0) == 0);
    };
    fq.stateInputsOf = [](const ir::Node& node) {
        return node.attrInt("observe", 0) != 0 ? std::vector<int>{1, 2, 3, 4} : std::vector<int>{};
    };
    registry.setTraits(std::string(kWhittleDomain), std::string(kFakeQuantizeOp), fq);
    // BatchNormFold keeps BatchNormalization's running mean and variance as state.
    OpTraits bnf;
    bnf.stateInputs = {1, 2};
    registry.setTraits(std::string(kWhittleDomain), std::string(kBatchNormFoldOp), bnf);
    // SlbWeight's logits are what SLB trains: a Parameter whatever its size.
    OpTraits slb;
    slb.trainedInput = [](const ir::Node&, int input) { return input == 0; };
    registry.setTraits(std::string(kWhittleDomain), std::string(kSlbWeightOp), slb);
}

}  // namespace wh::engine
