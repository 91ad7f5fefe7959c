#include "core/data/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <map>
#include <system_error>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb/stb_image_resize.h>

#include "core/data/loader.h"

namespace wh::data {

namespace fs = std::filesystem;

namespace {

// A gzip (or plain) file read in full, refusing to inflate past `limit` bytes.
Expected<std::vector<uint8_t>> readMaybeGzip(const fs::path& path, uint64_t limit) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) return error(StatusCode::kBadInput, "{}: cannot open", path.string());
    std::vector<uint8_t> out;
    uint8_t buf[1 << 16];
    for (;;) {
        const int n = gzread(f, buf, sizeof buf);
        if (n < 0) {
            int err = 0;
            std::string msg = gzerror(f, &err);
            gzclose(f);
            return error(StatusCode::kBadInput, "{}: corrupt gzip data ({})", path.string(), msg);
        }
        if (n == 0) break;
        if (out.size() + static_cast<std::size_t>(n) > limit) {
            gzclose(f);
            return error(StatusCode::kBadInput, "{}: larger than {} bytes once inflated",
                         path.string(), limit);
        }
        out.insert(out.end(), buf, buf + n);
    }
    gzclose(f);
    return out;
}

uint32_t bigEndian32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

constexpr uint64_t kMaxIdxBytes = uint64_t{1} << 31;

void normalise(const uint8_t* hwc, int64_t channels, int64_t pixels, const Normalization& n,
               float* chw) {
    for (int64_t c = 0; c < channels; ++c) {
        const float mean = n.mean[static_cast<std::size_t>(c) % n.mean.size()];
        const float inv = 1.0f / n.std[static_cast<std::size_t>(c) % n.std.size()];
        float* dst = chw + c * pixels;
        for (int64_t p = 0; p < pixels; ++p)
            dst[p] = (static_cast<float>(hwc[p * channels + c]) * (1.0f / 255.0f) - mean) * inv;
    }
}

}  // namespace

Expected<std::shared_ptr<IdxDataset>> IdxDataset::load(const fs::path& images,
                                                       const fs::path& labels,
                                                       Normalization normalization) {
    WH_ASSIGN_OR_RETURN(std::vector<uint8_t> img, readMaybeGzip(images, kMaxIdxBytes));
    WH_ASSIGN_OR_RETURN(std::vector<uint8_t> lab, readMaybeGzip(labels, kMaxIdxBytes));
    if (img.size() < 16 || bigEndian32(img.data()) != 0x803)
        return error(StatusCode::kBadInput, "{}: not an IDX image file (magic 0x803)",
                     images.string());
    if (lab.size() < 8 || bigEndian32(lab.data()) != 0x801)
        return error(StatusCode::kBadInput, "{}: not an IDX label file (magic 0x801)",
                     labels.string());
    auto ds = std::make_shared<IdxDataset>();
    ds->m_count = bigEndian32(img.data() + 4);
    ds->m_rows = bigEndian32(img.data() + 8);
    ds->m_cols = bigEndian32(img.data() + 12);
    const uint64_t need = static_cast<uint64_t>(ds->m_count) * static_cast<uint64_t>(ds->m_rows) *
                          static_cast<uint64_t>(ds->m_cols);
    if (ds->m_rows == 0 || ds->m_cols == 0 || need != img.size() - 16)
        return error(StatusCode::kBadInput,
                     "{}: header says {} images of {}x{}, the file holds {} pixel bytes",
                     images.string(), ds->m_count, ds->m_rows, ds->m_cols, img.size() - 16);
    if (bigEndian32(lab.data() + 4) != ds->m_count || lab.size() - 8 != static_cast<uint64_t>(ds->m_count))
        return error(StatusCode::kBadInput, "{}: {} labels for {} images", labels.string(),
                     lab.size() - 8, ds->m_count);
    ds->m_pixels.assign(img.begin() + 16, img.end());
    ds->m_labels.assign(lab.begin() + 8, lab.end());
    ds->m_classes = ds->m_labels.empty()
                        ? 0
                        : int64_t{*std::max_element(ds->m_labels.begin(), ds->m_labels.end())} + 1;
    ds->m_norm = std::move(normalization);
    return ds;
}

Expected<std::shared_ptr<IdxDataset>> IdxDataset::mnistLayout(const fs::path& dir,
                                                              const std::string& split,
                                                              Normalization normalization) {
    std::string prefix;
    if (split == "train") prefix = "train";
    else if (split == "test") prefix = "t10k";
    else return error(StatusCode::kUsage, "unknown split '{}' (train or test)", split);
    auto pick = [&](const std::string& stem) {
        fs::path gz = dir / (prefix + stem + ".gz");
        std::error_code ec;
        return fs::exists(gz, ec) ? gz : dir / (prefix + stem);
    };
    return load(pick("-images-idx3-ubyte"), pick("-labels-idx1-ubyte"), std::move(normalization));
}

int64_t IdxDataset::get(int64_t index, float* out) const {
    const int64_t pixels = m_rows * m_cols;
    normalise(m_pixels.data() + index * pixels, 1, pixels, m_norm, out);
    return m_labels[static_cast<std::size_t>(index)];
}

