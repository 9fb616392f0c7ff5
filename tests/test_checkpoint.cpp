// safetensors files and checkpoints: bitwise round trips, PyTorch's layout,
// every kind of corrupt file, atomic saves, and resuming training exactly.
#include <doctest/doctest.h>

#include <lepton/data/dataset.hpp>
#include <lepton/io/checkpoint.hpp>
#include <lepton/io/safetensors.hpp>
#include <lepton/kernels/parallel.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/batchnorm.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/dropout.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/layers/lstm.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/optim/adam.hpp>
#include <lepton/optim/sgd.hpp>
#include <lepton/train/loop.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

using namespace lepton;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<unsigned char>;

/// A fresh, empty directory for one test.
fs::path fresh_dir(const std::string& name)
{
    const fs::path dir = fs::temp_directory_path() / ("lepton_test_checkpoint_" + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

Bytes read_bytes(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& path, const Bytes& bytes)
{
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

/// A safetensors file from a header (padded with spaces to 8 bytes, as the
/// reference writer does) and a data buffer.
Bytes safetensors_bytes(std::string header, const Bytes& data)
{
    header.append((8 - header.size() % 8) % 8, ' ');
    Bytes out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(std::uint64_t(header.size()) >> (8 * i)));
    out.insert(out.end(), header.begin(), header.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

template <class T>
void append_values(Bytes& out, std::initializer_list<T> values)
{
    for (const T v : values) {
        unsigned char b[sizeof(T)];
        std::memcpy(b, &v, sizeof(T));  // the test machine is little-endian, like the format
        out.insert(out.end(), b, b + sizeof(T));
    }
}

/// Every parameter and buffer of a network, as raw bytes (for bitwise comparison).
template <class Net>
Bytes state_bytes(Net& net)
{
    Bytes out;
    auto add = [&](const void* p, std::size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        out.insert(out.end(), b, b + n);
    };
    net.for_each_parameter([&](const std::string&, auto* data, auto*, const parameter_shape& shape) {
        std::size_t n = 1;
        for (auto d : shape) n *= d;
        add(data, n * sizeof(*data));
    });
    net.for_each_buffer([&](const std::string&, auto values, const parameter_shape&) { add(values.data(), values.size_bytes()); });
    return out;
}

/// Moves every parameter away from its initial value and the running
/// statistics away from theirs, so a round trip has something to preserve.
template <class Net>
void disturb(Net& net, std::uint64_t seed, std::size_t batches)
{
    random_engine rng(seed);
    for (auto& p : net.parameters()) p += typename Net::value_type(rng.normal());
    typename Net::input_type x(batch_shape<typename Net::input_shape>(4));
    net.train();
    for (std::size_t b = 0; b < batches; ++b) {
        for (auto& v : x) v = typename Net::value_type(rng.uniform(-2, 2));
        net.forward(x);
    }
}

using FloatNet = Sequential<Input<1, 6, 6>, Conv2D<4, 3>, BatchNorm2D<>, ReLU, Flatten, Dense<3>>;
using DoubleNet = Network<double, cpu, Input<4, 3>, LSTM<5>, BatchNorm1D<>, Dense<2>>;

/// One fixed batch of FloatNet inputs and labels, and an optimizer step on it.
struct fixed_batch {
    CrossEntropyLoss<float> loss;
    typename FloatNet::input_type x{batch_shape<FloatNet::input_shape>(4)};
    std::vector<std::int32_t> labels{0, 1, 2, 1};
    fixed_batch()
    {
        random_engine data(5);
        for (auto& v : x) v = float(data.uniform(-1, 1));
    }
    template <class Optimizer>
    void step(FloatNet& net, Optimizer& optimizer)
    {
        net.zero_grad();
        loss(net.forward(x), labels);
        net.backward(loss.gradient());
        optimizer.step();
    }
};

} // namespace

TEST_CASE("checkpoint: save_weights/load_weights round trips are bitwise (float and double, conv, batchnorm, LSTM)")
{
    const fs::path dir = fresh_dir("round_trip");
    SUBCASE("float")
    {
        FloatNet a(1), b(2);
        disturb(a, 10, 3);
        REQUIRE(a.layer<1>().num_batches_tracked() == 3);
        REQUIRE(state_bytes(a) != state_bytes(b));
        io::save_weights(a, dir / "f.safetensors");
        io::load_weights(b, dir / "f.safetensors");
        CHECK(state_bytes(a) == state_bytes(b));
        CHECK(b.layer<1>().num_batches_tracked() == 3);

        const io::safetensors_file file(dir / "f.safetensors");
        std::vector<std::string> names;
        for (const auto& t : file.tensors()) names.push_back(t.name);
        // PyTorch's state_dict of Conv2d, BatchNorm2d, ReLU, Flatten, Linear, in order.
        CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                                "1.running_var", "1.num_batches_tracked", "4.weight", "4.bias"});
        CHECK(file.find("0.weight")->shape == std::vector<std::size_t>{4, 1, 3, 3});
        CHECK(file.find("0.weight")->type == io::dtype::F32);
        CHECK(file.find("1.num_batches_tracked")->type == io::dtype::I64);
        CHECK(file.find("1.num_batches_tracked")->shape.empty());
        CHECK(file.find("4.weight")->shape == std::vector<std::size_t>{3, 64});
        CHECK(file.data_offset() % 8 == 0);
    }
    SUBCASE("double")
    {
        DoubleNet a(3), b(4);
        disturb(a, 11, 2);
        REQUIRE(state_bytes(a) != state_bytes(b));
        io::save_weights(a, dir / "d.safetensors");
        io::load_weights(b, dir / "d.safetensors");
        CHECK(state_bytes(a) == state_bytes(b));
        const io::safetensors_file file(dir / "d.safetensors");
        CHECK(file.find("0.weight_ih_l0")->shape == std::vector<std::size_t>{20, 3});
        CHECK(file.find("0.weight_hh_l0")->type == io::dtype::F64);
        CHECK(file.find("1.running_var")->type == io::dtype::F64);
        CHECK(file.tensors().size() == 11);
    }
}

TEST_CASE("checkpoint: a file written in PyTorch's layout loads into the right places, and Lepton writes the same layout")
{
    const fs::path dir = fresh_dir("pytorch_layout");
    // torch.nn.Linear(3, 2): weight [2, 3], bias [2]; the header exactly as
    // Python's safetensors writes it (keys sorted, bias first in the buffer).
    Bytes data;
    append_values<float>(data, {0.5f, -0.5f});
    append_values<float>(data, {1, 2, 3, 4, 5, 6});
    write_bytes(dir / "linear.safetensors",
                safetensors_bytes(R"({"0.bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                  R"("0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]}})",
                                  data));
    Sequential<Input<3>, Dense<2>> net(7);
    io::load_weights(net, dir / "linear.safetensors");
    auto w = net.layer<0>().weight();
    auto b = net.layer<0>().bias();
    CHECK(w(0, 0) == 1);
    CHECK(w(0, 2) == 3);
    CHECK(w(1, 0) == 4);
    CHECK(w(1, 2) == 6);
    CHECK(b(0) == 0.5f);
    CHECK(b(1) == -0.5f);
    // y = W x + b for x = (1, 0, -1): (1 - 3 + 0.5, 4 - 6 - 0.5)
    Sequential<Input<3>, Dense<2>>::input_type x({1, 3});
    x(0, 0) = 1, x(0, 1) = 0, x(0, 2) = -1;
    const auto& y = net.forward(x);
    CHECK(y(0, 0) == -1.5f);
    CHECK(y(0, 1) == -2.5f);

    // The reverse: Lepton's file has the same names, dtypes, shapes and bytes per tensor.
    io::save_weights(net, dir / "lepton.safetensors");
    const Bytes saved = read_bytes(dir / "lepton.safetensors");
    const std::string expected = R"({"__metadata__":{"format":"pt"},"0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                                 R"("0.bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}})";
    REQUIRE(saved.size() > 8);
    const std::uint64_t n = saved[0] | std::uint64_t(saved[1]) << 8;
    CHECK(n % 8 == 0);
    CHECK(std::string(saved.begin() + 8, saved.begin() + 8 + std::ptrdiff_t(expected.size())) == expected);
    CHECK(std::string(saved.begin() + 8 + std::ptrdiff_t(expected.size()), saved.begin() + 8 + std::ptrdiff_t(n)) ==
          std::string(n - expected.size(), ' '));
    Bytes weight_then_bias(data.begin() + 8, data.end());
    weight_then_bias.insert(weight_then_bias.end(), data.begin(), data.begin() + 8);
    CHECK(Bytes(saved.begin() + 8 + std::ptrdiff_t(n), saved.end()) == weight_then_bias);
}

