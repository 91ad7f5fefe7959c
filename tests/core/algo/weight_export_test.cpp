// writeQuantizedWeight: each format (8-bit DequantizeLinear per row, packed 2/3/4/8-bit codes per
// row and per group, signed and unsigned) on a Conv weight [8,4,3,3] and a MatMul weight [64,16]
// (transposed). Each test checks structure (the node types written, the code initializer's size
// against packedBytes) and numerics: the model with the written weight against the same model
// holding the dequantized float weight, on our engine, before and after an ONNX round trip; and,
// when installed, in ONNX Runtime (tests/peers) and under onnx.checker (python3 onnx).

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/algo/quant/weight_export.h"
#include "core/data/npy.h"
#include "core/engine/plan.h"
#include "core/onnx/model_io.h"
#include "core/rewrite/rewriter.h"

using namespace wh;
using namespace wh::algo::quant;
namespace fs = std::filesystem;

namespace {

const fs::path kPeers = fs::path(WHITTLE_SOURCE_DIR) / "tests/peers";

struct Case {
    int bits;
    int64_t groupSize;
    bool isUnsigned;
};

std::string describe(const Case& c) {
    return std::to_string(c.bits) + " bits, " +
           (c.groupSize ? "groups of " + std::to_string(c.groupSize) : std::string("per row")) +
           (c.isUnsigned ? ", unsigned" : ", signed");
}

/// Random codes in the grid, scales in [0.01, 0.1], random zero points for unsigned grids.
QuantizedWeight randomWeight(const std::vector<int64_t>& dims, bool transposed, const Case& c,
                             uint32_t seed) {
    QuantizedWeight q;
    q.dims = dims;
    q.transposed = transposed;
    q.rows = transposed ? dims[1] : dims[0];
    q.cols = 1;
    for (int64_t d : dims) q.cols *= d;
    q.cols /= q.rows;
    q.bits = c.bits;
    q.isUnsigned = c.isUnsigned;
    q.groupSize = c.groupSize;
    std::mt19937 rng(seed);
    const int lo = c.isUnsigned ? 0 : -(1 << (c.bits - 1));
    const int hi = c.isUnsigned ? (1 << c.bits) - 1 : (1 << (c.bits - 1)) - 1;
    std::uniform_int_distribution<int> code(lo, hi);
    std::uniform_real_distribution<float> scale(0.01f, 0.1f);
    for (int64_t i = 0; i < q.rows * q.cols; ++i) q.codes.push_back(code(rng));
    for (int64_t i = 0; i < q.rows * q.groups(); ++i) {
        q.scales.push_back(scale(rng));
        if (c.isUnsigned) q.zeroPoints.push_back(code(rng));
    }
    return q;
}

/// The dequantized weight in the ONNX layout.
std::vector<float> dequantized(const QuantizedWeight& q) {
    std::vector<float> out(static_cast<std::size_t>(q.rows * q.cols));
    for (int64_t r = 0; r < q.rows; ++r)
        for (int64_t c = 0; c < q.cols; ++c)
            out[static_cast<std::size_t>(q.transposed ? c * q.rows + r : r * q.cols + c)] =
                q.value(r, c);
    return out;
}

ir::Value* addInput(ir::Graph& g, const std::string& name, const engine::Dims& dims) {
    ir::Value* v = *g.addValue(name);
    ir::Shape shape;
    for (int64_t d : dims) shape.dims.push_back(ir::Dim::known(d));
    v->type = ir::Type::tensor(ir::DType::kFloat, shape);
    g.insertGraphInput(v);
    return v;
}

/// x [1, in, 6, 6] -> Conv(w, pad 1) -> y, or x [3, K] -> MatMul(w [K, N]) -> y; w holds the
/// dequantized float weight.
ir::Model buildModel(const QuantizedWeight& q, bool conv) {
    ir::Model m;
    m.irVersion = 8;
    m.opsetImports.push_back({"", 13, {}});
    ir::Graph& g = *m.graph;
    g.name = conv ? "conv" : "matmul";
    ir::Value* x = conv ? addInput(g, "x", {1, q.dims[1], 6, 6}) : addInput(g, "x", {3, q.dims[0]});
    ir::Value* w = *g.addValue("w");
    g.setInitializer(w, ir::Tensor::fromFloats("w", q.dims, dequantized(q)));
    ir::Value* y = *g.addValue("y");
    ir::Node* n = g.addNode(conv ? "Conv" : "MatMul", std::vector<ir::Value*>{x, w},
                            std::vector<ir::Value*>{y});
    n->name = "op";
    if (conv) {
        n->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {q.dims[2], q.dims[3]}));
        n->attributes().push_back(ir::Attribute::makeInts("pads", {1, 1, 1, 1}));
    }
    ir::Shape shape;
    for (int64_t d :
         conv ? std::vector<int64_t>{1, q.dims[0], 6, 6} : std::vector<int64_t>{3, q.dims[1]})
        shape.dims.push_back(ir::Dim::known(d));
    y->type = ir::Type::tensor(ir::DType::kFloat, shape);
    g.insertGraphOutput(y);
    return m;
}

