// LSTM and GRU: hand-computed forward values, finite-difference gradients in
// double through several steps, run-time sequence lengths, shape errors.
#include <doctest/doctest.h>

#include <lepton/io/checkpoint.hpp>
#include <lepton/lepton.hpp>
#include <lepton/testing/gradient_check.hpp>

#include "gradient_helpers.hpp"

using namespace lepton;

namespace {

template <class Net>
typename Net::input_type random_sequences(std::size_t batch, std::size_t steps, std::uint64_t seed)
{
    typename Net::input_type x({batch, steps, Net::input_shape::dims[1]});
    random_engine rng(seed);
    for (auto& v : x) v = rng.uniform(-1.0, 1.0);
    return x;
}

template <class Net>
testing::gradient_report gradients_of(std::size_t batch, std::size_t steps)
{
    Net net(5);
    return testing::check_gradients(net, random_sequences<Net>(batch, steps, 8));
}


using lepton_test::set_parameters;

} // namespace

static_assert(std::is_same_v<Sequential<Input<dynamic, 28>, LSTM<128>>::output_shape, Shape<128>>);
static_assert(std::is_same_v<Sequential<Input<dynamic, 28>, LSTM<16, true>>::output_shape, Shape<dynamic, 16>>);
static_assert(std::is_same_v<Sequential<Input<28, 28>, GRU<16, true>>::output_shape, Shape<28, 16>>);
// PyTorch: 4 * (H * F + H * H + 2 * H) for an LSTM, 3 * (...) for a GRU.
static_assert(Sequential<Input<dynamic, 28>, LSTM<128>>::parameter_count == 4 * (128 * 28 + 128 * 128 + 2 * 128));
static_assert(Sequential<Input<dynamic, 28>, GRU<128>>::parameter_count == 3 * (128 * 28 + 128 * 128 + 2 * 128));

TEST_CASE("LSTM forward matches values computed by hand, PyTorch gate order i, f, g, o")
{
    Network<double, cpu, Input<dynamic, 1>, LSTM<1, true>> net;
    // weight_ih (i, f, g, o), weight_hh, bias_ih, bias_hh
    set_parameters(net, {0.5, -0.3, 0.8, 0.2, 0.1, 0.4, -0.6, 0.3, 0.1, 0.2, 0.3, 0.4, 0.05, -0.05, 0.1, -0.1});
    tensor<double, 3> x({1, 2, 1});
    x(0, 0, 0) = 1.0;
    x(0, 1, 0) = -2.0;
    const auto& y = net.forward(x);
    CHECK(y(0, 0, 0) == doctest::Approx(0.310488501789).epsilon(1e-10));
    CHECK(y(0, 1, 0) == doctest::Approx(0.057785765390).epsilon(1e-10));
}

TEST_CASE("GRU forward matches values computed by hand, PyTorch gate order r, z, n")
{
    Network<double, cpu, Input<dynamic, 1>, GRU<1, true>> net;
    set_parameters(net, {0.5, -0.3, 0.8, 0.1, 0.4, -0.6, 0.1, 0.2, 0.3, 0.05, -0.05, 0.1});
    tensor<double, 3> x({1, 2, 1});
    x(0, 0, 0) = 1.0;
    x(0, 1, 0) = -2.0;
    const auto& y = net.forward(x);
    CHECK(y(0, 0, 0) == doctest::Approx(0.442245182877).epsilon(1e-10));
    CHECK(y(0, 1, 0) == doctest::Approx(0.068932162884).epsilon(1e-10));
}

TEST_CASE("LSTM gradients through several steps")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<dynamic, 3>, LSTM<5>>>(2, 4)));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<dynamic, 3>, LSTM<5, true>>>(3, 5)));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<dynamic, 4>, LSTM<6, true>, LSTM<3>, Dense<2>>>(2, 3)));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<6, 3>, LSTM<9, true>, Flatten, Dense<2>>>(2, 6)));
}