namespace {

/// Loads `bytes` as a file and expects an io_error naming the file and containing `what`.
void check_corrupt(const fs::path& path, const Bytes& bytes, const std::string& what)
{
    write_bytes(path, bytes);
    INFO("expected: " << what);
    try {
        const io::safetensors_file file(path);
        FAIL("no io_error");
    } catch (const io_error& e) {
        const std::string message = e.what();
        INFO("message: " << message);
        CHECK(message.find(path.string()) != std::string::npos);
        CHECK(message.find(what) != std::string::npos);
    }
}

Bytes zeros(std::size_t n) { return Bytes(n, 0); }

/// The header-length field followed by `rest`.
Bytes with_length(std::uint64_t n, const Bytes& rest)
{
    Bytes out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(n >> (8 * i)));
    out.insert(out.end(), rest.begin(), rest.end());
    return out;
}

} // namespace

TEST_CASE("safetensors: every kind of corrupt file throws io_error naming the file and the fault")
{
    const fs::path path = fresh_dir("corrupt") / "bad.safetensors";
    const std::string f32 = R"("dtype":"F32","shape":[2])";
    struct bad_case {
        const char* name;
        std::string header;
        std::size_t data;
        std::string what;
    };
    const std::vector<bad_case> cases = {
        {"header not an object", "[1, 2]", 0, "is not a JSON object"},
        {"entry not an object", R"({"a":5})", 0, "tensor 'a': its header entry is not an object"},
        {"unknown dtype", R"({"a":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})", 8, "tensor 'a': unknown dtype 'F7'"},
        {"dtype not a string", R"({"a":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", 8, "tensor 'a': no dtype string"},
        {"no dtype", R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8, "tensor 'a': no dtype string"},
        {"shape not an array", R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8, "tensor 'a': shape is not"},
        {"negative shape", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "tensor 'a': shape is not"},
        {"fractional shape", R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8, "tensor 'a': shape is not"},
        {"no shape", R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8, "tensor 'a': shape is not"},
        {"three offsets", "{\"a\":{" + f32 + R"(,"data_offsets":[0,4,8]}})", 8, "tensor 'a': data_offsets is not [begin, end]"},
        {"negative offset", "{\"a\":{" + f32 + R"(,"data_offsets":[-8,0]}})", 8, "tensor 'a': data_offsets is not"},
        {"offsets not an array", "{\"a\":{" + f32 + R"(,"data_offsets":8}})", 8, "tensor 'a': data_offsets is not"},
        {"no offsets", "{\"a\":{" + f32 + "}}", 8, "tensor 'a': data_offsets is not"},
        {"end before begin", "{\"a\":{" + f32 + R"(,"data_offsets":[8,0]}})", 8, "tensor 'a': data_offsets [8, 0] end before"},
        {"offsets past the buffer", "{\"a\":{" + f32 + R"(,"data_offsets":[0,16]}})", 8,
         "tensor 'a': data_offsets [0, 16] run past the end of the data buffer (8 bytes"},
        {"huge offsets", "{\"a\":{" + f32 + R"(,"data_offsets":[18446744073709551608,18446744073709551615]}})", 8,
         "run past the end of the data buffer"},
        {"size not shape x dtype", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8,
         "tensor 'a': shape [3] of F32 needs 12 bytes, data_offsets [0, 8] hold 8"},
        {"shape overflows", R"({"a":{"dtype":"F64","shape":[4611686018427387904,8],"data_offsets":[0,8]}})", 8,
         "needs too many bytes"},
        {"overlap", "{\"a\":{" + f32 + R"(,"data_offsets":[0,8]},"b":{)" + f32 + R"(,"data_offsets":[4,12]}})", 12,
         "tensor 'b' (bytes 4 to 12 of the data buffer, file offset"},
        {"same bytes twice", "{\"a\":{" + f32 + R"(,"data_offsets":[0,8]},"b":{)" + f32 + R"(,"data_offsets":[0,8]}})", 8,
         "overlaps tensor"},
        {"hole", "{\"a\":{" + f32 + R"(,"data_offsets":[0,8]},"b":{)" + f32 + R"(,"data_offsets":[12,20]}})", 20,
         "bytes 8 to 12 of the data buffer"},
        {"hole at the start", "{\"a\":{" + f32 + R"(,"data_offsets":[4,12]}})", 12, "bytes 0 to 4 of the data buffer"},
        {"trailing bytes", "{\"a\":{" + f32 + R"(,"data_offsets":[0,8]}})", 12, "bytes 8 to 12 of the data buffer"},
        {"duplicate name", "{\"a\":{" + f32 + R"(,"data_offsets":[0,8]},"a":{)" + f32 + R"(,"data_offsets":[8,16]}})", 16,
         "duplicate tensor name 'a'"},
        {"duplicate key", R"({"a":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8, "duplicate key 'dtype'"},
        {"metadata not an object", R"({"__metadata__":[1]})", 0, "__metadata__ is not an object"},
        {"metadata not strings", R"({"__metadata__":{"k":1}})", 0, "__metadata__ 'k' is not a string"},
        {"bad JSON", R"({"a":{"dtype":"F32",)", 0, "invalid JSON header near offset"},
        {"JSON garbage after the object", "{}x", 0, "invalid JSON header near offset 10"},
        {"invalid UTF-8", "{\"\xff\":1}", 0, "invalid JSON header"},
        {"empty header", "", 0, "invalid JSON header"},
        // Brackets nested 65 deep: refused before they cost more memory than the file (a valid header needs 3 levels).
        {"nested too deep", "{\"__metadata__\":" + std::string(64, '[') + std::string(64, ']') + "}", 0,
         "JSON header nests deeper than 64 levels"},
    };
    for (const auto& c : cases) {
        INFO("case: " << c.name);
        check_corrupt(path, safetensors_bytes(c.header, zeros(c.data)), c.what);
    }
    check_corrupt(path, {}, "truncated: 0 bytes, shorter than the 8-byte header length");
    check_corrupt(path, {8, 0, 0}, "truncated: 3 bytes");
    check_corrupt(path, with_length(std::uint64_t(1) << 40, Bytes(64, ' ')), "header length 1099511627776 at offset 0 exceeds");
    check_corrupt(path, with_length(100'000'001, Bytes(64, ' ')), "exceeds the 100000000-byte limit");
    check_corrupt(path, with_length(80, Bytes(64, ' ')), "header length 80 at offset 0 runs past the end of the file (72 bytes)");
    check_corrupt(path, with_length(~std::uint64_t(0), Bytes(64, ' ')), "exceeds");

    // The same shapes are fine when consistent: empty tensors, scalars, zero-size buffers.
    write_bytes(path, safetensors_bytes(R"({"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
                                        R"("s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"__metadata__":{"k":"v"}})",
                                        zeros(8)));
    const io::safetensors_file ok(path);
    CHECK(ok.tensors().size() == 2);
    CHECK(ok.metadata().at("k") == "v");
    CHECK(ok.bytes(*ok.find("s")).size() == 8);
    CHECK_THROWS_WITH_AS(io::safetensors_file(path.string() + ".missing"), doctest::Contains("missing': cannot open"), io_error);
}

