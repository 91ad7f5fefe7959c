// ONNX node-test conformance of the reference kernels: one test per operator of the Engine issue
// (plus any other registered reference op). A failure names the op, each failing test folder and
// its worst mismatch. See conformance_harness.h for the rules; conformance_report prints the table.
//
//   ./build/tests/test_engine --gtest_filter='*Conformance*Conv*'

#include <iostream>

#include <gtest/gtest.h>

#include "tests/core/engine/conformance_harness.h"

using namespace wh;
using namespace wh::conformance;

namespace {

const std::map<std::string, std::vector<fs::path>>& folders() {
    static const auto byOp = foldersByOp(reportedOps());
    return byOp;
}

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(Conformance, NodeTests) {
    const std::string& op = GetParam();
    if (!fs::exists(nodeTestRoot()))
        GTEST_SKIP() << nodeTestRoot() << " missing (libonnx-testdata)";
    auto it = folders().find(op);
    if (it == folders().end()) GTEST_SKIP() << "no node tests for " << op;
    if (!registeredReferenceOps().count(op))
        GTEST_SKIP() << op << " has no reference kernel (" << it->second.size() << " node tests)";
    const OpReport report = runOp(op, it->second);
    std::string failures, exceptions;
    for (const CaseResult& c : report.cases) {
        if (c.outcome == Outcome::kFail)
            failures += "\n  " + c.folder + ": " + c.detail;
        else if (c.outcome != Outcome::kPass)
            exceptions += "\n  " + c.folder + ": " + c.detail;
    }
    std::cout << op << ": " << report.count(Outcome::kPass) << "/" << report.cases.size() << " pass"
              << (exceptions.empty() ? "" : "; exceptions:") << exceptions << "\n";
    EXPECT_TRUE(failures.empty()) << op << ": " << report.count(Outcome::kFail) << " of "
                                  << report.cases.size() << " node tests fail:" << failures;
}

INSTANTIATE_TEST_SUITE_P(Onnx, Conformance, ::testing::ValuesIn(reportedOps()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             return info.param;
                         });

// docs/conformance.md's headline: of every ONNX 1.12 node test not excluded by design (strings,
// sequences, training mode, random outputs: exclusionReason), at least 90 % pass, whatever the op.
TEST(ConformanceSuite, NinetyPercentOfAllCountedNodeTestsPass) {
    if (!fs::exists(nodeTestRoot()))
        GTEST_SKIP() << nodeTestRoot() << " missing (libonnx-testdata)";
    const std::vector<SuiteCase> suite = runSuite(folders());
    const SuiteShare share = suiteShare(suite);
    std::cout << share.pass << " of " << share.counted << " counted node tests pass ("
              << share.excluded << " of " << share.total << " excluded)\n";
    EXPECT_GT(share.total, 900);  // ONNX 1.12 has 932: the data is all there
    EXPECT_LT(share.excluded, share.total / 8) << "exclusions must stay the exception";
    EXPECT_GE(share.share(), 0.90);
}

}  // namespace
