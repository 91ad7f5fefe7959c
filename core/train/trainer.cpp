#include "core/train/trainer.h"

#include <chrono>
#include <cstring>

#include <fmt/format.h>

namespace wh::train {

namespace {
double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

Expected<EvalMetrics> evaluate(engine::TrainingPlan& plan, data::DataLoader& loader, int64_t limit,
                               jobs::JobContext* job) {
    EvalMetrics metrics;
    int64_t correct = 0;
    double lossSum = 0;
    data::Batch batch;
    loader.startEpoch(0);
    while (loader.next(batch)) {
        if (job) WH_RETURN_IF_ERROR(job->checkCancelled());
        int64_t take = batch.size();
        if (limit > 0) take = std::min(take, limit - metrics.samples);
        if (take <= 0) break;
        WH_ASSIGN_OR_RETURN(auto outs, plan.evaluate(batch.images));
        const engine::HostTensor& logits = outs.at(0);
        const int64_t classes = logits.numElements() / std::max<int64_t>(1, logits.dim(0));
        std::vector<float> row(static_cast<std::size_t>(classes));
        for (int64_t b = 0; b < take; ++b) {
            int64_t best = 0;
            for (int64_t c = 1; c < classes; ++c)
                if (logits.at(b * classes + c) > logits.at(b * classes + best)) best = c;
            if (best == batch.labels.data<int64_t>()[b]) ++correct;
        }
        engine::HostTensor labels = batch.labels;
        if (take < batch.size()) {
            labels = engine::HostTensor::fromInt64s(
                {take}, std::vector<int64_t>(batch.labels.data<int64_t>(),
                                             batch.labels.data<int64_t>() + take));
            engine::HostTensor part(logits.dtype(), {take, classes});
            std::memcpy(part.raw(), logits.raw(), part.byteSize());
            WH_ASSIGN_OR_RETURN(double l, engine::softmaxCrossEntropy(part, labels, 0.0f, nullptr));
            lossSum += l * static_cast<double>(take);
        } else {
            WH_ASSIGN_OR_RETURN(double l,
                                engine::softmaxCrossEntropy(logits, labels, 0.0f, nullptr));
            lossSum += l * static_cast<double>(take);
        }
        metrics.samples += take;
    }
    if (metrics.samples) {
        metrics.accuracy = static_cast<double>(correct) / static_cast<double>(metrics.samples);
        metrics.loss = lossSum / static_cast<double>(metrics.samples);
    }
    return metrics;
}

Trainer::Trainer(engine::TrainingPlan& plan, Optimizer& optimizer, LrSchedule& schedule,
                 data::DataLoader& train, data::DataLoader* test, TrainerOptions options)
    : m_plan(plan),
      m_optimizer(optimizer),
      m_schedule(schedule),
      m_train(train),
      m_test(test),
      m_options(options) {}

int64_t Trainer::plannedSteps() const {
    const int64_t byEpochs = static_cast<int64_t>(m_options.epochs) * m_train.numBatches();
    return m_options.maxSteps > 0 ? std::min(m_options.maxSteps, byEpochs) : byEpochs;
}

Status Trainer::report(std::string name, double value) {
    const Metric metric{std::move(name), m_epoch, m_step, value};
    for (Callback* cb : m_callbacks)
        if (Status s = cb->onMetric(*this, metric); !s.isOk()) return s;
    return Status::ok();
}

#define WH_CALLBACKS(call) \
    for (Callback * cb : m_callbacks) WH_RETURN_IF_ERROR(cb->call)

Expected<TrainMetrics> Trainer::run(jobs::JobContext* job) {
    TrainMetrics metrics;
    m_stop = false;
    const int64_t planned = std::max<int64_t>(1, plannedSteps());
    WH_CALLBACKS(onTrainBegin(*this));
    data::Batch batch;
    auto& params = m_plan.parameters();
    double steadySeconds = 0;
    int64_t steadyImages = 0;
    for (m_epoch = 0; m_epoch < m_options.epochs && !m_stop; ++m_epoch) {
        if (m_options.maxSteps > 0 && m_step >= m_options.maxSteps) break;
        WH_CALLBACKS(onEpochBegin(*this, m_epoch));
        if (job)
            job->setProgress(static_cast<double>(m_step) / static_cast<double>(planned),
                             fmt::format("epoch {}/{}", m_epoch + 1, m_options.epochs));
        EpochMetrics em;
        em.epoch = m_epoch;
        int64_t images = 0;
        double lossSum = 0;
        const double t0 = now();
        double mark = t0;
        m_train.startEpoch(m_epoch);
        while (!m_stop && m_train.next(batch)) {
            if (m_options.maxSteps > 0 && m_step >= m_options.maxSteps) break;
            if (job) WH_RETURN_IF_ERROR(job->checkCancelled());
            WH_CALLBACKS(onStepBegin(*this, m_step));
            StepInfo info;
            info.epoch = m_epoch;
            info.step = m_step;
            info.batchSize = batch.size();
            info.lr = m_schedule.lr(m_step);
            WH_ASSIGN_OR_RETURN(info.loss, m_plan.forwardBackward(batch.images, batch.labels));
            info.gradNorm = clipGradientNorm(params, m_options.clipNorm);
            WH_RETURN_IF_ERROR(m_optimizer.step(params, info.lr));
            lossSum += info.loss;
            images += batch.size();
            ++em.steps;
            ++m_step;
            const double t = now();
            if (m_step > m_options.warmupSteps) {
                steadySeconds += t - mark;
                steadyImages += batch.size();
            }
            mark = t;
            if (job) job->setProgress(static_cast<double>(m_step) / static_cast<double>(planned));
            WH_CALLBACKS(onStepEnd(*this, info));
        }
        em.seconds = now() - t0;
        em.images = images;
        em.trainLoss = em.steps ? lossSum / static_cast<double>(em.steps) : 0.0;
        em.imagesPerSecond = em.seconds > 0 ? static_cast<double>(images) / em.seconds : 0.0;
        metrics.seconds += em.seconds;
        metrics.steps += em.steps;
        metrics.finalLoss = em.trainLoss;
        const bool last = m_stop || m_epoch + 1 == m_options.epochs ||
                          (m_options.maxSteps > 0 && m_step >= m_options.maxSteps);
        if (m_test && (m_options.evaluateEachEpoch || last)) {
            WH_ASSIGN_OR_RETURN(EvalMetrics ev,
                                evaluate(m_plan, *m_test, m_options.evalLimit, job));
            em.testAccuracy = ev.accuracy;
            em.testLoss = ev.loss;
            metrics.testAccuracy = ev.accuracy;
        }
        metrics.history.push_back(em);
        metrics.epochs = m_epoch + 1;
        WH_CALLBACKS(onEpochEnd(*this, em));
    }
    metrics.stoppedEarly = m_stop;
    int64_t images = 0;
    for (const EpochMetrics& e : metrics.history) images += e.images;
    metrics.imagesPerSecond =
        metrics.seconds > 0 ? static_cast<double>(images) / metrics.seconds : 0;
    metrics.steadyImagesPerSecond = steadySeconds > 0
                                        ? static_cast<double>(steadyImages) / steadySeconds
                                        : metrics.imagesPerSecond;
    if (job) job->setProgress(1.0);
    WH_CALLBACKS(onTrainEnd(*this, metrics));
    return metrics;
}

}  // namespace wh::train