TEST_CASE("safetensors: every truncation of a file, and every flipped header byte, throws io_error")
{
    const fs::path dir = fresh_dir("truncated");
    FloatNet net(1);
    io::save_weights(net, dir / "full.safetensors");
    const Bytes full = read_bytes(dir / "full.safetensors");
    const Bytes before = state_bytes(net);
    REQUIRE(full.size() > 1000);
    const fs::path cut = dir / "cut.safetensors";
    std::size_t thrown = 0;
    for (std::size_t n = 0; n < full.size(); ++n) {
        write_bytes(cut, Bytes(full.begin(), full.begin() + std::ptrdiff_t(n)));
        try {
            io::load_weights(net, cut);
        } catch (const io_error&) {
            ++thrown;
        }
    }
    CHECK(thrown == full.size());
    CHECK(state_bytes(net) == before);  // no failed load changed anything

    const std::size_t header_end = io::safetensors_file(dir / "full.safetensors").data_offset();
    std::size_t flips = 0, flip_errors = 0;
    // Every byte but those of the metadata's value ({"format":"pt"}), which load_weights does not read.
    const std::string text(full.begin(), full.begin() + std::ptrdiff_t(header_end));
    const std::size_t metadata = text.find(R"({"format":"pt"})");
    REQUIRE(metadata != std::string::npos);
    for (std::size_t i = 0; i < header_end; ++i)
        for (const int how : {0, 1}) {
            if (i >= metadata && i < metadata + 15) continue;
            Bytes bad = full;
            bad[i] = how == 0 ? static_cast<unsigned char>('#') : static_cast<unsigned char>(bad[i] ^ 1);
            if (bad[i] == full[i]) continue;
            ++flips;
            write_bytes(cut, bad);
            try {
                io::load_weights(net, cut);
                INFO("byte " << i << " flipped to " << int(bad[i]) << " loaded without error");
                CHECK(false);
            } catch (const io_error&) {
                ++flip_errors;
            }
        }
    CHECK(flips > header_end);
    CHECK(flip_errors == flips);
    CHECK(state_bytes(net) == before);
}

