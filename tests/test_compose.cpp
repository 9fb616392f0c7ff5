// Networks beyond a chain: blocks, residual blocks and parallel branches
// (shapes, PyTorch names, summaries, finite-difference gradients in double
// through every combinator nested two levels deep), and networks as values
// with workspaces: const forward from many threads, moves, copies.
#include <doctest/doctest.h>

#include <lepton/io/checkpoint.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/batchnorm.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/layers/pooling.hpp>
#include <lepton/nn/block.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/nn/parallel.hpp>
#include <lepton/nn/residual.hpp>
#include <lepton/testing/gradient_check.hpp>
#include <lepton/train/fit.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gradient_helpers.hpp"
#include "reference_helpers.hpp"

using namespace lepton;
using lepton_test::random_input;

namespace {

template <class Net>
std::vector<std::string> parameter_names(Net& net)
{
    std::vector<std::string> names;
    net.for_each_parameter([&](const std::string& name, auto*, auto*, const parameter_shape&) { names.push_back(name); });
    return names;
}

template <class Net>
std::vector<std::string> buffer_names(Net& net)
{
    std::vector<std::string> names;
    net.for_each_buffer([&](const std::string& name, auto, const parameter_shape&) { names.push_back(name); });
    return names;
}

template <class Net>
testing::gradient_report gradients_of(std::size_t batch, std::uint64_t seed = 3, double h = 1e-5)
{
    Net net(seed);
    return testing::check_gradients(net, random_input<Net>(batch, seed + 1), 7, h);
}

/// torchvision's BasicBlock with an identity shortcut (C channels) and with a stride-2 projection (to C channels).
template <std::size_t C>
using BasicBlock = Residual<Block<Named<"conv1", Conv2D<C, 3, 1, 1, 1, 1, false>>, Named<"bn1", BatchNorm2D<>>, ReLU,
                                  Named<"conv2", Conv2D<C, 3, 1, 1, 1, 1, false>>, Named<"bn2", BatchNorm2D<>>>,
                            Identity, ReLU>;
template <std::size_t C>
using DownBlock = Residual<Block<Named<"conv1", Conv2D<C, 3, 2, 1, 1, 1, false>>, Named<"bn1", BatchNorm2D<>>, ReLU,
                                 Named<"conv2", Conv2D<C, 3, 1, 1, 1, 1, false>>, Named<"bn2", BatchNorm2D<>>>,
                           Named<"downsample", Block<Conv2D<C, 1, 2, 0, 1, 1, false>, BatchNorm2D<>>>, ReLU>;

} // namespace

TEST_CASE("Block: one layer made of several, nested, with PyTorch's nested names and counts")
{
    using Net = Network<double, cpu, Input<6>, Dense<5>, Block<Dense<4>, Tanh, Block<Dense<3>, Sigmoid>>, Dense<2>>;
    static_assert(std::is_same_v<Net::output_shape, Shape<2>>);
    static_assert(Net::layer_count == 3);
    static_assert(Net::parameter_count == (6 * 5 + 5) + (5 * 4 + 4) + (4 * 3 + 3) + (3 * 2 + 2));
    Net net(1);
    const std::vector<std::string> expected{"0.weight", "0.bias", "1.0.weight", "1.0.bias", "1.2.0.weight", "1.2.0.bias",
                                            "2.weight", "2.bias"};
    CHECK(parameter_names(net) == expected);
    CHECK_GRADIENTS((gradients_of<Net>(3)));
    const std::string s = Net::summary();
    INFO(s);
    CHECK(s.find(" 1 Block") != std::string::npos);
    CHECK(s.find("   1.0 Dense") != std::string::npos);
    CHECK(s.find("     1.2.0 Dense") != std::string::npos);
}

TEST_CASE("Residual with an identity shortcut: y = body(x) + x, and its gradients")
{
    using Net = Network<double, cpu, Input<4>, Residual<Block<Dense<4>, Tanh, Dense<4>>>>;
    using Body = Network<double, cpu, Input<4>, Dense<4>, Tanh, Dense<4>>;
    static_assert(Net::parameter_count == Body::parameter_count);
    Net net(2);
    Body body(0);
    REQUIRE(net.parameters().size() == body.parameters().size());  // the same layout, block or not
    std::copy(net.parameters().begin(), net.parameters().end(), body.parameters().begin());
    const auto x = random_input<Net>(3, 5);
    const auto& y = net.forward(x);
    const auto& b = body.forward(x);
    for (std::size_t i = 0; i < y.size(); ++i) CHECK(y.data()[i] == doctest::Approx(b.data()[i] + x.data()[i]).epsilon(1e-14));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<4>, Residual<Block<Dense<4>, Tanh, Dense<4>>>, Dense<2>>>(3)));
}

