// rtn: weight-only round-to-nearest quantization (8/4/3/2 bits, per channel or per group).

#include <memory>

#include "core/algo/plugin.h"
#include "core/algo/quant/weight_only.h"

namespace {

using namespace wh;
using namespace wh::algo;

class Rtn : public Algorithm {
public:
    explicit Rtn(const Params& p) : m_options(quant::weightOnlyOptions(p)) {}
    Expected<ApplyReport> apply(rewrite::Rewriter& rw, const Selection& selection,
                                AlgoContext& ctx) override {
        return quant::applyWeightOnly(rw, selection, ctx, m_options);
    }
    Status convert(rewrite::Rewriter&, AlgoContext&) override { return Status::ok(); }

private:
    quant::WeightOnlyOptions m_options;
};

Status registerRtn(Registry& r) {
    AlgorithmInfo info;
    info.name = "rtn";
    info.title = "Weight-only quantization (round to nearest)";
    info.description =
        "Conv, Gemm and MatMul weights rounded to 8, 4, 3 or 2 bits with a scale per output "
        "channel or per group; activations stay float. Needs no data. 4-bit and smaller codes "
        "are packed in the file.";
    info.supportedOps = {"Conv", "Gemm", "MatMul"};
    info.params = quant::weightOnlyParams();
    info.create = factoryOf<Rtn>();
    return r.add(std::move(info));
}

}  // namespace

WHITTLE_PLUGIN("rtn", "1.0", registerRtn)
