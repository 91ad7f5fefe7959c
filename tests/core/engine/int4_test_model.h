#pragma once
// A weight-only int4 model as ONNX Runtime's quantizer writes them (opset 21): y = x · W with
// W = DequantizeLinear(W_q, scale[, zero_point], axis 0, block_size) — W_q a packed 4-bit
// initializer [K, N], scale [ceil(K / block), N]. Used by int4_test.cpp and the ORT parity test.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/ir/graph.h"

namespace wh::engine::int4test {

struct Int4Case {
    bool isSigned = true;  // int4 codes -8..7, else uint4 0..15
    bool zeroPoint = false;
    int64_t K = 37, N = 8, block = 16;  // K not a multiple of the block; K * N odd or even
    uint32_t seed = 3;
};

struct Int4Model {
    ir::Model model;
    std::vector<float> weight;  // W [K, N] dequantized from the codes, by the test
};

inline ir::Tensor packedNibbles(const std::string& name, ir::DType dtype, std::vector<int64_t> dims,
                                const std::vector<int>& codes) {
    std::string bytes((codes.size() + 1) / 2, '\0');
    for (std::size_t i = 0; i < codes.size(); ++i) {
        const auto nibble = static_cast<uint8_t>(codes[i] & 0xF);
        bytes[i / 2] =
            static_cast<char>(static_cast<uint8_t>(bytes[i / 2]) | (i % 2 ? nibble << 4 : nibble));
    }
    ir::Tensor t;
    t.name = name;
    t.dtype = dtype;
    t.dims = std::move(dims);
    t.data = std::make_shared<const ir::Buffer>(std::move(bytes));
    return t;
}

inline Int4Model int4MatMul(const Int4Case& c) {
    Int4Model out;
    ir::Model& m = out.model;
    m.irVersion = 10;
    m.opsetImports.push_back({"", 21, {}});
    ir::Graph& g = *m.graph;
    std::mt19937 rng(c.seed);
    const int lo = c.isSigned ? -8 : 0, hi = c.isSigned ? 7 : 15;
    std::uniform_int_distribution<int> code(lo, hi);
    const int64_t blocks = (c.K + c.block - 1) / c.block;
    std::vector<int> w(static_cast<std::size_t>(c.K * c.N)),
        zp(static_cast<std::size_t>(blocks * c.N), 0);
    for (int& v : w) v = code(rng);
    if (c.zeroPoint)
        for (int& v : zp) v = code(rng);
    std::uniform_real_distribution<float> sd(0.01f, 0.1f);
    std::vector<float> scale(static_cast<std::size_t>(blocks * c.N));
    for (float& s : scale) s = sd(rng);
    out.weight.resize(w.size());
    for (int64_t k = 0; k < c.K; ++k)
        for (int64_t n = 0; n < c.N; ++n) {
            const auto b = static_cast<std::size_t>((k / c.block) * c.N + n);
            out.weight[static_cast<std::size_t>(k * c.N + n)] =
                static_cast<float>(w[static_cast<std::size_t>(k * c.N + n)] - zp[b]) * scale[b];
        }

    const ir::DType dtype = c.isSigned ? ir::DType::kInt4 : ir::DType::kUInt4;
    ir::Value* x = *g.addValue("x");
    x->type = ir::Type::tensor(ir::DType::kFloat,
                               ir::Shape{{ir::Dim::symbol("batch"), ir::Dim::known(c.K)}});
    g.insertGraphInput(x);
    ir::Value* wq = *g.addValue("w_q4");
    g.setInitializer(wq, packedNibbles("w_q4", dtype, {c.K, c.N}, w));
    ir::Value* ws = *g.addValue("w_scale");
    g.setInitializer(ws, ir::Tensor::fromFloats("w_scale", {blocks, c.N}, scale));
    std::vector<ir::Value*> dqIns{wq, ws};
    if (c.zeroPoint) {
        ir::Value* wz = *g.addValue("w_zero_point");
        g.setInitializer(wz, packedNibbles("w_zero_point", dtype, {blocks, c.N}, zp));
        dqIns.push_back(wz);
    }
    ir::Value* wf = *g.addValue("w");
    ir::Node* dq = g.addNode("DequantizeLinear", dqIns, std::vector<ir::Value*>{wf});
    dq->name = "w_dequant";
    dq->attributes().push_back(ir::Attribute::makeInt("axis", 0));
    dq->attributes().push_back(ir::Attribute::makeInt("block_size", c.block));
    ir::Value* y = *g.addValue("y");
    y->type = ir::Type::tensor(ir::DType::kFloat,
                               ir::Shape{{ir::Dim::symbol("batch"), ir::Dim::known(c.N)}});
    g.addNode("MatMul", std::vector<ir::Value*>{x, wf}, std::vector<ir::Value*>{y})->name =
        "matmul";
    g.insertGraphOutput(y);
    return out;
}

}  // namespace wh::engine::int4test
