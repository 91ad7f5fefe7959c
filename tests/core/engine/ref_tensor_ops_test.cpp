// The broadcasting helper, and reference-kernel edge cases the ONNX node tests do not cover:
// int64 shape arithmetic, Reshape 0/-1 with shapes known only at run time, Slice with negative
// steps and huge bounds, compile-time Shape constants, opset-18 Split, Cast rounding, Pad modes.

#include <limits>
#include <random>

#include <gtest/gtest.h>

#include "core/engine/plan.h"
#include "core/engine/ref/broadcast.h"
#include "core/engine/ref/kernel_util.h"

using namespace wh;
using namespace wh::engine;

namespace {

// One input of the single-node model: a graph input fed at run time or an initializer (known at
// compile time). An empty tensor stands for an omitted optional input.
struct In {
    HostTensor value;
    bool constant = false;
};
In feed(HostTensor t) {
    return {std::move(t), false};
}
In fixed(HostTensor t) {
    return {std::move(t), true};
}
In omitted() {
    return {};
}

struct Result {
    Expected<Plan> plan = error(StatusCode::kInternal, "not compiled");
    Expected<std::vector<HostTensor>> outputs = error(StatusCode::kInternal, "not run");
};

// Builds a model with one `op` node at `opset`, compiles it on the reference backend (fed inputs
// declared with unknown dims when `hideShapes`), and runs it.
Result runNode(const std::string& op, int64_t opset, std::vector<In> inputs,
               std::vector<ir::Attribute> attrs = {}, int numOutputs = 1, bool hideShapes = false) {
    ir::Model m;
    m.opsetImports.push_back({"", opset, {}});
    ir::Graph& g = *m.graph;
    std::vector<ir::Value*> ins, outs;
    std::vector<HostTensor> fed;
    PlanOptions options;
    options.backends = {Backend::kReference};
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (inputs[i].value.empty()) {
            ins.push_back(nullptr);
            continue;
        }
        ir::Value* v = *g.addValue("in" + std::to_string(i));
        const HostTensor& t = inputs[i].value;
        if (inputs[i].constant) {
            g.setInitializer(v, t.toIr(v->name()));
        } else {
            ir::Shape shape;
            for (int64_t d : t.dims())
                shape.dims.push_back(hideShapes ? ir::Dim::symbol("d") : ir::Dim::known(d));
            v->type = ir::Type::tensor(t.dtype(), shape);
            g.insertGraphInput(v);
            if (hideShapes) options.inputShapes[v->name()] = Dims(t.dims().size(), -1);
            fed.push_back(t);
        }
        ins.push_back(v);
    }
    for (int i = 0; i < numOutputs; ++i) outs.push_back(*g.addValue("out" + std::to_string(i)));
    ir::Node* node = g.addNode(op, ins, outs);
    node->name = "n";
    for (auto& a : attrs) node->attributes().push_back(std::move(a));
    for (ir::Value* v : outs) g.insertGraphOutput(v);
    Result r;
    r.plan = Plan::compile(m, options);
    if (r.plan) r.outputs = r.plan->run(fed);
    return r;
}

std::vector<int64_t> ints(const HostTensor& t) {
    return t.toInt64s();
}

HostTensor iota(Dims dims, float start = 0.0f) {
    std::vector<float> v(static_cast<std::size_t>(numElementsOf(dims)));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = start + static_cast<float>(i);
    return HostTensor::fromFloats(std::move(dims), v);
}

}  // namespace

// ------------------------------------------------------------------------- broadcasting helper

TEST(Broadcast, ShapesFollowNumpyAndKeepUnknownDims) {
    using ref::broadcastDims;
    EXPECT_EQ(*broadcastDims(Dims{2, 3, 4}, Dims{3, 1}), (Dims{2, 3, 4}));
    EXPECT_EQ(*broadcastDims(Dims{}, Dims{5}), (Dims{5}));
    EXPECT_EQ(*broadcastDims(Dims{1, 5}, Dims{4, 1}), (Dims{4, 5}));
    EXPECT_EQ(*broadcastDims(Dims{-1, 3}, Dims{4, 1}), (Dims{4, 3}));  // unknown meets known 4
    EXPECT_EQ(*broadcastDims(Dims{-1}, Dims{1}), (Dims{-1}));
    EXPECT_EQ(*broadcastDims(Dims{0, 3}, Dims{1, 3}), (Dims{0, 3}));
    auto bad = broadcastDims(Dims{2, 3}, Dims{4});
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("[2,3]"), std::string::npos) << bad.error().message();
}

TEST(Broadcast, PlanMergesDimsEveryInputWalksContiguously) {
    const Dims a{2, 3, 4}, b{4}, none{};
    auto p = ref::planBroadcast({&a, &b});
    ASSERT_TRUE(p);
    EXPECT_EQ(p->outDims, (Dims{2, 3, 4}));
    EXPECT_EQ(p->dims, (Dims{6, 4}));  // [2,3] merged: b broadcasts over both
    EXPECT_EQ(p->strides[0], (std::vector<int64_t>{4, 1}));
    EXPECT_EQ(p->strides[1], (std::vector<int64_t>{0, 1}));
    auto same = ref::planBroadcast({&a, &a});
    EXPECT_EQ(same->dims, (Dims{24}));  // one row
    auto scalar = ref::planBroadcast({&none, &none});
    EXPECT_EQ(scalar->numElements, 1);
}

