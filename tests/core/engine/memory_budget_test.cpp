// Overflow-checked sizes and the process-wide memory budget of HostTensor storage
// (host_tensor.h): a request over the limit fails cleanly, storage returns to the budget when
// its last owner lets go, and a plan turns a refusal into a Status naming the node.

#include <limits>

#include <gtest/gtest.h>

#include "core/engine/plan.h"
#include "core/util/checked_math.h"

using namespace wh;
using namespace wh::engine;

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// Sets the limit for one test and restores the default after it.
struct ScopedLimit {
    explicit ScopedLimit(std::size_t bytes) { setMemoryLimit(bytes); }
    ~ScopedLimit() { setMemoryLimit(0); }
};

}  // namespace

TEST(CheckedMath, MultiplyAndAddReportOverflow) {
    EXPECT_EQ(checkedMul<int64_t>(1 << 20, 1 << 20), int64_t{1} << 40);
    EXPECT_FALSE(checkedMul<int64_t>(int64_t{1} << 32, int64_t{1} << 32));
    EXPECT_FALSE(checkedMul<int64_t>(kMax, -2));
    EXPECT_EQ(checkedMul<std::size_t>(3, 4), 12u);
    EXPECT_FALSE(checkedMul<std::size_t>(std::size_t{1} << 40, std::size_t{1} << 40));
    EXPECT_EQ(checkedAdd<int64_t>(kMax - 1, 1), kMax);
    EXPECT_FALSE(checkedAdd<int64_t>(kMax, 1));
    const int64_t dims[] = {100000, 100000, 100000, 100000};
    EXPECT_FALSE(checkedProduct(dims));
    EXPECT_EQ(checkedProduct(std::span(dims, 2)), int64_t{10000000000});
    EXPECT_EQ(checkedProduct({}), 1);
    EXPECT_FALSE(checkedBytes(-1, 4));
    EXPECT_FALSE(checkedBytes(kMax, 4));
    EXPECT_EQ(checkedBytes(10, 4), 40u);
}

TEST(CheckedMath, ElementCountsSaturateAndByteSizesRefuse) {
    // 2^32 * 2^32 * 6 wraps to 0 in plain int64 arithmetic.
    const Dims wraps{int64_t{1} << 32, int64_t{1} << 32, 6};
    EXPECT_EQ(numElementsOf(wraps), kMax);
    EXPECT_FALSE(checkedNumElementsOf(wraps));
    EXPECT_EQ(numElementsOf({2, 3}), 6);
    EXPECT_EQ(numElementsOf({}), 1);
    EXPECT_FALSE(checkedByteSizeOf(ir::DType::kFloat, wraps));
    EXPECT_FALSE(checkedByteSizeOf(ir::DType::kFloat, {int64_t{1} << 62}));  // * 4 overflows
    EXPECT_FALSE(checkedByteSizeOf(ir::DType::kFloat, {-1, 3}));
    EXPECT_EQ(checkedByteSizeOf(ir::DType::kDouble, {2, 3}), 48u);
}

TEST(MemoryBudget, DefaultIsAFractionOfWhatTheMachineHas) {
    EXPECT_GT(defaultMemoryLimit(), std::size_t{0});
    EXPECT_EQ(memoryLimit(), defaultMemoryLimit());
    ScopedLimit limit(1 << 20);
    EXPECT_EQ(memoryLimit(), std::size_t{1} << 20);
}

