#pragma once
/// DataLoader: batches of a Dataset, shuffled and augmented reproducibly. The same seed gives the
/// same batches in the same order, epoch after epoch, on any machine (our own Fisher-Yates and
/// SplitMix64, not std::shuffle, whose results the standard leaves open).

#include <cstdint>
#include <memory>

#include "core/data/dataset.h"
#include "core/engine/host_tensor.h"
#include "core/util/rng.h"

namespace wh::data {

/// Training-time augmentation, applied per sample.
struct Augmentation {
    int cropPadding = 0;          ///< random crop after zero-padding this many pixels per side
    bool horizontalFlip = false;  ///< flip left-right with probability 1/2
};

struct Batch {
    engine::HostTensor images;  ///< float32 [B, C, H, W]
    engine::HostTensor labels;  ///< int64 [B]
    int64_t size() const { return labels.numElements(); }
};

class DataLoader {
public:
    struct Options {
        int64_t batchSize = 128;
        bool shuffle = true;
        bool dropLast = false;
        uint64_t seed = 0;
        Augmentation augmentation;
    };

    DataLoader(std::shared_ptr<const Dataset> dataset, Options options);

    int64_t numBatches() const;
    /// Starts epoch `epoch` (0-based): order and augmentation depend only on (seed, epoch).
    void startEpoch(int epoch);
    /// Fills the next batch; false at the end of the epoch.
    bool next(Batch& batch);
    const Dataset& dataset() const { return *m_dataset; }

private:
    std::shared_ptr<const Dataset> m_dataset;
    Options m_options;
    std::vector<int64_t> m_order;
    int64_t m_position = 0;
    int m_epoch = 0;
    std::vector<float> m_scratch;
};

}  // namespace wh::data
