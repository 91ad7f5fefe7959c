#include "core/jobs/job_context.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace wh::jobs {
namespace {

/// A clock the test advances by hand.
struct FakeClock {
    double now = 100.0;
    JobContext::Clock fn() {
        return [this] { return now; };
    }
};

TEST(JobContext, ProgressIsClampedAndCarriesTheStage) {
    JobContext ctx;
    EXPECT_EQ(ctx.fraction(), 0.0);
    ctx.setProgress(0.25, "reading");
    EXPECT_DOUBLE_EQ(ctx.fraction(), 0.25);
    EXPECT_EQ(ctx.stage(), "reading");
    ctx.setProgress(1.5);
    EXPECT_DOUBLE_EQ(ctx.fraction(), 1.0);
    EXPECT_EQ(ctx.stage(), "reading");
    ctx.setProgress(-1);
    EXPECT_DOUBLE_EQ(ctx.fraction(), 0.0);
    ctx.setStage("layout");
    EXPECT_EQ(ctx.snapshot().stage, "layout");
}

TEST(JobContext, CancellationIsStickyAndReportedAsCancelled) {
    JobContext ctx;
    EXPECT_FALSE(ctx.isCancelled());
    EXPECT_TRUE(ctx.checkCancelled().isOk());
    EXPECT_FALSE(ctx.cancelFlag()->load());
    ctx.requestCancel();
    ctx.requestCancel();
    EXPECT_TRUE(ctx.isCancelled());
    EXPECT_TRUE(ctx.cancelFlag()->load());
    Status s = ctx.checkCancelled();
    EXPECT_EQ(s.code(), StatusCode::kCancelled) << s.message();
    EXPECT_TRUE(ctx.snapshot().cancelRequested);
}

TEST(JobContext, EtaFollowsTheRateOfProgress) {
    FakeClock clock;
    JobContext ctx(clock.fn());
    EXPECT_FALSE(ctx.etaSeconds());  // nothing done yet
    clock.now += 0.1;
    ctx.setProgress(0.05);
    EXPECT_FALSE(ctx.etaSeconds()) << "0.1 s is too short to estimate";
    clock.now += 0.9;  // 1 s in, 10 % done at a steady pace
    ctx.setProgress(0.10);
    ASSERT_TRUE(ctx.etaSeconds());
    EXPECT_NEAR(*ctx.etaSeconds(), 9.0, 1e-9);
    for (int i = 2; i <= 5; ++i) {  // keep the same pace to 5 s / 50 %
        clock.now += 1.0;
        ctx.setProgress(0.1 * i);
    }
    EXPECT_NEAR(*ctx.etaSeconds(), 5.0, 1e-9);
    EXPECT_NEAR(ctx.elapsedSeconds(), 5.0, 1e-9);
    ctx.setProgress(1.0);
    EXPECT_EQ(*ctx.etaSeconds(), 0.0);
}

TEST(JobContext, EtaUsesRecentPaceNotTheWholeHistory) {
    FakeClock clock;
    JobContext ctx(clock.fn());
    // A slow first phase: 10 % in 20 s.
    for (int i = 1; i <= 20; ++i) {
        clock.now += 1.0;
        ctx.setProgress(0.005 * i);
    }
    // Then 10 % per second for 6 s: the last 5 s dominate the estimate.
    for (int i = 1; i <= 6; ++i) {
        clock.now += 1.0;
        ctx.setProgress(0.1 + 0.1 * i);
    }
    ASSERT_TRUE(ctx.etaSeconds());
    EXPECT_NEAR(*ctx.etaSeconds(), 3.0, 1e-6) << "remaining 30 % at 10 %/s";
}

TEST(JobContext, EtaGrowsWhileProgressStalls) {
    FakeClock clock;
    JobContext ctx(clock.fn());
    for (int i = 1; i <= 5; ++i) {
        clock.now += 1.0;
        ctx.setProgress(0.1 * i);
    }
    double before = *ctx.etaSeconds();
    clock.now += 5.0;  // no progress for 5 s
    ASSERT_TRUE(ctx.etaSeconds());
    EXPECT_GT(*ctx.etaSeconds(), before);
}

TEST(JobContext, GoingBackwardRestartsTheEstimate) {
    FakeClock clock;
    JobContext ctx(clock.fn());
    clock.now += 1.0;
    ctx.setProgress(0.5);
    ASSERT_TRUE(ctx.etaSeconds());
    ctx.setProgress(0.1);  // a new phase started from the top
    EXPECT_FALSE(ctx.etaSeconds());
    clock.now += 1.0;
    ctx.setProgress(0.2);
    ASSERT_TRUE(ctx.etaSeconds());
    EXPECT_NEAR(*ctx.etaSeconds(), 8.0, 1e-9);
}

TEST(JobContext, SubrangeMapsAPhaseOntoItsShare) {
    JobContext ctx;
    Subrange phase(ctx, 0.5, 0.9, "laying out");
    EXPECT_DOUBLE_EQ(ctx.fraction(), 0.5);
    EXPECT_EQ(ctx.stage(), "laying out");
    phase.setProgress(0.5);
    EXPECT_DOUBLE_EQ(ctx.fraction(), 0.7);
    phase.setProgress(2.0);
    EXPECT_DOUBLE_EQ(ctx.fraction(), 0.9);
}

TEST(JobContext, ManyThreadsReportAndReadWithoutTearing) {
    JobContext ctx;
    std::atomic<bool> stop{false};
    std::thread reader([&] {
        while (!stop.load()) {
            ProgressSnapshot s = ctx.snapshot();
            ASSERT_GE(s.fraction, 0.0);
            ASSERT_LE(s.fraction, 1.0);
            ASSERT_TRUE(s.stage.empty() || s.stage == "a" || s.stage == "bb");
        }
    });
    std::thread writer([&] {
        for (int i = 0; i <= 20000; ++i) ctx.setProgress(i / 20000.0, i % 2 ? "a" : "bb");
    });
    writer.join();
    stop.store(true);
    reader.join();
    EXPECT_DOUBLE_EQ(ctx.fraction(), 1.0);
}

TEST(JobContext, CancelReachesAWorkerPromptly) {
    JobContext ctx;
    std::atomic<int> iterations{0};
    std::thread worker([&] {
        while (ctx.checkCancelled().isOk()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            ++iterations;
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto start = std::chrono::steady_clock::now();
    ctx.requestCancel();
    worker.join();
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(ms, 100.0);
    EXPECT_GT(iterations.load(), 0);
}

}  // namespace
}  // namespace wh::jobs