// Every pair of small random shapes: forEachRow visits exactly numpy's element pairs.
TEST(Broadcast, RowsMatchNaiveIndexing) {
    std::mt19937 rng(7);
    for (int trial = 0; trial < 300; ++trial) {
        const int rank = static_cast<int>(rng() % 5);
        Dims out(static_cast<std::size_t>(rank)), a, b;
        for (auto& d : out) d = 1 + static_cast<int64_t>(rng() % 4);
        const int rankA = static_cast<int>(rng() % (rank + 1)),
                  rankB = static_cast<int>(rng() % (rank + 1));
        for (int i = rank - rankA; i < rank; ++i)
            a.push_back(rng() % 3 ? out[static_cast<std::size_t>(i)] : 1);
        for (int i = rank - rankB; i < rank; ++i)
            b.push_back(rng() % 3 ? out[static_cast<std::size_t>(i)] : 1);
        auto plan = ref::planBroadcast({&a, &b});
        ASSERT_TRUE(plan) << dimsToString(a) << dimsToString(b);
        const Dims o = plan->outDims;
        std::vector<std::pair<int64_t, int64_t>> got(static_cast<std::size_t>(numElementsOf(o)),
                                                     {-1, -1});
        ref::forEachRow(*plan, [&](int64_t off, const int64_t* in, int64_t n, const int64_t* st) {
            for (int64_t i = 0; i < n; ++i)
                got[static_cast<std::size_t>(off + i)] = {in[0] + i * st[0], in[1] + i * st[1]};
        });
        const auto sa = ref::contiguousStrides(a), sb = ref::contiguousStrides(b);
        for (int64_t flat = 0; flat < numElementsOf(o); ++flat) {
            int64_t rest = flat, ia = 0, ib = 0;
            for (int d = static_cast<int>(o.size()) - 1; d >= 0; --d) {
                const int64_t idx = rest % o[static_cast<std::size_t>(d)];
                rest /= o[static_cast<std::size_t>(d)];
                const int da = d - (static_cast<int>(o.size()) - static_cast<int>(a.size()));
                const int db = d - (static_cast<int>(o.size()) - static_cast<int>(b.size()));
                if (da >= 0 && a[static_cast<std::size_t>(da)] > 1)
                    ia += idx * sa[static_cast<std::size_t>(da)];
                if (db >= 0 && b[static_cast<std::size_t>(db)] > 1)
                    ib += idx * sb[static_cast<std::size_t>(db)];
            }
            ASSERT_EQ(got[static_cast<std::size_t>(flat)], (std::pair<int64_t, int64_t>{ia, ib}))
                << "a " << dimsToString(a) << " b " << dimsToString(b) << " at " << flat;
        }
    }
}

// ------------------------------------------------------------------------- arithmetic

TEST(RefElementwise, Int64ShapeArithmeticBroadcastsAndTruncates) {
    auto r = runNode("Div", 14,
                     {feed(HostTensor::fromInt64s({2, 2}, {7, -7, 224, 3})),
                      fixed(HostTensor::fromInt64s({2}, {2, 3}))});
    ASSERT_TRUE(r.outputs) << r.outputs.error().message();
    EXPECT_EQ(ints((*r.outputs)[0]), (std::vector<int64_t>{3, -2, 112, 1}));  // C truncation
    auto mul = runNode("Mul", 13,
                       {fixed(HostTensor::fromInt64s({}, {3})),
                        feed(HostTensor::fromInt64s({3}, {1, 2, int64_t{1} << 40}))});
    ASSERT_TRUE(mul.outputs) << mul.outputs.error().message();
    EXPECT_EQ(ints((*mul.outputs)[0]), (std::vector<int64_t>{3, 6, int64_t{3} << 40}));  // exact
    auto zero =
        runNode("Div", 14,
                {feed(HostTensor::fromInt64s({1}, {1})), feed(HostTensor::fromInt64s({1}, {0}))});
    ASSERT_FALSE(zero.outputs);
    EXPECT_NE(zero.outputs.error().message().find("division by zero"), std::string::npos);
}