TEST_CASE("checkpoint: load_weights names the first mismatch and leaves the network unchanged")
{
    const fs::path dir = fresh_dir("mismatch");
    using Conv3 = Sequential<Input<1, 8, 8>, Conv2D<32, 3>>;
    using Conv5 = Sequential<Input<1, 8, 8>, Conv2D<32, 5>>;
    Conv5 wide(1);
    io::save_weights(wide, dir / "conv5.safetensors");
    Conv3 net(2);
    const Bytes before = state_bytes(net);
    CHECK_THROWS_WITH_AS(io::load_weights(net, dir / "conv5.safetensors"),
                         doctest::Contains("0.weight: expected [32, 1, 3, 3], file has [32, 1, 5, 5]"), io_error);
    CHECK(state_bytes(net) == before);

    Network<double, cpu, Input<3>, Dense<2>> wide_type(1);
    io::save_weights(wide_type, dir / "f64.safetensors");
    Sequential<Input<3>, Dense<2>> linear(2);
    const Bytes linear_before = state_bytes(linear);
    CHECK_THROWS_WITH_AS(io::load_weights(linear, dir / "f64.safetensors"),
                         doctest::Contains("0.weight: expected dtype F32, file has F64"), io_error);

    Bytes data;
    append_values<float>(data, {1, 2, 3, 4, 5, 6});
    write_bytes(dir / "no_bias.safetensors",
                safetensors_bytes(R"({"0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", data));
    CHECK_THROWS_WITH_AS(io::load_weights(linear, dir / "no_bias.safetensors"),
                         doctest::Contains("1 missing tensor: '0.bias' (F32 [2])"), io_error);

    append_values<float>(data, {7, 8});
    Bytes extra = data;
    append_values<float>(extra, {9});
    write_bytes(dir / "extra.safetensors", safetensors_bytes(R"({"0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                                                             R"("0.bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},)"
                                                             R"("1.weight":{"dtype":"F32","shape":[1],"data_offsets":[32,36]}})",
                                                             extra));
    CHECK_THROWS_WITH_AS(io::load_weights(linear, dir / "extra.safetensors"),
                         doctest::Contains("1 unexpected tensor: '1.weight'"), io_error);
    CHECK(state_bytes(linear) == linear_before);

    // Optimizer state in a weights file is not an error for load_weights.
    write_bytes(dir / "optimizer.safetensors",
                safetensors_bytes(R"({"0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                                  R"("0.bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},)"
                                  R"("optimizer.0.bias.exp_avg":{"dtype":"F32","shape":[1],"data_offsets":[32,36]}})",
                                  extra));
    io::load_weights(linear, dir / "optimizer.safetensors");
    CHECK(linear.layer<0>().weight()(1, 2) == 6);
    CHECK(linear.layer<0>().bias()(1) == 8);
}