TEST_CASE("GRU gradients through several steps")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<dynamic, 3>, GRU<5>>>(2, 4)));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<dynamic, 3>, GRU<5, true>>>(3, 5)));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<dynamic, 4>, GRU<6, true>, GRU<3>, Dense<2>>>(2, 3)));
}

TEST_CASE("one network runs sequences of different lengths")
{
    Sequential<Input<dynamic, 3>, LSTM<4, true>, Tanh> net;
    tensor<float, 3> short_x({2, 3, 3}), long_x({2, 7, 3});
    short_x.fill(0.5f);
    long_x.fill(0.5f);
    CHECK(net.forward(short_x).shape()[1] == 3);
    const auto& y = net.forward(long_x);
    CHECK(y.shape()[1] == 7);
    // The first three steps see the same inputs, so they give the same outputs.
    const tensor<float, 3> again = net.forward(short_x);
    const auto& longer = net.forward(long_x);
    for (std::size_t t = 0; t < 3; ++t)
        for (std::size_t j = 0; j < 4; ++j) CHECK(longer(1, t, j) == again(1, t, j));
}

TEST_CASE("a wrong feature size is a shape error naming the shapes")
{
    Sequential<Input<dynamic, 28>, LSTM<8>, Dense<10>> net;
    tensor<float, 3> x({4, 28, 27});
    x.fill(0);
    CHECK_THROWS_WITH_AS(net.forward(x), doctest::Contains("expects input of shape [N, T, 28], got [4, 28, 27]"),
                         shape_error);
    CHECK(Sequential<Input<dynamic, 28>, LSTM<8>, Dense<10>>::summary().find("[N, T, 28]") != std::string::npos);
}

TEST_CASE("Embedding looks rows up, accumulates their gradients and names bad ids")
{
    Network<double, cpu, Input<dynamic>, Embedding<5, 3>> net(1);
    auto w = net.layer<0>().weight();
    tensor<double, 2> ids({2, 3});
    ids(0, 0) = 4, ids(0, 1) = 0, ids(0, 2) = 4, ids(1, 0) = 2, ids(1, 1) = 2, ids(1, 2) = 1;
    const auto& y = net.forward(ids);
    REQUIRE(y.shape()[2] == 3);
    for (std::size_t d = 0; d < 3; ++d) {
        CHECK(y(0, 0, d) == w(4, d));
        CHECK(y(1, 2, d) == w(1, d));
    }
    tensor<double, 3> dy({2, 3, 3});
    dy.fill(1.0);
    net.zero_grad();
    net.backward(dy);
    std::vector<double> row_grads(5, 0.0);
    net.for_each_parameter([&](const std::string&, double*, double* grad, const parameter_shape&) {
        for (std::size_t r = 0; r < 5; ++r) row_grads[r] = grad[r * 3];
    });
    // id 4 and id 2 appear twice, 0 and 1 once, 3 never
    CHECK(row_grads == std::vector<double>{1, 1, 2, 0, 2});
    ids(1, 1) = 5;
    CHECK_THROWS_WITH_AS(net.forward(ids),
                         doctest::Contains("token id 5 at sample 1, position 1 is outside the vocabulary [0, 5)"),
                         value_error);
    ids(1, 1) = 1.5;
    CHECK_THROWS_AS(net.forward(ids), value_error);
}

TEST_CASE("Embedding, stacked LSTM and a per-step Dense: gradients")
{
    using Net = Network<double, cpu, Input<dynamic>, Embedding<7, 4>, LSTM<5, true>, TimeDistributed<Dense<7>>>;
    Net net(3);
    tensor<double, 2> ids({2, 4});
    for (std::size_t i = 0; i < ids.size(); ++i) ids.data()[i] = double((i * 3) % 7);
    const testing::gradient_report r =
        testing::check_gradients(net, ids, 7, 1e-5, 64, testing::input_gradient::skip);
    INFO(r.worst);
    CHECK(r.checked > 0);
    CHECK(r.max_relative_error < 1e-6);
}

