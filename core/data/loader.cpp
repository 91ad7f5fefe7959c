#include "core/data/loader.h"

#include <algorithm>
#include <cstring>

namespace wh::data {

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, Options options)
    : m_dataset(std::move(dataset)), m_options(options) {
    WH_ASSERT(m_options.batchSize > 0);
    startEpoch(0);
}

int64_t DataLoader::numBatches() const {
    const int64_t n = m_dataset->size(), b = m_options.batchSize;
    return m_options.dropLast ? n / b : (n + b - 1) / b;
}

void DataLoader::startEpoch(int epoch) {
    m_epoch = epoch;
    m_position = 0;
    m_order.resize(static_cast<std::size_t>(m_dataset->size()));
    for (std::size_t i = 0; i < m_order.size(); ++i) m_order[i] = static_cast<int64_t>(i);
    if (m_options.shuffle) {
        Rng rng(m_options.seed * 0x100000001b3ull + static_cast<uint64_t>(epoch));
        for (std::size_t i = m_order.size(); i > 1; --i) std::swap(m_order[i - 1], m_order[rng.below(i)]);
    }
}

bool DataLoader::next(Batch& batch) {
    const int64_t n = m_dataset->size();
    int64_t take = std::min(m_options.batchSize, n - m_position);
    if (take <= 0 || (m_options.dropLast && take < m_options.batchSize)) return false;
    const engine::Dims sample = m_dataset->sampleDims();
    const int64_t c = sample[0], h = sample[1], w = sample[2], per = c * h * w;
    engine::Dims dims{take, c, h, w};
    batch.images.ensure(ir::DType::kFloat, dims);
    batch.labels.ensure(ir::DType::kInt64, {take});
    float* images = batch.images.data<float>();
    int64_t* labels = batch.labels.data<int64_t>();
    const Augmentation& aug = m_options.augmentation;
    const bool augment = aug.cropPadding > 0 || aug.horizontalFlip;
    m_scratch.resize(static_cast<std::size_t>(per));
    for (int64_t i = 0; i < take; ++i) {
        const int64_t index = m_order[static_cast<std::size_t>(m_position + i)];
        float* dst = images + i * per;
        if (!augment) {
            labels[i] = m_dataset->get(index, dst);
            continue;
        }
        labels[i] = m_dataset->get(index, m_scratch.data());
        // Per-sample randomness from (seed, epoch, sample index): independent of batch order.
        Rng rng((m_options.seed ^ 0xa5a5a5a5ull) * 31 + static_cast<uint64_t>(m_epoch) * 1000003ull +
                static_cast<uint64_t>(index));
        const int p = aug.cropPadding;
        const int64_t dy = p ? static_cast<int64_t>(rng.below(2 * p + 1)) - p : 0;
        const int64_t dx = p ? static_cast<int64_t>(rng.below(2 * p + 1)) - p : 0;
        const bool flip = aug.horizontalFlip && (rng.next() & 1);
        // Pad with what a black pixel normalises to, as torchvision pads the raw image with 0.
        for (int64_t ch = 0; ch < c; ++ch) {
            const float* src = m_scratch.data() + ch * h * w;
            float* out = dst + ch * h * w;
            const float black = m_dataset->blackValue(ch);
            for (int64_t y = 0; y < h; ++y)
                for (int64_t x = 0; x < w; ++x) {
                    const int64_t sy = y + dy, sx0 = flip ? (w - 1 - x) : x, sx = sx0 + dx;
                    out[y * w + x] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? src[sy * w + sx]
                                                                              : black;
                }
        }
    }
    m_position += take;
    return true;
}

}  // namespace wh::data
