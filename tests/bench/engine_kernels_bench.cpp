// Micro benchmark of the oneDNN kernels: fp32 conv GFLOP/s (3×3, 32→64, 28×28, batch 64, the
// figure STACK.md quotes), the cost of plain NCHW tensors at kernel boundaries, and oneDNN vs
// reference time per op on one-node plans. Run standalone, on a quiet machine:
//
//   cmake ... -DWHITTLE_BUILD_BENCH=ON && cmake --build build --target bench_engine_kernels
//   ./build/tests/bench/bench_engine_kernels [--threads 2] [--reps 20]
//
// Times are medians of `reps` runs after 3 warm-up runs, through Plan::run (which copies the
// outputs out, the same for both backends).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/engine/dnnl/layout_probe.h"
#include "core/engine/plan.h"
#include "core/engine/threads.h"

using namespace wh;
using namespace wh::engine;

namespace {

struct OpCase {
    std::string name;
    std::string op;
    std::vector<Dims> inputs;
    std::vector<bool> constant;
    std::function<void(ir::Node*)> attrs;
    double flops = 0;  // 0 = memory-bound op, no GFLOP/s column
};

std::vector<float> randomData(int64_t n, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = u(rng);
    return v;
}

ir::Model makeModel(const OpCase& c, std::vector<HostTensor>& feeds) {
    std::mt19937 rng(7);
    ir::Model m;
    m.opsetImports.push_back({"", 17, {}});
    ir::Graph& g = *m.graph;
    std::vector<ir::Value*> ins;
    for (std::size_t i = 0; i < c.inputs.size(); ++i) {
        ir::Value* v = *g.addValue("in" + std::to_string(i));
        const std::vector<float> data = randomData(numElementsOf(c.inputs[i]), rng);
        if (c.constant[i]) {
            g.setInitializer(v, ir::Tensor::fromFloats(v->name(), c.inputs[i], data));
        } else {
            ir::Shape shape;
            for (int64_t d : c.inputs[i]) shape.dims.push_back(ir::Dim::known(d));
            v->type = ir::Type::tensor(ir::DType::kFloat, shape);
            g.insertGraphInput(v);
            feeds.push_back(HostTensor::fromFloats(c.inputs[i], data));
        }
        ins.push_back(v);
    }
    ir::Value* y = *g.addValue("y");
    ir::Node* node = g.addNode(c.op, ins, std::vector<ir::Value*>{y});
    if (c.attrs) c.attrs(node);
    g.insertGraphOutput(y);
    return m;
}

// Median ms per Plan::run, or a negative value with the reason printed when it cannot run.
double timePlan(const OpCase& c, Backend backend, int threads, int reps, std::string& why) {
    std::vector<HostTensor> feeds;
    ir::Model m = makeModel(c, feeds);
    PlanOptions opt;
    opt.backends = {backend};
    opt.threads = threads;
    auto plan = Plan::compile(m, opt);
    if (!plan) {
        why = plan.error().message();
        return -1;
    }
    for (int i = 0; i < 3; ++i)
        if (!plan->run(feeds)) {
            why = "run failed";
            return -1;
        }
    std::vector<double> ms;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        auto out = plan->run(feeds);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        if (!out) {
            why = out.error().message();
            return -1;
        }
    }
    std::nth_element(ms.begin(), ms.begin() + static_cast<std::ptrdiff_t>(ms.size() / 2), ms.end());
    return ms[ms.size() / 2];
}