TEST_CASE("Residual fused into its body: BatchNorm adds the shortcut and the ReLU, Winograd adds its gradient")
{
    // The body's last layer (BatchNorm) writes max(0, bn + x) in its
    // normalising pass; its first (16 channels, 3x3: Winograd's input
    // gradient) adds the shortcut's gradient in its output transform. Both
    // give what separate passes give, bit for bit.
    using Layers = Block<Conv2D<16, 3, 1, 1, 1, 1, false>, BatchNorm2D<>, ReLU, Conv2D<16, 3, 1, 1, 1, 1, false>,
                         BatchNorm2D<>>;
    using Net = Network<double, cpu, Input<16, 5, 5>, Residual<Layers, Identity, ReLU>>;
    using Body = Network<double, cpu, Input<16, 5, 5>, Layers>;
    using body_layer = std::remove_reference_t<decltype(std::declval<Net::layer_type<0>&>().body())>;
    static_assert(detail::adds_to_input_grad<body_layer> && detail::adds_to_output<body_layer>);
    Net net(5);
    Body body(0);
    REQUIRE(net.parameters().size() == body.parameters().size());
    std::copy(net.parameters().begin(), net.parameters().end(), body.parameters().begin());
    const auto x = random_input<Net>(3, 6);
    const auto& y = net.forward(x);
    const auto& from_body = body.forward(x);
    REQUIRE(y.size() == from_body.size());
    std::size_t unequal = 0;
    for (std::size_t i = 0; i < y.size(); ++i) unequal += y.data()[i] != std::max(from_body.data()[i] + x.data()[i], 0.0);
    CHECK(unequal == 0);
    auto dy = random_input<Net>(3, 7);
    const auto& dx = net.backward(dy, true);
    for (std::size_t i = 0; i < dy.size(); ++i)
        if (!(y.data()[i] > 0)) dy.data()[i] = 0;  // through the ReLU after the sum
    const auto& body_dx = body.backward(dy, true);
    unequal = 0;
    for (std::size_t i = 0; i < dx.size(); ++i) unequal += dx.data()[i] != body_dx.data()[i] + dy.data()[i];
    CHECK(unequal == 0);
    // With h = 1e-5 the central differences of this net carry round-off of about 2e-10 (Winograd's transforms and
    // BatchNorm over 2 images amplify the loss's last bits): right at the check's floor for its smallest input
    // gradients, so a compiler's other rounding fails it (clang -O1: 1.9e-6). With h = 1e-4 the truncation error
    // (h^2 times third derivatives, which BatchNorm's normalisation keeps small here) and the round-off together
    // stay under 7e-8 with g++ and clang, old kernels and new.
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<16, 5, 5>, Residual<Layers, Identity, ReLU>, Flatten, Dense<2>>>(2, 3, 1e-4)));
    // Another activation after the sum runs on the sum BatchNorm wrote.
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<16, 5, 5>, Residual<Layers, Identity, Tanh>, Flatten, Dense<2>>>(2)));
}

TEST_CASE("Residual with projection shortcuts (1x1 convolution, stride 2, BatchNorm): gradients, names, buffers")
{
    using Net = Network<double, cpu, Input<2, 6, 6>, Named<"layer1", Block<BasicBlock<2>, DownBlock<3>>>, Flatten, Dense<2>>;
    static_assert(std::is_same_v<Net::layer_type<0>::output_shape, Shape<3, 3, 3>>);
    Net net(4);
    const std::vector<std::string> params = parameter_names(net);
    const std::vector<std::string> expected{
        "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.conv2.weight",
        "layer1.0.bn2.weight",   "layer1.0.bn2.bias",   "layer1.1.conv1.weight", "layer1.1.bn1.weight",
        "layer1.1.bn1.bias",     "layer1.1.conv2.weight", "layer1.1.bn2.weight", "layer1.1.bn2.bias",
        "layer1.1.downsample.0.weight", "layer1.1.downsample.1.weight", "layer1.1.downsample.1.bias", "2.weight",
        "2.bias"};
    CHECK(params == expected);
    const auto buffers = buffer_names(net);
    CHECK(std::find(buffers.begin(), buffers.end(), "layer1.1.downsample.1.running_var") != buffers.end());
    CHECK(std::find(buffers.begin(), buffers.end(), "layer1.0.bn2.num_batches_tracked") != buffers.end());
    CHECK(buffers.size() == 5 * 3);
    CHECK_GRADIENTS((gradients_of<Net>(2)));
}

