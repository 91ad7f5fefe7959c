// gptq: weight-only GPTQ quantization (Frantar et al. 2022): each layer's weights rounded
// column by column with the error compensated through the inverse Hessian of its inputs on
// calibration data.

#include <memory>

#include "core/algo/plugin.h"
#include "core/algo/quant/weight_only.h"

namespace {

using namespace wh;
using namespace wh::algo;

class Gptq : public Algorithm {
public:
    explicit Gptq(const Params& p) : m_options(quant::weightOnlyOptions(p)) {
        m_options.gptq = true;
        m_options.samples = p.getInt("samples");
        m_options.gptqOptions.damp = p.getFloat("damp");
        m_options.gptqOptions.blockSize = p.getInt("block_size");
        m_options.gptqOptions.actOrder = p.getBool("act_order");
        m_seed = static_cast<uint64_t>(p.getInt("seed"));
    }
    Expected<ApplyReport> apply(rewrite::Rewriter& rw, const Selection& selection,
                                AlgoContext& ctx) override {
        ctx.seed = m_seed;
        return quant::applyWeightOnly(rw, selection, ctx, m_options);
    }
    Status convert(rewrite::Rewriter&, AlgoContext&) override { return Status::ok(); }

private:
    quant::WeightOnlyOptions m_options;
    uint64_t m_seed = 0;
};

Status registerGptq(Registry& r) {
    AlgorithmInfo info;
    info.name = "gptq";
    info.title = "Weight-only quantization (GPTQ)";
    info.description =
        "Conv, Gemm and MatMul weights quantized to 8, 4, 3 or 2 bits by GPTQ: rounding errors "
        "compensated through each layer's input Hessian from calibration images (im2col for "
        "Conv). Activations stay float.";
    info.supportedOps = {"Conv", "Gemm", "MatMul"};
    info.params = quant::weightOnlyParams();
    info.params.push_back(ParamSpec::integer("samples", 128, 1, 100000,
                                             "calibration images for the Hessians"));
    info.params.push_back(ParamSpec::real("damp", 0.01, 1e-6, 1.0,
                                          "damping, a fraction of the mean Hessian diagonal")
                              .alias("damp_percent"));
    info.params.push_back(ParamSpec::integer("block_size", 128, 1, 4096, "columns per block"));
    info.params.push_back(ParamSpec::boolean("act_order", false,
                                             "quantize columns by decreasing Hessian diagonal"));
    info.params.push_back(ParamSpec::integer("seed", 0, 0, 2147483647,
                                             "seed for the calibration sample"));
    info.create = factoryOf<Gptq>();
    return r.add(std::move(info));
}

}  // namespace

WHITTLE_PLUGIN("gptq", "1.0", registerGptq)
