// Import -> export must give back the ModelProto we read, field for field (protobuf's
// MessageDifferencer, presence included), for every model in Debian's libonnx-testdata and for
// the torchvision architectures exported by tests/tools/export_torchvision.py.

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>
#include <onnx/onnx_pb.h>

#include "core/onnx/model_io.h"

namespace fs = std::filesystem;

namespace {

const fs::path kTestData = "/usr/share/libonnx-testdata/data";

std::vector<fs::path> modelsUnder(const fs::path& root, const std::string& suffix) {
    std::vector<fs::path> out;
    std::error_code ec;
    if (!fs::exists(root, ec)) return out;
    for (const auto& e : fs::recursive_directory_iterator(root, ec))
        if (e.is_regular_file() && e.path().string().ends_with(suffix)) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

std::string readFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

// Empty when equal, else the differencer's report (truncated).
std::string roundTripDiff(const fs::path& path) {
    auto model = wh::onnx::loadModel(path);
    if (!model) return "load failed: " + model.error().message();
    auto bytes = wh::onnx::serializeModel(*model);
    if (!bytes) return "serialize failed: " + bytes.error().message();
    onnx::ModelProto original, exported;
    if (!original.ParseFromString(readFile(path))) return "reference parse failed";
    if (!exported.ParseFromString(*bytes)) return "our output does not parse";
    google::protobuf::util::MessageDifferencer diff;
    std::string report;
    diff.ReportDifferencesToString(&report);
    if (diff.Compare(original, exported)) return {};
    if (report.size() > 600) report = report.substr(0, 600) + "...";
    return report.empty() ? "differs" : report;
}

void checkAll(const std::vector<fs::path>& models) {
    int failed = 0;
    for (const fs::path& p : models) {
        std::string d = roundTripDiff(p);
        if (!d.empty()) {
            ++failed;
            ADD_FAILURE() << p << ":\n" << d;
        }
    }
    std::printf("round trip: %zu models, %d differ\n", models.size(), failed);
}

}  // namespace

TEST(RoundTrip, EveryLibonnxTestdataModelIsLossless) {
    auto models = modelsUnder(kTestData, "model.onnx");
    if (models.empty()) GTEST_SKIP() << "libonnx-testdata is not installed";
    EXPECT_EQ(models.size(), 1072u) << "the corpus changed size";
    checkAll(models);
}

TEST(RoundTrip, TorchvisionArchitecturesAreLossless) {
    fs::path dir = fs::path(WHITTLE_SOURCE_DIR) / "tests/data/torchvision";
    auto models = modelsUnder(dir, ".onnx");
    if (models.empty())
        GTEST_SKIP() << "no torchvision exports in " << dir
                     << " (python3-torch absent? run tests/tools/export_torchvision.sh)";
    EXPECT_GE(models.size(), 8u);
    checkAll(models);
}

// The comparison above is only worth something if it sees presence: a field set to its default
// must differ from an absent one. Build such a model and check that forgetting presence fails.
TEST(RoundTrip, PresenceOfDefaultFieldsIsKept) {
    onnx::ModelProto mp;
    mp.set_ir_version(8);
    auto* g = mp.mutable_graph();
    g->set_name("");  // present but empty
    auto* n = g->add_node();
    n->set_op_type("Relu");
    n->set_domain("");  // present but empty
    n->add_input("x");
    n->add_output("y");
    auto* in = g->add_input();
    in->set_name("x");
    in->mutable_type()->mutable_tensor_type()->set_elem_type(1);
    g->add_output()->set_name("y");
    const std::string bytes = mp.SerializeAsString();

    auto model = wh::onnx::parseModel(std::as_bytes(std::span(bytes.data(), bytes.size())),
                                      "inline.onnx", {});
    ASSERT_TRUE(model) << model.error().message();
    onnx::ModelProto same, forgetful;
    ASSERT_TRUE(same.ParseFromString(*wh::onnx::serializeModel(*model)));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(mp, same));

    model->graph->presence = {};
    model->graph->firstNode()->presence = {};
    ASSERT_TRUE(forgetful.ParseFromString(*wh::onnx::serializeModel(*model)));
    EXPECT_FALSE(google::protobuf::util::MessageDifferencer::Equals(mp, forgetful));
    EXPECT_FALSE(forgetful.graph().has_name());
    EXPECT_FALSE(forgetful.graph().node(0).has_domain());
}