TEST_CASE("Parallel: Add, Multiply and Concat merges, their values and their gradients")
{
    using Sum = Network<double, cpu, Input<5>, Parallel<Add, Dense<3>, Block<Dense<3>, Tanh>>>;
    using Product = Network<double, cpu, Input<5>, Parallel<Multiply, Block<Dense<3>, Sigmoid>, Dense<3>>>;
    using Heads = Network<double, cpu, Input<5>, Parallel<Concat<0>, Dense<3>, Dense<2>>>;
    static_assert(std::is_same_v<Heads::output_shape, Shape<5>>);
    static_assert(Heads::layer_type<0>::branch_offset<1> == 3);
    using A = Network<double, cpu, Input<5>, Dense<3>>;
    using B = Network<double, cpu, Input<5>, Dense<3>, Tanh>;
    using C = Network<double, cpu, Input<5>, Dense<2>>;
    const auto x = random_input<Sum>(4, 2);
    Sum sum(1);
    Product product(1);
    Heads heads(1);
    A a(0);
    B b(0);
    C c(0);
    // Branch 0's parameters come first, then branch 1's, each padded as in a network of its own.
    std::copy_n(sum.parameters().begin(), a.parameters().size(), a.parameters().begin());
    std::copy_n(sum.parameters().begin() + std::ptrdiff_t(a.parameters().size()), b.parameters().size(), b.parameters().begin());
    const tensor<double, 2> ya = a.forward(x), yb = b.forward(x);
    const auto& ys = sum.forward(x);
    for (std::size_t i = 0; i < ys.size(); ++i) CHECK(ys.data()[i] == doctest::Approx(ya.data()[i] + yb.data()[i]).epsilon(1e-14));
    std::copy_n(heads.parameters().begin(), a.parameters().size(), a.parameters().begin());
    std::copy_n(heads.parameters().begin() + std::ptrdiff_t(a.parameters().size()), c.parameters().size(), c.parameters().begin());
    const tensor<double, 2> ha = a.forward(x), hc = c.forward(x);
    const auto& yh = heads.forward(x);
    for (std::size_t n = 0; n < 4; ++n) {
        for (std::size_t j = 0; j < 3; ++j) CHECK(yh(n, j) == ha(n, j));
        for (std::size_t j = 0; j < 2; ++j) CHECK(yh(n, 3 + j) == hc(n, j));
    }
    CHECK(parameter_names(heads) == std::vector<std::string>{"0.0.weight", "0.0.bias", "0.1.weight", "0.1.bias"});
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<5>, Parallel<Add, Dense<3>, Block<Dense<3>, Tanh>>, Dense<2>>>(3)));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<5>, Parallel<Multiply, Block<Dense<3>, Sigmoid>, Dense<3>, Block<Dense<3>, Tanh>>, Dense<2>>>(3)));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<5>, Parallel<Concat<0>, Dense<3>, Block<Dense<2>, Tanh>, Identity>, Dense<2>>>(3)));
    (void)product;
}

TEST_CASE("Parallel Concat on images joins channels; on sequences any axis")
{
    // DenseNet-style: the input's channel beside a convolution's two.
    using Net = Network<double, cpu, Input<1, 5, 5>, Parallel<Concat<0>, Conv2D<2, 3, 1, Padding::same>, Identity>,
                        Conv2D<2, 3>, Flatten, Dense<2>>;
    static_assert(std::is_same_v<Net::layer_type<0>::output_shape, Shape<3, 5, 5>>);
    CHECK_GRADIENTS((gradients_of<Net>(2)));
    using Wide = Network<double, cpu, Input<2, 4, 4>, Parallel<Concat<2>, Identity, Identity>, Flatten, Dense<2>>;
    static_assert(std::is_same_v<Wide::layer_type<0>::output_shape, Shape<2, 4, 8>>);
    Wide wide(1);
    const auto x = random_input<Wide>(2, 3);
    wide.forward(x);
    const auto& y = wide.layer<0>().output();
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t c = 0; c < 2; ++c)
            for (std::size_t h = 0; h < 4; ++h)
                for (std::size_t w = 0; w < 4; ++w) {
                    CHECK(y(n, c, h, w) == x(n, c, h, w));
                    CHECK(y(n, c, h, w + 4) == x(n, c, h, w));
                }
    CHECK_GRADIENTS((gradients_of<Wide>(2)));
}

