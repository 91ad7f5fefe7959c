#include "core/algo/compress.h"
#include "core/algo/layer_error.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "core/algo/probe.h"
#include "core/algo/quant/qdq.h"
#include "core/analysis/accuracy.h"
#include "core/analysis/cost.h"
#include "core/engine/benchmark.h"
#include "core/onnx/model_io.h"
#include "core/rewrite/rewriter.h"
#include "core/train/recipe_runner.h"
#include "core/util/atomic_file.h"

namespace wh::algo {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

Expected<int64_t> serializedBytes(const ir::Model& model) {
    WH_ASSIGN_OR_RETURN(std::string bytes, onnx::serializeModel(model));
    return static_cast<int64_t>(bytes.size());
}

void stage(jobs::JobContext* job, const std::string& what) {
    if (job) job->setStage(what);
}

// Removes initializers nothing reads any more (weights replaced by their quantized form).
Status dropUnusedInitializers(rewrite::Rewriter& rw) {
    std::vector<ir::Value*> unused;
    for (ir::Value* v : rw.graph().initializers())
        if (!v->hasUses() && !v->isGraphInput() && !v->isGraphOutput() &&
            !rw.subgraphReader(v->name()))
            unused.push_back(v);
    for (ir::Value* v : unused) WH_RETURN_STATUS_IF_ERROR(rw.removeInitializer(*v));
    return Status::ok();
}

bool usesPerAxisQdq(const ir::Graph& g) {
    for (const ir::Node* n : g.nodes())
        if ((n->opType == "QuantizeLinear" || n->opType == "DequantizeLinear") &&
            ir::isDefaultDomain(n->domain) && n->numInputs() > 1 && n->input(1) &&
            n->input(1)->hasInitializer() && n->input(1)->initializer()->numElements() > 1)
            return true;
    return false;
}

// The first output of `model` on `indices`, concatenated (float scores per sample).
Expected<std::vector<float>> scoresOf(const ir::Model& model, const data::Dataset& dataset,
                                      std::span<const int64_t> indices, const ProbeOptions& po,
                                      jobs::JobContext* job) {
    WH_ASSIGN_OR_RETURN(ModelProbe probe, ModelProbe::create(model, {}, po));
    std::vector<float> scores;
    WH_RETURN_IF_ERROR(probe.run(
        dataset, indices,
        [&](std::span<const engine::HostTensor> out, std::span<const int64_t>) -> Status {
            const engine::HostTensor& t = out.front();
            if (t.dtype() != ir::DType::kFloat)
                return makeStatus(StatusCode::kBadInput, "the first output is not float scores");
            scores.insert(scores.end(), t.data<float>(), t.data<float>() + t.numElements());
            return Status::ok();
        },
        job, "verifying"));
    return scores;
}

// Two models' scores on the same samples, compared.
struct Comparison {
    double maxAbsDiff = 0;
    double range = 0;   // max |a|
    int64_t agree = 0;  // same top-1
    int64_t samples = 0;
};

Expected<Comparison> compareScores(const std::vector<float>& a, const std::vector<float>& b,
                                   int64_t samples) {
    if (a.size() != b.size() || samples <= 0 || a.size() % static_cast<std::size_t>(samples))
        return error(StatusCode::kInternal, "verification: output sizes differ");
    Comparison c;
    c.samples = samples;
    for (std::size_t i = 0; i < a.size(); ++i) {
        c.maxAbsDiff = std::max(c.maxAbsDiff, static_cast<double>(std::fabs(a[i] - b[i])));
        c.range = std::max(c.range, static_cast<double>(std::fabs(a[i])));
    }
    const std::size_t classes = a.size() / static_cast<std::size_t>(samples);
    for (std::size_t s = 0; s < static_cast<std::size_t>(samples); ++s) {
        const auto ra = a.begin() + static_cast<std::ptrdiff_t>(s * classes);
        const auto rb = b.begin() + static_cast<std::ptrdiff_t>(s * classes);
        const auto n = static_cast<std::ptrdiff_t>(classes);
        c.agree += std::max_element(ra, ra + n) - ra == std::max_element(rb, rb + n) - rb;
    }
    return c;
}

}  // namespace

fs::path recipePathFor(const fs::path& output) {
    fs::path p = output;
    if (p.extension() == ".onnx") return p.replace_extension(".recipe.json");
    p += ".recipe.json";
    return p;
}

