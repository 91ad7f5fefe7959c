// Tensors stored beside the model (data_location = EXTERNAL) are read, kept external, and
// written back under the same location and offsets next to the exported model.

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>
#include <onnx/onnx_pb.h>

#include "core/onnx/model_io.h"

namespace fs = std::filesystem;

namespace {

std::string readFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void addExternal(onnx::GraphProto* g, const std::string& name, int count,
                 const std::string& location, int64_t offset) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(count);
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const char* k, const std::string& v) {
        auto* e = t->add_external_data();
        e->set_key(k);
        e->set_value(v);
    };
    add("location", location);
    add("offset", std::to_string(offset));
    add("length", std::to_string(count * 4));
}

// A model with two tensors sharing weights.bin (the second at offset 4096) and one in its own
// file in a sub-folder.
struct ExternalModel {
    fs::path dir;
    onnx::ModelProto proto;
    std::string weights, other;

    explicit ExternalModel(const std::string& tag) {
        dir = fs::temp_directory_path() / ("whittle-external-" + tag);
        fs::remove_all(dir);
        fs::create_directories(dir / "data");
        proto.set_ir_version(8);
        proto.add_opset_import()->set_version(13);
        auto* g = proto.mutable_graph();
        g->set_name("external");
        auto* n = g->add_node();
        n->set_op_type("Add");
        n->add_input("a");
        n->add_input("b");
        n->add_output("s");
        auto* n2 = g->add_node();
        n2->set_op_type("Add");
        n2->add_input("s");
        n2->add_input("c");
        n2->add_output("y");
        addExternal(g, "a", 16, "weights.bin", 0);
        addExternal(g, "b", 16, "weights.bin", 4096);
        addExternal(g, "c", 8, "data/c.bin", 0);
        auto* out = g->add_output();
        out->set_name("y");
        weights.assign(4096 + 64, '\0');
        for (int i = 0; i < 16; ++i) {
            float a = static_cast<float>(i), b = 100.0f + static_cast<float>(i);
            std::memcpy(&weights[static_cast<std::size_t>(i) * 4], &a, 4);
            std::memcpy(&weights[4096 + static_cast<std::size_t>(i) * 4], &b, 4);
        }
        other.assign(32, '\0');
        for (int i = 0; i < 8; ++i) {
            float c = -static_cast<float>(i);
            std::memcpy(&other[static_cast<std::size_t>(i) * 4], &c, 4);
        }
        std::ofstream(dir / "weights.bin", std::ios::binary) << weights;
        std::ofstream(dir / "data/c.bin", std::ios::binary) << other;
        std::ofstream(dir / "model.onnx", std::ios::binary) << proto.SerializeAsString();
    }
    ~ExternalModel() { fs::remove_all(dir); }
};

}  // namespace

TEST(ExternalData, IsReadIntoTheTensor) {
    ExternalModel m("read");
    auto model = wh::onnx::loadModel(m.dir / "model.onnx");
    ASSERT_TRUE(model) << model.error().message();
    const wh::ir::Value* b = model->graph->findValue("b");
    ASSERT_TRUE(b && b->hasInitializer());
    EXPECT_EQ(b->initializer()->storage, wh::ir::TensorStorage::kExternal);
    ASSERT_EQ(b->initializer()->values<float>().size(), 16u);
    EXPECT_EQ(b->initializer()->values<float>()[3], 103.0f);
    EXPECT_EQ(model->graph->findValue("c")->initializer()->values<float>()[7], -7.0f);
}

TEST(ExternalData, IsWrittenBackBesideTheExport) {
    ExternalModel m("write");
    auto model = wh::onnx::loadModel(m.dir / "model.onnx");
    ASSERT_TRUE(model) << model.error().message();
    const fs::path outDir = m.dir / "out";
    fs::create_directories(outDir);
    ASSERT_TRUE(wh::onnx::saveModel(*model, outDir / "copy.onnx").isOk());

    onnx::ModelProto written;
    ASSERT_TRUE(written.ParseFromString(readFile(outDir / "copy.onnx")));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(m.proto, written));
    // The bytes the tensors occupy are identical; the gap between them is zero-filled.
    const std::string w = readFile(outDir / "weights.bin");
    ASSERT_EQ(w.size(), m.weights.size());
    EXPECT_EQ(w, m.weights);
    EXPECT_EQ(readFile(outDir / "data/c.bin"), m.other);

    // And the export loads again with the same values.
    auto again = wh::onnx::loadModel(outDir / "copy.onnx");
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_EQ(again->graph->findValue("a")->initializer()->values<float>()[15], 15.0f);
}

TEST(ExternalData, EditedWeightsReachTheFile) {
    ExternalModel m("edit");
    auto model = wh::onnx::loadModel(m.dir / "model.onnx");
    ASSERT_TRUE(model);
    model->graph->findValue("c")->mutableInitializer()->mutableValues<float>()[0] = 42.0f;
    const fs::path outDir = m.dir / "edited";
    fs::create_directories(outDir);
    ASSERT_TRUE(wh::onnx::saveModel(*model, outDir / "m.onnx").isOk());
    auto again = wh::onnx::loadModel(outDir / "m.onnx");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->graph->findValue("c")->initializer()->values<float>()[0], 42.0f);
    // The source folder's data is untouched.
    EXPECT_EQ(readFile(m.dir / "data/c.bin"), m.other);
}

TEST(ExternalData, ExportNeverOverwritesTheInputsDataFiles) {
    ExternalModel m("protect");
    auto model = wh::onnx::loadModel(m.dir / "model.onnx");
    ASSERT_TRUE(model);
    // Unchanged weights into the same folder: the data files already hold those bytes.
    ASSERT_TRUE(wh::onnx::saveModel(*model, m.dir / "same.onnx").isOk());
    // Changed weights into the same folder would clobber the input's data: refused.
    model->graph->findValue("a")->mutableInitializer()->mutableValues<float>()[0] = 7.0f;
    wh::Status s = wh::onnx::saveModel(*model, m.dir / "changed.onnx");
    ASSERT_FALSE(s.isOk());
    EXPECT_NE(s.message().find("weights.bin"), std::string::npos) << s.message();
    EXPECT_EQ(readFile(m.dir / "weights.bin"), m.weights);
    EXPECT_FALSE(fs::exists(m.dir / "changed.onnx"));
}