TEST_CASE("TimeDistributed applies the same layer at every step")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<dynamic, 3>, TimeDistributed<Dense<4>>, Tanh>>(2, 3)));
    Network<double, cpu, Input<dynamic, 2>, TimeDistributed<Dense<1, false>>> net;
    auto w = net.layer<0>().inner().weight();
    w(0, 0) = 2, w(0, 1) = -1;
    tensor<double, 3> x({1, 2, 2});
    x(0, 0, 0) = 1, x(0, 0, 1) = 3, x(0, 1, 0) = 4, x(0, 1, 1) = 5;
    const auto& y = net.forward(x);
    CHECK(y(0, 0, 0) == -1.0);
    CHECK(y(0, 1, 0) == 3.0);
}

TEST_CASE("TimeDistributed over a block takes the block's padded storage")
{
    // The block pads each Dense: 20 + 18 weights take 24 + 24 doubles. The wrapper once took
    // padded(38) = 40, so the next layer's weights overlapped the block's second Dense.
    using Wrapped = TimeDistributed<Block<Dense<5>, Tanh, Dense<3>>>;
    using Net = Network<double, cpu, Input<dynamic, 3>, Wrapped, TimeDistributed<Dense<2>>>;
    using Bound = Net::template layer_type<0>;
    static_assert(Bound::parameter_storage > detail::padded<double>(Bound::parameter_count));
    CHECK_GRADIENTS((gradients_of<Net>(2, 3)));
}

TEST_CASE("CrossEntropyLoss over every step of a sequence")
{
    tensor<double, 3> logits({1, 2, 3});
    logits.fill(0.0);
    logits(0, 1, 2) = std::log(2.0);  // step 1: softmax = [1/4, 1/4, 1/2]
    CrossEntropyLoss<double, 3> ce;
    const std::vector<std::int32_t> labels{0, 2};
    CHECK(ce(logits, labels) == doctest::Approx((std::log(3.0) + std::log(2.0)) / 2));
    CHECK(ce.gradient()(0, 1, 2) == doctest::Approx((0.5 - 1) / 2));
    CHECK(count_correct(logits, std::span<const std::int32_t>(labels)) == 2);  // step 0 ties pick class 0
}

TEST_CASE("clip_grad_norm scales to the norm asked for, and leaves small gradients alone")
{
    std::vector<float> g{3, 4};
    CHECK(clip_grad_norm(std::span<float>(g), 10.0) == doctest::Approx(5.0));
    CHECK(g[0] == 3.0f);
    CHECK(clip_grad_norm(std::span<float>(g), 1.0) == doctest::Approx(5.0));
    CHECK(g[0] == doctest::Approx(0.6f).epsilon(1e-5));
    CHECK(g[1] == doctest::Approx(0.8f).epsilon(1e-5));
}

TEST_CASE("an LSTM carries its state across calls: two halves equal the whole sequence")
{
    Network<double, cpu, Input<dynamic, 3>, LSTM<4, true>> net(2);
    const auto x = random_sequences<decltype(net)>(2, 6, 3);
    const tensor<double, 3> whole = net.forward(x);
    tensor<double, 3> first({2, 3, 3}), second({2, 3, 3});
    for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t t = 0; t < 3; ++t)
            for (std::size_t f = 0; f < 3; ++f) {
                first(b, t, f) = x(b, t, f);
                second(b, t, f) = x(b, t + 3, f);
            }
    auto& lstm = net.layer<0>();
    net.forward(first);
    lstm.set_initial_state(lstm.final_hidden(), lstm.final_cell());
    const auto& tail = net.forward(second);
    for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t t = 0; t < 3; ++t)
            for (std::size_t j = 0; j < 4; ++j) CHECK(tail(b, t, j) == doctest::Approx(whole(b, t + 3, j)).epsilon(1e-12));
    tensor<double, 2> wrong({3, 4});
    CHECK_THROWS_AS(lstm.set_initial_state(wrong, tensor<double, 2>({3, 5})), shape_error);
    lstm.clear_initial_state();
    CHECK(net.forward(x)(1, 5, 2) == doctest::Approx(whole(1, 5, 2)).epsilon(1e-12));
}