TEST_CASE("checkpoint: saving is atomic: a failed write leaves the previous file intact and no temporary file")
{
    const fs::path dir = fresh_dir("atomic");
    const fs::path path = dir / "model.safetensors";
    FloatNet a(1), b(2);
    Adam oa(a), ob(b);
    io::save_checkpoint(path, a, oa, 1);
    const Bytes first = read_bytes(path);
    auto files = [&] { return std::distance(fs::directory_iterator(dir), fs::directory_iterator()); };

    // A file-size limit makes the write of the temporary file fail part way.
    rlimit old{};
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
    rlimit small = old;
    small.rlim_cur = 1024;
    auto* const handler = std::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    bool threw = false;
    std::string message;
    try {
        io::save_checkpoint(path, b, ob, 2);
    } catch (const io_error& e) {
        threw = true;
        message = e.what();
    }
    setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, handler);
    REQUIRE(first.size() > 1024);
    CHECK(threw);
    INFO(message);
    CHECK(message.find(path.string()) != std::string::npos);
    CHECK(read_bytes(path) == first);
    CHECK(files() == 1);

    // A target in a directory that does not exist.
    CHECK_THROWS_WITH_AS(io::save_weights(a, dir / "missing" / "x.safetensors"), doctest::Contains("missing/x.safetensors"),
                         io_error);
    CHECK(files() == 1);

    // And a successful save replaces the file, leaving nothing else behind.
    io::save_checkpoint(path, b, ob, 2);
    CHECK(read_bytes(path) != first);
    CHECK(files() == 1);
    FloatNet c(3);
    io::load_weights(c, path);
    CHECK(state_bytes(c) == state_bytes(b));
}

TEST_CASE("checkpoint: optimizer state, step count, learning rate, epoch and generator round trip")
{
    const fs::path dir = fresh_dir("optimizer");
    FloatNet a(1);
    Adam oa(a, {.lr = 3e-3});
    fixed_batch batch;
    for (int step = 0; step < 3; ++step) batch.step(a, oa);
    a.rng().normal();  // leaves a cached normal in the generator state
    oa.set_learning_rate(1.0 / 3.0);
    io::save_checkpoint(dir / "adam.safetensors", a, oa, 7);

    const io::safetensors_file file(dir / "adam.safetensors");
    CHECK(file.metadata().at("lepton.epoch") == "7");
    CHECK(file.metadata().at("lepton.optimizer.steps") == "3");
    CHECK(file.find("optimizer.0.weight.exp_avg")->shape == std::vector<std::size_t>{4, 1, 3, 3});
    CHECK(file.find("optimizer.4.bias.exp_avg_sq")->shape == std::vector<std::size_t>{3});
    CHECK(file.find("optimizer.1.running_mean.exp_avg") == nullptr);

    FloatNet b(2);
    Adam ob(b);
    CHECK(io::load_checkpoint(dir / "adam.safetensors", b, ob) == 7);
    CHECK(state_bytes(a) == state_bytes(b));
    CHECK(ob.steps() == 3);
    CHECK(ob.learning_rate() == 1.0 / 3.0);
    CHECK(b.rng().state() == a.rng().state());
    CHECK(b.rng().normal() == a.rng().normal());
    std::vector<std::vector<float>> sa, sb;
    oa.for_each_state([&](const char*, std::span<float> v) { sa.emplace_back(v.begin(), v.end()); });
    ob.for_each_state([&](const char*, std::span<float> v) { sb.emplace_back(v.begin(), v.end()); });
    CHECK(sa == sb);
    CHECK(sa.size() == 2);

    // load_weights takes the parameters of a checkpoint.
    FloatNet c(3);
    io::load_weights(c, dir / "adam.safetensors");
    CHECK(state_bytes(c) == state_bytes(a));

    // SGD with momentum: "momentum_buffer"; the wrong optimizer is named.
    SGD sgd(a, {.lr = 0.1, .momentum = 0.9});
    sgd.step();
    io::save_checkpoint(dir / "sgd.safetensors", a, sgd, 1);
    SGD sgd_b(b, {.lr = 0.1, .momentum = 0.9});
    CHECK(io::load_checkpoint(dir / "sgd.safetensors", b, sgd_b) == 1);
    CHECK(sgd_b.steps() == 1);
    const Bytes b_before = state_bytes(b);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(dir / "adam.safetensors", b, sgd_b),
                         doctest::Contains("missing tensors: 'optimizer.0.weight.momentum_buffer'"), io_error);
    Adam adam_b(b);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(dir / "sgd.safetensors", b, adam_b),
                         doctest::Contains("missing tensors: 'optimizer.0.weight.exp_avg'"), io_error);
    SGD plain(b);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(dir / "adam.safetensors", b, plain),
                         doctest::Contains("unexpected tensors: 'optimizer.0.weight.exp_avg'"), io_error);
    CHECK(state_bytes(b) == b_before);
}

