#include "core/analysis/tensor_stats.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace wh::analysis {
namespace {

TEST(TensorStats, KnownValues) {
    ir::Tensor t = ir::Tensor::fromFloats("t", {6}, {0, 0, 1, 2, 3, 0});
    Expected<TensorStats> s = computeTensorStats(t, 3);
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->count, 6);
    EXPECT_EQ(s->finite, 6);
    EXPECT_EQ(s->zeros, 3);
    EXPECT_EQ(s->nonFinite, 0);
    EXPECT_DOUBLE_EQ(s->sparsity(), 0.5);
    EXPECT_EQ(s->min, 0.0);
    EXPECT_EQ(s->max, 3.0);
    EXPECT_DOUBLE_EQ(s->mean, 1.0);
    EXPECT_NEAR(s->stddev, std::sqrt(8.0 / 6.0), 1e-12);
    EXPECT_EQ(s->histogram, (std::vector<int64_t>{3, 1, 2}));  // [0,1) [1,2) [2,3]
}

TEST(TensorStats, NonFiniteElementsAreCountedApart) {
    ir::Tensor t = ir::Tensor::fromFloats("n", {3}, {1, NAN, INFINITY});
    Expected<TensorStats> s = computeTensorStats(t, 4);
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->count, 3);
    EXPECT_EQ(s->nonFinite, 2);
    EXPECT_EQ(s->finite, 1);
    EXPECT_EQ(s->mean, 1.0);
    EXPECT_EQ(s->stddev, 0.0);
    // One distinct value: every finite element lands in the first bin.
    EXPECT_EQ(s->histogram, (std::vector<int64_t>{1, 0, 0, 0}));

    ir::Tensor allNan = ir::Tensor::fromFloats("a", {2}, {NAN, NAN});
    s = computeTensorStats(allNan, 4);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->finite, 0);
    EXPECT_TRUE(s->histogram.empty());
}

TEST(TensorStats, IntegerTensorsAreRead) {
    ir::Tensor t;
    t.name = "i";
    t.dtype = ir::DType::kInt64;
    t.dims = {4};
    const std::vector<int64_t> v{-2, 0, 2, 4};
    t.data = std::make_shared<const ir::Buffer>(v.data(), v.size() * sizeof(int64_t));
    Expected<TensorStats> s = computeTensorStats(t, 2);
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->min, -2.0);
    EXPECT_EQ(s->max, 4.0);
    EXPECT_DOUBLE_EQ(s->mean, 1.0);
    EXPECT_EQ(s->zeros, 1);
    EXPECT_EQ(s->histogram, (std::vector<int64_t>{2, 2}));  // [-2,1) [1,4]
}

TEST(TensorStats, HistogramCountsEveryFiniteElement) {
    std::vector<float> v(100'000);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<float>(i)) * 3.0f;
    ir::Tensor t = ir::Tensor::fromFloats("w", {100, 1000}, v);
    Expected<TensorStats> s = computeTensorStats(t, 64);
    ASSERT_TRUE(s);
    ASSERT_EQ(s->histogram.size(), 64u);
    int64_t total = 0;
    for (int64_t c : s->histogram) total += c;
    EXPECT_EQ(total, s->finite);
    EXPECT_LE(s->min, s->mean);
    EXPECT_LE(s->mean, s->max);
}

TEST(TensorStats, RejectsStringsAndShortData) {
    ir::Tensor str;
    str.name = "s";
    str.dtype = ir::DType::kString;
    str.dims = {1};
    str.strings = {"x"};
    Expected<TensorStats> s = computeTensorStats(str);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), StatusCode::kUnsupported) << s.error().message();

    ir::Tensor shortData = ir::Tensor::fromFloats("short", {2}, {1, 2});
    shortData.dims = {3};
    s = computeTensorStats(shortData);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), StatusCode::kBadInput) << s.error().message();
    EXPECT_NE(s.error().message().find("short"), std::string::npos) << s.error().message();
}

TEST(TensorStats, HonoursCancellationAndReportsProgress) {
    ir::Tensor t = ir::Tensor::fromFloats("big", {1 << 19}, std::vector<float>(1 << 19, 1.0f));
    jobs::JobContext job;
    Expected<TensorStats> s = computeTensorStats(t, 8, &job);
    ASSERT_TRUE(s);
    EXPECT_GT(job.fraction(), 0.5);  // reached the second pass

    jobs::JobContext cancelled;
    cancelled.requestCancel();
    s = computeTensorStats(t, 8, &cancelled);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), StatusCode::kCancelled);
}

}  // namespace
}  // namespace wh::analysis
