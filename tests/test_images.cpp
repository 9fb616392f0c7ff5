// Images on disk: decoding PNG, JPEG and BMP (stb_image), resizing, folder
// and list-file data sets, the augmentations, and the background loader
// (the same batches as on the calling thread and as BatchLoader from memory).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include <lepton/data/dataset.hpp>
#include <lepton/data/image_folder.hpp>
#include <lepton/data/image_loader.hpp>
#include <lepton/data/image_transforms.hpp>
#include <lepton/io/image.hpp>
#include <lepton/io/png.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/layers/pooling.hpp>
#include <lepton/losses/cross_entropy.hpp>
#include <lepton/metrics/accuracy.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/optim/adam.hpp>
#include <lepton/train/fit.hpp>

// A program's own stb_image_write, next to Lepton's copies (for the JPEG and BMP files below).
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if __has_include(<stb_image_write.h>)
#include <stb_image_write.h>
#else
#include <stb/stb_image_write.h>
#endif

using namespace lepton;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name)
{
    const fs::path dir = fs::temp_directory_path() / ("lepton_test_images_" + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

/// A w x h test picture with `channels` bytes per pixel, every byte different in a known way.
std::vector<std::uint8_t> pattern(int w, int h, int channels, int salt = 0)
{
    std::vector<std::uint8_t> p(std::size_t(w * h * channels));
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = std::uint8_t((i * 7 + std::size_t(salt) * 31) % 256);
    return p;
}

void write_bytes(const fs::path& path, const std::vector<std::uint8_t>& bytes)
{
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

std::vector<std::uint8_t> read_bytes(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A folder of class folders: `per_class` grey w x h PNGs in each of `classes`, pixel values known from (class, index).
fs::path write_folder(const std::string& name, int classes, int per_class, int w = 6, int h = 5)
{
    const fs::path root = fresh_dir(name);
    for (int c = 0; c < classes; ++c) {
        fs::create_directories(root / ("class_" + std::to_string(c)));
        for (int i = 0; i < per_class; ++i)
            io::write_png((root / ("class_" + std::to_string(c)) / (std::to_string(i) + ".png")).string(), w, h, 1,
                          pattern(w, h, 1, c * 100 + i).data());
    }
    return root;
}

std::string error_of(auto&& f)
{
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("images: PNG, JPEG and BMP decode to the pixels written, grey and RGB conversions")
{
    const fs::path dir = fresh_dir("decode");
    const int w = 7, h = 5;
    const auto rgb = pattern(w, h, 3);
    io::write_png((dir / "a.png").string(), w, h, 3, rgb.data());
    REQUIRE(stbi_write_bmp((dir / "a.bmp").string().c_str(), w, h, 3, rgb.data()));
    std::vector<std::uint8_t> flat(std::size_t(w * h * 3), 128);
    REQUIRE(stbi_write_jpg((dir / "a.jpg").string().c_str(), w, h, 3, flat.data(), 95));

    const io::image png = io::read_image((dir / "a.png").string());
    CHECK(png.width == w);
    CHECK(png.height == h);
    CHECK(png.channels == 3);
    CHECK(png.pixels == rgb);
    CHECK(io::read_image((dir / "a.bmp").string()).pixels == rgb);
    const io::image jpg = io::read_image((dir / "a.jpg").string(), 3);
    for (const auto v : jpg.pixels) CHECK(std::abs(int(v) - 128) <= 2);  // lossy, but a flat colour survives

    // stb's grey level: (77 R + 150 G + 29 B) >> 8.
    const io::image grey = io::read_image((dir / "a.png").string(), 1);
    REQUIRE(grey.channels == 1);
    for (int i = 0; i < w * h; ++i)
        CHECK(int(grey.pixels[std::size_t(i)]) ==
              (77 * rgb[std::size_t(3 * i)] + 150 * rgb[std::size_t(3 * i + 1)] + 29 * rgb[std::size_t(3 * i + 2)]) >> 8);
    const io::image back_to_rgb = io::decode_image(read_bytes(dir / "a.png"), "a.png", 1);
    CHECK(back_to_rgb.pixels == grey.pixels);
    CHECK_THROWS_AS(io::decode_image(read_bytes(dir / "a.png"), "a.png", 5), value_error);
}

TEST_CASE("images: progressive and chroma-subsampled JPEGs from libjpeg decode to their pixels")
{
    // Written by tests/reference/images/write_jpegs.sh: a 24x16 gradient, red = 10 x, green = 15 y, blue = 128.
    for (const char* name : {"progressive.jpg", "subsampled.jpg"}) {
        const io::image picture = io::read_image(std::string(LEPTON_REFERENCE_DIR) + "/images/" + name, 3);
        REQUIRE(picture.width == 24);
        REQUIRE(picture.height == 16);
        int worst = 0;
        for (int y = 0; y < 16; ++y)
            for (int x = 0; x < 24; ++x) {
                const int want[3] = {10 * x, 15 * y, 128};
                for (int c = 0; c < 3; ++c) worst = std::max(worst, std::abs(int(picture.at(y, x, c)) - want[c]));
            }
        CHECK_MESSAGE(worst <= 12, name << ": largest difference " << worst);
    }
}

TEST_CASE("images: a corrupt, truncated or missing file is an io_error naming it")
{
    const fs::path dir = fresh_dir("corrupt");
    const auto grey = pattern(16, 16, 1);
    io::write_png((dir / "good.png").string(), 16, 16, 1, grey.data());
    auto bytes = read_bytes(dir / "good.png");
    write_bytes(dir / "truncated.png", std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + std::ptrdiff_t(bytes.size() / 2)));
    write_bytes(dir / "text.png", {'h', 'e', 'l', 'l', 'o'});
    bytes[bytes.size() / 2] ^= 0xff;  // a flipped byte in the compressed pixels
    write_bytes(dir / "flipped.png", bytes);

    for (const char* name : {"truncated.png", "text.png", "missing.png"}) {
        const std::string path = (dir / name).string();
        const std::string message = error_of([&] { io::read_image(path); });
        CHECK_MESSAGE(message.find(path) != std::string::npos, message);
        CHECK_THROWS_AS(io::read_image(path), io_error);
    }
    CHECK(error_of([&] { io::read_image((dir / "text.png").string()); }).find("not a PNG, JPEG or BMP") != std::string::npos);
    // A flipped byte may still decode (to other pixels) or fail; it never crashes.
    const std::string flipped = error_of([&] { io::read_image((dir / "flipped.png").string()); });
    CHECK((flipped.empty() || flipped.find("flipped.png") != std::string::npos));
    // A header that claims a huge image is refused before decoding.
    std::vector<std::uint8_t> huge = read_bytes(dir / "good.png");
    huge[16] = 0x7f;  // IHDR width, most significant byte
    CHECK(error_of([&] { io::decode_image(huge, "huge.png"); }).find("huge.png") != std::string::npos);
}

TEST_CASE("images: malformed headers stb_image 2.27 would overrun on, decode for long or take gigabytes for, are refused")
{
    // A JPEG whose Huffman table lists 355 codes (stb's arrays hold 256).
    std::vector<std::uint8_t> jpeg{0xFF, 0xD8, 0xFF, 0xC4, 0x01, 0x76, 0x00};
    for (int bits = 1; bits <= 16; ++bits) jpeg.push_back(bits == 15 ? 100 : bits == 16 ? 255 : 0);
    jpeg.resize(jpeg.size() + 355, 0);
    const std::string huffman = error_of([&] { io::decode_image(jpeg, "tables.jpg"); });
    CHECK_MESSAGE(huffman.find("tables.jpg': corrupt JPEG (a Huffman table of 355 codes") != std::string::npos, huffman);
    // More codes of 2 bits than 2 bits can hold.
    std::vector<std::uint8_t> overfull{0xFF, 0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x16, 0x00, 0x00, 0x05};
    overfull.resize(overfull.size() + 14 + 5, 0);
    CHECK(error_of([&] { io::decode_image(overfull, "overfull.jpg"); }).find("more codes of 2 bits") != std::string::npos);

    // A scan decoding with Huffman tables no DHT segment defined.
    const std::vector<std::uint8_t> undefined{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x12, 0x34};
    CHECK(error_of([&] { io::decode_image(undefined, "scan.jpg"); }).find("never defined") != std::string::npos);

    // A 54-byte BMP header claiming 524 x 65288 pixels and nothing after it.
    std::vector<std::uint8_t> bmp(54, 0);
    auto put32 = [&](std::size_t at, std::uint32_t v) {
        for (int k = 0; k < 4; ++k) bmp[at + std::size_t(k)] = std::uint8_t(v >> (8 * k));
    };
    bmp[0] = 'B', bmp[1] = 'M';
    put32(2, 54), put32(10, 54), put32(14, 40), put32(18, 524), put32(22, 65288);
    bmp[26] = 1, bmp[28] = 24;
    const std::string claim = error_of([&] { io::decode_image(bmp, "claim.bmp"); });
    CHECK_MESSAGE(claim.find("claim.bmp': its header says 524x65288 pixels, more than Lepton decodes from 54 bytes") !=
                      std::string::npos,
                  claim);
    // A limit of the caller's own.
    const auto small = pattern(40, 30, 1);
    const fs::path dir = fresh_dir("limit");
    io::write_png((dir / "a.png").string(), 40, 30, 1, small.data());
    CHECK_NOTHROW(io::decode_image(read_bytes(dir / "a.png"), "a.png", 0, 1200));
    CHECK_THROWS_AS(io::decode_image(read_bytes(dir / "a.png"), "a.png", 0, 1199), io_error);
    // A PNG whose IDAT chunk declares 1 GiB more than the file holds (stb
    // would take 2 GiB for it before finding the data missing).
    std::vector<std::uint8_t> chunky = read_bytes(dir / "a.png");
    const std::size_t idat = 33;  // the signature, then IHDR's 25 bytes
    REQUIRE(std::string(chunky.begin() + idat + 4, chunky.begin() + idat + 8) == "IDAT");
    chunky[idat] = 0x40;
    const std::string chunk = error_of([&] { io::decode_image(chunky, "chunk.png"); });
    CHECK_MESSAGE(chunk.find("chunk.png': truncated or corrupt PNG (the 'IDAT' chunk at offset 33 declares 1073741") !=
                      std::string::npos,
                  chunk);
}

TEST_CASE("images: resizing keeps a flat image flat and averages when halving")
{
    io::image flat{8, 6, 3, std::vector<std::uint8_t>(8 * 6 * 3, 77)};
    const io::image smaller = io::resize_image(flat, 3, 2), larger = io::resize_image(flat, 13, 11);
    CHECK(smaller.width == 3);
    CHECK(smaller.height == 2);
    CHECK(larger.pixels.size() == 13 * 11 * 3);
    for (const auto v : smaller.pixels) CHECK(v == 77);
    for (const auto v : larger.pixels) CHECK(v == 77);
    // A left-to-right ramp stays a ramp at either size.
    io::image ramp{16, 2, 1, std::vector<std::uint8_t>(32)};
    for (std::size_t i = 0; i < 32; ++i) ramp.pixels[i] = std::uint8_t(16 * (i % 16));
    for (const int width : {5, 40}) {
        const io::image resized = io::resize_image(ramp, width, 2);
        for (int x = 1; x < width; ++x) CHECK(resized.at(1, x, 0) >= resized.at(1, x - 1, 0));
        CHECK(resized.at(1, width - 1, 0) > resized.at(1, 0, 0) + 150);
    }
    CHECK_THROWS_AS(io::resize_image(flat, 0, 4), value_error);
}

TEST_CASE("image folder: classes sorted by name, files by path, images resized and normalised")
{
    const fs::path root = write_folder("folder", 3, 4);
    fs::create_directories(root / ".hidden");  // left out, as are files of other types
    std::ofstream(root / "class_1" / "notes.txt") << "not an image";
    const data::ImageFolder folder(root.string(), {.channels = 1, .mean = {0.5}, .stddev = {0.25}});
    REQUIRE(folder.size() == 12);
    CHECK(folder.classes() == std::vector<std::string>{"class_0", "class_1", "class_2"});
    CHECK(folder.options().height == 5);  // from the first image
    CHECK(folder.options().width == 6);
    for (std::size_t i = 0; i < 12; ++i) CHECK(folder.files()[i].label == std::int32_t(i / 4));
    CHECK(fs::path(folder.files()[5].path).filename() == "1.png");

    const auto all = folder.load_all();
    REQUIRE(all.features.shape()[0] == 12);
    const auto expected = pattern(6, 5, 1, 1 * 100 + 1);
    for (std::size_t p = 0; p < 30; ++p)
        CHECK(all.features(5, 0, p / 6, p % 6) == doctest::Approx((expected[p] / 255.0 - 0.5) / 0.25).epsilon(1e-6));

    // Resized to 3 x 4, RGB from grey files.
    const data::ImageFolder rgb(root.string(), {.channels = 3, .height = 3, .width = 4});
    CHECK(rgb.sample_shape() == std::array<std::size_t, 3>{3, 3, 4});
    const auto small = rgb.load_all();
    CHECK(small.features.shape()[1] == 3);
    CHECK(small.features(0, 0, 1, 1) == small.features(0, 2, 1, 1));  // grey: the channels agree

    CHECK(error_of([&] { data::ImageFolder((root / "nothing").string()); }).find("is not a folder") != std::string::npos);
    CHECK_THROWS_AS(data::ImageFolder(fresh_dir("empty").string()), io_error);
    CHECK_THROWS_AS(data::ImageFolder(root.string(), {.channels = 2}), value_error);
    CHECK_THROWS_AS(data::ImageFolder(root.string(), {.channels = 3, .mean = {0.5, 0.5}}), value_error);
}

TEST_CASE("image folder: an unreadable image names its file, or is skipped and counted when asked")
{
    const fs::path root = write_folder("unreadable", 2, 3);
    write_bytes(root / "class_1" / "broken.png", {0x89, 'P', 'N', 'G', 1, 2, 3});
    const data::ImageFolder strict(root.string(), {.channels = 1});
    REQUIRE(strict.size() == 7);
    std::vector<float> sample(30);
    const std::string message = error_of([&] { strict.load(6, sample.data()); });  // class_1/broken.png sorts last
    CHECK_MESSAGE(message.find("broken.png") != std::string::npos, message);
    CHECK_THROWS_AS(strict.load_all(), io_error);

    const data::ImageFolder lenient(root.string(), {.channels = 1, .skip_unreadable = true});
    CHECK(lenient.size() == 6);
    REQUIRE(lenient.skipped().size() == 1);
    CHECK(lenient.skipped()[0].path.find("broken.png") != std::string::npos);
    CHECK(lenient.load_all().labels == std::vector<std::int32_t>{0, 0, 0, 1, 1, 1});

    // The background loader hands the error to the thread that asked for the batch.
    data::ImageLoader<float> loader(strict, {.batch_size = 2, .shuffle = false});
    for (std::size_t b = 0; b < 3; ++b) CHECK_NOTHROW(loader[b]);
    const std::string from_thread = error_of([&] { loader[3]; });
    CHECK_MESSAGE(from_thread.find("broken.png") != std::string::npos, from_thread);
    CHECK_NOTHROW(loader[0]);  // and goes on after it
}

TEST_CASE("image list: \"path label\" lines relative to the list file, errors naming the line")
{
    const fs::path root = write_folder("list", 2, 2);
    std::ofstream(root / "train.txt") << "# path label\nclass_0/1.png 1\n\nclass_1/0.png   0\r\n" << (root / "class_0" / "0.png").string() << " 2\n";
    const auto listed = data::ImageFolder::from_list((root / "train.txt").string(), {.channels = 1});
    REQUIRE(listed.size() == 3);
    CHECK(listed.files()[0].label == 1);
    CHECK(listed.files()[1].label == 0);
    CHECK(listed.files()[2].label == 2);
    CHECK(listed.classes().size() == 3);
    CHECK(listed.load_all().features.shape()[0] == 3);

    std::ofstream(root / "bad.txt") << "class_0/1.png 1\nclass_0/0.png\n";
    const std::string no_label = error_of([&] { data::ImageFolder::from_list((root / "bad.txt").string()); });
    CHECK_MESSAGE(no_label.find("bad.txt' line 2") != std::string::npos, no_label);
    std::ofstream(root / "worse.txt") << "class_0/1.png -3\n";
    CHECK(error_of([&] { data::ImageFolder::from_list((root / "worse.txt").string()); }).find("line 1") != std::string::npos);
    CHECK_THROWS_AS(data::ImageFolder::from_list((root / "none.txt").string()), io_error);
}

TEST_CASE("augmentations: crops, flips, rotations and jitter do what they say")
{
    const std::size_t h = 5, w = 5;
    tensor<double, 3> original({2, h, w});
    for (std::size_t i = 0; i < original.size(); ++i) original.data()[i] = double(i % 23) / 23.0 + 0.01;

    SUBCASE("a flip with p = 1 mirrors, p = 0 keeps")
    {
        random_engine rng(1);
        auto image = original;
        data::RandomHorizontalFlip{.p = 1}(image, rng);
        CHECK(image(1, 2, 0) == original(1, 2, 4));
        data::RandomVerticalFlip{.p = 1}(image, rng);
        CHECK(image(1, 0, 0) == original(1, 4, 4));
        auto kept = original;
        data::RandomHorizontalFlip{.p = 0}(kept, rng);
        CHECK(kept == original);
    }
    SUBCASE("a padded crop is the image shifted, with zeros coming in")
    {
        for (std::uint64_t seed = 0; seed < 20; ++seed) {
            random_engine rng(seed);
            auto image = original;
            data::RandomCrop{.padding = 2}(image, rng);
            // Find the shift: the original must appear shifted by one (dy, dx) in [-2, 2].
            bool matched = false;
            for (int dy = -2; dy <= 2 && !matched; ++dy)
                for (int dx = -2; dx <= 2 && !matched; ++dx) {
                    bool all = true;
                    for (std::size_t c = 0; c < 2; ++c)
                        for (int y = 0; y < int(h); ++y)
                            for (int x = 0; x < int(w); ++x) {
                                const int sy = y + dy, sx = x + dx;
                                const double want = (sy >= 0 && sx >= 0 && sy < int(h) && sx < int(w))
                                                        ? original(c, std::size_t(sy), std::size_t(sx))
                                                        : 0.0;
                                all = all && image(c, std::size_t(y), std::size_t(x)) == want;
                            }
                    matched = all;
                }
            CHECK(matched);
        }
    }
    SUBCASE("a rotation by 90 degrees turns the image counter-clockwise; by 0 keeps it")
    {
        random_engine rng(3);
        auto image = original;
        data::RandomRotation(90, 90)(image, rng);
        // Counter-clockwise: the right column comes to the top row.
        for (std::size_t y = 0; y < h; ++y)
            for (std::size_t x = 0; x < w; ++x) CHECK(image(0, y, x) == doctest::Approx(original(0, x, w - 1 - y)));
        auto same = original;
        data::RandomRotation(0, 0)(same, rng);
        for (std::size_t i = 0; i < same.size(); ++i) CHECK(same.data()[i] == doctest::Approx(original.data()[i]));
    }
    SUBCASE("a resized crop of the whole image is the image; others stay in range")
    {
        random_engine rng(4);
        auto whole = original;
        data::RandomResizedCrop{.min_scale = 1, .max_scale = 1, .min_ratio = 1, .max_ratio = 1}(whole, rng);
        for (std::size_t i = 0; i < whole.size(); ++i) CHECK(whole.data()[i] == doctest::Approx(original.data()[i]));
        for (int k = 0; k < 20; ++k) {
            auto image = original;
            data::RandomResizedCrop{}(image, rng);
            CHECK(*std::min_element(image.begin(), image.end()) >= 0.01 - 1e-12);  // only the image's own pixels
            CHECK(*std::max_element(image.begin(), image.end()) <= 1.0);
        }
        CHECK_THROWS_AS((data::RandomResizedCrop{.min_scale = 0.5, .max_scale = 0.2}(whole, rng)), value_error);
    }
    SUBCASE("brightness scales, contrast blends with the mean, both clamp to [0, 1]")
    {
        random_engine a(5), b(5);
        auto image = original;
        data::ColorJitter{.brightness = 0.5}(image, a);
        const double f = b.uniform(0.5, 1.5);
        for (std::size_t i = 0; i < image.size(); ++i)
            CHECK(image.data()[i] == doctest::Approx(std::min(1.0, original.data()[i] * f)));
        random_engine c(6), d(6);
        auto contrasted = original;
        data::ColorJitter{.contrast = 0.5}(contrasted, c);
        const double g = d.uniform(0.5, 1.5);
        const double mean = std::accumulate(original.begin(), original.end(), 0.0) / double(original.size());
        for (std::size_t i = 0; i < contrasted.size(); ++i)
            CHECK(contrasted.data()[i] == doctest::Approx(std::clamp(original.data()[i] * g + mean * (1 - g), 0.0, 1.0)));
    }
}

TEST_CASE("image loader: the background thread gives the same batches as the calling thread, and as BatchLoader")
{
    const fs::path root = write_folder("loader", 3, 7);
    const data::ImageFolder folder(root.string(), {.channels = 1, .mean = {0.3}, .stddev = {0.2}});
    const std::vector<data::image_transform<float>> augment{data::RandomCrop{.padding = 1}, data::RandomHorizontalFlip{},
                                                            data::RandomRotation(15), data::ColorJitter{.brightness = 0.3}};
    data::ImageLoader<float> background(folder, {.batch_size = 4, .seed = 9, .augment = augment, .prefetch = 3});
    data::ImageLoader<float> foreground(folder, {.batch_size = 4, .seed = 9, .augment = augment, .prefetch = 0});
    REQUIRE(background.batches() == 6);
    for (int epoch = 0; epoch < 3; ++epoch) {
        background.start_epoch();
        foreground.start_epoch();
        for (std::size_t b = 0; b < background.batches(); ++b) {
            const auto x = background[b];
            const auto y = foreground[b];
            CHECK(x.features == y.features);
            CHECK(std::equal(x.labels.begin(), x.labels.end(), y.labels.begin(), y.labels.end()));
        }
    }
    // Out of order too (a restart of the decoding).
    background.start_epoch();
    foreground.start_epoch();
    for (const std::size_t b : {3, 1, 5, 5, 0}) CHECK(background[b].features == foreground[b].features);
    CHECK_THROWS_AS(background[6], value_error);

    // The augmentation differs from epoch to epoch.
    data::ImageLoader<float> fixed_order(folder, {.batch_size = 21, .shuffle = false, .augment = augment});
    fixed_order.start_epoch();
    const tensor<float, 4> first = fixed_order[0].features;
    fixed_order.start_epoch();
    CHECK(fixed_order[0].features != first);

    // Without augmentation, the batches of BatchLoader over the same images in memory.
    const auto memory = folder.load_all();
    data::BatchLoader<float, 3> reference(memory, 4, true, 9);
    data::ImageLoader<float> plain(folder, {.batch_size = 4, .seed = 9});
    for (int epoch = 0; epoch < 2; ++epoch) {
        reference.start_epoch();
        plain.start_epoch();
        for (std::size_t b = 0; b < plain.batches(); ++b) {
            const auto x = plain[b];
            const auto y = reference[b];
            CHECK(x.features == y.features);
            CHECK(std::equal(x.labels.begin(), x.labels.end(), y.labels.begin(), y.labels.end()));
        }
    }
}

TEST_CASE("image loader: sharded, each rank decodes its piece of every batch, as a sharded BatchLoader")
{
    const fs::path root = write_folder("shards", 3, 7);  // 21 images: batches of 2 x 4, the last of 5 split 3 + 2
    const data::ImageFolder folder(root.string(), {.channels = 1, .mean = {0.3}, .stddev = {0.2}});
    const auto memory = folder.load_all();
    for (const std::size_t prefetch : {std::size_t(0), std::size_t(2)}) {
        CAPTURE(prefetch);
        for (std::size_t rank = 0; rank < 2; ++rank) {
            data::BatchLoader<float, 3> reference(memory, 4, true, 9);
            reference.shard(rank, 2);
            data::ImageLoader<float> images(folder, {.batch_size = 4, .seed = 9, .prefetch = prefetch});
            images.shard(rank, 2);
            REQUIRE(images.batches() == reference.batches());
            CHECK(images.batches() == 3);
            CHECK(images.global_batch_samples(2) == 5);
            for (int epoch = 0; epoch < 2; ++epoch) {
                reference.start_epoch();
                images.start_epoch();
                for (std::size_t b = 0; b < images.batches(); ++b) {
                    const auto x = images[b];
                    const auto y = reference[b];
                    CHECK(x.features == y.features);
                    CHECK(std::equal(x.labels.begin(), x.labels.end(), y.labels.begin(), y.labels.end()));
                }
            }
        }
    }
    // With augmentation the ranks draw apart, each the same with or without the background thread.
    const std::vector<data::image_transform<float>> augment{data::ColorJitter{.brightness = 0.3}};
    data::ImageLoader<float> rank0(folder, {.batch_size = 4, .shuffle = false, .seed = 9, .augment = augment});
    data::ImageLoader<float> rank1(folder, {.batch_size = 4, .shuffle = false, .seed = 9, .augment = augment});
    data::ImageLoader<float> rank1_here(folder, {.batch_size = 4, .shuffle = false, .seed = 9, .augment = augment, .prefetch = 0});
    rank0.shard(0, 2);
    rank1.shard(1, 2);
    rank1_here.shard(1, 2);
    rank0.start_epoch();
    rank1.start_epoch();
    rank1_here.start_epoch();
    CHECK(rank1[0].features == rank1_here[0].features);
    const tensor<float, 4> first = rank0[0].features;
    data::ImageLoader<float> unsharded(folder, {.batch_size = 4, .shuffle = false, .seed = 9, .augment = augment});
    unsharded.start_epoch();
    CHECK(unsharded[0].features != first);  // rank 0 draws its own too
    CHECK_THROWS_WITH_AS(rank0.shard(2, 2), doctest::Contains("ImageLoader::shard: rank 2 of 2"), value_error);
}

TEST_CASE("image loader: fit trains from a folder as it does from memory")
{
    // Two classes a network can tell apart: dark and bright images.
    const fs::path root = fresh_dir("fit");
    for (int c = 0; c < 2; ++c) {
        fs::create_directories(root / std::to_string(c));
        for (int i = 0; i < 16; ++i) {
            std::vector<std::uint8_t> pixels(64);
            for (std::size_t p = 0; p < 64; ++p) pixels[p] = std::uint8_t(c ? 160 + (p * 5 + std::size_t(i)) % 90 : (p * 3 + std::size_t(i)) % 90);
            io::write_png((root / std::to_string(c) / (std::to_string(i) + ".png")).string(), 8, 8, 1, pixels.data());
        }
    }
    using Net = Sequential<Input<1, 8, 8>, Conv2D<4, 3>, ReLU, MaxPool2D<2>, Flatten, Dense<2>>;
    const data::ImageFolder folder(root.string(), {.channels = 1});
    const auto memory = folder.load_all();

    Net from_disk(1), from_memory(1);
    Adam opt_disk(from_disk, {.lr = 1e-2}), opt_memory(from_memory, {.lr = 1e-2});
    CrossEntropyLoss<float> loss;
    data::ImageLoader<float> loader(folder, {.batch_size = 8, .seed = 2});
    const History disk = fit(from_disk, opt_disk, loss, loader,
                             {.epochs = 10, .validation = &memory, .metrics = {std::make_shared<metrics::accuracy<float>>()},
                              .verbose = verbosity::silent});
    const History mem = fit(from_memory, opt_memory, loss, memory,
                            {.epochs = 10, .batch_size = 8, .seed = 2, .validation = &memory,
                             .metrics = {std::make_shared<metrics::accuracy<float>>()}, .verbose = verbosity::silent});
    // The same batches in the same order: the same weights.
    CHECK(disk["loss"] == mem["loss"]);
    CHECK(std::equal(from_disk.parameters().begin(), from_disk.parameters().end(), from_memory.parameters().begin()));
    CHECK(disk["val_accuracy"].back() == 1.0);
    CHECK_THROWS_AS(fit(from_disk, opt_disk, loss, loader,
                        {.transform = [](tensor<float, 4>&, random_engine&) {}, .verbose = verbosity::silent}),
                    value_error);
}