// BitShift on uint8 as the packed-weight decompression subgraphs use it: a left shift drops the
// bits that leave the byte, a scalar amount broadcasts, a shift by >= the width gives 0.
TEST(RefElementwise, BitShiftUint8TruncatesAndBroadcasts) {
    auto bytes = [](Dims dims, std::vector<uint8_t> v) {
        HostTensor t(ir::DType::kUInt8, std::move(dims));
        std::copy(v.begin(), v.end(), t.data<uint8_t>());
        return t;
    };
    auto values = [](const HostTensor& t) {
        return std::vector<int>(t.data<uint8_t>(), t.data<uint8_t>() + t.numElements());
    };
    auto direction = [](const char* d) {
        std::vector<ir::Attribute> a;
        a.push_back(ir::Attribute::makeString("direction", d));
        return a;
    };
    auto left =
        runNode("BitShift", 11, {feed(bytes({4}, {0xA7, 0x0F, 0xFF, 1})), fixed(bytes({}, {4}))},
                direction("LEFT"));
    ASSERT_TRUE(left.outputs) << left.outputs.error().message();
    EXPECT_EQ(values((*left.outputs)[0]), (std::vector<int>{0x70, 0xF0, 0xF0, 0x10}));
    auto right = runNode("BitShift", 11,
                         {feed(bytes({2, 2}, {0xA7, 0xA7, 0x80, 0x80})), fixed(bytes({2}, {4, 8}))},
                         direction("RIGHT"));
    ASSERT_TRUE(right.outputs) << right.outputs.error().message();
    EXPECT_EQ(values((*right.outputs)[0]), (std::vector<int>{0x0A, 0, 0x08, 0}));
    auto signedInput =
        runNode("BitShift", 11,
                {feed(HostTensor::fromInt64s({1}, {1})), fixed(HostTensor::fromInt64s({1}, {1}))},
                direction("LEFT"));
    EXPECT_FALSE(signedInput.plan);
}

TEST(RefElementwise, MismatchedShapesNameThemAtCompileTime) {
    auto r = runNode("Add", 14, {feed(iota({2, 3})), feed(iota({4}))});
    ASSERT_FALSE(r.plan);
    EXPECT_NE(r.plan.error().message().find("[2,3]"), std::string::npos)
        << r.plan.error().message();
    EXPECT_NE(r.plan.error().message().find("'n'"), std::string::npos) << r.plan.error().message();
}

TEST(RefElementwise, LegacyBroadcastWithAxis) {
    // Opset 6: B [3] lines up with axis 1 of A [2,3,2].
    std::vector<ir::Attribute> attrs;
    attrs.push_back(ir::Attribute::makeInt("broadcast", 1));
    attrs.push_back(ir::Attribute::makeInt("axis", 1));
    auto r = runNode("Add", 6,
                     {feed(iota({2, 3, 2})), fixed(HostTensor::fromFloats({3}, {100, 200, 300}))},
                     std::move(attrs));
    ASSERT_TRUE(r.outputs) << r.outputs.error().message();
    EXPECT_EQ((*r.outputs)[0].toFloats(),
              (std::vector<float>{100, 101, 202, 203, 304, 305, 106, 107, 208, 209, 310, 311}));
}

TEST(RefElementwise, DropoutTrainingModeIsRefused) {
    HostTensor on(ir::DType::kBool, {});
    on.data<uint8_t>()[0] = 1;
    auto r = runNode("Dropout", 13, {feed(iota({4})), omitted(), fixed(on)});
    ASSERT_FALSE(r.plan);
    EXPECT_EQ(r.plan.error().code(), StatusCode::kUnsupported);
    auto off = runNode("Dropout", 13, {feed(iota({4}))}, {}, 2);
    ASSERT_TRUE(off.outputs) << off.outputs.error().message();
    EXPECT_EQ((*off.outputs)[1].dtype(), ir::DType::kBool);
    EXPECT_EQ(ints((*off.outputs)[1]), (std::vector<int64_t>{1, 1, 1, 1}));
}

TEST(RefElementwise, CastRoundsToNearestEven) {
    // 1 + 2^-11 is halfway between two halves: ties to even (1.0); 1 + 3*2^-11 rounds up.
    EXPECT_EQ(ref::doubleToHalf(1.0 + std::ldexp(1.0, -11)).bits, 0x3c00);
    EXPECT_EQ(ref::doubleToHalf(1.0 + 3 * std::ldexp(1.0, -11)).bits, 0x3c02);
    EXPECT_EQ(ref::doubleToHalf(65504.0).bits, 0x7bff);
    EXPECT_EQ(ref::doubleToHalf(1e6).bits, 0x7c00);
    EXPECT_EQ(ref::doubleToHalf(std::ldexp(1.0, -24)).bits, 0x0001);  // smallest subnormal
    EXPECT_EQ(ref::floatToBFloat16(1.0f + std::ldexp(1.0f, -8)).bits, 0x3f80);  // tie → even
    auto r =
        runNode("Cast", 13, {feed(HostTensor::fromFloats({4}, {-1.5f, 2.75f, 0.0f, 300.0f}))}, [] {
            std::vector<ir::Attribute> a;
            a.push_back(ir::Attribute::makeInt("to", static_cast<int64_t>(ir::DType::kInt8)));
            return a;
        }());
    ASSERT_TRUE(r.outputs) << r.outputs.error().message();
    EXPECT_EQ(ints((*r.outputs)[0]),
              (std::vector<int64_t>{-1, 2, 0, 127}));  // truncates, saturates
}

// ------------------------------------------------------------------------- tensor ops