void ints(ir::Node* n, const char* name, std::vector<int64_t> v) {
    n->attributes().push_back(ir::Attribute::makeInts(name, std::move(v)));
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 2, reps = 20;
    for (int i = 1; i + 1 < argc; ++i) {
        if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[++i]);
    }
    setComputeThreads(threads);
    std::printf("threads %d, median of %d runs\n\n", computeThreads(), reps);

    const double convFlops = 2.0 * 64 * 64 * 28 * 28 * 32 * 9;
    auto conv3x3 = [](ir::Node* n) {
        ints(n, "kernel_shape", {3, 3});
        ints(n, "pads", {1, 1, 1, 1});
    };
    const std::vector<OpCase> cases = {
        {"Conv 3x3 32->64 28x28 b64", "Conv", {{64, 32, 28, 28}, {64, 32, 3, 3}, {64}},
         {false, true, true}, conv3x3, convFlops},
        {"Conv 3x3 64->64 56x56 b1", "Conv", {{1, 64, 56, 56}, {64, 64, 3, 3}, {64}},
         {false, true, true}, conv3x3, 2.0 * 64 * 56 * 56 * 64 * 9},
        {"Conv dw 3x3 128 28x28 b8", "Conv", {{8, 128, 28, 28}, {128, 1, 3, 3}},
         {false, true},
         [&](ir::Node* n) {
             conv3x3(n);
             n->attributes().push_back(ir::Attribute::makeInt("group", 128));
         },
         2.0 * 8 * 128 * 28 * 28 * 9},
        {"Gemm 64x512 * 512x1000ᵀ", "Gemm", {{64, 512}, {1000, 512}, {1000}}, {false, true, true},
         [](ir::Node* n) { n->attributes().push_back(ir::Attribute::makeInt("transB", 1)); },
         2.0 * 64 * 512 * 1000},
        {"MatMul 8x128x64 * 8x64x128", "MatMul", {{8, 128, 64}, {8, 64, 128}}, {false, false},
         nullptr, 2.0 * 8 * 128 * 64 * 128},
        {"BatchNorm 64x64x28x28", "BatchNormalization",
         {{64, 64, 28, 28}, {64}, {64}, {64}, {64}}, {false, true, true, true, true}, nullptr},
        {"MaxPool 3x3/2 64x64x28x28", "MaxPool", {{64, 64, 28, 28}}, {false},
         [](ir::Node* n) {
             ints(n, "kernel_shape", {3, 3});
             ints(n, "strides", {2, 2});
             ints(n, "pads", {1, 1, 1, 1});
         }},
        {"AveragePool 2x2/2 64x64x28x28", "AveragePool", {{64, 64, 28, 28}}, {false},
         [](ir::Node* n) {
             ints(n, "kernel_shape", {2, 2});
             ints(n, "strides", {2, 2});
         }},
        {"GlobalAveragePool 64x512x7x7", "GlobalAveragePool", {{64, 512, 7, 7}}, {false},
         nullptr},
        {"Relu 64x64x28x28", "Relu", {{64, 64, 28, 28}}, {false}, nullptr},
        {"Sigmoid 64x64x28x28", "Sigmoid", {{64, 64, 28, 28}}, {false}, nullptr},
        {"Add 64x64x28x28 + 64x64x28x28", "Add", {{64, 64, 28, 28}, {64, 64, 28, 28}},
         {false, false}, nullptr},
        {"Mul 64x64x28x28 * 64x1x1", "Mul", {{64, 64, 28, 28}, {64, 1, 1}}, {false, true},
         nullptr},
        {"Softmax 64x1000", "Softmax", {{64, 1000}}, {false}, nullptr},
    };

    std::printf("%-32s %12s %12s %9s %12s\n", "op", "dnnl ms", "ref ms", "speedup",
                "dnnl GFLOP/s");
    for (const OpCase& c : cases) {
        std::string whyD, whyR;
        const double d = timePlan(c, Backend::kDnnl, threads, reps, whyD);
        const double r = timePlan(c, Backend::kReference, threads, std::max(3, reps / 4), whyR);
        std::printf("%-32s ", c.name.c_str());
        d >= 0 ? std::printf("%12.3f ", d) : std::printf("%12s ", "-");
        r >= 0 ? std::printf("%12.3f ", r) : std::printf("%12s ", "-");
        d > 0 && r >= 0 ? std::printf("%8.1fx ", r / d) : std::printf("%9s ", "");
        if (c.flops > 0 && d > 0) std::printf("%12.1f", c.flops / (d * 1e-3) / 1e9);
        std::printf("\n");
        if (d < 0) std::printf("    dnnl: %s\n", whyD.c_str());
        if (r < 0) std::printf("    ref: %s\n", whyR.c_str());
    }

    std::printf("\nConv 3x3 32->64 28x28 b64, layouts at the kernel boundary:\n");
    const auto t = dnnlk::timeConvLayouts(64, 32, 64, 28, 3, reps);
    std::printf("  plain NCHW primitive        %8.3f ms %7.1f GFLOP/s  (%s)\n", t.plainMs,
                convFlops / (t.plainMs * 1e-3) / 1e9, t.plainImpl.c_str());
    std::printf("  blocked + reorders in/out   %8.3f ms %7.1f GFLOP/s  (ConvKernel today)\n",
                t.reorderedMs, convFlops / (t.reorderedMs * 1e-3) / 1e9);
    std::printf("  blocked, no reorders        %8.3f ms %7.1f GFLOP/s  (%s, src %s)\n",
                t.blockedMs, convFlops / (t.blockedMs * 1e-3) / 1e9, t.blockedImpl.c_str(),
                t.blockedSrc.c_str());
    return 0;
}
