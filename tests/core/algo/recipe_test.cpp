// Recipes: every error is kBadInput naming the key (and listing what is valid); defaults are
// filled in by recipeToJson and parse(recipeToJson(r)) gives the same run.

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "algo_test_util.h"
#include "core/algo/recipe.h"

using namespace wh;
using namespace wh::algo;
using nlohmann::json;
using wh::algo::test::mentions;
using wh::algo::test::pluginRegistry;

namespace {

/// Parses `text` and expects kBadInput mentioning every piece.
void expectBad(const std::string& text, const std::vector<std::string>& pieces) {
    SCOPED_TRACE(text);
    auto r = parseRecipe(text, pluginRegistry(), "r.json");
    ASSERT_FALSE(r) << "accepted";
    EXPECT_EQ(r.error().code(), StatusCode::kBadInput) << r.error().message();
    std::vector<std::string> all = pieces;
    all.push_back("r.json");
    EXPECT_TRUE(mentions(r.error().message(), all));
}

}  // namespace

TEST(Recipe, ParsesTheContractExample) {
    const std::string text = R"({
      "algorithm": "ptq",
      "params":   { "calibration": "minmax", "per_channel": true, "weight_bits": 8,
                    "activation_bits": 8, "samples": 1000 },
      "select":   { "include_ops": ["Conv", "Gemm", "MatMul"], "exclude_nodes": [] },
      "dataset":  { "name": "fashion-mnist", "split": "train" },
      "train":    { "epochs": 1, "batch": 128, "lr": 0.001, "optimizer": "sgd" }
    })";
    auto r = parseRecipe(text, pluginRegistry());
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->algorithm->name, "ptq");
    EXPECT_EQ(r->params.getInt("samples"), 1000);
    EXPECT_EQ(r->params.getString("calibration"), "minmax");
    EXPECT_EQ(r->select.includeOps, (std::vector<std::string>{"Conv", "Gemm", "MatMul"}));
    EXPECT_EQ(r->dataset.split, "train");
    ASSERT_TRUE(r->train);
    EXPECT_EQ(r->train->batch, 128);
    // Omitted params take the ParamSpec default.
    EXPECT_EQ(r->params.getInt("bins"), 2048);
}

TEST(Recipe, UnknownTopLevelKeyListsTheValidOnes) {
    expectBad(R"({"algorithm": "ptq", "parameters": {}})",
              {"'parameters'", "algorithm", "params", "select", "dataset", "train", "seed"});
}

TEST(Recipe, UnknownParamsKeyNamesItAndListsTheAlgorithmsValidOnes) {
    expectBad(R"({"algorithm": "ptq", "params": {"wbits": 4}})",
              {"'wbits'", "ptq", "weight_bits", "activation_bits", "calibration", "samples"});
    expectBad(R"({"algorithm": "rtn", "params": {"calibration": "minmax"}})",
              {"'calibration'", "rtn", "weight_bits", "group_size"});
}

TEST(Recipe, UnknownKeysInSections) {
    expectBad(R"({"algorithm": "ptq", "select": {"ops": ["Conv"]}})",
              {"select.ops", "include_ops", "exclude_nodes"});
    expectBad(R"({"algorithm": "ptq", "dataset": {"nam": "mnist"}})",
              {"dataset.nam", "name", "split", "data_dir"});
    expectBad(R"({"algorithm": "ptq", "train": {"epoch": 2}})", {"train.epoch", "epochs", "steps"});
}

TEST(Recipe, WrongTypesNameTheKey) {
    expectBad(R"({"algorithm": "ptq", "params": {"weight_bits": "8"}})", {"weight_bits"});
    expectBad(R"({"algorithm": "ptq", "params": {"per_channel": 1}})", {"per_channel"});
    expectBad(R"({"algorithm": "ptq", "params": {"calibration": ["minmax"]}})", {"calibration"});
    expectBad(R"({"algorithm": "ptq", "params": {"samples": {"n": 1}}})", {"samples"});
    expectBad(R"({"algorithm": "ptq", "params": []})", {"params"});
    expectBad(R"({"algorithm": "ptq", "select": {"include_ops": "Conv"}})", {"select.include_ops"});
    expectBad(R"({"algorithm": "ptq", "select": {"nodes": [1, 2]}})", {"select.nodes"});
    expectBad(R"({"algorithm": "ptq", "select": []})", {"select"});
    expectBad(R"({"algorithm": "ptq", "dataset": {"split": "val"}})",
              {"dataset.split", "train, test"});
    expectBad(R"({"algorithm": "ptq", "dataset": {"name": 3}})", {"dataset.name"});
    expectBad(R"({"algorithm": "ptq", "train": {"epochs": "two"}})", {"train.epochs"});
    expectBad(R"({"algorithm": "ptq", "train": {"batch": 0}})", {"train", "batch"});
    expectBad(R"({"algorithm": "ptq", "train": {"lr": "fast"}})", {"train.lr"});
    expectBad(R"({"algorithm": "ptq", "seed": "x"})", {"seed"});
    expectBad(R"({"algorithm": 3})", {"algorithm", "ptq, rtn"});
    expectBad(R"({"params": {}})", {"algorithm", "ptq", "rtn", "gptq"});
    expectBad(R"([1, 2])", {});
}