TEST_CASE("every combinator nested two levels deep: gradients accumulate where paths join")
{
    using Inner = Residual<Block<Dense<4>, Tanh, Parallel<Add, Dense<4>, Block<Dense<4>, Sigmoid>>>>;
    using Net = Network<double, cpu, Input<4>, Block<Inner, Parallel<Concat<0>, Inner, Block<Inner, Dense<2>>>>, Dense<3>>;
    static_assert(std::is_same_v<Net::layer_type<0>::output_shape, Shape<6>>);
    CHECK_GRADIENTS((gradients_of<Net>(3)));
    using Images = Network<double, cpu, Input<2, 6, 6>, Block<BasicBlock<2>, Residual<Block<DownBlock<3>, BasicBlock<3>>,
                                                                                    Block<Conv2D<3, 1, 2>, BatchNorm2D<>>>>,
                           GlobalAvgPool2D, Dense<2>>;
    CHECK_GRADIENTS((gradients_of<Images>(4)));
}

TEST_CASE("summary shows the tree: blocks, residual paths and branches, indented")
{
    using Net = Sequential<Input<1, 8, 8>, Conv2D<4, 3, 1, 1>, Named<"layer1", Block<BasicBlock<4>, DownBlock<8>>>,
                           GlobalAvgPool2D, Dense<10>>;
    const std::string s = Net::summary();
    INFO(s);
    CHECK(s.find(" 1 Block") == std::string::npos);
    CHECK(s.find(" layer1 Block") != std::string::npos);
    CHECK(s.find("   layer1.0 Residual") != std::string::npos);
    CHECK(s.find("     layer1.0.conv1 Conv2D") != std::string::npos);
    CHECK(s.find("     layer1.1.downsample Block") != std::string::npos);
    CHECK(s.find("       layer1.1.downsample.0 Conv2D") != std::string::npos);
    CHECK(s.find("Total params: " + detail::grouped(Net::parameter_count)) != std::string::npos);
}

TEST_CASE("a const network runs forward from 4 threads at once, each with its own workspace, bitwise as one thread")
{
    using Net = Sequential<Input<1, 12, 12>, Conv2D<8, 3, 1, Padding::same>, BatchNorm2D<>, ReLU, MaxPool2D<2>,
                           Residual<Block<Conv2D<8, 3, 1, 1>, BatchNorm2D<>, ReLU, Conv2D<8, 3, 1, 1>>>, ReLU, Flatten,
                           Dense<10>>;
    Net trained(1);
    random_engine rng(2);
    Net::input_type x({5, 1, 12, 12});
    for (auto& v : x) v = float(rng.uniform(-1, 1));
    trained.forward(x);  // moves BatchNorm's running statistics off their initial values
    const Net& net = trained;
    Net::workspace reference_ws(net);
    const Net::output_type reference = net.forward(x, reference_ws);
    std::vector<std::size_t> wrong(4, 0);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            Net::workspace ws(net);
            for (int call = 0; call < 1000; ++call) {
                const auto& y = net.forward(x, ws);
                for (std::size_t i = 0; i < y.size(); ++i) wrong[t] += y.data()[i] != reference.data()[i];
            }
        });
    for (auto& th : threads) th.join();
    for (std::size_t t = 0; t < 4; ++t) CHECK(wrong[t] == 0);
    // The const calls changed nothing of the network: evaluation mode, no statistics updated.
    CHECK(trained.is_training());
    CHECK(trained.layer<1>().num_batches_tracked() == 1);
}