TEST_CASE("checkpoint: bad bookkeeping in __metadata__ throws io_error and changes nothing")
{
    const fs::path dir = fresh_dir("metadata");
    FloatNet a(1), b(2);
    Adam oa(a), ob(b);
    io::save_checkpoint(dir / "good.safetensors", a, oa, 4);
    const io::safetensors_file good(dir / "good.safetensors");
    // The same tensors under altered metadata, through the public writer.
    auto rewrite = [&](const std::string& key, const std::string* value) {
        std::vector<io::tensor_ref> refs;
        for (const auto& t : good.tensors()) refs.push_back({t.name, t.type, t.shape, good.bytes(t)});
        auto metadata = good.metadata();
        if (value)
            metadata[key] = *value;
        else
            metadata.erase(key);
        io::write_safetensors(dir / "bad.safetensors", refs, metadata);
        return dir / "bad.safetensors";
    };
    const Bytes before = state_bytes(b);
    const std::string not_a_number = "4x", garbage = "1 2 3";
    CHECK_THROWS_WITH_AS(io::load_checkpoint(rewrite("lepton.epoch", &not_a_number), b, ob),
                         doctest::Contains("__metadata__ 'lepton.epoch' is not a number: '4x'"), io_error);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(rewrite("lepton.optimizer.steps", nullptr), b, ob),
                         doctest::Contains("no 'lepton.optimizer.steps' in __metadata__"), io_error);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(rewrite("lepton.rng", &garbage), b, ob),
                         doctest::Contains("__metadata__ 'lepton.rng': not a random_engine state"), io_error);
    data::Dataset<float, 3> images;
    images.features.resize({4, 1, 6, 6});
    images.labels = {0, 1, 2, 0};
    data::BatchLoader loader(images, 2, true, 1);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(dir / "good.safetensors", b, ob, loader),
                         doctest::Contains("no 'lepton.loader' in __metadata__"), io_error);
    CHECK(state_bytes(b) == before);
    CHECK(ob.steps() == 0);

    // A checkpoint whose loader state does not fit the loader given.
    io::save_checkpoint(dir / "loader.safetensors", a, oa, 4, loader);
    images.features.resize({5, 1, 6, 6});
    images.labels.push_back(1);
    data::BatchLoader other(images, 2, true, 1);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(dir / "loader.safetensors", b, ob, other),
                         doctest::Contains("__metadata__ 'lepton.loader': BatchLoader: the state is for 4 samples, the data set has 5"),
                         io_error);
    CHECK(state_bytes(b) == before);
    CHECK(b.rng().state() != a.rng().state());

    // The writer refuses inconsistent tensors before touching the disk.
    const float one = 1;
    const std::vector<io::tensor_ref> wrong{{"x", io::dtype::F32, {2}, std::as_bytes(std::span(&one, 1))}};
    CHECK_THROWS_AS(io::write_safetensors(dir / "never.safetensors", wrong), value_error);
    const std::vector<io::tensor_ref> twice{{"x", io::dtype::F32, {1}, std::as_bytes(std::span(&one, 1))},
                                            {"x", io::dtype::F32, {1}, std::as_bytes(std::span(&one, 1))}};
    CHECK_THROWS_AS(io::write_safetensors(dir / "never.safetensors", twice), value_error);
    // A header the reader would refuse (over 100 MB: a loader's sample order of some 11 million samples) is not written.
    const std::map<std::string, std::string> huge{{"lepton.loader", std::string(io::max_header_size, '1')}};
    CHECK_THROWS_WITH_AS(io::write_safetensors(dir / "never.safetensors", {}, huge),
                         doctest::Contains("over the 100000000-byte limit readers accept"), value_error);
    CHECK(!fs::exists(dir / "never.safetensors"));
}

TEST_CASE("checkpoint: random_engine and BatchLoader states round trip and reject garbage")
{
    random_engine a(9);
    a.normal();  // a cached normal is part of the state
    random_engine b(1);
    b.set_state(a.state());
    for (int i = 0; i < 5; ++i) CHECK(a.normal() == b.normal());
    CHECK(a.bits() == b.bits());
    const std::string kept = b.state();
    for (const std::string& bad : std::vector<std::string>{"", "1 2 3", kept + " 7", kept.substr(0, kept.size() / 2)}) {
        CHECK_THROWS_AS(b.set_state(bad), value_error);
        CHECK(b.state() == kept);
    }

    data::Dataset<float, 1> d;
    d.features.resize({5, 1});
    d.labels = {0, 1, 2, 3, 4};
    data::BatchLoader x(d, 2, true, 3), y(d, 2, true, 4);
    x.start_epoch();
    y.set_state(x.state());
    for (int epoch = 0; epoch < 3; ++epoch) {
        x.start_epoch();
        y.start_epoch();
        for (std::size_t i = 0; i < x.batches(); ++i) {
            const auto bx = x[i];
            const std::vector<std::int32_t> lx(bx.labels.begin(), bx.labels.end());
            const auto by = y[i];
            CHECK(lx == std::vector<std::int32_t>(by.labels.begin(), by.labels.end()));
        }
    }
    const std::string rng = random_engine(1).state();
    const std::string before = y.state();
    for (const std::string& bad : std::vector<std::string>{"no slash", rng + "/5 0 1 2 3", rng + "/5 0 1 2 3 3", rng + "/5 0 1 2 3 5",
                                  rng + "/5 0 1 2 3 4 5", rng + "/4 0 1 2 3", rng + "/5 0 1 2 3 -1", "x/5 0 1 2 3 4",
                                  rng + "/5 0 1 2 3 4 epochs", rng + "/5 0 1 2 3 4 epochs x", rng + "/5 0 1 2 3 4 epochs 2 3"}) {
        INFO(bad.substr(bad.find('/') == std::string::npos ? 0 : bad.find('/')));
        CHECK_THROWS_AS(y.set_state(bad), value_error);
        CHECK(y.state() == before);
    }
    y.set_state(rng + "/5 4 3 2 1 0");
    CHECK(y[0].labels[0] == 4);
}