engine::HostTensor inputFor(const ir::Model& m) {
    const ir::Value* x = m.graph->inputs()[0];
    engine::Dims dims;
    for (const ir::Dim& d : x->type.shape->dims) dims.push_back(d.value);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(static_cast<std::size_t>(engine::numElementsOf(dims)));
    for (float& f : v) f = u(rng);
    return engine::HostTensor::fromFloats(dims, v);
}

std::vector<float> run(const ir::Model& m, const engine::HostTensor& x, const std::string& what) {
    auto plan = engine::Plan::compile(m);
    EXPECT_TRUE(plan) << what << ": " << plan.error().message();
    if (!plan) return {};
    auto out = plan->run({x});
    EXPECT_TRUE(out) << what << ": " << out.error().message();
    return out ? (*out)[0].toFloats() : std::vector<float>{};
}

/// max |got - want| / max |want| below 1e-5.
void expectClose(const std::vector<float>& got, const std::vector<float>& want,
                 const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    ASSERT_FALSE(want.empty()) << what;
    double maxRef = 1e-12, maxDiff = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        maxRef = std::max(maxRef, std::abs(static_cast<double>(want[i])));
        maxDiff = std::max(maxDiff, std::abs(static_cast<double>(got[i]) - want[i]));
    }
    EXPECT_LT(maxDiff / maxRef, 1e-5)
        << what << ": max |diff| " << maxDiff << ", max |ref| " << maxRef;
}

int countOps(const ir::Graph& g, const std::string& op) {
    int n = 0;
    for (const ir::Node* node : g.nodes()) n += node->opType == op;
    return n;
}

struct Written {
    ir::Model reference;
    ir::Model quantized;
};

/// The reference model and a clone with the weight written in `format`.
Written write(const QuantizedWeight& q, bool conv, WeightFormat format = WeightFormat::kAuto) {
    Written out{buildModel(q, conv), buildModel(q, conv)};
    rewrite::Rewriter rw(*out.quantized.graph);
    auto v = writeQuantizedWeight(rw, *out.quantized.graph->findValue("w"), q, format);
    EXPECT_TRUE(v) << v.error().message();
    return out;
}