TEST_CASE("Bidirectional gradients, with every step and with the last states")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<dynamic, 3>, Bidirectional<LSTM<4, true>>>>(2, 4)));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<dynamic, 3>, Bidirectional<GRU<3>>, Dense<2>>>(2, 5)));
}

TEST_CASE("Bidirectional: the forward half is the plain layer, the reverse half reads the sequence backwards")
{
    using Bi = Network<double, cpu, Input<dynamic, 2>, Bidirectional<LSTM<3, true>>>;
    using Uni = Network<double, cpu, Input<dynamic, 2>, LSTM<3, true>>;
    static_assert(std::is_same_v<Bi::output_shape, Shape<dynamic, 6>>);
    static_assert(Bi::parameter_count == 2 * Uni::parameter_count);
    Bi bi(4);
    Uni forward_only(0), reverse_only(0);
    std::vector<std::string> names;
    const auto bi_params = bi.parameters();
    std::copy_n(bi_params.begin(), Uni::parameter_count, forward_only.parameters().begin());
    bi.for_each_parameter([&](const std::string& name, double*, double*, const parameter_shape&) { names.push_back(name); });
    CHECK(names.back() == "0.bias_hh_l0_reverse");
    // The reverse copy's slice follows the forward one's in the flat buffer.
    std::size_t offset = 0;
    bi.for_each_parameter([&](const std::string& name, double* data, double*, const parameter_shape&) {
        if (name == "0.weight_ih_l0_reverse") offset = std::size_t(data - bi.parameters().data());
    });
    std::copy_n(bi_params.begin() + std::ptrdiff_t(offset), Uni::parameter_count, reverse_only.parameters().begin());

    const auto x = random_sequences<Bi>(2, 5, 3);
    tensor<double, 3> reversed({2, 5, 2});
    for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t t = 0; t < 5; ++t)
            for (std::size_t f = 0; f < 2; ++f) reversed(b, t, f) = x(b, 4 - t, f);
    const auto& y = bi.forward(x);
    const tensor<double, 3> a = forward_only.forward(x);
    const tensor<double, 3> r = reverse_only.forward(reversed);
    for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t t = 0; t < 5; ++t)
            for (std::size_t j = 0; j < 3; ++j) {
                CHECK(y(b, t, j) == doctest::Approx(a(b, t, j)).epsilon(1e-12));
                CHECK(y(b, t, 3 + j) == doctest::Approx(r(b, 4 - t, j)).epsilon(1e-12));
            }
}

TEST_CASE("gradients with a non-zero initial state, and GRU state carried across calls")
{
    using L = Network<double, cpu, Input<dynamic, 3>, LSTM<4, true>>;
    L lstm_net(6);
    tensor<double, 2> h0({2, 4}), c0({2, 4});
    random_engine rng(12);
    for (auto& v : h0) v = rng.uniform(-0.5, 0.5);
    for (auto& v : c0) v = rng.uniform(-0.5, 0.5);
    lstm_net.layer<0>().set_initial_state(h0, c0);
    CHECK_GRADIENTS(testing::check_gradients(lstm_net, random_sequences<L>(2, 4, 3)));

    using G = Network<double, cpu, Input<dynamic, 3>, GRU<4>>;
    G gru_net(6);
    gru_net.layer<0>().set_initial_state(h0);
    CHECK_GRADIENTS(testing::check_gradients(gru_net, random_sequences<G>(2, 4, 3)));

    // Two halves with the state carried equal the whole sequence.
    using GS = Network<double, cpu, Input<dynamic, 3>, GRU<4, true>>;
    GS net(2);
    const auto x = random_sequences<GS>(1, 6, 5);
    const tensor<double, 3> whole = net.forward(x);
    tensor<double, 3> first({1, 3, 3}), second({1, 3, 3});
    for (std::size_t t = 0; t < 3; ++t)
        for (std::size_t f = 0; f < 3; ++f) first(0, t, f) = x(0, t, f), second(0, t, f) = x(0, t + 3, f);
    auto& gru = net.layer<0>();
    net.forward(first);
    gru.set_initial_state(gru.final_hidden());
    const auto& tail = net.forward(second);
    for (std::size_t t = 0; t < 3; ++t)
        for (std::size_t j = 0; j < 4; ++j) CHECK(tail(0, t, j) == doctest::Approx(whole(0, t + 3, j)).epsilon(1e-12));
}