TEST_CASE("checkpoint: a sharded loader's augmentations resume on every rank from rank 0's state")
{
    data::Dataset<float, 1> d;
    d.features.resize({12, 3});
    d.features.fill(0.0f);
    for (std::int32_t i = 0; i < 12; ++i) d.labels.push_back(i);
    auto noisy = [](auto& features, random_engine& rng) {
        for (auto& v : features) v = float(rng.uniform());
    };
    auto sharded = [&](std::size_t rank) {
        data::BatchLoader loader(d, 2, true, 7);
        loader.shard(rank, 2);
        loader.set_transform(noisy);
        return loader;
    };
    auto features = [](auto& loader, std::size_t b) {
        const auto batch = loader[b];
        return std::vector<float>(batch.features.begin(), batch.features.end());
    };
    auto rank0 = sharded(0), rank1 = sharded(1);
    for (int epoch = 0; epoch < 2; ++epoch) {
        rank0.start_epoch();
        rank1.start_epoch();
    }
    CHECK(features(rank0, 0) != features(rank1, 0));  // each rank draws its own
    // Rank 1 restarts from rank 0's checkpoint, with the augmentations it would have drawn.
    auto resumed = sharded(1);
    resumed.set_state(rank0.state());
    for (int epoch = 0; epoch < 2; ++epoch) {
        rank1.start_epoch();
        resumed.start_epoch();
        for (std::size_t b = 0; b < rank1.batches(); ++b) CHECK(features(resumed, b) == features(rank1, b));
    }
}

namespace {

data::Dataset<float, 1> clusters(std::size_t n, std::uint64_t seed)
{
    data::Dataset<float, 1> d;
    d.features.resize({n, 8});
    d.labels.resize(n);
    random_engine rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
        const auto label = static_cast<std::int32_t>(rng.below(4));
        d.labels[i] = label;
        for (std::size_t j = 0; j < 8; ++j) d.features(i, j) = float(rng.normal() + (j % 4 == std::size_t(label) ? 1.5 : 0.0));
    }
    return d;
}

using ResumeNet = Sequential<Input<8>, Dense<32>, ReLU, Dropout<0.3>, Dense<4>>;

} // namespace

TEST_CASE("checkpoint: training resumed from a checkpoint matches the uninterrupted run exactly")
{
    const int threads = num_threads();
    set_num_threads(1);
    const fs::path path = fresh_dir("resume") / "epoch2.safetensors";
    const auto data = clusters(200, 17);
    CrossEntropyLoss<float> loss;

    std::vector<double> straight;
    ResumeNet reference(3);
    Adam reference_opt(reference, {.lr = 1e-2});
    data::BatchLoader reference_loader(data, 16, true, 5);
    for (int epoch = 0; epoch < 4; ++epoch) straight.push_back(train_epoch(reference, reference_opt, loss, reference_loader).loss);

    std::vector<double> resumed;
    {
        ResumeNet net(3);
        Adam opt(net, {.lr = 1e-2});
        data::BatchLoader loader(data, 16, true, 5);
        for (int epoch = 0; epoch < 2; ++epoch) resumed.push_back(train_epoch(net, opt, loss, loader).loss);
        io::save_checkpoint(path, net, opt, 2, loader);
    }
    ResumeNet net(99);
    Adam opt(net, {.lr = 1e-2});
    data::BatchLoader loader(data, 16, true, 123);
    CHECK(io::load_checkpoint(path, net, opt, loader) == 2);
    for (int epoch = 2; epoch < 4; ++epoch) resumed.push_back(train_epoch(net, opt, loss, loader).loss);

    CHECK(resumed == straight);  // bitwise: doubles compared with ==
    CHECK(state_bytes(net) == state_bytes(reference));
    CHECK(net.rng().state() == reference.rng().state());

    // Control: without the loader's state the batches differ, and so do the losses.
    ResumeNet control(99);
    Adam control_opt(control, {.lr = 1e-2});
    data::BatchLoader control_loader(data, 16, true, 5);
    io::load_checkpoint(path, control, control_opt);
    std::vector<double> control_losses(resumed.begin(), resumed.begin() + 2);
    for (int epoch = 2; epoch < 4; ++epoch) control_losses.push_back(train_epoch(control, control_opt, loss, control_loader).loss);
    CHECK(control_losses != straight);
    set_num_threads(threads);
}