TEST(RefTensorOps, ReshapeZeroAndMinusOne) {
    auto r = runNode("Reshape", 13,
                     {feed(iota({2, 3, 4})), fixed(HostTensor::fromInt64s({2}, {0, -1}))});
    ASSERT_TRUE(r.outputs) << r.outputs.error().message();
    EXPECT_EQ(r.plan->outputInfo(0).dims, (Dims{2, 12}));  // inferred at compile time
    EXPECT_EQ((*r.outputs)[0].dims(), (Dims{2, 12}));
    EXPECT_EQ((*r.outputs)[0].toFloats()[13], 13.0f);

    // Shape known only at run time: dims unknown at compile time, right at run time.
    auto late = runNode("Reshape", 13,
                        {feed(iota({2, 3, 4})), feed(HostTensor::fromInt64s({3}, {-1, 0, 2}))});
    ASSERT_TRUE(late.outputs) << late.outputs.error().message();
    EXPECT_EQ(late.plan->outputInfo(0).dims, (Dims{-1, -1, -1}));
    EXPECT_EQ((*late.outputs)[0].dims(), (Dims{4, 3, 2}));

    // Input dims unknown: 0 copies an unknown dim, -1 cannot be inferred.
    auto hidden = runNode("Reshape", 13,
                          {feed(iota({2, 3, 4})), fixed(HostTensor::fromInt64s({3}, {0, 4, -1}))},
                          {}, 1, true);
    ASSERT_TRUE(hidden.outputs) << hidden.outputs.error().message();
    EXPECT_EQ(hidden.plan->outputInfo(0).dims, (Dims{-1, 4, -1}));
    EXPECT_EQ((*hidden.outputs)[0].dims(), (Dims{2, 4, 3}));

    // allowzero: 0 is a real zero-sized dim.
    std::vector<ir::Attribute> az;
    az.push_back(ir::Attribute::makeInt("allowzero", 1));
    auto zero = runNode(
        "Reshape", 14,
        {feed(HostTensor(ir::DType::kFloat, {0, 3})), fixed(HostTensor::fromInt64s({2}, {3, 0}))},
        std::move(az));
    ASSERT_TRUE(zero.outputs) << zero.outputs.error().message();
    EXPECT_EQ((*zero.outputs)[0].dims(), (Dims{3, 0}));

    auto bad =
        runNode("Reshape", 13, {feed(iota({2, 3})), fixed(HostTensor::fromInt64s({2}, {4, -1}))});
    ASSERT_FALSE(bad.plan);
    EXPECT_NE(bad.plan.error().message().find("[2,3]"), std::string::npos)
        << bad.plan.error().message();
}

TEST(RefTensorOps, SliceNegativeStepsAndHugeBounds) {
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
    // x[::-3] of 0..9 → 9, 6, 3, 0.
    auto r = runNode("Slice", 13,
                     {feed(iota({10})), fixed(HostTensor::fromInt64s({1}, {-1})),
                      fixed(HostTensor::fromInt64s({1}, {kMin})), omitted(),
                      fixed(HostTensor::fromInt64s({1}, {-3}))});
    ASSERT_TRUE(r.outputs) << r.outputs.error().message();
    EXPECT_EQ((*r.outputs)[0].toFloats(), (std::vector<float>{9, 6, 3, 0}));
    EXPECT_EQ(r.plan->outputInfo(0).dims, (Dims{4}));
    // 2-D, axis -1 reversed and axis 0 from 1 to the end: x[1:, ::-1] of a 3x4.
    auto two = runNode(
        "Slice", 13,
        {feed(iota({3, 4})), fixed(HostTensor::fromInt64s({2}, {kMax, 1})),
         fixed(HostTensor::fromInt64s({2}, {kMin, kMax})),
         fixed(HostTensor::fromInt64s({2}, {-1, 0})), fixed(HostTensor::fromInt64s({2}, {-1, 1}))});
    ASSERT_TRUE(two.outputs) << two.outputs.error().message();
    EXPECT_EQ((*two.outputs)[0].dims(), (Dims{2, 4}));
    EXPECT_EQ((*two.outputs)[0].toFloats(), (std::vector<float>{7, 6, 5, 4, 11, 10, 9, 8}));
    // Empty result when start is past end for a negative step.
    auto empty = runNode("Slice", 13,
                         {feed(iota({5})), fixed(HostTensor::fromInt64s({1}, {1})),
                          fixed(HostTensor::fromInt64s({1}, {3})), omitted(),
                          fixed(HostTensor::fromInt64s({1}, {-1}))});
    ASSERT_TRUE(empty.outputs) << empty.outputs.error().message();
    EXPECT_EQ((*empty.outputs)[0].dims(), (Dims{0}));
    // Starts known only at run time.
    auto late = runNode("Slice", 13,
                        {feed(iota({6})), feed(HostTensor::fromInt64s({1}, {-2})),
                         fixed(HostTensor::fromInt64s({1}, {kMax}))});
    ASSERT_TRUE(late.outputs) << late.outputs.error().message();
    EXPECT_EQ(late.plan->outputInfo(0).dims, (Dims{-1}));
    EXPECT_EQ((*late.outputs)[0].toFloats(), (std::vector<float>{4, 5}));
}

