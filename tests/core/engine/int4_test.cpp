// 4-bit weights (ONNX 1.16's int4 / uint4, packed two per byte): read widened by
// HostTensor::fromIr, and a weight-only int4 model (blocked DequantizeLinear → MatMul) runs.
// Agreement with ONNX Runtime on the same file: tests/e2e/parity_test.cpp (Int4Parity).

#include <cmath>

#include <gtest/gtest.h>

#include "core/engine/plan.h"
#include "tests/core/engine/int4_test_model.h"

using namespace wh;
using namespace wh::engine;
using namespace wh::engine::int4test;

TEST(Int4, IrTensorsAreWidenedLowNibbleFirst) {
    // 5 elements in 3 bytes: 0x8F = [15, 8], 0x21 = [1, 2], 0x07 = [7, (padding)].
    ir::Tensor t = packedNibbles("t", ir::DType::kUInt4, {5}, {15, 8, 1, 2, 7});
    ASSERT_EQ(t.byteSize(), 3u);
    auto u = HostTensor::fromIr(t);
    ASSERT_TRUE(u) << u.error().message();
    EXPECT_EQ(u->dtype(), ir::DType::kUInt8);
    EXPECT_EQ(u->toInt64s(), (std::vector<int64_t>{15, 8, 1, 2, 7}));
    EXPECT_EQ(t.elementAsDouble(1), 8.0);

    t.dtype = ir::DType::kInt4;  // the same bits, two's complement
    auto s = HostTensor::fromIr(t);
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->dtype(), ir::DType::kInt8);
    EXPECT_EQ(s->toInt64s(), (std::vector<int64_t>{-1, -8, 1, 2, 7}));
    EXPECT_EQ(t.elementAsDouble(0), -1.0);

    t.dims = {7};  // needs 4 bytes
    auto bad = HostTensor::fromIr(t);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("'t' holds 3 bytes, its shape needs 4"), std::string::npos)
        << bad.error().message();
}

TEST(Int4, BlockedDequantizeLinearFeedsMatMul) {
    for (const Int4Case& c :
         {Int4Case{}, Int4Case{.isSigned = false, .zeroPoint = true},
          Int4Case{.isSigned = true, .zeroPoint = true, .K = 64, .N = 5, .block = 32}}) {
        const Int4Model m = int4MatMul(c);
        PlanOptions opt;
        opt.inputShapes["x"] = {3, c.K};
        auto plan = Plan::compile(m.model, opt);
        ASSERT_TRUE(plan) << plan.error().message();
        std::vector<float> x(static_cast<std::size_t>(3 * c.K));
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
        auto y = plan->run({HostTensor::fromFloats({3, c.K}, x)});
        ASSERT_TRUE(y) << y.error().message();
        ASSERT_EQ((*y)[0].dims(), (Dims{3, c.N}));
        const std::vector<float> got = (*y)[0].toFloats();
        for (int64_t r = 0; r < 3; ++r)
            for (int64_t n = 0; n < c.N; ++n) {
                double want = 0;
                for (int64_t k = 0; k < c.K; ++k)
                    want += static_cast<double>(x[static_cast<std::size_t>(r * c.K + k)]) *
                            m.weight[static_cast<std::size_t>(k * c.N + n)];
                EXPECT_NEAR(got[static_cast<std::size_t>(r * c.N + n)], want, 1e-4)
                    << "signed " << c.isSigned << " zero point " << c.zeroPoint << " at " << r
                    << "," << n;
            }
    }
}