TEST_CASE("checkpoint: counters, step counts, learning rate and epoch out of range are refused, naming the key")
{
    const fs::path dir = fresh_dir("ranges");
    FloatNet a(1), b(2);
    Adam oa(a), ob(b);
    io::save_checkpoint(dir / "good.safetensors", a, oa, 4);
    const io::safetensors_file good(dir / "good.safetensors");
    // The same file with one metadata entry, or one I64 tensor, replaced.
    auto rewrite = [&](const std::string& key, const std::string& value, std::int64_t count = 0) {
        std::vector<io::tensor_ref> refs;
        std::vector<std::int64_t> counts;
        counts.reserve(good.tensors().size());
        for (const auto& t : good.tensors()) {
            if (t.name != key) {
                refs.push_back({t.name, t.type, t.shape, good.bytes(t)});
                continue;
            }
            counts.push_back(count);
            refs.push_back({t.name, t.type, t.shape, std::as_bytes(std::span(&counts.back(), 1))});
        }
        auto metadata = good.metadata();
        if (metadata.count(key)) metadata[key] = value;
        io::write_safetensors(dir / "bad.safetensors", refs, metadata);
        return dir / "bad.safetensors";
    };
    const Bytes before = state_bytes(b);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(rewrite("lepton.optimizer.steps", "9223372036854775807"), b, ob),
                         doctest::Contains("'lepton.optimizer.steps' is '9223372036854775807', outside [0, 2^53)"),
                         io_error);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(rewrite("lepton.optimizer.steps", "-1"), b, ob),
                         doctest::Contains("'lepton.optimizer.steps' is '-1'"), io_error);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(rewrite("lepton.optimizer.lr", "nan"), b, ob),
                         doctest::Contains("'lepton.optimizer.lr' is 'nan', outside the finite numbers >= 0"), io_error);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(rewrite("lepton.optimizer.lr", "-0.5"), b, ob),
                         doctest::Contains("'lepton.optimizer.lr' is '-0.5'"), io_error);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(rewrite("lepton.epoch", "-3"), b, ob),
                         doctest::Contains("'lepton.epoch' is '-3', outside [0, 2^31)"), io_error);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(rewrite("lepton.epoch", "4294967296"), b, ob),
                         doctest::Contains("'lepton.epoch' is '4294967296'"), io_error);
    // BatchNorm's counter, and a tensor's own step count.
    CHECK_THROWS_WITH_AS(io::load_checkpoint(rewrite("1.num_batches_tracked", "", INT64_MAX), b, ob),
                         doctest::Contains("1.num_batches_tracked: count 9223372036854775807 is outside [0, 2^53)"),
                         io_error);
    CHECK_THROWS_WITH_AS(io::load_weights(b, rewrite("1.num_batches_tracked", "", -1)),
                         doctest::Contains("1.num_batches_tracked: count -1"), io_error);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(rewrite("optimizer.0.weight.step", "", INT64_MAX), b, ob),
                         doctest::Contains("optimizer.0.weight.step: count 9223372036854775807"), io_error);
    CHECK(state_bytes(b) == before);
    CHECK(ob.steps() == 0);
    // The limits themselves are fine.
    CHECK(io::load_checkpoint(rewrite("lepton.optimizer.steps", "9007199254740991"), b, ob) == 4);
}

TEST_CASE("checkpoint: each tensor's step count round trips, and a resumed run after unfreezing matches")
{
    const fs::path dir = fresh_dir("tensor_steps");
    FloatNet a(1);
    Adam oa(a, {.lr = 3e-3});
    fixed_batch batch;
    auto step = [&](FloatNet& net, Adam<float>& opt) { batch.step(net, opt); };
    a.freeze(0);
    step(a, oa);
    step(a, oa);
    a.unfreeze(0);
    step(a, oa);
    io::save_checkpoint(dir / "partly_frozen.safetensors", a, oa, 1);
    const io::safetensors_file file(dir / "partly_frozen.safetensors");
    CHECK(file.find("optimizer.0.weight.step")->shape.empty());
    CHECK(file.find("optimizer.0.weight.step")->type == io::dtype::I64);

    FloatNet b(2);
    Adam ob(b, {.lr = 3e-3});
    io::load_checkpoint(dir / "partly_frozen.safetensors", b, ob);
    const auto steps = ob.tensor_steps();
    // 0.weight, 0.bias: one step since unfreezing; 1.weight ... 4.bias: three.
    CHECK(steps[0] == 1);
    CHECK(steps[1] == 1);
    CHECK(steps.back() == 3);
    CHECK(std::equal(steps.begin(), steps.end(), oa.tensor_steps().begin()));
    step(a, oa);
    step(b, ob);
    CHECK(state_bytes(a) == state_bytes(b));
}

TEST_CASE("checkpoint: a writer killed with SIGKILL at random moments never leaves a torn file")
{
    // A child saves checkpoint after checkpoint, version v with every parameter
    // equal to v and epoch v, and is killed at a random moment; the file must
    // then load and be one complete version, whatever the moment was.
    const fs::path dir = fresh_dir("kill");
    const fs::path path = dir / "model.safetensors";
    FloatNet net(1);
    Adam opt(net);
    std::fill(net.parameters().begin(), net.parameters().end(), 0.0f);
    io::save_checkpoint(path, net, opt, 0);
    random_engine rng(11);
    int newest = 0;
    for (int round = 0; round < 12; ++round) {
        const int first_version = newest + 1;
        const pid_t child = fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            set_num_threads(1);
            for (int v = first_version; v < first_version + 100000; ++v) {
                std::fill(net.parameters().begin(), net.parameters().end(), float(v));
                io::save_checkpoint(path, net, opt, v);
            }
            _exit(0);
        }
        usleep(useconds_t(2000 + rng.below(40000)));
        kill(child, SIGKILL);
        int status = 0;
        waitpid(child, &status, 0);
        REQUIRE(WIFSIGNALED(status));
        FloatNet loaded(2);
        Adam loaded_opt(loaded);
        std::int64_t epoch = -1;
        CHECK_NOTHROW(epoch = io::load_checkpoint(path, loaded, loaded_opt));
        INFO("round " << round << ", epoch " << epoch);
        CHECK(epoch >= newest);
        bool one_version = true;
        loaded.for_each_parameter([&](const std::string&, float* data, float*, const parameter_shape& shape) {
            std::size_t n = 1;
            for (auto d : shape) n *= d;
            for (std::size_t i = 0; i < n; ++i) one_version = one_version && data[i] == float(epoch);
        });
        CHECK(one_version);
        newest = int(epoch);
    }
    CHECK(newest > 0);  // the child did get to save, over the rounds
}
