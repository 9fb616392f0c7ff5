// The IDX reader on good and corrupt files, and the batch loader.
#include <doctest/doctest.h>

#include <lepton/data/dataset.hpp>
#include <lepton/data/fashion_mnist.hpp>
#include <lepton/data/idx.hpp>

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

using namespace lepton;

namespace {

std::string temp_path(const std::string& name)
{
    return (std::filesystem::temp_directory_path() / ("lepton_test_" + name)).string();
}

std::vector<unsigned char> idx_bytes(std::vector<std::uint32_t> dims, std::size_t data_bytes, unsigned char type = 0x08)
{
    std::vector<unsigned char> b{0, 0, type, static_cast<unsigned char>(dims.size())};
    for (auto d : dims) {
        b.push_back(static_cast<unsigned char>(d >> 24));
        b.push_back(static_cast<unsigned char>(d >> 16));
        b.push_back(static_cast<unsigned char>(d >> 8));
        b.push_back(static_cast<unsigned char>(d));
    }
    for (std::size_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<unsigned char>(i * 7));
    return b;
}

void write_raw(const std::string& path, const std::vector<unsigned char>& bytes)
{
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

void write_gz(const std::string& path, const std::vector<unsigned char>& bytes)
{
    gzFile f = gzopen(path.c_str(), "wb");
    REQUIRE(f);
    gzwrite(f, bytes.data(), unsigned(bytes.size()));
    gzclose(f);
}

} // namespace

TEST_CASE("IDX files read raw and gzip-compressed")
{
    const auto bytes = idx_bytes({2, 3, 4}, 24);
    const std::string raw = temp_path("good.idx"), gz = temp_path("good.idx.gz");
    write_raw(raw, bytes);
    write_gz(gz, bytes);
    for (const auto& path : {raw, gz}) {
        const data::idx_array a = data::read_idx(path);
        CHECK(a.dims == std::vector<std::size_t>{2, 3, 4});
        REQUIRE(a.values.size() == 24);
        CHECK(a.values[5] == 35);
    }
}

TEST_CASE("corrupt IDX files name the file and what is wrong")
{
    const std::string path = temp_path("bad.idx");
    SUBCASE("wrong magic")
    {
        auto b = idx_bytes({4}, 4);
        b[0] = 0x1f;
        write_raw(path, b);
        CHECK_THROWS_WITH_AS(data::read_idx(path), doctest::Contains("bad magic at offset 0"), io_error);
    }
    SUBCASE("unsupported element type")
    {
        write_raw(path, idx_bytes({4}, 16, 0x0d));
        CHECK_THROWS_WITH_AS(data::read_idx(path), doctest::Contains("unsupported IDX element type 0x0d at offset 2"), io_error);
    }
    SUBCASE("truncated data")
    {
        auto b = idx_bytes({10, 10}, 100);
        b.resize(b.size() - 30);
        write_raw(path, b);
        CHECK_THROWS_WITH_AS(data::read_idx(path), doctest::Contains("truncated at offset 82"), io_error);
    }
    SUBCASE("truncated header")
    {
        auto b = idx_bytes({10, 10}, 100);
        b.resize(6);
        write_raw(path, b);
        CHECK_THROWS_WITH_AS(data::read_idx(path), doctest::Contains("truncated at offset 6 while reading a dimension"),
                             io_error);
    }
    SUBCASE("bytes after the data")
    {
        write_raw(path, idx_bytes({3}, 5));
        CHECK_THROWS_WITH_AS(data::read_idx(path), doctest::Contains("unexpected bytes after the data at offset 11"),
                             io_error);
    }
    SUBCASE("missing file")
    {
        CHECK_THROWS_WITH_AS(data::read_idx(temp_path("does_not_exist")), doctest::Contains("cannot open"), io_error);
    }
    SUBCASE("corrupt compressed stream")
    {
        std::vector<unsigned char> b{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02};
        write_raw(path, b);
        CHECK_THROWS_WITH_AS(data::read_idx(path), doctest::Contains(path.c_str()), io_error);
    }
    SUBCASE("compressed stream with a wrong checksum or cut before its trailer")
    {
        const std::string gz = temp_path("bad_trailer.idx.gz");
        write_gz(gz, idx_bytes({3}, 3));
        std::ifstream in(gz, std::ios::binary);
        std::vector<unsigned char> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        in.close();
        REQUIRE(b.size() > 8);
        auto crc = b;
        crc[crc.size() - 8] ^= 0xff;  // the CRC-32 of the data, first of the trailer's 8 bytes
        write_raw(path, crc);
        CHECK_THROWS_WITH_AS(data::read_idx(path), doctest::Contains("incorrect data check"), io_error);
        auto cut = b;  // the data whole, its trailer gone: accepted before, as if complete
        cut.resize(cut.size() - 8);
        write_raw(path, cut);
        CHECK_THROWS_WITH_AS(data::read_idx(path), doctest::Contains("corrupt or truncated compressed data after offset 11"),
                             io_error);
    }
    CHECK_THROWS_WITH_AS(data::read_idx(path + ".nope"), doctest::Contains(path.c_str()), io_error);
}

TEST_CASE("IDX sizes in the header are claims: checked against overflow, the limit and the bytes the file holds")
{
    const std::string path = temp_path("claims.idx");
    const std::string gz = temp_path("claims.idx.gz");
    auto both = [&](const std::vector<unsigned char>& bytes) {
        write_raw(path, bytes);
        write_gz(gz, bytes);
        return std::vector<std::string>{path, gz};
    };
    SUBCASE("one dimension of 2^31 in an 8-byte file fails as truncated, naming the claimed shape")
    {
        // Before: 2 GiB zero-filled before the truncation was noticed.
        for (const auto& p : both({0, 0, 8, 1, 0x80, 0, 0, 0}))
            CHECK_THROWS_WITH_AS(data::read_idx(p),
                                 doctest::Contains("truncated at offset 8 while reading the data of shape [2147483648] "
                                                   "(2147483648 bytes from offset 8)"),
                                 io_error);
    }
    SUBCASE("2^31 x 2^31 is more than the limit (std::bad_alloc before)")
    {
        for (const auto& p : both({0, 0, 8, 2, 0x80, 0, 0, 0, 0x80, 0, 0, 0}))
            CHECK_THROWS_WITH_AS(data::read_idx(p),
                                 doctest::Contains("the header claims shape [2147483648, 2147483648], more than the limit"),
                                 io_error);
    }
    SUBCASE("a product beyond PTRDIFF_MAX (std::length_error before)")
    {
        for (const auto& p : both(idx_bytes({0xffffffffu, 0xffffffffu, 0xffffffffu}, 0)))
            CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("more than the limit"), io_error);
    }
    SUBCASE("a product that wraps to 0 in 64 bits (accepted before, as 4 x 1 x 2^31 x 2^31 images of no elements)")
    {
        for (const auto& p : both(idx_bytes({1u << 29, 1u << 19, 1u << 30}, 0)))
            CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("the header claims shape [536870912, 524288, 1073741824]"),
                                 io_error);
        for (const auto& p : both(idx_bytes({4, 1u << 31, 1u << 31}, 0)))
            CHECK_THROWS_AS(data::read_idx(p), io_error);
    }
    SUBCASE("a dimension of 0")
    {
        write_raw(path, idx_bytes({3, 0}, 0));
        CHECK_THROWS_WITH_AS(data::read_idx(path), doctest::Contains("dimension 1 is 0 at offset 8"), io_error);
    }
    SUBCASE("a smaller limit of the caller's")
    {
        write_raw(path, idx_bytes({10, 10}, 100));
        CHECK(data::read_idx(path, 100).values.size() == 100);
        CHECK_THROWS_WITH_AS(data::read_idx(path, 99), doctest::Contains("more than the limit of 99 bytes"), io_error);
    }
}