Expected<CompressResult> compress(const ir::Model& model, const CompressOptions& given) {
    const auto start = Clock::now();
    // The recipe's input_shapes fill in what the caller's (--shape) leave out.
    CompressOptions options = given;
    options.inputShapes = inputShapesFor(given.recipe, given.inputShapes);
    const Recipe& recipe = options.recipe;
    if (!recipe.algorithm) return error(StatusCode::kUsage, "the recipe names no algorithm");
    const AlgorithmInfo& info = *recipe.algorithm;
    jobs::JobContext* job = options.job;
    if (!options.output.empty() && !options.input.empty()) {
        std::error_code ec;
        if (fs::exists(options.output, ec) && fs::equivalent(options.input, options.output, ec))
            return error(StatusCode::kUsage, "{}: refusing to overwrite the input model",
                         options.output.string());
    }
    // A node name the model does not have is a typo in the recipe: refuse it, rather than
    // compress nothing (select.nodes) or everything (select.exclude_nodes) and report success.
    {
        std::set<std::string, std::less<>> names;
        for (const ir::Node* n : model.graph->nodes()) names.insert(n->name);
        for (const auto& [key, list] : {std::pair<const char*, const std::vector<std::string>*>{
                                            "select.nodes", &recipe.select.nodes},
                                        {"select.exclude_nodes", &recipe.select.excludeNodes}})
            for (const std::string& name : *list)
                if (!names.count(name))
                    return error(StatusCode::kBadInput, "{}: the model has no node named '{}'", key,
                                 name);
    }
    CompressResult result;
    result.algorithm = info.name;

    // 1. Data.
    const std::string datasetName = options.dataset.empty() ? recipe.dataset.name : options.dataset;
    const std::string dataDir = options.dataDir.empty() ? recipe.dataset.dataDir : options.dataDir;
    Recipe used = recipe;
    used.dataset.name = datasetName;
    used.dataset.dataDir = dataDir;
    std::shared_ptr<data::Dataset> trainSet, testSet;
    stage(job, "opening data");
    {
        auto t = openDatasetFor(model, datasetName, recipe.dataset.split, dataDir);
        if (!t) return tl::unexpected(t.error());
        trainSet = *t;
        auto s = openDatasetFor(model, datasetName, "test", dataDir);
        if (!s) return tl::unexpected(s.error());
        testSet = *s;
    }
    analysis::AccuracyOptions ao;
    ao.threads = options.threads;
    ao.limit = options.evalLimit;
    ao.inputShapes = options.inputShapes;

    // Figures before.
    WH_ASSIGN_OR_RETURN(result.bytesBefore, serializedBytes(model));
    {
        auto cost = analysis::modelCost(model, 1, options.inputShapes, options.threads);
        if (cost) {
            result.flopsBefore = cost->flops;
            result.paramsBefore = cost->params;
        }
    }
    if (options.evaluate) {
        stage(job, "accuracy before");
        WH_ASSIGN_OR_RETURN(analysis::AccuracyResult acc,
                            analysis::evaluateAccuracy(model, *testSet, ao, job));
        result.accuracyBefore = acc.accuracy;
    }

    // 2. Apply.
    WH_ASSIGN_OR_RETURN(std::unique_ptr<Algorithm> algorithm, info.create(recipe.params));
    AlgoContext ctx;
    ctx.data = trainSet.get();
    ctx.threads = options.threads;
    ctx.seed = recipe.seed;
    ctx.job = job;
    ctx.inputShapes = options.inputShapes;
    ir::Model work = model.clone();
    ctx.model = &work;
    stage(job, fmt::format("applying {}", info.name));
    auto stageStart = Clock::now();
    auto since = [](Clock::time_point t) {
        return std::chrono::duration<double>(Clock::now() - t).count();
    };
    {
        rewrite::Rewriter rw(*work.graph);
        rw.beginGroup(fmt::format("Apply {}", info.name));
        auto applied = algorithm->apply(rw, recipe.select, ctx);
        if (!applied) {
            rw.cancelGroup();
            return tl::unexpected(applied.error());
        }
        if (applied->changed() == 0) {
            rw.cancelGroup();
            std::string why;
            for (const ScopeEntry& e : applied->scope)
                if (!e.included && why.size() < 400)
                    why += fmt::format("{}{} ({}): {}", why.empty() ? "" : "; ", e.name, e.op,
                                       e.reason);
            return error(StatusCode::kBadInput,
                         "the recipe selects no node that '{}' can change{}{}", info.name,
                         why.empty() ? "" : ": ",
                         why.empty() ? std::string("(no candidate in the model)") : why);
        }
        rw.endGroup();
        result.apply = std::move(*applied);
    }
    result.applySeconds = since(stageStart);
    WH_RETURN_IF_ERROR(quant::updateOpsetImports(work, false));

    // 3. Train.
    if (recipe.train && (recipe.train->epochs > 0 || recipe.train->steps > 0)) {
        stage(job, "training");
        stageStart = Clock::now();
        train::TrainingRecipe tr;
        tr.dataset = datasetName;
        tr.dataDir = dataDir;
        tr.epochs = recipe.train->epochs;
        tr.steps = recipe.train->steps;
        tr.batch = recipe.train->batch;
        tr.lr = recipe.train->lr;
        tr.optimizer = recipe.train->optimizer;
        tr.schedule = recipe.train->schedule;
        tr.momentum = recipe.train->momentum;
        tr.weightDecay = recipe.train->weightDecay;
        tr.threads = options.threads;
        tr.seed = recipe.seed;
        tr.evaluate = options.evaluateWhileTraining;
        tr.evalLimit = options.evalLimit;
        tr.augment = false;
        std::vector<train::Callback*> callbacks = algorithm->callbacks(*work.graph);
        callbacks.insert(callbacks.end(), options.callbacks.begin(), options.callbacks.end());
        WH_ASSIGN_OR_RETURN(train::RecipeRunner runner,
                            train::RecipeRunner::prepare(tr, std::move(work)));
        WH_ASSIGN_OR_RETURN(train::TrainingResult trained, std::move(runner).run(job, callbacks));
        result.training = trained.metrics;
        work = std::move(trained.model);
        result.trainSeconds = since(stageStart);
    }

    // 4. Convert.
    ctx.model = &work;
    stage(job, "converting");
    stageStart = Clock::now();
    {
        rewrite::Rewriter rw(*work.graph);
        rw.beginGroup(fmt::format("Convert {}", info.name));
        Status s = algorithm->convert(rw, ctx);
        if (s.isOk()) s = dropUnusedInitializers(rw);
        if (!s.isOk()) {
            rw.cancelGroup();
            return tl::unexpected(s);
        }
        rw.endGroup();
    }
    WH_RETURN_IF_ERROR(quant::updateOpsetImports(work, usesPerAxisQdq(*work.graph)));
    result.convertSeconds = since(stageStart);
    if (job) WH_RETURN_IF_ERROR(job->checkCancelled());

    // 5. Export and verify.
    WH_ASSIGN_OR_RETURN(result.bytesAfter, serializedBytes(work));
    {
        auto cost = analysis::modelCost(work, 1, options.inputShapes, options.threads);
        if (!cost) return tl::unexpected(cost.error());
        result.flopsAfter = cost->flops;
        result.paramsAfter = cost->params;
    }
    ProbeOptions po;
    po.threads = options.threads;
    po.inputShapes = options.inputShapes;
    std::vector<int64_t> verifyIdx;
    for (int64_t i = 0; i < std::min(options.verifySamples, testSet->size()); ++i)
        verifyIdx.push_back(i);
    result.verify.samples = static_cast<int64_t>(verifyIdx.size());
    std::vector<float> floatScores, deployScores;
    {
        WH_ASSIGN_OR_RETURN(floatScores, scoresOf(model, *testSet, verifyIdx, po, job));
        WH_ASSIGN_OR_RETURN(deployScores, scoresOf(work, *testSet, verifyIdx, po, job));
        WH_ASSIGN_OR_RETURN(Comparison vsFloat,
                            compareScores(floatScores, deployScores, result.verify.samples));
        result.verify.floatAgreement =
            vsFloat.samples ? static_cast<double>(vsFloat.agree) / vsFloat.samples : 0;
    }
    {
        engine::BenchOptions bo;
        bo.threads = options.threads;
        bo.iterations = 50;
        bo.warmup = 5;
        bo.shapes = options.inputShapes;
        if (auto b = engine::benchmark(model, bo)) result.verify.latencyMsBefore = b->p50Ms;
        if (auto b = engine::benchmark(work, bo)) result.verify.latencyMsAfter = b->p50Ms;
    }
    if (options.evaluate) {
        stage(job, "accuracy after");
        WH_ASSIGN_OR_RETURN(analysis::AccuracyResult acc,
                            analysis::evaluateAccuracy(work, *testSet, ao, job));
        result.accuracyAfter = acc.accuracy;
    }
    result.recipeJson = recipeToJson(used);
    if (!options.output.empty()) {
        stage(job, "writing");
        WH_RETURN_IF_ERROR(onnx::saveModel(work, options.output));
        auto reloaded = onnx::loadModel(options.output);
        if (!reloaded) {
            result.verify.message =
                fmt::format("the written file does not load: {}", reloaded.error().message());
        } else {
            auto reloadedScores = scoresOf(*reloaded, *testSet, verifyIdx, po, job);
            auto cmp = reloadedScores
                           ? compareScores(deployScores, *reloadedScores, result.verify.samples)
                           : Expected<Comparison>(tl::unexpected(reloadedScores.error()));
            if (!cmp) {
                if (cmp.error().code() == StatusCode::kCancelled) {
                    std::error_code ec;
                    fs::remove(options.output, ec);
                    return tl::unexpected(cmp.error());
                }
                result.verify.message =
                    fmt::format("the written file does not run: {}", cmp.error().message());
            } else {
                result.verify.maxAbsDiff = cmp->maxAbsDiff;
                result.verify.top1Agreement =
                    cmp->samples ? static_cast<double>(cmp->agree) / cmp->samples : 0;
                result.verify.verified = cmp->samples > 0 && cmp->agree == cmp->samples &&
                                         cmp->maxAbsDiff <= 1e-5 * std::max(1.0, cmp->range);
                if (!result.verify.verified)
                    result.verify.message = fmt::format(
                        "the written file differs from the converted model: max |diff| {:.3g}, "
                        "top-1 agreement {:.4f}",
                        cmp->maxAbsDiff, result.verify.top1Agreement);
            }
        }
        result.recipePath = recipePathFor(options.output);
        WH_RETURN_IF_ERROR(util::writeAtomically(result.recipePath, result.recipeJson));
    }
    result.model = std::move(work);
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

}  // namespace wh::algo
