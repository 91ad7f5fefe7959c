#include "core/analysis/accuracy.h"

#include <cstdint>

#include <gtest/gtest.h>

#include "tests/core/train/model_builder.h"

namespace wh::analysis {
namespace {

// Samples of 1x1x3 pixels, one-hot at i % 3; the label is i % 3 except for every `wrongEvery`-th
// sample, which is labelled (i + 1) % 3. A model that returns its input scores argmax = i % 3.
class OneHotDataset : public data::Dataset {
public:
    OneHotDataset(int64_t size, int64_t wrongEvery) : m_size(size), m_wrongEvery(wrongEvery) {}
    int64_t size() const override { return m_size; }
    engine::Dims sampleDims() const override { return {1, 1, 3}; }
    int64_t numClasses() const override { return 3; }
    int64_t get(int64_t index, float* out) const override {
        for (int64_t c = 0; c < 3; ++c) out[c] = c == index % 3 ? 1.0f : 0.0f;
        return label(index);
    }
    int64_t label(int64_t index) const override {
        return index % m_wrongEvery == 0 ? (index + 1) % 3 : index % 3;
    }
    float blackValue(int64_t) const override { return 0.0f; }

    // Correct predictions among the first n samples.
    int64_t correctOf(int64_t n) const {
        int64_t correct = 0;
        for (int64_t i = 0; i < n; ++i) correct += label(i) == i % 3;
        return correct;
    }

private:
    int64_t m_size;
    int64_t m_wrongEvery;
};

// x [N,1,1,3] -> Flatten -> y [N,3]: the scores are the pixels.
ir::Model flattenModel() {
    testing::ModelBuilder b;
    b.input("x", {1, 1, 3});
    b.node("Flatten", {"x"}, {"y"})->attributes().push_back(ir::Attribute::makeInt("axis", 1));
    b.output("y", {3});
    return b.take();
}

TEST(Accuracy, CountsArgmaxAgainstLabelsAcrossUnevenBatches) {
    const ir::Model model = flattenModel();
    const OneHotDataset dataset(103, 4);  // 103 = 4 batches of 25 + 3: two plans
    jobs::JobContext job;
    Expected<AccuracyResult> r = evaluateAccuracy(model, dataset, {.batch = 25}, &job);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->samples, 103);
    EXPECT_EQ(r->correct, dataset.correctOf(103));
    EXPECT_DOUBLE_EQ(r->accuracy, static_cast<double>(dataset.correctOf(103)) / 103.0);
    EXPECT_GE(r->seconds, 0.0);
    EXPECT_DOUBLE_EQ(job.fraction(), 1.0);
}

TEST(Accuracy, LimitTakesTheFirstSamples) {
    const ir::Model model = flattenModel();
    const OneHotDataset dataset(100, 5);
    Expected<AccuracyResult> r = evaluateAccuracy(model, dataset, {.batch = 8, .limit = 30});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->samples, 30);
    EXPECT_EQ(r->correct, dataset.correctOf(30));
}

TEST(Accuracy, SampleShapeMismatchIsBadInput) {
    testing::ModelBuilder b;
    b.input("x", {1, 1, 4});
    b.node("Flatten", {"x"}, {"y"})->attributes().push_back(ir::Attribute::makeInt("axis", 1));
    b.output("y", {4});
    const ir::Model model = b.take();
    Expected<AccuracyResult> r = evaluateAccuracy(model, OneHotDataset(10, 2), {.batch = 4});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), StatusCode::kBadInput);
    EXPECT_NE(r.error().message().find("'x'"), std::string::npos) << r.error().message();
}

TEST(Accuracy, CancelledJobStops) {
    const ir::Model model = flattenModel();
    jobs::JobContext job;
    job.requestCancel();
    Expected<AccuracyResult> r = evaluateAccuracy(model, OneHotDataset(10, 2), {.batch = 4}, &job);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), StatusCode::kCancelled);
}

}  // namespace
}  // namespace wh::analysis
