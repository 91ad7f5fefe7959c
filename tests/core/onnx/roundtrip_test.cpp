// Import -> export must give back the ModelProto we read, field for field (protobuf's
// MessageDifferencer, presence included), for every model in Debian's libonnx-testdata and for
// the torchvision architectures exported by tests/tools/export_torchvision.py.

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
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

// ONNX 1.16's 4-bit tensors: packed bytes in raw_data, or one packed byte per int32_data entry
// (onnx.helper's form); both are read and written back unchanged, and a size that does not
// match the shape is refused naming the tensor.
TEST(RoundTrip, FourBitTensorsAreReadAndWrittenBack) {
    onnx::ModelProto mp;
    mp.set_ir_version(10);
    mp.add_opset_import()->set_version(21);
    auto* g = mp.mutable_graph();
    auto* raw = g->add_initializer();
    raw->set_name("w_int4");
    raw->set_data_type(22);  // INT4
    raw->add_dims(5);
    raw->set_raw_data(std::string("\x8F\x21\x07", 3));  // [-1, -8, 1, 2, 7]
    auto* typed = g->add_initializer();
    typed->set_name("z_uint4");
    typed->set_data_type(21);  // UINT4
    typed->add_dims(3);
    typed->add_int32_data(0x9A);  // [10, 9]
    typed->add_int32_data(0x03);  // [3]
    auto* out = g->add_output();
    out->set_name("w_int4");
    const std::string bytes = mp.SerializeAsString();

    auto model =
        wh::onnx::parseModel(std::as_bytes(std::span(bytes.data(), bytes.size())), "int4.onnx", {});
    ASSERT_TRUE(model) << model.error().message();
    const wh::ir::Tensor* w = model->graph->findValue("w_int4")->initializer();
    ASSERT_EQ(w->dtype, wh::ir::DType::kInt4);
    std::vector<double> values;
    for (int64_t i = 0; i < w->numElements(); ++i) values.push_back(w->elementAsDouble(i));
    EXPECT_EQ(values, (std::vector<double>{-1, -8, 1, 2, 7}));
    const wh::ir::Tensor* z = model->graph->findValue("z_uint4")->initializer();
    ASSERT_EQ(z->dtype, wh::ir::DType::kUInt4);
    EXPECT_EQ(z->elementAsDouble(0), 10);
    EXPECT_EQ(z->elementAsDouble(2), 3);

    onnx::ModelProto back;
    ASSERT_TRUE(back.ParseFromString(*wh::onnx::serializeModel(*model)));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(mp, back));

    raw->set_raw_data(std::string("\x8F\x21", 2));  // 5 elements need 3 bytes
    const std::string shortBytes = mp.SerializeAsString();
    auto refused = wh::onnx::parseModel(
        std::as_bytes(std::span(shortBytes.data(), shortBytes.size())), "int4.onnx", {});
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message().find("w_int4"), std::string::npos)
        << refused.error().message();
}