TEST(RefTensorOps, ShapeOfKnownDimsIsAConstant) {
    std::vector<ir::Attribute> attrs;
    attrs.push_back(ir::Attribute::makeInt("start", 1));
    // Batch unknown at compile time, but Shape(x)[1:] only needs the known dims.
    ir::Model m;
    m.opsetImports.push_back({"", 15, {}});
    ir::Graph& g = *m.graph;
    ir::Value* x = *g.addValue("x");
    x->type = ir::Type::tensor(
        ir::DType::kFloat, ir::Shape{{ir::Dim::symbol("N"), ir::Dim::known(3), ir::Dim::known(4)}});
    g.insertGraphInput(x);
    ir::Value* s = *g.addValue("s");
    ir::Node* n = g.addNode("Shape", std::vector<ir::Value*>{x}, std::vector<ir::Value*>{s});
    n->attributes().push_back(std::move(attrs[0]));
    g.insertGraphOutput(s);
    PlanOptions options;
    options.backends = {Backend::kReference};
    auto plan = Plan::compile(m, options);
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_TRUE(plan->nodes()[0].folded);
    ASSERT_TRUE(plan->outputInfo(0).constant);
    EXPECT_EQ(plan->outputInfo(0).constant->toInt64s(), (std::vector<int64_t>{3, 4}));
    // Whole shape with an unknown batch: not constant, computed at run time.
    ir::Model m2 = m.clone();
    (*m2.graph->nodes().begin())->attributes().clear();
    auto plan2 = Plan::compile(m2, options);
    ASSERT_TRUE(plan2) << plan2.error().message();
    EXPECT_FALSE(plan2->outputInfo(0).constant);
    auto out = plan2->run({HostTensor(ir::DType::kFloat, {5, 3, 4})});
    ASSERT_TRUE(out) << out.error().message();
    EXPECT_EQ(ints((*out)[0]), (std::vector<int64_t>{5, 3, 4}));
}

TEST(RefTensorOps, SplitNumOutputsGivesASmallerLastPart) {
    std::vector<ir::Attribute> attrs;
    attrs.push_back(ir::Attribute::makeInt("num_outputs", 3));
    auto r = runNode("Split", 18, {feed(iota({7}))}, std::move(attrs), 3);
    ASSERT_TRUE(r.outputs) << r.outputs.error().message();
    EXPECT_EQ((*r.outputs)[0].toFloats(), (std::vector<float>{0, 1, 2}));
    EXPECT_EQ((*r.outputs)[2].toFloats(), (std::vector<float>{6}));
    EXPECT_EQ(r.plan->outputInfo(2).dims, (Dims{1}));
}

TEST(RefTensorOps, SqueezeUnsqueezeAndGatherNegativeIndices) {
    auto u =
        runNode("Unsqueeze", 13, {feed(iota({3})), fixed(HostTensor::fromInt64s({2}, {-1, 0}))});
    ASSERT_TRUE(u.outputs) << u.outputs.error().message();
    EXPECT_EQ(u.plan->outputInfo(0).dims, (Dims{1, 3, 1}));
    auto s = runNode("Squeeze", 11, {feed(iota({1, 3, 1}))});  // no axes: every 1 goes
    ASSERT_TRUE(s.outputs) << s.outputs.error().message();
    EXPECT_EQ((*s.outputs)[0].dims(), (Dims{3}));
    auto bad =
        runNode("Squeeze", 13, {feed(iota({2, 3})), fixed(HostTensor::fromInt64s({1}, {0}))});
    ASSERT_FALSE(bad.plan);
    auto g =
        runNode("Gather", 13, {feed(iota({3, 2})), fixed(HostTensor::fromInt64s({2}, {-1, 0}))});
    ASSERT_TRUE(g.outputs) << g.outputs.error().message();
    EXPECT_EQ((*g.outputs)[0].toFloats(), (std::vector<float>{4, 5, 0, 1}));
    auto oob = runNode("Gather", 13, {feed(iota({3})), feed(HostTensor::fromInt64s({1}, {3}))});
    ASSERT_FALSE(oob.outputs);
    EXPECT_NE(oob.outputs.error().message().find("out of range"), std::string::npos);
}

TEST(RefTensorOps, PadModesAndCropping) {
    auto pad = [](const std::string& mode, std::vector<int64_t> pads) {
        std::vector<ir::Attribute> attrs;
        attrs.push_back(ir::Attribute::makeString("mode", mode));
        return runNode("Pad", 13,
                       {feed(HostTensor::fromFloats({3}, {1, 2, 3})),
                        fixed(HostTensor::fromInt64s({2}, std::move(pads))),
                        fixed(HostTensor::fromFloats({}, {9}))},
                       std::move(attrs));
    };
    auto c = pad("constant", {2, 1});
    ASSERT_TRUE(c.outputs) << c.outputs.error().message();
    EXPECT_EQ((*c.outputs)[0].toFloats(), (std::vector<float>{9, 9, 1, 2, 3, 9}));
    auto r = pad("reflect", {2, 2});
    ASSERT_TRUE(r.outputs) << r.outputs.error().message();
    EXPECT_EQ((*r.outputs)[0].toFloats(), (std::vector<float>{3, 2, 1, 2, 3, 2, 1}));
    auto e = pad("edge", {1, 2});
    ASSERT_TRUE(e.outputs) << e.outputs.error().message();
    EXPECT_EQ((*e.outputs)[0].toFloats(), (std::vector<float>{1, 1, 2, 3, 3, 3}));
    auto crop = pad("constant", {-1, 1});
    ASSERT_TRUE(crop.outputs) << crop.outputs.error().message();
    EXPECT_EQ((*crop.outputs)[0].toFloats(), (std::vector<float>{2, 3, 9}));
}

