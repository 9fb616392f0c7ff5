// Optimizer steps against values computed by hand from PyTorch's update rules
// (p0 = 1, gradients 0.5 then -0.25).
#include <doctest/doctest.h>

#include <lepton/optim/adam.hpp>
#include <lepton/optim/sgd.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

/// Runs two steps on a single parameter (padded out to several SIMD widths, so
/// the vector body and the scalar tail both run) and returns p after each.
template <class Opt, class Options>
std::vector<double> two_steps(Options options)
{
    const std::size_t n = 37;
    lepton::storage<double> p(n, 1.0), g(n, 0.0);
    Opt opt(std::span<double>(p), std::span<const double>(g), options);
    std::vector<double> out;
    for (double grad : {0.5, -0.25}) {
        std::fill(g.begin(), g.end(), grad);
        opt.step();
        for (std::size_t i = 1; i < n; ++i) REQUIRE(p[i] == p[0]);
        out.push_back(p[0]);
    }
    return out;
}

} // namespace

TEST_CASE("SGD with weight decay")
{
    const auto p = two_steps<lepton::SGD<double>>(lepton::SGDOptions{.lr = 0.1, .weight_decay = 0.01});
    CHECK(p[0] == doctest::Approx(0.949).epsilon(1e-12));
    CHECK(p[1] == doctest::Approx(0.973051).epsilon(1e-12));
}