namespace {

/// A float64 tensor [N, T, F] of a reference file written by tests/reference/write_references.py.
tensor<double, 3> reference_sequences(const io::safetensors_file& file, const char* name)
{
    const io::tensor_info* t = file.find(name);
    REQUIRE(t != nullptr);
    REQUIRE(t->type == io::dtype::F64);
    REQUIRE(t->shape.size() == 3);
    tensor<double, 3> out({t->shape[0], t->shape[1], t->shape[2]});
    io::detail::copy_from_le(file.bytes(*t).data(), out.data(), out.size());
    return out;
}

/// Loads PyTorch's state_dict for the case into `Net` unchanged and compares its
/// output (evaluation mode) with the one PyTorch computed for the same input.
template <class Net>
void check_against_pytorch(const std::string& name)
{
    const std::string dir = LEPTON_REFERENCE_DIR "/";
    Net net(1);
    io::load_weights(net, dir + name + ".weights.safetensors");
    const io::safetensors_file data(dir + name + ".io.safetensors");
    const auto x = reference_sequences(data, "input"), expected = reference_sequences(data, "output");
    net.eval();
    const auto& y = net.forward(x);
    REQUIRE(std::equal(y.shape().begin(), y.shape().end(), expected.shape().begin()));
    double worst = 0;
    for (std::size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(y.data()[i] - expected.data()[i]));
    INFO(name);
    CHECK(worst < 1e-12);
}

} // namespace

TEST_CASE("stacked LSTM and GRU (and bidirectional stacks) load PyTorch's state_dict as is and agree with PyTorch")
{
    // torch.nn.LSTM(6, 10, num_layers=2, dropout=0.25): weight_ih_l1 and the rest load under their own names.
    check_against_pytorch<Network<double, cpu, Input<dynamic, 6>, LSTM<10, true, 2, 0.25>>>("lstm_2_layers");
    check_against_pytorch<Network<double, cpu, Input<dynamic, 6>, GRU<4, true, 2>>>("gru_2_layers");
    check_against_pytorch<Network<double, cpu, Input<dynamic, 6>, Bidirectional<LSTM<3, true, 2>>>>(
        "lstm_2_layers_bidirectional");
    check_against_pytorch<Network<double, cpu, Input<dynamic, 6>, Bidirectional<GRU<2, true, 3, 0.5>>>>(
        "gru_3_layers_bidirectional");
}