TEST(RefTensorOps, ReduceSumInt64AndEmptyAxes) {
    auto r = runNode("ReduceSum", 13,
                     {feed(HostTensor::fromInt64s({2, 3}, {1, 2, 3, 4, 5, 6})),
                      fixed(HostTensor::fromInt64s({1}, {-1}))},
                     [] {
                         std::vector<ir::Attribute> a;
                         a.push_back(ir::Attribute::makeInt("keepdims", 0));
                         return a;
                     }());
    ASSERT_TRUE(r.outputs) << r.outputs.error().message();
    EXPECT_EQ(ints((*r.outputs)[0]), (std::vector<int64_t>{6, 15}));
    std::vector<ir::Attribute> noop;
    noop.push_back(ir::Attribute::makeInt("noop_with_empty_axes", 1));
    auto n = runNode("ReduceSum", 13, {feed(iota({2, 2})), fixed(HostTensor::fromInt64s({0}, {}))},
                     std::move(noop));
    ASSERT_TRUE(n.outputs) << n.outputs.error().message();
    EXPECT_EQ((*n.outputs)[0].toFloats(), (std::vector<float>{0, 1, 2, 3}));
    auto all = runNode("ReduceMean", 13, {feed(iota({2, 2}))});
    ASSERT_TRUE(all.outputs) << all.outputs.error().message();
    EXPECT_EQ((*all.outputs)[0].dims(), (Dims{1, 1}));
    EXPECT_EQ((*all.outputs)[0].toFloats(), (std::vector<float>{1.5f}));
}

namespace {

// Index ops (index_ops.cpp) on hostile indices: a clear kBadInput naming the index, no write.
TEST(RefIndexOps, OutOfRangeIndicesAreRefused) {
    const HostTensor data = HostTensor::fromFloats({2, 3}, {1, 2, 3, 4, 5, 6});
    auto expectRefused = [](const Result& r, const std::string& what, const std::string& needle) {
        SCOPED_TRACE(what);
        ASSERT_TRUE(r.plan) << r.plan.error().message();
        ASSERT_FALSE(r.outputs);
        EXPECT_EQ(r.outputs.error().code(), StatusCode::kBadInput);
        EXPECT_NE(r.outputs.error().message().find(needle), std::string::npos)
            << r.outputs.error().message();
    };
    expectRefused(runNode("GatherND", 13, {feed(data), feed(HostTensor::fromInt64s({1, 2}, {1, 3}))}),
                  "GatherND", "index 3");
    expectRefused(runNode("ScatterND", 13,
                          {feed(data), feed(HostTensor::fromInt64s({1, 1}, {-3})),
                           feed(HostTensor::fromFloats({1, 3}, {0, 0, 0}))}),
                  "ScatterND", "index -3");
    expectRefused(runNode("ScatterElements", 13,
                          {feed(data), feed(HostTensor::fromInt64s({1, 1}, {7})),
                           feed(HostTensor::fromFloats({1, 1}, {0}))}),
                  "ScatterElements", "index 7");
    expectRefused(runNode("TopK", 11, {feed(data), feed(HostTensor::fromInt64s({1}, {4}))}, {}, 2),
                  "TopK", "k = 4");
}

TEST(RefIndexOps, TopKTiesNanAndNonZeroOrder) {
    // Ties go to the smaller index; NaN counts as the largest.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    Result r = runNode("TopK", 11,
                       {feed(HostTensor::fromFloats({1, 5}, {2, 7, nan, 7, 1})),
                        fixed(HostTensor::fromInt64s({1}, {3}))},
                       {}, 2);
    ASSERT_TRUE(r.outputs) << r.outputs.error().message();
    EXPECT_EQ((*r.outputs)[1].toInt64s(), (std::vector<int64_t>{2, 1, 3}));
    EXPECT_EQ((*r.plan).outputInfo(0).dims, (Dims{1, 3})) << "K known at compile time";
    std::vector<ir::Attribute> smallest;
    smallest.push_back(ir::Attribute::makeInt("largest", 0));
    Result s = runNode("TopK", 11,
                       {feed(HostTensor::fromFloats({1, 5}, {2, 7, 1, 7, 1})),
                        fixed(HostTensor::fromInt64s({1}, {2}))},
                       std::move(smallest), 2);
    ASSERT_TRUE(s.outputs) << s.outputs.error().message();
    EXPECT_EQ((*s.outputs)[1].toInt64s(), (std::vector<int64_t>{2, 4}));
    // NonZero: coordinates in row-major order, [rank, count].
    Result z = runNode("NonZero", 13, {feed(HostTensor::fromFloats({2, 2}, {0, 3, 4, 0}))});
    ASSERT_TRUE(z.outputs) << z.outputs.error().message();
    EXPECT_EQ((*z.outputs)[0].dims(), (Dims{2, 2}));
    EXPECT_EQ((*z.outputs)[0].toInt64s(), (std::vector<int64_t>{0, 1, 1, 0}));
}

}  // namespace

namespace {

std::vector<float> seeded(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-0.5f, 0.5f);
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    return v;
}