TEST_CASE("images and labels must agree in count")
{
    const std::string images = temp_path("img.idx"), labels = temp_path("lbl.idx");
    write_raw(images, idx_bytes({3, 2, 2}, 12));
    write_raw(labels, idx_bytes({4}, 4));
    CHECK_THROWS_WITH_AS(data::load_idx_images(images, labels), doctest::Contains("has 4 labels but"), io_error);
    write_raw(labels, idx_bytes({3}, 3));
    const auto d = data::load_idx_images(images, labels);
    CHECK(d.features.shape()[1] == 1);
    CHECK(d.features(0, 0, 0, 1) == doctest::Approx(7.0f / 255.0f));
}

TEST_CASE("the batch loader covers every sample once per epoch, reproducibly")
{
    data::Dataset<float, 1> d;
    d.features.resize({10, 1});
    d.labels.resize(10);
    for (int i = 0; i < 10; ++i) {
        d.features(std::size_t(i), 0) = float(i);
        d.labels[std::size_t(i)] = i;
    }
    auto epoch_order = [&](std::uint64_t seed) {
        data::BatchLoader loader(d, 4, true, seed);
        loader.start_epoch();
        std::vector<int> order;
        REQUIRE(loader.batches() == 3);
        for (std::size_t b = 0; b < loader.batches(); ++b) {
            auto batch = loader[b];
            for (std::size_t i = 0; i < batch.labels.size(); ++i) {
                CHECK(batch.features(i, 0) == float(batch.labels[i]));
                order.push_back(batch.labels[i]);
            }
        }
        return order;
    };
    const auto a = epoch_order(1), b = epoch_order(1), c = epoch_order(2);
    CHECK(a.size() == 10);
    CHECK(std::set<int>(a.begin(), a.end()).size() == 10);
    CHECK(a == b);
    CHECK(a != c);
}

TEST_CASE("random_horizontal_flip mirrors whole images, about half of them")
{
    tensor<float, 4> images({200, 1, 2, 3});
    for (std::size_t i = 0; i < images.size(); ++i) images.data()[i] = float(i % 6);  // rows 0 1 2 / 3 4 5
    random_engine rng(3);
    data::random_horizontal_flip(images, rng);
    std::size_t flipped = 0;
    for (std::size_t i = 0; i < 200; ++i) {
        const bool is_flipped = images(i, 0, 0, 0) == 2.0f;
        if (is_flipped) {
            ++flipped;
            CHECK(images(i, 0, 0, 2) == 0.0f);
            CHECK(images(i, 0, 1, 0) == 5.0f);
            CHECK(images(i, 0, 1, 2) == 3.0f);
        } else {
            CHECK(images(i, 0, 0, 0) == 0.0f);
            CHECK(images(i, 0, 1, 2) == 5.0f);
        }
    }
    CHECK(flipped > 70);
    CHECK(flipped < 130);
}