TEST_CASE("SGD with momentum")
{
    const auto p = two_steps<lepton::SGD<double>>(lepton::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
    CHECK(p[0] == doctest::Approx(0.949).epsilon(1e-12));
    CHECK(p[1] == doctest::Approx(0.927151).epsilon(1e-12));
}

TEST_CASE("SGD with Nesterov momentum")
{
    const auto p = two_steps<lepton::SGD<double>>(
        lepton::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
    CHECK(p[0] == doctest::Approx(0.9031).epsilon(1e-12));
    CHECK(p[1] == doctest::Approx(0.90757411).epsilon(1e-12));
}

TEST_CASE("Adam with L2 weight decay")
{
    const auto p = two_steps<lepton::Adam<double>>(lepton::AdamOptions{.lr = 0.01, .weight_decay = 0.1});
    CHECK(p[0] == doctest::Approx(0.9900000002).epsilon(1e-9));
    CHECK(p[1] == doctest::Approx(0.9853191993).epsilon(1e-9));
}

TEST_CASE("AdamW with decoupled weight decay")
{
    const auto p = two_steps<lepton::AdamW<double>>(lepton::AdamOptions{.lr = 0.01, .weight_decay = 0.1});
    CHECK(p[0] == doctest::Approx(0.9890000002).epsilon(1e-9));
    CHECK(p[1] == doctest::Approx(0.9853476299).epsilon(1e-9));
}

TEST_CASE("Nesterov without momentum is rejected")
{
    lepton::storage<float> p(4), g(4);
    CHECK_THROWS_AS(lepton::SGD<float>(std::span<float>(p), std::span<const float>(g), {.nesterov = true}),
                    std::invalid_argument);
}

#include <lepton/layers/activation.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/nn/network.hpp>

namespace {

using FreezeNet = lepton::Network<double, lepton::cpu, lepton::Input<5>, lepton::Dense<4>, lepton::Tanh, lepton::Dense<3>>;

/// A few steps on a fixed batch; returns the parameters afterwards.
template <class Opt>
std::vector<double> train_steps(FreezeNet& net, Opt& opt, int steps)
{
    lepton::tensor<double, 2> x({6, 5}), dy({6, 3});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::sin(double(i));
    for (std::size_t i = 0; i < dy.size(); ++i) dy.data()[i] = std::cos(double(i));
    for (int s = 0; s < steps; ++s) {
        net.zero_grad();
        net.forward(x);
        net.backward(dy);
        opt.step();
    }
    return {net.parameters().begin(), net.parameters().end()};
}

/// Parameters of layer 0 (`0.weight`, `0.bias`) come first in the flat buffer.
constexpr std::size_t layer0_size = 4 * 5 + 4;

template <class Opt, class Options>
void check_freezing(Options options)
{
    FreezeNet net(3);
    const std::vector<double> before(net.parameters().begin(), net.parameters().end());
    net.freeze(0);
    CHECK(net.is_frozen("0.weight"));
    CHECK_FALSE(net.is_frozen("2.bias"));
    Opt opt(net, options);
    const auto after = train_steps(net, opt, 3);
    for (std::size_t i = 0; i < layer0_size; ++i) REQUIRE(after[i] == before[i]);  // bitwise
    for (std::size_t i = 0; i < layer0_size; ++i) REQUIRE(net.gradients()[i] == 0.0);
    std::size_t changed = 0;
    for (std::size_t i = layer0_size; i < after.size(); ++i) changed += after[i] != before[i];
    CHECK(changed > 10);

    net.unfreeze("0");
    const auto thawed = train_steps(net, opt, 1);
    changed = 0;
    for (std::size_t i = 0; i < layer0_size; ++i) changed += thawed[i] != before[i];
    CHECK(changed == layer0_size);
}

} // namespace

TEST_CASE("frozen layers stay bitwise unchanged under every optimizer, with decay and momentum")
{
    // check_freezing asserts; CHECK_NOTHROW also reports an exception as a failure.
    CHECK_NOTHROW(check_freezing<lepton::SGD<double>>(lepton::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01}));
    CHECK_NOTHROW(check_freezing<lepton::Adam<double>>(lepton::AdamOptions{.lr = 0.01, .weight_decay = 0.01}));
    CHECK_NOTHROW(check_freezing<lepton::AdamW<double>>(lepton::AdamOptions{.lr = 0.01, .weight_decay = 0.1}));
}

TEST_CASE("freezing by parameter name, and unknown names")
{
    FreezeNet net(1);
    net.freeze("2.weight");
    CHECK(net.is_frozen("2.weight"));
    CHECK_FALSE(net.is_frozen("2.bias"));
    CHECK(net.trainable_ranges().size() == 2);  // layer 0, then 2.bias
    CHECK_THROWS_AS(net.freeze("3"), lepton::value_error);
    CHECK_THROWS_AS(net.freeze(std::size_t{7}), lepton::value_error);
    CHECK_THROWS_AS((void)net.is_frozen("0.kernel"), lepton::value_error);
}

namespace {

/// Two steps of Opt on 300,000 elements in three trainable ranges around a
/// frozen one (enough for two threads, with pieces that straddle range
/// boundaries), on `threads` threads; returns the parameters.
template <class Opt, class Options>
std::vector<float> two_large_steps(Options options, const std::vector<lepton::parameter_range>& trainable, int threads)
{
    const std::size_t n = 300'000;
    const int before = lepton::num_threads();
    lepton::set_num_threads(threads);
    lepton::storage<float> p(n, 1.0f), g(n, 0.0f);
    for (std::size_t i = 0; i < n; ++i) g[i] = float(std::sin(0.001 * double(i)));
    Opt opt(std::span<float>(p), std::span<const float>(g), options, &trainable);
    opt.step();
    opt.step();
    lepton::set_num_threads(before);
    return std::vector<float>(p.begin(), p.end());
}

/// What two threads changed against one thread's result, and which elements moved.
struct threaded_update {
    std::size_t differ;             ///< elements where two threads' result is not one thread's
    std::size_t changed;            ///< elements one thread moved
    std::size_t trainable_nonzero;  ///< trainable elements with a non-zero gradient
};

template <class Opt, class Options>
threaded_update compare_threaded_update(Options options)
{
    const std::vector<lepton::parameter_range> trainable{{0, 70'001}, {90'000, 90'017}, {100'003, 300'000}};
    const auto one = two_large_steps<Opt>(options, trainable, 1), two = two_large_steps<Opt>(options, trainable, 2);
    threaded_update r{0, 0, 0};
    for (std::size_t i = 0; i < one.size(); ++i) {
        r.changed += one[i] != 1.0f;
        r.differ += one[i] != two[i];
    }
    for (const auto range : trainable)
        for (std::size_t i = range.begin; i < range.end; ++i)
            r.trainable_nonzero += float(std::sin(0.001 * double(i))) != 0.0f;
    return r;
}

} // namespace

TEST_CASE("large updates split between threads touch each trainable element once, as one thread does")
{
    // Every trainable element with a gradient moved, the frozen ones did not, and two threads agree with one.
    const auto adam = compare_threaded_update<lepton::Adam<float>>(lepton::AdamOptions{.lr = 0.01});
    CHECK(adam.changed == adam.trainable_nonzero);
    CHECK(adam.differ == 0);
    const auto sgd = compare_threaded_update<lepton::SGD<float>>(lepton::SGDOptions{.lr = 0.1, .momentum = 0.9});
    CHECK(sgd.changed == sgd.trainable_nonzero);
    CHECK(sgd.differ == 0);
}

namespace {

/// Freezes layer 0 for `frozen_steps` steps, unfreezes it and takes one more;
/// returns layer 0's parameters before that step, after it, and its gradients.
template <class Opt, class Options>
std::array<std::vector<double>, 3> first_step_after_unfreezing(Options options, int frozen_steps)
{
    FreezeNet net(3);
    net.freeze(0);
    Opt opt(net, options);
    train_steps(net, opt, frozen_steps);
    net.unfreeze(0);
    const std::vector<double> before(net.parameters().begin(), net.parameters().begin() + layer0_size);
    const auto after = train_steps(net, opt, 1);
    return {before, std::vector<double>(after.begin(), after.begin() + layer0_size),
            std::vector<double>(net.gradients().begin(), net.gradients().begin() + layer0_size)};
}

} // namespace

TEST_CASE("Adam keeps a step count per parameter tensor: a tensor unfrozen late takes a first step")
{
    // PyTorch's per-parameter state: the first step of a tensor moves it by
    // lr * g / (|g| + eps) (both moments bias-corrected at t = 1), however many
    // steps the optimizer took before while the tensor was frozen. A single
    // step count (t = 4 here) gives 0.58 of that.
    const double lr = 0.01, eps = 1e-8;
    const auto step = first_step_after_unfreezing<lepton::Adam<double>>(lepton::AdamOptions{.lr = lr}, 3);
    const auto &before = step[0], &after = step[1], &grad = step[2];
    for (std::size_t i = 0; i < layer0_size; ++i) {
        INFO("element " << i << " gradient " << grad[i]);
        CHECK(after[i] == doctest::Approx(before[i] - lr * grad[i] / (std::abs(grad[i]) + eps)).epsilon(1e-12));
    }
}

TEST_CASE("SGD starts each tensor's momentum buffer at its own first step, dampening included")
{
    // torch.optim.SGD: the buffer starts as the gradient itself (no dampening on
    // the first step), so a tensor unfrozen late moves by lr * g.
    const double lr = 0.1;
    const auto step = first_step_after_unfreezing<lepton::SGD<double>>(
        lepton::SGDOptions{.lr = lr, .momentum = 0.9, .dampening = 0.5}, 2);
    const auto &before = step[0], &after = step[1], &grad = step[2];
    for (std::size_t i = 0; i < layer0_size; ++i) CHECK(after[i] == doctest::Approx(before[i] - lr * grad[i]).epsilon(1e-12));
}

TEST_CASE("optimizers count steps per tensor, and only for the tensors they update")
{
    FreezeNet net(3);
    lepton::Adam opt(net);
    net.freeze("2.bias");
    train_steps(net, opt, 2);
    net.unfreeze("2.bias");
    train_steps(net, opt, 1);
    CHECK(opt.steps() == 3);
    const std::vector<std::int64_t> expected{3, 3, 3, 1};  // 0.weight, 0.bias, 2.weight, 2.bias
    const auto steps = opt.tensor_steps();
    CHECK(std::vector<std::int64_t>(steps.begin(), steps.end()) == expected);
}