void checkCase(const std::vector<int64_t>& dims, bool conv, const Case& c) {
    const std::string what = std::string(conv ? "Conv" : "MatMul") + " weight [" +
                             std::to_string(dims[0]) + "," + std::to_string(dims[1]) +
                             (conv ? ",..]" : "]") + ", " + describe(c);
    SCOPED_TRACE(what);
    const QuantizedWeight q = randomWeight(dims, !conv, c, 11);
    Written m = write(q, conv);
    const ir::Graph& g = *m.quantized.graph;

    // Structure.
    EXPECT_EQ(g.findValue("w"), nullptr) << "the float initializer stays";
    const bool dql = c.bits == 8 && c.groupSize == 0;
    EXPECT_EQ(countOps(g, "DequantizeLinear"), dql ? 1 : 0);
    EXPECT_EQ(countOps(g, "BitShift") > 0, storageBits(c.bits) < 8);
    const ir::Value* codes = g.findValue(dql ? "w_q8" : "w_q" + std::to_string(c.bits));
    ASSERT_NE(codes, nullptr);
    ASSERT_TRUE(codes->hasInitializer());
    EXPECT_EQ(codes->initializer()->byteSize(), packedBytes(q));
    EXPECT_EQ(codes->initializer()->dtype,
              dql && !c.isUnsigned ? ir::DType::kInt8 : ir::DType::kUInt8);
    if (dql) {
        const ir::Node* dq = nullptr;
        for (const ir::Node* n : g.nodes())
            if (n->opType == "DequantizeLinear") dq = n;
        EXPECT_EQ(dq->attrInt("axis", -1), conv ? 0 : 1);
    }
    ASSERT_TRUE(g.validate().isOk()) << g.validate().message();

    // Numerics, then again after an ONNX round trip.
    const engine::HostTensor x = inputFor(m.reference);
    const std::vector<float> want = run(m.reference, x, "reference");
    expectClose(run(m.quantized, x, "quantized"), want, "quantized");
    auto bytes = onnx::serializeModel(m.quantized);
    ASSERT_TRUE(bytes) << bytes.error().message();
    auto back = onnx::parseModel(std::as_bytes(std::span(bytes->data(), bytes->size())), what, {});
    ASSERT_TRUE(back) << back.error().message();
    expectClose(run(*back, x, "re-imported"), want, "re-imported");
}

const std::vector<Case> kCases = {
    {8, 0, false}, {8, 0, true},  {8, 32, false}, {4, 0, false}, {4, 32, false},
    {4, 32, true}, {3, 0, false}, {3, 16, true},  {2, 0, true},  {2, 32, false},
};

}  // namespace

TEST(WeightExport, ConvWeightEveryFormat) {
    for (const Case& c : kCases) checkCase({8, 4, 3, 3}, true, c);
}

TEST(WeightExport, MatMulWeightEveryFormat) {
    for (const Case& c : kCases) checkCase({64, 16}, false, c);
}

TEST(WeightExport, OddSizesPadGroupsAndTheLastByte) {
    // 5 * 27 = 135 codes: the last byte is half used; groups of 8 over 27 cols pad to 32.
    checkCase({5, 3, 3, 3}, true, {4, 8, true});
    checkCase({5, 3, 3, 3}, true, {2, 8, false});
    checkCase({5, 3, 3, 3}, true, {3, 0, false});
}

TEST(WeightExport, PerTensorWhenEveryRowAgrees) {
    QuantizedWeight q = randomWeight({8, 4, 3, 3}, false, {8, 0, false}, 3);
    for (float& s : q.scales) s = 0.05f;
    Written m = write(q, true);
    const ir::Value* scale = m.quantized.graph->findValue("w_scale");
    ASSERT_NE(scale, nullptr);
    EXPECT_TRUE(scale->initializer()->dims.empty());
    const engine::HostTensor x = inputFor(m.reference);
    expectClose(run(m.quantized, x, "per tensor"), run(m.reference, x, "reference"), "per tensor");
}

TEST(WeightExport, ExplicitDequantizeLinearBelow8Bits) {
    const QuantizedWeight q = randomWeight({64, 16}, true, {4, 0, false}, 5);
    Written m = write(q, false, WeightFormat::kDequantizeLinear);
    EXPECT_EQ(countOps(*m.quantized.graph, "DequantizeLinear"), 1);
    const engine::HostTensor x = inputFor(m.reference);
    expectClose(run(m.quantized, x, "dql 4"), run(m.reference, x, "reference"), "dql 4");
}

