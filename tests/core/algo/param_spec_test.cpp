// ParamSpec / Params (type checks, ranges, choices, aliases, unknown names) and the Registry
// (bad names, duplicates naming both origins, lookup errors listing what is registered).

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "algo_test_util.h"
#include "core/algo/param_spec.h"
#include "core/algo/registry.h"

using namespace wh;
using namespace wh::algo;
using wh::algo::test::mentions;

namespace {

std::vector<ParamSpec> specs() {
    return {
        ParamSpec::boolean("per_channel", true, "per channel"),
        ParamSpec::integer("weight_bits", 8, 2, 8, "bits"),
        ParamSpec::real("damp", 0.01, 1e-6, 1.0, "damping").alias("damp_percent"),
        ParamSpec::choice("calibration", "minmax", {"minmax", "percentile", "mse"}, "how"),
        ParamSpec::text("note", "", "free text"),
        ParamSpec::list("ops", {"Conv"}, {"Conv", "Gemm", "MatMul"}, "ops"),
    };
}

}  // namespace

TEST(ParamSpec, DefaultsAndTypedGetters) {
    const auto s = specs();
    Params p(s);
    EXPECT_TRUE(p.getBool("per_channel"));
    EXPECT_EQ(p.getInt("weight_bits"), 8);
    EXPECT_DOUBLE_EQ(p.getFloat("damp"), 0.01);
    EXPECT_EQ(p.getString("calibration"), "minmax");
    EXPECT_EQ(p.getList("ops"), std::vector<std::string>{"Conv"});
    EXPECT_TRUE(p.explicitlySet().empty());
    ASSERT_TRUE(p.set("weight_bits", int64_t{4}).isOk());
    EXPECT_EQ(p.getInt("weight_bits"), 4);
    EXPECT_EQ(p.explicitlySet(), std::vector<std::string>{"weight_bits"});
}

TEST(ParamSpec, TypeChecks) {
    const auto s = specs();
    Params p(s);
    Status st = p.set("per_channel", int64_t{1});
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"per_channel", "true or false"}));
    st = p.set("weight_bits", std::string("8"));
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"weight_bits", "integer", "2..8"}));
    st = p.set("weight_bits", 4.5);
    EXPECT_EQ(st.code(), StatusCode::kBadInput) << "4.5 is not an integer";
    // An integral float is accepted for an int.
    ASSERT_TRUE(p.set("weight_bits", 4.0).isOk());
    EXPECT_EQ(p.getInt("weight_bits"), 4);
    st = p.set("note", true);
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"note", "string"}));
    st = p.set("ops", int64_t{3});
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"ops", "list"}));
    // The value is unchanged after every refusal.
    EXPECT_TRUE(p.getBool("per_channel"));
    EXPECT_EQ(p.getString("note"), "");
}

TEST(ParamSpec, IntIsAcceptedForFloatAndConverted) {
    const auto s = specs();
    Params p(s);
    ASSERT_TRUE(p.set("damp", int64_t{1}).isOk());
    EXPECT_TRUE(std::holds_alternative<double>(p.value("damp")));
    EXPECT_DOUBLE_EQ(p.getFloat("damp"), 1.0);
}

TEST(ParamSpec, RangeErrorsNameTheParameterAndRange) {
    const auto s = specs();
    Params p(s);
    for (int64_t bad : {1, 9, -3}) {
        Status st = p.set("weight_bits", bad);
        EXPECT_EQ(st.code(), StatusCode::kBadInput) << bad;
        EXPECT_TRUE(mentions(st.message(), {"weight_bits", std::to_string(bad), "2..8"}));
    }
    Status st = p.set("damp", 2.0);
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"damp", "1e-06..1"}));
    st = p.set("damp", std::numeric_limits<double>::quiet_NaN());
    EXPECT_EQ(st.code(), StatusCode::kBadInput) << "NaN must not pass a range check";
    // Bounds are inclusive.
    EXPECT_TRUE(p.set("weight_bits", int64_t{2}).isOk());
    EXPECT_TRUE(p.set("weight_bits", int64_t{8}).isOk());
    EXPECT_TRUE(p.set("damp", 1.0).isOk());
    // One-sided ranges.
    ParamSpec atLeast =
        ParamSpec::integer("samples", 10, 1, std::numeric_limits<int64_t>::max(), "");
    atLeast.max = std::numeric_limits<double>::infinity();
    auto r = checkParam(atLeast, ParamValue{int64_t{0}});
    ASSERT_FALSE(r);
    EXPECT_TRUE(mentions(r.error().message(), {"samples", ">= 1"}));
}

TEST(ParamSpec, EnumListsChoices) {
    const auto s = specs();
    Params p(s);
    Status st = p.set("calibration", std::string("kl"));
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"calibration", "kl", "minmax, percentile, mse"}));
    st = p.set("calibration", int64_t{1});
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    ASSERT_TRUE(p.set("calibration", std::string("mse")).isOk());
    EXPECT_EQ(p.getString("calibration"), "mse");
    // A list checks each element; a bare string is a one-element list.
    st = p.set("ops", std::vector<std::string>{"Conv", "Relu"});
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"ops", "Relu", "Conv, Gemm, MatMul"}));
    ASSERT_TRUE(p.set("ops", std::string("Gemm")).isOk());
    EXPECT_EQ(p.getList("ops"), std::vector<std::string>{"Gemm"});
}