// LSTM and GRU (rnn_ops.cpp) beyond the ONNX node tests: a bidirectional run is the forward
// and the reverse runs side by side; bad sequence lengths and weights are kBadInput.
TEST(RefRnnOps, BidirectionalIsForwardAndReverseAndBadInputIsRefused) {
    const int64_t seq = 4, batch = 2, in = 3, H = 5;
    for (bool lstm : {true, false}) {
        SCOPED_TRACE(lstm ? "LSTM" : "GRU");
        const int64_t G = lstm ? 4 : 3;
        const HostTensor x =
            HostTensor::fromFloats({seq, batch, in}, seeded(static_cast<std::size_t>(seq * batch * in), 1));
        const std::vector<float> w = seeded(static_cast<std::size_t>(2 * G * H * in), 2);
        const std::vector<float> r = seeded(static_cast<std::size_t>(2 * G * H * H), 3);
        const std::vector<float> b = seeded(static_cast<std::size_t>(2 * 2 * G * H), 4);
        auto half = [](const std::vector<float>& v, int d) {
            return std::vector<float>(v.begin() + static_cast<long>(d * v.size() / 2),
                                      v.begin() + static_cast<long>((d + 1) * v.size() / 2));
        };
        auto attrs = [&](const std::string& direction) {
            std::vector<ir::Attribute> a;
            a.push_back(ir::Attribute::makeInt("hidden_size", H));
            a.push_back(ir::Attribute::makeString("direction", direction));
            return a;
        };
        const std::string op = lstm ? "LSTM" : "GRU";
        Result both = runNode(op, 14,
                              {feed(x), fixed(HostTensor::fromFloats({2, G * H, in}, w)),
                               fixed(HostTensor::fromFloats({2, G * H, H}, r)),
                               fixed(HostTensor::fromFloats({2, 2 * G * H}, b))},
                              attrs("bidirectional"));
        ASSERT_TRUE(both.outputs) << both.outputs.error().message();
        const std::vector<float> yb = (*both.outputs)[0].toFloats();  // [seq, 2, batch, H]
        for (int d = 0; d < 2; ++d) {
            Result one = runNode(op, 14,
                                 {feed(x), fixed(HostTensor::fromFloats({1, G * H, in}, half(w, d))),
                                  fixed(HostTensor::fromFloats({1, G * H, H}, half(r, d))),
                                  fixed(HostTensor::fromFloats({1, 2 * G * H}, half(b, d)))},
                                 attrs(d == 0 ? "forward" : "reverse"));
            ASSERT_TRUE(one.outputs) << one.outputs.error().message();
            const std::vector<float> y1 = (*one.outputs)[0].toFloats();  // [seq, 1, batch, H]
            for (int64_t t = 0; t < seq; ++t)
                for (int64_t k = 0; k < batch * H; ++k)
                    EXPECT_FLOAT_EQ(yb[static_cast<std::size_t>((t * 2 + d) * batch * H + k)],
                                    y1[static_cast<std::size_t>(t * batch * H + k)])
                        << "direction " << d << " t " << t;
        }
        HostTensor lengths(ir::DType::kInt32, {batch});
        lengths.data<int32_t>()[0] = 4;
        lengths.data<int32_t>()[1] = 9;
        Result badLen = runNode(op, 14,
                                {feed(x), fixed(HostTensor::fromFloats({1, G * H, in}, half(w, 0))),
                                 fixed(HostTensor::fromFloats({1, G * H, H}, half(r, 0))), omitted(),
                                 feed(lengths)},
                                attrs("forward"));
        ASSERT_FALSE(badLen.outputs);
        EXPECT_NE(badLen.outputs.error().message().find("sequence length 9"), std::string::npos)
            << badLen.outputs.error().message();
        Result badW = runNode(op, 14,
                              {feed(x), fixed(HostTensor::fromFloats({1, G * H, in - 1},
                                                                     seeded(static_cast<std::size_t>(G * H * (in - 1)), 5))),
                               fixed(HostTensor::fromFloats({1, G * H, H}, half(r, 0)))},
                              attrs("forward"));
        ASSERT_FALSE(badW.outputs);
        EXPECT_EQ(badW.outputs.error().code(), StatusCode::kBadInput);
    }
}

}  // namespace