TEST(MemoryBudget, OverTheLimitFailsCleanlyAndMemoryReturns) {
    const std::size_t before = memoryInUse();
    ScopedLimit limit(before + (1 << 20));  // 1 MiB more than what is held now
    {
        HostTensor a(ir::DType::kFloat, {128, 1024});  // 512 KiB
        EXPECT_EQ(memoryInUse(), before + (512u << 10));
        HostTensor shared = a;  // shares: counted once
        EXPECT_EQ(memoryInUse(), before + (512u << 10));

        HostTensor b(ir::DType::kFloat, {2, 3});
        try {
            b.ensure(ir::DType::kFloat, {256, 1024});  // 1 MiB more: over
            FAIL() << "ensure() granted 1 MiB over a 1 MiB budget holding 512 KiB";
        } catch (const MemoryLimitError& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("a float tensor of shape [256,1024] needs 1048576 bytes"),
                      std::string::npos)
                << what;
            EXPECT_NE(what.find("over the memory limit"), std::string::npos) << what;
            EXPECT_EQ(e.dims(), (Dims{256, 1024}));
        }
        // Refused: b is as it was, and nothing was taken from the budget.
        EXPECT_EQ(b.dims(), (Dims{2, 3}));
        EXPECT_EQ(b.numElements(), 6);
        EXPECT_EQ(memoryInUse(), before + (512u << 10) + 64u);

        // An overflowing or negative request is refused the same way, as a std::bad_alloc too.
        EXPECT_THROW(b.ensure(ir::DType::kFloat, {int64_t{1} << 32, int64_t{1} << 32, 6}),
                     MemoryLimitError);
        EXPECT_THROW(b.ensure(ir::DType::kFloat, {-2, 3}), std::bad_alloc);
        EXPECT_THROW(HostTensor(ir::DType::kString, {int64_t{1} << 40}), MemoryLimitError);
    }
    EXPECT_EQ(memoryInUse(), before);
    // With the first tensor gone, the same request fits.
    HostTensor c(ir::DType::kFloat, {192, 1024});
    EXPECT_EQ(memoryInUse(), before + (768u << 10));
}

TEST(MemoryBudget, CatchMemoryErrorsNamesWhereAndWhat) {
    ScopedLimit limit(memoryInUse() + 4096);
    Status s = catchMemoryErrors("node 'n' (Op)", [] {
        HostTensor t(ir::DType::kFloat, {1 << 20});
        return Status::ok();
    });
    EXPECT_EQ(s.code(), StatusCode::kBadInput);
    EXPECT_EQ(s.message().rfind("node 'n' (Op): a float tensor of shape [1048576] needs", 0), 0u)
        << s.message();
    Status plain = catchMemoryErrors("x", []() -> Status { throw std::bad_alloc(); });
    EXPECT_EQ(plain.code(), StatusCode::kBadInput);
    EXPECT_EQ(plain.message().rfind("x: out of memory", 0), 0u) << plain.message();
}

// A ConstantOfShape whose shape comes at run time: the plan's run() fails with kBadInput naming
// the node, its op and the shape; the plan runs again fine with a sane shape.
TEST(MemoryBudget, PlanRunTurnsARefusalIntoAStatusNamingTheNode) {
    ir::Model m;
    m.opsetImports.push_back({"", 13, {}});
    ir::Graph& g = *m.graph;
    ir::Value* shape = *g.addValue("shape");
    ir::Shape declared;
    declared.dims.push_back(ir::Dim::known(2));
    shape->type = ir::Type::tensor(ir::DType::kInt64, declared);
    g.insertGraphInput(shape);
    ir::Value* y = *g.addValue("y");
    g.addNode("ConstantOfShape", std::vector<ir::Value*>{shape}, std::vector<ir::Value*>{y})->name =
        "fill";
    g.insertGraphOutput(y);
    auto plan = Plan::compile(m);
    ASSERT_TRUE(plan) << plan.error().message();

    ScopedLimit limit(memoryInUse() + (1 << 20));
    auto huge = plan->run({HostTensor::fromInt64s({2}, {100000, 100000})});
    ASSERT_FALSE(huge);
    EXPECT_EQ(huge.error().code(), StatusCode::kBadInput);
    EXPECT_EQ(huge.error().message().rfind(
                  "node 'fill' (ConstantOfShape): a float tensor of shape [100000,100000] "
                  "needs 40000000000 bytes",
                  0),
              0u)
        << huge.error().message();
    auto wraps = plan->run({HostTensor::fromInt64s({2}, {int64_t{1} << 32, int64_t{1} << 32})});
    ASSERT_FALSE(wraps);
    EXPECT_NE(wraps.error().message().find("64-bit"), std::string::npos) << wraps.error().message();
    auto fine = plan->run({HostTensor::fromInt64s({2}, {3, 4})});
    ASSERT_TRUE(fine) << fine.error().message();
    EXPECT_EQ((*fine)[0].dims(), (Dims{3, 4}));
}
