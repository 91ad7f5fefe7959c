#pragma once
// Helpers of the int8 lowering tests (qconv_test.cpp, qadd_test.cpp): a builder of small QDQ
// models and the comparison of an int8 plan against the QDQ graph run as float reference ops.

#include <array>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/engine/plan.h"

namespace wh::engine::qdqtest {


inline ir::Tensor rawTensor(ir::DType dtype, const Dims& dims, const void* data, std::size_t bytes) {
    ir::Tensor t;
    t.dtype = dtype;
    t.dims = dims;
    t.data = std::make_shared<const ir::Buffer>(
        std::string(static_cast<const char*>(data), bytes));
    return t;
}

struct ConvCase {
    int64_t in = 8, out = 16, k = 3, group = 1, stride = 1, pad = 1, size = 9, batch = 2;
    std::string act;           // "", "Relu", "Clip"
    bool perChannel = true;    // per output channel weight scales
    bool weightZp = true;      // an all-zero weight zero point input
    bool bias = true;          // an int32 bias through DequantizeLinear
    bool biasScaleMul = false; // its scale computed by Mul(x scale, weight scales), as we export
    int xZp = 128;             // input zero point
    bool signedX = false;      // int8 x (zero point xZp - 128)
    int yZp = 0;               // output zero point (uint8)
    bool nonZeroWeightZp = false;  // breaks the pattern
};

/// Builds QDQ models: float x → QuantizeLinear → [DequantizeLinear → Conv ...] groups.
class QNet {
public:
    QNet() { m_model.opsetImports.push_back({"", 13, {}}); }

    ir::Graph& g() { return *m_model.graph; }
    const ir::Model& model() const { return m_model; }

    ir::Value* value(const std::string& name) { return *g().addValue(name); }

    ir::Value* init(const std::string& name, ir::Tensor t) {
        ir::Value* v = value(name);
        t.name = name;
        g().setInitializer(v, std::move(t));
        return v;
    }
    ir::Value* floats(const std::string& name, const Dims& dims, std::vector<float> data) {
        return init(name, ir::Tensor::fromFloats(name, dims, data));
    }
    ir::Value* zeroPoint(const std::string& name, int zp, bool isSigned) {
        if (isSigned) {
            const int8_t v = static_cast<int8_t>(zp);
            return init(name, rawTensor(ir::DType::kInt8, {}, &v, 1));
        }
        const uint8_t v = static_cast<uint8_t>(zp);
        return init(name, rawTensor(ir::DType::kUInt8, {}, &v, 1));
    }

    ir::Value* node(const std::string& op, const std::string& name, std::vector<ir::Value*> ins) {
        ir::Value* out = value(name + "_out");
        ir::Node* n = g().addNode(op, std::move(ins), std::vector<ir::Value*>{out});
        n->name = name;
        return out;
    }

    ir::Value* input(const std::string& name, const Dims& dims) {
        ir::Value* v = value(name);
        ir::Shape shape;
        for (int64_t d : dims) shape.dims.push_back(ir::Dim::known(d));
        v->type = ir::Type::tensor(ir::DType::kFloat, shape);
        g().insertGraphInput(v);
        return v;
    }

    /// QuantizeLinear with its own scale and zero point; returns {q, scale, zp}.
    std::array<ir::Value*, 3> quantize(const std::string& name, ir::Value* x, float scale, int zp,
                                       bool isSigned) {
        ir::Value* s = floats(name + "_scale", {}, {scale});
        ir::Value* z = zeroPoint(name + "_zp", zp, isSigned);
        return {node("QuantizeLinear", name, {x, s, z}), s, z};
    }

    ir::Value* dequantize(const std::string& name, const std::array<ir::Value*, 3>& q) {
        return node("DequantizeLinear", name, {q[0], q[1], q[2]});
    }