TEST_CASE("workspaces keep their own activations: one call cannot overwrite another's results")
{
    // What the old model did: outputs lived in the layers, so a second caller's
    // forward overwrote the first's result (thousands of wrong outputs from two threads).
    using Net = Sequential<Input<3>, Dense<4>, ReLU, Dense<2>>;
    const Net net(1);
    Net::workspace first(net), second(net);
    Net::input_type a({2, 3}), b({2, 3});
    a.fill(0.5f);
    b.fill(-2.0f);
    const auto& ya = net.forward(a, first);
    const Net::output_type saved = ya;
    net.forward(b, second);
    CHECK(&first.output() != &second.output());
    for (std::size_t i = 0; i < ya.size(); ++i) CHECK(ya.data()[i] == saved.data()[i]);
}

TEST_CASE("networks move: into a growing vector, and their workspaces follow them")
{
    using Net = Sequential<Input<4>, Dense<8>, BatchNorm1D<>, ReLU, Dense<3>>;
    static_assert(std::is_nothrow_move_constructible_v<Net>);
    Net::input_type x({3, 4});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(i % 5) - 2.0f;
    std::vector<Net> nets;
    std::vector<Net::output_type> expected;
    for (std::uint64_t seed = 1; seed <= 9; ++seed) {  // several reallocations
        Net net(seed);
        net.eval();
        expected.push_back(net.forward(x));
        nets.push_back(std::move(net));
    }
    for (std::size_t k = 0; k < nets.size(); ++k) {
        const auto& y = nets[k].forward(x);
        for (std::size_t i = 0; i < y.size(); ++i) CHECK(y.data()[i] == expected[k].data()[i]);
        nets[k].backward(y);  // the moved network's own workspace still knows its last forward
    }
    Net original(3);
    original.eval();
    Net::workspace ws(original);
    const Net::output_type before = original.forward(x, ws);
    Net moved = std::move(original);
    const auto& after = moved.forward(x, ws);  // rebinds to the moved network
    for (std::size_t i = 0; i < after.size(); ++i) CHECK(after.data()[i] == before.data()[i]);
    Net copy = moved;
    copy.eval();
    const auto& copied = copy.forward(x, ws);
    for (std::size_t i = 0; i < copied.size(); ++i) CHECK(copied.data()[i] == before.data()[i]);
}

namespace {

/// tests/reference/write_references.py's TinyResNet, with torchvision's names.
using TinyResNet = Sequential<Input<1, 12, 12>, Named<"conv1", Conv2D<8, 3, 1, 1, 1, 1, false>>, Named<"bn1", BatchNorm2D<>>,
                              ReLU, Named<"layer1", Block<BasicBlock<8>, BasicBlock<8>>>,
                              Named<"layer2", Block<DownBlock<16>, BasicBlock<16>>>, GlobalAvgPool2D, Named<"fc", Dense<10>>>;


} // namespace

TEST_CASE("resnet: weights move from PyTorch and back (torchvision names, strict loads, outputs within 1e-5)")
{
    const std::string dir = LEPTON_REFERENCE_DIR "/";
    TinyResNet net(1);
    io::load_weights(net, dir + "resnet.weights.safetensors");  // strict: every name, shape and dtype
    const io::safetensors_file data(dir + "resnet.io.safetensors");
    const auto x = lepton_test::reference_images(data, "input");
    const std::vector<float> expected = lepton_test::reference_values(data, "output", {4, 10});
    const auto y = predict(static_cast<const TinyResNet&>(net), x);
    CHECK(lepton_test::difference_relative_to_largest(y.data(), expected) < 1e-5);

    // Back: what Lepton saves is PyTorch's file tensor for tensor (names, dtypes, shapes, bytes), so
    // `model.load_state_dict(load_file(...))` takes it; write_references.py --check-lepton-file checks that in PyTorch.
    const std::string saved = (std::filesystem::temp_directory_path() / "lepton_resnet.safetensors").string();
    io::save_weights(net, saved);
    const io::safetensors_file theirs(dir + "resnet.weights.safetensors"), ours(saved);
    CHECK(ours.tensors().size() == theirs.tensors().size());
    for (const auto& t : theirs.tensors()) {
        INFO(t.name);
        const io::tensor_info* mine = ours.find(t.name);
        REQUIRE(mine != nullptr);
        CHECK(mine->type == t.type);
        CHECK(mine->shape == t.shape);
        const auto a = ours.bytes(*mine), b = theirs.bytes(t);
        CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
    }
}
