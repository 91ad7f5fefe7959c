// Datasets and the loader on real data (Debian's Fashion-MNIST) and on files made here.

#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include <gtest/gtest.h>

#include "core/data/dataset.h"
#include "core/data/loader.h"

namespace fs = std::filesystem;
using namespace wh::data;

namespace {

const fs::path kFashion = "/usr/share/datasets/fashion-mnist";

void writeGz(const fs::path& p, const std::vector<uint8_t>& bytes) {
    gzFile f = gzopen(p.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
}

std::vector<uint8_t> header(uint32_t magic, std::vector<uint32_t> dims) {
    std::vector<uint8_t> h;
    auto put = [&](uint32_t v) {
        for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<uint8_t>(v >> s));
    };
    put(magic);
    for (uint32_t d : dims) put(d);
    return h;
}

// A tiny IDX pair: `n` 4x4 images, image i filled with value i*10, label i % 3.
fs::path makeTinyIdx(int n, const std::string& tag) {
    fs::path dir = fs::temp_directory_path() / ("whittle-idx-" + tag);
    fs::create_directories(dir);
    auto img = header(0x803, {static_cast<uint32_t>(n), 4, 4});
    auto lab = header(0x801, {static_cast<uint32_t>(n)});
    for (int i = 0; i < n; ++i) {
        for (int k = 0; k < 16; ++k) img.push_back(static_cast<uint8_t>(i * 10));
        lab.push_back(static_cast<uint8_t>(i % 3));
    }
    writeGz(dir / "train-images-idx3-ubyte.gz", img);
    writeGz(dir / "train-labels-idx1-ubyte.gz", lab);
    return dir;
}

}  // namespace

TEST(IdxDataset, ReadsFashionMnist) {
    if (!fs::exists(kFashion)) GTEST_SKIP() << "dataset-fashion-mnist not installed";
    auto train = IdxDataset::mnistLayout(kFashion, "train", Normalization::fashionMnist());
    auto test = IdxDataset::mnistLayout(kFashion, "test", Normalization::fashionMnist());
    ASSERT_TRUE(train) << train.error().message();
    ASSERT_TRUE(test) << test.error().message();
    EXPECT_EQ((*train)->size(), 60000);
    EXPECT_EQ((*test)->size(), 10000);
    EXPECT_EQ((*train)->sampleDims(), (wh::engine::Dims{1, 28, 28}));
    EXPECT_EQ((*train)->numClasses(), 10);
    // Over the training set the normalised pixels have mean ~0 and std ~1 (CLI.md's constants
    // are Fashion-MNIST's statistics).
    double sum = 0, sq = 0;
    std::vector<float> x(784);
    const int64_t n = 6000;
    for (int64_t i = 0; i < n; ++i) {
        (*train)->get(i * 10, x.data());
        for (float v : x) {
            sum += v;
            sq += double(v) * v;
        }
    }
    const double mean = sum / (n * 784.0), var = sq / (n * 784.0) - mean * mean;
    EXPECT_NEAR(mean, 0.0, 0.02);
    EXPECT_NEAR(std::sqrt(var), 1.0, 0.02);
    // Classes are balanced in the test split: 1,000 each.
    std::vector<int> counts(10);
    for (int64_t i = 0; i < 10000; ++i) ++counts[static_cast<std::size_t>((*test)->label(i))];
    for (int c : counts) EXPECT_EQ(c, 1000);
}

TEST(IdxDataset, RejectsInconsistentHeaders) {
    fs::path dir = fs::temp_directory_path() / "whittle-idx-bad";
    fs::create_directories(dir);
    auto img = header(0x803, {1000000, 28, 28});  // claims 784 MB, holds 16 bytes
    for (int k = 0; k < 16; ++k) img.push_back(0);
    writeGz(dir / "train-images-idx3-ubyte.gz", img);
    writeGz(dir / "train-labels-idx1-ubyte.gz", header(0x801, {1}));
    auto ds = IdxDataset::mnistLayout(dir, "train", {});
    ASSERT_FALSE(ds);
    EXPECT_NE(ds.error().message().find("train-images-idx3-ubyte.gz"), std::string::npos)
        << ds.error().message();
    writeGz(dir / "train-images-idx3-ubyte.gz", header(0x999, {1, 1, 1}));
    EXPECT_FALSE(IdxDataset::mnistLayout(dir, "train", {}));
    EXPECT_FALSE(IdxDataset::mnistLayout(dir, "validation", {}));
    fs::remove_all(dir);
}

TEST(DataLoader, SameSeedSameBatchesAndEveryoneOnce) {
    fs::path dir = makeTinyIdx(10, "loader");
    auto ds = IdxDataset::mnistLayout(dir, "train", {});
    ASSERT_TRUE(ds) << ds.error().message();
    DataLoader::Options opt;
    opt.batchSize = 4;
    opt.seed = 7;
    DataLoader a(*ds, opt), b(*ds, opt);
    EXPECT_EQ(a.numBatches(), 3);
    Batch ba, bb;
    std::multiset<float> seen;
    std::vector<int64_t> firstEpoch;
    while (a.next(ba)) {
        ASSERT_TRUE(b.next(bb));
        ASSERT_EQ(ba.images.toFloats(), bb.images.toFloats());
        for (int64_t i = 0; i < ba.size(); ++i) {
            const float v = ba.images.data<float>()[i * 16];
            seen.insert(v);
            // label follows the image: image value i*10/255 has label i % 3
            const int img = static_cast<int>(std::lround(v * 255.0f / 10.0f));
            EXPECT_EQ(ba.labels.data<int64_t>()[i], img % 3);
            firstEpoch.push_back(img);
        }
    }
    EXPECT_EQ(seen.size(), 10u);  // every sample exactly once
    EXPECT_FALSE(std::is_sorted(firstEpoch.begin(), firstEpoch.end()));
    // Another epoch reorders; another seed reorders differently.
    a.startEpoch(1);
    std::vector<int64_t> secondEpoch;
    while (a.next(ba))
        for (int64_t i = 0; i < ba.size(); ++i)
            secondEpoch.push_back(std::lround(ba.images.data<float>()[i * 16] * 255.0f / 10.0f));
    EXPECT_NE(firstEpoch, secondEpoch);
    fs::remove_all(dir);
}