    /// The QDQ Conv group reading quantized `q` (with its scale and zp): returns the quantized
    /// output triple.
    /// `dqx`: an existing DequantizeLinear output of q to read (shared with a residual Add).
    std::array<ir::Value*, 3> qconv(const std::string& name, const std::array<ir::Value*, 3>& q,
                                    float xScale, const ConvCase& c, float yScale,
                                    ir::Value* dqx = nullptr) {
        if (!dqx) dqx = dequantize(name + "_dqx", q);
        std::uniform_int_distribution<int> wd(-127, 127);
        const int64_t perOut = c.in / c.group * c.k * c.k;
        std::vector<int8_t> w(static_cast<std::size_t>(c.out * perOut));
        for (int8_t& v : w) v = static_cast<int8_t>(wd(m_rng));
        std::uniform_real_distribution<float> sd(0.002f, 0.01f);
        std::vector<float> ws(c.perChannel ? static_cast<std::size_t>(c.out) : 1);
        for (float& s : ws) s = sd(m_rng);
        const Dims wsDims = c.perChannel ? Dims{c.out} : Dims{};
        ir::Value* wq = init(name + "_wq", rawTensor(ir::DType::kInt8, {c.out, c.in / c.group, c.k, c.k},
                                                     w.data(), w.size()));
        ir::Value* wsv = floats(name + "_ws", wsDims, ws);
        std::vector<ir::Value*> dqwIns{wq, wsv};
        if (c.weightZp || c.nonZeroWeightZp) {
            std::vector<int8_t> z(ws.size(), c.nonZeroWeightZp ? 3 : 0);
            dqwIns.push_back(init(name + "_wzp", rawTensor(ir::DType::kInt8, wsDims, z.data(),
                                                           z.size())));
        }
        ir::Value* dqw = node("DequantizeLinear", name + "_dqw", dqwIns);
        dqw->producer()->attributes().push_back(ir::Attribute::makeInt("axis", 0));
        std::vector<ir::Value*> convIns{dqx, dqw};
        if (c.bias) {
            std::uniform_int_distribution<int32_t> bd(-3000, 3000);
            std::vector<int32_t> b(static_cast<std::size_t>(c.out));
            std::vector<float> bs(ws.size());
            for (int32_t& v : b) v = bd(m_rng);
            for (std::size_t i = 0; i < ws.size(); ++i) bs[i] = xScale * ws[i];
            ir::Value* bq = init(name + "_bq", rawTensor(ir::DType::kInt32, {c.out}, b.data(),
                                                         b.size() * 4));
            ir::Value* bsv = c.biasScaleMul
                                 ? node("Mul", name + "_bs", {floats(name + "_xs", {}, {xScale}), wsv})
                                 : floats(name + "_bs", wsDims, bs);
            ir::Value* dqb = node("DequantizeLinear", name + "_dqb", {bq, bsv});
            dqb->producer()->attributes().push_back(ir::Attribute::makeInt("axis", 0));
            convIns.push_back(dqb);
        }
        ir::Value* y = node("Conv", name, convIns);
        ir::Node* conv = y->producer();
        conv->attributes().push_back(ir::Attribute::makeInts("kernel_shape", {c.k, c.k}));
        conv->attributes().push_back(ir::Attribute::makeInts("pads", {c.pad, c.pad, c.pad, c.pad}));
        conv->attributes().push_back(ir::Attribute::makeInts("strides", {c.stride, c.stride}));
        conv->attributes().push_back(ir::Attribute::makeInt("group", c.group));
        if (c.act == "Relu") y = node("Relu", name + "_relu", {y});
        if (c.act == "Clip")
            y = node("Clip", name + "_clip",
                     {y, floats(name + "_lo", {}, {0.0f}), floats(name + "_hi", {}, {6.0f})});
        return quantize(name + "_q", y, yScale, c.yZp, false);
    }

private:
    ir::Model m_model;
    std::mt19937 m_rng{42};
};

inline HostTensor randomInput(const Dims& dims, float lo, float hi) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(static_cast<std::size_t>(numElementsOf(dims)));
    for (float& x : v) x = u(rng);
    return HostTensor::fromFloats(dims, v);
}

