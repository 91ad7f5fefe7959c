// Prints docs/conformance.md: ONNX node-test results of the reference kernels, one row per op.
//
//   build/tests/conformance_report > docs/conformance.md

#include <iostream>

#include "tests/core/engine/conformance_harness.h"

int main() {
    using namespace wh::conformance;
    if (!fs::exists(nodeTestRoot())) {
        std::cerr << nodeTestRoot() << " is missing: install libonnx-testdata\n";
        return 2;
    }
    const std::vector<std::string> ops = reportedOps();
    const auto byOp = foldersByOp(ops);
    std::vector<OpReport> reports;
    for (const std::string& op : ops) {
        auto it = byOp.find(op);
        reports.push_back(runOp(op, it == byOp.end() ? std::vector<fs::path>{} : it->second));
        std::cerr << op << ": " << reports.back().count(Outcome::kPass) << "/"
                  << reports.back().cases.size() << "\n";
    }
    const std::vector<SuiteCase> suite = runSuite(byOp);
    const SuiteShare share = suiteShare(suite);
    std::cerr << "all node tests: " << share.pass << "/" << share.counted << " counted pass ("
              << share.excluded << " excluded of " << share.total << ")\n";
    std::cout << markdownReport(reports, markdownSuite(suite));
    return 0;
}