Expected<std::shared_ptr<ImageFolder>> ImageFolder::load(const fs::path& root, int channels,
                                                         int height, int width,
                                                         Normalization normalization) {
    if (channels != 1 && channels != 3)
        return error(StatusCode::kUsage, "image folders give 1 or 3 channels, not {}", channels);
    if (height <= 0 || width <= 0 || height > 4096 || width > 4096)
        return error(StatusCode::kUsage, "image size {}x{} is out of range", height, width);
    std::error_code ec;
    if (!fs::is_directory(root, ec))
        return error(StatusCode::kBadInput, "{}: not a folder", root.string());
    auto ds = std::make_shared<ImageFolder>();
    ds->m_channels = channels;
    ds->m_height = height;
    ds->m_width = width;
    ds->m_norm = std::move(normalization);
    std::vector<fs::path> classDirs;
    for (const auto& e : fs::directory_iterator(root, ec))
        if (e.is_directory()) classDirs.push_back(e.path());
    std::sort(classDirs.begin(), classDirs.end());
    if (classDirs.empty())
        return error(StatusCode::kBadInput, "{}: no class sub-folders", root.string());
    const std::size_t imageBytes = static_cast<std::size_t>(channels * height * width);
    std::vector<uint8_t> resized(imageBytes);
    for (std::size_t label = 0; label < classDirs.size(); ++label) {
        ds->m_classNames.push_back(classDirs[label].filename().string());
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(classDirs[label], ec))
            if (e.is_regular_file()) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (const fs::path& file : files) {
            int w = 0, h = 0, n = 0;
            if (!stbi_info(file.c_str(), &w, &h, &n)) continue;  // not an image: skip
            if (static_cast<int64_t>(w) * h > (int64_t{1} << 26))
                return error(StatusCode::kBadInput, "{}: image of {}x{} is too large",
                             file.string(), w, h);
            uint8_t* pixels = stbi_load(file.c_str(), &w, &h, &n, channels);
            if (!pixels)
                return error(StatusCode::kBadInput, "{}: cannot decode ({})", file.string(),
                             stbi_failure_reason());
            stbir_resize_uint8(pixels, w, h, 0, resized.data(), width, height, 0, channels);
            stbi_image_free(pixels);
            ds->m_pixels.insert(ds->m_pixels.end(), resized.begin(), resized.end());
            ds->m_labels.push_back(static_cast<int64_t>(label));
        }
    }
    if (ds->m_labels.empty())
        return error(StatusCode::kBadInput, "{}: no images found", root.string());
    return ds;
}

int64_t ImageFolder::get(int64_t index, float* out) const {
    const int64_t pixels = m_height * m_width;
    normalise(m_pixels.data() + index * pixels * m_channels, m_channels, pixels, m_norm, out);
    return m_labels[static_cast<std::size_t>(index)];
}

std::shared_ptr<Subset> calibrationSubset(std::shared_ptr<const Dataset> base, int64_t count,
                                          uint64_t seed) {
    count = std::clamp<int64_t>(count, 0, base->size());
    // Shuffle each class's indices, then deal round-robin across classes: balanced and random.
    std::map<int64_t, std::vector<int64_t>> byClass;
    for (int64_t i = 0; i < base->size(); ++i) byClass[base->label(i)].push_back(i);
    Rng rng(seed);
    for (auto& [label, idx] : byClass)
        for (std::size_t i = idx.size(); i > 1; --i) std::swap(idx[i - 1], idx[rng.below(i)]);
    std::vector<int64_t> picked;
    picked.reserve(static_cast<std::size_t>(count));
    for (std::size_t round = 0; static_cast<int64_t>(picked.size()) < count; ++round)
        for (auto& [label, idx] : byClass)
            if (round < idx.size() && static_cast<int64_t>(picked.size()) < count)
                picked.push_back(idx[round]);
    std::sort(picked.begin(), picked.end());
    return std::make_shared<Subset>(std::move(base), std::move(picked));
}

Expected<std::shared_ptr<Dataset>> openDataset(const std::string& name, const std::string& split,
                                               const fs::path& dataDir,
                                               Normalization normalization, int channels,
                                               int height, int width) {
    if (name == "fashion-mnist" || name == "mnist") {
        fs::path dir = dataDir;
        if (dir.empty())
            dir = name == "fashion-mnist" ? "/usr/share/datasets/fashion-mnist"
                                          : "/usr/share/datasets/mnist";
        WH_ASSIGN_OR_RETURN(auto ds, IdxDataset::mnistLayout(dir, split, std::move(normalization)));
        return std::shared_ptr<Dataset>(std::move(ds));
    }
    if (name.starts_with("folder:")) {
        fs::path root = name.substr(7);
        std::error_code ec;
        if (fs::is_directory(root / split, ec)) root /= split;
        WH_ASSIGN_OR_RETURN(auto ds, ImageFolder::load(root, channels, height, width,
                                                       std::move(normalization)));
        return std::shared_ptr<Dataset>(std::move(ds));
    }
    return error(StatusCode::kUsage,
                 "unknown dataset '{}' (fashion-mnist, mnist or folder:PATH)", name);
}

}  // namespace wh::data
