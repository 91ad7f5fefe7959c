#pragma once
/// Datasets: labelled images as the engine wants them (float32 [C,H,W], normalised).
/// IdxDataset reads MNIST-format .gz files (Fashion-MNIST from Debian's dataset-fashion-mnist);
/// ImageFolder reads a folder per class (stb_image). Readers check every header against the file
/// before allocating. Thread-safety: get() is const and safe to call concurrently.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/host_tensor.h"
#include "core/util/status.h"

namespace wh::data {

/// Per-channel normalisation: x' = (x/255 - mean[c]) / std[c]. One entry applies to all channels.
struct Normalization {
    std::vector<float> mean{0.0f};
    std::vector<float> std{1.0f};
    float black(int64_t channel) const {
        const auto c = static_cast<std::size_t>(channel);
        return -mean[c % mean.size()] / std[c % std.size()];
    }
    /// Fashion-MNIST's statistics (shared/CLI.md): mean 0.2860, std 0.3530.
    static Normalization fashionMnist() { return {{0.2860f}, {0.3530f}}; }
};

class Dataset {
public:
    virtual ~Dataset() = default;
    virtual int64_t size() const = 0;
    /// Dims of one sample, e.g. {1, 28, 28}.
    virtual engine::Dims sampleDims() const = 0;
    virtual int64_t numClasses() const = 0;
    /// Writes sample `index` (numElementsOf(sampleDims()) floats, normalised) to `out` and
    /// returns its label.
    virtual int64_t get(int64_t index, float* out) const = 0;
    /// Label of sample `index` without decoding the image.
    virtual int64_t label(int64_t index) const = 0;
    /// What a black pixel of `channel` becomes after normalisation (the padding value).
    virtual float blackValue(int64_t channel) const = 0;
};

/// MNIST-format images (magic 0x803, uint8) and labels (magic 0x801), gzip-compressed or not.
class IdxDataset : public Dataset {
public:
    static Expected<std::shared_ptr<IdxDataset>> load(const std::filesystem::path& images,
                                                      const std::filesystem::path& labels,
                                                      Normalization normalization);
    /// `split` is "train" or "test"; files as Debian names them: {train,t10k}-{images-idx3,
    /// labels-idx1}-ubyte.gz under `dir` (default /usr/share/datasets/fashion-mnist).
    static Expected<std::shared_ptr<IdxDataset>> mnistLayout(const std::filesystem::path& dir,
                                                             const std::string& split,
                                                             Normalization normalization);

    int64_t size() const override { return m_count; }
    engine::Dims sampleDims() const override { return {1, m_rows, m_cols}; }
    int64_t numClasses() const override { return m_classes; }
    int64_t get(int64_t index, float* out) const override;
    int64_t label(int64_t index) const override { return m_labels[static_cast<std::size_t>(index)]; }
    float blackValue(int64_t channel) const override { return m_norm.black(channel); }

private:
    int64_t m_count = 0, m_rows = 0, m_cols = 0, m_classes = 0;
    std::vector<uint8_t> m_pixels;
    std::vector<uint8_t> m_labels;
    Normalization m_norm;
};

/// A folder per class (sorted names = label order), images decoded with stb_image, resized to
/// height x width (bilinear), as 1 (grey) or 3 (RGB) channels. Decoded once, kept as uint8.
class ImageFolder : public Dataset {
public:
    static Expected<std::shared_ptr<ImageFolder>> load(const std::filesystem::path& root,
                                                       int channels, int height, int width,
                                                       Normalization normalization);
    int64_t size() const override { return static_cast<int64_t>(m_labels.size()); }
    engine::Dims sampleDims() const override { return {m_channels, m_height, m_width}; }
    int64_t numClasses() const override { return static_cast<int64_t>(m_classNames.size()); }
    int64_t get(int64_t index, float* out) const override;
    int64_t label(int64_t index) const override { return m_labels[static_cast<std::size_t>(index)]; }
    float blackValue(int64_t channel) const override { return m_norm.black(channel); }
    const std::vector<std::string>& classNames() const { return m_classNames; }

private:
    int64_t m_channels = 0, m_height = 0, m_width = 0;
    std::vector<uint8_t> m_pixels;  // HWC per image
    std::vector<int64_t> m_labels;
    std::vector<std::string> m_classNames;
    Normalization m_norm;
};

/// A view of some samples of another dataset (calibration sets, validation splits).
class Subset : public Dataset {
public:
    Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
        : m_base(std::move(base)), m_indices(std::move(indices)) {}
    int64_t size() const override { return static_cast<int64_t>(m_indices.size()); }
    engine::Dims sampleDims() const override { return m_base->sampleDims(); }
    int64_t numClasses() const override { return m_base->numClasses(); }
    int64_t get(int64_t index, float* out) const override {
        return m_base->get(m_indices[static_cast<std::size_t>(index)], out);
    }
    int64_t label(int64_t index) const override {
        return m_base->label(m_indices[static_cast<std::size_t>(index)]);
    }
    float blackValue(int64_t channel) const override { return m_base->blackValue(channel); }
    const std::vector<int64_t>& indices() const { return m_indices; }

private:
    std::shared_ptr<const Dataset> m_base;
    std::vector<int64_t> m_indices;
};

/// `count` samples drawn without replacement, balanced across classes as far as possible,
/// reproducibly from `seed` (post-training quantization calibration sets).
std::shared_ptr<Subset> calibrationSubset(std::shared_ptr<const Dataset> base, int64_t count,
                                          uint64_t seed);

/// Opens a dataset by the CLI's name: "fashion-mnist", "mnist" (MNIST layout in `dataDir`) or
/// "folder:PATH" (PATH/train and PATH/test if present, else PATH itself). `split` is "train" or
/// "test"; `channels`/`height`/`width` apply to folders. An empty `dataDir` means the default.
Expected<std::shared_ptr<Dataset>> openDataset(const std::string& name, const std::string& split,
                                               const std::filesystem::path& dataDir,
                                               Normalization normalization, int channels = 1,
                                               int height = 28, int width = 28);

}  // namespace wh::data