TEST_CASE("stacked recurrent layers: shapes, parameter counts and PyTorch's names in PyTorch's order")
{
    using Stacked = Network<double, cpu, Input<dynamic, 6>, LSTM<10, false, 2>>;
    static_assert(std::is_same_v<Stacked::output_shape, Shape<10>>);
    // PyTorch: layer 0 has 4H(F + H + 2) parameters, layer 1 4H(H + H + 2).
    static_assert(Stacked::parameter_count == 40 * (6 + 10 + 2) + 40 * (10 + 10 + 2));
    using BiStack = Network<double, cpu, Input<dynamic, 6>, Bidirectional<GRU<4, true, 2>>>;
    static_assert(std::is_same_v<BiStack::output_shape, Shape<dynamic, 8>>);
    static_assert(BiStack::parameter_count == 2 * 12 * (6 + 4 + 2) + 2 * 12 * (8 + 4 + 2));
    BiStack net(1);
    std::vector<std::string> names;
    net.for_each_parameter([&](const std::string& name, double*, double*, const parameter_shape&) { names.push_back(name); });
    const std::vector<std::string> expected{"0.weight_ih_l0",         "0.weight_hh_l0",         "0.bias_ih_l0",
                                            "0.bias_hh_l0",           "0.weight_ih_l0_reverse", "0.weight_hh_l0_reverse",
                                            "0.bias_ih_l0_reverse",   "0.bias_hh_l0_reverse",   "0.weight_ih_l1",
                                            "0.weight_hh_l1",         "0.bias_ih_l1",           "0.bias_hh_l1",
                                            "0.weight_ih_l1_reverse", "0.weight_hh_l1_reverse", "0.bias_ih_l1_reverse",
                                            "0.bias_hh_l1_reverse"};
    CHECK(names == expected);
}

TEST_CASE("stacked recurrent layers: gradients through the stack and the dropout between its layers")
{
    // Training mode (the default): the dropout masks are drawn, and kept across the check's passes.
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<dynamic, 3>, LSTM<5, true, 2>>>(2, 4)));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<dynamic, 3>, LSTM<4, false, 3, 0.5>, Dense<2>>>(2, 4)));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<dynamic, 3>, GRU<4, true, 2, 0.3>>>(3, 3)));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<dynamic, 3>, Bidirectional<LSTM<3, true, 2, 0.4>>>>(2, 4)));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<dynamic, 2>, Bidirectional<GRU<3, false, 2>>, Dense<2>>>(2, 3)));
}

TEST_CASE("dropout between stacked layers acts in training only, on every layer's output but the last")
{
    using Net = Network<double, cpu, Input<dynamic, 3>, LSTM<6, true, 2, 0.5>>;
    using Plain = Network<double, cpu, Input<dynamic, 3>, LSTM<6, true>, LSTM<6, true>>;
    static_assert(Net::parameter_count == Plain::parameter_count);
    Net net(3);
    Plain plain(0);
    std::copy(net.parameters().begin(), net.parameters().end(), plain.parameters().begin());
    const auto x = random_sequences<Net>(4, 5, 2);
    net.eval();
    plain.eval();
    const tensor<double, 3> evaluated = net.forward(x);
    const auto& reference = plain.forward(x);
    for (std::size_t i = 0; i < evaluated.size(); ++i) CHECK(evaluated.data()[i] == reference.data()[i]);
    net.train();
    const auto& trained = net.forward(x);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < trained.size(); ++i) differ += trained.data()[i] != evaluated.data()[i];
    CHECK(differ > trained.size() / 2);
    // The first layer's own output is not dropped: it still equals the unstacked layer's.
    const auto& first = net.layer<0>().layer<0>().output();
    const auto& plain_first = plain.layer<0>().output();
    for (std::size_t i = 0; i < first.size(); ++i) CHECK(first.data()[i] == plain_first.data()[i]);
}

TEST_CASE("loading a file of another structure names the missing and the unexpected tensors together")
{
    // Two single-layer LSTMs in a row, against PyTorch's stacked LSTM: every tensor is in the wrong place.
    Network<double, cpu, Input<dynamic, 6>, LSTM<10, true>, LSTM<10, true>> net(1);
    const std::vector<double> before(net.parameters().begin(), net.parameters().end());
    std::string message;
    try {
        io::load_weights(net, LEPTON_REFERENCE_DIR "/lstm_2_layers.weights.safetensors");
    } catch (const io_error& e) {
        message = e.what();
    }
    INFO(message);
    CHECK(message.find("4 missing tensors: '1.weight_ih_l0' (F64 [40, 10])") != std::string::npos);
    CHECK(message.find("4 unexpected tensors: '0.weight_ih_l1'") != std::string::npos);
    CHECK(std::equal(before.begin(), before.end(), net.parameters().begin()));
}
