// Compile-time shapes, parameter layout, run-time shape errors, hand-computed
// forward values, determinism and a small end-to-end training run.
#include <doctest/doctest.h>

#include <lepton/lepton.hpp>

#include <cstring>

using namespace lepton;

using MLP = Sequential<Input<1, 28, 28>, Flatten, Dense<256>, ReLU, Dense<128>, ReLU, Dense<10>>;

static_assert(std::is_same_v<MLP::output_shape, Shape<10>>);
static_assert(std::is_same_v<MLP::layer_type<0>::output_shape, Shape<784>>);
static_assert(std::is_same_v<MLP::layer_type<1>::output_shape, Shape<256>>);
static_assert(MLP::parameter_count == 235146);
static_assert(MLP::layer_count == 6);

TEST_CASE("parameters have PyTorch state_dict names and shapes")
{
    MLP net;
    std::vector<std::string> names;
    std::vector<parameter_shape> shapes;
    net.for_each_parameter([&](const std::string& name, float*, float*, const parameter_shape& s) {
        names.push_back(name);
        shapes.push_back(s);
    });
    CHECK(names == std::vector<std::string>{"1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"});
    CHECK(shapes[0] == parameter_shape{256, 784});
    CHECK(shapes[5] == parameter_shape{10});
}

TEST_CASE("parameters live in one buffer, each slice 64-byte aligned")
{
    MLP net;
    const float* base = net.parameters().data();
    std::size_t total = 0;
    net.for_each_parameter([&](const std::string&, float* data, float* grad, const parameter_shape& s) {
        CHECK(data >= base);
        CHECK(data < base + net.parameters().size());
        CHECK(grad - net.gradients().data() == data - base);
        std::size_t n = 1;
        for (auto d : s) n *= d;
        total += n;
    });
    CHECK(total == MLP::parameter_count);
    CHECK(reinterpret_cast<std::uintptr_t>(base) % 64 == 0);
}

TEST_CASE("summary lists layers, shapes and parameter counts")
{
    const std::string s = MLP::summary();
    CHECK(s.find("1 Dense") != std::string::npos);
    CHECK(s.find("[N, 256]") != std::string::npos);
    CHECK(s.find("200,960") != std::string::npos);
    CHECK(s.find("Total params: 235,146") != std::string::npos);
}

TEST_CASE("a wrong run-time input shape throws shape_error naming layer and shapes")
{
    MLP net;
    tensor<float, 4> wrong({2, 1, 28, 27});
    wrong.fill(0);
    CHECK_THROWS_WITH_AS(net.forward(wrong),
                         doctest::Contains("layer 0 (Flatten) expects input of shape [N, 1, 28, 28], got [2, 1, 28, 27]"),
                         shape_error);
    xt::xtensor<float, 2> flat({2, 784});
    CHECK_THROWS_AS(net.forward(flat), shape_error);
}

TEST_CASE("forward accepts any xtensor expression of the right shape")
{
    Sequential<Input<3>, Dense<2>> net;
    xt::xtensor<float, 2> x = {{1, 2, 3}};
    const auto& y = net.forward(x);
    CHECK(y.shape()[0] == 1);
    CHECK(y.shape()[1] == 2);
}

TEST_CASE("Dense and ReLU forward match values computed by hand")
{
    Network<double, cpu, Input<3>, Dense<2>, ReLU> net;
    auto w = net.layer<0>().weight();
    auto b = net.layer<0>().bias();
    // W = [[1, -2, 0.5], [0, 1, -1]], b = [0.25, -3]
    w(0, 0) = 1, w(0, 1) = -2, w(0, 2) = 0.5, w(1, 0) = 0, w(1, 1) = 1, w(1, 2) = -1;
    b(0) = 0.25, b(1) = -3;
    tensor<double, 2> x({2, 3});
    x(0, 0) = 1, x(0, 1) = 2, x(0, 2) = 4;    // y = [1 - 4 + 2 + 0.25, 2 - 4 - 3] -> relu [0, 0]
    x(1, 0) = 3, x(1, 1) = -1, x(1, 2) = -6;  // y = [3 + 2 - 3 + 0.25, -1 + 6 - 3] -> [2.25, 2]
    const auto& y = net.forward(x);
    CHECK(y(0, 0) == 0.0);
    CHECK(y(0, 1) == 0.0);
    CHECK(y(1, 0) == doctest::Approx(2.25));
    CHECK(y(1, 1) == doctest::Approx(2.0));
}

TEST_CASE("initialisation follows PyTorch's Linear bound 1/sqrt(fan_in)")
{
    Sequential<Input<100>, Dense<50>> net(3);
    const auto w = net.layer<0>().weight();
    const double bound = 1.0 / std::sqrt(100.0);
    double max_abs = 0, mean = 0;
    for (float v : w) {
        max_abs = std::max(max_abs, double(std::abs(v)));
        mean += v;
    }
    CHECK(max_abs <= bound);
    CHECK(max_abs > 0.9 * bound);
    CHECK(std::abs(mean / double(w.size())) < 0.01);
}