namespace {

HostTensor uint8Tensor(const Dims& dims, const std::vector<int>& v) {
    HostTensor t(ir::DType::kUInt8, dims);
    for (std::size_t i = 0; i < v.size(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(v[i]);
    return t;
}

// MatMulInteger beyond the single ONNX node test: broadcast batch dims, a per-row zero point of
// A, a per-column one of B; a zero point of the wrong length is kBadInput.
TEST(RefIntegerOps, MatMulIntegerBroadcastsAndTakesPerRowZeroPoints) {
    // A [2,1,2,2] (two batches), B [3,2,1] broadcast to both: y = (A - za) (B - zb).
    const HostTensor a = uint8Tensor({2, 1, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
    const HostTensor b = uint8Tensor({3, 2, 1}, {1, 0, 2, 1, 0, 3});
    const HostTensor za = uint8Tensor({2}, {1, 2});  // per row of A
    const HostTensor zb = uint8Tensor({}, {1});
    Result r = runNode("MatMulInteger", 10, {feed(a), feed(b), feed(za), feed(zb)});
    ASSERT_TRUE(r.outputs) << r.outputs.error().message();
    const HostTensor& y = (*r.outputs)[0];
    ASSERT_EQ(y.dims(), (Dims{2, 3, 2, 1}));
    std::vector<int32_t> want;
    for (int t = 0; t < 2; ++t)
        for (int s = 0; s < 3; ++s)
            for (int m = 0; m < 2; ++m) {
                int acc = 0;
                for (int k = 0; k < 2; ++k)
                    acc += (a.data<uint8_t>()[t * 4 + m * 2 + k] - (m == 0 ? 1 : 2)) *
                           (b.data<uint8_t>()[s * 2 + k] - 1);
                want.push_back(acc);
            }
    const std::vector<int32_t> got(y.data<int32_t>(), y.data<int32_t>() + y.numElements());
    EXPECT_EQ(got, want);
    Result bad = runNode("MatMulInteger", 10,
                         {feed(a), feed(b), feed(uint8Tensor({3}, {1, 1, 1}))});
    ASSERT_FALSE(bad.outputs);
    EXPECT_EQ(bad.outputs.error().code(), StatusCode::kBadInput) << bad.outputs.error().message();
}

}  // namespace

// ------------------------------------------------------------------------- blocked quantization

namespace {

HostTensor int8s(Dims dims, std::mt19937& rng) {
    HostTensor t(ir::DType::kInt8, std::move(dims));
    std::uniform_int_distribution<int> d(-128, 127);
    for (int64_t i = 0; i < t.numElements(); ++i) t.data<int8_t>()[i] = static_cast<int8_t>(d(rng));
    return t;
}

// DequantizeLinear-21 with block_size along `axis`, against the formula written out per
// coordinate: y[.., j, ..] = (x - zp[.., j / block, ..]) * scale[.., j / block, ..].
void checkBlocked(const Dims& xDims, int axis, int64_t block) {
    SCOPED_TRACE(::testing::Message() << "x " << dimsToString(xDims) << " axis " << axis
                                      << " block_size " << block);
    std::mt19937 rng(11);
    Dims sDims = xDims;
    sDims[static_cast<std::size_t>(axis)] = (xDims[static_cast<std::size_t>(axis)] + block - 1) / block;
    const HostTensor x = int8s(xDims, rng);
    const HostTensor zp = int8s(sDims, rng);
    std::vector<float> s(static_cast<std::size_t>(numElementsOf(sDims)));
    std::uniform_real_distribution<float> sd(0.01f, 0.5f);
    for (float& v : s) v = sd(rng);
    const HostTensor scale = HostTensor::fromFloats(sDims, s);
    std::vector<ir::Attribute> attrs;
    attrs.push_back(ir::Attribute::makeInt("axis", axis));
    attrs.push_back(ir::Attribute::makeInt("block_size", block));
    Result r = runNode("DequantizeLinear", 21, {feed(x), fixed(scale), fixed(zp)},
                       std::move(attrs));
    ASSERT_TRUE(r.outputs) << r.outputs.error().message();
    const HostTensor& y = (*r.outputs)[0];
    ASSERT_EQ(y.dims(), xDims);
    // Coordinates of element i, then the scale's element for them.
    const std::size_t rank = xDims.size();
    for (int64_t i = 0; i < x.numElements(); ++i) {
        std::vector<int64_t> c(rank);
        for (int64_t rest = i, d = static_cast<int64_t>(rank); d-- > 0;) {
            c[static_cast<std::size_t>(d)] = rest % xDims[static_cast<std::size_t>(d)];
            rest /= xDims[static_cast<std::size_t>(d)];
        }
        c[static_cast<std::size_t>(axis)] /= block;
        int64_t si = 0;
        for (std::size_t d = 0; d < rank; ++d) si = si * sDims[d] + c[d];
        const float want = static_cast<float>(x.data<int8_t>()[i] - zp.data<int8_t>()[si]) *
                           scale.data<float>()[si];
        ASSERT_EQ(y.data<float>()[i], want) << "element " << i;
    }
}

}  // namespace

TEST(BlockedDequantize, AlongTheFirstAxisWithAPartialLastBlock) {
    checkBlocked({5, 4}, 0, 3);
}

TEST(BlockedDequantize, AlongAMiddleAxis) {
    checkBlocked({2, 8, 3}, 1, 4);
    checkBlocked({2, 7, 3}, -2 + 3, 2);
}

TEST(BlockedDequantize, ScaleThatDoesNotFitIsAnError) {
    std::mt19937 rng(1);
    const HostTensor x = int8s({4, 6}, rng);
    const HostTensor scale = HostTensor::fromFloats({4, 2}, std::vector<float>(8, 0.5f));
    std::vector<ir::Attribute> attrs;
    attrs.push_back(ir::Attribute::makeInt("axis", 1));
    attrs.push_back(ir::Attribute::makeInt("block_size", 2));  // needs a [4,3] scale
    Result r = runNode("DequantizeLinear", 21, {feed(x), fixed(scale)}, std::move(attrs));
    ASSERT_FALSE(r.outputs);
    EXPECT_NE(r.outputs.error().message().find("block_size 2"), std::string::npos)
        << r.outputs.error().message();
}