TEST(DataLoader, AugmentationShiftsAndFlipsReproducibly) {
    // One 4x4 image with a single bright pixel at (0, 0).
    fs::path dir = fs::temp_directory_path() / "whittle-idx-aug";
    fs::create_directories(dir);
    auto img = header(0x803, {1, 4, 4});
    for (int k = 0; k < 16; ++k) img.push_back(k == 0 ? 255 : 0);
    auto lab = header(0x801, {1});
    lab.push_back(0);
    writeGz(dir / "train-images-idx3-ubyte.gz", img);
    writeGz(dir / "train-labels-idx1-ubyte.gz", lab);
    auto ds = IdxDataset::mnistLayout(dir, "train", {});
    ASSERT_TRUE(ds);
    DataLoader::Options opt;
    opt.batchSize = 1;
    opt.augmentation.horizontalFlip = true;
    opt.augmentation.cropPadding = 1;
    DataLoader loader(*ds, opt);
    std::set<int> positions;
    Batch b;
    for (int epoch = 0; epoch < 40; ++epoch) {
        loader.startEpoch(epoch);
        ASSERT_TRUE(loader.next(b));
        auto v = b.images.toFloats();
        float total = std::accumulate(v.begin(), v.end(), 0.0f);
        EXPECT_LE(total, 1.0f);  // the pixel moved or fell off, never duplicated
        for (int k = 0; k < 16; ++k)
            if (v[static_cast<std::size_t>(k)] == 1.0f) positions.insert(k);
    }
    // Shifts by -1..1 and flips put the pixel in several places over the epochs.
    EXPECT_GE(positions.size(), 3u);
    // A shift of at most one pixel keeps it in the top two rows; flips reach the right edge.
    for (int p : positions) EXPECT_LE(p / 4, 1) << "pixel at " << p;
    EXPECT_TRUE(std::any_of(positions.begin(), positions.end(), [](int p) { return p % 4 >= 2; }));
    fs::remove_all(dir);
}

TEST(Calibration, BalancedAndReproducible) {
    fs::path dir = makeTinyIdx(30, "calib");
    auto ds = IdxDataset::mnistLayout(dir, "train", {});
    ASSERT_TRUE(ds);
    auto a = calibrationSubset(*ds, 9, 42), b = calibrationSubset(*ds, 9, 42),
         c = calibrationSubset(*ds, 9, 43);
    EXPECT_EQ(a->indices(), b->indices());
    EXPECT_NE(a->indices(), c->indices());
    std::vector<int> perClass(3);
    for (int64_t i = 0; i < a->size(); ++i) ++perClass[static_cast<std::size_t>(a->label(i))];
    EXPECT_EQ(perClass, (std::vector<int>{3, 3, 3}));
    fs::remove_all(dir);
}

TEST(ImageFolder, ClassesFromFoldersImagesResized) {
    fs::path root = fs::temp_directory_path() / "whittle-folder";
    fs::remove_all(root);
    fs::create_directories(root / "cat");
    fs::create_directories(root / "dog");
    // 2x2 grey PGM images (stb_image reads PNM).
    auto pgm = [](const fs::path& p, uint8_t v) {
        std::ofstream f(p, std::ios::binary);
        f << "P5\n2 2\n255\n";
        for (int i = 0; i < 4; ++i) f.put(static_cast<char>(v));
    };
    pgm(root / "cat" / "a.pgm", 255);
    pgm(root / "dog" / "b.pgm", 0);
    pgm(root / "dog" / "c.pgm", 0);
    std::ofstream(root / "dog" / "notes.txt") << "not an image";
    auto ds = ImageFolder::load(root, 1, 4, 4, {});
    ASSERT_TRUE(ds) << ds.error().message();
    EXPECT_EQ((*ds)->size(), 3);
    EXPECT_EQ((*ds)->classNames(), (std::vector<std::string>{"cat", "dog"}));
    std::vector<float> x(16);
    EXPECT_EQ((*ds)->get(0, x.data()), 0);
    EXPECT_FLOAT_EQ(x[5], 1.0f);
    EXPECT_EQ((*ds)->get(2, x.data()), 1);
    EXPECT_FLOAT_EQ(x[5], 0.0f);
    auto viaName = openDataset("folder:" + root.string(), "train", {}, {}, 1, 4, 4);
    ASSERT_TRUE(viaName);
    EXPECT_EQ((*viaName)->size(), 3);
    EXPECT_FALSE(openDataset("imagenet", "train", {}, {}));
    fs::remove_all(root);
}