TEST_CASE("Kaiming and Glorot initialisers use PyTorch's bounds and zero biases")
{
    auto max_abs = [](auto w) {
        double m = 0;
        for (float v : w) m = std::max(m, double(std::abs(v)));
        return m;
    };
    Sequential<Input<60>, Dense<40, true, init::kaiming_uniform>> he(1);
    CHECK(max_abs(he.layer<0>().weight()) <= std::sqrt(6.0 / 60));
    CHECK(max_abs(he.layer<0>().weight()) > 0.9 * std::sqrt(6.0 / 60));
    CHECK(max_abs(he.layer<0>().bias()) == 0.0);
    Sequential<Input<60>, Dense<40, true, init::glorot_uniform>> glorot(1);
    CHECK(max_abs(glorot.layer<0>().weight()) <= std::sqrt(6.0 / 100));
    CHECK(max_abs(glorot.layer<0>().weight()) > 0.9 * std::sqrt(6.0 / 100));
    Sequential<Input<400>, Dense<300, true, init::kaiming_normal>> normal(1);
    double sq = 0;
    for (float v : normal.layer<0>().weight()) sq += double(v) * v;
    CHECK(std::sqrt(sq / (400.0 * 300.0)) == doctest::Approx(std::sqrt(2.0 / 400)).epsilon(0.02));
}

namespace {
/// A two-class problem a small MLP separates perfectly: the label is whether x0 + x1 > 0.
data::Dataset<float, 1> separable(std::size_t n, std::uint64_t seed)
{
    data::Dataset<float, 1> d;
    d.features.resize({n, 2});
    d.labels.resize(n);
    random_engine rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
        const float a = float(rng.uniform(-1, 1)), b = float(rng.uniform(-1, 1));
        d.features(i, 0) = a;
        d.features(i, 1) = b;
        d.labels[i] = a + b > 0 ? 1 : 0;
    }
    return d;
}

template <class Net>
std::vector<float> train_briefly(std::uint64_t seed)
{
    Net net(seed);
    Adam optimizer(net, {.lr = 1e-2});
    CrossEntropyLoss<float> loss;
    const auto train = separable(512, 99);
    data::BatchLoader loader(train, 32, true, seed);
    for (int epoch = 0; epoch < 3; ++epoch) train_epoch(net, optimizer, loss, loader);
    return {net.parameters().begin(), net.parameters().end()};
}
} // namespace

TEST_CASE("two runs with the same seed give bitwise identical weights")
{
    using Net = Sequential<Input<2>, Dense<16>, ReLU, Dropout<0.25>, Dense<2>>;
    const int before = num_threads();
    set_num_threads(1);
    const auto a = train_briefly<Net>(5), b = train_briefly<Net>(5), c = train_briefly<Net>(6);
    set_num_threads(before);
    REQUIRE(a.size() == b.size());
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(a.data(), c.data(), a.size() * sizeof(float)) != 0);
}

TEST_CASE("training separates a linearly separable problem")
{
    Sequential<Input<2>, Dense<16>, ReLU, Dense<2>> net(1);
    Adam optimizer(net, {.lr = 1e-2});
    CrossEntropyLoss<float> loss;
    const auto train = separable(1024, 1), test = separable(512, 2);
    data::BatchLoader train_loader(train, 32, true, 1), test_loader(test, 128, false);
    for (int epoch = 0; epoch < 20; ++epoch) train_epoch(net, optimizer, loss, train_loader);
    const epoch_stats s = evaluate(net, loss, test_loader);
    CHECK(s.accuracy >= 0.98);
}

TEST_CASE("backward before forward is an error, and a wrong gradient shape names both shapes")
{
    Sequential<Input<3>, Dense<2>> net;
    tensor<float, 2> dy({4, 2});
    CHECK_THROWS_AS(net.backward(dy), std::logic_error);
    tensor<float, 2> x({3, 3});
    x.fill(1);
    net.forward(x);
    CHECK_THROWS_WITH_AS(net.backward(dy), doctest::Contains("[3, 2], got [4, 2]"), shape_error);
}

TEST_CASE("a network-wide initialiser reaches Dense and Conv2D layers and leaves the others alone")
{
    using Net = Sequential<Input<1, 6, 6>, Conv2D<4, 3>, BatchNorm2D<>, Flatten, Dense<3>>;
    Net net(2, init::glorot_uniform{});
    double conv_max = 0, dense_max = 0, bias_sum = 0;
    for (float v : net.layer<0>().weight()) conv_max = std::max(conv_max, double(std::abs(v)));
    for (float v : net.layer<3>().weight()) dense_max = std::max(dense_max, double(std::abs(v)));
    for (float v : net.layer<3>().bias()) bias_sum += std::abs(v);
    // Glorot: fan_in 9, fan_out 36 for the convolution; 64 and 3 for the dense layer.
    CHECK(conv_max <= std::sqrt(6.0 / 45));
    CHECK(conv_max > std::sqrt(6.0 / 45) * 0.8);
    CHECK(dense_max <= std::sqrt(6.0 / 67));
    CHECK(dense_max > std::sqrt(6.0 / 67) * 0.8);
    CHECK(bias_sum == 0.0);
    auto& bn = net.layer<1>();
    float gamma_sum = 0;
    bn.for_each_parameter([&](const char* name, float* data, float*, const parameter_shape&) {
        if (std::string(name) == "weight") gamma_sum = data[0] + data[1] + data[2] + data[3];
    });
    CHECK(gamma_sum == 4.0f);
}