TEST(Recipe, WrongTypesThatJsonWouldConvertSilently) {
    // nlohmann::json converts a boolean or a float to a number on get<>: these must still be
    // refused, not run with lr = 1 or epochs = 1.
    expectBad(R"({"algorithm": "ptq", "train": {"lr": true}})", {"train.lr"});
    expectBad(R"({"algorithm": "ptq", "train": {"epochs": 1.5}})", {"train.epochs"});
    expectBad(R"({"algorithm": "ptq", "seed": -1})", {"seed"});
    expectBad(R"({"algorithm": "ptq", "seed": 2.5})", {"seed"});
}

TEST(Recipe, TrainingValuesAreCheckedAtParseTime) {
    // Not after calibration, as a usage error from the trainer that names neither the recipe
    // nor the key.
    expectBad(R"({"algorithm": "ptq", "train": {"optimizer": "rmsprop"}})",
              {"train.optimizer", "rmsprop", "sgd, adam, adamw"});
    expectBad(R"({"algorithm": "ptq", "train": {"schedule": "zigzag"}})",
              {"train.schedule", "zigzag", "constant, step, cosine, onecycle"});
    expectBad(R"({"algorithm": "ptq", "train": {"momentum": -5}})", {"train.momentum"});
    expectBad(R"({"algorithm": "ptq", "train": {"weight_decay": -1}})", {"train.weight_decay"});
    for (const char* opt : {"sgd", "adam", "adamw"}) {
        auto r = parseRecipe(
            std::string(R"({"algorithm": "ptq", "train": {"optimizer": ")") + opt + "\"}}",
            pluginRegistry());
        EXPECT_TRUE(r) << opt << ": " << r.error().message();
    }
}

TEST(Recipe, ParamValuesOutOfRangeNameTheKeyAndRange) {
    expectBad(R"({"algorithm": "ptq", "params": {"weight_bits": 16}})", {"weight_bits", "2..8"});
    expectBad(R"({"algorithm": "ptq", "params": {"calibration": "kl"}})",
              {"calibration", "minmax, percentile, entropy, mse"});
}

TEST(Recipe, UnknownAlgorithmListsRegistered) {
    expectBad(R"({"algorithm": "awq"})", {"'awq'", "registered", "gptq", "ptq", "rtn"});
}

TEST(Recipe, BadJsonIsBadInput) {
    expectBad(R"({"algorithm": "ptq",)", {"JSON"});
    expectBad("", {"JSON"});
}

TEST(Recipe, AliasesAreAcceptedAndWrittenCanonically) {
    auto r =
        parseRecipe(R"({"algorithm": "gptq", "params": {"damp_percent": 0.05}})", pluginRegistry());
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_DOUBLE_EQ(r->params.getFloat("damp"), 0.05);
    json j = json::parse(recipeToJson(*r));
    EXPECT_EQ(j["params"]["damp"], 0.05);
    EXPECT_FALSE(j["params"].contains("damp_percent"));
}