TEST(ParamSpec, AliasesSetTheCanonicalName) {
    const auto s = specs();
    Params p(s);
    ASSERT_TRUE(p.set("damp_percent", 0.05).isOk());
    EXPECT_DOUBLE_EQ(p.getFloat("damp"), 0.05);
    EXPECT_FALSE(p.has("damp_percent"));
    EXPECT_EQ(p.explicitlySet(), std::vector<std::string>{"damp"});
    EXPECT_EQ(p.values().count("damp_percent"), 0u);
    // An alias gets the same checks.
    Status st = p.set("damp_percent", 5.0);
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"damp"}));
}

TEST(ParamSpec, UnknownNameListsTheValidOnes) {
    const auto s = specs();
    Params p(s);
    Status st = p.set("bits", int64_t{4});
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"'bits'", "per_channel", "weight_bits", "damp",
                                        "calibration", "note", "ops"}));
    Params none;
    st = none.set("x", true);
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"'x'", "(none)"}));
}

TEST(ParamSpec, ValueText) {
    EXPECT_EQ(paramValueText(ParamValue{true}), "true");
    EXPECT_EQ(paramValueText(ParamValue{int64_t{8}}), "8");
    EXPECT_EQ(paramValueText(ParamValue{0.01}), "0.01");
    EXPECT_EQ(paramValueText(ParamValue{std::string("minmax")}), "minmax");
    EXPECT_EQ(paramValueText(ParamValue{std::vector<std::string>{"a", "b"}}), "[a, b]");
}

namespace {

AlgorithmInfo info(std::string name, std::string origin = {}) {
    AlgorithmInfo a;
    a.name = std::move(name);
    a.origin = std::move(origin);
    a.create = [](const Params&) -> Expected<std::unique_ptr<Algorithm>> {
        return error(StatusCode::kUnsupported, "test algorithm");
    };
    return a;
}

}  // namespace

TEST(Registry, RefusesBadNames) {
    Registry r;
    for (const char* bad : {"", "PTQ", "my alg", "a.b", "ptq/2"}) {
        Status st = r.add(info(bad, "test.so"));
        EXPECT_EQ(st.code(), StatusCode::kBadInput) << "'" << bad << "'";
        EXPECT_TRUE(mentions(st.message(), {"test.so", "lower-case"}));
    }
    EXPECT_TRUE(r.add(info("my_alg-2")).isOk());
    EXPECT_EQ(r.names(), std::vector<std::string>{"my_alg-2"});
}

TEST(Registry, RefusesMissingFactoryAndBadDefault) {
    Registry r;
    AlgorithmInfo a = info("nofactory");
    a.create = nullptr;
    Status st = r.add(a);
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"nofactory", "factory"}));
    AlgorithmInfo b = info("baddefault");
    b.params.push_back(ParamSpec::integer("bits", 16, 2, 8, ""));
    st = r.add(b);
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"baddefault", "bits", "2..8"}));
    EXPECT_TRUE(r.names().empty());
}

TEST(Registry, RefusesAParameterNameUsedTwice) {
    Registry r;
    AlgorithmInfo a = info("twice", "t.so");
    a.params = {ParamSpec::integer("seed", 0, 0, 10, ""), ParamSpec::integer("seed", 1, 0, 10, "")};
    Status st = r.add(a);
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"t.so", "twice", "'seed'"}));
    // An alias that is another parameter's name is ambiguous too.
    AlgorithmInfo b = info("aliased");
    b.params = {ParamSpec::real("damp", 0.1, 0, 1, ""),
                ParamSpec::real("percent", 0.1, 0, 1, "").alias("damp")};
    st = r.add(b);
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"aliased", "'damp'"}));
    EXPECT_TRUE(r.names().empty());
}

TEST(Registry, DuplicateNamesNameBothOrigins) {
    Registry r;
    ASSERT_TRUE(r.add(info("ptq", "/first/ptq.so")).isOk());
    Status st = r.add(info("ptq", "/second/other.so"));
    EXPECT_EQ(st.code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(st.message(), {"ptq", "/first/ptq.so", "/second/other.so"}));
    ASSERT_EQ(r.all().size(), 1u);
    EXPECT_EQ(r.find("ptq")->origin, "/first/ptq.so");
    // A built-in (no origin) is named as such.
    Registry b;
    ASSERT_TRUE(b.add(info("rtn")).isOk());
    EXPECT_EQ(b.find("rtn")->origin, "built-in");
    st = b.add(info("rtn", "/x/rtn.so"));
    EXPECT_TRUE(mentions(st.message(), {"/x/rtn.so", "built-in"}));
}

TEST(Registry, LookupListsRegisteredNames) {
    Registry r;
    auto none = r.lookup("ptq");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code(), StatusCode::kBadInput);
    EXPECT_TRUE(mentions(none.error().message(), {"'ptq'", "no algorithm plugins"}));
    for (const char* n : {"zeta", "alpha", "mid"}) ASSERT_TRUE(r.add(info(n)).isOk());
    auto missing = r.lookup("ptq");
    ASSERT_FALSE(missing);
    EXPECT_TRUE(mentions(missing.error().message(), {"'ptq'", "alpha, mid, zeta"}));
    auto found = r.lookup("mid");
    ASSERT_TRUE(found);
    EXPECT_EQ((*found)->name, "mid");
    EXPECT_EQ(r.find("nope"), nullptr);
    EXPECT_EQ(r.names(), (std::vector<std::string>{"alpha", "mid", "zeta"}));
}