TEST(WeightExport, OneUndoStepRestoresTheFloatWeight) {
    const QuantizedWeight q = randomWeight({64, 16}, true, {4, 32, false}, 5);
    ir::Model m = buildModel(q, false);
    rewrite::Rewriter rw(*m.graph);
    ASSERT_TRUE(writeQuantizedWeight(rw, *m.graph->findValue("w"), q));
    ASSERT_EQ(m.graph->findValue("w"), nullptr);
    ASSERT_TRUE(rw.undo().isOk());
    EXPECT_EQ(m.graph->numNodes(), 1u);
    ASSERT_NE(m.graph->findValue("w"), nullptr);
    EXPECT_TRUE(m.graph->findValue("w")->hasInitializer());
    EXPECT_EQ(m.graph->initializers().size(), 1u);
}

TEST(WeightExport, RejectsBadInputAndChangesNothing) {
    QuantizedWeight q = randomWeight({64, 16}, true, {4, 32, false}, 5);
    ir::Model m = buildModel(q, false);
    rewrite::Rewriter rw(*m.graph);
    ir::Value& w = *m.graph->findValue("w");
    QuantizedWeight bad = q;
    bad.codes[3] = 8;  // outside the signed 4-bit grid
    auto r = writeQuantizedWeight(rw, w, bad);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("outside"), std::string::npos) << r.error().message();
    bad = q;
    bad.dims = {16, 64};
    EXPECT_FALSE(writeQuantizedWeight(rw, w, bad));
    EXPECT_FALSE(writeQuantizedWeight(rw, w, q, WeightFormat::kDequantizeLinear));  // groups
    EXPECT_EQ(m.graph->numNodes(), 1u);
    EXPECT_FALSE(rw.canUndo());
}

TEST(WeightExport, NamesStayUniqueForTwoWritesOfTheSameName) {
    // Two weights whose derived names would collide: "w" and a pre-existing value "w_q4".
    const QuantizedWeight q = randomWeight({64, 16}, true, {4, 32, false}, 5);
    Written m{buildModel(q, false), buildModel(q, false)};
    ir::Graph& g = *m.quantized.graph;
    ir::Value* taken = *g.addValue("w_q4");
    g.setInitializer(taken, ir::Tensor::fromFloats("w_q4", {1}, {0.0f}));
    rewrite::Rewriter rw(g);
    auto v = writeQuantizedWeight(rw, *g.findValue("w"), q);
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_TRUE(g.validate().isOk()) << g.validate().message();
    const engine::HostTensor x = inputFor(m.reference);
    expectClose(run(m.quantized, x, "renamed"), run(m.reference, x, "reference"), "renamed");
}

TEST(WeightExport, SharedUnpackConstantsNeverReuseAForeignTensor) {
    // The packed form shares "uint8_<k>" / "float_<z>" scalars between weights; a value of that
    // name that is not the same scalar (here a float "uint8_4" and a [1] "float_8") is left
    // alone and the writer takes fresh names.
    const QuantizedWeight q = randomWeight({8, 4, 3, 3}, false, {4, 0, false}, 6);
    Written m{buildModel(q, true), buildModel(q, true)};
    ir::Graph& g = *m.quantized.graph;
    for (const char* name : {"uint8_4", "float_8"}) {
        ir::Value* taken = *g.addValue(name);
        g.setInitializer(taken, ir::Tensor::fromFloats(name, {1}, {4.0f}));
    }
    rewrite::Rewriter rw(g);
    auto v = writeQuantizedWeight(rw, *g.findValue("w"), q);
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_TRUE(g.validate().isOk()) << g.validate().message();
    for (const char* name : {"uint8_4", "float_8"}) {
        EXPECT_EQ(g.findValue(name)->initializer()->dtype, ir::DType::kFloat) << name;
        EXPECT_FALSE(g.findValue(name)->hasUses()) << name << " was reused";
    }
    const engine::HostTensor x = inputFor(m.reference);
    expectClose(run(m.quantized, x, "fresh names"), run(m.reference, x, "reference"), "fresh");
}

