// Per-tensor QuantizeLinear and DequantizeLinear to and from 8 bits run a vectorised, threaded
// loop (core/engine/ref/quant_ops.cpp); they must equal ONNX's definition bit for bit, spelled
// out here in scalar code: ties to even, saturation, NaN to 0, for lengths that leave a scalar
// tail and tensors large enough to be split over threads.

#include <cmath>
#include <limits>
#include <random>

#include <gtest/gtest.h>

#include "core/engine/plan.h"
#include "tests/core/engine/qdq_test_util.h"

using namespace wh;
using namespace wh::engine;
using namespace wh::engine::qdqtest;

namespace {

/// x → QuantizeLinear(scale, zp) → y_q (output 0), → DequantizeLinear → y (output 1).
ir::Model quantDequant(const Dims& dims, float scale, int zp, bool isSigned) {
    QNet n;
    auto q = n.quantize("q", n.input("x", dims), scale, zp, isSigned);
    n.g().insertGraphOutput(q[0]);
    n.g().insertGraphOutput(n.dequantize("dq", q));
    return n.model().clone();
}

void checkQuantDequant(int64_t size, bool isSigned, int zp) {
    SCOPED_TRACE(::testing::Message() << size << " elements, signed " << isSigned << " zp " << zp);
    const float scale = 0.05f;
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-20.0f, 20.0f);
    std::vector<float> x(static_cast<std::size_t>(size));
    for (std::size_t i = 0; i < x.size(); ++i) {
        // Exact ties (k + 0.5) * scale in float, far out of range, and the odd NaN and inf.
        switch (i % 7) {
            case 0:
                x[i] = (static_cast<float>(static_cast<int>(i % 301) - 150) + 0.5f) * scale;
                break;
            case 1:
                x[i] = i % 5 == 0 ? std::numeric_limits<float>::quiet_NaN()
                                  : (i % 2 ? 1e30f : -std::numeric_limits<float>::infinity());
                break;
            default:
                x[i] = u(rng);
        }
    }
    auto plan = Plan::compile(quantDequant({size}, scale, zp, isSigned), PlanOptions{});
    ASSERT_TRUE(plan) << plan.error().message();
    auto got = plan->run({HostTensor::fromFloats({size}, x)});
    ASSERT_TRUE(got) << got.error().message();
    const HostTensor& q = (*got)[0];
    const HostTensor& d = (*got)[1];
    const float lo = isSigned ? -128.0f : 0.0f, hi = isSigned ? 127.0f : 255.0f;
    int64_t mismatches = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        float want = std::nearbyint(x[i] / scale) + static_cast<float>(zp);
        if (std::isnan(want)) want = 0.0f;
        want = std::clamp(want, lo, hi);
        const float code = isSigned ? q.data<int8_t>()[i] : q.data<uint8_t>()[i];
        const float back = (code - static_cast<float>(zp)) * scale;
        if (code != want || d.data<float>()[i] != back) {
            if (++mismatches < 5)
                ADD_FAILURE() << "x[" << i << "] = " << x[i] << ": code " << code << " want "
                              << want << ", dequantized " << d.data<float>()[i] << " want "
                              << back;
        }
    }
    EXPECT_EQ(mismatches, 0);
}

}  // namespace

TEST(QuantizeSimd, UnsignedWithTail) {
    checkQuantDequant(16 * 9 + 7, false, 128);
}

TEST(QuantizeSimd, SignedShort) {
    checkQuantDequant(11, true, -5);
}

TEST(QuantizeSimd, ThreadedBlocks) {
    checkQuantDequant((1 << 18) + 5, false, 3);
    checkQuantDequant((1 << 18) + 5, true, 0);
}
