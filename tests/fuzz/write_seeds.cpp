// Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/)
// with Lepton's own writers where it has them (weights, checkpoints,
// safetensors, PNG), and small valid files of the other formats (IDX, Cora's
// text files, binary edge lists, CSR arrays, CSV tables, JPEG and BMP images) otherwise. Run it from the
// repository root after a format changes: `build/sanitize/tests/fuzz/fuzz_write_seeds`.
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <lepton/io/checkpoint.hpp>
#include <lepton/io/png.hpp>
#include <lepton/io/safetensors.hpp>

#include "fuzz_model.hpp"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#if __has_include(<stb_image_write.h>)
#include <stb_image_write.h>
#else
#include <stb/stb_image_write.h>
#endif

namespace fs = std::filesystem;

namespace {

const fs::path root = "tests/fuzz/corpus";

void write(const std::string& target, const std::string& name, const std::string& bytes)
{
    fs::create_directories(root / target);
    std::ofstream(root / target / name, std::ios::binary) << bytes;
}

std::string read(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

std::string idx(std::vector<std::uint32_t> dims)
{
    std::string b{0, 0, 8, char(dims.size())};
    std::size_t count = 1;
    for (auto d : dims) {
        count *= d;
        for (int s = 24; s >= 0; s -= 8) b += char(d >> s);
    }
    for (std::size_t i = 0; i < count; ++i) b += char(i * 37);
    return b;
}

} // namespace

int main()
{
    const fs::path tmp = fs::temp_directory_path() / "lepton_fuzz_seeds";
    fs::create_directories(tmp);

    // Weights and checkpoints of the networks the targets load into.
    fuzz::ImageNet images(1);
    fuzz::SequenceNet sequences(2);
    lepton::io::save_weights(images, tmp / "image.safetensors");
    lepton::io::save_weights(sequences, tmp / "sequence.safetensors");
    lepton::Adam<float> optimizer(images);
    lepton::data::Dataset<float, 3> data;
    data.features.resize({6, 1, 4, 4});
    data.labels = {0, 1, 2, 0, 1, 2};
    lepton::data::BatchLoader loader(data, 2, true, 1);
    lepton::io::save_checkpoint(tmp / "checkpoint.safetensors", images, optimizer, 3, loader);
    for (const char* target : {"load_weights", "safetensors"}) {
        write(target, "image_weights", read(tmp / "image.safetensors"));
        write(target, "sequence_weights", read(tmp / "sequence.safetensors"));
        write(target, "checkpoint", read(tmp / "checkpoint.safetensors"));
    }
    write("load_checkpoint", "checkpoint", read(tmp / "checkpoint.safetensors"));
    write("load_checkpoint", "weights_only", read(tmp / "image.safetensors"));
    const float one = 1;
    const std::vector<lepton::io::tensor_ref> tiny{{"x", lepton::io::dtype::F32, {1}, std::as_bytes(std::span(&one, 1))}};
    lepton::io::write_safetensors(tmp / "tiny.safetensors", tiny, {{"format", "pt"}});
    write("safetensors", "tiny", read(tmp / "tiny.safetensors"));

    // IDX: images and labels as in Fashion-MNIST, smaller.
    for (const char* target : {"idx_raw", "idx_gzip"}) {
        write(target, "images", idx({3, 4, 4}));
        write(target, "labels", idx({5}));
    }
    {
        const std::string raw = idx({2, 3, 3});
        gzFile f = gzopen((tmp / "images.gz").c_str(), "wb");
        gzwrite(f, raw.data(), unsigned(raw.size()));
        gzclose(f);
        write("idx_raw", "images_gzip", read(tmp / "images.gz"));
    }

    // Cora's text files, for the targets' small sizes.
    write("cora_features", "eight_nodes",
          "0\t0\t1 5\n1\t1\t2\n2\t2\t\n3\t0\t15\n4\t1\t3 4 7\n5\t2\t0\n6\t0\t9 10\n7\t1\t11\n");
    write("cora_edges", "path", std::string(1, '\x01') + "0 1\n1 2\n2 3\n# comment\n3 49\n");
    write("cora_lists", "classes", std::string(1, '\x01') + "0 Case_Based\n1 Genetic_Algorithms\n2 Neural_Networks\n");
    write("cora_lists", "split", std::string(1, '\x00') + "0\n5\n2707\n");

    // Binary edge lists: node count, flags, (u, v) pairs.
    write("graph", "triangle", std::string{3, 0, 1, 0, 0, 1, 0, 1, 0, 2, 0, 2, 0, 0, 0});
    write("graph", "self_loops", std::string{4, 0, 2, 0, 0, 0, 0, 3, 0, 1, 0});
    // CSR arrays and triplets.
    write("sparse_matrix", "csr", std::string{0, 2, 0, 3, 0, 3, 0, 1, 3, 3, 0, 0, 2, 0, 1, 0, 3});
    write("sparse_matrix", "triplets", std::string{1, 2, 0, 3, 0, 0, 0, 0, 1, 0, 1, 2, 0, 5, 0});
    write("sparse_matrix", "huge_rows", std::string{1, char(0x80), char(0x80), 3, 0, 0, 0, 0, 1, 0});
    // CSV: a dialect byte (bit 0: a header row; then ',' ';' or tab), then the text.
    write("csv", "header_quoted", std::string(1, '\x01') + "name,age,score\n\"Smith, Jo\",41,3.5\n\"two\nlines\",NA,-2e3\n");
    write("csv", "semicolons", std::string(1, '\x02') + " 1;2;3\n4;5;6\r\n\n7;;9\n");
    write("csv", "breast_cancer_head", std::string(1, '\x01') + read("data/breast_cancer/breast_cancer.csv").substr(0, 1800));
    // Images: PNG grey and RGB from Lepton's writer, JPEG and BMP from stb_image_write's.
    std::vector<std::uint8_t> pixels(12 * 8 * 3);
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = std::uint8_t(i * 11);
    lepton::io::write_png((tmp / "grey.png").string(), 12, 8, 1, pixels.data());
    lepton::io::write_png((tmp / "rgb.png").string(), 12, 8, 3, pixels.data());
    stbi_write_jpg((tmp / "rgb.jpg").string().c_str(), 12, 8, 3, pixels.data(), 90);
    stbi_write_bmp((tmp / "rgb.bmp").string().c_str(), 12, 8, 3, pixels.data());
    for (const char* name : {"grey.png", "rgb.png", "rgb.jpg", "rgb.bmp"}) write("image", name, read(tmp / name));
    fs::remove_all(tmp);
}