TEST(WeightExport, EnsureOpsetAddsOrRaisesOnlyWhenSafe) {
    ir::Model m;
    EXPECT_TRUE(ensureOpset(m, 13).isOk());
    EXPECT_EQ(m.opsetVersion(), 13);

    const QuantizedWeight q = randomWeight({64, 16}, true, {4, 32, false}, 5);
    ir::Model old = buildModel(q, false);
    old.opsetImports[0].version = 11;
    EXPECT_TRUE(ensureOpset(old, 13).isOk());
    EXPECT_EQ(old.opsetVersion(), 13);

    ir::Model squeeze = buildModel(q, false);
    squeeze.opsetImports[0].version = 11;
    ir::Graph& g = *squeeze.graph;
    ir::Value* s = *g.addValue("s");
    ir::Node* n =
        g.addNode("Squeeze", std::vector<ir::Value*>{g.findValue("y")}, std::vector<ir::Value*>{s});
    n->name = "sq";
    const Status st = ensureOpset(squeeze, 13);
    EXPECT_EQ(st.code(), StatusCode::kUnsupported);
    EXPECT_NE(st.message().find("sq"), std::string::npos) << st.message();
    EXPECT_EQ(squeeze.opsetVersion(), 11);
}

// ---- Peers: ONNX Runtime and the onnx checker ------------------------------------------------

namespace {

fs::path saveTemp(const ir::Model& m, const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / ("whittle-weight-export-" + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path path = dir / "model.onnx";
    EXPECT_TRUE(onnx::saveModel(m, path).isOk());
    return path;
}

}  // namespace

TEST(WeightExport, FourBitGroupsRunInOnnxRuntime) {
    if (!fs::exists(kPeers / "node_modules/onnxruntime-node/package.json") ||
        std::system("command -v node >/dev/null 2>&1") != 0)
        GTEST_SKIP() << "node or onnxruntime-node absent (" << kPeers.string()
                     << "/node_modules; install-deps.sh --peers)";
    for (bool conv : {true, false}) {
        SCOPED_TRACE(conv ? "Conv" : "MatMul");
        const QuantizedWeight q =
            randomWeight(conv ? std::vector<int64_t>{8, 4, 3, 3} : std::vector<int64_t>{64, 16},
                         !conv, {4, 32, true}, 13);
        Written m = write(q, conv);
        const fs::path path = saveTemp(m.quantized, conv ? "conv" : "matmul");
        const engine::HostTensor x = inputFor(m.reference);
        const fs::path npy = path.parent_path() / "x.npy";
        ASSERT_TRUE(data::writeNpy(npy, x).isOk());
        const std::string cmd = "node " + (kPeers / "ort_run.js").string() + " " + path.string() +
                                " " + (path.parent_path() / "ort").string() + " x=" + npy.string() +
                                " >/dev/null";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << "ONNX Runtime failed: " << cmd;
        auto theirs = data::readNpy(path.parent_path() / "ort" / "y.npy");
        ASSERT_TRUE(theirs) << theirs.error().message();
        expectClose(theirs->toFloats(), run(m.reference, x, "reference"), "ONNX Runtime");
        fs::remove_all(path.parent_path());
    }
}

TEST(WeightExport, FourBitModelPassesTheOnnxChecker) {
    if (std::system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") != 0)
        GTEST_SKIP() << "python3 onnx absent (Debian: apt install python3-onnx)";
    for (const Case& c : {Case{4, 32, true}, Case{4, 0, false}, Case{8, 0, false}}) {
        SCOPED_TRACE(describe(c));
        const QuantizedWeight q = randomWeight({8, 4, 3, 3}, false, c, 17);
        Written m = write(q, true);
        const fs::path path = saveTemp(m.quantized, "checker");
        const std::string cmd =
            "/usr/bin/python3 -c \"import onnx, sys; "
            "m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, "
            "full_check=True)\" " +
            path.string();
        EXPECT_EQ(std::system(cmd.c_str()), 0) << "onnx.checker refused " << path;
        fs::remove_all(path.parent_path());
    }
}