inline Expected<Plan> compile(const ir::Model& model, bool fuse, bool referenceOnly) {
    PlanOptions options;
    options.fuse = fuse;
    if (referenceOnly) options.backends = {Backend::kReference};
    return Plan::compile(model, options);
}

/// The describe() line containing `key`; "" if none.
inline std::string lineWith(const std::string& steps, const std::string& key) {
    const std::size_t at = steps.find(key);
    if (at == std::string::npos) return {};
    const std::size_t begin = steps.rfind('\n', at);
    const std::size_t end = steps.find('\n', at);
    const std::size_t from = begin == std::string::npos ? 0 : begin + 1;
    return steps.substr(from, end == std::string::npos ? std::string::npos : end - from);
}

/// Integer codes of a uint8/int8 output.
inline std::vector<int> codes(const HostTensor& t) {
    std::vector<int> out(static_cast<std::size_t>(t.numElements()));
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = t.dtype() == ir::DType::kUInt8 ? t.data<uint8_t>()[i] : t.data<int8_t>()[i];
    return out;
}

/// Runs `model` as the QDQ graph (oracle), lowered on oneDNN and lowered on the reference QConv;
/// expects every output within one step and at least `minExact` of its elements exact (1: all);
/// returns the oneDNN plan's describe().
inline std::string expectMatchesQdq(const ir::Model& model, const std::vector<HostTensor>& x,
                                    double minExact = 0.99) {
    auto oracle = compile(model, false, false);
    EXPECT_TRUE(oracle) << oracle.error().message();
    if (!oracle) return {};
    auto want = oracle->run(x);
    EXPECT_TRUE(want) << want.error().message();
    std::string steps;
    for (bool referenceOnly : {false, true}) {
        auto plan = compile(model, true, referenceOnly);
        EXPECT_TRUE(plan) << plan.error().message();
        if (!plan) continue;
        if (!referenceOnly) steps = plan->describe();
        auto got = plan->run(x);
        EXPECT_TRUE(got) << got.error().message();
        if (!want || !got) continue;
        for (std::size_t o = 0; o < want->size(); ++o) {
            const HostTensor& w = (*want)[o];
            const HostTensor& g = (*got)[o];
            EXPECT_EQ(g.dtype(), w.dtype());
            EXPECT_EQ(g.dims(), w.dims());
            if (g.dtype() != w.dtype() || g.dims() != w.dims()) continue;
            const std::vector<int> a = codes(w), b = codes(g);
            std::size_t exact = 0;
            int maxDiff = 0;
            for (std::size_t i = 0; i < a.size(); ++i) {
                maxDiff = std::max(maxDiff, std::abs(a[i] - b[i]));
                exact += a[i] == b[i];
            }
            EXPECT_LE(maxDiff, 1) << (referenceOnly ? "reference" : "oneDNN") << " output " << o
                                  << "\n" << plan->describe();
            EXPECT_GE(static_cast<double>(exact), minExact * static_cast<double>(a.size()))
                << (referenceOnly ? "reference" : "oneDNN") << " output " << o << ": " << exact
                << " of " << a.size() << " exact\n" << plan->describe();
        }
    }
    return steps;
}

inline std::string expectMatchesQdq(const ir::Model& model, const HostTensor& x) {
    return expectMatchesQdq(model, std::vector<HostTensor>{x});
}

/// The implementations oneDNN picked for the `op` steps: the text in [...] of each line.
inline std::vector<std::string> implementationsOf(const std::string& steps, const std::string& op) {
    std::vector<std::string> impls;
    std::size_t pos = 0;
    while ((pos = steps.find(op + "(", pos)) != std::string::npos) {
        const std::size_t open = steps.find(") [", pos);
        const std::size_t close = steps.find(']', open);
        impls.push_back(steps.substr(open + 3, close - open - 3));
        pos = close;
    }
    return impls;
}

inline std::vector<std::string> qconvImplementations(const std::string& steps) {
    return implementationsOf(steps, "QConv");
}

}  // namespace wh::engine::qdqtest