TEST(Recipe, DefaultsFilledInAndRoundTrip) {
    for (const char* text :
         {R"({"algorithm": "ptq"})",
          R"({"algorithm": "rtn", "params": {"weight_bits": 4, "group_size": 32},
              "select": {"exclude_nodes": ["fc3"]}, "seed": 7})",
          R"({"algorithm": "ptq", "params": {"calibration": "percentile", "percentile": 99.9,
              "samples": 64}, "dataset": {"name": "mnist", "split": "test", "data_dir": "/d"},
              "train": {"epochs": 2, "lr": 0.01, "optimizer": "adam", "weight_decay": 0.0001},
              "seed": 3})",
          R"({"algorithm": "gptq", "params": {"weight_bits": 3, "act_order": true},
              "dataset": "mnist"})",
          R"({"algorithm": "ptq", "input_shapes": {"tokens": [1, 128], "mask": [1, 128]}})"}) {
        SCOPED_TRACE(text);
        auto r = parseRecipe(text, pluginRegistry());
        ASSERT_TRUE(r) << r.error().message();
        const std::string written = recipeToJson(*r);
        json j = json::parse(written);
        // Every ParamSpec of the algorithm is written, at its value.
        for (const ParamSpec& s : r->algorithm->params) {
            ASSERT_TRUE(j["params"].contains(s.name)) << s.name << " missing in " << written;
        }
        EXPECT_EQ(j["params"].size(), r->algorithm->params.size());
        for (const char* key : {"algorithm", "params", "select", "dataset", "seed"})
            EXPECT_TRUE(j.contains(key)) << key;
        // Read back: the same run.
        auto back = parseRecipe(written, pluginRegistry());
        ASSERT_TRUE(back) << back.error().message() << "\n" << written;
        EXPECT_EQ(back->algorithm, r->algorithm);
        EXPECT_EQ(back->params.values(), r->params.values());
        EXPECT_EQ(back->select.nodes, r->select.nodes);
        EXPECT_EQ(back->select.includeOps, r->select.includeOps);
        EXPECT_EQ(back->select.excludeNodes, r->select.excludeNodes);
        EXPECT_EQ(back->select.excludeOps, r->select.excludeOps);
        EXPECT_EQ(back->dataset.name, r->dataset.name);
        EXPECT_EQ(back->dataset.split, r->dataset.split);
        EXPECT_EQ(back->dataset.dataDir, r->dataset.dataDir);
        EXPECT_EQ(back->seed, r->seed);
        EXPECT_EQ(back->inputShapes, r->inputShapes);
        ASSERT_EQ(back->train.has_value(), r->train.has_value());
        if (r->train) {
            EXPECT_EQ(back->train->epochs, r->train->epochs);
            EXPECT_EQ(back->train->steps, r->train->steps);
            EXPECT_EQ(back->train->batch, r->train->batch);
            EXPECT_DOUBLE_EQ(back->train->lr, r->train->lr);
            EXPECT_EQ(back->train->optimizer, r->train->optimizer);
            EXPECT_EQ(back->train->schedule, r->train->schedule);
            EXPECT_DOUBLE_EQ(back->train->momentum, r->train->momentum);
            EXPECT_DOUBLE_EQ(back->train->weightDecay, r->train->weightDecay);
        }
        EXPECT_EQ(recipeToJson(*back), written) << "writing is a fixed point";
    }
}

TEST(Recipe, InputShapesAreDimsPerInput) {
    auto r = parseRecipe(R"({"algorithm": "ptq", "input_shapes": {"x": [2, 3, 48, 320]}})",
                         pluginRegistry());
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->inputShapes.at("x"), (wh::engine::Dims{2, 3, 48, 320}));
    for (const char* bad : {R"({"algorithm": "ptq", "input_shapes": [1, 2]})",
                            R"({"algorithm": "ptq", "input_shapes": {"x": [1, -2]}})",
                            R"({"algorithm": "ptq", "input_shapes": {"x": "1,2"}})",
                            R"({"algorithm": "ptq", "input_shapes": {"x": [1.5]}})"}) {
        auto e = parseRecipe(bad, pluginRegistry());
        ASSERT_FALSE(e) << bad;
        EXPECT_NE(e.error().message().find("input_shapes"), std::string::npos)
            << e.error().message();
    }
}

TEST(Recipe, ParamsSeedIsNotOverwrittenByTheDefaultTopLevelSeed) {
    // ptq has a `seed` parameter; a recipe that sets only params.seed must keep it.
    auto r = parseRecipe(R"({"algorithm": "ptq", "params": {"seed": 5}})", pluginRegistry());
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->params.getInt("seed"), 5);
    // The top-level seed, when given, sets both.
    auto t = parseRecipe(R"({"algorithm": "ptq", "seed": 9})", pluginRegistry());
    ASSERT_TRUE(t) << t.error().message();
    EXPECT_EQ(t->seed, 9u);
    EXPECT_EQ(t->params.getInt("seed"), 9);
}

TEST(Recipe, TopLevelSeedOutOfTheParamsRangeIsAnError) {
    // ptq's seed parameter is <= 2^31 - 1: a larger top-level seed must not be dropped silently.
    expectBad(R"({"algorithm": "ptq", "seed": 5000000000})", {"seed"});
}

TEST(Recipe, DefaultRecipeHasEveryDefault) {
    const AlgorithmInfo* ptq = pluginRegistry().find("ptq");
    ASSERT_NE(ptq, nullptr);
    Recipe r = defaultRecipe(*ptq);
    EXPECT_EQ(r.algorithm, ptq);
    EXPECT_EQ(r.params.values().size(), ptq->params.size());
    EXPECT_FALSE(r.train) << "ptq does not train";
    auto back = parseRecipe(recipeToJson(r), pluginRegistry());
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->params.values(), r.params.values());
}
